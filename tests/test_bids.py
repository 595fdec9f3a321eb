"""Input discovery with pybids on fMRIPrep derivatives named as fMRIPrep writes them
(tests/fmriprep_tree.py, from fMRIPrep's docs and code), the demo dataset read by the
same code, the problems a user meets with real trees, and BIDS names of outputs."""

import json
import os
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from fmriprep_tree import ECHO_TIMES_S, REPETITION_TIME_S, write_fmriprep_tree

from tmstarget import bids

SPACE = "MNI152NLin6Asym"


def _find(fmriprep: Path, **query):
    """Discovery exactly as the workflow runs it (no cache)."""
    return bids.discover_runs(fmriprep.parent.parent, fmriprep, bids.Query(**query))


def _problems(fmriprep: Path, **query) -> str:
    with pytest.raises(bids.BIDSInputError) as error:
        _find(fmriprep, **query)
    return str(error.value)


# ------------------------------------------------------------- fMRIPrep 23.2-25.x layout


@pytest.fixture(scope="module")
def fmriprep24(tmp_path_factory) -> Path:
    """Two subjects, one with two sessions, two runs each; per-echo series, the combined
    native series (--output-spaces func) and combined template outputs."""
    root = tmp_path_factory.mktemp("fmriprep24") / "bids"
    return write_fmriprep_tree(
        root,
        subjects={"01": [None], "02": ["pre", "post"]},
        output_spaces=("MNI152NLin2009cAsym", SPACE),
        output_func=True,
    )


def test_native_echoes_are_found_with_their_transforms(fmriprep24):
    runs = _find(fmriprep24)
    assert sorted(runs) == ["01", "02"]
    assert [run.key for run in runs["01"]] == ["task-rest_run-1", "task-rest_run-2"]
    assert [run.key for run in runs["02"]] == [
        "ses-post_task-rest_run-1",
        "ses-post_task-rest_run-2",
        "ses-pre_task-rest_run-1",
        "ses-pre_task-rest_run-2",
    ]
    run = runs["02"][2]
    assert run.space == "native"
    names = [Path(f).name for f in run.echo_files]
    # the echoes, in echo-time order; not the combined native desc-preproc_bold beside them
    assert names == [
        f"sub-02_ses-pre_task-rest_run-1_echo-{e}_desc-preproc_bold.nii.gz" for e in (1, 2, 3)
    ]
    assert run.echo_times_s == list(ECHO_TIMES_S)
    assert run.repetition_time_s == REPETITION_TIME_S
    assert Path(run.mask_file).name == "sub-02_ses-pre_task-rest_run-1_desc-brain_mask.nii.gz"
    assert Path(run.confounds_file).name == (
        "sub-02_ses-pre_task-rest_run-1_desc-confounds_timeseries.tsv"
    )
    assert Path(run.boldref_xfm).name == (
        "sub-02_ses-pre_task-rest_run-1_from-boldref_to-T1w_mode-image_desc-coreg_xfm.txt"
    )
    # the subject-wide anatomy serves both sessions
    assert [Path(f).name for f in run.template_xfms] == [
        "sub-02_from-T1w_to-MNI152NLin6Asym_mode-image_xfm.h5"
    ]
    assert run.resample_xfms == [*run.template_xfms, run.boldref_xfm]
    assert Path(run.t1w_file).name == "sub-02_desc-preproc_T1w.nii.gz"
    # nilearn's fMRIPrep table has three non_steady_state_outlier columns
    assert run.n_dummy == 3
    assert run.shape == [12, 14, 10, 30]


def test_session_anatomy_wins_over_the_subject_wide_one(fmriprep24, tmp_path):
    fmriprep = tmp_path / "bids" / "derivatives" / "fmriprep"
    shutil.copytree(fmriprep24.parent.parent, tmp_path / "bids")
    anat = fmriprep / "sub-02" / "anat"
    session_anat = fmriprep / "sub-02" / "ses-pre" / "anat"
    session_anat.mkdir()
    name = "from-T1w_to-MNI152NLin6Asym_mode-image_xfm.h5"
    shutil.copy(anat / f"sub-02_{name}", session_anat / f"sub-02_ses-pre_{name}")
    runs = {run.key: run for run in _find(fmriprep)["02"]}
    assert Path(runs["ses-pre_task-rest_run-1"].template_xfms[0]).name == f"sub-02_ses-pre_{name}"
    assert Path(runs["ses-post_task-rest_run-1"].template_xfms[0]).name == f"sub-02_{name}"


