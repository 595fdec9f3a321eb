"""Within- and between-subject target distances of a full-scale simulated cohort, for a
grid of thermal-noise levels (at the configured circuit strength) and of circuit strengths
(at one noise level): which values reproduce the trial's 4.47 mm (within) and 12.97 mm
(between)? Results and their reading: benchmarks/README.md.

Every subject is simulated from config/full_scale.yaml (2 mm MNI grid, 4 echoes, 3 runs x
410 volumes at TR 2 s: 40.6 minutes after dropping 4 dummy volumes per run) and goes
through the workflow's own steps, in memory (no files):

1. config.yaml's dummy volumes dropped from the echoes and the confounds;
2. the echoes combined with tedana's T2*-weighting (weight of echo e
   ``TE_e * exp(-TE_e / T2*)``, normalised to sum 1) using the simulator's T2* of each
   voxel, which tedana would estimate from the data;
3. ``denoise.clean_run`` (nuisance regression + 0.08 Hz low-pass, config.yaml's
   settings), ``denoise.smooth_within_mask`` (6 mm), runs normalised with
   ``denoise.normalise_run`` and joined, as ``denoise.concatenate_runs`` does;
4. ``reliability.subject_reliability`` with the reliability method and minutes grid of
   config.yaml: targets of the full series, its two halves and the first k minutes;

then ``reliability.summarise`` (within; between, pairwise cross-half and centroid, with
bootstrap CIs) and the scan-length curve's first minutes after which the median distance
to the full-data target stays under one voxel (2 mm).

The shortcut against the workflow is ME-ICA. It costs ~5-7 CPU min per full-scale run
(``bench_preprocess.py``), too much for a cohort at several noise levels, so it is taken
as ideal: the subjects are simulated without the unmodelled S0 fluctuations
(``s0_noise_percent`` 0), which is what a perfect ME-ICA leaves of them (motion
artefacts stay, for the cleaning to regress out; optimal combination alone, without ME-ICA,
leaves the S0 fluctuations in and the targets scatter). The within-subject distances are
therefore a lower bound for the workflow's at the same thermal noise. Every step after
the combination is linear in the data, which makes the noise sweep cheap: with the
combined signal S (simulated without thermal noise) and combined unit thermal noise N (the
weighted sum of independent unit normals per echo, drawn directly with SD
``sqrt(sum_e w_e**2)``), the cleaned, smoothed run at noise SD sigma is exactly
``clean(S) + sigma * clean(N)``; only the z-scoring and the targeting are repeated per
level. The circuit sweep works the same way: each run is simulated twice from the same
random state, with and without the planted circuit, and the circuit's part (the
difference) is scaled; BOLD is linear in dR2* to first order, so the scaled run is the one
the simulator would give at that circuit strength up to second-order terms (the circuit
changes the signal by under 1%).

Each subject's targets are kept in ``<work>/sub-XX_targets.tsv`` (all levels), so a second
call on the same folder resumes. The thermal noise SD is in scanner units
(``demo.imaging.thermal_noise_sd``, 12 by default); the median temporal SNR of the
combined series (before cleaning) is printed for each level.

Usage: python benchmarks/calibrate_reliability.py [work folder] [--subjects 12]
[--noise 12 48 96 144 192] [--circuit-scales 1 0.5 0.35 0.25 0.18] [--reference-noise 96]
[--seed 2026] [--jobs 1] [--smoke]

Circuit scales multiply ``demo.imaging.circuit_percent`` (0.6%). ``--smoke`` (4 mm grid,
84 volumes per run) checks that the script runs. A full-scale subject takes about 8 CPU
min and 8.8 GB at its peak; ``--jobs 2`` runs two at once.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
from common import full_scale_spec, shipped_config
from threadpoolctl import threadpool_limits

from tmstarget import atlas, denoise, reliability, simulate
from tmstarget.stimulation import TargetingSettings, subject_maps

PUBLISHED_WITHIN_MM = 4.47
PUBLISHED_BETWEEN_MM = 12.97
# The options of denoise.clean_run among the config's cleaning options.
CLEAN_RUN_OPTIONS = (
    "low_pass_hz",
    "high_pass_hz",
    "censor_fd_mm",
    "nuisance",
    "nuisance_columns",
    "min_volumes",
)


def combined_run(
    spec: simulate.ImagingSpec,
    template: simulate.Template,
    model: simulate.SubjectModel,
    rng: np.random.Generator,
    n_dummy: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, pd.DataFrame]:
    """One run's optimal combination without thermal noise and S0 fluctuations, split into
    the planted circuit's part and the rest (each n_voxels x n_volumes: the run simulated
    twice from the same random state, with and without the circuit), the SD of the
    combined unit thermal noise per voxel, and the confounds; dummies dropped."""
    quiet = dataclasses.replace(spec, thermal_noise_sd=0.0, s0_noise_percent=0.0)
    tes = np.asarray(spec.echo_times_s)
    t2star = 1.0 / model.r2star.astype(np.float64)
    weights = tes[None, :] * np.exp(-tes[None, :] / t2star[:, None])  # (n_voxels, n_echoes)
    weights /= weights.sum(axis=1, keepdims=True)

    def combine(run: simulate.SimulatedRun) -> np.ndarray:
        combined = np.zeros((len(model.voxels), spec.n_volumes - n_dummy), np.float32)
        for echo, volume in enumerate(run.echoes):
            series = volume.reshape(-1, volume.shape[-1])[model.voxels, n_dummy:]
            combined += weights[:, [echo]].astype(np.float32) * series
        run.echoes.clear()
        return combined

    without = copy.deepcopy(rng)
    run = simulate.simulate_run(quiet, model, rng, np.float32)
    confounds = run.confounds.iloc[n_dummy:].reset_index(drop=True)
    circuit = combine(run)
    rest = combine(
        simulate.simulate_run(
            dataclasses.replace(quiet, circuit_percent=0.0), model, without, np.float32
        )
    )
    circuit -= rest
    noise_sd = np.sqrt((weights**2).sum(axis=1)).astype(np.float32)
    return circuit, rest, noise_sd, confounds


def _image(series: np.ndarray, template: simulate.Template, tr_s: float) -> nib.Nifti1Image:
    volume = np.zeros((int(np.prod(template.shape)), series.shape[1]), np.float32)
    volume[np.flatnonzero(template.brain.ravel())] = series
    return simulate.to_image(volume.reshape(*template.shape, -1), template.affine, tr_s, np.float32)


def clean(
    series: np.ndarray,
    confounds: pd.DataFrame,
    template: simulate.Template,
    mask: nib.Nifti1Image,
    tr_s: float,
    options: dict,
) -> np.ndarray:
    """The workflow's cleaning and smoothing of one run (``options``:
    ``denoise.cleaning_options`` of the config); (n_volumes, n_voxels)."""
    cleaned = denoise.clean_run(
        _image(series, template, tr_s),
        mask,
        confounds,
        tr_s,
        **{key: options[key] for key in CLEAN_RUN_OPTIONS},
    ).img
    smoothed = denoise.smooth_within_mask(cleaned, mask, options["fwhm_mm"])
    return np.asarray(smoothed.dataobj)[template.brain].T


def subject_targets(
    index: int,
    target_ijk: np.ndarray,
    spec: simulate.ImagingSpec,
    template: simulate.Template,
    mask: nib.Nifti1Image,
    levels: list[tuple[float, float]],
    seed: int,
    config: dict,
) -> pd.DataFrame:
    """Targets of one subject at every (thermal noise SD, circuit scale) level:
    subject_reliability's rows with the level, the median tSNR and the planted site."""
    rng = np.random.default_rng([seed, 1, index])
    model = simulate.subject_model(spec, template, target_ijk, rng)
    tr_s = spec.repetition_time_s
    options = denoise.cleaning_options(config["preprocess"])
    # null: the non-steady-state volumes the simulated confounds flag, as in the workflow
    n_dummy = spec.n_non_steady_state if options["n_dummy"] is None else options["n_dummy"]
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    tsnr = {level: [] for level in levels}
    for _ in range(spec.n_runs):
        circuit, rest, noise_sd, confounds = combined_run(spec, template, model, rng, n_dummy)
        noise = rng.standard_normal(rest.shape, dtype=np.float32) * noise_sd[:, None]
        for sigma, scale in levels:
            signal = rest + np.float32(scale) * circuit
            sd = np.sqrt(signal.var(axis=1) + (sigma * noise_sd) ** 2)
            tsnr[sigma, scale].append(float(np.median(signal.mean(axis=1) / sd)))
        del signal
        parts.append(
            tuple(
                clean(series, confounds, template, mask, tr_s, options)
                for series in (circuit, rest, noise)
            )
        )
        del circuit, rest, noise
    rel = config["reliability"]
    settings = TargetingSettings()
    method = rel["method"] or config["targets"]["connectivity_method"]
    planted = atlas.voxel_centres_mm(template.affine, target_ijk[None, :])[0]
    maps = None
    rows = []
    for sigma, scale in levels:
        joined = np.concatenate(
            [
                denoise.normalise_run(
                    r + np.float32(scale) * c + np.float32(sigma) * n,
                    options["concat_normalise"],
                    time_axis=0,
                )
                for c, r, n in parts
            ],
            axis=0,
        )
        if maps is None:  # the maps do not depend on the data
            maps = subject_maps(joined, mask, settings)
        target_fn = reliability.make_target_fn(
            method,
            mask,
            search_mask=maps.search_mask,
            circuit_map=maps.circuit_map,
            seed_mask=maps.seed_mask,
        )
        table = reliability.subject_reliability(
            joined,
            mask,
            tr_s,
            target_fn,
            rel["minutes_grid"],
            subject=f"{index + 1:02d}",
            min_timepoints=rel["min_timepoints"],
        )
        table.insert(0, "thermal_noise_sd", float(sigma))
        table.insert(1, "circuit_percent", float(scale * spec.circuit_percent))
        table["median_tsnr"] = float(np.mean(tsnr[sigma, scale]))
        table[["planted_x_mm", "planted_y_mm", "planted_z_mm"]] = planted
        rows.append(table)
    return pd.concat(rows, ignore_index=True)


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", dtype={"subject": str, "note": str})


