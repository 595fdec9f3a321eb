"""Target choices side by side: the split-half statistics of each rule for choosing the
site on a score map (``reliability.choices``)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from tmstarget.reliability.params import ReliabilityParams
from tmstarget.reliability.statistics import summarise
from tmstarget.tables import cell, cells_frame

CHOICE_LABELS = {
    "argmax": "Argmax (trial)",
    "smoothed": "Smoothed map, argmax",
    "top_fraction": "Centre of gravity of the top fraction",
    "bootstrap_mode": "Bootstrap modal site",
}
CHOICE_COLUMNS = ("subject", "choice", "segment", "x_mm", "y_mm", "z_mm")


def choice_summary(
    choice_targets: pd.DataFrame | Sequence[pd.DataFrame], params: ReliabilityParams
) -> pd.DataFrame:
    """The split-half summary (:func:`~tmstarget.reliability.summarise`) of each target
    choice, stacked.

    Parameters
    ----------
    choice_targets : pandas.DataFrame or sequence of pandas.DataFrame
        The per-subject choice tables of find_targets (one frame or a list; empty frames
        are skipped): columns ``subject``, ``choice``, ``segment`` (``half1``/``half2``)
        and ``x_mm``, ``y_mm``, ``z_mm`` (world MNI coordinates, mm).
    params : ReliabilityParams
        ``choices`` (which choices, in which order), ``n_bootstrap``, ``seed``,
        ``confidence`` and ``centroid`` of the summaries.

    Returns
    -------
    pandas.DataFrame
        The rows of :func:`~tmstarget.reliability.summarise` for each choice of
        ``params.choices`` that has rows, with a leading ``choice`` column (distances in
        mm, ratios unitless); the ``attrs`` of the first summary. Empty (columns choice,
        quantity, median, median_low, median_high) when no choice was computed (a method
        without a score map).

    Raises
    ------
    ValueError
        ``choice_targets`` lack a column of :data:`CHOICE_COLUMNS`, a subject has two rows
        of one half, or a choice has fewer than two subjects with both halves.
    """
    frame = _as_choice_frame(choice_targets)
    parts = []
    for choice in params.choices:
        rows = frame[frame["choice"] == choice]
        if rows.empty:
            continue
        summary = summarise(
            rows, params.n_bootstrap, params.seed, params.confidence, params.centroid
        )
        parts.append(summary.assign(choice=choice))
    if not parts:
        return pd.DataFrame(columns=["choice", "quantity", "median", "median_low", "median_high"])
    stacked = pd.concat(parts, ignore_index=True)
    stacked.attrs.update(parts[0].attrs)
    return stacked[["choice", *[c for c in stacked.columns if c != "choice"]]]


def _as_choice_frame(choice_targets: pd.DataFrame | Sequence[pd.DataFrame]) -> pd.DataFrame:
    if not isinstance(choice_targets, pd.DataFrame):
        frames = [frame for frame in choice_targets if len(frame)]
        if not frames:
            return pd.DataFrame(columns=list(CHOICE_COLUMNS))
        choice_targets = pd.concat(frames, ignore_index=True)
    missing = set(CHOICE_COLUMNS) - set(choice_targets.columns)
    if missing:
        raise ValueError(f"choice targets lack the column(s) {', '.join(sorted(missing))}")
    return choice_targets


def choice_table(summary: pd.DataFrame, params: ReliabilityParams) -> pd.DataFrame:
    """Cell frame (for :func:`tmstarget.tables.write_table`) of the target choices side
    by side.

    Parameters
    ----------
    summary : pandas.DataFrame
        :func:`choice_summary`'s frame; empty gives one row saying no choice was compared.
    params : ReliabilityParams
        ``confidence`` (column labels), ``between_convention`` (which ratio is shown),
        ``n_bootstrap``, ``seed`` and the published numbers (notes).

    Returns
    -------
    pandas.DataFrame
        A cell frame (:func:`tmstarget.tables.cells_frame`): one row per choice (labels of
        :data:`CHOICE_LABELS`) with the number of subjects, the median (CI) within-subject
        distance, both between-subject conventions (mm) and the between / within ratio
        under ``params.between_convention``; the caption and notes (methods, bootstrap,
        the published numbers) in its ``attrs``.

    Raises
    ------
    KeyError
        A choice's rows lack a quantity of the summary (a frame not from
        :func:`choice_summary`).
    """
    level = f"{100 * params.confidence:g}%"
    columns = {
        "within": f"Within, median ({level} CI)",
        "pairwise_cross_half": f"Between, pairwise, median ({level} CI)",
        "centroid": f"Between, centroid, median ({level} CI)",
        f"ratio_{params.between_convention}": "Ratio between / within",
    }
    cells = []
    section = "Split-half distance, mm"
    if summary.empty:
        cells.append(
            cell(
                section,
                "No target choice compared",
                "n",
                "text",
                column_label="Subjects",
                text="the reliability method has no score map (or reliability.choices is empty)",
            )
        )
    for choice in dict.fromkeys(summary["choice"]):
        rows = summary[summary["choice"] == choice].set_index("quantity")
        row = CHOICE_LABELS.get(choice, choice)
        subjects = int(rows.loc["within", "n_subjects"])
        cells.append(cell(section, row, "n", "count", column_label="Subjects", count=subjects))
        for quantity, label in columns.items():
            record = rows.loc[quantity]
            cells.append(
                cell(
                    section,
                    row,
                    quantity,
                    "estimate_ci",
                    column_label=label,
                    value=record["median"],
                    low=record["median_low"],
                    high=record["median_high"],
                    decimals=2,
                )
            )
    notes = [
        "Each subject's two contiguous halves targeted with each rule for choosing the site "
        "on the score map: the trial's argmax; the argmax of the map smoothed over the "
        "candidates; the centre of gravity of the top fraction of candidates; the modal "
        "site of a block bootstrap of the half. A lower within-subject distance at a "
        "similar between-subject distance is a more stable rule.",
        f"CIs: percentile bootstrap resampling subjects ({params.n_bootstrap} resamples, "
        f"seed {params.seed}). Published (argmax): {params.manuscript_within_mm:g} mm "
        f"within, {params.manuscript_between_mm:g} mm between.",
    ]
    return cells_frame(
        cells, caption="Split-half reliability by target choice", notes=notes, row_header=""
    )
