"""Every subject's targets on a glass brain, with zoomed mm views (see
:mod:`tmstarget.figures.targets` for the conventions)."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from nilearn import plotting

from tmstarget.figures.targets.common import (
    BEAM_F3_METHOD,
    METHOD_LABELS,
    NEUROLOGICAL_NOTE,
    REFERENCE_POINTS,
    Paths,
    arm_display_names,
    arm_order,
    check_arms,
    column_legend,
    finite_coordinates,
    frozen_garbage_collector,
    require_columns,
)
from tmstarget.style import ARM_COLOURS, PALETTE, apply_style, save_figure
from tmstarget.vocabulary import DEFAULT_CONNECTIVITY_METHOD

# Zoom panels of the group figure: (title, horizontal axis, vertical axis), keyed, ordered
# and oriented as nilearn's 'ortho' glass brain views (coronal and axial: left on the left;
# sagittal: anterior on the right).
_ZOOM_VIEWS = {
    "y": ("Coronal (left on the left)", 0, 2),
    "x": ("Sagittal (anterior to the right)", 1, 2),
    "z": ("Axial (anterior up)", 0, 1),
}
_AXIS_NAMES = ("x (mm, left \u2212 / right +)", "y (mm, posterior \u2212 / anterior +)", "z (mm)")

# One layer of points: (xyz in MNI mm, one colour per point, filled). Filled: the
# connectivity targets (circles); open: the Beam F3 sites (triangles).
Layer = tuple[np.ndarray, list[str], bool]


def plot_group_targets(
    targets_table: pd.DataFrame,
    paths: Paths,
    arm_colours: Mapping[str, str] = ARM_COLOURS,
    connectivity_method: str = DEFAULT_CONNECTIVITY_METHOD,
    f3_method: str = BEAM_F3_METHOD,
    arm_names: Mapping[str, str] | None = None,
) -> None:
    """Every subject's connectivity target and Beam F3 cortical site, coloured by arm.

    Top: glass brain (coronal, sagittal with anterior on the right, axial; neurological
    convention, left hemisphere on the left, L/R and P/A marked). Bottom: the same three
    projections zoomed onto the targets (dashed squares on the glass brain) with mm axes
    (x: left negative, right positive; y: posterior negative, anterior positive); one
    square window around every point and reference point plus 5 mm, the same for the
    three panels. The published reference points (group F3, Fox target, normative
    sgACC-anticorrelation peak) are drawn in black and labelled in the legend with their
    MNI coordinates; the arms' legend gives each arm's number of connectivity targets.

    Parameters
    ----------
    targets_table : pandas.DataFrame
        One row per subject and method, columns ``participant_id``, ``arm``, ``method``,
        ``x_mm``, ``y_mm``, ``z_mm`` (MNI152 RAS world mm, x < 0 left). Every row of the
        two drawn methods must have an arm in ``arm_colours`` and finite coordinates.
    paths : iterable of str or Path
        Every file to write, the format from the suffix (PDF, PNG at 300 dpi, SVG), through
        :func:`tmstarget.style.save_figure`; folders are created when missing.
    arm_colours : mapping of str to str
        Colour of each arm (matplotlib colour), keyed by the ``arm`` values; its order is
        the order of the arms. Default :data:`tmstarget.style.ARM_COLOURS`.
    connectivity_method : str
        The method whose rows are the connectivity targets, drawn as filled circles
        (legend text from :data:`~tmstarget.figures.targets.METHOD_LABELS`).
    f3_method : str
        The method whose rows are the Beam F3 cortical sites, drawn as open triangles.
        Rows of other methods are ignored.
    arm_names : mapping of str to str or None
        Display names of the arms, overriding
        :data:`~tmstarget.figures.targets.ARM_NAMES` (``Connectivity``, ``Scalp``).

    Raises
    ------
    ValueError
        When ``targets_table`` is not a data frame or lacks a column, has no row of
        ``connectivity_method``, has a drawn row whose arm has no colour in
        ``arm_colours``, or a drawn row with non-finite coordinates.
    tmstarget.atomic.OutputWriteError
        When a file cannot be written (the message names it and the free space).
    """
    require_columns(
        targets_table,
        ["participant_id", "arm", "method", "x_mm", "y_mm", "z_mm"],
        "targets_table",
    )
    method = targets_table["method"].astype(str)
    connectivity = targets_table[method == connectivity_method]
    f3 = targets_table[method == f3_method]
    if connectivity.empty:
        raise ValueError(
            f"targets_table has no row with method {connectivity_method!r}; methods present: "
            f"{sorted(set(method))}"
        )
    drawn_arms = pd.concat([connectivity["arm"], f3["arm"]])
    check_arms(drawn_arms, arm_colours, "targets_table")
    layers = _layers(connectivity, f3, arm_colours)

    apply_style()
    fig = plt.figure(figsize=(7.0, 4.9))
    glass = _draw_glass_brain(fig, layers)
    centre, half = _zoom_window(layers)
    for column, (key, view) in enumerate(_ZOOM_VIEWS.items()):
        ax = fig.add_axes((0.08 + column * 0.325, 0.19, 0.24, 0.33))
        _draw_zoom_panel(ax, glass.axes[key].ax, view, layers, centre, half)

    arm_entries = _arm_entries(
        connectivity, arm_order(drawn_arms, arm_colours), arm_colours, arm_names
    )
    marker_entries = _method_entries(connectivity_method, f3_method)
    column_legend(fig, [arm_entries, marker_entries, _reference_entries()])
    fig.text(
        0.02,
        0.995,
        f"MNI152 coordinates (mm). {NEUROLOGICAL_NOTE}; dashed squares: zoomed area.",
        fontsize=7,
        va="top",
    )
    save_figure(fig, paths)


def _layers(
    connectivity: pd.DataFrame, f3: pd.DataFrame, arm_colours: Mapping[str, str]
) -> list[Layer]:
    """The Beam F3 sites (open, drawn first) and the connectivity targets (filled)."""
    layers = []
    for rows, filled in ((f3, False), (connectivity, True)):
        if rows.empty:
            continue
        xyz = finite_coordinates(rows, "targets_table")
        colours = [arm_colours[str(arm)] for arm in rows["arm"]]
        layers.append((xyz, colours, filled))
    return layers


def _draw_glass_brain(fig: plt.Figure, layers: list[Layer]):
    """The glass brain (coronal, sagittal, axial) across the top with every layer and the
    reference points; returns nilearn's display."""
    with frozen_garbage_collector():
        glass = plotting.plot_glass_brain(
            None,
            display_mode="ortho",
            figure=fig,
            axes=(0.02, 0.6, 0.96, 0.37),
            black_bg=False,
            annotate=False,
            radiological=False,
            alpha=0.5,
        )
    glass.annotate(size=8, positions=False)
    for x_text, text in ((0.03, "P"), (0.97, "A")):  # nilearn marks L/R only
        glass.axes["x"].ax.text(
            x_text, 0.97, text, transform=glass.axes["x"].ax.transAxes, fontsize=8, va="top"
        )
    for xyz, colours, filled in layers:
        if filled:
            glass.add_markers(
                xyz,
                marker_color=colours,
                marker_size=14,
                marker="o",
                linewidths=0.3,
                edgecolors="white",
            )
        else:
            glass.add_markers(
                xyz,
                marker_color="none",
                marker_size=14,
                marker="^",
                linewidths=0.7,
                edgecolors=colours,
            )
    for _, point, marker, size in REFERENCE_POINTS:
        glass.add_markers(
            [point],
            marker_color=PALETTE["black"],
            marker_size=size * 0.45,
            marker=marker,
            linewidths=0.3,
            edgecolors="white",
        )
    return glass


