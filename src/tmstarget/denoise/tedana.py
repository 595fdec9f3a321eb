"""Step 2 of a run: optimal combination and ME-ICA denoising with tedana
(:func:`run_tedana`), the summary it leaves beside tedana's outputs
(:func:`read_tedana_result`) and the component counts of tedana's metrics table
(:func:`component_summary`). tedana itself is imported only when a run needs it."""

from __future__ import annotations

import gc
import json
import logging
import shutil
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import nibabel as nib
import numpy as np
import pandas as pd

from tmstarget import niftiio
from tmstarget.denoise.settings import TedanaSettings
from tmstarget.denoise.validation import RunInfo, validate_run
from tmstarget.niftiio import iter_volume_rows

# one logger for the stage, whichever module of it speaks
LGR = logging.getLogger("tmstarget.denoise")

# File that run_tedana writes next to tedana's own outputs; read back by read_tedana_result.
SUMMARY_NAME = "tmstarget_denoise.json"


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
    options = options or TedanaSettings()
    info = validate_run(echo_files, echo_times_s, mask_file, None, n_dummy, min_volumes)
    out_dir = Path(out_dir)
    partial = _partial_folder(out_dir, overwrite)
    prefix = f"{prefix}_" if prefix and not prefix.endswith("_") else prefix
    files = [str(Path(f).absolute()) for f in echo_files]
    tes = [float(te) for te in echo_times_s] if echo_times_s is not None else None

    start = time.perf_counter()
    try:
        if info.n_echoes == 1:
            LGR.warning("single-echo run %s: tedana skipped", Path(files[0]).name)
            outputs = _skip_tedana(files[0], partial, prefix, n_dummy)
        else:
            _tedana_workflow(files, tes, mask_file, partial, options, prefix, n_dummy, n_threads)
            outputs = _tedana_outputs(partial, prefix, options.mode)
        summary = _summary(partial, outputs, tes, n_dummy, info, options)
        (partial / SUMMARY_NAME).write_text(json.dumps(summary, indent=2) + "\n")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        partial.rename(out_dir)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    runtime = time.perf_counter() - start
    components = summary["components"]
    LGR.info(
        "%s: %s, %d components (%d accepted, %d rejected) in %.1f s",
        out_dir.name,
        outputs.mode,
        components["n_components"],
        components["n_accepted"],
        components["n_rejected"],
        runtime,
    )
    result = read_tedana_result(out_dir)
    return TedanaResult(**{**result.__dict__, "runtime_s": runtime})


class _Outputs(NamedTuple):
    """What one run's folder holds: the mode that ran and the names of its files inside
    the folder (``None``: not written)."""

    mode: str  # "me-ica", "optcom" or "single-echo"
    bold: str
    optcom: str
    metrics: str | None
    figures: str | None


def _partial_folder(out_dir: Path, overwrite: bool) -> Path:
    """The hidden, empty sibling of ``out_dir`` that a run is written into (renamed to
    ``out_dir`` only on success); ``out_dir`` must be empty unless ``overwrite``."""
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise FileExistsError(f"{out_dir} exists and is not empty (pass overwrite=True)")
    partial = out_dir.parent / f".{out_dir.name}.partial"
    if partial.exists():
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    return partial


def _skip_tedana(echo_file: str, partial: Path, prefix: str, n_dummy: int) -> _Outputs:
    """A single-echo run: its dummy-trimmed series stands in for tedana's outputs."""
    bold_name = f"{prefix}desc-singleecho_bold.nii.gz"
    _write_trimmed(echo_file, partial / bold_name, n_dummy)
    return _Outputs("single-echo", bold_name, bold_name, None, None)


def _tedana_workflow(
    files: Sequence[str],
    tes: Sequence[float] | None,
    mask_file: str | Path,
    partial: Path,
    options: TedanaSettings,
    prefix: str,
    n_dummy: int,
    n_threads: int,
) -> None:
    """tedana's ``tedana_workflow`` (ME-ICA) or ``t2smap_workflow`` (``optcom``) into
    ``partial``, inside a ``threadpoolctl`` limit of ``n_threads``."""
    from tedana import utils as tedana_utils
    from tedana.workflows import t2smap_workflow, tedana_workflow
    from threadpoolctl import threadpool_limits

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
            if options.mode == "optcom":
                t2smap_workflow(files, tes, **common)
            else:
                tedana_workflow(
                    files,
                    tes,
                    tree=options.tree,
                    ica_method=options.ica_method,
                    n_robust_runs=options.n_robust_runs,
                    tedpca=options.tedpca,
                    fixed_seed=options.seed,
                    no_reports=not options.figures,
                    **common,
                )
    finally:
        gc.unfreeze()
        # tedana leaves its handlers attached when it fails part-way.
        tedana_utils.teardown_loggers()


def _tedana_outputs(partial: Path, prefix: str, mode: str) -> _Outputs:
    """The files tedana wrote in ``partial`` for ``mode``; an error if one is missing."""
    optcom_name = f"{prefix}desc-optcom_bold.nii.gz"
    if mode == "optcom":
        outputs = _Outputs(mode, optcom_name, optcom_name, None, None)
    else:
        outputs = _Outputs(
            mode,
            f"{prefix}desc-denoised_bold.nii.gz",
            optcom_name,
            f"{prefix}desc-tedana_metrics.tsv",
            "figures" if (partial / "figures").is_dir() else None,
        )
    for name in (outputs.bold, outputs.optcom, outputs.metrics):
        if name is not None and not (partial / name).is_file():
            raise RuntimeError(f"tedana did not write {name} in {partial}")
    return outputs


def _summary(
    partial: Path,
    outputs: _Outputs,
    tes: list[float] | None,
    n_dummy: int,
    info: RunInfo,
    options: TedanaSettings,
) -> dict:
    """The run's ``tmstarget_denoise.json`` (what :func:`read_tedana_result` reads): its
    files, the settings that applied to the mode that ran, and the component counts."""
    components = component_summary(partial / outputs.metrics if outputs.metrics else None)
    me_ica = outputs.mode == "me-ica"
    return {
        "mode": outputs.mode,
        "bold": outputs.bold,
        "optcom": outputs.optcom,
        "metrics": outputs.metrics,
        "figures": outputs.figures,
        "echo_times_s": tes,
        "n_dummy": n_dummy,
        "n_volumes": info.n_volumes - n_dummy,
        "seed": options.seed,
        "ica_method": options.ica_method if me_ica else None,
        "n_robust_runs": options.n_robust_runs
        if me_ica and options.ica_method == "robustica"
        else None,
        "tree": options.tree if me_ica else None,
        "tedpca": options.tedpca if me_ica else None,
        "tedana_version": _tedana_version(),
        "components": components,
    }


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
