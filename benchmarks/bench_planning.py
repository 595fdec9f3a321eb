"""Time of planning the workflow (``snakemake -n``) for large cohorts, and where it goes.

Input: a fake but valid dataset per cohort size, built in the work folder: a BIDS root
(``dataset_description.json``, ``participants.tsv`` and ``phenotype/`` tables from the
demo's clinical simulator, as analyse_outcomes reads them) and an fMRIPrep derivatives
folder in fMRIPrep's native multi-echo layout at trial size (config/full_scale.yaml: 3
runs x 4 echoes per subject): per run one ``echo-K_desc-preproc_bold`` file per echo with
its JSON sidecar (EchoTime, RepetitionTime), the boldref brain mask, the confounds table
(its header: discovery counts the non-steady-state columns) with its sidecar and the
transform to T1w; per subject the T1w-to-MNI152NLin6Asym transform: 37 files per
subject. Echo files hold only a NIfTI header (discovery reads the shape and TR from it);
the brain masks are real (an ellipsoid on the run's grid) and the confounds tables
complete (the trial's nuisance columns, one row per volume): the input checks read them
at planning; the other images and transforms are empty: planning never opens them.
``--fmriprep-extras`` adds the other files fMRIPrep writes per run and subject (boldrefs,
template-space combined series, T1w images, figures, reports).
Deterministic: the clinical tables come from a fixed seed, the rest from the names.

Timed, each in a fresh process (wall clock; CPU seconds of the child process):

- (a) start-up: the interpreter (``python -c pass``), Python + Snakemake
  (``snakemake --version``) and parsing the workflow (``snakemake --list-rules``: the
  Snakefile, rules/*.smk, config validation and check_config; input functions are not
  called, so no discovery);
- (b) discovery as rules/common.smk does it, in one process: ``import bids``,
  ``tmstarget.bids.load_layout`` (pybids indexing), ``find_runs``, and
  ``discover_runs`` with a cache folder, first filling the cache, then reading it back
  (what a later invocation pays when the workflow uses the cache);
- the plan, ``snakemake --cores 8 -n --quiet`` with ``demo.enabled: false``, first in a
  fresh working folder (no ``.snakemake/``), then again in the same folder;
  (c) = fresh plan - (a) - (b: import, load_layout, find_runs) is building the DAG and
  the rest.
- baseline (``--baseline-subjects``, default the smallest cohort): discovery as it was
  before issue 7 (pybids indexing the raw dataset and the whole fMRIPrep folder with
  metadata, then two pybids queries and a metadata look-up per run).

Each step is the median of ``--repeats`` calls (``--repeats-largest`` for the largest
cohort). ``--profile`` runs the largest cohort's fresh plan once more under cProfile
(``python -m cProfile -o ... -m snakemake ...``) and prints its hotspots.
``--workflow`` times another copy of the workflow (e.g. with a proposed change to
rules/common.smk) on the same inputs.

Usage: python benchmarks/bench_planning.py [work folder] [--subjects 100 1000]
[--repeats 3] [--repeats-largest N] [--profile] [--fmriprep-extras]
[--baseline-subjects 100] [--workflow DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from common import REPO, full_scale_spec, seconds

from tmstarget import simulate
from tmstarget.bids import bids_name, write_dataset_description, write_json, write_tsv
from tmstarget.demo import (
    ADVERSE_EVENTS_DICTIONARY,
    BLINDING_DICTIONARY,
    MADRS_DICTIONARY,
    PARTICIPANTS_DICTIONARY,
    SPACE,
    TASK,
)

SEED = 2026
TARGET_SECONDS = 30.0  # issue 7: 1000 subjects planned in under 30 s
# Jobs of the plan per subject: prepare_run per run, clean_subject and find_targets; the
# others (check_inputs, the group analyses, all) run once whatever the cohort.
PER_SUBJECT_JOBS = full_scale_spec().imaging.n_runs + 2
PLAN_ARGS = ("--cores", "8", "-n", "--quiet")

# --------------------------------------------------------------------------- input


def build_dataset(root: Path, n_subjects: int, extras: bool = False) -> None:
    """Write the fake dataset of ``n_subjects`` (even) under ``root``.

    Clinical tables from the demo's simulator (``n_subjects / 2`` per arm; calibration
    ranges widened: a big trial cannot match the small trial's effect size and P), imaging
    files in the demo's layout with config/full_scale.yaml's runs and echo times."""
    if n_subjects % 2:
        raise ValueError(f"--subjects: {n_subjects} is odd; the two arms need equal halves")
    imaging = full_scale_spec().imaging
    spec = simulate.ClinicalSpec(
        n_per_arm=n_subjects // 2, cohens_d_range=(0.0, 5.0), mann_whitney_p_range=(0.0, 1.0)
    )
    tables = simulate.simulate_clinical(spec, SEED)
    write_dataset_description(
        root / "dataset_description.json",
        f"tmstarget planning benchmark ({n_subjects} subjects)",
        "raw",
    )
    write_tsv(root / "participants.tsv", tables["participants"], PARTICIPANTS_DICTIONARY)
    phenotype = root / "phenotype"
    write_tsv(phenotype / "madrs.tsv", tables["madrs"], MADRS_DICTIONARY)
    write_tsv(phenotype / "blinding.tsv", tables["blinding"], BLINDING_DICTIONARY)
    write_tsv(phenotype / "adverse_events.tsv", tables["adverse_events"], ADVERSE_EVENTS_DICTIONARY)
    fmriprep = root / "derivatives" / "fmriprep"
    write_dataset_description(
        fmriprep / "dataset_description.json", "fMRIPrep derivatives (planning benchmark)"
    )
    header = _header_only_nifti(imaging.n_volumes, imaging.repetition_time_s)
    mask = _brain_mask(header)
    confounds_table = _confounds(imaging.n_volumes, imaging.n_non_steady_state)
    columns = confounds_table.splitlines()[0].split("\t")
    confounds_sidecar = json.dumps({c: {"Description": c} for c in columns}) + "\n"
    for participant in tables["participants"]["participant_id"]:
        subject = participant.removeprefix("sub-")
        func = fmriprep / participant / "func"
        anat = fmriprep / participant / "anat"
        func.mkdir(parents=True)
        anat.mkdir()
        (anat / f"{participant}_from-T1w_to-{SPACE}_mode-image_xfm.h5").touch()
        for run in range(1, imaging.n_runs + 1):
            entities = {"sub": subject, "task": TASK, "run": run}
            for echo, echo_time in enumerate(imaging.echo_times_s, 1):
                name = bids_name("bold", ".nii.gz", echo=echo, desc="preproc", **entities)
                (func / name).write_bytes(header)
                sidecar = {
                    "EchoTime": echo_time,
                    "RepetitionTime": imaging.repetition_time_s,
                    "TaskName": TASK,
                    "SkullStripped": False,
                    "SliceTimingCorrected": False,
                }
                write_json(func / name.replace(".nii.gz", ".json"), sidecar)
            (func / bids_name("mask", ".nii.gz", desc="brain", **entities)).write_bytes(mask)
            xfm = bids_name("xfm", ".txt", **entities)
            (func / xfm.replace("_xfm", "_from-boldref_to-T1w_mode-image_desc-coreg_xfm")).touch()
            confounds = bids_name("timeseries", ".tsv", desc="confounds", **entities)
            (func / confounds).write_text(confounds_table)
            (func / confounds.replace(".tsv", ".json")).write_text(confounds_sidecar)
            if extras:
                _fmriprep_run_extras(func, entities)
        if extras:
            _fmriprep_subject_extras(fmriprep, subject)


def _brain_mask(bold_header: bytes) -> bytes:
    """A gzipped brain mask (an ellipsoid) on the grid of the run's header: the input
    checks read it (on the series' grid, not empty)."""
    import gzip
    import io

    import nibabel as nib
    import numpy as np

    header = nib.Nifti1Header.from_fileobj(io.BytesIO(gzip.decompress(bold_header)))
    shape = header.get_data_shape()[:3]
    ijk = np.indices(shape) - (np.asarray(shape) / 2)[:, None, None, None]
    inside = ((ijk / (0.4 * np.asarray(shape))[:, None, None, None]) ** 2).sum(0) <= 1
    img = nib.Nifti1Image(inside.astype(np.uint8), header.get_best_affine())
    return gzip.compress(img.to_bytes(), mtime=0)


def _confounds(n_volumes: int, n_dummy: int) -> str:
    """An fMRIPrep confounds table (text) with the columns of the trial's nuisance set,
    one row per volume (derivatives n/a in the first row, as fMRIPrep writes them)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(SEED)
    columns = {
        name: rng.normal(0, 1, n_volumes) for name in ("global_signal", "white_matter", "csf")
    }
    for name in simulate.MOTION_PARAMETERS:
        values = rng.normal(0, 0.1, n_volumes)
        columns[name] = values
        columns[f"{name}_derivative1"] = np.r_[np.nan, np.diff(values)]
    columns["framewise_displacement"] = np.r_[np.nan, np.abs(rng.normal(0, 0.1, n_volumes - 1))]
    for k in range(n_dummy):
        columns[f"non_steady_state_outlier{k:02d}"] = (np.arange(n_volumes) == k).astype(float)
    return pd.DataFrame(columns).to_csv(sep="\t", index=False, na_rep="n/a", float_format="%.6g")


def _header_only_nifti(n_volumes: int, tr_s: float) -> bytes:
    """A gzipped NIfTI-1 header of a trial-sized native run (2.5 mm, 72 x 82 x 68) with no
    data: what discovery reads."""
    import gzip

    import nibabel as nib
    import numpy as np

    header = nib.Nifti1Header()
    header.set_data_shape((72, 82, 68, n_volumes))
    header.set_data_dtype(np.int16)
    header.set_zooms((2.5, 2.5, 2.5, tr_s))
    header.set_xyzt_units("mm", "sec")
    return gzip.compress(header.binaryblock + b"\x00" * 4, mtime=0)


def _fmriprep_run_extras(func: Path, entities: dict) -> None:
    """What fMRIPrep writes per run besides the workflow's inputs (15 empty files)."""
    xfm = bids_name("xfm", ".txt", **entities)
    names = [
        bids_name("boldref", ".nii.gz", space=SPACE, **entities),
        bids_name("boldref", ".nii.gz", desc="coreg", **entities),
        bids_name("boldref", ".nii.gz", desc="hmc", **entities),
        bids_name("mask", ".nii.gz", space=SPACE, desc="brain", **entities),
        bids_name("bold", ".nii.gz", space=SPACE, desc="preproc", **entities),
        bids_name("bold", ".nii.gz", space="T1w", desc="preproc", **entities),
        bids_name("bold", ".json", space="T1w", desc="preproc", **entities),
        bids_name("mask", ".nii.gz", space="T1w", desc="brain", **entities),
        bids_name("boldref", ".nii.gz", space="T1w", **entities),
        bids_name("bold", ".nii.gz", space=SPACE, desc="optcom", **entities),
        bids_name("bold", ".json", space=SPACE, desc="optcom", **entities),
        bids_name("T2starmap", ".nii.gz", space=SPACE, **entities),
        bids_name("T2starmap", ".nii.gz", space="T1w", **entities),
        xfm.replace("_xfm", "_from-orig_to-boldref_mode-image_desc-hmc_xfm"),
        bids_name("timeseries", ".tsv", desc="carpet", **entities),
        bids_name("dseg", ".nii.gz", desc="carpet", **entities),
    ]
    for name in names:
        (func / name).touch()


def _fmriprep_subject_extras(fmriprep: Path, subject: str) -> None:
    """fMRIPrep's anatomical outputs, figures and report of one subject (18 empty files)."""
    stem = f"sub-{subject}"
    anat = fmriprep / stem / "anat"
    figures = fmriprep / stem / "figures"
    figures.mkdir()
    names = [f"{stem}_desc-preproc_T1w.nii.gz", f"{stem}_desc-preproc_T1w.json"]
    names += [f"{stem}_desc-brain_mask.nii.gz", f"{stem}_dseg.nii.gz"]
    names += [f"{stem}_label-{tissue}_probseg.nii.gz" for tissue in ("GM", "WM", "CSF")]
    for space in (SPACE, "MNI152NLin2009cAsym"):
        names += [f"{stem}_space-{space}_desc-preproc_T1w.nii.gz"]
        names += [f"{stem}_from-{space}_to-T1w_mode-image_xfm.h5"]
    names += [f"{stem}_from-T1w_to-MNI152NLin2009cAsym_mode-image_xfm.h5"]
    for name in names:
        (anat / name).touch()
    for name in ("summary", "about", "t1w_dseg", "bold_conf"):
        (figures / f"{stem}_desc-{name}_T1w.svg").touch()
    (fmriprep / f"{stem}.html").touch()


def write_config(path: Path, bids_dir: Path) -> Path:
    """The run's own config: the demo off, input.bids_dir at the fake dataset."""
    path.write_text(
        yaml.safe_dump({"demo": {"enabled": False}, "input": {"bids_dir": str(bids_dir)}})
    )
    return path


# --------------------------------------------------------------------------- measuring


@dataclass
class Timing:
    """Repeated timings (wall and CPU seconds) of one step; the median is reported."""

    stage: str
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)
    notes: str = ""

    def add(self, wall: float, cpu: float | None = None) -> None:
        self.walls.append(wall)
        if cpu is not None:
            self.cpus.append(cpu)

    @property
    def wall(self) -> float:
        return statistics.median(self.walls) if self.walls else float("nan")

    @property
    def cpu(self) -> float:
        return statistics.median(self.cpus) if self.cpus else float("nan")


