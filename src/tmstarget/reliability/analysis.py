"""The whole group step: every distance, statistic, curve and table of the reliability
stage from the per-subject target tables."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from tmstarget.reliability.distances import _as_targets, distance_table, per_subject_distances
from tmstarget.reliability.lattice import manuscript_convention_note
from tmstarget.reliability.params import ReliabilityParams
from tmstarget.reliability.report_tables import reliability_table, scan_length_table
from tmstarget.reliability.scan_length import minutes_needed_table, scan_length_curve
from tmstarget.reliability.statistics import mixed_model, summarise
from tmstarget.vocabulary import CONVENTIONS


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
