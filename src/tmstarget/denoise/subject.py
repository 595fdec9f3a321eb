"""One subject, end to end (what the rule ``clean_subject`` calls): its runs as
:class:`RunInput` (:func:`run_inputs` builds them from the rule's inputs), cleaned,
smoothed and joined by :func:`clean_subject` into a :class:`SubjectResult`."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import nibabel as nib
import numpy as np
import pandas as pd

from tmstarget import confounds as confounds_module
from tmstarget.denoise.cleaning import (
    _trimmed_confounds,
    framewise_displacement,
    normalise_series,
    postprocess_series,
    reference_summary,
)
from tmstarget.denoise.errors import PreprocessingError
from tmstarget.denoise.images import _check_finite, _like_header, _load, _mask_array, _unmask
from tmstarget.denoise.qc import RunQC, SubjectQC, combine_run_qc
from tmstarget.denoise.settings import CleaningSettings
from tmstarget.niftiio import read_masked

# one logger for the stage, whichever module of it speaks
LGR = logging.getLogger("tmstarget.denoise")


@dataclass
class RunInput:
    """One run entering the cleaning step: the series to clean (tedana's output, or data
    already denoised elsewhere), its reference before denoising, and what came with it.

    Every image is on the subject's template grid (the runs of a subject share it).

    Parameters
    ----------
    label : str
        The run's name in logs, errors and QC (e.g. ``task-rest_run-1``).
    bold : str or Path
        The 4D series to clean: tedana's denoised (or optimally combined, or single-echo)
        series, or data denoised elsewhere (``mode="external"``).
    reference : str or Path or None
        The series before denoising with the volumes of ``bold`` (tedana's optimal
        combination), for the tSNR "before" map and carpet; None: ``bold`` itself.
    mask : str or Path
        The run's 3D brain mask on the grid of ``bold``.
    confounds : str or Path
        fMRIPrep's confounds table (TSV) of the run, one row per acquired volume
        (dummy volumes included).
    repetition_time_s : float
        Repetition time (seconds).
    mode : str
        How ``bold`` was denoised: ``me-ica``, ``optcom``, ``single-echo`` or
        ``external``; only reported in the QC.
    components : dict or None
        tedana's component summary (:func:`~tmstarget.denoise.component_summary`), for
        the QC; None: no components.
    dummies_dropped : bool or None
        True when ``bold`` (and ``reference``) no longer hold the dummy volumes (tedana's
        output); False when they do; None infers it from the lengths (dropped if the
        image has ``n_dummy`` volumes fewer than the confounds table has rows).
    n_dummy : int or None
        The run's dummy (non-steady-state) volumes; None: the
        ``non_steady_state_outlier`` columns of the confounds table.
    """

    label: str
    bold: str | Path
    reference: str | Path | None
    mask: str | Path
    confounds: str | Path
    repetition_time_s: float
    mode: str  # "me-ica", "optcom", "single-echo" or "external"
    components: dict | None = None
    dummies_dropped: bool | None = True
    n_dummy: int | None = None


@dataclass
class SubjectResult:
    """A subject's cleaned, concatenated series as a (volumes, mask voxels) float32
    matrix (columns in the order of ``volume[mask]``), its brain mask and its QC; the
    joined series on the full grid is ``img`` (built on demand: the rule writes the matrix
    in blocks with :func:`tmstarget.niftiio.write_masked` and ``header``)."""

    series: np.ndarray
    mask: nib.Nifti1Image
    qc: SubjectQC
    header: nib.Nifti1Header  # of the joined series, as nibabel would give it

    @property
    def img(self) -> nib.Nifti1Image:
        mask = _mask_array(self.mask)
        return nib.Nifti1Image(_unmask(self.series, mask), self.mask.affine, self.header)


def run_dummies(
    configured: int | None,
    discovered: int | None,
    confounds: pd.DataFrame | None = None,
    source: str | Path | None = None,
) -> int:
    """The dummy volumes of a run: the configured number (``preprocess.n_dummy``) when
    given, else the number discovery read from the confounds table's header, else the
    non-steady-state volumes the table flags (:func:`tmstarget.confounds.dummy_volumes`)."""
    if configured is not None:
        return int(configured)
    if confounds is not None:
        found = confounds_module.dummy_volumes(confounds, source)
        if discovered is not None and found != discovered:
            raise confounds_module.ConfoundsError(
                f"{source}: {found} non-steady-state volumes flagged, {discovered} columns"
            )
        return found
    if discovered is None:
        raise PreprocessingError("the number of dummy volumes is unknown")
    return int(discovered)


def run_inputs(
    labels: Sequence[str],
    bold: Sequence[str | Path],
    masks: Sequence[str | Path],
    confounds: Sequence[str | Path],
    repetition_times_s: Sequence[float],
    n_dummy: Sequence[int | None],
    *,
    references: Sequence[str | Path] | None = None,
    summaries: Sequence[Mapping] | None = None,
) -> list[RunInput]:
    """A subject's runs as :func:`clean_subject` takes them, from the rule's inputs and
    params (one entry per run, in the same order in every argument).

    With ``summaries`` (the runs went through tedana), each run is tedana's output with
    its optimal combination as reference and the mode and components of its summary; its
    dummy volumes are gone, except for a run the summary calls ``external`` (denoised
    elsewhere), whose length tells. Without (the rule's ``direct`` input: data denoised
    elsewhere, already in the template), each run is cleaned as it is: no reference, mode
    ``external``, dummies dropped or not as its length against the confounds says.

    Parameters
    ----------
    labels : sequence of str
        The runs' labels (``task-rest_run-1``).
    bold : sequence of str or Path
        Each run's series to clean (tedana's output, or the denoised input).
    masks : sequence of str or Path
        Each run's brain mask on the template grid.
    confounds : sequence of str or Path
        Each run's fMRIPrep confounds table (TSV).
    repetition_times_s : sequence of float
        Each run's repetition time (seconds).
    n_dummy : sequence of int or None
        Each run's dummy volumes (None: the confounds table's
        ``non_steady_state_outlier`` columns).
    references : sequence of str or Path, optional
        Each run's optimal combination (tedana's ``desc-optcom``); given exactly when
        ``summaries`` is.
    summaries : sequence of mapping, optional
        Each run's ``tmstarget_denoise.json`` (:func:`tmstarget.runprep.read_summary`),
        with at least ``mode`` and ``components``; None for data denoised elsewhere.

    Returns
    -------
    list of RunInput
        One per run, in the order given.

    Raises
    ------
    PreprocessingError
        When the arguments do not give one entry per run, or ``references`` is given
        without ``summaries`` (or the reverse).
    """
    if (references is None) != (summaries is None):
        raise PreprocessingError(
            "references and summaries go together: tedana's optimal combination and "
            "summary per run, or neither for data denoised elsewhere"
        )
    _check_one_per_run(
        labels,
        bold=bold,
        masks=masks,
        confounds=confounds,
        repetition_times_s=repetition_times_s,
        n_dummy=n_dummy,
        **({} if summaries is None else {"references": references, "summaries": summaries}),
    )
    runs = []
    for index, label in enumerate(labels):
        common = {
            "label": label,
            "bold": bold[index],
            "mask": masks[index],
            "confounds": confounds[index],
            "repetition_time_s": repetition_times_s[index],
            "n_dummy": n_dummy[index],
        }
        if summaries is None:
            runs.append(RunInput(reference=None, mode="external", dummies_dropped=None, **common))
            continue
        summary = summaries[index]
        runs.append(
            RunInput(
                reference=references[index],
                mode=summary["mode"],
                components=summary["components"],
                # tedana dropped them; data denoised elsewhere: read from their length
                dummies_dropped=None if summary["mode"] == "external" else True,
                **common,
            )
        )
    return runs


def _check_one_per_run(labels: Sequence[str], **columns: Sequence) -> None:
    """Every column of the rule's inputs has one entry per run."""
    for name, values in columns.items():
        if len(values) != len(labels):
            raise PreprocessingError(
                f"{len(labels)} runs ({', '.join(labels)}) but {len(values)} {name}"
            )


