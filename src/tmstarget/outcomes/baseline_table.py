"""Table 1: baseline characteristics by arm and overall."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from tmstarget.clinical import (
    ARM_ROLES,
)
from tmstarget.outcomes.params import OutcomeParams
from tmstarget.outcomes.statistics import median_iqr
from tmstarget.outcomes.table_cells import arm_header
from tmstarget.tables import cell, cells_frame, whole_or_one_decimal

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
    cells = []
    missing_notes = []

    def add(section: str, row: str, kind: str, column_name: str, decimals: int | None = 1) -> None:
        """One row; ``decimals=None``: count data, a cell whose numbers are all whole prints
        them without decimals ("4 (2-6)"), any other cell with one ("3.5 (2.0-4.3)")."""
        per_group = {}
        for role, frame in groups:
            finite = frame[column_name].astype(float).dropna()
            if kind == "mean_sd":
                per_group[role] = {
                    "value": finite.mean() if len(finite) else math.nan,
                    "sd": finite.std(ddof=1) if len(finite) > 1 else math.nan,
                }
            else:
                median, q1, q3 = median_iqr(finite)
                per_group[role] = {"value": median, "low": q1, "high": q3}
        for role, _ in groups:
            places = (
                whole_or_one_decimal(*per_group[role].values()) if decimals is None else decimals
            )
            cells.append(
                cell(
                    section,
                    row,
                    role,
                    kind,
                    column_label=headers[role],
                    decimals=places,
                    **per_group[role],
                )
            )
        n_missing = int(data[column_name].isna().sum())
        if n_missing:
            missing_notes.append(f"{row.split(',')[0]}: missing for {n_missing} participant(s).")

    def categories(
        title: str, column: str, levels: list[tuple[str, str]], of_recorded: bool
    ) -> None:
        for value, label in levels:
            for role, frame in groups:
                total = int(frame[column].notna().sum()) if of_recorded else len(frame)
                cells.append(
                    cell(
                        title,
                        label,
                        role,
                        "n_pct",
                        column_label=headers[role],
                        count=int((frame[column].astype("string") == value).sum()),
                        total=total,
                        decimals=0,
                    )
                )

    add("", "Age, mean (SD), y", "mean_sd", "age")
    categories("Sex, No. (%)", "sex", [("F", "Female"), ("M", "Male")], of_recorded=True)
    if data["sex"].isna().any():
        missing_notes.append(f"Sex: missing for {int(data['sex'].isna().sum())} participant(s).")
    shown_categories = []
    for column, name in OPTIONAL_CATEGORIES.items():
        if column not in data.columns:
            continue
        shown_categories.append(name.lower())
        levels = _category_levels(data[column], column, dictionary)
        title = f"{name}, No. (%)"
        categories(title, column, levels, of_recorded=False)
        if data[column].isna().any():
            for role, frame in groups:
                cells.append(
                    cell(
                        title,
                        "Not reported",
                        role,
                        "n_pct",
                        column_label=headers[role],
                        count=int(frame[column].isna().sum()),
                        total=len(frame),
                        decimals=0,
                    )
                )
    add(
        "Clinical",
        "Failed treatments, median (IQR), No.",
        "median_iqr",
        "n_failed_treatments",
        None,
    )
    add("Clinical", "MADRS total score, mean (SD), points", "mean_sd", "madrs_total")
    add("Head measurements, mean (SD), cm", "Nasion-inion distance", "mean_sd", "nasion_inion_cm")
    add("Head measurements, mean (SD), cm", "Tragus-tragus distance", "mean_sd", "tragus_tragus_cm")
    add(
        "Head measurements, mean (SD), cm", "Head circumference", "mean_sd", "head_circumference_cm"
    )
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
    return cells_frame(
        cells,
        caption="Table 1. Baseline Characteristics of the Participants by Arm",
        notes=notes,
        row_header="Characteristic",
    )
