# Input discovery, helper functions and wildcard constraints shared by every stage.
from functools import cache
from pathlib import Path

from tmstarget import bids as bids_io
from tmstarget.config import check_config, fmriprep_dir

check_config(config)

DEMO = config["demo"]["enabled"]
BIDS_DIR = config["input"]["bids_dir"]
FMRIPREP_DIR = fmriprep_dir(config)


wildcard_constraints:
    subject="[A-Za-z0-9]+",


def demo_memory_mb(workers):
    """Memory (MB) for simulating ``workers`` demo subjects at once."""
    from tmstarget.demo import spec_from_config
    from tmstarget.simulate import demo_memory_mb as estimate

    spec = spec_from_config(config["demo"], config["trial"]["arm_labels"])
    return estimate(spec.imaging, workers)


def demo_ready():
    """Wait for the simulate_cohort checkpoint (demo only) before reading the dataset.

    Input functions that need to know what the dataset holds call this first; Snakemake
    re-evaluates them once the demo has been written."""
    if DEMO:
        checkpoints.simulate_cohort.get()


@cache
def _runs_by_subject():
    layout = bids_io.load_layout(BIDS_DIR, FMRIPREP_DIR)
    return bids_io.find_runs(
        layout,
        space=config["input"]["space"],
        task=config["input"]["task"],
        subjects=config["input"]["subjects"],
        resolution=config["input"]["resolution"],
        desc=config["preprocess"]["denoised_input_desc"] or "preproc",
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
