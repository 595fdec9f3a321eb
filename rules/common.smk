# Input discovery, helper functions and wildcard constraints shared by every stage.
import math
from functools import cache
from pathlib import Path
from typing import NamedTuple

from tmstarget import bids as bids_io
from tmstarget import checks
from tmstarget.atlas import mni_grid
from tmstarget.config import analysis_voxel_mm, check_config, fmriprep_dir
from tmstarget.denoise import cleaning_options
from tmstarget.stimulation import TargetingSettings
from tmstarget.vocabulary import BEAM_F3

check_config(config)

DEMO = config["demo"]["enabled"]
# trial: arms, clinical tables, a blinded technician packet; clinic: imaging only.
TRIAL = config["mode"] == "trial"
STAGES = config["stages"]
# The trial-planning stage in the main run and the manuscript (rule plan_trial builds it
# either way).
PLANNING = config["planning"]["enabled"]
BIDS_DIR = config["input"]["bids_dir"]
FMRIPREP_DIR = fmriprep_dir(config)
# The analysis grid: the FSL MNI152 box at this voxel size (preprocess.resample).
GRID_MM = analysis_voxel_mm(config)


wildcard_constraints:
    subject="[A-Za-z0-9]+",
    # a run's entities after sub-: [ses-X_]task-Y[_acq-Z][_run-N] (bids.Run.key)
    run_key="(ses-[A-Za-z0-9]+_)?task-[A-Za-z0-9]+(_acq-[A-Za-z0-9]+)?(_run-[A-Za-z0-9]+)?",


def bids_path(folder, suffix, extension, **entities):
    """``folder``/the BIDS file name of ``entities`` (bids_io.bids_name: labels
    alphanumeric, Snakemake wildcards allowed, ``source=`` a source file's entities)."""
    return f"{folder}/{bids_io.bids_name(suffix, extension, **entities)}"


def score_map(method):
    """The pattern of a subject's score map of ``method`` (its BIDS label as desc;
    rules/targets.smk)."""
    return bids_path(
        SUBJECT_TARGETS_DIR,
        "stat",
        ".nii.gz",
        sub="{subject}",
        space=SPACE,
        desc=bids_io.bids_label(method),
    )


class ResourceFit(NamedTuple):
    """Memory (MB) and runtime (minutes) of a rule: a floor plus slopes per million samples
    (voxels x volumes x echoes) of what the rule reads, for the whole input and for its
    largest run (a job that works run by run peaks with the largest)."""

    mem_floor_mb: float
    mem_per_msample_mb: float
    mem_per_largest_run_msample_mb: float
    runtime_floor_min: float
    runtime_per_msample_min: float


# Fitted to benchmarks/README.md ("Resource requests", issue 19). Samples are known at
# planning: for prepare_run the run's native grid x volumes x echoes (tedana loads every
# echo on its whole grid; its peak, 6,247 MB for a trial-sized run of 658 million
# samples, is the job's: the block-wise resampling after it peaks at 442 MB); for
# clean_subject and find_targets the voxels in the subject's brain mask x its volumes
# (subject_grid_msamples), since both read every series block by block straight into the
# masked float32 matrix. Measured peaks (bench_memory.py): clean_subject 1,918 MB for a
# simulated trial-sized subject (3 runs, 235,375 mask voxels, 287 million samples, the
# largest run 96) and 1,492 MB for a real-shaped 652-volume run (188,678 grey-matter
# voxels, 123 million): the joined matrix (3.8 MB per million samples) plus about one
# run's worth of working copies, hence a term for the largest run; find_targets 1,398
# and 890 MB (the matrix plus one block). The requests are 1.39-1.45x (clean_subject) and
# 1.37-1.44x (find_targets) those peaks; a job over its memory is killed. Times are 3-5x
# the measured CPU times (tedana re-runs ICA when it finds no BOLD component). Floors
# cover Python, the imports and the grid-sized buffers (demo-sized jobs peak at about
# 400 MB). Each retry (`--retries`) multiplies both by the attempt number.
RESOURCE_FITS = {
    "prepare_run": ResourceFit(1500, 9.0, 0.0, 10, 0.02),
    "clean_subject": ResourceFit(1000, 4.0, 5.5, 10, 0.03),
    "find_targets": ResourceFit(800, 3.9, 0.0, 10, 0.01),
}
# Simulating and writing one trial-sized subject took 193.5 s wall for 4.44e9 samples
# (grid voxels x volumes x echoes x runs): 44 s per 1e9 samples, one subject per thread.
SIMULATE_S_PER_GIGASAMPLE = 44.0


