"""Split-half reliability of targets and the scan length they need (methods section 6).

Pure functions on arrays and data frames; nothing here plots or writes files. Distances
are Euclidean, in world (MNI) mm. Every resampling is seeded.

Per subject
-----------
:func:`subject_reliability` takes one subject's cleaned time series, **already in memory**
(``(n_timepoints, n_brain_voxels)``; the runs concatenated in acquisition order, as the
trial did), and calls a targeting function on slices of it (views, never copies):

- ``full``: every volume, ``[0, T)``;
- ``half1`` / ``half2``: the series cut at ``T // 2`` into two **contiguous** halves,
  ``[0, T//2)`` and ``[T//2, T)`` (with odd ``T`` the second half has one more volume).
  The cut falls wherever ``T/2`` is, which may be inside a run: halves are halves of the
  concatenated series, not of the runs;
- ``first_<k>min``: the first ``floor(k * 60 / TR)`` volumes, for each ``k`` of the minutes
  grid (``k`` printed with ``:g``, e.g. ``first_2.5min``);
- optionally (``paired_retest``) ``retest_<k>min``: the same number of volumes starting at
  ``T // 2``, i.e. an independent scan of the same length.

Identical segments are computed once (``first_<k>min`` equal to ``half1`` reuses it).
Segments longer than the data or shorter than ``min_timepoints`` are kept as rows with
NaN coordinates and a ``note``; a subject whose halves are too short is an error.

Group: two between-subject conventions
--------------------------------------
With ``h1_i``, ``h2_i`` the half-1 and half-2 targets of subject ``i`` (n subjects with
both halves):

- **within** (split-half): ``|h1_i - h2_i|``, one distance per subject.
- **pairwise_cross_half**: ``|h1_i - h2_j|`` for every ordered pair ``i != j``;
  ``n (n - 1)`` distances, each attributed to subject ``i`` (the half-1 owner). Like the
  within distance, it compares a half-1 target with a half-2 target, so both carry the
  same measurement noise.
- **centroid** (the Fox-lab convention): the distance of each half-target to the group
  centroid; ``2 n`` distances, two per subject. ``centroid="pooled"`` (default): the
  centroid is the mean of all ``2 n`` half-targets (= the mean over subjects of each
  subject's mean of its two halves); ``"per_half"``: ``h1_i`` is compared with the mean of
  the half-1 targets and ``h2_i`` with the mean of the half-2 targets. The centroid
  includes the subject itself (it is not leave-one-out).

Which convention gave the manuscript's 12.97 mm
-----------------------------------------------
Most likely the **centroid** convention. Targets on a 2 mm grid differ by lattice
distances ``2 sqrt(a^2 + b^2 + c^2)`` mm (0, 2, 2.83, 3.46, 4, 4.47, ...). A median of
grid-to-grid distances is a lattice distance, or (even count) the midpoint of two close
ones. The within-subject 4.47 mm is exactly ``sqrt(20)``, a lattice distance: a median
of grid-peak distances. The pairwise cross-half distances are also grid-to-grid, so their
median should be a lattice value too, but 12.97 mm is neither a lattice distance (the
nearest are 12.81, 12.96 and 13.11 mm) nor the midpoint of two lattice distances less
than one voxel apart (:func:`lattice_check`). Distances to a centroid - a mean of grid
points, off the grid - take continuous values, which 12.97 mm is. The centroid convention
is also what the Fox-lab papers report. The evidence is circumstantial: a mean of pairwise
distances would also be off-lattice.

Statistics
----------
Confidence intervals are percentile bootstraps that resample **subjects** (with
replacement), never distances: the between-subject distances share subjects and are not
independent. In a resample, a subject drawn twice counts as two subjects, but the pairs of
its two copies are left out (they would be within-subject distances), and the centroid is
recomputed from the resampled subjects. Ratios are between / within of the same
resample. The mixed model ``distance ~ type + (1 | subject)`` (statsmodels MixedLM, REML)
gives the between - within difference with a Wald CI; with the pairwise convention its
CI is too narrow (each distance involves two subjects, the model knows only one), so the
bootstrap interval is the one to quote.

Scan length
-----------
For each subject and each ``k``, the ``first_<k>min`` target is compared with

- ``full``: the full-data target (the best estimate available; the data overlap, so the
  distance shrinks to 0 at the full length: a convergence curve, optimistic);
- ``other_half``: the ``half2`` target, only when the first ``k`` minutes end before the
  second half starts (independent data; the curve levels out at the within-subject
  split-half distance, not at 0, because the reference has its own noise);
- ``retest`` (with ``paired_retest``): the ``retest_<k>min`` target (two independent scans
  of the same length: the test-retest distance of a ``k``-minute scan).

The group curve is the median over subjects at each ``k`` with a bootstrap CI over
subjects; :func:`minutes_needed` gives the first grid ``k`` from which the median (or its
upper CI limit) stays below a threshold (one voxel, or the between-subject median).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import nibabel as nib
import numpy as np
import pandas as pd
from scipy import stats

from tmstarget import settings
from tmstarget.circuits import TargetingError
from tmstarget.tables import cell, cells_frame
from tmstarget.vocabulary import CENTROIDS, CHOICES, CIRCUIT_SEARCHLIGHT, CONVENTIONS, METHODS

SEGMENT_FULL = "full"
SEGMENT_HALF1 = "half1"
SEGMENT_HALF2 = "half2"
REQUIRED_SEGMENTS = (SEGMENT_FULL, SEGMENT_HALF1, SEGMENT_HALF2)
FIRST_PREFIX = "first_"
RETEST_PREFIX = "retest_"

# CONVENTIONS, CENTROIDS and METHODS (names as in the config, targets.methods;
# "searchlight", Target.method, is accepted too) are tmstarget.vocabulary's.
SCAN_LENGTH_REFERENCES = ("full", "other_half", "retest")
CONVENTION_LABELS = {
    "within": "Within subject (split half)",
    "pairwise_cross_half": "Between subjects, pairwise cross-half",
    "centroid": "Between subjects, distance to group centroid",
}
REFERENCE_LABELS = {
    "full": "First k min vs full-data target",
    "other_half": "First k min vs second-half target",
    "retest": "First k min vs next k min (retest)",
}

SECTION = "reliability"
# The schema's defaults (config/schema.yaml, reliability.*).
_DEFAULTS = settings.defaults(SECTION)
DEFAULT_MINUTES_GRID = tuple(float(k) for k in _DEFAULTS["minutes_grid"])
DEFAULT_MIN_TIMEPOINTS = int(_DEFAULTS["min_timepoints"])
MANUSCRIPT_WITHIN_MM = float(_DEFAULTS["manuscript_within_mm"])
MANUSCRIPT_BETWEEN_MM = float(_DEFAULTS["manuscript_between_mm"])

TARGET_COLUMNS = (
    "subject",
    "segment",
    "method",
    "start_volume",
    "stop_volume",
    "n_timepoints",
    "minutes",
    "requested_minutes",
    "x_mm",
    "y_mm",
    "z_mm",
    "score",
    "note",
)
_XYZ = ["x_mm", "y_mm", "z_mm"]
# Resamples per vectorised block (pairwise medians hold block * n^2 floats).
_BOOTSTRAP_BLOCK = 250
_BOOTSTRAP_BLOCK_VALUES = 4_000_000
_CENTROID_WORDS = {
    "pooled": "the group centroid (mean of all half-targets)",
    "per_half": "the centroid of the same half (mean of the half-1, or half-2, targets)",
}

TargetFunction = Callable[[np.ndarray], Any]


def _floats(values: Sequence[float]) -> tuple[float, ...]:
    return tuple(float(value) for value in values)


@dataclass(frozen=True)
class ReliabilityParams:
    """Settings of the reliability analysis (config section ``reliability``).

    method : targeting method rerun on every segment: ``circuit_searchlight`` (the
        trial's), ``sgacc_classic`` or ``sgacc_cluster``; None = the workflow's
        ``targets.connectivity_method``.
    minutes_grid : scan lengths k (minutes) of the ``first_<k>min`` segments.
    min_timepoints : segments with fewer volumes are skipped (halves: an error).
    paired_retest : also target ``retest_<k>min`` (k minutes from the cut) for the
        test-retest curve; doubles the targeting runs for the scan-length curve.
    between_convention : the between-subject convention of the headline ratio and of the
        scan-length threshold: ``centroid`` or ``pairwise_cross_half``.
    centroid : ``pooled`` (mean of all half-targets) or ``per_half``.
    n_bootstrap, seed, confidence : subject bootstrap resamples, seed and CI level.
    one_voxel_mm : the one-voxel threshold (mm); None = the data's voxel size.
    threshold_inclusive : minutes needed counts a median equal to the threshold as reached
        ("within one voxel") instead of requiring it to be strictly below.
    manuscript_within_mm, manuscript_between_mm : the published numbers, printed beside ours.
    choices : target choices (:data:`tmstarget.uncertainty.CHOICES`) whose split-half
        distances are compared side by side (score-map methods only).
    """

    method: str | None = settings.default(SECTION, "method")
    minutes_grid: tuple[float, ...] = settings.default(SECTION, "minutes_grid", _floats)
    min_timepoints: int = settings.default(SECTION, "min_timepoints")
    paired_retest: bool = settings.default(SECTION, "paired_retest")
    between_convention: str = settings.default(SECTION, "between_convention")
    centroid: str = settings.default(SECTION, "centroid")
    n_bootstrap: int = settings.default(SECTION, "n_bootstrap")
    seed: int = settings.default(SECTION, "seed")
    confidence: float = settings.default(SECTION, "confidence", float)
    one_voxel_mm: float | None = settings.default(SECTION, "one_voxel_mm")
    threshold_inclusive: bool = settings.default(SECTION, "threshold_inclusive")
    manuscript_within_mm: float = settings.default(SECTION, "manuscript_within_mm", float)
    manuscript_between_mm: float = settings.default(SECTION, "manuscript_between_mm", float)
    choices: tuple[str, ...] = settings.default(SECTION, "choices")

    def __post_init__(self) -> None:
        object.__setattr__(self, "minutes_grid", tuple(float(k) for k in self.minutes_grid))
        object.__setattr__(self, "choices", tuple(self.choices))
        unknown = [choice for choice in self.choices if choice not in CHOICES]
        if unknown or len(set(self.choices)) != len(self.choices):
            raise ValueError(
                f"reliability.choices: {list(self.choices)} must be distinct names among "
                f"{', '.join(CHOICES)}"
            )
        choices = {
            "method": METHODS,
            "between_convention": CONVENTIONS,
            "centroid": CENTROIDS,
        }
        for name, allowed in choices.items():
            if name == "method" and self.method is None:
                continue
            if getattr(self, name) not in allowed:
                raise ValueError(
                    f"reliability.{name}: {getattr(self, name)!r} is not one of "
                    f"{', '.join(allowed)}"
                )
        _check_minutes_grid(self.minutes_grid, "reliability.minutes_grid")
        if self.min_timepoints < 3:
            raise ValueError("reliability.min_timepoints: a correlation needs at least 3")
        if self.n_bootstrap < 100:
            raise ValueError("reliability.n_bootstrap: use at least 100 resamples")
        if not 0.5 <= self.confidence < 1.0:
            raise ValueError("reliability.confidence: must be in [0.5, 1), e.g. 0.95")
        if self.one_voxel_mm is not None and not self.one_voxel_mm > 0:
            raise ValueError("reliability.one_voxel_mm: must be > 0 mm, or null")

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> ReliabilityParams:
        """Build from a config mapping; unknown keys are an error naming the key."""
        return settings.from_config(cls, SECTION, config)


def _check_minutes_grid(minutes_grid: Sequence[float], name: str = "minutes_grid") -> None:
    grid = np.asarray(minutes_grid, dtype=float)
    if grid.ndim != 1 or grid.size == 0:
        raise ValueError(f"{name}: give a non-empty list of minutes")
    if not np.all(np.isfinite(grid)) or np.any(grid <= 0):
        raise ValueError(f"{name}: minutes must be positive numbers, got {grid.tolist()}")
    if np.unique(grid).size != grid.size:
        raise ValueError(f"{name}: minutes must not repeat, got {grid.tolist()}")


# --------------------------------------------------------------------------------------
# Per subject
# --------------------------------------------------------------------------------------


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
    """The segments of one subject's series (see the module docstring), one row each.

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
    paired_retest : also target ``retest_<k>min`` (see the module docstring).
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
                try:
                    outcome = (
                        window_fn(start, stop)
                        if window_fn is not None
                        else target_fn(timeseries[start:stop])
                    )
                    computed[key] = _target_record(outcome)
                except TargetingError as error:
                    if segment.segment in REQUIRED_SEGMENTS:
                        raise TargetingError(
                            f"subject {subject or '?'}, segment {segment.segment} "
                            f"(volumes {start}-{stop - 1}): {error}"
                        ) from error
                    computed[key] = f"targeting failed: {error}"
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


# --------------------------------------------------------------------------------------
# Group: distances
# --------------------------------------------------------------------------------------


def _as_targets(targets: pd.DataFrame | Sequence[pd.DataFrame]) -> pd.DataFrame:
    """One long targets frame from a frame or a list of per-subject frames."""
    if not isinstance(targets, pd.DataFrame):
        targets = pd.concat(list(targets), ignore_index=True)
    missing = {"subject", "segment", *_XYZ} - set(targets.columns)
    if missing:
        raise ValueError(f"targets lack the column(s) {', '.join(sorted(missing))}")
    return targets


def half_targets(targets: pd.DataFrame | Sequence[pd.DataFrame]) -> tuple[list[str], np.ndarray]:
    """Subjects with both half targets and those targets, ``(subjects, halves)``.

    ``halves`` has shape (n_subjects, 2, 3): ``[:, 0]`` half 1, ``[:, 1]`` half 2, mm.
    Subjects are sorted; a subject without a finite target for either half is left out.
    """
    targets = _as_targets(targets)
    frames = []
    for segment in (SEGMENT_HALF1, SEGMENT_HALF2):
        rows = targets[targets["segment"] == segment]
        duplicated = rows["subject"][rows["subject"].duplicated()].unique().tolist()
        if duplicated:
            raise ValueError(f"subject(s) {duplicated} have more than one {segment} row")
        coordinates = rows.set_index(rows["subject"].astype(str))[_XYZ].astype(float)
        frames.append(coordinates.add_suffix(f"_{segment}"))
    both = frames[0].join(frames[1], how="inner")
    both = both[np.isfinite(both.to_numpy()).all(axis=1)].sort_index()
    halves = both.to_numpy().reshape(len(both), 2, 3)
    return [str(subject) for subject in both.index], halves


def _need_subjects(n_subjects: int, minimum: int, what: str) -> None:
    if n_subjects < minimum:
        raise ValueError(
            f"{what} needs at least {minimum} subjects with both half targets, got {n_subjects}"
        )


def within_subject_distances(targets: pd.DataFrame | Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Split-half distance per subject: ``|h1_i - h2_i|`` (mm); columns subject, distance_mm."""
    subjects, halves = half_targets(targets)
    _need_subjects(len(subjects), 1, "the within-subject distance")
    distance = np.linalg.norm(halves[:, 0] - halves[:, 1], axis=1)
    return pd.DataFrame({"subject": subjects, "distance_mm": distance})


def cross_half_matrix(halves: np.ndarray) -> np.ndarray:
    """``D[i, j] = |h1_i - h2_j|`` (mm), shape (n, n); the diagonal is the within distance."""
    return np.linalg.norm(halves[:, None, 0, :] - halves[None, :, 1, :], axis=-1)


def group_centroid(halves: np.ndarray, centroid: str = "pooled") -> np.ndarray:
    """The group centroid of half-targets (mm).

    ``pooled``: mean of all 2n half-targets, shape (3,). ``per_half``: the mean half-1
    and the mean half-2 target, shape (2, 3).
    """
    if centroid not in CENTROIDS:
        raise ValueError(f"centroid must be one of {', '.join(CENTROIDS)}, got {centroid!r}")
    if centroid == "pooled":
        return halves.mean(axis=(0, 1))
    return halves.mean(axis=0)


def between_subject_distances(
    targets: pd.DataFrame | Sequence[pd.DataFrame],
    convention: str = "pairwise_cross_half",
    centroid: str = "pooled",
) -> pd.DataFrame:
    """Between-subject distances (mm) under one named convention.

    - ``pairwise_cross_half``: ``|h1_i - h2_j|`` for all ordered pairs ``i != j``
      (n (n - 1) rows); columns subject (i, the half-1 owner), other_subject (j),
      distance_mm.
    - ``centroid``: ``|h_i - c|`` for each half-target (2 n rows), ``c`` from
      :func:`group_centroid` (``pooled``: mean of all half-targets; ``per_half``: the
      centroid of the same half); columns subject, half (``half1``/``half2``),
      distance_mm.
    """
    subjects, halves = half_targets(targets)
    _need_subjects(len(subjects), 2, "a between-subject distance")
    if convention == "pairwise_cross_half":
        matrix = cross_half_matrix(halves)
        first, second = np.nonzero(~np.eye(len(subjects), dtype=bool))
        return pd.DataFrame(
            {
                "subject": [subjects[i] for i in first],
                "other_subject": [subjects[j] for j in second],
                "distance_mm": matrix[first, second],
            }
        )
    if convention == "centroid":
        centre = group_centroid(halves, centroid)
        distance = np.linalg.norm(halves - centre, axis=-1)  # (n, 2); broadcasts both forms
        return pd.DataFrame(
            {
                "subject": np.repeat(subjects, 2),
                "half": np.tile([SEGMENT_HALF1, SEGMENT_HALF2], len(subjects)),
                "distance_mm": distance.ravel(),
            }
        )
    raise ValueError(f"convention must be one of {', '.join(CONVENTIONS)}, got {convention!r}")


def distance_table(
    targets: pd.DataFrame | Sequence[pd.DataFrame], centroid: str = "pooled"
) -> pd.DataFrame:
    """All distances in one long frame: subject, type (within/between), convention
    (``within``, ``pairwise_cross_half``, ``centroid``), distance_mm."""
    targets = _as_targets(targets)
    parts = [within_subject_distances(targets).assign(type="within", convention="within")]
    for convention in CONVENTIONS:
        between = between_subject_distances(targets, convention, centroid)
        parts.append(between.assign(type="between", convention=convention))
    frame = pd.concat(parts, ignore_index=True)
    return frame[["subject", "type", "convention", "distance_mm"]]


def per_subject_distances(
    targets: pd.DataFrame | Sequence[pd.DataFrame], centroid: str = "pooled"
) -> pd.DataFrame:
    """One row per subject: ``within_mm`` and the subject's mean between distance under
    each convention: ``pairwise_cross_half_mm`` = mean of the 2 (n - 1) cross-half
    distances involving the subject (``|h1_i - h2_j|`` and ``|h1_j - h2_i|``, j != i);
    ``centroid_mm`` = mean distance of its two half-targets to the centroid."""
    subjects, halves = half_targets(targets)
    _need_subjects(len(subjects), 2, "a between-subject distance")
    n = len(subjects)
    matrix = cross_half_matrix(halves)
    off_diagonal = matrix.sum(axis=1) + matrix.sum(axis=0) - 2 * np.diag(matrix)
    centre = group_centroid(halves, centroid)
    return pd.DataFrame(
        {
            "subject": subjects,
            "within_mm": np.diag(matrix).copy(),
            "pairwise_cross_half_mm": off_diagonal / (2 * (n - 1)),
            "centroid_mm": np.linalg.norm(halves - centre, axis=-1).mean(axis=1),
        }
    )


# --------------------------------------------------------------------------------------
# Group: statistics
# --------------------------------------------------------------------------------------


def bootstrap_subjects(
    statistic: Callable[[np.ndarray], np.ndarray],
    n_subjects: int,
    n_bootstrap: int = 2000,
    seed: int = 0,
    block: int = _BOOTSTRAP_BLOCK,
) -> np.ndarray:
    """Replicates of ``statistic`` over resamples of subjects.

    ``statistic(indices)`` receives a (b, n_subjects) integer array, each row a resample of
    subject indices drawn with replacement, and returns b values (or b rows). Indices are
    drawn with ``numpy.random.default_rng(seed)`` in one (n_bootstrap, n_subjects) draw, so
    the result does not depend on ``block`` (the number of rows passed per call).
    """
    rng = np.random.default_rng(seed)
    indices = rng.integers(0, n_subjects, size=(n_bootstrap, n_subjects))
    parts = [statistic(indices[start : start + block]) for start in range(0, n_bootstrap, block)]
    return np.concatenate([np.asarray(part, dtype=float) for part in parts], axis=0)


def percentile_interval(replicates: np.ndarray, confidence: float = 0.95) -> np.ndarray:
    """Percentile interval along axis 0: array (2, ...) of lower and upper limits."""
    alpha = 100.0 * (1.0 - confidence) / 2.0
    return np.nanpercentile(replicates, [alpha, 100.0 - alpha], axis=0)


_REPLICATE_COLUMNS = (
    "within_median",
    "within_mean",
    "pairwise_cross_half_median",
    "pairwise_cross_half_mean",
    "centroid_median",
    "centroid_mean",
)


def _group_replicates(halves: np.ndarray, indices: np.ndarray, centroid: str) -> np.ndarray:
    """Medians and means of the three distance sets for each row of subject ``indices``.

    Returns (b, 6) in the order of ``_REPLICATE_COLUMNS``. A subject drawn twice is two
    subjects, but pairs of its two copies are left out; the centroid is the resample's.
    """
    within = np.linalg.norm(halves[:, 0] - halves[:, 1], axis=1)[indices]
    matrix = cross_half_matrix(halves)
    pairs = matrix[indices[:, :, None], indices[:, None, :]]
    distinct = indices[:, :, None] != indices[:, None, :]
    pairs = np.where(distinct, pairs, np.nan).reshape(len(indices), -1)
    drawn = halves[indices]  # (b, n, 2, 3)
    if centroid == "pooled":
        centre = drawn.mean(axis=(1, 2))[:, None, None, :]
    else:
        centre = drawn.mean(axis=1)[:, None, :, :]
    to_centre = np.linalg.norm(drawn - centre, axis=-1).reshape(len(indices), -1)
    with warnings.catch_warnings():
        # a resample of copies of one subject has no between pair: NaN, by design
        warnings.simplefilter("ignore", RuntimeWarning)
        columns = [
            np.median(within, axis=1),
            within.mean(axis=1),
            np.nanmedian(pairs, axis=1),
            np.nanmean(pairs, axis=1),
            np.median(to_centre, axis=1),
            to_centre.mean(axis=1),
        ]
    return np.column_stack(columns)


def summarise(
    targets: pd.DataFrame | Sequence[pd.DataFrame],
    n_bootstrap: int = 2000,
    seed: int = 20265,
    confidence: float = 0.95,
    centroid: str = "pooled",
) -> pd.DataFrame:
    """Medians and means of the within and between distances with subject-bootstrap CIs.

    Rows (``quantity``): ``within``, ``pairwise_cross_half``, ``centroid`` (unit mm) and
    ``ratio_pairwise_cross_half``, ``ratio_centroid`` (between / within, unit ratio; the
    ``median`` column holds the ratio of medians, ``mean`` the ratio of means). Columns:
    quantity, unit, n_subjects, n_distances, median, median_low, median_high, mean,
    mean_low, mean_high. CIs: percentile bootstrap of ``n_bootstrap`` resamples of
    subjects (:func:`bootstrap_subjects`, seeded); ratios from the same resamples.
    """
    subjects, halves = half_targets(targets)
    n = len(subjects)
    _need_subjects(n, 2, "the reliability summary")
    if centroid not in CENTROIDS:
        raise ValueError(f"centroid must be one of {', '.join(CENTROIDS)}, got {centroid!r}")

    def statistic(indices: np.ndarray) -> np.ndarray:
        values = _group_replicates(halves, indices, centroid)
        ratios = values[:, 2:] / values[:, [0, 1, 0, 1]]
        return np.column_stack([values, ratios])

    with np.errstate(divide="ignore", invalid="ignore"):
        point = statistic(np.arange(n)[None, :])[0]
        block = max(1, min(_BOOTSTRAP_BLOCK, _BOOTSTRAP_BLOCK_VALUES // (n * n)))
        replicates = bootstrap_subjects(statistic, n, n_bootstrap, seed, block)
    replicates[~np.isfinite(replicates)] = np.nan
    low, high = percentile_interval(replicates, confidence)
    counts = {"within": n, "pairwise_cross_half": n * (n - 1), "centroid": 2 * n}
    rows = []
    for position, quantity in enumerate(("within", "pairwise_cross_half", "centroid")):
        columns = (2 * position, 2 * position + 1)
        rows.append((quantity, "mm", counts[quantity], columns))
    for position, convention in enumerate(CONVENTIONS):
        columns = (6 + 2 * position, 7 + 2 * position)
        rows.append((f"ratio_{convention}", "ratio", counts[convention], columns))
    frame = pd.DataFrame(
        [
            {
                "quantity": quantity,
                "unit": unit,
                "n_subjects": n,
                "n_distances": n_distances,
                "median": point[median_at],
                "median_low": low[median_at],
                "median_high": high[median_at],
                "mean": point[mean_at],
                "mean_low": low[mean_at],
                "mean_high": high[mean_at],
            }
            for quantity, unit, n_distances, (median_at, mean_at) in rows
        ]
    )
    frame.attrs.update(
        {"n_bootstrap": n_bootstrap, "seed": seed, "confidence": confidence, "centroid": centroid}
    )
    return frame


def mixed_model(
    distances: pd.DataFrame,
    convention: str = "centroid",
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Linear mixed model ``distance ~ type + (1 | subject)``, between vs within.

    ``distances`` is :func:`distance_table` (within rows plus the between rows of
    ``convention``). Fitted by REML with statsmodels MixedLM; treatment coding with
    ``within`` as reference, so ``difference`` = between - within (mm) with a Wald CI and
    P. One row: convention, n_subjects, n_within, n_between, within_mean (intercept, mm),
    difference, low, high, p_value, subject_variance (random-intercept variance, mm^2),
    residual_variance, converged. The pairwise convention's rows share subjects beyond
    the one the model knows, so its CI is too narrow: prefer the bootstrap there.
    """
    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {', '.join(CONVENTIONS)}, got {convention!r}")
    data = distances[distances["convention"].isin(["within", convention])]
    data = data.sort_values(["subject", "type"], kind="stable")
    between = (data["type"] == "between").to_numpy(dtype=float)
    if between.sum() == 0 or between.sum() == len(data):
        raise ValueError(f"mixed model: needs both within and {convention} distances")
    design = np.column_stack([np.ones(len(data)), between])
    model = sm.MixedLM(
        data["distance_mm"].to_numpy(dtype=float),
        design,
        groups=data["subject"].astype(str).to_numpy(),
        exog_re=np.ones((len(data), 1)),
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = model.fit(reml=True)
    converged = bool(getattr(result, "converged", True)) and not any(
        issubclass(w.category, ConvergenceWarning) for w in caught
    )
    beta = np.asarray(result.fe_params, dtype=float)
    covariance = np.asarray(result.cov_params(), dtype=float)[:2, :2]
    se = math.sqrt(covariance[1, 1])
    z = float(stats.norm.isf((1.0 - confidence) / 2.0))
    p_value = float(2 * stats.norm.sf(abs(beta[1] / se))) if se > 0 else math.nan
    return pd.DataFrame(
        [
            {
                "convention": convention,
                "n_subjects": int(data["subject"].nunique()),
                "n_within": int((between == 0).sum()),
                "n_between": int(between.sum()),
                "within_mean": float(beta[0]),
                "difference": float(beta[1]),
                "low": float(beta[1] - z * se),
                "high": float(beta[1] + z * se),
                "p_value": p_value,
                "subject_variance": float(np.asarray(result.cov_re)[0, 0]),
                "residual_variance": float(result.scale),
                "converged": converged,
            }
        ]
    )


def lattice_distances(voxel_mm: float = 2.0, max_mm: float = 40.0) -> np.ndarray:
    """Every distance between centres of a cubic grid of ``voxel_mm`` up to ``max_mm``,
    sorted: ``voxel_mm * sqrt(a^2 + b^2 + c^2)`` for integers a, b, c."""
    reach = int(math.ceil(max_mm / voxel_mm))
    steps = np.arange(reach + 1)
    squares = (
        steps[:, None, None] ** 2 + steps[None, :, None] ** 2 + steps[None, None, :] ** 2
    ).ravel()
    distances = voxel_mm * np.sqrt(np.unique(squares))
    return distances[distances <= max_mm + 1e-9]


def lattice_check(
    value_mm: float, voxel_mm: float = 2.0, decimals: int = 2, max_gap_mm: float | None = None
) -> dict[str, Any]:
    """Whether a reported distance can be a median of grid-to-grid distances.

    A median of distances between grid points is a lattice distance, or (even count) the
    midpoint of two of them that are neighbours in the sorted list, hence close: here at
    most ``max_gap_mm`` apart (default one voxel). Rounded to ``decimals``, as reported.
    Returns value_mm, nearest_lattice_mm, lattice_below_mm / lattice_above_mm (the
    lattice distances either side), is_lattice, midpoint (a matching pair of different
    lattice distances, or None) and consistent_with_grid_median (either holds).
    """
    gap = voxel_mm if max_gap_mm is None else max_gap_mm
    lattice = lattice_distances(voxel_mm, value_mm + gap + voxel_mm)
    tolerance = 0.5 * 10.0**-decimals + 1e-12
    nearest = float(lattice[np.argmin(np.abs(lattice - value_mm))])
    is_lattice = abs(nearest - value_mm) <= tolerance
    midpoint = None
    for a in lattice:
        partners = lattice[(lattice > a) & (lattice <= a + gap)]
        match = partners[np.abs((a + partners) / 2 - value_mm) <= tolerance]
        if match.size:
            midpoint = (float(a), float(match[0]))
            break
    below = lattice[lattice <= value_mm]
    above = lattice[lattice > value_mm]
    return {
        "value_mm": float(value_mm),
        "nearest_lattice_mm": nearest,
        "lattice_below_mm": float(below[-1]) if below.size else math.nan,
        "lattice_above_mm": float(above[0]) if above.size else math.nan,
        "is_lattice": bool(is_lattice),
        "midpoint": midpoint,
        "consistent_with_grid_median": bool(is_lattice or midpoint is not None),
    }


def manuscript_convention_note(
    within_mm: float = MANUSCRIPT_WITHIN_MM,
    between_mm: float = MANUSCRIPT_BETWEEN_MM,
    voxel_mm: float = 2.0,
) -> str:
    """One paragraph: which between-subject convention the published numbers most likely
    used, from :func:`lattice_check` (see the module docstring)."""
    within = lattice_check(within_mm, voxel_mm)
    between = lattice_check(between_mm, voxel_mm)
    if within["is_lattice"] and not between["consistent_with_grid_median"]:
        verdict = (
            f"The published within-subject {within_mm:.2f} mm is a lattice distance of a "
            f"{voxel_mm:g} mm grid (a median of grid-peak distances), but {between_mm:.2f} mm "
            "is neither a lattice distance (the nearest are "
            f"{between['lattice_below_mm']:.4f} and {between['lattice_above_mm']:.4f} mm) "
            "nor the midpoint of two nearby ones, as a median of pairwise grid-to-grid "
            "distances would be. Distances to a group "
            "centroid (off the grid) take continuous values: the published between-subject "
            "number most likely used the centroid convention (the Fox-lab one)."
        )
    else:
        verdict = (
            f"Lattice check: within {within_mm:.2f} mm lattice = {within['is_lattice']}, "
            f"between {between_mm:.2f} mm consistent with a grid median = "
            f"{between['consistent_with_grid_median']}; the convention cannot be told apart "
            "from the numbers alone."
        )
    return verdict


# --------------------------------------------------------------------------------------
# Scan length
# --------------------------------------------------------------------------------------


def scan_length_distances(targets: pd.DataFrame | Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Per subject and k: distance (mm) of the ``first_<k>min`` target to each reference.

    Columns: subject, minutes (k), n_timepoints, reference (``full``, ``other_half``,
    ``retest``), distance_mm. ``other_half`` only when the first k minutes end at or
    before the start of half 2; ``retest`` only with ``retest_<k>min`` rows. Skipped
    segments (NaN coordinates) give no row.
    """
    targets = _as_targets(targets)
    targets = targets[np.isfinite(targets[_XYZ].to_numpy(dtype=float)).all(axis=1)]
    rows = []
    for subject, own in targets.groupby(targets["subject"].astype(str), sort=True):
        by_segment = own.set_index("segment")
        if by_segment.index.duplicated().any():
            raise ValueError(f"subject {subject}: a segment appears twice")
        references: dict[str, np.ndarray] = {}
        if SEGMENT_FULL in by_segment.index:
            references["full"] = by_segment.loc[SEGMENT_FULL, _XYZ].to_numpy(dtype=float)
        half2_start = math.inf
        if SEGMENT_HALF2 in by_segment.index:
            references["other_half"] = by_segment.loc[SEGMENT_HALF2, _XYZ].to_numpy(dtype=float)
            half2_start = float(by_segment.loc[SEGMENT_HALF2, "start_volume"])
        for segment, row in by_segment.iterrows():
            if not str(segment).startswith(FIRST_PREFIX):
                continue
            position = row[_XYZ].to_numpy(dtype=float)
            minutes = float(row["requested_minutes"])
            compare = dict(references)
            if float(row["stop_volume"]) > half2_start:
                compare.pop("other_half", None)
            retest = segment_label(RETEST_PREFIX, minutes)
            if retest in by_segment.index:
                compare["retest"] = by_segment.loc[retest, _XYZ].to_numpy(dtype=float)
            for reference, other in compare.items():
                rows.append(
                    {
                        "subject": subject,
                        "minutes": minutes,
                        "n_timepoints": int(row["n_timepoints"]),
                        "reference": reference,
                        "distance_mm": float(np.linalg.norm(position - other)),
                    }
                )
    return pd.DataFrame(
        rows, columns=["subject", "minutes", "n_timepoints", "reference", "distance_mm"]
    )


def scan_length_curve(
    targets: pd.DataFrame | Sequence[pd.DataFrame],
    n_bootstrap: int = 2000,
    seed: int = 20265,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Group curve of target distance vs scan length, per reference and k.

    ``targets``: the per-subject tables of :func:`subject_reliability` (a list or one
    concatenated frame). Columns: reference, minutes, n_subjects, median_mm, low, high
    (percentile bootstrap CI of the median, resampling subjects; seeded, the same seed at
    every k), mean_mm. Subjects whose data are shorter than k are absent at that k (see
    ``n_subjects``).
    """
    distances = scan_length_distances(targets)
    rows = []
    for (reference, minutes), group in distances.groupby(["reference", "minutes"], sort=True):
        values = group["distance_mm"].to_numpy(dtype=float)
        replicates = bootstrap_subjects(
            lambda indices, values=values: np.median(values[indices], axis=1),
            len(values),
            n_bootstrap,
            seed,
        )
        low, high = percentile_interval(replicates, confidence)
        rows.append(
            {
                "reference": reference,
                "minutes": float(minutes),
                "n_subjects": len(values),
                "median_mm": float(np.median(values)),
                "low": float(low),
                "high": float(high),
                "mean_mm": float(values.mean()),
            }
        )
    frame = pd.DataFrame(
        rows,
        columns=["reference", "minutes", "n_subjects", "median_mm", "low", "high", "mean_mm"],
    )
    order = {name: i for i, name in enumerate(SCAN_LENGTH_REFERENCES)}
    frame = frame.sort_values(
        ["reference", "minutes"], key=lambda s: s.map(order) if s.name == "reference" else s
    ).reset_index(drop=True)
    frame.attrs.update({"n_bootstrap": n_bootstrap, "seed": seed, "confidence": confidence})
    return frame


def minutes_needed(
    curve: pd.DataFrame,
    threshold_mm: float,
    reference: str = "full",
    bound: str = "median",
    inclusive: bool = False,
) -> float:
    """The first grid k (minutes) from which the curve stays below ``threshold_mm``.

    ``bound="median"`` uses the median, ``"high"`` its upper CI limit (conservative). "Stays
    below": at k and at every longer k of the curve; strictly below unless ``inclusive``
    (grid targets give lattice distances, so a median of exactly one voxel is common:
    ``inclusive=True`` reads "within one voxel"). NaN when it never gets there (or the
    reference is absent).
    """
    if bound not in ("median", "high"):
        raise ValueError(f"bound must be 'median' or 'high', got {bound!r}")
    column = "median_mm" if bound == "median" else "high"
    rows = curve[curve["reference"] == reference].sort_values("minutes")
    values = rows[column].to_numpy(dtype=float)
    below = values <= threshold_mm if inclusive else values < threshold_mm
    if below.size == 0 or not below[-1]:
        return math.nan
    # last position that is not below, then the next grid point
    above = np.flatnonzero(~below)
    first = 0 if above.size == 0 else int(above[-1]) + 1
    return float(rows["minutes"].to_numpy()[first])


def minutes_needed_table(
    curve: pd.DataFrame, thresholds_mm: Mapping[str, float], inclusive: bool = False
) -> pd.DataFrame:
    """:func:`minutes_needed` for every reference of ``curve`` and every named threshold
    (e.g. ``{"one voxel": 2.0, "between-subject median": 11.2}``), by the median and by
    its upper CI limit. Columns: reference, threshold, threshold_mm, minutes_median,
    minutes_upper_ci."""
    rows = []
    references = [r for r in SCAN_LENGTH_REFERENCES if r in set(curve["reference"])]
    for reference in references:
        for name, threshold in thresholds_mm.items():
            rows.append(
                {
                    "reference": reference,
                    "threshold": name,
                    "threshold_mm": float(threshold),
                    "minutes_median": minutes_needed(
                        curve, threshold, reference, "median", inclusive
                    ),
                    "minutes_upper_ci": minutes_needed(
                        curve, threshold, reference, "high", inclusive
                    ),
                }
            )
    frame = pd.DataFrame(
        rows,
        columns=["reference", "threshold", "threshold_mm", "minutes_median", "minutes_upper_ci"],
    )
    frame.attrs["inclusive"] = inclusive
    return frame


# --------------------------------------------------------------------------------------
# Tables and the whole analysis
# --------------------------------------------------------------------------------------


def reliability_table(
    summary: pd.DataFrame,
    mixed: pd.DataFrame,
    manuscript_within_mm: float = MANUSCRIPT_WITHIN_MM,
    manuscript_between_mm: float = MANUSCRIPT_BETWEEN_MM,
    voxel_mm: float = 2.0,
) -> pd.DataFrame:
    """Cell frame (for :func:`tmstarget.tables.write_table`) of the split-half analysis:
    median and mean (95% CI) of each distance set, the between/within ratios, the mixed
    model difference, and the published numbers beside them."""
    confidence = float(summary.attrs.get("confidence", 0.95))
    level = f"{100 * confidence:g}%"
    columns = {
        "n": "Distances (subjects)",
        "median": f"Median ({level} CI)",
        "mean": f"Mean ({level} CI)",
        "published": "Published",
    }
    published = {
        "within": manuscript_within_mm,
        "centroid": manuscript_between_mm,
        "ratio_centroid": manuscript_between_mm / manuscript_within_mm,
    }
    labels = {
        **CONVENTION_LABELS,
        "ratio_pairwise_cross_half": "Pairwise cross-half / within",
        "ratio_centroid": "Centroid / within",
    }
    cells = []
    for record in summary.to_dict("records"):
        quantity = record["quantity"]
        section = "Ratio between / within" if record["unit"] == "ratio" else "Distance, mm"
        decimals = 2
        row = labels[quantity]
        count_text = f"{record['n_distances']:,} ({record['n_subjects']})"
        cells.append(cell(section, row, "n", "text", column_label=columns["n"], text=count_text))
        for name in ("median", "mean"):
            cells.append(
                cell(
                    section,
                    row,
                    name,
                    "estimate_ci",
                    column_label=columns[name],
                    value=record[name],
                    low=record[f"{name}_low"],
                    high=record[f"{name}_high"],
                    decimals=decimals,
                )
            )
        reported = published.get(quantity)
        cells.append(
            cell(
                section,
                row,
                "published",
                "number" if reported is not None else "text",
                column_label=columns["published"],
                value=math.nan if reported is None else reported,
                decimals=2,
                text="",
            )
        )
    section = "Mixed model, between - within, mm"
    for record in mixed.to_dict("records"):
        row = CONVENTION_LABELS[record["convention"]]
        count_text = f"{record['n_within'] + record['n_between']:,} ({record['n_subjects']})"
        cells.append(cell(section, row, "n", "text", column_label=columns["n"], text=count_text))
        cells.append(
            cell(
                section,
                row,
                "median",
                "text",
                column_label=columns["median"],
                text="",
            )
        )
        cells.append(
            cell(
                section,
                row,
                "mean",
                "estimate_ci",
                column_label=columns["mean"],
                value=record["difference"],
                low=record["low"],
                high=record["high"],
                decimals=2,
            )
        )
        cells.append(
            cell(section, row, "published", "text", column_label=columns["published"], text="")
        )
    notes = [
        "Targets of the two contiguous halves of each subject's concatenated series (cut at "
        "T/2). Within: distance between a subject's two half-targets. Pairwise cross-half: "
        "half-1 target of one subject vs half-2 target of another, all ordered pairs. "
        "Centroid: each half-target vs "
        + _CENTROID_WORDS[summary.attrs.get("centroid", "pooled")]
        + ".",
        f"CIs: percentile bootstrap resampling subjects ({summary.attrs.get('n_bootstrap')} "
        f"resamples, seed {summary.attrs.get('seed')}). Mixed model distance ~ type + "
        "(1 | subject), REML, Wald CI (too narrow for the pairwise convention, whose "
        "distances share two subjects).",
        manuscript_convention_note(manuscript_within_mm, manuscript_between_mm, voxel_mm),
    ]
    return cells_frame(
        cells, caption="Split-half reliability of targets", notes=notes, row_header=""
    )


def scan_length_table(curve: pd.DataFrame, needed: pd.DataFrame | None = None) -> pd.DataFrame:
    """Cell frame of the scan-length curve: per k, the median distance (CI) to each
    reference and the number of subjects; ``needed`` (:func:`minutes_needed_table`) adds a
    section with the minutes after which the median stays below each threshold."""
    confidence = float(curve.attrs.get("confidence", 0.95))
    level = f"{100 * confidence:g}%"
    references = [r for r in SCAN_LENGTH_REFERENCES if r in set(curve["reference"])]
    cells = []
    section = f"Median distance, mm ({level} CI)"
    for minutes in sorted(curve["minutes"].unique()):
        row = f"{minutes:g} min"
        for reference in references:
            match = curve[(curve["reference"] == reference) & (curve["minutes"] == minutes)]
            label = REFERENCE_LABELS[reference]
            if match.empty:
                cells.append(cell(section, row, reference, "text", column_label=label, text="-"))
                continue
            record = match.iloc[0]
            cells.append(
                cell(
                    section,
                    row,
                    reference,
                    "estimate_ci",
                    column_label=label,
                    value=record["median_mm"],
                    low=record["low"],
                    high=record["high"],
                    decimals=2,
                )
            )
        n_subjects = int(curve.loc[curve["minutes"] == minutes, "n_subjects"].max())
        cells.append(cell(section, row, "n", "count", column_label="Subjects", count=n_subjects))
    if needed is not None and len(needed):
        relation = "at or below" if needed.attrs.get("inclusive") else "below"
        section = f"Minutes from which the median stays {relation} (upper CI limit in brackets)"
        for record in needed.to_dict("records"):
            row = f"{record['threshold']} ({record['threshold_mm']:.2f} mm)"

            def minutes_text(value: float) -> str:
                return "not reached" if math.isnan(value) else f"{value:g}"

            text = (
                f"{minutes_text(record['minutes_median'])} "
                f"[{minutes_text(record['minutes_upper_ci'])}]"
            )
            cells.append(
                cell(
                    section,
                    row,
                    record["reference"],
                    "text",
                    column_label=REFERENCE_LABELS[record["reference"]],
                    text=text,
                )
            )
    notes = [
        "Target from the first k minutes of each subject's concatenated series, compared with "
        "the full-data target (overlapping data, converges to 0), with the second-half target "
        "(independent data; only while the first k minutes end before the second half) and, "
        "where computed, with the next k minutes after the cut (retest).",
        f"CIs: percentile bootstrap over subjects ({curve.attrs.get('n_bootstrap')} resamples, "
        f"seed {curve.attrs.get('seed')}). Subjects with less data than k minutes are absent "
        "at that k.",
    ]
    return cells_frame(cells, caption="Target distance by scan length", notes=notes)


@dataclass
class ReliabilityResults:
    """Everything the group step writes (frames for tables and figures)."""

    targets: pd.DataFrame
    distances: pd.DataFrame
    per_subject: pd.DataFrame
    summary: pd.DataFrame
    mixed: pd.DataFrame
    curve: pd.DataFrame
    needed: pd.DataFrame
    one_voxel_mm: float
    between_mm: float
    convention_note: str
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)


def analyse_reliability(
    targets: pd.DataFrame | Sequence[pd.DataFrame],
    params: ReliabilityParams | None = None,
    voxel_mm: float | None = None,
) -> ReliabilityResults:
    """The group analysis from the per-subject target tables: distances, summary with
    CIs, mixed models (both conventions), scan-length curve and minutes needed, and the
    two manuscript tables (``tables["reliability"]``, ``tables["scan_length"]``).

    The one-voxel threshold is ``params.one_voxel_mm``, else ``voxel_mm`` (the data's
    voxel size), else 2 mm; the between-subject threshold is the median of
    ``params.between_convention``.
    """
    params = params or ReliabilityParams()
    targets = _as_targets(targets)
    one_voxel = params.one_voxel_mm or voxel_mm or 2.0
    distances = distance_table(targets, params.centroid)
    per_subject = per_subject_distances(targets, params.centroid)
    summary = summarise(
        targets, params.n_bootstrap, params.seed, params.confidence, params.centroid
    )
    mixed = pd.concat(
        [mixed_model(distances, convention, params.confidence) for convention in CONVENTIONS],
        ignore_index=True,
    )
    curve = scan_length_curve(targets, params.n_bootstrap, params.seed, params.confidence)
    between = float(summary.set_index("quantity").loc[params.between_convention, "median"])
    thresholds = {"one voxel": one_voxel, "between-subject median": between}
    needed = minutes_needed_table(curve, thresholds, params.threshold_inclusive)
    note = manuscript_convention_note(
        params.manuscript_within_mm, params.manuscript_between_mm, one_voxel
    )
    tables = {
        "reliability": reliability_table(
            summary, mixed, params.manuscript_within_mm, params.manuscript_between_mm, one_voxel
        ),
        "scan_length": scan_length_table(curve, needed),
    }
    return ReliabilityResults(
        targets=targets,
        distances=distances,
        per_subject=per_subject,
        summary=summary,
        mixed=mixed,
        curve=curve,
        needed=needed,
        one_voxel_mm=float(one_voxel),
        between_mm=between,
        convention_note=note,
        tables=tables,
    )


# --------------------------------------------------------------------------------------
# Target choices side by side
# --------------------------------------------------------------------------------------

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
    """:func:`summarise` for each target choice (rows of ``choice_targets``, the
    per-subject tables of find_targets: subject, choice, segment half1/half2, x/y/z mm),
    stacked with a ``choice`` column, in the order of ``params.choices``. Empty when no
    choice was computed (a method without a score map)."""
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
    """Cell frame of the choices side by side: per choice, the median (CI) within-subject
    distance, both between-subject conventions and the ratio under the configured one,
    with the published numbers in the first row's notes."""
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