def clean_subject(
    subject: str,
    runs: Sequence[RunInput],
    cleaning: CleaningSettings | None = None,
    *,
    thresholds: Mapping[str, float] | None = None,
) -> SubjectResult:
    """Steps 3-5 for every run of one subject: clean, smooth, then join the runs, as
    ``cleaning`` says.

    Each run loses its dummy volumes, is cleaned (nuisance regression and temporal
    filtering in one projection, optional censoring by framewise displacement), smoothed
    within the brain mask and normalised per voxel (``cleaning.concat_normalise``); the
    runs are then joined in time in the order given. The subject's brain mask is the
    intersection of its runs' masks (every voxel of the joined series has data in every
    run). Dummy volumes per run: ``cleaning.n_dummy`` when given (the config's override),
    else the run's own (``RunInput.n_dummy``), else the non-steady-state volumes its
    confounds table flags. Each run is read once, a run at a time, straight into the
    joined matrix.

    Parameters
    ----------
    subject : str
        The subject's label without ``sub-`` (for messages and the QC).
    runs : sequence of RunInput
        The subject's runs, in the order they are joined; one repetition time and one
        template grid for all.
    cleaning : CleaningSettings, optional
        The cleaning settings (filter cut-offs in Hz, FWHM and FD in mm); default the
        schema's ``preprocess`` defaults.
    thresholds : mapping of str to float, optional
        QC thresholds to judge the subject against (:func:`qc_flags`; missing keys take
        :data:`QC_THRESHOLDS`); None (the workflow's choice): no verdict, the QC's
        ``flags`` and ``thresholds`` are None.

    Returns
    -------
    SubjectResult
        The joined series as a (kept volumes of every run, mask voxels) float32 matrix,
        the joint brain mask, the subject's QC and the joined image's header.

    Raises
    ------
    PreprocessingError
        When there are no runs; the runs' repetition times or mask grids differ; a run's
        confounds do not match its length, cannot be read or flag dummy volumes that
        disagree with ``RunInput.n_dummy``; too few volumes remain after dummies and
        censoring (``cleaning.min_volumes``); a series holds NaN/inf inside the mask; or
        the filter cut-offs do not fit the TR.
    """
    cleaning = cleaning or CleaningSettings()
    joint, affine = _joint_mask(subject, runs)
    plans = [_plan_run(subject, run, joint.shape, cleaning) for run in runs]
    offsets = np.cumsum([0] + [plan.n_kept for plan in plans])
    joined = np.empty((int(offsets[-1]), int(joint.sum())), np.float32)
    qcs = [
        _clean_run_into(subject, plan, joint, cleaning, joined[offset : offset + plan.n_kept])
        for plan, offset in zip(plans, offsets, strict=False)
    ]
    qc = combine_run_qc(
        subject,
        qcs,
        [run.label for run in runs],
        fd_flag_mm=cleaning.fd_flag_mm,
        thresholds=thresholds,
    )
    header = _joined_header(plans[0], joint.shape, len(joined))
    mask_img = nib.Nifti1Image(joint.astype(np.uint8), affine)
    return SubjectResult(series=joined, mask=mask_img, qc=qc, header=header)


