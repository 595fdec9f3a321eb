"""Write the simulated demo cohort as a BIDS dataset with fMRIPrep derivatives.

Layout (``<root>`` is the config key ``input.bids_dir``), named as fMRIPrep 23.2 and later
name their files with ``--me-output-echos`` (``docs/outputs.rst``)::

    <root>/dataset_description.json, README, participants.tsv/.json, task-rest_bold.json
    <root>/phenotype/{madrs,blinding,adverse_events}.tsv/.json
    <root>/sub-XX/anat/sub-XX_T1w.nii.gz
    <root>/sub-XX/func/sub-XX_task-rest_run-N_echo-E_bold.nii.gz/.json
    <root>/derivatives/fmriprep/sub-XX/anat/
        sub-XX_desc-preproc_T1w.nii.gz/.json, sub-XX_desc-brain_mask.nii.gz
        sub-XX_from-T1w_to-MNI152NLin6Asym_mode-image_xfm.h5
    <root>/derivatives/fmriprep/sub-XX/func/
        sub-XX_task-rest_run-N_echo-E_desc-preproc_bold.nii.gz/.json   (native, per echo)
        sub-XX_task-rest_run-N_desc-brain_mask.nii.gz                  (boldref space)
        sub-XX_task-rest_run-N_desc-coreg_boldref.nii.gz
        sub-XX_task-rest_run-N_from-boldref_to-T1w_mode-image_desc-coreg_xfm.txt
        sub-XX_task-rest_run-N_desc-confounds_timeseries.tsv/.json
    <root>/derivatives/simulation/planted_targets.tsv/.json (MNI and native T1w mm)
    <root>/derivatives/simulation/sub-XX/func/sub-XX_task-rest_run-N_desc-latent_timeseries.tsv

The runs are simulated on each subject's own oblique acquisition grid in its own head
space (:mod:`tmstarget.simulate_native`), as fMRIPrep leaves them: per echo, in the
run's BOLD reference space, with the transforms to T1w and to MNI152NLin6Asym. The raw
``sub-XX/func`` echoes are the same files (hard links): nothing in the simulation needs
motion or distortion correction. With ``layout="template"`` the echoes are instead
written in MNI152NLin6Asym (``_echo-E_space-MNI152NLin6Asym_desc-preproc_bold`` with a
template brain mask), as a pipeline that resamples every echo would write them.

Each subject's images come from its own random stream (``[seed, subject number]``), so
a subject's data do not depend on how many others are simulated or in which order.
"""

from __future__ import annotations

import logging
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tmstarget import atlas, atomic, native, niftiio, simulate, simulate_native
from tmstarget.bids import Run, bids_name, write_dataset_description, write_json, write_tsv
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
LATENT_DICTIONARY = {
    "circuit": {
        "Description": "Planted circuit signal c(t) (unit variance): the DLPFC patch follows "
        "+c(t), the subgenual cingulate -c(t); one row per volume, dummy volumes included"
    },
    "global_signal": {"Description": "Planted global signal g(t) shared by grey matter"},
}
# The clinical tables under phenotype/, with their data dictionaries.
PHENOTYPE_TABLES = {
    "madrs": MADRS_DICTIONARY,
    "blinding": BLINDING_DICTIONARY,
    "adverse_events": ADVERSE_EVENTS_DICTIONARY,
}

PLANTED_DICTIONARY = {
    "participant_id": {"Description": "Participant label"},
    "x_mm": {"Description": "Planted DLPFC patch centre, MNI x", "Units": "mm"},
    "y_mm": {"Description": "Planted DLPFC patch centre, MNI y", "Units": "mm"},
    "z_mm": {"Description": "Planted DLPFC patch centre, MNI z", "Units": "mm"},
    "i": {"Description": "Voxel index (first axis) on the simulation grid"},
    "j": {"Description": "Voxel index (second axis) on the simulation grid"},
    "k": {"Description": "Voxel index (third axis) on the simulation grid"},
    "native_x_mm": {
        "Description": "Planted site in the subject's T1w space, x (RAS), through "
        "sub-XX_from-T1w_to-MNI152NLin6Asym_mode-image_xfm.h5; n/a without a T1w space",
        "Units": "mm",
    },
    "native_y_mm": {"Description": "Planted site in T1w space, y (RAS)", "Units": "mm"},
    "native_z_mm": {"Description": "Planted site in T1w space, z (RAS)", "Units": "mm"},
}


