"""The embedded demo cohort: a synthetic but realistic trial, deterministic from a seed.

Two halves:

- **Clinical** (:func:`simulate_clinical`): participants (arm, age, sex, failed treatments,
  head measurements in cm), MADRS at every visit, blinding guesses and adverse events.
  The tables are *calibrated*: the simulator draws candidate cohorts from one seeded
  random stream until the published summaries hold exactly (medians of the 1-month
  reduction, responder counts) and the approximate ones fall in range (effect size,
  Mann-Whitney P, arms alike at end of treatment). The first draw that satisfies all of
  them is used, so the result is a deterministic function of the seed.
- **Imaging** (:func:`simulate_run`): multi-echo resting-state runs on any sampling grid
  (:class:`SamplingGrid`: the MNI template grid, or a subject's native acquisition grid
  whose voxels have been placed in MNI space by :mod:`tmstarget.simulate_native`), from a
  mono-exponential signal model
  ``S(v, t, TE) = S0(v) * (1 + a(v, t)) * exp(-TE * (R2*(v) + dR2*(v, t))) + noise``.
  BOLD fluctuations enter through ``dR2*`` (their effect grows with echo time), artefacts
  (motion-like spikes, drifts) through ``a`` (the same fraction at every echo), and the
  thermal noise has the same standard deviation at every echo. A depression circuit is
  planted: the subgenual cingulate (a smooth field around the seed and its mirror) follows
  ``-c(t)``, a subject-specific DLPFC patch near the brain surface follows ``+c(t)``, and
  a global signal ``g(t)`` is shared by all grey matter.

Units: echo and repetition times in seconds, distances in mm, head measurements in cm.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import nibabel as nib
import numpy as np
import pandas as pd
from scipy import ndimage, signal, stats

from tmstarget import atlas

# Visit schedule of the trial: (label, days since baseline). Five treatment days of
# accelerated iTBS, end of treatment the day after the last session, then 1 week and
# 1 month after the end of treatment.
VISITS: tuple[tuple[str, int], ...] = (
    ("baseline", 0),
    ("day1", 1),
    ("day2", 2),
    ("day3", 3),
    ("day4", 4),
    ("day5", 5),
    ("eot", 6),
    ("week1", 12),
    ("month1", 35),
)
# Fraction of the end-of-treatment improvement reached by the end of each treatment day.
_TREATMENT_DAY_FRACTIONS = (0.15, 0.35, 0.55, 0.75, 0.9)
ADVERSE_EVENT_TYPES = ("headache", "scalp_discomfort", "fatigue", "dizziness", "neck_pain")
DONT_KNOW = "dont_know"


class SimulationError(ValueError):
    """The requested demo cannot be simulated (an inconsistent setting)."""


# --------------------------------------------------------------------------- clinical


@dataclass(frozen=True)
class ClinicalSpec:
    """What the clinical tables must show. Arm roles are ``connectivity`` and ``scalp``;
    ``arm_labels`` maps each role to the label written into ``participants.tsv``."""

    n_per_arm: int = 20
    arm_labels: dict[str, str] = field(
        default_factory=lambda: {"connectivity": "connectivity", "scalp": "scalp"}
    )
    median_reduction: dict[str, float] = field(
        default_factory=lambda: {"connectivity": 24.0, "scalp": 18.0}
    )
    response_rate: dict[str, float] = field(
        default_factory=lambda: {"connectivity": 0.8, "scalp": 0.6}
    )
    # Published: P = .02, effect size about 0.8 (Cohen's d of the 1-month reduction).
    cohens_d_range: tuple[float, float] = (0.75, 0.85)
    mann_whitney_p_range: tuple[float, float] = (0.015, 0.025)
    # The arms improve alike during treatment: end-of-treatment medians within this many
    # points, and no detectable difference (two-sided Mann-Whitney P above the minimum).
    eot_median_difference_max: float = 2.0
    eot_p_min: float = 0.3
    baseline_range: tuple[int, int] = (24, 45)  # moderate-to-severe MADRS
    # Randomised arms look alike at baseline (Table 1): mean MADRS within this many points.
    baseline_mean_difference_max: float = 1.5
    max_draws: int = 50_000


def _cohens_d(a: np.ndarray, b: np.ndarray) -> float:
    pooled = np.sqrt(
        ((len(a) - 1) * a.var(ddof=1) + (len(b) - 1) * b.var(ddof=1)) / (len(a) + len(b) - 2)
    )
    return float((a.mean() - b.mean()) / pooled)


def _arm_month1(
    rng: np.random.Generator,
    n: int,
    median: float,
    n_responders: int,
    baseline_range: tuple[int, int],
) -> tuple[np.ndarray, np.ndarray] | None:
    """One candidate arm: integer baselines and 1-month reductions with the exact median
    and exact number of responders (reduction >= 50% of baseline), or None."""
    lo, hi = baseline_range
    reductions = np.sort(np.round(rng.normal(median, 7.5, n)))
    # The median of an even sample is the mean of the two middle order statistics.
    middle = n // 2
    if n % 2:
        reductions[middle] = median
    else:
        reductions[middle - 1] = np.floor(median)
        reductions[middle] = 2 * median - np.floor(median)
    reductions = np.sort(reductions)
    if np.median(reductions) != median or reductions.min() < 0:
        return None
    # The largest reductions are the responders: baseline <= 2 * reduction.
    baselines = np.empty(n)
    for rank, reduction in enumerate(reductions):
        responder = rank >= n - n_responders
        if responder:
            low, high = max(lo, reduction), min(hi, 2 * reduction)
        else:
            low, high = max(lo, 2 * reduction + 1, reduction), hi
        if low > high:
            return None
        baselines[rank] = rng.integers(int(np.ceil(low)), int(np.floor(high)) + 1)
    return baselines, reductions


def simulate_clinical(spec: ClinicalSpec, seed: int) -> dict[str, pd.DataFrame]:
    """Simulate the clinical tables of the demo trial.

    Returns a dict of data frames: ``participants``, ``madrs`` (long: participant_id,
    session_id, days_since_baseline, madrs_total), ``blinding`` and ``adverse_events``.
    Raises :class:`SimulationError` if no cohort meets ``spec`` within ``spec.max_draws``.
    """
    n = spec.n_per_arm
    roles = ("connectivity", "scalp")
    for role in roles:
        rate = spec.response_rate[role]
        if not 0 <= rate <= 1:
            raise SimulationError(f"demo.clinical.response_rate.{role} must be in [0, 1]")
    n_responders = {role: int(round(spec.response_rate[role] * n)) for role in roles}
    rng = np.random.default_rng(seed)

    rejected = dict.fromkeys(
        ("median/responders", "baseline balance", "effect size", "Mann-Whitney P", "EOT"), 0
    )
    for _ in range(spec.max_draws):
        arms = {}
        for role in roles:
            drawn = _arm_month1(
                rng, n, spec.median_reduction[role], n_responders[role], spec.baseline_range
            )
            if drawn is None:
                break
            arms[role] = drawn
        if len(arms) < 2:
            rejected["median/responders"] += 1
            continue
        base_c, red_c = arms["connectivity"]
        base_s, red_s = arms["scalp"]
        if abs(base_c.mean() - base_s.mean()) > spec.baseline_mean_difference_max:
            rejected["baseline balance"] += 1
            continue
        d = _cohens_d(red_c, red_s)
        if not (spec.cohens_d_range[0] <= d <= spec.cohens_d_range[1]):
            rejected["effect size"] += 1
            continue
        p = stats.mannwhitneyu(red_c, red_s, alternative="two-sided").pvalue
        if not (spec.mann_whitney_p_range[0] <= p <= spec.mann_whitney_p_range[1]):
            rejected["Mann-Whitney P"] += 1
            continue
        trajectories = {role: _trajectories(rng, *arms[role]) for role in roles}
        eot = {role: trajectories[role][:, 0] - trajectories[role][:, 6] for role in roles}
        eot_p = stats.mannwhitneyu(eot["connectivity"], eot["scalp"]).pvalue
        eot_gap = abs(np.median(eot["connectivity"]) - np.median(eot["scalp"]))
        if eot_gap <= spec.eot_median_difference_max and eot_p >= spec.eot_p_min:
            break
        rejected["EOT"] += 1
    else:
        reasons = ", ".join(f"{reason}: {count}" for reason, count in rejected.items())
        raise SimulationError(
            f"no demo cohort met the clinical targets in {spec.max_draws} draws (rejections "
            f"by criterion: {reasons}); the config keys demo.n_per_arm, "
            "demo.clinical.median_reduction, response_rate, cohens_d_range and "
            "mann_whitney_p_range may be inconsistent (small arms cannot reach every P "
            "value): widen the ranges or change demo.seed"
        )
    return _clinical_tables(spec, rng, trajectories)


def _trajectories(
    rng: np.random.Generator, baselines: np.ndarray, month1_reductions: np.ndarray
) -> np.ndarray:
    """MADRS at every visit (rows: participants, columns: VISITS). Both arms improve
    alike up to the end of treatment; the arms differ in how well it is kept."""
    n = len(baselines)
    scores = np.empty((n, len(VISITS)))
    scores[:, 0] = baselines
    # End-of-treatment improvement is drawn from one distribution for both arms.
    eot_reduction = np.clip(np.round(rng.normal(0.62, 0.12, n) * baselines), 2, baselines)
    for day, fraction in enumerate(_TREATMENT_DAY_FRACTIONS, start=1):
        noisy = fraction * eot_reduction + rng.normal(0, 1.5, n)
        scores[:, day] = baselines - np.clip(np.round(noisy), 0, baselines)
    scores[:, 6] = baselines - eot_reduction
    week1 = 0.5 * (eot_reduction + month1_reductions) + rng.normal(0, 1.5, n)
    scores[:, 7] = baselines - np.clip(np.round(week1), 0, baselines)
    scores[:, 8] = baselines - month1_reductions
    return np.clip(scores, 0, 60)


def _clinical_tables(
    spec: ClinicalSpec, rng: np.random.Generator, trajectories: dict[str, np.ndarray]
) -> dict[str, pd.DataFrame]:
    n = spec.n_per_arm
    n_total = 2 * n
    ids = [f"sub-{i:02d}" for i in range(1, n_total + 1)]
    # Randomisation 1:1 as a seeded permutation of a balanced list.
    allocation = rng.permutation(["connectivity"] * n + ["scalp"] * n)
    order = {"connectivity": iter(range(n)), "scalp": iter(range(n))}
    row_of = [next(order[role]) for role in allocation]

    # Head size is one latent factor: larger heads are larger in every direction.
    head_size = rng.normal(0, 1, n_total)
    sex = rng.choice(["F", "M"], n_total, p=[0.55, 0.45])
    male = sex == "M"
    participants = pd.DataFrame(
        {
            "participant_id": ids,
            "arm": [spec.arm_labels[role] for role in allocation],
            "age": np.clip(np.round(rng.normal(46, 14, n_total)), 22, 80).astype(int),
            "sex": sex,
            "n_failed_treatments": np.clip(rng.poisson(3.5, n_total), 2, 12).astype(int),
            "nasion_inion_cm": np.round(
                35.5 + 0.8 * male + 1.2 * head_size + rng.normal(0, 0.5, n_total), 1
            ),
            "tragus_tragus_cm": np.round(
                35.0 + 0.8 * male + 1.1 * head_size + rng.normal(0, 0.5, n_total), 1
            ),
            "head_circumference_cm": np.round(
                55.5 + 1.5 * male + 1.6 * head_size + rng.normal(0, 0.5, n_total), 1
            ),
        }
    )

    madrs_rows = []
    for pid, role, row in zip(ids, allocation, row_of, strict=True):
        for (visit, day), score in zip(VISITS, trajectories[role][row], strict=True):
            madrs_rows.append((pid, visit, day, int(score)))
    madrs = pd.DataFrame(
        madrs_rows, columns=["participant_id", "session_id", "days_since_baseline", "madrs_total"]
    )

    blinding = pd.DataFrame(
        {
            "participant_id": ids,
            "participant_guess": _near_chance_guesses(rng, allocation, spec.arm_labels),
            "rater_guess": _near_chance_guesses(rng, allocation, spec.arm_labels),
        }
    )
    return {
        "participants": participants,
        "madrs": madrs,
        "blinding": blinding,
        "adverse_events": _adverse_events(rng, ids),
    }


def _near_chance_guesses(
    rng: np.random.Generator, allocation: np.ndarray, arm_labels: dict[str, str]
) -> list[str]:
    """Guesses no better than chance: within each arm about 15% say "don't know" and the
    rest split evenly (odd remainders go to a random side) between right and wrong."""
    guesses = np.empty(len(allocation), dtype=object)
    for role, other in (("connectivity", "scalp"), ("scalp", "connectivity")):
        members = np.flatnonzero(allocation == role)
        n_dont_know = int(round(0.15 * len(members)))
        n_guessing = len(members) - n_dont_know
        n_right = n_guessing // 2 + (rng.integers(0, 2) if n_guessing % 2 else 0)
        labels = (
            [arm_labels[role]] * n_right
            + [arm_labels[other]] * (n_guessing - n_right)
            + [DONT_KNOW] * n_dont_know
        )
        guesses[members] = rng.permutation(labels)
    return list(guesses)


def _adverse_events(rng: np.random.Generator, ids: list[str]) -> pd.DataFrame:
    """Mild-to-moderate events typical of accelerated iTBS; none serious, no seizures."""
    weights = np.array([0.45, 0.25, 0.15, 0.1, 0.05])
    rows = []
    for pid in ids:
        for _ in range(rng.poisson(0.9)):
            event = rng.choice(ADVERSE_EVENT_TYPES, p=weights)
            severity = rng.choice(["mild", "moderate"], p=[0.8, 0.2])
            rows.append((pid, str(event), str(severity), "no"))
    return pd.DataFrame(rows, columns=["participant_id", "event_type", "severity", "serious"])


# --------------------------------------------------------------------------- imaging


@dataclass(frozen=True)
class ImagingSpec:
    """Size and signal model of the simulated multi-echo runs.

    Times in seconds, distances in mm. ``bold_percent`` is the amplitude (standard
    deviation) of each BOLD source as a percentage signal change at ``reference_te_s``.
    ``voxel_size_mm`` is the MNI grid the subject's maps are drawn on (and the analysis
    grid of the demo, where the planted targets are voxel centres);
    ``native_voxel_size_mm`` the acquisition grid of the native runs (default: the
    same) and ``t1w_voxel_size_mm`` the anatomical image's.
    """

    voxel_size_mm: float = 4.0
    native_voxel_size_mm: float | None = None
    t1w_voxel_size_mm: float = 2.0
    n_runs: int = 2
    n_volumes: int = 120
    repetition_time_s: float = 2.0
    echo_times_s: tuple[float, ...] = (0.014, 0.032, 0.05)
    target_spread_mm: float = 6.0
    circuit_percent: float = 0.6
    global_percent: float = 0.4
    network_percent: float = 0.5
    n_networks: int = 8
    local_percent: float = 0.5
    artefact_percent: float = 1.0
    # Slow S0 fluctuations that no confound regressor captures (inflow, pulsation, coil
    # heating): spatially structured, in the BOLD band, the same fraction at every echo.
    # Only multi-echo denoising can tell them from BOLD.
    n_s0_sources: int = 4
    s0_noise_percent: float = 2.0
    thermal_noise_sd: float = 12.0
    reference_te_s: float = 0.03
    # The first volumes are brighter until the magnetisation reaches steady state (an S0
    # effect, the same fraction at every echo); fMRIPrep flags them in the confounds.
    n_non_steady_state: int = 4
    # Within-session variability (0 = connectivity fixed within a session; the config's
    # defaults are calibrated, benchmarks/README.md). Each is a slow Gaussian process with
    # correlation time ``drift_timescale_s``: the DLPFC site coupled to the circuit wanders
    # around the planted site (SD per axis, mm), the patch's coupling gain varies (SD,
    # relative), and each network's map gains a second sparse map with a time-varying
    # weight (SD, relative to the network's own map).
    patch_drift_mm: float = 0.0
    coupling_drift: float = 0.0
    network_drift: float = 0.0
    drift_timescale_s: float = 120.0

    @property
    def acquisition_voxel_mm(self) -> float:
        """The native runs' voxel size (mm)."""
        return self.native_voxel_size_mm or self.voxel_size_mm

    def validate(self) -> None:
        tes = np.asarray(self.echo_times_s)
        if len(tes) < 1 or np.any(tes <= 0) or np.any(np.diff(tes) <= 0):
            raise SimulationError(
                f"demo.imaging.echo_times_s must be positive and increasing, got {list(tes)}"
            )
        for name in ("voxel_size_mm", "t1w_voxel_size_mm"):
            if not getattr(self, name) > 0:
                raise SimulationError(f"demo.imaging.{name} must be positive")
        if self.native_voxel_size_mm is not None and not self.native_voxel_size_mm > 0:
            raise SimulationError("demo.imaging.native_voxel_size_mm must be positive")
        for name in ("patch_drift_mm", "coupling_drift", "network_drift"):
            if not getattr(self, name) >= 0:
                raise SimulationError(f"demo.imaging.{name} must be >= 0")
        if not self.drift_timescale_s > 0:
            raise SimulationError("demo.imaging.drift_timescale_s must be positive (seconds)")
        if self.n_volumes < 20 + self.n_non_steady_state:
            raise SimulationError(
                "demo.imaging.n_volumes must be at least 20 plus the non-steady-state volumes"
            )