def fitted_mem_mb(rule, msamples, largest_run_msamples=0.0, attempt=1):
    """Memory (MB) to ask for ``rule`` reading ``msamples`` million samples, the largest
    run ``largest_run_msamples`` of them."""
    fit = RESOURCE_FITS[rule]
    return math.ceil(
        attempt
        * (
            fit.mem_floor_mb
            + fit.mem_per_msample_mb * msamples
            + fit.mem_per_largest_run_msample_mb * largest_run_msamples
        )
    )


def fitted_runtime_min(rule, msamples, attempt=1):
    """Runtime (minutes) to ask for ``rule`` reading ``msamples`` million samples."""
    fit = RESOURCE_FITS[rule]
    return math.ceil(
        attempt * (fit.runtime_floor_min + fit.runtime_per_msample_min * msamples)
    )


def run_msamples(run):
    """Million samples of a run's echoes: native grid voxels x volumes x echoes."""
    return math.prod(run.shape) * len(run.echo_files) / 1e6


def subject_grid_msamples(wildcards, largest_run=False):
    """Million samples of a subject's series on the analysis grid as the cleaning and
    targeting jobs hold them: voxels in the brain mask x the volumes of all its runs (or
    of its longest run)."""
    volumes = [run.shape[3] for run in subject_runs(wildcards)]
    voxels = subject_mask_voxels(wildcards)
    return voxels * (max(volumes) if largest_run else sum(volumes)) / 1e6


@cache
def _template_brain_voxels():
    from tmstarget.resample import template_brain

    return int(template_brain(GRID_MM).sum())


@cache
def _mask_voxels(path):
    import nibabel as nib
    import numpy as np

    return int(np.count_nonzero(np.asarray(nib.load(path).dataobj) > 0))


def subject_mask_voxels(wildcards):
    """Voxels of a subject's brain mask on the analysis grid, known at planning: for data
    denoised elsewhere its runs' own masks (the subject's is their intersection: at most
    the smallest), else the template brain (prepare_run's grid mask is the template
    brain where the run has data)."""
    runs = subject_runs(wildcards)
    if DIRECT_TO_CLEANING and all(Path(run.mask_file).is_file() for run in runs):
        return min(_mask_voxels(run.mask_file) for run in runs)
    return _template_brain_voxels()


def _demo_spec():
    from tmstarget.demo import spec_from_config

    return spec_from_config(config["demo"], config["trial"]["arm_labels"])


def _demo_files():
    """Every file the demo writes (rule simulate_cohort's outputs)."""
    from tmstarget.demo import planned_files

    return planned_files(BIDS_DIR, _demo_spec())


def demo_memory(wildcards, threads, attempt):
    """Resource function of simulate_cohort: memory (MB) for simulating ``threads`` demo
    subjects at once."""
    from tmstarget.simulate import demo_memory_mb

    return attempt * demo_memory_mb(_demo_spec().imaging, threads)


def demo_runtime(wildcards, threads, attempt):
    """Resource function of simulate_cohort: runtime (minutes) for simulating the demo
    cohort ``threads`` subjects at a time: 10 minutes plus twice the fitted time."""
    spec = _demo_spec()
    shape, _ = mni_grid(spec.imaging.voxel_size_mm)
    samples = (
        math.prod(shape)
        * spec.imaging.n_volumes
        * len(spec.imaging.echo_times_s)
        * spec.imaging.n_runs
    )
    rounds = math.ceil(2 * spec.clinical.n_per_arm / threads)
    minutes = 10 + 2 * rounds * SIMULATE_S_PER_GIGASAMPLE * samples / 1e9 / 60
    return math.ceil(attempt * minutes)


ARM_LABELS = config["trial"]["arm_labels"]
# What discovery looks for (input.bold_space, multi_echo, space, template_transform...).
QUERY = bids_io.Query.from_config(config)
# What the input checks need (rule check_inputs; for a real dataset also at planning).
CHECK_SETTINGS = checks.CheckSettings.from_config(config, GRID_MM)
# The input files of the clinical tables and of the subject reconciliation.
PARTICIPANTS_TSV = f"{BIDS_DIR}/participants.tsv"
CLINICAL_TABLES = [
    PARTICIPANTS_TSV,
    f"{BIDS_DIR}/participants.json",
    *(
        f"{BIDS_DIR}/phenotype/{name}.tsv"
        for name in ("madrs", "blinding", "adverse_events")
    ),
]
PLANTED_TARGETS = f"{BIDS_DIR}/derivatives/simulation/planted_targets.tsv"
# Who is in which analysis (rule check_inputs); every job that reads the dataset waits
# for it (ancient: rewriting the table does not rerun them).
SUBJECTS_TABLE = "results/inputs/subjects.tsv"