@dataclass(frozen=True)
class DemoSpec:
    """Everything that defines the demo cohort (the config's ``demo`` section)."""

    seed: int
    clinical: simulate.ClinicalSpec
    imaging: simulate.ImagingSpec
    # "native": fMRIPrep's per-echo series in each run's own space (what fMRIPrep writes);
    # "template": every echo already in MNI152NLin6Asym (another pipeline's output).
    layout: str = "native"


LAYOUTS = ("native", "template")
FMRIPREP_BIDSIGNORE = (
    "*.html",
    "logs/",
    "figures/",
    "*_xfm.*",
    "*.surf.gii",
    "*_boldref.nii.gz",
    "*_bold.func.gii",
    "*_mixing.tsv",
    "*_timeseries.tsv",
)
# A T1w scan's acquisition (an MPRAGE at 3 T), for the raw T1w's sidecar.
T1W_SIDECAR = {"EchoTime": 0.00298, "RepetitionTime": 2.3, "InversionTime": 0.9, "FlipAngle": 9}


def spec_from_config(demo: dict, arm_labels: dict[str, str]) -> DemoSpec:
    """Build a :class:`DemoSpec` from the validated ``demo`` config section.

    Parameters
    ----------
    demo : dict
        The config's ``demo`` section (schema-validated): ``seed``, ``n_per_arm``,
        ``layout`` (``native`` or ``template``), ``clinical`` (effect sizes and their
        calibration ranges) and ``imaging`` (voxel sizes in mm, run and volume counts,
        repetition and echo times in seconds, spreads and drifts in mm, noise and
        percentages).
    arm_labels : dict of str to str
        Arm role (``connectivity``, ``scalp``) -> label written to participants.tsv
        (config ``trial.arm_labels``).

    Returns
    -------
    DemoSpec
        The cohort's seed, clinical and imaging specs and layout, every number cast to
        its type (``imaging.t1w_voxel_size_mm`` defaults to 2.0 mm, ``layout`` to
        ``native``).
    """
    clinical = demo["clinical"]
    imaging = demo["imaging"]
    native_mm = imaging.get("native_voxel_size_mm")
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
            native_voxel_size_mm=None if native_mm is None else float(native_mm),
            t1w_voxel_size_mm=float(imaging.get("t1w_voxel_size_mm", 2.0)),
            n_runs=int(imaging["n_runs"]),
            n_volumes=int(imaging["n_volumes"]),
            repetition_time_s=float(imaging["repetition_time_s"]),
            echo_times_s=tuple(float(te) for te in imaging["echo_times_s"]),
            target_spread_mm=float(imaging["target_spread_mm"]),
            thermal_noise_sd=float(imaging["thermal_noise_sd"]),
            artefact_percent=float(imaging["artefact_percent"]),
            circuit_percent=float(imaging["circuit_percent"]),
            patch_drift_mm=float(imaging["patch_drift_mm"]),
            coupling_drift=float(imaging["coupling_drift"]),
            network_drift=float(imaging["network_drift"]),
            drift_timescale_s=float(imaging["drift_timescale_s"]),
        ),
        layout=str(demo.get("layout", "native")),
    )