def test_pybids_indexes_only_what_discovery_reads(fmriprep24):
    layout = bids.load_layout(fmriprep24.parent.parent, fmriprep24, bids.Query())
    indexed = sorted(Path(p).name for p in layout.get(return_type="filename"))
    assert indexed, "nothing indexed"
    for name in indexed:
        assert "space-" not in name, name  # nor template-space series nor T1w images
        assert not name.endswith((".json", ".html", ".svg")), name
    # per run: 3 echoes, the combined native series (seen and set aside), mask,
    # confounds, the transform to T1w; per subject the T1w and its two template transforms
    assert len(indexed) == 6 * (3 + 1 + 1 + 1 + 1) + 2 * (1 + 2)


def test_template_mode_reads_series_in_the_template(tmp_path):
    """Echoes already in the template (another pipeline's output), with a template mask."""
    fmriprep = write_fmriprep_tree(tmp_path / "bids", runs=("1",), me_output_echos=False)
    func = fmriprep / "sub-01" / "func"
    for echo, te in enumerate(ECHO_TIMES_S, 1):
        combined = func / f"sub-01_task-rest_run-1_space-{SPACE}_res-2_desc-preproc_bold.nii.gz"
        target = func / f"sub-01_task-rest_run-1_echo-{echo}_space-{SPACE}_res-2_desc-preproc_bold"
        shutil.copy(combined, f"{target}.nii.gz")
        Path(f"{target}.json").write_text(json.dumps({"EchoTime": te, "RepetitionTime": 1.5}))
    run = _find(fmriprep, bold_space="template")["01"][0]
    assert run.space == SPACE and len(run.echo_files) == 3
    assert run.mask_file.endswith(f"_space-{SPACE}_res-2_desc-brain_mask.nii.gz")
    assert run.boldref_xfm is None and run.resample_xfms == []
    # the T1w transform is still found, for native coordinates of the targets
    assert [Path(f).name for f in run.template_xfms] == [
        f"sub-01_from-T1w_to-{SPACE}_mode-image_xfm.h5"
    ]


def test_single_echo_mode_reads_one_series_per_run(tmp_path):
    fmriprep = write_fmriprep_tree(
        tmp_path / "bids", runs=("1",), echoes=1, me_output_echos=False, output_func=True
    )
    run = _find(fmriprep, multi_echo=False)["01"][0]
    assert [Path(f).name for f in run.echo_files] == [
        "sub-01_task-rest_run-1_desc-preproc_bold.nii.gz"
    ]
    assert not run.is_multi_echo and np.isnan(run.echo_times_s[0])
    single_template = _find(fmriprep, multi_echo=False, bold_space="template")["01"][0]
    assert single_template.echo_files[0].endswith(f"space-{SPACE}_res-2_desc-preproc_bold.nii.gz")


# ------------------------------------------------------------------------ fMRIPrep 21-23.1


def test_pre_23_2_names(tmp_path):
    fmriprep = write_fmriprep_tree(tmp_path / "bids", version="22", runs=(None,))
    run = _find(fmriprep)["01"][0]
    assert run.key == "task-rest"  # no run entity
    assert Path(run.boldref_xfm).name == "sub-01_task-rest_from-scanner_to-T1w_mode-image_xfm.txt"


def test_development_docs_name_from_run(tmp_path):
    fmriprep = write_fmriprep_tree(tmp_path / "bids", runs=("1",))
    func = fmriprep / "sub-01" / "func"
    old = func / "sub-01_task-rest_run-1_from-boldref_to-T1w_mode-image_desc-coreg_xfm.txt"
    old.rename(func / "sub-01_task-rest_run-1_from-run_to-T1w_mode-image_xfm.txt")
    assert _find(fmriprep)["01"][0].boldref_xfm.endswith("_from-run_to-T1w_mode-image_xfm.txt")


# --------------------------------------------------------------------------- the problems


