"""The demo cohort's native spaces: where each simulated head sits in the scanner.

fMRIPrep's ``--me-output-echos`` writes the per-echo series only in the run's own space
(the BOLD reference, "boldref"), on the grid they were acquired on, with the transforms
that carry them to the subject's T1w image and on to a template. To simulate that, each
subject gets (:func:`draw_native_space`):

- a T1w space: its brain is the MNI brain moved by an affine (head size, position and
  rotation in the scanner) after a smooth non-linear displacement (a few mm, the part of
  the anatomy an affine cannot match). Written as fMRIPrep's
  ``from-T1w_to-MNI152NLin6Asym_mode-image_xfm.h5`` (an ITK composite: affine plus
  displacement field), whose point mapping is ``T1w = A (p + d(p))`` for an MNI point p;
- per run, a BOLD reference space: the T1w space after a small rigid movement (the head
  between the anatomical and the functional scan), written as
  ``from-boldref_to-T1w_mode-image_desc-coreg_xfm.txt`` (boldref point = B T1w point);
- an oblique acquisition grid in boldref space (tilted slices, x axis flipped as scanners
  store axial data), shared by the runs of a session, covering the head.

Everything a run's data need is then where its voxel centres lie in MNI space
(:func:`mni_positions`): the files are written first and the positions are found by
inverting the same chain the workflow reads back (nitransforms), so the files are the
ground truth. All coordinates are RAS mm.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

from tmstarget import atlas, transforms
from tmstarget.simulate import SamplingGrid

# Where heads sit: T1w scanner coordinates of the MNI origin (mm), SD per axis.
HEAD_OFFSET_MM = (0.0, 18.0, 12.0)
HEAD_OFFSET_SD_MM = 6.0
# Head size relative to the template, per axis, and its rotation in the scanner.
HEAD_SCALE_RANGE = (0.93, 1.07)
HEAD_ROTATION_SD_DEG = 4.0
# The non-linear part: a few smooth bumps of displacement (SD of each component, mm).
N_WARP_BUMPS = 6
WARP_SIGMA_MM = 30.0
WARP_AMPLITUDE_MM = 1.5
# Head movement between the T1w scan and each BOLD run (rigid; SD per axis).
RUN_ROTATION_SD_DEG = 1.5
RUN_TRANSLATION_SD_MM = 2.0
# Slice tilt of the BOLD prescription (degrees about the left-right axis).
SLICE_TILT_RANGE_DEG = (8.0, 20.0)
# Field of view of the BOLD and T1w grids around the brain (mm beyond its extent).
BOLD_MARGIN_MM = 12.0
T1W_MARGIN_MM = 30.0
# The bounding box of the MNI152 head (skull and scalp included), MNI mm.
HEAD_BOX_MM = (np.array([-90.0, -126.0, -72.0]), np.array([90.0, 90.0, 108.0]))
BRAIN_BOX_MM = (np.array([-72.0, -106.0, -62.0]), np.array([72.0, 74.0, 84.0]))


@dataclass(frozen=True)
class NativeSpace:
    """One simulated subject's spaces and the transforms between them (RAS mm)."""

    template_to_t1w: np.ndarray  # 4 x 4: T1w point = A (MNI point + d(MNI point))
    field_grid: np.ndarray  # 4 x 4 voxel-to-MNI affine of the displacement field
    field_mm: np.ndarray  # (nx, ny, nz, 3) displacement d (mm), sampled from displacement()
    warp_centres_mm: np.ndarray  # (N_WARP_BUMPS, 3) MNI centres of the bumps of d
    warp_amplitudes_mm: np.ndarray  # (N_WARP_BUMPS, 3) their displacement vectors
    warp_margin_mm: float  # d fades to 0 over the outer part of this margin around the head
    warp_fade_mm: float
    t1w_to_boldref: tuple[np.ndarray, ...]  # per run, 4 x 4: boldref point = B T1w point
    bold_affine: np.ndarray  # voxel-to-boldref affine of the acquisition grid (oblique)
    bold_shape: tuple[int, int, int]
    t1w_affine: np.ndarray  # voxel-to-T1w affine of the anatomical image (RAS)
    t1w_shape: tuple[int, int, int]


