"""One source of defaults: every settings class of the package holds the schema's
defaults (config/schema.yaml), key by key, and has exactly the schema's keys (deliberate
exceptions listed here); one from_config names an unknown key."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from importlib import resources

import pytest
import yaml
from conftest import REPO

from tmstarget import bids, checks, denoise, power, reliability, runprep, settings, targeting
from tmstarget.outcomes import OutcomeParams
from tmstarget.stimulation import TargetingSettings
from tmstarget.uncertainty import BootstrapSettings

SCHEMA_FILE = REPO / "config" / "schema.yaml"

# class, its config section, and the fields that are not keys of that section (why).
SETTINGS_CLASSES = [
    (OutcomeParams, "outcomes", {}),
    (reliability.ReliabilityParams, "reliability", {}),
    (
        power.PlanningParams,
        "planning",
        # the outcome analysis keys the planner simulates (outcomes.*)
        {key: "outcomes" for key in power.OUTCOME_KEYS},
    ),
    (power.Scenario, "planning.scenario_defaults", {"name": None, "label": None}),
    (TargetingSettings, "targets", {}),
    (BootstrapSettings, "targets.bootstrap", {}),
    (denoise.TedanaSettings, "preprocess.tedana", {}),
    (denoise.CleaningSettings, "preprocess", {}),
]
# Keys of a section that a class deliberately lacks (another class or job reads them).
SECTION_KEYS_NOT_IN_CLASS = {
    "planning.scenario_defaults": set(),
    # preprocess: tedana (TedanaSettings), resample (prepare_run), qc_thresholds (the QC
    # verdict, judged by summarise_qc and each report), denoised_input_desc (discovery)
    "preprocess": {"tedana", "resample", "qc_thresholds", "denoised_input_desc"},
}


def _plain(value):
    """Tuples as lists and mappings as dicts, all the way down (the schema's YAML forms)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    return value


def _schema_default(section: str, key: str):
    spec = settings.section_schema(section)["properties"][key]
    default = spec["default"]
    if isinstance(default, dict) and "properties" in spec:
        # a section of its own: its keys' defaults filled in (as validation does)
        nested = settings.defaults(f"{section}.{key}")
        return {**nested, **default}
    return default


@pytest.mark.parametrize(
    ("cls", "section", "elsewhere"), SETTINGS_CLASSES, ids=lambda x: getattr(x, "__name__", None)
)
def test_class_defaults_are_the_schemas(cls, section, elsewhere):
    instance = cls()
    for field in dataclasses.fields(cls):
        if field.name in elsewhere:
            other = elsewhere[field.name]
            if other is not None:
                expected = _schema_default(other, field.name)
                assert _plain(getattr(instance, field.name)) == expected, field.name
            continue
        expected = _schema_default(section, field.name)
        assert _plain(getattr(instance, field.name)) == expected, f"{section}.{field.name}"


@pytest.mark.parametrize(
    ("cls", "section", "elsewhere"), SETTINGS_CLASSES, ids=lambda x: getattr(x, "__name__", None)
)
def test_class_fields_are_the_schemas_keys(cls, section, elsewhere):
    names = {field.name for field in dataclasses.fields(cls)} - set(elsewhere)
    keys = set(settings.keys(section)) - SECTION_KEYS_NOT_IN_CLASS.get(section, set())
    assert names - keys == set(), f"{cls.__name__} fields the schema's {section} lacks"
    assert keys - names == set(), f"{section} keys {cls.__name__} lacks"


def test_planning_scenario_defaults_are_the_schemas():
    expected = settings.defaults("planning.scenario_defaults")
    assert dict(power.PlanningParams().scenario_defaults) == expected
    assert _plain(power.DEFAULT_SCENARIOS) == settings.defaults("planning")["scenarios"]


def test_check_settings_config_fields_are_the_schemas():
    """CheckSettings maps keys of several sections; those fields hold their defaults, and
    every other field is derived (listed here)."""
    derived = {"bids_dir", "methods", "denoised_input", "trial", "clinical_stage", "grid_voxel_mm"}
    names = {field.name for field in dataclasses.fields(checks.CheckSettings)}
    assert names == set(checks.CONFIG_KEYS) | derived
    instance = checks.CheckSettings(bids_dir="bids")
    for name, dotted in checks.CONFIG_KEYS.items():
        section, _, key = dotted.rpartition(".")
        assert _plain(getattr(instance, name)) == _schema_default(section, key), dotted
    assert list(instance.methods) == [*settings.defaults("targets")["methods"], "beam_f3"]
    # a config without a key gets the schema's default for it
    built = checks.CheckSettings.from_config({"input": {"bids_dir": "bids"}}, 2.0)
    assert built == instance


def test_bids_query_defaults_are_the_schemas():
    """bids.Query maps keys of input (and preprocess.denoised_input_desc); subjects are
    held sorted as a tuple."""
    keys = {field.name: f"input.{field.name}" for field in dataclasses.fields(bids.Query)}
    keys["denoised_desc"] = "preprocess.denoised_input_desc"
    query = bids.Query()
    for name, dotted in keys.items():
        section, _, key = dotted.rpartition(".")
        assert getattr(query, name) == _schema_default(section, key), dotted
    # the input keys discovery does not read (they are the rules')
    assert set(settings.keys("input")) - {k.split(".")[1] for k in keys.values()} == {
        "bids_dir",
        "fmriprep_dir",
        "exclude_subjects",
    }


def test_module_defaults_are_the_schemas():
    assert denoise.QC_THRESHOLDS == settings.defaults("preprocess.qc_thresholds")
    assert runprep.TEDANA_DEFAULTS == settings.defaults("preprocess.tedana")
    targets = settings.defaults("targets")
    assert list(targeting.DEFAULT_CONE_RADII_MM) == targets["cone_radii_mm"]
    assert list(targeting.DEFAULT_CONE_WEIGHTS) == targets["cone_weights"]
    defaults = settings.defaults("reliability")
    assert list(reliability.DEFAULT_MINUTES_GRID) == defaults["minutes_grid"]
    assert reliability.DEFAULT_MIN_TIMEPOINTS == defaults["min_timepoints"]
    assert reliability.MANUSCRIPT_WITHIN_MM == defaults["manuscript_within_mm"]
    assert reliability.MANUSCRIPT_BETWEEN_MM == defaults["manuscript_between_mm"]
    assert list(power.DEFAULT_N_PER_ARM) == settings.defaults("planning")["n_per_arm"]


def test_cleaning_options_are_the_settings_keys():
    """The rule's params are exactly the keys cleaning reads (changing a QC threshold or
    a tedana option reruns no cleaning)."""
    shipped = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    options = denoise.cleaning_options(shipped["preprocess"])
    assert list(options) == list(denoise.CleaningSettings.keys())
    assert denoise.CleaningSettings.from_config(options) == denoise.CleaningSettings()


@pytest.mark.parametrize(
    ("build", "section"),
    [
        (OutcomeParams.from_config, "outcomes"),
        (reliability.ReliabilityParams.from_config, "reliability"),
        (power.PlanningParams.from_config, "planning"),
        (TargetingSettings.from_config, "targets"),
        (BootstrapSettings.from_config, "targets.bootstrap"),
        (denoise.CleaningSettings.from_config, "preprocess"),
        (denoise.TedanaSettings.from_config, "preprocess.tedana"),
    ],
)
def test_unknown_key_is_named(build, section):
    with pytest.raises(ValueError, match=rf"^{section}: unknown key\(s\) bogus_key; known keys"):
        build({"bogus_key": 1})


def test_from_config_fills_defaults_and_keeps_values():
    built = settings.from_config(denoise.TedanaSettings, "preprocess.tedana", {"seed": 7})
    assert built == denoise.TedanaSettings(seed=7)
    assert settings.from_config(denoise.TedanaSettings, "x", None) == denoise.TedanaSettings()


def test_mutable_defaults_are_not_shared():
    first, second = OutcomeParams(), OutcomeParams()
    first.arm_names["connectivity"] = "changed"
    assert second.arm_names["connectivity"] == "Connectivity"


def test_packaged_schema_is_the_workflows():
    """The package reads the schema the workflow validates against (a link to it in the
    source tree, a copy in a wheel: pyproject's package-data ships data/*)."""
    packaged = resources.files("tmstarget").joinpath(settings.SCHEMA_RESOURCE)
    assert packaged.read_text() == SCHEMA_FILE.read_text()
    assert settings.schema() == yaml.safe_load(SCHEMA_FILE.read_text())
    pyproject = (REPO / "pyproject.toml").read_text()
    assert 'tmstarget = ["data/*"]' in pyproject


def test_unknown_section_is_named():
    with pytest.raises(KeyError, match="no section 'outcomes.nothing'"):
        settings.defaults("outcomes.nothing")


def test_config_value_falls_back_to_the_schema():
    config = {"preprocess": {"nuisance": "24p"}, "mode": "clinic"}
    assert settings.config_value(config, "preprocess.nuisance") == "24p"
    assert settings.config_value(config, "preprocess.fwhm_mm") == 6
    assert settings.config_value(config, "mode") == "clinic"
    assert settings.config_value({}, "mode") == "trial"
    assert settings.config_value({}, "targets.bootstrap.n_resamples") == 500
