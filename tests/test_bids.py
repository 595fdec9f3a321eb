"""BIDS validity of the demo dataset, and input discovery with pybids (same code as for
real data), including the errors a user meets with an incomplete dataset."""

import json
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
