"""Outcome figures: CONSORT flow, MADRS trajectories, waterfall, response bars, forest plot.

Each function receives finished numbers from :mod:`tmstarget.outcomes` (it computes no
statistic), draws one figure in the shared style and writes it to every path given
(PDF + PNG at 300 dpi, format from the suffix) through :func:`tmstarget.style.save_figure`.
Arms are the roles ``connectivity`` and ``scalp``; colours come from
:data:`tmstarget.style.ARM_COLOURS` (Okabe-Ito, colour-blind safe).
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import FancyBboxPatch, Patch

from tmstarget.clinical import ARM_ROLES
from tmstarget.outcomes import DEFAULT_ARM_NAMES, DEFAULT_VISIT_LABELS
from tmstarget.style import ARM_COLOURS, PALETTE, apply_style, save_figure
from tmstarget.tables import format_number

Paths = Iterable[str | Path]

_TREATMENT_VISITS = ("day1", "day2", "day3", "day4", "day5")
_SHORT_VISIT_LABELS = {
    "baseline": "Baseline",
    "day1": "Day 1",
    "day2": "Day 2",
    "day3": "Day 3",
    "day4": "Day 4",
    "day5": "Day 5",
    "eot": "End of\ntreatment",
    "week1": "Week 1",
    "month1": "Month 1",
}


def _names(arm_names: Mapping[str, str] | None) -> dict[str, str]:
    return {**DEFAULT_ARM_NAMES, **dict(arm_names or {})}


# --------------------------------------------------------------------------------------
# CONSORT
# --------------------------------------------------------------------------------------


def _count(counts: pd.DataFrame, stage: str, arm: str) -> int | None:
    match = counts[(counts["stage"] == stage) & (counts["arm"] == arm)]
    return None if match.empty else int(match["n"].iloc[0])


# Layout of the diagram, in inches: the figure's width, the arm boxes' width and centres,
# one text line's height, the vertical gap between rows, the characters per line.
_CONSORT_WIDTH = 7.0
_ARM_BOX_WIDTH = 3.1
_ARM_CENTRES = {ARM_ROLES[0]: 1.85, ARM_ROLES[1]: 5.15}
_CENTRE_X = (_ARM_CENTRES[ARM_ROLES[0]] + _ARM_CENTRES[ARM_ROLES[1]]) / 2
_LINE_HEIGHT = 0.17
_ROW_GAP = 0.32
_WRAP = 42
_BINARY_NOTES = {
    "non_responder": "missing counted as non-response",
    "exclude": "complete cases",
    "last_observation": "last observation carried forward",
}

# A row of the diagram: (phase, content); content is one centred box's text or each
# arm's box text.
ConsortRow = tuple[str, dict[str, str] | str]


def _wrapped_lines(text: str) -> list[str]:
    """``text`` wrapped to the box width, its own line breaks kept."""
    out: list[str] = []
    for paragraph in text.split("\n"):
        out += textwrap.wrap(paragraph, _WRAP) or [""]
    return out


def _box_height(text: str) -> float:
    return len(_wrapped_lines(text)) * _LINE_HEIGHT + 0.16


def _consort_rows(
    counts: pd.DataFrame, names: Mapping[str, str], labels: Mapping[str, str], binary_note: str
) -> list[ConsortRow]:
    """The diagram's rows from the counts: enrolment, allocation, one follow-up row per
    rated visit, analysis."""
    visits = [stage.split(":", 1)[1] for stage in counts["stage"] if stage.startswith("rated:")]
    visits = list(dict.fromkeys(visits))
    rows: list[ConsortRow] = []
    assessed = _count(counts, "assessed", "all")
    if assessed is not None:
        rows.append(("Enrolment", f"Assessed for eligibility (n = {assessed})"))
    rows.append(("Enrolment", f"Randomised (n = {_count(counts, 'randomised', 'all')})"))
    rows.append(
        (
            "Allocation",
            {
                arm: f"Allocated to {names[arm]} arm (n = {_count(counts, 'allocated', arm)})"
                for arm in ARM_ROLES
            },
        )
    )
    for visit in visits:
        label = labels.get(visit, visit)
        rows.append(
            (
                "Follow-up",
                {
                    arm: f"Rated at {label.lower()} (n = {_count(counts, f'rated:{visit}', arm)})\n"
                    f"Not rated (n = {_count(counts, f'missed:{visit}', arm)})"
                    for arm in ARM_ROLES
                },
            )
        )
    rows.append(
        (
            "Analysis",
            {
                arm: "Analysed\n"
                f"Change in MADRS (n = {_count(counts, 'analysed_continuous', arm)})\n"
                "Response and remission "
                f"(n = {_count(counts, 'analysed_binary', arm)}; {binary_note})\n"
                f"Mixed model, all ratings (n = {_count(counts, 'analysed_mixed', arm)})"
                for arm in ARM_ROLES
            },
        )
    )
    return rows


def _row_height(content: dict[str, str] | str) -> float:
    """The height of a row: its tallest box."""
    texts = [content] if isinstance(content, str) else list(content.values())
    return max(_box_height(text) for text in texts)


def _draw_box(
    ax: plt.Axes,
    x_centre: float,
    y_top: float,
    text: str,
    height: float,
    colour: str,
    box_width: float,
) -> None:
    patch = FancyBboxPatch(
        (x_centre - box_width / 2, y_top - height),
        box_width,
        height,
        boxstyle="round,pad=0,rounding_size=0.05",
        linewidth=0.8,
        edgecolor=colour,
        facecolor="white",
    )
    ax.add_patch(patch)
    ax.text(
        x_centre,
        y_top - height / 2,
        "\n".join(_wrapped_lines(text)),
        ha="center",
        va="center",
        fontsize=7.5,
        linespacing=1.25,
    )


def _draw_arrow(ax: plt.Axes, x0: float, y0: float, x1: float, y1: float) -> None:
    ax.annotate(
        "",
        xy=(x1, y1),
        xytext=(x0, y0),
        arrowprops={
            "arrowstyle": "-|>",
            "color": PALETTE["black"],
            "lw": 0.7,
            "shrinkA": 0,
            "shrinkB": 0,
        },
    )


def _draw_centred_row(
    ax: plt.Axes,
    y: float,
    text: str,
    height: float,
    previous_bottoms: dict[str, float] | float | None,
    excluded: int | None,
) -> None:
    """One centred box (enrolment), its arrow from the box above, and the excluded box
    beside the assessment box."""
    _draw_box(ax, _CENTRE_X, y, text, height, PALETTE["grey"], 3.0)
    if isinstance(previous_bottoms, float):
        _draw_arrow(ax, _CENTRE_X, previous_bottoms, _CENTRE_X, y)
    if text.startswith("Assessed") and excluded is not None:
        side_x = 6.0
        side_y = y - height - _ROW_GAP / 2
        box_top = side_y + 0.2
        _draw_box(ax, side_x, box_top, f"Excluded (n = {excluded})", 0.4, PALETTE["grey"], 1.5)
        _draw_arrow(ax, _CENTRE_X, side_y, side_x - 0.75, side_y)


def _draw_arm_row(
    ax: plt.Axes,
    y: float,
    texts: Mapping[str, str],
    height: float,
    previous_bottoms: dict[str, float] | float | None,
) -> None:
    """One box per arm with arrows from above: split from a centred box, straight down
    from the arm's own box."""
    for arm in ARM_ROLES:
        _draw_box(ax, _ARM_CENTRES[arm], y, texts[arm], height, ARM_COLOURS[arm], _ARM_BOX_WIDTH)
    if isinstance(previous_bottoms, float):
        split_y = previous_bottoms - _ROW_GAP / 2
        ax.plot([_CENTRE_X, _CENTRE_X], [previous_bottoms, split_y], color="black", lw=0.7)
        ax.plot(
            [_ARM_CENTRES[ARM_ROLES[0]], _ARM_CENTRES[ARM_ROLES[1]]],
            [split_y, split_y],
            color="black",
            lw=0.7,
        )
        for arm in ARM_ROLES:
            _draw_arrow(ax, _ARM_CENTRES[arm], split_y, _ARM_CENTRES[arm], y)
    elif isinstance(previous_bottoms, dict):
        for arm in ARM_ROLES:
            _draw_arrow(ax, _ARM_CENTRES[arm], previous_bottoms[arm], _ARM_CENTRES[arm], y)


