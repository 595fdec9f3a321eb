"""Outcome figures: files written (PDF + 300 dpi PNG), deterministic, showing the data given."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tmstarget import clinical
from tmstarget import outcomes as oc
from tmstarget.figures import outcomes as fo
from tmstarget.style import ARM_COLOURS

try:  # pytest puts tests/ on sys.path (rootdir without __init__.py)
    from test_clinical import toy_tables
except ImportError:  # pragma: no cover - when tests/ becomes a package
    from tests.test_clinical import toy_tables


@pytest.fixture(scope="module")
def cohort():
    tables = toy_tables(seed=0, missing_primary=("sub-40",))
    participants = clinical.validate_participants(tables["participants"])
    madrs = clinical.validate_madrs(tables["madrs"], participants)
    params = oc.OutcomeParams(consort_assessed=52, consort_excluded=12)
    return participants, madrs, params, oc.analyse_primary(participants, madrs, params)


@pytest.fixture
def captured(monkeypatch):
    """Keep each figure instead of only saving it, to inspect what was drawn."""
    figures = []
    real_save = fo.save_figure

    def save(fig, paths):
        figures.append(fig)
        real_save(fig, paths)

    monkeypatch.setattr(fo, "save_figure", save)
    return figures


def _paths(tmp_path, name):
    return [tmp_path / f"{name}.pdf", tmp_path / f"{name}.png"]


def _check_files(paths):
    pdf, png = paths
    assert pdf.read_bytes()[:5] == b"%PDF-"
    with Image.open(png) as image:
        assert image.info["dpi"] == pytest.approx((300, 300), abs=0.1)
        assert min(image.size) > 600
        pixels = np.asarray(image.convert("L"))
        assert pixels.std() > 10  # not blank


def test_consort(tmp_path, cohort, captured):
    participants, madrs, params, _ = cohort
    paths = _paths(tmp_path, "consort")
    fo.plot_consort(oc.consort_counts(participants, madrs, params), paths)
    _check_files(paths)
    texts = " | ".join(text.get_text().replace("\n", " ") for text in captured[0].axes[0].texts)
    assert "Assessed for eligibility (n = 52)" in texts and "Excluded (n = 12)" in texts
    assert "Randomised (n = 40)" in texts
    assert "Rated at month 1 (n = 19)" in texts and "Not rated (n = 1)" in texts
    assert "missing counted as non-response" in texts


def test_trajectories_plot_the_summary_numbers(tmp_path, cohort, captured):
    participants, madrs, params, results = cohort
    summary = oc.visit_summary(participants, madrs, params)
    paths = _paths(tmp_path, "trajectories")
    fo.plot_trajectories(summary, paths, contrasts=results.mixed_model)
    _check_files(paths)
    ax = captured[0].axes[0]
    lines = [line for line in ax.get_lines() if line.get_linestyle() == "-"]  # not the error caps
    plotted = {line.get_color(): np.asarray(line.get_ydata(), dtype=float) for line in lines}
    for arm in ("connectivity", "scalp"):
        expected = summary.loc[summary["arm"] == arm, "mean"].to_numpy()
        np.testing.assert_allclose(plotted[ARM_COLOURS[arm]], expected)
    assert "MADRS" in ax.get_ylabel() and "points" in ax.get_ylabel()


def test_waterfall_one_bar_per_analysed_participant(tmp_path, cohort, captured):
    _, _, _, results = cohort
    paths = _paths(tmp_path, "waterfall")
    fo.plot_waterfall(results.outcomes, paths, response_min_reduction=0.5)
    _check_files(paths)
    left, right = captured[0].axes
    assert len(left.patches) == 20 and len(right.patches) == 19  # sub-40 (scalp) has no month 1
    assert any(np.allclose(line.get_ydata(), -50.0) for line in left.get_lines())
    heights = sorted(patch.get_height() for patch in left.patches)
    expected = sorted(
        results.outcomes.loc[results.outcomes["arm"] == "connectivity", "percent_change"]
    )
    np.testing.assert_allclose(heights, expected)
    assert "%" in left.get_ylabel()


def test_response_bars(tmp_path, cohort, captured):
    _, _, _, results = cohort
    binary = oc.binary_summary(results)
    paths = _paths(tmp_path, "response")
    fo.plot_response_bars(binary, paths)
    _check_files(paths)
    ax = captured[0].axes[0]
    heights = sorted(round(patch.get_height(), 6) for patch in ax.patches)
    assert heights == sorted(round(100 * p, 6) for p in binary["proportion"])
    labels = {text.get_text() for text in ax.texts}
    assert f"{results.response.count_experimental}/{results.response.total_experimental}" in labels


def test_forest(tmp_path, cohort, captured):
    _, _, _, results = cohort
    effects = oc.forest_effects(results)
    paths = _paths(tmp_path, "forest")
    fo.plot_forest(effects, paths)
    _check_files(paths)
    axes = captured[0].axes
    assert len(axes) == effects["panel"].nunique() == 3
    assert [tick.get_text() for tick in axes[2].get_yticklabels()] == ["Response", "Remission"]
    assert axes[0].get_xlabel() == "Difference in MADRS reduction, points"


def test_figures_are_deterministic(tmp_path, cohort):
    participants, madrs, params, results = cohort
    for folder in ("a", "b"):
        fo.plot_forest(oc.forest_effects(results), _paths(tmp_path / folder, "forest"))
        fo.plot_consort(
            oc.consort_counts(participants, madrs, params), _paths(tmp_path / folder, "consort")
        )
    for name in ("forest.pdf", "forest.png", "consort.pdf", "consort.png"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_plot_mechanism_writes_files_and_names_missing_columns(tmp_path):
    import numpy as np
    import pandas as pd

    from tmstarget.figures.outcomes import plot_mechanism

    rng = np.random.default_rng(1)
    data = pd.DataFrame(
        {
            "arm": ["connectivity"] * 10 + ["scalp"] * 10,
            "percent_change": rng.uniform(-100, 0, 20),
            "stimulated_connectivity": rng.uniform(0, 1, 20),
        }
    )
    correlations = pd.DataFrame(
        {
            "measure": ["stimulated_connectivity"] * 3,
            "group": ["connectivity", "scalp", "pooled"],
            "rho": [0.1, -0.2, 0.0],
            "low": [-0.4, -0.6, -0.3],
            "high": [0.5, 0.3, 0.3],
        }
    )
    measures = {"stimulated_connectivity": "Circuit connectivity (r)"}
    paths = [tmp_path / "mechanism.png", tmp_path / "mechanism.pdf"]
    plot_mechanism(data, correlations, paths, measures)
    assert paths[0].stat().st_size > 10_000 and paths[1].read_bytes()[:5] == b"%PDF-"
    with pytest.raises(ValueError, match="stimulated_connectivity"):
        plot_mechanism(data.drop(columns="stimulated_connectivity"), correlations, paths, measures)
