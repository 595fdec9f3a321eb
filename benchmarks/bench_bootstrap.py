"""Cost of the per-subject block bootstrap against loading the series, on a trial-sized
subject, and against the straightforward bootstrap (rerun the searchlight on each
resampled series).

Input: bench_targeting.py's cleaned-like series of one config/full_scale.yaml subject
(2 mm MNI grid, about 235,000 brain voxels, 3 runs x 406 volumes), written under the
work folder once and reused. Timed in one process, one thread, as find_targets runs:

(a) ``stimulation.load_timeseries`` (read + mask) and the maps put on the grid;
(b) ``stimulation.score_model``: the circuit signal and the cone signals of every
    candidate, once;
(c) ``uncertainty.bootstrap_targets`` with config.yaml's ``targets.bootstrap`` (500
    resamples of 60 s blocks inside the runs), and with 100 and 2000 resamples;
(d) the straightforward baseline: for a few resamples, the resampled series built
    (``np.take`` of its volumes) and ``stimulation.find_target`` run on it; extrapolated
    to the resamples of (c), and its targets compared with (c)'s for the same resamples.

Usage: python benchmarks/bench_bootstrap.py [work folder] [--baseline 3] [--smoke]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from bench_targeting import cleaned_like_series
from common import Step, measure, print_steps, shipped_config
from threadpoolctl import threadpool_limits

from tmstarget import uncertainty
from tmstarget.stimulation import (
    TargetingSettings,
    find_target,
    load_timeseries,
    score_model,
    subject_maps,
)


def main(work: Path, n_baseline: int, smoke: bool) -> None:
    config = shipped_config()
    settings = TargetingSettings.from_config(config["targets"])
    boot = settings.bootstrap
    bold, mask, tr_s = cleaned_like_series(work, smoke)
    steps: list[Step] = []
    with threadpool_limits(limits=1):
        with measure(steps, "(a) load the cleaned series (read + mask)"):
            timeseries, brain_mask = load_timeseries(bold, mask)
        with measure(steps, "(a) circuit map, search mask, seed on the grid"):
            maps = subject_maps(timeseries, brain_mask, settings)
        n_t = timeseries.shape[0]
        runs = 3 if not smoke else 3
        per_run = n_t // runs
        segments = [(k * per_run, (k + 1) * per_run if k < runs - 1 else n_t) for k in range(runs)]
        with measure(steps, "(b) score model: circuit and cone signals, once") as step:
            model = score_model(maps, "circuit_searchlight", settings)
            step.notes = f"{len(model.candidate_mm)} candidates x {n_t} volumes"
        blocks = uncertainty.block_volumes(boot.block_s, tr_s)
        results = {}
        for n in (100, boot.n_resamples, 2000):
            with measure(steps, f"(c) bootstrap, {n} resamples") as step:
                results[n] = uncertainty.bootstrap_targets(
                    model, segments, blocks, n, [boot.seed, 1], settings.choice_settings
                )
                step.notes = (
                    f"{blocks}-volume blocks; 95% radius {results[n].radius_mm:.2f} mm, "
                    f"{100 * results[n].share_within_coil:.0f}% within "
                    f"{settings.coil_radius_mm:g} mm"
                )
        counts = uncertainty.resample_multiplicities(
            segments, n_t, blocks, boot.n_resamples, [boot.seed, 1]
        )
        agree = 0
        with measure(steps, f"(d) baseline: {n_baseline} resampled series, find_target") as step:
            for row in range(n_baseline):
                order = np.repeat(np.arange(n_t), counts[row])
                resampled = np.take(timeseries, order, axis=0)
                target = find_target(maps, "circuit_searchlight", settings, resampled).target
                del resampled
                index = results[boot.n_resamples].resample_index[row]
                agree += tuple(model.candidate_ijk[index]) == target.ijk
            step.notes = f"same target as (c) in {agree} of {n_baseline}"
    print_steps(steps, "Bootstrap of one trial-sized subject (one thread)")
    by_stage = {s.stage: s for s in steps}
    load = by_stage["(a) load the cleaned series (read + mask)"].cpu
    model_cpu = by_stage["(b) score model: circuit and cone signals, once"].cpu
    boot_cpu = by_stage[f"(c) bootstrap, {boot.n_resamples} resamples"].cpu
    baseline = by_stage[f"(d) baseline: {n_baseline} resampled series, find_target"].cpu
    per_resample = baseline / max(n_baseline, 1)
    print(
        f"\n{boot.n_resamples} resamples: score model + bootstrap {model_cpu + boot_cpu:.1f} CPU s"
        f" = {(model_cpu + boot_cpu) / load:.2f} x loading the series ({load:.1f} CPU s);"
        f" the baseline costs {per_resample:.1f} CPU s per resample, "
        f"{per_resample * boot.n_resamples / 60:.0f} CPU min for {boot.n_resamples}"
        f" ({per_resample * boot.n_resamples / (model_cpu + boot_cpu):.0f} x)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("work", nargs="?", type=Path)
    parser.add_argument("--baseline", type=int, default=3)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    if args.work is None:
        with tempfile.TemporaryDirectory() as folder:
            main(Path(folder), args.baseline, args.smoke)
    else:
        main(args.work, args.baseline, args.smoke)