# Tissue properties at 3 T: S0 in scanner units, R2* in 1/s.
_TISSUE_S0 = {"gm": 9000.0, "wm": 8000.0, "csf": 11000.0}
_TISSUE_R2STAR = {"gm": 1 / 0.045, "wm": 1 / 0.05, "csf": 1 / 0.1}

# The demo cohort's group-mean DLPFC target (MNI mm), between the BA46 and the
# normative sgACC-anticorrelation peak; subject patches scatter around it.
GROUP_TARGET_MM = (-42.0, 40.0, 32.0)

# The subgenual cingulate's share of the circuit: a smooth field around the sgACC seed
# and its mirror with the smoothness of the surrogate circuit map's lobes
# (circuits.surrogate_circuit_map, 10 mm standard deviation). A circuit expressed only in
# the 10 mm seed sphere leaves the circuit-weighted signal dominated by the unrelated
# fluctuations under the rest of the map's weight (median r with c(t) 0.65 instead of
# 0.88 in a noise-only model), which biased the searchlight off the planted sites.
SGACC_FIELD_SIGMA_MM = 10.0


@dataclass
class Template:
    """The grid and masks the simulator draws on (all arrays on one RAS grid)."""

    affine: np.ndarray
    shape: tuple[int, int, int]
    brain: np.ndarray
    tissue: dict[str, np.ndarray]
    sgacc: np.ndarray  # the sgACC field (peak 1), see SGACC_FIELD_SIGMA_MM
    candidates: np.ndarray  # (n, 3) voxel indices where a DLPFC patch may be centred