def child_env() -> dict[str, str]:
    """Environment of the timed processes: this repository's src/ first on the path, so
    that they import the same tmstarget as this script (installed or not)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "src"), env.get("PYTHONPATH")]))
    return env


def run_timed(command: list[str], cwd: Path) -> tuple[float, float, str]:
    """Run ``command``; return its wall seconds, its CPU seconds and its output.
    Raises RuntimeError with the output when it fails."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, env=child_env(), check=False
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    output = result.stdout + result.stderr
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}):\n{output}")
    return wall, cpu, output


def snakemake_command(workflow: Path, workdir: Path, config: Path, *args: str, prefix=()):
    return [
        sys.executable,
        *prefix,
        "-m",
        "snakemake",
        "--snakefile",
        str(workflow / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(workflow / "config" / "config.yaml"),
        str(config),
        *args,
    ]


# Discovery as rules/common.smk does it, timed step by step in one fresh process.
DISCOVERY = """
import json, sys, time
clock = lambda: (time.perf_counter(), time.process_time())
bids_dir, fmriprep_dir, space, task, cache_dir = sys.argv[1:6]
steps = {}
def timed(name, start):
    wall, cpu = clock()
    steps[name] = (wall - start[0], cpu - start[1])
    return clock()
start = clock()
import bids  # noqa: F401
start = timed("import", start)
from tmstarget import bids as bids_io
query = bids_io.Query(space=space, task=task)
layout = bids_io.load_layout(bids_dir, fmriprep_dir)
start = timed("layout", start)
runs = bids_io.find_runs(layout, query)
start = timed("find_runs", start)
cached = bids_io.discover_runs(bids_dir, fmriprep_dir, query, cache_dir=cache_dir)
start = timed("cache_fill", start)
cached = bids_io.discover_runs(bids_dir, fmriprep_dir, query, cache_dir=cache_dir)
start = timed("cache_read", start)
assert cached == runs
steps["subjects"] = len(runs)
steps["runs"] = sum(map(len, runs.values()))
steps["files"] = len(layout.get(return_type="filename"))
print(json.dumps(steps))
"""

# Discovery before issue 7, kept as the baseline: the raw dataset and the whole fMRIPrep
# folder indexed with their metadata, then two queries and a metadata look-up per run.
BASELINE = """
import json, sys, time
from pathlib import Path
bids_dir, fmriprep_dir, space, task = sys.argv[1:5]
start = time.perf_counter(), time.process_time()
from bids import BIDSLayout
layout = BIDSLayout(bids_dir, derivatives=[fmriprep_dir], validate=False)
indexed = time.perf_counter(), time.process_time()
from bids.layout import Query
found = layout.get(scope="derivatives", space=Query.NONE, task=task, desc="preproc",
                   suffix="bold", extension=[".nii", ".nii.gz"])
grouped = {}
for bold in found:
    ent = bold.entities
    key = (ent["subject"], ent.get("session"), ent.get("run"), ent.get("acquisition"))
    grouped.setdefault(key, []).append(bold)
def one(**query):
    query.setdefault("extension", [".nii", ".nii.gz"])
    matches = layout.get(scope="derivatives", return_type="filename", **query)
    if "run" not in query:
        matches = [m for m in matches if "_run-" not in Path(m).name]
    assert len(matches) == 1, matches
    return matches[0]
for (subject, session, run, acquisition), files in grouped.items():
    times = [bold.get_metadata()["EchoTime"] for bold in files]
    common = {"subject": subject, "task": task}
    for key, value in (("session", session), ("run", run), ("acquisition", acquisition)):
        if value is not None:
            common[key] = value
    one(space=Query.NONE, desc="brain", suffix="mask", **common)
    one(desc="confounds", suffix="timeseries", extension=".tsv", **common)
done = time.perf_counter(), time.process_time()
print(json.dumps({"layout": [indexed[0] - start[0], indexed[1] - start[1]],
                  "find_runs": [done[0] - indexed[0], done[1] - indexed[1]],
                  "runs": len(grouped)}))
"""


def last_json(output: str) -> dict:
    return json.loads(output.strip().splitlines()[-1])


def measure_cohort(work: Path, n_subjects: int, repeats: int, options: dict) -> dict:
    """Time every step for ``n_subjects``; return {"timings": [...], "facts": {...}}."""
    root = work / f"n{n_subjects}{'-extras' if options['extras'] else ''}"
    bids_dir = root / "bids"
    workdir = root / "workdir"
    workflow = options["workflow"]
    start = time.perf_counter()
    if not (bids_dir / "participants.tsv").is_file():
        build_dataset(bids_dir, n_subjects, options["extras"])
    print(
        f"{n_subjects} subjects: dataset built in {time.perf_counter() - start:.1f} s", flush=True
    )
    config = write_config(root / "planning.yaml", bids_dir)
    fmriprep_dir = bids_dir / "derivatives" / "fmriprep"
    n_files = sum(1 for path in bids_dir.rglob("*") if path.is_file())

    steps = {
        "interpreter": Timing("(a) interpreter start (python -c pass)"),
        "version": Timing("(a) + import snakemake (snakemake --version)"),
        "parse": Timing("(a) start-up: + parse the workflow (--list-rules)"),
        "import": Timing("(b) import bids (pybids)"),
        "layout": Timing("(b) load_layout: pybids indexing"),
        "find_runs": Timing("(b) find_runs"),
        "cache_fill": Timing("(b) discover_runs, cache empty (index, find, write)"),
        "cache_read": Timing("(b) discover_runs, cache valid (fingerprint + read)"),
        "rest": Timing("(c) DAG and the rest: fresh plan - (a) - (b)"),
        "fresh": Timing(f"plan in a fresh folder: snakemake {' '.join(PLAN_ARGS)}"),
        "again": Timing("plan again in the same folder"),
    }
    facts: dict = {"files": n_files}
    for repeat in range(repeats):
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True)
        for name, command in (
            ("interpreter", [sys.executable, "-c", "pass"]),
            ("version", [sys.executable, "-m", "snakemake", "--version"]),
            ("parse", snakemake_command(workflow, workdir, config, "--list-rules")),
        ):
            steps[name].add(*run_timed(command, workdir)[:2])
        cache_dir = root / "discovery-cache"
        shutil.rmtree(cache_dir, ignore_errors=True)
        command = [sys.executable, "-c", DISCOVERY, str(bids_dir), str(fmriprep_dir), SPACE, TASK]
        found = last_json(run_timed(command + [str(cache_dir)], workdir)[2])
        for name in ("import", "layout", "find_runs", "cache_fill", "cache_read"):
            steps[name].add(*found[name])
        facts.update({key: found[key] for key in ("subjects", "runs")})
        facts["indexed"] = found["files"]
        for name in ("fresh", "again"):
            steps[name].add(
                *run_timed(snakemake_command(workflow, workdir, config, *PLAN_ARGS), workdir)[:2]
            )
        discovery = [steps[name].walls[-1] for name in ("import", "layout", "find_runs")]
        steps["rest"].add(steps["fresh"].walls[-1] - steps["parse"].walls[-1] - sum(discovery))
        print(
            f"  repeat {repeat + 1}: fresh plan {steps['fresh'].walls[-1]:.1f} s (CPU "
            f"{steps['fresh'].cpus[-1]:.1f} s), again {steps['again'].walls[-1]:.1f} s; parse "
            f"{steps['parse'].walls[-1]:.1f} s, load_layout {discovery[1]:.1f} s, find_runs "
            f"{discovery[2]:.1f} s",
            flush=True,
        )
    # Check the plan's size once (untimed): the job stats table needs --quiet rules.
    plan = snakemake_command(workflow, workdir, config, "--cores", "8", "-n", "--quiet", "rules")
    facts["jobs"] = _job_count(run_timed(plan, workdir)[2]) or 0
    group_jobs = facts["jobs"] - PER_SUBJECT_JOBS * n_subjects
    if facts["subjects"] != n_subjects or not 0 < group_jobs < 50:
        raise RuntimeError(f"found {facts} for {n_subjects} subjects: not the expected plan")
    steps["layout"].notes = f"{facts['indexed']} of the dataset's {n_files} files indexed"
    steps["find_runs"].notes = f"{facts['runs']} runs of {facts['subjects']} subjects"
    steps["fresh"].notes = f"{facts['jobs']} jobs ({group_jobs} once per cohort)"

    if n_subjects in options["baseline"]:
        baseline_layout = Timing("baseline: pybids indexing, everything + metadata")
        baseline_find = Timing("baseline: find_runs, queries per run")
        command = [sys.executable, "-c", BASELINE, str(bids_dir), str(fmriprep_dir), SPACE, TASK]
        result = last_json(run_timed(command, workdir)[2])
        baseline_layout.add(*result["layout"])
        baseline_find.add(*result["find_runs"])
        baseline_layout.notes = f"{n_files} files"
        baseline_find.notes = f"{result['runs']} runs; one call"
        steps["baseline_layout"], steps["baseline_find"] = baseline_layout, baseline_find
        print(
            f"  baseline: layout {result['layout'][0]:.1f} s, "
            f"find_runs {result['find_runs'][0]:.1f} s"
        )

    if options["profile"] and n_subjects == max(options["sizes"]):
        shutil.rmtree(workdir / ".snakemake", ignore_errors=True)
        facts["profile"] = root / "plan.prof"
        command = snakemake_command(
            workflow,
            workdir,
            config,
            *PLAN_ARGS,
            prefix=("-m", "cProfile", "-o", str(facts["profile"])),
        )
        facts["profiled_wall"] = run_timed(command, workdir)[0]
    return {"timings": steps, "facts": facts}


