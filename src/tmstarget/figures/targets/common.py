"""What the target figures share: the method and arm vocabulary, the published reference
points, the input checks and the drawing helpers more than one figure uses."""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from tmstarget import atlas
from tmstarget.vocabulary import (
    BEAM_F3,
    CIRCUIT_SEARCHLIGHT,
    DEFAULT_ARM_NAMES,
    SGACC_CLASSIC,
    SGACC_CLUSTER,
)

Paths = Iterable[str | Path]

# The default printed names of the arms (tmstarget.vocabulary, as the outcomes use).
ARM_NAMES = dict(DEFAULT_ARM_NAMES)
NEUROLOGICAL_NOTE = "Neurological convention: left hemisphere on the left (L/R marked)"

# Legend text of the method names the targeting stage writes.
METHOD_LABELS = {
    CIRCUIT_SEARCHLIGHT: "Connectivity target (circuit searchlight)",
    "searchlight": "Connectivity target (circuit searchlight)",
    SGACC_CLASSIC: "Connectivity target (sgACC seed map)",
    SGACC_CLUSTER: "Connectivity target (sgACC seed map, cluster)",
    BEAM_F3: "Beam F3, projected to cortex",
    "planted": "Planted target (demo ground truth)",
}
BEAM_F3_METHOD = BEAM_F3
PLANTED_METHOD = "planted"

# Published reference points (atlas.py), drawn in every group figure.
REFERENCE_POINTS = (
    ("Group F3", atlas.GROUP_F3_BRAIN_MM, "*", 110),
    ("Fox target", atlas.FOX_TARGET_MM, "D", 38),
    ("Normative sgACC-anticorrelation peak", atlas.NORMATIVE_SGACC_PEAK_MM, "P", 60),
)


# --------------------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------------------


def require_columns(table: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    if not isinstance(table, pd.DataFrame):
        raise ValueError(f"{name} must be a pandas DataFrame, got {type(table).__name__}")
    missing = [column for column in columns if column not in table.columns]
    if missing:
        raise ValueError(
            f"{name} is missing column(s) {', '.join(repr(c) for c in missing)}; "
            f"it has {', '.join(repr(c) for c in table.columns)}"
        )


def finite_coordinates(table: pd.DataFrame, name: str) -> np.ndarray:
    xyz = table[["x_mm", "y_mm", "z_mm"]].to_numpy(dtype=float)
    bad = ~np.isfinite(xyz).all(axis=1)
    if bad.any():
        raise ValueError(
            f"{name} has {int(bad.sum())} row(s) with non-finite x_mm/y_mm/z_mm "
            "(coordinates must be MNI mm)"
        )
    return xyz


def check_arms(arms: pd.Series, arm_colours: Mapping[str, str], name: str) -> None:
    unknown = sorted(set(arms.astype(str)) - set(arm_colours))
    if unknown:
        raise ValueError(
            f"{name} column 'arm' has value(s) {unknown} without a colour; "
            f"expected {sorted(arm_colours)}"
        )


# --------------------------------------------------------------------------------------
# arms, legends, nilearn
# --------------------------------------------------------------------------------------


def arm_order(arms: pd.Series, arm_colours: Mapping[str, str]) -> list[str]:
    """The arms present, in the order of ``arm_colours``."""
    present = set(arms.astype(str))
    return [arm for arm in arm_colours if arm in present]


def arm_display_names(arm_names: Mapping[str, str] | None) -> dict[str, str]:
    """Display name of each arm: :data:`ARM_NAMES` overridden by ``arm_names``."""
    return {**ARM_NAMES, **dict(arm_names or {})}


def column_legend(fig: plt.Figure, columns: list[list[tuple]]) -> None:
    """Figure legend at the bottom, one list of (handle, label) per column."""
    rows = max(len(column) for column in columns)
    blank = (Line2D([], [], linestyle="none"), "")
    entries = [entry for column in columns for entry in column + [blank] * (rows - len(column))]
    fig.legend(
        [handle for handle, _ in entries],
        [label for _, label in entries],
        loc="lower left",
        bbox_to_anchor=(0.02, 0.0),
        ncol=len(columns),
        frameon=False,
        fontsize=7,
        handletextpad=0.4,
        columnspacing=1.5,
    )


@contextmanager
def frozen_garbage_collector() -> Iterator[None]:
    """Move the objects that exist now out of the garbage collector's reach meanwhile.

    nilearn calls ``gc.collect()`` on every image it reads (``safe_get_data``); in a
    large process (a test session, a Snakemake job with the whole stack imported) each
    call walks every live object and the three views took ~6 s of collecting alone.
    Frozen objects are skipped, so each collection only sees what plotting created; they
    are collectable again afterwards. Output is unaffected.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