# Config sections and path templates of every stage, here so that no rules file depends
# on the include order of another. Output names are built by bids_io.bids_name (labels
# alphanumeric); {subject} and {run_key} are Snakemake wildcards.
# rules/preprocess.smk
PREPROCESS = config["preprocess"]
SPACE = config["input"]["space"]
TASK = config["input"]["task"]
# Data denoised elsewhere and already in the template enter at the cleaning step directly.
DIRECT_TO_CLEANING = bool(PREPROCESS["denoised_input_desc"]) and not QUERY.native
# Output names are built by bids_io.bids_name (labels alphanumeric); {subject} and
# {run_key} are Snakemake wildcards.
PREP = "results/preprocess"
SUBJECT_FUNC = f"{PREP}/sub-{{subject}}/func"
RUN_SOURCE = "sub-{subject}_{run_key}"
# Per run: tedana's own output folder, a BIDS derivatives dataset of its own (its
# dataset_description.json names tedana, its version and the call), nested under our
# derivatives' derivatives/ as the specification nests one pipeline's derivatives in
# another's; readers (pybids, the validator) do not take it for part of ours.
RUN_TEDANA = f"{PREP}/derivatives/tedana-{RUN_SOURCE}"
# The run on the analysis grid (kept only until the subject is cleaned) and its mask.
RUN_BOLD = bids_path(
    SUBJECT_FUNC, "bold", ".nii.gz", source=RUN_SOURCE, space=SPACE, desc="denoised"
)
RUN_OPTCOM = bids_path(
    SUBJECT_FUNC, "bold", ".nii.gz", source=RUN_SOURCE, space=SPACE, desc="optcom"
)
RUN_MASK = bids_path(
    SUBJECT_FUNC, "mask", ".nii.gz", source=RUN_SOURCE, space=SPACE, desc="brain"
)
# The subject's series (runs joined) with its JSON sidecar, its brain mask (a functional
# mask: task- as fMRIPrep names them) and QC.
CLEAN_BOLD = bids_path(
    SUBJECT_FUNC,
    "bold",
    ".nii.gz",
    sub="{subject}",
    task=TASK,
    space=SPACE,
    desc="clean",
)
# The mask is named after the series (desc-clean): desc-brain would name a single run
# without a run- entity (run key task-rest) exactly as the run's own grid mask.
CLEAN_MASK = bids_path(
    SUBJECT_FUNC,
    "mask",
    ".nii.gz",
    sub="{subject}",
    task=TASK,
    space=SPACE,
    desc="clean",
)
QC_METRICS = bids_path(
    SUBJECT_FUNC, "metrics", ".json", sub="{subject}", task=TASK, desc="qc"
)
SUBJECT_QC_FIGURE = bids_path(
    f"{PREP}/sub-{{subject}}/figures",
    "bold",
    ".png",
    sub="{subject}",
    task=TASK,
    desc="qc",
)

# rules/targets.smk
TARGETS = config["targets"]
# Output names are built by bids_io.bids_name; a method's file names carry its BIDS label
# (bids_io.bids_label: circuit_searchlight -> desc-circuitsearchlight), its tables and
# figures its name.
TARGETS_DIR = "results/targets"
SUBJECT_TARGETS_DIR = f"{TARGETS_DIR}/sub-{{subject}}"
RELIABILITY_DIR = "results/reliability/sub-{subject}"
# every method's site (no desc: the subject's targets table)
SUBJECT_TARGETS = bids_path(SUBJECT_TARGETS_DIR, "targets", ".tsv", sub="{subject}")
SUBJECT_RELIABILITY = bids_path(
    RELIABILITY_DIR, "targets", ".tsv", sub="{subject}", desc="reliability"
)
# Every target choice's full-data and half targets (reliability by choice).
SUBJECT_CHOICES = bids_path(
    RELIABILITY_DIR, "targets", ".tsv", sub="{subject}", desc="choices"
)
# Per-subject target uncertainty (targets.bootstrap): a one-row table and the probability
# map of the target location.
BOOTSTRAP = TargetingSettings.from_config(TARGETS).bootstrap.enabled
# The reliability keys the subject job reads (the group's bootstrap, conventions and
# published numbers are collect_reliability's: changing them reruns no subject job).
SUBJECT_RELIABILITY_KEYS = (
    "method",
    "minutes_grid",
    "min_timepoints",
    "paired_retest",
    "choices",
)
SUBJECT_BOOTSTRAP = bids_path(
    SUBJECT_TARGETS_DIR, "targets", "", sub="{subject}", desc="bootstrap"
)
SUBJECT_BOOTSTRAP_MAP = bids_path(
    SUBJECT_TARGETS_DIR,
    "probseg",
    ".nii.gz",
    sub="{subject}",
    space=SPACE,
    label="target",
    desc="bootstrap",
)


