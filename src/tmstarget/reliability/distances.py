"""Within- and between-subject distances of the half-targets (world mm).

The conventions (within, pairwise cross-half, centroid) are defined in
:mod:`tmstarget.reliability`; every function takes the per-subject target tables (one
frame or a list) and keeps the subjects with both half targets."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from tmstarget.reliability.params import _XYZ, SEGMENT_HALF1, SEGMENT_HALF2
from tmstarget.vocabulary import CENTROIDS, CONVENTIONS


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