class _RunPlan(NamedTuple):
    """What a run's headers and confounds tell before its data are read."""

    run: RunInput
    bold: nib.spatialimages.SpatialImage
    confounds: pd.DataFrame  # without the dummy volumes
    first: int  # the first volume of the image to read
    n_kept: int  # volumes left after censoring


def _joint_mask(subject: str, runs: Sequence[RunInput]) -> tuple[np.ndarray, np.ndarray]:
    """The voxels in every run's brain mask, and the masks' affine; the runs checked for
    one TR and one grid first."""
    if not runs:
        raise PreprocessingError(f"sub-{subject}: no runs to clean")
    trs = {round(float(run.repetition_time_s), 6) for run in runs}
    if len(trs) > 1:
        raise PreprocessingError(
            f"sub-{subject}: runs have different repetition times {sorted(trs)}; "
            "runs can only be joined at one TR"
        )
    masks = [_load(run.mask) for run in runs]
    for run, mask in zip(runs[1:], masks[1:], strict=True):
        if mask.shape[:3] != masks[0].shape[:3] or not np.allclose(mask.affine, masks[0].affine):
            raise PreprocessingError(
                f"sub-{subject} {run.label}: brain mask {run.mask} is on another grid than "
                f"{runs[0].label}'s; all runs must be in the same template space"
            )
    return np.logical_and.reduce([_mask_array(mask) for mask in masks]), masks[0].affine


