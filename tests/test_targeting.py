"""Tests for tmstarget.targeting: planted ground truth, equivalence with a slow
per-candidate reference, RAS vs LAS storage, and every edge-case error."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from helpers import box_affine, seed_map_cubes_subject
from scipy import ndimage

from tmstarget import atlas, circuits, targeting
from tmstarget.circuits import TargetingError

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CIRCUIT_RAS = SHARED_DATA / "AllFX_wmean.nii.gz"
DLPFC_LAS = SHARED_DATA / "spalm_dlPFC_GMmasked_03272023.nii.gz"
SGACC_LAS = SHARED_DATA / "SG_6_16_-10_r10_msk3.nii.gz"
needs_shared_data = pytest.mark.skipif(
    not DLPFC_LAS.exists(), reason=f"reference data not found in {SHARED_DATA}"
)


# ---------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------


def image(array: np.ndarray, affine: np.ndarray) -> nib.Nifti1Image:
    return nib.Nifti1Image(np.asarray(array), affine)


def to_las(img: nib.Nifti1Image) -> nib.Nifti1Image:
    """Same world-space image with the first array axis reversed."""
    affine = np.array(img.affine, dtype=float)
    new_affine = affine.copy()
    new_affine[:, 0] = -affine[:, 0]
    new_affine[:3, 3] = affine[:3, 3] + affine[:3, 0] * (img.shape[0] - 1)
    return nib.Nifti1Image(np.asanyarray(img.dataobj)[::-1].copy(), new_affine)


def las_columns(brain: np.ndarray) -> np.ndarray:
    """For each brain voxel in C order of the x-flipped array, its column in RAS order."""
    index = np.full(brain.shape, -1)
    index[brain] = np.arange(brain.sum())
    return index[::-1][brain[::-1]]


def slow_searchlight_scores(timeseries, brain, affine, circuit, candidates, radii, weights):
    """Straightforward reference: one cone image per candidate, float64 throughout."""
    data = np.asarray(timeseries, dtype=np.float64)
    circuit_weights = circuit[brain].astype(np.float64)
    circuit_signal = data @ circuit_weights / np.abs(circuit_weights).sum()
    grid_mm = atlas.voxel_centres_mm(affine, np.indices(brain.shape).reshape(3, -1).T)
    scores = []
    for ijk in candidates:
        centre = atlas.voxel_centres_mm(affine, ijk[None])[0]
        distance = np.linalg.norm(grid_mm - centre, axis=1).reshape(brain.shape)
        cone = np.zeros(brain.shape)
        for radius, weight in sorted(zip(radii, weights, strict=True), reverse=True):
            cone[distance <= radius + 1e-6] = weight
        cone_weights = (cone * brain)[brain]
        cone_signal = data @ cone_weights / cone_weights.sum()
        scores.append(np.corrcoef(cone_signal, circuit_signal)[0, 1])
    return np.array(scores)


def blob_brain(shape=(22, 20, 18), seed=3) -> np.ndarray:
    """An irregular connected 'brain' (thresholded smooth noise, largest component)."""
    rng = np.random.default_rng(seed)
    field = ndimage.gaussian_filter(rng.standard_normal(shape), 2.0)
    centre = np.array(shape) / 2
    distance = np.linalg.norm(np.indices(shape).T - centre, axis=-1).T
    brain = (field - 0.03 * distance) > -0.25
    labels, _ = ndimage.label(brain)
    largest = np.argmax(np.bincount(labels.ravel())[1:]) + 1
    return labels == largest


# ---------------------------------------------------------------------------------------
# Planted box subject
# ---------------------------------------------------------------------------------------
#
# A 2 mm box "brain" with independent unit noise in every voxel. The circuit signal is
# planted with the spatial profile of the coil cone centred on one candidate (a matched
# filter): by Cauchy-Schwarz that candidate then has the highest expected r, whatever the
# brain's shape. The sign-reversed signal is planted the same way at a second candidate
# 26 mm away (cones do not overlap).

BOX_SHAPE = (28, 28, 16)
PLANTED = (8, 14, 13)
ANTI_PLANTED = (21, 14, 13)


def cone_profile(brain, affine, centre, radii=(2, 4, 7, 9, 12), weights=(5, 4, 3, 2, 1)):
    """Cone weights (per brain voxel) around ``centre``, built from distances in mm."""
    grid_mm = atlas.voxel_centres_mm(affine, np.indices(brain.shape).reshape(3, -1).T)
    centre_mm = atlas.voxel_centres_mm(affine, np.array([centre]))[0]
    distance = np.linalg.norm(grid_mm - centre_mm, axis=1).reshape(brain.shape)
    cone = np.zeros(brain.shape)
    for radius, weight in sorted(zip(radii, weights, strict=True), reverse=True):
        cone[distance <= radius + 1e-6] = weight
    return cone[brain]


def box_subject(n_timepoints=500, seed=0, mean_level=0.0):
    rng = np.random.default_rng(seed)
    brain = np.zeros(BOX_SHAPE, dtype=bool)
    brain[2:26, 2:26, 2:14] = True
    affine = box_affine()
    circuit_signal = rng.standard_normal(n_timepoints)
    data = rng.standard_normal((n_timepoints, int(brain.sum())))

    # Circuit map: positive on a deep patch, negative on a larger deep patch that carries
    # the sign-reversed signal. Negative weights dominate (sum < 0): dividing by sum(w)
    # instead of sum(|w|) would flip the circuit signal and with it the target.
    circuit = np.zeros(BOX_SHAPE, dtype=np.float32)
    positive = brain.copy()
    positive[:, :, 4:] = False
    positive[14:] = False
    negative = brain.copy()
    negative[:, :, 4:] = False
    negative[:14] = False
    negative[:, :4] = False
    circuit[positive] = 0.5
    circuit[negative] = -1.0
    data[:, positive[brain]] += 2.0 * circuit_signal[:, None]
    data[:, negative[brain]] -= 2.0 * circuit_signal[:, None]

    # Search region: the top layers, 14 mm or more above the circuit patches.
    search = brain.copy()
    search[:, :, :11] = False
    planted = cone_profile(brain, affine, PLANTED)
    pattern = (planted - cone_profile(brain, affine, ANTI_PLANTED)) / np.linalg.norm(planted)
    data += 2.0 * pattern[None, :] * circuit_signal[:, None]
    timeseries = (data + mean_level).astype(np.float32)
    return timeseries, image(brain.astype(np.uint8), affine), circuit, search


def test_planted_signal_is_found_as_maximum_positive_r():
    timeseries, brain_img, circuit, search = box_subject()
    result = targeting.circuit_searchlight(timeseries, brain_img, circuit, search)
    assert result.target.ijk == PLANTED
    assert result.target.method == "searchlight"
    np.testing.assert_allclose(result.target.mm, atlas.voxel_centres_mm(box_affine(), [PLANTED])[0])
    assert result.target.mm == result.target.voxel_mm
    assert result.target.score == pytest.approx(np.nanmax(result.scores))
    assert result.target.score > 0.8
    # The anti-planted voxel has the most negative r: the sign was kept.
    assert tuple(result.candidate_ijk[np.nanargmin(result.scores)]) == ANTI_PLANTED
    assert np.nanmin(result.scores) < -0.8


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_planted_signal_is_found_for_other_noise_draws(seed):
    timeseries, brain_img, circuit, search = box_subject(seed=seed)
    result = targeting.circuit_searchlight(timeseries, brain_img, circuit, search)
    assert result.target.ijk == PLANTED


def test_large_mean_level_does_not_change_scores():
    # Float32 data with a baseline of 1000 (uncleaned BOLD): the float32 sums must keep
    # enough precision for the correlations.
    base = box_subject(seed=5)
    shifted = box_subject(seed=5, mean_level=1000.0)
    scores_base = targeting.circuit_searchlight(*base).scores
    scores_shifted = targeting.circuit_searchlight(*shifted).scores
    np.testing.assert_allclose(scores_shifted, scores_base, atol=2e-4)


def test_candidates_are_surface_voxels_of_the_search_region():
    timeseries, brain_img, circuit, search = box_subject(n_timepoints=20)
    result = targeting.circuit_searchlight(timeseries, brain_img, circuit, search)
    brain = np.asarray(brain_img.dataobj) > 0
    expected = np.argwhere(atlas.surface_voxels(search & brain, brain))
    np.testing.assert_array_equal(result.candidate_ijk, expected)
    np.testing.assert_allclose(
        result.candidate_mm, atlas.voxel_centres_mm(brain_img.affine, expected)
    )
    volume = result.score_volume(brain.shape)
    assert np.isfinite(volume).sum() == len(expected)
    assert volume[PLANTED] == pytest.approx(result.scores.max(), rel=1e-6)


def test_target_record_has_mm_and_voxel_columns():
    timeseries, brain_img, circuit, search = box_subject()
    record = targeting.circuit_searchlight(
        timeseries, brain_img, circuit, search
    ).target.as_record()
    assert set(record) == {"method", "x_mm", "y_mm", "z_mm", "i", "j", "k", "score"}
    assert (record["i"], record["j"], record["k"]) == PLANTED


# ---------------------------------------------------------------------------------------
# Vectorised searchlight == slow per-candidate reference
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("voxel_mm", "flip", "radii", "weights"),
    [
        ((2.0, 2.0, 2.0), False, targeting.DEFAULT_CONE_RADII_MM, targeting.DEFAULT_CONE_WEIGHTS),
        ((2.0, 2.5, 3.0), True, targeting.DEFAULT_CONE_RADII_MM, targeting.DEFAULT_CONE_WEIGHTS),
        ((3.0, 3.0, 3.0), False, (3.0, 6.5), (2.0, 0.5)),
    ],
)
def test_vectorised_searchlight_equals_slow_reference(voxel_mm, flip, radii, weights):
    rng = np.random.default_rng(7)
    brain = blob_brain()
    img = image(brain.astype(np.uint8), box_affine(voxel_mm))
    if flip:
        img = to_las(img)
        brain = np.asarray(img.dataobj) > 0
    n_timepoints = 60
    # Spatially smooth data with a large mean, like unfiltered BOLD.
    volume = ndimage.gaussian_filter(
        rng.standard_normal((n_timepoints, *brain.shape)), (0, 1, 1, 1)
    )
    timeseries = (500.0 + 10.0 * volume[:, brain]).astype(np.float32)
    circuit = ndimage.gaussian_filter(rng.standard_normal(brain.shape), 3.0).astype(np.float32)
    search = np.zeros(brain.shape, dtype=bool)
    search[: brain.shape[0] // 2] = True
    result = targeting.circuit_searchlight(timeseries, img, circuit, search, radii, weights)
    assert len(result.scores) > 20
    expected = slow_searchlight_scores(
        timeseries, brain, img.affine, circuit, result.candidate_ijk, radii, weights
    )
    np.testing.assert_allclose(result.scores, expected, rtol=1e-5, atol=1e-6)
    assert result.target.ijk == tuple(result.candidate_ijk[np.argmax(expected)])


def test_cone_weights_are_nested_shells():
    brain = np.ones((15, 15, 15), dtype=bool)
    affine = box_affine()
    centre = np.array([[7, 7, 7]])
    matrix = targeting.cone_weight_matrix(brain, affine, centre)
    row = matrix.toarray()[0].reshape(brain.shape)
    assert row.sum() == pytest.approx(1.0)
    raw = row / row.max() * 5  # undo the row normalisation
    offsets = np.indices(brain.shape).reshape(3, -1).T - 7
    distance = np.linalg.norm(2.0 * offsets, axis=1).reshape(brain.shape)
    # weight 5 within 2 mm (inclusive: the 6 face neighbours at exactly 2 mm), ...
    expected = np.select(
        [distance <= r + 1e-9 for r in (2, 4, 7, 9, 12)], [5, 4, 3, 2, 1], default=0
    )
    np.testing.assert_allclose(raw, expected, atol=1e-9)
    assert (expected == 5).sum() == 7
    # ... which equals five summed unit spheres, as in the trial's cone.
    summed = sum((distance <= r + 1e-9).astype(int) for r in (2, 4, 7, 9, 12))
    np.testing.assert_array_equal(expected, summed)


def test_cone_weights_only_on_brain_voxels():
    brain = np.zeros((15, 15, 15), dtype=bool)
    brain[:, :, :8] = True
    matrix = targeting.cone_weight_matrix(brain, box_affine(), np.array([[7, 7, 7]]))
    assert matrix.shape == (1, brain.sum())
    assert matrix.nnz == 0 or matrix.sum() == pytest.approx(1.0)
    full = np.zeros(brain.shape)
    full[brain] = matrix.toarray()[0]
    assert full[:, :, :8].sum() == pytest.approx(1.0)


def test_bad_cone_settings_fail():
    brain = np.ones((5, 5, 5), dtype=bool)
    with pytest.raises(ValueError, match="increasing"):
        targeting.cone_weight_matrix(brain, box_affine(), [[2, 2, 2]], (4, 2), (1, 1))
    with pytest.raises(ValueError, match="equally long"):
        targeting.cone_weight_matrix(brain, box_affine(), [[2, 2, 2]], (2, 4), (1,))
    with pytest.raises(ValueError, match="positive"):
        targeting.cone_weight_matrix(brain, box_affine(), [[2, 2, 2]], (2, 4), (1, -1))


def test_circuit_signal_is_weighted_mean_with_sign_kept():
    rng = np.random.default_rng(0)
    timeseries = rng.standard_normal((30, 5)).astype(np.float32)
    weights = np.array([-1.0, -1.0, -1.0, 0.5, 0.0])
    signal = targeting.circuit_signal(timeseries, weights)
    expected = timeseries.astype(np.float64) @ weights / 3.5
    np.testing.assert_allclose(signal, expected, rtol=1e-6)


# ---------------------------------------------------------------------------------------
# RAS vs LAS storage of the same data, with the real map and mask
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def subject_4mm():
    """A 4 mm MNI subject (RAS) with smooth noise, a planted DLPFC site, and its LAS twin."""
    brain_ras = atlas.template_tissue(4.0)["brain"]
    brain = np.asarray(brain_ras.dataobj) > 0
    rng = np.random.default_rng(42)
    n_timepoints = 80
    volume = rng.standard_normal((n_timepoints, *brain.shape)).astype(np.float32)
    volume = ndimage.gaussian_filter(volume, (0, 1, 1, 1))
    timeseries = np.ascontiguousarray(volume[:, brain])
    # sgACC seed region anticorrelated with a left DLPFC site.
    xyz = atlas.voxel_centres_mm(brain_ras.affine, np.argwhere(brain))
    driver = rng.standard_normal(n_timepoints).astype(np.float32)
    near_seed = np.linalg.norm(xyz - atlas.SGACC_CENTRE_MM, axis=1) <= 10
    near_site = np.linalg.norm(xyz - (-44.0, 36.0, 28.0), axis=1) <= 8
    timeseries[:, near_seed] += driver[:, None]
    timeseries[:, near_site] -= driver[:, None]
    brain_las = to_las(brain_ras)
    timeseries_las = np.ascontiguousarray(timeseries[:, las_columns(brain)])
    return (timeseries, brain_ras), (timeseries_las, brain_las)


def all_targets(timeseries, brain_img, circuit_source, mask_source, seed_source):
    circuit = circuits.load_circuit_map(circuit_source, brain_img)
    search = circuits.load_search_mask(mask_source, brain_img)
    seed = circuits.load_seed_mask(seed_source, brain_img)
    searchlight = targeting.circuit_searchlight(timeseries, brain_img, circuit, search)
    classic = targeting.sgacc_target(timeseries, brain_img, seed, search, method="classic")
    cluster = targeting.sgacc_target(timeseries, brain_img, seed, search, method="cluster")
    return searchlight, classic, cluster


def assert_same_targets(ras, las):
    for a, b in zip(ras, las, strict=True):
        np.testing.assert_allclose(b.target.mm, a.target.mm, atol=1e-6)
        np.testing.assert_allclose(b.target.voxel_mm, a.target.voxel_mm, atol=1e-6)
        assert b.target.score == pytest.approx(a.target.score, abs=1e-5)
    # All candidate scores agree when matched by world coordinate, not array index.
    order_ras = np.lexsort(ras[0].candidate_mm.T)
    order_las = np.lexsort(las[0].candidate_mm.T)
    np.testing.assert_allclose(
        las[0].candidate_mm[order_las], ras[0].candidate_mm[order_ras], atol=1e-6
    )
    np.testing.assert_allclose(
        las[0].scores[order_las], ras[0].scores[order_ras], rtol=1e-5, atol=1e-6
    )


@needs_shared_data
def test_ras_and_las_storage_give_the_same_targets_in_mm_real_map_and_mask(subject_4mm):
    (ts_ras, brain_ras), (ts_las, brain_las) = subject_4mm
    ras = all_targets(ts_ras, brain_ras, CIRCUIT_RAS, DLPFC_LAS, SGACC_LAS)
    las = all_targets(ts_las, brain_las, CIRCUIT_RAS, DLPFC_LAS, SGACC_LAS)
    assert_same_targets(ras, las)
    assert brain_las.affine[0, 0] < 0 < brain_ras.affine[0, 0]
    for result in ras:
        assert result.target.mm[0] < 0  # left DLPFC
    # The planted anticorrelated site (-44, 36, 28) is what the seed map finds.
    assert np.linalg.norm(np.subtract(ras[1].target.mm, (-44.0, 36.0, 28.0))) <= 8.0 + 1e-6


def test_ras_and_las_storage_give_the_same_targets_in_mm_defaults(subject_4mm):
    (ts_ras, brain_ras), (ts_las, brain_las) = subject_4mm
    ras = all_targets(ts_ras, brain_ras, None, None, None)
    las = all_targets(ts_las, brain_las, None, None, None)
    assert_same_targets(ras, las)


@needs_shared_data
def test_searchlight_on_the_2mm_grid_with_the_real_map_and_mask():
    brain_img = atlas.template_tissue(2.0)["brain"]
    brain = np.asarray(brain_img.dataobj) > 0
    timeseries = np.random.default_rng(1).standard_normal((24, brain.sum()), dtype=np.float32)
    circuit = circuits.load_circuit_map(CIRCUIT_RAS, brain_img)
    search = circuits.load_search_mask(DLPFC_LAS, brain_img)
    result = targeting.circuit_searchlight(timeseries, brain_img, circuit, search)
    assert len(result.scores) == 462
    assert np.isfinite(result.scores).all()
    assert np.asarray(search.dataobj)[result.target.ijk] == 1
    assert result.target.mm[0] < 0


# ---------------------------------------------------------------------------------------
# sgACC seed map
# ---------------------------------------------------------------------------------------


def test_seed_map_classic_finds_the_exactly_anticorrelated_voxel():
    timeseries, brain_img, seed, search, affine = seed_map_cubes_subject()
    result = targeting.sgacc_target(timeseries, brain_img, seed, search, method="classic")
    assert result.target.ijk == (11, 10, 12)
    assert result.target.score == pytest.approx(-1.0, abs=1e-6)
    assert result.target.method == "sgacc_classic"
    assert result.threshold is None and result.cluster_ijk is None
    assert len(result.r) == search.sum()
    assert np.nanmin(result.r_volume(search.shape)) == pytest.approx(-1.0, abs=1e-6)


def test_seed_map_cluster_takes_the_largest_cluster_centre():
    timeseries, brain_img, seed, search, affine = seed_map_cubes_subject()
    result = targeting.sgacc_target(
        timeseries,
        brain_img,
        seed,
        search,
        method="cluster",
        cluster_percentile=100,
        centre_of_mass="plain",
    )
    # All negative voxels kept: cube A (27 voxels) beats the more negative cube B (8).
    assert len(result.cluster_ijk) == 27
    centre_a = atlas.voxel_centres_mm(affine, np.array([[11, 11, 11]]))[0]
    np.testing.assert_allclose(result.target.mm, centre_a, atol=1e-9)
    assert result.target.ijk == (11, 11, 11)
    assert result.target.method == "sgacc_cluster"
    assert result.target.score < -0.3


def test_seed_map_cluster_value_weighting_and_threshold_rule():
    timeseries, brain_img, seed, search, affine = seed_map_cubes_subject()
    result = targeting.sgacc_target(timeseries, brain_img, seed, search, method="cluster")
    negative = result.r[np.isfinite(result.r) & (result.r < 0)]
    assert result.threshold == pytest.approx(np.percentile(negative, 10))
    r_volume = result.r_volume(search.shape)
    cluster_r = r_volume[tuple(result.cluster_ijk.T)]
    # Independent check: the largest 26-connected component of the kept voxels.
    kept = r_volume <= result.threshold
    labels, _ = ndimage.label(kept, structure=np.ones((3, 3, 3)))
    sizes = np.bincount(labels.ravel())[1:]
    assert len(result.cluster_ijk) == sizes.max() and np.sum(sizes == sizes.max()) == 1
    largest = np.argwhere(labels == np.argmax(sizes) + 1)
    np.testing.assert_array_equal(result.cluster_ijk, largest)
    mm = atlas.voxel_centres_mm(affine, result.cluster_ijk)
    expected = (mm * -cluster_r[:, None]).sum(axis=0) / -cluster_r.sum()
    np.testing.assert_allclose(result.target.mm, expected, atol=1e-9)
    nearest = result.cluster_ijk[np.argmin(np.linalg.norm(mm - expected, axis=1))]
    assert result.target.ijk == tuple(nearest)


def test_seed_map_cluster_ties_go_to_the_more_negative_cluster():
    rng = np.random.default_rng(4)
    shape = (16, 16, 16)
    brain = np.ones(shape, dtype=bool)
    seed = np.zeros(shape, dtype=bool)
    seed[1:3, 1:3, 1:3] = True
    search = np.zeros(shape, dtype=bool)
    search[6:15, 6:15, 6:15] = True
    n = 200
    driver = rng.standard_normal(n)
    volume = 0.3 * rng.standard_normal((n, *shape)) + 0.5 * driver[:, None, None, None]
    volume[:, 7:9, 7:9, 7:9] = -0.6 * driver[:, None, None, None] + 0.4 * volume[:, 7:9, 7:9, 7:9]
    volume[:, 12:14, 12:14, 12:14] = (
        -driver[:, None, None, None] + 0.1 * volume[:, 12:14, 12:14, 12:14]
    )
    volume[:, seed] = driver[:, None]
    result = targeting.sgacc_target(
        volume[:, brain].astype(np.float32),
        image(brain.astype(np.uint8), box_affine()),
        seed,
        search,
        method="cluster",
        cluster_percentile=100,
    )
    assert len(result.cluster_ijk) == 8
    assert result.cluster_ijk.min() == 12


def test_seed_map_ras_las_same_r_in_world_space():
    timeseries, brain_img, seed, search, affine = seed_map_cubes_subject(n_timepoints=60)
    brain = np.asarray(brain_img.dataobj) > 0
    las_brain = to_las(brain_img)
    ts_las = np.ascontiguousarray(timeseries[:, las_columns(brain)])
    for method in ("classic", "cluster"):
        ras = targeting.sgacc_target(timeseries, brain_img, seed, search, method=method)
        las = targeting.sgacc_target(ts_las, las_brain, seed[::-1], search[::-1], method=method)
        np.testing.assert_allclose(las.target.mm, ras.target.mm, atol=1e-9)


# ---------------------------------------------------------------------------------------
# Edge cases: clear errors
# ---------------------------------------------------------------------------------------


def test_search_region_outside_the_brain_fails():
    timeseries, brain_img, circuit, _ = box_subject(n_timepoints=10)
    outside = np.zeros(BOX_SHAPE, dtype=bool)
    outside[0, 0, 0] = True
    with pytest.raises(TargetingError, match="search mask has 1 voxels but none inside the brain"):
        targeting.circuit_searchlight(timeseries, brain_img, circuit, outside)


def test_search_region_without_surface_voxels_fails():
    timeseries, brain_img, circuit, _ = box_subject(n_timepoints=10)
    deep = np.zeros(BOX_SHAPE, dtype=bool)
    deep[10:13, 10:13, 6:9] = True
    with pytest.raises(TargetingError, match="27 voxels inside the brain mask but none on the"):
        targeting.circuit_searchlight(timeseries, brain_img, circuit, deep)


def test_flat_circuit_signal_fails():
    timeseries, brain_img, circuit, search = box_subject(n_timepoints=10)
    flat = np.ones_like(timeseries)
    with pytest.raises(TargetingError, match="circuit signal is flat over 10 timepoints"):
        targeting.circuit_searchlight(flat, brain_img, circuit, search)


def test_nan_circuit_signal_fails():
    timeseries, brain_img, circuit, search = box_subject(n_timepoints=10)
    brain = np.asarray(brain_img.dataobj) > 0
    column = int(np.flatnonzero(circuit[brain] != 0)[0])
    timeseries[3, column] = np.nan
    with pytest.raises(TargetingError, match=r"not finite at 1 of 10 timepoints.* in 1 brain"):
        targeting.circuit_searchlight(timeseries, brain_img, circuit, search)


def test_all_scores_non_finite_fails():
    timeseries, brain_img, circuit, search = box_subject(n_timepoints=10)
    brain = np.asarray(brain_img.dataobj) > 0
    # Constant time courses in and near the search region; the circuit (deep) still varies.
    upper = brain.copy()
    upper[:, :, :4] = False
    timeseries[:, upper[brain]] = 3.0
    with pytest.raises(TargetingError, match="none of the .* surface candidates has a finite"):
        targeting.circuit_searchlight(timeseries, brain_img, circuit, search)


def test_zero_or_non_finite_circuit_weights_fail():
    timeseries, brain_img, circuit, search = box_subject(n_timepoints=10)
    with pytest.raises(TargetingError, match="circuit map is zero at all"):
        targeting.circuit_searchlight(timeseries, brain_img, np.zeros(BOX_SHAPE), search)
    bad = circuit.copy()
    bad[5, 5, 5] = np.nan
    with pytest.raises(TargetingError, match="1 non-finite values inside the brain"):
        targeting.circuit_searchlight(timeseries, brain_img, bad, search)


def test_inputs_on_another_grid_or_shape_fail():
    timeseries, brain_img, circuit, search = box_subject(n_timepoints=10)
    with pytest.raises(TargetingError, match="different grid.*load_map"):
        targeting.circuit_searchlight(
            timeseries, brain_img, to_las(image(circuit, brain_img.affine)), search
        )
    with pytest.raises(TargetingError, match="search mask has shape"):
        targeting.circuit_searchlight(timeseries, brain_img, circuit, search[:-1])
    with pytest.raises(TargetingError, match="columns but the brain mask has"):
        targeting.circuit_searchlight(timeseries[:, :-1], brain_img, circuit, search)
    with pytest.raises(TargetingError, match="at least 3"):
        targeting.circuit_searchlight(timeseries[:2], brain_img, circuit, search)


def test_seed_map_errors():
    timeseries, brain_img, seed, search, _ = seed_map_cubes_subject(n_timepoints=20)
    brain = np.asarray(brain_img.dataobj) > 0
    outside = np.zeros_like(seed)
    outside[0, 0, 0] = True
    with pytest.raises(TargetingError, match="sgACC seed mask has no voxel inside the brain"):
        targeting.sgacc_target(timeseries, brain_img, outside, search)
    with pytest.raises(TargetingError, match="search mask has no voxel inside the brain"):
        targeting.sgacc_target(timeseries, brain_img, seed, outside)
    flat_seed = timeseries.copy()
    flat_seed[:, seed[brain]] = 1.0
    with pytest.raises(TargetingError, match="sgACC seed signal is flat over 20"):
        targeting.sgacc_target(flat_seed, brain_img, seed, search)
    nan_seed = timeseries.copy()
    nan_seed[0, np.flatnonzero(seed[brain])[0]] = np.nan
    with pytest.raises(TargetingError, match="sgACC seed signal is not finite"):
        targeting.sgacc_target(nan_seed, brain_img, seed, search)
    flat_region = timeseries.copy()
    flat_region[:, search[brain]] = 2.0
    with pytest.raises(TargetingError, match="none of the .* has a finite seed correlation"):
        targeting.sgacc_target(flat_region, brain_img, seed, search)
    positive = timeseries.copy()
    positive[:, search[brain]] = timeseries[:, seed[brain]][:, :1]
    with pytest.raises(TargetingError, match="no search-region voxel is anticorrelated"):
        targeting.sgacc_target(positive, brain_img, seed, search, method="cluster")
    unknown_method: str = "fox"
    with pytest.raises(ValueError, match="method"):
        targeting.sgacc_target(timeseries, brain_img, seed, search, method=unknown_method)


def test_circuit_signal_is_exact_for_data_with_a_large_mean():
    rng = np.random.default_rng(1)
    timeseries = (1000.0 + rng.standard_normal((40, 3000))).astype(np.float32)
    weights = rng.standard_normal(3000)
    signal = targeting.circuit_signal(timeseries, weights)
    expected = timeseries.astype(np.float64) @ weights / np.abs(weights).sum()
    np.testing.assert_allclose(signal - signal.mean(), expected - expected.mean(), atol=1e-9)


def test_a_secondary_method_without_a_site_is_left_out(monkeypatch, caplog):
    """sgacc_cluster finding no anticorrelated voxel must not stop the subject (it is
    logged and its row left out); the connectivity method's failure still stops."""
    import nibabel as nib
    import numpy as np

    from tmstarget import stimulation
    from tmstarget.circuits import TargetingError
    from tmstarget.uncertainty import BootstrapSettings

    brain = np.zeros((6, 6, 6), dtype=np.uint8)
    brain[1:5, 1:5, 1:5] = 1
    maps = stimulation.SubjectMaps.__new__(stimulation.SubjectMaps)
    object.__setattr__(maps, "brain_mask", nib.Nifti1Image(brain, np.diag([6.0, 6.0, 6.0, 1.0])))

    def fake(maps_, method, settings, timeseries=None):
        raise TargetingError(f"{method}: no anticorrelated voxel")

    monkeypatch.setattr(stimulation, "find_target", fake)
    off = BootstrapSettings(enabled=False)
    secondary = stimulation.TargetingSettings(
        methods=("sgacc_cluster",), connectivity_method="sgacc_classic", bootstrap=off
    )
    # nothing else to find here: the (empty) table fails later, not the method
    with pytest.raises(Exception) as error:
        stimulation.subject_targets("sub-01", maps, secondary, None)
    assert not isinstance(error.value, TargetingError)
    assert "sub-01: sgacc_cluster found no target" in caplog.text
    primary = stimulation.TargetingSettings(
        methods=("sgacc_classic",), connectivity_method="sgacc_classic", bootstrap=off
    )
    with pytest.raises(TargetingError, match="no anticorrelated voxel"):
        stimulation.subject_targets("sub-01", maps, primary, None)
