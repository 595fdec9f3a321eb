"""What one patient's target report says: the numbers behind each panel, computed here
so that :mod:`tmstarget.figures.report` only draws.

A report is for the TMS clinician who places the coil. It gives the delivered site in the
patient's own T1w space (where the navigation system works) and in the template, the coil
centre on the scalp, the preprocessing QC verdict against the group thresholds
(``preprocess.qc_thresholds``), how stable this patient's target is (their own split-half
distance, scan-length curve and block bootstrap) and the distance to Beam F3, with the
checksums of the input files and the software versions, so that a report can be traced
to the data it came from.

A **blinded** report (trial mode, handed to the technician with the navigation packet)
shows the delivered site under a neutral label and nothing that tells the arm: no method
name, no score map, no Beam F3 distance, no connectivity-target stability.

Coordinates are RAS millimetres throughout (x grows to the patient's right, y to the
front, z up): template coordinates in MNI152NLin6Asym, native ones in the patient's
fMRIPrep T1w image (its world coordinates, as the image header gives them).
"""

from __future__ import annotations

import hashlib
import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from tmstarget.vocabulary import BEAM_F3

# Packages whose versions a report lists (those that shape the target).
REPORTED_PACKAGES = ("tmstarget", "tedana", "nilearn", "nibabel", "nitransforms", "numpy", "scipy")
# The neutral label of the delivered site in a blinded packet (the same for every arm).
NEUTRAL_LABEL = "TMS target"
_CHUNK_BYTES = 1 << 22


@dataclass(frozen=True)
class ReportSite:
    """One site on the report: printed ``label``; ``mni_mm`` (template RAS mm);
    ``native_mm`` (T1w RAS mm) and the coil pose on the patient's scalp (``coil_mm``
    centre, T1w RAS mm; ``normal`` outward unit scalp normal there; ``handle``
    unit vector along the handle), None where unknown."""

    label: str
    mni_mm: tuple[float, float, float]
    native_mm: tuple[float, float, float] | None = None
    coil_mm: tuple[float, float, float] | None = None
    normal: tuple[float, float, float] | None = None
    handle: tuple[float, float, float] | None = None

    @property
    def coil_to_target_mm(self) -> float | None:
        """Distance (mm) from the coil centre on the scalp to the cortical target."""
        if self.coil_mm is None or self.native_mm is None:
            return None
        return float(np.linalg.norm(np.subtract(self.coil_mm, self.native_mm)))


@dataclass(frozen=True)
class QCVerdict:
    """The patient's preprocessing QC metrics judged against the group thresholds."""

    metrics: Mapping[str, float]
    thresholds: Mapping[str, float]
    flags: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.flags


@dataclass(frozen=True)
class Stability:
    """How far this patient's connectivity target moves with less or other data (mm).

    ``split_half_mm``: between the targets of the first and second half of the scan;
    ``curve``: ``minutes`` of data from the start and the target's ``distance_mm`` to the
    full-data target; the block bootstrap's ``radius_mm`` (holding ``confidence`` of the
    resampled targets) and ``share_within_coil`` (within ``coil_radius_mm``), NaN without
    a bootstrap."""

    split_half_mm: float
    full_minutes: float
    curve: pd.DataFrame
    radius_mm: float = float("nan")
    confidence: float = float("nan")
    share_within_coil: float = float("nan")
    coil_radius_mm: float = float("nan")
    n_resamples: int = 0


@dataclass(frozen=True)
class ReportData:
    """Everything one patient's report shows (built by :func:`report_data`)."""

    participant_id: str
    blind: bool
    delivered: ReportSite
    others: tuple[ReportSite, ...]
    qc: QCVerdict
    stability: Stability | None
    beam_f3_distance_mm: float | None
    handle_angle_deg: float
    inputs: tuple[tuple[str, str], ...]
    versions: Mapping[str, str]
    template: str = "MNI152NLin6Asym"
    notes: tuple[str, ...] = field(default_factory=tuple)


def file_checksums(paths: Sequence[str | Path]) -> tuple[tuple[str, str], ...]:
    """(file name, SHA-256 hex digest) of each file, read in 4 MiB chunks, in the given
    order (duplicates once).

    Parameters
    ----------
    paths : sequence of str or Path
        The files to hash (e.g. a report's inputs); a path given twice is hashed once.

    Returns
    -------
    tuple of (str, str)
        (file name without its folder, SHA-256 hex digest), one pair per distinct path.
    """
    rows = []
    for path in dict.fromkeys(Path(p) for p in paths):
        digest = hashlib.sha256()
        with open(path, "rb") as file:
            while chunk := file.read(_CHUNK_BYTES):
                digest.update(chunk)
        rows.append((path.name, digest.hexdigest()))
    return tuple(rows)


