"""Time and peak memory of the preprocessing stage for one full-scale subject.

What: one subject of config/full_scale.yaml (2.5 mm native runs, 4 echoes, 3 runs x 410
volumes, int16 on disk, analysed on the 2 mm MNI grid) is simulated with the demo writer
(``tmstarget.demo._write_subject``, fMRIPrep's native layout), then the stage runs as the
workflow runs it: ``runprep.prepare_run`` per run (tedana ME-ICA on the native echoes,
seed 42, no figures, one thread, config/config.yaml's tedana settings, then the resampling
into the grid) and ``clean_subject`` on the runs (nuisance regression + filter,
smoothing within the mask, tSNR/carpet QC, z-scoring and joining), followed by writing
the joined series as .nii.gz. The cleaning step is split into its parts by timing the
``tmstarget.denoise`` functions it calls.

How: every step runs in a fresh (spawned) Python process, so its peak RSS is its own
and not inherited from an earlier step; seconds are measured inside that process (wall
clock and CPU), without the interpreter start-up. The simulated inputs are written under
the work folder; a second call on the same folder reuses them and the steps already
timed (simulation, tedana runs: their measurements are kept in ``timings.json``).

Usage: python benchmarks/bench_preprocess.py [work folder] [--runs N] [--threads N]
(default work folder: a temporary one, deleted at the end; ``--runs 1`` runs tedana and
cleaning on the first run only, when a full subject takes too long).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import datetime
from pathlib import Path

from common import bench_spec, isolated, shipped_config

SUBJECT = "01"
TASK = "rest"


# --------------------------------------------------------------------------- steps


def run_files(root: Path, run: int) -> dict:
    """What the workflow's discovery finds for one simulated run (fMRIPrep's native
    layout): echo files, echo times (s), boldref mask, confounds, TR, dummy volumes and the
    transforms into the analysis grid; empty when the run is not written yet."""
    from tmstarget import bids

    fmriprep = root / "derivatives" / "fmriprep"
    if not (fmriprep / f"sub-{SUBJECT}").is_dir():
        return {"echo_files": [], "confounds": ""}
    for folder in (root, fmriprep):
        description = folder / "dataset_description.json"
        if not description.is_file():
            description.write_text('{"Name": "benchmark", "BIDSVersion": "1.10.0"}')
    try:
        found = bids.discover_runs(root, fmriprep)[SUBJECT]
    except bids.BIDSInputError:
        return {"echo_files": [], "confounds": ""}
    chosen = [r for r in found if r.run == str(run)]
    if not chosen:
        return {"echo_files": [], "confounds": ""}
    r = chosen[0]
    return {
        "echo_files": r.echo_files,
        "echo_times_s": r.echo_times_s,
        "repetition_time_s": r.repetition_time_s,
        "mask": r.mask_file,
        "confounds": r.confounds_file,
        "n_dummy": r.n_dummy,
        "xfm_files": r.resample_xfms,
    }


def inputs_complete(root: Path, n_runs: int, n_echoes: int) -> bool:
    for run in range(1, n_runs + 1):
        files = run_files(root, run)
        if len(files["echo_files"]) != n_echoes or not Path(files["confounds"]).is_file():
            return False
    return True


def simulate_subject(root: str, spec) -> dict:
    """Write one subject as the demo cohort writes its subject 1."""
    import numpy as np

    from tmstarget import simulate
    from tmstarget.demo import _write_subject

    template = simulate.load_template(spec.imaging.voxel_size_mm)
    target = simulate.draw_targets(
        template, 1, spec.imaging.target_spread_mm, np.random.default_rng([spec.seed, 0])
    )[0]
    _write_subject((Path(root), spec, template, SUBJECT, 1, target))
    return {"n_brain_voxels": int(template.brain.sum())}


def run_outputs(out_dir: str):
    from tmstarget.runprep import RunOutputs

    out = Path(out_dir)
    return RunOutputs(
        tedana_dir=out / "tedana",
        bold=out / "denoised_bold.nii.gz",
        optcom=out / "optcom_bold.nii.gz",
        mask=out / "brain_mask.nii.gz",
    )


def denoise_run(
    root: str, run: int, out_dir: str, tedana: dict, threads: int, grid_mm: float = 2.0
) -> dict:
    """One run as the workflow's prepare_run job runs it: tedana on the native echoes,
    then the resampling into the analysis grid."""
    from tmstarget.denoise import TedanaSettings
    from tmstarget.runprep import prepare_run

    files = run_files(Path(root), run)
    outputs = run_outputs(out_dir)
    summary = prepare_run(
        files["echo_files"],
        files["echo_times_s"],
        files["mask"],
        outputs,
        repetition_time_s=files["repetition_time_s"],
        n_dummy=files["n_dummy"],
        xfm_files=files["xfm_files"],
        grid_voxel_mm=grid_mm,
        tedana=TedanaSettings.from_config(tedana),
        n_threads=threads,
    )
    return {
        "n_volumes": summary["n_volumes"],
        **summary["components"],
        "components": None,
        "seconds": summary["seconds"],
        **ica_restarts(outputs.tedana_dir),
    }


def ica_restarts(out_dir: Path) -> dict:
    """From tedana's log: how often ICA was rerun because no component was classified as
    BOLD, and the seconds from the start of the log to the first rerun."""
    log = next(out_dir.glob("tedana_*.tsv"), None)
    if log is None:
        return {"ica_restarts": 0, "seconds_to_first_restart": None}
    stamps, restarts = [], []
    for line in log.read_text().splitlines():
        fields = line.split("\t")
        try:
            stamp = datetime.fromisoformat(fields[0])
        except ValueError:
            continue
        stamps.append(stamp)
        if "Re-attempting ICA" in line:
            restarts.append(stamp)
    first = (restarts[0] - stamps[0]).total_seconds() if restarts else None
    return {"ica_restarts": len(restarts), "seconds_to_first_restart": first}


def read_series(path: str) -> dict:
    """Decompress one 4D .nii.gz into float32 (the reading cost hidden in later steps)."""
    import nibabel as nib
    import numpy as np

    data = np.asarray(nib.load(path).dataobj, dtype=np.float32)
    return {"shape": data.shape}


def clean_runs(root: str, tedana_dirs: list[str], out_dir: str, settings: dict) -> dict:
    """clean_subject on the denoised runs, then write the joined series; seconds per part."""
    import numpy as np

    from tmstarget import denoise

    parts: dict[str, list[float]] = {}

    def timed_part(name: str) -> None:
        """Time ``name`` wherever it is looked up: in each tmstarget.denoise module that
        calls it (the package re-exports it; its callers hold their own binding)."""
        original = getattr(denoise, name)

        def wrapper(*args, **kwargs):
            start, cpu = time.perf_counter(), time.process_time()
            try:
                return original(*args, **kwargs)
            finally:
                spent = parts.setdefault(name, [0.0, 0.0])
                spent[0] += time.perf_counter() - start
                spent[1] += time.process_time() - cpu

        for module in (denoise, denoise.cleaning, denoise.qc, denoise.subject):
            if getattr(module, name, None) is original:
                setattr(module, name, wrapper)

    for name in ("clean_series", "smooth_series", "carpet_rows", "normalise_series"):
        timed_part(name)

    from tmstarget.runprep import read_summary

    runs = []
    for number, folder in enumerate(tedana_dirs, start=1):
        files = run_files(Path(root), number)
        outputs = run_outputs(folder)
        summary = read_summary(outputs.tedana_dir)
        runs.append(
            denoise.RunInput(
                label=f"run-{number}",
                bold=outputs.bold,
                reference=outputs.optcom,
                mask=outputs.mask,
                confounds=files["confounds"],
                repetition_time_s=files["repetition_time_s"],
                mode=summary["mode"],
                components=summary["components"],
                dummies_dropped=True,
                n_dummy=files["n_dummy"],
            )
        )
    start, cpu = time.perf_counter(), time.process_time()
    result = denoise.clean_subject(
        SUBJECT, runs, denoise.CleaningSettings.from_preprocess(settings)
    )
    parts["clean_subject"] = [time.perf_counter() - start, time.process_time() - cpu]
    start, cpu = time.perf_counter(), time.process_time()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    bold = out / f"sub-{SUBJECT}_task-{TASK}_desc-clean_bold.nii.gz"
    # as rule clean_subject writes it: the masked matrix onto the grid in blocks
    from tmstarget.niftiio import write_masked

    mask = np.asarray(result.mask.dataobj) > 0
    write_masked(bold, result.series, mask, result.header, result.mask.affine)
    result.mask.to_filename(out / f"sub-{SUBJECT}_desc-brain_mask.nii.gz")
    parts["write"] = [time.perf_counter() - start, time.process_time() - cpu]
    return {"parts": parts, "shape": (*mask.shape, len(result.series)), "bold": str(bold)}


# --------------------------------------------------------------------------- report


def print_rows(rows: list, title: str) -> None:
    print(f"\n{title}\n")
    print("| stage | seconds | CPU s | peak RSS (MB) | notes |")
    print("|---|---:|---:|---:|---|")
    for stage, wall, cpu, rss, notes in rows:
        rss_text = "" if rss is None else f"{rss:.0f}"
        print(f"| {stage} | {wall:.1f} | {cpu:.1f} | {rss_text} | {notes} |")


def main(work: Path, n_runs: int, threads: int, smoke: bool = False) -> None:
    spec = bench_spec(smoke)
    imaging = spec.imaging
    config = shipped_config()["preprocess"]
    root = work / "bids"
    rows = []
    # Measurements of finished steps, so that a call on the same folder resumes where an
    # interrupted one stopped (tedana takes about half an hour per run at full scale).
    cache_path = work / "timings.json"
    cache = json.loads(cache_path.read_text()) if cache_path.is_file() else {}
    reused = "; timed by an earlier call on this folder"

    def step(key: str, done: bool, function, *args):
        """(result, wall, CPU, peak RSS, reused): from the cache if ``done``, else measured."""
        if done and key in cache:
            return (*cache[key], True)
        measured = isolated(function, *args)
        cache[key] = list(measured)
        cache_path.write_text(json.dumps(cache, indent=1) + "\n")
        return (*measured, False)

    def add(stage, measured, notes=""):
        _, wall, cpu, rss, was_reused = measured
        rows.append((stage, wall, cpu, rss, notes + (reused if was_reused else "")))
        print(f"  {stage}: {wall:.1f} s (CPU {cpu:.1f} s), peak {rss:.0f} MB", flush=True)

    complete = inputs_complete(root, imaging.n_runs, len(imaging.echo_times_s))
    if complete and "simulate" not in cache:
        print(f"reusing the simulated subject in {root}", flush=True)
    else:
        measured = step("simulate", complete, simulate_subject, str(root), spec)
        add(
            "simulate + write inputs (not part of the stage)",
            measured,
            f"{measured[0]['n_brain_voxels']} brain voxels, {imaging.n_runs} runs x "
            f"{len(imaging.echo_times_s)} echoes, int16 .nii.gz",
        )

    tedana_dirs, tedana_wall, tedana_cpu, tedana_rss = [], 0.0, 0.0, 0.0
    for run in range(1, n_runs + 1):
        out_dir = work / "tedana" / f"run-{run}"
        done = (out_dir / "tedana" / "tmstarget_denoise.json").is_file()
        measured = step(
            f"tedana run {run}",
            done,
            denoise_run,
            str(root),
            run,
            str(out_dir),
            config["tedana"],
            threads,
            imaging.voxel_size_mm,
        )
        info = measured[0]
        add(
            f"prepare_run {run}: tedana (ME-ICA) + resampling",
            measured,
            f"{info['n_volumes']} volumes; {info['n_components']} components, "
            f"{info['n_accepted']} accepted"
            + (
                f"; ICA rerun {info['ica_restarts']} times (no BOLD component found), "
                f"first pass ~{info['seconds_to_first_restart']:.0f} s"
                if info["ica_restarts"]
                else ""
            ),
        )
        tedana_dirs.append(str(out_dir))
        tedana_wall += measured[1]
        tedana_cpu += measured[2]
        tedana_rss = max(tedana_rss, measured[3])

    add(
        "(reference) read one run's grid series .nii.gz",
        (*isolated(read_series, str(run_outputs(tedana_dirs[0]).bold)), False),
        "float32; cleaning reads 2 per run (denoised + optcom)",
    )

    measured = isolated(clean_runs, str(root), tedana_dirs, str(work / "clean"), config)
    info = measured[0]
    parts = info["parts"]
    clean_wall = parts["clean_subject"][0] + parts["write"][0]
    clean_cpu = parts["clean_subject"][1] + parts["write"][1]
    rows.append(
        (
            f"cleaning: clean_subject ({n_runs} run{'s' * (n_runs > 1)}) + write",
            clean_wall,
            clean_cpu,
            measured[3],
            f"joined series {info['shape']}",
        )
    )
    named = {
        "clean_series": "regression + filter (clean_series)",
        "smooth_series": "smoothing within the mask (6 mm)",
        "carpet_rows": "carpet plots' matrices (QC)",
        "normalise_series": "z-score + join the runs",
    }
    accounted = [0.0, 0.0]
    for name, label in named.items():
        wall, cpu = parts.get(name, [0.0, 0.0])
        accounted = [accounted[0] + wall, accounted[1] + cpu]
        rows.append((f"- {label}", wall, cpu, None, ""))
    rows.append(
        (
            "- rest: reading the series into the masked matrices, tSNR, QC numbers",
            parts["clean_subject"][0] - accounted[0],
            parts["clean_subject"][1] - accounted[1],
            None,
            "",
        )
    )
    rows.append(("- write the joined series (.nii.gz)", *parts["write"], None, "float32"))
    total_wall, total_cpu = tedana_wall + clean_wall, tedana_cpu + clean_cpu
    rows.append(
        (
            "stage total (tedana + cleaning)",
            total_wall,
            total_cpu,
            max(tedana_rss, measured[3]),
            f"tedana {100 * tedana_cpu / total_cpu:.0f}% of the CPU time",
        )
    )
    print_rows(
        rows,
        f"Preprocessing one {'SMOKE-TEST' if smoke else 'full-scale'} subject ({n_runs} of "
        f"{imaging.n_runs} runs x {imaging.n_volumes} volumes, {len(imaging.echo_times_s)} "
        f"echoes, {imaging.voxel_size_mm:g} mm), "
        f"{threads} thread(s); each step in a fresh process",
    )
    per_run = tedana_cpu / n_runs
    print(
        f"\ntedana: {per_run:.0f} CPU s per run; cleaning: {clean_cpu / n_runs:.0f} CPU s per "
        f"run. Dominant step: {'tedana' if tedana_cpu > clean_cpu else 'cleaning'} "
        f"({max(tedana_cpu, clean_cpu) / min(tedana_cpu, clean_cpu):.1f}x the other)."
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("work", nargs="?", type=Path, help="work folder (default: temporary)")
    parser.add_argument("--runs", type=int, default=3, choices=(1, 2, 3))
    parser.add_argument("--threads", type=int, default=1, help="tedana threads (rule: 1)")
    parser.add_argument("--smoke", action="store_true", help="4 mm, 80 volumes: check only")
    args = parser.parse_args()
    if args.work is not None:
        args.work.mkdir(parents=True, exist_ok=True)
        main(args.work, args.runs, args.threads, args.smoke)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp), args.runs, args.threads, args.smoke)