# The figure of the connectivity method's score map with the sites (PNG and PDF).
SUBJECT_FIGURE = bids_path(
    SUBJECT_TARGETS_DIR, "stat", "", sub="{subject}", space=SPACE, desc="target"
)

# rules/navigation.smk
NAVIGATION = config["navigation"]
NAV_DIR = "results/navigation/sub-{subject}"
SUBJECT_COIL = bids_path(
    NAV_DIR, "targets", ".tsv", sub="{subject}", space="T1w", desc="coil"
)
# Navigation files by format (the CSV always), for the clinic and the unblinded team:
# format -> (suffix, extension).
NAV_SUFFIXES = {
    "csv": ("targets", ".csv"),
    "brainsight": ("brainsight", ".txt"),
    "localite": ("localite", ".xml"),
}
NAV_FORMATS = ["csv", *NAVIGATION["formats"]]
NAV_REPORT = bids_path(NAV_DIR, "report", "", sub="{subject}", desc="navigation")
# The technician's packet (trial): the delivered site only, under a neutral label.
TECHNICIAN_DIR = "results/technician/sub-{subject}"
TECHNICIAN_REPORT = bids_path(
    TECHNICIAN_DIR, "report", "", sub="{subject}", desc="technician"
)
TECHNICIAN_KEY = "results/unblinded/technician_key.tsv"
# What a technician's file must not contain (tmstarget.blinding.revealing_words adds the
# printed method names).
REVEALING = sorted({*ARM_LABELS.values(), *TARGETS["methods"]})
# The connectivity method's score map and the subject's bootstrap (see rules/targets.smk).
SUBJECT_SCORE_MAP = score_map(TARGETS["connectivity_method"])
# The methods whose sites get a coil pose (the connectivity method, and Beam F3 if asked).
NAVIGATION_METHODS = [TARGETS["connectivity_method"]] + (
    [BEAM_F3] if TARGETS["beam_f3"] else []
)
# The technician's navigation CSV (the key's input: one per participant).
TECHNICIAN_CSV = bids_path(
    TECHNICIAN_DIR,
    *NAV_SUFFIXES["csv"],
    sub="{subject}",
    space="T1w",
    desc="technician",
)

# rules/reliability.smk
RELIABILITY = config["reliability"]

# rules/outcomes.smk
OUTCOME_TABLES = ["table1_baseline", "table2_outcomes", "table3_blinding_safety"]
OUTCOME_SOURCE_DATA = [
    "consort",
    "visits",
    "mixed_model",
    "mmrm",
    "participants",
    "rates",
    "effects",
]
OUTCOME_FIGURES = [
    "consort",
    "madrs_trajectories",
    "waterfall",
    "response_remission",
    "forest",
]

# rules/planning.smk
POWER_TABLES = ["power_sample_size", "power_inputs"]
POWER_SOURCE_DATA = ["power_curves", "power_sample_size_fits"]


@cache
def _runs_by_subject():
    if DEMO:
        # Known from the config before the demo is written, so that Snakemake plans (and
        # resumes) the whole workflow at once; rule check_inputs holds the written demo
        # against this plan.
        from tmstarget.demo import planned_runs

        return checks.apply_exclusions(
            planned_runs(BIDS_DIR, _demo_spec()), CHECK_SETTINGS
        )
    # Checked before any job runs (every problem at once, each naming its file); runs and
    # checks are cached in .snakemake/ while the dataset's files are unchanged: every
    # cluster job plans its own job again, and discovery on 1000 subjects costs about 12 s.
    return checks.checked_inputs(
        BIDS_DIR,
        FMRIPREP_DIR,
        QUERY,
        CHECK_SETTINGS,
        cache_dir=".snakemake/tmstarget",
    ).runs