def write_demo_dataset(
    root: str | Path,
    spec: DemoSpec,
    threads: int = 1,
    mem_mb: float | None = None,
    replace: bool = False,
) -> None:
    """Simulate the cohort and write it under ``root`` (see the module docstring).

    Subjects are simulated in up to ``threads`` processes, fewer if ``mem_mb`` (the job's
    memory) cannot hold that many subjects at once. With ``replace``, the dataset is
    written beside ``root`` and then takes its place: whatever ``root`` held goes (the
    files of an earlier, larger demo too), and a killed simulation leaves no half
    dataset under ``root``.

    Parameters
    ----------
    root : str or Path
        The BIDS root to write (config ``input.bids_dir``); fMRIPrep derivatives and the
        planted ground truth go under ``root/derivatives``.
    spec : DemoSpec
        The cohort to simulate (:func:`spec_from_config`).
    threads : int, default 1
        The most processes to simulate subjects in.
    mem_mb : float, optional
        The job's memory (MB); fewer processes are used when it cannot hold ``threads``
        subjects at once. None: no limit.
    replace : bool, default False
        Write beside ``root`` and then replace it whole (see above).

    Raises
    ------
    SimulationError
        When the imaging spec is invalid (:meth:`simulate.ImagingSpec.validate`) or the
        layout is neither ``native`` nor ``template``.
    """
    root = Path(root)
    if replace:
        atomic.remove_partials(root)
        partial = atomic.partial_path(root)
        try:
            write_demo_dataset(partial, spec, threads, mem_mb)
            shutil.rmtree(root, ignore_errors=True)
            os.replace(partial, root)
        finally:
            shutil.rmtree(partial, ignore_errors=True)
        return
    spec.imaging.validate()
    if spec.layout not in LAYOUTS:
        raise simulate.SimulationError(f"demo.layout must be one of {LAYOUTS}, got {spec.layout!r}")
    tables = simulate.simulate_clinical(spec.clinical, spec.seed)
    _write_clinical(root, tables, spec)

    template = simulate.load_template(spec.imaging.voxel_size_mm)
    subjects = tables["participants"]["participant_id"].str.removeprefix("sub-").tolist()
    target_rng = np.random.default_rng([spec.seed, 0])
    targets = simulate.draw_targets(
        template, len(subjects), spec.imaging.target_spread_mm, target_rng
    )
    fmriprep_dir = root / "derivatives" / "fmriprep"
    write_dataset_description(
        fmriprep_dir / "dataset_description.json",
        "Demo cohort: fMRIPrep derivatives (simulated)",
        # the raw dataset it sits in, as a path relative to it (as before)
        extra={"SourceDatasets": [{"URL": "../../"}]},
    )
    # fMRIPrep's own .bidsignore (fmriprep/utils/bids.py, write_bidsignore): the files the
    # BIDS derivatives specification does not describe yet.
    (fmriprep_dir / ".bidsignore").write_text("\n".join(FMRIPREP_BIDSIGNORE) + "\n")
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
            natives = list(pool.map(_write_subject, jobs))
    else:
        natives = [_write_subject(job) for job in jobs]

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
            "native_x_mm": [n[0] for n in natives],
            "native_y_mm": [n[1] for n in natives],
            "native_z_mm": [n[2] for n in natives],
        }
    )
    simulation_dir = root / "derivatives" / "simulation"
    write_dataset_description(
        simulation_dir / "dataset_description.json", "Demo cohort: planted ground truth"
    )
    (simulation_dir / ".bidsignore").write_text(
        "planted_targets.*\nsimulation_parameters.json\n*_desc-latent_timeseries.*\n"
    )
    write_tsv(simulation_dir / "planted_targets.tsv", planted, PLANTED_DICTIONARY)
    write_json(
        simulation_dir / "simulation_parameters.json",
        {"seed": spec.seed, "imaging": asdict(spec.imaging), "space": SPACE, "layout": spec.layout},
    )


def subject_labels(spec: DemoSpec) -> list[str]:
    """The demo's subject labels (without ``sub-``), as :func:`simulate.simulate_clinical`
    numbers its participants."""
    return [f"{number:02d}" for number in range(1, 2 * spec.clinical.n_per_arm + 1)]


def _run_entities(subject: str, run_index: int) -> dict:
    return {"sub": subject, "task": TASK, "run": run_index + 1}


def _xfm_name(entities: dict) -> str:
    # from-/to-/mode- are not among bids_name's entities (fMRIPrep puts them after run).
    return bids_name("xfm", ".txt", **entities).replace(
        "_xfm.txt", "_from-boldref_to-T1w_mode-image_desc-coreg_xfm.txt"
    )


