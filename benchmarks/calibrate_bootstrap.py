"""Coverage of the per-subject block bootstrap, and the within-session drift of the
simulator against the trial's split-half distances, on simulated trial-sized subjects.

For each subject (planted DLPFC site from config/full_scale.yaml's spread, 2 mm grid,
3 runs x 406 volumes after the dummies, TR 2 s: 40.6 minutes), two independent sessions
are simulated from the same spatial maps: the "scan" and a "retest". On the scan:

- the chosen site (``targets.choice``, the trial's argmax) and the block bootstrap of
  ``targets.bootstrap`` (60 s blocks inside each run): its 95% radius;
- the split-half targets and the first-k-minutes targets (``reliability.minutes_grid``);
- the site each target choice gives on each half (reliability by choice).

On the retest: the full-data site. From the subject's maps alone: the **noise-free
target**, the argmax of the score map the searchlight converges to with unlimited data
of this subject (:func:`noise_free_scores`, exact for this model). **Coverage** is the
share of subjects whose noise-free target lies in the bootstrap's 95% region (the sphere
of the 95% radius around the chosen site), and the same share for the planted site
(the DLPFC patch's centre) and for the retest site.

Why the noise-free target is the reference of a bootstrap: the searchlight chooses the
candidate whose cone signal *correlates* best with the circuit signal, a ratio of the
circuit's variance to all the variance under the cone. The subject's own networks and
local fluctuations are fixed maps (the same in every session of the subject), as strong
as the patch and patchy on the cone's scale, so the correlation peaks where the circuit
stands out from them, which is often a few mm from the patch's centre (where the
coupling is strongest). That offset is the method's, it is the same in every scan of the
subject, and no resampling of one scan can see it; the bootstrap estimates how far the
target moves between scans, i.e. around the noise-free target.

Reduced model (so that 40 subjects fit a session): only the voxels the targeting reads
are simulated - every brain voxel within the largest cone radius of a search-region
surface candidate, and the circuit map's support (|weight| >= 25% of its largest, the
sgACC and both BA46 lobes of the surrogate map); the reference signal is the
circuit-weighted mean over that support. ME-ICA is ideal and there are no S0 artefacts:
the BOLD part of the simulator (:func:`tmstarget.simulate.bold_sources`, the drift
included) plus thermal noise of the optimally combined echoes (per voxel, from the
thermal noise SD, the echo times, S0 and T2*), low-passed at 0.08 Hz with the true
global signal regressed out (an ideal GSR), smoothed 6 mm within the simulated voxels,
z-scored per run and joined. The targeting is the workflow's: ``tmstarget.targeting``'s
cone matrix and ``tmstarget.uncertainty`` on the same time courses.

Each subject's results are written to ``<work>/sub-XX.tsv`` as soon as it is done; a
second call on the same folder resumes. Usage:

    python benchmarks/calibrate_bootstrap.py WORK [--subjects 40] [--jobs 1]
        [--patch-drift 4] [--coupling-drift 0.3] [--network-drift 0.3] [--timescale 120]
        [--resamples 200] [--block-s 60] [--smoke] [--runs 3] [--volumes 406]

Drift options default to config/config.yaml's ``demo.imaging``; ``--smoke`` (4 mm grid,
2 runs of 100 volumes, 8 subjects) checks the script; ``--runs`` and ``--volumes`` (after
the dummies) change the session's length (the slow test: the smoke grid, 3 x 300).
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from common import REPO, shipped_config
from scipy import ndimage, signal, sparse

from tmstarget import atlas, circuits, demo, reliability, simulate, targeting, uncertainty

N_DUMMY = 4
SUPPORT_FRACTION = 0.25
LOW_PASS_HZ = 0.08
SMOOTHING_FWHM_MM = 6.0
# Draws of the drifting patch's site and gain averaged by the noise-free score map.
DRIFT_DRAWS = 64


def spec_for(config: dict, smoke: bool, **drift: float) -> simulate.ImagingSpec:
    """config/full_scale.yaml's imaging over config.yaml's, with the drift knobs."""
    full = yaml.safe_load((REPO / "config" / "full_scale.yaml").read_text())
    section = {
        **config["demo"],
        "imaging": {**config["demo"]["imaging"], **full["demo"]["imaging"]},
    }
    # the demo's own reading of the section; the reduced model works on the template grid
    # (no native acquisition grid) with ideal ME-ICA (no S0 noise)
    spec = dataclasses.replace(
        demo.spec_from_config(section, config["trial"]["arm_labels"]).imaging,
        native_voxel_size_mm=None,
        s0_noise_percent=0.0,
    )
    spec = dataclasses.replace(spec, **{k: v for k, v in drift.items() if v is not None})
    if smoke:
        spec = dataclasses.replace(
            spec, voxel_size_mm=4.0, n_runs=2, n_volumes=104, thermal_noise_sd=40.0
        )
    return spec


@dataclasses.dataclass
class Reduced:
    """The voxels simulated and what the targeting needs of them."""

    template: simulate.Template
    keep: np.ndarray  # indices into the template's brain voxels (C order)
    candidate_ijk: np.ndarray
    cones: object  # sparse (n_candidates, n_keep)
    circuit_weights: np.ndarray  # (n_keep,), zero outside the support
    box: tuple[slice, slice, slice]
    box_index: np.ndarray  # (n_keep, 3) voxel indices inside the box


def reduced_model(spec: simulate.ImagingSpec, settings: dict) -> Reduced:
    template = simulate.load_template(spec.voxel_size_mm)
    brain = template.brain
    affine = template.affine
    mask_img = simulate.to_image(brain.astype(np.uint8), affine, dtype=np.uint8)
    region = np.asarray(circuits.load_search_mask(None, mask_img).dataobj) > 0
    candidate_ijk = np.argwhere(atlas.surface_voxels(region & brain, brain))
    circuit = np.asarray(circuits.load_circuit_map(None, mask_img).dataobj)[brain]
    full_cones = targeting.cone_weight_matrix(
        brain, affine, candidate_ijk, settings["cone_radii_mm"], settings["cone_weights"]
    )
    support = np.abs(circuit) >= SUPPORT_FRACTION * np.abs(circuit).max()
    keep = np.union1d(np.unique(full_cones.indices), np.flatnonzero(support))
    brain_ijk = np.argwhere(brain)[keep]
    low, high = brain_ijk.min(axis=0), brain_ijk.max(axis=0) + 1
    box = tuple(slice(int(a), int(b)) for a, b in zip(low, high, strict=True))
    cones = full_cones[:, keep]
    weights = np.where(support, circuit, 0.0)[keep]
    return Reduced(template, keep, candidate_ijk, cones, weights, box, brain_ijk - low)


def _subset(model: simulate.SubjectModel, keep: np.ndarray) -> simulate.SubjectModel:
    replace = {}
    for name in (
        "voxels",
        "xyz_mm",
        "circuit_map",
        "global_map",
        "s0",
        "r2star",
        "grey",
        "white",
        "csf",
    ):
        replace[name] = getattr(model, name)[keep]
    for name in ("network_maps", "local_maps", "s0_noise_maps"):
        replace[name] = getattr(model, name)[:, keep]
    if model.network_drift_maps is not None:
        replace["network_drift_maps"] = model.network_drift_maps[:, keep]
    return dataclasses.replace(model, **replace)


def noise_percent(spec: simulate.ImagingSpec, model: simulate.SubjectModel) -> np.ndarray:
    """Thermal noise SD of the optimally combined echoes, percent of its mean, per voxel."""
    tes = np.asarray(spec.echo_times_s)
    t2star = 1.0 / model.r2star.astype(np.float64)
    weights = tes[None, :] * np.exp(-tes[None, :] / t2star[:, None])
    weights /= weights.sum(axis=1, keepdims=True)
    mean = (weights * model.s0[:, None] * np.exp(-tes[None, :] / t2star[:, None])).sum(axis=1)
    return 100.0 * spec.thermal_noise_sd * np.sqrt((weights**2).sum(axis=1)) / mean


def _low_pass(tr_s: float) -> np.ndarray:
    return signal.butter(5, LOW_PASS_HZ / (0.5 / tr_s), btype="low", output="sos")


def _smoothing_sigma_vox(spec: simulate.ImagingSpec) -> float:
    return SMOOTHING_FWHM_MM / np.sqrt(8 * np.log(2)) / spec.voxel_size_mm


def passed_variance(tr_s: float, band_hz: tuple[float, float] | None) -> float:
    """Share of a source's variance that the session's low-pass (zero phase, so the
    squared gain twice) keeps: white noise through the simulator's band-pass
    (``band_hz``, as :func:`tmstarget.simulate._smooth_series` builds it) or, for
    ``None``, white noise itself (thermal noise)."""
    nyquist = 0.5 / tr_s
    frequencies = np.linspace(0, np.pi, 20001)
    kept = np.abs(signal.sosfreqz(_low_pass(tr_s), worN=frequencies)[1]) ** 4
    if band_hz is None:
        return float(kept.mean())
    high = min(band_hz[1], 0.95 * nyquist)
    band = signal.butter(3, [band_hz[0] / nyquist, high / nyquist], btype="band", output="sos")
    source = np.abs(signal.sosfreqz(band, worN=frequencies)[1]) ** 4
    return float((source * kept).sum() / source.sum())


def noise_free_scores(
    spec: simulate.ImagingSpec,
    model: simulate.SubjectModel,
    reduced: Reduced,
    drift_draws: int = DRIFT_DRAWS,
    seed: int = 0,
) -> np.ndarray:
    """The searchlight's score map with unlimited data of this subject (the population
    Pearson r of every candidate's cone signal with the circuit signal), from the
    subject's maps alone: what the full-data target converges to as the scan grows.

    Every source of :func:`session` is a fixed map times an independent time course, so
    the covariance of the cleaned voxels is ``S (sum_k f_k a_k^2 m_k m_k' + f_0 diag(s^2))
    S'``: ``m_k`` the maps (circuit, networks, network drift, local fields), ``a_k``
    their amplitudes, ``s`` the thermal noise SD, ``S`` the 6 mm smoothing inside the
    simulated voxels, ``f_k`` the variance the low-pass keeps
    (:func:`passed_variance`; the global signal is regressed out exactly). The z-scoring
    divides by the square root of its diagonal; cones and circuit weights are linear in
    the voxels. The drifting patch (site ``planted + patch_drift_mm * N(0, I)``, gain
    ``1 + coupling_drift * N(0, 1)`` clipped at 0) enters as the mean over
    ``drift_draws`` fixed draws of its rank-one covariance; a drifting network's second
    map as a source of variance ``network_drift^2`` in the networks' band (its slow
    weight barely widens the spectrum)."""
    tr = spec.repetition_time_s
    band, local_band = passed_variance(tr, (0.01, 0.1)), passed_variance(tr, (0.01, 0.2))
    white = passed_variance(tr, None)
    columns = []
    circuit = model.circuit_map.astype(np.float64)
    amplitude = spec.circuit_percent * np.sqrt(band)
    if spec.patch_drift_mm > 0 or spec.coupling_drift > 0:
        rng = np.random.default_rng(seed)
        left = simulate._cone_profile(np.linalg.norm(model.xyz_mm - model.target_mm, axis=1))
        rest = circuit - left * model.grey
        for _ in range(drift_draws):
            site = model.target_mm + spec.patch_drift_mm * rng.standard_normal(3)
            gain = max(1.0 + spec.coupling_drift * rng.standard_normal(), 0.0)
            moved = simulate._cone_profile(np.linalg.norm(model.xyz_mm - site, axis=1))
            columns.append(amplitude * (rest + gain * moved * model.grey) / np.sqrt(drift_draws))
    else:
        columns.append(amplitude * circuit)
    network = spec.network_percent * np.sqrt(band)
    columns += list(network * model.network_maps.astype(np.float64))
    if spec.network_drift > 0 and model.network_drift_maps is not None:
        columns += list(network * spec.network_drift * model.network_drift_maps.astype(np.float64))
    columns += list(spec.local_percent * np.sqrt(local_band) * model.local_maps.astype(np.float64))

    shape = tuple(s.stop - s.start for s in reduced.box)
    index = tuple(reduced.box_index.T)
    sigma = _smoothing_sigma_vox(spec)
    reach = int(4.0 * sigma + 0.5)  # ndimage.gaussian_filter's default truncation
    kernel = np.exp(-0.5 * (np.arange(-reach, reach + 1) / sigma) ** 2)
    kernel /= kernel.sum()

    def blur(values: np.ndarray, taps: np.ndarray = kernel) -> np.ndarray:
        volume = np.zeros(shape)
        volume[index] = values
        for axis in range(3):
            volume = ndimage.correlate1d(volume, taps, axis=axis, mode="constant")
        return volume[index]

    norm = blur(np.ones(len(reduced.keep)))
    sources = np.stack([blur(column) / norm for column in columns], axis=1)  # S m_k
    thermal = white * noise_percent(spec, model).astype(np.float64) ** 2
    # diag(S diag(s^2) S'): the squared kernel applied to s^2
    variance = (sources**2).sum(axis=1) + blur(thermal, kernel**2) / norm**2
    scale = 1.0 / np.sqrt(variance)
    cones = sparse.csr_array(reduced.cones) @ sparse.diags_array(scale)
    circuit_weights = reduced.circuit_weights / np.abs(reduced.circuit_weights).sum() * scale
    # S' x: the blur is symmetric, so S' = blur(x / norm)
    cones_back = np.concatenate(
        [
            np.stack([blur(row / norm) for row in cones[start : start + 256].toarray()])
            for start in range(0, cones.shape[0], 256)
        ]
    )
    circuit_back = blur(circuit_weights / norm)
    cone_loadings, circuit_loadings = cones @ sources, circuit_weights @ sources
    covariance = cone_loadings @ circuit_loadings + cones_back @ (thermal * circuit_back)
    cone_variance = (cone_loadings**2).sum(axis=1) + (cones_back**2) @ thermal
    circuit_variance = circuit_loadings @ circuit_loadings + (circuit_back**2) @ thermal
    return covariance / np.sqrt(cone_variance * circuit_variance)


def session(
    spec: simulate.ImagingSpec,
    model: simulate.SubjectModel,
    reduced: Reduced,
    rng: np.random.Generator,
) -> uncertainty.ScoreModel:
    """One session's cleaned series, reduced to the score model's time courses."""
    sos = _low_pass(spec.repetition_time_s)
    sigma = _smoothing_sigma_vox(spec)
    shape = tuple(s.stop - s.start for s in reduced.box)
    inside = np.zeros(shape, dtype=bool)
    inside[tuple(reduced.box_index.T)] = True
    norm = ndimage.gaussian_filter(inside.astype(np.float64), sigma, mode="constant")
    noise_sd = noise_percent(spec, model).astype(np.float32)
    runs = []
    for _ in range(spec.n_runs):
        bold, _, global_signal = simulate.bold_sources(spec, model, rng)
        bold = (
            bold[N_DUMMY:] + rng.standard_normal(bold[N_DUMMY:].shape, dtype=np.float32) * noise_sd
        )
        global_signal = global_signal[N_DUMMY:]
        design = np.column_stack([np.ones(len(bold)), np.linspace(-1, 1, len(bold)), global_signal])
        bold = bold - design @ np.linalg.lstsq(design, bold, rcond=None)[0]
        bold = signal.sosfiltfilt(sos, bold, axis=0)
        volume = np.zeros((len(bold), *shape))
        volume[(slice(None), *reduced.box_index.T)] = bold
        smoothed = ndimage.gaussian_filter(
            volume * inside, (0, sigma, sigma, sigma), mode="constant"
        )
        series = smoothed[(slice(None), *reduced.box_index.T)] / norm[tuple(reduced.box_index.T)]
        series = (series - series.mean(axis=0)) / series.std(axis=0)
        runs.append(series.astype(np.float32))
    joined = np.concatenate(runs, axis=0)
    cone = targeting.cone_signals(joined, reduced.cones)
    reference = (
        joined.astype(np.float64) @ reduced.circuit_weights / np.abs(reduced.circuit_weights).sum()
    )
    return uncertainty.ScoreModel.build(
        "circuit_searchlight", reduced.candidate_ijk, reduced.template.affine, cone, reference, 1.0
    )


def subject_rows(
    index: int, spec, reduced: Reduced, config: dict, seed: int, resamples: int, block_s=None
) -> pd.DataFrame:
    template = reduced.template
    planted_ijk = simulate.draw_targets(
        template, index + 1, spec.target_spread_mm, np.random.default_rng([seed, 0])
    )[index]
    planted = atlas.voxel_centres_mm(template.affine, planted_ijk[None, :])[0]
    rng = np.random.default_rng([seed, 1, index])
    fields = simulate.draw_subject_fields(spec, template, planted_ijk, rng)
    model = _subset(simulate.model_on_grid(spec, template, fields), reduced.keep)
    scan = session(spec, model, reduced, rng)
    retest = session(spec, model, reduced, rng)
    tr = spec.repetition_time_s
    n_t = scan.n_timepoints
    per_run = n_t // spec.n_runs
    segments = [(k * per_run, (k + 1) * per_run) for k in range(spec.n_runs)]
    boot = config["targets"]["bootstrap"]
    blocks = uncertainty.block_volumes(block_s or boot["block_s"], tr)
    name = f"sub-{index + 1:02d}"
    stream = uncertainty.subject_stream(boot["seed"], name)
    argmax = uncertainty.ChoiceSettings("argmax")
    result = uncertainty.bootstrap_targets(
        scan, segments, blocks, resamples, stream, argmax, boot["confidence"], 12.0
    )
    retest_site = uncertainty.choose(retest, uncertainty.segment_scores(retest, 0, n_t), argmax).mm[
        0
    ]
    noise_free = noise_free_scores(spec, model, reduced, seed=index)
    rows = [
        {"segment": "planted", "choice": "", "mm": planted},
        {
            "segment": "noise_free",
            "choice": "argmax",
            "mm": scan.candidate_mm[np.nanargmax(noise_free)],
        },
        {"segment": "retest", "choice": "argmax", "mm": retest_site},
    ]
    bootstrap_settings = uncertainty.BootstrapSettings(
        n_resamples=resamples, block_s=block_s or boot["block_s"]
    )
    cut = n_t // 2
    for choice_name in config["reliability"]["choices"]:
        choice = uncertainty.ChoiceSettings(choice_name)
        for segment, window in (("full", (0, n_t)), ("half1", (0, cut)), ("half2", (cut, n_t))):
            mm = uncertainty.choice_site(
                scan, choice, window, segments, bootstrap_settings, tr, stream
            )
            rows.append({"segment": segment, "choice": choice_name, "mm": mm})
    for minutes in config["reliability"]["minutes_grid"]:
        volumes = int(np.floor(minutes * 60 / tr + 1e-9))
        if volumes <= n_t:
            mm = uncertainty.choose(scan, uncertainty.segment_scores(scan, 0, volumes), argmax).mm[
                0
            ]
            rows.append({"segment": f"first_{minutes:g}min", "choice": "argmax", "mm": mm})
    frame = pd.DataFrame(rows)
    frame[["x_mm", "y_mm", "z_mm"]] = np.stack(frame.pop("mm").to_numpy())
    frame.insert(0, "subject", name)
    frame["radius_mm"] = result.radius_mm
    frame["share_within_coil"] = result.share_within_coil
    frame["n_resamples"] = resamples
    return frame


def _job(arguments) -> tuple[int, float]:
    work, index, *rest = arguments
    start = time.process_time()
    frame = subject_rows(index, *rest)
    path = work / f"sub-{index + 1:02d}.tsv"
    partial = path.with_name("partial_" + path.name)
    frame.to_csv(partial, sep="\t", index=False)
    partial.rename(path)
    return index, time.process_time() - start


REFERENCES = {"planted": "", "noise_free": "argmax", "retest": "argmax"}


def coverage(frame: pd.DataFrame) -> dict:
    """Coverage of the planted, the noise-free and the retest site by the bootstrap's 95%
    sphere: (percent, hits, subjects) for each reference the frame has."""
    out = {}
    for reference, choice in REFERENCES.items():
        if not (frame["segment"] == reference).any():
            continue
        hits = []
        for _, rows in frame.groupby("subject"):
            rows = rows.set_index(["segment", "choice"])
            site = rows.loc[("full", "argmax"), ["x_mm", "y_mm", "z_mm"]].to_numpy(float)
            other = rows.loc[(reference, choice), ["x_mm", "y_mm", "z_mm"]].to_numpy(float)
            radius = float(rows["radius_mm"].iloc[0])
            hits.append(np.linalg.norm(site - other) <= radius + 1e-9)
        out[reference] = (100.0 * np.mean(hits), int(np.sum(hits)), len(hits))
    return out


def distances(frame: pd.DataFrame) -> pd.DataFrame:
    """Per subject, mm between the full-data (argmax) target, the planted site, the
    noise-free target and the retest target, and the 95% radius."""
    sites = {
        name: frame[(frame["segment"] == segment) & (frame["choice"] == choice)].set_index(
            "subject"
        )[["x_mm", "y_mm", "z_mm"]]
        for name, (segment, choice) in {
            "full": ("full", "argmax"),
            **{reference: (reference, choice) for reference, choice in REFERENCES.items()},
        }.items()
        if ((frame["segment"] == segment) & (frame["choice"] == choice)).any()
    }
    out = pd.DataFrame({"radius_mm": frame.groupby("subject")["radius_mm"].first()})
    for a, b in (
        ("full", "planted"),
        ("full", "noise_free"),
        ("full", "retest"),
        ("noise_free", "planted"),
        ("retest", "noise_free"),
    ):
        if a in sites and b in sites:
            out[f"{a}_to_{b}_mm"] = np.linalg.norm(
                sites[a].loc[out.index].to_numpy() - sites[b].loc[out.index].to_numpy(), axis=1
            )
    return out


def report(
    frame: pd.DataFrame, config: dict, spec: simulate.ImagingSpec, block_s: float | None = None
) -> dict:
    frame = frame.copy()
    frame["choice"] = frame["choice"].fillna("")
    cover = coverage(frame)
    rel = config["reliability"]
    print(
        f"{frame['subject'].nunique()} subjects, {spec.voxel_size_mm:g} mm, {spec.n_runs} x "
        f"{spec.n_volumes - N_DUMMY} volumes at TR {spec.repetition_time_s:g} s; drift: patch "
        f"{spec.patch_drift_mm:g} mm, coupling {spec.coupling_drift:g}, networks "
        f"{spec.network_drift:g}, time scale {spec.drift_timescale_s:g} s; "
        f"{int(frame['n_resamples'].iloc[0])} resamples, blocks "
        f"{block_s or config['targets']['bootstrap']['block_s']:g} s\n"
    )
    for reference, (percent, hits, n) in cover.items():
        print(
            f"coverage of the {reference} site by the 95% bootstrap region: {percent:.0f}%"
            f" ({hits}/{n})"
        )
    apart = distances(frame)
    radius = apart["radius_mm"]
    print(
        f"95% radius: median {radius.median():.2f} mm"
        f" (IQR {radius.quantile(0.25):.2f}-{radius.quantile(0.75):.2f})"
    )
    for column in apart.columns[1:]:
        values = apart[column]
        print(
            f"{column.removesuffix('_mm').replace('_', ' ')}: median {values.median():.2f} mm"
            f" (IQR {values.quantile(0.25):.2f}-{values.quantile(0.75):.2f}),"
            f" 0 mm in {int((values < 1e-9).sum())}/{len(values)}"
        )
    print("\n| choice | within | between, pairwise | between, centroid |")
    print("|---|---:|---:|---:|")
    summaries = {}
    for choice in rel["choices"]:
        rows = frame[frame["choice"] == choice].rename(columns={"segment": "segment"})
        summary = reliability.summarise(
            rows, rel["n_bootstrap"], rel["seed"], rel["confidence"], rel["centroid"]
        ).set_index("quantity")
        summaries[choice] = summary

        def ci(q, summary=summary):
            r = summary.loc[q]
            return f"{r['median']:.2f} ({r['median_low']:.2f}-{r['median_high']:.2f})"

        print(f"| {choice} | {ci('within')} | {ci('pairwise_cross_half')} | {ci('centroid')} |")
    first = frame[frame["segment"].str.startswith("first_")].copy()
    full_rows = frame[(frame["segment"] == "full") & (frame["choice"] == "argmax")]
    half2 = frame[(frame["segment"] == "half2") & (frame["choice"] == "argmax")]
    first["requested_minutes"] = first["segment"].str.extract(r"first_([\d.]+)min")[0].astype(float)
    merged = first.merge(
        full_rows[["subject", "x_mm", "y_mm", "z_mm"]], on="subject", suffixes=("", "_full")
    )
    merged = merged.merge(
        half2[["subject", "x_mm", "y_mm", "z_mm"]], on="subject", suffixes=("", "_half2")
    )
    merged["to_full"] = np.linalg.norm(
        merged[["x_mm", "y_mm", "z_mm"]].to_numpy()
        - merged[["x_mm_full", "y_mm_full", "z_mm_full"]].to_numpy(),
        axis=1,
    )
    merged["to_half2"] = np.linalg.norm(
        merged[["x_mm", "y_mm", "z_mm"]].to_numpy()
        - merged[["x_mm_half2", "y_mm_half2", "z_mm_half2"]].to_numpy(),
        axis=1,
    )
    curve = merged.groupby("requested_minutes")[["to_full", "to_half2"]].median()
    half_minutes = (spec.n_volumes - N_DUMMY) * spec.n_runs / 2 * spec.repetition_time_s / 60
    print("\n| minutes | median distance to full-data target | to second-half target |")
    print("|---:|---:|---:|")
    for minutes, row in curve.iterrows():
        other = f"{row['to_half2']:.2f}" if minutes <= half_minutes else "-"
        print(f"| {minutes:g} | {row['to_full']:.2f} | {other} |")
    return {"coverage": cover, "summaries": summaries, "distances": apart}


def main(args) -> dict:
    config = shipped_config()
    drift = {
        "patch_drift_mm": args.patch_drift,
        "coupling_drift": args.coupling_drift,
        "network_drift": args.network_drift,
        "drift_timescale_s": args.timescale,
    }
    spec = spec_for(config, args.smoke, **drift)
    if args.runs is not None:
        spec = dataclasses.replace(spec, n_runs=args.runs)
    if args.volumes is not None:
        spec = dataclasses.replace(spec, n_volumes=args.volumes + N_DUMMY)
    reduced = reduced_model(spec, config["targets"])
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    n_subjects = 8 if args.smoke and args.subjects is None else (args.subjects or 40)
    todo = [
        (work, index, spec, reduced, config, args.seed, args.resamples, args.block_s)
        for index in range(n_subjects)
        if not (work / f"sub-{index + 1:02d}.tsv").is_file()
    ]
    if args.jobs > 1:
        with multiprocessing.get_context("fork").Pool(args.jobs, maxtasksperchild=4) as pool:
            for index, cpu in pool.imap_unordered(_job, todo):
                print(f"subject {index + 1}: {cpu:.0f} CPU s", file=sys.stderr, flush=True)
    else:
        for job in todo:
            index, cpu = _job(job)
            print(f"subject {index + 1}: {cpu:.0f} CPU s", file=sys.stderr, flush=True)
    frame = pd.concat(
        [
            pd.read_csv(work / f"sub-{i + 1:02d}.tsv", sep="\t", dtype={"choice": str})
            for i in range(n_subjects)
        ],
        ignore_index=True,
    )
    return report(frame, config, spec, args.block_s)


def parse(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("work", type=Path)
    parser.add_argument("--subjects", type=int, default=None)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--patch-drift", type=float, default=None)
    parser.add_argument("--coupling-drift", type=float, default=None)
    parser.add_argument("--network-drift", type=float, default=None)
    parser.add_argument("--timescale", type=float, default=None)
    parser.add_argument("--resamples", type=int, default=200)
    parser.add_argument("--block-s", type=float, default=None, help="default: the config's")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--runs", type=int, default=None, help="runs per session")
    parser.add_argument("--volumes", type=int, default=None, help="volumes per run")
    return parser.parse_args(argv)


if __name__ == "__main__":
    main(parse())