def _draw_rows(
    ax: plt.Axes,
    rows: Sequence[ConsortRow],
    heights: Sequence[float],
    total_height: float,
    excluded: int | None,
) -> dict[str, list[float]]:
    """Every row from the top down; returns each phase's [top, bottom]."""
    y = total_height - 0.1
    previous_bottoms: dict[str, float] | float | None = None
    phase_spans: dict[str, list[float]] = {}
    for (phase, content), height in zip(rows, heights, strict=True):
        if phase:
            phase_spans.setdefault(phase, [y, y - height])
            phase_spans[phase][1] = y - height
        if isinstance(content, str):
            _draw_centred_row(ax, y, content, height, previous_bottoms, excluded)
            previous_bottoms = y - height
        else:
            _draw_arm_row(ax, y, content, height, previous_bottoms)
            previous_bottoms = {arm: y - height for arm in ARM_ROLES}
        y -= height + _ROW_GAP
    return phase_spans


def _draw_phase_labels(
    ax: plt.Axes, phase_spans: Mapping[str, list[float]], total_height: float
) -> None:
    """A bar and a rotated name at the left of each phase."""
    for phase, (top, bottom) in phase_spans.items():
        # a phase owns half of the gap above and below its boxes
        top, bottom = min(top + _ROW_GAP / 2, total_height), bottom - _ROW_GAP / 2
        ax.plot([0.2, 0.2], [bottom + 0.04, top - 0.04], color=PALETTE["grey"], lw=0.8)
        ax.text(
            0.1,
            (top + bottom) / 2,
            phase,
            rotation=90,
            ha="center",
            va="center",
            fontsize=7,
            color=PALETTE["grey"],
            fontweight="bold",
        )


