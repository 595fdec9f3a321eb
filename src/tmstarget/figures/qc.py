"""Per-subject preprocessing QC figure: one page a reviewer can scan in seconds.

Top to bottom: verdict and key numbers; tSNR before and after denoising (axial slices);
framewise displacement with the flag threshold and censored frames; carpet plots before
denoising and after cleaning; ME-ICA component summary per run. The figure receives a
finished :class:`tmstarget.denoise.SubjectQC` and computes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.gridspec import GridSpec

from tmstarget.denoise import SubjectQC
from tmstarget.style import PALETTE, apply_style, save_figure

MODE_LABELS = {
    "me-ica": "ME-ICA",
    "optcom": "optimal combination only",
    "single-echo": "single echo: tedana skipped",
}
FLAG_LABELS = {
    "mean_fd": "mean FD",
    "fd_above": "% frames FD > flag",
    "censored": "% censored",
    "tsnr": "tSNR",
}


def _axial_slices(volume: np.ndarray, n_slices: int) -> list[int]:
    """Evenly spaced axial slices through the non-zero part of ``volume``."""
    occupied = np.flatnonzero(np.abs(volume).sum(axis=(0, 1)) > 0)
    if len(occupied) == 0:
        return [volume.shape[2] // 2] * n_slices
    low, high = occupied[0], occupied[-1]
    margin = (high - low) * 0.15
    return [int(round(z)) for z in np.linspace(low + margin, high - margin, n_slices)]


def _tsnr_row(fig, grid_row, volume, affine, slices, label, colour_max):
    axes = [fig.add_subplot(grid_row[0, i]) for i in range(len(slices))]
    image = None
    for ax, z in zip(axes, slices, strict=True):
        # RAS+ array: x (left -> right) across, y (posterior -> anterior) up
        image = ax.imshow(
            volume[:, :, z].T, origin="lower", cmap="viridis", vmin=0, vmax=colour_max
        )
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
        z_mm = (affine @ np.array([0.0, 0.0, z, 1.0]))[2]
        ax.set_title(f"z = {z_mm:.0f} mm", fontsize=7, pad=2)
    axes[0].set_ylabel(label, fontsize=8)
    axes[0].text(0.02, 0.02, "L", color="white", fontsize=7, transform=axes[0].transAxes)
    axes[0].text(0.92, 0.02, "R", color="white", fontsize=7, transform=axes[0].transAxes)
    colour_ax = fig.add_subplot(grid_row[0, -1])
    bar = fig.colorbar(image, cax=colour_ax)
    bar.set_label("tSNR", fontsize=7)
    bar.ax.tick_params(labelsize=7)


def _run_boundaries(ax, run_lengths: Sequence[int], colour: str = PALETTE["black"]) -> None:
    for edge in np.cumsum(run_lengths)[:-1]:
        ax.axvline(edge - 0.5, color=colour, linewidth=1.0, linestyle=":")


def _carpet(ax, carpet, title, run_lengths):
    cmap = plt.get_cmap("gray").with_extremes(bad=PALETTE["orange"])  # censored frames
    ax.imshow(
        np.ma.masked_invalid(carpet),
        aspect="auto",
        cmap=cmap,
        vmin=-2,
        vmax=2,
        interpolation="nearest",
        extent=(-0.5, carpet.shape[1] - 0.5, carpet.shape[0], 0),
    )
    _run_boundaries(ax, run_lengths, PALETTE["sky"])  # visible on grey
    ax.set_yticks([])
    ax.set_ylabel("voxels")
    ax.set_title(title, loc="left", fontsize=9)


def plot_subject_qc(
    qc: SubjectQC,
    paths: Iterable[str | Path],
    n_slices: int = 5,
) -> None:
    """Draw the QC page of one subject and save it to every path (PNG for review).

    Parameters
    ----------
    qc : SubjectQC
        The subject's finished QC (:func:`tmstarget.denoise.clean_subject`): metrics,
        thresholds and flags, tSNR maps before and after denoising (RAS+ voxel arrays
        with their affine; slices are labelled in mm), framewise displacement (mm) with
        the flag threshold and kept frames, carpets, and each run's mode and ME-ICA
        component summary.
    paths : iterable of str or Path
        The files to write, format from each suffix (PDF, PNG at 300 dpi, SVG).
    n_slices : int, default 5
        Axial slices per tSNR row, evenly spaced through the brain.

    Raises
    ------
    OutputWriteError
        When a figure file cannot be written (:func:`tmstarget.style.save_figure`).
    """
    apply_style()
    fig = plt.figure(figsize=(7.5, 10.0))
    grid = GridSpec(
        8,
        1,
        figure=fig,
        height_ratios=[0.55, 1.0, 1.0, 0.9, 1.3, 1.3, 0.05, 0.35 + 0.28 * len(qc.run_labels)],
        hspace=0.6,
        left=0.1,
        right=0.97,
        top=0.985,
        bottom=0.05,
    )

    # verdict and numbers
    header = fig.add_subplot(grid[0])
    header.axis("off")
    m, t = qc.metrics, qc.thresholds
    if qc.flags is None:
        verdict, verdict_colour = "verdict: group QC table and patient report", PALETTE["grey"]
    elif qc.flags:
        verdict = "FLAGGED: " + ", ".join(FLAG_LABELS.get(f, f) for f in qc.flags)
        verdict_colour = PALETTE["vermillion"]
    else:
        verdict, verdict_colour = "PASS", PALETTE["green"]
    header.text(0, 1, f"sub-{qc.subject}  preprocessing QC", fontsize=12, weight="bold", va="top")
    header.text(
        1,
        1,
        verdict,
        fontsize=11,
        weight="bold",
        va="top",
        ha="right",
        color=verdict_colour,
    )
    modes = "; ".join(
        f"run {label}: {MODE_LABELS.get(mode, mode)}"
        for label, mode in zip(qc.run_labels, qc.run_modes, strict=True)
    )

    def limit(key: str, unit: str = "") -> str:
        return f" (limit {t[key]:g}{unit})" if t is not None else ""

    numbers = (
        f"mean FD {m['mean_fd_mm']:.2f} mm{limit('max_mean_fd_mm')}   "
        f"FD > flag {m['pct_fd_above']:.1f}%{limit('max_pct_fd_above', '%')}   "
        f"censored {m['pct_censored']:.1f}%{limit('max_pct_censored', '%')}\n"
        f"median tSNR {m['median_tsnr_before']:.0f} before, {m['median_tsnr_after']:.0f} after "
        f"denoising{limit('min_median_tsnr').replace(')', ' before)')}   "
        f"{m['n_kept']} of {m['n_volumes']} volumes kept\n{modes}"
    )
    header.text(0, 0.55, numbers, fontsize=8, va="top", linespacing=1.5)

    # tSNR maps, each row on its own scale (after-cleaning tSNR includes the filter's gain)
    slices = _axial_slices(qc.tsnr_before, n_slices)
    ratios = [1.0] * n_slices + [0.06]
    for row, volume, label in (
        (1, qc.tsnr_before, "tSNR before\n(optimal comb.)"),
        (2, qc.tsnr_after, "tSNR after\n(cleaned)"),
    ):
        sub = grid[row].subgridspec(1, n_slices + 1, width_ratios=ratios, wspace=0.05)
        inside = volume[volume > 0]
        top = float(np.percentile(inside, 99)) if inside.size else 1.0
        _tsnr_row(fig, sub, volume, qc.affine, slices, label, top)

    # framewise displacement
    n_volumes = len(qc.fd_mm)
    fd_ax = fig.add_subplot(grid[3])
    frames = np.arange(n_volumes)
    fd_ax.plot(frames, qc.fd_mm, color=PALETTE["blue"], linewidth=0.9, label="FD")
    threshold = qc.fd_flag_mm
    fd_ax.axhline(
        threshold,
        color=PALETTE["vermillion"],
        linestyle="--",
        linewidth=0.9,
        label=f"flag {threshold:g} mm",
    )
    censored = np.flatnonzero(~qc.kept)
    if censored.size:
        fd_ax.scatter(
            censored,
            qc.fd_mm[censored],
            s=10,
            color=PALETTE["orange"],
            zorder=3,
            label="censored",
        )
    _run_boundaries(fd_ax, qc.run_lengths)
    fd_ax.set_xlim(-0.5, n_volumes - 0.5)
    fd_ax.set_ylim(0, max(float(np.max(qc.fd_mm)) * 1.1, threshold * 1.3))
    fd_ax.set_ylabel("FD (mm)")
    fd_ax.set_title("Framewise displacement (dotted: run edges)", loc="left", fontsize=9)
    fd_ax.legend(loc="lower right", bbox_to_anchor=(1.0, 0.98), ncol=3, frameon=False)
    fd_ax.tick_params(labelbottom=False)

    before_ax = fig.add_subplot(grid[4], sharex=fd_ax)
    _carpet(
        before_ax, qc.carpet_before, "Carpet before denoising (optimal combination)", qc.run_lengths
    )
    before_ax.tick_params(labelbottom=False)
    after_ax = fig.add_subplot(grid[5], sharex=fd_ax)
    _carpet(
        after_ax,
        qc.carpet_after,
        "Carpet after denoising and cleaning (orange: censored frames)",
        qc.run_lengths,
    )
    after_ax.set_xlabel("volume (after dummy volumes)")

    # component summary
    comp_ax = fig.add_subplot(grid[7])  # row 6 is a spacer for the carpet's x label
    rows = np.arange(len(qc.run_labels))[::-1]
    for y, mode, comps in zip(rows, qc.run_modes, qc.components, strict=True):
        if mode != "me-ica":
            comp_ax.text(
                1, y, MODE_LABELS.get(mode, mode), va="center", fontsize=8, color=PALETTE["grey"]
            )
            continue
        accepted, rejected = comps["varex_accepted_pct"], comps["varex_rejected_pct"]
        comp_ax.barh(y, accepted, color=PALETTE["green"], height=0.6)
        comp_ax.barh(y, rejected, left=accepted, color=PALETTE["vermillion"], height=0.6)
        comp_ax.text(
            min(accepted + rejected, 100) + 1,
            y,
            f"{comps['n_accepted']} accepted ({accepted:.0f}%), "
            f"{comps['n_rejected']} rejected ({rejected:.0f}%)",
            va="center",
            fontsize=8,
        )
    comp_ax.set_yticks(rows, [f"run {label}" for label in qc.run_labels])
    comp_ax.set_xlim(0, 160)
    comp_ax.set_xticks([0, 25, 50, 75, 100])
    comp_ax.set_ylim(-0.6, len(rows) - 0.4)
    comp_ax.set_xlabel("variance explained by ME-ICA components (%)")
    comp_ax.set_title(
        "ME-ICA components (green: accepted BOLD, red: rejected noise)", loc="left", fontsize=9
    )
    comp_ax.spines["left"].set_visible(False)
    comp_ax.tick_params(axis="y", length=0)

    save_figure(fig, paths)
