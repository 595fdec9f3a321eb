"""fMRIPrep's spatial transforms: chains of ITK files read with nitransforms, and written.

fMRIPrep saves every registration it estimates as an ITK transform file, named by what it
resamples: ``from-A_to-B_mode-image`` moves an *image* of space A onto the grid of space B.
ITK transforms are resampling transforms, so read as a mapping of **points** such a file
takes a point of B to the point of A it samples (see :mod:`tmstarget.native`). A run's
BOLD series is brought into a template by two of them::

    template point --from-T1w_to-<tpl>_mode-image_xfm.h5-->  T1w point
    T1w point      --from-boldref_to-T1w_..._xfm.txt----->  boldref point

so :func:`load_chain` with ``[template_to_t1w, t1w_to_boldref]`` maps each voxel centre of
the template grid to the place in the run's own (boldref) space to read it from: the chain
nitransforms' ``resampling.apply`` follows, and fMRIPrep 23.2 and later too. A third file
may come first, a template-to-template transform (e.g. TemplateFlow's
``tpl-MNI152NLin6Asym_from-MNI152NLin2009cAsym_mode-image_xfm.h5``, which maps
MNI152NLin6Asym points to MNI152NLin2009cAsym points) for a subject registered to another
template.

Everything here is RAS millimetres; nitransforms converts ITK's LPS on reading, and the
writers below convert back. The writers exist for the demo cohort and the tests:
nitransforms writes single ITK affines but not the composite HDF5 files of
``antsRegistration``, which :func:`write_itk_composite` lays out as ANTs does (group ``0``
the composite, then the affine, then the displacement field, applied to a point
last-stored first).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tmstarget import atomic

# RAS <-> LPS: negate x and y.
_FLIP = np.diag([-1.0, -1.0, 1.0])


class TransformFileError(ValueError):
    """An ITK transform file cannot be read or used; the message names the file."""


def load_transforms(path: str | Path) -> list:
    """The transforms of one ITK file, in the order they apply to a point (RAS).

    ``.h5``: an ITK composite (affine and displacement field, as ``antsRegistration``
    writes them); ``.txt``/``.tfm``/``.mat``: a single ITK affine. Raises
    :class:`TransformFileError` naming the file when it cannot be read, or holds a series
    of affines (head-motion correction) rather than one spatial transform.
    """
    from nitransforms import linear, manip

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no ITK transform at {path}")
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Reference space not set")
            if path.name.endswith(".h5"):
                transforms = list(manip.load(path, fmt="itk").transforms)
            else:
                transforms = [linear.load(path, fmt="itk")]
    # h5py's and nitransforms' I/O errors are OSErrors, its TransformError a TypeError;
    # unknown ITK transform types raise NotImplementedError.
    except (OSError, KeyError, IndexError, ValueError, TypeError, NotImplementedError) as error:
        raise TransformFileError(
            f"cannot read ITK transform {path}: {type(error).__name__}: {error}"
        ) from error
    if not transforms:
        raise TransformFileError(f"cannot read ITK transform {path}: it holds no transform")
    if isinstance(transforms[0], linear.LinearTransformsMapping):
        raise TransformFileError(
            f"cannot read ITK transform {path}: it holds a series of affines (head-motion "
            "correction?), not one spatial transform"
        )
    return transforms


def load_chain(paths: Sequence[str | Path]):
    """A nitransforms ``TransformChain`` applying the files in order to points (RAS mm).

    ``paths`` run from the output space to the input space, e.g. ``[template_to_t1w,
    t1w_to_boldref]`` (see the module docstring for which fMRIPrep file is which).
    """
    from nitransforms.manip import TransformChain

    if not paths:
        raise ValueError("no transform files to chain")
    transforms = []
    for path in paths:
        transforms += load_transforms(path)
    return TransformChain(transforms)


def map_points(chain, points_mm: np.ndarray, files: Sequence[str | Path] = ()) -> np.ndarray:
    """Map points (RAS mm, shape (n, 3)) through ``chain``; float64 out.

    Raises :class:`TransformFileError` when a point falls outside the grid of one of the
    chain's displacement fields (nitransforms would leave it undisplaced), naming
    ``files``.
    """
    from nitransforms.nonlinear import DenseFieldTransform

    mapped = np.asarray(points_mm, dtype=float)
    if mapped.ndim != 2 or mapped.shape[1] != 3:
        raise ValueError(f"points must have shape (n, 3), got {mapped.shape}")
    for transform in chain.transforms:
        if isinstance(transform, DenseFieldTransform):
            _check_inside_field(transform, mapped, files)
        mapped = np.asarray(transform.map(mapped), dtype=float)
    return mapped


# Index tolerance (voxels) for a point on the edge of a displacement field's grid: the
# library computes indices in float32.
_GRID_EDGE_TOL = 1e-3


def _check_inside_field(transform, points: np.ndarray, files) -> None:
    grid = transform.reference
    ijk = np.asarray(grid.index(points), dtype=float).reshape(len(points), 3)
    upper = np.asarray(grid.shape[:3], dtype=float) - 1
    outside = np.any((ijk < -_GRID_EDGE_TOL) | (ijk > upper + _GRID_EDGE_TOL), axis=1)
    if np.any(outside):
        names = ", ".join(str(f) for f in files) or "the transform"
        raise TransformFileError(
            f"{int(outside.sum())} of {len(points)} points (RAS mm, e.g. "
            f"{points[outside][:3].round(2).tolist()}) lie outside the displacement field of "
            f"{names}; are they in its template space?"
        )


# ------------------------------------------------------------------------------ writing


def write_itk_affine(path: str | Path, matrix_ras: np.ndarray) -> Path:
    """Write a 4 x 4 RAS point mapping as an ITK affine text file (LPS on disk), as
    fMRIPrep writes ``from-boldref_to-T1w_mode-image_desc-coreg_xfm.txt``."""
    from nitransforms.linear import Affine

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic.replacing(path) as partial:
        Affine(np.asarray(matrix_ras, dtype=float)).to_filename(partial, fmt="itk")
    return path


def write_itk_composite(
    path: str | Path,
    affine_ras: np.ndarray,
    field_ras: np.ndarray | None = None,
    field_grid_ras: np.ndarray | None = None,
) -> Path:
    """Write an ITK composite transform (HDF5) as ``antsRegistration`` does.

    The point mapping is ``p -> affine_ras @ (p + field(p))`` in RAS mm: the displacement
    field (on the grid ``field_grid_ras``, a positive-diagonal RAS voxel-to-mm affine,
    vectors ``field_ras`` of shape (nx, ny, nz, 3) in RAS mm) applies first, then the
    affine, which is how ITK applies a composite stored as [affine, field]. On disk all is
    LPS, as in ANTs' files: the affine's matrix and translation (centre 0), the field's
    origin, its direction diag(-1, -1, 1) (a RAS-stored template read by ITK) and its
    vectors, interleaved x fastest.
    """
    import h5py

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    affine_ras = np.asarray(affine_ras, dtype=float)
    matrix_lps = _FLIP @ affine_ras[:3, :3] @ _FLIP
    translation_lps = _FLIP @ affine_ras[:3, 3]
    with h5py.File(path, "w") as h5:
        group = h5.create_group("TransformGroup")
        group.create_group("0")["TransformType"] = np.array([b"CompositeTransform_double_3_3"])
        node = group.create_group("1")
        node["TransformType"] = np.array([b"AffineTransform_double_3_3"])
        node["TransformParameters"] = np.concatenate([matrix_lps.ravel(), translation_lps])
        node["TransformFixedParameters"] = np.zeros(3)
        if field_ras is not None:
            grid = np.asarray(field_grid_ras, dtype=float)
            spacing = np.diag(grid[:3, :3])
            if not np.allclose(grid[:3, :3], np.diag(spacing)) or np.any(spacing <= 0):
                raise ValueError("field_grid_ras must be a positive-diagonal RAS affine")
            field_lps = np.asarray(field_ras, dtype=np.float64) * np.array([-1.0, -1.0, 1.0])
            node = group.create_group("2")
            node["TransformType"] = np.array([b"DisplacementFieldTransform_float_3_3"])
            node["TransformFixedParameters"] = np.concatenate(
                [field_lps.shape[:3], _FLIP @ grid[:3, 3], spacing, _FLIP.ravel()]
            ).astype(float)
            node["TransformParameters"] = (
                np.moveaxis(field_lps, -1, 0).reshape(-1, order="F").astype(np.float32)
            )
    return path
