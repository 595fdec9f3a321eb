"""One interpolation from a run's own space into the analysis grid.

fMRIPrep leaves the per-echo series of a multi-echo run in the run's own space (its BOLD
reference, "boldref"); tedana denoises them there (tedana's FAQ: run tedana on the native
echoes, then apply fMRIPrep's transforms). This module carries the result into the
analysis grid in one interpolation, through the chain fMRIPrep wrote
(:func:`tmstarget.transforms.load_chain`): template point -> T1w point
(``from-T1w_to-<template>_mode-image_xfm.h5``) -> boldref point
(``from-boldref_to-T1w_mode-image_desc-coreg_xfm.txt``) -> voxel of the native grid.

The analysis grid is the FSL MNI152 box (:func:`tmstarget.atlas.mni_grid`): at 2 mm the
91 x 109 x 91 grid of MNI152NLin6Asym ``res-2``, stored RAS (positive diagonal affine),
on which the trial's circuit map and masks are defined. A run's brain mask on that grid is
the template's brain mask (nilearn's MNI152 brain mask on the grid,
:func:`tmstarget.atlas.template_tissue`, the same the default search region and surrogate
circuit are cut to) where the run has data: where fMRIPrep's boldref ``desc-brain_mask``,
carried along the same mapping, covers at least half the voxel (trilinear fraction 0.5).
Voxels mapping outside the native grid are outside the mask.

The mapping is computed once per run (:func:`plan_resampling`) and stored as a sparse
matrix from the native voxels to the mask voxels of the grid: each row holds the
interpolation weights of one grid voxel. Every volume is then one sparse product, done in
blocks of volumes read straight from the file, so no more than one block of the 4D series
is in memory at once. Kernels: ``linear`` (trilinear, the default; outside the native grid
counts as 0, as ``scipy.ndimage.map_coordinates(order=1, mode="constant")``), ``cubic``
(as fMRIPrep 23.2 and later resample BOLD series: cubic B-spline, the data prefiltered
volume by volume, mirror boundaries, as ``map_coordinates(order=3, mode="mirror")``) and
``nearest``. On a trial-sized run cubic costs 2.3 times linear (its prefilter dominates)
and after the workflow's 6 mm smoothing the two give series that correlate at r 0.998
(benchmarks/README.md).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage, sparse

from tmstarget import atlas, atomic, niftiio, transforms
from tmstarget.niftiio import iter_volume_blocks, write_series

KERNELS = ("cubic", "linear", "nearest")
# Volumes per block: a block of a trial-sized native run (2.5 mm, ~550,000 voxels) is
# 35 MB of float32, of the 2 mm grid 58 MB.
BLOCK_VOLUMES = 16


class ResamplingError(niftiio.NiftiIOError):
    """A run cannot be carried into the analysis grid; the message names the file."""


def analysis_grid(voxel_size_mm: float) -> tuple[tuple[int, int, int], np.ndarray]:
    """Shape and RAS affine of the analysis grid: the FSL MNI152 box at ``voxel_size_mm``
    (at 2 mm exactly MNI152NLin6Asym ``res-2``)."""
    return atlas.mni_grid(voxel_size_mm)


def template_brain(voxel_size_mm: float) -> np.ndarray:
    """The template's brain mask on the analysis grid (bool)."""
    return np.asarray(atlas.template_tissue(voxel_size_mm)["brain"].dataobj) > 0


@dataclass
class Resampler:
    """Everything needed to carry volumes of one run into the analysis grid."""

    grid_shape: tuple[int, int, int]
    grid_affine: np.ndarray
    mask: np.ndarray  # bool on the grid: the run's brain mask there
    weights: sparse.csr_matrix  # (mask voxels, native voxels, C order)
    native_shape: tuple[int, int, int]
    kernel: str
    seconds_planning: float = 0.0

    @property
    def n_voxels(self) -> int:
        return int(self.mask.sum())