def _job_count(output: str) -> int | None:
    """The job count of the plan's job stats table ("total  N"), None if absent."""
    for line in output.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "total" and parts[1].isdigit():
            return int(parts[1])
    return None


# --------------------------------------------------------------------------- reporting


def print_table(results: dict[int, dict], repeats: dict[int, int]) -> None:
    sizes = sorted(results)
    print("\nPlanning: median wall seconds (CPU seconds)\n")
    header = " | ".join(f"{n} subjects" for n in sizes)
    print(f"| stage | {header} | notes |")
    print("|---|" + "---:|" * len(sizes) + "---|")
    names = list(dict.fromkeys(name for n in sizes for name in results[n]["timings"]))
    for name in names:
        cells, notes, stage = [], [], ""
        for n in sizes:
            timing = results[n]["timings"].get(name)
            if timing is None:
                cells.append("")
                continue
            stage = timing.stage
            cpu = f" ({seconds(timing.cpu)})" if timing.cpus else ""
            cells.append(f"{seconds(timing.wall)}{cpu}")
            if timing.notes:
                notes.append(f"{n}: {timing.notes}")
        print(f"| {stage} | {' | '.join(cells)} | {'; '.join(notes)} |")
    print("\nRepeats: " + ", ".join(f"{n} subjects x {repeats[n]}" for n in sizes))
    largest = results[sizes[-1]]["timings"]
    for name in ("fresh", "again"):
        plan = largest[name]
        verdict = "met" if plan.wall < TARGET_SECONDS else "NOT met"
        print(
            f"Target (issue 7), {sizes[-1]} subjects planned in under {TARGET_SECONDS:.0f} s, "
            f"{plan.stage}: {plan.wall:.1f} s wall ({plan.cpu:.1f} s CPU), {verdict}."
        )
    if len(sizes) > 1:
        small = results[sizes[0]]["timings"]
        ratio = sizes[-1] / sizes[0]
        print(f"Growth from {sizes[0]} to {sizes[-1]} subjects ({ratio:.0f}x):")
        for name in ("layout", "find_runs", "rest", "fresh", "again"):
            if small[name].wall > 0:
                print(f"- {largest[name].stage}: {largest[name].wall / small[name].wall:.1f}x")


