"""BIDS validity of the demo dataset, and input discovery with pybids (same code as for
real data), including the errors a user meets with an incomplete dataset."""

import json
import os
import re
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from bids_validator import BIDSValidator

from tmstarget import bids
from tmstarget.demo import SPACE

DERIVATIVE_NAME = re.compile(
    r"^sub-[A-Za-z0-9]+(_ses-[A-Za-z0-9]+)?_task-[A-Za-z0-9]+(_run-\d+)?(_echo-\d+)?"
    r"(_space-[A-Za-z0-9]+)?(_desc-[A-Za-z0-9]+)?_(bold|mask|timeseries)\.(nii\.gz|json|tsv)$"
)


def test_raw_dataset_files_are_valid_bids(tiny_dataset):
    validator = BIDSValidator()
    raw_files = [
        p
        for p in tiny_dataset.rglob("*")
        if p.is_file() and "derivatives" not in p.relative_to(tiny_dataset).parts
    ]
    assert raw_files
    for path in raw_files:
        relative = "/" + path.relative_to(tiny_dataset).as_posix()
        assert validator.is_bids(relative), relative


def test_derivative_names_follow_bids(tiny_dataset):
    names = [p.name for p in (tiny_dataset / "derivatives" / "fmriprep").rglob("sub-*.*")]
    assert len(names) == 10 * 2 * (
        3 * 2 + 1 + 2
    )  # subjects x runs x (echo nii+json, mask, tsv+json)
    for name in names:
        assert DERIVATIVE_NAME.match(name), name


def test_dataset_descriptions(tiny_dataset):
    raw = json.loads((tiny_dataset / "dataset_description.json").read_text())
    assert raw["DatasetType"] == "raw" and raw["BIDSVersion"]
    for folder in ("fmriprep", "simulation"):
        described = json.loads(
            (tiny_dataset / "derivatives" / folder / "dataset_description.json").read_text()
        )
        assert described["DatasetType"] == "derivative"
        assert described["GeneratedBy"][0]["Name"] == "tmstarget"


def test_every_tsv_column_is_described(tiny_dataset):
    tables = [tiny_dataset / "participants.tsv", *(tiny_dataset / "phenotype").glob("*.tsv")]
    tables += list((tiny_dataset / "derivatives").rglob("*_timeseries.tsv"))
    tables += [tiny_dataset / "derivatives" / "simulation" / "planted_targets.tsv"]
    for table in tables:
        columns = pd.read_csv(table, sep="\t", nrows=1).columns
        dictionary = json.loads(table.with_suffix(".json").read_text())
        assert set(columns) <= set(dictionary), table.name


def test_echo_sidecars_and_headers(tiny_dataset):
    func = tiny_dataset / "derivatives" / "fmriprep" / "sub-01" / "func"
    echo_times = []
    for echo in (1, 2, 3):
        stem = f"sub-01_task-rest_run-1_echo-{echo}_space-{SPACE}_desc-preproc_bold"
        sidecar = json.loads((func / f"{stem}.json").read_text())
        echo_times.append(sidecar["EchoTime"])
        assert sidecar["RepetitionTime"] == 2.0
        img = nib.load(func / f"{stem}.nii.gz")
        assert img.shape[3] == 40
        assert img.header.get_zooms()[3] == pytest.approx(2.0)
        assert img.header.get_xyzt_units() == ("mm", "sec")
        assert int(img.header["sform_code"]) == 4
    assert echo_times == sorted(echo_times) and max(echo_times) < 0.1  # seconds


def test_find_runs_reads_every_run(tiny_dataset):
    layout = bids.load_layout(tiny_dataset, tiny_dataset / "derivatives" / "fmriprep")
    runs = bids.find_runs(layout, space=SPACE)
    assert sorted(runs) == [f"{i:02d}" for i in range(1, 11)]
    for subject_runs in runs.values():
        assert [r.run for r in subject_runs] == ["1", "2"]
        for run in subject_runs:
            assert run.echo_times_s == [0.014, 0.032, 0.05]
            assert [f"echo-{e}" in f for e, f in enumerate(run.echo_files, 1)] == [True] * 3
            assert run.mask_file.endswith("desc-brain_mask.nii.gz")
            assert f"run-{run.run}" in run.confounds_file
    table = bids.inventory(runs)
    assert len(table) == 20 and (table["n_echoes"] == 3).all()
    assert set(table["echo_times_ms"]) == {"14,32,50"}
    selected = bids.find_runs(layout, space=SPACE, subjects=["03"])
    assert list(selected) == ["03"]


