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

Layout
------
The names above are imported from :mod:`tmstarget.reliability`; they live in sub-modules
along the analysis's seams (none imports the package itself, so there is no circle):

- :mod:`~tmstarget.reliability.params`: :class:`ReliabilityParams`, segment names and labels.
- :mod:`~tmstarget.reliability.subject`: the per-subject segments and targets
  (:func:`subject_reliability`, :func:`make_target_fn`).
- :mod:`~tmstarget.reliability.distances`: within and between-subject distances.
- :mod:`~tmstarget.reliability.statistics`: the subject bootstrap, the summary with CIs
  and the mixed model.
- :mod:`~tmstarget.reliability.lattice`: the lattice argument about the published numbers.
- :mod:`~tmstarget.reliability.scan_length`: the scan-length curve and minutes needed.
- :mod:`~tmstarget.reliability.report_tables`: the two manuscript tables.
- :mod:`~tmstarget.reliability.analysis`: the whole group step (:func:`analyse_reliability`).
- :mod:`~tmstarget.reliability.choices`: target choices side by side.
"""

from tmstarget.circuits import TargetingError
from tmstarget.reliability.analysis import ReliabilityResults, analyse_reliability
from tmstarget.reliability.choices import (
    CHOICE_COLUMNS,
    CHOICE_LABELS,
    choice_summary,
    choice_table,
)
from tmstarget.reliability.distances import (
    between_subject_distances,
    cross_half_matrix,
    distance_table,
    group_centroid,
    half_targets,
    per_subject_distances,
    within_subject_distances,
)
from tmstarget.reliability.lattice import (
    lattice_check,
    lattice_distances,
    manuscript_convention_note,
)
from tmstarget.reliability.params import (
    CONVENTION_LABELS,
    DEFAULT_MIN_TIMEPOINTS,
    DEFAULT_MINUTES_GRID,
    FIRST_PREFIX,
    MANUSCRIPT_BETWEEN_MM,
    MANUSCRIPT_WITHIN_MM,
    REFERENCE_LABELS,
    REQUIRED_SEGMENTS,
    RETEST_PREFIX,
    SCAN_LENGTH_REFERENCES,
    SECTION,
    SEGMENT_FULL,
    SEGMENT_HALF1,
    SEGMENT_HALF2,
    TARGET_COLUMNS,
    ReliabilityParams,
)
from tmstarget.reliability.report_tables import reliability_table, scan_length_table
from tmstarget.reliability.scan_length import (
    minutes_needed,
    minutes_needed_table,
    scan_length_curve,
    scan_length_distances,
)
from tmstarget.reliability.statistics import (
    _group_replicates as _group_replicates,  # private, but tests reach it here
)
from tmstarget.reliability.statistics import (
    bootstrap_subjects,
    mixed_model,
    percentile_interval,
    summarise,
)
from tmstarget.reliability.subject import (
    TargetFunction,
    make_target_fn,
    plan_segments,
    segment_label,
    subject_reliability,
)
from tmstarget.vocabulary import CENTROIDS, CHOICES, CIRCUIT_SEARCHLIGHT, CONVENTIONS, METHODS

__all__ = [
    "SECTION",
    "SEGMENT_FULL",
    "SEGMENT_HALF1",
    "SEGMENT_HALF2",
    "REQUIRED_SEGMENTS",
    "FIRST_PREFIX",
    "RETEST_PREFIX",
    "SCAN_LENGTH_REFERENCES",
    "CONVENTION_LABELS",
    "REFERENCE_LABELS",
    "DEFAULT_MINUTES_GRID",
    "DEFAULT_MIN_TIMEPOINTS",
    "MANUSCRIPT_WITHIN_MM",
    "MANUSCRIPT_BETWEEN_MM",
    "TARGET_COLUMNS",
    "CENTROIDS",
    "CHOICES",
    "CIRCUIT_SEARCHLIGHT",
    "CONVENTIONS",
    "METHODS",
    "TargetingError",
    "ReliabilityParams",
    "TargetFunction",
    "segment_label",
    "plan_segments",
    "subject_reliability",
    "make_target_fn",
    "half_targets",
    "within_subject_distances",
    "cross_half_matrix",
    "group_centroid",
    "between_subject_distances",
    "distance_table",
    "per_subject_distances",
    "bootstrap_subjects",
    "percentile_interval",
    "summarise",
    "mixed_model",
    "lattice_distances",
    "lattice_check",
    "manuscript_convention_note",
    "scan_length_distances",
    "scan_length_curve",
    "minutes_needed",
    "minutes_needed_table",
    "reliability_table",
    "scan_length_table",
    "ReliabilityResults",
    "analyse_reliability",
    "CHOICE_LABELS",
    "CHOICE_COLUMNS",
    "choice_summary",
    "choice_table",
]