def plan_resampling(
    native_mask: str | Path | nib.spatialimages.SpatialImage,
    xfm_files: Sequence[str | Path],
    grid_shape: tuple[int, int, int],
    grid_affine: np.ndarray,
    kernel: str = "linear",
    template_mask: np.ndarray | None = None,
) -> Resampler:
    """Map every voxel centre of the grid through ``xfm_files`` (template side first, see
    :func:`tmstarget.transforms.load_chain`) into the native grid of ``native_mask`` (the
    run's boldref brain mask, on the grid of its series), keep the grid voxels of
    ``template_mask`` (bool on the grid; None: every voxel) that the native mask covers,
    and tabulate their interpolation weights."""
    if kernel not in KERNELS:
        raise ResamplingError(
            f"preprocess.resample.kernel must be one of {KERNELS}, got {kernel!r}"
        )
    start = time.perf_counter()
    mask_img = nib.load(str(native_mask)) if isinstance(native_mask, str | Path) else native_mask
    native_shape = tuple(int(n) for n in mask_img.shape[:3])
    chain = transforms.load_chain(xfm_files)
    if template_mask is None:
        template_mask = np.ones(grid_shape, bool)
    if template_mask.shape != tuple(grid_shape):
        raise ResamplingError(
            f"template mask {template_mask.shape} is not on the grid {grid_shape}"
        )
    # only the template's voxels are mapped (a quarter of the box)
    candidates = np.flatnonzero(template_mask.ravel())
    ijk = np.stack(np.unravel_index(candidates, grid_shape), axis=1)
    world = ijk @ grid_affine[:3, :3].T + grid_affine[:3, 3]
    boldref = transforms.map_points(chain, world, xfm_files)
    to_voxels = np.linalg.inv(mask_img.affine)
    coordinates = (boldref @ to_voxels[:3, :3].T + to_voxels[:3, 3]).T  # (3, candidates)
    native_mask_values = (np.asarray(mask_img.dataobj) > 0).astype(np.float32)
    fraction = ndimage.map_coordinates(
        native_mask_values, coordinates, order=1, mode="constant", cval=0.0
    )
    covered = fraction >= 0.5
    mask = np.zeros(int(np.prod(grid_shape)), bool)
    mask[candidates[covered]] = True
    mask = mask.reshape(grid_shape)
    if not mask.any():
        names = ", ".join(Path(f).name for f in xfm_files)
        raise ResamplingError(
            f"no voxel of the analysis grid maps into the brain mask {mask_img.get_filename()} "
            f"through {names}: do the transforms belong to this run?"
        )
    # candidates are in C order, as the mask's voxels: the weights' rows follow the mask
    weights = interpolation_weights(coordinates[:, covered], native_shape, kernel)
    return Resampler(
        grid_shape=tuple(int(n) for n in grid_shape),
        grid_affine=np.asarray(grid_affine, dtype=float),
        mask=mask,
        weights=weights,
        native_shape=native_shape,
        kernel=kernel,
        seconds_planning=time.perf_counter() - start,
    )


def _mirror(index: np.ndarray, n: int) -> np.ndarray:
    """Indices reflected into 0..n-1 as scipy's ``mode="mirror"`` does (the edge sample is
    not repeated: -1 -> 1, n -> n - 2)."""
    if n == 1:
        return np.zeros_like(index)
    period = 2 * (n - 1)
    index = np.abs(index) % period
    return np.where(index >= n, period - index, index)


def _cubic_bspline(distance: np.ndarray) -> np.ndarray:
    """The cubic B-spline kernel at ``distance`` (in voxels)."""
    d = np.abs(distance)
    inner = (4.0 - 6.0 * d**2 + 3.0 * d**3) / 6.0
    outer = (2.0 - d) ** 3 / 6.0
    return np.where(d < 1.0, inner, np.where(d < 2.0, outer, 0.0))


def interpolation_weights(
    coordinates: np.ndarray, native_shape: tuple[int, int, int], kernel: str = "linear"
) -> sparse.csr_matrix:
    """Sparse matrix (points, native voxels in C order) of interpolation weights at the
    fractional voxel ``coordinates`` (shape (3, points)). For ``cubic`` the weights apply
    to spline coefficients (:func:`spline_coefficients`), for the others to the data."""
    n_points = coordinates.shape[1]
    if kernel == "nearest":
        taps = [np.rint(coordinates).astype(np.int64)[:, :, None]]
        weights = [np.ones((3, n_points, 1))]
    else:
        if kernel == "linear":
            base = np.floor(coordinates).astype(np.int64)
            offsets = np.arange(2)
        else:
            base = np.floor(coordinates).astype(np.int64) - 1
            offsets = np.arange(4)
        index = base[:, :, None] + offsets  # (3, points, taps per axis)
        distance = coordinates[:, :, None] - index
        if kernel == "linear":
            per_axis = np.clip(1.0 - np.abs(distance), 0.0, 1.0)
        else:
            per_axis = _cubic_bspline(distance)
        taps, weights = [index], [per_axis]
    index, per_axis = taps[0], weights[0]
    n_taps = index.shape[2]
    if kernel == "linear":
        # trilinear: outside the grid counts as 0 (as map_coordinates mode="constant")
        inside = (index >= 0) & (index < np.array(native_shape)[:, None, None])
        per_axis = np.where(inside, per_axis, 0.0)
        index = np.clip(index, 0, np.array(native_shape)[:, None, None] - 1)
    elif kernel == "nearest":
        index = np.clip(index, 0, np.array(native_shape)[:, None, None] - 1)
    else:
        index = np.stack([_mirror(index[a], native_shape[a]) for a in range(3)])
    i = index[0][:, :, None, None]
    j = index[1][:, None, :, None]
    k = index[2][:, None, None, :]
    flat = (i * native_shape[1] + j) * native_shape[2] + k
    value = (
        per_axis[0][:, :, None, None]
        * per_axis[1][:, None, :, None]
        * per_axis[2][:, None, None, :]
    )
    rows = np.repeat(np.arange(n_points), n_taps**3)
    matrix = sparse.csr_matrix(
        (value.reshape(-1), (rows, flat.reshape(-1))),
        shape=(n_points, int(np.prod(native_shape))),
    )
    matrix.sum_duplicates()  # mirrored taps may repeat a voxel
    matrix.eliminate_zeros()
    return matrix.astype(np.float32)


