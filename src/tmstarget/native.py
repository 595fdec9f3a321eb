"""Native T1w coordinates of template-space targets, and the neuronavigation export.

Targets are found in template (MNI) space; a navigation system needs them in the
subject's own T1w image. fMRIPrep saves the ANTs registration between the two as ITK
composite transforms (an affine plus a displacement field, HDF5). They are read and applied
with ``nitransforms`` (NiPy); nothing here parses ITK files by hand.

Which file moves a *point* from template space to T1w space
-----------------------------------------------------------
ITK and ANTs transforms are *resampling* transforms: they map points of the fixed
(reference, output) space to the moving (input) space, because resampling asks, for each
output voxel, where to read the input image. fMRIPrep resamples a T1w image into the
template with ``antsApplyTransforms -i T1w -r template -t from-T1w_to-<template>_xfm.h5``
(the ``Composite.h5`` of ``antsRegistration`` with the template fixed, the T1w moving).
So, read as a point mapping, ``from-T1w_to-<template>`` takes a **template point to the T1w
point** it samples. This is why ANTs' ``antsApplyTransformsToPoints`` needs the inverse of
what one would use for images: to move a point template -> T1w, use the transform that
moves an image T1w -> template. Hence:

- template (MNI) point -> T1w point: ``from-T1w_to-<template>_mode-image_xfm.h5``
  (what discovery, :mod:`tmstarget.bids`, finds for each subject, despite the file's
  name);
- the other file, ``from-<template>_to-T1w``, maps T1w points to template points.

``nitransforms`` keeps this convention (``TransformChain.map`` maps reference-space points
to moving-space points; its image resampling maps each reference voxel through the same
``map``), and the tests check it both ways: against hand-computed answers and by resampling
a T1w image into template space with the same file and mapping the template location of a
blob back to where it sits in T1w. The displacement field cannot be inverted analytically,
so when only ``from-<template>_to-T1w`` exists there is no native coordinate (None).

LPS and RAS
-----------
ITK works in LPS (x grows to the left, y to the back): its affine parameters, the field's
grid (origin, direction) and its displacement vectors are LPS. ``nitransforms``' ITK reader
converts all of that to RAS on loading (conjugates the affine with diag(-1, -1, 1),
flips the grid and the x, y components of the displacements), so :func:`mni_to_native`
takes and returns **RAS** mm like every coordinate in this package. Composite order: ITK
applies the transforms of a composite last-stored first (the displacement field, in
template space, then the affine); ``nitransforms`` loads the chain in that order.
Points outside a displacement field's grid raise ValueError (the library would silently
leave them undisplaced, or wrap negative indices).

The neuronavigation export
--------------------------
:func:`neuronavigation_table` keeps, per participant, the site of their arm (the
connectivity target for the connectivity arm, Beam F3 for the scalp arm) with its template
and native coordinates and the scalp entry point; :func:`write_neuronavigation_csv` writes it
as plain CSV whose column names carry space and unit (``mni_x_mm``, ``native_t1w_x_mm``).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from tmstarget import atomic
from tmstarget.vocabulary import BEAM_F3, CONNECTIVITY, DEFAULT_CONNECTIVITY_METHOD, SCALP

DEFAULT_TEMPLATE = "MNI152NLin6Asym"
# DEFAULT_CONNECTIVITY_METHOD is tmstarget.vocabulary's (importable from here too).
DEFAULT_SCALP_METHOD = BEAM_F3
COORDINATE_CONVENTION = "RAS"

# Decimals in the CSV: 1 micrometre, far below any navigation system's accuracy.
_CSV_DECIMALS = 3

TARGET_COLUMNS = (
    "participant_id",
    "arm",
    "method",
    "x_mm",
    "y_mm",
    "z_mm",
    "scalp_x_mm",
    "scalp_y_mm",
    "scalp_z_mm",
    "native_x_mm",
    "native_y_mm",
    "native_z_mm",
)
# Optional input: the scalp entry point mapped to T1w as well.
OPTIONAL_TARGET_COLUMNS = ("scalp_native_x_mm", "scalp_native_y_mm", "scalp_native_z_mm")

NAVIGATION_COLUMNS = (
    "participant_id",
    "arm",
    "target_label",
    "coordinate_convention",
    "template_space",
    "mni_x_mm",
    "mni_y_mm",
    "mni_z_mm",
    "native_t1w_x_mm",
    "native_t1w_y_mm",
    "native_t1w_z_mm",
    "scalp_mni_x_mm",
    "scalp_mni_y_mm",
    "scalp_mni_z_mm",
    "scalp_native_t1w_x_mm",
    "scalp_native_t1w_y_mm",
    "scalp_native_t1w_z_mm",
)


# ------------------------------------------------------------------------ applying them


def mni_to_native(
    points_mm: np.ndarray | Sequence[float],
    transform_path: str | Path | Sequence[str | Path],
) -> np.ndarray:
    """Map template (MNI) points to the subject's T1w space.

    Parameters
    ----------
    points_mm : template-space coordinates, RAS mm, shape (3,) or (n, 3).
    transform_path : fMRIPrep's
        ``from-T1w_to-<template>_mode-image_xfm.h5`` (ITK composite, LPS on disk), or an
        ITK affine (``.txt``/``.tfm``/``.mat``) with the same meaning; or a list of files
        applied in turn, template side first (a template-to-template transform, then the
        subject's, as :attr:`tmstarget.bids.Run.template_xfms` lists them).

    Returns
    -------
    T1w coordinates, RAS mm, shape (n, 3) (float64).

    Raises
    ------
    FileNotFoundError if a file does not exist; ValueError naming the file if it cannot
    be read as an ITK transform, or if a point falls outside its displacement field.
    """
    from tmstarget import transforms

    files = [transform_path] if isinstance(transform_path, str | Path) else list(transform_path)
    points = np.asarray(points_mm, dtype=float)
    if points.ndim == 1:
        points = points[np.newaxis]
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"points_mm must have shape (3,) or (n, 3), got {points.shape}")
    if not np.all(np.isfinite(points)):
        raise ValueError("points_mm must be finite")
    with warnings.catch_warnings():
        # The transforms carry no resampling grid; mapping points does not need one.
        warnings.filterwarnings("ignore", message="Reference space not set")
        chain = transforms.load_chain(files)
        mapped = transforms.map_points(chain, points, files)
    if mapped.shape != points.shape or not np.all(np.isfinite(mapped)):
        raise ValueError(f"ITK transform {files} gave no finite mapping of the points")
    return mapped


# ------------------------------------------------------------------ neuronavigation export


def neuronavigation_table(
    targets: pd.DataFrame,
    connectivity_method: str = DEFAULT_CONNECTIVITY_METHOD,
    scalp_method: str = DEFAULT_SCALP_METHOD,
    connectivity_arm: str = CONNECTIVITY,
    scalp_arm: str = SCALP,
    template: str = DEFAULT_TEMPLATE,
) -> pd.DataFrame:
    """One row per participant: the site their arm stimulates, ready for neuronavigation.

    Parameters
    ----------
    targets : pandas.DataFrame
        One row per participant and method with columns ``participant_id``, ``arm``,
        ``method``, ``x_mm``/``y_mm``/``z_mm`` (target, template RAS mm),
        ``scalp_x_mm``/... (coil entry point on the scalp, template RAS mm) and
        ``native_x_mm``/... (target in T1w RAS mm, NaN without a transform); optionally
        ``scalp_native_x_mm``/... (entry point in T1w RAS mm).
    connectivity_method : str, default "circuit_searchlight"
        The method whose target the connectivity arm receives.
    scalp_method : str, default "beam_f3"
        The method whose site the scalp arm receives (Beam F3).
    connectivity_arm, scalp_arm : str, default "connectivity", "scalp"
        The labels of the arms in the ``arm`` column (they must differ).
    template : str, default "MNI152NLin6Asym"
        Name of the template space of ``x_mm``... (written in every row).

    Returns
    -------
    pandas.DataFrame
        The columns of :data:`NAVIGATION_COLUMNS`, sorted by participant:
        ``target_label`` is the method that chose the site; coordinates are RAS mm (the
        ``coordinate_convention`` column says so), native ones NaN when unknown.

    Raises
    ------
    ValueError
        When a column is missing, the two arm labels are equal, a participant has several
        arms or an unknown arm, or lacks (or repeats) the row of their arm's method; the
        message names them.
    """
    missing = [column for column in TARGET_COLUMNS if column not in targets.columns]
    if missing:
        raise ValueError(f"targets table lacks columns {missing}")
    if connectivity_arm == scalp_arm:
        raise ValueError(f"the two arms need different labels, both are {scalp_arm!r}")
    arm_methods = {connectivity_arm: connectivity_method, scalp_arm: scalp_method}

    rows = []
    for participant, group in targets.groupby("participant_id", sort=True):
        arms = sorted(set(group["arm"].astype(str)))
        if len(arms) != 1:
            raise ValueError(f"participant {participant} has several arms: {arms}")
        arm = arms[0]
        if arm not in arm_methods:
            raise ValueError(
                f"participant {participant} has arm {arm!r}; expected one of {sorted(arm_methods)}"
            )
        method = arm_methods[arm]
        chosen = group[group["method"].astype(str) == method]
        if len(chosen) != 1:
            raise ValueError(
                f"participant {participant} (arm {arm!r}) needs exactly one {method!r} "
                f"target, found {len(chosen)} (methods present: "
                f"{sorted(set(group['method'].astype(str)))})"
            )
        site = chosen.iloc[0]

        def value(column: str, site=site) -> float:
            return float(site[column]) if column in site.index else np.nan

        rows.append(
            {
                "participant_id": str(participant),
                "arm": arm,
                "target_label": method,
                "coordinate_convention": COORDINATE_CONVENTION,
                "template_space": template,
                **{f"mni_{axis}_mm": value(f"{axis}_mm") for axis in "xyz"},
                **{f"native_t1w_{axis}_mm": value(f"native_{axis}_mm") for axis in "xyz"},
                **{f"scalp_mni_{axis}_mm": value(f"scalp_{axis}_mm") for axis in "xyz"},
                **{
                    f"scalp_native_t1w_{axis}_mm": value(f"scalp_native_{axis}_mm")
                    for axis in "xyz"
                },
            }
        )
    return pd.DataFrame(rows, columns=list(NAVIGATION_COLUMNS))


def write_neuronavigation_csv(
    table: pd.DataFrame, path: str | Path, decimals: int = _CSV_DECIMALS
) -> Path:
    """Write the neuronavigation table as plain CSV (same bytes for the same table).

    Comma-separated, a header row, ``\\n`` line ends, UTF-8, numbers with ``decimals``
    decimals (3: mm), empty cells for unknown values, no index column.

    Parameters
    ----------
    table : pandas.DataFrame
        The table to write (e.g. :func:`neuronavigation_table`); float columns are
        rounded to ``decimals`` (a rounded -0.0 prints as 0.000).
    path : str or Path
        The CSV file; its folder is created.
    decimals : int, default 3
        Decimals of every float (3: a micrometre, for coordinates in mm).

    Returns
    -------
    Path
        The path written.

    Raises
    ------
    OutputWriteError
        When the file cannot be written (:func:`tmstarget.atomic.write_text`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = table.copy()
    for column in frame.columns:
        if pd.api.types.is_float_dtype(frame[column]):
            # + 0.0 turns -0.0 into 0.0, so a rounded tiny negative prints as 0.000
            frame[column] = frame[column].round(decimals) + 0.0
    text = frame.to_csv(
        index=False,
        float_format=f"%.{decimals}f",
        na_rep="",
        lineterminator="\n",
    )
    atomic.write_text(path, text)
    return path
