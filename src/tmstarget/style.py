"""One figure style for every plot of the workflow.

Manuscript figures are written as PDF and PNG (300 dpi), optionally SVG, with a
colour-blind-safe palette (Okabe & Ito 2008). Plotting code calls :func:`apply_style`
once, uses :data:`ARM_COLOURS` / :data:`PALETTE`, and saves through :func:`save_figure`.
Plotting never computes statistics: figures receive finished numbers.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: workstations over ssh, cluster nodes, CI

import matplotlib.pyplot as plt  # noqa: E402

from tmstarget import atomic

# Okabe-Ito colour-blind-safe palette.
PALETTE = {
    "blue": "#0072B2",
    "orange": "#E69F00",
    "green": "#009E73",
    "vermillion": "#D55E00",
    "sky": "#56B4E9",
    "purple": "#CC79A7",
    "yellow": "#F0E442",
    "black": "#000000",
    "grey": "#999999",
}

# Arms keep the same colour in every figure.
ARM_COLOURS = {"connectivity": PALETTE["blue"], "scalp": PALETTE["orange"]}

FIGURE_DPI = 300


def apply_style() -> None:
    """Set the shared matplotlib style (fonts, sizes, spines, deterministic SVG ids)."""
    plt.rcParams.update(
        {
            "figure.dpi": 100,
            "savefig.dpi": FIGURE_DPI,
            "savefig.bbox": "tight",
            "font.size": 9,
            "axes.titlesize": 10,
            "axes.labelsize": 9,
            "legend.fontsize": 8,
            "xtick.labelsize": 8,
            "ytick.labelsize": 8,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.prop_cycle": matplotlib.cycler(color=list(PALETTE.values())),
            "pdf.fonttype": 42,  # editable text in Illustrator/Inkscape
            "svg.fonttype": "none",
            "svg.hashsalt": "tmstarget",  # same bytes on a rerun
        }
    )


def save_figure(
    fig: matplotlib.figure.Figure,
    paths: Iterable[str | Path],
) -> None:
    """Save ``fig`` to every path given (format from the suffix) and close it.

    PDF and SVG are written without a creation date so that reruns give the same bytes.
    """
    for path in paths:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        suffix = path.suffix.lower()
        metadata: dict[str, str | None] | None = None
        if suffix == ".pdf":
            metadata = {"CreationDate": None, "Producer": None, "Creator": None}
        elif suffix == ".svg":
            metadata = {"Date": None, "Creator": None}
        elif suffix == ".png":
            metadata = {"Software": None}
        with atomic.replacing(path) as partial:
            fig.savefig(partial, dpi=FIGURE_DPI, metadata=metadata)
    plt.close(fig)