def plot_consort(
    counts: pd.DataFrame,
    paths: Paths,
    arm_names: Mapping[str, str] | None = None,
    visit_labels: Mapping[str, str] | None = None,
    missing_policy: str | None = None,
) -> None:
    """CONSORT participant-flow diagram from :func:`tmstarget.outcomes.consort_counts`.

    Enrolment boxes appear only when the counts hold ``assessed``/``excluded`` stages.
    ``missing_policy`` (default: ``counts.attrs``) words the response denominator.

    Parameters
    ----------
    counts : pandas.DataFrame
        The participant flow: columns stage, arm (role, or ``all``), n.
    paths : iterable of str or Path
        The files to write, format from each suffix (PDF, PNG at 300 dpi, SVG).
    arm_names : mapping of str to str, optional
        Arm role -> printed name; roles not given keep :data:`DEFAULT_ARM_NAMES`.
    visit_labels : mapping of str to str, optional
        Visit -> printed label; visits not given keep :data:`DEFAULT_VISIT_LABELS`.
    missing_policy : str, optional
        ``non_responder``, ``exclude`` or ``last_observation``; None takes
        ``counts.attrs["missing_policy"]`` (``non_responder`` when absent).

    Raises
    ------
    OutputWriteError
        When a figure file cannot be written (:func:`tmstarget.style.save_figure`).
    """
    apply_style()
    labels = {**DEFAULT_VISIT_LABELS, **dict(visit_labels or {})}
    policy = missing_policy or counts.attrs.get("missing_policy", "non_responder")
    binary_note = _BINARY_NOTES.get(policy, policy)
    # The rows of boxes come first so that the figure's height follows the content.
    rows = _consort_rows(counts, _names(arm_names), labels, binary_note)
    heights = [_row_height(content) for _, content in rows]
    total_height = sum(heights) + _ROW_GAP * (len(rows) - 1) + 0.2
    fig = plt.figure(figsize=(_CONSORT_WIDTH, total_height))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, _CONSORT_WIDTH)
    ax.set_ylim(0, total_height)
    ax.axis("off")
    excluded = _count(counts, "excluded", "all")
    phase_spans = _draw_rows(ax, rows, heights, total_height, excluded)
    _draw_phase_labels(ax, phase_spans, total_height)
    save_figure(fig, paths)


