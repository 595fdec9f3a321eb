"""Cost of the reliability stage for one full-scale subject, relative to one full-data
target.

Input: the same cleaned-like config/full_scale.yaml series as bench_targeting.py (built
in the work folder, or reused from it; ``--bold``/``--mask`` take a real cleaned series).

Timed, in one process holding the loaded series, as the split_half_targets rule runs it
(one thread): loading the series, one full-data target of the method
(``stimulation.find_target``, default ``circuit_searchlight``), then
``reliability.subject_reliability`` with config/config.yaml's reliability settings
(minutes grid, min_timepoints, paired_retest), which targets the full series, its two
halves and the first k minutes for every k of the grid that fits the data. Every
targeting run inside it is timed too, to show how the cost follows the number of volumes.
Peak RSS of a step is the process's high-water mark during that step (reset through
/proc/self/clear_refs), so it includes the series held in memory. The ratio uses CPU
seconds (the wall clock stretches when the cores are shared).

Usage: python benchmarks/bench_reliability.py [work folder] [--bold B --mask M]
[--method circuit_searchlight] [--smoke]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np
from bench_targeting import cleaned_like_series
from common import Step, measure, print_steps, shipped_config
from threadpoolctl import threadpool_limits

from tmstarget.reliability import ReliabilityParams, subject_reliability
from tmstarget.stimulation import (
    METHODS,
    TargetingSettings,
    find_target,
    load_timeseries,
    subject_maps,
)


def main(
    work: Path, bold: Path | None, mask: Path | None, method: str, smoke: bool = False
) -> None:
    if bold is None:
        bold, mask, _ = cleaned_like_series(work, smoke)
    repetition_time_s = float(nib.load(bold).header.get_zooms()[3])
    config = shipped_config()["reliability"]
    params = ReliabilityParams.from_config(config)
    settings = TargetingSettings()
    steps: list[Step] = []
    calls: list[tuple[int, float, float]] = []

    def target_fn(part: np.ndarray):
        start, cpu = time.perf_counter(), time.process_time()
        result = find_target(maps, method, settings, part)
        calls.append((len(part), time.perf_counter() - start, time.process_time() - cpu))
        return result

    with threadpool_limits(limits=1):
        with measure(steps, "load + mask the series (load_timeseries)") as load:
            timeseries, brain_mask = load_timeseries(bold, mask)
        n_volumes = len(timeseries)
        load.notes = f"{n_volumes} volumes x {timeseries.shape[1]} voxels, TR {repetition_time_s} s"
        with measure(steps, "circuit map, search mask, seed onto the grid"):
            maps = subject_maps(timeseries, brain_mask, settings)
        with measure(steps, f"one full-data target ({method})") as full:
            target = find_target(maps, method, settings).target
        full.notes = f"target ({target.mm[0]:.0f}, {target.mm[1]:.0f}, {target.mm[2]:.0f}) mm"
        with measure(steps, f"subject_reliability ({method})") as stage:
            table = subject_reliability(
                maps.timeseries,
                maps.brain_mask,
                repetition_time_s,
                target_fn,
                params.minutes_grid,
                subject="sub-01",
                min_timepoints=params.min_timepoints,
                paired_retest=params.paired_retest,
            )
    skipped = int((table["note"] != "").sum())
    volumes_targeted = sum(n for n, _, _ in calls)
    stage.notes = (
        f"{len(calls)} targeting runs for {len(table)} segments ({skipped} skipped: "
        f"longer than the data or too short); {volumes_targeted / n_volumes:.2f}x the "
        "full series' volumes"
    )
    print_steps(steps, f"Reliability of one subject ({bold.name}), one thread")

    print("\nTargeting runs inside subject_reliability:\n")
    print("| volumes | seconds | CPU s | CPU s per 1000 volumes |")
    print("|---:|---:|---:|---:|")
    for n, wall, cpu in sorted(calls):
        print(f"| {n} | {wall:.2f} | {cpu:.2f} | {1000 * cpu / n:.2f} |")

    grid = ", ".join(f"{k:g}" for k in params.minutes_grid)
    print(
        f"\nMinutes grid [{grid}] on {n_volumes * repetition_time_s / 60:.1f} min of data: "
        f"{len(calls)} targeting runs.\n"
        f"Cost relative to one full-data target: {stage.cpu / full.cpu:.1f}x CPU "
        f"({stage.wall / full.wall:.1f}x wall); relative to loading the series: "
        f"{stage.cpu / load.cpu:.1f}x CPU."
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("work", nargs="?", type=Path, help="work folder (default: temporary)")
    parser.add_argument("--bold", type=Path, help="a cleaned series instead of the simulated one")
    parser.add_argument("--mask", type=Path, help="its brain mask (with --bold)")
    parser.add_argument("--method", default="circuit_searchlight", choices=METHODS)
    parser.add_argument("--smoke", action="store_true", help="4 mm, 80 volumes: check only")
    args = parser.parse_args()
    if (args.bold is None) != (args.mask is None):
        parser.error("--bold and --mask go together")
    if args.work is not None:
        main(args.work, args.bold, args.mask, args.method, args.smoke)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp), args.bold, args.mask, args.method, args.smoke)