@pytest.fixture
def editable_dataset(tiny_dataset, tmp_path) -> Path:
    """A copy of the tiny dataset's subject 01 that a test may break."""
    root = tmp_path / "bids"
    shutil.copytree(tiny_dataset, root, ignore=shutil.ignore_patterns("sub-0[2-9]", "sub-10"))
    return root


def _runs(root: Path, **kwargs):
    layout = bids.load_layout(root, root / "derivatives" / "fmriprep")
    return bids.find_runs(layout, space=kwargs.pop("space", SPACE), **kwargs)


def test_echo_order_comes_from_echo_time_not_file_name(editable_dataset):
    func = editable_dataset / "derivatives" / "fmriprep" / "sub-01" / "func"
    first = func / f"sub-01_task-rest_run-1_echo-1_space-{SPACE}_desc-preproc_bold.json"
    sidecar = json.loads(first.read_text())
    sidecar["EchoTime"] = 0.07
    first.write_text(json.dumps(sidecar))
    run = _runs(editable_dataset)["01"][0]
    assert run.echo_times_s == [0.032, 0.05, 0.07]
    assert "echo-1" in run.echo_files[-1]


def test_missing_echo_time_names_the_file(editable_dataset):
    func = editable_dataset / "derivatives" / "fmriprep" / "sub-01" / "func"
    sidecar_path = func / f"sub-01_task-rest_run-2_echo-2_space-{SPACE}_desc-preproc_bold.json"
    sidecar = json.loads(sidecar_path.read_text())
    del sidecar["EchoTime"]
    sidecar_path.write_text(json.dumps(sidecar))
    with pytest.raises(bids.BIDSInputError, match="run-2_echo-2.*no EchoTime"):
        _runs(editable_dataset)


def test_missing_mask_is_reported(editable_dataset):
    func = editable_dataset / "derivatives" / "fmriprep" / "sub-01" / "func"
    (func / f"sub-01_task-rest_run-1_space-{SPACE}_desc-brain_mask.nii.gz").unlink()
    with pytest.raises(bids.BIDSInputError, match="brain mask of sub-01 run 1.*found 0"):
        _runs(editable_dataset)


def test_wrong_space_lists_the_spaces_present(editable_dataset):
    with pytest.raises(bids.BIDSInputError, match=r"space 'MNI152NLin2009cAsym'.*MNI152NLin6Asym"):
        _runs(editable_dataset, space="MNI152NLin2009cAsym")


def test_not_a_bids_folder_names_the_config_key(tmp_path):
    with pytest.raises(bids.BIDSInputError, match="input.bids_dir"):
        bids.load_layout(tmp_path, tmp_path / "derivatives" / "fmriprep")


def test_bids_name_orders_entities_and_rejects_bad_labels():
    name = bids.bids_name("bold", ".nii.gz", desc="preproc", echo=2, sub="01", task="rest")
    assert name == "sub-01_task-rest_echo-2_desc-preproc_bold.nii.gz"
    with pytest.raises(ValueError, match="alphanumeric"):
        bids.bids_name("bold", ".nii.gz", sub="01_x")


def test_planted_targets_match_the_mask(tiny_dataset):
    planted = pd.read_csv(
        tiny_dataset / "derivatives" / "simulation" / "planted_targets.tsv", sep="\t"
    )
    mask_path = next((tiny_dataset / "derivatives" / "fmriprep").rglob("*_mask.nii.gz"))
    mask = nib.load(mask_path)
    ijk = planted[["i", "j", "k"]].to_numpy()
    assert np.asarray(mask.dataobj)[tuple(ijk.T)].all()
    xyz = nib.affines.apply_affine(mask.affine, ijk)
    np.testing.assert_allclose(xyz, planted[["x_mm", "y_mm", "z_mm"]].to_numpy())


def test_denoised_input_single_file_runs_need_no_echo_time(editable_dataset):
    """Data denoised elsewhere (config preprocess.denoised_input_desc) enter as one file
    per run, without the echo entity and without EchoTime."""
    func = editable_dataset / "derivatives" / "fmriprep" / "sub-01" / "func"
    for run in (1, 2):
        source = func / f"sub-01_task-rest_run-{run}_echo-2_space-{SPACE}_desc-preproc_bold.nii.gz"
        target = func / f"sub-01_task-rest_run-{run}_space-{SPACE}_desc-denoised_bold.nii.gz"
        shutil.copy(source, target)
        target.with_name(target.name.replace(".nii.gz", ".json")).write_text(
            json.dumps({"RepetitionTime": 2.0, "TaskName": "rest"})
        )
    runs = _runs(editable_dataset, desc="denoised")["01"]
    assert [run.key for run in runs] == ["task-rest_run-1", "task-rest_run-2"]
    assert all(len(run.echo_files) == 1 and not run.is_multi_echo for run in runs)
    assert runs[0].mask_file.endswith("run-1_space-MNI152NLin6Asym_desc-brain_mask.nii.gz")


