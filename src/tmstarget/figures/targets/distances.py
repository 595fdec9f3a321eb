"""Distance between each subject's connectivity target and Beam F3, by arm (see
:mod:`tmstarget.figures.targets` for the conventions)."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from tmstarget.figures.targets.common import (
    Paths,
    arm_display_names,
    arm_order,
    check_arms,
    require_columns,
)
from tmstarget.style import ARM_COLOURS, PALETTE, apply_style, save_figure

DISTANCE_COLUMNS = {
    "cortex_distance_mm": "On cortex",
    "scalp_distance_mm": "On scalp (coil positions)",
}


def _strip(ax, values_by_arm: list[np.ndarray], colours: list[str], seed: int) -> None:
    """Box (median, quartiles, 1.5 IQR whiskers) and every value, jittered for display."""
    positions = np.arange(len(values_by_arm))
    boxes = ax.boxplot(
        values_by_arm,
        positions=positions,
        widths=0.5,
        showfliers=False,
        patch_artist=True,
        medianprops={"color": PALETTE["black"], "linewidth": 1.2},
        whiskerprops={"linewidth": 0.8},
        capprops={"linewidth": 0.8},
        boxprops={"linewidth": 0.8},
    )
    for patch, colour in zip(boxes["boxes"], colours, strict=True):
        patch.set_facecolor(colour)
        patch.set_alpha(0.25)
    jitter = np.random.default_rng(seed)  # fixed seed: same picture on every run
    for position, values, colour in zip(positions, values_by_arm, colours, strict=True):
        offsets = jitter.uniform(-0.14, 0.14, size=len(values))
        ax.scatter(
            position + offsets, values, s=12, c=colour, edgecolors="white", linewidths=0.3, zorder=3
        )


def plot_target_distances(
    distances_table: pd.DataFrame,
    paths: Paths,
    arm_colours: Mapping[str, str] = ARM_COLOURS,
    arm_names: Mapping[str, str] | None = None,
) -> None:
    """Per-subject distance (mm) between the connectivity target and Beam F3, by arm.

    Two panels (on cortex, on scalp) sharing the mm axis, which starts at 0; one box per
    arm, in the order of ``arm_colours``, labelled with its number of subjects. Boxes show
    median, quartiles and whiskers to 1.5 IQR (matplotlib's definition), dots every
    subject (jittered sideways with a fixed seed: the same picture on every run).

    Parameters
    ----------
    distances_table : pandas.DataFrame
        One row per subject, columns ``participant_id``, ``arm``, ``cortex_distance_mm``
        (connectivity target to Beam F3 projected to cortex, mm) and
        ``scalp_distance_mm`` (the target's coil position to Beam F3 on the scalp, mm), as
        in :class:`tmstarget.scalp.ArmDistances`.
    paths : iterable of str or Path
        Every file to write, the format from the suffix (PDF, PNG at 300 dpi, SVG), through
        :func:`tmstarget.style.save_figure`; folders are created when missing.
    arm_colours : mapping of str to str
        Colour of each arm (matplotlib colour), keyed by the ``arm`` values; its order is
        the order of the arms. Default :data:`tmstarget.style.ARM_COLOURS`.
    arm_names : mapping of str to str or None
        Display names of the arms, overriding
        :data:`~tmstarget.figures.targets.ARM_NAMES` (``Connectivity``, ``Scalp``).

    Raises
    ------
    ValueError
        When ``distances_table`` is not a data frame or lacks a column, has an arm without
        a colour in ``arm_colours``, or a non-finite distance.
    tmstarget.atomic.OutputWriteError
        When a file cannot be written (the message names it and the free space).
    """
    require_columns(
        distances_table, ["participant_id", "arm", *DISTANCE_COLUMNS], "distances_table"
    )
    check_arms(distances_table["arm"], arm_colours, "distances_table")
    names = arm_display_names(arm_names)
    arms = arm_order(distances_table["arm"], arm_colours)
    arm_of = distances_table["arm"].astype(str)

    apply_style()
    fig, axes = plt.subplots(1, 2, figsize=(3.5, 2.7), sharey=True)
    for index, (ax, (column, panel_title)) in enumerate(
        zip(axes, DISTANCE_COLUMNS.items(), strict=True)
    ):
        values = distances_table[column].to_numpy(dtype=float)
        if not np.isfinite(values).all():
            raise ValueError(f"distances_table column {column!r} has non-finite values")
        by_arm = [values[(arm_of == arm).to_numpy()] for arm in arms]
        _strip(ax, by_arm, [arm_colours[arm] for arm in arms], seed=index)
        ax.set_xticks(
            range(len(arms)),
            [f"{names.get(arm, arm)}\n(n = {len(v)})" for arm, v in zip(arms, by_arm, strict=True)],
        )
        ax.set_title(panel_title, fontsize=9)
        ax.set_xlim(-0.6, len(arms) - 0.4)
    axes[0].set_ylim(bottom=0)
    axes[0].set_ylabel("Connectivity target to Beam F3 (mm)")
    save_figure(fig, paths)
