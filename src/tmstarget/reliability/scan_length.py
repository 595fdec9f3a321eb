"""Target distance against scan length: the first k minutes against each reference.

The references (``full``, ``other_half``, ``retest``) are described in
:mod:`tmstarget.reliability`; the group curve is the median over subjects with a
subject-bootstrap CI."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from tmstarget.reliability.distances import _as_targets
from tmstarget.reliability.params import (
    _XYZ,
    FIRST_PREFIX,
    RETEST_PREFIX,
    SCAN_LENGTH_REFERENCES,
    SEGMENT_FULL,
    SEGMENT_HALF2,
)
from tmstarget.reliability.statistics import bootstrap_subjects, percentile_interval
from tmstarget.reliability.subject import segment_label


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
