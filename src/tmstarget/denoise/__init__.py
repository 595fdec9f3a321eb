"""Preprocessing of multi-echo resting-state runs: the science of the ``preprocess`` stage.

Per run (METHODS.md section 2), in this order:

1. :func:`validate_run` checks the inputs; :func:`drop_dummy_volumes` removes the first
   ``n_dummy`` (non-steady-state) volumes from every echo and from the confounds.
2. :func:`run_tedana`: optimal combination + ME-ICA denoising (tedana, fixed seed), or
   optimal combination only (``mode="optcom"``). A run with one echo skips tedana.
3. :func:`clean_run`: nuisance regression (global signal, white matter, CSF, 6 motion
   parameters and their backward derivatives; linear trend by detrending) and temporal
   filtering in one :func:`nilearn.signal.clean` call, so the two are orthogonal (Lindquist
   et al. 2019: the confounds are filtered with the same filter before the regression).
   The trial filtered first and regressed afterwards, which can re-introduce filtered-out
   frequencies; we prefer the orthogonal form. Optional censoring of frames by framewise
   displacement.
4. :func:`smooth_within_mask`: Gaussian smoothing by normalised convolution, so that no
   signal from outside the brain mask bleeds in.
5. :func:`concatenate_runs`: every voxel is z-scored within each run (default) or only
   demeaned, then the runs of a subject are joined in time.

:func:`postprocess_run` chains steps 3-4 and the QC numbers for one run (the entry point
for data that are already denoised); :func:`combine_run_qc` and :func:`flag_qc` turn run QC
into subject and group QC.

Units and conventions: echo times and TR in seconds; frequencies in Hz; FWHM and
framewise displacement (FD) in mm; rotations in fMRIPrep confounds in radians. Time runs
along the last axis of 4D images and along rows of confound tables. No function here
writes files except :func:`run_tedana`, and only inside its ``out_dir``.

**Layout.** The names above are imported from :mod:`tmstarget.denoise`; they live in
sub-modules along the stage's seams (none imports the package itself, so there is no
circle):

- :mod:`~tmstarget.denoise.errors`: :class:`PreprocessingError`.
- :mod:`~tmstarget.denoise.settings`: :class:`CleaningSettings`, :class:`TedanaSettings`,
  :data:`QC_THRESHOLDS` and :func:`cleaning_options` (defaults from config/schema.yaml).
- :mod:`~tmstarget.denoise.images`: loading, masked (volumes, voxels) matrices and grids.
- :mod:`~tmstarget.denoise.validation`: :func:`validate_run`, :func:`drop_dummy_volumes`.
- :mod:`~tmstarget.denoise.tedana`: :func:`run_tedana`, :class:`TedanaResult`,
  :func:`read_tedana_result`, :func:`component_summary`.
- :mod:`~tmstarget.denoise.qc`: tSNR, carpets, :class:`RunQC`, :class:`SubjectQC`,
  :func:`combine_run_qc`, :func:`qc_flags`, :func:`qc_metrics_record`,
  :func:`group_qc_table`.
- :mod:`~tmstarget.denoise.cleaning`: confounds, cleaning, smoothing, normalisation and
  :func:`postprocess_run` / :func:`postprocess_series`.
- :mod:`~tmstarget.denoise.subject`: :class:`RunInput`, :func:`run_inputs`,
  :func:`clean_subject`, :class:`SubjectResult`.
"""

from __future__ import annotations

from tmstarget.denoise.cleaning import (
    FD_COLUMN,
    MOTION_COLUMNS,
    TISSUE_COLUMNS,
    CleanedRun,
    CleanedSeries,
    CleanResult,
    ReferenceSummary,
    clean_run,
    clean_series,
    concatenate_runs,
    framewise_displacement,
    normalise_run,
    normalise_series,
    nuisance_regressors,
    postprocess_run,
    postprocess_series,
    reference_summary,
    smooth_series,
    smooth_within_mask,
)
from tmstarget.denoise.errors import PreprocessingError
from tmstarget.denoise.images import ImgLike, series_mean_sd
from tmstarget.denoise.images import _like as _like  # tests reach it
from tmstarget.denoise.qc import (
    RunQC,
    SubjectQC,
    carpet_matrix,
    carpet_rows,
    combine_run_qc,
    flag_qc,
    group_qc_table,
    qc_flags,
    qc_metrics,
    qc_metrics_record,
    tsnr,
)
from tmstarget.denoise.settings import (
    PREPROCESS,
    QC_THRESHOLDS,
    TEDANA,
    CleaningSettings,
    Mode,
    TedanaSettings,
    cleaning_options,
)
from tmstarget.denoise.subject import LGR as LGR
from tmstarget.denoise.subject import (
    RunInput,
    SubjectResult,
    clean_subject,
    run_dummies,
    run_inputs,
)
from tmstarget.denoise.tedana import (
    SUMMARY_NAME,
    TedanaResult,
    component_summary,
    read_tedana_result,
    run_tedana,
)
from tmstarget.denoise.validation import RunInfo, drop_dummy_volumes, validate_run

__all__ = [
    "CleanResult",
    "CleanedRun",
    "CleanedSeries",
    "CleaningSettings",
    "FD_COLUMN",
    "ImgLike",
    "MOTION_COLUMNS",
    "Mode",
    "PREPROCESS",
    "PreprocessingError",
    "QC_THRESHOLDS",
    "ReferenceSummary",
    "RunInfo",
    "RunInput",
    "RunQC",
    "SUMMARY_NAME",
    "SubjectQC",
    "SubjectResult",
    "TEDANA",
    "TISSUE_COLUMNS",
    "TedanaResult",
    "TedanaSettings",
    "carpet_matrix",
    "carpet_rows",
    "clean_run",
    "clean_series",
    "clean_subject",
    "cleaning_options",
    "combine_run_qc",
    "component_summary",
    "concatenate_runs",
    "drop_dummy_volumes",
    "flag_qc",
    "framewise_displacement",
    "group_qc_table",
    "normalise_run",
    "normalise_series",
    "nuisance_regressors",
    "postprocess_run",
    "postprocess_series",
    "qc_flags",
    "qc_metrics",
    "qc_metrics_record",
    "read_tedana_result",
    "reference_summary",
    "run_dummies",
    "run_inputs",
    "run_tedana",
    "series_mean_sd",
    "smooth_series",
    "smooth_within_mask",
    "tsnr",
    "validate_run",
]
