# Input discovery, helper functions and wildcard constraints shared by every stage.
import math
from functools import cache
from pathlib import Path
from typing import NamedTuple

from tmstarget import bids as bids_io
from tmstarget.config import check_config, fmriprep_dir

check_config(config)

DEMO = config["demo"]["enabled"]
BIDS_DIR = config["input"]["bids_dir"]
FMRIPREP_DIR = fmriprep_dir(config)


wildcard_constraints:
    subject="[A-Za-z0-9]+",


class ResourceFit(NamedTuple):
    """Memory (MB) and runtime (minutes) of a rule as a floor plus a slope per MB of
    what the rule reads."""

    mem_floor_mb: float
    mem_per_input_mb: float
    runtime_floor_min: float
    runtime_per_input_mb: float


# Fitted to benchmarks/README.md: one trial-sized subject (2 mm grid, 235,375 brain voxels,
# 3 runs x 410 volumes, 4 echoes) has 1,810 MB of .nii.gz echoes (603 MB per run), 2,169 MB
# of tedana outputs per subject (of which the optcom and denoised series, 1,950 MB: cleaning
# counts half the folder, the size of one series per run) and a 1,053 MB cleaned series.
# Measured there: tedana 12,657 MB peak and about 300 s per run (1,908 MB of echoes for the
# subject at the 2 mm noise level; up to 1,834 s when tedana finds no BOLD component and
# re-runs ICA nine times), cleaning 10,219 MB and 260 s, loading the series for targeting
# 8,629 MB and about 2 min for the whole rule. With the floor, a trial-sized subject gets
# about 1.2x the measured peak; tedana gets about 4x its usual time (67 min), its retry
# covers the nine restarts; the other slopes give 2-3x the measured time (a job over its
# memory or time is killed). Floors cover Python and the imports: at demo size these jobs
# peak at about 400 MB and take 15-120 s. Each retry (`--retries`) multiplies both by the
# attempt number.
RESOURCE_FITS = {
    # per MB of one run's echoes (runs are denoised one after another); time per MB of all
    "denoise_tedana": ResourceFit(1500, 22.0, 10, 0.03),
    # per MB of the series to clean: half the tedana folder, or the denoised inputs
    "clean_subject": ResourceFit(1500, 10.0, 10, 0.01),
    # per MB of the cleaned series
    "find_targets": ResourceFit(1500, 8.0, 10, 0.005),
}
# Simulating and writing one trial-sized subject took 193.5 s wall for 4.44e9 samples
# (grid voxels x volumes x echoes x runs): 44 s per 1e9 samples, one subject per thread.
SIMULATE_S_PER_GIGASAMPLE = 44.0


def fitted_mem_mb(rule, input_mb, attempt=1):
    """Memory (MB) to ask for ``rule`` reading ``input_mb`` MB (see RESOURCE_FITS)."""
    fit = RESOURCE_FITS[rule]
    return math.ceil(attempt * (fit.mem_floor_mb + fit.mem_per_input_mb * input_mb))


def fitted_runtime_min(rule, input_mb, attempt=1):
    """Runtime (minutes) to ask for ``rule`` reading ``input_mb`` MB (see RESOURCE_FITS)."""
    fit = RESOURCE_FITS[rule]
    return math.ceil(
        attempt * (fit.runtime_floor_min + fit.runtime_per_input_mb * input_mb)
    )


def directory_mb(paths):
    """Total size (MB) of the files inside directories. Snakemake's ``input.size_mb``
    counts a directory (such as tedana's output folder) as its own 4 kB entry."""
    paths = [paths] if isinstance(paths, str) else paths
    return (
        sum(
            file.stat().st_size
            for path in paths
            for file in Path(path).rglob("*")
            if file.is_file()
        )
        / 2**20
    )


def _demo_spec():
    from tmstarget.demo import spec_from_config

    return spec_from_config(config["demo"], config["trial"]["arm_labels"])


def demo_memory_mb(workers, attempt=1):
    """Memory (MB) for simulating ``workers`` demo subjects at once."""
    from tmstarget.simulate import demo_memory_mb as estimate

    return attempt * estimate(_demo_spec().imaging, workers)


def demo_runtime_min(workers, attempt=1):
    """Runtime (minutes) for simulating the demo cohort ``workers`` subjects at a time:
    10 minutes plus twice the fitted time."""
    from tmstarget.atlas import mni_grid

    spec = _demo_spec()
    shape, _ = mni_grid(spec.imaging.voxel_size_mm)
    samples = (
        math.prod(shape)
        * spec.imaging.n_volumes
        * len(spec.imaging.echo_times_s)
        * spec.imaging.n_runs
    )
    rounds = math.ceil(2 * spec.clinical.n_per_arm / workers)
    minutes = 10 + 2 * rounds * SIMULATE_S_PER_GIGASAMPLE * samples / 1e9 / 60
    return math.ceil(attempt * minutes)


def demo_ready():
    """Wait for the simulate_cohort checkpoint (demo only) before reading the dataset.

    Input functions that need to know what the dataset holds call this first; Snakemake
    re-evaluates them once the demo has been written."""
    if DEMO:
        checkpoints.simulate_cohort.get()


@cache
def _runs_by_subject():
    # Cached in .snakemake/ while the dataset's files are unchanged: every cluster job
    # plans its own job again, and discovery on 1000 subjects costs about 12 s.
    return bids_io.discover_runs(
        BIDS_DIR,
        FMRIPREP_DIR,
        space=config["input"]["space"],
        task=config["input"]["task"],
        subjects=config["input"]["subjects"],
        resolution=config["input"]["resolution"],
        desc=config["preprocess"]["denoised_input_desc"] or "preproc",
        cache_dir=".snakemake/tmstarget",
    )


def runs_by_subject():
    """Runs found by pybids, by subject label; read once per Snakemake invocation."""
    demo_ready()
    return _runs_by_subject()


def subjects():
    """Subject labels (without "sub-") that have at least one run."""
    return sorted(runs_by_subject())


def subject_runs(wildcards):
    """The runs of ``wildcards.subject``, in BIDS order."""
    return runs_by_subject()[wildcards.subject]


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
    reliability = rules.analyse_reliability.output
    items += _paired(
        "Reliability",
        "table",
        reliability.tables,
        reliability.journal,
        ["report/reliability/reliability.rst", "report/reliability/scan_length.rst"],
    )
    items += _paired(
        "Reliability",
        "figure",
        reliability.figures,
        reliability.vector_figures,
        [
            "report/reliability/within_between_figure.rst",
            "report/reliability/scan_length_figure.rst",
        ],
    )
    items += _item("Reliability", "source data", reliability.source_data)
    outcomes = rules.analyse_outcomes.output
    mechanism = rules.analyse_mechanism.output
    items += _paired(
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
