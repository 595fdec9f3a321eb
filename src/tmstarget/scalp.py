"""Beam F3 (the scalp arm) on a template scalp, and coil positions on the scalp (MNI, mm).

The scalp arm of the trial places the coil over F3 found with the Beam et al. (2009) method
from three tape measurements of the subject's head. To compare it with the connectivity arm,
both targets are brought into one space: Beam F3 is walked out on a template scalp, scaled by
the ratio of the template head's own measurements to the subject's, and projected to cortex;
each cortical target of the connectivity arm gets the scalp point a coil would sit on.

Units and signs
---------------
- Head measurements and Beam distances are in **centimetres** (tape measure); every
  coordinate is in **millimetres**, MNI152 world space (x: left -> right, so x < 0 is the
  left hemisphere; y: posterior -> anterior; z: inferior -> superior).
- The template scalp is fsaverage's head surface shipped with MNE
  (``mne/data/fsaverage/fsaverage-head.fif``, 2,033 vertices, edges about 9 mm). fsaverage
  lives in MNI305 space; it is brought to MNI152 with the inverse of FreeSurfer's published
  MNI152 -> MNI305 affine (:data:`MNI152_TO_MNI305`). The shift is 1.3-3.1 mm over the
  scalp above the ears (1.6 mm at F3): small, but not negligible next to the trial's ~4.5 mm
  reliability, so it is applied rather than ignored.

Template landmarks (all snapped onto the scalp mesh)
----------------------------------------------------
- Nasion, LPA and RPA: fsaverage's fiducials (``fsaverage-fiducials.fif``). LPA/RPA are the
  preauricular points and stand in for the tragi.
- Inion: FieldTrip's inion on fsaverage, the ``INI`` row of the ``fsaverage_1005.tsv``
  montage MNE ships (``fsaverage-fiducials.fif`` has none, and a smooth average scalp has
  no protuberance to find it by). It lies about 3 mm below the nasion in MNI z.
- Midsagittal contour: the section by the plane through nasion and inion that is
  perpendicular to the LPA -> RPA direction (as far as a plane through both can be).
- NI arc: nasion -> inion along the midsagittal contour over the vertex. Cz is its midpoint,
  Fpz and Oz lie at 10 % of its length from the nasion and the inion. (Cz lies within
  2 mm of the midpoint of the TT arc, as the 10-20 system requires.)
- TT arc: LPA -> RPA along the section by the plane through LPA, RPA and Cz, over the vertex.
  T7 and T8 lie at 10 % of its length from LPA and RPA.
- Circumference: the closed section by the plane through Fpz and Oz that is parallel to the
  T7 -> T8 line (the 10-20 circumference through Fpz, T7, Oz, T8).
- Head centre: centre of the least-squares sphere through the scalp vertices above that plane.
- The template's own NI, TT and CF are the lengths of these three curves on the mesh.

Beam F3 on the template (see :func:`place_beam_f3`)
---------------------------------------------------
Point A is found by walking X from Fpz to the left along the circumference, F3 by walking Y
from Cz towards A along the section through Cz, A and the head centre. The walks are scaled
to the template: X by CF_template / CF_subject (so only the angle theta matters), Y by the
ratio of the template's to the subject's Cz -> A length modelled as
``0.4 * (NI cos^2 phi + TT sin^2 phi)``, where phi = 90 + theta is the angle of A from the
front midline (the Cz -> Fpz arc is 0.4 NI, the Cz -> T7 arc 0.4 TT). Both ratios are 1 for
a head whose measurements equal the template's. Consequence: on the template only the
proportions NI : TT matter (through theta), and over plausible adult heads F3 moves by only a
few mm; the template cannot show how F3 sits over different brains in different people.

Scalp <-> cortex
----------------
- :func:`project_to_cortex`: the in-brain voxel centre nearest to the scalp point (the
  cortex closest to a coil centred there, where its field is strongest).
- :func:`coil_position`: the point of the scalp mesh nearest to the cortical point. The
  segment from the target to it is normal to the scalp there, so this is the scalp point
  "along the outward direction" from the target, and the coil-target distance is minimal.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy.spatial import cKDTree

# FreeSurfer's MNI152 -> MNI305 (fsaverage) affine, from $FREESURFER_HOME/average/
# mni152.register.dat as printed on the FreeSurfer wiki (CoordinateSystems, case 8b), whose
# worked example (10, -20, 35) -> (9.3131, -21.5849, 33.8345) the unit tests check.
MNI152_TO_MNI305 = np.array(
    [
        [1.0022, 0.0071, -0.0177, 0.0528],
        [-0.0146, 0.9990, 0.0027, -1.5519],
        [0.0129, 0.0094, 1.0027, -1.2012],
        [0.0, 0.0, 0.0, 1.0],
    ]
)
MNI305_TO_MNI152 = np.linalg.inv(MNI152_TO_MNI305)

# Plausible adult head measurements (cm). Outside these the tape was misread or the unit is
# wrong (mm, inches), and the Beam geometry is no longer meaningful.
HEAD_MEASUREMENT_RANGES_CM = {
    "nasion_inion_cm": (25.0, 45.0),
    "tragus_tragus_cm": (25.0, 45.0),
    "circumference_cm": (45.0, 70.0),
}

_MEASUREMENT_NAMES = {
    "nasion_inion_cm": "nasion-inion distance",
    "tragus_tragus_cm": "tragus-tragus distance",
    "circumference_cm": "head circumference",
}

_FSAVERAGE_DIR = Path("data") / "fsaverage"


# ---------------------------------------------------------------------------------------
# Beam F3 equations
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BeamDistances:
    """Beam F3 scalp distances (cm) and angle (degrees); arrays or floats alike.

    ``fpz_to_a_cm`` is Beam's X: walked from Fpz to the left along the head circumference,
    it gives point A. ``cz_to_f3_cm`` is Beam's Y: walked from Cz towards A along the scalp,
    it gives F3. ``theta_deg`` is the angle of the model (negative for normal heads); A
    lies at 90 + theta degrees from the front midline (0 = Fpz, 90 = T7).
    """

    fpz_to_a_cm: np.ndarray | float
    cz_to_f3_cm: np.ndarray | float
    theta_deg: np.ndarray | float


def _checked_measurement(name: str, values: np.ndarray | float) -> np.ndarray:
    """``values`` as a float array; ValueError naming the measurement if not plausible."""
    array = np.asarray(values, dtype=float)
    label = _MEASUREMENT_NAMES[name]
    low, high = HEAD_MEASUREMENT_RANGES_CM[name]
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{label} ({name}) must be finite, got {values!r}")
    outside = (array < low) | (array > high)
    if np.any(outside):
        bad = array[outside] if array.ndim else array
        raise ValueError(
            f"{label} ({name}) must be between {low:g} and {high:g} cm for an adult head, "
            f"got {np.ravel(bad)[:5].tolist()} (centimetres expected)"
        )
    return array


def beam_f3(
    nasion_inion_cm: np.ndarray | float,
    tragus_tragus_cm: np.ndarray | float,
    circumference_cm: np.ndarray | float,
) -> BeamDistances:
    """Beam F3 distances from head measurements (the web-calculator form of Beam et al. 2009).

    Parameters (cm, scalars or broadcastable arrays): nasion-inion distance NI, tragus-tragus
    distance TT and head circumference CF. With angles in degrees::

        R1 = 0.4 NI,  R2 = 0.4 TT
        A = (R2 sin 324 + R1 / 2) / R2,   B = R1 sin 298 / (R1 cos 298 - R2 / 2)
        x = (R1 - R2 B) / (2 (A - B)),    y = A x - R1 / 2
        theta = atan(y / x),  X = (CF / 4)(90 + theta) / 90,  Y = 0.91 sqrt(x^2 + y^2)

    Returns X (``fpz_to_a_cm``), Y (``cz_to_f3_cm``) in cm and theta in degrees. Raises
    ValueError naming the measurement if one is not finite or outside
    :data:`HEAD_MEASUREMENT_RANGES_CM`.
    """
    nasion_inion = _checked_measurement("nasion_inion_cm", nasion_inion_cm)
    tragus_tragus = _checked_measurement("tragus_tragus_cm", tragus_tragus_cm)
    circumference = _checked_measurement("circumference_cm", circumference_cm)
    r1 = 0.4 * nasion_inion
    r2 = 0.4 * tragus_tragus
    slope_a = (r2 * np.sin(np.deg2rad(324.0)) + r1 / 2.0) / r2
    slope_b = r1 * np.sin(np.deg2rad(298.0)) / (r1 * np.cos(np.deg2rad(298.0)) - r2 / 2.0)
    x = (r1 - r2 * slope_b) / (2.0 * (slope_a - slope_b))
    y = slope_a * x - r1 / 2.0
    theta_deg = np.rad2deg(np.arctan(y / x))
    fpz_to_a = (circumference / 4.0) * (90.0 + theta_deg) / 90.0
    cz_to_f3 = 0.91 * np.hypot(x, y)
    scalar = all(np.ndim(v) == 0 for v in (nasion_inion_cm, tragus_tragus_cm, circumference_cm))
    if scalar:
        return BeamDistances(float(fpz_to_a), float(cz_to_f3), float(theta_deg))
    return BeamDistances(fpz_to_a, cz_to_f3, theta_deg)


# ---------------------------------------------------------------------------------------
# Space conversion and MNE's reference electrodes
# ---------------------------------------------------------------------------------------


def _apply_affine(affine: np.ndarray, points_mm: np.ndarray) -> np.ndarray:
    points = np.asarray(points_mm, dtype=float)
    return points @ affine[:3, :3].T + affine[:3, 3]


def mni305_to_mni152(points_mm: np.ndarray) -> np.ndarray:
    """MNI305 (fsaverage, Colin27) coordinates (mm, shape (..., 3)) to MNI152 (mm)."""
    return _apply_affine(MNI305_TO_MNI152, points_mm)


def standard_electrode_mm(label: str, montage: str = "colin27_1020") -> np.ndarray:
    """Position (MNI152 mm, shape (3,)) of a 10-20 electrode from a montage shipped by MNE.

    ``colin27_1020`` is what MNE called ``standard_1020`` before 1.13: FieldTrip's electrode
    positions fitted on the Colin27 head, in MNI305-like coordinates (metres, frame 'mri').
    ``fsaverage_1020`` is FieldTrip's fit on fsaverage's head (MNI305). Both are converted
    with :func:`mni305_to_mni152`.
    """
    import mne  # slow import, only needed here

    if not montage.startswith(("colin27_", "fsaverage_")):
        # Other MNE montages are on spheres or in device frames, not in MNI coordinates.
        raise ValueError(
            f"montage {montage!r} is not in MNI coordinates; use colin27_* or fsaverage_*"
        )
    positions = mne.channels.make_standard_montage(montage).get_positions()
    if label not in positions["ch_pos"]:
        raise ValueError(f"montage {montage!r} has no electrode {label!r}")
    return mni305_to_mni152(1000.0 * np.asarray(positions["ch_pos"][label], dtype=float))


# ---------------------------------------------------------------------------------------
# Mesh geometry helpers (private): plane sections, polylines, closest points
# ---------------------------------------------------------------------------------------


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector)


def _plane_sections(
    vertices: np.ndarray, faces: np.ndarray, origin: np.ndarray, normal: np.ndarray
) -> list[np.ndarray]:
    """Closed curves (each (k, 3), ordered, first point not repeated) where the plane
    through ``origin`` with ``normal`` cuts a closed triangle mesh."""
    normal = _unit(normal)
    signed = (vertices - origin) @ normal
    signed = np.where(signed == 0.0, 1e-9, signed)  # a vertex on the plane counts as above
    above = signed[faces] > 0
    cut_faces = faces[above.any(axis=1) & ~above.all(axis=1)]
    edges = np.stack([cut_faces[:, [0, 1]], cut_faces[:, [1, 2]], cut_faces[:, [2, 0]]], axis=1)
    is_cut = (signed[edges[..., 0]] > 0) != (signed[edges[..., 1]] > 0)
    cut_edges = np.sort(edges[is_cut].reshape(-1, 2, 2), axis=2)  # two cut edges per face
    n_vertices = len(vertices)
    keys = cut_edges[..., 0] * n_vertices + cut_edges[..., 1]
    unique_keys, node_of = np.unique(keys.ravel(), return_inverse=True)
    node_pairs = node_of.reshape(-1, 2)
    first, second = unique_keys // n_vertices, unique_keys % n_vertices
    weight = signed[first] / (signed[first] - signed[second])
    points = vertices[first] + weight[:, None] * (vertices[second] - vertices[first])

    neighbours: list[list[int]] = [[] for _ in range(len(unique_keys))]
    for a, b in node_pairs:
        neighbours[a].append(int(b))
        neighbours[b].append(int(a))
    visited = np.zeros(len(unique_keys), dtype=bool)
    loops = []
    for start in range(len(unique_keys)):
        if visited[start]:
            continue
        order, previous, current = [start], -1, start
        visited[start] = True
        while True:
            options = [n for n in neighbours[current] if n != previous]
            if not options or options[0] == start:
                break
            previous, current = current, options[0]
            if visited[current]:
                break
            visited[current] = True
            order.append(current)
        loops.append(points[order])
    return loops


def _section_near(
    vertices: np.ndarray,
    faces: np.ndarray,
    origin: np.ndarray,
    normal: np.ndarray,
    near: np.ndarray,
) -> np.ndarray:
    """The closed section curve of the plane that passes closest to ``near``."""
    loops = _plane_sections(vertices, faces, origin, normal)
    if not loops:
        raise ValueError("the plane does not cut the scalp mesh")
    return min(loops, key=lambda loop: np.min(np.linalg.norm(loop - near, axis=1)))


def _cumulative_length(path: np.ndarray) -> np.ndarray:
    steps = np.linalg.norm(np.diff(path, axis=0), axis=1)
    return np.concatenate([[0.0], np.cumsum(steps)])


def _closest_on_path(path: np.ndarray, point: np.ndarray) -> tuple[int, np.ndarray]:
    """Segment index and closest point of an open polyline to ``point``."""
    start, step = path[:-1], np.diff(path, axis=0)
    length_sq = np.maximum(np.einsum("ij,ij->i", step, step), 1e-12)
    t = np.clip(np.einsum("ij,ij->i", point - start, step) / length_sq, 0.0, 1.0)
    closest = start + t[:, None] * step
    index = int(np.argmin(np.linalg.norm(closest - point, axis=1)))
    return index, closest[index]


def _loop_from(loop: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Closed polyline that begins and ends at the loop point closest to ``start``."""
    closed = np.vstack([loop, loop[:1]])
    index, begin = _closest_on_path(closed, start)
    rolled = np.roll(loop, -(index + 1), axis=0)
    return np.vstack([begin, rolled, begin])