# Wrappers that only pass the time on (module execution, the event loop, imports).
_WRAPPERS = ("<frozen ", "~:0", "runpy", "asyncio/", "concurrent/", "threading.py")


def print_hotspots(profile: Path, wall: float, top: int = 25) -> None:
    stats = pstats.Stats(str(profile))
    rows = [
        (cumulative, own, calls, _short(filename), line, name)
        for (filename, line, name), (_, calls, own, cumulative, _) in stats.stats.items()
    ]
    total = sum(row[1] for row in rows)
    print(f"\ncProfile of the largest fresh plan ({wall:.1f} s wall under the profiler)\n")
    print("Own time by package:\n")
    print("| package | own s | share |")
    print("|---|---:|---:|")
    by_package: dict[str, float] = {}
    for _, own, _, filename, _, _ in rows:
        by_package[_package(filename)] = by_package.get(_package(filename), 0.0) + own
    for package, own in sorted(by_package.items(), key=lambda item: -item[1])[:12]:
        print(f"| {package} | {own:.1f} | {100 * own / total:.0f}% |")
    # the entry chain (snakemake's main ... execute) holds everything: leave it out
    inner = [row for row in rows if not row[3].startswith(_WRAPPERS) and row[0] < 0.8 * total]
    tables = (("cumulative", 0, inner), ("own", 1, rows))
    for title, order, chosen in tables:
        print(f"\nTop {top} by {title} time (of {total:.1f} s profiled):\n")
        print("| cumulative s | own s | calls | function |")
        print("|---:|---:|---:|---|")
        for cumulative, own, calls, filename, line, name in sorted(
            chosen, key=lambda row: row[order], reverse=True
        )[:top]:
            print(f"| {cumulative:.2f} | {own:.2f} | {calls} | {filename}:{line} {name} |")


