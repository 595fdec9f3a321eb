"""Write the simulated demo cohort as a BIDS dataset with fMRIPrep-style derivatives.

Layout (``<root>`` is the config key ``input.bids_dir``)::

    <root>/dataset_description.json, README, participants.tsv/.json
    <root>/phenotype/{madrs,blinding,adverse_events}.tsv/.json
    <root>/derivatives/fmriprep/sub-XX/func/
        sub-XX_task-rest_run-N_echo-E_space-<tpl>_desc-preproc_bold.nii.gz/.json
        sub-XX_task-rest_run-N_space-<tpl>_desc-brain_mask.nii.gz
        sub-XX_task-rest_run-N_desc-confounds_timeseries.tsv/.json
    <root>/derivatives/simulation/planted_targets.tsv/.json
    <root>/derivatives/simulation/sub-XX/func/sub-XX_task-rest_run-N_desc-latent_timeseries.tsv

Each subject's images come from its own random stream (``[seed, subject number]``), so
a subject's data do not depend on how many others are simulated or in which order.
"""

from __future__ import annotations

import logging
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tmstarget import atlas, simulate
from tmstarget.bids import bids_name, write_dataset_description, write_json, write_tsv
from tmstarget.config import DEMO_DATASET_NAME

log = logging.getLogger(__name__)

SPACE = "MNI152NLin6Asym"
TASK = "rest"

PARTICIPANTS_DICTIONARY = {
    "participant_id": {"Description": "Participant label (sub-<label>)"},
    "arm": {
        "Description": "Randomised arm: how the stimulation target was chosen",
        "Levels": {
            "connectivity": "target from the participant's resting-state fMRI connectivity",
            "scalp": "Beam F3 target from head measurements",
        },
    },
    "age": {"Description": "Age at enrolment", "Units": "years"},
    "sex": {"Description": "Sex", "Levels": {"F": "female", "M": "male"}},
    "n_failed_treatments": {
        "Description": "Number of adequate antidepressant treatments without response "
        "in the current episode"
    },
    "nasion_inion_cm": {"Description": "Nasion-inion distance over the vertex", "Units": "cm"},
    "tragus_tragus_cm": {"Description": "Tragus-tragus distance over the vertex", "Units": "cm"},
    "head_circumference_cm": {"Description": "Head circumference", "Units": "cm"},
}
MADRS_DICTIONARY = {
    "participant_id": {"Description": "Participant label"},
    "session_id": {
        "Description": "Visit",
        "Levels": {
            "baseline": "before the first treatment day",
            **{f"day{d}": f"end of treatment day {d} (10 iTBS sessions)" for d in range(1, 6)},
            "eot": "end of treatment (the day after the last session)",
            "week1": "1 week after the end of treatment",
            "month1": "1 month after the end of treatment (primary endpoint)",
        },
    },
    "days_since_baseline": {"Description": "Days from the baseline visit", "Units": "days"},
    "madrs_total": {
        "Description": "Montgomery-Asberg Depression Rating Scale total score (0-60; "
        "higher is more depressed)"
    },
}
BLINDING_DICTIONARY = {
    "participant_id": {"Description": "Participant label"},
    "participant_guess": {
        "Description": "The participant's guess of their arm at the end of treatment",
        "Levels": {
            "connectivity": "guessed connectivity-guided",
            "scalp": "guessed scalp-based",
            simulate.DONT_KNOW: "does not know",
        },
    },
    "rater_guess": {
        "Description": "The blinded MADRS rater's guess of the participant's arm",
        "Levels": {
            "connectivity": "guessed connectivity-guided",
            "scalp": "guessed scalp-based",
            simulate.DONT_KNOW: "does not know",
        },
    },
}
ADVERSE_EVENTS_DICTIONARY = {
    "participant_id": {"Description": "Participant label (one row per event)"},
    "event_type": {
        "Description": "Adverse event (MedDRA-like preferred term)",
        "Levels": {name: name.replace("_", " ") for name in simulate.ADVERSE_EVENT_TYPES}
        | {"seizure": "seizure"},
    },
    "severity": {"Description": "Severity", "Levels": {"mild": "", "moderate": "", "severe": ""}},
    "serious": {
        "Description": "Serious adverse event (ICH E2A definition)",
        "Levels": {"yes": "", "no": ""},
    },
}
CONFOUNDS_DICTIONARY = {
    **{
        f"trans_{axis}": {"Description": f"Translation along {axis}", "Units": "mm"}
        for axis in "xyz"
    },
    **{f"rot_{axis}": {"Description": f"Rotation about {axis}", "Units": "rad"} for axis in "xyz"},
    "framewise_displacement": {
        "Description": "Framewise displacement (Power 2012; rotations on a 50 mm sphere)",
        "Units": "mm",
    },
    "global_signal": {"Description": "Mean signal within the brain mask"},
    "white_matter": {"Description": "Mean signal within white matter"},
    "csf": {"Description": "Mean signal within cerebrospinal fluid"},
}
LATENT_DICTIONARY = {
    "circuit": {
        "Description": "Planted circuit signal c(t) (unit variance): the DLPFC patch follows "
        "+c(t), the subgenual cingulate -c(t); one row per volume, dummy volumes included"
    },
    "global_signal": {"Description": "Planted global signal g(t) shared by grey matter"},
}
PLANTED_DICTIONARY = {
    "participant_id": {"Description": "Participant label"},
    "x_mm": {"Description": "Planted DLPFC patch centre, MNI x", "Units": "mm"},
    "y_mm": {"Description": "Planted DLPFC patch centre, MNI y", "Units": "mm"},
    "z_mm": {"Description": "Planted DLPFC patch centre, MNI z", "Units": "mm"},
    "i": {"Description": "Voxel index (first axis) on the simulation grid"},
    "j": {"Description": "Voxel index (second axis) on the simulation grid"},
    "k": {"Description": "Voxel index (third axis) on the simulation grid"},
}


