"""The clinic and navigation side of the workflow end to end: per-patient navigation files
and reports, the technician's blinded packet and its key, a one-patient imaging-only
clinic run, and which jobs a change reruns (dry runs)."""

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import TINY, run_snakemake

from tmstarget.blinding import revealing_words
from tmstarget.navigation import read_brainsight_targets, read_localite_instrument_markers

SUBJECT_RULES = {
    "prepare_run",
    "clean_subject",
    "find_targets",
    "place_coil",
    "technician_packet",
    "report_patient",
    "report_technician",
}
WORDS = revealing_words(
    {"connectivity": "connectivity", "scalp": "scalp"},
    ["circuit_searchlight", "sgacc_classic", "sgacc_cluster"],
)


def _coil(results: Path, subject: str) -> pd.DataFrame:
    folder = results / "navigation" / f"sub-{subject}"
    return pd.read_csv(folder / f"sub-{subject}_space-T1w_desc-coil_targets.tsv", sep="\t")


def test_navigation_files_hold_the_coil_poses(tiny_run):
    folder = tiny_run / "navigation" / "sub-01"
    coil = _coil(tiny_run, "01")
    assert list(coil["method"]) == ["circuit_searchlight", "beam_f3"]
    # the coil sits on the scalp above the target: 5-35 mm out, along the outward normal
    target = coil[[f"target_{a}_mm" for a in "xyz"]].to_numpy()
    centre = coil[[f"coil_{a}_mm" for a in "xyz"]].to_numpy()
    normal = coil[[f"normal_{a}" for a in "xyz"]].to_numpy()
    handle = coil[[f"handle_{a}" for a in "xyz"]].to_numpy()
    depth = np.linalg.norm(centre - target, axis=1)
    assert ((depth > 5) & (depth < 35)).all()
    assert np.allclose(
        np.einsum("ij,ij->i", (centre - target) / depth[:, None], normal), 1, atol=0.05
    )
    # left DLPFC: the handle points back (y < 0) and to the left (x < 0)
    assert (handle[:, 1] < 0).all() and (handle[:, 0] < 0).all()
    targets = pd.read_csv(
        tiny_run / "targets" / "sub-01" / "sub-01_desc-targets.tsv", sep="\t", na_values="n/a"
    ).set_index("method")
    for row in coil.itertuples(index=False):
        native = targets.loc[row.method, ["native_x_mm", "native_y_mm", "native_z_mm"]]
        assert np.allclose([row.target_x_mm, row.target_y_mm, row.target_z_mm], native)
    stem = folder / "sub-01_space-T1w_desc-navigation"
    for markers in (
        read_brainsight_targets(f"{stem}_brainsight.txt").markers,
        read_localite_instrument_markers(f"{stem}_localite.xml").markers,
    ):
        assert len(markers) == 2
        assert np.allclose([m.centre_mm for m in markers], centre, atol=1e-3)
        assert np.allclose([m.normal for m in markers], normal, atol=1e-3)
        assert np.allclose([m.handle for m in markers], handle, atol=1e-3)
    csv = pd.read_csv(f"{stem}_targets.csv")
    assert np.allclose(csv[[f"coil_{a}_mm" for a in "xyz"]], centre, atol=1e-3)
    for ext in ("pdf", "png"):
        assert (folder / f"sub-01_desc-navigation_report.{ext}").stat().st_size > 50_000


def test_technician_packet_is_blind_and_the_key_restores_it(tiny_run):
    participants = pd.read_csv(tiny_run / "demo" / "bids" / "participants.tsv", sep="\t")
    key = pd.read_csv(tiny_run / "unblinded" / "technician_key.tsv", sep="\t")
    assert sorted(key["participant_id"]) == sorted(participants["participant_id"])
    for row in participants.itertuples(index=False):
        subject = row.participant_id.removeprefix("sub-")
        folder = tiny_run / "technician" / row.participant_id
        stem = folder / f"{row.participant_id}_space-T1w_desc-technician"
        texts = [
            Path(f"{stem}_{name}").read_text()
            for name in ("targets.csv", "brainsight.txt", "localite.xml")
        ]
        for text in texts:
            for word in WORDS:
                assert not re.search(
                    rf"(?<![A-Za-z0-9]){re.escape(word)}(?![A-Za-z0-9])", text, re.I
                ), f"{stem}: {word!r} tells the arm"
        packet = pd.read_csv(f"{stem}_targets.csv")
        assert packet["target_label"].tolist() == ["TMS target"]
        # the key gives back the arm and the method, and the site is that method's
        entry = key[key["participant_id"] == row.participant_id].iloc[0]
        assert entry["arm"] == row.arm
        method = "circuit_searchlight" if row.arm == "connectivity" else "beam_f3"
        assert entry["method"] == method
        coil = _coil(tiny_run, subject).set_index("method")
        assert np.allclose(
            packet[[f"coil_{a}_mm" for a in "xyz"]].to_numpy()[0],
            coil.loc[method, [f"coil_{a}_mm" for a in "xyz"]].to_numpy(dtype=float),
            atol=1e-3,
        )
        assert entry["technician_file"] == Path(f"{stem}_targets.csv").name
        assert (folder / f"{row.participant_id}_desc-technician_report.pdf").is_file()