def software_versions(packages: Sequence[str] = REPORTED_PACKAGES) -> dict[str, str]:
    """Installed versions of ``packages`` (and Python); ``not installed`` where absent."""
    versions = {"python": platform.python_version()}
    for package in packages:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def qc_verdict(metrics: Mapping[str, float], thresholds: Mapping[str, float] | None) -> QCVerdict:
    """The QC metrics (a subject's ``desc-qc_metrics.json`` ``metrics``) against
    ``thresholds`` (``preprocess.qc_thresholds``; missing keys take the defaults).

    Parameters
    ----------
    metrics : mapping of str to float
        The subject's QC metrics (mean FD in mm, % frames above the FD flag, % censored,
        median tSNR, ...).
    thresholds : mapping of str to float or None
        The group limits (``max_mean_fd_mm`` in mm, ``max_pct_fd_above`` and
        ``max_pct_censored`` in %, ``min_median_tsnr``); keys not given, or all of them
        when None, take :data:`tmstarget.denoise.QC_THRESHOLDS`.

    Returns
    -------
    QCVerdict
        The metrics, the limits used and the flags raised (none: passed).
    """
    # (imported here: the denoising module pulls in nilearn's signal stack)
    from tmstarget.denoise import QC_THRESHOLDS, qc_flags

    limits = {**QC_THRESHOLDS, **(thresholds or {})}
    return QCVerdict(dict(metrics), limits, tuple(qc_flags(metrics, limits)))


def _point(row: pd.Series | Mapping, prefix: str = "") -> tuple[float, float, float] | None:
    values = [row.get(f"{prefix}{axis}_mm", np.nan) for axis in "xyz"]
    values = [float(v) for v in values]
    return None if any(np.isnan(values)) else (values[0], values[1], values[2])


def subject_stability(parts: pd.DataFrame, bootstrap: pd.DataFrame | None = None) -> Stability:
    """The patient's stability numbers from their reliability table (rule find_targets'
    ``desc-reliability_targets.tsv``: segments ``full``, ``half1``, ``half2``,
    ``first_<k>min``) and bootstrap table (``desc-bootstrap_targets.tsv``) or None.

    Raises ValueError when the table lacks the full series or a half."""
    by_segment = parts.set_index("segment")
    missing = [s for s in ("full", "half1", "half2") if s not in by_segment.index]
    if missing:
        raise ValueError(f"the reliability table has no {', '.join(missing)} segment(s)")
    xyz = ["x_mm", "y_mm", "z_mm"]
    full = by_segment.loc["full", xyz].to_numpy(dtype=float)
    halves = by_segment.loc[["half1", "half2"], xyz].to_numpy(dtype=float)
    split_half = float(np.linalg.norm(halves[0] - halves[1]))
    first = parts[parts["segment"].astype(str).str.startswith("first_")]
    first = first.dropna(subset=xyz)
    curve = pd.DataFrame(
        {
            "minutes": first["minutes"].to_numpy(dtype=float),
            "distance_mm": np.linalg.norm(first[xyz].to_numpy(dtype=float) - full, axis=1),
        }
    )
    values: dict = {}
    if bootstrap is not None and not bootstrap.empty:
        row = bootstrap.iloc[0]
        values = {
            "radius_mm": float(row["radius_mm"]),
            "confidence": float(row["confidence"]),
            "share_within_coil": float(row["share_within_coil"]),
            "coil_radius_mm": float(row["coil_radius_mm"]),
            "n_resamples": int(row["n_resamples"]),
        }
    return Stability(
        split_half_mm=split_half,
        full_minutes=float(by_segment.loc["full", "minutes"]),
        curve=curve.sort_values("minutes").reset_index(drop=True),
        **values,
    )


def _site(row: pd.Series, label: str, coil: pd.DataFrame | None, method: str) -> ReportSite:
    pose = None
    if coil is not None:
        chosen = coil[coil["method"].astype(str) == method]
        pose = chosen.iloc[0] if len(chosen) else None
    native = _point(row, "native_")
    if pose is not None:
        native = _point(pose, "target_") or native
    return ReportSite(
        label=label,
        mni_mm=_point(row),
        native_mm=native,
        coil_mm=None if pose is None else _point(pose, "coil_"),
        normal=None if pose is None else _vector(pose, "normal_"),
        handle=None if pose is None else _vector(pose, "handle_"),
    )