@dataclass(frozen=True)
class DemoSpec:
    """Everything that defines the demo cohort (the config's ``demo`` section)."""

    seed: int
    clinical: simulate.ClinicalSpec
    imaging: simulate.ImagingSpec


def spec_from_config(demo: dict, arm_labels: dict[str, str]) -> DemoSpec:
    """Build a :class:`DemoSpec` from the validated ``demo`` config section."""
    clinical = demo["clinical"]
    imaging = demo["imaging"]
    return DemoSpec(
        seed=int(demo["seed"]),
        clinical=simulate.ClinicalSpec(
            n_per_arm=int(demo["n_per_arm"]),
            arm_labels=dict(arm_labels),
            median_reduction={k: float(v) for k, v in clinical["median_reduction"].items()},
            response_rate={k: float(v) for k, v in clinical["response_rate"].items()},
            cohens_d_range=tuple(clinical["cohens_d_range"]),
            mann_whitney_p_range=tuple(clinical["mann_whitney_p_range"]),
        ),
        imaging=simulate.ImagingSpec(
            voxel_size_mm=float(imaging["voxel_size_mm"]),
            n_runs=int(imaging["n_runs"]),
            n_volumes=int(imaging["n_volumes"]),
            repetition_time_s=float(imaging["repetition_time_s"]),
            echo_times_s=tuple(float(te) for te in imaging["echo_times_s"]),
            target_spread_mm=float(imaging["target_spread_mm"]),
            thermal_noise_sd=float(imaging["thermal_noise_sd"]),
            artefact_percent=float(imaging["artefact_percent"]),
            circuit_percent=float(imaging["circuit_percent"]),
        ),
    )


