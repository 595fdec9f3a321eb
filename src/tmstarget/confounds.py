"""fMRIPrep's confounds table, read as fMRIPrep writes it, and the nuisance strategies.

Column names are fMRIPrep's (``docs/outputs.rst``, "Confounds"): the six motion
parameters ``trans_x`` ... ``rot_z`` (mm, radians), the ``global_signal``,
``white_matter`` and ``csf`` means, each with ``_derivative1`` (backward difference, n/a
in the first row), ``_power2`` and ``_derivative1_power2`` expansions, which are used as
written rather than recomputed; ``framewise_displacement`` (n/a in the first row);
``a_comp_cor_XX`` (anatomical CompCor, combined white-matter and CSF mask, from fMRIPrep
21.0 on), ``t_comp_cor_XX``, ``cosineXX`` (the high-pass basis CompCor was computed
after), ``non_steady_state_outlierXX`` (one column per non-steady-state volume at the
start of the run) and ``motion_outlierXX``.

A strategy (:data:`STRATEGIES`) names the nuisance set; the trial's is the default.
``nilearn.interfaces.fmriprep.load_confounds`` offers similar sets, but finds the table
from the image's file name and accepts only images named ``..._desc-preproc_bold``,
which tedana's outputs and data denoised elsewhere are not; the table is read here by the
same names.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

MOTION = ("trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z")
TISSUE = ("global_signal", "white_matter", "csf")


def _derivatives(names: Sequence[str]) -> list[str]:
    return [f"{name}_derivative1" for name in names]


def _squares(names: Sequence[str]) -> list[str]:
    return [f"{name}_power2" for name in names] + [f"{name}_derivative1_power2" for name in names]


# Each strategy: the columns it takes by name, and (prefix, count) families taken from the
# table (the first `count` columns of the family; None: all of them).
STRATEGIES: dict[str, dict] = {
    # The trial's: global, white-matter and CSF signals, 6 motion parameters and their
    # derivatives (15 regressors; the linear trend is removed by detrending).
    "trial": {"columns": [*TISSUE, *MOTION, *_derivatives(MOTION)], "families": []},
    # The same without global signal regression.
    "trial_nogsr": {
        "columns": ["white_matter", "csf", *MOTION, *_derivatives(MOTION)],
        "families": [],
    },
    # Friston 24: motion, derivatives and their squares.
    "24p": {"columns": [*MOTION, *_derivatives(MOTION), *_squares(MOTION)], "families": []},
    # Satterthwaite 36: 24 motion terms and the three tissue signals with their expansions.
    "36p": {
        "columns": [
            *MOTION,
            *_derivatives(MOTION),
            *_squares(MOTION),
            *TISSUE,
            *_derivatives(TISSUE),
            *_squares(TISSUE),
        ],
        "families": [],
    },
    # aCompCor (Behzadi 2007; Muschelli 2014): 12 motion terms and the first 5 components
    # of the combined white-matter and CSF mask, with the cosine basis they were computed
    # after (fMRIPrep: include cosine_XX with CompCor).
    "acompcor": {
        "columns": [*MOTION, *_derivatives(MOTION)],
        "families": [("a_comp_cor_", 5), ("cosine", None)],
    },
    # aCompCor with global signal regression.
    "acompcor_gsr": {
        "columns": ["global_signal", *MOTION, *_derivatives(MOTION)],
        "families": [("a_comp_cor_", 5), ("cosine", None)],
    },
}


class ConfoundsError(ValueError):
    """The confounds table lacks what the strategy needs; the message names the file."""


def read_confounds(path: str | Path) -> pd.DataFrame:
    """fMRIPrep's confounds table (``n/a`` read as NaN)."""
    try:
        return pd.read_csv(path, sep="\t", na_values=["n/a"])
    except (OSError, ValueError, pd.errors.ParserError) as error:
        raise ConfoundsError(f"cannot read the confounds table {path}: {error}") from error


def strategy_columns(
    confounds: pd.DataFrame, strategy: str = "trial", columns: Sequence[str] | None = None
) -> list[str]:
    """The columns of ``confounds`` (anything with a ``columns`` list of names) a
    strategy takes; ``columns`` (names) replaces the strategy. Raises
    :class:`ConfoundsError` listing what is missing."""
    if columns is not None:
        wanted, families = list(columns), []
    else:
        if strategy not in STRATEGIES:
            raise ConfoundsError(
                f"preprocess.nuisance must be one of {sorted(STRATEGIES)}, got {strategy!r}"
            )
        wanted, families = list(STRATEGIES[strategy]["columns"]), STRATEGIES[strategy]["families"]
    missing = [name for name in wanted if name not in confounds.columns]
    for prefix, count in families:
        members = sorted(c for c in confounds.columns if c.startswith(prefix))
        if not members and prefix != "cosine":
            missing.append(f"{prefix}XX")
        wanted += members if count is None else members[:count]
    if missing:
        raise ConfoundsError(
            f"confounds lack column(s) {missing} of the nuisance set "
            f"{'preprocess.nuisance_columns' if columns is not None else repr(strategy)}"
        )
    return wanted


def nuisance_design(
    confounds: pd.DataFrame,
    strategy: str = "trial",
    columns: Sequence[str] | None = None,
    source: str | Path | None = None,
) -> pd.DataFrame:
    """Design matrix of nuisance regressors (one row per volume; no intercept or trend,
    which cleaning removes by detrending). Compute it on confounds already trimmed of
    dummy volumes: a derivative's first-row n/a (a run with no dummy volume dropped) is 0,
    as a backward difference with nothing before it; n/a anywhere else is an error naming
    ``source`` (the table's file) and the column."""
    names = strategy_columns(confounds, strategy, columns)
    design = confounds[names].astype(float).reset_index(drop=True).copy()
    where = f" in {source}" if source else ""
    for name in names:
        values = design[name].to_numpy(dtype=float, copy=True)
        if "derivative1" in name and len(values) and np.isnan(values[0]):
            values[0] = 0.0
        bad = np.flatnonzero(~np.isfinite(values))
        if len(bad):
            raise ConfoundsError(
                f"confounds column {name}{where} has missing or non-finite values at rows "
                f"{bad[:5].tolist()} (after dropping the dummy volumes)"
            )
        design[name] = values
    return design


def dummy_volumes(confounds: pd.DataFrame, source: str | Path | None = None) -> int:
    """The number of non-steady-state volumes fMRIPrep flagged at the start of the run
    (``non_steady_state_outlierXX``: one-hot columns, one per volume). Raises
    :class:`ConfoundsError` if they flag anything but the leading volumes."""
    columns = sorted(c for c in confounds.columns if c.startswith("non_steady_state_outlier"))
    flagged = sorted(
        int(np.flatnonzero(confounds[c].fillna(0).to_numpy() > 0)[0])
        for c in columns
        if (confounds[c].fillna(0).to_numpy() > 0).any()
    )
    if flagged != list(range(len(flagged))):
        raise ConfoundsError(
            f"non_steady_state_outlier columns{f' of {source}' if source else ''} flag volumes "
            f"{flagged}, not the first volumes of the run; set preprocess.n_dummy to the "
            "number of volumes to drop"
        )
    return len(flagged)