# --------------------------------------------------------------------------- scale (issue 7)


def test_parse_bids_name_inverts_bids_name():
    name = bids.bids_name("bold", ".nii.gz", sub="01", ses="2", task="rest", run=3, echo=1)
    assert bids.parse_bids_name(f"/some/folder/{name}") == (
        {"sub": "01", "ses": "2", "task": "rest", "run": "3", "echo": "1"},
        "bold",
        ".nii.gz",
    )
    assert bids.parse_bids_name("task-rest_bold.json") == ({"task": "rest"}, "bold", ".json")


def test_load_layout_indexes_only_what_find_runs_reads(editable_dataset):
    fmriprep = editable_dataset / "derivatives" / "fmriprep"
    (fmriprep / "sub-01" / "anat").mkdir()
    (fmriprep / "sub-01" / "anat" / "sub-01_desc-preproc_T1w.nii.gz").touch()
    (fmriprep / "sub-01" / "figures").mkdir()
    (fmriprep / "sub-01" / "figures" / "sub-01_desc-summary_T1w.html").touch()
    (fmriprep / "sub-01.html").touch()
    func = fmriprep / "sub-01" / "func"
    (func / f"sub-01_task-rest_run-1_space-{SPACE}_boldref.nii.gz").touch()
    layout = bids.load_layout(editable_dataset, fmriprep)
    indexed = sorted(Path(path).name for path in layout.get(return_type="filename"))
    on_disk = sorted(
        path.name
        for path in func.iterdir()
        if path.name.endswith(("_bold.nii.gz", "_mask.nii.gz", "_timeseries.tsv"))
    )
    assert indexed == on_disk  # no sidecars, anat/, figures/, reports or boldrefs
    assert len(_runs(editable_dataset)["01"]) == 2


def test_load_layout_given_the_query_indexes_only_its_files(editable_dataset):
    fmriprep = editable_dataset / "derivatives" / "fmriprep"
    func = fmriprep / "sub-01" / "func"
    for name in (
        "sub-01_task-rest_run-1_echo-1_space-T1w_desc-preproc_bold.nii.gz",
        "sub-01_task-rest_run-1_space-T1w_desc-brain_mask.nii.gz",
        f"sub-01_task-rest_run-1_space-{SPACE}_desc-optcom_bold.nii.gz",
        "sub-01_task-rest_run-1_desc-carpet_timeseries.tsv",
        f"sub-01_task-other_run-1_echo-1_space-{SPACE}_desc-preproc_bold.nii.gz",
    ):
        (func / name).touch()
    broad = bids.load_layout(editable_dataset, fmriprep)
    narrow = bids.load_layout(editable_dataset, fmriprep, SPACE, "rest", "preproc")
    assert len(broad.get(return_type="filename")) == 10 + 5
    # 2 runs x (3 echoes, mask, confounds table), nothing else
    assert len(narrow.get(return_type="filename")) == 10
    assert bids.find_runs(narrow, space=SPACE) == bids.find_runs(broad, space=SPACE)
    # the error still lists every space on disk
    with pytest.raises(bids.BIDSInputError, match=r"spaces present: \['MNI152NLin6Asym', 'T1w'\]"):
        bids.discover_runs(editable_dataset, fmriprep, "MNI152NLin2009cAsym")


class _CountingLayout:
    """A layout that counts the queries made through it."""

    def __init__(self, layout):
        self.layout, self.queries = layout, 0

    def get(self, *args, **kwargs):
        self.queries += 1
        return self.layout.get(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.layout, name)


def test_find_runs_asks_pybids_three_times_whatever_the_cohort(tiny_dataset):
    """No query per run or per file: their cost grows with the index, so per-run
    queries made discovery quadratic in the number of subjects."""
    layout = _CountingLayout(
        bids.load_layout(tiny_dataset, tiny_dataset / "derivatives" / "fmriprep")
    )
    runs = bids.find_runs(layout, space=SPACE)
    assert sum(len(subject_runs) for subject_runs in runs.values()) == 20
    assert layout.queries == 3


