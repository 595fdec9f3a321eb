"""Shared by the benchmarks: the trial-sized demo spec (and its smoke-test version), timers
with peak memory (in this process, or each step in a fresh one) and their table cells.

The scripts run as ``python benchmarks/<script>.py`` from the repository root, which puts
benchmarks/ first on the path: they import this module as ``common``."""

from __future__ import annotations

import dataclasses
import multiprocessing
import re
import resource
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import yaml
from snakemake.utils import validate

from tmstarget.demo import DemoSpec, spec_from_config

REPO = Path(__file__).resolve().parents[1]


def shipped_config() -> dict:
    """config/config.yaml as shipped (not validated)."""
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def full_scale_spec() -> DemoSpec:
    """The demo spec of config/config.yaml overlaid with config/full_scale.yaml."""
    config = shipped_config()
    overlay = yaml.safe_load((REPO / "config" / "full_scale.yaml").read_text())
    config["demo"]["imaging"].update(overlay["demo"]["imaging"])
    validate(config, str(REPO / "config" / "schema.yaml"))
    return spec_from_config(config["demo"], config["trial"]["arm_labels"])


def bench_spec(smoke: bool) -> DemoSpec:
    """The full-scale spec; ``smoke``: a 4 mm, 80-volume version to check the script."""
    spec = full_scale_spec()
    if smoke:
        imaging = dataclasses.replace(spec.imaging, voxel_size_mm=4.0, n_volumes=80)
        spec = dataclasses.replace(spec, imaging=imaging)
    return spec


# --------------------------------------------------------------------------- in this process


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


def _status_mb(field: str) -> float | None:
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return None
    match = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) / 1024 if match else None


def reset_peak() -> bool:
    """Reset this process's peak RSS (Linux >= 4.0); False if it cannot be reset."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_mb() -> float:
    """Peak RSS (MB) since the last reset_peak (or since the start)."""
    hwm = _status_mb("VmHWM")
    return hwm if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclasses.dataclass
class Step:
    stage: str
    wall: float = 0.0
    cpu: float = 0.0
    peak: float | None = None
    notes: str = ""


@contextmanager
def measure(steps: list, stage: str, notes: str = ""):
    """Append a Step with wall and CPU seconds and the peak RSS of the block."""
    step = Step(stage, notes=notes)
    resettable = reset_peak()
    start, cpu = time.perf_counter(), time.process_time()
    yield step
    step.wall, step.cpu = time.perf_counter() - start, time.process_time() - cpu
    step.peak = peak_mb() if resettable else None
    steps.append(step)
    print(f"  {stage}: {step.wall:.1f} s (CPU {step.cpu:.1f} s)", flush=True)


def print_steps(steps: list, title: str) -> None:
    print(f"\n{title}\n")
    print("| stage | seconds | CPU s | peak RSS (MB) | notes |")
    print("|---|---:|---:|---:|---|")
    for s in steps:
        peak = "" if s.peak is None else f"{s.peak:.0f}"
        print(f"| {s.stage} | {seconds(s.wall)} | {seconds(s.cpu)} | {peak} | {s.notes} |")


# --------------------------------------------------------------------------- in a fresh process


def _measured(function, *args):
    start, cpu = time.perf_counter(), time.process_time()
    result = function(*args)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak_kb = max(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    )
    return result, wall, cpu, peak_kb / 1024


def isolated(function, *args):
    """``function(*args)`` in a fresh spawned process: (result, wall s, CPU s, peak RSS MB)."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(_measured, function, *args).result()


# --------------------------------------------------------------------------- table cells


def seconds(value: float) -> str:
    if value != value:  # NaN: not measured
        return ""
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"