def test_multi_echo_config_with_only_combined_series_is_an_error(tmp_path):
    """fMRIPrep without --me-output-echos: only the optimally combined series (native
    with --output-spaces func, and in the template)."""
    fmriprep = write_fmriprep_tree(
        tmp_path / "bids", runs=("1",), me_output_echos=False, output_func=True
    )
    message = _problems(fmriprep)
    assert "sub-01 run-1: found only the optimally combined series" in message
    assert "sub-01_task-rest_run-1_desc-preproc_bold.nii.gz" in message
    assert "--me-output-echos" in message and "input.multi_echo: false" in message


def test_subject_only_in_template_space_is_reported(tmp_path):
    fmriprep = write_fmriprep_tree(tmp_path / "bids", runs=("1",), me_output_echos=False)
    message = _problems(fmriprep)
    assert "sub-01 has 'rest' BOLD files only in ['MNI152NLin6Asym']" in message
    assert "--me-output-echos" in message


def test_only_2009c_registration_stops_with_both_fixes(tmp_path):
    fmriprep = write_fmriprep_tree(
        tmp_path / "bids", runs=("1",), output_spaces=("MNI152NLin2009cAsym",)
    )
    message = _problems(fmriprep)
    assert "registered the T1w only to ['MNI152NLin2009cAsym']" in message
    assert "circuit map and masks are in MNI152NLin6Asym" in message
    assert "--output-spaces MNI152NLin6Asym:res-2" in message
    assert "input.template_transform" in message
    assert "tpl-MNI152NLin6Asym_from-MNI152NLin2009cAsym_mode-image_xfm.h5" in message


def test_template_transform_chains_after_the_subjects_2009c_transform(tmp_path):
    fmriprep = write_fmriprep_tree(
        tmp_path / "bids", runs=("1",), output_spaces=("MNI152NLin2009cAsym",)
    )
    bridge = tmp_path / "tpl-MNI152NLin6Asym_from-MNI152NLin2009cAsym_mode-image_xfm.h5"
    bridge.write_bytes(b"")
    run = _find(fmriprep, template_transform=str(bridge))["01"][0]
    assert run.template_xfms == [
        str(bridge),
        str(
            fmriprep
            / "sub-01"
            / "anat"
            / "sub-01_from-T1w_to-MNI152NLin2009cAsym_mode-image_xfm.h5"
        ),
    ]


def test_every_problem_is_reported_at_once(tmp_path):
    fmriprep = write_fmriprep_tree(tmp_path / "bids", subjects={"01": [None], "02": [None]})
    func1, func2 = (fmriprep / f"sub-0{s}" / "func" for s in (1, 2))
    # an echo time as text, one in ms, a missing transform, a missing mask, a header TR
    # that contradicts the sidecar, an unknown subject asked for
    sidecar = func1 / "sub-01_task-rest_run-1_echo-2_desc-preproc_bold.json"
    content = json.loads(sidecar.read_text())
    sidecar.write_text(json.dumps({**content, "EchoTime": "32ms"}))
    sidecar = func1 / "sub-01_task-rest_run-2_echo-3_desc-preproc_bold.json"
    sidecar.write_text(json.dumps({**json.loads(sidecar.read_text()), "EchoTime": 62.8}))
    (func2 / "sub-02_task-rest_run-1_from-boldref_to-T1w_mode-image_desc-coreg_xfm.txt").unlink()
    (func2 / "sub-02_task-rest_run-2_desc-brain_mask.nii.gz").unlink()
    echo = func2 / "sub-02_task-rest_run-2_echo-1_desc-preproc_bold.nii.gz"
    img = nib.load(echo)
    img.header.set_zooms(img.header.get_zooms()[:3] + (3.0,))
    nib.Nifti1Image(np.asarray(img.dataobj), img.affine, img.header).to_filename(echo)
    message = _problems(fmriprep, subjects=("01", "02", "07"))
    lines = message.splitlines()
    assert lines[0].startswith("6 problem(s) with the inputs under")
    assert "input.subjects lists ['sub-07']" in message
    assert "run-1_echo-2_desc-preproc_bold.json: EchoTime is '32ms', not a number" in message
    assert "run-2_echo-3_desc-preproc_bold.json: EchoTime is 62.8" in message
    assert "looks like milliseconds: 0.0628 s" in message
    assert "sub-02 run-1: no func/..._from-boldref_to-T1w_mode-image_desc-coreg_xfm.txt" in message
    assert "brain mask of sub-02 run-2" in message and "found 0" in message
    assert "header's TR (pixdim[4]) is 3 s but the sidecar's RepetitionTime is 1.5 s" in message


