"""Snakemake end to end on a tiny demo in a temporary folder: the outputs' content, and
the same bytes on a second run."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import TINY, digest, run_snakemake, run_tiny, snakemake_command, tiny_config

pytestmark = pytest.mark.workflow


def test_demo_dataset_written(tiny_run):
    bids = tiny_run / "demo" / "bids"
    participants = pd.read_csv(bids / "participants.tsv", sep="\t")
    assert len(participants) == 6
    assert participants["arm"].value_counts().to_dict() == {"connectivity": 3, "scalp": 3}
    madrs = pd.read_csv(bids / "phenotype" / "madrs.tsv", sep="\t")
    assert set(madrs["participant_id"]) == set(participants["participant_id"])
    parameters = json.loads(
        (bids / "derivatives" / "simulation" / "simulation_parameters.json").read_text()
    )
    assert parameters["seed"] == 3 and parameters["imaging"]["voxel_size_mm"] == 6


def test_inventory_lists_every_run(tiny_run):
    inventory = pd.read_csv(tiny_run / "inputs" / "inventory.tsv", sep="\t", dtype=str)
    assert len(inventory) == 6 * 2
    assert set(inventory["run"]) == {"1", "2"}
    assert (inventory["n_echoes"] == "3").all()
    assert set(inventory["echo_times_ms"]) == {"14,32,50"}
    # Paths are relative to the fMRIPrep folder, so the table does not depend on where
    # the dataset lives.
    first = inventory.iloc[0]
    # fMRIPrep's native layout: the boldref mask, the transforms to the template
    assert first["mask_file"] == "sub-01/func/sub-01_task-rest_run-1_desc-brain_mask.nii.gz"
    assert first["space"] == "native" and first["n_dummy"] == "4"
    assert first["transforms"].split(",") == [
        "sub-01/anat/sub-01_from-T1w_to-MNI152NLin6Asym_mode-image_xfm.h5",
        "sub-01/func/sub-01_task-rest_run-1_from-boldref_to-T1w_mode-image_desc-coreg_xfm.txt",
    ]
    fmriprep = tiny_run / "demo" / "bids" / "derivatives" / "fmriprep"
    for files in inventory["echo_files"]:
        for name in files.split(","):
            assert (fmriprep / name).is_file()


def test_subjects_table_says_who_is_in(tiny_run):
    subjects = pd.read_csv(tiny_run / "inputs" / "subjects.tsv", sep="\t", keep_default_na=False)
    assert list(subjects["participant_id"]) == [f"sub-0{i}" for i in range(1, 7)]
    assert (subjects["n_runs"] == 2).all() and (subjects["note"] == "n/a").all()
    assert subjects["imaging_analyses"].all() and subjects["clinical_analyses"].all()
    dictionary = json.loads((tiny_run / "inputs" / "subjects.json").read_text())
    assert set(dictionary) == set(subjects.columns)


def test_no_partial_file_is_left(tiny_run):
    assert not [p for p in tiny_run.rglob("*") if ".partial" in p.name]


def test_every_job_has_a_log(tiny_run):
    logs = {p.relative_to(tiny_run / "logs").as_posix() for p in (tiny_run / "logs").rglob("*.log")}
    assert {"simulate_cohort.log", "check_inputs.log", "summarise_qc.log"} <= logs
    for rule in ("clean_subject", "find_targets"):
        assert {f"{rule}/sub-0{i}.log" for i in range(1, 7)} <= logs, rule
    assert {
        f"prepare_run/sub-0{i}_task-rest_run-{r}.log" for i in range(1, 7) for r in (1, 2)
    } <= logs


@pytest.mark.slow  # a second whole tiny run (6 minutes with the per-patient reports)
def test_one_core_gives_the_same_bytes(tiny_run, tmp_path):
    again = run_tiny(tmp_path, cores=1)
    assert digest(again) == digest(tiny_run)


def _dataset_config(workdir: Path, dataset: Path) -> Path:
    """Copy ``dataset`` (a BIDS folder with fMRIPrep derivatives) into ``workdir`` and
    write a config that reads it as real data (no demo); the same config in every
    workdir, so provenance files compare equal."""
    import shutil

    shutil.copytree(dataset, workdir / "bids")
    config = workdir / "dataset.yaml"
    config.write_text(
        yaml.safe_dump(
            {**TINY, "demo": {**TINY["demo"], "enabled": False}, "input": {"bids_dir": "bids"}}
        )
    )
    return config


def _kill_when(workdir: Path, config: Path, ready, what: str) -> None:
    """Start the workflow with --cores 2, SIGKILL it (Snakemake and its jobs) as soon as
    ``ready(results)`` holds, then unlock."""
    import os
    import signal
    import subprocess
    import time

    process = subprocess.Popen(
        snakemake_command(workdir, "--cores", "2", configfiles=[config]),
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 600
    try:
        while not ready(workdir / "results"):
            assert process.poll() is None, f"the run ended before {what}"
            assert time.monotonic() < deadline, f"not {what} after 10 minutes"
            time.sleep(0.05)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    unlock = run_snakemake(workdir, "--unlock", configfiles=[config])
    assert unlock.returncode == 0, unlock.output[-2000:]


@pytest.mark.slow
def test_killed_demo_resumes_to_the_same_bytes(tiny_run, tmp_path):
    """Kill the demo run with --cores 2 at several points (SIGKILL to Snakemake and its
    jobs): between two preprocessing jobs of one subject, while the subjects' targets are
    written, while the group outputs are written; after each, unlock and rerun the same
    command. The results equal an uninterrupted run's, byte for byte, and no partial file
    is left."""
    config = tiny_config(tmp_path)
    points = [
        (
            "between two preprocessing jobs of a subject",
            lambda results: any(
                (results / "preprocess").glob(
                    "sub-*/func/sub-*_run-1_space-*_desc-brain_mask.nii.gz"
                )
            ),
        ),
        (
            "while the targets are written",
            lambda results: any((results / "targets").glob("sub-*/sub-*[0-9]_targets.tsv")),
        ),
        (
            "while the group outputs are written",
            lambda results: any((results / "outcomes").rglob("*.png")),
        ),
    ]
    for what, ready in points:
        _kill_when(tmp_path, config, ready, what)
        assert not (tmp_path / "results" / "manuscript" / "manifest.tsv").exists(), what
    resumed = run_snakemake(tmp_path, "--cores", "2", configfiles=[config])
    assert resumed.returncode == 0, resumed.output[-3000:]
    assert digest(tmp_path / "results") == digest(tiny_run)
    assert not [p for p in (tmp_path / "results").rglob("*") if ".partial" in p.name]
    # What the README suggests to redo the targets after a change works on the demo too.
    forced = run_snakemake(
        tmp_path,
        "--cores",
        "2",
        "--forcerun",
        "find_targets",
        "clean_subject",
        configfiles=[config],
    )
    assert forced.returncode == 0, forced.output[-3000:]
    assert digest(tmp_path / "results") == digest(tiny_run)


def test_broken_dataset_stops_at_planning_naming_every_file(tiny_run, tmp_path):
    """Real-data mode: a broken dataset stops before any job, with every problem."""
    config = _dataset_config(tmp_path, tiny_run / "demo" / "bids")
    func = tmp_path / "bids" / "derivatives" / "fmriprep" / "sub-02" / "func"
    confounds = func / "sub-02_task-rest_run-1_desc-confounds_timeseries.tsv"
    lines = confounds.read_text().splitlines(keepends=True)
    confounds.write_text("".join(lines[:-3]))
    sidecar = func / "sub-02_task-rest_run-2_echo-2_desc-preproc_bold.json"
    sidecar.write_text(sidecar.read_text().replace('"EchoTime": 0.032', '"EchoTime": 32'))
    participants = tmp_path / "bids" / "participants.tsv"
    rows = participants.read_text().splitlines(keepends=True)
    participants.write_text("".join(row for row in rows if not row.startswith("sub-04")))
    result = run_snakemake(tmp_path, "--cores", "2", configfiles=[config])
    assert result.returncode != 0
    assert "problem(s) with the inputs" in result.output
    assert f"{confounds.name}: " in result.output and "rows but the run has" in result.output
    assert "sub-02_task-rest_run-2_echo-2_desc-preproc_bold.json: EchoTime is 32" in result.output
    assert "sub-04 has imaging" in result.output
    assert not (tmp_path / "results").exists()  # no job ran
    # The check alone, once the dataset is fixed, takes seconds and writes the reports.
    participants.write_text("".join(rows))
    confounds.write_text("".join(lines))
    sidecar.write_text(sidecar.read_text().replace('"EchoTime": 32', '"EchoTime": 0.032'))
    checked = run_snakemake(tmp_path, "--cores", "1", "check_inputs", configfiles=[config])
    assert checked.returncode == 0, checked.output[-3000:]
    assert (tmp_path / "results" / "inputs" / "subjects.tsv").is_file()


def test_outcome_tables_and_figures(tiny_run):
    tables = tiny_run / "outcomes" / "tables"
    for name in ("table1_baseline", "table2_outcomes", "table3_blinding_safety"):
        for ext in ("tsv", "md", "tex"):
            assert (tables / f"{name}.{ext}").stat().st_size > 200, (name, ext)
    table2 = pd.read_csv(tables / "table2_outcomes.tsv", sep="\t", na_values="n/a")
    responders = table2[table2["row"] == "Responders, No./total No. (%)"].set_index("column")
    participants = pd.read_csv(tiny_run / "demo" / "bids" / "participants.tsv", sep="\t")
    madrs = pd.read_csv(tiny_run / "demo" / "bids" / "phenotype" / "madrs.tsv", sep="\t")
    wide = madrs.pivot(index="participant_id", columns="session_id", values="madrs_total")
    responder = (wide["baseline"] - wide["month1"]) >= 0.5 * wide["baseline"]
    arm = participants.set_index("participant_id")["arm"]
    for role in ("connectivity", "scalp"):
        assert responders.loc[role, "count"] == responder[arm == role].sum()
        assert responders.loc[role, "total"] == 3
    figures = tiny_run / "outcomes" / "figures"
    for name in ("consort", "madrs_trajectories", "waterfall", "response_remission", "forest"):
        assert (figures / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (figures / f"{name}.pdf").read_bytes()[:5] == b"%PDF-"


def test_preprocessing_outputs(tiny_run):
    import nibabel as nib

    prep = tiny_run / "preprocess"
    bold = nib.load(
        prep / "sub-01/func/sub-01_task-rest_space-MNI152NLin6Asym_desc-clean_bold.nii.gz"
    )
    assert bold.shape[3] == 2 * (64 - 4)  # two runs joined, dummy volumes dropped
    mask = nib.load(
        prep / "sub-01/func/sub-01_task-rest_space-MNI152NLin6Asym_desc-clean_mask.nii.gz"
    )
    data = np.asarray(bold.dataobj)
    inside = np.asarray(mask.dataobj) > 0
    assert not data[~inside].any()  # nothing outside the brain
    # Each run is z-scored per voxel before joining: unit variance within each run.
    run1 = data[inside][:, :60]
    assert np.allclose(run1.std(axis=1)[run1.std(axis=1) > 0], 1.0, atol=1e-3)
    qc = pd.read_csv(prep / "group_qc.tsv", sep="\t")
    assert len(qc) == 6 and set(qc["modes"]) == {"me-ica"}
    assert (qc["n_accepted"] > 0).all() and (qc["n_rejected"] > 0).all()
    for run in ("run-1", "run-2"):
        folder = prep / f"derivatives/tedana-sub-01_task-rest_{run}"
        assert (folder / "desc-tedana_metrics.tsv").is_file()
        summary = json.loads((folder / "tmstarget_denoise.json").read_text())
        # tedana ran in the run's own space; its series went to the grid in one step
        assert summary["resampling"]["kernel"] == "linear"
        assert summary["resampling"]["voxel_size_mm"] == 6
        assert [Path(f).name for f in summary["resampling"]["transforms"]] == [
            "sub-01_from-T1w_to-MNI152NLin6Asym_mode-image_xfm.h5",
            f"sub-01_task-rest_{run}_from-boldref_to-T1w_mode-image_desc-coreg_xfm.txt",
        ]
        assert not list(folder.glob("desc-*_bold.nii.gz"))  # native series not kept twice
        # the run on the grid was temporary; its mask stays
        grid = f"sub-01/func/sub-01_task-rest_{run}_space-MNI152NLin6Asym"
        assert not (prep / f"{grid}_desc-denoised_bold.nii.gz").exists()
        assert (prep / f"{grid}_desc-brain_mask.nii.gz").is_file()
    assert (prep / "sub-01/figures/sub-01_task-rest_desc-qc_bold.png").stat().st_size > 10_000
    assert (
        json.loads((prep / "dataset_description.json").read_text())["DatasetType"] == "derivative"
    )


# pybids' entity names -> the short keys of our names
_PYBIDS_KEYS = {
    "subject": "sub",
    "session": "ses",
    "task": "task",
    "acquisition": "acq",
    "run": "run",
    "echo": "echo",
    "space": "space",
    "res": "res",
    "label": "label",
    "desc": "desc",
}


def test_every_output_name_reads_back_as_written(tiny_run):
    """Every file the workflow writes under a subject's folder in results/ (not the demo's
    input, logs, benchmarks, nor tedana's own datasets under derivatives/) is read by
    pybids' entity parser as the entities in its name, every label alphanumeric:
    ``desc-circuit_searchlight_stat`` would be read as desc=circuit (issue 17)."""
    import re

    from bids.layout import parse_file_entities

    from tmstarget import bids

    skipped = {"demo", "logs", "benchmarks", "derivatives"}
    files = [
        path.relative_to(tiny_run)
        for path in tiny_run.rglob("sub-*")
        if path.is_file() and not skipped & set(path.relative_to(tiny_run).parts)
    ]
    assert len(files) > 6 * 20
    for path in files:
        entities, suffix, extension = bids.parse_bids_name(path.name)
        parsed = parse_file_entities(f"/{path}")
        read = {
            _PYBIDS_KEYS[key]: str(value) for key, value in parsed.items() if key in _PYBIDS_KEYS
        }
        assert (read, parsed.get("suffix"), parsed.get("extension")) == (
            entities,
            suffix,
            extension,
        ), path
        assert all(re.fullmatch("[A-Za-z0-9]+", label) for label in entities.values()), path
    # the methods' score maps carry their BIDS labels; tables keep the names
    maps = sorted(path.name for path in (tiny_run / "targets/sub-01").glob("*_stat.nii.gz"))
    assert maps == [
        f"sub-01_space-MNI152NLin6Asym_desc-{label}_stat.nii.gz"
        for label in ("circuitsearchlight", "sgaccclassic", "sgacccluster")
    ]


def test_derivatives_describe_their_sources_and_nest_tedana(tiny_run):
    """Our derivatives name the datasets they read (SourceDatasets, relative URLs); the
    cleaned series has the sidecar the derivatives specification asks for; tedana's own
    datasets (its dataset_description.json) sit under derivatives/, where pybids takes
    them for nested derivatives, not for files of ours."""
    from bids import BIDSLayout
    from bids.layout import Query

    prep = tiny_run / "preprocess"
    fmriprep = {"URL": "file://../demo/bids/derivatives/fmriprep"}
    description = json.loads((prep / "dataset_description.json").read_text())
    assert description["SourceDatasets"] == [fmriprep]
    described = json.loads((tiny_run / "targets" / "dataset_description.json").read_text())
    assert described["SourceDatasets"] == [
        {"URL": "file://../preprocess"},
        fmriprep,
        {"URL": "file://../demo/bids"},
    ]
    stem = "sub-01/func/sub-01_task-rest_space-MNI152NLin6Asym_desc-clean_bold"
    sidecar = json.loads((prep / f"{stem}.json").read_text())
    assert sidecar["SkullStripped"] is True and sidecar["TaskName"] == "rest"
    assert sidecar["RepetitionTime"] == 2.0 and sidecar["CleaningSettings"]["fwhm_mm"] > 0
    ours = [
        path
        for path in prep.rglob("dataset_description.json")
        if "derivatives" not in path.relative_to(prep).parts
    ]
    assert ours == [prep / "dataset_description.json"]
    layout = BIDSLayout(prep, validate=False, derivatives=True)
    runs = [f"sub-{s:02d}_task-rest_run-{r}" for s in range(1, 7) for r in (1, 2)]
    assert sorted(layout.derivatives.keys()) == [f"derivatives/tedana-{run}" for run in runs]
    for run in runs:
        provenance = json.loads(
            (prep / "derivatives" / f"tedana-{run}" / "dataset_description.json").read_text()
        )
        assert provenance["GeneratedBy"][0]["Name"] == "tedana"
    assert layout.get(desc="ICA", scope="self") == []  # tedana's files are not ours
    assert layout.get(subject="01", desc="clean", suffix="bold", extension=".nii.gz")
    mask = layout.get(subject="01", task="rest", desc="clean", suffix="mask", run=Query.NONE)
    assert len(mask) == 1


def test_targets_outputs(tiny_run):
    targets = pd.read_csv(tiny_run / "targets" / "targets.tsv", sep="\t", na_values="n/a")
    assert len(targets) == 6 * 4
    assert set(targets["method"]) == {
        "circuit_searchlight",
        "sgacc_classic",
        "sgacc_cluster",
        "beam_f3",
    }
    searchlight = targets[targets["method"] == "circuit_searchlight"]
    assert (searchlight["x_mm"] < 0).all()  # left DLPFC
    assert (searchlight["score"] > 0).all()  # maximum positive r
    navigation = pd.read_csv(tiny_run / "targets" / "neuronavigation.csv")
    assert len(navigation) == 6 and navigation["participant_id"].is_unique
    # every row has the site and the coil position in the subject's own T1w space
    native_columns = [c for c in navigation if "native_t1w" in c]
    assert len(native_columns) == 6 and navigation[native_columns].notna().all().all()
    participants = pd.read_csv(tiny_run / "demo" / "bids" / "participants.tsv", sep="\t")
    merged = navigation.merge(participants, on="participant_id", suffixes=("", "_p"))
    # The connectivity arm is stimulated at its connectivity target, the scalp arm at F3.
    for _, row in merged.iterrows():
        site = targets[
            (targets["participant_id"] == row["participant_id"])
            & (
                targets["method"]
                == ("circuit_searchlight" if row["arm_p"] == "connectivity" else "beam_f3")
            )
        ].iloc[0]
        assert row["mni_x_mm"] == pytest.approx(site["x_mm"], abs=1e-3)
    summary = pd.read_csv(tiny_run / "targets" / "recovery" / "recovery_summary.tsv", sep="\t")
    assert set(summary["method"]) >= {"circuit_searchlight"}


def test_bootstrap_outputs(tiny_run):
    """Each subject's target uncertainty: a table and a probability map named bootstrap,
    consistent with each other and with the subject's target."""
    import nibabel as nib

    folder = tiny_run / "targets" / "sub-01"
    table = pd.read_csv(folder / "sub-01_desc-bootstrap_targets.tsv", sep="\t")
    assert (folder / "sub-01_desc-bootstrap_targets.json").is_file()
    row = table.iloc[0]
    assert row["method"] == "circuit_searchlight" and row["n_resamples"] == 500
    # two runs of 60 volumes, no censoring: blocks of 30 volumes inside 2 segments
    assert row["n_segments"] == 2 and row["block_volumes"] == 30
    assert row["radius_mm"] >= 0 and 0 <= row["share_within_coil"] <= 1
    targets = pd.read_csv(folder / "sub-01_targets.tsv", sep="\t")
    site = targets[targets["method"] == "circuit_searchlight"].iloc[0]
    assert row["x_mm"] == pytest.approx(site["x_mm"])  # argmax: the target itself
    probseg = nib.load(
        folder / "sub-01_space-MNI152NLin6Asym_label-target_desc-bootstrap_probseg.nii.gz"
    )
    probability = np.asarray(probseg.dataobj)
    assert probability.sum() == pytest.approx(1.0, abs=1e-5)
    assert probability[int(site["i"]), int(site["j"]), int(site["k"])] == pytest.approx(
        row["site_probability"], abs=1e-6
    )