def _zoom_window(layers: list[Layer]) -> tuple[np.ndarray, float]:
    """Centre (mm) and half-width (mm) of the zoom window: one square around every point
    and reference point plus 5 mm, the same for all three panels so their mm scales
    match."""
    references = np.array([point for _, point, _, _ in REFERENCE_POINTS])
    every_point = np.vstack([xyz for xyz, _, _ in layers] + [references])
    low, high = every_point.min(axis=0), every_point.max(axis=0)
    half = float(np.max(high - low)) / 2 + 5.0
    centre = (low + high) / 2
    return centre, half


def _draw_zoom_panel(
    ax: plt.Axes,
    ax_glass: plt.Axes,
    view: tuple[str, int, int],
    layers: list[Layer],
    centre: np.ndarray,
    half: float,
) -> None:
    """One zoomed projection (``view``: title, horizontal and vertical axis) with mm
    axes, and a dashed square on the glass brain's view ``ax_glass`` where it lies."""
    view_title, h, v = view
    ax_glass.add_patch(
        Rectangle(
            (centre[h] - half, centre[v] - half),
            2 * half,
            2 * half,
            fill=False,
            edgecolor=PALETTE["grey"],
            linewidth=0.7,
            linestyle="--",
            zorder=999,
        )
    )
    for xyz, colours, filled in layers:
        if filled:
            ax.scatter(
                xyz[:, h],
                xyz[:, v],
                s=16,
                c=colours,
                marker="o",
                edgecolors="white",
                linewidths=0.3,
                alpha=0.9,
                zorder=3,
            )
        else:
            ax.scatter(
                xyz[:, h],
                xyz[:, v],
                s=18,
                facecolors="none",
                marker="^",
                edgecolors=colours,
                linewidths=0.8,
                zorder=2,
            )
    for _, point, marker, size in REFERENCE_POINTS:
        ax.scatter(
            point[h],
            point[v],
            s=size,
            c=PALETTE["black"],
            marker=marker,
            edgecolors="white",
            linewidths=0.5,
            zorder=4,
        )
    ax.set_xlim(centre[h] - half, centre[h] + half)
    ax.set_ylim(centre[v] - half, centre[v] + half)
    ax.set_aspect("equal")
    ax.set_title(view_title, fontsize=8)
    ax.set_xlabel(_AXIS_NAMES[h], fontsize=7)
    ax.set_ylabel(_AXIS_NAMES[v], fontsize=7)
    ax.tick_params(labelsize=7)