# --------------------------------------------------------------------------------------
# Trajectories
# --------------------------------------------------------------------------------------


def plot_trajectories(
    summary: pd.DataFrame,
    paths: Paths,
    contrasts: pd.DataFrame | None = None,
    significance: float = 0.05,
    arm_names: Mapping[str, str] | None = None,
    visit_labels: Mapping[str, str] | None = None,
    treatment_visits: Sequence[str] = _TREATMENT_VISITS,
) -> None:
    """Mean MADRS +- SE per visit and arm, from :func:`tmstarget.outcomes.visit_summary`.

    Visits are equally spaced in the configured order (their days differ by a factor of
    35, which would squash the treatment week). Treatment days are shaded. With
    ``contrasts`` (the mixed-model frame: visit, p_value) visits whose arm contrast has
    P < ``significance`` get an asterisk.

    Parameters
    ----------
    summary : pandas.DataFrame
        One row per visit and arm (visit, arm role, n, mean, se; MADRS points), visits in
        the configured order.
    paths : iterable of str or Path
        The files to write, format from each suffix (PDF, PNG at 300 dpi, SVG).
    contrasts : pandas.DataFrame, optional
        The mixed model's per-visit arm contrasts (columns visit, p_value); None or empty:
        no asterisks.
    significance : float, default 0.05
        The P value below which a visit is starred.
    arm_names : mapping of str to str, optional
        Arm role -> printed name; roles not given keep :data:`DEFAULT_ARM_NAMES`.
    visit_labels : mapping of str to str, optional
        Visit -> tick label; visits not given keep the short default labels.
    treatment_visits : sequence of str, optional
        The visits shaded as the treatment days (``day1`` to ``day5``).

    Raises
    ------
    OutputWriteError
        When a figure file cannot be written (:func:`tmstarget.style.save_figure`).
    """
    apply_style()
    names = _names(arm_names)
    labels = {**_SHORT_VISIT_LABELS, **dict(visit_labels or {})}
    visits = list(dict.fromkeys(summary["visit"]))
    position = {visit: index for index, visit in enumerate(visits)}
    fig, ax = plt.subplots(figsize=(6.0, 3.4))
    shaded = [position[visit] for visit in treatment_visits if visit in position]
    if shaded:
        ax.axvspan(min(shaded) - 0.4, max(shaded) + 0.4, color=PALETTE["grey"], alpha=0.15, lw=0)
        ax.text(
            (min(shaded) + max(shaded)) / 2,
            0.02,
            "Accelerated iTBS",
            transform=ax.get_xaxis_transform(),
            ha="center",
            va="bottom",
            fontsize=7.5,
            color="0.35",
        )
    offsets = {ARM_ROLES[0]: -0.08, ARM_ROLES[1]: 0.08}
    markers = {ARM_ROLES[0]: "o", ARM_ROLES[1]: "s"}
    for arm in ARM_ROLES:
        own = summary[summary["arm"] == arm]
        x = np.array([position[visit] for visit in own["visit"]], dtype=float) + offsets[arm]
        n_text = (
            f"n = {int(own['n'].min())}-{int(own['n'].max())}"
            if own["n"].nunique() > 1
            else f"n = {int(own['n'].iloc[0])}"
        )
        ax.errorbar(
            x,
            own["mean"],
            yerr=own["se"],
            color=ARM_COLOURS[arm],
            marker=markers[arm],
            markersize=4,
            linewidth=1.3,
            capsize=2,
            label=f"{names[arm]} ({n_text})",
        )
    starred = 0
    if contrasts is not None and len(contrasts):
        top = (summary["mean"] + summary["se"].fillna(0)).groupby(summary["visit"]).max()
        for record in contrasts.itertuples():
            if record.visit in position and record.p_value < significance:
                ax.text(
                    position[record.visit],
                    top[record.visit] + 1.0,
                    "*",
                    ha="center",
                    va="bottom",
                    fontsize=12,
                )
                starred += 1
    ax.set_xticks(range(len(visits)))
    # Long visit names ("End of treatment") wrap so that neighbouring labels never touch.
    ax.set_xticklabels([textwrap.fill(labels.get(visit, visit), 9) for visit in visits])
    ax.set_xlim(-0.5, len(visits) - 0.5)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("MADRS total score (points), mean ± SE")
    ax.set_xlabel("Visit")
    handles, legend_labels = ax.get_legend_handles_labels()
    if starred:
        handles.append(
            plt.Line2D([], [], linestyle="none", marker="$*$", color="black", markersize=7)
        )
        p_text = f"{significance:g}".lstrip("0")
        legend_labels.append(f"Arms differ in change from baseline\n(mixed model, P < {p_text})")
    # above the axes, so it can never hide a data point
    ax.legend(
        handles,
        legend_labels,
        loc="lower center",
        bbox_to_anchor=(0.5, 1.0),
        ncols=len(handles),
        frameon=False,
        columnspacing=1.2,
    )
    save_figure(fig, paths)


