"""Table 1: baseline characteristics by arm and overall."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from tmstarget.clinical import ARM_ROLES
from tmstarget.outcomes.params import OutcomeParams
from tmstarget.outcomes.statistics import median_iqr
from tmstarget.outcomes.table_cells import TableCells, arm_header
from tmstarget.tables import cells_frame, whole_or_one_decimal

OPTIONAL_CATEGORIES = {"race": "Race", "ethnicity": "Ethnicity"}


def _category_levels(
    values: pd.Series, column: str, dictionary: Mapping[str, Any] | None
) -> list[tuple[str, str]]:
    """(value, printed label) of a categorical column: the data dictionary's ``Levels`` in
    their order (values not seen are kept: a zero row is information), then values the
    dictionary does not list, in sorted order, as written."""
    entry = dict((dictionary or {}).get(column) or {})
    levels = dict(entry.get("Levels") or {})
    seen = sorted({str(v) for v in values.dropna()})
    ordered = [(str(value), str(label)) for value, label in levels.items()]
    ordered += [(value, value.replace("_", " ")) for value in seen if value not in levels]
    return [(value, label[:1].upper() + label[1:]) for value, label in ordered]


Groups = list[tuple[str, pd.DataFrame]]  # (column key: a role or "all", its participants)


def _summary_numbers(values: pd.Series, kind: str) -> dict[str, float]:
    """Mean and SD (``mean_sd``) or median and quartiles (``median_iqr``) of the values
    present."""
    finite = values.astype(float).dropna()
    if kind == "mean_sd":
        return {
            "value": finite.mean() if len(finite) else math.nan,
            "sd": finite.std(ddof=1) if len(finite) > 1 else math.nan,
        }
    median, q1, q3 = median_iqr(finite)
    return {"value": median, "low": q1, "high": q3}


def _add_summary_row(
    table: TableCells,
    groups: Groups,
    section: str,
    row: str,
    kind: str,
    column: str,
    decimals: int | None = 1,
) -> None:
    """One row of a continuous characteristic; ``decimals=None``: count data, a cell whose
    numbers are all whole prints them without decimals ("4 (2-6)"), any other cell with one
    ("3.5 (2.0-4.3)")."""
    for role, frame in groups:
        numbers = _summary_numbers(frame[column], kind)
        places = whole_or_one_decimal(*numbers.values()) if decimals is None else decimals
        table.add(section, row, role, kind, decimals=places, **numbers)


def _add_category_rows(
    table: TableCells,
    groups: Groups,
    title: str,
    column: str,
    levels: list[tuple[str, str]],
    of_recorded: bool,
) -> None:
    """One No. (%) row per category ``(value, label)``; percentages of the participants
    with a value (``of_recorded``) or of all."""
    for value, label in levels:
        for role, frame in groups:
            total = int(frame[column].notna().sum()) if of_recorded else len(frame)
            count = int((frame[column].astype("string") == value).sum())
            table.add(title, label, role, "n_pct", count=count, total=total, decimals=0)


def _add_optional_categories(
    table: TableCells, groups: Groups, data: pd.DataFrame, dictionary: Mapping[str, Any] | None
) -> list[str]:
    """Race and ethnicity rows for the columns ``data`` has (participants without a value
    as "Not reported"); returns the names shown, in lower case."""
    shown = []
    for column, name in OPTIONAL_CATEGORIES.items():
        if column not in data.columns:
            continue
        shown.append(name.lower())
        title = f"{name}, No. (%)"
        levels = _category_levels(data[column], column, dictionary)
        _add_category_rows(table, groups, title, column, levels, of_recorded=False)
        if data[column].isna().any():
            for role, frame in groups:
                count = int(frame[column].isna().sum())
                table.add(
                    title, "Not reported", role, "n_pct", count=count, total=len(frame), decimals=0
                )
    return shown


def _missing_note(data: pd.DataFrame, column: str, label: str) -> list[str]:
    """The note counting the participants without ``column`` (none when all have it)."""
    n_missing = int(data[column].isna().sum())
    return [f"{label}: missing for {n_missing} participant(s)."] if n_missing else []


# Continuous rows after the categories: (section, row, kind, column, decimals).
_HEAD = "Head measurements, mean (SD), cm"
_CLINICAL_ROWS = [
    ("Clinical", "Failed treatments, median (IQR), No.", "median_iqr", "n_failed_treatments", None),
    ("Clinical", "MADRS total score, mean (SD), points", "mean_sd", "madrs_total", 1),
    (_HEAD, "Nasion-inion distance", "mean_sd", "nasion_inion_cm", 1),
    (_HEAD, "Tragus-tragus distance", "mean_sd", "tragus_tragus_cm", 1),
    (_HEAD, "Head circumference", "mean_sd", "head_circumference_cm", 1),
]


def _table1_notes(shown_categories: list[str], missing_notes: list[str]) -> list[str]:
    notes = [
        "Abbreviation: MADRS, Montgomery-Asberg Depression Rating Scale (0-60; higher is worse).",
        "Head measurements are the inputs of the Beam F3 method. Percentages of sex are of "
        "participants with a recorded value.",
        *missing_notes,
    ]
    if shown_categories:
        notes.insert(
            2,
            f"{' and '.join(shown_categories).capitalize()} as recorded in participants.tsv, with "
            "the categories and labels of its data dictionary (participants.json) where it "
            "lists them; percentages are of all participants in the column.",
        )
    return notes


def table1_baseline(
    participants: pd.DataFrame,
    madrs: pd.DataFrame,
    params: OutcomeParams | None = None,
    dictionary: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Table 1: baseline characteristics by arm and overall (a cell frame, no P values).

    Age, sex, race and ethnicity (only when ``participants.tsv`` has ``race`` /
    ``ethnicity`` columns; categories and their printed labels from the data dictionary
    ``dictionary`` = participants.json, participants without a value as "Not reported"),
    failed treatments (a count: whole numbers print without decimals), baseline MADRS,
    head measurements (cm). Statistics over the participants with a value; missing values
    are counted in a note.
    """
    params = params or OutcomeParams()
    baseline = madrs.loc[
        madrs["session_id"] == params.baseline_visit, ["participant_id", "madrs_total"]
    ]
    data = participants.merge(baseline, on="participant_id", how="left")
    groups = [(role, data[data["arm"] == role]) for role in ARM_ROLES] + [("all", data)]
    headers = {role: arm_header(params, role, len(frame)) for role, frame in groups[:2]}
    headers["all"] = f"All (n = {len(data)})"
    table = TableCells(headers)
    _add_summary_row(table, groups, "", "Age, mean (SD), y", "mean_sd", "age")
    missing_notes = _missing_note(data, "age", "Age")
    sexes = [("F", "Female"), ("M", "Male")]
    _add_category_rows(table, groups, "Sex, No. (%)", "sex", sexes, of_recorded=True)
    missing_notes += _missing_note(data, "sex", "Sex")
    shown_categories = _add_optional_categories(table, groups, data, dictionary)
    for section, row, kind, column, decimals in _CLINICAL_ROWS:
        _add_summary_row(table, groups, section, row, kind, column, decimals)
        missing_notes += _missing_note(data, column, row.split(",")[0])
    return cells_frame(
        table.cells,
        caption="Table 1. Baseline Characteristics of the Participants by Arm",
        notes=_table1_notes(shown_categories, missing_notes),
        row_header="Characteristic",
    )