def _arc_position(path: np.ndarray, point: np.ndarray) -> float:
    """Arc length (mm) along ``path`` of its point closest to ``point``."""
    index, closest = _closest_on_path(path, point)
    return float(_cumulative_length(path)[index] + np.linalg.norm(closest - path[index]))


def _point_at(path: np.ndarray, arc_mm: float) -> np.ndarray:
    """Point at arc length ``arc_mm`` along a polyline (0 <= arc_mm <= its length)."""
    cumulative = _cumulative_length(path)
    if arc_mm < -1e-9 or arc_mm > cumulative[-1] + 1e-9:
        raise ValueError(f"walk of {arc_mm:.1f} mm leaves a path of {cumulative[-1]:.1f} mm")
    return np.array([np.interp(arc_mm, cumulative, path[:, axis]) for axis in range(3)])


def _head_of(path: np.ndarray, arc_mm: float) -> np.ndarray:
    """The part of ``path`` from its start to arc length ``arc_mm``."""
    cumulative = _cumulative_length(path)
    keep = cumulative < arc_mm
    return np.vstack([path[keep], _point_at(path, arc_mm)])


def _arc_between(loop: np.ndarray, start: np.ndarray, end: np.ndarray, upper: bool) -> np.ndarray:
    """Open polyline along a closed section from ``start`` to ``end``: the branch with the
    higher mean z if ``upper`` (over the vertex), else the shorter branch."""
    closed = _loop_from(loop, start)
    split = _arc_position(closed, end)
    forward = _head_of(closed, split)
    backward = _head_of(closed[::-1], _cumulative_length(closed)[-1] - split)
    if upper:
        return max(forward, backward, key=lambda arc: float(np.mean(arc[:, 2])))
    return min(forward, backward, key=lambda arc: float(_cumulative_length(arc)[-1]))