def load_template(voxel_size_mm: float) -> Template:
    """Masks of the simulation grid: the FSL MNI box at ``voxel_size_mm``."""
    tissue_imgs = atlas.template_tissue(voxel_size_mm)
    tissue = {name: np.asarray(img.dataobj) > 0 for name, img in tissue_imgs.items()}
    brain = tissue.pop("brain")
    region = np.asarray(atlas.dlpfc_search_region(voxel_size_mm).dataobj) > 0
    candidates = np.argwhere(atlas.surface_voxels(region, brain))
    centre = np.asarray(atlas.SGACC_CENTRE_MM)
    xyz = atlas.voxel_centres_mm(
        tissue_imgs["brain"].affine, np.indices(brain.shape).reshape(3, -1).T
    )
    sgacc = np.zeros(len(xyz))
    for seed_mm in (centre, centre * np.array([-1.0, 1.0, 1.0])):
        sgacc += np.exp(-((xyz - seed_mm) ** 2).sum(axis=1) / (2 * SGACC_FIELD_SIGMA_MM**2))
    sgacc = np.where(brain, sgacc.reshape(brain.shape), 0.0)
    sgacc = (sgacc / sgacc.max()).astype(np.float32)
    return Template(
        affine=tissue_imgs["brain"].affine,
        shape=brain.shape,
        brain=brain,
        tissue=tissue,
        sgacc=sgacc,
        candidates=candidates,
    )


