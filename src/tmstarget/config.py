"""Checks of the workflow configuration that a JSON Schema cannot express.

``config/schema.yaml`` types every key; :func:`check_config` adds the checks across keys
and against the file system. Both run before any job; each message names the key.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

DEMO_DATASET_NAME = "Connectivity-guided TMS demo trial (simulated)"


class ConfigError(ValueError):
    """A configuration value is unusable; the message names the key and the fix."""


def fmriprep_dir(config: dict) -> str:
    """The fMRIPrep derivatives folder: ``input.fmriprep_dir`` or its default."""
    configured = config["input"].get("fmriprep_dir")
    if configured:
        return str(configured)
    return str(Path(config["input"]["bids_dir"]) / "derivatives" / "fmriprep")


# The analysis grid without a configured voxel size: the trial's 2 mm (MNI152NLin6Asym
# res-2, the circuit map's grid).
DEFAULT_GRID_MM = 2.0


def analysis_voxel_mm(config: dict) -> float:
    """Voxel size (mm) of the analysis grid: ``preprocess.resample.voxel_size_mm``, else
    the demo's MNI grid when the demo is on, else :data:`DEFAULT_GRID_MM`."""
    configured = config["preprocess"]["resample"]["voxel_size_mm"]
    if configured is not None:
        return float(configured)
    if config["demo"]["enabled"]:
        return float(config["demo"]["imaging"]["voxel_size_mm"])
    return DEFAULT_GRID_MM


def check_config(config: dict) -> None:
    """Raise :class:`ConfigError` for values that pass the schema but cannot work."""
    labels = config["trial"]["arm_labels"]
    if labels["connectivity"] == labels["scalp"]:
        raise ConfigError(
            "trial.arm_labels: connectivity and scalp both use the label "
            f"{labels['scalp']!r}; give each arm the label used in participants.tsv"
        )
    demo = config["demo"]
    for key in ("cohens_d_range", "mann_whitney_p_range"):
        low, high = demo["clinical"][key]
        if low > high:
            raise ConfigError(f"demo.clinical.{key}: lower bound {low} exceeds upper {high}")
    if "outcomes" in config:
        from tmstarget.outcomes import OutcomeParams

        try:
            OutcomeParams.from_config(config["outcomes"])
        except ValueError as error:  # the message names the outcomes.<key>
            raise ConfigError(str(error)) from error
    if "targets" in config:
        _check_targets(config["targets"])
    if "reliability" in config:
        from tmstarget.reliability import ReliabilityParams

        try:
            ReliabilityParams.from_config(config["reliability"])
        except ValueError as error:  # the message names the reliability.<key>
            raise ConfigError(str(error)) from error
    if "planning" in config:
        _check_planning(config)
    if demo["enabled"] and demo["layout"] != config["input"]["bold_space"]:
        raise ConfigError(
            f"demo.layout is {demo['layout']!r} but input.bold_space is "
            f"{config['input']['bold_space']!r}: the demo writes its runs "
            + ("in each run's own space" if demo["layout"] == "native" else "in the template")
            + f"; set input.bold_space: {demo['layout']}"
        )
    _check_input(config)
    echo_times = np.asarray(demo["imaging"]["echo_times_s"])
    if np.any(np.diff(echo_times) <= 0):
        raise ConfigError(
            f"demo.imaging.echo_times_s must increase strictly, got {echo_times.tolist()}"
        )

    bids_dir = Path(config["input"]["bids_dir"])
    description = bids_dir / "dataset_description.json"
    if demo["enabled"]:
        # Never simulate over somebody's real data.
        if description.is_file() and _dataset_name(description) != DEMO_DATASET_NAME:
            raise ConfigError(
                f"input.bids_dir ({bids_dir}) holds a dataset that is not the demo cohort, "
                "and demo.enabled is true, which would overwrite it; set demo.enabled: false "
                "to analyse it, or point input.bids_dir at a new folder for the demo"
            )
        return
    if not description.is_file():
        raise ConfigError(
            f"input.bids_dir: {bids_dir} is not a BIDS dataset (no dataset_description.json "
            "there); point it at the dataset's root folder, or set demo.enabled: true"
        )
    derivatives = Path(fmriprep_dir(config))
    if not (derivatives / "dataset_description.json").is_file():
        key = "input.fmriprep_dir" if config["input"].get("fmriprep_dir") else "input.bids_dir"
        raise ConfigError(
            f"{key}: no fMRIPrep derivatives at {derivatives} (no dataset_description.json); "
            "set input.fmriprep_dir to the folder fMRIPrep wrote"
        )


def _check_planning(config: dict) -> None:
    """The planning settings; with ``planning.enabled`` (the main run builds the stage)
    also the outcome analysis keys it simulates, which the rule checks otherwise."""
    from tmstarget.power import PlanningParams

    planning = config["planning"]
    outcomes = config.get("outcomes", {}) if planning.get("enabled") else {}
    try:
        PlanningParams.from_config(planning, outcomes)
    except ValueError as error:  # the message names the planning.<key> or outcomes.<key>
        raise ConfigError(str(error)) from error


def _check_input(config: dict) -> None:
    section = config["input"]
    path = section.get("template_transform")
    if path is None:
        return
    name = Path(path).name
    if not Path(path).is_file():
        raise ConfigError(
            f"input.template_transform: {path} does not exist; give the path of an ITK "
            "transform (.h5 or .txt) from your subjects' template to input.space"
        )
    if f"from-{section['space']}" in name or "_from-" not in f"_{name}":
        raise ConfigError(
            f"input.template_transform: the name {name} must say which template it starts "
            f"from (from-<template>, e.g. tpl-{section['space']}_from-MNI152NLin2009cAsym"
            "_mode-image_xfm.h5): the subjects' from-T1w_to-<template> transform is looked "
            "up by it"
        )


def _check_targets(targets: dict) -> None:
    if targets["connectivity_method"] not in targets["methods"]:
        raise ConfigError(
            f"targets.connectivity_method: {targets['connectivity_method']!r} is not among "
            f"targets.methods {targets['methods']}; add it there"
        )
    radii, weights = targets["cone_radii_mm"], targets["cone_weights"]
    if len(radii) != len(weights):
        raise ConfigError(
            f"targets.cone_weights: {len(weights)} weights for {len(radii)} cone_radii_mm; "
            "give one weight per radius"
        )
    if any(b <= a for a, b in zip(radii, radii[1:], strict=False)):
        raise ConfigError(f"targets.cone_radii_mm must increase, got {radii}")
    for key in ("circuit_map", "search_mask", "sgacc_seed"):
        path = targets.get(key)
        if path is not None and not Path(path).is_file():
            raise ConfigError(
                f"targets.{key}: {path} does not exist; give the path of a NIfTI file, or "
                "null for the default built from the published coordinates"
            )


def _dataset_name(description: Path) -> str | None:
    try:
        return json.loads(description.read_text()).get("Name")
    except (OSError, json.JSONDecodeError):
        return None