# --------------------------------------------------------------------------------------
# Waterfall
# --------------------------------------------------------------------------------------


def plot_waterfall(
    outcomes: pd.DataFrame,
    paths: Paths,
    response_min_reduction: float = 0.5,
    arm_names: Mapping[str, str] | None = None,
    primary_label: str = "month 1",
) -> None:
    """Percent change in MADRS per participant, one panel per arm, sorted worst to best.

    ``outcomes`` is :func:`tmstarget.outcomes.participant_outcomes` (percent_change,
    negative = improvement; NaN = not analysed, left out and counted in the panel title).
    The dashed line is the response threshold (-100 * ``response_min_reduction`` %).

    Parameters
    ----------
    outcomes : pandas.DataFrame
        One row per participant with arm (role) and percent_change (%, negative =
        improvement, NaN = not analysed).
    paths : iterable of str or Path
        The files to write, format from each suffix (PDF, PNG at 300 dpi, SVG).
    response_min_reduction : float, default 0.5
        The response threshold as a fraction of baseline MADRS (0.5 = a 50% reduction);
        bars at or below -100 times it are drawn as responders.
    arm_names : mapping of str to str, optional
        Arm role -> printed name; roles not given keep :data:`DEFAULT_ARM_NAMES`.
    primary_label : str, default "month 1"
        The primary visit as printed in the axis label and the note of the missing.

    Raises
    ------
    OutputWriteError
        When a figure file cannot be written (:func:`tmstarget.style.save_figure`).
    """
    apply_style()
    names = _names(arm_names)
    threshold = -100.0 * response_min_reduction
    finite = outcomes["percent_change"].dropna()
    low = min(-100.0, float(finite.min()) if len(finite) else -100.0)
    high = max(20.0, float(finite.max()) + 5 if len(finite) else 20.0)
    fig, axes = plt.subplots(1, 2, figsize=(6.8, 3.2), sharey=True)
    for ax, arm in zip(axes, ARM_ROLES, strict=True):
        own = outcomes[outcomes["arm"] == arm]
        values = np.sort(own["percent_change"].dropna().to_numpy(dtype=float))[::-1]
        responders = values <= threshold + 1e-9
        x = np.arange(len(values))
        colour = ARM_COLOURS[arm]
        ax.bar(
            x[responders],
            values[responders],
            width=0.8,
            color=colour,
            edgecolor=colour,
            linewidth=0.5,
        )
        ax.bar(
            x[~responders],
            values[~responders],
            width=0.8,
            color="white",
            edgecolor=colour,
            linewidth=0.8,
            hatch="////",
        )
        ax.axhline(threshold, color=PALETTE["black"], linestyle="--", linewidth=0.8)
        ax.axhline(0, color=PALETTE["black"], linewidth=0.6)
        n_missing = len(own) - len(values)
        ax.set_title(f"{names[arm]} (n = {len(values)})")
        ax.set_xticks([])
        ax.set_xlim(-0.7, max(len(values), 1) - 0.3)
        ax.set_xlabel("Participants, sorted")
        ax.spines["bottom"].set_visible(False)
        note = f"Responders: {int(responders.sum())}/{len(values)}"
        if n_missing:
            note += f"\nNot shown: {n_missing} without a {primary_label} rating"
        ax.text(0.98, 0.97, note, transform=ax.transAxes, fontsize=7.5, va="top", ha="right")
    legend_handles = [
        Patch(facecolor=PALETTE["grey"], edgecolor=PALETTE["grey"], label="Responder"),
        Patch(facecolor="white", edgecolor=PALETTE["grey"], hatch="////", label="Non-responder"),
    ]
    axes[0].legend(handles=legend_handles, loc="lower left", frameon=False)
    axes[0].set_ylim(low - 5, high)
    axes[0].set_ylabel(f"Change in MADRS, baseline to {primary_label} (%)")
    axes[1].text(
        1.0,
        threshold,
        f" Response\n ({threshold:g}%)".replace("-", "\u2212"),
        transform=axes[1].get_yaxis_transform(),
        va="center",
        ha="left",
        fontsize=7.5,
    )
    fig.tight_layout()
    save_figure(fig, paths)


