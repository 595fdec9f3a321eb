"""The blinding-safe packet of a trial: what the TMS technician is handed, and the key.

In the trial both methods' sites are computed for every participant (the connectivity
target and Beam F3); which one is delivered depends on the arm. The technician must not
learn the arm, so their files carry the delivered site only, under one neutral label for
everyone (:data:`tmstarget.patient_report.NEUTRAL_LABEL`), without template coordinates,
method names, scores or any other site. The key (participant -> arm, method and the
site delivered) goes to a separate file for the unblinded statistician.

:func:`check_blind` is the safety net every technician file passes before it is written:
it refuses a table whose column names or cells contain an arm label or a method name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import pandas as pd

from tmstarget.patient_report import NEUTRAL_LABEL
from tmstarget.vocabulary import BEAM_F3

# The technician's table: the delivered site and coil pose in the patient's T1w space.
TECHNICIAN_COLUMNS = (
    "participant_id",
    "target_label",
    "coordinate_convention",
    "t1w_image",
    "target_x_mm",
    "target_y_mm",
    "target_z_mm",
    "coil_x_mm",
    "coil_y_mm",
    "coil_z_mm",
    "normal_x",
    "normal_y",
    "normal_z",
    "handle_x",
    "handle_y",
    "handle_z",
    "handle_angle_deg",
)
KEY_DICTIONARY = {
    "participant_id": {"Description": "Participant label"},
    "target_label": {"Description": "Label of the delivered site in the technician's files"},
    "arm": {"Description": "Randomised arm (role: connectivity or scalp)"},
    "method": {"Description": "Method whose site is delivered in that arm"},
    "technician_file": {"Description": "The technician's navigation table of the participant"},
    "target_x_mm": {"Description": "Delivered site, T1w RAS x", "Units": "mm"},
    "target_y_mm": {"Description": "Delivered site, T1w RAS y", "Units": "mm"},
    "target_z_mm": {"Description": "Delivered site, T1w RAS z", "Units": "mm"},
}


# Words of the methods' printed names that tell the arm wherever they appear.
METHOD_WORDS = ("Beam", "F3", "circuit", "searchlight", "sgACC", "seed", "connectivity", "scalp")


def revealing_words(arm_labels: Mapping[str, str], methods: Iterable[str]) -> list[str]:
    """Every word a technician's file must not contain: the arm roles and labels as
    participants.tsv writes them, the method names and :data:`METHOD_WORDS`.

    Parameters
    ----------
    arm_labels : mapping of str to str
        Arm role (``connectivity``, ``scalp``) -> the label participants.tsv writes for
        it (config ``trial.arm_labels``); the roles themselves are always included.
    methods : iterable of str
        Method names (e.g. the targeting methods of the workflow); ``beam_f3`` is always
        included.

    Returns
    -------
    list of str
        The words, sorted, for :func:`check_blind`.
    """
    words = {"connectivity", "scalp", *arm_labels.values(), *methods, BEAM_F3, *METHOD_WORDS}
    return sorted(words)


class BlindingError(ValueError):
    """A technician's file would reveal the arm."""


def delivered_method(arm: str, connectivity_method: str) -> str:
    """The method whose site an ``arm`` (role ``connectivity`` or ``scalp``) receives."""
    methods = {"connectivity": connectivity_method, "scalp": BEAM_F3}
    if arm not in methods:
        raise ValueError(f"unknown arm role {arm!r}; expected connectivity or scalp")
    return methods[arm]


def check_blind(table: pd.DataFrame | str, revealing: Iterable[str], source: str) -> None:
    """Raise :class:`BlindingError` if a column name or a cell of ``table`` (or the text of
    a file, a ``str``) contains one of the ``revealing`` words (arm labels, method names;
    whole words, case-insensitive). ``source`` names the file in the message.

    Parameters
    ----------
    table : pandas.DataFrame or str
        The technician's table (column names and every cell are searched), or the text of
        a file.
    revealing : iterable of str
        The words that tell the arm (:func:`revealing_words`); empty words are ignored.
        A word is found only as a whole word, case-insensitive (an arm labelled "A" is not
        found in "RAS").
    source : str
        The file the table is for, named in the error message.

    Raises
    ------
    BlindingError
        When any revealing word is found; the message lists them and the file was not
        written.
    """
    words = sorted({word for word in revealing if word})
    if isinstance(table, str):
        cells = [table]
    else:
        cells = [str(column) for column in table.columns]
        cells += [str(value) for value in table.astype(str).to_numpy().ravel()]
    # whole words: an arm labelled "A" is not found in "RAS"
    patterns = {
        word: re.compile(rf"(?<![A-Za-z0-9]){re.escape(word)}(?![A-Za-z0-9])", re.IGNORECASE)
        for word in words
    }
    found = sorted(
        {word for word, pattern in patterns.items() for cell in cells if pattern.search(cell)}
    )
    if found:
        raise BlindingError(
            f"{source}: the technician's file would contain {', '.join(found)}, which tells "
            "the arm; it was not written"
        )