@cache
def _participant_values():
    """participants.tsv's head measurements and (trial) arm roles by subject label, read
    at planning so that each job gets its subject's values as params: an edit reruns the
    jobs whose values changed, nothing else. The demo's are those it will write."""
    from tmstarget import clinical

    if DEMO:
        from tmstarget.simulate import simulate_clinical

        spec = _demo_spec()
        table = simulate_clinical(spec.clinical, spec.seed)["participants"]
        # as read from the file it will write: strings, None for n/a
        raw = table.map(lambda value: None if value != value else str(value))
        heads = clinical.validate_head_measurements(raw)
        arms = clinical.validate_participants(raw, ARM_LABELS)
    else:
        heads = clinical.load_head_measurements(BIDS_DIR)
        arms = None
        if TRIAL and heads is not None:
            arms = clinical.load_participants(BIDS_DIR, ARM_LABELS)
    values = {}
    for row in [] if heads is None else heads.itertuples(index=False):
        measured = [
            getattr(row, column) for column in clinical.HEAD_MEASUREMENT_COLUMNS
        ]
        values[row.participant_id.removeprefix("sub-")] = {
            "head_cm": None if any(math.isnan(v) for v in measured) else measured
        }
    for row in [] if arms is None else arms.itertuples(index=False):
        values[row.participant_id.removeprefix("sub-")]["arm"] = row.arm
    return values


def head_measurements(wildcards):
    """The subject's nasion-inion, tragus-tragus and circumference (cm) for Beam F3, or
    None (targets.beam_f3 off, or not measured: the input checks stop a run that needs
    them)."""
    if not config["targets"]["beam_f3"]:
        return None
    return _participant_values().get(wildcards.subject, {}).get("head_cm")


def participant_arm(subject):
    """The arm role (connectivity or scalp) of subject label ``subject`` (trial mode)."""
    arm = _participant_values().get(subject, {}).get("arm")
    if arm is None:
        raise ValueError(
            f"sub-{subject}: no arm in {PARTICIPANTS_TSV}; the technician's packet needs "
            "each participant's arm (or set mode: clinic)"
        )
    return arm


def subject_arm(wildcards):
    """The arm role of ``wildcards.subject`` (an input function)."""
    return participant_arm(wildcards.subject)


def runs_by_subject():
    """The runs to analyse, by subject label; found (and checked) once per invocation."""
    return _runs_by_subject()


def existing(paths):
    """The files of ``paths`` a real dataset has (the demo writes them all)."""
    return [path for path in paths if DEMO or Path(path).is_file()]


def checked_input_files(wildcards):
    """The input files of check_inputs (the rule): the demo's files, or the clinical
    tables and the configured target maps of a real dataset. A real dataset's runs are
    not listed (Snakemake's planning grows with the square of one job's inputs: 36,000
    files of a 1000-subject trial took minutes); their fingerprint is a param instead.
    """
    if DEMO:
        return _demo_files()
    maps = [
        config["targets"].get(key)
        for key in ("circuit_map", "search_mask", "sgacc_seed")
    ]
    return existing(CLINICAL_TABLES) + [path for path in maps if path]


# A hash of every file discovery reads (name, size, modification time): the runs rerun
# check_inputs when they change (none for the demo, whose files are its inputs).
INPUTS_FINGERPRINT = (
    None if DEMO else bids_io.dataset_fingerprint(Path(FMRIPREP_DIR), QUERY)
)


def subjects():
    """Subject labels (without "sub-") that have at least one run."""
    return sorted(runs_by_subject())


def reliability_stage():
    """Group reliability is built: stages.reliability and 2 or more imaging subjects."""
    if not STAGES["reliability"]:
        return False
    if len(subjects()) < 2:
        logger.warning(
            f"stages.reliability: {len(subjects())} subject(s) with imaging; the group "
            "reliability needs 2 or more and is left out (each patient's report has their "
            "own split-half distance)"
        )
        return False
    return True


# The trial's outcome analyses and the manuscript (trial mode only).
OUTCOMES_STAGE = TRIAL and STAGES["outcomes"]
MANUSCRIPT_STAGE = TRIAL and STAGES["manuscript"]


def subject_runs(wildcards):
    """The runs of ``wildcards.subject``, in BIDS order."""
    return runs_by_subject()[wildcards.subject]


