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
    """The group analysis from the per-subject target tables.

    Distances (all three conventions), the summary with subject-bootstrap CIs, the mixed
    models (both between-subject conventions), the scan-length curve and the minutes
    needed, and the two manuscript tables.

    Parameters
    ----------
    targets : pandas.DataFrame or sequence of pandas.DataFrame
        The per-subject tables of :func:`~tmstarget.reliability.subject_reliability`
        (a list, or one concatenated frame): columns ``subject``, ``segment``,
        ``start_volume``, ``stop_volume``, ``n_timepoints``, ``requested_minutes`` and
        ``x_mm``, ``y_mm``, ``z_mm`` (world MNI coordinates, mm; NaN for skipped segments).
    params : ReliabilityParams or None
        The settings (bootstrap size, seed, confidence, conventions, thresholds,
        published numbers); None = the schema's defaults.
    voxel_mm : float or None
        The data's voxel size (mm), the one-voxel threshold when ``params.one_voxel_mm``
        is None; when both are None, 2 mm.

    Returns
    -------
    ReliabilityResults
        ``targets`` (one long frame), ``distances`` (:func:`distance_table`),
        ``per_subject`` (:func:`per_subject_distances`), ``summary``
        (:func:`summarise`), ``mixed`` (:func:`mixed_model`, one row per between-subject
        convention), ``curve`` (:func:`scan_length_curve`), ``needed``
        (:func:`minutes_needed_table` for the one-voxel threshold and the median between
        distance of ``params.between_convention``), ``one_voxel_mm`` and ``between_mm``
        (those thresholds, mm), ``convention_note`` (the lattice argument) and ``tables``
        (cell frames ``"reliability"`` and ``"scan_length"``). Distances are Euclidean, mm.

    Raises
    ------
    ValueError
        ``targets`` lack a column, a subject has two rows of one segment, or fewer than
        two subjects have both half targets.
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
