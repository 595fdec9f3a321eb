"""Blinding (guesses and Bang's index per assessor and arm), safety (adverse events by
arm), and Table 3, which prints both."""

from __future__ import annotations

from typing import Any

import pandas as pd

from tmstarget.clinical import (
    ARM_ROLES,
    DONT_KNOW,
)
from tmstarget.outcomes.params import CONTROL, EXPERIMENTAL, OutcomeParams
from tmstarget.outcomes.statistics import bang_blinding_index, fisher_exact_p
from tmstarget.outcomes.table_cells import arm_header, percent_label
from tmstarget.tables import cell, cells_frame


def blinding_summary(
    participants: pd.DataFrame, blinding: pd.DataFrame, params: OutcomeParams | None = None
) -> pd.DataFrame:
    """Guesses and Bang's blinding index per assessor (participant, rater) and arm.

    Columns: assessor, arm, guessed_connectivity, guessed_scalp, dont_know, not_answered,
    n (answered, incl. don't know), correct, incorrect, bang_bi, low, high, se.
    """
    params = params or OutcomeParams()
    data = participants[["participant_id", "arm"]].merge(blinding, on="participant_id", how="left")
    rows = []
    for assessor, column in (("participant", "participant_guess"), ("rater", "rater_guess")):
        for role in ARM_ROLES:
            guesses = data.loc[data["arm"] == role, column]
            counts = {
                "guessed_connectivity": int((guesses == EXPERIMENTAL).sum()),
                "guessed_scalp": int((guesses == CONTROL).sum()),
                "dont_know": int((guesses == DONT_KNOW).sum()),
                "not_answered": int(guesses.isna().sum()),
            }
            correct = counts[f"guessed_{role}"]
            other = CONTROL if role == EXPERIMENTAL else EXPERIMENTAL
            incorrect = counts[f"guessed_{other}"]
            bi = bang_blinding_index(correct, incorrect, counts["dont_know"], params.confidence)
            rows.append(
                {
                    "assessor": assessor,
                    "arm": role,
                    **counts,
                    "n": correct + incorrect + counts["dont_know"],
                    "correct": correct,
                    "incorrect": incorrect,
                    "bang_bi": bi.estimate,
                    "low": bi.low,
                    "high": bi.high,
                    "se": bi.se,
                }
            )
    return pd.DataFrame(rows)


def _event_label(event_type: str) -> str:
    text = str(event_type).replace("_", " ")
    return text[:1].upper() + text[1:]


def safety_summary(participants: pd.DataFrame, adverse_events: pd.DataFrame) -> pd.DataFrame:
    """Adverse events by arm: participants with >= 1 event and number of events.

    Rows: ``any`` (any event), ``serious``, ``severe``, ``seizure`` (always present, also
    when zero), then every event type seen (most frequent first, then by name).
    Columns: item, label, participants_<role>, events_<role>, total_<role>, p_value
    (Fisher exact on participants with >= 1 event).
    """
    totals = {role: int((participants["arm"] == role).sum()) for role in ARM_ROLES}
    events = adverse_events.merge(participants[["participant_id", "arm"]], on="participant_id")
    items: list[tuple[str, str, pd.Series]] = [
        ("any", "Any adverse event", pd.Series(True, index=events.index)),
        ("serious", "Serious adverse event", events["serious"] == "yes"),
        ("severe", "Severe adverse event", events["severity"] == "severe"),
        ("seizure", "Seizure", events["event_type"] == "seizure"),
    ]
    frequency = events.groupby("event_type")["participant_id"].nunique()
    ordered = sorted(frequency.index, key=lambda name: (-frequency[name], name))
    items += [
        (f"type:{name}", _event_label(name), events["event_type"] == name)
        for name in ordered
        if name != "seizure"
    ]
    rows = []
    for item, label, mask in items:
        row: dict[str, Any] = {"item": item, "label": label}
        selected = events[mask.to_numpy(dtype=bool)] if len(events) else events
        for role in ARM_ROLES:
            in_arm = selected[selected["arm"] == role]
            row[f"participants_{role}"] = int(in_arm["participant_id"].nunique())
            row[f"events_{role}"] = len(in_arm)
            row[f"total_{role}"] = totals[role]
        row["p_value"] = fisher_exact_p(
            row[f"participants_{EXPERIMENTAL}"],
            totals[EXPERIMENTAL],
            row[f"participants_{CONTROL}"],
            totals[CONTROL],
        )
        rows.append(row)
    return pd.DataFrame(rows)