def displacement(
    points_mm: np.ndarray,
    centres_mm: np.ndarray,
    amplitudes_mm: np.ndarray,
    margin_mm: float,
    fade_mm: float,
) -> np.ndarray:
    """The smooth non-linear part of a head's anatomy, d(p) (mm, RAS) at MNI points of any
    shape (..., 3): Gaussian bumps of ``WARP_SIGMA_MM``, faded to 0 between
    ``margin_mm - fade_mm`` and ``margin_mm`` outside the MNI head box (so that the field
    ends at 0 on its grid's edge)."""
    points = np.asarray(points_mm, dtype=float)
    field = np.zeros(points.shape)
    for centre, amplitude in zip(centres_mm, amplitudes_mm, strict=True):
        bump = np.exp(-((points - centre) ** 2).sum(-1) / (2 * WARP_SIGMA_MM**2))
        field += bump[..., None] * amplitude
    outside = np.maximum(HEAD_BOX_MM[0] - points, points - HEAD_BOX_MM[1]).max(-1)
    return field * np.clip(1 - outside / fade_mm, 0, 1)[..., None] ** 2


def _rotation(angles_deg: np.ndarray) -> np.ndarray:
    """Rotation about x, then y, then z (degrees)."""
    x, y, z = np.deg2rad(angles_deg)
    rx = np.array([[1, 0, 0], [0, np.cos(x), -np.sin(x)], [0, np.sin(x), np.cos(x)]])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rz = np.array([[np.cos(z), -np.sin(z), 0], [np.sin(z), np.cos(z), 0], [0, 0, 1]])
    return rz @ ry @ rx


def _matrix(linear: np.ndarray, translation) -> np.ndarray:
    matrix = np.eye(4)
    matrix[:3, :3] = linear
    matrix[:3, 3] = translation
    return matrix


@lru_cache(maxsize=1)
def _brain_points_mm() -> np.ndarray:
    """MNI centres of the template brain's voxels at 4 mm (its outline, for fields of
    view)."""
    brain = atlas.template_tissue(4.0)["brain"]
    return atlas.voxel_centres_mm(brain.affine, np.argwhere(np.asarray(brain.dataobj) > 0))