def _vector(row: pd.Series, prefix: str) -> tuple[float, float, float] | None:
    values = [float(row.get(f"{prefix}{axis}", np.nan)) for axis in "xyz"]
    return None if any(np.isnan(values)) else (values[0], values[1], values[2])


def report_data(
    participant_id: str,
    targets: pd.DataFrame,
    delivered_method: str,
    qc: QCVerdict,
    *,
    coil: pd.DataFrame | None = None,
    parts: pd.DataFrame | None = None,
    bootstrap: pd.DataFrame | None = None,
    blind: bool = False,
    method_labels: Mapping[str, str] | None = None,
    beam_f3_method: str = BEAM_F3,
    handle_angle_deg: float = 45.0,
    inputs: Sequence[tuple[str, str]] = (),
    versions: Mapping[str, str] | None = None,
    template: str = "MNI152NLin6Asym",
) -> ReportData:
    """Assemble one patient's report.

    Parameters
    ----------
    participant_id : str
        The patient's label, printed on the report and named in errors.
    targets : pandas.DataFrame
        The patient's targets table (``sub-<label>_targets.tsv``: one row per method with
        template ``x_mm``... and native ``native_x_mm``... RAS mm).
    delivered_method : str
        The method whose site is delivered (the connectivity method in a clinic; the
        participant's arm's method in a trial).
    qc : QCVerdict
        :func:`qc_verdict` of the patient's QC metrics.
    coil : pandas.DataFrame, optional
        The coil poses (``desc-coil_targets.tsv``: ``method``, ``target_x_mm``...,
        ``coil_x_mm``..., ``normal_x``..., ``handle_x``...; T1w RAS mm and unit vectors)
        or None.
    parts, bootstrap : pandas.DataFrame, optional
        The patient's reliability and bootstrap tables (stability of the connectivity
        target, :func:`subject_stability`); ignored when ``blind``, and no stability is
        shown without ``parts``.
    blind : bool, default False
        A technician's report: the delivered site under :data:`NEUTRAL_LABEL` and no
        other site, method, score or stability (they would tell the arm).
    method_labels : mapping of str to str, optional
        Printed names of the methods (the method name where absent).
    beam_f3_method : str, default "beam_f3"
        The method of the Beam F3 site, shown beside a connectivity site with its
        distance (template mm) when not blind.
    handle_angle_deg : float, default 45.0
        The coil handle's angle (degrees) from the backwards sagittal direction.
    inputs : sequence of (str, str), optional
        (file name, SHA-256) of the report's inputs (:func:`file_checksums`).
    versions : mapping of str to str, optional
        Package -> version printed on the report; None: :func:`software_versions`.
    template : str, default "MNI152NLin6Asym"
        The template space of the ``mni_mm`` coordinates.

    Returns
    -------
    ReportData
        Everything the report shows, for :func:`tmstarget.figures.report.plot_patient_report`.

    Raises
    ------
    ValueError
        When ``targets`` has no row of ``delivered_method``, or (not blind) ``parts``
        lacks the full series or a half.
    """
    labels = dict(method_labels or {})
    methods = targets["method"].astype(str)
    chosen = targets[methods == delivered_method]
    if chosen.empty:
        raise ValueError(
            f"{participant_id}: no {delivered_method!r} target in the targets table "
            f"(methods: {', '.join(sorted(set(methods)))})"
        )
    label = NEUTRAL_LABEL if blind else labels.get(delivered_method, delivered_method)
    delivered = _site(chosen.iloc[0], label, coil, delivered_method)
    others: list[ReportSite] = []
    beam_distance = None
    stability = None
    if not blind:
        beam = targets[methods == beam_f3_method]
        if len(beam) and delivered_method != beam_f3_method:
            beam_label = labels.get(beam_f3_method, beam_f3_method)
            site = _site(beam.iloc[0], beam_label, coil, beam_f3_method)
            others.append(site)
            beam_distance = float(np.linalg.norm(np.subtract(site.mni_mm, delivered.mni_mm)))
        if parts is not None:
            stability = subject_stability(parts, bootstrap)
    return ReportData(
        participant_id=participant_id,
        blind=blind,
        delivered=delivered,
        others=tuple(others),
        qc=qc,
        stability=stability,
        beam_f3_distance_mm=beam_distance,
        handle_angle_deg=float(handle_angle_deg),
        inputs=tuple(inputs),
        versions=dict(versions or software_versions()),
        template=template,
    )
