"""Tests of the per-subject QC figure (synthetic, finished numbers only)."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib import image as mpimg

from tmstarget import denoise
from tmstarget.figures.qc import plot_subject_qc


def _run(n_volumes, mode="me-ica", censored=(), seed=0):
    rng = np.random.default_rng(seed)
    grid = np.indices((20, 24, 18)).T
    brain = (np.sqrt((((grid - [9.5, 11.5, 8.5]) / [9, 11, 8]) ** 2).sum(-1)) <= 1).T
    tsnr_before = np.where(brain, 40 + 10 * rng.standard_normal(brain.shape), 0)
    kept = np.ones(n_volumes, bool)
    kept[list(censored)] = False
    carpet_after = rng.standard_normal((300, n_volumes)).astype(np.float32)
    carpet_after[:, ~kept] = np.nan
    fd = np.abs(0.1 * rng.standard_normal(n_volumes))
    fd[list(censored)] = 0.9
    components = (
        {
            "n_components": 12,
            "n_accepted": 7,
            "n_rejected": 5,
            "varex_accepted_pct": 35.0,
            "varex_rejected_pct": 60.0,
            "components": [],
        }
        if mode == "me-ica"
        else denoise.component_summary(None)
    )
    affine = np.diag([4.0, 4.0, 4.0, 1.0])
    affine[:3, 3] = [-38, -46, -34]
    return denoise.RunQC(
        mode=mode,
        tsnr_before=tsnr_before.astype(np.float32),
        tsnr_after=(3 * tsnr_before).astype(np.float32),
        carpet_before=rng.standard_normal((300, n_volumes)).astype(np.float32),
        carpet_after=carpet_after,
        fd_mm=fd.astype(np.float32),
        kept=kept,
        metrics={},
        components=components,
        affine=affine,
    )


@pytest.mark.parametrize("flagged", [False, True])
def test_plot_subject_qc_writes_png_and_pdf(tmp_path, flagged):
    runs = [
        _run(100, censored=(20, 21)),
        _run(80, mode="single-echo", seed=1),
        _run(90, mode="optcom", seed=2),
    ]
    thresholds = {"max_mean_fd_mm": 0.01} if flagged else None
    qc = denoise.combine_run_qc("01", runs, ["1", "2", "3"], thresholds=thresholds)
    assert bool(qc.flags) is flagged
    paths = [tmp_path / "sub-01_qc.png", tmp_path / "sub-01_qc.pdf"]
    plot_subject_qc(qc, paths)
    assert all(path.stat().st_size > 10_000 for path in paths)
    pixels = mpimg.imread(paths[0])
    height, width = pixels.shape[:2]
    assert 2000 < width < 2600 and 2700 < height < 3300  # 7.5 x 10 in at 300 dpi, trimmed


def test_plot_subject_qc_is_reproducible(tmp_path):
    qc = denoise.combine_run_qc("02", [_run(60)])
    plot_subject_qc(qc, [tmp_path / "a.png"])
    plot_subject_qc(qc, [tmp_path / "b.png"])
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
