"""Template grids, tissue masks and the published coordinates (MNI, mm).

Everything here is built from what installed packages ship (nilearn's MNI152 brain,
grey- and white-matter masks), so nothing is downloaded at run time.

Conventions
-----------
- Coordinates are MNI world coordinates in millimetres (x: left -> right,
  y: posterior -> anterior, z: inferior -> superior).
- Grids are the FSL MNI152 bounding box (x -90..90, y -126..90, z -72..108 mm; at 2 mm
  this is the 91 x 109 x 91 grid of MNI152NLin6Asym res-2) stored in RAS orientation
  (positive diagonal affine). Images in other orientations are compared in world space,
  never by array index.
- nilearn ships the ICBM 2009c template; its masks are resampled onto the grid. For a
  demo and for default search regions the 2009c/6th-generation difference (about 1-2 mm)
  is immaterial; real data bring their own brain masks.
"""

from __future__ import annotations

import os
import warnings
from functools import lru_cache
from pathlib import Path

import nibabel as nib
import numpy as np
from nilearn import datasets, image

# Section 3 of the methods reference: published coordinates (MNI, mm).
SGACC_CENTRE_MM = (6.0, 16.0, -10.0)
SGACC_RADIUS_MM = 10.0
DLPFC_SPHERE_CENTRES_MM = {
    "BA9": (-36.0, 39.0, 43.0),
    "BA46": (-44.0, 40.0, 29.0),
    "5cm": (-41.0, 16.0, 54.0),
    "F3": (-37.0, 26.0, 49.0),
}
DLPFC_SPHERE_RADIUS_MM = 20.0
FOX_TARGET_MM = (-38.0, 44.0, 26.0)
NORMATIVE_SGACC_PEAK_MM = (-42.0, 44.0, 30.0)
GROUP_F3_BRAIN_MM = (-37.0, 26.0, 49.0)

# FSL MNI152 bounding box (mm): the corner voxel centres of the 2 mm grid.
_BOX_MIN_MM = np.array([-90.0, -126.0, -72.0])
_BOX_MAX_MM = np.array([90.0, 90.0, 108.0])


def mni_grid(voxel_size_mm: float) -> tuple[tuple[int, int, int], np.ndarray]:
    """Shape and RAS affine of the FSL MNI152 box sampled at ``voxel_size_mm``.

    At 2 mm this is exactly the 91 x 109 x 91 grid of MNI152NLin6Asym res-2 (in RAS).
    """
    if voxel_size_mm <= 0:
        raise ValueError(f"voxel size must be positive, got {voxel_size_mm} mm")
    shape = tuple(int(n) for n in np.floor((_BOX_MAX_MM - _BOX_MIN_MM) / voxel_size_mm) + 1)
    affine = np.diag([voxel_size_mm, voxel_size_mm, voxel_size_mm, 1.0])
    affine[:3, 3] = _BOX_MIN_MM
    return shape, affine  # type: ignore[return-value]


def _empty(shape: tuple[int, ...], affine: np.ndarray, dtype=np.uint8) -> nib.Nifti1Image:
    return nib.Nifti1Image(np.zeros(shape, dtype=dtype), affine)


# Bump when template_tissue's masks change.
_TISSUE_CACHE_FORMAT = 1


def cache_folder() -> Path | None:
    """Where derived templates are kept between processes: ``$TMSTARGET_CACHE``, else
    ``$XDG_CACHE_HOME/tmstarget``, else ``~/.cache/tmstarget``; None where none of these
    can be created (the masks are then computed in every process)."""
    configured = os.environ.get("TMSTARGET_CACHE")
    base = Path(configured) if configured else None
    if base is None:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = (Path(xdg) if xdg else Path.home() / ".cache") / "tmstarget"
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return base if os.access(base, os.W_OK) else None


@lru_cache(maxsize=8)
def template_tissue(voxel_size_mm: float) -> dict[str, nib.Nifti1Image]:
    """Brain, grey matter, white matter and CSF masks on the MNI grid (uint8 images).

    CSF is the brain mask minus grey and white matter (ventricles and sulcal CSF). The
    three tissue masks are disjoint and their union is the brain mask. Resampling
    nilearn's 1 mm masks costs about a second per process, which every job of the
    workflow would pay: the result is kept in :func:`cache_folder` under the voxel size
    and nilearn's version, and read back (the same arrays).
    """
    import nilearn

    shape, affine = mni_grid(voxel_size_mm)
    folder = cache_folder()
    name = f"tissue-v{_TISSUE_CACHE_FORMAT}_nilearn-{nilearn.__version__}_{voxel_size_mm:g}mm.npz"
    cached = folder / name if folder is not None else None
    try:
        with np.load(cached) as saved:
            masks = {key: saved[key] for key in ("brain", "gm", "wm", "csf")}
    except (OSError, TypeError, ValueError, KeyError):
        masks = _tissue_masks(shape, affine)
        if cached is not None:
            partial = cached.with_name(f".{cached.name}.{os.getpid()}.npz")
            np.savez_compressed(partial, **masks)
            os.replace(partial, cached)  # atomic: parallel jobs never read half a file
    return {name: nib.Nifti1Image(mask, affine) for name, mask in masks.items()}


