"""Targeting methods on a brain-masked time-series matrix (methods section 4).

Data representation
-------------------
- ``timeseries``: array of shape (n_timepoints, n_brain_voxels), float32 (any float
  dtype works; it is never copied whole). Column ``v`` is the ``v``-th voxel of the brain
  mask in C order, i.e. ``volume[brain_mask]`` (the order of
  ``nilearn.masking.apply_mask``).
- ``brain_mask``: a 3-D image; its affine maps voxel indices to world (MNI) mm.
- Circuit maps, search masks and seeds must be on the brain mask's grid; put them there
  with ``tmstarget.circuits`` (resampling in world space), never by array index.

Sign conventions
----------------
- Circuit map: DLPFC positive, sgACC negative. Searchlight score = Pearson r between the
  cone signal and the circuit signal; the target is the **maximum positive** r.
- sgACC seed map: score = Pearson r with the seed; the target is **anticorrelated** (the
  most negative r). Scores are reported with their sign, never flipped.
- Coordinates are world mm; voxel indices are (i, j, k) on the brain mask's grid.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import nibabel as nib
import numpy as np
from scipy import ndimage, sparse

from tmstarget import atlas, settings
from tmstarget.circuits import TargetingError, same_grid
from tmstarget.vocabulary import SGACC_CLASSIC, SGACC_CLUSTER

# The coil cone of the trial (targets.cone_radii_mm, cone_weights: config/schema.yaml).
DEFAULT_CONE_RADII_MM = tuple(float(r) for r in settings.defaults("targets")["cone_radii_mm"])
DEFAULT_CONE_WEIGHTS = tuple(float(w) for w in settings.defaults("targets")["cone_weights"])

# Values per block when reading the time series (4 MB of float32): blocks stay in cache
# and no copy of the whole matrix is ever made.
_CACHE_BLOCK_VALUES = 1 << 20
# Neighbour indices per block when building the cone matrix (about 100 MB of int64).
_STENCIL_BLOCK_VALUES = 1 << 22
# Voxels per run in circuit_signal's einsum.
_VOXEL_RUN = 256
# A voxel centre at exactly a cone radius is inside (distances carry float noise).
_RADIUS_TOL_MM = 1e-6
# A signal is flat when its standard deviation is below this fraction of its mean level.
_FLAT_RTOL = 1e-9


@dataclass(frozen=True)
class Target:
    """One target.

    Attributes
    ----------
    method : name of the method that chose it.
    mm : target coordinate, world mm (for ``cluster``, the centre of mass, off-grid).
    ijk : voxel index on the data grid (for ``cluster``, the cluster voxel nearest ``mm``).
    voxel_mm : centre of voxel ``ijk`` in world mm.
    score : Pearson r at voxel ``ijk`` (with the circuit signal, or with the sgACC seed).
    """

    method: str
    mm: tuple[float, float, float]
    ijk: tuple[int, int, int]
    voxel_mm: tuple[float, float, float]
    score: float

    def as_record(self) -> dict[str, float | int | str]:
        """Flat dict for one row of a table (x/y/z in mm, i/j/k voxel index)."""
        return {
            "method": self.method,
            "x_mm": self.mm[0],
            "y_mm": self.mm[1],
            "z_mm": self.mm[2],
            "i": self.ijk[0],
            "j": self.ijk[1],
            "k": self.ijk[2],
            "score": self.score,
        }


@dataclass(frozen=True)
class SearchlightResult:
    """Circuit searchlight output: the target and every candidate's score.

    ``candidate_ijk`` (n, 3) and ``candidate_mm`` (n, 3, world mm) list the surface
    voxels of the search region; ``scores`` (n,) are their Pearson r with the circuit
    signal (NaN where the cone signal is flat or not finite).
    """

    target: Target
    candidate_ijk: np.ndarray
    candidate_mm: np.ndarray
    scores: np.ndarray

    def score_volume(self, shape: tuple[int, int, int]) -> np.ndarray:
        """Scores as a float32 volume on the data grid; NaN outside the candidates."""
        return _to_volume(self.candidate_ijk, self.scores, shape)


@dataclass(frozen=True)
class SeedMapResult:
    """sgACC seed-map output.

    ``region_ijk`` (n, 3) are the search-region voxels inside the brain, ``r`` (n,) their
    Pearson r with the seed (NaN where a voxel's signal is flat). For ``cluster``:
    ``threshold`` is the r cut-off and ``cluster_ijk`` the voxels of the chosen cluster;
    both are None for ``classic``.
    """

    target: Target
    region_ijk: np.ndarray
    r: np.ndarray
    threshold: float | None = None
    cluster_ijk: np.ndarray | None = None

    def r_volume(self, shape: tuple[int, int, int]) -> np.ndarray:
        """Seed-map r as a float32 volume on the data grid; NaN outside the region."""
        return _to_volume(self.region_ijk, self.r, shape)


def _to_volume(ijk: np.ndarray, values: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    volume = np.full(shape, np.nan, dtype=np.float32)
    volume[tuple(ijk.T)] = values
    return volume


# --------------------------------------------------------------------------- inputs


def _brain_array(brain_mask: nib.spatialimages.SpatialImage) -> np.ndarray:
    if len(brain_mask.shape) != 3:
        raise TargetingError(f"brain mask must be a 3-D image, got shape {brain_mask.shape}")
    brain = np.asarray(brain_mask.dataobj) > 0
    if not brain.any():
        raise TargetingError("brain mask is empty: no voxel > 0")
    return brain


def _on_grid(
    value: nib.spatialimages.SpatialImage | np.ndarray,
    brain_mask: nib.spatialimages.SpatialImage,
    name: str,
) -> np.ndarray:
    """A 3-D array on the brain mask's grid (images are checked, never resampled here)."""
    if isinstance(value, nib.spatialimages.SpatialImage):
        if not same_grid(value, brain_mask):
            raise TargetingError(
                f"{name} is on a different grid (shape {value.shape[:3]}, affine "
                f"{np.round(value.affine, 3).tolist()}) than the brain mask (shape "
                f"{brain_mask.shape[:3]}); resample it in world space first with "
                "tmstarget.circuits.load_map(path, brain_mask)."
            )
        array = np.asarray(value.dataobj)
    else:
        array = np.asarray(value)
    if array.shape != tuple(brain_mask.shape[:3]):
        raise TargetingError(
            f"{name} has shape {array.shape}, the brain mask {tuple(brain_mask.shape[:3])}"
        )
    return array


def _check_timeseries(timeseries: np.ndarray, brain: np.ndarray) -> None:
    if timeseries.ndim != 2:
        raise TargetingError(
            f"timeseries must be 2-D (n_timepoints, n_brain_voxels), got shape {timeseries.shape}"
        )
    n_voxels = int(brain.sum())
    if timeseries.shape[1] != n_voxels:
        raise TargetingError(
            f"timeseries has {timeseries.shape[1]} columns but the brain mask has {n_voxels} "
            "voxels; columns must be the brain-mask voxels in C order"
        )
    if timeseries.shape[0] < 3:
        raise TargetingError(
            f"timeseries has {timeseries.shape[0]} timepoints; a correlation needs at least 3"
        )


def _brain_index(brain: np.ndarray) -> np.ndarray:
    """Volume holding each brain voxel's column in ``timeseries`` (-1 outside the brain)."""
    index = np.full(brain.shape, -1, dtype=np.int64)
    index[brain] = np.arange(int(brain.sum()))
    return index


def _voxel_mm(affine: np.ndarray, ijk: np.ndarray) -> tuple[float, float, float]:
    xyz = atlas.voxel_centres_mm(affine, np.asarray(ijk)[None, :])[0]
    return (float(xyz[0]), float(xyz[1]), float(xyz[2]))


def _ijk_tuple(ijk: np.ndarray) -> tuple[int, int, int]:
    return (int(ijk[0]), int(ijk[1]), int(ijk[2]))


# --------------------------------------------------------------------------- signals


def _centred_unit(signals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows centred and scaled to unit norm (float64), and a mask of usable rows.

    A row is unusable when it is not finite or flat (standard deviation below 1e-9 of
    its mean level); unusable rows are returned as NaN.
    """
    signals = np.atleast_2d(np.asarray(signals, dtype=np.float64))
    mean = signals.mean(axis=1, keepdims=True)
    centred = signals - mean
    norm = np.sqrt((centred**2).sum(axis=1))
    spread = norm / np.sqrt(signals.shape[1])
    usable = np.isfinite(norm) & (spread > _FLAT_RTOL * np.abs(mean[:, 0]))
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = centred / norm[:, None]
    unit[~usable] = np.nan
    return unit, usable


def pearson_with(signals: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Pearson r of every row of ``signals`` (n, T) with ``reference`` (T,), float64.

    Rows that are flat or not finite get NaN. Raises TargetingError when ``reference``
    itself is flat or not finite.
    """
    ref_unit, ref_ok = _centred_unit(reference[None, :])
    if not ref_ok[0]:
        raise TargetingError("reference signal is flat or not finite; no correlation defined")
    unit, _ = _centred_unit(signals)
    return np.clip(unit @ ref_unit[0], -1.0, 1.0)


def _float32_is_accurate(timeseries: np.ndarray) -> bool:
    """Whether float32 products keep circuit-signal errors near 1e-6 of its fluctuation.

    Float32 rounds each product relative to the value's size, so data far from zero
    (raw BOLD: mean ~1000x the fluctuation) lose ~1e-4 of the fluctuation, while
    centred data (cleaned time series, the usual input) lose ~1e-7. The rule: float32
    data whose typical level is at most 10x their typical spread, both from the first
    16 timepoints (median over voxels); when in doubt, float64.
    """
    if timeseries.dtype != np.float32:
        return False
    head = np.asarray(timeseries[:16], dtype=np.float64)
    level = float(np.median(np.abs(head.mean(axis=0))))
    spread = float(np.median(head.std(axis=0)))
    return level <= 10.0 * spread


def circuit_signal(timeseries: np.ndarray, circuit_weights: np.ndarray) -> np.ndarray:
    """Circuit-weighted mean time course (methods 4a.2), float64, shape (n_timepoints,).

    ``circuit_weights`` (n_brain_voxels,) are the circuit map values at the brain voxels,
    negative weights included and nothing excluded. The weighted sum is divided by
    ``sum(|weights|)``: a positive normaliser, so the sign of the signal follows the map
    (dividing by ``sum(weights)`` would flip it when negative weights dominate). Any
    positive normaliser gives the same Pearson r (the trial's code divides by the number of
    non-zero voxels). The whole matrix is never copied.
    """
    weights = np.asarray(circuit_weights, dtype=np.float64)
    if weights.shape != (timeseries.shape[1],):
        raise TargetingError(
            f"circuit weights have shape {weights.shape}, expected ({timeseries.shape[1]},)"
        )
    n_bad = int(np.count_nonzero(~np.isfinite(weights)))
    if n_bad:
        raise TargetingError(
            f"circuit map has {n_bad} non-finite values inside the brain mask; load it with "
            "tmstarget.circuits.load_circuit_map (which treats NaN as 0) or clean it"
        )
    total = float(np.abs(weights).sum())
    if total == 0:
        raise TargetingError(
            f"circuit map is zero at all {weights.size} brain voxels; check that it is in "
            "the data's template space"
        )
    # Products run over (rows, runs, voxels) views of cache-sized blocks, so the data are
    # never copied; runs are summed in float64. einsum, not BLAS: many small
    # multi-threaded BLAS calls stall on busy hosts. Float32 products are used only when
    # they are accurate (see _float32_is_accurate); otherwise einsum casts each block to
    # float64 (about 2.5x slower, exact).
    n_timepoints, n_voxels = timeseries.shape
    dtype = np.float32 if _float32_is_accurate(timeseries) else np.float64
    n_runs = n_voxels // _VOXEL_RUN
    split = n_runs * _VOXEL_RUN
    run_weights = weights[:split].reshape(n_runs, _VOXEL_RUN).astype(dtype)
    tail_weights = weights[split:].astype(dtype)
    rows_per_block = max(1, _CACHE_BLOCK_VALUES // max(n_voxels, 1))
    signal = np.empty(n_timepoints, dtype=np.float64)
    for start in range(0, n_timepoints, rows_per_block):
        block = timeseries[start : start + rows_per_block]
        runs = block[:, :split].reshape(len(block), n_runs, _VOXEL_RUN)
        partial = np.einsum("tkv,kv->tk", runs, run_weights).sum(axis=1, dtype=np.float64)
        tail = np.einsum("tv,v->t", block[:, split:], tail_weights)
        signal[start : start + len(block)] = partial + tail
    return signal / total


def cone_weight_matrix(
    brain_mask: np.ndarray,
    affine: np.ndarray,
    centres_ijk: np.ndarray,
    cone_radii_mm: Sequence[float] = DEFAULT_CONE_RADII_MM,
    cone_weights: Sequence[float] = DEFAULT_CONE_WEIGHTS,
) -> sparse.csr_array:
    """Sparse coil-cone weights, shape (n_centres, n_brain_voxels), rows summing to 1.

    A brain voxel at distance d (mm, between voxel centres) from a centre gets
    ``cone_weights[k]`` for the smallest ``k`` with ``d <= cone_radii_mm[k]`` (a voxel at
    exactly a radius is inside), and 0 beyond the last radius. With the defaults (5/4/3/2/1
    within 2/4/7/9/12 mm) this equals summing five unit-weight nested spheres, as in the
    trial's cone. Only brain-mask voxels get weight. Each row is divided by its sum, so
    ``W @ timeseries.T`` gives the cone-weighted mean time courses.

    Built from one offset stencil (valid for any affine, including flipped or oblique
    axes), applied to all centres at once.
    """
    radii = np.asarray(cone_radii_mm, dtype=np.float64)
    weights = np.asarray(cone_weights, dtype=np.float64)
    if radii.ndim != 1 or radii.size == 0 or radii.shape != weights.shape:
        raise ValueError(
            f"cone_radii_mm and cone_weights must be equally long, non-empty lists; got "
            f"{list(radii)} and {list(weights)}"
        )
    if np.any(radii <= 0) or np.any(np.diff(radii) <= 0):
        raise ValueError(f"cone_radii_mm must be positive and increasing, got {list(radii)}")
    if np.any(weights <= 0):
        raise ValueError(f"cone_weights must be positive, got {list(weights)}")
    brain = np.asarray(brain_mask, dtype=bool)
    centres = np.asarray(centres_ijk, dtype=np.int64).reshape(-1, 3)
    if len(centres) == 0:
        return sparse.csr_array((0, int(brain.sum())), dtype=np.float64)
    linear = np.asarray(affine, dtype=np.float64)[:3, :3]

    # Stencil: every voxel offset whose centre lies within the largest radius.
    smallest_step = float(np.linalg.svd(linear, compute_uv=False).min())
    reach = int(np.ceil(radii[-1] / smallest_step + 1e-9))
    span = np.arange(-reach, reach + 1)
    offsets = np.stack(np.meshgrid(span, span, span, indexing="ij"), axis=-1).reshape(-1, 3)
    distance = np.linalg.norm(offsets @ linear.T, axis=1)
    shell = np.searchsorted(radii, distance - _RADIUS_TOL_MM, side="left")
    keep = shell < radii.size
    offsets, offset_weights = offsets[keep], weights[shell[keep]]

    index = _brain_index(brain)
    shape = np.asarray(brain.shape)
    rows, cols, vals = [], [], []
    per_block = max(1, _STENCIL_BLOCK_VALUES // len(offsets))
    for start in range(0, len(centres), per_block):
        block = centres[start : start + per_block]
        neighbours = block[:, None, :] + offsets[None, :, :]
        inside = np.all((neighbours >= 0) & (neighbours < shape), axis=-1)
        clipped = np.clip(neighbours, 0, shape - 1)
        column = index[clipped[..., 0], clipped[..., 1], clipped[..., 2]]
        valid = inside & (column >= 0)
        row_of = np.broadcast_to(np.arange(start, start + len(block))[:, None], valid.shape)
        rows.append(row_of[valid])
        cols.append(column[valid])
        vals.append(np.broadcast_to(offset_weights[None, :], valid.shape)[valid])
    matrix = sparse.csr_array(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(len(centres), int(brain.sum())),
    )
    row_sums = np.asarray(matrix.sum(axis=1)).ravel()
    if np.any(row_sums == 0):
        raise TargetingError("a cone centre has no brain voxel within its cone")
    return sparse.csr_array(sparse.diags_array(1.0 / row_sums) @ matrix)


def cone_signals(timeseries: np.ndarray, cone_weights: sparse.csr_array) -> np.ndarray:
    """Cone-weighted mean time courses, float64 (n_cones, n_timepoints).

    Only the columns some cone touches are read, in blocks of timepoints, so memory stays
    small whatever the size of ``timeseries``. Each voxel's first value is subtracted
    before the product (in the data's precision) and the cones' weighted means of those
    values are added back in float64, so float32 sums stay accurate for data with a
    large mean.
    """
    weights = sparse.csr_array(cone_weights)
    dtype = timeseries.dtype if timeseries.dtype in (np.float32, np.float64) else np.float64
    used = np.unique(weights.indices)
    local = sparse.csr_array(
        (weights.data.astype(dtype), np.searchsorted(used, weights.indices), weights.indptr),
        shape=(weights.shape[0], used.size),
    )
    baseline = np.take(np.asarray(timeseries[0]), used).astype(dtype)
    n_timepoints = timeseries.shape[0]
    out = np.empty((weights.shape[0], n_timepoints), dtype=np.float64)
    per_block = max(1, _CACHE_BLOCK_VALUES // max(used.size, 1))
    for start in range(0, n_timepoints, per_block):
        stop = min(start + per_block, n_timepoints)
        block = np.take(timeseries[start:stop], used, axis=1).astype(dtype, copy=False)
        block -= baseline
        out[:, start:stop] = local @ np.ascontiguousarray(block.T)
    local64 = sparse.csr_array(
        (weights.data, local.indices, local.indptr), shape=local.shape, dtype=np.float64
    )
    out += (local64 @ baseline.astype(np.float64))[:, None]
    return out


# --------------------------------------------------------------------------- 4a


@dataclass(frozen=True)
class SearchlightSignals:
    """What the circuit searchlight's scores are computed from (methods 4a.1-3).

    ``candidate_ijk`` (n, 3): the surface candidates; ``cone_signals`` (n, T, float64):
    their cone-weighted mean time courses; ``circuit_signal`` (T,): the circuit-weighted
    whole-brain signal. Both are linear in each timepoint of the series, so the scores of
    any part or resample of the series are Pearson r of the matching columns
    (:mod:`tmstarget.uncertainty` uses this to resample without re-reading the data).
    """

    candidate_ijk: np.ndarray
    cone_signals: np.ndarray
    circuit_signal: np.ndarray


def searchlight_signals(
    timeseries: np.ndarray,
    brain_mask: nib.spatialimages.SpatialImage,
    circuit_map: nib.spatialimages.SpatialImage | np.ndarray,
    search_mask: nib.spatialimages.SpatialImage | np.ndarray,
    cone_radii_mm: Sequence[float] = DEFAULT_CONE_RADII_MM,
    cone_weights: Sequence[float] = DEFAULT_CONE_WEIGHTS,
) -> SearchlightSignals:
    """Candidates, cone signals and circuit signal of the circuit searchlight (steps 1-3
    of :func:`circuit_searchlight`, which see for the checks and errors)."""
    brain = _brain_array(brain_mask)
    _check_timeseries(timeseries, brain)
    affine = np.asarray(brain_mask.affine)
    circuit = _on_grid(circuit_map, brain_mask, "circuit map")
    region = _on_grid(search_mask, brain_mask, "search mask") > 0
    in_brain = region & brain
    if not in_brain.any():
        raise TargetingError(
            f"search mask has {int(region.sum())} voxels but none inside the brain mask "
            f"({int(brain.sum())} voxels); check that both are in the same space"
        )
    surface = atlas.surface_voxels(in_brain, brain)
    if not surface.any():
        raise TargetingError(
            f"search region has {int(in_brain.sum())} voxels inside the brain mask but none "
            "on the brain surface (no voxel has a neighbour outside the brain), so there is "
            "no candidate a coil can reach; check that the brain mask is not filled to the "
            "grid edge or that the search mask reaches the cortical surface"
        )

    signal = circuit_signal(timeseries, circuit[brain])
    finite = np.isfinite(signal)
    if not finite.all():
        n_bad_voxels = int(np.count_nonzero(~np.isfinite(timeseries).all(axis=0)))
        raise TargetingError(
            f"circuit signal is not finite at {int((~finite).sum())} of {signal.size} "
            f"timepoints: the time series has non-finite values in {n_bad_voxels} brain "
            "voxels; clean or mask them before targeting"
        )
    if not _centred_unit(signal[None, :])[1][0]:
        raise TargetingError(
            f"circuit signal is flat over {signal.size} timepoints (no variance): the time "
            "series carries no signal where the circuit map has weight"
        )

    candidate_ijk = np.argwhere(surface)
    weights = cone_weight_matrix(brain, affine, candidate_ijk, cone_radii_mm, cone_weights)
    return SearchlightSignals(candidate_ijk, cone_signals(timeseries, weights), signal)


def circuit_searchlight(
    timeseries: np.ndarray,
    brain_mask: nib.spatialimages.SpatialImage,
    circuit_map: nib.spatialimages.SpatialImage | np.ndarray,
    search_mask: nib.spatialimages.SpatialImage | np.ndarray,
    cone_radii_mm: Sequence[float] = DEFAULT_CONE_RADII_MM,
    cone_weights: Sequence[float] = DEFAULT_CONE_WEIGHTS,
) -> SearchlightResult:
    """The trial's circuit searchlight (methods 4a); target = maximum positive r.

    1. Candidates: voxels of ``search_mask`` inside the brain with at least one of their
       26 neighbours outside the brain (``atlas.surface_voxels``).
    2. Circuit signal: ``circuit_signal`` with the map's values at all brain voxels.
    3. Cone signal per candidate: cone-weighted mean over brain voxels
       (``cone_weight_matrix``; radii in mm).
    4. Score: Pearson r of cone and circuit signals; target = argmax over finite scores
       (ties: the first candidate in C order).

    ``circuit_map`` and ``search_mask`` must be on the brain mask's grid (images are
    checked; arrays must have its shape). All candidates are computed at once: one
    sparse (n_candidates x n_voxels) matrix times the touched columns of ``timeseries``.

    Raises
    ------
    TargetingError
        Empty search region inside the brain, no surface candidate, flat or non-finite
        circuit signal, or no candidate with a finite score.
    """
    signals = searchlight_signals(
        timeseries, brain_mask, circuit_map, search_mask, cone_radii_mm, cone_weights
    )
    return searchlight_result(signals, np.asarray(brain_mask.affine))


def searchlight_result(signals: SearchlightSignals, affine: np.ndarray) -> SearchlightResult:
    """Step 4 of :func:`circuit_searchlight` from its signals: scores and the argmax."""
    candidate_ijk = signals.candidate_ijk
    scores = pearson_with(signals.cone_signals, signals.circuit_signal)
    candidate_mm = atlas.voxel_centres_mm(affine, candidate_ijk)
    if not np.isfinite(scores).any():
        raise TargetingError(
            f"none of the {len(scores)} surface candidates has a finite score: their cone "
            "signals are flat or not finite; check the time series in the search region"
        )
    best = int(np.nanargmax(scores))
    voxel_mm = _voxel_mm(affine, candidate_ijk[best])
    target = Target(
        method="searchlight",
        mm=voxel_mm,
        ijk=_ijk_tuple(candidate_ijk[best]),
        voxel_mm=voxel_mm,
        score=float(scores[best]),
    )
    return SearchlightResult(target, candidate_ijk, candidate_mm, scores)


def circuit_connectivity_at(
    timeseries: np.ndarray,
    brain_mask: nib.spatialimages.SpatialImage,
    circuit_map: nib.spatialimages.SpatialImage | np.ndarray,
    sites_ijk: np.ndarray,
    cone_radii_mm: Sequence[float] = DEFAULT_CONE_RADII_MM,
    cone_weights: Sequence[float] = DEFAULT_CONE_WEIGHTS,
) -> np.ndarray:
    """The searchlight's score (Pearson r of the coil-cone signal with the circuit
    signal) at arbitrary voxels ``sites_ijk`` (n, 3) of the data grid, e.g. the Beam F3
    site a scalp-arm participant was stimulated at. Sites outside the brain give NaN."""
    brain = _brain_array(brain_mask)
    _check_timeseries(timeseries, brain)
    circuit = _on_grid(circuit_map, brain_mask, "circuit map")
    sites = np.atleast_2d(np.asarray(sites_ijk, dtype=int))
    inside = np.all((sites >= 0) & (sites < np.array(brain.shape)), axis=1)
    inside[inside] = brain[tuple(sites[inside].T)]
    scores = np.full(len(sites), np.nan)
    if inside.any():
        weights = cone_weight_matrix(
            brain, np.asarray(brain_mask.affine), sites[inside], cone_radii_mm, cone_weights
        )
        signal = circuit_signal(timeseries, circuit[brain])
        scores[inside] = pearson_with(cone_signals(timeseries, weights), signal)
    return scores


# --------------------------------------------------------------------------- 4b


def seed_signals(
    timeseries: np.ndarray,
    brain_mask: nib.spatialimages.SpatialImage,
    seed_mask: nib.spatialimages.SpatialImage | np.ndarray,
    search_mask: nib.spatialimages.SpatialImage | np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What the sgACC seed map is computed from: ``(region_ijk, region_signals,
    seed_signal)``, the search-region voxels inside the brain (n, 3), their time courses
    (n, T, float64) and the seed's mean time course (T,). See :func:`sgacc_seed_map` for
    the checks and errors."""
    brain = _brain_array(brain_mask)
    _check_timeseries(timeseries, brain)
    index = _brain_index(brain)
    seed = (_on_grid(seed_mask, brain_mask, "sgACC seed mask") > 0) & brain
    region = (_on_grid(search_mask, brain_mask, "search mask") > 0) & brain
    if not seed.any():
        raise TargetingError(
            "sgACC seed mask has no voxel inside the brain mask; check that both are in "
            "the same space"
        )
    if not region.any():
        raise TargetingError(
            "search mask has no voxel inside the brain mask; check that both are in the same space"
        )
    seed_signal = np.asarray(np.take(timeseries, index[seed], axis=1), dtype=np.float64)
    seed_signal = seed_signal.mean(axis=1)
    if not np.isfinite(seed_signal).all():
        raise TargetingError(
            f"sgACC seed signal is not finite: the time series has non-finite values in the "
            f"seed's {int(seed.sum())} voxels"
        )
    if not _centred_unit(seed_signal[None, :])[1][0]:
        raise TargetingError(
            f"sgACC seed signal is flat over {seed_signal.size} timepoints (no variance)"
        )
    region_ijk = np.argwhere(region)
    region_signals = np.take(timeseries, index[region], axis=1).T
    return region_ijk, np.asarray(region_signals, dtype=np.float64), seed_signal


def sgacc_seed_map(
    timeseries: np.ndarray,
    brain_mask: nib.spatialimages.SpatialImage,
    seed_mask: nib.spatialimages.SpatialImage | np.ndarray,
    search_mask: nib.spatialimages.SpatialImage | np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Pearson r of every search-region voxel with the sgACC seed (methods 4b).

    Seed time course = plain mean of the seed's brain voxels. Returns ``(region_ijk, r)``:
    the search-region voxels inside the brain (n, 3) and their r (n,), NaN where a
    voxel's signal is flat. Sign kept: the target of interest is negative r.

    Raises
    ------
    TargetingError
        Seed or search region empty inside the brain, or a flat/non-finite seed signal.
    """
    region_ijk, region_signals, seed_signal = seed_signals(
        timeseries, brain_mask, seed_mask, search_mask
    )
    return region_ijk, pearson_with(region_signals, seed_signal)


def sgacc_target(
    timeseries: np.ndarray,
    brain_mask: nib.spatialimages.SpatialImage,
    seed_mask: nib.spatialimages.SpatialImage | np.ndarray,
    search_mask: nib.spatialimages.SpatialImage | np.ndarray,
    method: Literal["classic", "cluster"] = "classic",
    cluster_percentile: float = 10.0,
    centre_of_mass: Literal["value", "plain"] = "value",
) -> SeedMapResult:
    """Target from the sgACC seed map (methods 4b); r is reported negative, not flipped.

    - ``classic``: the search-region voxel with the most negative finite r.
    - ``cluster``: among the finite negative r values, the ``cluster_percentile``-th
      percentile (numpy's linear interpolation) is the cut-off; voxels with
      r <= cut-off are kept (so the most negative ~10 % of the negative voxels), grouped
      into 26-connected clusters, and the largest cluster by voxel count is taken (ties:
      the one with the more negative mean r). Target ``mm`` = its centre of mass in world
      mm, weighted by |r| (``centre_of_mass="value"``, the centre of gravity as in FSL
      ``cluster``) or unweighted (``"plain"``). ``ijk`` = the cluster voxel nearest to
      that point (always in the region, even when the centre of mass of a curved cluster
      is not); ``score`` = r at ``ijk``.

    Raises
    ------
    TargetingError
        As ``sgacc_seed_map``; also when no r is finite, or (``cluster``) none is negative.
    """
    if method not in ("classic", "cluster"):
        raise ValueError(f"method must be 'classic' or 'cluster', got {method!r}")
    if centre_of_mass not in ("value", "plain"):
        raise ValueError(f"centre_of_mass must be 'value' or 'plain', got {centre_of_mass!r}")
    if not 0 < cluster_percentile <= 100:
        raise ValueError(f"cluster_percentile must be in (0, 100], got {cluster_percentile}")
    region_ijk, r = sgacc_seed_map(timeseries, brain_mask, seed_mask, search_mask)
    affine = np.asarray(brain_mask.affine)
    finite = np.isfinite(r)
    if not finite.any():
        raise TargetingError(
            f"none of the {r.size} search-region voxels has a finite seed correlation: "
            "their signals are flat or not finite"
        )

    if method == "classic":
        best = int(np.nanargmin(r))
        voxel_mm = _voxel_mm(affine, region_ijk[best])
        target = Target(
            SGACC_CLASSIC, voxel_mm, _ijk_tuple(region_ijk[best]), voxel_mm, float(r[best])
        )
        return SeedMapResult(target, region_ijk, r)

    negative = finite & (r < 0)
    if not negative.any():
        raise TargetingError(
            f"no search-region voxel is anticorrelated with the sgACC seed (all {r.size} "
            "r >= 0); the cluster method needs negative values"
        )
    threshold = float(np.percentile(r[negative], cluster_percentile))
    kept = negative & (r <= threshold)
    volume = np.zeros(np.asarray(brain_mask.dataobj).shape, dtype=bool)
    volume[tuple(region_ijk[kept].T)] = True
    labels, n_clusters = ndimage.label(volume, structure=np.ones((3, 3, 3), dtype=bool))
    r_volume = np.zeros(volume.shape)
    r_volume[tuple(region_ijk[kept].T)] = r[kept]
    ids = np.arange(1, n_clusters + 1)
    sizes = ndimage.sum_labels(volume, labels, ids)
    mean_r = ndimage.mean(r_volume, labels, ids)
    # lexsort: last key is primary (size, descending), then mean r (ascending).
    chosen = int(ids[np.lexsort((mean_r, -sizes))[0]])
    cluster_ijk = np.argwhere(labels == chosen)
    cluster_r = r_volume[tuple(cluster_ijk.T)]
    cluster_mm = atlas.voxel_centres_mm(affine, cluster_ijk)
    mass = -cluster_r if centre_of_mass == "value" else np.ones(len(cluster_ijk))
    centre = (cluster_mm * mass[:, None]).sum(axis=0) / mass.sum()
    nearest = int(np.argmin(np.linalg.norm(cluster_mm - centre, axis=1)))
    target = Target(
        method=SGACC_CLUSTER,
        mm=(float(centre[0]), float(centre[1]), float(centre[2])),
        ijk=_ijk_tuple(cluster_ijk[nearest]),
        voxel_mm=_voxel_mm(affine, cluster_ijk[nearest]),
        score=float(cluster_r[nearest]),
    )
    return SeedMapResult(target, region_ijk, r, threshold=threshold, cluster_ijk=cluster_ijk)