def test_sidecar_metadata_follows_the_inheritance_principle(editable_dataset):
    fmriprep = editable_dataset / "derivatives" / "fmriprep"
    func = fmriprep / "sub-01" / "func"
    for sidecar_path in func.glob("*_bold.json"):
        sidecar = json.loads(sidecar_path.read_text())
        del sidecar["RepetitionTime"]
        sidecar_path.write_text(json.dumps(sidecar))
    (fmriprep / "task-rest_bold.json").write_text(json.dumps({"RepetitionTime": 2.5}))
    assert {run.repetition_time_s for run in _runs(editable_dataset)["01"]} == {2.5}
    # nearer and more specific sidecars win: the subject's, then run 2's own
    (fmriprep / "sub-01" / "sub-01_task-rest_bold.json").write_text(
        json.dumps({"RepetitionTime": 3.0})
    )
    (func / "sub-01_task-rest_run-2_bold.json").write_text(json.dumps({"RepetitionTime": 1.5}))
    runs = _runs(editable_dataset)["01"]
    assert [run.repetition_time_s for run in runs] == [3.0, 1.5]
    assert runs[0].echo_times_s == [0.014, 0.032, 0.05]  # still from each echo's sidecar
    # a confounds sidecar never applies to a BOLD file
    (fmriprep / "task-rest_desc-confounds_timeseries.json").write_text(
        json.dumps({"RepetitionTime": 9.0})
    )
    assert [run.repetition_time_s for run in _runs(editable_dataset)["01"]] == [3.0, 1.5]


def test_resolution_chooses_among_masks(editable_dataset):
    func = editable_dataset / "derivatives" / "fmriprep" / "sub-01" / "func"
    for path in sorted(func.iterdir()):
        if f"space-{SPACE}_" in path.name:
            path.rename(func / path.name.replace(f"space-{SPACE}_", f"space-{SPACE}_res-2_"))
    for run in (1, 2):
        mask = func / f"sub-01_task-rest_run-{run}_space-{SPACE}_res-2_desc-brain_mask.nii.gz"
        shutil.copy(mask, str(mask).replace("_res-2_", "_res-1_"))
    runs = _runs(editable_dataset, resolution="2")["01"]
    assert [run.mask_file.endswith("_res-2_desc-brain_mask.nii.gz") for run in runs] == [True] * 2
    with pytest.raises(bids.BIDSInputError, match="brain mask of sub-01 run 1.*found 2"):
        _runs(editable_dataset)


@pytest.fixture
def two_subjects(tiny_dataset, tmp_path) -> Path:
    """A copy of the tiny dataset's subjects 01 and 02 that a test may change."""
    root = tmp_path / "bids2"
    shutil.copytree(tiny_dataset, root, ignore=shutil.ignore_patterns("sub-0[3-9]", "sub-10"))
    return root


def test_discover_runs_reuses_its_cache_until_the_dataset_changes(
    two_subjects, tmp_path, monkeypatch
):
    fmriprep = two_subjects / "derivatives" / "fmriprep"
    cache = tmp_path / "cache"

    def discover(**kwargs):
        return bids.discover_runs(two_subjects, fmriprep, SPACE, cache_dir=cache, **kwargs)

    first = discover()
    assert first == _runs(two_subjects) and sorted(first) == ["01", "02"]
    assert len(list(cache.glob("runs-*.json"))) == 1

    def no_pybids(*args, **kwargs):
        raise AssertionError("the cache should have answered")

    real_load_layout = bids.load_layout
    monkeypatch.setattr(bids, "load_layout", no_pybids)
    assert discover() == first
    monkeypatch.setattr(bids, "load_layout", real_load_layout)

    # another query is another entry
    assert sorted(discover(subjects=["02"])) == ["02"]
    # a changed sidecar (same size) is seen
    sidecar = (
        fmriprep
        / "sub-01"
        / "func"
        / (f"sub-01_task-rest_run-1_echo-1_space-{SPACE}_desc-preproc_bold.json")
    )
    content = json.loads(sidecar.read_text())
    content["EchoTime"] = 0.013
    sidecar.write_text(json.dumps(content, indent=2, sort_keys=True) + "\n")
    stat = sidecar.stat()
    os.utime(sidecar, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert discover()["01"][0].echo_times_s == [0.013, 0.032, 0.05]
    # a removed subject is seen
    shutil.rmtree(fmriprep / "sub-02")
    assert sorted(discover()) == ["01"]
    assert len(list(cache.glob("runs-*.json"))) == 1  # stale entries are removed


def test_discover_runs_checks_the_folders_first(tmp_path):
    with pytest.raises(bids.BIDSInputError, match="input.bids_dir"):
        bids.discover_runs(tmp_path, tmp_path / "fmriprep", SPACE, cache_dir=tmp_path / "cache")
