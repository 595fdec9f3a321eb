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
"""

from __future__ import annotations

import dataclasses
import gc
import json
import logging
import math
import re
import shutil
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import nibabel as nib
import numpy as np
import pandas as pd
from nilearn import signal as nsignal
from scipy import ndimage

from tmstarget import confounds as confounds_module
from tmstarget import niftiio, settings
from tmstarget.niftiio import NiftiIOError, iter_volume_rows, read_masked
from tmstarget.vocabulary import ICA_METHODS, TEDANA_MODES

LGR = logging.getLogger(__name__)

MOTION_COLUMNS = confounds_module.MOTION
TISSUE_COLUMNS = confounds_module.TISSUE
FD_COLUMN = "framewise_displacement"

# File that run_tedana writes next to tedana's own outputs; read back by read_tedana_result.
SUMMARY_NAME = "tmstarget_denoise.json"

Mode = Literal["me-ica", "optcom"]
ImgLike = str | Path | nib.spatialimages.SpatialImage

# Default QC thresholds (group QC flags; preprocess.qc_thresholds in config/schema.yaml).
# Lenient floors meant to catch broken or very high-motion runs, not to grade ordinary ones.
QC_THRESHOLDS = {
    key: float(value) for key, value in settings.defaults("preprocess.qc_thresholds").items()
}
PREPROCESS = "preprocess"
TEDANA = "preprocess.tedana"


def _preprocess_default(key: str, convert=None):
    return settings.default(PREPROCESS, key, convert)


@dataclass(frozen=True)
class CleaningSettings:
    """The cleaning keys of the config's ``preprocess`` section (defaults:
    config/schema.yaml): what :func:`clean_subject` and :func:`postprocess_run` read.

    n_dummy : dummy volumes of every run, overriding each run's own; None = the run's
        (fMRIPrep's non_steady_state_outlier columns).
    min_volumes : fewest volumes a run may keep after dummies and censoring.
    low_pass_hz, high_pass_hz : the temporal filter's cut-offs (Hz); None for none.
    censor_fd_mm : censor frames whose framewise displacement exceeds this (mm); None: none.
    fwhm_mm : smoothing within the brain mask (FWHM, mm).
    nuisance, nuisance_columns : the nuisance strategy, or the columns replacing it.
    concat_normalise : ``zscore`` or ``demean`` each run per voxel before joining runs.
    fd_flag_mm : framewise displacement counted in QC (mm).
    """

    n_dummy: int | None = _preprocess_default("n_dummy")
    min_volumes: int = _preprocess_default("min_volumes")
    low_pass_hz: float | None = _preprocess_default("low_pass_hz", float)
    high_pass_hz: float | None = _preprocess_default("high_pass_hz", float)
    censor_fd_mm: float | None = _preprocess_default("censor_fd_mm", float)
    fwhm_mm: float = _preprocess_default("fwhm_mm", float)
    nuisance: str = _preprocess_default("nuisance")
    nuisance_columns: tuple[str, ...] | None = _preprocess_default("nuisance_columns")
    concat_normalise: Literal["zscore", "demean"] = _preprocess_default("concat_normalise")
    fd_flag_mm: float = _preprocess_default("fd_flag_mm", float)

    def __post_init__(self) -> None:
        if self.nuisance_columns is not None:
            object.__setattr__(self, "nuisance_columns", tuple(self.nuisance_columns))

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        """The ``preprocess`` keys cleaning reads (no QC thresholds: the verdict is
        judged in cheap jobs)."""
        return tuple(field.name for field in dataclasses.fields(cls))

    @classmethod
    def from_config(cls, section: Mapping | None) -> CleaningSettings:
        """From the cleaning keys of ``preprocess`` (:func:`cleaning_options`); an unknown
        key is an error naming it."""
        return settings.from_config(cls, PREPROCESS, section)

    @classmethod
    def from_preprocess(cls, preprocess: Mapping) -> CleaningSettings:
        """From the whole ``preprocess`` section (its other keys are not cleaning's)."""
        return cls.from_config(cleaning_options(preprocess))


@dataclass(frozen=True)
class TedanaSettings:
    """The config's ``preprocess.tedana`` section (defaults: config/schema.yaml).

    mode : ``me-ica`` (denoising, the trial's) or ``optcom`` (optimal combination only).
    seed : tedana's ``fixed_seed`` (FastICA; robustica derives its runs from it).
    ica_method : ``fastica`` or ``robustica``; n_robust_runs : ICA runs of robustica.
    tree : tedana's decision tree; tedpca : PCA dimension selection (name or number).
    figures : keep tedana's static figures (and its HTML report).
    """

    mode: Mode = settings.default(TEDANA, "mode")
    seed: int = settings.default(TEDANA, "seed")
    ica_method: Literal["fastica", "robustica"] = settings.default(TEDANA, "ica_method")
    n_robust_runs: int = settings.default(TEDANA, "n_robust_runs")
    tree: str = settings.default(TEDANA, "tree")
    tedpca: str | float | int = settings.default(TEDANA, "tedpca")
    figures: bool = settings.default(TEDANA, "figures")

    def __post_init__(self) -> None:
        if self.mode not in TEDANA_MODES:
            raise PreprocessingError(f"mode must be 'me-ica' or 'optcom', got {self.mode!r}")
        if self.ica_method not in ICA_METHODS:
            raise PreprocessingError(
                f"ica_method must be fastica or robustica, got {self.ica_method!r}"
            )

    @classmethod
    def from_config(cls, section: Mapping | None) -> TedanaSettings:
        """From the config's ``preprocess.tedana``; an unknown key is an error naming it."""
        return settings.from_config(cls, TEDANA, section)


class PreprocessingError(ValueError):
    """Bad input to the preprocessing stage. The message names the input and what to fix."""


# ---------------------------------------------------------------------------------------
# Loading and validation
# ---------------------------------------------------------------------------------------


def _load(img: ImgLike) -> nib.spatialimages.SpatialImage:
    return nib.load(str(img)) if isinstance(img, str | Path) else img


def _label(index: int, img: ImgLike) -> str:
    """'echo 2 (sub-01_echo-2_bold.nii.gz)' for messages; echo numbers start at 1."""
    if isinstance(img, str | Path):
        return f"echo {index + 1} ({Path(img).name})"
    name = img.get_filename()
    return f"echo {index + 1} ({Path(name).name})" if name else f"echo {index + 1}"


def _name(img: ImgLike, what: str) -> str:
    """The file name of ``img`` for messages, or ``what`` for an image in memory."""
    if isinstance(img, str | Path):
        return str(img)
    return img.get_filename() or what


def _mask_array(mask_img: ImgLike) -> np.ndarray:
    return np.asarray(_load(mask_img).dataobj) > 0


@dataclass(frozen=True)
class RunInfo:
    """What :func:`validate_run` learned about a run."""

    n_echoes: int
    n_volumes: int  # before dropping dummy volumes
    shape: tuple[int, int, int]
    tr_header_s: float
    n_mask_voxels: int


def validate_run(
    echo_imgs: Sequence[ImgLike],
    echo_times_s: Sequence[float | None] | None,
    mask_img: ImgLike,
    confounds: pd.DataFrame | None = None,
    n_dummy: int = 4,
    min_volumes: int = 50,
) -> RunInfo:
    """Check one run's inputs before any output is written; raise :class:`PreprocessingError`.

    Checks: at least one echo; every echo file exists; ``echo-<n>`` entities in file names
    (when present) are 1..N without gaps and in order; one echo time per echo, each given,
    in seconds (0 < TE < 1) and strictly increasing (a single-echo run needs no TE); every
    echo is 4D with the shape, number of volumes and affine of echo 1, a positive TR in its
    header and no NaN/inf; the brain mask is 3D, non-empty and on the echoes' grid; the run
    keeps at least ``min_volumes`` after dropping ``n_dummy``; the confounds (if given, not
    yet trimmed) have one row per volume.
    """
    if n_dummy < 0:
        raise PreprocessingError(f"n_dummy must be >= 0, got {n_dummy}")
    if len(echo_imgs) == 0:
        raise PreprocessingError("no echo images were given for this run")
    for i, img in enumerate(echo_imgs):
        if img is None:
            raise PreprocessingError(f"echo {i + 1} is missing (no file given)")
        if isinstance(img, str | Path) and not Path(img).is_file():
            raise PreprocessingError(
                f"{_label(i, img)} is missing: file not found at {img}. fMRIPrep writes one "
                "file per echo only with --me-output-echos."
            )
    _check_echo_entities(echo_imgs)
    n_echoes = len(echo_imgs)
    _check_echo_times(echo_imgs, echo_times_s)

    imgs = [_load(img) for img in echo_imgs]
    ref = imgs[0]
    if ref.ndim != 4:
        raise PreprocessingError(f"{_label(0, echo_imgs[0])} must be 4D, has shape {ref.shape}")
    for i, img in enumerate(imgs[1:], start=1):
        if img.shape != ref.shape:
            raise PreprocessingError(
                f"{_label(i, echo_imgs[i])} has shape {img.shape} but echo 1 has {ref.shape}: "
                "all echoes of a run must have the same grid and number of volumes"
            )
        diff = float(np.max(np.abs(img.affine - ref.affine)))
        if diff > 1e-3:
            raise PreprocessingError(
                f"{_label(i, echo_imgs[i])} has a different affine from echo 1 (largest "
                f"difference {diff:.3g} mm): all echoes must be resampled to the same grid"
            )
    tr_header = float(ref.header.get_zooms()[3])
    if not tr_header > 0:
        raise PreprocessingError(
            f"{_label(0, echo_imgs[0])} has TR {tr_header} in its header; tedana needs the "
            "true repetition time (seconds) in pixdim[4]"
        )

    mask = _load(mask_img)
    mask_name = _name(mask_img, "brain mask")
    if mask.ndim != 3 or mask.shape != ref.shape[:3]:
        raise PreprocessingError(
            f"{mask_name}: shape {mask.shape}, expected the echoes' 3D grid {ref.shape[:3]} "
            f"({_label(0, echo_imgs[0])}); use the brain mask fMRIPrep wrote for this run"
        )
    diff = float(np.max(np.abs(mask.affine - ref.affine)))
    if diff > 1e-3:
        raise PreprocessingError(
            f"{mask_name}: its affine differs from the echoes' (largest difference "
            f"{diff:.3g} mm); use the mask fMRIPrep wrote for the same space and resolution"
        )
    inside = _mask_array(mask)
    n_mask = int(inside.sum())
    if n_mask == 0:
        raise PreprocessingError(
            f"{mask_name}: the brain mask is empty; use the mask fMRIPrep wrote for this run"
        )

    n_volumes = int(ref.shape[3])
    if n_volumes - n_dummy < min_volumes:
        raise PreprocessingError(
            f"{_label(0, echo_imgs[0])}: {n_volumes} volumes; after dropping {n_dummy} dummy "
            f"volumes {n_volumes - n_dummy} remain, fewer than the minimum of {min_volumes} "
            "(preprocess.min_volumes). Check that the run is complete."
        )

    for i, img in enumerate(imgs):
        _scan_echo(echo_imgs[i], img, _label(i, echo_imgs[i]), inside)

    if confounds is not None and len(confounds) != n_volumes:
        raise PreprocessingError(
            f"confounds have {len(confounds)} rows but the run has {n_volumes} volumes: "
            "the confounds file does not belong to this run (or one of the two was trimmed)"
        )
    return RunInfo(
        n_echoes=n_echoes,
        n_volumes=n_volumes,
        shape=tuple(int(n) for n in ref.shape[:3]),
        tr_header_s=tr_header,
        n_mask_voxels=n_mask,
    )


def _echo_rows(source: ImgLike, img: nib.spatialimages.SpatialImage) -> Iterator[np.ndarray]:
    """An echo's volumes as (volumes, grid voxels) rows in file order: a file streamed a
    block at a time (:func:`tmstarget.niftiio.iter_volume_rows`), an image in memory as
    it is."""
    if isinstance(source, str | Path):
        yield from iter_volume_rows(source, 16, reuse=True)
        return
    data = np.asarray(img.dataobj)
    yield data.reshape(-1, data.shape[3], order="F").T


def _scan_echo(
    source: ImgLike, img: nib.spatialimages.SpatialImage, label: str, inside: np.ndarray
) -> None:
    """An echo's data read once, a block of volumes at a time (never the whole echo):
    finite everywhere, not 0 everywhere in the brain, changing over time somewhere in
    it."""
    index = np.ravel_multi_index(np.nonzero(inside), inside.shape, order="F")
    bad_values, bad_voxels = 0, np.zeros(int(np.prod(inside.shape)), bool)
    low = np.full(len(index), np.inf)
    high = np.full(len(index), -np.inf)
    try:
        for rows in _echo_rows(source, img):
            bad = ~np.isfinite(rows)
            if bad.any():
                bad_values += int(bad.sum())
                bad_voxels |= bad.any(axis=0)
                continue
            within = rows[:, index]
            low = np.minimum(low, within.min(axis=0))
            high = np.maximum(high, within.max(axis=0))
    except (NiftiIOError, OSError, EOFError, ValueError) as error:
        cause = error.__cause__ or error
        raise PreprocessingError(
            f"{label}: cannot read its data ({type(cause).__name__}: {cause}); the file is "
            "truncated or damaged: copy it again from fMRIPrep's output"
        ) from error
    if bad_values:
        raise PreprocessingError(
            f"{label} contains {bad_values} NaN/inf values in {int(bad_voxels.sum())} voxels; "
            "fix the input (e.g. rerun the resampling)"
        )
    # A series that is zero (or constant) over time in every brain voxel carries no
    # signal: tedana would fail deep inside (IndexError, sklearn's ValueError).
    if not (np.any(low != 0) or np.any(high != 0)):
        raise PreprocessingError(
            f"{label}: every brain voxel is 0 in every volume (an empty or failed export); "
            "rerun fMRIPrep for this run, or leave the subject out with "
            "input.exclude_subjects"
        )
    if not np.any(high > low):
        raise PreprocessingError(
            f"{label}: no brain voxel changes over time; the series holds no signal: rerun "
            "fMRIPrep for this run, or leave the subject out with input.exclude_subjects"
        )


def _check_echo_entities(echo_imgs: Sequence[ImgLike]) -> None:
    """If file names carry BIDS ``echo-<n>``, they must be 1..N, in order, without gaps."""
    numbers = []
    for img in echo_imgs:
        name = Path(img).name if isinstance(img, str | Path) else (img.get_filename() or "")
        match = re.search(r"(?:^|_)echo-(\d+)", Path(name).name)
        if match is None:
            return
        numbers.append(int(match.group(1)))
    expected = list(range(1, len(numbers) + 1))
    if sorted(numbers) != expected:
        missing = sorted(set(range(1, max(numbers) + 1)) - set(numbers))
        raise PreprocessingError(
            f"echo files have echo numbers {numbers}; echo {missing or '?'} is missing "
            f"(beside {_name(echo_imgs[0], 'echo 1')})"
        )
    if numbers != expected:
        raise PreprocessingError(
            f"echo files must be in echo order 1..N, got order {numbers} "
            f"({', '.join(Path(_name(img, '?')).name for img in echo_imgs)})"
        )


def _check_echo_times(
    echo_imgs: Sequence[ImgLike], echo_times_s: Sequence[float | None] | None
) -> None:
    n_echoes = len(echo_imgs)
    if echo_times_s is None:
        if n_echoes == 1:
            return
        raise PreprocessingError(
            f"{n_echoes} echoes but no echo times: give EchoTime (seconds) from each sidecar"
        )
    if len(echo_times_s) != n_echoes:
        raise PreprocessingError(
            f"{n_echoes} echo files but {len(echo_times_s)} echo times: an echo file or its "
            "EchoTime is missing"
        )
    values = []
    for i, te in enumerate(echo_times_s):
        if te is None or not np.isfinite(float(te)):
            raise PreprocessingError(
                f"EchoTime is missing for {_label(i, echo_imgs[i])}: add it to the JSON sidecar"
            )
        te = float(te)
        if not 0 < te < 1:
            hint = " (looks like milliseconds: divide by 1000)" if te >= 1 else ""
            raise PreprocessingError(
                f"EchoTime of {_label(i, echo_imgs[i])} is {te}; echo times must be in "
                f"seconds, between 0 and 1{hint}"
            )
        values.append(te)
    for i in range(1, n_echoes):
        if values[i] <= values[i - 1]:
            raise PreprocessingError(
                f"echo times must increase with echo number: echo {i} has {values[i - 1]} s, "
                f"echo {i + 1} has {values[i]} s (check the file order and the sidecars)"
            )


def drop_dummy_volumes(
    data: nib.spatialimages.SpatialImage | pd.DataFrame, n_dummy: int = 4
) -> nib.spatialimages.SpatialImage | pd.DataFrame:
    """Drop the first ``n_dummy`` volumes of a 4D image, or rows of a confounds table.

    A confounds table gets a fresh 0-based index, so that row ``i`` is volume ``i`` of the
    trimmed run. The first row keeps its values (e.g. FD is now a real value, not n/a).
    """
    if n_dummy < 0:
        raise PreprocessingError(f"n_dummy must be >= 0, got {n_dummy}")
    if isinstance(data, pd.DataFrame):
        if n_dummy >= len(data):
            raise PreprocessingError(f"cannot drop {n_dummy} rows from {len(data)} confounds")
        return data.iloc[n_dummy:].reset_index(drop=True)
    img = _load(data)
    if img.ndim != 4 or n_dummy >= img.shape[3]:
        raise PreprocessingError(f"cannot drop {n_dummy} volumes from an image of {img.shape}")
    if n_dummy == 0:
        return img
    return img.slicer[:, :, :, n_dummy:]


# ---------------------------------------------------------------------------------------
# tedana
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TedanaResult:
    """Outputs of :func:`run_tedana` for one run (paths inside ``out_dir``).

    ``bold`` is the series that enters cleaning: ME-ICA denoised, optimally combined, or
    the single echo. ``optcom`` is the series without ME-ICA (the tSNR "before" reference).
    """

    mode: str  # "me-ica", "optcom" or "single-echo"
    bold: Path
    optcom: Path
    metrics: Path | None  # tedana component table (desc-tedana_metrics.tsv), ME-ICA only
    figures: Path | None  # tedana's figures folder (PCA plots; all figures if figures=True)
    components: dict  # see component_summary
    n_volumes: int  # after dropping dummy volumes
    runtime_s: float = float("nan")


def component_summary(metrics_tsv: str | Path | None) -> dict:
    """Counts and variance explained (%) of accepted and rejected ME-ICA components.

    ``variance explained`` is tedana's per-component percentage of the optimally combined
    data's variance. Returns zeros (``n_components`` 0) when there is no table.
    """
    if metrics_tsv is None:
        return {
            "n_components": 0,
            "n_accepted": 0,
            "n_rejected": 0,
            "varex_accepted_pct": 0.0,
            "varex_rejected_pct": 0.0,
            "components": [],
        }
    table = pd.read_table(metrics_tsv)
    accepted = table["classification"] == "accepted"
    rejected = table["classification"] == "rejected"
    varex = table["variance explained"].astype(float)
    return {
        "n_components": int(len(table)),
        "n_accepted": int(accepted.sum()),
        "n_rejected": int(rejected.sum()),
        "varex_accepted_pct": float(varex[accepted].sum()),
        "varex_rejected_pct": float(varex[rejected].sum()),
        "components": [
            {
                "name": str(row["Component"]),
                "classification": str(row["classification"]),
                "kappa": float(row["kappa"]),
                "rho": float(row["rho"]),
                "varex_pct": float(row["variance explained"]),
            }
            for _, row in table.iterrows()
        ],
    }


def run_tedana(
    echo_files: Sequence[str | Path],
    echo_times_s: Sequence[float] | None,
    mask_file: str | Path,
    out_dir: str | Path,
    options: TedanaSettings | None = None,
    *,
    n_dummy: int = 4,
    min_volumes: int = 50,
    prefix: str = "",
    n_threads: int = 1,
    overwrite: bool = False,
) -> TedanaResult:
    """Optimal combination and ME-ICA denoising of one run with tedana 26, as ``options``
    say (:class:`TedanaSettings`, default the schema's ``preprocess.tedana``).

    Echo times are passed to tedana in seconds (its BIDS convention; it converts to ms
    internally). The first ``n_dummy`` volumes are dropped by tedana (``dummy_scans``), so
    outputs have ``n_volumes - n_dummy`` volumes. ``mode="optcom"`` runs
    ``t2smap_workflow`` (T2* fit + optimal combination, no ICA). A single echo skips tedana
    (a warning is logged): its dummy-trimmed series is written as
    ``desc-singleecho_bold.nii.gz``. ``figures`` keeps tedana's static PNGs (``figures/``);
    tedana then also writes its HTML report, which loads JavaScript from the web when opened
    and is not used here. ``seed`` is tedana's ``fixed_seed`` (FastICA; robustica derives its
    runs from it). tedana runs inside a ``threadpoolctl`` limit of ``n_threads``.

    Everything is written into a hidden sibling folder that is renamed to ``out_dir`` only
    on success, so a failed run leaves no outputs. A ``tmstarget_denoise.json`` summary
    (see :func:`read_tedana_result`) is added.
    """
    from threadpoolctl import threadpool_limits

    options = options or TedanaSettings()
    mode, seed, ica_method = options.mode, options.seed, options.ica_method
    info = validate_run(echo_files, echo_times_s, mask_file, None, n_dummy, min_volumes)
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise FileExistsError(f"{out_dir} exists and is not empty (pass overwrite=True)")
    partial = out_dir.parent / f".{out_dir.name}.partial"
    if partial.exists():
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    prefix = f"{prefix}_" if prefix and not prefix.endswith("_") else prefix
    files = [str(Path(f).absolute()) for f in echo_files]
    tes = [float(te) for te in echo_times_s] if echo_times_s is not None else None

    start = time.perf_counter()
    run_mode: str = mode
    try:
        if info.n_echoes == 1:
            run_mode = "single-echo"
            LGR.warning("single-echo run %s: tedana skipped", Path(files[0]).name)
            bold_name = f"{prefix}desc-singleecho_bold.nii.gz"
            _write_trimmed(files[0], partial / bold_name, n_dummy)
            optcom_name, metrics_name, figures_name = bold_name, None, None
        else:
            from tedana import utils as tedana_utils
            from tedana.workflows import t2smap_workflow, tedana_workflow

            common = dict(
                out_dir=str(partial),
                mask=str(Path(mask_file).absolute()),
                prefix=prefix,
                dummy_scans=n_dummy,
                quiet=True,  # tedana's INFO goes to its own log file in out_dir
                overwrite=True,
                n_threads=n_threads,
            )
            # nilearn calls gc.collect() at every image access (about 90 times per tedana
            # run), each a full pass over the ~300,000 objects that tedana and its imports
            # create (~0.13 s). Freezing the objects that exist now makes those passes
            # nearly free and roughly halves tedana's runtime.
            gc.freeze()
            try:
                with threadpool_limits(limits=n_threads), warnings.catch_warnings():
                    # deprecation notices from tedana's use of pandas/pybtex: noise in our logs
                    warnings.simplefilter("ignore", DeprecationWarning)
                    warnings.simplefilter("ignore", FutureWarning)
                    if mode == "optcom":
                        t2smap_workflow(files, tes, **common)
                    else:
                        tedana_workflow(
                            files,
                            tes,
                            tree=options.tree,
                            ica_method=ica_method,
                            n_robust_runs=options.n_robust_runs,
                            tedpca=options.tedpca,
                            fixed_seed=seed,
                            no_reports=not options.figures,
                            **common,
                        )
            finally:
                gc.unfreeze()
                # tedana leaves its handlers attached when it fails part-way.
                tedana_utils.teardown_loggers()
            optcom_name = f"{prefix}desc-optcom_bold.nii.gz"
            if mode == "optcom":
                bold_name, metrics_name, figures_name = optcom_name, None, None
            else:
                bold_name = f"{prefix}desc-denoised_bold.nii.gz"
                metrics_name = f"{prefix}desc-tedana_metrics.tsv"
                figures_name = "figures" if (partial / "figures").is_dir() else None
            for name in (bold_name, optcom_name, metrics_name):
                if name is not None and not (partial / name).is_file():
                    raise RuntimeError(f"tedana did not write {name} in {partial}")
        components = component_summary(partial / metrics_name if metrics_name else None)
        summary = {
            "mode": run_mode,
            "bold": bold_name,
            "optcom": optcom_name,
            "metrics": metrics_name,
            "figures": figures_name,
            "echo_times_s": tes,
            "n_dummy": n_dummy,
            "n_volumes": info.n_volumes - n_dummy,
            "seed": seed,
            "ica_method": ica_method if run_mode == "me-ica" else None,
            "n_robust_runs": options.n_robust_runs
            if run_mode == "me-ica" and ica_method == "robustica"
            else None,
            "tree": options.tree if run_mode == "me-ica" else None,
            "tedpca": options.tedpca if run_mode == "me-ica" else None,
            "tedana_version": _tedana_version(),
            "components": components,
        }
        (partial / SUMMARY_NAME).write_text(json.dumps(summary, indent=2) + "\n")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        partial.rename(out_dir)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    runtime = time.perf_counter() - start
    LGR.info(
        "%s: %s, %d components (%d accepted, %d rejected) in %.1f s",
        out_dir.name,
        run_mode,
        components["n_components"],
        components["n_accepted"],
        components["n_rejected"],
        runtime,
    )
    result = read_tedana_result(out_dir)
    return TedanaResult(**{**result.__dict__, "runtime_s": runtime})


def _write_trimmed(source: str | Path, target: Path, n_dummy: int) -> None:
    """``source`` without its first ``n_dummy`` volumes, as float32, written a block of
    volumes at a time (the image bytes nibabel writes for the trimmed series)."""
    img = nib.load(str(source))
    shape = (*img.shape[:3], img.shape[3] - n_dummy)
    # the header of nibabel's slicer without its data (a broadcast zero stands in)
    trimmed = nib.Nifti1Image(np.broadcast_to(np.float32(0), shape), img.affine, img.header)
    header = niftiio.header_as_written(trimmed.header, img.affine, shape)

    def blocks() -> Iterator[np.ndarray]:
        skip = n_dummy
        for rows in iter_volume_rows(source, 16, reuse=True):
            if skip >= len(rows):
                skip -= len(rows)
                continue
            yield rows[skip:]
            skip = 0

    niftiio.write_series(target, header, blocks())


def _tedana_version() -> str:
    from importlib.metadata import version

    return version("tedana")


def read_tedana_result(out_dir: str | Path) -> TedanaResult:
    """Read back what :func:`run_tedana` wrote in ``out_dir`` (paths made absolute)."""
    out_dir = Path(out_dir)
    summary = json.loads((out_dir / SUMMARY_NAME).read_text())
    return TedanaResult(
        mode=summary["mode"],
        bold=out_dir / summary["bold"],
        optcom=out_dir / summary["optcom"],
        metrics=out_dir / summary["metrics"] if summary["metrics"] else None,
        figures=out_dir / summary["figures"] if summary["figures"] else None,
        components=summary["components"],
        n_volumes=int(summary["n_volumes"]),
    )


# ---------------------------------------------------------------------------------------
# Confounds, cleaning, smoothing
# ---------------------------------------------------------------------------------------


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


def _unmask(series: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """A (volumes, voxels) matrix back on the grid (x, y, z, volumes), 0 outside."""
    out = np.zeros(mask.shape + (series.shape[0],), np.float32)
    out[mask] = series.T
    return out


def _voxel_rows(
    series: np.ndarray, chunk_voxels: int = 20000
) -> Iterator[tuple[slice, np.ndarray]]:
    """Chunks of a (volumes, voxels) matrix as C-ordered float64 (voxels, volumes) rows, as
    masking a 4D array gives them: row-wise numbers (mean, SD) come out bit for bit the
    same."""
    for start in range(0, series.shape[1], chunk_voxels):
        columns = slice(start, start + chunk_voxels)
        yield columns, np.ascontiguousarray(series[:, columns].T, dtype=np.float64)


def series_mean_sd(series: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and population SD over time of every voxel of a (volumes, voxels) matrix
    (float64)."""
    mean, sd = np.empty(series.shape[1]), np.empty(series.shape[1])
    for columns, rows in _voxel_rows(series):
        mean[columns], sd[columns] = rows.mean(axis=1), rows.std(axis=1)
    return mean, sd


def _like(data: np.ndarray, ref: nib.spatialimages.SpatialImage) -> nib.Nifti1Image:
    header = ref.header.copy()
    header.set_data_dtype(data.dtype)
    out = nib.Nifti1Image(data, ref.affine, header)
    out.header.set_data_shape(data.shape)
    return out


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


# ---------------------------------------------------------------------------------------
# QC numbers
# ---------------------------------------------------------------------------------------


def tsnr(img: ImgLike, mask_img: ImgLike) -> nib.Nifti1Image:
    """Temporal SNR map: mean over time / SD over time (population SD), 0 outside the mask
    and where the SD is 0."""
    img = _load(img)
    mask = _mask_array(mask_img)
    mean, sd = series_mean_sd(read_masked(img, mask))
    return _tsnr_image(mean, sd, mask, img.affine)


def _tsnr_image(mean, sd, mask, affine) -> nib.Nifti1Image:
    values = np.divide(mean, sd, out=np.zeros_like(mean), where=sd > 0)
    out = np.zeros(mask.shape, np.float32)
    out[mask] = values
    return nib.Nifti1Image(out, affine)


def carpet_matrix(
    img: ImgLike,
    mask_img: ImgLike,
    kept: np.ndarray | None = None,
    max_voxels: int = 2000,
) -> np.ndarray:
    """Voxels x volumes array for a carpet plot: each row detrended and z-scored.

    Rows are every k-th mask voxel (same voxels for every run on the same mask). With
    ``kept`` (bool per volume) the image holds only kept volumes and censored columns are
    NaN, so that carpets of a run line up in time with its FD trace.
    :func:`carpet_rows` does the same on the masked (volumes, voxels) matrix.
    """
    return carpet_rows(read_masked(_load(img), _mask_array(mask_img)), kept, max_voxels)


def carpet_rows(
    series: np.ndarray, kept: np.ndarray | None = None, max_voxels: int = 2000
) -> np.ndarray:
    """:func:`carpet_matrix` from a (volumes, mask voxels) matrix: the carpet comes from
    the matrix the cleaning works on, not from a second read of the file."""
    step = max(1, int(np.ceil(series.shape[1] / max_voxels)))
    data = np.ascontiguousarray(series[:, ::step].T)
    rows = nsignal.clean(
        data.T.astype(np.float64), detrend=True, standardize="zscore_sample", filter=False
    ).T
    if kept is None:
        return rows.astype(np.float32)
    if kept.sum() != rows.shape[1]:
        raise PreprocessingError(f"kept marks {kept.sum()} volumes, image has {rows.shape[1]}")
    out = np.full((rows.shape[0], len(kept)), np.nan, np.float32)
    out[:, kept] = rows
    return out


def qc_metrics(
    fd_mm: np.ndarray,
    kept: np.ndarray,
    tsnr_before: ImgLike,
    tsnr_after: ImgLike,
    mask_img: ImgLike,
    fd_flag_mm: float = 0.5,
) -> dict:
    """Run QC numbers: volumes, FD (mm), % of frames above ``fd_flag_mm``, % censored,
    median tSNR in the mask before and after denoising."""
    mask = _mask_array(mask_img)
    before = np.asarray(_load(tsnr_before).dataobj)[mask]
    after = np.asarray(_load(tsnr_after).dataobj)[mask]
    n = len(fd_mm)
    return {
        "n_volumes": int(n),
        "n_kept": int(kept.sum()),
        "mean_fd_mm": float(np.mean(fd_mm)),
        "max_fd_mm": float(np.max(fd_mm)),
        "pct_fd_above": float(100.0 * np.mean(fd_mm > fd_flag_mm)),
        "pct_censored": float(100.0 * (1 - kept.mean())),
        "median_tsnr_before": float(np.median(before)),
        "median_tsnr_after": float(np.median(after)),
    }


@dataclass
class RunQC:
    """QC of one run, ready to save (``arrays`` -> npz, ``info`` -> JSON) and to plot.

    Maps are in RAS+ orientation (``nibabel.as_closest_canonical``) so that plots show the
    subject's left on the left.
    """

    mode: str
    tsnr_before: np.ndarray  # 3D
    tsnr_after: np.ndarray  # 3D
    carpet_before: np.ndarray  # voxels x volumes
    carpet_after: np.ndarray  # voxels x volumes, NaN where censored
    fd_mm: np.ndarray
    kept: np.ndarray
    metrics: dict
    components: dict = field(default_factory=lambda: component_summary(None))
    affine: np.ndarray = field(default_factory=lambda: np.eye(4))  # of the RAS+ tSNR maps

    _ARRAYS = (
        "tsnr_before",
        "tsnr_after",
        "carpet_before",
        "carpet_after",
        "fd_mm",
        "kept",
        "affine",
    )

    def arrays(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in self._ARRAYS}

    def info(self) -> dict:
        return {"mode": self.mode, "metrics": self.metrics, "components": self.components}

    @classmethod
    def from_saved(cls, arrays: Mapping[str, np.ndarray], info: Mapping) -> RunQC:
        return cls(
            mode=info["mode"],
            metrics=dict(info["metrics"]),
            components=dict(info["components"]),
            **{name: np.asarray(arrays[name]) for name in cls._ARRAYS},
        )


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


def _check_finite(series: np.ndarray, name: str, chunk_volumes: int = 64) -> None:
    for start in range(0, series.shape[0], chunk_volumes):
        if not np.isfinite(series[start : start + chunk_volumes]).all():
            raise PreprocessingError(f"{name} has NaN/inf values inside the brain mask")


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


def _canonical(img: nib.spatialimages.SpatialImage) -> np.ndarray:
    return np.asarray(nib.as_closest_canonical(img).dataobj, dtype=np.float32)


@dataclass
class SubjectQC:
    """Everything the per-subject QC figure shows: finished numbers only."""

    subject: str
    run_labels: list[str]
    run_modes: list[str]
    run_lengths: list[int]  # volumes per run after dummies (FD/carpet columns)
    tsnr_before: np.ndarray  # mean over runs, RAS+
    tsnr_after: np.ndarray
    affine: np.ndarray  # of the tSNR maps
    carpet_before: np.ndarray
    carpet_after: np.ndarray
    fd_mm: np.ndarray
    kept: np.ndarray
    components: list[dict]
    metrics: dict
    # the thresholds exceeded and the thresholds; None: no verdict here (the workflow
    # judges against the group's preprocess.qc_thresholds in cheap jobs: summarise_qc and
    # each patient's report, so that changing them reruns no cleaning)
    flags: list[str] | None
    thresholds: dict | None
    fd_flag_mm: float


def combine_run_qc(
    subject: str,
    runs: Sequence[RunQC],
    run_labels: Sequence[str] | None = None,
    fd_flag_mm: float = 0.5,
    thresholds: Mapping[str, float] | None = None,
) -> SubjectQC:
    """Join the runs of a subject for QC: runs in time, mean tSNR maps, pooled metrics.

    Pooled metrics weigh runs by their volumes (mean FD, percentages) or take the median of
    the subject's mean tSNR map. ``flags`` lists the thresholds (:func:`qc_flags`) exceeded;
    with ``thresholds`` None there is no verdict (``flags`` and ``thresholds`` None).
    """
    if len(runs) == 0:
        raise PreprocessingError(f"subject {subject} has no runs")
    labels = list(run_labels) if run_labels is not None else [str(i + 1) for i in range(len(runs))]
    fd = np.concatenate([run.fd_mm for run in runs])
    kept = np.concatenate([run.kept for run in runs])
    tsnr_before = np.mean([run.tsnr_before for run in runs], axis=0)
    tsnr_after = np.mean([run.tsnr_after for run in runs], axis=0)
    in_brain = tsnr_before > 0
    metrics = {
        "n_runs": len(runs),
        "n_volumes": int(len(fd)),
        "n_kept": int(kept.sum()),
        "mean_fd_mm": float(fd.mean()),
        "max_fd_mm": float(fd.max()),
        "pct_fd_above": float(100.0 * np.mean(fd > fd_flag_mm)),
        "pct_censored": float(100.0 * (1 - kept.mean())),
        "median_tsnr_before": float(np.median(tsnr_before[in_brain])) if in_brain.any() else 0.0,
        "median_tsnr_after": float(np.median(tsnr_after[in_brain])) if in_brain.any() else 0.0,
        "n_single_echo_runs": sum(run.mode == "single-echo" for run in runs),
    }
    if thresholds is not None:
        thresholds = {**QC_THRESHOLDS, **thresholds}
    return SubjectQC(
        subject=subject,
        run_labels=labels,
        run_modes=[run.mode for run in runs],
        run_lengths=[len(run.fd_mm) for run in runs],
        tsnr_before=tsnr_before,
        tsnr_after=tsnr_after,
        affine=runs[0].affine,
        carpet_before=np.concatenate([run.carpet_before for run in runs], axis=1),
        carpet_after=np.concatenate([run.carpet_after for run in runs], axis=1),
        fd_mm=fd,
        kept=kept,
        components=[run.components for run in runs],
        metrics=metrics,
        flags=None if thresholds is None else qc_flags(metrics, thresholds),
        thresholds=thresholds,
        fd_flag_mm=fd_flag_mm,
    )


def qc_flags(metrics: Mapping[str, float], thresholds: Mapping[str, float] | None = None) -> list:
    """Names of the QC thresholds a run or subject fails (empty list: passes).

    Thresholds (defaults in :data:`QC_THRESHOLDS`): ``max_mean_fd_mm``, ``max_pct_fd_above``
    (% of frames with FD above the flag level), ``max_pct_censored``, ``min_median_tsnr``
    (median tSNR before denoising, i.e. of the raw optimal combination).
    """
    t = {**QC_THRESHOLDS, **(thresholds or {})}
    checks = [
        ("mean_fd", metrics["mean_fd_mm"] > t["max_mean_fd_mm"]),
        ("fd_above", metrics["pct_fd_above"] > t["max_pct_fd_above"]),
        ("censored", metrics["pct_censored"] > t["max_pct_censored"]),
        ("tsnr", metrics["median_tsnr_before"] < t["min_median_tsnr"]),
    ]
    return [name for name, failed in checks if failed]


def flag_qc(table: pd.DataFrame, thresholds: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Group QC: one row per subject (or run) of metrics in, with ``flag_<name>`` columns,
    ``qc_flags`` (comma-separated names) and ``qc_pass`` added."""
    out = table.copy()
    flags = [qc_flags(row, thresholds) for row in table.to_dict("records")]
    for name in ("mean_fd", "fd_above", "censored", "tsnr"):
        out[f"flag_{name}"] = [name in f for f in flags]
    out["qc_flags"] = [",".join(f) for f in flags]
    out["qc_pass"] = [not f for f in flags]
    return out


# --------------------------------------------------------------------------------------
# One subject, end to end (what the Snakemake rule calls)


@dataclass
class RunInput:
    """One run entering the cleaning step: the series to clean (tedana's output, or data
    already denoised elsewhere), its reference before denoising, and what came with it."""

    label: str
    bold: str | Path
    reference: str | Path | None
    mask: str | Path
    confounds: str | Path
    repetition_time_s: float
    mode: str  # "me-ica", "optcom", "single-echo" or "external"
    components: dict | None = None
    # True for tedana's output; None infers it from the lengths (external input: dropped
    # if the image has n_dummy volumes fewer than the confounds).
    dummies_dropped: bool | None = True
    # The run's dummy volumes; None: fMRIPrep's non_steady_state_outlier columns.
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


def cleaning_options(preprocess: Mapping) -> dict:
    """The keys of the config's ``preprocess`` section that cleaning reads
    (:meth:`CleaningSettings.keys`; no QC thresholds: the verdict is judged in cheap jobs),
    as the rule's params: :meth:`CleaningSettings.from_config` builds the settings."""
    return {key: preprocess[key] for key in CleaningSettings.keys() if key in preprocess}


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


def clean_subject(
    subject: str,
    runs: Sequence[RunInput],
    cleaning: CleaningSettings | None = None,
    *,
    thresholds: Mapping[str, float] | None = None,
) -> SubjectResult:
    """Steps 3-5 for every run of one subject: clean, smooth, then join the runs, as
    ``cleaning`` says (:class:`CleaningSettings`, default the schema's).

    The subject's brain mask is the intersection of its runs' masks (every voxel of the
    joined series has data in every run). Runs must share TR and grid. Dummy volumes per
    run: ``cleaning.n_dummy`` when given (the config's override), else the run's own
    (``RunInput.n_dummy``), else the non-steady-state volumes its confounds table flags.
    """
    cleaning = cleaning or CleaningSettings()
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
    joint = np.logical_and.reduce([_mask_array(mask) for mask in masks])
    mask_img = nib.Nifti1Image(joint.astype(np.uint8), masks[0].affine)
    plans = [_plan_run(subject, run, joint.shape, cleaning) for run in runs]
    offsets = np.cumsum([0] + [plan[4] for plan in plans])
    joined = np.empty((int(offsets[-1]), int(joint.sum())), np.float32)
    header, qcs = None, []
    for (run, bold, trimmed, first, n_kept), offset in zip(plans, offsets, strict=False):
        LGR.info("sub-%s %s: cleaning %d volumes (%s)", subject, run.label, len(trimmed), run.mode)
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
            bold.affine,
            trimmed,
            run.repetition_time_s,
            cleaning,
            before=before,
            mode=run.mode,
            components=run.components,
            confounds_source=run.confounds,
        )
        normalise_series(
            cleaned.series, cleaning.concat_normalise, out=joined[offset : offset + n_kept]
        )
        qcs.append(cleaned.qc)
        del series, cleaned
        if header is None:
            # the joined image's header as the image chain gave it: the run's series
            # (dummies dropped), cleaned, smoothed, joined
            # (what nibabel's slicer gives without its data: a broadcast zero)
            header = bold.header
            if first:
                kept_shape = (*bold.shape[:3], bold.shape[3] - first)
                zeros = np.broadcast_to(np.float32(0), kept_shape)
                header = nib.Nifti1Image(zeros, bold.affine, bold.header).header
            for n_volumes in (n_kept, n_kept, len(joined)):
                header = _like_header(header, bold.affine, (*joint.shape, n_volumes))
    qc = combine_run_qc(
        subject,
        qcs,
        [run.label for run in runs],
        fd_flag_mm=cleaning.fd_flag_mm,
        thresholds=thresholds,
    )
    return SubjectResult(series=joined, mask=mask_img, qc=qc, header=header)


def _plan_run(
    subject: str, run: RunInput, grid_shape: Sequence[int], cleaning: CleaningSettings
) -> tuple[RunInput, nib.spatialimages.SpatialImage, pd.DataFrame, int, int]:
    """Everything a run's headers and confounds tell before its data are read (lengths,
    dummies, censoring), so that the joined matrix is allocated once and each run is read
    straight into it: the run, its image, its trimmed confounds, the first volume to read
    and the volumes kept."""
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
    return run, bold, trimmed, 0 if dropped else dummies, n_kept


def _like_header(
    header: nib.Nifti1Header, affine: np.ndarray, shape: Sequence[int]
) -> nib.Nifti1Header:
    """The header :func:`_like` gives float32 data of ``shape`` like an image with
    ``header`` and ``affine``, without the data (a broadcast zero stands in)."""
    copied = header.copy()
    copied.set_data_dtype(np.float32)
    out = nib.Nifti1Image(np.broadcast_to(np.float32(0), tuple(shape)), affine, copied)
    out.header.set_data_shape(tuple(shape))
    return out.header


def group_qc_table(
    metrics_files: Sequence[str | Path], thresholds: Mapping[str, float] | None = None
) -> pd.DataFrame:
    """One row per subject from the per-subject QC JSON files, flagged against
    ``thresholds`` (see :func:`flag_qc`); tedana components summed over runs."""
    rows = []
    for path in metrics_files:
        content = json.loads(Path(path).read_text())
        runs = content["runs"]
        rows.append(
            {
                "participant_id": content["participant_id"],
                "n_runs": len(runs),
                "n_volumes": sum(run["volumes"] for run in runs),
                "modes": ",".join(sorted({run["mode"] for run in runs})),
                **content["metrics"],
                "n_accepted": sum(run["components"]["n_accepted"] for run in runs),
                "n_rejected": sum(run["components"]["n_rejected"] for run in runs),
            }
        )
    return flag_qc(pd.DataFrame(rows), thresholds)