def draw_targets(
    template: Template, n_subjects: int, spread_mm: float, rng: np.random.Generator
) -> np.ndarray:
    """Planted DLPFC patch centres (voxel indices, shape (n_subjects, 3)).

    Each is a normal draw (``spread_mm`` standard deviation per axis) around
    :data:`GROUP_TARGET_MM`, moved to the nearest brain-surface voxel of the DLPFC
    search region, so that every planted target is one a coil can reach.
    """
    if len(template.candidates) == 0:
        raise SimulationError("the DLPFC search region has no surface voxels on this grid")
    candidate_mm = atlas.voxel_centres_mm(template.affine, template.candidates)
    wanted = np.asarray(GROUP_TARGET_MM) + rng.normal(0, spread_mm, (n_subjects, 3))
    nearest = np.argmin(
        np.linalg.norm(wanted[:, None, :] - candidate_mm[None, :, :], axis=2), axis=1
    )
    return template.candidates[nearest]


def _smooth_series(
    rng: np.random.Generator, n: int, tr_s: float, band_hz=(0.01, 0.1)
) -> np.ndarray:
    """Unit-variance slow fluctuations of resting-state BOLD: sparse neural events
    (about one volume in ten) filtered into the BOLD band. Sparse events make the sources
    non-Gaussian, as real ones are, which is what lets ICA tell them apart."""
    nyquist = 0.5 / tr_s
    high = min(band_hz[1], 0.95 * nyquist)
    sos = signal.butter(3, [band_hz[0] / nyquist, high / nyquist], btype="band", output="sos")
    padded = rng.normal(0, 1, n + 200) * (rng.random(n + 200) < 0.1)
    series = signal.sosfiltfilt(sos, padded)[100:-100]
    return (series - series.mean()) / series.std()


def slow_process(rng: np.random.Generator, n: int, tr_s: float, timescale_s: float) -> np.ndarray:
    """A slow stationary Gaussian process of ``n`` volumes, unit variance in expectation
    (not per draw: a slow process wanders away from 0 over a short run): white noise
    smoothed by a Gaussian of standard deviation ``timescale_s`` (its correlation time is
    about twice that)."""
    sigma = max(timescale_s / tr_s, 1e-3)
    pad = int(np.ceil(4 * sigma))
    smoothed = ndimage.gaussian_filter1d(rng.normal(0, 1, n + 2 * pad), sigma, mode="nearest")
    # variance of unit white noise smoothed by a unit-area Gaussian of SD sigma
    variance = 1.0 / (2.0 * np.sqrt(np.pi) * sigma) if sigma > 0.5 else 1.0
    return smoothed[pad : pad + n] / np.sqrt(variance)


def _smooth_field(
    rng: np.random.Generator, shape: tuple[int, ...], fwhm_vox: float, n: int = 1
) -> np.ndarray:
    """``n`` unit-variance Gaussian random fields of the given smoothness (voxels)."""
    sigma = fwhm_vox / np.sqrt(8 * np.log(2))
    fields = np.empty((n, *shape), dtype=np.float32)
    for k in range(n):
        smoothed = ndimage.gaussian_filter(rng.normal(0, 1, shape), sigma)
        fields[k] = smoothed / smoothed.std()
    return fields


CONE_RADII_MM = (2.0, 4.0, 7.0, 9.0, 12.0)
CONE_WEIGHTS = (5.0, 4.0, 3.0, 2.0, 1.0)


def _cone_profile(distance_mm: np.ndarray) -> np.ndarray:
    """Nested-sphere coil-cone weight at each distance (mm), scaled to 1 at the centre."""
    weight = np.zeros_like(distance_mm, dtype=float)
    for radius, shell in zip(CONE_RADII_MM, CONE_WEIGHTS, strict=True):
        weight += shell * (distance_mm <= radius)
    return weight / sum(CONE_WEIGHTS)


def _sparse(fields: np.ndarray, threshold_sd: float = 1.0) -> np.ndarray:
    """Keep the peaks of unit-variance fields above ``threshold_sd`` (blobs), rescaled to
    unit variance."""
    peaks = np.clip(fields - threshold_sd, 0, None)
    scale = peaks.reshape(len(peaks), -1).std(axis=1)
    return peaks / np.where(scale > 0, scale, 1)[:, None, None, None]


@dataclass
class SamplingGrid:
    """The voxels a subject's data are simulated on: the template grid itself, or a native
    BOLD grid (:mod:`tmstarget.simulate_native`) whose voxel centres have been mapped into
    MNI space through the subject's transforms."""

    shape: tuple[int, int, int]
    voxels: np.ndarray  # flat indices (C order) of the brain voxels on this grid
    xyz_mm: np.ndarray  # (n_voxels, 3) MNI world coordinates of those voxels (RAS mm)
    grey: np.ndarray  # bool per brain voxel
    white: np.ndarray
    csf: np.ndarray


def template_grid(template: Template) -> SamplingGrid:
    """The template's own grid as a :class:`SamplingGrid`."""
    vox = np.flatnonzero(template.brain.ravel())
    return SamplingGrid(
        shape=template.shape,
        voxels=vox,
        xyz_mm=atlas.voxel_centres_mm(template.affine, np.argwhere(template.brain)),
        grey=template.tissue["gm"].ravel()[vox],
        white=template.tissue["wm"].ravel()[vox],
        csf=template.tissue["csf"].ravel()[vox],
    )