def _arm_entries(
    connectivity: pd.DataFrame,
    arms: list[str],
    arm_colours: Mapping[str, str],
    arm_names: Mapping[str, str] | None,
) -> list[tuple[Patch, str]]:
    """Legend column of the arms, each with its number of connectivity targets."""
    names = arm_display_names(arm_names)
    entries = []
    for arm in arms:
        n = int((connectivity["arm"].astype(str) == arm).sum())
        entries.append((Patch(color=arm_colours[arm]), f"{names.get(arm, arm)} arm (n = {n})"))
    return entries


def _method_entries(connectivity_method: str, f3_method: str) -> list[tuple[Line2D, str]]:
    """Legend column of the two kinds of point (grey: the colour is the arm's)."""
    return [
        (
            Line2D(
                [],
                [],
                linestyle="none",
                marker="o",
                markersize=5,
                markerfacecolor=PALETTE["grey"],
                markeredgecolor="white",
            ),
            METHOD_LABELS.get(connectivity_method, connectivity_method),
        ),
        (
            Line2D(
                [],
                [],
                linestyle="none",
                marker="^",
                markersize=5,
                markerfacecolor="none",
                markeredgecolor=PALETTE["grey"],
            ),
            METHOD_LABELS.get(f3_method, f3_method),
        ),
    ]


def _reference_entries() -> list[tuple[Line2D, str]]:
    """Legend column of the published reference points, with their MNI coordinates."""
    return [
        (
            Line2D(
                [],
                [],
                linestyle="none",
                marker=marker,
                markersize=np.sqrt(size) * 0.8,
                markerfacecolor=PALETTE["black"],
                markeredgecolor="white",
            ),
            f"{name} ({point[0]:.0f}, {point[1]:.0f}, {point[2]:.0f})",
        )
        for name, point, marker, size in REFERENCE_POINTS
    ]
