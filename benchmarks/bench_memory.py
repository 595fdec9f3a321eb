"""Peak memory and time of the jobs that read and write 4D series (issue 19): cleaning,
targeting, the resampling step, and reading a series with nibabel against ISA-L.

What: two inputs on the 2 mm MNI grid (91 x 109 x 91), written once into the work folder:

- ``full``: a trial-sized subject as the cleaning job receives it (config/full_scale.yaml:
  3 runs of 406 volumes after tedana dropped 4 dummies, a denoised series and an optimal
  combination per run, float32 .nii.gz, the template brain as every run's mask, fMRIPrep
  confounds of 410 rows);
- ``real``: a real-shaped run, as the issue measured one: 652 volumes, a grey-matter-only
  mask (the template's grey matter), data denoised elsewhere (one series, no reference;
  the cleaning job's direct entry), confounds of 652 rows, no dummy volumes.

Voxel values are a baseline per voxel (600-700) plus Gaussian noise (SD 20), and the
confounds random walks: memory and time depend on the sizes, not on the signal.
Then, each step in a fresh process (``common.isolated``: its own peak RSS,
CPU seconds without the interpreter start-up):

- ``clean``: ``denoise.clean_subject`` and writing the joined series as the rule does;
- ``target``: ``stimulation.load_subject`` and ``find_target`` (circuit searchlight) on
  the series ``clean`` wrote, as ``find_targets`` loads it;
- ``read``: one series read four ways side by side: nibabel's ``get_fdata()``, nibabel's
  float32 array then masked (targeting before issue 19), ISA-L into the masked matrix
  (``niftiio.read_masked``), and ISA-L's decompression alone;
- ``resample``: with ``--resample-work`` (a bench_resample.py work folder), the
  resampling step of ``prepare_run`` on its trial-sized native run.

Peaks are given as multiples of the full-grid float32 4D array and of the masked
(volumes x mask voxels) float32 matrix of what the step reads (for cleaning, of the joined
output). Run it under another package to measure "before": ``PYTHONPATH=<old>/src python
benchmarks/bench_memory.py WORK --label before`` (the inputs are shared; each label's
results are kept in ``WORK/results-<label>.json``); ``--report`` prints every label.

Usage: python benchmarks/bench_memory.py WORK [--label after] [--steps clean target read]
       [--inputs full real] [--resample-work DIR] [--smoke] [--report]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from common import isolated

GRID_MM = 2.0
INPUTS = {
    # runs, volumes per run as written, dummies in the confounds, mask, reference series
    "full": {"runs": 3, "volumes": 406, "dummies": 4, "mask": "brain", "reference": True},
    "real": {"runs": 1, "volumes": 652, "dummies": 0, "mask": "grey", "reference": False},
}
SMOKE = {"full": {"volumes": 60}, "real": {"volumes": 80}}


def input_dir(work: Path, name: str) -> Path:
    return work / "inputs" / name


def write_inputs(folder: str, name: str, smoke: bool) -> dict:
    """Write one input (series, masks, confounds) unless it is there already."""
    import nibabel as nib
    import numpy as np
    import pandas as pd

    from tmstarget import atlas, niftiio

    spec = {**INPUTS[name], **(SMOKE[name] if smoke else {})}
    out = Path(folder)
    done = out / "inputs.json"
    if done.is_file():
        return json.loads(done.read_text())
    out.mkdir(parents=True, exist_ok=True)
    grid_mm = 4.0 if smoke else GRID_MM
    shape, affine = atlas.mni_grid(grid_mm)
    tissue = atlas.template_tissue(grid_mm)
    key = "brain" if spec["mask"] == "brain" else "gm"
    mask = np.asarray(tissue[key].dataobj) > (0 if key == "brain" else 0.5)
    index = niftiio.file_order_index(mask)
    rng = np.random.default_rng(19)
    intensity = (600.0 + 100.0 * rng.random(len(index))).astype(np.float32)
    header = nib.Nifti1Header()
    header.set_data_dtype(np.float32)
    header.set_qform(affine, code=4)
    header.set_sform(affine, code=4)
    header.set_xyzt_units("mm", "sec")
    n_volumes = spec["volumes"]
    header.set_data_shape((*shape, n_volumes))
    header.set_zooms((grid_mm, grid_mm, grid_mm, 2.0))
    n_grid = int(np.prod(shape))

    def blocks():
        rows = np.zeros((16, n_grid), np.float32)
        for start in range(0, n_volumes, 16):
            block = rows[: min(16, n_volumes - start)]
            noise = rng.standard_normal((block.shape[0], len(index)), dtype=np.float32)
            block[:, index] = intensity + 20.0 * noise
            yield block

    files = {"runs": []}
    mask_img = nib.Nifti1Image(mask.astype(np.uint8), affine)
    for run in range(1, spec["runs"] + 1):
        paths = {"bold": str(out / f"run-{run}_bold.nii.gz")}
        niftiio.write_series(paths["bold"], header, blocks())
        if spec["reference"]:
            paths["reference"] = str(out / f"run-{run}_optcom.nii.gz")
            niftiio.write_series(paths["reference"], header, blocks())
        paths["mask"] = str(out / f"run-{run}_mask.nii.gz")
        mask_img.to_filename(paths["mask"])
        n_rows = n_volumes + spec["dummies"]
        walk = np.cumsum(rng.normal(0, 0.02, (n_rows, 9)), axis=0)
        table = pd.DataFrame(
            walk,
            columns=[
                "global_signal",
                "white_matter",
                "csf",
                "trans_x",
                "trans_y",
                "trans_z",
                "rot_x",
                "rot_y",
                "rot_z",
            ],
        )
        for column in ("trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z"):
            table[f"{column}_derivative1"] = table[column].diff()
        table["framewise_displacement"] = (
            table[[f"{c}_derivative1" for c in ("trans_x", "trans_y", "trans_z")]].abs().sum(1)
        )
        for dummy in range(spec["dummies"]):  # fMRIPrep's one-hot columns
            table[f"non_steady_state_outlier{dummy:02d}"] = (np.arange(n_rows) == dummy) * 1.0
        paths["confounds"] = str(out / f"run-{run}_desc-confounds_timeseries.tsv")
        table.to_csv(paths["confounds"], sep="\t", index=False, na_rep="n/a")
        files["runs"].append(paths)
    files |= {
        "grid_voxels": n_grid,
        "mask_voxels": int(mask.sum()),
        "volumes": n_volumes,
        "runs_n": spec["runs"],
        "dummies": spec["dummies"],
        "reference": spec["reference"],
    }
    done.write_text(json.dumps(files, indent=1))
    return files


def clean_step(files: dict, out_dir: str) -> dict:
    """clean_subject and the write of the joined series, as rule clean_subject runs it."""
    import numpy as np
    import yaml

    from tmstarget import denoise
    from tmstarget.atomic import save_image

    settings = yaml.safe_load((Path(__file__).parents[1] / "config" / "config.yaml").read_text())
    runs = [
        denoise.RunInput(
            label=f"run-{number}",
            bold=paths["bold"],
            reference=paths.get("reference"),
            mask=paths["mask"],
            confounds=paths["confounds"],
            repetition_time_s=2.0,
            mode="me-ica" if files["reference"] else "external",
            dummies_dropped=True if files["reference"] else None,
            n_dummy=files["dummies"],
        )
        for number, paths in enumerate(files["runs"], start=1)
    ]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    start, cpu = time.perf_counter(), time.process_time()
    cleaning = denoise.CleaningSettings.from_preprocess(settings["preprocess"])
    result = denoise.clean_subject("01", runs, cleaning)
    clean = [time.perf_counter() - start, time.process_time() - cpu]
    start, cpu = time.perf_counter(), time.process_time()
    bold, mask = out / "clean_bold.nii.gz", out / "clean_mask.nii.gz"
    if hasattr(result, "series"):  # issue 19: the masked matrix written in blocks
        from tmstarget.niftiio import write_masked

        write_masked(
            bold,
            result.series,
            np.asarray(result.mask.dataobj) > 0,
            result.header,
            result.mask.affine,
        )
    else:
        save_image(result.img, bold)
    save_image(result.mask, mask)
    write = [time.perf_counter() - start, time.process_time() - cpu]
    n_volumes = int(result.qc.kept.sum())
    return {"clean": clean, "write": write, "volumes": n_volumes, "bold": str(bold)}


def target_step(bold: str, mask: str) -> dict:
    """What find_targets does to get the circuit searchlight's target (one BLAS thread)."""
    from threadpoolctl import threadpool_limits

    from tmstarget.stimulation import TargetingSettings, find_target, load_subject

    with threadpool_limits(1):
        start, cpu = time.perf_counter(), time.process_time()
        maps = load_subject(bold, mask, TargetingSettings())
        load = [time.perf_counter() - start, time.process_time() - cpu]
        target = find_target(maps, "circuit_searchlight", TargetingSettings())
    return {
        "load": load,
        "shape": list(maps.timeseries.shape),
        "target_mm": [float(v) for v in getattr(target, "target", target).mm],
    }


