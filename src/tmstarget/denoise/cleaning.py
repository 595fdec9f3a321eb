"""Steps 3-5 of a run: nuisance regression and temporal filtering in one projection
(:func:`clean_run`, :func:`clean_series`), smoothing within the brain mask
(:func:`smooth_within_mask`, :func:`smooth_series`), per-voxel normalisation before runs
are joined (:func:`normalise_run`, :func:`concatenate_runs`), and one run's chain with its
QC (:func:`postprocess_run`, :func:`postprocess_series`). Frequencies in Hz, TR in
seconds, FWHM and FD in mm; time along the last axis of images and the rows of matrices."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import nibabel as nib
import numpy as np
import pandas as pd
from nilearn import signal as nsignal
from scipy import ndimage

from tmstarget import confounds as confounds_module
from tmstarget.denoise.errors import PreprocessingError
from tmstarget.denoise.images import (
    ImgLike,
    _check_finite,
    _like,
    _load,
    _mask_array,
    _unmask,
    _voxel_rows,
    series_mean_sd,
)
from tmstarget.denoise.qc import RunQC, _canonical, _tsnr_image, carpet_rows, qc_metrics
from tmstarget.denoise.settings import CleaningSettings
from tmstarget.denoise.tedana import component_summary
from tmstarget.denoise.validation import drop_dummy_volumes
from tmstarget.niftiio import read_masked

MOTION_COLUMNS = confounds_module.MOTION
TISSUE_COLUMNS = confounds_module.TISSUE
FD_COLUMN = "framewise_displacement"


def _require_columns(confounds: pd.DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in confounds.columns]
    if missing:
        raise PreprocessingError(
            f"confounds lack column(s) {missing}; available: {sorted(confounds.columns)[:20]}"
        )


def framewise_displacement(confounds: pd.DataFrame, head_radius_mm: float = 50.0) -> np.ndarray:
    """Framewise displacement (mm) per volume; the first volume gets 0.

    Uses fMRIPrep's ``framewise_displacement`` column when present (its first row is n/a),
    otherwise computes Power et al. (2012) FD from the motion parameters (translations mm,
    rotations radians turned into arc length on a sphere of ``head_radius_mm``).
    """
    if FD_COLUMN in confounds.columns:
        fd = confounds[FD_COLUMN].to_numpy(dtype=float).copy()
    else:
        _require_columns(confounds, MOTION_COLUMNS)
        motion = confounds[list(MOTION_COLUMNS)].to_numpy(dtype=float).copy()
        motion[:, 3:] *= head_radius_mm
        fd = np.r_[np.nan, np.abs(np.diff(motion, axis=0)).sum(axis=1)]
    if len(fd) and not np.isfinite(fd[0]):
        fd[0] = 0.0
    if not np.all(np.isfinite(fd)):
        raise PreprocessingError("framewise displacement has missing values after the first row")
    return fd


def nuisance_regressors(
    confounds: pd.DataFrame,
    strategy: str = "trial",
    columns: Sequence[str] | None = None,
    source: str | Path | None = None,
) -> pd.DataFrame:
    """Design matrix of nuisance regressors (one row per volume, no intercept or trend)
    of a named strategy (:data:`tmstarget.confounds.STRATEGIES`; the trial's: global
    signal, white matter, CSF, the 6 motion parameters and fMRIPrep's
    ``_derivative1`` columns, 15 in all), or of the named ``columns``. The constant and the
    linear trend are not columns: :func:`clean_run` removes them by detrending signals and
    regressors alike. Compute this on confounds that were already trimmed of dummy
    volumes."""
    try:
        return confounds_module.nuisance_design(confounds, strategy, columns, source)
    except confounds_module.ConfoundsError as error:
        raise PreprocessingError(str(error)) from error


@dataclass(frozen=True)
class CleanResult:
    img: nib.Nifti1Image  # cleaned series, kept (uncensored) volumes only, zero mean
    kept: np.ndarray  # bool per input volume: True = kept, False = censored
    fd_mm: np.ndarray  # framewise displacement per input volume


def clean_run(
    img: ImgLike,
    mask_img: ImgLike,
    confounds: pd.DataFrame,
    tr_s: float,
    *,
    low_pass_hz: float | None = 0.08,
    high_pass_hz: float | None = None,
    censor_fd_mm: float | None = None,
    nuisance: str = "trial",
    nuisance_columns: Sequence[str] | None = None,
    min_volumes: int = 50,
    chunk_voxels: int = 20000,
    confounds_source: str | Path | None = None,
) -> CleanResult:
    """Nuisance regression, linear detrending and Butterworth filtering in one step.

    ``nilearn.signal.clean`` detrends signals and regressors, filters both with the same
    filter and then projects the filtered regressors out of the filtered signals, so
    filtering cannot re-introduce what the regression removed. ``low_pass_hz`` alone gives
    the trial's low-pass; ``high_pass_hz`` with it a band-pass (e.g. 0.01-0.1 Hz). With
    ``censor_fd_mm``, volumes whose FD exceeds it are interpolated (cubic spline) for the
    filter and then removed from signals and regressors before the regression (censored
    volumes at either end of the run are not extrapolated but left out of the filter); the
    output holds only kept volumes. ``confounds`` must have one row per volume of ``img``. Voxels
    outside the mask are 0; the output is float32. :func:`clean_series` does the same on
    the masked (volumes, voxels) matrix.
    """
    img = _load(img)
    mask = _mask_array(mask_img)
    if len(confounds) != img.shape[3]:
        raise PreprocessingError(
            f"confounds have {len(confounds)} rows but the run has {img.shape[3]} volumes"
        )
    series = read_masked(img, mask)
    cleaned, kept, fd = clean_series(
        series,
        confounds,
        tr_s,
        low_pass_hz=low_pass_hz,
        high_pass_hz=high_pass_hz,
        censor_fd_mm=censor_fd_mm,
        nuisance=nuisance,
        nuisance_columns=nuisance_columns,
        min_volumes=min_volumes,
        chunk_voxels=chunk_voxels,
        confounds_source=confounds_source,
    )
    return CleanResult(img=_like(_unmask(cleaned, mask), img), kept=kept, fd_mm=fd)


def clean_series(
    series: np.ndarray,
    confounds: pd.DataFrame,
    tr_s: float,
    *,
    low_pass_hz: float | None = 0.08,
    high_pass_hz: float | None = None,
    censor_fd_mm: float | None = None,
    nuisance: str = "trial",
    nuisance_columns: Sequence[str] | None = None,
    min_volumes: int = 50,
    chunk_voxels: int = 20000,
    confounds_source: str | Path | None = None,
    in_place: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`clean_run` on a (volumes, voxels) float32 matrix: the cleaned (kept volumes,
    voxels) float32 matrix, the kept volumes (bool) and the framewise displacement (mm).
    Voxels are cleaned ``chunk_voxels`` at a time in float64; ``in_place`` writes the
    result over the first rows of ``series`` (no second matrix)."""
    n_vols = series.shape[0]
    if len(confounds) != n_vols:
        raise PreprocessingError(
            f"confounds have {len(confounds)} rows but the run has {n_vols} volumes"
        )
    if not tr_s > 0:
        raise PreprocessingError(f"TR must be positive (seconds), got {tr_s}")
    nyquist = 0.5 / tr_s
    for name, value in (("low_pass_hz", low_pass_hz), ("high_pass_hz", high_pass_hz)):
        if value is not None and not 0 < value < nyquist:
            raise PreprocessingError(
                f"{name}={value} must lie between 0 and the Nyquist frequency {nyquist:.3g} Hz"
            )
    if low_pass_hz is not None and high_pass_hz is not None and high_pass_hz >= low_pass_hz:
        raise PreprocessingError(
            f"high_pass_hz ({high_pass_hz}) must be below low_pass_hz ({low_pass_hz})"
        )
    fd = framewise_displacement(confounds)
    kept = np.ones(n_vols, bool) if censor_fd_mm is None else fd <= censor_fd_mm
    if kept.sum() < min_volumes:
        raise PreprocessingError(
            f"censoring at FD > {censor_fd_mm} mm leaves {int(kept.sum())} of {n_vols} volumes, "
            f"fewer than min_volumes={min_volumes}"
        )
    design = nuisance_regressors(confounds, nuisance, nuisance_columns, confounds_source).to_numpy()
    # z-scored here rather than by nilearn (standardize_confounds), whose "zscore" default is
    # deprecated; the projection is the same.
    sd = design.std(axis=0)
    design = (design - design.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    use_filter = "butterworth" if (low_pass_hz or high_pass_hz) else False
    n_kept = int(kept.sum())
    cleaned = series[:n_kept] if in_place else np.empty((n_kept, series.shape[1]), np.float32)
    for start in range(0, series.shape[1], chunk_voxels):
        # Fortran order, as the voxels' series were when the run was masked in 4D: the
        # same layout gives nilearn's (and BLAS's) same bits
        block = np.asfortranarray(series[:, start : start + chunk_voxels], dtype=np.float64)
        cleaned[:, start : start + chunk_voxels] = nsignal.clean(
            block,
            detrend=True,
            standardize=False,
            confounds=design,
            standardize_confounds=False,
            filter=use_filter,
            low_pass=low_pass_hz,
            high_pass=high_pass_hz,
            t_r=tr_s,
            sample_mask=None if kept.all() else np.flatnonzero(kept),
            extrapolate=False,
            # filter the whole block at once; nilearn's in-place default loops over voxels
            # (15 s instead of 1 s for 30,000 voxels)
            butterworth__copy=True,
        )
    return cleaned, kept, fd


def smooth_within_mask(
    img: ImgLike, mask_img: ImgLike, fwhm_mm: float = 6.0, chunk_volumes: int = 16
) -> nib.Nifti1Image:
    """Gaussian smoothing (FWHM in mm) restricted to the brain mask.

    Normalised convolution: ``G * (data x mask) / G * mask`` inside the mask, 0 outside.
    Voxels outside the mask contribute nothing (no out-of-brain signal bleeds in) and the
    kernel weights are renormalised near the edge, so a constant inside the mask stays
    exactly that constant. Kernel widths per axis come from the voxel sizes of the affine.
    ``fwhm_mm`` 0 only masks. Works on 3D or 4D images; returns float32.
    :func:`smooth_series` does the same on the masked (volumes, voxels) matrix.
    """
    img = _load(img)
    mask = _mask_array(mask_img)
    if img.shape[:3] != mask.shape:
        raise PreprocessingError(f"image grid {img.shape[:3]} differs from mask {mask.shape}")
    data = np.asarray(img.dataobj, dtype=np.float32)
    squeeze = data.ndim == 3
    series = np.ascontiguousarray((data[..., None] if squeeze else data)[mask].T)
    smoothed = smooth_series(series, mask, img.affine, fwhm_mm, chunk_volumes, in_place=True)
    out = _unmask(smoothed, mask)
    return _like(out[..., 0] if squeeze else out, img)


def smooth_series(
    series: np.ndarray,
    mask: np.ndarray,
    affine: np.ndarray,
    fwhm_mm: float = 6.0,
    chunk_volumes: int = 16,
    in_place: bool = False,
) -> np.ndarray:
    """:func:`smooth_within_mask` on a (volumes, mask voxels) float32 matrix (columns in
    the order of ``volume[mask]``), ``chunk_volumes`` volumes at a time on the grid in
    float64 (the kernel does not reach across volumes); ``in_place`` overwrites
    ``series``."""
    if fwhm_mm < 0:
        raise PreprocessingError(f"fwhm_mm must be >= 0, got {fwhm_mm}")
    out = series if in_place else np.array(series, dtype=np.float32)
    if fwhm_mm == 0:
        return out
    voxel_mm = np.sqrt((affine[:3, :3] ** 2).sum(axis=0))
    sigma = fwhm_mm / (2.0 * math.sqrt(2.0 * math.log(2.0))) / voxel_mm
    norm = ndimage.gaussian_filter(mask.astype(np.float64), sigma, mode="constant")[mask]
    grid = np.zeros(mask.shape + (chunk_volumes,))
    for start in range(0, series.shape[0], chunk_volumes):
        count = min(chunk_volumes, series.shape[0] - start)
        block = grid[..., :count]
        # outside the mask the grid stays 0: the data times the mask
        block[mask] = series[start : start + count].T
        smoothed = ndimage.gaussian_filter(block, (*sigma, 0.0), mode="constant")
        out[start : start + count] = (smoothed[mask] / norm[:, None]).T
    return out


def normalise_run(
    series: np.ndarray, how: Literal["zscore", "demean"] = "zscore", time_axis: int = -1
) -> np.ndarray:
    """One run's series normalised per voxel over time before runs are joined (see
    :func:`concatenate_runs`): mean removed and, for ``zscore``, divided by the population
    SD (voxels constant in time become 0). Same dtype as ``series``."""
    if how not in ("zscore", "demean"):
        raise PreprocessingError(f"how must be 'zscore' or 'demean', got {how!r}")
    series = series - series.mean(axis=time_axis, keepdims=True)
    if how == "zscore":
        sd = series.std(axis=time_axis, keepdims=True)
        series = np.divide(series, sd, out=np.zeros_like(series), where=sd > 0)
    return series


def concatenate_runs(
    run_imgs: Sequence[ImgLike],
    mask_img: ImgLike,
    how: Literal["zscore", "demean"] = "zscore",
) -> nib.Nifti1Image:
    """Join a subject's runs in time after normalising each run per voxel.

    ``zscore`` (default): every voxel of every run gets mean 0 and standard deviation 1
    (population SD), so runs with different noise levels weigh equally in the correlations
    computed on the joined series; voxels constant within a run become 0. ``demean``:
    only the run mean is removed, keeping the runs' original scale. Out-of-mask voxels 0.
    """
    if how not in ("zscore", "demean"):
        raise PreprocessingError(f"how must be 'zscore' or 'demean', got {how!r}")
    if len(run_imgs) == 0:
        raise PreprocessingError("no runs to concatenate")
    mask = _mask_array(mask_img)
    imgs = [_load(img) for img in run_imgs]
    parts = []
    for i, img in enumerate(imgs):
        if img.shape[:3] != mask.shape or not np.allclose(img.affine, imgs[0].affine, atol=1e-3):
            raise PreprocessingError(f"run {i + 1} is not on the grid of run 1 and the mask")
        parts.append(normalise_series(read_masked(img, mask), how))
    return _like(_unmask(np.concatenate(parts), mask), imgs[0])


def normalise_series(
    series: np.ndarray, how: Literal["zscore", "demean"] = "zscore", out: np.ndarray | None = None
) -> np.ndarray:
    """:func:`normalise_run` of every voxel (column) of a (volumes, voxels) matrix, in
    float64 voxel chunks, into ``out`` (float32, that shape; may be ``series``)."""
    out = np.empty(series.shape, np.float32) if out is None else out
    for columns, rows in _voxel_rows(series):
        out[:, columns] = normalise_run(rows, how, time_axis=1).astype(np.float32).T
    return out


@dataclass(frozen=True)
class CleanedRun:
    img: nib.Nifti1Image  # cleaned, smoothed; kept volumes only
    tsnr_before: nib.Nifti1Image
    tsnr_after: nib.Nifti1Image
    qc: RunQC


def postprocess_run(
    bold_img: ImgLike,
    mask_img: ImgLike,
    confounds: pd.DataFrame,
    tr_s: float,
    cleaning: CleaningSettings | None = None,
    *,
    reference_img: ImgLike | None = None,
    mode: str = "me-ica",
    components: dict | None = None,
    n_dummy: int = 4,
    image_dummies_dropped: bool = False,
    carpet_voxels: int = 2000,
    confounds_source: str | Path | None = None,
) -> CleanedRun:
    """Steps 3-4 for one run plus its QC: drop dummies, clean, smooth, as ``cleaning``
    says (:class:`CleaningSettings`, default the schema's; its ``n_dummy``, when set,
    overrides the run's ``n_dummy``, and ``concat_normalise`` is for joining runs).

    ``bold_img`` is tedana's output (``image_dummies_dropped=True``: only the confounds
    lose their first ``n_dummy`` rows) or an already-denoised series that still has its
    dummy volumes (default: both lose them). ``reference_img`` is the series before
    denoising (the optimal combination; default ``bold_img``), with the same volumes as
    ``bold_img``. tSNR before = mean / SD of the reference; tSNR after = mean of the
    reference / SD of the cleaned, unsmoothed series (cleaning removes the mean, and
    smoothing would inflate it). ``mode`` and ``components`` are only passed to the QC.
    ``confounds_source`` (the table's file) is named in errors.
    """
    cleaning = cleaning or CleaningSettings()
    if cleaning.n_dummy is not None:
        n_dummy = int(cleaning.n_dummy)
    bold = _load(bold_img)
    reference = bold if reference_img is None else _load(reference_img)
    confounds = _trimmed_confounds(
        bold.shape,
        reference.shape,
        confounds,
        n_dummy,
        image_dummies_dropped,
        cleaning.min_volumes,
        confounds_source,
    )
    mask = _mask_array(mask_img)
    if bold.shape[:3] != mask.shape:
        raise PreprocessingError(f"bold grid {bold.shape[:3]} differs from mask {mask.shape}")
    first = 0 if image_dummies_dropped else n_dummy
    series = read_masked(bold, mask)[first:]
    _check_finite(series, "bold image")
    before = None
    if reference_img is not None:
        reference_series = read_masked(reference, mask)[first:]
        _check_finite(reference_series, "reference image")
        before = reference_summary(reference_series, carpet_voxels)
        del reference_series
    cleaned = postprocess_series(
        series,
        mask,
        bold.affine,
        confounds,
        tr_s,
        cleaning,
        before=before,
        mode=mode,
        components=components,
        carpet_voxels=carpet_voxels,
        confounds_source=confounds_source,
    )
    return CleanedRun(
        img=_like(_unmask(cleaned.series, mask), bold),
        tsnr_before=cleaned.tsnr_before,
        tsnr_after=cleaned.tsnr_after,
        qc=cleaned.qc,
    )


def _trimmed_confounds(
    bold_shape: Sequence[int],
    reference_shape: Sequence[int],
    confounds: pd.DataFrame,
    n_dummy: int,
    image_dummies_dropped: bool,
    min_volumes: int,
    confounds_source: str | Path | None = None,
) -> pd.DataFrame:
    """A run's lengths checked against each other (from the headers, before any data is
    read) and its confounds without the dummy volumes."""
    source = f" ({confounds_source})" if confounds_source else ""
    if tuple(reference_shape) != tuple(bold_shape):
        raise PreprocessingError(
            f"reference image has shape {tuple(reference_shape)}, the bold image "
            f"{tuple(bold_shape)}"
        )
    expected = bold_shape[3] + (n_dummy if image_dummies_dropped else 0)
    if len(confounds) != expected:
        raise PreprocessingError(
            f"confounds{source} have {len(confounds)} rows but the run has {expected} volumes "
            f"(counting {n_dummy} dummy volumes); the confounds file does not match the run"
        )
    if not image_dummies_dropped:
        if bold_shape[3] - n_dummy < min_volumes:
            raise PreprocessingError(
                f"run has {bold_shape[3]} volumes; after dropping {n_dummy} dummy volumes "
                f"fewer than min_volumes={min_volumes} remain"
            )
        if n_dummy >= bold_shape[3]:
            raise PreprocessingError(
                f"cannot drop {n_dummy} volumes from an image of {tuple(bold_shape)}"
            )
    return drop_dummy_volumes(confounds, n_dummy)


@dataclass(frozen=True)
class ReferenceSummary:
    """What the QC needs of a run's series before denoising (the optimal combination)."""

    mean: np.ndarray  # per mask voxel, float64
    sd: np.ndarray
    carpet: np.ndarray  # carpet_rows of the series


def reference_summary(series: np.ndarray, carpet_voxels: int = 2000) -> ReferenceSummary:
    """Mean, SD and carpet of a (volumes, mask voxels) reference series, so that the
    matrix can be freed before the denoised series is read."""
    mean, sd = series_mean_sd(series)
    return ReferenceSummary(mean=mean, sd=sd, carpet=carpet_rows(series, None, carpet_voxels))


@dataclass(frozen=True)
class CleanedSeries:
    """One run cleaned and smoothed, as a (kept volumes, mask voxels) float32 matrix."""

    series: np.ndarray
    tsnr_before: nib.Nifti1Image
    tsnr_after: nib.Nifti1Image
    qc: RunQC


def postprocess_series(
    series: np.ndarray,
    mask: np.ndarray,
    affine: np.ndarray,
    confounds: pd.DataFrame,
    tr_s: float,
    cleaning: CleaningSettings | None = None,
    *,
    before: ReferenceSummary | None = None,
    mode: str = "me-ica",
    components: dict | None = None,
    carpet_voxels: int = 2000,
    confounds_source: str | Path | None = None,
) -> CleanedSeries:
    """:func:`postprocess_run` on the masked (volumes, voxels) float32 matrix of a run
    whose dummy volumes are gone (``confounds`` trimmed alike), cleaned and smoothed in
    place: the result's ``series`` is a view of ``series``' first rows. ``before``
    summarises the reference (default: ``series`` itself, before cleaning)."""
    cleaning = cleaning or CleaningSettings()
    if before is None:
        before = reference_summary(series, carpet_voxels)
    cleaned, kept, fd = clean_series(
        series,
        confounds,
        tr_s,
        low_pass_hz=cleaning.low_pass_hz,
        high_pass_hz=cleaning.high_pass_hz,
        censor_fd_mm=cleaning.censor_fd_mm,
        nuisance=cleaning.nuisance,
        nuisance_columns=cleaning.nuisance_columns,
        min_volumes=cleaning.min_volumes,
        confounds_source=confounds_source,
        in_place=True,
    )
    _, residual_sd = series_mean_sd(cleaned)
    tsnr_before = _tsnr_image(before.mean, before.sd, mask, affine)
    tsnr_after = _tsnr_image(before.mean, residual_sd, mask, affine)
    mask_img = nib.Nifti1Image(mask.astype(np.uint8), affine)
    metrics = qc_metrics(fd, kept, tsnr_before, tsnr_after, mask_img, cleaning.fd_flag_mm)
    qc = RunQC(
        mode=mode,
        tsnr_before=_canonical(tsnr_before),
        tsnr_after=_canonical(tsnr_after),
        affine=nib.as_closest_canonical(tsnr_before).affine,
        carpet_before=before.carpet,
        carpet_after=carpet_rows(cleaned, kept, carpet_voxels),
        fd_mm=fd.astype(np.float32),
        kept=kept,
        metrics=metrics,
        components=components if components is not None else component_summary(None),
    )
    smoothed = smooth_series(cleaned, mask, affine, cleaning.fwhm_mm, in_place=True)
    return CleanedSeries(series=smoothed, tsnr_before=tsnr_before, tsnr_after=tsnr_after, qc=qc)