def test_reliability_outputs(tiny_run):
    parts = pd.read_csv(
        tiny_run / "reliability" / "sub-01" / "sub-01_desc-reliability_targets.tsv", sep="\t"
    )
    assert {"full", "half1", "half2"} <= set(parts["segment"])
    halves = parts.set_index("segment").loc[["half1", "half2"], "n_timepoints"]
    assert halves.sum() == 120
    for name in ("reliability", "scan_length"):
        for ext in ("tsv", "md", "tex"):
            assert (tiny_run / "reliability" / "tables" / f"{name}.{ext}").is_file()
    for name in ("within_between", "scan_length", "choice_reliability"):
        assert (tiny_run / "reliability" / "figures" / f"{name}.png").stat().st_size > 10_000
    choices = pd.read_csv(tiny_run / "reliability" / "source_data" / "choice_targets.tsv", sep="\t")
    assert set(choices["choice"]) == {"argmax", "smoothed", "top_fraction", "bootstrap_mode"}
    assert len(choices) == 6 * 4 * 3  # subjects x choices x (full, half1, half2)
    # argmax on the halves is the split-half analysis's own target
    argmax = choices[(choices["choice"] == "argmax") & (choices["subject"] == "sub-01")]
    halves = parts.set_index("segment")
    for segment in ("half1", "half2"):
        mine = argmax[argmax["segment"] == segment].iloc[0]
        assert mine["x_mm"] == pytest.approx(halves.loc[segment, "x_mm"])
    table = pd.read_csv(tiny_run / "reliability" / "tables" / "choice_reliability.tsv", sep="\t")
    assert {"Argmax (trial)", "Bootstrap modal site"} <= set(table["row"])