def _tissue_masks(shape, affine) -> dict[str, np.ndarray]:
    """The masks of :func:`template_tissue`, computed (uint8 arrays)."""
    ref = _empty(shape, affine)
    brain = _resample_mask(datasets.load_mni152_brain_mask(resolution=1), ref)
    grey = _resample_mask(datasets.load_mni152_gm_mask(resolution=1), ref) & brain
    white = _resample_mask(datasets.load_mni152_wm_mask(resolution=1), ref) & brain & ~grey
    csf = brain & ~grey & ~white
    return {
        name: mask.astype(np.uint8)
        for name, mask in (("brain", brain), ("gm", grey), ("wm", white), ("csf", csf))
    }


def _resample_mask(mask_img: nib.Nifti1Image, ref: nib.Nifti1Image) -> np.ndarray:
    """Resample a binary mask to ``ref`` in world space (fraction >= 0.5 inside)."""
    as_float = image.new_img_like(mask_img, (np.asanyarray(mask_img.dataobj) > 0).astype("f4"))
    with warnings.catch_warnings():
        # Linear interpolation of a 0/1 image is deliberate: it gives the fraction inside.
        warnings.filterwarnings("ignore", message="Resampling binary images")
        resampled = image.resample_to_img(
            as_float, ref, interpolation="linear", force_resample=True, copy_header=True
        )
    return np.asarray(resampled.dataobj) >= 0.5


def voxel_centres_mm(affine: np.ndarray, ijk: np.ndarray) -> np.ndarray:
    """World coordinates (mm, shape (n, 3)) of voxel indices ``ijk`` (shape (n, 3))."""
    ijk = np.asarray(ijk, dtype=float)
    return ijk @ affine[:3, :3].T + affine[:3, 3]


def sphere_mask(
    ref: nib.Nifti1Image, centre_mm: tuple[float, float, float], radius_mm: float
) -> np.ndarray:
    """Boolean array on ``ref``'s grid: voxel centres within ``radius_mm`` of ``centre_mm``."""
    ijk = np.indices(ref.shape[:3]).reshape(3, -1).T
    xyz = voxel_centres_mm(ref.affine, ijk)
    inside = np.linalg.norm(xyz - np.asarray(centre_mm), axis=1) <= radius_mm
    return inside.reshape(ref.shape[:3])


def dlpfc_search_region(voxel_size_mm: float) -> nib.Nifti1Image:
    """Left DLPFC search region: union of 20 mm spheres at BA9, BA46, "5 cm" and F3,
    intersected with grey matter (the public stand-in for the trial's mask)."""
    tissue = template_tissue(voxel_size_mm)
    grey = np.asarray(tissue["gm"].dataobj) > 0
    union = np.zeros(grey.shape, dtype=bool)
    for centre in DLPFC_SPHERE_CENTRES_MM.values():
        union |= sphere_mask(tissue["gm"], centre, DLPFC_SPHERE_RADIUS_MM)
    return nib.Nifti1Image((union & grey).astype(np.uint8), tissue["gm"].affine)


def sgacc_seed(voxel_size_mm: float, bilateral: bool = False) -> nib.Nifti1Image:
    """Subgenual cingulate seed: 10 mm sphere at (6, 16, -10) within the brain mask;
    ``bilateral`` adds the mirror sphere at (-6, 16, -10)."""
    brain_img = template_tissue(voxel_size_mm)["brain"]
    brain = np.asarray(brain_img.dataobj) > 0
    seed = sphere_mask(brain_img, SGACC_CENTRE_MM, SGACC_RADIUS_MM)
    if bilateral:
        mirror = (-SGACC_CENTRE_MM[0], SGACC_CENTRE_MM[1], SGACC_CENTRE_MM[2])
        seed |= sphere_mask(brain_img, mirror, SGACC_RADIUS_MM)
    return nib.Nifti1Image((seed & brain).astype(np.uint8), brain_img.affine)


def surface_voxels(region: np.ndarray, brain: np.ndarray) -> np.ndarray:
    """Boolean array: voxels of ``region`` with at least one of their 26 neighbours
    outside ``brain`` (the cortex a coil can reach). Voxels at the array edge count
    their out-of-array neighbours as outside."""
    padded = np.pad(brain.astype(bool), 1, constant_values=False)
    outside_neighbour = np.zeros(brain.shape, dtype=bool)
    nx, ny, nz = brain.shape
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            for dz in (-1, 0, 1):
                if dx == dy == dz == 0:
                    continue
                shifted = padded[1 + dx : 1 + dx + nx, 1 + dy : 1 + dy + ny, 1 + dz : 1 + dz + nz]
                outside_neighbour |= ~shifted
    return region.astype(bool) & brain.astype(bool) & outside_neighbour