# --------------------------------------------------------------------------------------
# Response and remission bars
# --------------------------------------------------------------------------------------


def plot_response_bars(
    binary: pd.DataFrame,
    paths: Paths,
    arm_names: Mapping[str, str] | None = None,
    confidence: float = 0.95,
) -> None:
    """Response and remission rates by arm with their CIs (from ``outcomes.binary_summary``).

    Parameters
    ----------
    binary : pandas.DataFrame
        Columns outcome (label), arm (role), count, total, proportion, low, high
        (proportions 0-1; drawn as percentages with count/total above each bar).
    paths : iterable of str or Path
        The files to write, format from each suffix (PDF, PNG at 300 dpi, SVG).
    arm_names : mapping of str to str, optional
        Arm role -> printed name; roles not given keep :data:`DEFAULT_ARM_NAMES`.
    confidence : float, default 0.95
        The confidence level of the intervals, printed in the axis label.

    Raises
    ------
    OutputWriteError
        When a figure file cannot be written (:func:`tmstarget.style.save_figure`).
    """
    apply_style()
    names = _names(arm_names)
    outcomes = list(dict.fromkeys(binary["outcome"]))
    fig, ax = plt.subplots(figsize=(4.2, 3.3))
    bar_width = 0.36
    for index, arm in enumerate(ARM_ROLES):
        own = binary[binary["arm"] == arm].set_index("outcome").loc[outcomes]
        x = np.arange(len(outcomes)) + (index - 0.5) * bar_width
        percent = 100 * own["proportion"].to_numpy(dtype=float)
        low = 100 * own["low"].to_numpy(dtype=float)
        high = 100 * own["high"].to_numpy(dtype=float)
        ax.bar(x, percent, width=bar_width * 0.92, color=ARM_COLOURS[arm], label=names[arm])
        ax.errorbar(
            x,
            percent,
            yerr=[percent - low, high - percent],
            fmt="none",
            ecolor="black",
            capsize=3,
            lw=0.8,
        )
        for xi, hi, count, total in zip(x, high, own["count"], own["total"], strict=True):
            ax.text(
                xi, hi + 2, f"{int(count)}/{int(total)}", ha="center", va="bottom", fontsize=7.5
            )
    ax.set_xticks(np.arange(len(outcomes)))
    ax.set_xticklabels([textwrap.fill(label, 22) for label in outcomes])
    ax.set_ylim(0, 115)
    ax.set_yticks(range(0, 101, 20))
    ax.set_ylabel(f"Participants (%), with {100 * confidence:g}% CI")
    ax.legend(loc="upper right", frameon=False, ncols=2, bbox_to_anchor=(1.0, 1.08))
    save_figure(fig, paths)