def planned_files(root: str | Path, spec: DemoSpec) -> list[str]:
    """Every file :func:`write_demo_dataset` writes under ``root``, known from the spec
    alone (the demo rule declares them all, so that Snakemake plans the whole workflow
    before the demo exists)."""
    root = Path(root)
    files = [
        "dataset_description.json",
        "README",
        "participants.tsv",
        "participants.json",
        f"task-{TASK}_bold.json",
        *(f"phenotype/{name}.{ext}" for name in PHENOTYPE_TABLES for ext in ("tsv", "json")),
        "derivatives/fmriprep/dataset_description.json",
        "derivatives/fmriprep/.bidsignore",
        "derivatives/simulation/dataset_description.json",
        "derivatives/simulation/.bidsignore",
        "derivatives/simulation/planted_targets.tsv",
        "derivatives/simulation/planted_targets.json",
        "derivatives/simulation/simulation_parameters.json",
    ]
    native = spec.layout == "native"
    echoes = range(1, len(spec.imaging.echo_times_s) + 1)
    for subject in subject_labels(spec):
        fmriprep = f"derivatives/fmriprep/sub-{subject}"
        if native:
            files += [
                f"sub-{subject}/anat/sub-{subject}_T1w.nii.gz",
                f"sub-{subject}/anat/sub-{subject}_T1w.json",
                f"{fmriprep}/anat/sub-{subject}_desc-preproc_T1w.nii.gz",
                f"{fmriprep}/anat/sub-{subject}_desc-preproc_T1w.json",
                f"{fmriprep}/anat/sub-{subject}_desc-brain_mask.nii.gz",
                f"{fmriprep}/anat/sub-{subject}_from-T1w_to-{SPACE}_mode-image_xfm.h5",
            ]
        for run_index in range(spec.imaging.n_runs):
            entities = _run_entities(subject, run_index)
            space = {} if native else {"space": SPACE}
            for echo in echoes:
                name = bids_name("bold", ".nii.gz", echo=echo, **space, desc="preproc", **entities)
                files += [f"{fmriprep}/func/{name}", f"{fmriprep}/func/{_sidecar(name)}"]
                if native:
                    raw = bids_name("bold", ".nii.gz", echo=echo, **entities)
                    files += [f"sub-{subject}/func/{raw}", f"sub-{subject}/func/{_sidecar(raw)}"]
            files += [
                f"{fmriprep}/func/"
                + bids_name("mask", ".nii.gz", **space, desc="brain", **entities),
                *(
                    f"{fmriprep}/func/" + bids_name("timeseries", ext, desc="confounds", **entities)
                    for ext in (".tsv", ".json")
                ),
                *(
                    f"derivatives/simulation/sub-{subject}/func/"
                    + bids_name("timeseries", ext, desc="latent", **entities)
                    for ext in (".tsv", ".json")
                ),
            ]
            if native:
                files += [
                    f"{fmriprep}/func/" + bids_name("boldref", ".nii.gz", desc="coreg", **entities),
                    f"{fmriprep}/func/{_xfm_name(entities)}",
                ]
    return [str(root / name) for name in files]


def planned_runs(root: str | Path, spec: DemoSpec) -> dict[str, list[Run]]:
    """The runs discovery (:func:`tmstarget.bids.discover_runs`) finds in the dataset
    :func:`write_demo_dataset` writes under ``root``, known from the spec alone.

    The shape of a native run's grid is drawn from the subject's random stream exactly as
    the writer draws it (about 50 ms per subject).

    Parameters
    ----------
    root : str or Path
        The BIDS root the demo is (or will be) written to; every path is under it.
    spec : DemoSpec
        The cohort (:func:`spec_from_config`); nothing is read from disk.

    Returns
    -------
    dict of str to list of Run
        Subject label (without ``sub-``) -> its runs in run order: per-echo files, echo
        times and repetition time (seconds), mask and confounds files, space (``native``
        or ``MNI152NLin6Asym``), the transforms and T1w of a native run, and the 4D shape
        (voxels x, y, z and volumes).
    """
    root = Path(root)
    imaging = spec.imaging
    native = spec.layout == "native"
    runs: dict[str, list[Run]] = {}
    for number, subject in enumerate(subject_labels(spec), start=1):
        fmriprep = root / "derivatives" / "fmriprep" / f"sub-{subject}"
        if native:
            shape = list(_native_space(spec, number).bold_shape)
        else:
            shape = list(atlas.mni_grid(imaging.voxel_size_mm)[0])
        template_xfm = str(
            fmriprep / "anat" / f"sub-{subject}_from-T1w_to-{SPACE}_mode-image_xfm.h5"
        )
        for run_index in range(imaging.n_runs):
            entities = _run_entities(subject, run_index)
            space = {} if native else {"space": SPACE}
            func = fmriprep / "func"
            runs.setdefault(subject, []).append(
                Run(
                    subject=subject,
                    session=None,
                    run=str(run_index + 1),
                    echo_files=[
                        str(
                            func
                            / bids_name(
                                "bold", ".nii.gz", echo=echo, **space, desc="preproc", **entities
                            )
                        )
                        for echo in range(1, len(imaging.echo_times_s) + 1)
                    ],
                    echo_times_s=[float(te) for te in imaging.echo_times_s],
                    repetition_time_s=float(imaging.repetition_time_s),
                    mask_file=str(
                        func / bids_name("mask", ".nii.gz", **space, desc="brain", **entities)
                    ),
                    confounds_file=str(
                        func / bids_name("timeseries", ".tsv", desc="confounds", **entities)
                    ),
                    entities={"subject": subject, "task": TASK, "run": str(run_index + 1)},
                    space="native" if native else SPACE,
                    n_dummy=imaging.n_non_steady_state,
                    boldref_xfm=str(func / _xfm_name(entities)) if native else None,
                    template_xfms=[template_xfm] if native else [],
                    t1w_file=(
                        str(fmriprep / "anat" / f"sub-{subject}_desc-preproc_T1w.nii.gz")
                        if native
                        else None
                    ),
                    shape=[*shape, imaging.n_volumes],
                )
            )
    return runs


