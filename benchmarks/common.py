"""Shared by the benchmarks: the trial-sized demo spec and a timer with peak memory."""

from __future__ import annotations

import resource
import time
from contextlib import contextmanager
from pathlib import Path

import yaml
from snakemake.utils import validate

from tmstarget.demo import DemoSpec, spec_from_config

REPO = Path(__file__).resolve().parents[1]


def full_scale_spec() -> DemoSpec:
    """The demo spec of config/config.yaml overlaid with config/full_scale.yaml."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    overlay = yaml.safe_load((REPO / "config" / "full_scale.yaml").read_text())
    config["demo"]["imaging"].update(overlay["demo"]["imaging"])
    validate(config, str(REPO / "config" / "schema.yaml"))
    return spec_from_config(config["demo"], config["trial"]["arm_labels"])


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (MB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def timed(results: list, stage: str):
    """Append (stage, seconds, peak RSS MB) to ``results`` when the block ends."""
    start = time.perf_counter()
    yield
    results.append((stage, time.perf_counter() - start, peak_rss_mb()))


def print_table(results: list, title: str) -> None:
    print(f"\n{title}\n")
    print(f"| {'stage':<40} | {'seconds':>8} | {'peak RSS (MB)':>13} |")
    print(f"|{'-' * 42}|{'-' * 10}|{'-' * 15}|")
    for stage, seconds, rss in results:
        print(f"| {stage:<40} | {seconds:8.1f} | {rss:13.0f} |")