# --------------------------------------------------------------------------------------
# Forest plot
# --------------------------------------------------------------------------------------


def _format_effect(estimate: float, low: float, high: float, decimals: int) -> str:
    def one(x: float) -> str:
        # the tables' rounding (half up, no "-0.0"), with a typographic minus
        return format_number(x, decimals).replace("-", "\u2212")

    return f"{one(estimate)} ({one(low)} to {one(high)})"


def plot_forest(
    effects: pd.DataFrame,
    paths: Paths,
    arm_names: Mapping[str, str] | None = None,
    decimals: Mapping[str, int] | None = None,
    confidence: float = 0.95,
) -> None:
    """Forest plot of between-arm effects (from ``outcomes.forest_effects``).

    One panel per ``panel`` value, each with its own x scale and reference line at
    ``null``; estimates and CIs are printed on the right. Positive = favours the
    experimental (connectivity) arm.

    Parameters
    ----------
    effects : pandas.DataFrame
        Columns panel (the x-axis label), label, estimate, low, high, null (reference
        line); connectivity minus scalp. Infinite limits are clipped to the panel.
    paths : iterable of str or Path
        The files to write, format from each suffix (PDF, PNG at 300 dpi, SVG).
    arm_names : mapping of str to str, optional
        Arm role -> printed name; roles not given keep :data:`DEFAULT_ARM_NAMES`.
    decimals : mapping of str to int, optional
        Panel -> decimals of the printed estimates; by default 2 for a standardised
        panel and 1 otherwise.
    confidence : float, default 0.95
        The confidence level of the intervals, printed in the column header.

    Raises
    ------
    OutputWriteError
        When a figure file cannot be written (:func:`tmstarget.style.save_figure`).
    """
    apply_style()
    names = _names(arm_names)
    panels = list(dict.fromkeys(effects["panel"]))
    sizes = [int((effects["panel"] == panel).sum()) for panel in panels]
    row_height = 0.24
    height = sum(sizes) * row_height + len(panels) * 0.75 + 0.3
    fig, axes = plt.subplots(
        len(panels),
        1,
        figsize=(6.4, height),
        gridspec_kw={"height_ratios": [s + 1.6 for s in sizes]},
        squeeze=False,
    )
    decimals = dict(decimals or {})
    for ax, panel in zip(axes[:, 0], panels, strict=True):
        own = effects[effects["panel"] == panel].reset_index(drop=True)
        y = np.arange(len(own))[::-1]
        finite_low = own["low"].replace(-np.inf, np.nan)
        finite_high = own["high"].replace(np.inf, np.nan)
        lo = float(np.nanmin([finite_low.min(), own["estimate"].min(), own["null"].iloc[0]]))
        hi = float(np.nanmax([finite_high.max(), own["estimate"].max(), own["null"].iloc[0]]))
        pad = 0.08 * (hi - lo if hi > lo else 1.0)
        ax.set_xlim(lo - pad, hi + pad)
        ax.axvline(own["null"].iloc[0], color=PALETTE["grey"], linestyle="--", linewidth=0.8)
        ax.hlines(
            y,
            np.clip(own["low"], lo - pad, hi + pad),
            np.clip(own["high"], lo - pad, hi + pad),
            color=PALETTE["black"],
            linewidth=1.1,
        )
        ax.plot(own["estimate"], y, "D", color=ARM_COLOURS[ARM_ROLES[0]], markersize=4.5)
        ax.set_yticks(y)
        ax.set_yticklabels(own["label"])
        ax.set_ylim(-0.7, len(own) - 0.3)
        ax.set_xlabel(panel)
        ax.spines["left"].set_visible(False)
        ax.tick_params(axis="y", length=0)
        places = decimals.get(panel, 2 if "tandardised" in panel else 1)
        for yi, record in zip(y, own.itertuples(), strict=True):
            ax.text(
                1.02,
                yi,
                _format_effect(record.estimate, record.low, record.high, places),
                transform=ax.get_yaxis_transform(),
                va="center",
                ha="left",
                fontsize=7.5,
            )
        ax.text(
            1.02,
            1.0,
            f"Estimate ({100 * confidence:g}% CI)",
            transform=ax.transAxes,
            va="bottom",
            ha="left",
            fontsize=7.5,
            fontweight="bold",
        )
        ax.text(
            0.0,
            1.0,
            f"← favours {names[ARM_ROLES[1]]}",
            transform=ax.transAxes,
            va="bottom",
            ha="left",
            fontsize=7,
            color="0.35",
        )
        ax.text(
            0.98,
            1.0,
            f"favours {names[ARM_ROLES[0]]} →",
            transform=ax.transAxes,
            va="bottom",
            ha="right",
            fontsize=7,
            color="0.35",
        )
    fig.tight_layout(h_pad=1.2)
    save_figure(fig, paths)


