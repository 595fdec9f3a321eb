"""The demo's planted-target recovery: distance between each subject's planted and
recovered target (see :mod:`tmstarget.figures.targets` for the conventions)."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Patch

from tmstarget.figures.targets.common import (
    METHOD_LABELS,
    Paths,
    arm_display_names,
    arm_order,
    check_arms,
    require_columns,
)
from tmstarget.style import ARM_COLOURS, PALETTE, apply_style, save_figure


def plot_recovery(
    recovery_table: pd.DataFrame,
    paths: Paths,
    voxel_mm: float,
    arm_colours: Mapping[str, str] = ARM_COLOURS,
    arm_names: Mapping[str, str] | None = None,
) -> None:
    """Distance (mm) between each subject's planted and recovered target, sorted.

    One panel per method (in order of first appearance) sharing the mm axis: each
    subject's error as a lollipop, sorted ascending (ties by ``participant_id``), dotted
    lines at one and two voxels. Participant ids label the x axis of panels of at most
    20 subjects.

    Parameters
    ----------
    recovery_table : pandas.DataFrame
        One row per subject (and method), columns ``participant_id`` and ``error_mm``
        (planted to recovered target, mm, finite and >= 0); optional ``arm`` (colours the
        dots, with a legend; without it they are all blue) and ``method`` (one panel per
        method, titled from :data:`~tmstarget.figures.targets.METHOD_LABELS`).
    paths : iterable of str or Path
        Every file to write, the format from the suffix (PDF, PNG at 300 dpi, SVG), through
        :func:`tmstarget.style.save_figure`; folders are created when missing.
    voxel_mm : float
        The data's voxel size (mm, positive), where the dotted lines are drawn.
    arm_colours : mapping of str to str
        Colour of each arm (matplotlib colour), keyed by the ``arm`` values; its order is
        the order of the arms. Default :data:`tmstarget.style.ARM_COLOURS`.
    arm_names : mapping of str to str or None
        Display names of the arms, overriding
        :data:`~tmstarget.figures.targets.ARM_NAMES` (``Connectivity``, ``Scalp``).

    Raises
    ------
    ValueError
        When ``recovery_table`` is not a data frame or lacks a column, ``voxel_mm`` is not
        a positive finite number, ``error_mm`` has a non-finite or negative value, or an
        arm has no colour in ``arm_colours``.
    tmstarget.atomic.OutputWriteError
        When a file cannot be written (the message names it and the free space).
    """
    require_columns(recovery_table, ["participant_id", "error_mm"], "recovery_table")
    if not np.isfinite(voxel_mm) or voxel_mm <= 0:
        raise ValueError(f"voxel_mm must be a positive voxel size in mm, got {voxel_mm}")
    errors = recovery_table["error_mm"].to_numpy(dtype=float)
    if not np.isfinite(errors).all() or (errors < 0).any():
        raise ValueError("recovery_table column 'error_mm' must be finite and >= 0 (mm)")
    has_arm = "arm" in recovery_table.columns
    if has_arm:
        check_arms(recovery_table["arm"], arm_colours, "recovery_table")
    names = arm_display_names(arm_names)
    methods = (
        list(dict.fromkeys(recovery_table["method"].astype(str)))
        if "method" in recovery_table.columns
        else [None]
    )

    apply_style()
    # Constrained layout keeps each panel's axis label clear of the next panel's title.
    fig, axes = plt.subplots(
        len(methods),
        1,
        figsize=(3.5, 0.5 + 2.1 * len(methods)),
        squeeze=False,
        sharey=True,
        layout="constrained",
    )
    top = max(float(errors.max()), 2 * voxel_mm) * 1.4
    for ax, method in zip(axes[:, 0], methods, strict=True):
        rows = (
            recovery_table
            if method is None
            else recovery_table[recovery_table["method"].astype(str) == method]
        )
        _draw_recovery_panel(ax, rows, method, voxel_mm, top, arm_colours if has_arm else None)
    if has_arm:
        arms = arm_order(recovery_table["arm"], arm_colours)
        # upper left stays empty: errors are sorted ascending, and the y range has headroom
        axes[0, 0].legend(
            [Patch(color=arm_colours[arm]) for arm in arms],
            [f"{names.get(arm, arm)} arm" for arm in arms],
            loc="upper left",
            ncol=len(arms),
            frameon=False,
            fontsize=7,
        )
    save_figure(fig, paths)


def _draw_recovery_panel(
    ax: plt.Axes,
    rows: pd.DataFrame,
    method: str | None,
    voxel_mm: float,
    top: float,
    arm_colours: Mapping[str, str] | None,
) -> None:
    """One method's errors (mm), sorted ascending, as lollipops (coloured by arm, or all
    blue without ``arm_colours``), with dotted lines at one and two voxels; y up to
    ``top`` mm."""
    rows = rows.sort_values(["error_mm", "participant_id"], kind="mergesort")
    rank = np.arange(len(rows))
    values = rows["error_mm"].to_numpy(dtype=float)
    colours = (
        [arm_colours[str(arm)] for arm in rows["arm"]]
        if arm_colours is not None
        else [PALETTE["blue"]] * len(rows)
    )
    ax.vlines(rank, 0, values, colors=colours, linewidth=0.8)
    ax.scatter(rank, values, s=14, c=colours, zorder=3, edgecolors="white", linewidths=0.3)
    for multiple, text in ((1, "1 voxel"), (2, "2 voxels")):
        ax.axhline(multiple * voxel_mm, color=PALETTE["grey"], linestyle=":", linewidth=0.9)
        ax.text(
            -0.5,
            multiple * voxel_mm,
            f"{text} ({multiple * voxel_mm:g} mm)",
            ha="left",
            va="bottom",
            fontsize=7,
            color=PALETTE["black"],
        )
    ax.set_xlim(-1, len(rows))
    ax.set_ylim(0, top)
    if len(rows) <= 20:
        ax.set_xticks(rank, rows["participant_id"].astype(str), rotation=90, fontsize=6)
    else:
        ax.set_xticks([])
    ax.set_xlabel("Participants, sorted by error")
    ax.set_ylabel("Planted to recovered (mm)")
    if method is not None:
        ax.set_title(METHOD_LABELS.get(method, method), fontsize=9, loc="left")