@dataclass
class SubjectFields:
    """A subject's random spatial maps, drawn once on the template grid (MNI space) and
    shared by all of their runs; :func:`model_on_grid` samples them where a run's voxels
    lie."""

    target_mm: np.ndarray  # planted DLPFC site (MNI mm)
    networks: np.ndarray  # (n_networks, *template.shape), sparse unit-variance fields
    local: np.ndarray  # (N_LOCAL_FIELDS, *template.shape)
    s0_noise: np.ndarray  # (n_s0_sources, *template.shape)
    s0_modulation: np.ndarray  # template.shape, unit-variance smooth field
    # (n_networks, *template.shape) second maps of the networks (network_drift > 0 only)
    network_drift: np.ndarray | None = None


@dataclass
class SubjectModel:
    """A subject's spatial maps on the brain voxels of one sampling grid."""

    shape: tuple[int, int, int]  # the grid the voxels index
    voxels: np.ndarray  # flat indices of brain voxels
    xyz_mm: np.ndarray  # (n_voxels, 3) MNI world coordinates
    circuit_map: np.ndarray  # +patch at the DLPFC target, -sgACC field, grey matter only
    global_map: np.ndarray
    network_maps: np.ndarray  # (n_networks, n_voxels) large-scale networks
    local_maps: np.ndarray  # (n_local, n_voxels) small-scale fluctuations
    s0_noise_maps: np.ndarray  # (n_s0_sources, n_voxels) non-BOLD S0 fluctuations
    s0: np.ndarray
    r2star: np.ndarray  # 1/s
    grey: np.ndarray
    white: np.ndarray
    csf: np.ndarray
    target_mm: np.ndarray | None = None  # planted DLPFC site (MNI mm), for the drift
    network_drift_maps: np.ndarray | None = None  # (n_networks, n_voxels) or None


N_LOCAL_FIELDS = 12


def draw_subject_fields(
    spec: ImagingSpec, template: Template, target_ijk: np.ndarray, rng: np.random.Generator
) -> SubjectFields:
    """Draw one subject's random maps on the template grid; the DLPFC patch is centred at
    the template voxel ``target_ijk``."""
    shape = template.shape
    voxel_mm = spec.voxel_size_mm
    # Networks are sparse in space, a few blobs each (the peaks of a smooth random field),
    # as real networks are: spatially non-Gaussian sources, which spatial ICA separates.
    networks = _sparse(_smooth_field(rng, shape, 20.0 / voxel_mm, spec.n_networks))
    # Small-scale fluctuations: fine sparse fields, each with its own slow time course
    # (cheaper than smoothing a 4D noise volume, and just as structured).
    local = _sparse(_smooth_field(rng, shape, 6.0 / voxel_mm, N_LOCAL_FIELDS))
    s0_noise = _sparse(
        _smooth_field(rng, shape, 30.0 / voxel_mm, spec.n_s0_sources), threshold_sd=0.0
    )
    s0_modulation = _smooth_field(rng, shape, 8.0, 1)[0]
    # Drawn last and only when used, so the static model's maps stay as they were.
    drift = (
        _sparse(_smooth_field(rng, shape, 20.0 / voxel_mm, spec.n_networks))
        if spec.network_drift > 0
        else None
    )
    return SubjectFields(
        target_mm=atlas.voxel_centres_mm(template.affine, np.asarray(target_ijk)[None, :])[0],
        networks=networks,
        local=local,
        s0_noise=s0_noise,
        s0_modulation=s0_modulation,
        network_drift=drift,
    )


def subject_model(
    spec: ImagingSpec,
    template: Template,
    target_ijk: np.ndarray,
    rng: np.random.Generator,
    grid: SamplingGrid | None = None,
) -> SubjectModel:
    """Draw one subject's spatial maps (:func:`draw_subject_fields`) and place them on
    ``grid`` (default: the template grid); the DLPFC patch is centred at ``target_ijk``."""
    fields = draw_subject_fields(spec, template, target_ijk, rng)
    return model_on_grid(spec, template, fields, grid)


def model_on_grid(
    spec: ImagingSpec,
    template: Template,
    fields: SubjectFields,
    grid: SamplingGrid | None = None,
) -> SubjectModel:
    """A subject's maps on the brain voxels of ``grid`` (default: the template grid).

    The circuit (DLPFC patch with the coil-cone profile, sgACC field) is evaluated at each
    voxel's MNI position exactly; the random fields are read off the template grid there
    (trilinear), so that every run of a subject, wherever its voxels lie, sees the same
    brain."""
    on_template = grid is None
    grid = template_grid(template) if grid is None else grid
    xyz = grid.xyz_mm
    grey, white, csf = grid.grey, grid.white, grid.csf
    # The DLPFC patch has the profile of the trial's coil cone around the planted site
    # (nested spheres, weights 5/4/3/2/1 within 2/4/7/9/12 mm, peak 1): the planted site is
    # the surface site whose coil captures the most circuit *amplitude*. The searchlight
    # maximises a *correlation*, which the subject's own network and local maps (fixed
    # within the subject) also shape, so its unlimited-data target can sit a few mm away,
    # the same in every scan (benchmarks/README.md, "Target uncertainty").
    target_mm = fields.target_mm
    patch = _cone_profile(np.linalg.norm(xyz - target_mm, axis=1))
    # The homotopic right DLPFC follows the circuit too (the real circuit is bilateral).
    mirror_mm = target_mm * np.array([-1.0, 1.0, 1.0])
    patch += _cone_profile(np.linalg.norm(xyz - mirror_mm, axis=1))
    if on_template:
        sgacc = template.sgacc.ravel()[grid.voxels]

        def sample(volumes: np.ndarray) -> np.ndarray:
            return volumes.reshape(len(volumes), -1)[:, grid.voxels]
    else:
        sgacc = sgacc_field(xyz)
        index = _template_index(template, xyz)

        def sample(volumes: np.ndarray) -> np.ndarray:
            return np.stack(
                [ndimage.map_coordinates(v, index, order=1, mode="nearest") for v in volumes]
            ).astype(np.float32)

    s0 = np.where(grey, _TISSUE_S0["gm"], np.where(white, _TISSUE_S0["wm"], _TISSUE_S0["csf"]))
    s0 = s0 * (1 + 0.05 * sample(fields.s0_modulation[None])[0])
    r2star = np.where(
        grey, _TISSUE_R2STAR["gm"], np.where(white, _TISSUE_R2STAR["wm"], _TISSUE_R2STAR["csf"])
    )
    n_s0 = max(spec.n_s0_sources, 1)
    return SubjectModel(
        shape=tuple(int(n) for n in grid.shape),
        voxels=grid.voxels,
        xyz_mm=xyz,
        circuit_map=((patch - sgacc) * grey).astype(np.float32),
        global_map=np.where(grey, 1.0, np.where(white, 0.3, 0.1)).astype(np.float32),
        network_maps=sample(fields.networks) * grey / np.sqrt(spec.n_networks),
        local_maps=sample(fields.local) * grey / np.sqrt(N_LOCAL_FIELDS),
        s0_noise_maps=(sample(fields.s0_noise) / np.sqrt(n_s0)).astype(np.float32),
        s0=s0.astype(np.float32),
        r2star=r2star.astype(np.float32),
        grey=grey,
        white=white,
        csf=csf,
        target_mm=np.asarray(target_mm, dtype=np.float64),
        network_drift_maps=(
            None
            if fields.network_drift is None
            else sample(fields.network_drift) * grey / np.sqrt(spec.n_networks)
        ),
    )


