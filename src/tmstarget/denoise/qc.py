"""QC numbers of the stage: tSNR maps, carpets, framewise displacement and censoring per
run (:class:`RunQC`), joined per subject (:class:`SubjectQC`), the subject's QC-metrics
record (:func:`qc_metrics_record`, the rule's JSON) and the group table flagged against
the QC thresholds (:func:`group_qc_table`). Numbers only: :mod:`tmstarget.figures.qc`
plots them. FD in mm; tSNR unitless; maps in RAS+ orientation."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
from nilearn import signal as nsignal

from tmstarget.denoise.errors import PreprocessingError
from tmstarget.denoise.images import ImgLike, _load, _mask_array, series_mean_sd
from tmstarget.denoise.settings import QC_THRESHOLDS
from tmstarget.denoise.tedana import component_summary
from tmstarget.niftiio import read_masked


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


def qc_metrics_record(subject: str, qc: SubjectQC) -> dict:
    """A subject's QC-metrics record (the rule's ``desc-qc_metrics.json``): per run its
    label, mode, volumes, censored volumes and tedana component counts, and the pooled
    metrics. :func:`group_qc_table` reads these records back.

    Parameters
    ----------
    subject : str
        The subject's label without ``sub-``.
    qc : SubjectQC
        The subject's QC (:attr:`SubjectResult.qc <tmstarget.denoise.SubjectResult>`).

    Returns
    -------
    dict
        ``participant_id`` (``sub-<label>``); ``runs``, one dict per run in join order
        with ``label``, ``mode``, ``volumes`` (after dummy volumes, censored ones
        included), ``censored_volumes`` (0-based indices within the run after its dummy
        volumes: the bootstrap's blocks must not straddle the gaps they leave in the
        joined series) and ``components`` (:func:`component_summary`'s counts and
        variance explained in %, without the per-component list); and ``metrics``, the
        subject's pooled metrics (:func:`combine_run_qc`: FD in mm, percentages, median
        tSNR).

    Raises
    ------
    ValueError
        When the QC's per-run lists (labels, modes, lengths, components) differ in length.
    """
    offsets = np.cumsum([0, *qc.run_lengths])
    censored = [
        np.flatnonzero(~qc.kept[start:stop]).tolist()
        for start, stop in zip(offsets[:-1], offsets[1:], strict=True)
    ]
    return {
        "participant_id": f"sub-{subject}",
        "runs": [
            {
                "label": label,
                "mode": mode,
                "volumes": length,
                "censored_volumes": removed,
                "components": {k: v for k, v in components.items() if k != "components"},
            }
            for label, mode, length, removed, components in zip(
                qc.run_labels,
                qc.run_modes,
                qc.run_lengths,
                censored,
                qc.components,
                strict=True,
            )
        ],
        "metrics": qc.metrics,
    }


def group_qc_table(
    metrics_files: Sequence[str | Path], thresholds: Mapping[str, float] | None = None
) -> pd.DataFrame:
    """One row per subject from the per-subject QC-metrics records, flagged against the
    QC thresholds.

    Parameters
    ----------
    metrics_files : sequence of str or Path
        The subjects' QC-metrics JSON files (:func:`qc_metrics_record`), one per subject.
    thresholds : mapping of str to float, optional
        QC thresholds (``preprocess.qc_thresholds``: ``max_mean_fd_mm`` in mm,
        ``max_pct_fd_above`` and ``max_pct_censored`` in %, ``min_median_tsnr``); keys
        left out, or None, take :data:`QC_THRESHOLDS`.

    Returns
    -------
    pandas.DataFrame
        One row per file, in the order given: ``participant_id``, ``n_runs``,
        ``n_volumes`` (summed over runs), ``modes`` (the runs' modes, sorted and
        comma-separated), the subject's pooled metrics, ``n_accepted`` and ``n_rejected``
        (tedana components summed over runs), then :func:`flag_qc`'s ``flag_<name>``,
        ``qc_flags`` and ``qc_pass`` columns.

    Raises
    ------
    FileNotFoundError
        When a metrics file does not exist.
    KeyError
        When a record lacks a key :func:`qc_metrics_record` writes.
    """
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
