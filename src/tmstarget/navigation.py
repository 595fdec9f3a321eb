"""Coil placement on the patient's own scalp, and the files a neuronavigation system loads.

A cortical target (native T1w RAS mm) becomes a coil pose: the point of the patient's scalp
nearest to the target, the scalp normal there, and a handle direction in the scalp's tangent
plane. The scalp is found in the patient's non-skull-stripped T1w (fMRIPrep's
``anat/sub-<label>[_ses-<label>]_desc-preproc_T1w.nii.gz``). The pose is written for
Brainsight (Rogue Research) and for Localite TMS Navigator, each in its own coil axes.

Coordinates and axes
--------------------
- Every position is in **millimetres**, in the **world (RAS) coordinates of the T1w image**
  as nibabel reads it (``img.affine``: the sform when its code is set, else the qform): x
  left -> right, y posterior -> anterior, z inferior -> superior. These are not voxel
  indices and not MNI coordinates.
- ``normal`` is the **outward** unit normal of the scalp; ``handle`` is the unit vector from
  the coil centre towards the coil's handle, in the scalp's tangent plane.
- Our 4x4 coil matrices (:attr:`CoilPlacement.matrix`, :attr:`NavigationMarker.matrix`)
  follow SimNIBS's published ``matsimnibs`` convention, so they can be handed to SimNIBS
  as they are: columns are the coil's x, y and z axes and the coil centre, in RAS world
  coordinates; z points **into the head**, y points **away from the handle** (SimNIBS's
  documentation calls the y axis a prolongation of the handle and draws it pointing away
  from it), x = y cross z (right-handed). So ``z = -normal`` and ``y = -handle``.
- The handle angle is measured in the scalp's tangent plane from the direction that runs
  backwards parallel to the midsagittal plane (the tangent line cut by a sagittal plane
  through the coil centre): 0 degrees points the handle straight back, 90 degrees straight
  out to the side of the target's hemisphere, 45 degrees (the default) backwards and
  outwards (for a left DLPFC target: backwards and to the left). "Backwards", "sagittal"
  and "outwards" are taken from the image axes unless ``head_axes`` gives the head's own.

Why the nearest scalp point
---------------------------
A figure-8 coil's field is strongest under its centre and falls off quickly with distance,
so the coil centre goes on the scalp point closest to the target. On a smooth scalp the
segment from the target to that point is normal to the scalp there, so it is also the
point reached by walking from the target along the scalp's outward normal, and the coil's
normal axis passes through the target. :func:`place_coil` finds the nearest point on the
smoothed head mask and then refines it along the normal (see there).

Vendor axis conventions (for the README)
----------------------------------------
**Brainsight (Rogue Research), plain-text target export** (``.txt``, tab-separated; the
layout of the public exports in SimNIBS's test data
``simnibs/_internal_resources/testing_files/nnav_testdata/brainsight/`` and in
``brainhack-ch/tms-tracto/coordinates_native.txt``):

- Header lines ``# Version: <n>``, ``# Coordinate system: <name>``, ``# Created by: ...``,
  ``# Units: millimetres, degrees, milliseconds, and microvolts``, ``# Encoding: UTF-8``,
  ``# Notes: ...``, then the column line ``# Target Name<TAB>Loc. X<TAB>Loc. Y<TAB>Loc. Z
  <TAB>m0n0<TAB>m0n1<TAB>m0n2<TAB>m1n0 ... m2n2`` and one line per target; exports may
  add ``# Sample Name ...`` and landmark sections.
- ``Loc. X/Y/Z`` is the position (mm). ``m<k>n<i>`` is component ``i`` of the coil's axis
  ``k``: ``m0n*`` is the x axis, ``m1n*`` the y axis, ``m2n*`` the z axis.
- Coil axes: z points **out of the head** (away from the coil's face), y points **away
  from the handle** (the handle lies along -y), x completes a right-handed frame. From our
  (SimNIBS) matrix: Brainsight axes = ``M[:3, :3] @ diag(-1, 1, -1)`` (SimNIBS's
  ``nnav.brainsight`` uses this flip, and its axes figure
  ``docs/images/coil_axesorientation_brainsight.png`` shows it).
- Coordinate systems (Rogue Research's notes quoted in SimNIBS's ``simnibs/utils/nnav.py``):
  ``NIfTI:Scanner``, ``NIfTI:Aligned``, ``NIfTI:Talairach``, ``NIfTI:MNI-152`` and
  ``NIfTI:Other-Template`` are the world coordinates of the NIfTI transform with that intent
  code (``sform_code``/``qform_code`` 1, 2, 3, 4, 5), i.e. RAS mm of the loaded image; in
  file versions up to 13 (Brainsight 2.5.2 and earlier) the qform wins when both have the
  same code. From version 14 (Brainsight 2.5.3) the names say the source:
  ``NIfTI:S:<code>`` (sform) or ``NIfTI:Q:<code>`` (qform). ``Brainsight`` (x right -> left,
  y anterior -> posterior, origin at the right-anterior-inferior corner voxel) and
  ``World`` (non-NIfTI projects) are not NIfTI world coordinates; we neither write nor
  read them. Only coordinate systems the loaded image has are offered by Brainsight, so
  :func:`brainsight_coordinate_system` takes the name from the T1w's header.

**Localite TMS Navigator, InstrumentMarker XML** (the layout of the public exports in
SimNIBS's ``simnibs/_internal_resources/testing_files/nnav_testdata/localite/
Session_20120925103137328/InstrumentMarkers/`` and of SimNIBS's ``nnav.localite`` writer):

- ``<InstrumentMarkerList coordinateSpace="RAS">`` holding ``<InstrumentMarker
  alwaysVisible= index= selected=>`` elements, each with ``<Marker additionalInformation=
  color= description= set=>`` (``description`` is the marker's name) holding one
  ``<Matrix4D data00= ... data33=/>``; ``data<r><c>`` is row ``r``, column ``c`` of the 4x4
  pose. Column 3 is the coil centre (mm); row 3 is ``0 0 0 1``.
- ``coordinateSpace`` is ``RAS`` or ``LPS``: the world coordinates of the image loaded in
  the navigator (Localite's own comment in its exports: positions are in the coordinate
  system of the medical data, RAS recommended for NIfTI). For a NIfTI T1w that is RAS;
  LPS (DICOM) negates the x and y rows of the whole matrix, positions and axes alike.
- Coil axes: x (column 0) is the coil normal pointing **into the head**, y (column 1)
  points **towards the handle**, z (column 2) = x cross y. From our (SimNIBS) matrix:
  Localite axes = ``M[:3, :3] @ [[0, 0, 1], [0, -1, 0], [1, 0, 0]]`` (SimNIBS's
  ``nnav.localite`` uses this matrix and draws it in
  ``docs/images/coil_axesorientation_localite.png``). The public example markers agree:
  the left-M1 markers of ``RAS_InstrumentMarker20170316160859032.xml`` have their y axis
  45 degrees posterior-lateral, the classic M1 handle direction.

Both vendors use the world coordinates of the image they loaded, so the navigator must load
the very T1w (same file, same header transforms) the coordinates were computed on. Localite
does not say whether it reads the qform or the sform: :func:`check_world_transforms` refuses
an image whose two differ.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from xml.etree import ElementTree
from xml.sax.saxutils import escape

import nibabel as nib
import numpy as np
from scipy import ndimage, signal
from scipy.spatial import cKDTree

from tmstarget import __version__, atomic

# Localite <-> SimNIBS coil axes (an involution: the same matrix converts both ways):
# Localite x = SimNIBS z (into the head), Localite y = -SimNIBS y (towards the handle),
# Localite z = SimNIBS x.
LOCALITE_AXES = np.array([[0.0, 0.0, 1.0], [0.0, -1.0, 0.0], [1.0, 0.0, 0.0]])
# Brainsight <-> SimNIBS coil axes: x and z flipped (Brainsight z points out of the head).
BRAINSIGHT_AXES = np.diag([-1.0, 1.0, -1.0])
# RAS <-> LPS world coordinates (DICOM patient space): x and y negated.
RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])

# NIfTI intent codes of qform/sform, as Brainsight names them.
NIFTI_XFORM_NAMES = {
    1: "Scanner",
    2: "Aligned",
    3: "Talairach",
    4: "MNI-152",
    5: "Other-Template",
}
BRAINSIGHT_UNITS = "millimetres, degrees, milliseconds, and microvolts"
BRAINSIGHT_NOTES = (
    "Each column is delimited by a tab. Each value within a column is delimited by a semicolon."
)
BRAINSIGHT_TARGET_COLUMNS = (
    "Target Name",
    "Loc. X",
    "Loc. Y",
    "Loc. Z",
    "m0n0",
    "m0n1",
    "m0n2",
    "m1n0",
    "m1n1",
    "m1n2",
    "m2n0",
    "m2n1",
    "m2n2",
)
# Version of the Brainsight text format we write by default: the one SimNIBS's Brainsight
# writer declares, with the pre-2.5.3 coordinate-system names (``NIfTI:Aligned``...).
BRAINSIGHT_DEFAULT_VERSION = 12

_SKULL_STRIPPED_HINT = (
    "it looks skull-stripped (no scalp around the brain); use fMRIPrep's "
    "non-skull-stripped anat/sub-<label>[_ses-<label>]_desc-preproc_T1w.nii.gz, not a "
    "brain-extracted or masked image"
)


class NavigationError(ValueError):
    """A coil cannot be placed or a navigation file is wrong; the message names the file."""


# ---------------------------------------------------------------------------------------
# Poses
# ---------------------------------------------------------------------------------------


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector)


def _check_pose(matrix: np.ndarray, what: str, tolerance: float = 1e-6) -> np.ndarray:
    """``matrix`` as a float (4, 4) rigid pose; NavigationError naming ``what`` if not."""
    pose = np.asarray(matrix, dtype=float)
    if pose.shape != (4, 4) or not np.all(np.isfinite(pose)):
        raise NavigationError(f"{what}: a coil pose must be a finite 4x4 matrix, got {pose!r}")
    rotation = pose[:3, :3]
    if not np.allclose(pose[3], [0.0, 0.0, 0.0, 1.0], atol=tolerance):
        raise NavigationError(f"{what}: the last row of a coil pose must be 0 0 0 1, got {pose[3]}")
    error = np.abs(rotation.T @ rotation - np.eye(3)).max()
    if error > tolerance or np.linalg.det(rotation) < 0:
        raise NavigationError(
            f"{what}: the coil axes must be orthonormal and right-handed (error {error:.2g}, "
            f"determinant {np.linalg.det(rotation):.3f})"
        )
    return pose


@dataclass(frozen=True, eq=False)
class NavigationMarker:
    """A named coil pose, as a navigation file holds it.

    ``matrix`` is 4x4 in our (SimNIBS ``matsimnibs``) convention, RAS world mm of the T1w:
    columns x, y (away from the handle), z (into the head), centre. Readers return markers
    converted to it; writers convert from it.
    """

    name: str
    matrix: np.ndarray

    @property
    def centre_mm(self) -> np.ndarray:
        """Coil centre, RAS mm, shape (3,)."""
        return self.matrix[:3, 3].copy()

    @property
    def normal(self) -> np.ndarray:
        """Outward unit normal (minus the coil's z axis), shape (3,)."""
        return -self.matrix[:3, 2]

    @property
    def handle(self) -> np.ndarray:
        """Unit vector from the coil centre towards the handle (minus the y axis)."""
        return -self.matrix[:3, 1]


@dataclass(frozen=True, eq=False)
class CoilPlacement:
    """Where and how the coil sits for one cortical target (RAS world mm of the T1w).

    Attributes
    ----------
    target_mm : (3,) the cortical target.
    scalp_mm : (3,) the scalp point nearest to the target (on the smoothed head surface).
    centre_mm : (3,) the coil centre: ``scalp_mm + skin_distance_mm * normal``.
    normal : (3,) outward unit scalp normal at ``scalp_mm``.
    handle : (3,) unit vector towards the handle, in the tangent plane (``handle . normal``
        is 0).
    matrix : (4, 4) coil pose, SimNIBS ``matsimnibs`` convention: columns x = y cross z,
        y = ``-handle``, z = ``-normal`` (into the head), and ``centre_mm``.
    handle_angle_deg : the handle's angle from the backwards sagittal direction (degrees).
    hemisphere : ``"left"`` or ``"right"``, the side the handle points out to.
    """

    target_mm: np.ndarray
    scalp_mm: np.ndarray
    centre_mm: np.ndarray
    normal: np.ndarray
    handle: np.ndarray
    matrix: np.ndarray
    handle_angle_deg: float
    hemisphere: str

    @property
    def scalp_depth_mm(self) -> float:
        """Distance from the target to the scalp point (mm)."""
        return float(np.linalg.norm(self.scalp_mm - self.target_mm))

    def marker(self, name: str, at: Literal["centre", "target"] = "centre") -> NavigationMarker:
        """This pose under ``name``, for the writers, placed at the coil centre (``"centre"``,
        what SimNIBS exports and Localite's instrument markers hold) or at the cortical
        target (``"target"``, same axes: the coil's z axis runs from the centre through
        the target, so a navigator measuring along it sees the target at
        :attr:`scalp_depth_mm` plus the skin distance)."""
        if at not in ("centre", "target"):
            raise NavigationError(f"at must be 'centre' or 'target', got {at!r}")
        matrix = self.matrix.copy()
        if at == "target":
            matrix[:3, 3] = self.target_mm
        return NavigationMarker(name=name, matrix=matrix)


def coil_matrix(centre_mm: np.ndarray, normal: np.ndarray, handle: np.ndarray) -> np.ndarray:
    """The 4x4 SimNIBS-convention pose of a coil at ``centre_mm`` (RAS mm) whose outward
    normal is ``normal`` and whose handle points along ``handle`` (made orthogonal to the
    normal): columns x = y cross z, y = -handle, z = -normal (into the head), centre."""
    z_axis = -_unit(np.asarray(normal, dtype=float))
    handle = np.asarray(handle, dtype=float)
    tangent = handle - np.dot(handle, z_axis) * z_axis
    if np.linalg.norm(tangent) < 1e-9:
        raise NavigationError("the handle direction is parallel to the scalp normal")
    y_axis = -_unit(tangent)
    x_axis = np.cross(y_axis, z_axis)
    matrix = np.eye(4)
    matrix[:3, 0], matrix[:3, 1], matrix[:3, 2] = x_axis, y_axis, z_axis
    matrix[:3, 3] = np.asarray(centre_mm, dtype=float)
    return matrix


def to_localite_matrix(matrix: np.ndarray, coordinate_space: str = "RAS") -> np.ndarray:
    """Our (SimNIBS) pose as Localite's ``Matrix4D``: coil axes reordered (x into the head,
    y towards the handle), world coordinates RAS or LPS (x and y negated)."""
    space = _localite_space(coordinate_space)
    pose = np.array(matrix, dtype=float)
    pose[:3, :3] = pose[:3, :3] @ LOCALITE_AXES
    return RAS_TO_LPS @ pose if space == "LPS" else pose


def from_localite_matrix(matrix: np.ndarray, coordinate_space: str = "RAS") -> np.ndarray:
    """Localite's ``Matrix4D`` (in ``coordinate_space``) as our RAS, SimNIBS-axes pose."""
    space = _localite_space(coordinate_space)
    pose = np.array(matrix, dtype=float)
    if space == "LPS":
        pose = RAS_TO_LPS @ pose
    pose[:3, :3] = pose[:3, :3] @ LOCALITE_AXES
    return pose


def to_brainsight_matrix(matrix: np.ndarray) -> np.ndarray:
    """Our (SimNIBS) pose with Brainsight's coil axes (x and z flipped: z out of the head)."""
    pose = np.array(matrix, dtype=float)
    pose[:3, :3] = pose[:3, :3] @ BRAINSIGHT_AXES
    return pose


def from_brainsight_matrix(matrix: np.ndarray) -> np.ndarray:
    """A Brainsight-axes pose (same world coordinates) as our SimNIBS-axes pose."""
    return to_brainsight_matrix(matrix)


def _localite_space(coordinate_space: str) -> str:
    space = str(coordinate_space).upper()
    if space not in ("RAS", "LPS"):
        raise NavigationError(
            f"Localite coordinateSpace must be 'RAS' or 'LPS', got {coordinate_space!r}"
        )
    return space


# ---------------------------------------------------------------------------------------
# The head mask and its surface
# ---------------------------------------------------------------------------------------


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold of ``values`` (the one maximising the between-class variance).

    The histogram spans the minimum to the 99.5th percentile, so a few very bright voxels
    (vessels, fat) do not squeeze the head and the background into a few bins.
    """
    finite = np.asarray(values, dtype=float).ravel()
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        raise NavigationError("no finite intensities to threshold")
    low, high = float(finite.min()), float(np.percentile(finite, 99.5))
    if high <= low:
        raise NavigationError("the image is constant: no head to find")
    counts, edges = np.histogram(np.clip(finite, low, high), bins=bins, range=(low, high))
    centres = 0.5 * (edges[:-1] + edges[1:])
    weight_low = np.cumsum(counts, dtype=float)
    weight_high = weight_low[-1] - weight_low
    mass_low = np.cumsum(counts * centres)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_low = mass_low / weight_low
        mean_high = (mass_low[-1] - mass_low) / weight_high
        between = weight_low * weight_high * (mean_low - mean_high) ** 2
    between = np.nan_to_num(between[:-1], nan=-1.0)
    # Across an empty stretch of the histogram the criterion is flat: take the middle of
    # the plateau, not its first bin (just above the background).
    best = np.flatnonzero(between >= between.max() * (1.0 - 1e-9))
    return float(edges[int(best[len(best) // 2]) + 1])


def _closing(mask: np.ndarray, radius_mm: float, zooms: np.ndarray) -> np.ndarray:
    """Morphological closing of ``mask`` by a ball of ``radius_mm`` (on voxels of size
    ``zooms``), as two FFT convolutions: on a 1 mm head about twice as fast as scipy's
    binary closing with a structuring element of a few hundred voxels (and than exact
    distance transforms)."""
    half = np.maximum(np.floor(radius_mm / zooms).astype(int), 1)
    grids = np.meshgrid(
        *[np.arange(-h, h + 1) * z for h, z in zip(half, zooms, strict=True)], indexing="ij"
    )
    ball = (sum(g**2 for g in grids) <= radius_mm**2 + 1e-9).astype(np.float32)
    dilated = signal.fftconvolve(mask.astype(np.float32), ball, mode="same") > 0.5
    return signal.fftconvolve((~dilated).astype(np.float32), ball, mode="same") < 0.5


def _largest_component(mask: np.ndarray) -> np.ndarray:
    labels, count = ndimage.label(mask)
    if count == 0:
        return mask
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels == int(np.argmax(sizes))


def _superior_axis(affine: np.ndarray) -> int:
    """The voxel axis closest to world z (inferior -> superior)."""
    directions = affine[:3, :3] / np.linalg.norm(affine[:3, :3], axis=0)
    return int(np.argmax(np.abs(directions[2])))


@dataclass(frozen=True, eq=False)
class Scalp:
    """The head of one T1w: its filled mask, the smoothed mask whose 0.5 level is the scalp,
    and the surface voxels of that level (RAS mm, with a k-d tree). Build with
    :func:`scalp_from_t1w`; one serves every target of the patient."""

    source: str
    affine: np.ndarray
    zooms: np.ndarray
    mask: np.ndarray = field(repr=False)
    smoothed: np.ndarray = field(repr=False)
    surface_mm: np.ndarray = field(repr=False)
    surface_tree: cKDTree = field(repr=False)
    threshold: float
    volume_ml: float
    centroid_mm: np.ndarray
    normal_radius_mm: float = 15.0

    def level_at(self, points_mm: np.ndarray) -> np.ndarray:
        """The smoothed mask (0 outside the head, 1 inside) at ``points_mm`` (..., 3),
        trilinear; 0 outside the image."""
        points = np.asarray(points_mm, dtype=float)
        flat = points.reshape(-1, 3)
        voxels = nib.affines.apply_affine(np.linalg.inv(self.affine), flat)
        values = ndimage.map_coordinates(self.smoothed, voxels.T, order=1, mode="constant")
        return values.reshape(points.shape[:-1])

    def outward_normal(self, point_mm: np.ndarray) -> np.ndarray:
        """Outward unit normal of the scalp at ``point_mm``: the normal of the plane fitted
        (least squares) to the surface voxels within :attr:`normal_radius_mm`, the patch a
        coil rests on, signed outward by the smoothed mask's gradient. The plane fit
        averages out the voxel staircase that biases a pointwise gradient by degrees."""
        point = np.asarray(point_mm, dtype=float)
        step = float(self.zooms.min())
        offsets = np.vstack([np.eye(3), -np.eye(3)]) * step
        values = self.level_at(point + offsets)
        gradient = (values[:3] - values[3:]) / (2.0 * step)
        if np.linalg.norm(gradient) < 1e-6:
            raise NavigationError(
                f"{self.source}: the head mask has no edge at {np.round(point, 1).tolist()} mm"
            )
        outward = -_unit(gradient)
        patch = self.surface_mm[self.surface_tree.query_ball_point(point, self.normal_radius_mm)]
        if len(patch) < 10:
            return outward
        centred = patch - patch.mean(axis=0)
        normal = np.linalg.eigh(centred.T @ centred)[1][:, 0]
        return normal if np.dot(normal, outward) > 0 else -normal


def scalp_from_t1w(
    t1w: str | Path | nib.spatialimages.SpatialImage,
    *,
    brain_mask: str | Path | nib.spatialimages.SpatialImage | None = None,
    threshold_fraction: float = 0.5,
    closing_mm: float = 4.0,
    smoothing_mm: float = 3.0,
    min_head_to_brain_ratio: float = 1.5,
    min_head_volume_ml: float = 2000.0,
    normal_radius_mm: float = 15.0,
) -> Scalp:
    """The head (scalp) of a non-skull-stripped T1w image.

    Parameters
    ----------
    t1w : path or image, 3D (a 4D image with one volume is accepted): fMRIPrep's
        ``desc-preproc_T1w`` (not skull-stripped), any voxel order and orientation.
    brain_mask : optional brain mask (``desc-brain_mask``) of the same subject; when given,
        a head mask less than ``min_head_to_brain_ratio`` times its volume is refused as
        skull-stripped.
    threshold_fraction : head voxels are brighter than this fraction of the image's Otsu
        threshold (background vs tissue). The dark skull and CSF inside are filled.
    closing_mm : radius (mm) of the morphological closing that bridges thin dark gaps in
        the scalp before the holes are filled.
    smoothing_mm : Gaussian sigma (mm) of the smoothing whose 0.5 level is the scalp
        surface; it also sets the scale of the normal (a coil spans several cm).
    min_head_volume_ml : without a brain mask, an image with an exactly zero background
        whose head is smaller than this (mL) is refused as skull-stripped (an adult brain is
        1.1-1.8 L, a head in a T1w's field of view well over 2.5 L).
    normal_radius_mm : radius (mm) of the scalp patch whose fitted plane gives the normal.

    Returns
    -------
    :class:`Scalp`: the bright voxels, closed and hole-filled (in 3D, then slice by slice
    across the superior axis, since the spinal canal is open at the bottom of the field of
    view), their largest connected component, its smoothed copy, and the surface voxels.

    Raises
    ------
    NavigationError naming the file when the image is not 3D, has no head, or looks
    skull-stripped.
    """
    image, source = _load(t1w, "T1w")
    data = np.asarray(image.dataobj, dtype=np.float32)
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise NavigationError(f"{source}: a 3D T1w image is needed, got shape {data.shape}")
    data = np.nan_to_num(data, nan=0.0, posinf=0.0, neginf=0.0)
    affine = image.affine.astype(float)
    zooms = np.linalg.norm(affine[:3, :3], axis=0)
    if not 0.0 < threshold_fraction <= 1.0:
        raise NavigationError(f"threshold_fraction must be in (0, 1], got {threshold_fraction}")

    threshold = threshold_fraction * otsu_threshold(data)
    foreground = data > threshold
    # Pad so the closing does not erode the head where it touches the field of view's edge.
    pad = int(np.ceil(closing_mm / zooms.min())) + 1
    padded = np.pad(foreground, pad)
    mask = ndimage.binary_fill_holes(
        _closing(padded, closing_mm, zooms)[pad:-pad, pad:-pad, pad:-pad]
    )
    superior = _superior_axis(affine)
    for index in range(mask.shape[superior]):
        slicer = [slice(None)] * 3
        slicer[superior] = index
        mask[tuple(slicer)] = ndimage.binary_fill_holes(mask[tuple(slicer)])
    # Fill first: the scalp alone is a thin shell, smaller than the brain it encloses.
    mask = _largest_component(mask)
    if not mask.any():
        raise NavigationError(f"{source}: no head found above intensity {threshold:.4g}")
    voxel_ml = float(abs(np.linalg.det(affine[:3, :3]))) / 1000.0
    volume_ml = float(mask.sum()) * voxel_ml

    if brain_mask is not None:
        brain_image, brain_source = _load(brain_mask, "brain mask")
        brain_voxel_ml = float(abs(np.linalg.det(brain_image.affine[:3, :3]))) / 1000.0
        brain_ml = float((np.asarray(brain_image.dataobj) > 0.5).sum()) * brain_voxel_ml
        if brain_ml > 0 and volume_ml < min_head_to_brain_ratio * brain_ml:
            raise NavigationError(
                f"{source}: its head mask ({volume_ml:.0f} mL) is only "
                f"{volume_ml / brain_ml:.2f} times the brain mask ({brain_source}, "
                f"{brain_ml:.0f} mL; a head with its scalp is at least "
                f"{min_head_to_brain_ratio:g} times it): {_SKULL_STRIPPED_HINT}"
            )
    else:
        outside = ~ndimage.binary_dilation(mask, iterations=2)
        if outside.any():
            zero_background = float(np.mean(data[outside] == 0.0))
            if zero_background >= 0.99 and volume_ml < min_head_volume_ml:
                raise NavigationError(
                    f"{source}: its background is exactly zero and its head mask is only "
                    f"{volume_ml:.0f} mL (a head with its scalp is over "
                    f"{min_head_volume_ml:.0f} mL): {_SKULL_STRIPPED_HINT}"
                )

    sigma = smoothing_mm / zooms
    smoothed = ndimage.gaussian_filter(mask.astype(np.float32), sigma=sigma, mode="constant")
    inside = smoothed >= 0.5
    surface = inside & ~ndimage.binary_erosion(inside, border_value=0)
    surface_mm = nib.affines.apply_affine(affine, np.argwhere(surface))
    centroid_mm = nib.affines.apply_affine(affine, np.argwhere(mask).mean(axis=0))
    return Scalp(
        source=source,
        affine=affine,
        zooms=zooms,
        mask=mask,
        smoothed=smoothed,
        surface_mm=surface_mm,
        surface_tree=cKDTree(surface_mm),
        threshold=float(threshold),
        volume_ml=volume_ml,
        centroid_mm=centroid_mm,
        normal_radius_mm=float(normal_radius_mm),
    )


def _load(
    image: str | Path | nib.spatialimages.SpatialImage, what: str
) -> tuple[nib.spatialimages.SpatialImage, str]:
    if isinstance(image, (str, Path)):
        path = Path(image)
        if not path.exists():
            raise NavigationError(f"{what} {path} does not exist")
        return nib.load(str(path)), str(path)
    name = image.get_filename() if hasattr(image, "get_filename") else None
    return image, str(name) if name else f"the {what} image"


# ---------------------------------------------------------------------------------------
# Coil placement
# ---------------------------------------------------------------------------------------


def _exit_point(scalp: Scalp, start_mm: np.ndarray, direction: np.ndarray) -> np.ndarray | None:
    """Where the ray from ``start_mm`` (inside the head) along ``direction`` first leaves
    the head (the 0.5 level of the smoothed mask), to 1e-3 mm; None if it never does."""
    direction = _unit(direction)
    step = 0.25 * float(scalp.zooms.min())
    reach = float(np.linalg.norm(scalp.zooms * np.array(scalp.mask.shape)))
    distances = np.arange(0.0, reach + step, step)
    values = scalp.level_at(start_mm + distances[:, None] * direction)
    outside = np.flatnonzero(values < 0.5)
    if outside.size == 0 or outside[0] == 0:
        return None
    low, high = distances[outside[0] - 1], distances[outside[0]]
    while high - low > 1e-3:
        middle = 0.5 * (low + high)
        if scalp.level_at(start_mm + middle * direction) >= 0.5:
            low = middle
        else:
            high = middle
    return start_mm + 0.5 * (low + high) * direction


def _head_axes(head_axes: np.ndarray | None) -> np.ndarray:
    if head_axes is None:
        return np.eye(3)
    axes = np.asarray(head_axes, dtype=float)
    if axes.shape != (3, 3) or not np.allclose(axes.T @ axes, np.eye(3), atol=1e-3):
        raise NavigationError(
            "head_axes must be a 3x3 matrix whose orthonormal columns are the head's right, "
            f"anterior and superior directions in T1w world coordinates, got {axes!r}"
        )
    if np.linalg.det(axes) < 0:
        raise NavigationError("head_axes must be right-handed (columns right, anterior, superior)")
    return axes


def handle_direction(
    normal: np.ndarray,
    hemisphere: Literal["left", "right"],
    handle_angle_deg: float = 45.0,
    head_axes: np.ndarray | None = None,
) -> np.ndarray:
    """The handle direction in the tangent plane of the scalp whose outward normal is
    ``normal``, ``handle_angle_deg`` from the backwards sagittal direction towards the side
    of ``hemisphere``.

    The backwards sagittal direction is the tangent line cut by a sagittal plane: ``normal
    x right``, signed to point posterior (where it is vertical, as on the forehead or the
    occiput, signed to point up the head: away from the face, onto the vertex). The
    outward direction is the tangent perpendicular to it, signed towards ``hemisphere``.
    ``head_axes`` (columns: right, anterior, superior; default the image axes) sets what
    right, anterior and superior mean.
    """
    if hemisphere not in ("left", "right"):
        raise NavigationError(f"hemisphere must be 'left' or 'right', got {hemisphere!r}")
    axes = _head_axes(head_axes)
    right, anterior, superior = axes[:, 0], axes[:, 1], axes[:, 2]
    normal = _unit(np.asarray(normal, dtype=float))
    sagittal = np.cross(normal, right)
    if np.linalg.norm(sagittal) < 1e-6:
        # The normal points straight left or right: backwards is simply posterior.
        sagittal = -anterior
    sagittal = _unit(sagittal)
    backwards = float(np.dot(sagittal, -anterior))
    if abs(backwards) < 1e-9:
        backwards = float(np.dot(sagittal, superior if np.dot(normal, anterior) > 0 else -superior))
    if backwards < 0:
        sagittal = -sagittal
    lateral = _unit(np.cross(normal, sagittal))
    side = -1.0 if hemisphere == "left" else 1.0
    if np.dot(lateral, right) * side < 0:
        lateral = -lateral
    angle = math.radians(handle_angle_deg)
    return _unit(math.cos(angle) * sagittal + math.sin(angle) * lateral)


def place_coil(
    scalp: Scalp,
    target_mm: np.ndarray,
    *,
    handle_angle_deg: float = 45.0,
    hemisphere: Literal["left", "right"] | None = None,
    head_axes: np.ndarray | None = None,
    skin_distance_mm: float = 0.0,
    min_scalp_depth_mm: float = 7.0,
    midline_margin_mm: float = 5.0,
) -> CoilPlacement:
    """Place the coil over a cortical target on the patient's own scalp.

    Parameters
    ----------
    scalp : from :func:`scalp_from_t1w` of the patient's non-skull-stripped T1w.
    target_mm : (3,) cortical target in the same T1w's RAS world coordinates (mm).
    handle_angle_deg : angle of the handle from the backwards sagittal direction, towards
        the target's side (degrees; 45 = posterior-lateral, 0 = straight back).
    hemisphere : side the handle points out to; default the target's side of the head
        (its position right or left of the head mask's centroid).
    head_axes : 3x3, columns the head's right, anterior and superior directions in T1w
        world coordinates (e.g. the rotation of a T1w -> MNI registration's inverse);
        default the image axes.
    skin_distance_mm : distance from the scalp to the coil centre along the normal (hair,
        coil casing); 0 puts the centre on the scalp.
    min_scalp_depth_mm : a scalp closer than this to the target (mm) means the image has
        no scalp over the brain (skull-stripped); skull and scalp are over 10 mm thick over
        the dorsolateral prefrontal cortex.
    midline_margin_mm : without ``hemisphere``, a target this close to the centroid's
        sagittal plane is refused (the lateral side is ambiguous).

    Returns
    -------
    :class:`CoilPlacement`. The scalp point is found in three steps: the nearest surface
    voxel of the smoothed head mask (0.5 level) to the target; the exact crossing of the
    0.5 level on the ray from the target through it (trilinear, 1e-3 mm); then up to five
    steps that follow the normal at that point from the target again, kept while they bring
    the point closer (at the nearest point the ray along the normal returns it).

    Raises
    ------
    NavigationError naming the T1w when the target is outside the head or the image,
    the scalp is too close to the target (skull-stripped image), or the side is ambiguous.
    """
    target = np.asarray(target_mm, dtype=float).reshape(-1)
    if target.shape != (3,) or not np.all(np.isfinite(target)):
        raise NavigationError(f"target_mm must be 3 finite numbers (RAS mm), got {target_mm!r}")
    where = np.round(target, 1).tolist()
    if scalp.level_at(target) < 0.5:
        raise NavigationError(
            f"{scalp.source}: the target {where} mm lies outside the head (or the image); "
            "is it in this T1w's world coordinates (native RAS mm, not MNI)?"
        )

    _, nearest = scalp.surface_tree.query(target)
    point = _exit_point(scalp, target, scalp.surface_mm[nearest] - target)
    if point is None:
        raise NavigationError(f"{scalp.source}: no scalp found outward of the target {where} mm")
    for _ in range(5):
        candidate = _exit_point(scalp, target, scalp.outward_normal(point))
        if candidate is None:
            break
        if np.linalg.norm(candidate - target) >= np.linalg.norm(point - target) - 1e-4:
            break
        point = candidate
    depth = float(np.linalg.norm(point - target))
    if depth < min_scalp_depth_mm:
        raise NavigationError(
            f"{scalp.source}: the scalp is only {depth:.1f} mm from the target {where} mm "
            f"(skull and scalp are at least {min_scalp_depth_mm:g} mm thick over cortex): "
            f"{_SKULL_STRIPPED_HINT}"
        )
    normal = scalp.outward_normal(point)

    if hemisphere is None:
        right = _head_axes(head_axes)[:, 0]
        offset = float(np.dot(target - scalp.centroid_mm, right))
        if abs(offset) < midline_margin_mm:
            raise NavigationError(
                f"{scalp.source}: the target {where} mm is {abs(offset):.1f} mm from the "
                "head's midline, so the handle's lateral side is ambiguous: pass "
                "hemisphere='left' or 'right'"
            )
        hemisphere = "left" if offset < 0 else "right"
    handle = handle_direction(normal, hemisphere, handle_angle_deg, head_axes)
    centre = point + skin_distance_mm * normal
    return CoilPlacement(
        target_mm=target,
        scalp_mm=point,
        centre_mm=centre,
        normal=normal,
        handle=handle,
        matrix=coil_matrix(centre, normal, handle),
        handle_angle_deg=float(handle_angle_deg),
        hemisphere=hemisphere,
    )


# ---------------------------------------------------------------------------------------
# The T1w's world transforms
# ---------------------------------------------------------------------------------------


def _xforms(image: nib.spatialimages.SpatialImage) -> tuple[int, np.ndarray, int, np.ndarray]:
    header = image.header
    if not isinstance(header, nib.Nifti1Header):
        raise NavigationError("a NIfTI image is needed (navigators read its qform/sform)")
    qform, qcode = image.get_qform(coded=False), int(header["qform_code"])
    sform, scode = image.get_sform(coded=False), int(header["sform_code"])
    return qcode, qform, scode, sform


def _transforms_differ(first: np.ndarray, second: np.ndarray, shape: Sequence[int]) -> float:
    """Largest distance (mm) between where the two affines put the image's corners."""
    corners = np.array(np.meshgrid(*[[0, n - 1] for n in shape[:3]], indexing="ij")).reshape(3, -1)
    return float(
        np.abs(
            nib.affines.apply_affine(first, corners.T) - nib.affines.apply_affine(second, corners.T)
        ).max()
    )


def check_world_transforms(
    t1w: str | Path | nib.spatialimages.SpatialImage, tolerance_mm: float = 0.01
) -> None:
    """Refuse a T1w whose qform and sform (both set) put its voxels in different places.

    Navigators differ in which transform they read (Brainsight up to 2.5.2 prefers the
    qform when both have the same code; Localite does not say), and nibabel (hence our
    coordinates) reads the sform. Fix a refused image by copying one transform into the
    other (nibabel: ``img.set_qform(img.get_sform(), code=int(img.header['sform_code']))``)
    and load that file in the navigator.
    """
    image, source = _load(t1w, "T1w")
    qcode, qform, scode, sform = _xforms(image)
    if qcode > 0 and scode > 0:
        gap = _transforms_differ(qform, sform, image.shape)
        if gap > tolerance_mm:
            raise NavigationError(
                f"{source}: its qform and sform differ by up to {gap:.2f} mm, so a navigator "
                "reading the qform would misplace every coordinate (ours use the sform); copy "
                "the sform into the qform and load that image in the navigator"
            )


def brainsight_coordinate_system(
    t1w: str | Path | nib.spatialimages.SpatialImage,
    version: int = BRAINSIGHT_DEFAULT_VERSION,
) -> str:
    """Brainsight's name for the world coordinates our positions are in (those of the
    transform nibabel uses: the sform when its code is set, else the qform).

    Versions up to 13 name the intent code (``NIfTI:Scanner``, ``NIfTI:Aligned``, ...);
    version 14 adds the source (``NIfTI:S:Scanner`` for the sform, ``NIfTI:Q:...`` for the
    qform). Raises NavigationError naming the file when the image has neither transform,
    or (up to version 13) when qform and sform share a code but differ: Brainsight would
    then read the qform, not the sform our coordinates are in.
    """
    image, source = _load(t1w, "T1w")
    qcode, qform, scode, sform = _xforms(image)
    for code in (qcode, scode):
        if code > 0 and code not in NIFTI_XFORM_NAMES:
            raise NavigationError(f"{source}: unknown NIfTI xform code {code}")
    if scode == 0 and qcode == 0:
        raise NavigationError(
            f"{source}: neither its sform nor its qform is set, so it has no world "
            "coordinates a navigator shares; set them (sform_code 1, scanner) and rerun"
        )
    if version >= 14:
        return (
            f"NIfTI:S:{NIFTI_XFORM_NAMES[scode]}"
            if scode
            else f"NIfTI:Q:{NIFTI_XFORM_NAMES[qcode]}"
        )
    if scode == 0:
        return f"NIfTI:{NIFTI_XFORM_NAMES[qcode]}"
    if qcode == scode and _transforms_differ(qform, sform, image.shape) > 0.01:
        raise NavigationError(
            f"{source}: qform and sform have the same code ({NIFTI_XFORM_NAMES[scode]}) but "
            f"differ; Brainsight before 2.5.3 reads the qform, our coordinates use the sform. "
            "Copy the sform into the qform, or write Brainsight format version 14"
        )
    return f"NIfTI:{NIFTI_XFORM_NAMES[scode]}"


# ---------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class NavigationFile:
    """What a reader found: the file's coordinate system as it names it, its format version
    (Brainsight; None for Localite), and its markers converted to our RAS, SimNIBS-axes
    poses (Brainsight ``Targets`` in ``markers``, ``Samples`` in ``samples``)."""

    path: str
    coordinate_system: str
    version: int | None
    markers: tuple[NavigationMarker, ...]
    samples: tuple[NavigationMarker, ...] = ()


def _checked_markers(markers: Sequence[NavigationMarker], path: Path) -> list[NavigationMarker]:
    markers = list(markers)
    if not markers:
        raise NavigationError(f"{path}: no marker to write")
    for marker in markers:
        if not isinstance(marker, NavigationMarker):
            raise NavigationError(
                f"{path}: markers must be NavigationMarker (CoilPlacement.marker(name)), got "
                f"{type(marker).__name__}"
            )
        if not marker.name or any(char in marker.name for char in "\t\r\n"):
            raise NavigationError(
                f"{path}: marker name {marker.name!r} must be non-empty, without tabs or "
                "line breaks"
            )
        _check_pose(marker.matrix, f"{path}: marker {marker.name!r}", tolerance=1e-4)
    return markers


def _localite_number(value: float) -> str:
    # Shortest decimal that reads back to the same double, never in exponent notation.
    return np.format_float_positional(float(value) + 0.0, unique=True, trim="0")


def write_localite_instrument_markers(
    path: str | Path,
    markers: Sequence[NavigationMarker],
    *,
    coordinate_space: str = "RAS",
    t1w: str | Path | nib.spatialimages.SpatialImage | None = None,
) -> Path:
    """Write Localite TMS Navigator InstrumentMarkers (XML), laid out as Localite's exports.

    Parameters
    ----------
    path : output ``.xml`` (written atomically, ``\\n`` line ends, UTF-8).
    markers : poses in our convention (RAS mm of the T1w, SimNIBS axes); each becomes an
        ``InstrumentMarker`` whose ``Marker description`` is the marker's name.
    coordinate_space : ``"RAS"`` for a NIfTI T1w loaded in the navigator (the usual case),
        ``"LPS"`` when the navigator works in DICOM patient coordinates.
    t1w : the T1w the coordinates are in; if given, it is checked with
        :func:`check_world_transforms` and named in the file's comment.

    The matrix is written with Localite's axes (:func:`to_localite_matrix`): column 0 the
    normal into the head, column 1 towards the handle, column 2 their cross product,
    column 3 the coil centre.
    """
    path = Path(path)
    space = _localite_space(coordinate_space)
    markers = _checked_markers(markers, path)
    image_note = ""
    if t1w is not None:
        check_world_transforms(t1w)
        image_note = f" of {Path(_load(t1w, 'T1w')[1]).name}"
    comment = (
        f"Written by tmstarget {__version__}. Positions in mm, {space} world coordinates"
        f"{image_note}; coil axes as TMS Navigator: x = coil normal into the head, "
        "y = towards the handle, z = x cross y."
    ).replace("--", "- -")
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<InstrumentMarkerList coordinateSpace="{space}">',
        f"    <!--{comment}-->",
    ]
    for index, marker in enumerate(markers):
        pose = to_localite_matrix(marker.matrix, space)
        pose[3] = [0.0, 0.0, 0.0, 1.0]
        name = escape(marker.name, {'"': "&quot;"})
        lines += [
            f'    <InstrumentMarker alwaysVisible="false" index="{index}" selected="false">',
            f'        <Marker additionalInformation="" color="#ff0000" description="{name}" '
            'set="true">',
        ]
        rows = [
            " ".join(
                f'data{row}{column}="{_localite_number(pose[row, column])}"' for column in range(4)
            )
            for row in range(4)
        ]
        lines.append("            <Matrix4D " + rows[0])
        lines += [" " * 16 + row for row in rows[1:-1]]
        lines.append(" " * 16 + rows[-1] + "/>")
        lines += ["        </Marker>", "    </InstrumentMarker>"]
    lines.append("</InstrumentMarkerList>")
    atomic.write_text(path, "\n".join(lines) + "\n")
    return path


def read_localite_instrument_markers(path: str | Path) -> NavigationFile:
    """Read a Localite InstrumentMarker XML file; markers come back as our RAS poses.

    Raises NavigationError naming the file when it is not an ``InstrumentMarkerList``, its
    ``coordinateSpace`` is neither RAS nor LPS, or a ``Matrix4D`` lacks an element.
    """
    path = Path(path)
    try:
        root = ElementTree.parse(path).getroot()
    except (ElementTree.ParseError, OSError) as error:
        raise NavigationError(f"{path}: not readable as XML ({error})") from error
    if root.tag != "InstrumentMarkerList":
        raise NavigationError(
            f"{path}: expected an <InstrumentMarkerList> (Localite InstrumentMarker export), "
            f"found <{root.tag}>"
        )
    space = root.get("coordinateSpace")
    if space is None or space.upper() not in ("RAS", "LPS"):
        raise NavigationError(
            f"{path}: coordinateSpace must be RAS or LPS, found {space!r}; re-export the "
            "markers from TMS Navigator with a NIfTI (RAS) or DICOM (LPS) image"
        )
    markers = []
    for index, element in enumerate(root.iter("InstrumentMarker")):
        marker = element.find("Marker")
        matrix_element = marker.find("Matrix4D") if marker is not None else None
        if matrix_element is None:
            raise NavigationError(f"{path}: InstrumentMarker {index} has no Marker/Matrix4D")
        name = marker.get("description") or str(index)
        pose = np.empty((4, 4))
        for row in range(4):
            for column in range(4):
                text = matrix_element.get(f"data{row}{column}")
                if text is None:
                    raise NavigationError(
                        f"{path}: marker {name!r} lacks Matrix4D data{row}{column}"
                    )
                pose[row, column] = float(text)
        pose = from_localite_matrix(pose, space)
        markers.append(NavigationMarker(name=name, matrix=pose))
    return NavigationFile(
        path=str(path), coordinate_system=space.upper(), version=None, markers=tuple(markers)
    )


_BRAINSIGHT_NAME = re.compile(
    r"^NIfTI:(?:(?P<source>[QS]):)?(?P<code>Scanner|Aligned|Talairach|MNI-152|Other-Template)$"
)


def _check_brainsight_system(name: str, version: int, where: str) -> None:
    match = _BRAINSIGHT_NAME.match(name)
    if match is None:
        raise NavigationError(
            f"{where}: coordinate system {name!r} is not NIfTI world coordinates; export "
            "Brainsight targets in a NIfTI:* coordinate system (the T1w's own)"
        )
    if version >= 14 and match.group("source") is None:
        raise NavigationError(
            f"{where}: version {version} names NIfTI:S:... or NIfTI:Q:..., not {name!r}"
        )
    if version < 14 and match.group("source") is not None:
        raise NavigationError(f"{where}: {name!r} needs version 14 or later, not {version}")


def write_brainsight_targets(
    path: str | Path,
    markers: Sequence[NavigationMarker],
    *,
    coordinate_system: str | None = None,
    t1w: str | Path | nib.spatialimages.SpatialImage | None = None,
    version: int = BRAINSIGHT_DEFAULT_VERSION,
) -> Path:
    """Write Brainsight targets as its plain-text export lays them out.

    Parameters
    ----------
    path : output ``.txt`` (written atomically, tab-separated, ``\\n`` line ends, UTF-8).
    markers : poses in our convention (RAS mm of the T1w, SimNIBS axes); one target line
        each, named by the marker's name.
    coordinate_system : Brainsight's name of the coordinates (``NIfTI:Scanner``...);
        default :func:`brainsight_coordinate_system` of ``t1w``. One of the two is needed:
        Brainsight offers only the coordinate systems the loaded image has.
    t1w : the T1w the coordinates are in.
    version : the format version written in the header; 14 and later name the transform's
        source (``NIfTI:S:...``).

    ``Loc. X/Y/Z`` is the coil centre; ``m<k>n<i>`` the coil axes with Brainsight's
    convention (:func:`to_brainsight_matrix`: z out of the head, y away from the handle),
    positions and axes with 4 decimals.
    """
    path = Path(path)
    markers = _checked_markers(markers, path)
    if coordinate_system is None:
        if t1w is None:
            raise NavigationError(f"{path}: pass the T1w (or its Brainsight coordinate system)")
        coordinate_system = brainsight_coordinate_system(t1w, version)
    _check_brainsight_system(coordinate_system, version, str(path))
    lines = [
        f"# Version: {int(version)}",
        f"# Coordinate system: {coordinate_system}",
        f"# Created by: tmstarget {__version__}",
        f"# Units: {BRAINSIGHT_UNITS}",
        "# Encoding: UTF-8",
        f"# Notes: {BRAINSIGHT_NOTES}",
        "# " + "\t".join(BRAINSIGHT_TARGET_COLUMNS),
    ]
    for marker in markers:
        pose = to_brainsight_matrix(marker.matrix)
        values = [*pose[:3, 3], *pose[:3, 0], *pose[:3, 1], *pose[:3, 2]]
        lines.append("\t".join([marker.name] + [f"{value + 0.0:.4f}" for value in values]))
    atomic.write_text(path, "\n".join(lines) + "\n")
    return path


def _brainsight_marker(row: dict[str, str], where: str) -> NavigationMarker | None:
    """The pose of one export line, or None for a sample without one (``(null)``)."""
    pose_columns = BRAINSIGHT_TARGET_COLUMNS[1:]
    if "Sample Name" in row and any(row.get(column) == "(null)" for column in pose_columns):
        return None
    try:
        position = [float(row[f"Loc. {axis}"]) for axis in "XYZ"]
        axes = np.array([[float(row[f"m{k}n{i}"]) for i in range(3)] for k in range(3)]).T
    except KeyError as error:
        raise NavigationError(f"{where}: no column {error.args[0]!r}") from error
    except ValueError as error:
        raise NavigationError(f"{where}: {error}") from error
    pose = np.eye(4)
    pose[:3, :3] = axes
    pose[:3, 3] = position
    # Exports round to 3 decimals: the axes are orthonormal only to about 1e-3.
    _check_pose(pose, where, tolerance=5e-3)
    name = row.get("Target Name", row.get("Sample Name", ""))
    return NavigationMarker(name=name, matrix=from_brainsight_matrix(pose))


def read_brainsight_targets(path: str | Path) -> NavigationFile:
    """Read a Brainsight text export: its ``Targets`` and ``Samples`` as our RAS poses.

    Other sections (landmarks...) are skipped. Raises NavigationError naming the file when
    the version or coordinate system line is missing, the coordinates are not NIfTI world
    coordinates (``Brainsight``, ``World``), the encoding is not UTF-8, or a line is short.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise NavigationError(f"{path}: not readable as UTF-8 text ({error})") from error
    version: int | None = None
    coordinate_system: str | None = None
    sections: dict[str, list[NavigationMarker]] = {"Target": [], "Sample": []}
    columns: list[str] | None = None
    section: str | None = None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if line.startswith("#"):
            text = line[1:].strip()
            if text.startswith("Version:"):
                version = int(text.split(":", 1)[1])
            elif text.startswith("Coordinate system:"):
                coordinate_system = text.split(":", 1)[1].strip()
            elif text.startswith("Encoding:") and text.split(":", 1)[1].strip() != "UTF-8":
                raise NavigationError(
                    f"{path}: encoding {text.split(':', 1)[1].strip()!r}, not UTF-8"
                )
            elif "\t" in text:
                columns = text.split("\t")
                kind = columns[0].removesuffix(" Name")
                section = kind if kind in sections else None
            continue
        if section is None:
            continue
        if version is None or coordinate_system is None:
            raise NavigationError(
                f"{path}: a Brainsight export starts with '# Version:' and "
                "'# Coordinate system:' lines"
            )
        _check_brainsight_system(coordinate_system, version, str(path))
        fields = line.split("\t")
        if len(fields) < len(columns):
            raise NavigationError(
                f"{path}, line {number}: {len(fields)} fields, the header has {len(columns)}"
            )
        marker = _brainsight_marker(
            dict(zip(columns, fields, strict=False)), f"{path}, line {number}"
        )
        if marker is not None:
            sections[section].append(marker)
    if version is None or coordinate_system is None:
        raise NavigationError(
            f"{path}: no '# Version:' or '# Coordinate system:' line: not a Brainsight export"
        )
    _check_brainsight_system(coordinate_system, version, str(path))
    return NavigationFile(
        path=str(path),
        coordinate_system=coordinate_system,
        version=version,
        markers=tuple(sections["Target"]),
        samples=tuple(sections["Sample"]),
    )