def write_demo_dataset(
    root: str | Path, spec: DemoSpec, threads: int = 1, mem_mb: float | None = None
) -> None:
    """Simulate the cohort and write it under ``root`` (see the module docstring).

    Subjects are simulated in up to ``threads`` processes, fewer if ``mem_mb`` (the job's
    memory) cannot hold that many subjects at once."""
    root = Path(root)
    spec.imaging.validate()
    tables = simulate.simulate_clinical(spec.clinical, spec.seed)
    _write_clinical(root, tables, spec)

    template = simulate.load_template(spec.imaging.voxel_size_mm)
    subjects = tables["participants"]["participant_id"].str.removeprefix("sub-").tolist()
    target_rng = np.random.default_rng([spec.seed, 0])
    targets = simulate.draw_targets(
        template, len(subjects), spec.imaging.target_spread_mm, target_rng
    )
    planted_mm = atlas.voxel_centres_mm(template.affine, targets)
    planted = pd.DataFrame(
        {
            "participant_id": [f"sub-{s}" for s in subjects],
            "x_mm": planted_mm[:, 0],
            "y_mm": planted_mm[:, 1],
            "z_mm": planted_mm[:, 2],
            "i": targets[:, 0],
            "j": targets[:, 1],
            "k": targets[:, 2],
        }
    )
    simulation_dir = root / "derivatives" / "simulation"
    write_dataset_description(simulation_dir, "Demo cohort: planted ground truth")
    write_tsv(simulation_dir / "planted_targets.tsv", planted, PLANTED_DICTIONARY)
    write_json(
        simulation_dir / "simulation_parameters.json",
        {"seed": spec.seed, "imaging": asdict(spec.imaging), "space": SPACE},
    )

    fmriprep_dir = root / "derivatives" / "fmriprep"
    write_dataset_description(fmriprep_dir, "Demo cohort: fMRIPrep-style derivatives (simulated)")
    jobs = [
        (root, spec, template, subject, number, targets[number - 1])
        for number, subject in enumerate(subjects, start=1)
    ]
    per_subject_mb = simulate.run_memory_mb(
        spec.imaging, int(template.brain.sum()), int(np.prod(template.shape))
    )
    workers = threads if mem_mb is None else max(1, min(threads, int(mem_mb // per_subject_mb)))
    log.info("simulating %d subjects in %d processes", len(subjects), workers)
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for subject in pool.map(_write_subject, jobs):
                log.info("wrote sub-%s", subject)
    else:
        for job in jobs:
            log.info("wrote sub-%s", _write_subject(job))


def _write_clinical(root: Path, tables: dict[str, pd.DataFrame], spec: DemoSpec) -> None:
    write_dataset_description(root, DEMO_DATASET_NAME, "raw")
    (root / "README").write_text(
        "Simulated demo cohort of the tmstarget workflow: a two-arm randomised trial of\n"
        "connectivity-guided vs scalp-based (Beam F3) accelerated TMS for depression.\n"
        f"Deterministic from seed {spec.seed}. Not real patients.\n"
    )
    write_tsv(root / "participants.tsv", tables["participants"], PARTICIPANTS_DICTIONARY)
    phenotype = root / "phenotype"
    write_tsv(phenotype / "madrs.tsv", tables["madrs"], MADRS_DICTIONARY)
    write_tsv(phenotype / "blinding.tsv", tables["blinding"], BLINDING_DICTIONARY)
    write_tsv(phenotype / "adverse_events.tsv", tables["adverse_events"], ADVERSE_EVENTS_DICTIONARY)


def _write_subject(job) -> str:
    root, spec, template, subject, number, target = job
    root = Path(root)
    imaging = spec.imaging
    rng = np.random.default_rng([spec.seed, number])
    model = simulate.subject_model(imaging, template, target, rng)
    func = root / "derivatives" / "fmriprep" / f"sub-{subject}" / "func"
    latent_dir = root / "derivatives" / "simulation" / f"sub-{subject}" / "func"
    func.mkdir(parents=True, exist_ok=True)
    for run_number in range(1, imaging.n_runs + 1):
        run = simulate.simulate_run(imaging, template, model, rng, dtype=np.int16)
        entities = {"sub": subject, "task": TASK, "run": run_number}
        for echo, (te, data) in enumerate(zip(imaging.echo_times_s, run.echoes, strict=True), 1):
            name = bids_name("bold", ".nii.gz", echo=echo, space=SPACE, desc="preproc", **entities)
            img = simulate.to_image(data, template.affine, imaging.repetition_time_s)
            img.to_filename(func / name)
            write_json(
                (func / name.replace(".nii.gz", ".json")),
                {
                    "EchoTime": te,
                    "RepetitionTime": imaging.repetition_time_s,
                    "TaskName": TASK,
                    "SkullStripped": False,
                    "SliceTimingCorrected": False,
                },
            )
        mask = simulate.to_image(template.brain.astype(np.uint8), template.affine, dtype=np.uint8)
        mask.to_filename(func / bids_name("mask", ".nii.gz", space=SPACE, desc="brain", **entities))
        confounds_name = bids_name("timeseries", ".tsv", desc="confounds", **entities)
        dictionary = dict(CONFOUNDS_DICTIONARY)
        for column in run.confounds.columns:
            if column.startswith("non_steady_state_outlier"):
                dictionary[column] = {"Description": "One-hot: this volume is non-steady-state"}
        write_tsv(func / confounds_name, run.confounds, dictionary)
        write_tsv(
            latent_dir / bids_name("timeseries", ".tsv", desc="latent", **entities),
            run.latent,
            LATENT_DICTIONARY,
        )
    return subject