def read_step(bold: str, mask: str, how: str) -> dict:
    """One series read one way (fresh process each: the peak is the reader's)."""
    import nibabel as nib
    import numpy as np

    inside = np.asarray(nib.load(mask).dataobj) > 0
    start, cpu = time.perf_counter(), time.process_time()
    if how == "nibabel get_fdata":
        shape = nib.load(bold).get_fdata().shape
    elif how == "nibabel float32 + mask":
        data = np.asarray(nib.load(bold).dataobj, dtype=np.float32)
        shape = np.ascontiguousarray(data[inside].T).shape
    elif how == "isal read_masked":
        from tmstarget.niftiio import read_masked

        shape = read_masked(bold, inside).shape
    else:  # decompression alone, into one buffer
        from isal import igzip

        buffer = bytearray(64 << 20)
        with igzip.open(bold, "rb") as stream:
            while stream.readinto(buffer):
                pass
        shape = None
    return {"seconds": [time.perf_counter() - start, time.process_time() - cpu], "shape": shape}


def resample_step(resample_work: str, out_dir: str) -> dict:
    from bench_resample import resampling_step

    root, tedana = Path(resample_work) / "bids", Path(resample_work) / "tedana"
    return resampling_step(str(root), str(tedana), out_dir, "linear")


READS = ("nibabel get_fdata", "nibabel float32 + mask", "isal read_masked", "isal decompress only")


