"""Tests for tmstarget.reliability: planted split-half answers (fake and real targeting
methods), the two between-subject conventions against their definitions, subject
bootstrap, mixed model, scan-length curve and the manuscript lattice argument."""

from __future__ import annotations

import math

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from helpers import seed_map_split_half_subject

from tmstarget import atlas, reliability, tables
from tmstarget.circuits import TargetingError

TR = 2.0  # s; 30 volumes per minute

# ---------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------


def mean_position(timeseries: np.ndarray) -> np.ndarray:
    """Fake targeting: the target is the mean of the first three columns (mm)."""
    return np.asarray(timeseries[:, :3], dtype=float).mean(axis=0)


def balanced_noise(rng, n_timepoints: int, sd: float) -> np.ndarray:
    """(n, 3) noise whose mean is exactly zero (each draw followed by its negative)."""
    half = rng.normal(0.0, sd, (n_timepoints // 2, 3))
    return np.stack([half, -half], axis=1).reshape(-1, 3)


def toy_targets(halves: np.ndarray, subjects=None) -> pd.DataFrame:
    """A targets table with only half rows, from an (n, 2, 3) array."""
    subjects = subjects or [f"{i:02d}" for i in range(len(halves))]
    rows = []
    for subject, pair in zip(subjects, halves, strict=True):
        for name, xyz in zip(("half1", "half2"), pair, strict=True):
            x_mm, y_mm, z_mm = xyz
            rows.append(
                {"subject": subject, "segment": name, "x_mm": x_mm, "y_mm": y_mm, "z_mm": z_mm}
            )
    return pd.DataFrame(rows)


def lattice_halves(n=40, between_sd=7.5, within_sd=2.0, seed=0) -> np.ndarray:
    """(n, 2, 3) half-targets on a 2 mm grid: ~13 mm between, ~4 mm within."""
    rng = np.random.default_rng(seed)
    true = np.array([-40.0, 40.0, 30.0]) + rng.normal(0, between_sd, (n, 1, 3))
    noisy = true + rng.normal(0, within_sd, (n, 2, 3))
    return np.round(noisy / 2.0) * 2.0


def noisy_subject_tables(n_subjects=24, minutes=20.0, noise_sd=30.0, seed=5, grid=None):
    """Per-subject tables from subject_reliability with the mean-position fake method:
    the target of k minutes is the true position plus mean noise, error ~ 1/sqrt(k)."""
    rng = np.random.default_rng(seed)
    n_timepoints = int(minutes * 60 / TR)
    grid = grid or (1, 2, 4, 6, 8, 10, 15, 20)
    frames = []
    for subject in range(n_subjects):
        true = rng.normal(0.0, 7.0, 3)
        series = (true + rng.normal(0.0, noise_sd, (n_timepoints, 3))).astype(np.float32)
        frames.append(
            reliability.subject_reliability(
                series, None, TR, mean_position, grid, subject=f"{subject:02d}", paired_retest=True
            )
        )
    return frames


# ---------------------------------------------------------------------------------------
# Segments
# ---------------------------------------------------------------------------------------


def test_segments_cut_at_half_contiguously_and_count_volumes_per_minute():
    plan = reliability.plan_segments(241, TR, [2, 4, 2.5, 100], min_timepoints=20).set_index(
        "segment"
    )
    assert tuple(plan.loc["full", ["start_volume", "stop_volume"]]) == (0, 241)
    assert tuple(plan.loc["half1", ["start_volume", "stop_volume"]]) == (0, 120)
    assert tuple(plan.loc["half2", ["start_volume", "stop_volume"]]) == (120, 241)
    assert plan.loc["first_2min", "stop_volume"] == 60
    assert plan.loc["first_2.5min", "stop_volume"] == 75
    assert plan.loc["first_4min", "requested_minutes"] == 4
    assert plan.loc["first_2min", "note"] == ""
    assert "longer than the data" in plan.loc["first_100min", "note"]
    # 4 minutes at TR 0.8 s is 300 volumes despite 4 * 60 / 0.8 = 299.99999999999994
    assert (
        reliability.plan_segments(400, 0.8, [4])
        .set_index("segment")
        .loc["first_4min", "n_timepoints"]
        == 300
    )


def test_short_segments_are_skipped_and_short_halves_fail():
    plan = reliability.plan_segments(100, TR, [0.5, 1], min_timepoints=20).set_index("segment")
    assert "fewer than min_timepoints" in plan.loc["first_0.5min", "note"]
    assert plan.loc["first_1min", "note"] == ""
    with pytest.raises(ValueError, match="halves .* shorter than min_timepoints"):
        reliability.plan_segments(30, TR, [1], min_timepoints=20)
    with pytest.raises(ValueError, match="repetition_time_s"):
        reliability.plan_segments(100, 0.0, [1])
    with pytest.raises(ValueError, match="positive"):
        reliability.plan_segments(100, TR, [0, 1])
    with pytest.raises(ValueError, match="repeat"):
        reliability.plan_segments(100, TR, [1, 1])


def test_retest_segments_start_at_the_cut_and_need_room():
    plan = reliability.plan_segments(300, TR, [2, 6], paired_retest=True).set_index("segment")
    assert tuple(plan.loc["retest_2min", ["start_volume", "stop_volume"]]) == (150, 210)
    assert "no independent retest" in plan.loc["retest_6min", "note"]
    assert plan.loc["first_6min", "note"] == ""


# ---------------------------------------------------------------------------------------
# Per subject, fake method
# ---------------------------------------------------------------------------------------


def test_identical_halves_give_zero_distance():
    rng = np.random.default_rng(0)
    first = rng.normal(0, 5, (90, 3)).astype(np.float32)
    series = np.concatenate([first, first])
    table = reliability.subject_reliability(series, None, TR, mean_position, [1, 2])
    within = reliability.within_subject_distances(table)
    assert within["distance_mm"].tolist() == [0.0]


@pytest.mark.parametrize(
    ("offset", "expected"), [((3.0, 4.0, 12.0), 13.0), ((4.0, 2.0, 0.0), math.sqrt(20))]
)
def test_halves_planted_at_a_known_offset_give_that_distance(offset, expected):
    rng = np.random.default_rng(1)
    start = np.array([-40.0, 42.0, 30.0])
    half1 = start + balanced_noise(rng, 120, 6.0)
    half2 = start + np.array(offset) + balanced_noise(rng, 120, 6.0)
    series = np.concatenate([half1, half2])
    table = reliability.subject_reliability(series, None, TR, mean_position, [2, 4], subject="a")
    by_segment = table.set_index("segment")
    np.testing.assert_allclose(by_segment.loc["half1", ["x_mm", "y_mm", "z_mm"]], start, atol=1e-9)
    within = reliability.within_subject_distances(table)
    assert within["distance_mm"].iloc[0] == pytest.approx(expected, abs=1e-9)
    assert within["subject"].tolist() == ["a"]


def test_target_fn_gets_views_once_per_distinct_segment():
    series = np.random.default_rng(2).normal(size=(240, 5)).astype(np.float32)
    calls = []

    def spy(subset):
        assert np.shares_memory(subset, series)  # a view, not a copy
        calls.append((subset.shape[0], subset.__array_interface__["data"][0]))
        return mean_position(subset)

    # first_4min == half1 (120 volumes) and first_8min == full: no recomputation
    table = reliability.subject_reliability(series, None, TR, spy, [2, 4, 8, 50])
    assert sorted(length for length, _ in calls) == [60, 120, 120, 240]
    assert len(set(calls)) == 4
    rows = table.set_index("segment")
    np.testing.assert_array_equal(
        rows.loc["first_4min", ["x_mm", "y_mm", "z_mm"]].to_numpy(float),
        rows.loc["half1", ["x_mm", "y_mm", "z_mm"]].to_numpy(float),
    )
    assert list(table.columns) == list(reliability.TARGET_COLUMNS)
    assert rows.loc["first_2min", "minutes"] == pytest.approx(2.0)
    assert rows.loc["full", "n_timepoints"] == 240


def test_minutes_beyond_the_data_are_kept_as_skipped_rows():
    series = np.random.default_rng(3).normal(size=(150, 3))
    table = reliability.subject_reliability(series, None, TR, mean_position, [2, 10, 40])
    rows = table.set_index("segment")
    for segment in ("first_10min", "first_40min"):
        assert "longer than the data" in rows.loc[segment, "note"]
        assert np.isnan(rows.loc[segment, ["x_mm", "y_mm", "z_mm"]].to_numpy(float)).all()
    assert rows.loc["first_2min", "note"] == ""
    curve = reliability.scan_length_distances(table)
    assert set(curve["minutes"]) == {2.0}


def test_targeting_errors_are_noted_for_lengths_and_raised_for_halves():
    series = np.random.default_rng(4).normal(size=(200, 3))

    def fails_when_short(subset):
        if len(subset) < 80:
            raise TargetingError("flat signal")
        return mean_position(subset)

    table = reliability.subject_reliability(series, None, TR, fails_when_short, [1, 3])
    rows = table.set_index("segment")
    assert rows.loc["first_1min", "note"] == "targeting failed: flat signal"
    assert rows.loc["first_3min", "note"] == ""

    def always_fails(subset):
        raise TargetingError("flat signal")

    with pytest.raises(TargetingError, match="subject s1, segment full"):
        reliability.subject_reliability(series, None, TR, always_fails, [1], subject="s1")


def test_bad_inputs_fail_clearly():
    series = np.zeros((100, 4))
    mask = nib.Nifti1Image(np.ones((2, 2, 2), dtype=np.uint8), np.eye(4))
    with pytest.raises(ValueError, match="4 columns but the brain mask has 8"):
        reliability.subject_reliability(series, mask, TR, mean_position, [1])
    with pytest.raises(ValueError, match="2-D"):
        reliability.subject_reliability(np.zeros(100), None, TR, mean_position, [1])
    with pytest.raises(ValueError, match="3 mm values"):
        reliability.subject_reliability(series, None, TR, lambda s: s.mean(axis=0), [1])


# ---------------------------------------------------------------------------------------
# Per subject, real targeting methods with planted answers
# ---------------------------------------------------------------------------------------


def test_seed_method_halves_planted_at_voxels_give_their_distance():
    first, second = (7, 8, 9), (10, 8, 11)  # 3 and 2 voxels apart: 2 * sqrt(13) mm
    series, brain_img, seed_mask, search = seed_map_split_half_subject(first, second)
    target_fn = reliability.make_target_fn(
        "sgacc_classic", brain_img, search_mask=search, seed_mask=seed_mask
    )
    table = reliability.subject_reliability(series, brain_img, TR, target_fn, [1], subject="p")
    rows = table.set_index("segment")
    affine = brain_img.affine
    for segment, voxel in (("half1", first), ("half2", second)):
        expected = atlas.voxel_centres_mm(affine, np.array([voxel]))[0]
        np.testing.assert_allclose(rows.loc[segment, ["x_mm", "y_mm", "z_mm"]], expected)
        assert rows.loc[segment, "score"] == pytest.approx(-1.0, abs=1e-5)
    assert set(table["method"]) == {"sgacc_classic"}
    within = reliability.within_subject_distances(table)["distance_mm"].iloc[0]
    assert within == pytest.approx(2.0 * math.sqrt(13.0))


def test_searchlight_on_identical_halves_gives_zero_distance():
    rng = np.random.default_rng(7)
    shape = (16, 16, 10)
    brain = np.zeros(shape, dtype=bool)
    brain[2:14, 2:14, 2:8] = True
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    circuit = np.zeros(shape, dtype=np.float32)
    circuit[3:13, 3:13, 2:4] = 1.0
    search = brain.copy()
    search[:, :, :6] = False
    n = 60
    signal = rng.standard_normal(n)
    data = rng.standard_normal((n, int(brain.sum())))
    data[:, circuit[brain] > 0] += signal[:, None]
    top = np.zeros(shape, dtype=bool)
    top[5:9, 5:9, 6:8] = True
    data[:, top[brain]] += 0.8 * signal[:, None]
    series = np.concatenate([data, data]).astype(np.float32)
    brain_img = nib.Nifti1Image(brain.astype(np.uint8), affine)
    target_fn = reliability.make_target_fn(
        "circuit_searchlight", brain_img, search_mask=search, circuit_map=circuit
    )
    table = reliability.subject_reliability(series, brain_img, TR, target_fn, [1])
    assert reliability.within_subject_distances(table)["distance_mm"].iloc[0] == 0.0
    assert set(table["method"]) == {"searchlight"}
    assert (table["score"] > 0.5).all()


def test_make_target_fn_needs_the_method_inputs():
    brain_img = nib.Nifti1Image(np.ones((2, 2, 2), dtype=np.uint8), np.eye(4))
    with pytest.raises(ValueError, match="circuit_map"):
        reliability.make_target_fn("searchlight", brain_img, search_mask=np.ones((2, 2, 2)))
    with pytest.raises(ValueError, match="seed_mask"):
        reliability.make_target_fn("sgacc_cluster", brain_img, search_mask=np.ones((2, 2, 2)))
    with pytest.raises(ValueError, match="method must be one of"):
        reliability.make_target_fn("f3", brain_img, search_mask=np.ones((2, 2, 2)))


# ---------------------------------------------------------------------------------------
# Conventions
# ---------------------------------------------------------------------------------------

THREE = np.array(
    [
        [[0.0, 0.0, 0.0], [2.0, 0.0, 0.0]],
        [[10.0, 0.0, 0.0], [10.0, 4.0, 0.0]],
        [[0.0, 12.0, 0.0], [0.0, 12.0, 6.0]],
    ]
)


def test_pairwise_cross_half_is_every_ordered_pair_half1_vs_half2():
    between = reliability.between_subject_distances(toy_targets(THREE), "pairwise_cross_half")
    assert len(between) == 6
    expected = {
        (f"{i:02d}", f"{j:02d}"): float(np.linalg.norm(THREE[i, 0] - THREE[j, 1]))
        for i in range(3)
        for j in range(3)
        if i != j
    }
    got = {(row.subject, row.other_subject): row.distance_mm for row in between.itertuples()}
    assert got == pytest.approx(expected)
    assert got[("00", "01")] == pytest.approx(math.hypot(10, 4))
    assert got[("01", "00")] == pytest.approx(math.hypot(8, 0))


def test_centroid_convention_equals_its_definition():
    targets = toy_targets(THREE)
    pooled = reliability.between_subject_distances(targets, "centroid")
    centre = THREE.reshape(-1, 3).mean(axis=0)  # mean of all six half-targets
    np.testing.assert_allclose(centre, [22 / 6, 28 / 6, 1.0])
    expected = [np.linalg.norm(point - centre) for point in THREE.reshape(-1, 3)]
    np.testing.assert_allclose(pooled["distance_mm"], expected)
    assert pooled["half"].tolist() == ["half1", "half2"] * 3
    per_half = reliability.between_subject_distances(targets, "centroid", centroid="per_half")
    centres = THREE.mean(axis=0)
    expected = [np.linalg.norm(THREE[i, h] - centres[h]) for i in range(3) for h in range(2)]
    np.testing.assert_allclose(per_half["distance_mm"], expected)
    np.testing.assert_allclose(reliability.group_centroid(THREE), centre)


def test_per_subject_means_and_distance_table_agree_with_the_conventions():
    targets = toy_targets(THREE)
    per_subject = reliability.per_subject_distances(targets).set_index("subject")
    pairwise = reliability.between_subject_distances(targets, "pairwise_cross_half")
    involving_0 = pairwise[(pairwise["subject"] == "00") | (pairwise["other_subject"] == "00")]
    assert per_subject.loc["00", "pairwise_cross_half_mm"] == pytest.approx(
        involving_0["distance_mm"].mean()
    )
    centroid = reliability.between_subject_distances(targets, "centroid")
    assert per_subject.loc["02", "centroid_mm"] == pytest.approx(
        centroid.loc[centroid["subject"] == "02", "distance_mm"].mean()
    )
    assert per_subject.loc["01", "within_mm"] == pytest.approx(4.0)
    table = reliability.distance_table(targets)
    assert table.groupby("convention").size().to_dict() == {
        "centroid": 6,
        "pairwise_cross_half": 6,
        "within": 3,
    }


def test_subjects_missing_a_half_are_left_out_and_too_few_fail():
    targets = toy_targets(THREE)
    targets.loc[targets.index[-1], "x_mm"] = np.nan
    subjects, halves = reliability.half_targets(targets)
    assert subjects == ["00", "01"] and halves.shape == (2, 2, 3)
    with pytest.raises(ValueError, match="at least 2 subjects"):
        reliability.between_subject_distances(toy_targets(THREE[:1]), "centroid")
    with pytest.raises(ValueError, match="convention must be"):
        reliability.between_subject_distances(targets, "nearest")


# ---------------------------------------------------------------------------------------
# Summary, bootstrap, mixed model
# ---------------------------------------------------------------------------------------


def test_summary_points_equal_direct_medians_and_ratio():
    halves = lattice_halves(n=30)
    targets = toy_targets(halves)
    summary = reliability.summarise(targets, n_bootstrap=200, seed=1).set_index("quantity")
    within = reliability.within_subject_distances(targets)["distance_mm"]
    centroid = reliability.between_subject_distances(targets, "centroid")["distance_mm"]
    pairwise = reliability.between_subject_distances(targets, "pairwise_cross_half")["distance_mm"]
    assert summary.loc["within", "median"] == pytest.approx(within.median())
    assert summary.loc["centroid", "mean"] == pytest.approx(centroid.mean())
    assert summary.loc["pairwise_cross_half", "median"] == pytest.approx(pairwise.median())
    assert summary.loc["ratio_centroid", "median"] == pytest.approx(
        centroid.median() / within.median()
    )
    assert summary.loc["pairwise_cross_half", "n_distances"] == 30 * 29
    for quantity in summary.index:
        row = summary.loc[quantity]
        assert row["median_low"] <= row["median"] <= row["median_high"]
        assert row["mean_low"] <= row["mean"] <= row["mean_high"]


def test_bootstrap_is_deterministic_for_a_seed():
    targets = toy_targets(lattice_halves(n=20))
    first = reliability.summarise(targets, n_bootstrap=300, seed=42)
    again = reliability.summarise(targets, n_bootstrap=300, seed=42)
    other = reliability.summarise(targets, n_bootstrap=300, seed=43)
    pd.testing.assert_frame_equal(first, again)
    assert not np.allclose(first["mean_low"], other["mean_low"])


def test_bootstrap_resamples_subjects_not_distances():
    seen = []

    def statistic(indices):
        seen.append(indices.copy())
        return indices.mean(axis=1)

    replicates = reliability.bootstrap_subjects(statistic, 7, n_bootstrap=600, seed=0, block=250)
    assert replicates.shape == (600,)
    assert [block.shape for block in seen] == [(250, 7), (250, 7), (100, 7)]
    indices = np.concatenate(seen)
    assert indices.min() == 0 and indices.max() == 6
    # the block size does not change the draw
    again = reliability.bootstrap_subjects(statistic, 7, n_bootstrap=600, seed=0, block=600)
    np.testing.assert_array_equal(replicates, again)


def test_a_subject_drawn_twice_is_never_paired_with_itself():
    halves = THREE
    replicate = reliability._group_replicates(halves, np.array([[0, 0, 1]]), "pooled")[0]
    matrix = reliability.cross_half_matrix(halves)
    # copies of subject 0 pair only with subject 1: D[0,1] twice, D[1,0] twice
    pairs = [matrix[0, 1], matrix[0, 1], matrix[1, 0], matrix[1, 0]]
    assert replicate[2] == pytest.approx(np.median(pairs))
    assert replicate[3] == pytest.approx(np.mean(pairs))
    drawn = halves[[0, 0, 1]]
    centre = drawn.reshape(-1, 3).mean(axis=0)
    assert replicate[5] == pytest.approx(np.linalg.norm(drawn - centre, axis=-1).mean())


def test_one_far_subject_widens_the_between_interval_as_a_subject_would():
    # 20 subjects close together and one 60 mm away. Resampling subjects leaves it out of
    # ~37% of resamples, so the lower limit of the mean pairwise distance falls to the
    # mean without it; resampling the 420 distances would keep it near the overall mean.
    halves = lattice_halves(n=20, between_sd=2.0, within_sd=1.0, seed=3)
    halves = np.concatenate([halves, halves[:1] + np.array([60.0, 0.0, 0.0])])
    targets = toy_targets(halves)
    summary = reliability.summarise(targets, n_bootstrap=1000, seed=0).set_index("quantity")
    pairwise = reliability.between_subject_distances(targets, "pairwise_cross_half")
    without = pairwise[(pairwise["subject"] != "20") & (pairwise["other_subject"] != "20")]
    low = summary.loc["pairwise_cross_half", "mean_low"]
    outlier_free = without["distance_mm"].mean()
    assert low < 1.05 * outlier_free
    rng = np.random.default_rng(0)
    values = pairwise["distance_mm"].to_numpy()
    pair_means = values[rng.integers(0, len(values), (1000, len(values)))].mean(axis=1)
    assert np.percentile(pair_means, 2.5) > outlier_free + 3.0


@pytest.mark.parametrize("convention", ["centroid", "pairwise_cross_half"])
def test_mixed_model_recovers_a_planted_difference(convention):
    rng = np.random.default_rng(11)
    rows = []
    per_subject = 1 if convention == "centroid" else 3
    for subject in range(60):
        level = rng.normal(0.0, 1.0)
        rows.append((f"{subject}", "within", "within", 4.0 + level + rng.normal(0, 0.7)))
        for _ in range(2 * per_subject):
            rows.append((f"{subject}", "between", convention, 12.0 + level + rng.normal(0, 0.7)))
    distances = pd.DataFrame(rows, columns=["subject", "type", "convention", "distance_mm"])
    result = reliability.mixed_model(distances, convention).iloc[0]
    assert result["difference"] == pytest.approx(8.0, abs=0.3)
    assert result["low"] < 8.0 < result["high"]
    assert result["within_mean"] == pytest.approx(4.0, abs=0.4)
    assert result["subject_variance"] == pytest.approx(1.0, abs=0.5)
    assert result["p_value"] < 1e-6 and result["converged"]


def test_mixed_model_on_distances_from_targets():
    targets = toy_targets(lattice_halves(n=25))
    distances = reliability.distance_table(targets)
    result = reliability.mixed_model(distances, "centroid").iloc[0]
    means = distances.groupby("convention")["distance_mm"].mean()
    # balanced design (two centroid distances per subject): REML difference = mean difference
    assert result["difference"] == pytest.approx(means["centroid"] - means["within"], abs=1e-6)
    assert result["n_within"] == 25 and result["n_between"] == 50


# ---------------------------------------------------------------------------------------
# Lattice argument
# ---------------------------------------------------------------------------------------


def test_lattice_distances_and_the_manuscript_numbers():
    lattice = reliability.lattice_distances(2.0, 5.0)
    expected = [0, 2, math.sqrt(8), math.sqrt(12), 4, math.sqrt(20), math.sqrt(24)]
    np.testing.assert_allclose(lattice, expected, atol=1e-12)
    within = reliability.lattice_check(4.47)
    between = reliability.lattice_check(12.97)
    assert within["is_lattice"] and within["consistent_with_grid_median"]
    assert not between["is_lattice"] and between["midpoint"] is None
    assert not between["consistent_with_grid_median"]
    assert between["lattice_below_mm"] == pytest.approx(2 * math.sqrt(42))
    # the midpoint of 2.83 and 3.46 (an even-count median) is consistent with a grid median
    assert reliability.lattice_check(3.15)["midpoint"] == pytest.approx(
        (math.sqrt(8), math.sqrt(12))
    )
    assert "centroid convention" in reliability.manuscript_convention_note()


def test_grid_pairwise_medians_are_lattice_values_and_centroid_medians_are_not():
    halves = lattice_halves(n=20, seed=8)
    targets = toy_targets(halves)
    summary = reliability.summarise(targets, n_bootstrap=100).set_index("quantity")
    assert reliability.lattice_check(summary.loc["pairwise_cross_half", "median"])[
        "consistent_with_grid_median"
    ]
    assert reliability.lattice_check(summary.loc["within", "median"])["consistent_with_grid_median"]


# ---------------------------------------------------------------------------------------
# Scan length
# ---------------------------------------------------------------------------------------


def test_scan_length_curve_decreases_on_planted_data():
    frames = noisy_subject_tables()
    curve = reliability.scan_length_curve(frames, n_bootstrap=200, seed=1)
    full = curve[curve["reference"] == "full"].set_index("minutes")["median_mm"]
    assert full.index.tolist() == [1, 2, 4, 6, 8, 10, 15, 20]
    assert full.loc[20] == 0.0
    assert full.is_monotonic_decreasing
    other = curve[curve["reference"] == "other_half"].set_index("minutes")["median_mm"]
    # only while the first k minutes end before the second half (10 of 20 minutes)
    assert other.index.max() == 10
    assert other.loc[1] > other.loc[10]
    # at k = T/2 the first k minutes are half 1: the curve equals the split-half distance
    within = reliability.within_subject_distances(frames)["distance_mm"].median()
    assert other.loc[10] == pytest.approx(within)
    retest = curve[curve["reference"] == "retest"].set_index("minutes")["median_mm"]
    assert retest.index.max() == 10 and retest.loc[1] > retest.loc[10]
    assert (curve["low"] <= curve["median_mm"]).all()
    assert (curve["median_mm"] <= curve["high"]).all()
    assert (curve["n_subjects"] == 24).all()


def test_scan_length_curve_counts_subjects_with_enough_data():
    long = noisy_subject_tables(n_subjects=4, minutes=20.0, grid=(2, 15), seed=1)
    short = noisy_subject_tables(n_subjects=3, minutes=10.0, grid=(2, 15), seed=2)
    for frame in short:
        frame["subject"] = "s" + frame["subject"]
    curve = reliability.scan_length_curve(long + short, n_bootstrap=100)
    counts = curve[curve["reference"] == "full"].set_index("minutes")["n_subjects"]
    assert counts.to_dict() == {2.0: 7, 15.0: 4}


def test_minutes_needed_is_the_first_minute_from_which_the_curve_stays_below():
    curve = pd.DataFrame(
        {
            "reference": "full",
            "minutes": [2.0, 4.0, 6.0, 8.0, 10.0, 12.0],
            "median_mm": [5.0, 3.0, 1.5, 2.5, 2.0, 0.5],
            "high": [6.0, 4.0, 3.0, 3.0, 2.5, 1.9],
        }
    )
    assert reliability.minutes_needed(curve, 2.0) == 12.0
    assert reliability.minutes_needed(curve, 2.0, inclusive=True) == 10.0
    assert reliability.minutes_needed(curve, 3.5) == 4.0
    assert reliability.minutes_needed(curve, 3.5, bound="high") == 6.0
    assert math.isnan(reliability.minutes_needed(curve, 0.1))
    assert math.isnan(reliability.minutes_needed(curve, 3.0, reference="retest"))
    table = reliability.minutes_needed_table(curve, {"one voxel": 2.0, "between": 3.5})
    assert table["minutes_median"].tolist() == [12.0, 4.0]


# ---------------------------------------------------------------------------------------
# Params, tables, the whole analysis
# ---------------------------------------------------------------------------------------


def test_params_from_config_name_the_bad_key():
    params = reliability.ReliabilityParams.from_config({"minutes_grid": [5, 10], "seed": 3})
    assert params.minutes_grid == (5.0, 10.0) and params.method is None
    with pytest.raises(ValueError, match="reliability: unknown key"):
        reliability.ReliabilityParams.from_config({"minute_grid": [5]})
    assert reliability.ReliabilityParams(method="sgacc_cluster").method == "sgacc_cluster"
    with pytest.raises(ValueError, match="reliability.method"):
        reliability.ReliabilityParams(method="f3")
    with pytest.raises(ValueError, match="reliability.between_convention"):
        reliability.ReliabilityParams(between_convention="median")
    with pytest.raises(ValueError, match="reliability.minutes_grid"):
        reliability.ReliabilityParams(minutes_grid=[])
    with pytest.raises(ValueError, match="reliability.n_bootstrap"):
        reliability.ReliabilityParams(n_bootstrap=10)


def test_analysis_writes_both_tables(tmp_path):
    frames = noisy_subject_tables(n_subjects=12, grid=(2, 5, 10, 20))
    params = reliability.ReliabilityParams(n_bootstrap=200, seed=4)
    results = reliability.analyse_reliability(frames, params, voxel_mm=2.0)
    assert set(results.mixed["convention"]) == set(reliability.CONVENTIONS)
    assert results.between_mm == pytest.approx(
        results.summary.set_index("quantity").loc["centroid", "median"]
    )
    assert set(results.needed["threshold"]) == {"one voxel", "between-subject median"}
    for name, frame in results.tables.items():
        assert tables.is_cell_frame(frame)
        paths = tables.write_table(frame, tables.table_paths(tmp_path / name))
        assert [path.suffix for path in paths] == [".tsv", ".md", ".tex"]
    markdown = (tmp_path / "reliability.md").read_text()
    assert "Between subjects, distance to group centroid" in markdown
    assert "12.97" in markdown and "centroid convention" in markdown
    scan = (tmp_path / "scan_length.md").read_text()
    assert "20 min" in scan and "one voxel (2.00 mm)" in scan
    again = reliability.analyse_reliability(frames, params, voxel_mm=2.0)
    pd.testing.assert_frame_equal(results.tables["reliability"], again.tables["reliability"])