def spline_coefficients(volume: np.ndarray) -> np.ndarray:
    """Cubic B-spline coefficients of a 3D volume (mirror boundaries), float32."""
    return ndimage.spline_filter(volume, order=3, output=np.float32, mode="mirror")


def resample_block(resampler: Resampler, block: np.ndarray) -> np.ndarray:
    """The mask voxels (rows) of a block of native volumes (x, y, z, t) in the grid."""
    if block.shape[:3] != resampler.native_shape:
        raise ResamplingError(
            f"volumes of shape {block.shape[:3]} do not match the run's native grid "
            f"{resampler.native_shape}"
        )
    columns = np.empty((int(np.prod(block.shape[:3])), block.shape[3]), np.float32)
    for t in range(block.shape[3]):
        volume = (
            spline_coefficients(block[..., t]) if resampler.kernel == "cubic" else block[..., t]
        )
        columns[:, t] = volume.reshape(-1)  # C order, as the weights' columns
    return resampler.weights @ columns


def grid_header(
    resampler: Resampler, n_volumes: int, repetition_time_s: float, dtype=np.float32
) -> nib.Nifti1Header:
    """The NIfTI header of a 4D series on the analysis grid (RAS, MNI xforms, TR)."""
    header = nib.Nifti1Header()
    header.set_data_shape((*resampler.grid_shape, n_volumes))
    header.set_data_dtype(dtype)
    header.set_qform(resampler.grid_affine, code=4)
    header.set_sform(resampler.grid_affine, code=4)
    zooms = np.sqrt((resampler.grid_affine[:3, :3] ** 2).sum(axis=0))
    header.set_zooms((*zooms, repetition_time_s))
    header.set_xyzt_units("mm", "sec")
    return header


def resample_series(
    resampler: Resampler,
    in_path: str | Path,
    out_path: str | Path,
    repetition_time_s: float,
    block_volumes: int = BLOCK_VOLUMES,
) -> int:
    """Carry a 4D series of the run into the grid, block by block; returns its volumes.
    Outside the run's mask the output is 0."""
    n_volumes = int(nib.load(str(in_path)).shape[3])
    header = grid_header(resampler, n_volumes, repetition_time_s)

    # where each mask voxel (weights' rows, C order) sits in a volume in file order
    in_file_order = np.ravel_multi_index(
        np.nonzero(resampler.mask), resampler.grid_shape, order="F"
    )
    n_grid = int(np.prod(resampler.grid_shape))

    def blocks() -> Iterator[np.ndarray]:
        # one buffer for every block: outside the mask it stays 0
        buffer = np.zeros((block_volumes, n_grid), np.float32)
        for block in iter_volume_blocks(in_path, block_volumes):
            rows = buffer[: block.shape[3]]
            rows[:, in_file_order] = resample_block(resampler, block).T
            yield rows

    write_series(out_path, header, blocks())
    return n_volumes


def resample_mask(resampler: Resampler, out_path: str | Path) -> Path:
    """Write the run's brain mask on the grid (uint8, RAS, MNI xforms)."""
    img = nib.Nifti1Image(resampler.mask.astype(np.uint8), resampler.grid_affine)
    img.header.set_qform(resampler.grid_affine, code=4)
    img.header.set_sform(resampler.grid_affine, code=4)
    img.header.set_xyzt_units("mm", "sec")
    atomic.save_image(img, out_path)
    return Path(out_path)