def _native_space(spec: DemoSpec, number: int) -> simulate_native.NativeSpace:
    """Subject ``number``'s head, warp and acquisition grids (its own random stream)."""
    imaging = spec.imaging
    return simulate_native.draw_native_space(
        np.random.default_rng([spec.seed, number, 1]),
        imaging.n_runs,
        imaging.acquisition_voxel_mm,
        imaging.t1w_voxel_size_mm,
        field_spacing_mm=max(4.0, imaging.voxel_size_mm),
    )


def _sidecar(image_name: str) -> str:
    return image_name.replace(".nii.gz", ".json")


def _write_clinical(root: Path, tables: dict[str, pd.DataFrame], spec: DemoSpec) -> None:
    write_dataset_description(
        root / "dataset_description.json",
        DEMO_DATASET_NAME,
        "raw",
        extra={"License": "CC0", "Authors": ["tmstarget demo simulator"]},
    )
    (root / "README").write_text(
        "Simulated demo cohort of the tmstarget workflow: a two-arm randomised trial of\n"
        "connectivity-guided vs scalp-based (Beam F3) accelerated TMS for depression.\n"
        f"Deterministic from seed {spec.seed}. Not real patients.\n"
    )
    write_tsv(root / "participants.tsv", tables["participants"], PARTICIPANTS_DICTIONARY)
    for name, dictionary in PHENOTYPE_TABLES.items():
        write_tsv(root / "phenotype" / f"{name}.tsv", tables[name], dictionary)
    # Task metadata shared by every run (the inheritance principle); each echo's sidecar
    # adds its EchoTime.
    write_json(
        root / f"task-{TASK}_bold.json",
        {"TaskName": TASK, "RepetitionTime": spec.imaging.repetition_time_s},
    )


def _write_subject(job) -> tuple[float, float, float]:
    """Write one subject's raw data and fMRIPrep derivatives; returns the planted target
    in the subject's T1w space (RAS mm; NaN for the template layout, which has no T1w)."""
    root, spec, template, subject, number, target = job
    root = Path(root)
    imaging = spec.imaging
    rng = np.random.default_rng([spec.seed, number])
    fields = simulate.draw_subject_fields(imaging, template, target, rng)
    writer = _NativeWriter if spec.layout == "native" else _TemplateWriter
    subject_writer = writer(root, spec, template, subject, number)
    latent_dir = root / "derivatives" / "simulation" / f"sub-{subject}" / "func"
    for run_index in range(imaging.n_runs):
        entities = _run_entities(subject, run_index)
        model = simulate.model_on_grid(imaging, template, fields, subject_writer.grid(run_index))
        run = simulate.simulate_run(imaging, model, rng, dtype=np.int16)
        subject_writer.write_run(run_index, entities, run)
        write_tsv(
            latent_dir / bids_name("timeseries", ".tsv", desc="latent", **entities),
            run.latent,
            LATENT_DICTIONARY,
        )
    return subject_writer.planted_native(fields.target_mm)