def _subject_job(job: tuple) -> tuple[int, float]:
    work, index, *arguments = job
    start = time.process_time()
    with threadpool_limits(limits=1):
        frame = subject_targets(index, *arguments)
    path = work / f"sub-{index + 1:02d}_targets.tsv"
    partial = path.with_name("partial_" + path.name)
    frame.to_csv(partial, sep="\t", index=False)
    partial.rename(path)
    return index, time.process_time() - start


def summary_row(targets: pd.DataFrame, voxel_mm: float, config: dict) -> dict:
    rel = config["reliability"]
    summary = reliability.summarise(
        targets, rel["n_bootstrap"], rel["seed"], rel["confidence"], rel["centroid"]
    ).set_index("quantity")
    curve = reliability.scan_length_curve(targets, rel["n_bootstrap"], rel["seed"])
    full = targets[targets["segment"] == "full"]
    error = np.linalg.norm(
        full[["x_mm", "y_mm", "z_mm"]].to_numpy()
        - full[["planted_x_mm", "planted_y_mm", "planted_z_mm"]].to_numpy(),
        axis=1,
    )
    return {
        "summary": summary,
        "minutes_one_voxel": reliability.minutes_needed(curve, voxel_mm, "full", "median"),
        "planted_error_median": float(np.median(error)),
        "tsnr": float(targets["median_tsnr"].iloc[0]),
    }