def run_files(pattern):
    """``pattern`` for every run of the subject (an input function)."""

    def files(wildcards):
        return [
            pattern.format(subject=wildcards.subject, run_key=run.key)
            for run in subject_runs(wildcards)
        ]

    return files


def the_run(wildcards):
    """The run ``wildcards.run_key`` of ``wildcards.subject``."""
    for run in subject_runs(wildcards):
        if run.key == wildcards.run_key:
            return run
    raise ValueError(f"sub-{wildcards.subject} has no run {wildcards.run_key}")


# Input, param and resource functions of the rules (named, so that a rule reads as a list
# of what it takes).
def run_echoes(wildcards):
    """The run's echo files (or its one denoised series)."""
    return the_run(wildcards).echo_files


def run_mask(wildcards):
    """The run's brain mask as fMRIPrep wrote it."""
    return the_run(wildcards).mask_file


def run_transforms(wildcards):
    """The run's transforms onto the analysis grid (none for data already there)."""
    return the_run(wildcards).resample_xfms


def run_echo_times(wildcards):
    """The run's echo times (s)."""
    return the_run(wildcards).echo_times_s


def run_repetition_time(wildcards):
    """The run's repetition time (s)."""
    return the_run(wildcards).repetition_time_s


def run_dummy_volumes(wildcards):
    """The run's dummy volumes: preprocess.n_dummy when set, else discovery's."""
    if PREPROCESS["n_dummy"] is not None:
        return PREPROCESS["n_dummy"]
    return the_run(wildcards).n_dummy


def subject_series_inputs(wildcards):
    """The series clean_subject reads: per run tedana's output on the grid, or the run
    itself when it was denoised elsewhere in the template."""
    if DIRECT_TO_CLEANING:
        return [run.echo_files[0] for run in subject_runs(wildcards)]
    return run_files(RUN_BOLD)(wildcards)


def subject_mask_inputs(wildcards):
    """The runs' brain masks on the analysis grid (clean_subject)."""
    if DIRECT_TO_CLEANING:
        return [run.mask_file for run in subject_runs(wildcards)]
    return run_files(RUN_MASK)(wildcards)


def subject_confounds(wildcards):
    """The runs' fMRIPrep confounds tables."""
    return [run.confounds_file for run in subject_runs(wildcards)]


def subject_run_labels(wildcards):
    """The runs' keys (entities after sub-), in BIDS order."""
    return [run.key for run in subject_runs(wildcards)]


def subject_repetition_times(wildcards):
    """The runs' repetition times (s)."""
    return [run.repetition_time_s for run in subject_runs(wildcards)]


def subject_dummy_volumes(wildcards):
    """The runs' dummy volumes as discovery found them (None: from the confounds)."""
    return [run.n_dummy for run in subject_runs(wildcards)]


def subject_repetition_time(wildcards):
    """The subject's repetition time (s; the runs share it: the checks hold them so)."""
    return subject_runs(wildcards)[0].repetition_time_s


def subject_template_transforms(wildcards):
    """The subject's template-to-T1w transforms (native coordinates of the sites)."""
    return subject_runs(wildcards)[0].template_xfms


def every_subject(pattern):
    """An input function: ``pattern`` for every subject."""

    def files(wildcards):
        return expand(pattern, subject=subjects())

    return files


def first_subject(pattern):
    """An input function: ``pattern`` for the first subject (a mask that every subject
    shares: the analysis grid)."""

    def files(wildcards):
        return expand(pattern, subject=subjects()[0])

    return files


def participant_arms(wildcards):
    """Every participant's arm role (technician_key)."""
    return {f"sub-{subject}": participant_arm(subject) for subject in subjects()}


def fitted_memory(rule):
    """A resource function: the memory (MB) of ``rule``'s job from the samples it reads
    (RESOURCE_FITS), times the attempt."""
    samples, largest_run = RULE_SAMPLES[rule]

    def mem_mb(wildcards, attempt):
        largest = largest_run(wildcards) if largest_run else 0.0
        return fitted_mem_mb(rule, samples(wildcards), largest, attempt)

    return mem_mb


def fitted_runtime(rule):
    """A resource function: the runtime (minutes) of ``rule``'s job from the samples it
    reads, times the attempt."""
    samples, _ = RULE_SAMPLES[rule]

    def runtime(wildcards, attempt):
        return fitted_runtime_min(rule, samples(wildcards), attempt)

    return runtime


def _run_msamples_of(wildcards):
    return run_msamples(the_run(wildcards))