def technician_table(
    coil: pd.DataFrame,
    participant_id: str,
    method: str,
    t1w_image: str,
    coordinate_convention: str = "RAS",
) -> pd.DataFrame:
    """The technician's one-row table: the ``method`` row of the participant's coil poses
    (rule place_coil's ``desc-coil_targets.tsv``) under the neutral label.

    Parameters
    ----------
    coil : pandas.DataFrame
        The participant's coil poses, one row per method, with a ``method`` column and the
        columns of :data:`TECHNICIAN_COLUMNS` from ``target_x_mm`` on: target and coil
        centre (mm, in the patient's T1w space), coil normal and handle direction (unit
        vectors) and ``handle_angle_deg`` (degrees).
    participant_id : str
        The participant label written in the row.
    method : str
        The method whose site is delivered (the participant's arm decides it).
    t1w_image : str
        The name of the T1w image the coordinates refer to, written in the row.
    coordinate_convention : str, default "RAS"
        The axis convention of the coordinates, written in the row.

    Returns
    -------
    pandas.DataFrame
        One row with the columns of :data:`TECHNICIAN_COLUMNS`; ``target_label`` is
        :data:`tmstarget.patient_report.NEUTRAL_LABEL` whatever the method.

    Raises
    ------
    ValueError
        When ``coil`` has no row (or several) of ``method``.
    """
    chosen = coil[coil["method"].astype(str) == method]
    if len(chosen) != 1:
        raise ValueError(
            f"{participant_id}: needs exactly one {method!r} coil pose, found {len(chosen)} "
            f"(methods: {', '.join(sorted(set(coil['method'].astype(str))))})"
        )
    row = chosen.iloc[0]
    record = {
        "participant_id": participant_id,
        "target_label": NEUTRAL_LABEL,
        "coordinate_convention": coordinate_convention,
        "t1w_image": t1w_image,
    }
    for column in TECHNICIAN_COLUMNS[4:]:
        record[column] = float(row[column])
    return pd.DataFrame([record], columns=list(TECHNICIAN_COLUMNS))


def blinding_key(
    technician: pd.DataFrame,
    arms: Mapping[str, str],
    connectivity_method: str,
    files: Mapping[str, str],
) -> pd.DataFrame:
    """The key to the technician's files: one row per participant with the label they
    saw, the arm (``arms``: participant_id -> role), the delivered method, the file
    (``files``: participant_id -> file name) and the delivered site (to check the key
    against the packet).

    Parameters
    ----------
    technician : pandas.DataFrame
        The technicians' tables of all participants (:func:`technician_table` rows).
    arms : mapping of str to str
        participant_id -> arm role (``connectivity`` or ``scalp``).
    connectivity_method : str
        The method whose site the connectivity arm receives (the scalp arm receives
        ``beam_f3``).
    files : mapping of str to str
        participant_id -> the name of the technician's file of that participant.

    Returns
    -------
    pandas.DataFrame
        One row per participant, sorted by ``participant_id``, with the columns of
        :data:`KEY_DICTIONARY`; the delivered site in T1w RAS mm.

    Raises
    ------
    ValueError
        When an arm is neither ``connectivity`` nor ``scalp``.
    KeyError
        When a participant of ``technician`` is missing from ``arms`` or ``files``.
    """
    rows = []
    for row in technician.itertuples(index=False):
        arm = arms[row.participant_id]
        rows.append(
            {
                "participant_id": row.participant_id,
                "target_label": row.target_label,
                "arm": arm,
                "method": delivered_method(arm, connectivity_method),
                "technician_file": files[row.participant_id],
                "target_x_mm": row.target_x_mm,
                "target_y_mm": row.target_y_mm,
                "target_z_mm": row.target_z_mm,
            }
        )
    return pd.DataFrame(rows, columns=list(KEY_DICTIONARY)).sort_values("participant_id")