def _ratio(value: float) -> str:
    return f"{value:.2f}" if np.isfinite(value) else "- (within 0)"


def ci(summary: pd.DataFrame, quantity: str) -> str:
    row = summary.loc[quantity]
    return f"{row['median']:.2f} ({row['median_low']:.2f}-{row['median_high']:.2f})"


def _levels_done(path: Path, levels: list[tuple[float, float]], circuit_percent: float) -> bool:
    if not path.is_file():
        return False
    frame = _read(path)
    have = set(zip(frame["thermal_noise_sd"], frame["circuit_percent"].round(6), strict=True))
    return all((sigma, round(scale * circuit_percent, 6)) in have for sigma, scale in levels)


def print_sweep(
    targets: pd.DataFrame,
    levels: list[tuple[float, float]],
    voxel_mm: float,
    config: dict,
    title: str,
) -> None:
    print(f"\n{title}\n")
    print(
        "| thermal noise SD | circuit (%) | median tSNR | full-data target to planted | within |"
        " between, pairwise cross-half | between, centroid | ratio (pairwise) |"
        " minutes to < 1 voxel |"
    )
    print("|" + "---:|" * 9)
    for sigma, percent in levels:
        subset = targets[
            (targets["thermal_noise_sd"] == sigma) & np.isclose(targets["circuit_percent"], percent)
        ]
        row = summary_row(subset, voxel_mm, config)
        summary = row["summary"]
        print(
            f"| {sigma:g} | {percent:g} | {row['tsnr']:.0f} | {row['planted_error_median']:.2f} |"
            f" {ci(summary, 'within')} | {ci(summary, 'pairwise_cross_half')} |"
            f" {ci(summary, 'centroid')} |"
            f" {_ratio(summary.loc['ratio_pairwise_cross_half', 'median'])} |"
            f" {row['minutes_one_voxel']:g} |"
        )


