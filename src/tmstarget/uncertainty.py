"""How sure is each target? A block bootstrap over time, and target choices for flat maps.

Why it is cheap
---------------
The score of every candidate is a Pearson r between two time courses that are linear in
each timepoint of the series: the searchlight's cone signal and circuit signal, or a
search-region voxel and the sgACC seed. Resampling timepoints therefore resamples the
columns of these few hundred time courses, never the brain: the series is read and the
sparse cone matrix applied once (:class:`ScoreModel`), and a resample that uses timepoint
``t`` ``m_t`` times has the weighted Pearson r with multiplicities ``m``
(:func:`resample_scores`: three matrix products per batch of resamples).

Block bootstrap
---------------
The cleaned series is a concatenation of runs, each possibly with censored volumes
removed. :func:`contiguous_segments` gives the stretches of consecutive acquired volumes
(a new stretch at every join between runs and at every censored gap). A resample
(:func:`draw_blocks`) is a sequence of blocks of ``block_volumes`` consecutive volumes,
each drawn uniformly among all the windows of that length inside one stretch (a moving
block bootstrap; a stretch shorter than the block is one window, itself), until the
resample has as many volumes as the series; the last block is cut to fit. Blocks never
straddle a join or a gap, so the autocorrelation inside a block is the data's own.
Every draw comes from ``numpy.random.default_rng(seed)``: the same seed gives the same
resamples, bit for bit.

Per subject (:func:`bootstrap_targets`)
---------------------------------------
Each resample's target is chosen with the same rule as the full-data target (the
configured choice, or the trial's argmax when the choice is the bootstrap's own mode).
Reported: the radius (mm) of the smallest sphere around the chosen site that holds
``confidence`` (95%) of the resample targets (the inverted empirical CDF of their
distances, so that at least 95% lie within it), the share of resamples within one coil
radius of the chosen site, the modal site and its share, and the probability of each
candidate being the target (a map).

Target choices (:data:`CHOICES`)
--------------------------------
On a score map with a flat top the argmax jumps between near-equal candidates:

- ``argmax``: the trial's rule, the best score (the default);
- ``smoothed``: the argmax of the score map smoothed over the candidates with a Gaussian
  of ``smoothing_fwhm_mm`` (a weighted mean of the finite scores of the candidates within
  three standard deviations, weights from their distance in mm);
- ``top_fraction``: the centre of gravity (mm) of the best ``top_fraction`` of the
  candidates, each weighted by its score above the cut-off score (so that the weights
  fall to 0 at the cut-off); the site is the candidate nearest to it;
- ``bootstrap_mode``: the candidate most often chosen by argmax across the resamples
  (ties: the better full-data score).

Scores carry their method's sign: the searchlight wants the most positive r, the sgACC
seed map the most negative (``ScoreModel.sign``); every rule works on ``sign * score``.
Units: mm (world, MNI), seconds; probabilities are shares of the resamples.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse
from scipy.spatial import cKDTree

from tmstarget import atlas, settings
from tmstarget.circuits import TargetingError
from tmstarget.vocabulary import CHOICES

BOOTSTRAP_SECTION = "targets.bootstrap"
# Resamples per matrix product (each holds batch x n_timepoints and batch x n_candidates
# float64 arrays).
_BATCH = 128
# Variance below this (the data are z-scored per run: variance near 1) is a flat signal.
_FLAT_VARIANCE = 1e-12
# Gaussian kernel support, in standard deviations.
_KERNEL_REACH_SD = 3.0


@dataclass(frozen=True)
class BootstrapSettings:
    """The ``targets.bootstrap`` config section (defaults: config/schema.yaml).

    enabled : run the bootstrap in find_targets.
    n_resamples : resamples per subject.
    block_s : block length (seconds); ``round(block_s / TR)`` volumes, at least 1.
    seed : seed of the resamples (each subject's stream is ``[seed, subject number]``).
    confidence : share of the resample targets the radius holds.
    coil_radius_mm : radius (mm) of "within one coil radius"; None = the largest of
        ``targets.cone_radii_mm``.
    """

    enabled: bool = settings.default(BOOTSTRAP_SECTION, "enabled")
    n_resamples: int = settings.default(BOOTSTRAP_SECTION, "n_resamples")
    block_s: float = settings.default(BOOTSTRAP_SECTION, "block_s", float)
    seed: int = settings.default(BOOTSTRAP_SECTION, "seed")
    confidence: float = settings.default(BOOTSTRAP_SECTION, "confidence", float)
    coil_radius_mm: float | None = settings.default(BOOTSTRAP_SECTION, "coil_radius_mm")

    def __post_init__(self) -> None:
        if self.n_resamples < 20:
            raise ValueError(
                f"targets.bootstrap.n_resamples: {self.n_resamples} is too few for a 95% "
                "radius; use at least 20 (hundreds for a stable one)"
            )
        if not self.block_s > 0:
            raise ValueError(f"targets.bootstrap.block_s: must be > 0 s, got {self.block_s}")
        if not 0.5 <= self.confidence < 1:
            raise ValueError("targets.bootstrap.confidence: must be in [0.5, 1), e.g. 0.95")
        if self.coil_radius_mm is not None and not self.coil_radius_mm > 0:
            raise ValueError("targets.bootstrap.coil_radius_mm: must be > 0 mm, or null")

    @classmethod
    def from_config(cls, section: dict | None) -> BootstrapSettings:
        """From the config section; an unknown key is an error naming it."""
        return settings.from_config(cls, BOOTSTRAP_SECTION, section)


@dataclass(frozen=True)
class ChoiceSettings:
    """How a site is chosen on a score map (``targets.choice`` and its options).

    Parameters
    ----------
    rule : str, default "argmax"
        One of :data:`CHOICES` (``argmax``, ``smoothed``, ``top_fraction``,
        ``bootstrap_mode``; see the module docstring).
    smoothing_fwhm_mm : float, default 6.0
        Kernel of ``smoothed`` (FWHM of the Gaussian, mm); > 0.
    top_fraction : float, default 0.05
        Share of candidates of ``top_fraction``, in (0, 1].

    Raises
    ------
    ValueError
        When a value is out of range; the message names the config key
        (``targets.choice``, ``targets.choice_smoothing_fwhm_mm``,
        ``targets.choice_top_fraction``).
    """

    rule: str = "argmax"
    smoothing_fwhm_mm: float = 6.0
    top_fraction: float = 0.05

    def __post_init__(self) -> None:
        if self.rule not in CHOICES:
            raise ValueError(f"targets.choice: {self.rule!r} is not one of {', '.join(CHOICES)}")
        if not self.smoothing_fwhm_mm > 0:
            raise ValueError(
                f"targets.choice_smoothing_fwhm_mm: must be > 0 mm, got {self.smoothing_fwhm_mm}"
            )
        if not 0 < self.top_fraction <= 1:
            raise ValueError(
                f"targets.choice_top_fraction: must be in (0, 1], got {self.top_fraction}"
            )


# --------------------------------------------------------------------------- blocks


def contiguous_segments(
    run_lengths: Sequence[int], censored: Sequence[Sequence[int]] | None = None
) -> list[tuple[int, int]]:
    """Stretches of consecutive acquired volumes in the joined series, ``[(start, stop)]``.

    ``run_lengths``: volumes of each run after the dummy volumes, before censoring;
    ``censored``: per run, the indices (0-based, within the run after the dummies) of the
    volumes censoring removed (None: none). The joined series holds each run's kept
    volumes, runs in order; a stretch ends at the end of a run and at every censored gap.
    """
    censored = censored if censored is not None else [[] for _ in run_lengths]
    if len(censored) != len(run_lengths):
        raise ValueError(
            f"{len(run_lengths)} run lengths but censored volumes for {len(censored)} runs"
        )
    segments, offset = [], 0
    for length, removed in zip(run_lengths, censored, strict=True):
        length = int(length)
        if length < 0:
            raise ValueError(f"a run length must be >= 0, got {length}")
        removed_set = {int(v) for v in removed}
        outside = sorted(v for v in removed_set if not 0 <= v < length)
        if outside:
            raise ValueError(f"censored volumes {outside} lie outside a run of {length} volumes")
        kept = np.array([v for v in range(length) if v not in removed_set], dtype=np.int64)
        if kept.size == 0:
            continue
        breaks = np.flatnonzero(np.diff(kept) > 1) + 1
        for piece in np.split(np.arange(kept.size), breaks):
            segments.append((offset + int(piece[0]), offset + int(piece[-1]) + 1))
        offset += kept.size
    return segments


def block_volumes(block_s: float, repetition_time_s: float) -> int:
    """Volumes per block: ``round(block_s / TR)``, at least 1."""
    if not repetition_time_s > 0:
        raise ValueError(f"repetition time must be > 0 s, got {repetition_time_s}")
    return max(1, int(math.floor(block_s / repetition_time_s + 0.5)))


def _windows(segments: Sequence[tuple[int, int]], length: int) -> tuple[np.ndarray, np.ndarray]:
    """Start and stop of every window of ``length`` volumes inside a segment; a segment
    shorter than ``length`` gives one window, itself."""
    starts, stops = [], []
    for start, stop in segments:
        if stop - start >= length:
            first = np.arange(start, stop - length + 1)
            starts.append(first)
            stops.append(first + length)
        elif stop > start:
            starts.append(np.array([start]))
            stops.append(np.array([stop]))
    if not starts:
        raise ValueError("no volumes to resample: every segment is empty")
    return np.concatenate(starts), np.concatenate(stops)


def draw_blocks(
    segments: Sequence[tuple[int, int]],
    block_length: int,
    rng: np.random.Generator,
    n_timepoints: int | None = None,
) -> list[tuple[int, int]]:
    """One resample: blocks ``[(start, stop)]`` (see the module docstring) whose lengths
    add up to ``n_timepoints`` (default: the volumes of all segments)."""
    if block_length < 1:
        raise ValueError(f"block length must be >= 1 volume, got {block_length}")
    starts, stops = _windows(segments, block_length)
    total = sum(stop - start for start, stop in segments) if n_timepoints is None else n_timepoints
    blocks, filled = [], 0
    while filled < total:
        pick = int(rng.integers(len(starts)))
        start, stop = int(starts[pick]), int(stops[pick])
        stop = min(stop, start + total - filled)
        blocks.append((start, stop))
        filled += stop - start
    return blocks


def resample_multiplicities(
    segments: Sequence[tuple[int, int]],
    n_timepoints: int,
    block_length: int,
    n_resamples: int,
    seed: int | Sequence[int],
) -> np.ndarray:
    """How often each timepoint is used by each resample: int32 (n_resamples,
    n_timepoints), each row summing to the segments' volumes. Seeded
    (``numpy.random.default_rng(seed)``): the same seed gives the same array."""
    if segments and max(stop for _, stop in segments) > n_timepoints:
        raise ValueError(
            f"segments reach volume {max(stop for _, stop in segments)} but the series "
            f"has {n_timepoints}"
        )
    rng = np.random.default_rng(seed)
    counts = np.zeros((n_resamples, n_timepoints + 1), dtype=np.int32)
    for row in range(n_resamples):
        for start, stop in draw_blocks(segments, block_length, rng):
            counts[row, start] += 1
            counts[row, stop] -= 1
    return np.cumsum(counts, axis=1, dtype=np.int32)[:, :n_timepoints]


# --------------------------------------------------------------------------- scores


@dataclass(frozen=True)
class ScoreModel:
    """Everything a method's score map depends on, held once per subject.

    ``candidate_ijk`` (n, 3) voxel indices and ``candidate_mm`` (n, 3) world mm of the
    candidates; ``signals`` (n, T) their time courses (cone signals, or voxel signals)
    and ``reference`` (T,) the circuit or seed signal, both float64 and centred over the
    whole series (Pearson r does not change); ``sign`` +1 when the method wants the
    largest score, -1 the most negative.
    """

    method: str
    candidate_ijk: np.ndarray
    candidate_mm: np.ndarray
    signals: np.ndarray
    reference: np.ndarray
    sign: float

    @classmethod
    def build(
        cls,
        method: str,
        candidate_ijk: np.ndarray,
        affine: np.ndarray,
        signals: np.ndarray,
        reference: np.ndarray,
        sign: float,
    ) -> ScoreModel:
        signals = np.asarray(signals, dtype=np.float64)
        reference = np.asarray(reference, dtype=np.float64)
        if signals.ndim != 2 or signals.shape[1] != reference.shape[0]:
            raise ValueError(
                f"signals {signals.shape} and reference {reference.shape} disagree on timepoints"
            )
        return cls(
            method=method,
            candidate_ijk=np.asarray(candidate_ijk, dtype=np.int64),
            candidate_mm=atlas.voxel_centres_mm(np.asarray(affine), candidate_ijk),
            signals=signals - signals.mean(axis=1, keepdims=True),
            reference=reference - reference.mean(),
            sign=float(sign),
        )

    @property
    def n_timepoints(self) -> int:
        return int(self.reference.shape[0])


def segment_scores(model: ScoreModel, start: int, stop: int) -> np.ndarray:
    """Pearson r of every candidate over volumes ``[start, stop)`` (what the targeting
    method gives on that part of the series), NaN where a signal is flat."""
    weights = np.zeros((1, model.n_timepoints))
    weights[0, start:stop] = 1.0
    return resample_scores(model, weights)[0]


def resample_scores(model: ScoreModel, multiplicities: np.ndarray) -> np.ndarray:
    """Weighted Pearson r of every candidate for each row of ``multiplicities``
    (b, T): the r of the series in which timepoint t appears ``m_t`` times. Returns
    (b, n_candidates) float64, NaN where a resampled signal is flat."""
    weights = np.asarray(multiplicities, dtype=np.float64)
    x, y = model.signals, model.reference
    n = weights.sum(axis=1, keepdims=True)
    sum_x = weights @ x.T
    sum_xx = weights @ (x * x).T
    sum_xy = weights @ (x * y).T
    sum_y = weights @ y[:, None]
    sum_yy = weights @ (y * y)[:, None]
    mean_x, mean_y = sum_x / n, sum_y / n
    covariance = sum_xy / n - mean_x * mean_y
    variance_x = sum_xx / n - mean_x**2
    variance_y = sum_yy / n - mean_y**2
    with np.errstate(invalid="ignore", divide="ignore"):
        r = covariance / np.sqrt(variance_x * variance_y)
    r[(variance_x <= _FLAT_VARIANCE) | np.broadcast_to(variance_y <= _FLAT_VARIANCE, r.shape)] = (
        np.nan
    )
    return np.clip(r, -1.0, 1.0)


# --------------------------------------------------------------------------- choices


def smoothing_kernel(candidate_mm: np.ndarray, fwhm_mm: float) -> sparse.csr_array:
    """Row-normalisable Gaussian weights between candidates (n, n), within three SDs."""
    sigma = fwhm_mm / math.sqrt(8.0 * math.log(2.0))
    tree = cKDTree(candidate_mm)
    distances = tree.sparse_distance_matrix(
        tree, _KERNEL_REACH_SD * sigma, output_type="coo_matrix"
    )
    # the diagonal (distance 0) is not stored by sparse_distance_matrix
    n = len(candidate_mm)
    rows = np.concatenate([distances.row, np.arange(n)])
    cols = np.concatenate([distances.col, np.arange(n)])
    values = np.concatenate([np.exp(-(distances.data**2) / (2 * sigma**2)), np.ones(n)])
    return sparse.csr_array((values, (rows, cols)), shape=(n, n))


@dataclass(frozen=True)
class Choice:
    """Sites chosen on b score maps: ``index`` (b,) candidate indices (the site, or for
    ``top_fraction`` the candidate nearest to the centre of gravity) and ``mm`` (b, 3)
    the chosen point in world mm (the centre of gravity itself for ``top_fraction``)."""

    index: np.ndarray
    mm: np.ndarray


def choose(
    model: ScoreModel,
    scores: np.ndarray,
    settings: ChoiceSettings,
    kernel: sparse.csr_array | None = None,
) -> Choice:
    """Apply ``settings.rule`` to each row of ``scores`` (b, n) or to one map (n,).

    ``bootstrap_mode`` is not a rule on one map (see :func:`bootstrap_targets`); here it
    falls back to argmax. Ties go to the first candidate in C order.

    Raises
    ------
    TargetingError
        A map without a finite score.
    """
    scores = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    oriented = model.sign * scores
    finite = np.isfinite(oriented)
    if not finite.any(axis=1).all():
        raise TargetingError(
            f"{model.method}: a score map has no finite score among its "
            f"{scores.shape[1]} candidates; no site can be chosen"
        )
    rule = settings.rule
    if rule == "smoothed":
        kernel = (
            smoothing_kernel(model.candidate_mm, settings.smoothing_fwhm_mm)
            if kernel is None
            else kernel
        )
        values = np.where(finite, oriented, 0.0)
        numerator = (kernel @ values.T).T
        denominator = (kernel @ finite.T.astype(np.float64)).T
        with np.errstate(invalid="ignore", divide="ignore"):
            smoothed = numerator / denominator
        smoothed[~finite] = np.nan
        index = np.nanargmax(smoothed, axis=1)
        return Choice(index, model.candidate_mm[index])
    if rule == "top_fraction":
        masked = np.where(finite, oriented, -np.inf)
        n_finite = finite.sum(axis=1)
        keep = np.maximum(1, np.ceil(settings.top_fraction * n_finite).astype(int))
        ordered = -np.sort(-masked, axis=1)
        # the cut-off is the best score left out (weights fall to 0 there); with every
        # candidate kept, the worst one
        cut_position = np.minimum(keep, n_finite - 1)
        cutoff = ordered[np.arange(len(scores)), cut_position]
        kth = ordered[np.arange(len(scores)), keep - 1]
        top = masked >= kth[:, None]
        weight = np.where(top, masked - cutoff[:, None], 0.0)
        # equal scores above the cut-off (or a single kept candidate) get equal weight
        flat = weight.sum(axis=1) <= 0
        weight[flat] = top[flat].astype(np.float64)
        centre = (weight @ model.candidate_mm) / weight.sum(axis=1, keepdims=True)
        distance = np.linalg.norm(model.candidate_mm[None, :, :] - centre[:, None, :], axis=2)
        index = np.argmin(np.where(finite, distance, np.inf), axis=1)
        return Choice(index, centre)
    index = np.nanargmax(np.where(finite, oriented, -np.inf), axis=1)
    return Choice(index, model.candidate_mm[index])


# --------------------------------------------------------------------------- bootstrap


@dataclass(frozen=True)
class BootstrapResult:
    """One subject's bootstrap (see the module docstring).

    ``site_index`` / ``site_mm``: the chosen full-data site (candidate index; world mm);
    ``resample_index`` (B,) / ``resample_mm`` (B, 3): each resample's target;
    ``distance_mm`` (B,): their distances to the site; ``radius_mm``: the radius holding
    ``confidence`` of them; ``share_within_coil``: the share within ``coil_radius_mm``;
    ``mode_index`` and ``mode_share``: the most frequent resample target (argmax rule)
    and its share; ``probability`` (n_candidates,): share of resamples choosing each
    candidate (sums to 1).
    """

    site_index: int
    site_mm: np.ndarray
    resample_index: np.ndarray
    resample_mm: np.ndarray
    distance_mm: np.ndarray
    radius_mm: float
    confidence: float
    coil_radius_mm: float
    share_within_coil: float
    mode_index: int
    mode_share: float
    probability: np.ndarray
    block_volumes: int
    n_segments: int


def _modal(indices: np.ndarray, n_candidates: int, tie_scores: np.ndarray) -> tuple[int, float]:
    counts = np.bincount(indices, minlength=n_candidates)
    best = np.flatnonzero(counts == counts.max())
    if len(best) > 1:
        tied = np.where(np.isfinite(tie_scores[best]), tie_scores[best], -np.inf)
        best = best[[int(np.argmax(tied))]]
    return int(best[0]), float(counts[best[0]] / len(indices))


def bootstrap_targets(
    model: ScoreModel,
    segments: Sequence[tuple[int, int]],
    block_length: int,
    n_resamples: int,
    seed: int | Sequence[int],
    choice: ChoiceSettings | None = None,
    confidence: float = 0.95,
    coil_radius_mm: float = 12.0,
    window: tuple[int, int] | None = None,
) -> BootstrapResult:
    """Block bootstrap of the targeting method on one subject (module docstring).

    ``segments``: :func:`contiguous_segments` of the series; ``window`` (start, stop)
    restricts everything to that part of the series (the segments are clipped to it), as
    for the split halves. The site is ``choice`` applied to the full-data (or window)
    scores; for ``bootstrap_mode`` it is the modal resample target.
    """
    choice = choice or ChoiceSettings()
    start, stop = window if window is not None else (0, model.n_timepoints)
    clipped = [(max(a, start), min(b, stop)) for a, b in segments if min(b, stop) > max(a, start)]
    if not clipped:
        raise ValueError(f"no segment overlaps volumes {start}-{stop - 1}")
    resample_rule = choice if choice.rule != "bootstrap_mode" else ChoiceSettings("argmax")
    kernel = (
        smoothing_kernel(model.candidate_mm, choice.smoothing_fwhm_mm)
        if resample_rule.rule == "smoothed"
        else None
    )
    full_scores = segment_scores(model, start, stop)
    multiplicities = resample_multiplicities(
        clipped, model.n_timepoints, block_length, n_resamples, seed
    )
    indices, points = [], []
    for first in range(0, n_resamples, _BATCH):
        scores = resample_scores(model, multiplicities[first : first + _BATCH])
        chosen = choose(model, scores, resample_rule, kernel)
        indices.append(chosen.index)
        points.append(chosen.mm)
    resample_index = np.concatenate(indices)
    resample_mm = np.concatenate(points)
    n_candidates = len(model.candidate_mm)
    mode_index, mode_share = _modal(resample_index, n_candidates, model.sign * full_scores)
    if choice.rule == "bootstrap_mode":
        site_index, site_mm = mode_index, model.candidate_mm[mode_index]
    else:
        site = choose(model, full_scores, choice, kernel)
        site_index, site_mm = int(site.index[0]), site.mm[0]
    distance = np.linalg.norm(resample_mm - site_mm, axis=1)
    radius = float(np.quantile(distance, confidence, method="inverted_cdf"))
    probability = np.bincount(resample_index, minlength=n_candidates) / n_resamples
    return BootstrapResult(
        site_index=int(site_index),
        site_mm=np.asarray(site_mm, dtype=np.float64),
        resample_index=resample_index,
        resample_mm=resample_mm,
        distance_mm=distance,
        radius_mm=radius,
        confidence=float(confidence),
        coil_radius_mm=float(coil_radius_mm),
        share_within_coil=float(np.mean(distance <= coil_radius_mm + 1e-9)),
        mode_index=mode_index,
        mode_share=mode_share,
        probability=probability,
        block_volumes=int(block_length),
        n_segments=len(clipped),
    )


def choice_site(
    model: ScoreModel,
    choice: ChoiceSettings,
    window: tuple[int, int],
    segments: Sequence[tuple[int, int]],
    bootstrap: BootstrapSettings,
    repetition_time_s: float,
    seed: int | Sequence[int],
) -> np.ndarray:
    """The site (world mm) ``choice`` gives on volumes ``window`` of the series; for
    ``bootstrap_mode`` a bootstrap of that window with ``bootstrap``'s settings."""
    if choice.rule == "bootstrap_mode":
        result = bootstrap_targets(
            model,
            segments,
            block_volumes(bootstrap.block_s, repetition_time_s),
            bootstrap.n_resamples,
            seed,
            choice,
            window=window,
        )
        return result.site_mm
    return choose(model, segment_scores(model, *window), choice).mm[0]


def describe(result: BootstrapResult, model: ScoreModel) -> dict[str, Any]:
    """One table row of a subject's bootstrap (the columns of
    :data:`BOOTSTRAP_DICTIONARY` but participant_id)."""
    site = result.site_mm
    mode = model.candidate_mm[result.mode_index]
    return {
        "method": model.method,
        "x_mm": float(site[0]),
        "y_mm": float(site[1]),
        "z_mm": float(site[2]),
        "n_resamples": int(len(result.resample_index)),
        "block_volumes": result.block_volumes,
        "n_segments": result.n_segments,
        "confidence": result.confidence,
        "radius_mm": result.radius_mm,
        "median_distance_mm": float(np.median(result.distance_mm)),
        "coil_radius_mm": result.coil_radius_mm,
        "share_within_coil": result.share_within_coil,
        "mode_x_mm": float(mode[0]),
        "mode_y_mm": float(mode[1]),
        "mode_z_mm": float(mode[2]),
        "mode_share": result.mode_share,
        "site_probability": float(result.probability[result.site_index]),
    }


BOOTSTRAP_DICTIONARY = {
    "participant_id": {"Description": "Participant label"},
    "method": {"Description": "Targeting method that was resampled (targets.connectivity_method)"},
    "choice": {"Description": "Rule choosing the site on a score map (targets.choice)"},
    "x_mm": {"Description": "Chosen site (the subject's target), MNI x", "Units": "mm"},
    "y_mm": {"Description": "Chosen site, MNI y", "Units": "mm"},
    "z_mm": {"Description": "Chosen site, MNI z", "Units": "mm"},
    "n_resamples": {"Description": "Block-bootstrap resamples of the cleaned series"},
    "block_s": {"Description": "Block length asked for (targets.bootstrap.block_s)", "Units": "s"},
    "block_volumes": {"Description": "Block length used: round(block_s / TR), at least 1"},
    "n_segments": {
        "Description": "Stretches of consecutive volumes blocks were drawn from (runs, split "
        "at censored gaps); no block straddles two"
    },
    "seed": {"Description": "Seed of the resamples (with the subject's number)"},
    "confidence": {"Description": "Share of resample targets the radius holds"},
    "radius_mm": {
        "Description": "Radius of the smallest sphere around the chosen site holding "
        "`confidence` of the resample targets",
        "Units": "mm",
    },
    "median_distance_mm": {
        "Description": "Median distance of the resample targets to the chosen site",
        "Units": "mm",
    },
    "coil_radius_mm": {
        "Description": "One coil radius (targets.bootstrap.coil_radius_mm)",
        "Units": "mm",
    },
    "share_within_coil": {
        "Description": "Share of resample targets within one coil radius of the chosen site"
    },
    "mode_x_mm": {"Description": "Most frequent resample target, MNI x", "Units": "mm"},
    "mode_y_mm": {"Description": "Most frequent resample target, MNI y", "Units": "mm"},
    "mode_z_mm": {"Description": "Most frequent resample target, MNI z", "Units": "mm"},
    "mode_share": {"Description": "Share of resamples choosing the most frequent target"},
    "site_probability": {
        "Description": "Share of resamples whose target is the chosen site's voxel"
    },
}


def subject_stream(seed: int, participant_id: str) -> list[int]:
    """The seed sequence of one subject's resamples: ``[seed, crc32(label)]``, so that
    subjects get independent streams whatever their order or number."""
    import zlib

    return [int(seed), zlib.crc32(participant_id.encode())]


def segments_from_qc(
    runs: Sequence[dict], n_timepoints: int, source: str = ""
) -> list[tuple[int, int]]:
    """:func:`contiguous_segments` from the ``runs`` of a subject's QC metrics JSON
    (``volumes``: after the dummies; ``censored_volumes``: indices censored, absent =
    none), checked against the cleaned series' ``n_timepoints``.

    Parameters
    ----------
    runs : sequence of dict
        The QC metrics' ``runs``, in run order: ``volumes`` (after the dummy volumes,
        before censoring) and optionally ``censored_volumes`` (0-based indices within
        the run after the dummies).
    n_timepoints : int
        Volumes of the cleaned series (the runs' kept volumes joined).
    source : str, default ""
        The QC file, named in the error message.

    Returns
    -------
    list of (int, int)
        ``(start, stop)`` volume indices (stop exclusive) of each stretch of consecutive
        acquired volumes in the joined series.

    Raises
    ------
    ValueError
        When the QC lists another number of kept volumes than ``n_timepoints`` (the two
        come from different runs of clean_subject), or a censored index lies outside its
        run.
    """
    lengths = [int(run["volumes"]) for run in runs]
    censored = [list(run.get("censored_volumes", [])) for run in runs]
    segments = contiguous_segments(lengths, censored)
    kept = sum(stop - start for start, stop in segments)
    if kept != n_timepoints:
        where = f" ({source})" if source else ""
        raise ValueError(
            f"the QC metrics{where} list {kept} kept volumes in {len(runs)} runs but the "
            f"cleaned series has {n_timepoints}; rerun clean_subject for this subject "
            "(snakemake --forcerun clean_subject) so that both come from the same run"
        )
    return segments
