"""One run from fMRIPrep's outputs to the analysis grid: tedana where the echoes are,
then one interpolation (the workflow's per-run job, rule ``prepare_run``).

For fMRIPrep's native echoes (tedana's FAQ, "Running tedana on fMRIPrep outputs"):
tedana denoises the echoes in the run's own space with the boldref brain mask, then the
denoised series and the optimal combination (the QC's "before") are carried into the
analysis grid through fMRIPrep's transforms in one interpolation
(:mod:`tmstarget.resample`), and so is the brain mask. Both happen in one process, so
tedana's imports are paid once per run. tedana's component table, report figures and its
own files stay in the run's tedana folder; its native 4D series are removed once carried
over (they would double the disk a run needs and nothing downstream reads them).

For echoes already in the template (another pipeline's output) tedana runs there and its
series are moved to the same outputs. Single-echo runs skip tedana; data denoised
elsewhere skip it too and are only carried over.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib

from tmstarget import atomic, denoise, resample, settings

LGR = logging.getLogger(__name__)
# tedana settings when none are given (the schema's defaults, preprocess.tedana; the
# settings are denoise.TedanaSettings)
TEDANA_DEFAULTS = settings.defaults(denoise.TEDANA)


@dataclass(frozen=True)
class RunOutputs:
    """Where :func:`prepare_run` writes (the rule's declared outputs).

    Attributes
    ----------
    tedana_dir : Path
        tedana's folder of the run, with the workflow's summary
        (``tmstarget_denoise.json``).
    bold : Path
        The series to clean, on the analysis grid.
    optcom : Path
        Its reference before denoising (the optimal combination), on the same grid.
    mask : Path
        The run's brain mask on the analysis grid.
    """

    tedana_dir: Path  # tedana's folder of the run, with the workflow's summary
    bold: Path  # the series to clean, on the analysis grid
    optcom: Path  # its reference before denoising (the optimal combination)
    mask: Path  # the run's brain mask on the analysis grid


def prepare_run(
    echo_files: Sequence[str | Path],
    echo_times_s: Sequence[float] | None,
    mask_file: str | Path,
    outputs: RunOutputs,
    *,
    repetition_time_s: float,
    n_dummy: int,
    xfm_files: Sequence[str | Path] = (),
    grid_voxel_mm: float = 2.0,
    kernel: str = "linear",
    tedana: denoise.TedanaSettings | None = None,
    denoised: bool = False,
    min_volumes: int = 50,
    n_threads: int = 1,
) -> dict:
    """tedana (``tedana``: the config's ``preprocess.tedana`` settings, default the
    schema's; skipped for one echo or ``denoised`` input) and the interpolation into the
    analysis grid through ``xfm_files`` (template side first; empty: the run is already in
    the template).
    Returns the summary also written to ``outputs.tedana_dir / "tmstarget_denoise.json"``.

    Parameters
    ----------
    echo_files : sequence of str or Path
        The run's echoes in echo order (fMRIPrep's per-echo ``desc-preproc_bold``), or one
        file (single echo, or a series denoised elsewhere).
    echo_times_s : sequence of float or None
        One echo time per echo, in seconds (0 < TE < 1, increasing); not needed for a
        single echo.
    mask_file : str or Path
        The run's brain mask in the echoes' space (fMRIPrep's boldref mask).
    outputs : RunOutputs
        Where the run's tedana folder, series, optimal combination and mask go.
    repetition_time_s : float
        The repetition time (seconds), written to the resampled series' header.
    n_dummy : int
        Non-steady-state volumes at the start, dropped by tedana.
    xfm_files : sequence of str or Path, optional
        fMRIPrep's transforms between the run's space and the template, template side
        first (as :func:`tmstarget.resample.plan_resampling` takes them); empty: the run
        is already in the template and its series are moved as they are.
    grid_voxel_mm : float, default 2.0
        The analysis grid's voxel size (mm; the FSL MNI152 box, MNI152NLin6Asym).
    kernel : str, default "linear"
        The interpolation kernel: ``cubic``, ``linear`` or ``nearest``.
    tedana : mapping, optional
        The config's ``preprocess.tedana`` settings (mode, seed, ica_method,
        n_robust_runs, tree, tedpca, figures); keys not given take
        :data:`TEDANA_DEFAULTS`.
    denoised : bool, default False
        The input is already denoised: tedana is skipped and the file only carried over
        (copied, never moved: it is the user's).
    min_volumes : int, default 50
        The fewest volumes a run may keep after the dummy volumes.
    n_threads : int, default 1
        Threads tedana may use.

    Returns
    -------
    dict
        The run's summary: tedana's (mode, n_dummy, components) plus ``resampling``
        (transforms, grid, voxel size in mm, kernel, mask voxels; None without
        transforms), ``seconds`` (tedana and resampling wall time, s) and ``n_volumes``.

    Raises
    ------
    PreprocessingError
        When the run's inputs fail :func:`tmstarget.denoise.validate_run` or the tedana
        settings are invalid.
    ResamplingError
        When the transforms or the kernel cannot resample the run.
    """
    start = time.perf_counter()
    if denoised:
        series, reference = Path(echo_files[0]), Path(echo_files[0])
        summary = {
            "mode": "external",
            "n_dummy": None,
            "components": denoise.component_summary(None),
        }
        outputs.tedana_dir.mkdir(parents=True, exist_ok=True)
    else:
        result = denoise.run_tedana(
            echo_files,
            echo_times_s,
            mask_file,
            outputs.tedana_dir,
            tedana,
            n_dummy=n_dummy,
            min_volumes=min_volumes,
            n_threads=n_threads,
            overwrite=True,
        )
        series, reference = result.bold, result.optcom
        summary = json.loads((outputs.tedana_dir / denoise.SUMMARY_NAME).read_text())
    tedana_s = time.perf_counter() - start

    start = time.perf_counter()
    if xfm_files:
        shape, affine = resample.analysis_grid(grid_voxel_mm)
        resampler = resample.plan_resampling(
            mask_file, xfm_files, shape, affine, kernel, resample.template_brain(grid_voxel_mm)
        )
        resample.resample_series(resampler, series, outputs.bold, repetition_time_s)
        if reference != series:
            resample.resample_series(resampler, reference, outputs.optcom, repetition_time_s)
        else:
            shutil.copyfile(outputs.bold, outputs.optcom)
        resample.resample_mask(resampler, outputs.mask)
        resampling = {
            "transforms": [str(f) for f in xfm_files],
            "grid": "FSL MNI152 box (MNI152NLin6Asym)",
            "voxel_size_mm": grid_voxel_mm,
            "kernel": kernel,
            "mask_voxels": resampler.n_voxels,
        }
        if not denoised:
            # tedana's native series, now carried over: not kept twice
            for path in {series, reference}:
                Path(path).unlink(missing_ok=True)
    else:
        _place(series, outputs.bold, keep=denoised)
        if reference != series:
            _place(reference, outputs.optcom, keep=denoised)
        else:
            shutil.copyfile(outputs.bold, outputs.optcom)
        atomic.save_image(nib.load(str(mask_file)), outputs.mask)
        resampling = None
    resampling_s = time.perf_counter() - start
    # tedana's series are gone from its folder (carried over or moved): the outputs hold them
    summary.pop("bold", None)
    summary.pop("optcom", None)
    summary |= {
        "resampling": resampling,
        "seconds": {"tedana": round(tedana_s, 1), "resampling": round(resampling_s, 1)},
        "n_volumes": int(nib.load(str(outputs.bold)).shape[3]),
    }
    atomic.write_text(
        outputs.tedana_dir / denoise.SUMMARY_NAME,
        json.dumps(summary, indent=2, sort_keys=True) + "\n",
    )
    LGR.info(
        "%s: %s in %.1f s, resampling in %.1f s",
        outputs.tedana_dir.name,
        summary["mode"],
        tedana_s,
        resampling_s,
    )
    return summary


def _place(source: Path, target: Path, keep: bool) -> None:
    """Move ``source`` to ``target`` (copy when the input is the user's own file)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if keep:
        shutil.copyfile(source, target)
    else:
        shutil.move(str(source), str(target))


def read_summary(tedana_dir: str | Path) -> dict:
    """What :func:`prepare_run` recorded for a run (mode, components, volumes, timing).

    Parameters
    ----------
    tedana_dir : str or Path
        The run's tedana folder (:attr:`RunOutputs.tedana_dir`).

    Returns
    -------
    dict
        The summary :func:`prepare_run` returned, read from its
        ``tmstarget_denoise.json``.
    """
    return json.loads((Path(tedana_dir) / denoise.SUMMARY_NAME).read_text())
