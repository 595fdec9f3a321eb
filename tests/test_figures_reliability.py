"""Tests for tmstarget.figures.reliability: both figures are written as PNG and PDF from
finished numbers of a realistic toy cohort (2 mm grid, ~13 mm between, ~4 mm within)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib import image as mpimg

from tmstarget import reliability
from tmstarget.figures import reliability as figures

TR = 2.0
MINUTES = (2, 4, 6, 8, 10, 15, 20, 30, 40)


def toy_cohort(n_subjects=40, total_minutes=40, seed=1) -> pd.DataFrame:
    """Targets = true position + mean of per-minute noise over the minutes used, snapped to
    a 2 mm grid; the segments nest as in subject_reliability (first 40 min = full)."""
    rng = np.random.default_rng(seed)
    per_minute = int(60 / TR)
    n_volumes = total_minutes * per_minute
    rows = []
    for subject in range(n_subjects):
        true = np.array([-40.0, 40.0, 30.0]) + rng.normal(0.0, 7.5, 3)
        noise = rng.normal(0.0, 9.0, (total_minutes, 3))
        segments = [("full", 0, n_volumes, np.nan), ("half1", 0, n_volumes // 2, np.nan)]
        segments.append(("half2", n_volumes // 2, n_volumes, np.nan))
        segments += [(f"first_{k}min", 0, k * per_minute, float(k)) for k in MINUTES]
        for name, start, stop, minutes in segments:
            mean_noise = noise[start // per_minute : stop // per_minute].mean(axis=0)
            xyz = np.round((true + mean_noise) / 2.0) * 2.0
            rows.append(
                {
                    "subject": f"{subject:02d}",
                    "segment": name,
                    "start_volume": start,
                    "stop_volume": stop,
                    "n_timepoints": stop - start,
                    "requested_minutes": minutes,
                    "x_mm": xyz[0],
                    "y_mm": xyz[1],
                    "z_mm": xyz[2],
                }
            )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def results():
    params = reliability.ReliabilityParams(n_bootstrap=200, seed=3)
    return reliability.analyse_reliability(toy_cohort(), params, voxel_mm=2.0)


def assert_written(paths):
    for path in paths:
        assert path.is_file() and path.stat().st_size > 1000
    png = next(path for path in paths if path.suffix == ".png")
    height, width = mpimg.imread(png).shape[:2]
    assert width > 1000 and height > 600  # 300 dpi


def test_toy_cohort_is_realistic(results):
    summary = results.summary.set_index("quantity")
    assert 3.0 <= summary.loc["within", "median"] <= 6.0
    assert 10.0 <= summary.loc["centroid", "median"] <= 16.0


@pytest.mark.parametrize("convention", ["centroid", "pairwise_cross_half"])
def test_within_between_figure_is_written(results, tmp_path, convention):
    paths = [tmp_path / f"within_between_{convention}.png", tmp_path / "within_between.pdf"]
    figures.plot_within_between(
        results.per_subject,
        results.distances,
        paths,
        convention=convention,
        summary=results.summary,
        reference_mm={"Published within": 4.47, "Published between": 12.97},
    )
    assert_written(paths)


def test_within_between_figure_without_summary_and_bad_convention(results, tmp_path):
    path = tmp_path / "plain.png"
    figures.plot_within_between(results.per_subject, results.distances, [path])
    assert path.is_file()
    with pytest.raises(ValueError, match="convention must be"):
        figures.plot_within_between(results.per_subject, results.distances, [path], "nearest")


def test_scan_length_figure_is_written(results, tmp_path):
    paths = [tmp_path / "scan_length.png", tmp_path / "scan_length.pdf"]
    figures.plot_scan_length(results.curve, paths, results.one_voxel_mm, results.between_mm)
    assert_written(paths)
    assert set(results.curve["reference"]) == {"full", "other_half"}
    assert results.curve.loc[results.curve["reference"] == "full", "minutes"].max() == 40


def test_figures_are_deterministic(results, tmp_path):
    first, second = tmp_path / "a.pdf", tmp_path / "b.pdf"
    for path in (first, second):
        figures.plot_scan_length(results.curve, [path], 2.0, results.between_mm)
    assert first.read_bytes() == second.read_bytes()
