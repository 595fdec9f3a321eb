"""The configuration is the interface: every key defaulted in the schema, and a bad value
stops Snakemake before any job with a message that names the key."""

import copy
import json
import re

import pytest
import yaml
from conftest import REPO, run_snakemake
from snakemake.utils import validate

from tmstarget.config import ConfigError, check_config

SCHEMA = str(REPO / "config" / "schema.yaml")


def _defaults() -> dict:
    config: dict = {}
    validate(config, SCHEMA, set_default=True)
    return config


def test_config_file_equals_schema_defaults():
    """config/config.yaml shows the defaults; a user's partial config file gets the rest
    from the schema, so the two must agree."""
    shipped = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    validate(shipped, SCHEMA, set_default=True)
    assert shipped == _defaults()


def test_full_scale_config_is_valid():
    full = yaml.safe_load((REPO / "config" / "full_scale.yaml").read_text())
    validate(full, SCHEMA, set_default=True)
    assert full["demo"]["imaging"]["voxel_size_mm"] == 2
    imaging = full["demo"]["imaging"]
    minutes = imaging["n_runs"] * (imaging["n_volumes"] - 4) * imaging["repetition_time_s"] / 60
    assert 40 <= minutes <= 42 and len(imaging["echo_times_s"]) == 4


def _write(tmp_path, content: dict):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(content))
    return path


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ({"demo": {"seed": "abc"}}, r"On instance\['demo'\]\['seed'\]"),
        ({"demo": {"imaging": {"n_runs": 1.5}}}, r"\['imaging'\]\['n_runs'\]"),
        (
            {"trial": {"arm_labels": {"connectivity": "a", "sham": "b"}}},
            r"'sham' was unexpected[\s\S]*arm_labels",
        ),
        ({"demo": {"n_per_arms": 3}}, "'n_per_arms' was unexpected"),
    ],
)
def test_schema_errors_stop_before_any_job(tmp_path, content, expected):
    result = run_snakemake(tmp_path, "-n", configfiles=[_write(tmp_path, content)])
    assert result.returncode != 0
    assert re.search(expected, result.output)
    assert not (tmp_path / "results").exists()


def test_missing_input_path_names_the_key(tmp_path):
    content = {"demo": {"enabled": False}, "input": {"bids_dir": str(tmp_path / "nowhere")}}
    result = run_snakemake(tmp_path, "-n", configfiles=[_write(tmp_path, content)])
    assert result.returncode != 0
    assert "input.bids_dir" in result.output and "nowhere" in result.output
    assert not (tmp_path / "results").exists()


def _checked(**changes) -> None:
    config = copy.deepcopy(_defaults())
    for dotted, value in changes.items():
        *parents, leaf = dotted.split("__")
        node = config
        for key in parents:
            node = node[key]
        node[leaf] = value
    check_config(config)


def test_check_config_accepts_defaults():
    _checked()


def test_same_label_for_both_arms():
    with pytest.raises(ConfigError, match="trial.arm_labels"):
        _checked(trial__arm_labels={"connectivity": "active", "scalp": "active"})


def test_echo_times_must_increase():
    with pytest.raises(ConfigError, match="demo.imaging.echo_times_s"):
        _checked(demo__imaging__echo_times_s=[0.03, 0.014])


def test_inverted_range():
    with pytest.raises(ConfigError, match="demo.clinical.cohens_d_range"):
        _checked(demo__clinical__cohens_d_range=[0.9, 0.7])


def test_missing_fmriprep_folder_names_the_key(tmp_path):
    (tmp_path / "dataset_description.json").write_text(json.dumps({"Name": "real trial"}))
    with pytest.raises(ConfigError, match="input.bids_dir: no fMRIPrep derivatives"):
        _checked(demo__enabled=False, input__bids_dir=str(tmp_path))
    with pytest.raises(ConfigError, match="input.fmriprep_dir"):
        _checked(
            demo__enabled=False,
            input__bids_dir=str(tmp_path),
            input__fmriprep_dir=str(tmp_path / "fmriprep"),
        )


def test_demo_never_overwrites_a_real_dataset(tmp_path):
    (tmp_path / "dataset_description.json").write_text(json.dumps({"Name": "real trial"}))
    with pytest.raises(ConfigError, match="would overwrite it"):
        _checked(input__bids_dir=str(tmp_path))


def test_demo_layout_and_input_mode_must_agree():
    with pytest.raises(ConfigError, match="set input.bold_space: template"):
        _checked(demo__layout="template")
    _checked(demo__layout="template", input__bold_space="template")


def test_template_transform_is_checked(tmp_path):
    with pytest.raises(ConfigError, match="input.template_transform: .* does not exist"):
        _checked(input__template_transform=str(tmp_path / "missing.h5"))
    unnamed = tmp_path / "mni2009c_to_6asym.h5"
    unnamed.write_bytes(b"")
    with pytest.raises(ConfigError, match="must say which template it starts from"):
        _checked(input__template_transform=str(unnamed))
    named = tmp_path / "tpl-MNI152NLin6Asym_from-MNI152NLin2009cAsym_mode-image_xfm.h5"
    named.write_bytes(b"")
    _checked(input__template_transform=str(named))


def test_analysis_grid_follows_the_demo_or_defaults_to_2mm():
    from tmstarget.config import analysis_voxel_mm

    config = copy.deepcopy(_defaults())
    assert analysis_voxel_mm(config) == config["demo"]["imaging"]["voxel_size_mm"] == 6
    config["demo"]["enabled"] = False
    assert analysis_voxel_mm(config) == 2.0
    config["preprocess"]["resample"]["voxel_size_mm"] = 3
    assert analysis_voxel_mm(config) == 3.0
