"""Shared fixtures: a tiny demo dataset written once per test session, and the tiny
workflow run once per session (workflow tests and the SLURM test compare against it)."""

import hashlib
from pathlib import Path

import pytest
import yaml

from tmstarget import demo, simulate

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

# Small enough to write in seconds, big enough to exercise every code path: two runs,
# three echoes, 6 mm voxels, 5 + 5 participants (calibration ranges widened: five per arm
# cannot reach every P value).
TINY_SPEC = demo.DemoSpec(
    seed=11,
    clinical=simulate.ClinicalSpec(
        n_per_arm=5, cohens_d_range=(0.3, 3.0), mann_whitney_p_range=(0.0, 1.0)
    ),
    imaging=simulate.ImagingSpec(voxel_size_mm=6.0, n_runs=2, n_volumes=40),
)


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    """A tiny demo cohort written to a temporary BIDS folder (read-only for tests)."""
    root = tmp_path_factory.mktemp("tiny") / "bids"
    demo.write_demo_dataset(root, TINY_SPEC, threads=1)
    return root


def snakemake_command(workdir: Path, *args: str, configfiles=()) -> list[str]:
    """The command line that runs the repository's workflow in ``workdir`` (outputs land
    there) with the shipped config plus ``configfiles`` on top."""
    import sys

    return [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(REPO / "config" / "config.yaml"),
        *(str(path) for path in configfiles),
        *args,
    ]


def run_snakemake(workdir: Path, *args: str, configfiles=(), timeout: int = 900):
    """Run :func:`snakemake_command` in ``workdir`` and return the completed process; its
    ``output`` attribute holds stdout and stderr together."""
    import subprocess

    result = subprocess.run(
        snakemake_command(workdir, *args, configfiles=configfiles),
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    result.output = result.stdout + result.stderr
    return result


# The tiny workflow: 3 + 3 participants, 6 mm, two runs of 64 volumes (calibration ranges
# widened: three per arm cannot reach every P value).
TINY = {
    "demo": {
        "seed": 3,
        "n_per_arm": 3,
        "clinical": {"cohens_d_range": [0.3, 3.0], "mann_whitney_p_range": [0.0, 1.0]},
        "imaging": {"voxel_size_mm": 6, "n_runs": 2, "n_volumes": 64},
    }
}


def tiny_config(workdir: Path) -> Path:
    """Write the tiny workflow's config into ``workdir`` and return its path."""
    config = workdir / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY))
    return config


def run_tiny(workdir: Path, cores: int = 2) -> Path:
    """Run the tiny workflow in ``workdir``; returns its results folder."""
    result = run_snakemake(workdir, "--cores", str(cores), configfiles=[tiny_config(workdir)])
    assert result.returncode == 0, result.output[-3000:]
    return workdir / "results"


def digest(folder: Path) -> dict[str, str]:
    """Every output's hash, but for logs, benchmarks and tedana's own folders
    (``derivatives/tedana-<run>/``: tedana stamps its log files and provenance with the
    time of the run)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
        and not {"logs", "benchmarks"} & set(p.parts)
        and not any(part.startswith("tedana-") for part in p.parts)
    }


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """The tiny workflow run once with --cores 2 (read-only for tests). A developer may
    set TMSTARGET_TINY_RUN to the folder of a finished, up-to-date tiny run (with its
    tiny.yaml) to reuse it."""
    import os

    reuse = os.environ.get("TMSTARGET_TINY_RUN")
    if reuse:
        return run_tiny(Path(reuse))
    return run_tiny(tmp_path_factory.mktemp("workflow"))