def sgacc_field(xyz_mm: np.ndarray) -> np.ndarray:
    """The subgenual cingulate's share of the circuit at MNI points (peak 1): Gaussians of
    :data:`SGACC_FIELD_SIGMA_MM` around the seed and its mirror."""
    centre = np.asarray(atlas.SGACC_CENTRE_MM)
    field = np.zeros(len(xyz_mm))
    for seed_mm in (centre, centre * np.array([-1.0, 1.0, 1.0])):
        field += np.exp(-((xyz_mm - seed_mm) ** 2).sum(axis=1) / (2 * SGACC_FIELD_SIGMA_MM**2))
    peak = 1.0 + np.exp(-((2 * centre[0]) ** 2) / (2 * SGACC_FIELD_SIGMA_MM**2))
    return (field / peak).astype(np.float32)


def _template_index(template: Template, xyz_mm: np.ndarray) -> np.ndarray:
    """Fractional voxel indices (3, n) of MNI points on the template grid."""
    inverse = np.linalg.inv(template.affine)
    return (xyz_mm @ inverse[:3, :3].T + inverse[:3, 3]).T


@dataclass
class SimulatedRun:
    """One run: echo images' data (x, y, z, t) per echo, confounds and latent signals."""

    echoes: list[np.ndarray]
    confounds: pd.DataFrame
    latent: pd.DataFrame  # circuit and global signals (unit variance)