def _largest_run_msamples(wildcards):
    return subject_grid_msamples(wildcards, largest_run=True)


# What each fitted rule's request scales with: (million samples of the job, of its largest
# run or None).
RULE_SAMPLES = {
    "prepare_run": (_run_msamples_of, None),
    "clean_subject": (subject_grid_msamples, _largest_run_msamples),
    "find_targets": (subject_grid_msamples, None),
}


def demo_root(wildcards, output):
    """The demo dataset's root: the folder of its dataset_description.json (the first of
    simulate_cohort's outputs)."""
    return Path(output.dataset[0]).parent


def power_memory(wildcards, threads):
    """Resource function of simulate_power: 1 GB plus 300 MB per worker process."""
    return 1000 + 300 * threads


def manuscript_files(wildcards):
    """Every manuscript file (rule manuscript's input)."""
    return [path for _, _, path, _ in manuscript_items()]


def manuscript_entries(wildcards):
    """Every manuscript entry (section, kind, path, caption; rule manuscript's param)."""
    return manuscript_items()


# The manuscript's files (rules/report.smk), each with its report caption.
def _item(section, kind, paths, caption=None):
    """Manifest entries (section, kind, path, caption file) for one or more paths; caption
    files are named relative to the repository (the working folder may be elsewhere)."""
    paths = [paths] if isinstance(paths, str) else list(paths)
    caption = str(Path(workflow.basedir) / caption) if caption else None
    return [(section, kind, str(path), caption) for path in paths]


def _paired(section, kind, pngs_or_tsvs, others, captions):
    """Each main file (PNG or TSV) with its other formats, in order, under one caption."""
    entries = []
    for main, caption in zip(pngs_or_tsvs, captions):
        stem = str(main).rsplit(".", 1)[0]
        entries += _item(section, kind, main, caption)
        entries += _item(
            section,
            kind,
            [o for o in others if str(o).rsplit(".", 1)[0] == stem],
            caption,
        )
    return entries


def manuscript_items():
    """Every manuscript file with its report caption, in reading order."""
    provenance = rules.provenance.output
    items = _item(
        "Provenance", "provenance", provenance.config, "report/provenance/config.rst"
    )
    items += _item(
        "Provenance",
        "provenance",
        provenance.versions,
        "report/provenance/versions.rst",
    )
    items += _item(
        "Inputs",
        "table",
        "results/inputs/inventory.tsv",
        "report/inventory.rst",
    )
    items += _item("Inputs", "table", SUBJECTS_TABLE, "report/subjects.rst")
    items += _paired(
        "Preprocessing QC",
        "table",
        [rules.summarise_qc.output.table],
        rules.summarise_qc.output.journal,
        ["report/preprocess/group_qc.rst"],
    )
    targets = rules.collect_targets.output
    items += _item("Targets", "table", targets.table, "report/targets/table.rst")
    items += _item(
        "Targets", "table", targets.distances, "report/targets/distances_table.rst"
    )
    items += _item("Targets", "table", targets.navigation)
    items += _paired(
        "Targets",
        "figure",
        [targets.group_figure, targets.distance_figure],
        targets.vector_figures,
        ["report/targets/group.rst", "report/targets/distances.rst"],
    )
    if DEMO:
        recovery = rules.score_recovery.output
        items += _paired(
            "Targets",
            "table",
            [recovery.summary],
            recovery.journal,
            ["report/targets/recovery_table.rst"],
        )
        items += _item("Targets", "source data", recovery.per_subject)
        items += _paired(
            "Targets",
            "figure",
            [recovery.figure],
            [recovery.vector_figure],
            ["report/targets/recovery.rst"],
        )
    if reliability_stage():
        items += _reliability_items()
    if OUTCOMES_STAGE:
        items += _outcome_items()
    if PLANNING:
        items += _planning_items()
    return items


def _reliability_items():
    reliability = rules.analyse_reliability.output
    items = _paired(
        "Reliability",
        "table",
        reliability.tables,
        reliability.journal,
        [
            "report/reliability/reliability.rst",
            "report/reliability/scan_length.rst",
            "report/reliability/choice_reliability.rst",
        ],
    )
    items += _paired(
        "Reliability",
        "figure",
        reliability.figures,
        reliability.vector_figures,
        [
            "report/reliability/within_between_figure.rst",
            "report/reliability/scan_length_figure.rst",
            "report/reliability/choice_reliability_figure.rst",
        ],
    )
    items += _item("Reliability", "source data", reliability.source_data)
    return items