def plot_mechanism(
    data: pd.DataFrame,
    correlations: pd.DataFrame,
    paths: Paths,
    measures: Mapping[str, str],
    arm_names: Mapping[str, str] | None = None,
    primary_label: str = "month 1",
) -> None:
    """One panel per site measure: the measure against percent change in MADRS (negative
    is improvement), one colour per arm, with each group's Spearman rho (CI) printed
    (from :func:`tmstarget.outcomes.mechanism_data` and ``mechanism_correlations``).

    Parameters
    ----------
    data : pandas.DataFrame
        One row per participant with arm (role), percent_change (%, negative =
        improvement) and a column per measure.
    correlations : pandas.DataFrame
        Columns measure, group (a role or ``pooled``), rho, low, high: printed above
        each measure's panel.
    paths : iterable of str or Path
        The files to write, format from each suffix (PDF, PNG at 300 dpi, SVG).
    measures : mapping of str to str
        Column of ``data`` -> x-axis label (with its unit), one panel each, in order.
    arm_names : mapping of str to str, optional
        Arm role -> printed name; roles not given keep :data:`DEFAULT_ARM_NAMES`.
    primary_label : str, default "month 1"
        The primary visit as printed in the y-axis label.

    Raises
    ------
    ValueError
        When ``data`` lacks the arm, percent_change or a measure column.
    OutputWriteError
        When a figure file cannot be written (:func:`tmstarget.style.save_figure`).
    """
    missing = [c for c in ("arm", "percent_change", *measures) if c not in data.columns]
    if missing:
        raise ValueError(f"mechanism data lack column(s): {', '.join(missing)}")
    apply_style()
    names = _names(arm_names)
    fig, axes = plt.subplots(
        1, len(measures), figsize=(3.4 * len(measures), 3.4), squeeze=False, sharey=True
    )
    for ax, (measure, label) in zip(axes[0], measures.items(), strict=True):
        for arm in ARM_ROLES:
            own = data[data["arm"] == arm]
            ax.scatter(
                own[measure],
                own["percent_change"],
                s=18,
                color=ARM_COLOURS[arm],
                label=names[arm],
                edgecolor="white",
                linewidth=0.4,
            )
        lines = []
        for record in correlations[correlations["measure"] == measure].itertuples():
            group = names.get(record.group, record.group.capitalize())
            rho = format_number(record.rho, 2)
            interval = f"{format_number(record.low, 2)} to {format_number(record.high, 2)}"
            lines.append(f"{group}: ρ = {rho} ({interval})")
        # Above the panel, never on top of the points.
        ax.set_title("\n".join(lines), fontsize=7, loc="left")
        ax.axhline(0, color=PALETTE["grey"], linewidth=0.6)
        ax.set_xlabel(label)
    axes[0][0].set_ylabel(f"Change in MADRS, baseline to {primary_label} (%)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.tight_layout()
    # Legend in its own strip below the panels, clear of every point.
    fig.legend(
        handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2, frameon=False
    )
    save_figure(fig, paths)
