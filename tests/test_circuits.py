"""Unit tests for tmstarget.circuits: world-space resampling, defaults and their errors.

The real circuit map (RAS) and the trial's DLPFC mask (LAS) are read from
``../shared/data`` (never copied into the repository).
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from tmstarget import atlas, circuits
from tmstarget.circuits import TargetingError

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CIRCUIT_RAS = SHARED_DATA / "AllFX_wmean.nii.gz"
DLPFC_LAS = SHARED_DATA / "spalm_dlPFC_GMmasked_03272023.nii.gz"
SGACC_LAS = SHARED_DATA / "SG_6_16_-10_r10_msk3.nii.gz"

needs_shared_data = pytest.mark.skipif(
    not DLPFC_LAS.exists(), reason=f"reference data not found in {SHARED_DATA}"
)


def flip_x(img: nib.Nifti1Image) -> nib.Nifti1Image:
    """The same image stored with the first axis reversed (RAS <-> LAS), same world space."""
    affine = np.array(img.affine, dtype=float)
    n_x = img.shape[0]
    new_affine = affine.copy()
    new_affine[:, 0] = -affine[:, 0]
    new_affine[:3, 3] = affine[:3, 3] + affine[:3, 0] * (n_x - 1)
    return nib.Nifti1Image(np.asanyarray(img.dataobj)[::-1].copy(), new_affine)


def value_at(img: nib.Nifti1Image, xyz_mm) -> float:
    """Value of the voxel whose centre is nearest to ``xyz_mm`` (world mm)."""
    ijk = np.round(np.linalg.inv(img.affine) @ np.r_[xyz_mm, 1.0])[:3].astype(int)
    return float(np.asarray(img.dataobj)[tuple(ijk)])


def centres_mm(mask_img: nib.Nifti1Image) -> np.ndarray:
    return atlas.voxel_centres_mm(mask_img.affine, np.argwhere(np.asarray(mask_img.dataobj) > 0))


@pytest.fixture(scope="module")
def ras2() -> nib.Nifti1Image:
    return atlas.template_tissue(2.0)["brain"]


@pytest.fixture(scope="module")
def ras4() -> nib.Nifti1Image:
    return atlas.template_tissue(4.0)["brain"]


# ---------------------------------------------------------------------------------------
# Real files in two orientations
# ---------------------------------------------------------------------------------------


@needs_shared_data
def test_real_las_mask_lands_in_the_left_hemisphere_on_a_ras_grid(ras2):
    assert nib.aff2axcodes(nib.load(DLPFC_LAS).affine)[0] == "L"
    mask = circuits.load_search_mask(DLPFC_LAS, ras2)
    xyz = centres_mm(mask)
    assert len(xyz) == 2940
    assert xyz[:, 0].max() < 0
    np.testing.assert_allclose(xyz.mean(axis=0), [-35.8, 35.4, 31.1], atol=0.1)
    # Indexing the raw LAS array with the RAS grid would put the mask on the right.
    raw = np.asarray(nib.load(DLPFC_LAS).dataobj) > 0
    assert atlas.voxel_centres_mm(ras2.affine, np.argwhere(raw))[:, 0].min() > 0


@needs_shared_data
def test_real_mask_on_its_own_grid_is_unchanged():
    source = nib.load(DLPFC_LAS)
    mask = circuits.load_map(DLPFC_LAS, source, kind="mask")
    np.testing.assert_array_equal(np.asarray(mask.dataobj), np.asarray(source.dataobj) > 0)
    assert mask.dataobj.dtype == np.uint8


@needs_shared_data
def test_real_mask_at_4mm_keeps_about_an_eighth(ras4):
    xyz = centres_mm(circuits.load_search_mask(DLPFC_LAS, ras4))
    assert 2940 / 8 * 0.8 < len(xyz) < 2940 / 8 * 1.2
    assert xyz[:, 0].max() < 0


@needs_shared_data
def test_real_circuit_map_signs_at_published_points(ras2, ras4):
    for ref in (ras2, ras4, flip_x(ras2)):
        circuit = circuits.load_circuit_map(CIRCUIT_RAS, ref)
        assert circuit.dataobj.dtype == np.float32
        assert value_at(circuit, (6, 16, -10)) < -0.05
        assert value_at(circuit, (-44, 40, 28)) > 0.05
    ras = circuits.load_circuit_map(CIRCUIT_RAS, ras2)
    assert value_at(ras, (6, 16, -10)) == pytest.approx(-0.10, abs=0.01)
    assert value_at(ras, (-44, 40, 28)) == pytest.approx(0.125, abs=0.01)


@needs_shared_data
def test_real_circuit_map_same_in_world_space_on_ras_and_las_grids(ras2):
    on_ras = np.asarray(circuits.load_circuit_map(CIRCUIT_RAS, ras2).dataobj)
    on_las = np.asarray(circuits.load_circuit_map(CIRCUIT_RAS, flip_x(ras2)).dataobj)
    np.testing.assert_allclose(on_las[::-1], on_ras, atol=1e-6)


@needs_shared_data
def test_real_seed_mask(ras2):
    seed = circuits.load_seed_mask(SGACC_LAS, ras2)
    xyz = centres_mm(seed)
    assert len(xyz) == 211
    assert np.linalg.norm(xyz - atlas.SGACC_CENTRE_MM, axis=1).max() <= 10.0 + 1e-6


# ---------------------------------------------------------------------------------------
# Defaults from published coordinates
# ---------------------------------------------------------------------------------------


def test_default_search_mask_is_left_dlpfc_spheres_in_grey_matter(ras4):
    mask = circuits.load_search_mask(None, ras4)
    xyz = centres_mm(mask)
    assert len(xyz) > 300
    centres = np.array(list(atlas.DLPFC_SPHERE_CENTRES_MM.values()))
    nearest = np.linalg.norm(xyz[:, None, :] - centres[None], axis=2).min(axis=1)
    assert nearest.max() <= atlas.DLPFC_SPHERE_RADIUS_MM + 1e-6
    assert xyz[:, 0].max() < 0
    grey = np.asarray(atlas.template_tissue(4.0)["gm"].dataobj) > 0
    assert np.all(grey[np.asarray(mask.dataobj) > 0])


def test_default_masks_follow_the_data_grid_orientation(ras4):
    las = flip_x(ras4)
    for loader in (circuits.load_search_mask, circuits.load_seed_mask):
        on_ras = np.asarray(loader(None, ras4).dataobj)
        on_las = np.asarray(loader(None, las).dataobj)
        np.testing.assert_array_equal(on_las[::-1], on_ras)


def test_default_seed_mask_is_a_10mm_sphere(ras4):
    xyz = centres_mm(circuits.load_seed_mask(None, ras4))
    assert len(xyz) > 0
    assert np.linalg.norm(xyz - atlas.SGACC_CENTRE_MM, axis=1).max() <= 10.0 + 1e-6
    bilateral = centres_mm(circuits.load_seed_mask(None, ras4, bilateral=True))
    assert (bilateral[:, 0] < 0).any() and (bilateral[:, 0] > 0).any()


def test_surrogate_circuit_has_published_signs_and_values(ras2):
    surrogate = circuits.surrogate_circuit_map(ras2)
    data = np.asarray(surrogate.dataobj)
    assert data.dtype == np.float32
    # (6, 16, -10) is a voxel centre of the 2 mm grid; BA46's z = 29 lies between two.
    assert value_at(surrogate, (6, 16, -10)) == pytest.approx(-0.10, rel=1e-5)
    assert value_at(surrogate, (-6, 16, -10)) == pytest.approx(-0.10, rel=1e-5)
    for z in (28, 30):
        assert value_at(surrogate, (-44, 40, z)) == pytest.approx(0.125, rel=0.01)
        assert value_at(surrogate, (44, 40, z)) == pytest.approx(0.125, rel=0.01)
    # The two sgACC blobs overlap, so the map dips a little below -0.10 on the midline.
    assert -0.12 < data.min() <= -0.10
    assert data.max() == pytest.approx(0.125, rel=0.02)
    brain = np.asarray(ras2.dataobj) > 0
    assert np.all(data[~brain] == 0)


def test_surrogate_is_the_same_in_world_space_on_a_las_grid(ras4):
    on_ras = np.asarray(circuits.surrogate_circuit_map(ras4).dataobj)
    on_las = np.asarray(circuits.surrogate_circuit_map(flip_x(ras4)).dataobj)
    np.testing.assert_allclose(on_las[::-1], on_ras, atol=1e-7)


def test_load_circuit_map_without_path_gives_the_surrogate(ras4):
    np.testing.assert_array_equal(
        np.asarray(circuits.load_circuit_map(None, ras4).dataobj),
        np.asarray(circuits.surrogate_circuit_map(ras4).dataobj),
    )


# ---------------------------------------------------------------------------------------
# Resampling details
# ---------------------------------------------------------------------------------------


def small_grid(affine_offset=(0.0, 0.0, 0.0)) -> nib.Nifti1Image:
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    affine[:3, 3] = affine_offset
    return nib.Nifti1Image(np.zeros((10, 10, 10), dtype=np.uint8), affine)


def test_nan_in_a_continuous_map_counts_as_zero_and_does_not_spread():
    ref = small_grid()
    data = np.zeros((10, 10, 10), dtype=np.float32)
    data[5, 5, 5] = np.nan
    data[2, 2, 2] = 1.0
    out = np.asarray(circuits.load_map(nib.Nifti1Image(data, ref.affine), ref).dataobj)
    assert np.isfinite(out).all()
    assert out[5, 5, 5] == 0 and out[2, 2, 2] == pytest.approx(1.0)


def test_mask_resampling_to_a_coarser_grid_uses_half_inside_rule():
    fine = nib.Nifti1Image(np.zeros((20, 20, 20), np.uint8), np.diag([1.0, 1.0, 1.0, 1.0]))
    data = np.zeros((20, 20, 20), dtype=np.uint8)
    data[4:8, 4:8, 4:8] = 1
    coarse_affine = np.diag([2.0, 2.0, 2.0, 1.0])
    coarse = nib.Nifti1Image(np.zeros((10, 10, 10), np.uint8), coarse_affine)
    out = np.asarray(circuits.load_map(nib.Nifti1Image(data, fine.affine), coarse, "mask").dataobj)
    assert out.sum() == 8 and out[2:4, 2:4, 2:4].all()


def test_same_grid():
    assert circuits.same_grid(small_grid(), small_grid())
    assert not circuits.same_grid(small_grid(), small_grid((2.0, 0, 0)))
    assert not circuits.same_grid(small_grid(), flip_x(small_grid()))


# ---------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------


def test_search_mask_outside_the_data_grid_fails_naming_the_file(tmp_path, ras4):
    data = np.zeros((10, 10, 10), dtype=np.uint8)
    data[3:6, 3:6, 3:6] = 1
    far_away = np.diag([2.0, 2.0, 2.0, 1.0])
    far_away[:3, 3] = 1000.0
    path = tmp_path / "mask_in_another_space.nii.gz"
    nib.save(nib.Nifti1Image(data, far_away), path)
    with pytest.raises(TargetingError, match="mask_in_another_space") as info:
        circuits.load_search_mask(path, ras4)
    message = str(info.value)
    assert "0 voxels remain after resampling" in message
    assert "27 non-zero voxels" in message
    assert "same template space" in message


def test_seed_mask_outside_the_data_grid_fails(tmp_path, ras4):
    data = np.zeros((10, 10, 10), dtype=np.uint8)
    data[3, 3, 3] = 1
    far_away = np.diag([2.0, 2.0, 2.0, 1.0])
    far_away[:3, 3] = -1000.0
    path = tmp_path / "seed.nii.gz"
    nib.save(nib.Nifti1Image(data, far_away), path)
    with pytest.raises(TargetingError, match="sgACC seed mask .*seed.nii.gz.*0 voxels remain"):
        circuits.load_seed_mask(path, ras4)


def test_all_zero_circuit_map_fails(tmp_path, ras4):
    path = tmp_path / "zeros.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((5, 5, 5), np.float32), np.eye(4)), path)
    with pytest.raises(TargetingError, match="circuit map .*zeros.nii.gz.*0 voxels remain"):
        circuits.load_circuit_map(path, ras4)


def test_missing_file_and_4d_image_fail(tmp_path, ras4):
    with pytest.raises(TargetingError, match="does not exist"):
        circuits.load_circuit_map(tmp_path / "nope.nii.gz", ras4)
    four_d = nib.Nifti1Image(np.ones((4, 4, 4, 3), np.float32), np.eye(4))
    with pytest.raises(TargetingError, match="expected a 3-D image"):
        circuits.load_map(four_d, ras4)
    squeezable = nib.Nifti1Image(np.ones((4, 4, 4, 1), np.float32), np.eye(4))
    assert circuits.load_map(squeezable, ras4).shape == ras4.shape


def test_bad_arguments_fail(ras4):
    img = small_grid()
    with pytest.raises(ValueError, match="kind"):
        circuits.load_map(img, ras4, kind="labels")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="mask_threshold"):
        circuits.load_map(img, ras4, kind="mask", mask_threshold=0)
    with pytest.raises(ValueError, match="sigma_mm"):
        circuits.surrogate_circuit_map(ras4, sigma_mm=0)