def _clean_run_into(
    subject: str,
    plan: _RunPlan,
    joint: np.ndarray,
    cleaning: CleaningSettings,
    out: np.ndarray,
) -> RunQC:
    """One run read within the joint mask, cleaned, smoothed and normalised into ``out``
    (its rows of the joined matrix); its QC. The run's matrices are freed on return."""
    run, first = plan.run, plan.first
    LGR.info(
        "sub-%s %s: cleaning %d volumes (%s)", subject, run.label, len(plan.confounds), run.mode
    )
    before = None
    if run.reference is not None:
        reference = read_masked(run.reference, joint)[first:]
        _check_finite(reference, "reference image")
        before = reference_summary(reference)
        del reference
    series = read_masked(run.bold, joint)[first:]
    _check_finite(series, "bold image")
    cleaned = postprocess_series(
        series,
        joint,
        plan.bold.affine,
        plan.confounds,
        run.repetition_time_s,
        cleaning,
        before=before,
        mode=run.mode,
        components=run.components,
        confounds_source=run.confounds,
    )
    normalise_series(cleaned.series, cleaning.concat_normalise, out=out)
    return cleaned.qc


def _joined_header(plan: _RunPlan, grid_shape: Sequence[int], n_volumes: int) -> nib.Nifti1Header:
    """The joined image's header as the image chain gives it from the first run: its
    series (dummies dropped), cleaned, smoothed, joined (what nibabel's slicer gives
    without its data: a broadcast zero)."""
    bold = plan.bold
    header = bold.header
    if plan.first:
        kept_shape = (*bold.shape[:3], bold.shape[3] - plan.first)
        zeros = np.broadcast_to(np.float32(0), kept_shape)
        header = nib.Nifti1Image(zeros, bold.affine, bold.header).header
    for volumes in (plan.n_kept, plan.n_kept, n_volumes):
        header = _like_header(header, bold.affine, (*grid_shape, volumes))
    return header


def _plan_run(
    subject: str, run: RunInput, grid_shape: Sequence[int], cleaning: CleaningSettings
) -> _RunPlan:
    """Everything a run's headers and confounds tell before its data are read (lengths,
    dummies, censoring), so that the joined matrix is allocated once and each run is read
    straight into it."""
    try:
        confounds = confounds_module.read_confounds(run.confounds)
        dummies = run_dummies(cleaning.n_dummy, run.n_dummy, confounds, run.confounds)
    except confounds_module.ConfoundsError as error:
        raise PreprocessingError(f"sub-{subject} {run.label}: {error}") from error
    bold = _load(run.bold)
    reference = bold if run.reference is None else _load(run.reference)
    dropped = run.dummies_dropped
    if dropped is None:
        dropped = dummies > 0 and bold.shape[3] == len(confounds) - dummies
    if bold.shape[:3] != tuple(grid_shape):
        raise PreprocessingError(f"bold grid {bold.shape[:3]} differs from mask {grid_shape}")
    trimmed = _trimmed_confounds(
        bold.shape,
        reference.shape,
        confounds,
        dummies,
        dropped,
        cleaning.min_volumes,
        run.confounds,
    )
    fd = framewise_displacement(trimmed)
    censor = cleaning.censor_fd_mm
    n_kept = len(fd) if censor is None else int(np.sum(fd <= censor))
    return _RunPlan(run, bold, trimmed, 0 if dropped else dummies, n_kept)
