"""Snakemake end to end on a tiny demo in a temporary folder: the outputs' content, and
the same bytes on a second run."""

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import run_snakemake

pytestmark = pytest.mark.workflow

TINY = {
    "demo": {
        "seed": 3,
        "n_per_arm": 5,
        "clinical": {"cohens_d_range": [0.3, 3.0], "mann_whitney_p_range": [0.0, 1.0]},
        "imaging": {"voxel_size_mm": 6, "n_runs": 2, "n_volumes": 40},
    }
}


def _run_tiny(workdir: Path):
    config = workdir / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY))
    result = run_snakemake(workdir, "--cores", "2", configfiles=[config])
    assert result.returncode == 0, result.output[-3000:]
    return workdir / "results"


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    return _run_tiny(tmp_path_factory.mktemp("workflow"))


def test_demo_dataset_written(tiny_run):
    bids = tiny_run / "demo" / "bids"
    participants = pd.read_csv(bids / "participants.tsv", sep="\t")
    assert len(participants) == 10
    assert participants["arm"].value_counts().to_dict() == {"connectivity": 5, "scalp": 5}
    madrs = pd.read_csv(bids / "phenotype" / "madrs.tsv", sep="\t")
    assert set(madrs["participant_id"]) == set(participants["participant_id"])
    parameters = json.loads(
        (bids / "derivatives" / "simulation" / "simulation_parameters.json").read_text()
    )
    assert parameters["seed"] == 3 and parameters["imaging"]["voxel_size_mm"] == 6


def test_inventory_lists_every_run(tiny_run):
    inventory = pd.read_csv(tiny_run / "inputs" / "inventory.tsv", sep="\t", dtype=str)
    assert len(inventory) == 10 * 2
    assert set(inventory["run"]) == {"1", "2"}
    assert (inventory["n_echoes"] == "3").all()
    assert set(inventory["echo_times_ms"]) == {"14,32,50"}
    # Paths are relative to the fMRIPrep folder, so the table does not depend on where
    # the dataset lives.
    first = inventory.iloc[0]
    assert first["mask_file"] == (
        "sub-01/func/sub-01_task-rest_run-1_space-MNI152NLin6Asym_desc-brain_mask.nii.gz"
    )
    fmriprep = tiny_run / "demo" / "bids" / "derivatives" / "fmriprep"
    for files in inventory["echo_files"]:
        for name in files.split(","):
            assert (fmriprep / name).is_file()


def test_every_job_has_a_log(tiny_run):
    logs = {p.name for p in (tiny_run / "logs").iterdir()}
    assert {"simulate_cohort.log", "index_inputs.log"} <= logs


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and "logs" not in p.parts and "benchmarks" not in p.parts
    }


def test_rerun_gives_the_same_bytes(tiny_run, tmp_path):
    again = _run_tiny(tmp_path)
    assert _digest(again) == _digest(tiny_run)


def test_outcome_tables_and_figures(tiny_run):
    tables = tiny_run / "outcomes" / "tables"
    for name in ("table1_baseline", "table2_outcomes", "table3_blinding_safety"):
        for ext in ("tsv", "md", "tex"):
            assert (tables / f"{name}.{ext}").stat().st_size > 200, (name, ext)
    table2 = pd.read_csv(tables / "table2_outcomes.tsv", sep="\t", na_values="n/a")
    responders = table2[table2["row"] == "Responders, No./total (%)"].set_index("column")
    participants = pd.read_csv(tiny_run / "demo" / "bids" / "participants.tsv", sep="\t")
    madrs = pd.read_csv(tiny_run / "demo" / "bids" / "phenotype" / "madrs.tsv", sep="\t")
    wide = madrs.pivot(index="participant_id", columns="session_id", values="madrs_total")
    responder = (wide["baseline"] - wide["month1"]) >= 0.5 * wide["baseline"]
    arm = participants.set_index("participant_id")["arm"]
    for role in ("connectivity", "scalp"):
        assert responders.loc[role, "count"] == responder[arm == role].sum()
        assert responders.loc[role, "total"] == 5
    figures = tiny_run / "outcomes" / "figures"
    for name in ("consort", "madrs_trajectories", "waterfall", "response_remission", "forest"):
        assert (figures / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (figures / f"{name}.pdf").read_bytes()[:5] == b"%PDF-"
