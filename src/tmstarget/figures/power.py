"""Trial-planning figure: simulated power against participants per arm.

Receives the finished power curves of :func:`tmstarget.power.power_curves` (it computes no
statistic) and draws them in the shared style (:mod:`tmstarget.style`): one panel per
planned test, one line per scenario, Okabe-Ito colours with a marker shape per scenario
(colour-blind safe, and readable in grey), the simulation CI of every point as an error
bar, the rejection rate without an average effect (type I error) dotted, and the
target powers as reference lines on a log-scaled n axis.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Iterable, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from tmstarget.style import PALETTE, apply_style, save_figure

Paths = Iterable[str | Path]

_COLOURS = [
    PALETTE[name] for name in ("blue", "vermillion", "green", "purple", "orange", "sky", "black")
]
_MARKERS = ["o", "s", "^", "D", "v", "P", "X"]
_ROLE_TITLES = {
    "model": "multi-site model",
    "primary": "pilot's prespecified primary analysis",
    "response_model": "multi-site model",
    "pilot_response": "pilot's test",
    "extra": "additional test",
}


def plot_power_curves(
    curves: pd.DataFrame,
    paths: Paths,
    power_targets: Sequence[float] = (0.8, 0.9),
    confidence: float = 0.95,
    alpha: float | None = None,
) -> None:
    """Power (%) against participants randomised per arm, from ``power_curves``.

    One panel per analysis (in the order of ``curves``), titled with its endpoint, test
    and role; one line per scenario with the ``confidence`` simulation CI (Wilson) of each
    point, and a dotted line of the same colour for the trials simulated with no average
    effect (the type I error); dashed reference lines at ``power_targets`` (and at
    ``alpha`` when given). The x axis is logarithmic so that the continuous endpoint
    (tens per arm) and response (hundreds) read alike.

    Parameters
    ----------
    curves : pandas.DataFrame
        One row per analysis, scenario and sample size: analysis, analysis_label,
        endpoint, roles (comma-separated), scenario, scenario_label, n_per_arm
        (participants per arm), power, power_low, power_high and type_i_error
        (proportions 0-1, drawn as %).
    paths : iterable of str or Path
        The files to write, format from each suffix (PDF, PNG at 300 dpi, SVG).
    power_targets : sequence of float, default (0.8, 0.9)
        Target powers (proportions) drawn as dashed reference lines.
    confidence : float, default 0.95
        The confidence level of the simulation CIs, printed in the legend title.
    alpha : float, optional
        The tests' significance level, drawn as a dotted line; None: not drawn.

    Raises
    ------
    OutputWriteError
        When a figure file cannot be written (:func:`tmstarget.style.save_figure`).
    """
    apply_style()
    analyses = list(dict.fromkeys(curves["analysis"]))
    scenarios = list(dict.fromkeys(curves["scenario"]))
    labels = dict(zip(curves["scenario"], curves["scenario_label"], strict=False))
    grid = np.sort(curves["n_per_arm"].unique())
    n_columns = 2 if len(analyses) > 1 else 1
    n_rows = math.ceil(len(analyses) / n_columns)
    fig, axes = plt.subplots(
        n_rows, n_columns, figsize=(3.5 * n_columns, 2.9 * n_rows + 0.8), squeeze=False
    )
    ticks = [t for t in (10, 20, 50, 100, 200, 500, 1000, 2000, 5000) if grid[0] <= t <= grid[-1]]
    for ax, analysis in zip(axes.flat, analyses, strict=False):
        panel = curves[curves["analysis"] == analysis]
        first = panel.iloc[0]
        roles = [_ROLE_TITLES.get(role, role) for role in str(first["roles"]).split(",")]
        title = f"{first['endpoint']}: {first['analysis_label']}"
        ax.set_title(
            textwrap.fill(title, 44) + "\n" + textwrap.fill("; ".join(roles), 52),
            fontsize=8.5,
            loc="left",
        )
        for target in power_targets:
            ax.axhline(100 * target, color=PALETTE["grey"], lw=0.8, ls="--", zorder=0)
        if alpha is not None:
            ax.axhline(100 * alpha, color=PALETTE["grey"], lw=0.6, ls=":", zorder=0)
        for index, scenario in enumerate(scenarios):
            line = panel[panel["scenario"] == scenario].sort_values("n_per_arm")
            colour = _COLOURS[index % len(_COLOURS)]
            percent = 100 * line["power"].to_numpy(dtype=float)
            low = 100 * line["power_low"].to_numpy(dtype=float)
            high = 100 * line["power_high"].to_numpy(dtype=float)
            ax.errorbar(
                line["n_per_arm"],
                percent,
                yerr=[percent - low, high - percent],
                color=colour,
                marker=_MARKERS[index % len(_MARKERS)],
                markersize=3.0,
                lw=1.1,
                elinewidth=0.7,
                capsize=1.5,
                label=labels[scenario],
            )
            ax.plot(
                line["n_per_arm"],
                100 * line["type_i_error"].to_numpy(dtype=float),
                color=colour,
                lw=0.9,
                ls=":",
            )
        ax.set_xscale("log")
        ax.set_xlim(grid[0] / 1.08, grid[-1] * 1.08)
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.minorticks_off()
        ax.set_ylim(0, 101)
        ax.set_yticks(sorted({0, 20, 40, 60, 100, *(round(100 * t) for t in power_targets)}))
        ax.set_xlabel("Participants randomised per arm (log scale)")
        ax.set_ylabel("Power (%)")
        ax.grid(axis="x", color="#e6e6e6", lw=0.5)
    for ax in list(axes.flat)[len(analyses) :]:
        ax.set_visible(False)
    handles, names = axes.flat[0].get_legend_handles_labels()
    handles.append(Line2D([], [], color="#555555", lw=0.9, ls=":"))
    names.append("No average effect (type I error), same colour per scenario")
    fig.legend(
        handles,
        names,
        loc="lower center",
        ncols=min(2, len(names)),
        frameon=False,
        bbox_to_anchor=(0.5, 0.0),
        title=f"Scenario (points: simulated power; bars: {100 * confidence:g}% simulation CI; "
        "dashed: target powers"
        + ("" if alpha is None else f"; grey dotted: \u03b1 = {alpha:g}")
        + ")",
        title_fontsize=8,
    )
    fig.tight_layout(rect=(0, 0.045 + 0.035 * math.ceil(len(names) / 2), 1, 1))
    save_figure(fig, paths)