def table3_blinding_safety(
    participants: pd.DataFrame,
    blinding: pd.DataFrame | None,
    adverse_events: pd.DataFrame | None,
    params: OutcomeParams | None = None,
) -> pd.DataFrame:
    """Table 3: blinding (guesses, Bang's index per arm) and safety (events by arm)."""
    params = params or OutcomeParams()
    totals = {role: int((participants["arm"] == role).sum()) for role in ARM_ROLES}
    headers = {role: arm_header(params, role, totals[role]) for role in ARM_ROLES}
    cells = []
    ci = percent_label(params.confidence)
    if blinding is None:
        for role in ARM_ROLES:
            cells.append(
                cell(
                    "Blinding",
                    "Blinding questionnaire",
                    role,
                    "text",
                    column_label=headers[role],
                    text="Not recorded",
                )
            )
    else:
        summary = blinding_summary(participants, blinding, params)
        for assessor, title in (
            ("participant", "Blinding: participants' guess, No./total No. (%)"),
            ("rater", "Blinding: raters' guess, No./total No. (%)"),
        ):
            part = summary[summary["assessor"] == assessor].set_index("arm")
            show_missing = bool(part["not_answered"].sum())
            labels = [
                ("guessed_connectivity", f"Guessed {params.arm_name(EXPERIMENTAL)}"),
                ("guessed_scalp", f"Guessed {params.arm_name(CONTROL)}"),
                ("dont_know", "Don't know"),
            ]
            for key, label in labels:
                for role in ARM_ROLES:
                    cells.append(
                        cell(
                            title,
                            label,
                            role,
                            "n_total_pct",
                            column_label=headers[role],
                            count=part.at[role, key],
                            total=part.at[role, "n"],
                            decimals=0,
                        )
                    )
            if show_missing:
                for role in ARM_ROLES:
                    cells.append(
                        cell(
                            title,
                            "Not answered",
                            role,
                            "count",
                            column_label=headers[role],
                            count=part.at[role, "not_answered"],
                        )
                    )
            for role in ARM_ROLES:
                cells.append(
                    cell(
                        title,
                        f"Bang blinding index ({ci} CI)",
                        role,
                        "estimate_ci",
                        column_label=headers[role],
                        value=part.at[role, "bang_bi"],
                        low=part.at[role, "low"],
                        high=part.at[role, "high"],
                        decimals=2,
                    )
                )
    title = "Adverse events, participants with ≥1 event, No./total No. (%)"
    if adverse_events is None:
        for role in ARM_ROLES:
            cells.append(
                cell(
                    title,
                    "Adverse events",
                    role,
                    "text",
                    column_label=headers[role],
                    text="Not recorded",
                )
            )
    else:
        safety = safety_summary(participants, adverse_events)
        for record in safety.to_dict("records"):
            for role in ARM_ROLES:
                cells.append(
                    cell(
                        title,
                        record["label"],
                        role,
                        "n_total_pct",
                        column_label=headers[role],
                        count=record[f"participants_{role}"],
                        total=record[f"total_{role}"],
                        decimals=0,
                    )
                )
            if record["item"] == "any":
                cells.append(
                    cell(
                        title,
                        record["label"],
                        "p",
                        "p",
                        column_label="P value",
                        value=record["p_value"],
                    )
                )
        any_row = safety[safety["item"] == "any"].iloc[0]
        for role in ARM_ROLES:
            cells.append(
                cell(
                    title,
                    "Events, total No.",
                    role,
                    "count",
                    column_label=headers[role],
                    count=any_row[f"events_{role}"],
                )
            )
    notes = [
        "Guesses: denominators are the participants who answered in each arm (don't know "
        "included). Seizures and serious adverse events are listed even when none occurred.",
    ]
    footnotes = []
    markers = []
    if blinding is not None:
        footnotes.append(
            (
                "a",
                "Bang blinding index per arm = (correct - incorrect guesses)/answers (Bang et al, "
                f"2004) with Tango's score {ci} CI (within -1 to 1): 0 is random guessing, 1 "
                "complete unblinding, -1 opposite guessing; values within -0.2 to 0.2 are "
                "usually read as successful blinding.",
            )
        )
        for assessor in ("participants'", "raters'"):
            section = f"Blinding: {assessor} guess, No./total No. (%)"
            markers.append((section, f"Bang blinding index ({ci} CI)", None, "a"))
    if adverse_events is not None:
        letter = "b" if footnotes else "a"
        footnotes.append((letter, "P value: Fisher's exact test."))
        markers.append((title, "Any adverse event", "p", letter))
    return cells_frame(
        cells,
        caption="Table 3. Blinding and Safety",
        notes=notes,
        row_header="Measure",
        markers=markers,
        footnotes=footnotes,
    )
