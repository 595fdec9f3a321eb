"""The workflow's per-patient navigation outputs: the coil poses of a patient's sites
(a table) and the files a navigator loads (CSV, Brainsight, Localite), written from it.

The poses come from :func:`tmstarget.navigation.place_coil` on the patient's own scalp
(their non-skull-stripped T1w); see :mod:`tmstarget.navigation` for the coordinate and
axis conventions of each vendor. Every position here is RAS mm in the world coordinates
of that T1w image.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from tmstarget import atomic
from tmstarget.blinding import check_blind
from tmstarget.native import write_neuronavigation_csv
from tmstarget.navigation import (
    NavigationMarker,
    coil_matrix,
    place_coil,
    scalp_from_t1w,
    write_brainsight_targets,
    write_localite_instrument_markers,
)
from tmstarget.vocabulary import BEAM_F3, CIRCUIT_SEARCHLIGHT, SGACC_CLASSIC, SGACC_CLUSTER

_XYZ = ("x", "y", "z")
COIL_DICTIONARY = {
    "participant_id": {"Description": "Participant label"},
    "method": {"Description": "Targeting method of the site"},
    "target_label": {"Description": "Printed name of the site (the marker's name)"},
    "coordinate_convention": {"Description": "RAS: x right, y anterior, z superior (mm)"},
    "t1w_image": {"Description": "The T1w image whose world coordinates these are"},
    **{
        f"target_{axis}_mm": {"Description": f"Cortical target, T1w RAS {axis}", "Units": "mm"}
        for axis in _XYZ
    },
    **{
        f"coil_{axis}_mm": {
            "Description": f"Coil centre on the patient's scalp, T1w RAS {axis}",
            "Units": "mm",
        }
        for axis in _XYZ
    },
    **{
        f"normal_{axis}": {"Description": f"Outward unit scalp normal at the coil, {axis}"}
        for axis in _XYZ
    },
    **{
        f"handle_{axis}": {"Description": f"Unit vector from the coil centre to the handle, {axis}"}
        for axis in _XYZ
    },
    "scalp_depth_mm": {"Description": "Distance from the target to the scalp", "Units": "mm"},
    "handle_angle_deg": {
        "Description": "Handle angle from the backwards sagittal direction, towards the "
        "target's side (navigation.handle_angle_deg)",
        "Units": "degrees",
    },
}
# Printed names of the sites (the markers' names in the navigation files).
SITE_LABELS = {
    CIRCUIT_SEARCHLIGHT: "Connectivity target (circuit searchlight)",
    SGACC_CLASSIC: "Connectivity target (sgACC seed map)",
    SGACC_CLUSTER: "Connectivity target (sgACC seed cluster)",
    BEAM_F3: "Beam F3 (scalp heuristic)",
}


def coil_table(
    participant_id: str,
    targets: pd.DataFrame,
    t1w: str | Path,
    methods: Sequence[str],
    handle_angle_deg: float = 45.0,
    labels: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """The coil pose over each of ``methods``' sites of one patient (rows in that order;
    a method without a row in ``targets`` is left out).

    ``targets`` is the patient's targets table (``native_x_mm``...: T1w RAS mm); the
    scalp is found once in the T1w image at ``t1w`` (fMRIPrep's desc-preproc_T1w). Raises
    ValueError naming the patient when a site has no native coordinates (no
    template-to-T1w transform) and :class:`tmstarget.navigation.NavigationError` when the
    T1w has no scalp (skull-stripped) or a target lies outside the head.

    Parameters
    ----------
    participant_id : str
        The patient's label, written in every row and named in errors.
    targets : pandas.DataFrame
        The patient's targets, one row per method, with ``method`` and ``native_x_mm``,
        ``native_y_mm``, ``native_z_mm`` (the site in T1w RAS mm).
    t1w : str or Path
        The patient's non-skull-stripped T1w image (fMRIPrep's desc-preproc_T1w): the
        scalp is found in it, and its file name is written in every row.
    methods : sequence of str
        The methods whose sites get a coil pose, in row order.
    handle_angle_deg : float, default 45.0
        The coil handle's angle (degrees) from the backwards sagittal direction towards
        the target's side.
    labels : mapping of str to str, optional
        Method -> printed site name, over :data:`SITE_LABELS` (the method name when
        neither has it).

    Returns
    -------
    pandas.DataFrame
        One row per placed site with the columns of :data:`COIL_DICTIONARY`: target and
        coil centre (T1w RAS mm), coil normal and handle (unit vectors, RAS), scalp depth
        (mm) and handle angle (degrees).

    Raises
    ------
    ValueError
        When a site has no native (T1w) coordinates.
    NavigationError
        When the T1w has no scalp (skull-stripped) or a target lies outside the head.
    """
    labels = {**SITE_LABELS, **(labels or {})}
    scalp = scalp_from_t1w(t1w)
    rows = []
    for method in methods:
        chosen = targets[targets["method"].astype(str) == method]
        if chosen.empty:
            continue
        native = chosen.iloc[0][[f"native_{axis}_mm" for axis in _XYZ]].to_numpy(dtype=float)
        if not np.all(np.isfinite(native)):
            raise ValueError(
                f"{participant_id}: the {method} site has no T1w coordinates (no "
                "template-to-T1w transform was found): the coil cannot be placed"
            )
        pose = place_coil(scalp, native, handle_angle_deg=handle_angle_deg)
        rows.append(
            {
                "participant_id": participant_id,
                "method": method,
                "target_label": labels.get(method, method),
                "coordinate_convention": "RAS",
                "t1w_image": Path(t1w).name,
                **{f"target_{a}_mm": float(v) for a, v in zip(_XYZ, pose.target_mm, strict=True)},
                **{f"coil_{a}_mm": float(v) for a, v in zip(_XYZ, pose.centre_mm, strict=True)},
                **{f"normal_{a}": float(v) for a, v in zip(_XYZ, pose.normal, strict=True)},
                **{f"handle_{a}": float(v) for a, v in zip(_XYZ, pose.handle, strict=True)},
                "scalp_depth_mm": pose.scalp_depth_mm,
                "handle_angle_deg": float(handle_angle_deg),
            }
        )
    return pd.DataFrame(rows, columns=list(COIL_DICTIONARY))


def markers(table: pd.DataFrame) -> list[NavigationMarker]:
    """One marker per row of a coil table (or a technician's table), named by its
    ``target_label``."""
    result = []
    for _, row in table.iterrows():
        centre = row[[f"coil_{a}_mm" for a in _XYZ]].to_numpy(dtype=float)
        normal = row[[f"normal_{a}" for a in _XYZ]].to_numpy(dtype=float)
        handle = row[[f"handle_{a}" for a in _XYZ]].to_numpy(dtype=float)
        matrix = coil_matrix(centre, normal, handle)
        result.append(NavigationMarker(str(row["target_label"]), matrix))
    return result


def write_navigation_files(
    table: pd.DataFrame,
    paths: Mapping[str, str | Path],
    t1w: str | Path | nib.spatialimages.SpatialImage,
    blind_against: Iterable[str] | None = None,
) -> None:
    """Write ``table`` (coil poses) to each format of ``paths`` (``csv``, ``brainsight``,
    ``localite``; positions in the world coordinates of ``t1w``). With
    ``blind_against`` (words that tell the arm), every file's text is checked first
    (:func:`tmstarget.blinding.check_blind`) and nothing is written if one would
    contain such a word.

    Parameters
    ----------
    table : pandas.DataFrame
        Coil poses (:func:`coil_table`, or a technician's table), one marker per row named
        by its ``target_label``; positions RAS mm in the world coordinates of ``t1w``.
    paths : mapping of str to str or Path
        Format (``csv``, ``brainsight``, ``localite``) -> the file to write.
    t1w : str, Path or nibabel.spatialimages.SpatialImage
        The T1w image the positions refer to (the vendors' files need its geometry).
    blind_against : iterable of str, optional
        Words that tell the arm (:func:`tmstarget.blinding.revealing_words`); None: the
        files are not checked.

    Raises
    ------
    ValueError
        When ``paths`` names an unknown format.
    BlindingError
        When a file's text would contain a word of ``blind_against``; no file is written.
    """
    writers = {
        # 4 decimals: the unit vectors as well as the mm
        "csv": lambda path: write_neuronavigation_csv(table, path, decimals=4),
        "brainsight": lambda path: write_brainsight_targets(path, markers(table), t1w=t1w),
        "localite": lambda path: write_localite_instrument_markers(path, markers(table), t1w=t1w),
    }
    unknown = sorted(set(paths) - set(writers))
    if unknown:
        raise ValueError(f"unknown navigation format(s) {unknown}; known: {sorted(writers)}")
    if blind_against is None:
        for fmt, path in paths.items():
            writers[fmt](path)
        return
    words = list(blind_against)
    written = {}
    try:
        for fmt, path in paths.items():
            partial = atomic.partial_path(Path(path))
            writers[fmt](partial)
            check_blind(partial.read_text(encoding="utf-8"), words, str(path))
            written[partial] = Path(path)
    except Exception:
        for partial in written:
            partial.unlink(missing_ok=True)
        for path in paths.values():
            atomic.partial_path(Path(path)).unlink(missing_ok=True)
        raise
    for partial, path in written.items():
        partial.replace(path)