def simulate_run(
    spec: ImagingSpec,
    model: SubjectModel,
    rng: np.random.Generator,
    dtype: type = np.float32,
) -> SimulatedRun:
    """Simulate one multi-echo run of the subject described by ``model``, on the grid its
    voxels index (``model.shape``).

    Returns echo arrays of ``dtype`` in scanner units (zero outside the brain; an integer
    dtype rounds, like scanner data, and halves the memory of a full-scale run), the
    confounds table fMRIPrep would write (:func:`fmriprep_confounds`) and the latent
    circuit/global time courses.
    """
    spec.validate()
    n_t, tr = spec.n_volumes, spec.repetition_time_s
    vox, xyz = model.voxels, model.xyz_mm
    n_v = len(vox)
    scale = 1.0 / (100 * spec.reference_te_s)  # percent at reference TE -> dR2* (1/s)

    bold_percent, circuit, global_signal = bold_sources(spec, model, rng)
    # dR2* (1/s): a BOLD increase is an R2* decrease.
    delta_r2star = (-scale * bold_percent).astype(np.float32)
    del bold_percent

    # Motion: slow random walk plus a few jerks; rotations in radians.
    motion = np.cumsum(rng.normal(0, 0.02, (n_t, 6)), axis=0)
    jerks = rng.choice(n_t, size=max(1, n_t // 40), replace=False)
    motion[jerks] += rng.normal(0, 0.4, (len(jerks), 6))
    motion[:, 3:] *= np.pi / 180  # the walk above is in mm and degrees

    # S0 artefacts: motion projected onto spatial gradients, spikes at jerks, slow drift,
    # and the bright non-steady-state volumes at the start.
    centred = (xyz - xyz.mean(0)) / 60.0
    gradient_maps = np.concatenate([centred, centred[:, [1, 2, 0]]], axis=1)  # (n_v, 6)
    motion_z = (motion - motion.mean(0)) / (motion.std(0) + 1e-12)
    drift = np.linspace(-1, 1, n_t)[:, None] * (0.5 + centred[:, 2])[None, :]
    artefact = (
        spec.artefact_percent
        / 100
        * (0.5 * (motion_z @ gradient_maps.T) / np.sqrt(6) + 0.5 * drift)
    )
    spikes = np.zeros(n_t)
    spikes[jerks] = rng.normal(0, 3 * spec.artefact_percent / 100, len(jerks))
    artefact += spikes[:, None] * (1 + centred[:, 0])[None, :]
    if spec.n_s0_sources:
        s0_courses = np.stack([_smooth_series(rng, n_t, tr) for _ in range(spec.n_s0_sources)])
        artefact += spec.s0_noise_percent / 100 * (s0_courses.T @ model.s0_noise_maps)
    steady = np.zeros(n_t)
    steady[: spec.n_non_steady_state] = 0.6 * np.exp(-np.arange(spec.n_non_steady_state))
    artefact += steady[:, None]
    s0_t = (model.s0[None, :] * (1 + artefact)).astype(np.float32)
    del artefact

    echoes = []
    middle_echo = len(spec.echo_times_s) // 2
    for number, te in enumerate(spec.echo_times_s):
        data = s0_t * np.exp(-te * (model.r2star[None, :] + delta_r2star))
        data += rng.normal(0, spec.thermal_noise_sd, (n_t, n_v)).astype(np.float32)
        if number == middle_echo:
            # fMRIPrep computes these means from the BOLD series; the middle echo stands in.
            middle = data.T.copy()
        if np.issubdtype(dtype, np.integer):
            data = np.round(data)
        volume = np.zeros((*model.shape, n_t), dtype=dtype)
        volume.reshape(-1, n_t)[vox] = data.T
        echoes.append(volume)
        del data

    confounds = fmriprep_confounds(motion, middle, model, tr, spec.n_non_steady_state)
    latent = pd.DataFrame({"circuit": circuit, "global_signal": global_signal})
    return SimulatedRun(echoes=echoes, confounds=confounds, latent=latent)


def bold_sources(
    spec: ImagingSpec, model: SubjectModel, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The BOLD part of a run, percent signal change at the reference TE (volumes x
    voxels), and the latent circuit and global time courses (unit variance): circuit,
    global signal, networks, local fluctuations and the within-session drift."""
    n_t, tr = spec.n_volumes, spec.repetition_time_s
    circuit = _smooth_series(rng, n_t, tr)
    global_signal = _smooth_series(rng, n_t, tr)
    networks = np.stack([_smooth_series(rng, n_t, tr) for _ in range(spec.n_networks)])
    local = np.stack([_smooth_series(rng, n_t, tr, (0.01, 0.2)) for _ in range(N_LOCAL_FIELDS)])
    local = local.T.astype(np.float32)

    bold_percent = (
        spec.circuit_percent * np.outer(circuit, model.circuit_map)
        + spec.global_percent * np.outer(global_signal, model.global_map)
        + spec.network_percent * (networks.T.astype(np.float32) @ model.network_maps)
        + spec.local_percent * (local @ model.local_maps)
    )
    bold_percent += within_session_drift(spec, model, rng, circuit, networks)
    return bold_percent, circuit, global_signal


def within_session_drift(
    spec: ImagingSpec,
    model: SubjectModel,
    rng: np.random.Generator,
    circuit: np.ndarray,
    networks: np.ndarray,
) -> np.ndarray | float:
    """The BOLD (percent, volumes x voxels) that within-session variability adds to the
    static model, or 0 when every drift knob is 0 (no random draw then).

    - ``patch_drift_mm``: the left DLPFC site coupled to ``c(t)`` is ``p(t) = planted +
      patch_drift_mm * u(t)`` (u: three slow processes, :func:`slow_process`); the static
      patch is replaced by the coil-cone profile around ``p(t)``, volume by volume.
    - ``coupling_drift``: the patch follows ``(1 + coupling_drift * w(t)) c(t)``, the
      gain clipped at 0.
    - ``network_drift``: network k's map is ``M_k + network_drift * z_k(t) D_k``.
    """
    n_t, tr = len(circuit), spec.repetition_time_s
    drifting_patch = spec.patch_drift_mm > 0 or spec.coupling_drift > 0
    drifting_networks = spec.network_drift > 0 and model.network_drift_maps is not None
    if not (drifting_patch or drifting_networks) or model.target_mm is None:
        return 0.0
    extra = np.zeros((n_t, len(model.voxels)), dtype=np.float32)
    if drifting_patch:
        timescale = spec.drift_timescale_s
        wander = np.zeros((n_t, 3))
        if spec.patch_drift_mm > 0:
            wander = spec.patch_drift_mm * np.stack(
                [slow_process(rng, n_t, tr, timescale) for _ in range(3)], axis=1
            )
        gain = np.ones(n_t)
        if spec.coupling_drift > 0:
            gain = np.clip(1 + spec.coupling_drift * slow_process(rng, n_t, tr, timescale), 0, None)
        reach = max(CONE_RADII_MM) + 4 * spec.patch_drift_mm + 1e-6
        near = np.flatnonzero(np.linalg.norm(model.xyz_mm - model.target_mm, axis=1) <= reach)
        xyz, grey = model.xyz_mm[near], model.grey[near]
        static = _cone_profile(np.linalg.norm(xyz - model.target_mm, axis=1)) * grey
        sites = model.target_mm[None, :] + wander  # (n_t, 3)
        distance = np.linalg.norm(xyz[None, :, :] - sites[:, None, :], axis=2)
        moving = gain[:, None] * _cone_profile(distance) * grey[None, :]
        extra[:, near] += (spec.circuit_percent * circuit[:, None] * (moving - static)).astype(
            np.float32
        )
    if drifting_networks:
        weights = np.stack(
            [slow_process(rng, n_t, tr, spec.drift_timescale_s) for _ in range(len(networks))]
        )
        courses = (networks * weights).T.astype(np.float32)
        extra += spec.network_percent * spec.network_drift * (courses @ model.network_drift_maps)
    return extra


MOTION_PARAMETERS = ("trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z")
# fMRIPrep's defaults: --fd-spike-threshold 0.5 mm, --dvars-spike-threshold 1.5, CompCor
# components kept up to 50% of the variance, cosine regressors for a 128 s high-pass.
FD_SPIKE_MM = 0.5
DVARS_SPIKE = 1.5
COMPCOR_VARIANCE = 0.5
HIGH_PASS_PERIOD_S = 128.0


def _expanded(name: str, values: np.ndarray) -> dict[str, np.ndarray]:
    """A confound with fMRIPrep's expansions: ``_derivative1`` (backward difference, n/a in
    the first row), ``_power2`` and ``_derivative1_power2``."""
    derivative = np.r_[np.nan, np.diff(values)]
    return {
        name: values,
        f"{name}_derivative1": derivative,
        f"{name}_power2": values**2,
        f"{name}_derivative1_power2": derivative**2,
    }


def _cosine_basis(n_volumes: int, tr_s: float) -> np.ndarray:
    """DCT-II drift regressors of a ``HIGH_PASS_PERIOD_S`` high-pass (volumes x k), as
    fMRIPrep's ``cosine_XX`` columns: every cosine slower than the cut-off, no constant."""
    order = max(int(np.floor(2 * n_volumes * tr_s / HIGH_PASS_PERIOD_S)), 1)
    time = np.arange(n_volumes)
    basis = [
        np.sqrt(2.0 / n_volumes) * np.cos(np.pi / n_volumes * (time + 0.5) * k)
        for k in range(1, order)
    ]
    return np.stack(basis, axis=1) if basis else np.empty((n_volumes, 0))


def _compcor(
    series: np.ndarray, cosines: np.ndarray, prefix: str, mask_name: str, method: str
) -> tuple[dict[str, np.ndarray], dict[str, dict]]:
    """CompCor components of ``series`` (voxels x volumes, steady state only): high-pass
    (the cosines) and linear detrend, then the left singular vectors explaining the first
    ``COMPCOR_VARIANCE`` of the variance, with fMRIPrep's metadata."""
    n_t = series.shape[1]
    design = np.column_stack([np.ones(n_t), np.linspace(-1, 1, n_t), cosines])
    data = series.T.astype(np.float64)
    data = data - design @ np.linalg.lstsq(design, data, rcond=None)[0]
    sd = data.std(axis=0)
    data = data[:, sd > 0] / sd[sd > 0]
    u, singular, _ = np.linalg.svd(data, full_matrices=False)
    explained = singular**2 / np.sum(singular**2)
    cumulative = np.cumsum(explained)
    keep = int(np.searchsorted(cumulative, COMPCOR_VARIANCE) + 1)
    columns, metadata = {}, {}
    for k in range(min(keep, len(singular))):
        name = f"{prefix}{k:02d}"
        columns[name] = u[:, k]
        metadata[name] = {
            "CumulativeVarianceExplained": float(cumulative[k]),
            "Mask": mask_name,
            "Method": method,
            "Retained": True,
            "SingularValue": float(singular[k]),
            "VarianceExplained": float(explained[k]),
        }
    return columns, metadata


def fmriprep_confounds(
    motion: np.ndarray,
    bold: np.ndarray,
    model: SubjectModel,
    tr_s: float,
    n_non_steady_state: int,
) -> pd.DataFrame:
    """The confounds table fMRIPrep writes for a run (``docs/outputs.rst``, "Confounds"),
    column for column, from the head motion (volumes x 6: mm, radians) and the BOLD series
    on the brain voxels (``bold``, voxels x volumes; the middle echo stands in for the
    optimal combination).

    Global, white-matter, CSF and combined signals with their ``_derivative1``/``_power2``
    expansions; DVARS (raw and standardised), framewise displacement (Power 2012, 50 mm
    head) and RMSD; temporal, CSF, white-matter and combined CompCor; ``cosineXX``;
    ``non_steady_state_outlierXX`` (one column per leading non-steady-state volume); the
    six motion parameters with their expansions; ``motion_outlierXX`` (FD > 0.5 mm or
    standardised DVARS > 1.5). As in fMRIPrep, CompCor and cosine rows of non-steady-state
    volumes are 0 and first-row derivatives are n/a. The CompCor metadata fMRIPrep puts in
    the table's JSON are in ``table.attrs["compcor"]``.
    """
    n_t = motion.shape[0]
    steady = slice(n_non_steady_state, None)
    n_steady = n_t - n_non_steady_state
    columns: dict[str, np.ndarray] = {}
    columns |= _expanded("global_signal", bold.mean(0))
    columns |= _expanded("csf", bold[model.csf].mean(0))
    columns |= _expanded("white_matter", bold[model.white].mean(0))
    columns["csf_wm"] = bold[model.csf | model.white].mean(0)
    variance = bold[:, steady].var(axis=1)
    high_variance = variance >= np.quantile(variance, 0.98)
    columns["tcompcor"] = bold[high_variance].mean(0)
    difference = np.diff(bold.astype(np.float64), axis=1)
    dvars = np.r_[np.nan, np.sqrt((difference**2).mean(0))]
    columns["std_dvars"] = dvars / np.nanmedian(dvars)
    columns["dvars"] = dvars
    step = np.abs(np.diff(motion, axis=0))
    columns["framewise_displacement"] = np.r_[np.nan, step[:, :3].sum(1) + 50 * step[:, 3:].sum(1)]
    # RMS deviation of a sphere of 80 mm radius (Jenkinson 2002, small-angle form).
    columns["rmsd"] = np.r_[
        np.nan, np.sqrt((step[:, :3] ** 2).sum(1) + 0.4 * 80.0**2 * (step[:, 3:] ** 2).sum(1))
    ]
    cosines = _cosine_basis(n_steady, tr_s)
    metadata: dict[str, dict] = {}
    for prefix, voxels, mask_name, method in (
        ("t_comp_cor_", high_variance, "", "tCompCor"),
        ("c_comp_cor_", model.csf, "CSF", "aCompCor"),
        ("w_comp_cor_", model.white, "WM", "aCompCor"),
        ("a_comp_cor_", model.csf | model.white, "combined", "aCompCor"),
    ):
        components, described = _compcor(
            bold[voxels][:, steady], cosines, prefix, mask_name, method
        )
        for name, values in components.items():
            columns[name] = np.r_[np.zeros(n_non_steady_state), values]
        metadata |= {name: {k: v for k, v in d.items() if v != ""} for name, d in described.items()}
    for k in range(cosines.shape[1]):
        columns[f"cosine{k:02d}"] = np.r_[np.zeros(n_non_steady_state), cosines[:, k]]
    for k in range(n_non_steady_state):
        columns[f"non_steady_state_outlier{k:02d}"] = (np.arange(n_t) == k).astype(float)
    for k, name in enumerate(MOTION_PARAMETERS):
        columns |= _expanded(name, motion[:, k])
    spikes = np.flatnonzero(
        (np.nan_to_num(columns["framewise_displacement"]) > FD_SPIKE_MM)
        | (np.nan_to_num(columns["std_dvars"]) > DVARS_SPIKE)
    )
    for k, volume in enumerate(spikes):
        columns[f"motion_outlier{k:02d}"] = (np.arange(n_t) == volume).astype(float)
    table = pd.DataFrame(columns)
    table.attrs["compcor"] = metadata
    return table


def run_memory_mb(spec: ImagingSpec, n_brain_voxels: int, grid_voxels: int) -> float:
    """Peak memory (MB) of simulating and writing one run with int16 echoes: about six
    float32 brain-by-time arrays plus the echo volumes (measured by the simulator
    benchmark: 5.4 GB at full scale)."""
    per_volume = 6 * 4 * n_brain_voxels + 2 * grid_voxels * len(spec.echo_times_s)
    return spec.n_volumes * per_volume / 1e6 + 400


def demo_memory_mb(spec: ImagingSpec, workers: int) -> int:
    """Memory (MB) to ask for when simulating ``workers`` subjects at once (the brain is
    about 26% of the FSL MNI box)."""
    shape, _ = atlas.mni_grid(spec.voxel_size_mm)
    grid_voxels = int(np.prod(shape))
    return int(workers * run_memory_mb(spec, int(0.26 * grid_voxels), grid_voxels)) + 500


def to_image(
    data: np.ndarray,
    affine: np.ndarray,
    tr_s: float | None = None,
    dtype=np.int16,
    xform_code: int = 4,
) -> nib.Nifti1Image:
    """A NIfTI image of ``data`` with units set (mm, s) and, for 4D data, the TR in the
    header's fourth zoom. ``xform_code`` 4 says MNI152 space, 1 scanner (native) space.
    Signal is rounded to int16 like scanner data (the rounding error, SD 0.3, is far below
    the thermal noise)."""
    if data.dtype != dtype:
        data = (np.round(data) if np.issubdtype(dtype, np.integer) else data).astype(dtype)
    img = nib.Nifti1Image(data, affine)
    img.header.set_slope_inter(1.0, 0.0)
    img.header.set_xyzt_units("mm", "sec")
    img.header.set_qform(affine, code=xform_code)
    img.header.set_sform(affine, code=xform_code)
    if tr_s is not None and data.ndim == 4:
        img.header.set_zooms(img.header.get_zooms()[:3] + (tr_s,))
    return img