def _outcome_items():
    outcomes = rules.analyse_outcomes.output
    mechanism = rules.analyse_mechanism.output
    items = _paired(
        "Trial outcomes",
        "table",
        [*outcomes.tables, mechanism.table],
        [*outcomes.journal_tables, *mechanism.journal],
        [f"report/outcomes/{table}.rst" for table in OUTCOME_TABLES]
        + ["report/outcomes/table4_mechanism.rst"],
    )
    items += _paired(
        "Trial outcomes",
        "figure",
        [*rules.plot_outcomes.output.figures, mechanism.figure],
        [*rules.plot_outcomes.output.vector_figures, mechanism.vector_figure],
        [f"report/outcomes/{figure}.rst" for figure in OUTCOME_FIGURES]
        + ["report/outcomes/mechanism.rst"],
    )
    items += _item(
        "Trial outcomes",
        "source data",
        [*outcomes.source_data, mechanism.source_data],
    )
    return items


def _planning_items():
    power = rules.simulate_power.output
    items = _paired(
        "Trial planning",
        "table",
        power.tables,
        power.journal_tables,
        [f"report/planning/{table}.rst" for table in POWER_TABLES],
    )
    items += _paired(
        "Trial planning",
        "figure",
        [rules.plot_power.output.figure],
        [rules.plot_power.output.vector_figure],
        ["report/planning/power_curves.rst"],
    )
    items += _item("Trial planning", "source data", power.source_data)
    return items


# Per-patient navigation outputs (rules/navigation.smk).
def navigation_files(folder, desc):
    """The navigation files of one patient in ``folder``: format -> path."""
    return {
        fmt: bids_path(
            folder, *NAV_SUFFIXES[fmt], sub="{subject}", space="T1w", desc=desc
        )
        for fmt in NAV_FORMATS
    }


def subject_t1w(wildcards):
    """The patient's preprocessed T1w (fMRIPrep's desc-preproc_T1w, with the scalp)."""
    for run in subject_runs(wildcards):
        if run.t1w_file:
            return run.t1w_file
    raise ValueError(
        f"sub-{wildcards.subject}: no anat/sub-{wildcards.subject}_desc-preproc_T1w.nii.gz "
        f"in {FMRIPREP_DIR}: the coil is placed on the patient's own scalp; give fMRIPrep's "
        "anatomical outputs, or leave the subject out with input.exclude_subjects"
    )


def subject_sources(wildcards):
    """The patient's input files, whose checksums the report lists."""
    files = []
    for run in subject_runs(wildcards):
        files += [*run.echo_files, run.mask_file, run.confounds_file]
        files += [run.boldref_xfm] if run.boldref_xfm else []
    files += subject_runs(wildcards)[0].template_xfms
    return files + [subject_t1w(wildcards)]


def delivered(wildcards):
    """The method whose site the patient receives: the connectivity method in a clinic,
    the arm's method in a trial."""
    from tmstarget.blinding import delivered_method

    if not TRIAL:
        return TARGETS["connectivity_method"]
    return delivered_method(subject_arm(wildcards), TARGETS["connectivity_method"])


def report_inputs(wildcards):
    """What a patient's report reads (the bootstrap where it is on)."""
    inputs = {
        "targets": SUBJECT_TARGETS.format(subject=wildcards.subject),
        "coil": SUBJECT_COIL.format(subject=wildcards.subject),
        "metrics": QC_METRICS.format(subject=wildcards.subject),
        "reliability": SUBJECT_RELIABILITY.format(subject=wildcards.subject),
        "score_map": SUBJECT_SCORE_MAP.format(subject=wildcards.subject),
        "t1w": subject_t1w(wildcards),
    }
    if BOOTSTRAP:
        inputs["bootstrap"] = f"{SUBJECT_BOOTSTRAP}.tsv".format(
            subject=wildcards.subject
        )
        inputs["bootstrap_map"] = SUBJECT_BOOTSTRAP_MAP.format(
            subject=wildcards.subject
        )
    return inputs


def navigation_outputs(wildcards):
    """Every per-patient navigation output (and, in trial mode, the technician's packet
    and its key)."""
    outputs = []
    for subject in subjects():
        outputs += expand(rules.place_coil.output, subject=subject)
        outputs += expand(rules.report_patient.output, subject=subject)
    return outputs + ([TECHNICIAN_KEY] if TRIAL else [])
