"""Reliability figures: within vs between target distances, and distance vs scan length.

Each function receives finished numbers from :mod:`tmstarget.reliability` (it computes no
statistic), draws one figure in the shared style and writes it to every path given (PDF +
PNG at 300 dpi, format from the suffix) through :func:`tmstarget.style.save_figure`.
Distances are in mm.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from tmstarget.reliability import CONVENTIONS
from tmstarget.style import PALETTE, apply_style, save_figure

Paths = Iterable[str | Path]

DISTANCE_COLOURS = {
    "within": PALETTE["blue"],
    "pairwise_cross_half": PALETTE["vermillion"],
    "centroid": PALETTE["orange"],
}
DISTANCE_LABELS = {
    "within": "Within",
    "pairwise_cross_half": "Between, pairwise",
    "centroid": "Between, to centroid",
}
REFERENCE_COLOURS = {
    "full": PALETTE["blue"],
    "other_half": PALETTE["vermillion"],
    "retest": PALETTE["green"],
}
REFERENCE_LEGEND = {
    "full": "vs full-data target (overlapping data)",
    "other_half": "vs second-half target (independent data)",
    "retest": "vs next k min (retest)",
}


def plot_within_between(
    per_subject: pd.DataFrame,
    distances: pd.DataFrame,
    paths: Paths,
    convention: str = "centroid",
    summary: pd.DataFrame | None = None,
    reference_mm: Mapping[str, float] | None = None,
) -> None:
    """Within- vs between-subject target distances, two panels.

    A: one line per subject from its split-half distance to its mean between-subject
    distance under ``convention`` (:func:`tmstarget.reliability.per_subject_distances`);
    with ``summary`` (:func:`tmstarget.reliability.summarise`) the median of each distance
    set and its CI are drawn beside the columns.
    B: cumulative distributions of every within and between distance
    (:func:`tmstarget.reliability.distance_table`, both conventions), with vertical lines
    at ``reference_mm`` (label -> mm, e.g. the published values).

    Parameters
    ----------
    per_subject : pandas.DataFrame
        One row per subject with ``within_mm`` (split-half distance, mm) and
        ``<convention>_mm`` (mean between-subject distance, mm).
    distances : pandas.DataFrame
        Every distance: ``convention`` (``within``, ``pairwise_cross_half``,
        ``centroid``) and ``distance_mm`` (mm).
    paths : iterable of str or Path
        The files to write, format from each suffix (PDF, PNG at 300 dpi, SVG).
    convention : str, default "centroid"
        The between-subject distance of panel A: ``centroid`` or ``pairwise_cross_half``.
    summary : pandas.DataFrame, optional
        Medians with their CIs by ``quantity`` (median, median_low, median_high, mm;
        ``attrs["confidence"]`` for the legend); None: not drawn.
    reference_mm : mapping of str to float, optional
        Label -> distance (mm) drawn as vertical lines in panel B.

    Raises
    ------
    ValueError
        When ``convention`` is not one of :data:`tmstarget.reliability.CONVENTIONS`.
    OutputWriteError
        When a figure file cannot be written (:func:`tmstarget.style.save_figure`).
    """
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {', '.join(CONVENTIONS)}, got {convention!r}")
    apply_style()
    fig, (paired, cumulative) = plt.subplots(
        1, 2, figsize=(7.2, 3.3), gridspec_kw={"width_ratios": [0.8, 1.2]}
    )

    within = per_subject["within_mm"].to_numpy(dtype=float)
    between = per_subject[f"{convention}_mm"].to_numpy(dtype=float)
    x = np.array([0.0, 1.0])
    # Grid targets give many equal distances: spread subjects a little sideways (fixed
    # positions by row order, no randomness) so that stacked points stay visible.
    spread = np.linspace(-0.07, 0.07, len(within)) if len(within) > 1 else np.zeros(1)
    for offset, pair in zip(spread, zip(within, between, strict=True), strict=True):
        paired.plot(x + offset, pair, color=PALETTE["grey"], alpha=0.45, linewidth=0.7, zorder=1)
    paired.scatter(spread, within, s=11, color=DISTANCE_COLOURS["within"], zorder=2)
    paired.scatter(1.0 + spread, between, s=11, color=DISTANCE_COLOURS[convention], zorder=2)
    if summary is not None:
        medians = summary.set_index("quantity")
        for position, quantity in ((0, "within"), (1, convention)):
            record = medians.loc[quantity]
            offset = -0.2 if position == 0 else 0.2
            paired.errorbar(
                position + offset,
                record["median"],
                yerr=[
                    [record["median"] - record["median_low"]],
                    [record["median_high"] - record["median"]],
                ],
                fmt="D",
                color=PALETTE["black"],
                markersize=4,
                capsize=2.5,
                linewidth=1.0,
                zorder=3,
            )
        level = f"{100 * float(summary.attrs.get('confidence', 0.95)):g}%"
        paired.plot([], [], "D", color=PALETTE["black"], markersize=4, label=f"Median ({level} CI)")
        paired.legend(loc="upper left", frameon=False)
    between_name = (
        "mean distance\nto centroid" if convention == "centroid" else "mean pairwise\ncross-half"
    )
    paired.set_xticks(x, ["Within subject\n(split half)", f"Between subjects\n({between_name})"])
    paired.set_xlim(-0.45, 1.45)
    paired.set_ylim(bottom=0)
    paired.set_ylabel("Target distance (mm)")
    paired.set_title("A  Per subject", loc="left")

    for name in ("within", *CONVENTIONS):
        values = distances.loc[distances["convention"] == name, "distance_mm"].to_numpy(float)
        if values.size:
            cumulative.ecdf(
                values,
                color=DISTANCE_COLOURS[name],
                linewidth=1.4,
                label=f"{DISTANCE_LABELS[name]} (n = {values.size:,})",
            )
    cumulative.axhline(0.5, color=PALETTE["grey"], linewidth=0.6, linestyle=":", zorder=0)
    styles = ["--", "-."]
    for position, (label, value) in enumerate((reference_mm or {}).items()):
        cumulative.axvline(
            value,
            color=PALETTE["black"],
            linewidth=0.8,
            linestyle=styles[position % len(styles)],
            label=f"{label} ({value:.2f} mm)",
        )
    cumulative.set_xlim(left=0)
    cumulative.set_ylim(0, 1.02)
    cumulative.set_xlabel("Target distance (mm)")
    cumulative.set_ylabel("Cumulative fraction of distances")
    cumulative.set_title("B  All distances", loc="left")
    cumulative.legend(loc="lower right", frameon=False)
    fig.tight_layout()
    save_figure(fig, paths)


def plot_scan_length(
    curve: pd.DataFrame,
    paths: Paths,
    one_voxel_mm: float,
    between_mm: float,
    between_label: str = "Between-subject median",
) -> None:
    """Median target distance vs scan length with its CI band, one line per reference
    (:func:`tmstarget.reliability.scan_length_curve`), and horizontal lines at one voxel
    and at the between-subject median distance.

    Parameters
    ----------
    curve : pandas.DataFrame
        One row per reference and scan length: ``reference`` (``full``, ``other_half``,
        ``retest``), ``minutes`` (scan length k, minutes from the session's start),
        ``median_mm``, ``low`` and ``high`` (median distance and its CI, mm);
        ``attrs["confidence"]`` for the title.
    paths : iterable of str or Path
        The files to write, format from each suffix (PDF, PNG at 300 dpi, SVG).
    one_voxel_mm : float
        The voxel size (mm), drawn as a dotted line.
    between_mm : float
        The between-subject median distance (mm), drawn as a dashed line.
    between_label : str, default "Between-subject median"
        The dashed line's label.

    Raises
    ------
    OutputWriteError
        When a figure file cannot be written (:func:`tmstarget.style.save_figure`).
    """
    apply_style()
    fig, ax = plt.subplots(figsize=(5.2, 3.4))
    for reference in ("full", "other_half", "retest"):
        rows = curve[curve["reference"] == reference].sort_values("minutes")
        if rows.empty:
            continue
        colour = REFERENCE_COLOURS[reference]
        minutes = rows["minutes"].to_numpy(dtype=float)
        ax.fill_between(
            minutes,
            rows["low"].to_numpy(dtype=float),
            rows["high"].to_numpy(dtype=float),
            color=colour,
            alpha=0.18,
            linewidth=0,
        )
        ax.plot(
            minutes,
            rows["median_mm"].to_numpy(dtype=float),
            "o-",
            color=colour,
            markersize=3.5,
            linewidth=1.4,
            label=REFERENCE_LEGEND[reference],
        )
    x_max = float(curve["minutes"].max()) if len(curve) else 1.0
    lines = (
        (between_mm, f"{between_label} ({between_mm:.1f} mm)", "--"),
        (one_voxel_mm, f"One voxel ({one_voxel_mm:g} mm)", ":"),
    )
    for value, label, style in lines:
        ax.axhline(value, color=PALETTE["black"], linewidth=0.9, linestyle=style, zorder=0)
        ax.annotate(
            label,
            xy=(1.0, value),
            xycoords=("axes fraction", "data"),
            xytext=(-2, 3),
            textcoords="offset points",
            ha="right",
            va="bottom",
            fontsize=7.5,
        )
    top = max(float(np.nanmax(curve["high"])) if len(curve) else 0.0, between_mm) * 1.1
    ax.set_ylim(0, top)
    ax.set_xlim(0, x_max * 1.03)
    ax.set_xlabel("Scan length k (min, from the start of the session)")
    ax.set_ylabel("Median target distance (mm)")
    ax.legend(loc="upper right", bbox_to_anchor=(1.0, 0.93), frameon=False)
    level = f"{100 * float(curve.attrs.get('confidence', 0.95)):g}%"
    ax.set_title(f"Target distance by scan length (band: {level} CI over subjects)", loc="left")
    fig.tight_layout()
    save_figure(fig, paths)


def plot_choice_reliability(
    summary: pd.DataFrame,
    paths: Paths,
    reference_mm: Mapping[str, float] | None = None,
) -> None:
    """Split-half distances by target choice: for each choice (a row), the median
    within-subject distance and the median between-subject distance under both
    conventions, each with its CI (:func:`tmstarget.reliability.choice_summary`), and
    vertical lines at ``reference_mm`` (label -> mm, e.g. the published values).

    Parameters
    ----------
    summary : pandas.DataFrame
        Rows of ``choice``, ``quantity`` (``within``, ``pairwise_cross_half``,
        ``centroid``), ``median``, ``median_low``, ``median_high`` (mm). Empty: a figure
        that says no choice was compared.
    paths : iterable of str or Path
        The files to write, format from each suffix (PDF, PNG at 300 dpi, SVG).
    reference_mm : mapping of str to float, optional
        Label -> distance (mm) drawn as vertical lines.

    Raises
    ------
    OutputWriteError
        When a figure file cannot be written (:func:`tmstarget.style.save_figure`).
    """
    from tmstarget.reliability import CHOICE_LABELS

    apply_style()
    choices = list(dict.fromkeys(summary["choice"]))
    fig, ax = plt.subplots(figsize=(6.4, 1.1 + 0.55 * max(len(choices), 1)))
    if not choices:
        ax.axis("off")
        ax.text(0.5, 0.5, "No target choice compared (no score-map method)", ha="center")
        save_figure(fig, paths)
        return
    offsets = {"within": -0.2, "pairwise_cross_half": 0.0, "centroid": 0.2}
    for quantity, offset in offsets.items():
        rows = summary[summary["quantity"] == quantity].set_index("choice").reindex(choices)
        y = np.arange(len(choices)) + offset
        median = rows["median"].to_numpy(dtype=float)
        errors = np.vstack(
            [
                median - rows["median_low"].to_numpy(dtype=float),
                rows["median_high"].to_numpy(dtype=float) - median,
            ]
        )
        ax.errorbar(
            median,
            y,
            xerr=np.clip(errors, 0, None),
            fmt="o",
            markersize=4.5,
            color=DISTANCE_COLOURS[quantity],
            elinewidth=1.0,
            capsize=2,
            label=DISTANCE_LABELS[quantity] + " (median, 95% CI)",
        )
    styles = iter(("--", ":"))
    for label, value in (reference_mm or {}).items():
        ax.axvline(
            value,
            color=PALETTE["black"],
            linestyle=next(styles, "-."),
            linewidth=0.8,
            label=f"{label[0].upper()}{label[1:]} ({value:g} mm)",
        )
    ax.set_yticks(np.arange(len(choices)), [CHOICE_LABELS.get(c, c) for c in choices])
    ax.set_ylim(len(choices) - 0.4, -0.6)
    ax.set_xlabel("Split-half target distance (mm)")
    ax.set_xlim(left=0)
    fig.legend(
        *ax.get_legend_handles_labels(), loc="lower center", ncol=2, frameon=False, fontsize=7
    )
    fig.tight_layout(rect=(0, 0.2, 1, 1))
    save_figure(fig, paths)
