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
    "report_patient",
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
        tiny_run / "targets" / "sub-01" / "sub-01_targets.tsv", sep="\t", na_values="n/a"
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
    # the raw dataset's description (fMRIPrep ran on it) and fMRIPrep's own
    shutil.copy(tiny_run / "demo" / "bids" / "dataset_description.json", workdir / "clinic")
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
                # the demo's analysis grid (a real dataset's default is 2 mm)
                "preprocess": {
                    "resample": {"voxel_size_mm": TINY["demo"]["imaging"]["voxel_size_mm"]}
                },
            }
        )
    )
    return config


def test_one_clinic_patient_imaging_only(tiny_run, tmp_path):
    config = _clinic_dataset(tiny_run, tmp_path)
    planned = run_snakemake(tmp_path, "-n", configfiles=[config])
    assert planned.returncode == 0, planned.output[-3000:]
    # one patient: no group reliability, no trial stage
    for rule in ("analyse_reliability", "analyse_outcomes", "collect_targets", "technician_key"):
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
    columns = ["coil_x_mm", "coil_y_mm", "coil_z_mm"]
    assert np.allclose(
        csv.loc[0, columns].to_numpy(dtype=float), trial[columns].to_numpy(dtype=float), atol=1e-3
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


@pytest.fixture(scope="module")
def copied_run(tiny_run, tmp_path_factory) -> Path:
    """A copy of the tiny run (for dry runs with other settings; read-only)."""
    workdir = _copy_run(tiny_run, tmp_path_factory.mktemp("copied") / "run")
    assert _planned_rules(workdir, workdir / "tiny.yaml") == {}, "the copy is not up to date"
    return workdir


@pytest.mark.parametrize(
    ("overlay", "allowed"),
    [
        ({"reliability": {"n_bootstrap": 500}}, {"analyse_reliability", "manuscript"}),
        (
            {"preprocess": {"qc_thresholds": {"max_mean_fd_mm": 0.1}}},
            {"summarise_qc", "report_patient", "manuscript"},
        ),
        (
            {"outcomes": {"confidence": 0.9}},
            {"analyse_outcomes", "plot_outcomes", "analyse_mechanism", "manuscript"},
        ),
    ],
)
def test_a_group_option_reruns_no_subject_job(copied_run, tmp_path, overlay, allowed):
    merged = yaml.safe_load((copied_run / "tiny.yaml").read_text())
    for section, values in overlay.items():
        merged.setdefault(section, {}).update(values)
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(merged))
    planned = set(_planned_rules(copied_run, changed)) - {"all", "provenance"}
    assert planned and planned <= allowed, planned


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


def _check_inputs(workdir: Path, config: Path) -> None:
    """Run the input checks. A dry run plans the jobs below an input check that has to
    run again only once it has (Snakemake decides them after it): a user sees the same."""
    result = run_snakemake(workdir, "--cores", "1", "check_inputs", configfiles=[config])
    assert result.returncode == 0, result.output[-3000:]


def _head_measurements(tiny_run: Path, workdir: Path, subjects) -> None:
    """A clinic's participants.tsv: only the head measurements, for Beam F3."""
    table = pd.read_csv(tiny_run / "demo" / "bids" / "participants.tsv", sep="\t", dtype=str)
    columns = ["participant_id", "nasion_inion_cm", "tragus_tragus_cm", "head_circumference_cm"]
    table = table[table["participant_id"].isin([f"sub-{s}" for s in subjects])][columns]
    table.to_csv(
        workdir / "clinic" / "participants.tsv", sep="\t", index=False, lineterminator="\n"
    )


@pytest.mark.slow
def test_a_new_patient_or_an_edited_row_reruns_only_their_jobs(tiny_run, tmp_path):
    config = _clinic_dataset(tiny_run, tmp_path, subjects=("01", "02"))
    settings = yaml.safe_load(config.read_text())
    settings["targets"]["beam_f3"] = True
    config.write_text(yaml.safe_dump(settings))
    _head_measurements(tiny_run, tmp_path, ("01", "02"))
    result = run_snakemake(tmp_path, "--cores", "2", configfiles=[config])
    assert result.returncode == 0, result.output[-3000:]
    assert _planned_jobs(tmp_path, config) == set()

    # one patient's head measurement corrected: Beam F3 of that patient only
    path = tmp_path / "clinic" / "participants.tsv"
    table = pd.read_csv(path, sep="\t", dtype=str)
    row = table["participant_id"] == "sub-02"
    table.loc[row, "nasion_inion_cm"] = str(float(table.loc[row, "nasion_inion_cm"].iloc[0]) + 1.5)
    table.to_csv(path, sep="\t", index=False, lineterminator="\n")
    _check_inputs(tmp_path, config)
    jobs = _planned_jobs(tmp_path, config)
    per_subject = {(rule, subject) for rule, subject in jobs if subject}
    assert {subject for _, subject in per_subject} == {"02"}, jobs
    assert {rule for rule, _ in per_subject} == {"find_targets", "place_coil", "report_patient"}
    result = run_snakemake(tmp_path, "--cores", "2", configfiles=[config])
    assert result.returncode == 0, result.output[-3000:]

    # a new patient: their jobs and the group's
    source = tiny_run / "demo" / "bids" / "derivatives" / "fmriprep" / "sub-03"
    shutil.copytree(source, tmp_path / "clinic" / "derivatives" / "fmriprep" / "sub-03")
    _head_measurements(tiny_run, tmp_path, ("01", "02", "03"))
    _check_inputs(tmp_path, config)
    jobs = _planned_jobs(tmp_path, config)
    subjects = {subject for _, subject in jobs if subject}
    # sub-02 is back at its first measurement: its Beam F3 jobs rerun too
    assert subjects == {"02", "03"}, jobs
    assert {rule for rule, subject in jobs if subject == "03"} >= {
        "prepare_run",
        "clean_subject",
        "find_targets",
        "place_coil",
        "report_patient",
    }
    assert {rule for rule, subject in jobs if subject == "02"} == {
        "find_targets",
        "place_coil",
        "report_patient",
    }
    group = {rule for rule, subject in jobs if not subject}
    assert group <= {"summarise_qc", "analyse_reliability", "all"}, group