def _box_corners(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    return np.array(
        [[(low, high)[b][axis] for axis, b in enumerate(bits)] for bits in np.ndindex(2, 2, 2)]
    )


def draw_native_space(
    rng: np.random.Generator,
    n_runs: int,
    bold_voxel_mm: float,
    t1w_voxel_mm: float,
    field_spacing_mm: float,
) -> NativeSpace:
    """Draw a subject's head position, anatomy warp, per-run movements and acquisition
    grids (see the module docstring)."""
    scale = rng.uniform(*HEAD_SCALE_RANGE, size=3)
    rotation = _rotation(rng.normal(0, HEAD_ROTATION_SD_DEG, 3))
    offset = np.asarray(HEAD_OFFSET_MM) + rng.normal(0, HEAD_OFFSET_SD_MM, 3)
    template_to_t1w = _matrix(rotation @ np.diag(scale), offset)

    # The displacement field on the FSL MNI box plus a margin, in RAS. It fades to 0 over
    # the margin: beyond its grid nitransforms displaces nothing, and a field that stopped
    # short would tear the mapping there.
    field_margin = max(8 * field_spacing_mm, 48.0)
    field_fade = field_margin - 2 * field_spacing_mm
    low, high = HEAD_BOX_MM[0] - field_margin, HEAD_BOX_MM[1] + field_margin
    shape = tuple(int(n) for n in np.ceil((high - low) / field_spacing_mm) + 1)
    field_grid = _matrix(np.eye(3) * field_spacing_mm, low)
    ijk = np.stack(np.meshgrid(*map(np.arange, shape), indexing="ij"), axis=-1)
    xyz = ijk * field_spacing_mm + low
    centres = rng.uniform(BRAIN_BOX_MM[0], BRAIN_BOX_MM[1], size=(N_WARP_BUMPS, 3))
    amplitudes = rng.normal(0, WARP_AMPLITUDE_MM, size=(N_WARP_BUMPS, 3))
    field = displacement(xyz, centres, amplitudes, field_margin, field_fade)

    t1w_to_boldref = tuple(
        _matrix(
            _rotation(rng.normal(0, RUN_ROTATION_SD_DEG, 3)),
            rng.normal(0, RUN_TRANSLATION_SD_MM, 3),
        )
        for _ in range(n_runs)
    )

    # Acquisition grid: axial slices tilted about x (and a little about y and z), x axis
    # stored right-to-left; it covers the brain wherever a run's movement puts it.
    tilt = np.array([rng.uniform(*SLICE_TILT_RANGE_DEG), rng.normal(0, 2), rng.normal(0, 2)])
    axes = _rotation(tilt) @ np.diag([-bold_voxel_mm, bold_voxel_mm, bold_voxel_mm])
    # the brain's own extent along the tilted axes (a box's corners would overstate it)
    brain_t1w = _brain_points_mm() @ template_to_t1w[:3, :3].T + template_to_t1w[:3, 3]
    in_grid = []
    for movement in t1w_to_boldref:
        boldref = brain_t1w @ movement[:3, :3].T + movement[:3, 3]
        in_grid.append(boldref @ np.linalg.inv(axes).T)
    in_grid = np.concatenate(in_grid)
    margin = BOLD_MARGIN_MM / bold_voxel_mm
    first = np.floor(in_grid.min(0) - margin)
    bold_shape = tuple(int(n) for n in np.ceil(in_grid.max(0) + margin) - first + 1)
    bold_affine = _matrix(axes, axes @ first)

    # The anatomical image: a RAS grid in T1w space around the whole head.
    head_t1w = _box_corners(*HEAD_BOX_MM) @ template_to_t1w[:3, :3].T + template_to_t1w[:3, 3]
    t1w_low = np.floor((head_t1w.min(0) - T1W_MARGIN_MM / 3) / t1w_voxel_mm) * t1w_voxel_mm
    t1w_high = head_t1w.max(0) + T1W_MARGIN_MM / 3
    t1w_shape = tuple(int(n) for n in np.ceil((t1w_high - t1w_low) / t1w_voxel_mm) + 1)
    t1w_affine = _matrix(np.eye(3) * t1w_voxel_mm, t1w_low)
    return NativeSpace(
        template_to_t1w=template_to_t1w,
        field_grid=field_grid,
        field_mm=field,
        warp_centres_mm=centres,
        warp_amplitudes_mm=amplitudes,
        warp_margin_mm=field_margin,
        warp_fade_mm=field_fade,
        t1w_to_boldref=t1w_to_boldref,
        bold_affine=bold_affine,
        bold_shape=bold_shape,
        t1w_affine=t1w_affine,
        t1w_shape=t1w_shape,
    )


def mni_to_t1w(space: NativeSpace, points_mm: np.ndarray) -> np.ndarray:
    """The designed point mapping MNI -> T1w, ``A (p + d(p))``, evaluated exactly (the
    written file holds d sampled on a grid; the tests hold the two against each other)."""
    points = np.asarray(points_mm, dtype=float)
    moved = points + displacement(
        points,
        space.warp_centres_mm,
        space.warp_amplitudes_mm,
        space.warp_margin_mm,
        space.warp_fade_mm,
    )
    return moved @ space.template_to_t1w[:3, :3].T + space.template_to_t1w[:3, 3]


def write_template_transform(space: NativeSpace, path: str | Path) -> Path:
    """``from-T1w_to-<template>_mode-image_xfm.h5``: MNI points to T1w points."""
    return transforms.write_itk_composite(
        path, space.template_to_t1w, space.field_mm, space.field_grid
    )


def write_run_transform(space: NativeSpace, run_index: int, path: str | Path) -> Path:
    """``from-boldref_to-T1w_mode-image_desc-coreg_xfm.txt``: T1w points to boldref
    points of run ``run_index`` (0-based)."""
    return transforms.write_itk_affine(path, space.t1w_to_boldref[run_index])


def mni_positions(
    points_mm: np.ndarray,
    files: list[Path],
    linear: np.ndarray,
    tolerance_mm: float = 1e-3,
    max_iterations: int = 30,
) -> np.ndarray:
    """The MNI points (n, 3) that the chain of ``files`` (template first, as
    :func:`tmstarget.transforms.load_chain` takes them) maps onto ``points_mm``: the
    inverse of the chain, by fixed-point iteration with ``linear`` (the chain's affine
    part, MNI to the last space) as the approximate Jacobian. Converges while the
    displacement field's gradient is well below 1 (here about 0.05)."""
    chain = transforms.load_chain(files)
    points = np.asarray(points_mm, dtype=float)
    inverse = np.linalg.inv(linear)
    guess = points @ inverse[:3, :3].T + inverse[:3, 3]
    # Near the edge of a displacement field's grid nitransforms' spline turns to "no
    # displacement", and the iteration there need not settle; such points lie far outside
    # the head (the field is 0 there anyway) and are left out of the test.
    pending = np.arange(len(points))
    for _ in range(max_iterations):
        residual = _mapped(chain, guess[pending]) - points[pending]
        settled = np.max(np.abs(residual), axis=1) < tolerance_mm
        settled |= ~_inside_fields(chain, guess[pending])
        guess[pending[~settled]] -= residual[~settled] @ inverse[:3, :3].T
        pending = pending[~settled]
        if not len(pending):
            return guess
    raise RuntimeError(
        f"inverting {[str(f) for f in files]} did not converge within {tolerance_mm} mm"
    )


def _inside_fields(chain, points: np.ndarray, edge_voxels: float = 3.0) -> np.ndarray:
    """True for points at least ``edge_voxels`` inside the grid of every displacement field
    of the chain (the first transforms: they apply to the MNI points themselves)."""
    from nitransforms.nonlinear import DenseFieldTransform

    inside = np.ones(len(points), bool)
    for transform in chain.transforms:
        if not isinstance(transform, DenseFieldTransform):
            break
        ijk = np.asarray(transform.reference.index(points), dtype=float).reshape(-1, 3)
        upper = np.asarray(transform.reference.shape[:3], dtype=float) - 1 - edge_voxels
        inside &= np.all((ijk >= edge_voxels) & (ijk <= upper), axis=1)
    return inside


def _mapped(chain, points: np.ndarray) -> np.ndarray:
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Reference space not set")
        return np.asarray(chain.map(points), dtype=float)


def grid_positions(
    affine: np.ndarray,
    shape: tuple[int, int, int],
    files: list[Path],
    linear: np.ndarray,
    coarse_step: int = 1,
) -> np.ndarray:
    """MNI position of every voxel centre of a grid (shape (*shape, 3)) whose world space
    is the last space of the chain ``files``. With ``coarse_step`` k > 1 the inverse is
    computed on every k-th voxel and interpolated (trilinear) in between: the mapping is
    smooth on the scale of the displacement field (30 mm), so this costs k^3 times less
    for an error far below a voxel."""
    coarse_shape = tuple(int(np.ceil((n - 1) / coarse_step)) + 1 for n in shape)
    ijk = np.stack(np.meshgrid(*map(np.arange, coarse_shape), indexing="ij"), axis=-1)
    ijk = ijk.reshape(-1, 3) * coarse_step
    world = ijk @ affine[:3, :3].T + affine[:3, 3]
    coarse = mni_positions(world, files, linear).reshape(*coarse_shape, 3)
    if coarse_step == 1:
        return coarse
    fine = np.stack(
        np.meshgrid(*(np.arange(n) / coarse_step for n in shape), indexing="ij"), axis=0
    )
    return np.stack(
        [ndimage.map_coordinates(coarse[..., a], fine, order=1, mode="nearest") for a in range(3)],
        axis=-1,
    )


@dataclass(frozen=True)
class TissueSampler:
    """Tissue masks of the MNI152 brain read at arbitrary MNI points."""

    affine: np.ndarray
    brain: np.ndarray
    grey: np.ndarray
    white: np.ndarray
    csf: np.ndarray
    distance_mm: np.ndarray  # from each voxel to the brain (0 inside)

    @classmethod
    def load(cls, voxel_size_mm: float = 2.0) -> TissueSampler:
        tissue = atlas.template_tissue(voxel_size_mm)
        arrays = {name: np.asarray(img.dataobj) > 0 for name, img in tissue.items()}
        return cls(
            affine=tissue["brain"].affine,
            brain=arrays["brain"],
            grey=arrays["gm"],
            white=arrays["wm"],
            csf=arrays["csf"],
            distance_mm=ndimage.distance_transform_edt(~arrays["brain"]) * voxel_size_mm,
        )

    def near_brain(self, xyz_mm: np.ndarray, radius_mm: float) -> np.ndarray:
        """True at MNI points within ``radius_mm`` of the brain (nearest voxel)."""
        inverse = np.linalg.inv(self.affine)
        ijk = np.rint(xyz_mm @ inverse[:3, :3].T + inverse[:3, 3]).astype(int)
        inside = np.all((ijk >= 0) & (ijk < np.array(self.brain.shape)), axis=1)
        values = np.zeros(len(xyz_mm), bool)
        values[inside] = self.distance_mm[tuple(ijk[inside].T)] <= radius_mm
        return values

    def at(self, xyz_mm: np.ndarray, name: str) -> np.ndarray:
        """The mask ``name`` at MNI points (nearest voxel; outside the grid: False)."""
        inverse = np.linalg.inv(self.affine)
        ijk = np.rint(xyz_mm @ inverse[:3, :3].T + inverse[:3, 3]).astype(int)
        volume = getattr(self, name)
        inside = np.all((ijk >= 0) & (ijk < np.array(volume.shape)), axis=1)
        values = np.zeros(len(xyz_mm), bool)
        values[inside] = volume[tuple(ijk[inside].T)]
        return values


def sampling_grid(positions_mm: np.ndarray, tissue: TissueSampler, voxel_mm: float) -> SamplingGrid:
    """The brain voxels of a native grid (voxel size ``voxel_mm``) whose voxel centres lie
    at ``positions_mm`` (shape (*grid, 3), MNI mm), with their tissue class. A voxel is
    brain when its centre lies within half a voxel of the brain: a coarse voxel at the
    edge holds some brain, and fMRIPrep's boldref masks are that generous; such rim voxels
    are CSF."""
    shape = positions_mm.shape[:3]
    flat = positions_mm.reshape(-1, 3)
    voxels = np.flatnonzero(tissue.near_brain(flat, voxel_mm / 2))
    xyz = flat[voxels]
    grey = tissue.at(xyz, "grey")
    white = tissue.at(xyz, "white") & ~grey
    return SamplingGrid(
        shape=tuple(int(n) for n in shape),
        voxels=voxels,
        xyz_mm=xyz,
        grey=grey,
        white=white,
        csf=~grey & ~white,
    )


# Layers around the brain of the synthetic head (distance from the brain mask, mm) and
# their T1 intensity relative to white matter: CSF, skull (dark), scalp (fat: bright).
_HEAD_LAYERS = ((3.0, 0.25), (8.0, 0.08), (14.0, 0.75))


@lru_cache(maxsize=2)
def _template_head(resolution: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A whole-head T1 image in MNI space: nilearn's MNI152 T1 (skull-stripped) inside its
    brain mask, wrapped in CSF, skull and scalp layers (``_HEAD_LAYERS``) so that the
    image has a scalp, as fMRIPrep's ``desc-preproc_T1w`` has. Returns the image, the
    brain mask (float 0/1) and their affine."""
    from nilearn import datasets

    t1 = datasets.load_mni152_template(resolution=resolution)
    mask = datasets.load_mni152_brain_mask(resolution=resolution)
    brain = np.asarray(mask.dataobj) > 0
    voxel_mm = float(abs(mask.affine[0, 0]))
    distance = ndimage.distance_transform_edt(~brain) * voxel_mm
    head = np.where(brain, np.asarray(t1.dataobj, dtype=np.float32), 0.0).astype(np.float32)
    inner = 0.0
    for outer, intensity in _HEAD_LAYERS:
        head[(distance > inner) & (distance <= outer)] = intensity
        inner = outer
    return head, brain.astype(np.float32), mask.affine


def t1w_images(
    space: NativeSpace, template_file: Path, coarse_step: int = 4
) -> tuple[nib.Nifti1Image, nib.Nifti1Image]:
    """The subject's ``desc-preproc_T1w`` (whole head, not skull-stripped, as fMRIPrep
    writes it) and its ``desc-brain_mask``: the MNI152 T1 template (nilearn's, with scalp)
    and brain mask read where each T1w voxel lies in MNI space."""
    positions = grid_positions(
        space.t1w_affine, space.t1w_shape, [template_file], space.template_to_t1w, coarse_step
    )
    resolution = 1 if space.t1w_affine[0, 0] < 1.5 else 2
    head, mask, affine = _template_head(resolution)
    inverse = np.linalg.inv(affine)
    ijk = np.moveaxis(positions @ inverse[:3, :3].T + inverse[:3, 3], -1, 0)
    intensity = ndimage.map_coordinates(head, ijk, order=1, mode="constant", cval=0.0)
    brain = ndimage.map_coordinates(mask, ijk, order=1, mode="constant")
    t1w = nib.Nifti1Image(np.round(1000 * intensity).astype(np.int16), space.t1w_affine)
    brain_mask = nib.Nifti1Image((brain >= 0.5).astype(np.uint8), space.t1w_affine)
    for img in (t1w, brain_mask):
        img.header.set_xyzt_units("mm", "sec")
        img.header.set_qform(space.t1w_affine, code=1)
        img.header.set_sform(space.t1w_affine, code=1)
    return t1w, brain_mask
