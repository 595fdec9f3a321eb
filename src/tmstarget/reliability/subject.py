"""One subject's targets from the full series, its two halves and its first k minutes.

The segments and how they are cut are described in :mod:`tmstarget.reliability`; each
is a slice (a view) of the series already in memory, targeted by a function the caller
gives (:func:`make_target_fn` builds one for the configured methods)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import nibabel as nib
import numpy as np
import pandas as pd

from tmstarget.circuits import TargetingError
from tmstarget.reliability.params import (
    DEFAULT_MIN_TIMEPOINTS,
    DEFAULT_MINUTES_GRID,
    FIRST_PREFIX,
    REQUIRED_SEGMENTS,
    RETEST_PREFIX,
    SEGMENT_FULL,
    SEGMENT_HALF1,
    SEGMENT_HALF2,
    TARGET_COLUMNS,
    _check_minutes_grid,
)
from tmstarget.vocabulary import CIRCUIT_SEARCHLIGHT, METHODS

TargetFunction = Callable[[np.ndarray], Any]


def segment_label(prefix: str, minutes: float) -> str:
    """``first_4min``, ``first_2.5min``, ``retest_10min``."""
    return f"{prefix}{minutes:g}min"


def plan_segments(
    n_timepoints: int,
    repetition_time_s: float,
    minutes_grid: Sequence[float] = DEFAULT_MINUTES_GRID,
    min_timepoints: int = DEFAULT_MIN_TIMEPOINTS,
    paired_retest: bool = False,
) -> pd.DataFrame:
    """The segments of one subject's series (see :mod:`tmstarget.reliability`), one row each.

    Columns: ``segment``, ``start_volume``, ``stop_volume`` (Python slice bounds),
    ``n_timepoints``, ``requested_minutes`` (k; NaN for full and halves) and ``note``
    ("" when the segment will be targeted, otherwise why not). ``k`` minutes hold
    ``floor(k * 60 / TR)`` volumes.

    Raises
    ------
    ValueError
        Non-positive TR or minutes, or halves shorter than ``min_timepoints``.
    """
    if not repetition_time_s > 0:
        raise ValueError(f"repetition_time_s must be > 0 s, got {repetition_time_s}")
    _check_minutes_grid(minutes_grid)
    total = int(n_timepoints)
    cut = total // 2
    if cut < min_timepoints:
        raise ValueError(
            f"the series has {total} volumes ({total * repetition_time_s / 60:.1f} min); "
            f"its halves ({cut} volumes) are shorter than min_timepoints = {min_timepoints}, "
            "so no split-half target can be computed"
        )
    rows = [
        (SEGMENT_FULL, 0, total, math.nan, ""),
        (SEGMENT_HALF1, 0, cut, math.nan, ""),
        (SEGMENT_HALF2, cut, total, math.nan, ""),
    ]
    data_minutes = total * repetition_time_s / 60.0
    for minutes in sorted(float(k) for k in minutes_grid):
        # The small epsilon keeps 4 min at TR 0.8 s = 300 volumes despite float rounding.
        n_volumes = int(math.floor(minutes * 60.0 / repetition_time_s + 1e-9))
        note = ""
        if n_volumes > total:
            note = f"longer than the data ({total} volumes, {data_minutes:.2f} min)"
        elif n_volumes < min_timepoints:
            note = f"{n_volumes} volumes, fewer than min_timepoints = {min_timepoints}"
        rows.append((segment_label(FIRST_PREFIX, minutes), 0, n_volumes, minutes, note))
        if paired_retest:
            retest_note = note
            if not note and cut + n_volumes > total:
                retest_note = (
                    f"no independent retest: {n_volumes} volumes from the cut at volume "
                    f"{cut} pass the end of the data ({total} volumes)"
                )
            rows.append(
                (
                    segment_label(RETEST_PREFIX, minutes),
                    cut,
                    cut + n_volumes,
                    minutes,
                    retest_note,
                )
            )
    frame = pd.DataFrame(
        rows, columns=["segment", "start_volume", "stop_volume", "requested_minutes", "note"]
    )
    frame["n_timepoints"] = frame["stop_volume"] - frame["start_volume"]
    return frame[
        ["segment", "start_volume", "stop_volume", "n_timepoints", "requested_minutes", "note"]
    ]


def _target_record(result: Any) -> tuple[np.ndarray, float, str]:
    """(mm (3,), score, method) from a targeting result, a Target or a bare coordinate."""
    target = getattr(result, "target", result)
    if hasattr(target, "mm"):
        mm = np.asarray(target.mm, dtype=float)
        score = float(getattr(target, "score", math.nan))
        method = str(getattr(target, "method", ""))
    else:
        mm, score, method = np.asarray(target, dtype=float), math.nan, ""
    if mm.shape != (3,):
        raise ValueError(
            f"target_fn must return a coordinate of 3 mm values (or an object with .mm or "
            f".target.mm), got shape {mm.shape}"
        )
    return mm, score, method


def subject_reliability(
    timeseries: np.ndarray,
    brain_mask_img: nib.spatialimages.SpatialImage | None,
    repetition_time_s: float,
    target_fn: TargetFunction,
    minutes_grid: Sequence[float] = DEFAULT_MINUTES_GRID,
    *,
    subject: str = "",
    min_timepoints: int = DEFAULT_MIN_TIMEPOINTS,
    paired_retest: bool = False,
    window_fn: Callable[[int, int], Any] | None = None,
) -> pd.DataFrame:
    """Targets of one subject from the full series, its two halves and its first k minutes.

    Parameters
    ----------
    timeseries : (n_timepoints, n_brain_voxels) cleaned series, runs concatenated in
        acquisition order, loaded once by the caller. Only slices (views) of it are passed
        on; it is never copied or re-read.
    brain_mask_img : the brain mask the columns belong to (checked against the number of
        columns); None skips the check.
    repetition_time_s : TR in seconds (converts minutes to volumes).
    target_fn : ``target_fn(timeseries_slice)`` -> a coordinate in world mm, (3,), or a
        ``Target`` / targeting result (``.mm`` or ``.target.mm``, which also gives the
        score). See :func:`make_target_fn` for the configured methods.
    minutes_grid : scan lengths k (minutes) for the ``first_<k>min`` rows.
    subject : subject label written to every row.
    min_timepoints : shorter segments are skipped with a note; halves shorter are an error.
    paired_retest : also target ``retest_<k>min`` (see :mod:`tmstarget.reliability`).
    window_fn : ``window_fn(start, stop)`` -> as ``target_fn``, called with the volumes
        of the part instead of ``target_fn`` on a slice (for methods that hold what they
        need of the whole series, e.g. the bootstrap's score model).

    Returns
    -------
    One row per segment (:data:`TARGET_COLUMNS`): ``minutes`` is the data used
    (``n_timepoints * TR / 60``), ``requested_minutes`` the grid k; skipped rows have NaN
    coordinates and a ``note``. A ``TargetingError`` on a ``first``/``retest`` segment is
    recorded in its note; on ``full`` or a half it is raised, naming the segment.
    """
    _check_series(timeseries, brain_mask_img)
    plan = plan_segments(
        timeseries.shape[0], repetition_time_s, minutes_grid, min_timepoints, paired_retest
    )
    computed: dict[tuple[int, int], tuple[np.ndarray, float, str] | str] = {}
    rows = []
    for segment in plan.itertuples(index=False):
        start, stop = int(segment.start_volume), int(segment.stop_volume)
        note = segment.note
        mm, score, method = np.full(3, np.nan), math.nan, ""
        if not note:
            key = (start, stop)
            if key not in computed:
                computed[key] = _target_segment(
                    segment.segment, start, stop, timeseries, target_fn, window_fn, subject
                )
            outcome = computed[key]
            if isinstance(outcome, str):
                note = outcome
            else:
                mm, score, method = outcome
        rows.append(
            {
                "subject": str(subject),
                "segment": segment.segment,
                "method": method,
                "start_volume": start,
                "stop_volume": stop,
                "n_timepoints": stop - start,
                "minutes": (stop - start) * repetition_time_s / 60.0,
                "requested_minutes": float(segment.requested_minutes),
                "x_mm": float(mm[0]),
                "y_mm": float(mm[1]),
                "z_mm": float(mm[2]),
                "score": score,
                "note": note,
            }
        )
    return pd.DataFrame(rows, columns=list(TARGET_COLUMNS))


def _check_series(
    timeseries: np.ndarray, brain_mask_img: nib.spatialimages.SpatialImage | None
) -> None:
    """A 2-D series whose columns are the brain mask's voxels (when a mask is given)."""
    if timeseries.ndim != 2:
        raise ValueError(
            f"timeseries must be 2-D (n_timepoints, n_brain_voxels), got shape {timeseries.shape}"
        )
    if brain_mask_img is not None:
        n_voxels = int(np.count_nonzero(np.asarray(brain_mask_img.dataobj) > 0))
        if timeseries.shape[1] != n_voxels:
            raise ValueError(
                f"timeseries has {timeseries.shape[1]} columns but the brain mask has "
                f"{n_voxels} voxels; columns must be the brain-mask voxels"
            )


def _target_segment(
    segment: str,
    start: int,
    stop: int,
    timeseries: np.ndarray,
    target_fn: TargetFunction,
    window_fn: Callable[[int, int], Any] | None,
    subject: str,
) -> tuple[np.ndarray, float, str] | str:
    """(mm, score, method) of volumes ``[start, stop)``, or the note of a targeting failure
    on a ``first``/``retest`` segment; on ``full`` or a half the failure is raised."""
    try:
        outcome = (
            window_fn(start, stop) if window_fn is not None else target_fn(timeseries[start:stop])
        )
        return _target_record(outcome)
    except TargetingError as error:
        if segment in REQUIRED_SEGMENTS:
            raise TargetingError(
                f"subject {subject or '?'}, segment {segment} (volumes {start}-{stop - 1}): {error}"
            ) from error
        return f"targeting failed: {error}"


def make_target_fn(
    method: str,
    brain_mask_img: nib.spatialimages.SpatialImage,
    *,
    search_mask: nib.spatialimages.SpatialImage | np.ndarray,
    circuit_map: nib.spatialimages.SpatialImage | np.ndarray | None = None,
    seed_mask: nib.spatialimages.SpatialImage | np.ndarray | None = None,
    cone_radii_mm: Sequence[float] | None = None,
    cone_weights: Sequence[float] | None = None,
    cluster_percentile: float = 10.0,
    centre_of_mass: str = "value",
) -> TargetFunction:
    """A ``target_fn`` for :func:`subject_reliability` running a configured method.

    ``method``: one of :data:`METHODS` (``searchlight`` is read as ``circuit_searchlight``).
    ``circuit_searchlight`` needs ``circuit_map`` (and takes the cone settings);
    ``sgacc_classic``/``sgacc_cluster`` need ``seed_mask``. Masks and maps must be on the
    brain mask's grid (see :mod:`tmstarget.targeting`). The function returns the
    method's result object (its ``.target.mm`` is the coordinate, world mm).
    """
    from tmstarget.stimulation import SubjectMaps, TargetingSettings, find_target
    from tmstarget.uncertainty import BootstrapSettings

    if method == "searchlight":
        method = CIRCUIT_SEARCHLIGHT
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if method == CIRCUIT_SEARCHLIGHT and circuit_map is None:
        raise ValueError(f"method {CIRCUIT_SEARCHLIGHT!r} needs a circuit_map")
    if method != CIRCUIT_SEARCHLIGHT and seed_mask is None:
        raise ValueError(f"method {method!r} needs a seed_mask (the sgACC seed)")
    settings = TargetingSettings(
        methods=(method,),
        connectivity_method=method,
        bootstrap=BootstrapSettings(enabled=False),
        cluster_percentile=cluster_percentile,
        cluster_centre=centre_of_mass,
        **({"cone_radii_mm": tuple(cone_radii_mm)} if cone_radii_mm is not None else {}),
        **({"cone_weights": tuple(cone_weights)} if cone_weights is not None else {}),
    )
    maps = SubjectMaps(
        timeseries=np.empty((0, 0), dtype=np.float32),  # each call passes its own part
        brain_mask=brain_mask_img,
        circuit_map=circuit_map,
        search_mask=search_mask,
        seed_mask=seed_mask,
    )

    def target_fn(timeseries: np.ndarray):
        return find_target(maps, method, settings, timeseries)

    return target_fn
