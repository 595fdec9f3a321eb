"""Images and the masked matrices the stage works on: loading, a (volumes, mask voxels)
float32 matrix back on the grid, per-voxel mean and SD, headers as nibabel would write
them. Time runs along the last axis of 4D images and along the rows of a matrix."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import nibabel as nib
import numpy as np

from tmstarget.denoise.errors import PreprocessingError

ImgLike = str | Path | nib.spatialimages.SpatialImage


def _load(img: ImgLike) -> nib.spatialimages.SpatialImage:
    return nib.load(str(img)) if isinstance(img, str | Path) else img


def _mask_array(mask_img: ImgLike) -> np.ndarray:
    return np.asarray(_load(mask_img).dataobj) > 0


def _unmask(series: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """A (volumes, voxels) matrix back on the grid (x, y, z, volumes), 0 outside."""
    out = np.zeros(mask.shape + (series.shape[0],), np.float32)
    out[mask] = series.T
    return out


def _voxel_rows(
    series: np.ndarray, chunk_voxels: int = 20000
) -> Iterator[tuple[slice, np.ndarray]]:
    """Chunks of a (volumes, voxels) matrix as C-ordered float64 (voxels, volumes) rows, as
    masking a 4D array gives them: row-wise numbers (mean, SD) come out bit for bit the
    same."""
    for start in range(0, series.shape[1], chunk_voxels):
        columns = slice(start, start + chunk_voxels)
        yield columns, np.ascontiguousarray(series[:, columns].T, dtype=np.float64)


def series_mean_sd(series: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and population SD over time of every voxel of a (volumes, voxels) matrix
    (float64)."""
    mean, sd = np.empty(series.shape[1]), np.empty(series.shape[1])
    for columns, rows in _voxel_rows(series):
        mean[columns], sd[columns] = rows.mean(axis=1), rows.std(axis=1)
    return mean, sd


def _like(data: np.ndarray, ref: nib.spatialimages.SpatialImage) -> nib.Nifti1Image:
    header = ref.header.copy()
    header.set_data_dtype(data.dtype)
    out = nib.Nifti1Image(data, ref.affine, header)
    out.header.set_data_shape(data.shape)
    return out


def _like_header(
    header: nib.Nifti1Header, affine: np.ndarray, shape: Sequence[int]
) -> nib.Nifti1Header:
    """The header :func:`_like` gives float32 data of ``shape`` like an image with
    ``header`` and ``affine``, without the data (a broadcast zero stands in)."""
    copied = header.copy()
    copied.set_data_dtype(np.float32)
    out = nib.Nifti1Image(np.broadcast_to(np.float32(0), tuple(shape)), affine, copied)
    out.header.set_data_shape(tuple(shape))
    return out.header


def _check_finite(series: np.ndarray, name: str, chunk_volumes: int = 64) -> None:
    for start in range(0, series.shape[0], chunk_volumes):
        if not np.isfinite(series[start : start + chunk_volumes]).all():
            raise PreprocessingError(f"{name} has NaN/inf values inside the brain mask")