def _short(filename: str) -> str:
    for marker in ("site-packages/", "/src/", "/lib/python3.11/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


def _package(filename: str) -> str:
    """The package (or standard library module, or workflow file) of a profiled function."""
    if filename.startswith(("<", "~")):
        return "builtins and frozen imports"
    if filename.endswith(".smk") or filename.endswith("Snakefile"):
        return "workflow (.smk)"
    head = filename.split("/", 1)[0]
    return head.removesuffix(".py") if "/" in filename or filename.endswith(".py") else filename


def main(work: Path, options: dict) -> None:
    results: dict[int, dict] = {}
    repeats: dict[int, int] = {}
    for n in sorted(options["sizes"]):
        largest = n == max(options["sizes"])
        repeats[n] = options["repeats_largest"] if largest else options["repeats"]
        results[n] = measure_cohort(work, n, repeats[n], options)
    print_table(results, repeats)
    facts = results[max(options["sizes"])]["facts"]
    if "profile" in facts:
        print_hotspots(facts["profile"], facts["profiled_wall"])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("work", nargs="?", type=Path, help="work folder (default: temporary)")
    parser.add_argument("--subjects", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--repeats", type=int, default=3, help="calls per step (median)")
    parser.add_argument("--repeats-largest", type=int, help="for the largest cohort")
    parser.add_argument("--profile", action="store_true", help="cProfile the largest plan")
    parser.add_argument("--fmriprep-extras", action="store_true", help="60 more files a subject")
    parser.add_argument(
        "--baseline-subjects",
        type=int,
        nargs="*",
        help="cohorts to time the pre-issue-7 discovery on (default: the smallest)",
    )
    parser.add_argument("--workflow", type=Path, default=REPO, help="folder with the Snakefile")
    args = parser.parse_args()
    options = {
        "sizes": args.subjects,
        "repeats": args.repeats,
        "repeats_largest": args.repeats_largest or args.repeats,
        "profile": args.profile,
        "extras": args.fmriprep_extras,
        "baseline": args.baseline_subjects,
        "workflow": args.workflow.resolve(),
    }
    if options["baseline"] is None:
        options["baseline"] = [min(args.subjects)]
    if args.work is not None:
        args.work.mkdir(parents=True, exist_ok=True)
        main(args.work, options)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp), options)