def test_manuscript_manifest_lists_every_figure_and_table(tiny_run):
    import hashlib

    manifest = pd.read_csv(tiny_run / "manuscript" / "manifest.tsv", sep="\t", na_filter=False)
    listed = set(manifest["path"])
    made = {
        p.relative_to(tiny_run.parent).as_posix()
        for folder in ("outcomes", "reliability", "targets")
        for p in (tiny_run / folder).rglob("*")
        if p.suffix in {".png", ".pdf", ".tsv", ".md", ".tex"} and "sub-" not in p.as_posix()
    }
    assert made <= listed, sorted(made - listed)
    for row in manifest.itertuples():
        path = tiny_run.parent / row.path
        assert hashlib.sha256(path.read_bytes()).hexdigest() == row.sha256
        assert path.stat().st_size == row.bytes
    figures = manifest[manifest["kind"] == "figure"]
    assert (figures["caption"].str.len() > 40).all()
    versions = pd.read_csv(tiny_run / "provenance" / "software_versions.tsv", sep="\t")
    assert {"python", "snakemake", "tedana", "nilearn"} <= set(versions["software"])
    page = (tiny_run / "manuscript" / "manifest.md").read_text()
    assert "](../outcomes/figures/forest.png)" in page


@pytest.mark.slow
def test_echoes_already_in_the_template(tmp_path):
    """The explicit template input mode end to end: the demo written as another pipeline
    writes every echo in MNI152NLin6Asym, read with input.bold_space: template (tedana in
    the template, no resampling), up to the targets."""
    config = tmp_path / "template.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                **TINY,
                "demo": {**TINY["demo"], "layout": "template"},
                "input": {"bold_space": "template"},
            }
        )
    )
    result = run_snakemake(
        tmp_path, "--cores", "2", "collect_targets", "check_inputs", configfiles=[config]
    )
    assert result.returncode == 0, result.output[-3000:]
    inventory = pd.read_csv(
        tmp_path / "results" / "inputs" / "inventory.tsv", sep="\t", keep_default_na=False
    )
    assert set(inventory["space"]) == {"MNI152NLin6Asym"}
    assert (inventory["transforms"] == "n/a").all()
    summary = json.loads(
        (
            tmp_path
            / "results/preprocess/derivatives/tedana-sub-01_task-rest_run-1"
            / "tmstarget_denoise.json"
        ).read_text()
    )
    assert summary["mode"] == "me-ica" and summary["resampling"] is None
    navigation = pd.read_csv(tmp_path / "results" / "targets" / "neuronavigation.csv")
    assert len(navigation) == 6
    # no T1w space in this layout: no native coordinates
    assert navigation["native_t1w_x_mm"].isna().all()