class _TemplateWriter:
    """Every echo in MNI152NLin6Asym on the template grid (``layout="template"``)."""

    def __init__(self, root: Path, spec: DemoSpec, template, subject: str, number: int):
        self.spec, self.template, self.subject = spec, template, subject
        self.func = root / "derivatives" / "fmriprep" / f"sub-{subject}" / "func"

    def grid(self, run_index: int):
        return None  # the template grid

    def write_run(self, run_index: int, entities: dict, run: simulate.SimulatedRun) -> None:
        imaging, template = self.spec.imaging, self.template
        self.func.mkdir(parents=True, exist_ok=True)
        for echo, (te, data) in enumerate(zip(imaging.echo_times_s, run.echoes, strict=True), 1):
            name = bids_name("bold", ".nii.gz", echo=echo, space=SPACE, desc="preproc", **entities)
            niftiio.write_image(
                simulate.to_image(data, template.affine, imaging.repetition_time_s),
                self.func / name,
            )
            write_json(self.func / name.replace(".nii.gz", ".json"), _echo_sidecar(te, imaging))
        mask = simulate.to_image(template.brain.astype(np.uint8), template.affine, dtype=np.uint8)
        niftiio.write_image(
            mask, self.func / bids_name("mask", ".nii.gz", space=SPACE, desc="brain", **entities)
        )
        _write_confounds(self.func, entities, run.confounds)

    def planted_native(self, target_mm: np.ndarray) -> tuple[float, float, float]:
        return (np.nan, np.nan, np.nan)


class _NativeWriter:
    """What fMRIPrep writes with ``--me-output-echos`` (``layout="native"``): per-echo
    series in each run's own space, the raw data they came from, the T1w image and the
    transforms (see :mod:`tmstarget.simulate_native`)."""

    def __init__(self, root: Path, spec: DemoSpec, template, subject: str, number: int):
        imaging = spec.imaging
        self.root, self.spec, self.template, self.subject = root, spec, template, subject
        fmriprep = root / "derivatives" / "fmriprep" / f"sub-{subject}"
        self.anat, self.func = fmriprep / "anat", fmriprep / "func"
        self.raw_func = root / f"sub-{subject}" / "func"
        self.space = _native_space(spec, number)
        self.template_xfm = simulate_native.write_template_transform(
            self.space,
            self.anat / f"sub-{subject}_from-T1w_to-{SPACE}_mode-image_xfm.h5",
        )
        t1w, brain_mask = simulate_native.t1w_images(self.space, self.template_xfm)
        t1w_name = bids_name("T1w", ".nii.gz", sub=subject, desc="preproc")
        niftiio.write_image(t1w, self.anat / t1w_name)
        write_json(self.anat / t1w_name.replace(".nii.gz", ".json"), {"SkullStripped": False})
        niftiio.write_image(
            brain_mask, self.anat / bids_name("mask", ".nii.gz", sub=subject, desc="brain")
        )
        raw_anat = root / f"sub-{subject}" / "anat"
        raw_anat.mkdir(parents=True, exist_ok=True)
        _link(self.anat / t1w_name, raw_anat / bids_name("T1w", ".nii.gz", sub=subject))
        write_json(raw_anat / bids_name("T1w", ".json", sub=subject), T1W_SIDECAR)
        self.tissue = simulate_native.TissueSampler.load(min(2.0, imaging.acquisition_voxel_mm))
        self.run_xfms: dict[int, Path] = {}

    def grid(self, run_index: int):
        name = _xfm_name(_run_entities(self.subject, run_index))
        xfm = simulate_native.write_run_transform(self.space, run_index, self.func / name)
        self.run_xfms[run_index] = xfm
        linear = self.space.t1w_to_boldref[run_index] @ self.space.template_to_t1w
        positions = simulate_native.grid_positions(
            self.space.bold_affine, self.space.bold_shape, [self.template_xfm, xfm], linear
        )
        return simulate_native.sampling_grid(
            positions, self.tissue, self.spec.imaging.acquisition_voxel_mm
        )

    def write_run(self, run_index: int, entities: dict, run: simulate.SimulatedRun) -> None:
        imaging, affine = self.spec.imaging, self.space.bold_affine
        self.raw_func.mkdir(parents=True, exist_ok=True)
        for echo, (te, data) in enumerate(zip(imaging.echo_times_s, run.echoes, strict=True), 1):
            name = bids_name("bold", ".nii.gz", echo=echo, desc="preproc", **entities)
            img = simulate.to_image(data, affine, imaging.repetition_time_s, xform_code=1)
            niftiio.write_image(img, self.func / name)
            write_json(self.func / name.replace(".nii.gz", ".json"), _echo_sidecar(te, imaging))
            raw = bids_name("bold", ".nii.gz", echo=echo, **entities)
            _link(self.func / name, self.raw_func / raw)
            write_json(self.raw_func / raw.replace(".nii.gz", ".json"), {"EchoTime": te})
            if echo == 1:
                steady = data[..., imaging.n_non_steady_state :]
                boldref = steady.mean(axis=-1, dtype=np.float32)
        mask = (np.asarray(run.echoes[0]).max(axis=-1) > 0).astype(np.uint8)
        niftiio.write_image(
            simulate.to_image(mask, affine, dtype=np.uint8, xform_code=1),
            self.func / bids_name("mask", ".nii.gz", desc="brain", **entities),
        )
        niftiio.write_image(
            simulate.to_image(boldref, affine, dtype=np.float32, xform_code=1),
            self.func / bids_name("boldref", ".nii.gz", desc="coreg", **entities),
        )
        _write_confounds(self.func, entities, run.confounds)

    def planted_native(self, target_mm: np.ndarray) -> tuple[float, float, float]:
        return tuple(float(v) for v in native.mni_to_native(target_mm, self.template_xfm)[0])


