"""Blinding (guesses and Bang's index per assessor and arm), safety (adverse events by
arm), and Table 3, which prints both."""

from __future__ import annotations

from typing import Any

import pandas as pd

from tmstarget.clinical import ARM_ROLES, DONT_KNOW
from tmstarget.outcomes.params import CONTROL, EXPERIMENTAL, OutcomeParams
from tmstarget.outcomes.statistics import bang_blinding_index, fisher_exact_p
from tmstarget.outcomes.table_cells import TableCells, arm_header, percent_label
from tmstarget.tables import cells_frame


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


_ADVERSE_EVENTS = "Adverse events, participants with ≥1 event, No./total No. (%)"


def _blinding_title(assessor: str) -> str:
    """The section of an assessor's guesses (``participant`` or ``rater``)."""
    return f"Blinding: {assessor}s' guess, No./total No. (%)"


def _add_not_recorded(table: TableCells, section: str, row: str) -> None:
    for role in ARM_ROLES:
        table.add(section, row, role, "text", text="Not recorded")


def _add_blinding_rows(
    table: TableCells, summary: pd.DataFrame, assessor: str, params: OutcomeParams
) -> None:
    """An assessor's guesses by arm (not answered only when someone did not answer) and
    Bang's index with its CI."""
    title = _blinding_title(assessor)
    part = summary[summary["assessor"] == assessor].set_index("arm")
    labels = [
        ("guessed_connectivity", f"Guessed {params.arm_name(EXPERIMENTAL)}"),
        ("guessed_scalp", f"Guessed {params.arm_name(CONTROL)}"),
        ("dont_know", "Don't know"),
    ]
    for key, label in labels:
        guesses = {
            role: {"count": part.at[role, key], "total": part.at[role, "n"]} for role in ARM_ROLES
        }
        table.add_row(title, label, "n_total_pct", guesses, decimals=0)
    if part["not_answered"].sum():
        unanswered = {role: {"count": part.at[role, "not_answered"]} for role in ARM_ROLES}
        table.add_row(title, "Not answered", "count", unanswered)
    index = {
        role: {
            "value": part.at[role, "bang_bi"],
            "low": part.at[role, "low"],
            "high": part.at[role, "high"],
        }
        for role in ARM_ROLES
    }
    row = f"Bang blinding index ({percent_label(params.confidence)} CI)"
    table.add_row(title, row, "estimate_ci", index, decimals=2)


def _add_safety_rows(table: TableCells, safety: pd.DataFrame) -> None:
    """Participants with each kind of event by arm (Fisher's P for any event), then the
    total number of events."""
    for record in safety.to_dict("records"):
        counts = {
            role: {"count": record[f"participants_{role}"], "total": record[f"total_{role}"]}
            for role in ARM_ROLES
        }
        table.add_row(_ADVERSE_EVENTS, record["label"], "n_total_pct", counts, decimals=0)
        if record["item"] == "any":
            table.add(_ADVERSE_EVENTS, record["label"], "p", "p", value=record["p_value"])
    any_row = safety[safety["item"] == "any"].iloc[0]
    events = {role: {"count": any_row[f"events_{role}"]} for role in ARM_ROLES}
    table.add_row(_ADVERSE_EVENTS, "Events, total No.", "count", events)


def _table3_footnotes(
    blinding_shown: bool, safety_shown: bool, params: OutcomeParams
) -> tuple[list[tuple[str, str]], list[tuple[str, str, str | None, str]]]:
    """(footnotes, markers): Bang's index (on both assessors' rows) and Fisher's test."""
    ci = percent_label(params.confidence)
    footnotes = []
    markers = []
    if blinding_shown:
        footnotes.append(
            (
                "a",
                "Bang blinding index per arm = (correct - incorrect guesses)/answers (Bang et al, "
                f"2004) with Tango's score {ci} CI (within -1 to 1): 0 is random guessing, 1 "
                "complete unblinding, -1 opposite guessing; values within -0.2 to 0.2 are "
                "usually read as successful blinding.",
            )
        )
        for assessor in ("participant", "rater"):
            markers.append((_blinding_title(assessor), f"Bang blinding index ({ci} CI)", None, "a"))
    if safety_shown:
        letter = "b" if footnotes else "a"
        footnotes.append((letter, "P value: Fisher's exact test."))
        markers.append((_ADVERSE_EVENTS, "Any adverse event", "p", letter))
    return footnotes, markers


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
    table = TableCells({**headers, "p": "P value"})
    if blinding is None:
        _add_not_recorded(table, "Blinding", "Blinding questionnaire")
    else:
        summary = blinding_summary(participants, blinding, params)
        for assessor in ("participant", "rater"):
            _add_blinding_rows(table, summary, assessor, params)
    if adverse_events is None:
        _add_not_recorded(table, _ADVERSE_EVENTS, "Adverse events")
    else:
        _add_safety_rows(table, safety_summary(participants, adverse_events))
    notes = [
        "Guesses: denominators are the participants who answered in each arm (don't know "
        "included). Seizures and serious adverse events are listed even when none occurred.",
    ]
    footnotes, markers = _table3_footnotes(blinding is not None, adverse_events is not None, params)
    return cells_frame(
        table.cells,
        caption="Table 3. Blinding and Safety",
        notes=notes,
        row_header="Measure",
        markers=markers,
        footnotes=footnotes,
    )
