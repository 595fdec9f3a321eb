"""Shared fixtures: a tiny demo dataset written once per test session."""

from pathlib import Path

import pytest

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


def run_snakemake(workdir: Path, *args: str, configfiles=(), timeout: int = 900):
    """Run the repository's workflow in ``workdir`` (outputs land there) with the shipped
    config plus ``configfiles`` on top, and return the completed process; its ``output``
    attribute holds stdout and stderr together."""
    import subprocess
    import sys

    command = [
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
    result = subprocess.run(
        command, cwd=workdir, capture_output=True, text=True, timeout=timeout, check=False
    )
    result.output = result.stdout + result.stderr
    return result