def _clinic_dataset(tiny_run: Path, workdir: Path, subjects=("01",)) -> Path:
    """fMRIPrep derivatives of ``subjects`` only: no participants.tsv, no clinical tables."""
    source = tiny_run / "demo" / "bids" / "derivatives" / "fmriprep"
    target = workdir / "clinic" / "derivatives" / "fmriprep"
    target.mkdir(parents=True)
    shutil.copy(source / "dataset_description.json", target)
    for subject in subjects:
        shutil.copytree(source / f"sub-{subject}", target / f"sub-{subject}")
    config = workdir / "clinic.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                **TINY,
                "mode": "clinic",
                "demo": {**TINY["demo"], "enabled": False},
                "input": {"bids_dir": "clinic"},
                "targets": {"beam_f3": False},
            }
        )
    )
    return config


def test_one_clinic_patient_imaging_only(tiny_run, tmp_path):
    config = _clinic_dataset(tiny_run, tmp_path)
    planned = run_snakemake(tmp_path, "-n", configfiles=[config])
    assert planned.returncode == 0, planned.output[-3000:]
    # one patient: no group reliability, no trial stage
    for rule in ("analyse_reliability", "analyse_outcomes", "collect_targets", "technician_packet"):
        assert rule not in planned.output
    result = run_snakemake(tmp_path, "--cores", "2", "navigation", configfiles=[config])
    assert result.returncode == 0, result.output[-3000:]
    folder = tmp_path / "results" / "navigation" / "sub-01"
    stem = folder / "sub-01_space-T1w_desc-navigation"
    csv = pd.read_csv(f"{stem}_targets.csv")
    assert csv["method"].tolist() == ["circuit_searchlight"]  # no Beam F3 asked for
    assert len(read_brainsight_targets(f"{stem}_brainsight.txt").markers) == 1
    assert len(read_localite_instrument_markers(f"{stem}_localite.xml").markers) == 1
    assert (folder / "sub-01_desc-navigation_report.pdf").stat().st_size > 50_000
    assert not (tmp_path / "results" / "technician").exists()
    # the same site as the trial run's (same data, same method)
    trial = _coil(tiny_run, "01").set_index("method").loc["circuit_searchlight"]
    assert np.allclose(
        csv.loc[0, ["coil_x_mm", "coil_y_mm", "coil_z_mm"]],
        trial[["coil_x_mm", "coil_y_mm", "coil_z_mm"]],
        atol=1e-3,
    )


def _copy_run(tiny_run: Path, workdir: Path) -> Path:
    """The tiny run's folder (outputs and Snakemake's records), times kept."""
    shutil.copytree(tiny_run.parent, workdir, symlinks=True, dirs_exist_ok=True)
    return workdir


def _planned_rules(workdir: Path, *configs: Path) -> dict[str, int]:
    result = run_snakemake(workdir, "-n", "--quiet", "rules", configfiles=configs)
    assert result.returncode == 0, result.output[-3000:]
    counts = {}
    for line in result.output.splitlines():
        match = re.fullmatch(r"(\w+)\s+(\d+)", line.strip())
        if match and match.group(1) != "total":
            counts[match.group(1)] = int(match.group(2))
    return counts