def measure(work: Path, label: str, steps, inputs, resample_work, smoke: bool) -> dict:
    results_path = work / f"results-{label}.json"
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}

    def keep(key, measured):
        value, wall, cpu, rss = measured
        results[key] = {"result": value, "wall_s": wall, "cpu_s": cpu, "peak_mb": rss}
        results_path.write_text(json.dumps(results, indent=1))
        print(f"  {label} {key}: {wall:.1f} s (CPU {cpu:.1f} s), peak {rss:.0f} MB", flush=True)

    for name in inputs:
        files = isolated(write_inputs, str(input_dir(work, name)), name, smoke)[0]
        results[f"{name}/inputs"] = files
        out = work / label / name
        if "clean" in steps:
            keep(f"{name}/clean", isolated(clean_step, files, str(out)))
        bold, mask = str(out / "clean_bold.nii.gz"), str(out / "clean_mask.nii.gz")
        if "target" in steps:
            keep(f"{name}/target", isolated(target_step, bold, mask))
        if "read" in steps:
            for how in READS:
                if how == "isal read_masked" and label == "before":
                    continue
                keep(f"{name}/read/{how}", isolated(read_step, bold, mask, how))
    if "resample" in steps and resample_work:
        keep("resample", isolated(resample_step, resample_work, str(work / label / "resample")))
    return results


def report(work: Path) -> None:
    labels = sorted(p.stem.removeprefix("results-") for p in work.glob("results-*.json"))
    every = {label: json.loads((work / f"results-{label}.json").read_text()) for label in labels}
    print(
        "| input | step | version | wall s | CPU s | peak RSS MB | / 4D array | / masked matrix |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for name in INPUTS:
        for label, results in every.items():
            files = results.get(f"{name}/inputs")
            if files is None:
                continue
            grid, voxels = files["grid_voxels"], files["mask_voxels"]
            for key, entry in results.items():
                if not key.startswith(f"{name}/") or key.endswith("/inputs"):
                    continue
                step = key.split("/", 1)[1]
                if step == "clean":
                    volumes = entry["result"]["volumes"]
                elif step == "target":
                    volumes = entry["result"]["shape"][0]
                else:
                    volumes = results.get(f"{name}/clean", {}).get("result", {}).get("volumes")
                    volumes = volumes or files["volumes"] * files["runs_n"]
                array_mb = grid * volumes * 4 / 2**20
                matrix_mb = voxels * volumes * 4 / 2**20
                print(
                    f"| {name} | {step} | {label} | {entry['wall_s']:.1f} | {entry['cpu_s']:.1f} "
                    f"| {entry['peak_mb']:.0f} | {entry['peak_mb'] / array_mb:.2f} "
                    f"| {entry['peak_mb'] / matrix_mb:.2f} |"
                )
            print(
                f"\n{name}: {voxels} mask voxels of {grid}; 4D float32 {array_mb:.0f} MB, "
                f"masked matrix {matrix_mb:.0f} MB ({volumes} volumes)\n"
            )
    for label, results in every.items():
        if "resample" in results:
            entry = results["resample"]
            print(
                f"resample ({label}): {entry['wall_s']:.1f} s, CPU {entry['cpu_s']:.1f} s, "
                f"peak {entry['peak_mb']:.0f} MB; {entry['result']}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("work", type=Path)
    parser.add_argument("--label", default="after")
    parser.add_argument("--steps", nargs="+", default=["clean", "target", "read", "resample"])
    parser.add_argument("--inputs", nargs="+", default=list(INPUTS), choices=list(INPUTS))
    parser.add_argument("--resample-work", help="a bench_resample.py work folder")
    parser.add_argument("--smoke", action="store_true", help="4 mm, few volumes: check only")
    parser.add_argument("--report", action="store_true", help="print every label's results")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    if args.report:
        report(args.work)
        return
    measure(args.work, args.label, args.steps, args.inputs, args.resample_work, args.smoke)
    report(args.work)


if __name__ == "__main__":
    main()
