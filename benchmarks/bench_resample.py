"""The one interpolation into the analysis grid, on a trial-sized run, next to tedana.

What: one run of config/full_scale.yaml (2.5 mm oblique native grid, 4 echoes, 410
volumes, the demo writer's fMRIPrep layout) is simulated; then, each in a fresh process
(``common.isolated``: its own peak RSS, CPU seconds without interpreter start):

- tedana on the native echoes (ME-ICA, the workflow's settings), as ``prepare_run`` runs it;
- the resampling step of ``prepare_run`` (``tmstarget.resample``): the mapping of the 2 mm
  grid through the run's transforms and the sparse cubic B-spline weights, then the
  denoised series and the optimal combination carried over block by block, and the mask;
- the baseline: the whole 4D denoised series in memory, the whole grid mapped once and
  interpolated volume by volume (cubic B-spline, scipy), written by nibabel: what a
  script would do (nitransforms 25.1's ``apply`` of one transform to a 4D image fails).

The table gives CPU seconds and peak RSS, as multiples of tedana's CPU time and of the
larger of the run's native and MNI float32 4D arrays (the issue's goals: at most 0.1x
tedana's CPU, at most 1.5x that array).

Usage: python benchmarks/bench_resample.py [work folder]  (default: a temporary folder;
a second call on the same folder reuses the simulated run and tedana's output).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from pathlib import Path

from bench_preprocess import simulate_subject
from common import full_scale_spec, isolated

SUBJECT = "01"


def run_of(root: str):
    from tmstarget import bids

    fmriprep = Path(root) / "derivatives" / "fmriprep"
    for folder in (Path(root), fmriprep):
        description = folder / "dataset_description.json"
        if not description.is_file():
            description.write_text('{"Name": "benchmark", "BIDSVersion": "1.10.0"}')
    return bids.discover_runs(root, fmriprep)[SUBJECT][0]


def tedana_step(root: str, out_dir: str) -> dict:
    from tmstarget.denoise import TedanaSettings, run_tedana

    run = run_of(root)
    result = run_tedana(
        run.echo_files,
        run.echo_times_s,
        run.mask_file,
        out_dir,
        TedanaSettings(figures=False),
        n_dummy=run.n_dummy,
        overwrite=True,
    )
    return {"components": result.components["n_components"], "n_volumes": result.n_volumes}


def resampling_step(root: str, tedana_dir: str, out_dir: str, kernel: str) -> dict:
    import time

    from tmstarget import resample
    from tmstarget.denoise import read_tedana_result

    run, tedana = run_of(root), read_tedana_result(tedana_dir)
    shape, affine = resample.analysis_grid(2.0)
    start = time.process_time()
    resampler = resample.plan_resampling(
        run.mask_file, run.resample_xfms, shape, affine, kernel, resample.template_brain(2.0)
    )
    planning = time.process_time() - start
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    resample.resample_series(resampler, tedana.bold, out / "denoised.nii.gz", run.repetition_time_s)
    resample.resample_series(resampler, tedana.optcom, out / "optcom.nii.gz", run.repetition_time_s)
    resample.resample_mask(resampler, out / "mask.nii.gz")
    return {
        "planning_cpu_s": planning,
        "mask_voxels": resampler.n_voxels,
        "nnz": resampler.weights.nnz,
    }


def kernels_agree(grid: str) -> dict:
    """Voxel-wise Pearson r of the linear and cubic denoised series (first 120 volumes)
    on the run's mask, before and after the workflow's 6 mm smoothing."""
    import nibabel as nib
    import numpy as np

    from tmstarget.denoise import smooth_within_mask

    mask_img = nib.load(Path(grid) / "linear" / "mask.nii.gz")
    mask = np.asarray(mask_img.dataobj) > 0
    result = {}
    for smoothed in (False, True):
        series = []
        for kernel in ("linear", "cubic"):
            img = nib.load(Path(grid) / kernel / "denoised.nii.gz").slicer[..., :120]
            if smoothed:
                img = smooth_within_mask(img, mask_img, 6.0)
            values = np.asarray(img.dataobj, dtype=np.float64)[mask]
            series.append(values - values.mean(axis=1, keepdims=True))
        a, b = series
        r = (a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1))
        result["smoothed" if smoothed else "raw"] = [
            float(np.median(r)),
            float(np.percentile(r, 1)),
        ]
    return result


def whole_4d_step(root: str, tedana_dir: str, out_dir: str) -> dict:
    """The straightforward way: the whole 4D series in memory, the whole grid mapped once
    through the chain, cubic B-spline per volume (scipy, as nitransforms and fMRIPrep
    do), the whole 4D output written by nibabel. (nitransforms 25.1's own ``apply`` of
    one transform to a 4D image fails: it indexes its one set of coordinates per volume.)"""
    import nibabel as nib
    import numpy as np
    from scipy import ndimage

    from tmstarget import resample, transforms
    from tmstarget.denoise import read_tedana_result

    run, tedana = run_of(root), read_tedana_result(tedana_dir)
    shape, affine = resample.analysis_grid(2.0)
    img = nib.load(tedana.bold)
    data = img.get_fdata(dtype=np.float32)
    world = np.indices(shape).reshape(3, -1).T @ affine[:3, :3].T + affine[:3, 3]
    native = transforms.map_points(transforms.load_chain(run.resample_xfms), world)
    inverse = np.linalg.inv(img.affine)
    coordinates = (native @ inverse[:3, :3].T + inverse[:3, 3]).T
    out = np.zeros((*shape, data.shape[3]), np.float32)
    for t in range(data.shape[3]):
        out[..., t] = ndimage.map_coordinates(
            data[..., t], coordinates, order=3, mode="mirror"
        ).reshape(shape)
    nib.Nifti1Image(out, affine).to_filename(Path(out_dir) / "whole_4d.nii.gz")
    return {"shape": list(out.shape)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("work", nargs="?", help="work folder (kept; reused on a second call)")
    args = parser.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="bench_resample_"))
    work.mkdir(parents=True, exist_ok=True)
    spec = full_scale_spec()
    spec = dataclasses.replace(spec, imaging=dataclasses.replace(spec.imaging, n_runs=1))
    root = work / "bids"
    saved = work / "timings.json"
    timings = json.loads(saved.read_text()) if saved.is_file() else {}
    if not (root / "derivatives").is_dir():
        _, wall, cpu, peak = isolated(simulate_subject, str(root), spec)
        timings["simulate"] = [wall, cpu, peak]
    tedana_dir = work / "tedana"
    if "tedana" not in timings:
        info, *measured = isolated(tedana_step, str(root), str(tedana_dir))
        timings["tedana"] = measured
        timings["tedana_info"] = info
    saved.write_text(json.dumps(timings, indent=2))
    for kernel in ("linear", "cubic"):
        info, *measured = isolated(
            resampling_step, str(root), str(tedana_dir), str(work / "grid" / kernel), kernel
        )
        timings[f"resampling_{kernel}"], timings[f"resampling_{kernel}_info"] = measured, info
    timings["kernels_agree"] = isolated(kernels_agree, str(work / "grid"))[0]
    _, *measured = isolated(whole_4d_step, str(root), str(tedana_dir), str(work))
    timings["whole_4d"] = measured
    saved.write_text(json.dumps(timings, indent=2))

    import nibabel as nib
    import numpy as np

    run = isolated(run_of, str(root))[0]
    native_mb = np.prod(run.shape) * 4 / 2**20 * (run.shape[3] - run.n_dummy) / run.shape[3]
    mni_mb = 91 * 109 * 91 * (run.shape[3] - run.n_dummy) * 4 / 2**20
    largest = max(native_mb, mni_mb)
    tedana_cpu = timings["tedana"][1]
    print(
        f"\nOne trial-sized run: native grid {run.shape[:3]} x {run.shape[3]} volumes x "
        f"{len(run.echo_files)} echoes ({native_mb:.0f} MB per float32 4D series after "
        f"dummies), 2 mm MNI grid ({mni_mb:.0f} MB); "
        f"{timings['resampling_linear_info']['mask_voxels']:,} voxels in the run's mask, "
        f"{timings['resampling_linear_info']['nnz']:,} (linear) and "
        f"{timings['resampling_cubic_info']['nnz']:,} (cubic) interpolation weights; planning "
        f"{timings['resampling_linear_info']['planning_cpu_s']:.1f} and "
        f"{timings['resampling_cubic_info']['planning_cpu_s']:.1f} CPU s\n"
    )
    print("| step | wall s | CPU s | CPU / tedana | peak RSS MB | RSS / largest 4D |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, label in (
        ("tedana", "tedana (ME-ICA) on the native echoes"),
        ("resampling_linear", "resampling, linear: denoised + optcom + mask"),
        ("resampling_cubic", "resampling, cubic B-spline: denoised + optcom + mask"),
        ("whole_4d", "baseline: whole 4D in memory, whole grid, denoised only"),
    ):
        wall, cpu, peak = timings[name]
        print(
            f"| {label} | {wall:.1f} | {cpu:.1f} | {cpu / tedana_cpu:.3f} | {peak:.0f} | "
            f"{peak / largest:.2f} |"
        )
    agree = timings["kernels_agree"]
    print(
        f"\nLinear vs cubic, voxel-wise r of the denoised series (median, 1st percentile): "
        f"{agree['raw'][0]:.4f}, {agree['raw'][1]:.4f} as resampled; "
        f"{agree['smoothed'][0]:.4f}, {agree['smoothed'][1]:.4f} after 6 mm smoothing"
    )
    del nib


if __name__ == "__main__":
    main()