@pytest.mark.parametrize(
    ("overlay", "allowed"),
    [
        ({"reliability": {"n_bootstrap": 500}}, {"analyse_reliability", "manuscript"}),
        (
            {"preprocess": {"qc_thresholds": {"max_mean_fd_mm": 0.1}}},
            {"summarise_qc", "report_patient", "report_technician", "manuscript"},
        ),
        (
            {"outcomes": {"confidence": 0.9}},
            {"analyse_outcomes", "plot_outcomes", "analyse_mechanism", "manuscript"},
        ),
    ],
)
def test_a_group_option_reruns_no_subject_job(tiny_run, tmp_path, overlay, allowed):
    workdir = _copy_run(tiny_run, tmp_path / "run")
    base = workdir / "tiny.yaml"
    assert _planned_rules(workdir, base) == {}, "the copied run is not up to date"
    changed = workdir / "changed.yaml"
    merged = yaml.safe_load(base.read_text())
    for section, values in overlay.items():
        merged.setdefault(section, {}).update(values)
    changed.write_text(yaml.safe_dump(merged))
    planned = set(_planned_rules(workdir, changed)) - {"all", "provenance"}
    assert planned and planned <= allowed, planned
    assert not planned & SUBJECT_RULES - {"report_patient", "report_technician"}


def _planned_jobs(workdir: Path, *configs: Path, target: str = "all") -> set[tuple[str, str]]:
    """(rule, subject) of every job a dry run of ``target`` plans ("" for group jobs)."""
    result = run_snakemake(workdir, "-n", target, configfiles=configs)
    assert result.returncode == 0, result.output[-3000:]
    jobs, rule = set(), None
    for line in result.output.splitlines():
        if match := re.match(r"(?:local)?rule (\w+):", line.strip()):
            if rule is not None:
                jobs.add((rule, ""))
            rule = match.group(1)
        elif rule is not None and (match := re.search(r"wildcards: .*subject=(\w+)", line)):
            jobs.add((rule, match.group(1)))
            rule = None
        elif rule is not None and line.strip().startswith("resources:"):
            jobs.add((rule, ""))
            rule = None
    return jobs


def test_a_new_patient_runs_only_their_jobs(tiny_run, tmp_path):
    config = _clinic_dataset(tiny_run, tmp_path, subjects=("01", "02"))
    result = run_snakemake(tmp_path, "--cores", "2", configfiles=[config])
    assert result.returncode == 0, result.output[-3000:]
    assert _planned_jobs(tmp_path, config) == set()
    source = tiny_run / "demo" / "bids" / "derivatives" / "fmriprep" / "sub-03"
    shutil.copytree(source, tmp_path / "clinic" / "derivatives" / "fmriprep" / "sub-03")
    jobs = _planned_jobs(tmp_path, config)
    subjects = {subject for _, subject in jobs if subject}
    assert subjects == {"03"}, jobs
    assert {rule for rule, subject in jobs if subject} >= {
        "prepare_run",
        "find_targets",
        "place_coil",
        "report_patient",
    }
    group = {rule for rule, subject in jobs if not subject}
    assert group <= {"check_inputs", "summarise_qc", "analyse_reliability", "all"}, group


def test_editing_one_participant_reruns_only_their_jobs(tiny_run, tmp_path):
    workdir = _copy_run(tiny_run, tmp_path / "run")
    # the demo's dataset read as real data: the same files, read from disk
    config = workdir / "real.yaml"
    settings = yaml.safe_load((workdir / "tiny.yaml").read_text())
    settings["demo"]["enabled"] = False
    config.write_text(yaml.safe_dump(settings))
    before = _planned_jobs(workdir, config)
    assert {rule for rule, _ in before} <= {"check_inputs", "all", "provenance", "manuscript"}, (
        before
    )
    path = workdir / "results" / "demo" / "bids" / "participants.tsv"
    participants = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    row = participants["participant_id"] == "sub-02"
    participants.loc[row, "nasion_inion_cm"] = str(
        float(participants.loc[row, "nasion_inion_cm"].iloc[0]) + 1.5
    )
    participants.to_csv(path, sep="\t", index=False, lineterminator="\n")
    jobs = _planned_jobs(workdir, config)
    per_subject = {(rule, subject) for rule, subject in jobs if subject}
    # Beam F3 moves for sub-02 only: its targets, coil poses, packet and reports
    assert {subject for _, subject in per_subject} == {"02"}, per_subject
    assert {rule for rule, _ in per_subject} <= SUBJECT_RULES - {"prepare_run", "clean_subject"}
    assert ("find_targets", "02") in per_subject