def test_missing_anat_transform(tmp_path):
    fmriprep = write_fmriprep_tree(tmp_path / "bids", runs=("1",), anat_templates=())
    assert "no anat/sub-01_from-T1w_to-MNI152NLin6Asym_mode-image_xfm.h5" in _problems(fmriprep)


def test_echo_files_with_multi_echo_off(tmp_path):
    fmriprep = write_fmriprep_tree(tmp_path / "bids", runs=("1",))
    assert "input.multi_echo is false but the run has 3 echo files" in _problems(
        fmriprep, multi_echo=False
    )


def test_nothing_in_the_space_lists_what_is_there(tmp_path):
    fmriprep = write_fmriprep_tree(tmp_path / "bids", runs=("1",))
    message = _problems(fmriprep, bold_space="template", space="MNI152NLin2009cAsym")
    assert "sub-01 has 'rest' BOLD files only in ['MNI152NLin6Asym', 'native']" in message
    assert "none space-MNI152NLin2009cAsym with desc-preproc" in message
    shutil.rmtree(fmriprep / "sub-01")
    assert "no 'rest' BOLD files with desc-preproc in fMRIPrep's native" in _problems(fmriprep)


def test_not_a_bids_folder_names_the_config_key(tmp_path):
    with pytest.raises(bids.BIDSInputError, match="input.bids_dir"):
        bids.load_layout(tmp_path, tmp_path / "derivatives" / "fmriprep")
    with pytest.raises(bids.BIDSInputError, match="input.bids_dir"):
        bids.discover_runs(tmp_path, tmp_path / "fmriprep", cache_dir=tmp_path / "cache")


# ---------------------------------------------------------------------- sidecars and cache


def test_sidecar_metadata_follows_the_inheritance_principle(tmp_path):
    fmriprep = write_fmriprep_tree(tmp_path / "bids")
    func = fmriprep / "sub-01" / "func"
    for sidecar_path in func.glob("*_echo-*_bold.json"):
        sidecar = json.loads(sidecar_path.read_text())
        del sidecar["RepetitionTime"]
        sidecar_path.write_text(json.dumps(sidecar))
    (fmriprep / "task-rest_bold.json").write_text(json.dumps({"RepetitionTime": 1.5}))
    assert {run.repetition_time_s for run in _find(fmriprep)["01"]} == {1.5}
    # nearer and more specific sidecars win; header TRs of 1.5 s then disagree
    (func / "sub-01_task-rest_run-2_bold.json").write_text(json.dumps({"RepetitionTime": 1.2}))
    assert "sidecar's RepetitionTime is 1.2 s" in _problems(fmriprep)
    # a confounds sidecar never applies to a BOLD file
    (func / "sub-01_task-rest_run-2_bold.json").unlink()
    (fmriprep / "task-rest_desc-confounds_timeseries.json").write_text(
        json.dumps({"RepetitionTime": 9.0})
    )
    assert {run.repetition_time_s for run in _find(fmriprep)["01"]} == {1.5}