def _closest_on_mesh(vertices: np.ndarray, faces: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Closest point of a triangle mesh (not only its vertices) to each of ``points``."""
    a, b, c = (vertices[faces[:, k]] for k in range(3))
    normal = np.cross(b - a, c - a)
    normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-12)
    result = np.empty_like(points)
    for row, point in enumerate(points):
        in_plane = point - np.einsum("ij,ij->i", point - a, normal)[:, None] * normal
        # Barycentric coordinates of the in-plane projection.
        v0, v1, v2 = b - a, c - a, in_plane - a
        d00, d01, d11 = (np.einsum("ij,ij->i", u, w) for u, w in ((v0, v0), (v0, v1), (v1, v1)))
        d20, d21 = np.einsum("ij,ij->i", v2, v0), np.einsum("ij,ij->i", v2, v1)
        denominator = np.maximum(d00 * d11 - d01 * d01, 1e-12)
        v = (d11 * d20 - d01 * d21) / denominator
        w = (d00 * d21 - d01 * d20) / denominator
        inside = (v >= 0) & (w >= 0) & (v + w <= 1)
        candidates = [np.where(inside[:, None], in_plane, np.inf)]
        for start, stop in ((a, b), (b, c), (c, a)):
            step = stop - start
            t = np.einsum("ij,ij->i", point - start, step) / np.einsum("ij,ij->i", step, step)
            candidates.append(start + np.clip(t, 0.0, 1.0)[:, None] * step)
        stacked = np.stack(candidates)  # (4, n_faces, 3)
        distance = np.linalg.norm(stacked - point, axis=2)
        flat = int(np.argmin(distance))
        result[row] = stacked.reshape(-1, 3)[flat]
    return result


def _fit_sphere_centre(points: np.ndarray) -> np.ndarray:
    """Centre of the least-squares sphere through ``points`` (|p|^2 = 2 c.p + k)."""
    design = np.column_stack([2.0 * points, np.ones(len(points))])
    solution, *_ = np.linalg.lstsq(design, np.einsum("ij,ij->i", points, points), rcond=None)
    return solution[:3]


# ---------------------------------------------------------------------------------------
# Template scalp
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class TemplateScalp:
    """A scalp mesh in MNI152 (mm) with its 10-20 landmarks and its own head measurements.

    ``landmarks_mm`` maps nasion, inion, lpa, rpa, fpz, oz, cz, t7, t8 to points on the mesh
    (see the module docstring for their definitions). ``circumference_path_mm`` is the
    circumference curve as a closed polyline starting at Fpz and heading left (x decreasing);
    ``nasion_inion_path_mm`` and ``tragus_tragus_path_mm`` are the NI and TT arcs (nasion ->
    inion, LPA -> RPA). The arrays are read-only because the template is cached.
    """

    vertices_mm: np.ndarray
    faces: np.ndarray
    landmarks_mm: dict[str, np.ndarray]
    head_centre_mm: np.ndarray
    nasion_inion_path_mm: np.ndarray
    tragus_tragus_path_mm: np.ndarray
    circumference_path_mm: np.ndarray
    nasion_inion_cm: float
    tragus_tragus_cm: float
    circumference_cm: float


def _path_length_cm(path: np.ndarray) -> float:
    return float(_cumulative_length(path)[-1]) / 10.0


def _fsaverage_inion_m() -> np.ndarray:
    """FieldTrip's inion on fsaverage (metres, MNI305), the ``INI`` row of the
    ``fsaverage_1005.tsv`` montage that MNE ships (and drops when it loads the montage)."""
    import mne

    table = Path(mne.__file__).parent / "channels" / "data" / "montages" / "fsaverage_1005.tsv"
    for line in table.read_text().splitlines()[1:]:
        label, *xyz = line.split("\t")
        if label == "INI":
            return np.array(xyz[:3], dtype=float)
    raise ValueError(f"no INI (inion) row in {table}")


@lru_cache(maxsize=1)
def load_template_scalp() -> TemplateScalp:
    """fsaverage's scalp (MNE's ``fsaverage-head.fif``) in MNI152 mm, with its landmarks and
    its own NI, TT and CF (cm), built once and cached. Nothing is downloaded."""
    import mne  # slow import, only needed here

    folder = Path(mne.__file__).parent / _FSAVERAGE_DIR
    surface = mne.read_bem_surfaces(folder / "fsaverage-head.fif", verbose=False)[0]
    vertices = mni305_to_mni152(1000.0 * surface["rr"])
    faces = np.asarray(surface["tris"], dtype=np.int64)
    fiducials, _ = mne.io.read_fiducials(folder / "fsaverage-fiducials.fif", verbose=False)
    # FIFF point identifiers: 1 = LPA, 2 = nasion, 3 = RPA.
    by_ident = {int(point["ident"]): point["r"] for point in fiducials}
    fiducials_m = [by_ident[1], by_ident[2], by_ident[3], _fsaverage_inion_m()]
    fiducials_mm = mni305_to_mni152(1000.0 * np.array(fiducials_m))
    lpa, nasion, rpa, inion = _closest_on_mesh(vertices, faces, fiducials_mm)

    # Midsagittal plane: through nasion and inion, its normal the part of the LPA -> RPA
    # direction (of the fiducials as given; snapping onto the coarse mesh around the ears
    # moves them by a few mm) that is orthogonal to nasion -> inion.
    ear_to_ear = fiducials_mm[2] - fiducials_mm[0]
    front_to_back = inion - nasion
    sagittal_normal = (
        ear_to_ear - (ear_to_ear @ front_to_back) / (front_to_back @ front_to_back) * front_to_back
    )
    sagittal = _section_near(vertices, faces, nasion, sagittal_normal, nasion)

    nasion_inion_path = _arc_between(sagittal, nasion, inion, upper=True)
    ni_mm = _cumulative_length(nasion_inion_path)[-1]
    cz = _point_at(nasion_inion_path, 0.5 * ni_mm)
    fpz = _point_at(nasion_inion_path, 0.1 * ni_mm)
    oz = _point_at(nasion_inion_path, 0.9 * ni_mm)

    coronal_normal = np.cross(rpa - lpa, cz - lpa)
    coronal = _section_near(vertices, faces, lpa, coronal_normal, cz)
    tragus_tragus_path = _arc_between(coronal, lpa, rpa, upper=True)
    tt_mm = _cumulative_length(tragus_tragus_path)[-1]
    t7 = _point_at(tragus_tragus_path, 0.1 * tt_mm)
    t8 = _point_at(tragus_tragus_path, 0.9 * tt_mm)

    circumference_normal = np.cross(oz - fpz, t8 - t7)
    if circumference_normal[2] < 0:
        circumference_normal = -circumference_normal  # points up
    ring = _section_near(vertices, faces, fpz, circumference_normal, fpz)
    circumference_path = _loop_from(ring, fpz)
    if circumference_path[1, 0] > circumference_path[-2, 0]:
        circumference_path = circumference_path[::-1]  # head left (x decreasing) from Fpz

    above = (vertices - fpz) @ _unit(circumference_normal) > 0
    head_centre = _fit_sphere_centre(vertices[above])

    landmarks = {
        "nasion": nasion,
        "inion": inion,
        "lpa": lpa,
        "rpa": rpa,
        "fpz": fpz,
        "oz": oz,
        "cz": cz,
        "t7": t7,
        "t8": t8,
    }
    arrays = [vertices, faces, head_centre, nasion_inion_path, tragus_tragus_path]
    arrays += [circumference_path, *landmarks.values()]
    for array in arrays:
        array.setflags(write=False)
    return TemplateScalp(
        vertices_mm=vertices,
        faces=faces,
        landmarks_mm=landmarks,
        head_centre_mm=head_centre,
        nasion_inion_path_mm=nasion_inion_path,
        tragus_tragus_path_mm=tragus_tragus_path,
        circumference_path_mm=circumference_path,
        nasion_inion_cm=_path_length_cm(nasion_inion_path),
        tragus_tragus_cm=_path_length_cm(tragus_tragus_path),
        circumference_cm=_path_length_cm(circumference_path),
    )


# ---------------------------------------------------------------------------------------
# Beam F3 on the template, projection to cortex, coil positions, distances
# ---------------------------------------------------------------------------------------


def beam_f3_on_template(
    nasion_inion_cm: np.ndarray | float,
    tragus_tragus_cm: np.ndarray | float,
    circumference_cm: np.ndarray | float,
    scalp: TemplateScalp | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Point A and Beam F3 on the template scalp (MNI152 mm), as in :func:`place_beam_f3`.

    Returns ``(point_a_mm, f3_mm)``, each shaped (3,) for scalar measurements or (n, 3).
    """
    scalp = load_template_scalp() if scalp is None else scalp
    distances = beam_f3(nasion_inion_cm, tragus_tragus_cm, circumference_cm)
    shape = np.broadcast(
        np.asarray(nasion_inion_cm), np.asarray(tragus_tragus_cm), np.asarray(circumference_cm)
    ).shape
    nasion_inion, tragus_tragus, circumference, fpz_to_a, cz_to_f3, theta = (
        np.broadcast_to(np.asarray(v, dtype=float), shape).ravel()
        for v in (
            nasion_inion_cm,
            tragus_tragus_cm,
            circumference_cm,
            distances.fpz_to_a_cm,
            distances.cz_to_f3_cm,
            distances.theta_deg,
        )
    )
    # Walk scaling (module docstring): X by the circumference ratio, Y by the ratio of the
    # modelled Cz -> A lengths, a mix of NI and TT weighted by the direction of A.
    phi = np.deg2rad(90.0 + theta)
    cos2, sin2 = np.cos(phi) ** 2, np.sin(phi) ** 2
    x_scale = scalp.circumference_cm / circumference
    y_scale = (scalp.nasion_inion_cm * cos2 + scalp.tragus_tragus_cm * sin2) / (
        nasion_inion * cos2 + tragus_tragus * sin2
    )
    cz, centre = scalp.landmarks_mm["cz"], scalp.head_centre_mm
    points_a, points_f3 = [], []
    for x_mm, y_mm in zip(10.0 * fpz_to_a * x_scale, 10.0 * cz_to_f3 * y_scale, strict=True):
        point_a = _point_at(scalp.circumference_path_mm, x_mm)
        section = _section_near(
            scalp.vertices_mm, scalp.faces, cz, np.cross(point_a - cz, centre - cz), cz
        )
        arc = _arc_between(section, cz, point_a, upper=False)
        points_a.append(point_a)
        points_f3.append(_point_at(arc, y_mm))
    return (
        np.reshape(points_a, (*shape, 3)),
        np.reshape(points_f3, (*shape, 3)),
    )


