"""The input checks before any job (tmstarget.checks and discovery): one scenario per kind
of broken input, each asserting that the message names the file (or run, subject, column
or config key) and the fix; and the subject reconciliation.

The dataset is fMRIPrep 24's layout as its documentation names it (tests/fmriprep_tree.py,
with the real confounds table nilearn ships), plus a participants.tsv and MADRS table
written here as BIDS describes them."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from fmriprep_tree import N_VOLUMES, write_fmriprep_tree

from tmstarget import bids, checks, demo
from tmstarget.clinical import DEFAULT_VISITS

HEAD = {"nasion_inion_cm": 35.0, "tragus_tragus_cm": 36.0, "head_circumference_cm": 57.0}
RUN1 = "sub-01_task-rest_run-1"


def _participants(root: Path, labels=("01", "02"), **changes) -> None:
    rows = []
    for index, label in enumerate(labels):
        row = {
            "participant_id": f"sub-{label}",
            "arm": "connectivity" if index % 2 == 0 else "scalp",
            "age": 40 + index,
            "sex": "F",
            "n_failed_treatments": 3,
            **HEAD,
        }
        rows.append(row | changes.get(label, {}))
    bids.write_tsv(root / "participants.tsv", pd.DataFrame(rows))


def _madrs(root: Path, labels=("01", "02")) -> None:
    rows = [
        {
            "participant_id": f"sub-{label}",
            "session_id": visit,
            "days_since_baseline": i,
            "madrs_total": 30 - i,
        }
        for label in labels
        for i, visit in enumerate(DEFAULT_VISITS)
    ]
    bids.write_tsv(root / "phenotype" / "madrs.tsv", pd.DataFrame(rows))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """Two subjects of two runs each as fMRIPrep 24 writes them, with participants.tsv."""
    root = tmp_path_factory.mktemp("checks") / "bids"
    write_fmriprep_tree(root, subjects={"01": [None], "02": [None]})
    _participants(root)
    _madrs(root)
    return root


def _copy(dataset: Path, tmp_path: Path) -> Path:
    root = tmp_path / "bids"
    shutil.copytree(dataset, root)
    return root


def _settings(root: Path, **changes) -> checks.CheckSettings:
    # the fixture's runs have 30 volumes (3 non-steady-state)
    base = checks.CheckSettings(bids_dir=str(root), min_volumes=20, grid_voxel_mm=6.0)
    return replace(base, **changes)


def _check(root: Path, **changes) -> checks.InputReport:
    runs = bids.discover_runs(root, root / "derivatives" / "fmriprep")
    return checks.check_inputs(runs, _settings(root, **changes))


def _problems(root: Path, **changes) -> str:
    with pytest.raises((checks.InputCheckError, bids.BIDSInputError)) as error:
        _check(root, **changes)
    return str(error.value)


def _func(root: Path) -> Path:
    return root / "derivatives" / "fmriprep" / "sub-01" / "func"


def test_a_good_dataset_passes_and_says_who_is_in(dataset):
    report = _check(dataset)
    assert sorted(report.runs) == ["01", "02"]
    table = report.subjects.set_index("participant_id")
    assert table.loc["sub-01", "n_runs"] == 2
    assert table["imaging_analyses"].all() and table["clinical_analyses"].all()
    assert (table["note"] == "n/a").all()


def _confounds(root: Path) -> Path:
    return _func(root) / f"{RUN1}_desc-confounds_timeseries.tsv"


def _edit_confounds(root: Path, edit) -> None:
    path = _confounds(root)
    table = pd.read_csv(path, sep="\t", na_values="n/a")
    bids.write_tsv(path, edit(table))


def _edit_sidecar(path: Path, **changes) -> None:
    content = json.loads(path.read_text())
    path.write_text(json.dumps(content | changes))


def _echo(root: Path, echo: int, run: int = 1, ext: str = ".nii.gz") -> Path:
    return _func(root) / f"sub-01_task-rest_run-{run}_echo-{echo}_desc-preproc_bold{ext}"


def _swap_echo_times(root: Path) -> None:
    first = json.loads(_echo(root, 1, ext=".json").read_text())["EchoTime"]
    second = json.loads(_echo(root, 2, ext=".json").read_text())["EchoTime"]
    _edit_sidecar(_echo(root, 1, ext=".json"), EchoTime=second)
    _edit_sidecar(_echo(root, 2, ext=".json"), EchoTime=first)


def _retime_run2(root: Path) -> None:
    for echo in (1, 2, 3):
        _edit_sidecar(_echo(root, echo, run=2, ext=".json"), RepetitionTime=2.0)
        img = nib.load(_echo(root, echo, run=2))
        img.header.set_zooms((*img.header.get_zooms()[:3], 2.0))
        nib.Nifti1Image(np.asarray(img.dataobj), img.affine, img.header).to_filename(
            _echo(root, echo, run=2)
        )


def _empty_mask(root: Path) -> None:
    path = _func(root) / f"{RUN1}_desc-brain_mask.nii.gz"
    img = nib.load(path)
    nib.Nifti1Image(np.zeros(img.shape, np.uint8), img.affine).to_filename(path)


def _write_map(root: Path, data_of, name: str) -> str:
    from tmstarget import atlas

    brain = atlas.template_tissue(6.0)["brain"]
    path = root / name
    nib.Nifti1Image(data_of(np.asarray(brain.dataobj)), brain.affine).to_filename(path)
    return str(path)


# (scenario, how to break the dataset, settings changes, what the message must contain)
SCENARIOS = [
    (
        "confounds_rows",
        lambda root: _edit_confounds(root, lambda t: t.iloc[:-2]),
        {},
        [f"{RUN1}_desc-confounds_timeseries.tsv: {N_VOLUMES - 2} rows", "30 volumes"],
    ),
    (
        "confounds_column",
        lambda root: _edit_confounds(root, lambda t: t.drop(columns=["white_matter"])),
        {},
        [f"{RUN1}_desc-confounds_timeseries.tsv", "white_matter", "preprocess.nuisance"],
    ),
    (
        "confounds_na",
        lambda root: _edit_confounds(root, lambda t: t.assign(csf=t["csf"].where(t.index != 12))),
        {},
        ["confounds column csf", f"{RUN1}_desc-confounds_timeseries.tsv", "rows [9]"],
    ),
    (
        "tr_between_runs",
        _retime_run2,
        {},
        ["sub-01: its runs have different repetition times", "run-2 2 s"],
    ),
    (
        "missing_echo",
        lambda root: (_echo(root, 2).unlink(), _echo(root, 2, ext=".json").unlink()),
        {},
        ["sub-01 run-1", "echo file(s) [2] missing", f"{RUN1}_echo-2_desc-preproc_bold.nii.gz"],
    ),
    (
        "echo_time_ms",
        lambda root: _edit_sidecar(_echo(root, 2, ext=".json"), EchoTime=38.5),
        {},
        [f"{RUN1}_echo-2_desc-preproc_bold.json", "EchoTime is 38.5", "milliseconds"],
    ),
    (
        "echo_time_text",
        lambda root: _edit_sidecar(_echo(root, 2, ext=".json"), EchoTime="32ms"),
        {},
        [f"{RUN1}_echo-2_desc-preproc_bold.json", "EchoTime is '32ms', not a number"],
    ),
    (
        "swapped_echo_times",
        _swap_echo_times,
        {},
        ["EchoTime does not increase with the echo- entity", "echo-1: 38.5 ms"],
    ),
    (
        "short_run",
        lambda root: None,
        {"min_volumes": 28},
        [f"{RUN1}_echo-1_desc-preproc_bold.nii.gz: 30 volumes", "preprocess.min_volumes"],
    ),
    (
        "empty_mask",
        _empty_mask,
        {},
        [f"{RUN1}_desc-brain_mask.nii.gz: the brain mask is empty"],
    ),
    (
        "missing_head_measurement",
        lambda root: _participants(root, **{"02": {"tragus_tragus_cm": np.nan}}),
        {},
        ["participants.tsv: sub-02 has no tragus_tragus_cm", "targets.beam_f3: false"],
    ),
    (
        "subject_not_in_participants",
        lambda root: _participants(root, labels=("01", "03")),
        {},
        ["sub-02 has imaging", "no row in", "participants.tsv", "input.exclude_subjects"],
    ),
    (
        "no_participants_tsv",
        lambda root: (root / "participants.tsv").unlink(),
        {},
        ["participants.tsv: not found", "needed for the trial (arms"],
    ),
    (
        "bad_arm_label",
        lambda root: _participants(root, **{"02": {"arm": "sham"}}),
        {},
        ["participants.tsv", "sham", "trial.arm_labels"],
    ),
    (
        "madrs_column",
        lambda root: bids.write_tsv(
            root / "phenotype" / "madrs.tsv",
            pd.read_csv(root / "phenotype" / "madrs.tsv", sep="\t").drop(columns="madrs_total"),
        ),
        {},
        ["madrs.tsv", "madrs_total"],
    ),
    (
        "unknown_exclusion",
        lambda root: None,
        {"exclude_subjects": {"09": "withdrew"}},
        ["input.exclude_subjects lists ['sub-09']"],
    ),
]


@pytest.mark.parametrize(
    ("scenario", "breaks", "settings", "expected"), SCENARIOS, ids=[s[0] for s in SCENARIOS]
)
def test_each_broken_input_is_named(scenario, breaks, settings, expected, dataset, tmp_path):
    root = _copy(dataset, tmp_path)
    breaks(root)
    message = _problems(root, **settings)
    for fragment in expected:
        assert fragment in message, f"{fragment!r} not in:\n{message}"


@pytest.mark.parametrize(
    ("key", "data_of", "expected"),
    [
        ("circuit_map", lambda brain: brain.astype(np.float32), "is flat inside the brain"),
        ("circuit_map", lambda brain: np.zeros(brain.shape, np.float32), "0 voxels remain"),
        (
            "search_mask",
            lambda brain: (1 - brain).astype(np.uint8),
            "no non-zero voxel inside the template brain",
        ),
    ],
)
def test_target_maps_are_checked_on_the_analysis_grid(key, data_of, expected, dataset, tmp_path):
    path = _write_map(tmp_path, data_of, f"{key}.nii.gz")
    message = _problems(dataset, **{key: path})
    assert f"targets.{key}" in message and expected in message, message


def test_every_problem_is_listed_at_once(dataset, tmp_path):
    root = _copy(dataset, tmp_path)
    _edit_confounds(root, lambda t: t.iloc[:-1])
    _empty_mask(root)
    _participants(root, **{"02": {"nasion_inion_cm": np.nan}})
    message = _problems(root)
    assert message.startswith("3 problem(s) with the inputs")
    assert "confounds_timeseries.tsv: 29 rows" in message
    assert "brain mask is empty" in message and "sub-02 has no nasion_inion_cm" in message


def test_an_excluded_subject_is_logged_not_silent(dataset, tmp_path):
    root = _copy(dataset, tmp_path)
    # sub-03 (arm scalp) has no imaging; sub-02 has imaging but no row
    _participants(root, labels=("01", "03"))
    _madrs(root, labels=("01", "03"))
    report = _check(root, exclude_subjects={"sub-02": "no clinical data"})
    assert sorted(report.runs) == ["01"]
    row = report.subjects.set_index("participant_id").loc["sub-02"]
    assert not row["imaging_analyses"] and not row["in_participants_tsv"]
    assert row["note"] == "input.exclude_subjects: no clinical data"
    assert report.notes == [
        "sub-02: input.exclude_subjects: no clinical data",
        "sub-03: no resting-state runs: clinical analyses only",
    ]


def test_a_participant_without_imaging_enters_the_clinical_analyses_only(dataset, tmp_path):
    root = _copy(dataset, tmp_path)
    _participants(root, labels=("01", "02", "03"))
    _madrs(root, labels=("01", "02", "03"))
    row = _check(root).subjects.set_index("participant_id").loc["sub-03"]
    assert row["n_runs"] == 0 and row["clinical_analyses"] and not row["imaging_analyses"]
    assert row["note"] == "no resting-state runs: clinical analyses only"


def test_imaging_only_use_needs_no_tables(dataset, tmp_path):
    root = _copy(dataset, tmp_path)
    (root / "participants.tsv").unlink()
    shutil.rmtree(root / "phenotype")
    report = _check(root, trial=False, clinical_stage=False, methods=("circuit_searchlight",))
    assert not report.subjects["in_participants_tsv"].any()
    assert report.subjects["imaging_analyses"].all()
    # a trial needs participants.tsv (the arms)
    assert "needed for the trial" in _problems(root, methods=("circuit_searchlight",))


def test_a_clinic_needs_only_head_measurements_for_beam_f3(dataset, tmp_path):
    root = _copy(dataset, tmp_path)
    shutil.rmtree(root / "phenotype")
    table = pd.read_csv(root / "participants.tsv", sep="\t")
    table[["participant_id", *checks.HEAD_COLUMNS]].to_csv(
        root / "participants.tsv", sep="\t", index=False
    )
    clinic = {"trial": False, "clinical_stage": False}
    report = _check(root, **clinic)
    assert report.subjects["head_measurements"].all()
    assert (report.subjects["arm"] == "n/a").all()
    # without a row, Beam F3 has no measurements: named, with the fixes
    _participants_drop = table[table["participant_id"] != "sub-02"]
    _participants_drop[["participant_id", *checks.HEAD_COLUMNS]].to_csv(
        root / "participants.tsv", sep="\t", index=False
    )
    message = _problems(root, **clinic)
    assert "sub-02 has imaging" in message and "(head measurements)" in message
    assert (
        _check(root, **clinic, methods=("circuit_searchlight",)).subjects["imaging_analyses"].all()
    )


def test_settings_follow_the_mode_and_stages():
    config = {
        "input": {"bids_dir": "b"},
        "trial": {"arm_labels": {"connectivity": "c", "scalp": "s"}},
        "preprocess": {"min_volumes": 50},
        "targets": {"methods": ["circuit_searchlight"], "beam_f3": True},
        "outcomes": {"visits": ["baseline", "month1"], "baseline_visit": "baseline"},
    }
    trial = checks.CheckSettings.from_config({**config, "mode": "trial"}, 2.0)
    assert trial.trial and trial.clinical_stage and "beam_f3" in trial.methods
    no_outcomes = checks.CheckSettings.from_config(
        {**config, "mode": "trial", "stages": {"outcomes": False}}, 2.0
    )
    assert no_outcomes.trial and not no_outcomes.clinical_stage
    clinic = checks.CheckSettings.from_config(
        {
            **config,
            "mode": "clinic",
            "targets": {"methods": ["circuit_searchlight"], "beam_f3": False},
        },
        2.0,
    )
    assert (
        not clinic.trial
        and not clinic.clinical_stage
        and clinic.methods == ("circuit_searchlight",)
    )


def test_a_passed_check_is_cached_until_a_table_changes(dataset, tmp_path, monkeypatch):
    root = _copy(dataset, tmp_path)
    fmriprep, cache = root / "derivatives" / "fmriprep", tmp_path / "cache"
    settings = _settings(root)
    first = checks.checked_inputs(root, fmriprep, bids.Query(), settings, cache_dir=cache)
    calls = []
    monkeypatch.setattr(checks, "check_inputs", lambda *a: calls.append(a) or first)
    again = checks.checked_inputs(root, fmriprep, bids.Query(), settings, cache_dir=cache)
    assert not calls and again.subjects.equals(first.subjects)
    _participants(root, **{"02": {"age": 50}})
    checks.checked_inputs(root, fmriprep, bids.Query(), settings, cache_dir=cache)
    assert len(calls) == 1
    assert len(list(cache.glob("checks-*.json"))) == 1


@pytest.mark.parametrize("layout", ["native", pytest.param("template", marks=pytest.mark.slow)])
def test_the_demo_plan_is_what_the_demo_writes(layout, tiny_dataset, tmp_path):
    """The workflow plans the demo from the config (no checkpoint): every file and run it
    plans is what write_demo_dataset writes and discovery finds."""
    from conftest import TINY_SPEC

    spec = replace(TINY_SPEC, layout=layout)
    if layout == "native":
        root = tiny_dataset
    else:
        root = tmp_path / "bids"
        demo.write_demo_dataset(root, spec)
    written = {str(p) for p in root.rglob("*") if p.is_file()}
    assert set(demo.planned_files(root, spec)) == written
    query = bids.Query(bold_space=layout)
    found = bids.discover_runs(root, root / "derivatives" / "fmriprep", query)
    assert checks._absolute(demo.planned_runs(root, spec)) == checks._absolute(found)


def test_demo_replaces_its_folder_whole(tmp_path, monkeypatch):
    """With replace, the demo is written beside its folder and then takes its place:
    files of an earlier, bigger demo and a killed simulation's partial folder go."""
    from conftest import TINY_SPEC

    write = demo.write_demo_dataset

    def fake(root, spec, threads=1, mem_mb=None, replace=False):
        if replace:
            return write(root, spec, threads, mem_mb, replace=True)
        (Path(root) / "sub-01").mkdir(parents=True)
        (Path(root) / "sub-01" / "new.txt").write_text("new")

    monkeypatch.setattr(demo, "write_demo_dataset", fake)
    root = tmp_path / "bids"
    (root / "sub-99").mkdir(parents=True)  # left by a bigger demo
    (tmp_path / ".bids.partial-1").mkdir()  # left by a killed simulation
    demo.write_demo_dataset(root, TINY_SPEC, replace=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bids"]
    assert [str(p.relative_to(root)) for p in root.rglob("*")] == ["sub-01", "sub-01/new.txt"]


def test_a_failed_write_leaves_nothing_and_names_the_file(tmp_path, monkeypatch):
    import shutil as shutil_module
    from collections import namedtuple

    from tmstarget import atomic

    target = tmp_path / "figure.pdf"
    target.write_text("the previous, complete figure")
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil_module, "disk_usage", lambda path: usage(1e9, 1e9, 0))
    with pytest.raises(atomic.OutputWriteError, match=r"figure.pdf: AttributeError.*disk is full"):
        with atomic.replacing(target) as partial:
            partial.write_text("half a fig")
            raise AttributeError("'Stream' object has no attribute 'pos'")
    assert target.read_text() == "the previous, complete figure"
    assert [p.name for p in tmp_path.iterdir()] == ["figure.pdf"]