def test_discover_runs_reuses_its_cache_until_the_dataset_changes(tmp_path, monkeypatch):
    fmriprep = write_fmriprep_tree(tmp_path / "bids", subjects={"01": [None], "02": [None]})
    root, cache = fmriprep.parent.parent, tmp_path / "cache"

    def discover(**changes):
        return bids.discover_runs(root, fmriprep, bids.Query(), cache_dir=cache, **changes)

    first = discover()
    assert first == _find(fmriprep) and sorted(first) == ["01", "02"]
    real_load_layout = bids.load_layout
    monkeypatch.setattr(bids, "load_layout", lambda *a, **k: pytest.fail("cache not used"))
    assert discover() == first
    monkeypatch.setattr(bids, "load_layout", real_load_layout)
    assert sorted(discover(subjects=("02",))) == ["02"]
    # a changed sidecar (same size) is seen
    sidecar = fmriprep / "sub-01" / "func" / "sub-01_task-rest_run-1_echo-1_desc-preproc_bold.json"
    sidecar.write_text(sidecar.read_text().replace("0.0142", "0.0141"))
    stat = sidecar.stat()
    os.utime(sidecar, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert discover()["01"][0].echo_times_s[0] == 0.0141
    # so is a changed anatomical transform
    (fmriprep / "sub-02" / "anat" / f"sub-02_from-T1w_to-{SPACE}_mode-image_xfm.h5").unlink()
    with pytest.raises(bids.BIDSInputError, match="sub-02: no anat/"):
        discover()
    shutil.rmtree(fmriprep / "sub-02")
    assert sorted(discover()) == ["01"]
    assert len(list(cache.glob("runs-*.json"))) == 1  # stale entries are removed


class _CountingLayout:
    def __init__(self, layout):
        self.layout, self.queries = layout, 0

    def get(self, *args, **kwargs):
        self.queries += 1
        return self.layout.get(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.layout, name)


def test_a_fixed_number_of_pybids_queries_whatever_the_cohort(tmp_path):
    """No query per run or per file: their cost grows with the index."""
    for subjects in (1, 4):
        fmriprep = write_fmriprep_tree(
            tmp_path / f"bids{subjects}", subjects={f"{s:02d}": [None] for s in range(subjects)}
        )
        layout = _CountingLayout(bids.load_layout(fmriprep.parent.parent, fmriprep, bids.Query()))
        runs = bids.find_runs(layout, bids.Query())
        assert sum(len(r) for r in runs.values()) == 2 * subjects
        assert layout.queries == 6


# ------------------------------------------------------------------------- the demo dataset


def test_demo_dataset_is_read_by_the_same_discovery(tiny_dataset):
    fmriprep = tiny_dataset / "derivatives" / "fmriprep"
    runs = _find(fmriprep)
    assert sorted(runs) == [f"{i:02d}" for i in range(1, 11)]
    for subject_runs in runs.values():
        assert [r.run for r in subject_runs] == ["1", "2"]
        for run in subject_runs:
            assert run.echo_times_s == [0.014, 0.032, 0.05] and run.n_dummy == 4
            assert len(run.resample_xfms) == 2
    table = bids.inventory(runs, relative_to=fmriprep)
    assert len(table) == 20 and (table["n_echoes"] == 3).all()
    assert set(table["echo_times_ms"]) == {"14,32,50"}
    assert table.iloc[0]["transforms"] == (
        "sub-01/anat/sub-01_from-T1w_to-MNI152NLin6Asym_mode-image_xfm.h5,"
        "sub-01/func/sub-01_task-rest_run-1_from-boldref_to-T1w_mode-image_desc-coreg_xfm.txt"
    )


def test_demo_names_match_fmriprep_names(tiny_dataset, tmp_path):
    """Every file the demo writes under derivatives/fmriprep has a counterpart (same name
    pattern) in the tree written from fMRIPrep's documentation."""
    reference = write_fmriprep_tree(tmp_path / "bids", runs=("1", "2"))

    def pattern(path: Path) -> str:
        entities, suffix, extension = bids.parse_bids_name(path.name)
        keys = [k if k not in ("sub", "run", "echo", "ses") else k for k in entities]
        labels = {k: v for k, v in entities.items() if k in ("desc", "from", "to", "mode", "space")}
        return f"{path.parent.name}/{keys}/{sorted(labels.items())}/{suffix}{extension}"

    fmriprep_names = {pattern(p) for p in reference.rglob("sub-*") if p.is_file()}
    demo = tiny_dataset / "derivatives" / "fmriprep"
    for path in demo.rglob("sub-*"):
        if path.is_file():
            assert pattern(path) in fmriprep_names, path.name


def test_demo_echo_sidecars_and_headers(tiny_dataset):
    func = tiny_dataset / "derivatives" / "fmriprep" / "sub-01" / "func"
    echo_times = []
    for echo in (1, 2, 3):
        stem = f"sub-01_task-rest_run-1_echo-{echo}_desc-preproc_bold"
        sidecar = json.loads((func / f"{stem}.json").read_text())
        echo_times.append(sidecar["EchoTime"])
        assert sidecar["RepetitionTime"] == 2.0
        img = nib.load(func / f"{stem}.nii.gz")
        assert img.shape[3] == 40
        assert img.header.get_zooms()[3] == pytest.approx(2.0)
        assert img.header.get_xyzt_units() == ("mm", "sec")
        assert int(img.header["sform_code"]) == 1  # scanner space
        # an oblique grid: the voxel axes are not the world axes
        assert not np.allclose(img.affine[:3, :3], np.diag(np.diag(img.affine[:3, :3])))
    assert echo_times == sorted(echo_times) and max(echo_times) < 0.1  # seconds


def test_demo_confounds_have_fmriprep_columns(tiny_dataset):
    """The demo's confounds table has fMRIPrep's columns (those of the real fMRIPrep 21
    table nilearn ships), with fMRIPrep's n/a in first-row derivatives."""
    from fmriprep_tree import nilearn_confounds

    real = pd.read_csv(nilearn_confounds()[0], sep="\t", nrows=1)
    table = pd.read_csv(
        tiny_dataset
        / "derivatives"
        / "fmriprep"
        / "sub-01"
        / "func"
        / "sub-01_task-rest_run-1_desc-confounds_timeseries.tsv",
        sep="\t",
        na_values=["n/a"],
    )

    def families(columns):
        return {c.rstrip("0123456789") for c in columns}

    # fMRIPrep's cosines are the DCT regressors slower than 1/128 Hz: none in 36 steady
    # volumes at TR 2 s (72 s)
    assert families(real.columns) - {"cosine"} <= families(table.columns)
    assert not [c for c in table if c.startswith("cosine")]
    assert np.isnan(table.loc[0, "trans_x_derivative1"]) and np.isnan(
        table.loc[0, "framewise_displacement"]
    )
    np.testing.assert_allclose(
        table["trans_x_derivative1"].iloc[1:], np.diff(table["trans_x"]), rtol=1e-6, atol=1e-9
    )
    assert [c for c in table if c.startswith("non_steady")] == [
        f"non_steady_state_outlier{k:02d}" for k in range(4)
    ]
    assert (
        (table.loc[:3, [c for c in table if c.startswith(("a_comp_cor", "cosine"))]] == 0)
        .all()
        .all()
    )
    sidecar = json.loads(
        (
            tiny_dataset
            / "derivatives"
            / "fmriprep"
            / "sub-01"
            / "func"
            / "sub-01_task-rest_run-1_desc-confounds_timeseries.json"
        ).read_text()
    )
    assert sidecar["a_comp_cor_00"]["Mask"] == "combined" and sidecar["a_comp_cor_00"]["Retained"]


def test_demo_planted_targets_in_both_spaces(tiny_dataset):
    from tmstarget import native

    planted = pd.read_csv(
        tiny_dataset / "derivatives" / "simulation" / "planted_targets.tsv", sep="\t"
    )
    fmriprep = tiny_dataset / "derivatives" / "fmriprep"
    for row in planted.itertuples():
        xfm = (
            fmriprep
            / row.participant_id
            / "anat"
            / f"{row.participant_id}_from-T1w_to-{SPACE}_mode-image_xfm.h5"
        )
        np.testing.assert_allclose(
            native.mni_to_native([row.x_mm, row.y_mm, row.z_mm], xfm)[0],
            [row.native_x_mm, row.native_y_mm, row.native_z_mm],
        )


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


# ---------------------------------------------------------------------------------- names


def test_bids_name_orders_entities_and_rejects_bad_labels():
    name = bids.bids_name("bold", ".nii.gz", desc="preproc", echo=2, sub="01", task="rest")
    assert name == "sub-01_task-rest_echo-2_desc-preproc_bold.nii.gz"
    with pytest.raises(ValueError, match="alphanumeric"):
        bids.bids_name("bold", ".nii.gz", sub="01_x")


def test_method_names_map_to_alphanumeric_labels():
    assert bids.bids_label("circuit_searchlight") == "circuitsearchlight"
    assert bids.bids_label("sgacc_classic") == "sgaccclassic"
    assert bids.bids_label("beam_f3") == "beamf3"
    assert bids.bids_label("brain") == "brain"
    with pytest.raises(ValueError, match="no letters or digits"):
        bids.bids_label("_-")
    # the error names the entity and the value, and how pybids would read it
    with pytest.raises(ValueError, match=r"'desc': label 'circuit_searchlight' .* desc='circuit'"):
        bids.bids_name("stat", ".nii.gz", sub="01", desc="circuit_searchlight")
    with pytest.raises(ValueError, match="suffix 'desc-targets'"):
        bids.bids_name("desc-targets", ".tsv", sub="01")


def test_bids_name_builds_output_patterns():
    """Snakemake wildcards stand for labels; ``source`` puts a source file's entities (or a
    wildcard for them) first, as the derivatives specification names files."""
    assert (
        bids.bids_name("stat", ".nii.gz", sub="{subject}", space="MNI152NLin6Asym", desc="x")
        == "sub-{subject}_space-MNI152NLin6Asym_desc-x_stat.nii.gz"
    )
    assert (
        bids.bids_name("mask", ".nii.gz", source="sub-{subject}_{run_key}", space="T", desc="brain")
        == "sub-{subject}_{run_key}_space-T_desc-brain_mask.nii.gz"
    )
    assert (
        bids.bids_name("probseg", ".nii.gz", sub="01", desc="bootstrap", label="target", space="T")
        == "sub-01_space-T_label-target_desc-bootstrap_probseg.nii.gz"
    )
    with pytest.raises(ValueError, match="both in source"):
        bids.bids_name("bold", ".nii.gz", source="sub-01_task-rest", task="rest")
    with pytest.raises(ValueError, match="not key-label pairs"):
        bids.bids_name("bold", ".nii.gz", source="sub-01_task-re_st")


def test_dataset_description_names_its_sources(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = Path("results/preprocess/dataset_description.json")
    bids.write_dataset_description(path, "x", sources=["results/demo/bids/derivatives/fmriprep"])
    content = json.loads(path.read_text())
    assert content["SourceDatasets"] == [{"URL": "file://../demo/bids/derivatives/fmriprep"}]
    assert content["GeneratedBy"][0]["Name"] == "tmstarget"
    assert bids.source_url("/data/fmriprep", "results/preprocess") == "file:///data/fmriprep"
    with pytest.raises(ValueError, match="must be named dataset_description.json"):
        bids.write_dataset_description(Path("results/preprocess"), "x")


def test_parse_bids_name_inverts_bids_name():
    name = bids.bids_name("bold", ".nii.gz", sub="01", ses="2", task="rest", run=3, echo=1)
    assert bids.parse_bids_name(f"/some/folder/{name}") == (
        {"sub": "01", "ses": "2", "task": "rest", "run": "3", "echo": "1"},
        "bold",
        ".nii.gz",
    )
    assert bids.parse_bids_name("task-rest_bold.json") == ({"task": "rest"}, "bold", ".json")


# ------------------------------------------------------------------------ BIDS validator


def _validator_errors(folder: Path) -> list[tuple[str, str]]:
    """(code, file) of every error the BIDS validator (bids-validator-deno) reports."""
    import subprocess

    result = subprocess.run(
        ["bids-validator-deno", str(folder), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    issues = json.loads(result.stdout)["issues"]["issues"]
    return sorted({(i["code"], i.get("location", "")) for i in issues if i["severity"] == "error"})


def test_demo_dataset_passes_the_bids_validator(tiny_dataset):
    """The raw dataset and each derivatives folder, validated as the validator reads them
    (it applies a derivatives folder's .bidsignore only when validating that folder).
    Known limitations, not errors of the dataset (README, "The demo cohort"):

    - the validator treats participant_id as the only index of phenotype tables, so the
      long MADRS table (one row per visit, session_id) and the adverse-event table (one
      row per event) are "not unique" (bids-standard/legacy-validator#1471: the
      specification does not forbid repeated rows);
    - fMRIPrep's own .bidsignore hides its confounds tables but not their JSON sidecars.
    """
    raw = _validator_errors(tiny_dataset)
    assert {code for code, _ in raw} <= {"TSV_INDEX_VALUE_NOT_UNIQUE"}, raw
    assert {location for _, location in raw} <= {
        "/phenotype/madrs.tsv",
        "/phenotype/adverse_events.tsv",
    }, raw
    fmriprep = _validator_errors(tiny_dataset / "derivatives" / "fmriprep")
    assert fmriprep and all(loc.endswith("_desc-confounds_timeseries.json") for _, loc in fmriprep)
    assert {code for code, _ in fmriprep} <= {"NOT_INCLUDED", "SIDECAR_WITHOUT_DATAFILE"}
    assert _validator_errors(tiny_dataset / "derivatives" / "simulation") == []
