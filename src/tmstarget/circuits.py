"""Circuit map, search region and seed: loading in world space, and published defaults.

Every image that enters targeting is put onto the data grid (the subject's brain-mask
grid) by resampling in **world space** (mm), never by array index: the published
circuit map is stored RAS and the FSL masks LAS, so indexing them raw would swap the
hemispheres.

Conventions
-----------
- Coordinates are MNI world coordinates in millimetres (see ``tmstarget.atlas``).
- Circuit map sign: effective DLPFC sites are **positive**, the subgenual cingulate is
  **negative** (Siddiqi et al. 2021). Maps are never sign-flipped here.
- Masks are returned as uint8 images (1 inside), continuous maps as float32 images.

When the config gives no path, defaults are built from the published coordinates in
``tmstarget.atlas`` and the templates nilearn ships (nothing is downloaded):

- search region: union of 20 mm spheres at BA9, BA46, "5 cm" and F3 within grey matter;
- sgACC seed: 10 mm sphere at (6, 16, -10) within the brain;
- circuit map: ``surrogate_circuit_map`` (a smooth two-pole stand-in, see there).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Literal

import nibabel as nib
import numpy as np
from nilearn import image
from nilearn.image.resampling import BoundingBoxError

from tmstarget import atlas

ImageSource = str | Path | nib.Nifti1Image

# Section 3 of the methods reference: values of the published 2 mm circuit map.
SURROGATE_SGACC_VALUE = -0.10
SURROGATE_DLPFC_VALUE = 0.125

# Grids count as equal when affines agree to this many mm (float noise in headers).
_GRID_ATOL_MM = 1e-3


class TargetingError(ValueError):
    """Inputs that cannot give a valid target (empty region, flat signal, ...).

    The message names the offending input and what to do about it.
    """


def _describe_source(source: ImageSource | None, default: str) -> str:
    """A short human-readable name for an image source, used in messages."""
    if source is None:
        return default
    if isinstance(source, str | Path):
        return f"'{source}'"
    return "the in-memory image"


def same_grid(img_a: nib.spatialimages.SpatialImage, img_b: nib.spatialimages.SpatialImage) -> bool:
    """True when two images share a 3-D voxel grid (shape and affine, to 1e-3 mm)."""
    return tuple(img_a.shape[:3]) == tuple(img_b.shape[:3]) and np.allclose(
        img_a.affine, img_b.affine, atol=_GRID_ATOL_MM
    )


def _grid_summary(ref_img: nib.spatialimages.SpatialImage) -> str:
    zooms = np.sqrt((np.asarray(ref_img.affine)[:3, :3] ** 2).sum(axis=0))
    codes = "".join(nib.aff2axcodes(ref_img.affine))
    shape = "x".join(str(n) for n in ref_img.shape[:3])
    return f"{shape} grid, {'/'.join(f'{z:g}' for z in zooms)} mm voxels, {codes}"


def _voxel_size_mm(ref_img: nib.spatialimages.SpatialImage) -> float:
    """Smallest voxel edge of ``ref_img`` (mm), for building template defaults."""
    zooms = np.sqrt((np.asarray(ref_img.affine)[:3, :3] ** 2).sum(axis=0))
    return float(np.round(zooms.min(), 4))


def _load_3d(source: ImageSource, name: str) -> nib.Nifti1Image:
    """Load a NIfTI image and make it 3-D (a trailing length-1 axis is dropped)."""
    try:
        img = nib.load(source) if isinstance(source, str | Path) else source
    except FileNotFoundError as err:
        raise TargetingError(
            f"{name}: file {source} does not exist; check the config path"
        ) from err
    if img.ndim == 4 and img.shape[3] == 1:
        img = image.index_img(img, 0)
    if img.ndim != 3:
        raise TargetingError(
            f"{name}: expected a 3-D image, got shape {img.shape} from "
            f"{_describe_source(source, 'input')}"
        )
    return img


def load_map(
    source: ImageSource,
    ref_img: nib.spatialimages.SpatialImage,
    kind: Literal["continuous", "mask"] = "continuous",
    interpolation: Literal["linear", "continuous", "nearest"] = "linear",
    mask_threshold: float = 0.5,
) -> nib.Nifti1Image:
    """Resample an image (any orientation and grid) onto ``ref_img``'s grid in world space.

    Parameters
    ----------
    source
        Path to a NIfTI file, or an image.
    ref_img
        Image whose grid (first three axes of shape, and affine) is the target.
    kind
        ``"continuous"``: a weighted map. Non-finite values are set to 0 first (they mean
        "no weight"; interpolation would otherwise spread NaN into neighbours), then the
        map is interpolated with ``interpolation`` (default trilinear, which cannot
        overshoot or create sign changes that are not in the data). Returned as float32.
        ``"mask"``: every finite non-zero voxel counts as inside; the 0/1 image is
        linearly interpolated and voxels whose inside-fraction is >= ``mask_threshold``
        are kept (on a grid that coincides with the source grid this is exact).
        Returned as uint8.
    interpolation
        nilearn interpolation for ``kind="continuous"``.
    mask_threshold
        Fraction (0, 1] for ``kind="mask"``.

    Returns
    -------
    A 3-D image on ``ref_img``'s grid. Points outside the source's field of view get 0.
    """
    name = "mask" if kind == "mask" else "map"
    src = _load_3d(source, name)
    values = np.asarray(src.dataobj, dtype=np.float32)
    values = np.where(np.isfinite(values), values, np.float32(0))
    if kind == "mask":
        if not 0 < mask_threshold <= 1:
            raise ValueError(f"mask_threshold must be in (0, 1], got {mask_threshold}")
        values = (values != 0).astype(np.float32)
        method = "linear"
    elif kind == "continuous":
        method = interpolation
    else:
        raise ValueError(f"kind must be 'continuous' or 'mask', got {kind!r}")
    clean = nib.Nifti1Image(values, src.affine)
    with warnings.catch_warnings():
        # Linear interpolation of a 0/1 image is deliberate: it gives the fraction inside.
        warnings.filterwarnings("ignore", message="Resampling binary images")
        try:
            resampled = image.resample_img(
                clean,
                target_affine=np.asarray(ref_img.affine),
                target_shape=tuple(ref_img.shape[:3]),
                interpolation=method,
                force_resample=True,
                copy_header=True,
            )
            data = np.asarray(resampled.dataobj)
        except BoundingBoxError:
            # No overlap at all: callers report it with the file name and voxel counts.
            data = np.zeros(tuple(ref_img.shape[:3]), dtype=np.float32)
    if kind == "mask":
        out = (data >= mask_threshold - 1e-6).astype(np.uint8)
    else:
        out = data.astype(np.float32)
    return nib.Nifti1Image(out, np.asarray(ref_img.affine))


def _require_voxels(
    mask: np.ndarray,
    source: ImageSource | None,
    what: str,
    default: str,
    ref_img: nib.spatialimages.SpatialImage,
    hint: str,
) -> None:
    n_kept = int(np.count_nonzero(mask))
    if n_kept:
        return
    n_source = ""
    if source is not None:
        src_data = np.asarray(_load_3d(source, what).dataobj)
        n_source = (
            f" (the file has {int(np.count_nonzero(np.nan_to_num(src_data)))} non-zero voxels)"
        )
    raise TargetingError(
        f"{what} {_describe_source(source, default)}{n_source}: 0 voxels remain after "
        f"resampling onto the data grid ({_grid_summary(ref_img)}). {hint}"
    )


def load_search_mask(
    source: ImageSource | None, ref_img: nib.spatialimages.SpatialImage
) -> nib.Nifti1Image:
    """Search region (uint8, 1 inside) on ``ref_img``'s grid.

    ``source`` None gives the public stand-in for the trial's mask: union of 20 mm spheres
    at BA9, BA46, "5 cm" and F3 within template grey matter (``atlas.dlpfc_search_region``),
    built at the data's voxel size and resampled in world space.

    Raises
    ------
    TargetingError
        If no voxel remains after resampling (e.g. a mask in another space).
    """
    if source is None:
        source_img: ImageSource = atlas.dlpfc_search_region(_voxel_size_mm(ref_img))
        mask_img = load_map(source_img, ref_img, kind="mask")
    else:
        mask_img = load_map(source, ref_img, kind="mask")
    _require_voxels(
        np.asarray(mask_img.dataobj),
        source,
        "search mask",
        "(default DLPFC spheres within grey matter)",
        ref_img,
        "Check that the mask is in the same template space (MNI mm) as the data and "
        "that it overlaps the data's field of view.",
    )
    return mask_img


def load_seed_mask(
    source: ImageSource | None,
    ref_img: nib.spatialimages.SpatialImage,
    bilateral: bool = False,
) -> nib.Nifti1Image:
    """sgACC seed mask (uint8, 1 inside) on ``ref_img``'s grid.

    ``source`` None gives a 10 mm sphere at (6, 16, -10) within the template brain
    (``bilateral`` adds the mirror sphere at x = -6), from ``atlas.sgacc_seed``.
    ``bilateral`` is ignored when a file is given.

    Raises
    ------
    TargetingError
        If no voxel remains after resampling.
    """
    if source is None:
        seed_img = atlas.sgacc_seed(_voxel_size_mm(ref_img), bilateral=bilateral)
        mask_img = load_map(seed_img, ref_img, kind="mask")
    else:
        mask_img = load_map(source, ref_img, kind="mask")
    _require_voxels(
        np.asarray(mask_img.dataobj),
        source,
        "sgACC seed mask",
        "(default 10 mm sphere at 6,16,-10)",
        ref_img,
        "Check that the seed is in the same template space (MNI mm) as the data.",
    )
    return mask_img


def load_circuit_map(
    source: ImageSource | None,
    ref_img: nib.spatialimages.SpatialImage,
    interpolation: Literal["linear", "continuous", "nearest"] = "linear",
) -> nib.Nifti1Image:
    """Circuit map (float32, DLPFC positive, sgACC negative) on ``ref_img``'s grid.

    ``source`` None gives ``surrogate_circuit_map(ref_img)``. Non-finite values in a file
    count as 0 (no weight). Values are never rescaled or sign-flipped.

    Raises
    ------
    TargetingError
        If the map is zero everywhere on the data grid after resampling.
    """
    if source is None:
        map_img = surrogate_circuit_map(ref_img)
    else:
        map_img = load_map(source, ref_img, kind="continuous", interpolation=interpolation)
    _require_voxels(
        np.asarray(map_img.dataobj) != 0,
        source,
        "circuit map",
        "(surrogate)",
        ref_img,
        "Check that the map is in the same template space (MNI mm) as the data.",
    )
    return map_img


def surrogate_circuit_map(
    ref_img: nib.spatialimages.SpatialImage, sigma_mm: float = 10.0
) -> nib.Nifti1Image:
    """A smooth stand-in for the convergent depression circuit, on ``ref_img``'s grid.

    Construction (a seed-anticorrelation surrogate from published coordinates only):
    a sum of isotropic Gaussians (standard deviation ``sigma_mm``) at

    - the sgACC seed (6, 16, -10) and its mirror (-6, 16, -10): map value **-0.10** at each,
    - BA46 (-44, 40, 29) and its mirror (44, 40, 29): map value **+0.125** at each,

    i.e. the published map's values at those points (methods section 3), with the right
    hemisphere mirrored because the published map is bilateral there. The Gaussian
    amplitudes are solved so that the summed map takes exactly these values at the four
    centres (the blobs overlap). The map is then restricted to the template brain
    (nilearn's MNI152 brain mask, resampled in world space) and is zero elsewhere.

    It reproduces the two poles that matter for targeting (DLPFC positive, sgACC
    negative) but none of the map's other nodes (parietal, default-mode); pass the real
    map (``AllFX_wmean.nii.gz``) for anything beyond a demo. Returns float32.
    """
    if sigma_mm <= 0:
        raise ValueError(f"sigma_mm must be positive, got {sigma_mm}")
    sgacc = np.asarray(atlas.SGACC_CENTRE_MM)
    ba46 = np.asarray(atlas.DLPFC_SPHERE_CENTRES_MM["BA46"])
    mirror = np.array([-1.0, 1.0, 1.0])
    centres = np.stack([sgacc, sgacc * mirror, ba46, ba46 * mirror])
    values = np.array([SURROGATE_SGACC_VALUE] * 2 + [SURROGATE_DLPFC_VALUE] * 2)

    def gaussian(points_mm: np.ndarray, centre_mm: np.ndarray) -> np.ndarray:
        sq = ((points_mm - centre_mm) ** 2).sum(axis=-1)
        return np.exp(-sq / (2.0 * sigma_mm**2))

    overlap = np.stack([gaussian(centres, centre) for centre in centres], axis=1)
    amplitudes = np.linalg.solve(overlap, values)
    shape = tuple(ref_img.shape[:3])
    ijk = np.indices(shape).reshape(3, -1).T
    xyz = atlas.voxel_centres_mm(np.asarray(ref_img.affine), ijk)
    field = np.zeros(len(xyz))
    for amplitude, centre in zip(amplitudes, centres, strict=True):
        field += amplitude * gaussian(xyz, centre)
    field = field.reshape(shape)
    brain_template = atlas.template_tissue(_voxel_size_mm(ref_img))["brain"]
    brain = np.asarray(load_map(brain_template, ref_img, kind="mask").dataobj) > 0
    return nib.Nifti1Image(
        np.where(brain, field, 0.0).astype(np.float32), np.asarray(ref_img.affine)
    )