def _echo_sidecar(te: float, imaging: simulate.ImagingSpec) -> dict:
    return {
        "EchoTime": te,
        "RepetitionTime": imaging.repetition_time_s,
        "TaskName": TASK,
        "SkullStripped": False,
        "SliceTimingCorrected": False,
    }


def _write_confounds(func: Path, entities: dict, confounds: pd.DataFrame) -> None:
    """The confounds table with its JSON: fMRIPrep's CompCor metadata, and a description
    of every column."""
    dictionary = {}
    for column in confounds.columns:
        dictionary[column] = {"Description": _confound_description(column)}
        if column in confounds.attrs.get("compcor", {}):
            dictionary[column] |= confounds.attrs["compcor"][column]
    write_tsv(
        func / bids_name("timeseries", ".tsv", desc="confounds", **entities), confounds, dictionary
    )


_CONFOUND_DESCRIPTIONS = {
    "global_signal": "Mean signal within the brain mask",
    "white_matter": "Mean signal within white matter",
    "csf": "Mean signal within cerebrospinal fluid",
    "csf_wm": "Mean signal within white matter and CSF",
    "tcompcor": "Mean signal within the tCompCor mask (2% most variable voxels)",
    "std_dvars": "DVARS divided by its median",
    "dvars": "Root mean square of the volume-to-volume signal change",
    "framewise_displacement": "Framewise displacement (Power 2012; 50 mm head radius), mm",
    "rmsd": "Root mean square deviation of an 80 mm sphere (Jenkinson 2002), mm",
    "trans_x": "Translation along x, mm",
    "trans_y": "Translation along y, mm",
    "trans_z": "Translation along z, mm",
    "rot_x": "Rotation about x, rad",
    "rot_y": "Rotation about y, rad",
    "rot_z": "Rotation about z, rad",
}


def _confound_description(column: str) -> str:
    for suffix, what in (
        ("_derivative1_power2", "squared backward difference of"),
        ("_derivative1", "backward difference of"),
        ("_power2", "square of"),
    ):
        if column.endswith(suffix):
            base = column[: -len(suffix)]
            return f"{what.capitalize()} {base} ({_CONFOUND_DESCRIPTIONS[base]})"
    if column in _CONFOUND_DESCRIPTIONS:
        return _CONFOUND_DESCRIPTIONS[column]
    for prefix, what in (
        ("t_comp_cor_", "temporal CompCor component"),
        ("c_comp_cor_", "anatomical CompCor component (CSF)"),
        ("w_comp_cor_", "anatomical CompCor component (white matter)"),
        ("a_comp_cor_", "anatomical CompCor component (white matter and CSF)"),
        ("cosine", "discrete cosine drift regressor (128 s high-pass)"),
        ("non_steady_state_outlier", "one-hot: this volume is non-steady-state"),
        ("motion_outlier", "one-hot: FD > 0.5 mm or standardised DVARS > 1.5 at this volume"),
    ):
        if column.startswith(prefix):
            return what[0].upper() + what[1:]
    raise ValueError(f"no description for confounds column {column!r}")


def _link(source: Path, link: Path) -> None:
    """``link`` holds the same bytes as ``source``: a hard link, or a copy where the file
    system has none."""
    link.parent.mkdir(parents=True, exist_ok=True)
    link.unlink(missing_ok=True)
    try:
        os.link(source, link)
    except OSError:
        shutil.copyfile(source, link)
