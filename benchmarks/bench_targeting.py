"""Time and peak memory of the targeting methods on one full-scale subject, against
(a) loading and masking the subject's cleaned series and (b) a straightforward
per-candidate implementation of the circuit searchlight.

Input: a cleaned-like series of one config/full_scale.yaml subject (2 mm MNI grid, about
235,000 brain voxels, 3 runs x 406 volumes after the 4 dummy volumes), written as a
float32 .nii.gz on the full grid like the workflow's ``desc-clean_bold``. To save the
hours of tedana, it is the simulator's middle echo with the global signal regressed out,
z-scored per voxel within each run, runs joined (``--bold``/``--mask`` use a real cleaned
series instead, e.g. the one bench_preprocess.py writes). It is written under the work
folder and reused.

Timed, in one process holding the loaded series, as the find_targets rule runs (one
thread): (a) ``stimulation.load_timeseries`` (read + mask); the circuit map, search mask
and seed put on the grid; (b) ``stimulation.find_target`` for ``circuit_searchlight``,
``sgacc_classic`` and ``sgacc_cluster``; (c) the straightforward searchlight: per
candidate, a cone weight image over the whole grid (nested spheres painted from the
outermost in) and the weighted mean time course of the brain voxels (one matrix-vector
product on the loaded series), then its Pearson r with the circuit signal. (c) runs on a
spread-out subset of the candidates and is extrapolated to all of them; its scores are
checked against the vectorised ones. Peak RSS of a step is the process's high-water mark
during that step (reset through /proc/self/clear_refs), so it includes the series held
in memory.

Ratios use CPU seconds (the wall clock is shown too; it stretches when the cores are
shared). Usage: python benchmarks/bench_targeting.py [work folder] [--bold B --mask M]
[--naive-candidates 20] [--smoke]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import nibabel as nib
import numpy as np
from common import Step, bench_spec, measure, print_steps
from threadpoolctl import threadpool_limits

from tmstarget import simulate
from tmstarget.stimulation import (
    TargetingSettings,
    find_target,
    load_timeseries,
    subject_maps,
)

N_DUMMY = 4


# --------------------------------------------------------------------------- input


def cleaned_like_series(work: Path, smoke: bool = False) -> tuple[Path, Path, float]:
    """Write (once) a cleaned-like series and its brain mask; return their paths and TR.

    The middle echo of each simulated run, dummy volumes dropped, the global signal
    regressed out, z-scored per voxel within the run, runs joined in time: the shape, dtype
    and scale of ``desc-clean_bold``.
    """
    spec = bench_spec(smoke)
    imaging = spec.imaging
    bold_path = work / "sub-01_task-rest_desc-cleanlike_bold.nii.gz"
    mask_path = work / "sub-01_desc-brain_mask.nii.gz"
    if bold_path.is_file() and mask_path.is_file():
        print(f"reusing {bold_path}", flush=True)
        return bold_path, mask_path, imaging.repetition_time_s
    print(f"writing a cleaned-like series to {bold_path}", flush=True)
    template = simulate.load_template(imaging.voxel_size_mm)
    target = simulate.draw_targets(
        template, 1, imaging.target_spread_mm, np.random.default_rng([spec.seed, 0])
    )[0]
    rng = np.random.default_rng([spec.seed, 1])
    model = simulate.subject_model(imaging, template, target, rng)
    brain = template.brain.ravel()
    parts = []
    for _ in range(imaging.n_runs):
        run = simulate.simulate_run(imaging, model, rng, dtype=np.int16)
        middle = run.echoes[len(run.echoes) // 2]
        del run
        series = middle.reshape(-1, middle.shape[-1])[brain, N_DUMMY:].astype(np.float32)
        del middle
        series -= series.mean(axis=1, keepdims=True)
        # Without the global signal regression of the cleaning step every voxel correlates
        # positively with the sgACC seed, and the cluster method has nothing to work on.
        global_signal = series.mean(axis=0)
        series -= np.outer(series @ global_signal / (global_signal @ global_signal), global_signal)
        sd = series.std(axis=1, keepdims=True)
        parts.append(np.divide(series, sd, out=np.zeros_like(series), where=sd > 0))
        del series
    joined = np.concatenate(parts, axis=1)
    del parts
    volume = np.zeros((brain.size, joined.shape[1]), dtype=np.float32)
    volume[brain] = joined
    del joined
    volume = volume.reshape(*template.shape, -1)
    work.mkdir(parents=True, exist_ok=True)
    partial = bold_path.with_name("partial_" + bold_path.name)
    simulate.to_image(volume, template.affine, imaging.repetition_time_s, np.float32).to_filename(
        partial
    )
    del volume
    simulate.to_image(template.brain.astype(np.uint8), template.affine, dtype=np.uint8).to_filename(
        mask_path
    )
    partial.rename(bold_path)
    return bold_path, mask_path, imaging.repetition_time_s


# --------------------------------------------------------------------------- baseline


def grid_mm(affine: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """World coordinates (mm) of every voxel centre of the grid, shape (*shape, 3)."""
    ijk = np.indices(shape).reshape(3, -1).T
    return nib.affines.apply_affine(affine, ijk).reshape(*shape, 3)


def naive_circuit_signal(timeseries: np.ndarray, circuit_weights: np.ndarray) -> np.ndarray:
    """Circuit-weighted mean time course, written directly."""
    weights = circuit_weights.astype(np.float32)
    return (timeseries @ weights).astype(np.float64) / np.abs(circuit_weights).sum()


def naive_score(
    timeseries: np.ndarray,
    brain: np.ndarray,
    world_mm: np.ndarray,
    centre_ijk: np.ndarray,
    circuit: np.ndarray,
    cone_radii_mm,
    cone_weights,
) -> float:
    """The searchlight score of one candidate, as a reader of the method would write it:
    a cone weight image over the whole grid, then the weighted mean brain time course."""
    distance = np.linalg.norm(world_mm - world_mm[tuple(centre_ijk)], axis=-1)
    cone = np.zeros(brain.shape)
    for radius, weight in sorted(zip(cone_radii_mm, cone_weights, strict=True), reverse=True):
        cone[distance <= radius + 1e-6] = weight
    cone[~brain] = 0
    weights = cone[brain]
    signal = timeseries @ (weights / weights.sum()).astype(np.float32)
    return float(np.corrcoef(signal.astype(np.float64), circuit)[0, 1])


# --------------------------------------------------------------------------- main


def run_targeting(bold: Path, mask: Path, n_naive: int, steps: list) -> dict:
    """Time loading, each method and the naive baseline; returns the steps by name and
    the largest score difference between the naive and the vectorised searchlight."""
    settings = TargetingSettings()
    named = {}
    with measure(steps, "(a) load + mask the series (load_timeseries)") as named["load"]:
        timeseries, brain_mask = load_timeseries(bold, mask)
    named["load"].notes = (
        f"{timeseries.shape[0]} volumes x {timeseries.shape[1]} voxels, "
        f"float32 {timeseries.nbytes / 1e6:.0f} MB"
    )
    with measure(steps, "circuit map, search mask, seed onto the grid"):
        maps = subject_maps(timeseries, brain_mask, settings)
    results = {}
    for method in settings.methods:
        with measure(steps, f"(b) find_target {method}") as named[method]:
            results[method] = find_target(maps, method, settings)
        target = results[method].target
        named[
            method
        ].notes = f"target ({target.mm[0]:.0f}, {target.mm[1]:.0f}, {target.mm[2]:.0f}) mm"
    searchlight = results["circuit_searchlight"]
    n_candidates = len(searchlight.candidate_ijk)
    named["circuit_searchlight"].notes += f"; {n_candidates} candidates"

    brain = np.asarray(brain_mask.dataobj) > 0
    circuit_weights = np.asarray(maps.circuit_map.dataobj, dtype=np.float64)[brain]
    with measure(steps, "(c) naive: grid coordinates + circuit signal (once)") as setup:
        world_mm = grid_mm(brain_mask.affine, brain.shape)
        circuit = naive_circuit_signal(timeseries, circuit_weights)
    subset = np.unique(np.linspace(0, n_candidates - 1, min(n_naive, n_candidates)).astype(int))
    naive_scores = np.empty(len(subset))
    with measure(steps, f"(c) naive: {len(subset)} of the candidates") as sample:
        for row, index in enumerate(subset):
            naive_scores[row] = naive_score(
                timeseries,
                brain,
                world_mm,
                searchlight.candidate_ijk[index],
                circuit,
                settings.cone_radii_mm,
                settings.cone_weights,
            )
    difference = float(np.nanmax(np.abs(naive_scores - searchlight.scores[subset])))
    sample.notes = f"max abs difference of r from the vectorised scores: {difference:.1e}"
    scale = n_candidates / len(subset)
    peaks = [p for p in (setup.peak, sample.peak) if p is not None]
    how = "measured" if len(subset) == n_candidates else "EXTRAPOLATED"
    named["naive"] = Step(
        f"(c) naive: all {n_candidates} candidates ({how})",
        wall=setup.wall + scale * sample.wall,
        cpu=setup.cpu + scale * sample.cpu,
        peak=max(peaks) if peaks else None,
        notes=f"once + {sample.cpu / len(subset):.2f} CPU s per candidate x {n_candidates}",
    )
    steps.append(named["naive"])
    return {"steps": named, "methods": settings.methods, "difference": difference}


def print_ratios(named: dict, methods) -> None:
    load, searchlight, naive = named["load"], named["circuit_searchlight"], named["naive"]
    print("\nRatios (CPU seconds; wall clock in brackets):\n")
    print("| ratio | value | target |")
    print("|---|---:|---|")
    for method in methods:
        step = named[method]
        goal = "<= 1" if method == "circuit_searchlight" else ""
        ratio = f"{step.cpu / load.cpu:.2f} ({step.wall / load.wall:.2f})"
        print(f"| {method} / load | {ratio} | {goal} |")
    print(
        f"| naive / circuit_searchlight | {naive.cpu / searchlight.cpu:.0f} "
        f"({naive.wall / searchlight.wall:.0f}) | > 100 |"
    )


def main(work: Path, bold: Path | None, mask: Path | None, n_naive: int, smoke: bool) -> None:
    if bold is None:
        bold, mask, _ = cleaned_like_series(work, smoke)
    steps: list[Step] = []
    with threadpool_limits(limits=1):
        outcome = run_targeting(bold, mask, n_naive, steps)
    print_steps(steps, f"Targeting one subject ({bold.name}), one thread")
    print_ratios(outcome["steps"], outcome["methods"])
    print(
        f"\nNaive vs vectorised scores on the subset: max |difference| {outcome['difference']:.1e}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("work", nargs="?", type=Path, help="work folder (default: temporary)")
    parser.add_argument("--bold", type=Path, help="a cleaned series instead of the simulated one")
    parser.add_argument("--mask", type=Path, help="its brain mask (with --bold)")
    parser.add_argument(
        "--naive-candidates", type=int, default=20, help="candidates the naive version runs"
    )
    parser.add_argument("--smoke", action="store_true", help="4 mm, 80 volumes: check only")
    args = parser.parse_args()
    if (args.bold is None) != (args.mask is None):
        parser.error("--bold and --mask go together")
    if args.work is not None:
        main(args.work, args.bold, args.mask, args.naive_candidates, args.smoke)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp), args.bold, args.mask, args.naive_candidates, args.smoke)
