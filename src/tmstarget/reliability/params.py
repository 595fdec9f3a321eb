"""Settings of the reliability analysis and the names its tables use.

:class:`ReliabilityParams` (config section ``reliability``, defaults from
config/schema.yaml), the segment names of a subject's table, its columns, and the labels
of the conventions and scan-length references. Nothing here computes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tmstarget import settings
from tmstarget.vocabulary import CENTROIDS, CHOICES, CONVENTIONS, METHODS

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


def _floats(values: Sequence[float]) -> tuple[float, ...]:
    return tuple(float(value) for value in values)


@dataclass(frozen=True)
class ReliabilityParams:
    """Settings of the reliability analysis (config section ``reliability``).

    Every default is the schema's (config/schema.yaml, ``reliability.*``); a bad value
    fails on construction with a message naming the key.

    Parameters
    ----------
    method : str or None
        Targeting method rerun on every segment: ``circuit_searchlight`` (the trial's),
        ``sgacc_classic`` or ``sgacc_cluster`` (:data:`METHODS`); None = the workflow's
        ``targets.connectivity_method``.
    minutes_grid : tuple of float
        Scan lengths k (minutes, > 0, distinct) of the ``first_<k>min`` segments.
    min_timepoints : int
        Segments with fewer volumes are skipped (halves that short: an error); at least 3.
    paired_retest : bool
        Also target ``retest_<k>min`` (k minutes from the cut) for the test-retest curve;
        doubles the targeting runs for the scan-length curve.
    between_convention : str
        The between-subject convention of the headline ratio and of the scan-length
        threshold: ``centroid`` or ``pairwise_cross_half`` (:data:`CONVENTIONS`).
    centroid : str
        ``pooled`` (mean of all half-targets) or ``per_half`` (:data:`CENTROIDS`).
    n_bootstrap : int
        Subject bootstrap resamples (at least 100).
    seed : int
        Seed of the subject bootstrap (``numpy.random.default_rng(seed)``).
    confidence : float
        Level of every CI, in [0.5, 1) (0.95 = 95%).
    one_voxel_mm : float or None
        The one-voxel threshold (mm, > 0) of the minutes needed; None = the data's voxel
        size.
    threshold_inclusive : bool
        Minutes needed counts a median equal to the threshold as reached ("within one
        voxel") instead of requiring it to be strictly below.
    manuscript_within_mm : float
        The published within-subject (split-half) distance (mm), printed beside ours.
    manuscript_between_mm : float
        The published between-subject distance (mm), printed beside ours.
    choices : tuple of str
        Target choices (:data:`tmstarget.uncertainty.CHOICES`, distinct) whose split-half
        distances are compared side by side (score-map methods only).

    Raises
    ------
    ValueError
        A value outside its allowed set or range, naming the key (``reliability.<key>``).
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
        """Build from a config mapping; unknown keys are an error naming the key.

        Parameters
        ----------
        config : mapping or None
            The ``reliability`` section of the config; missing keys take the schema's
            defaults, None gives every default.

        Returns
        -------
        ReliabilityParams
            The validated settings.

        Raises
        ------
        ValueError
            An unknown key or a bad value, naming the key.
        """
        return settings.from_config(cls, SECTION, config)


def _check_minutes_grid(minutes_grid: Sequence[float], name: str = "minutes_grid") -> None:
    grid = np.asarray(minutes_grid, dtype=float)
    if grid.ndim != 1 or grid.size == 0:
        raise ValueError(f"{name}: give a non-empty list of minutes")
    if not np.all(np.isfinite(grid)) or np.any(grid <= 0):
        raise ValueError(f"{name}: minutes must be positive numbers, got {grid.tolist()}")
    if np.unique(grid).size != grid.size:
        raise ValueError(f"{name}: minutes must not repeat, got {grid.tolist()}")
