"""Load and validate the clinical tables of a BIDS dataset.

Files read (relative to the dataset root; BIDS ``n/a`` marks a missing value):

- ``participants.tsv``: participant_id, arm, age (years), sex (F/M), n_failed_treatments,
  nasion_inion_cm, tragus_tragus_cm, head_circumference_cm. Optional: ``race`` and
  ``ethnicity`` (categories as the trial recorded them; Table 1 shows them when present).
  Extra columns are kept. Its data dictionary ``participants.json`` (BIDS) is read when it
  exists: the ``Levels`` of ``race``/``ethnicity`` give the categories' order and printed
  labels, and a value that is not one of the listed levels is an error.
- ``phenotype/madrs.tsv`` (long): participant_id, session_id (visit label, an optional
  ``ses-`` prefix is dropped), days_since_baseline (days, baseline = 0), madrs_total (0-60).
  A row whose madrs_total is ``n/a`` is a missed visit and is dropped.
- ``phenotype/blinding.tsv`` (optional): participant_id, participant_guess, rater_guess;
  each an arm label, ``dont_know`` or ``n/a`` (not asked / not answered).
- ``phenotype/adverse_events.tsv`` (optional): one row per event; participant_id,
  event_type, severity (mild|moderate|severe), serious (yes|no). A participant without
  events has no row. A missing file means "not recorded" (``None``), which is not the
  same as "no events" (a file with a header only).

Arms: the files carry arm *labels*; the config maps the two *roles* ``connectivity``
(experimental) and ``scalp`` (control) to labels. Loaded frames hold the role in ``arm``
(and the label as written in ``arm_label``), so that everything downstream, colours
included, works on roles. Blinding guesses are translated the same way.

Every problem stops loading with a :class:`ClinicalDataError` that names the file, the
participant and the column, and says how to fix it. All problems of one kind are listed
together, so one run shows everything that needs fixing in that check.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

# The arms' and visits' names are spelled in tmstarget.vocabulary (importable from here too).
from tmstarget.vocabulary import (
    ARM_ROLES,
    DEFAULT_ARM_LABELS,
    DEFAULT_BASELINE_VISIT,
    DEFAULT_VISITS,
)

DONT_KNOW = "dont_know"
MADRS_RANGE = (0, 60)
SEVERITIES = ("mild", "moderate", "severe")

PARTICIPANTS_FILE = "participants.tsv"
MADRS_FILE = "phenotype/madrs.tsv"
BLINDING_FILE = "phenotype/blinding.tsv"
ADVERSE_EVENTS_FILE = "phenotype/adverse_events.tsv"

_PARTICIPANT_ID = re.compile(r"^sub-[A-Za-z0-9]+$")
_MAX_LISTED = 20
# Plausibility bounds: values outside are typing errors, not unusual people.
_AGE_RANGE_YEARS = (0, 120)
_HEAD_RANGE_CM = (5.0, 100.0)
# The head measurements of participants.tsv that place Beam F3 (cm).
HEAD_MEASUREMENT_COLUMNS = ("nasion_inion_cm", "tragus_tragus_cm", "head_circumference_cm")


class ClinicalDataError(ValueError):
    """A clinical table is missing, malformed or contradicts the config."""


OPTIONAL_CATEGORY_COLUMNS = ("race", "ethnicity")


@dataclass(frozen=True)
class ClinicalData:
    """The validated clinical tables of one dataset (see the module docstring);
    ``participants_dictionary`` is participants.json ({} when there is none)."""

    participants: pd.DataFrame
    madrs: pd.DataFrame
    blinding: pd.DataFrame | None
    adverse_events: pd.DataFrame | None
    participants_dictionary: dict | None = None


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------


def _fail(file: str, problems: Sequence[str], fix: str) -> None:
    if not problems:
        return
    shown = list(problems[:_MAX_LISTED])
    if len(problems) > _MAX_LISTED:
        shown.append(f"... and {len(problems) - _MAX_LISTED} more")
    if len(shown) == 1:
        message = f"{file}: {shown[0]}. {fix}"
    else:
        listing = "\n".join(f"  - {problem}" for problem in shown)
        message = f"{file}: {len(problems)} problems:\n{listing}\n{fix}"
    raise ClinicalDataError(message)


def _read_tsv(path: Path, file: str) -> pd.DataFrame:
    if not path.is_file():
        raise ClinicalDataError(f"{file}: file not found at {path}. Fix: check the BIDS root.")
    try:
        frame = pd.read_csv(
            path, sep="\t", dtype=str, keep_default_na=False, na_values=["n/a", "", "NA"]
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise ClinicalDataError(
            f"{file}: cannot be read as a tab-separated table ({error}). "
            "Fix: save it as UTF-8 TSV with one header line."
        ) from error
    frame.columns = [str(column).strip() for column in frame.columns]
    for column in frame.columns:
        frame[column] = frame[column].str.strip()
    return frame


def _require_columns(frame: pd.DataFrame, required: Sequence[str], file: str) -> None:
    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise ClinicalDataError(
            f"{file}: missing column(s) {', '.join(missing)}; found {', '.join(frame.columns)}. "
            "Fix: add the column(s) with these exact names (see the .json data dictionary)."
        )


def _who(frame: pd.DataFrame, index: int) -> str:
    participant = frame.at[index, "participant_id"]
    if pd.isna(participant):
        return f"row {index + 2}"  # +1 header, +1 one-based
    return f"participant {participant}"


def _check_participant_ids(frame: pd.DataFrame, file: str) -> None:
    problems = [
        f"row {index + 2}, column participant_id: {value!r} is not of the form sub-<label>"
        for index, value in frame["participant_id"].items()
        if pd.isna(value) or not _PARTICIPANT_ID.match(str(value))
    ]
    _fail(file, problems, "Fix: write participant IDs as sub-<alphanumeric label>, e.g. sub-01.")


def _check_known_participants(frame: pd.DataFrame, known: set[str], file: str) -> None:
    unknown = sorted(set(frame["participant_id"]) - known)
    problems = [
        f"participant {participant}, column participant_id: not listed in {PARTICIPANTS_FILE}"
        for participant in unknown
    ]
    _fail(file, problems, f"Fix: add the participant to {PARTICIPANTS_FILE} or correct the ID.")


def _integer_column(
    frame: pd.DataFrame,
    column: str,
    file: str,
    bounds: tuple[float, float] | None,
    allow_missing: bool,
    what: str,
) -> pd.Series:
    """Parse ``column`` as whole numbers (float64, NaN for missing) or stop."""
    numbers = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    problems = []
    for index, raw in frame[column].items():
        number = numbers[index]
        if pd.isna(raw):
            if not allow_missing:
                problems.append(f"{_who(frame, index)}, column {column}: value is missing (n/a)")
            continue
        if np.isnan(number) or number != np.round(number):
            problems.append(f"{_who(frame, index)}, column {column}: {raw!r} is not a whole number")
        elif bounds is not None and not bounds[0] <= number <= bounds[1]:
            problems.append(
                f"{_who(frame, index)}, column {column}: {raw} is outside "
                f"{bounds[0]:g}-{bounds[1]:g}"
            )
    _fail(file, problems, f"Fix: {what}")
    return numbers


def _float_column(
    frame: pd.DataFrame, column: str, file: str, bounds: tuple[float, float], what: str
) -> pd.Series:
    numbers = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    problems = []
    for index, raw in frame[column].items():
        if pd.isna(raw):
            continue
        number = numbers[index]
        if np.isnan(number):
            problems.append(f"{_who(frame, index)}, column {column}: {raw!r} is not a number")
        elif not bounds[0] <= number <= bounds[1]:
            problems.append(
                f"{_who(frame, index)}, column {column}: {raw} is outside "
                f"{bounds[0]:g}-{bounds[1]:g}"
            )
    _fail(file, problems, f"Fix: {what}")
    return numbers


def _check_duplicates(frame: pd.DataFrame, keys: Sequence[str], file: str, fix: str) -> None:
    duplicated = frame[frame.duplicated(list(keys), keep="first")]
    problems = []
    for index in duplicated.index:
        detail = ", ".join(f"{key} {frame.at[index, key]}" for key in keys[1:])
        where = f" ({detail})" if detail else ""
        problems.append(f"{_who(frame, index)}, column {keys[-1]}: duplicate row{where}")
    _fail(file, problems, fix)


def validate_arm_labels(arm_labels: Mapping[str, str]) -> dict[str, str]:
    """Check the config mapping role -> label and return it as a plain dict.

    Both roles (``connectivity``, ``scalp``) must be present, labels must be distinct,
    non-empty and not ``dont_know``.
    """
    labels = dict(arm_labels)
    if set(labels) != set(ARM_ROLES):
        raise ClinicalDataError(
            f"trial.arm_labels: needs exactly the roles {', '.join(ARM_ROLES)}; got "
            f"{', '.join(map(str, labels)) or 'nothing'}. Fix: map each role to its label."
        )
    values = [str(labels[role]).strip() for role in ARM_ROLES]
    if len(set(values)) != len(values) or any(not v or v == DONT_KNOW for v in values):
        raise ClinicalDataError(
            f"trial.arm_labels: labels must be distinct, non-empty and not {DONT_KNOW!r}; "
            f"got {labels}. Fix: give each arm its own label."
        )
    return dict(zip(ARM_ROLES, values, strict=True))


def validate_visits(visits: Sequence[str], baseline_visit: str) -> tuple[str, ...]:
    """Check the configured visit order: unique names, baseline first."""
    visits = tuple(str(visit) for visit in visits)
    if len(visits) < 2 or len(set(visits)) != len(visits):
        raise ClinicalDataError(
            f"config visits: need at least two distinct visit labels in time order; got {visits}."
        )
    if visits[0] != baseline_visit:
        raise ClinicalDataError(
            f"config visits: the first visit must be the baseline visit {baseline_visit!r}; "
            f"got {visits[0]!r}. Fix: list visits in time order, baseline first."
        )
    return visits


# --------------------------------------------------------------------------------------
# per-file validation (frames in, validated frames out)
# --------------------------------------------------------------------------------------


def _participant_rows(raw: pd.DataFrame, required: Sequence[str], file: str) -> pd.DataFrame:
    """A copy of participants.tsv as read, once its ``required`` columns, IDs and
    uniqueness are checked."""
    _require_columns(raw, required, file)
    frame = raw.copy()
    _check_participant_ids(frame, file)
    _check_duplicates(
        frame,
        ["participant_id"],
        file,
        "Fix: each participant must appear once; remove or renumber the repeated row.",
    )
    return frame


def _parse_head_measurements(frame: pd.DataFrame, file: str) -> None:
    """Parse the head measurement columns in place (cm, NaN for n/a) or stop."""
    for column in HEAD_MEASUREMENT_COLUMNS:
        frame[column] = _float_column(
            frame, column, file, _HEAD_RANGE_CM, "write head measurements in cm (or n/a)."
        )


def validate_participants(
    raw: pd.DataFrame, arm_labels: Mapping[str, str] = DEFAULT_ARM_LABELS
) -> pd.DataFrame:
    """Validate ``participants.tsv`` (as read, all strings) and translate arms to roles.

    Returns a copy with ``arm`` (role), ``arm_label`` (label as written), numeric columns as
    float64 (NaN for ``n/a``), sorted by participant_id.
    """
    file = PARTICIPANTS_FILE
    labels = validate_arm_labels(arm_labels)
    role_of_label = {label: role for role, label in labels.items()}
    required = (
        "participant_id",
        "arm",
        "age",
        "sex",
        "n_failed_treatments",
        "nasion_inion_cm",
        "tragus_tragus_cm",
        "head_circumference_cm",
    )
    frame = _participant_rows(raw, required, file)
    problems = [
        f"{_who(frame, index)}, column arm: unknown arm label {value!r}"
        f" (configured labels: {', '.join(labels.values())})"
        for index, value in frame["arm"].items()
        if value not in role_of_label
    ]
    _fail(
        file,
        problems,
        "Fix: correct the label, or set trial.arm_labels in the config to the labels this "
        "dataset uses.",
    )
    problems = [
        f"{_who(frame, index)}, column sex: {value!r} is not F or M"
        for index, value in frame["sex"].items()
        if not pd.isna(value) and value not in ("F", "M")
    ]
    _fail(file, problems, "Fix: write F, M, or n/a when not recorded.")
    frame["age"] = _integer_column(
        frame, "age", file, _AGE_RANGE_YEARS, True, "write age in whole years (or n/a)."
    )
    frame["n_failed_treatments"] = _integer_column(
        frame,
        "n_failed_treatments",
        file,
        (0, 100),
        True,
        "write the number of failed treatments as a whole number >= 0 (or n/a).",
    )
    _parse_head_measurements(frame, file)
    frame["arm_label"] = frame["arm"]
    frame["arm"] = frame["arm"].map(role_of_label)
    for role in ARM_ROLES:
        if not (frame["arm"] == role).any():
            raise ClinicalDataError(
                f"{file}: column arm: no participant in arm {labels[role]!r} (role {role}). "
                "Fix: check trial.arm_labels in the config against the labels in the file."
            )
    return frame.sort_values("participant_id", kind="stable").reset_index(drop=True)


def validate_madrs(
    raw: pd.DataFrame,
    participants: pd.DataFrame,
    visits: Sequence[str] = DEFAULT_VISITS,
    baseline_visit: str = DEFAULT_BASELINE_VISIT,
) -> pd.DataFrame:
    """Validate ``phenotype/madrs.tsv`` against the configured visits and participants.

    Checks: known participants; known visits; one row per participant and visit; whole
    scores within 0-60 (n/a = missed visit, dropped); whole days; baseline present with
    day 0 for every participant; days never decreasing along the configured visit order.
    Returns participant_id, session_id (visit), days_since_baseline (int64),
    madrs_total (int64), sorted by participant then visit order.
    """
    file = MADRS_FILE
    visits = validate_visits(visits, baseline_visit)
    _require_columns(
        raw, ("participant_id", "session_id", "days_since_baseline", "madrs_total"), file
    )
    frame = raw.copy()
    _check_participant_ids(frame, file)
    _check_known_participants(frame, set(participants["participant_id"]), file)
    frame["session_id"] = frame["session_id"].str.replace(r"^ses-", "", regex=True)
    problems = [
        f"{_who(frame, index)}, column session_id: unknown visit {value!r}"
        for index, value in frame["session_id"].items()
        if value not in visits
    ]
    _fail(
        file,
        problems,
        f"Fix: use one of the configured visits ({', '.join(visits)}) or add the visit to the "
        "config visit list.",
    )
    _check_duplicates(
        frame,
        ["participant_id", "session_id"],
        file,
        "Fix: keep one MADRS rating per participant and visit.",
    )
    frame["madrs_total"] = _integer_column(
        frame,
        "madrs_total",
        file,
        MADRS_RANGE,
        True,
        "MADRS totals are whole numbers 0-60; correct the score, or write n/a for a missed visit.",
    )
    frame = frame[frame["madrs_total"].notna()].copy()
    frame["days_since_baseline"] = _integer_column(
        frame,
        "days_since_baseline",
        file,
        None,
        False,
        "give the day of every rated visit as whole days since baseline.",
    )
    order = {visit: position for position, visit in enumerate(visits)}
    frame["_order"] = frame["session_id"].map(order)
    frame = frame.sort_values(["participant_id", "_order"], kind="stable")

    has_baseline = set(frame.loc[frame["session_id"] == baseline_visit, "participant_id"])
    problems = [
        f"participant {participant}, column session_id: no {baseline_visit} rating"
        for participant in participants["participant_id"]
        if participant not in has_baseline
    ]
    _fail(
        file,
        problems,
        f"Fix: every randomised participant needs a {baseline_visit} MADRS (the change from "
        "baseline is undefined without it); add the rating or remove the participant.",
    )
    baseline_rows = frame[frame["session_id"] == baseline_visit]
    problems = [
        f"participant {row.participant_id}, column days_since_baseline: "
        f"{baseline_visit} is on day {row.days_since_baseline:g}, not 0"
        for row in baseline_rows.itertuples()
        if row.days_since_baseline != 0
    ]
    _fail(file, problems, "Fix: count days from the baseline visit (baseline = day 0).")

    problems = []
    for participant, rows in frame.groupby("participant_id", sort=True):
        days = rows["days_since_baseline"].to_numpy()
        sessions = rows["session_id"].to_numpy()
        for k in range(1, len(days)):
            if days[k] < days[k - 1]:
                problems.append(
                    f"participant {participant}, column days_since_baseline: visit "
                    f"{sessions[k]!r} (day {days[k]:g}) is before {sessions[k - 1]!r} "
                    f"(day {days[k - 1]:g}) although it comes later in the visit order"
                )
    _fail(
        file,
        problems,
        f"Fix: correct the days or the visit labels; visits must follow the configured order "
        f"({', '.join(visits)}).",
    )
    frame["days_since_baseline"] = frame["days_since_baseline"].astype("int64")
    frame["madrs_total"] = frame["madrs_total"].astype("int64")
    columns = ["participant_id", "session_id", "days_since_baseline", "madrs_total"]
    return frame[columns].reset_index(drop=True)


def validate_blinding(
    raw: pd.DataFrame,
    participants: pd.DataFrame,
    arm_labels: Mapping[str, str] = DEFAULT_ARM_LABELS,
) -> pd.DataFrame:
    """Validate ``phenotype/blinding.tsv``; guesses become roles, ``dont_know`` or NaN."""
    file = BLINDING_FILE
    labels = validate_arm_labels(arm_labels)
    role_of_label = {label: role for role, label in labels.items()}
    role_of_label[DONT_KNOW] = DONT_KNOW
    _require_columns(raw, ("participant_id", "participant_guess", "rater_guess"), file)
    frame = raw.copy()
    _check_participant_ids(frame, file)
    _check_known_participants(frame, set(participants["participant_id"]), file)
    _check_duplicates(
        frame, ["participant_id"], file, "Fix: keep one blinding row per participant."
    )
    for column in ("participant_guess", "rater_guess"):
        problems = [
            f"{_who(frame, index)}, column {column}: {value!r} is neither an arm label nor "
            f"{DONT_KNOW}"
            for index, value in frame[column].items()
            if not pd.isna(value) and value not in role_of_label
        ]
        _fail(
            file,
            problems,
            f"Fix: write one of {', '.join(labels.values())}, {DONT_KNOW}, or n/a if not asked.",
        )
        frame[column] = frame[column].map(role_of_label)
    frame = frame[["participant_id", "participant_guess", "rater_guess"]]
    return frame.sort_values("participant_id", kind="stable").reset_index(drop=True)


def validate_adverse_events(raw: pd.DataFrame, participants: pd.DataFrame) -> pd.DataFrame:
    """Validate ``phenotype/adverse_events.tsv``; severity/serious become lower case."""
    file = ADVERSE_EVENTS_FILE
    _require_columns(raw, ("participant_id", "event_type", "severity", "serious"), file)
    frame = raw.copy()
    if frame.empty:
        return frame[["participant_id", "event_type", "severity", "serious"]].astype(str)
    _check_participant_ids(frame, file)
    _check_known_participants(frame, set(participants["participant_id"]), file)
    problems = [
        f"{_who(frame, index)}, column event_type: missing"
        for index, value in frame["event_type"].items()
        if pd.isna(value)
    ]
    _fail(file, problems, "Fix: name every event (e.g. headache, scalp_discomfort, seizure).")
    frame["event_type"] = frame["event_type"].str.lower()
    for column, allowed in (("severity", SEVERITIES), ("serious", ("yes", "no"))):
        frame[column] = frame[column].str.lower()
        problems = [
            f"{_who(frame, index)}, column {column}: {value!r} is not one of {', '.join(allowed)}"
            for index, value in frame[column].items()
            if value not in allowed
        ]
        _fail(file, problems, f"Fix: write {column} as one of {', '.join(allowed)}.")
    frame = frame[["participant_id", "event_type", "severity", "serious"]]
    return frame.sort_values(["participant_id", "event_type"], kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------------------
# loading
# --------------------------------------------------------------------------------------


def load_participants_dictionary(bids_root: str | Path) -> dict:
    """``participants.json`` (the data dictionary of participants.tsv), {} if absent."""
    path = Path(bids_root) / PARTICIPANTS_FILE.replace(".tsv", ".json")
    if not path.is_file():
        return {}
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ClinicalDataError(
            f"{path.name}: not valid JSON ({error}). Fix: save the data dictionary as UTF-8 JSON."
        ) from error
    if not isinstance(content, dict):
        raise ClinicalDataError(f"{path.name}: must be a JSON object (one entry per column).")
    return content


def check_categories(participants: pd.DataFrame, dictionary: Mapping[str, object]) -> None:
    """Values of ``race``/``ethnicity`` must be levels of the data dictionary when it lists
    ``Levels`` for the column (n/a is always allowed)."""
    for column in OPTIONAL_CATEGORY_COLUMNS:
        entry = dictionary.get(column)
        if column not in participants.columns or not isinstance(entry, dict):
            continue
        levels = entry.get("Levels")
        if not isinstance(levels, dict):
            continue
        problems = [
            f"{_who(participants, index)}, column {column}: {value!r} is not a level of "
            f"participants.json ({', '.join(map(str, levels))})"
            for index, value in participants[column].items()
            if not pd.isna(value) and str(value) not in levels
        ]
        _fail(
            PARTICIPANTS_FILE,
            problems,
            "Fix: correct the value or add the level to participants.json.",
        )


def load_participants(
    bids_root: str | Path, arm_labels: Mapping[str, str] = DEFAULT_ARM_LABELS
) -> pd.DataFrame:
    """Read and validate ``participants.tsv`` (see :func:`validate_participants`).

    Parameters
    ----------
    bids_root : str or Path
        The BIDS dataset's root folder, which holds ``participants.tsv``.
    arm_labels : mapping of str to str, optional
        Arm role (``connectivity``, ``scalp``) -> the label the file writes in ``arm``
        (config ``trial.arm_labels``); by default the labels are the roles.

    Returns
    -------
    pandas.DataFrame
        One row per participant, sorted by participant_id: ``arm`` holds the role and
        ``arm_label`` the label as written; age (years), n_failed_treatments and the head
        measurements (cm) are float64 with NaN for ``n/a``; extra columns are kept.

    Raises
    ------
    ClinicalDataError
        When the file is missing or unreadable, a required column is missing, or a value
        is wrong (IDs, duplicates, unknown arm labels, sex, ages, counts, head
        measurements), or an arm has no participant; the message names the participant
        and the column and says how to fix it.
    """
    raw = _read_tsv(Path(bids_root) / PARTICIPANTS_FILE, PARTICIPANTS_FILE)
    return validate_participants(raw, arm_labels)


def validate_head_measurements(raw: pd.DataFrame) -> pd.DataFrame:
    """Validate the head measurements of ``participants.tsv`` (as read, all strings) without
    asking for the trial's columns: a clinic's table needs only ``participant_id`` and, for
    Beam F3, the three measurements (cm; ``n/a`` where not measured).

    Returns ``participant_id`` and :data:`HEAD_MEASUREMENT_COLUMNS` (float64, NaN for
    ``n/a``; a missing column is all NaN), sorted by participant_id.
    """
    file = PARTICIPANTS_FILE
    frame = _participant_rows(raw, ("participant_id",), file)
    for column in HEAD_MEASUREMENT_COLUMNS:
        if column not in frame.columns:
            frame[column] = np.nan
    _parse_head_measurements(frame, file)
    columns = ["participant_id", *HEAD_MEASUREMENT_COLUMNS]
    return frame[columns].sort_values("participant_id").reset_index(drop=True)


def load_head_measurements(bids_root: str | Path) -> pd.DataFrame | None:
    """The head measurements of ``participants.tsv`` at ``bids_root`` (see
    :func:`validate_head_measurements`); None when the file does not exist."""
    path = Path(bids_root) / PARTICIPANTS_FILE
    if not path.is_file():
        return None
    return validate_head_measurements(_read_tsv(path, PARTICIPANTS_FILE))


def load_clinical(
    bids_root: str | Path,
    arm_labels: Mapping[str, str] = DEFAULT_ARM_LABELS,
    visits: Sequence[str] = DEFAULT_VISITS,
    baseline_visit: str = DEFAULT_BASELINE_VISIT,
) -> ClinicalData:
    """Read and validate all clinical tables of the dataset at ``bids_root``.

    ``participants.tsv`` and ``phenotype/madrs.tsv`` are required; blinding and adverse
    events are ``None`` when their file does not exist.

    Parameters
    ----------
    bids_root : str or Path
        The BIDS dataset's root folder (files as the module docstring lists them).
    arm_labels : mapping of str to str, optional
        Arm role (``connectivity``, ``scalp``) -> label as the files write it (config
        ``trial.arm_labels``); by default the labels are the roles.
    visits : sequence of str, optional
        The visit labels in time order, baseline first (:data:`DEFAULT_VISITS`).
    baseline_visit : str, default "baseline"
        The visit label of baseline (day 0).

    Returns
    -------
    ClinicalData
        The validated participants (arm as role), MADRS ratings (long: participant_id,
        session_id, days_since_baseline in days, madrs_total 0-60; missed visits dropped),
        blinding guesses (roles, ``dont_know`` or NaN) and adverse events, each None when
        its file is absent, and the data dictionary participants.json ({} when absent).

    Raises
    ------
    ClinicalDataError
        When a required file is missing, a table is malformed or contradicts the config
        (arm labels, visits); all problems of one kind are listed together.
    """
    root = Path(bids_root)
    participants = load_participants(root, arm_labels)
    dictionary = load_participants_dictionary(root)
    check_categories(participants, dictionary)
    madrs = validate_madrs(
        _read_tsv(root / MADRS_FILE, MADRS_FILE), participants, visits, baseline_visit
    )
    blinding = None
    if (root / BLINDING_FILE).is_file():
        blinding = validate_blinding(
            _read_tsv(root / BLINDING_FILE, BLINDING_FILE), participants, arm_labels
        )
    adverse_events = None
    if (root / ADVERSE_EVENTS_FILE).is_file():
        adverse_events = validate_adverse_events(
            _read_tsv(root / ADVERSE_EVENTS_FILE, ADVERSE_EVENTS_FILE), participants
        )
    return ClinicalData(participants, madrs, blinding, adverse_events, dictionary)