def place_beam_f3(
    nasion_inion_cm: np.ndarray | float,
    tragus_tragus_cm: np.ndarray | float,
    circumference_cm: np.ndarray | float,
    scalp: TemplateScalp | None = None,
) -> np.ndarray:
    """Beam F3 of a subject placed on the template scalp (MNI152 mm; x < 0 is left).

    Head measurements are in cm (scalars or arrays, one entry per subject). Point A is X
    (scaled by CF_template / CF_subject) from Fpz to the left along the circumference; F3 is
    Y (scaled by the modelled Cz -> A length ratio, see the module docstring) from Cz towards
    A along the scalp section through Cz, A and the head centre. Returns shape (3,) or (n, 3).
    """
    return beam_f3_on_template(nasion_inion_cm, tragus_tragus_cm, circumference_cm, scalp)[1]


def _as_points(points_mm: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]]:
    points = np.asarray(points_mm, dtype=float)
    if points.shape[-1:] != (3,):
        raise ValueError(f"points must have shape (3,) or (n, 3) in mm, got {points.shape}")
    if not np.all(np.isfinite(points)):
        raise ValueError("points must be finite (mm)")
    return points.reshape(-1, 3), points.shape


def project_to_cortex(scalp_points_mm: np.ndarray, brain_mask_img: nib.Nifti1Image) -> np.ndarray:
    """Cortical point under each scalp point: the nearest in-brain voxel centre (MNI mm).

    ``brain_mask_img`` is any binary brain mask (voxels > 0 are brain), compared in world
    space, e.g. ``atlas.template_tissue(2)["brain"]``. Shape (3,) or (n, 3) as given.
    """
    points, shape = _as_points(scalp_points_mm)
    mask = np.asarray(brain_mask_img.dataobj) > 0
    if not mask.any():
        raise ValueError("the brain mask is empty")
    ijk = np.argwhere(mask)
    centres = ijk @ brain_mask_img.affine[:3, :3].T + brain_mask_img.affine[:3, 3]
    _, nearest = cKDTree(centres).query(points)
    return centres[nearest].reshape(shape)