def main(
    work: Path,
    n_subjects: int,
    noise_levels: list[float],
    circuit_scales: list[float],
    reference_noise: float,
    seed: int,
    jobs: int = 1,
    smoke: bool = False,
) -> None:
    config = shipped_config()
    spec = full_scale_spec().imaging
    if smoke:
        spec = dataclasses.replace(spec, voxel_size_mm=4.0, n_volumes=84)
    # The noise sweep at the configured circuit strength, the circuit sweep at the
    # reference noise.
    noise_sweep = [(float(sigma), 1.0) for sigma in noise_levels]
    circuit_sweep = [(float(reference_noise), float(scale)) for scale in circuit_scales]
    levels = list(dict.fromkeys(noise_sweep + circuit_sweep))
    template = simulate.load_template(spec.voxel_size_mm)
    mask = simulate.to_image(template.brain.astype(np.uint8), template.affine, dtype=np.uint8)
    planted = simulate.draw_targets(
        template, n_subjects, spec.target_spread_mm, np.random.default_rng([seed, 0])
    )
    work.mkdir(parents=True, exist_ok=True)
    todo = [
        (index, planted[index], spec, template, mask, levels, seed, config)
        for index in range(n_subjects)
        if not _levels_done(work / f"sub-{index + 1:02d}_targets.tsv", levels, spec.circuit_percent)
    ]
    # Each subject in its own process (forked; one BLAS thread each); a finished subject's
    # table is written at once, so an interrupted call resumes where it stopped.
    with multiprocessing.get_context("fork").Pool(jobs, maxtasksperchild=1) as pool:
        for index, cpu_s in pool.imap_unordered(_subject_job, [(work, *job) for job in todo]):
            print(f"subject {index + 1}: {cpu_s:.0f} CPU s", file=sys.stderr, flush=True)
    targets = pd.concat(
        [_read(work / f"sub-{index + 1:02d}_targets.tsv") for index in range(n_subjects)],
        ignore_index=True,
    )
    targets["note"] = targets["note"].fillna("")
    method = config["reliability"]["method"] or config["targets"]["connectivity_method"]
    print(
        f"{n_subjects} subjects simulated from config/full_scale.yaml ({spec.voxel_size_mm:g} mm,"
        f" {len(spec.echo_times_s)} echoes, {spec.n_runs} x {spec.n_volumes} volumes at TR"
        f" {spec.repetition_time_s:g} s), target spread {spec.target_spread_mm:g} mm; ideal"
        f" ME-ICA (no S0 fluctuations), optimal combination, the workflow's cleaning; method"
        f" {method}. Medians (bootstrap 95% CI), mm; the published within-subject distance"
        f" is {PUBLISHED_WITHIN_MM} mm, the between-subject {PUBLISHED_BETWEEN_MM} mm."
    )
    as_percent = [(sigma, scale * spec.circuit_percent) for sigma, scale in noise_sweep]
    print_sweep(targets, as_percent, spec.voxel_size_mm, config, "Thermal noise")
    as_percent = [(sigma, scale * spec.circuit_percent) for sigma, scale in circuit_sweep]
    print_sweep(
        targets,
        as_percent,
        spec.voxel_size_mm,
        config,
        f"Circuit strength at thermal noise SD {reference_noise:g}",
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("work", nargs="?", type=Path, help="folder for per-subject targets")
    parser.add_argument("--subjects", type=int, default=12)
    parser.add_argument("--noise", type=float, nargs="+", default=[12, 48, 96, 144, 192])
    parser.add_argument(
        "--circuit-scales", type=float, nargs="+", default=[1.0, 0.5, 0.35, 0.25, 0.18]
    )
    parser.add_argument("--reference-noise", type=float, default=96)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--jobs", type=int, default=1, help="subjects simulated at once")
    parser.add_argument("--smoke", action="store_true", help="4 mm, 84 volumes per run")
    args = parser.parse_args()
    options = (
        args.subjects,
        args.noise,
        args.circuit_scales,
        args.reference_noise,
        args.seed,
        args.jobs,
        args.smoke,
    )
    if args.work is None:
        with tempfile.TemporaryDirectory() as folder:
            main(Path(folder), *options)
    else:
        main(args.work, *options)