def coil_position(cortex_points_mm: np.ndarray, scalp: TemplateScalp | None = None) -> np.ndarray:
    """Scalp point for each cortical target: the nearest point of the scalp mesh (MNI mm).

    The target -> coil segment is normal to the scalp at the coil (the outward direction), and
    the coil-target distance is the smallest possible. Shape (3,) or (n, 3) as given.
    """
    scalp = load_template_scalp() if scalp is None else scalp
    points, shape = _as_points(cortex_points_mm)
    return _closest_on_mesh(scalp.vertices_mm, scalp.faces, points).reshape(shape)


def paired_distance_mm(points_a_mm: np.ndarray, points_b_mm: np.ndarray) -> np.ndarray:
    """Euclidean distance (mm) between matching rows of two (n, 3) or (3,) point arrays."""
    return np.linalg.norm(np.asarray(points_a_mm, float) - np.asarray(points_b_mm, float), axis=-1)


@dataclass(frozen=True)
class ArmDistances:
    """Per-subject comparison of the connectivity target with Beam F3 (all MNI mm).

    ``cortex_distance_mm``: connectivity target to Beam F3 projected to cortex;
    ``scalp_distance_mm``: the connectivity target's coil position to Beam F3 on the scalp.
    """

    beam_cortex_mm: np.ndarray
    connectivity_scalp_mm: np.ndarray
    cortex_distance_mm: np.ndarray
    scalp_distance_mm: np.ndarray


def compare_arms(
    connectivity_targets_mm: np.ndarray,
    beam_f3_scalp_mm: np.ndarray,
    brain_mask_img: nib.Nifti1Image,
    scalp: TemplateScalp | None = None,
) -> ArmDistances:
    """Distances between each subject's connectivity target and Beam F3, on cortex and scalp.

    ``connectivity_targets_mm`` (n, 3) are cortical targets, ``beam_f3_scalp_mm`` (n, 3) the
    matching :func:`place_beam_f3` output, both MNI mm, one row per subject.
    """
    beam_cortex = project_to_cortex(beam_f3_scalp_mm, brain_mask_img)
    connectivity_scalp = coil_position(connectivity_targets_mm, scalp)
    return ArmDistances(
        beam_cortex_mm=beam_cortex,
        connectivity_scalp_mm=connectivity_scalp,
        cortex_distance_mm=paired_distance_mm(connectivity_targets_mm, beam_cortex),
        scalp_distance_mm=paired_distance_mm(connectivity_scalp, beam_f3_scalp_mm),
    )
