"""Unit tests for tmstarget.navigation: coil placement on a synthetic head with a known
answer, refusal of skull-stripped images, and the Brainsight and Localite files (against
fixtures laid out as the vendors' public exports, see tests/data/navigation/README.md)."""

from __future__ import annotations

import math
from pathlib import Path
from xml.etree import ElementTree

import nibabel as nib
import numpy as np
import pytest

from tmstarget import navigation as nav

DATA = Path(__file__).parent / "data" / "navigation"

# The synthetic head: concentric spheres around HEAD_CENTRE (RAS mm): brain (r < 70 mm,
# bright), CSF (70-72, dim), skull (72-82, dark), scalp (82-90, bright), and a neck
# cylinder with a dark airway that leaves through the bottom of the field of view.
HEAD_CENTRE = np.array([3.0, -12.0, 20.0])
SCALP_RADIUS = 90.0
BRAIN_RADIUS = 70.0


def synthetic_head(
    voxel_mm: float = 2.0,
    rotation: np.ndarray | None = None,
    zooms: tuple[float, float, float] | None = None,
    stripped: bool = False,
    noisy_background: bool = True,
    seed: int = 0,
) -> nib.Nifti1Image:
    rng = np.random.default_rng(seed)
    zooms = np.array(zooms if zooms is not None else (voxel_mm,) * 3)
    shape = np.ceil(220.0 / zooms).astype(int)
    affine = np.eye(4)
    affine[:3, :3] = (rotation if rotation is not None else np.eye(3)) @ np.diag(zooms)
    affine[:3, 3] = HEAD_CENTRE - affine[:3, :3] @ ((shape - 1) / 2.0)
    xyz = nib.affines.apply_affine(affine, np.indices(shape).reshape(3, -1).T)
    relative = xyz - HEAD_CENTRE
    radius = np.linalg.norm(relative, axis=1)
    axial = np.hypot(relative[:, 0], relative[:, 1])
    data = np.abs(rng.normal(0.0, 15.0, radius.size)) if noisy_background else np.zeros(radius.size)
    data[radius < SCALP_RADIUS] = 800.0
    data[radius < 82.0] = 30.0
    data[radius < 72.0] = 150.0
    data[radius < BRAIN_RADIUS] = 600.0
    neck = (axial < 50.0) & (relative[:, 2] < -40.0) & (radius >= SCALP_RADIUS)
    data[neck] = 500.0
    data[neck & (axial < 8.0)] = 20.0
    if stripped:
        data[radius >= BRAIN_RADIUS] = 0.0
        if noisy_background:
            data[radius >= BRAIN_RADIUS] = np.abs(
                rng.normal(0.0, 15.0, (radius >= BRAIN_RADIUS).sum())
            )
    tissue = data > 100.0
    data[tissue] += rng.normal(0.0, 10.0, tissue.sum())
    image = nib.Nifti1Image(data.reshape(shape).astype(np.float32), affine)
    image.set_qform(affine, code=1)
    image.set_sform(affine, code=1)
    return image


def on_sphere(polar_deg: float, azimuth_deg: float = 180.0) -> np.ndarray:
    """Unit vector from the head centre: polar angle from superior, azimuth from +x
    (180 = left) in the axial plane."""
    polar, azimuth = math.radians(polar_deg), math.radians(azimuth_deg)
    return np.array(
        [math.sin(polar) * math.cos(azimuth), math.sin(polar) * math.sin(azimuth), math.cos(polar)]
    )


def angle_deg(first: np.ndarray, second: np.ndarray) -> float:
    cosine = np.dot(first, second) / (np.linalg.norm(first) * np.linalg.norm(second))
    return math.degrees(math.acos(np.clip(cosine, -1.0, 1.0)))


def assert_rigid(matrix: np.ndarray) -> None:
    rotation = matrix[:3, :3]
    np.testing.assert_allclose(rotation.T @ rotation, np.eye(3), atol=1e-9)
    assert np.linalg.det(rotation) == pytest.approx(1.0, abs=1e-9)
    np.testing.assert_array_equal(matrix[3], [0.0, 0.0, 0.0, 1.0])


@pytest.fixture(scope="module")
def head_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("head") / "sub-01_desc-preproc_T1w.nii.gz"
    synthetic_head().to_filename(path)
    return path


@pytest.fixture(scope="module")
def scalp(head_file) -> nav.Scalp:
    return nav.scalp_from_t1w(head_file)


# ---------------------------------------------------------------------------------------
# Coil placement, known answers on the spherical head
# ---------------------------------------------------------------------------------------


def test_head_mask_is_the_whole_head(scalp):
    # Scalp sphere (3.05 L) plus the neck inside the field of view, skull and airway filled.
    sphere_ml = 4.0 / 3.0 * math.pi * SCALP_RADIUS**3 / 1000.0
    assert sphere_ml < scalp.volume_ml < sphere_ml + 400.0  # neck: about 280 mL
    inside_skull = nib.affines.apply_affine(
        np.linalg.inv(scalp.affine), HEAD_CENTRE + 77.0 * on_sphere(30)
    )
    assert scalp.mask[tuple(np.round(inside_skull).astype(int))]
    assert scalp.level_at(HEAD_CENTRE + 95.0 * on_sphere(30)) < 0.5


@pytest.mark.parametrize("polar_deg", [25.0, 40.0, 60.0])
def test_coil_sits_on_the_scalp_over_the_target_with_a_radial_normal(scalp, polar_deg):
    direction = on_sphere(polar_deg, 160.0)
    target = HEAD_CENTRE + 60.0 * direction
    placement = nav.place_coil(scalp, target)
    # The nearest point of a sphere to an inner point is on its radius through that point.
    expected = HEAD_CENTRE + SCALP_RADIUS * direction
    assert np.linalg.norm(placement.scalp_mm - expected) < 2.0  # one voxel
    assert np.linalg.norm(placement.scalp_mm - HEAD_CENTRE) == pytest.approx(SCALP_RADIUS, abs=1.0)
    assert angle_deg(placement.normal, placement.scalp_mm - HEAD_CENTRE) < 2.0
    assert angle_deg(placement.normal, direction) < 2.0
    assert placement.scalp_depth_mm == pytest.approx(30.0, abs=1.0)
    np.testing.assert_allclose(placement.centre_mm, placement.scalp_mm)
    assert abs(np.dot(placement.handle, placement.normal)) < 1e-9
    assert placement.hemisphere == "left"
    assert_rigid(placement.matrix)
    # SimNIBS axes: z into the head, y away from the handle, centre in column 3.
    np.testing.assert_allclose(placement.matrix[:3, 2], -placement.normal)
    np.testing.assert_allclose(placement.matrix[:3, 1], -placement.handle)
    np.testing.assert_allclose(placement.matrix[:3, 3], placement.centre_mm)


def test_handle_points_backwards_and_out_at_45_degrees_known_answer(scalp):
    # On the coronal great circle, polar angle a to the left: normal (-sin a, 0, cos a),
    # the backwards sagittal tangent is (0, -1, 0), the outward tangent (-cos a, 0, -sin a),
    # so the handle at 45 degrees is their normalised sum.
    polar = 40.0
    placement = nav.place_coil(scalp, HEAD_CENTRE + 60.0 * on_sphere(polar))
    a = math.radians(polar)
    expected = np.array([-math.cos(a), -1.0, -math.sin(a)]) / math.sqrt(2.0)
    assert angle_deg(placement.handle, expected) < 2.0
    assert placement.handle[0] < 0 and placement.handle[1] < 0  # left and backwards


def test_handle_angle_is_measured_from_the_sagittal_direction(scalp):
    target = HEAD_CENTRE + 60.0 * on_sphere(45.0, 150.0)
    for angle in (0.0, 30.0, 45.0, 90.0):
        placement = nav.place_coil(scalp, target, handle_angle_deg=angle)
        normal = placement.normal
        sagittal = np.cross(normal, [1.0, 0.0, 0.0])
        sagittal *= -np.sign(sagittal[1]) / np.linalg.norm(sagittal)  # backwards
        assert angle_deg(placement.handle, sagittal) == pytest.approx(angle, abs=1e-6)
        assert abs(np.dot(placement.handle, normal)) < 1e-9
        if angle > 0:
            assert placement.handle[0] < 0  # towards the target's (left) side
    straight_back = nav.place_coil(scalp, target, handle_angle_deg=0.0).handle
    assert straight_back[0] == pytest.approx(0.0, abs=1e-9)


def test_right_hemisphere_target_mirrors_the_handle(scalp):
    left = nav.place_coil(scalp, HEAD_CENTRE + 60.0 * on_sphere(40.0, 160.0))
    right = nav.place_coil(scalp, HEAD_CENTRE + 60.0 * on_sphere(40.0, 20.0))
    assert right.hemisphere == "right"
    assert right.handle[0] > 0 and right.handle[1] < 0
    mirrored = left.handle * np.array([-1.0, 1.0, 1.0])
    assert angle_deg(right.handle, mirrored) < 3.0


def test_marker_at_the_target_keeps_the_axes(scalp):
    placement = nav.place_coil(scalp, HEAD_CENTRE + 60.0 * on_sphere(35.0), skin_distance_mm=3.0)
    at_target = placement.marker("t", at="target").matrix
    np.testing.assert_allclose(at_target[:3, :3], placement.matrix[:3, :3])
    np.testing.assert_allclose(at_target[:3, 3], placement.target_mm)
    # The coil's z axis (into the head) runs from the centre through the target.
    along = placement.target_mm - placement.centre_mm
    assert angle_deg(along, placement.matrix[:3, 2]) < 3.0
    assert np.linalg.norm(along) == pytest.approx(placement.scalp_depth_mm + 3.0, abs=0.5)
    with pytest.raises(nav.NavigationError, match="'centre' or 'target'"):
        placement.marker("t", at="scalp")


def test_skin_distance_moves_the_centre_along_the_normal(scalp):
    target = HEAD_CENTRE + 60.0 * on_sphere(35.0)
    placement = nav.place_coil(scalp, target, skin_distance_mm=4.0)
    np.testing.assert_allclose(placement.centre_mm, placement.scalp_mm + 4.0 * placement.normal)
    np.testing.assert_allclose(placement.matrix[:3, 3], placement.centre_mm)


def test_placement_does_not_depend_on_the_voxel_grid():
    # The same head on an oblique, anisotropic, left-right flipped grid.
    turn = math.radians(20.0)
    rotation = np.array(
        [
            [math.cos(turn), 0.0, math.sin(turn)],
            [0.0, 1.0, 0.0],
            [-math.sin(turn), 0.0, math.cos(turn)],
        ]
    ) @ np.diag([-1.0, 1.0, 1.0])
    oblique = nav.scalp_from_t1w(synthetic_head(rotation=rotation, zooms=(2.0, 2.4, 1.8)))
    direction = on_sphere(40.0, 160.0)
    placement = nav.place_coil(oblique, HEAD_CENTRE + 60.0 * direction)
    assert np.linalg.norm(placement.scalp_mm - (HEAD_CENTRE + SCALP_RADIUS * direction)) < 2.4
    assert angle_deg(placement.normal, direction) < 2.5
    assert_rigid(placement.matrix)


def test_nearest_point_on_an_ellipsoidal_head():
    # An ellipsoid scalp (semi-axes 75, 95, 85 mm): the scalp point must be the nearest
    # point of the surface (checked against a dense sampling of the analytic surface), and
    # the segment from the target to it must lie along the normal.
    semi_axes = np.array([75.0, 95.0, 85.0])
    zooms = np.full(3, 2.0)
    shape = np.ceil(230.0 / zooms).astype(int)
    affine = np.diag([*zooms, 1.0])
    affine[:3, 3] = -affine[:3, :3] @ ((shape - 1) / 2.0)
    xyz = nib.affines.apply_affine(affine, np.indices(shape).reshape(3, -1).T)
    level = np.sqrt(((xyz / semi_axes) ** 2).sum(axis=1))
    data = np.abs(np.random.default_rng(3).normal(0.0, 15.0, level.size))
    data[level < 1.0] = 800.0
    data[level < 0.9] = 30.0
    data[level < 0.8] = 600.0
    head = nav.scalp_from_t1w(nib.Nifti1Image(data.reshape(shape).astype(np.float32), affine))
    target = np.array([-40.0, 45.0, 40.0])
    placement = nav.place_coil(head, target)
    polar, azimuth = np.meshgrid(np.linspace(0, np.pi, 721), np.linspace(0, 2 * np.pi, 1441))
    surface = (
        np.stack(
            [np.sin(polar) * np.cos(azimuth), np.sin(polar) * np.sin(azimuth), np.cos(polar)],
            axis=-1,
        )
        * semi_axes
    )
    distances = np.linalg.norm(surface.reshape(-1, 3) - target, axis=1)
    nearest = surface.reshape(-1, 3)[np.argmin(distances)]
    assert placement.scalp_depth_mm == pytest.approx(distances.min(), abs=1.0)
    assert np.linalg.norm(placement.scalp_mm - nearest) < 2.0
    assert angle_deg(placement.scalp_mm - target, placement.normal) < 3.0


def test_head_axes_turn_the_handle_with_the_head():
    # At the vertex of a head turned 20 degrees to the left (yaw), "straight back" follows
    # the head, not the image axes.
    yaw = math.radians(20.0)
    axes = np.array(
        [[math.cos(yaw), -math.sin(yaw), 0.0], [math.sin(yaw), math.cos(yaw), 0.0], [0.0, 0.0, 1.0]]
    )
    vertex = np.array([0.0, 0.0, 1.0])
    back = nav.handle_direction(vertex, "left", 0.0, head_axes=axes)
    np.testing.assert_allclose(back, -axes[:, 1], atol=1e-12)
    out = nav.handle_direction(vertex, "left", 90.0, head_axes=axes)
    np.testing.assert_allclose(out, -axes[:, 0], atol=1e-12)
    np.testing.assert_allclose(
        nav.handle_direction(vertex, "left", 0.0), [0.0, -1.0, 0.0], atol=1e-12
    )


def test_handle_on_the_forehead_points_up_the_head():
    # Where the sagittal tangent is vertical, "backwards" is onto the vertex.
    forehead = np.array([0.0, 1.0, 0.0])
    np.testing.assert_allclose(nav.handle_direction(forehead, "left", 0.0), [0, 0, 1], atol=1e-12)


def test_otsu_separates_two_modes():
    rng = np.random.default_rng(1)
    background, tissue = rng.normal(20, 5, 50_000), rng.normal(600, 40, 20_000)
    threshold = nav.otsu_threshold(np.concatenate([background, tissue]))
    assert np.mean(background > threshold) < 1e-3 and np.mean(tissue < threshold) < 1e-3
    # Across the empty gap between the modes it takes the middle, not the gap's first bin.
    assert background.max() + 50 < threshold < tissue.min() - 50


# ---------------------------------------------------------------------------------------
# Refusals
# ---------------------------------------------------------------------------------------


def test_skull_stripped_image_with_zero_background_is_refused(tmp_path):
    path = tmp_path / "sub-01_desc-brain_T1w.nii.gz"
    synthetic_head(stripped=True, noisy_background=False).to_filename(path)
    with pytest.raises(nav.NavigationError, match="skull-stripped") as error:
        nav.scalp_from_t1w(path)
    assert str(path) in str(error.value)
    assert "desc-preproc_T1w" in str(error.value)


def test_skull_stripped_image_is_refused_by_the_scalp_depth(tmp_path):
    # A noisy background hides the zeros; the "scalp" is then the brain's edge, 5 mm from
    # a cortical target.
    path = tmp_path / "masked_T1w.nii.gz"
    synthetic_head(stripped=True, noisy_background=True).to_filename(path)
    head = nav.scalp_from_t1w(path)
    with pytest.raises(nav.NavigationError, match="skull-stripped") as error:
        nav.place_coil(head, HEAD_CENTRE + 65.0 * on_sphere(40.0))
    assert str(path) in str(error.value) and "mm from the target" in str(error.value)


def test_skull_stripped_image_is_refused_against_the_brain_mask(tmp_path):
    image = synthetic_head(stripped=True, noisy_background=True)
    brain = nib.Nifti1Image((np.asarray(image.dataobj) > 300).astype(np.uint8), image.affine)
    with pytest.raises(nav.NavigationError, match="times the brain mask"):
        nav.scalp_from_t1w(image, brain_mask=brain)
    # The real head passes the same check.
    head = synthetic_head()
    intensity = np.asarray(head.dataobj)
    brain = nib.Nifti1Image(((intensity > 550) & (intensity < 700)).astype(np.uint8), head.affine)
    assert nav.scalp_from_t1w(head, brain_mask=brain).volume_ml > 3000


def test_target_outside_the_head_is_refused(scalp, head_file):
    with pytest.raises(nav.NavigationError, match="outside the head") as error:
        nav.place_coil(scalp, HEAD_CENTRE + 100.0 * on_sphere(40.0))
    assert str(head_file) in str(error.value)
    with pytest.raises(nav.NavigationError, match="outside the head"):
        nav.place_coil(scalp, [500.0, 0.0, 0.0])


def test_midline_target_needs_a_hemisphere(scalp):
    target = HEAD_CENTRE + 60.0 * on_sphere(30.0, 90.0)  # straight anterior-superior
    with pytest.raises(nav.NavigationError, match="hemisphere='left' or 'right'"):
        nav.place_coil(scalp, target)
    placement = nav.place_coil(scalp, target, hemisphere="right")
    assert placement.handle[0] > 0


def test_missing_t1w_is_named(tmp_path):
    with pytest.raises(nav.NavigationError, match="does not exist"):
        nav.scalp_from_t1w(tmp_path / "sub-02_desc-preproc_T1w.nii.gz")


# ---------------------------------------------------------------------------------------
# Vendor axes
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def placement(scalp) -> nav.CoilPlacement:
    return nav.place_coil(scalp, HEAD_CENTRE + 60.0 * on_sphere(40.0, 160.0))


def test_localite_axes(placement):
    localite = nav.to_localite_matrix(placement.matrix)
    np.testing.assert_allclose(localite[:3, 0], -placement.normal)  # into the head
    np.testing.assert_allclose(localite[:3, 1], placement.handle)  # towards the handle
    np.testing.assert_allclose(localite[:3, 2], np.cross(localite[:3, 0], localite[:3, 1]))
    np.testing.assert_allclose(localite[:3, 3], placement.centre_mm)
    lps = nav.to_localite_matrix(placement.matrix, "LPS")
    np.testing.assert_allclose(lps[:3], localite[:3] * np.array([[-1], [-1], [1]]))
    np.testing.assert_allclose(nav.from_localite_matrix(lps, "LPS"), placement.matrix, atol=1e-12)


def test_brainsight_axes(placement):
    brainsight = nav.to_brainsight_matrix(placement.matrix)
    np.testing.assert_allclose(brainsight[:3, 2], placement.normal)  # out of the head
    np.testing.assert_allclose(brainsight[:3, 1], -placement.handle)  # away from the handle
    np.testing.assert_allclose(brainsight[:3, 0], np.cross(brainsight[:3, 1], brainsight[:3, 2]))
    np.testing.assert_allclose(nav.from_brainsight_matrix(brainsight), placement.matrix)


# ---------------------------------------------------------------------------------------
# Public-example layouts read, with SimNIBS's expected values
# ---------------------------------------------------------------------------------------

# simnibs/simnibs simnibs/utils/tests/test_nnav.py: arr_im_0, arr_im_lps_0, arr_sample2,
# the matsimnibs SimNIBS's readers return for the public markers our fixtures hold. (Its
# comparison with arr_sample2 lacks an ``assert``; the values equal SimNIBS's Brainsight
# transform, nnav.brainsight._transform_brainsight, applied by hand to the public row.)
SIMNIBS_ARR_IM_0 = np.array(
    [
        [-4.54280857e-01, +5.15500953e-01, +7.26594267e-01, -4.18376747e01],
        [+7.82924568e-01, +6.20186401e-01, +4.94924946e-02, -3.41115599e01],
        [-4.25099496e-01, +5.91336751e-01, -6.85319504e-01, +8.86091674e01],
        [0.0, 0.0, 0.0, 1.0],
    ]
)
SIMNIBS_ARR_IM_LPS_0 = np.array(
    [
        [-7.47832761e-01, +5.64773443e-01, +3.49056141e-01, -3.62375709e01],
        [+6.05764663e-01, +7.95614077e-01, +1.05110853e-02, -3.56913917e01],
        [-2.71769027e-01, +2.19299494e-01, -9.37076517e-01, +1.01916610e02],
        [0.0, 0.0, 0.0, 1.0],
    ]
)
SIMNIBS_ARR_SAMPLE2 = np.array(
    [
        [-7.1200e-01, 3.2100e-01, 6.2400e-01, -4.4198e01],
        [-1.3000e-02, 8.8300e-01, -4.6900e-01, 7.5810e01],
        [-7.0200e-01, -3.4200e-01, -6.2400e-01, 6.5742e01],
        [0.0, 0.0, 0.0, 1.0],
    ]
)


def _fields(path: Path, name: str) -> list[float]:
    """The 12 pose numbers of the first line named ``name``, straight from the text."""
    for line in path.read_text().splitlines():
        if line.split("\t")[0] == name:
            return [float(value) for value in line.split("\t")[1:13]]
    raise AssertionError(f"{name} not in {path}")


def test_localite_ras_export_layout_reads_as_simnibs_does():
    found = nav.read_localite_instrument_markers(DATA / "localite_InstrumentMarker_RAS.xml")
    assert found.coordinate_system == "RAS"
    assert [marker.name for marker in found.markers] == ["M0", "dlpfc_left"]
    np.testing.assert_allclose(found.markers[0].matrix, SIMNIBS_ARR_IM_0, atol=1e-8)
    # The public M0 marker sits over the left motor cortex with Localite's y axis 45 degrees
    # posterior-lateral: the classic M1 handle direction, so y is "towards the handle".
    m0 = found.markers[0]
    assert m0.centre_mm[0] < 0 and m0.handle[0] < 0 and m0.handle[1] < 0
    assert angle_deg(m0.handle, [-1.0, -1.0, 0.0]) < 50.0
    assert np.dot(m0.normal, m0.centre_mm - np.array([0.0, -20.0, 20.0])) > 0  # outward
    # Our own marker: x column into the head (-normal), y towards the handle.
    xml = ElementTree.parse(DATA / "localite_InstrumentMarker_RAS.xml").getroot()
    data = xml.findall(".//Matrix4D")[1].attrib
    column = lambda c: np.array([float(data[f"data{r}{c}"]) for r in range(3)])  # noqa: E731
    np.testing.assert_allclose(found.markers[1].normal, -column(0))
    np.testing.assert_allclose(found.markers[1].handle, column(1))


def test_localite_lps_export_layout_reads_as_simnibs_does():
    found = nav.read_localite_instrument_markers(DATA / "localite_InstrumentMarker_LPS.xml")
    assert found.coordinate_system == "LPS"
    assert [marker.name for marker in found.markers] == ["hotspot", "dlpfc_left", "vertex"]
    np.testing.assert_allclose(found.markers[0].matrix, SIMNIBS_ARR_IM_LPS_0, atol=1e-8)
    # The LPS copy of the RAS fixture's dlpfc_left marker reads to the same RAS pose.
    ras = nav.read_localite_instrument_markers(DATA / "localite_InstrumentMarker_RAS.xml")
    np.testing.assert_allclose(found.markers[1].matrix, ras.markers[1].matrix, atol=1e-12)
    # E-notation (as Java writes small numbers) is read.
    assert found.markers[2].matrix[0, 2] == pytest.approx(-2.795771871527302e-4)
    assert found.markers[2].centre_mm == pytest.approx([1.205, -14.66, 98.731])


def test_brainsight_v7_export_layout_reads_as_simnibs_does():
    path = DATA / "brainsight_NIfTI-Aligned_v7.txt"
    found = nav.read_brainsight_targets(path)
    assert (found.version, found.coordinate_system) == (7, "NIfTI:Aligned")
    assert [marker.name for marker in found.markers] == ["Sample 1", "dlpfc_left", "dlpfc_right"]
    assert [marker.name for marker in found.samples] == ["Sample 1", "Sample 2"]
    np.testing.assert_allclose(found.markers[0].matrix, SIMNIBS_ARR_SAMPLE2, atol=1e-9)
    np.testing.assert_allclose(found.samples[0].matrix, SIMNIBS_ARR_SAMPLE2, atol=1e-9)
    # m2n* is the outward normal, m1n* points away from the handle, Loc. the centre.
    values = _fields(path, "dlpfc_left")
    marker = found.markers[1]
    np.testing.assert_allclose(marker.centre_mm, values[0:3])
    np.testing.assert_allclose(marker.normal, values[9:12])
    np.testing.assert_allclose(marker.handle, -np.array(values[6:9]))
    # The public Sample 1 (left frontal) has its z axis pointing out of the head and its
    # handle backwards.
    sample = found.markers[0]
    assert np.dot(sample.normal, sample.centre_mm - np.array([0.0, 10.0, 20.0])) > 0
    assert sample.handle[1] < 0


def test_brainsight_v14_export_layout_is_read():
    found = nav.read_brainsight_targets(DATA / "brainsight_NIfTI-Q-Aligned_v14.txt")
    assert (found.version, found.coordinate_system) == (14, "NIfTI:Q:Aligned")
    assert [marker.name for marker in found.markers] == ["Trajectory 1", "Trajectory 2"]
    assert len(found.samples) == 1  # the Session Name section of (null)s is not a target
    np.testing.assert_allclose(found.samples[0].matrix, found.markers[1].matrix)
    assert found.markers[1].normal == pytest.approx([0.0, 0.0499, 0.9988])


def test_brainsight_v8_export_with_landmarks_is_read():
    found = nav.read_brainsight_targets(DATA / "brainsight_NIfTI-Scanner_v8.txt")
    assert (found.version, found.coordinate_system) == (8, "NIfTI:Scanner")
    assert [marker.name for marker in found.markers] == ["Trajectory DLPFC L"]
    assert [marker.name for marker in found.samples] == ["Sample 1"]


def test_brainsight_internal_coordinates_are_refused():
    with pytest.raises(nav.NavigationError, match="not NIfTI world coordinates") as error:
        nav.read_brainsight_targets(DATA / "brainsight_Brainsight-coordinates_v7.txt")
    assert "brainsight_Brainsight-coordinates_v7.txt" in str(error.value)


# ---------------------------------------------------------------------------------------
# Our writers: laid out as the public exports, and read back
# ---------------------------------------------------------------------------------------


def _header_keys(path: Path) -> list[str]:
    keys = []
    for line in path.read_text().splitlines():
        if not line.startswith("# ") or "\t" in line:
            break
        keys.append(line[2:].split(":", 1)[0].lower())
    return keys


def test_brainsight_writer_matches_the_export_layout(tmp_path, placement, head_file):
    path = tmp_path / "targets.txt"
    markers = [placement.marker("connectivity target"), placement.marker("second")]
    nav.write_brainsight_targets(path, markers, t1w=head_file)
    lines = path.read_text().splitlines()
    public = (DATA / "brainsight_NIfTI-Q-Aligned_v14.txt").read_text().splitlines()
    assert _header_keys(path) == _header_keys(DATA / "brainsight_NIfTI-Q-Aligned_v14.txt")
    assert lines[0] == "# Version: 12"
    assert lines[1] == "# Coordinate system: NIfTI:Scanner"  # sform_code 1 of the T1w
    assert lines[6] == public[6]  # the target column line, tab for tab
    fields = lines[7].split("\t")
    assert len(fields) == 13 and fields[0] == "connectivity target"
    assert all(len(value.split(".")[1]) == 4 for value in fields[1:])
    values = np.array(fields[1:], dtype=float)
    np.testing.assert_allclose(values[0:3], placement.centre_mm, atol=5e-5)
    np.testing.assert_allclose(values[9:12], placement.normal, atol=5e-5)  # m2: out
    np.testing.assert_allclose(values[6:9], -placement.handle, atol=5e-5)  # m1: from handle
    back = nav.read_brainsight_targets(path)
    assert [marker.name for marker in back.markers] == ["connectivity target", "second"]
    np.testing.assert_allclose(back.markers[0].matrix, placement.matrix, atol=1e-4)


def test_brainsight_writer_version_14_names_the_sform(tmp_path, placement, head_file):
    path = nav.write_brainsight_targets(
        tmp_path / "v14.txt", [placement.marker("t")], t1w=head_file, version=14
    )
    found = nav.read_brainsight_targets(path)
    assert (found.version, found.coordinate_system) == (14, "NIfTI:S:Scanner")


def test_brainsight_writer_refuses_bad_input(tmp_path, placement):
    with pytest.raises(nav.NavigationError, match="pass the T1w"):
        nav.write_brainsight_targets(tmp_path / "a.txt", [placement.marker("t")])
    with pytest.raises(nav.NavigationError, match="not NIfTI world"):
        nav.write_brainsight_targets(
            tmp_path / "a.txt", [placement.marker("t")], coordinate_system="Brainsight"
        )
    with pytest.raises(nav.NavigationError, match="tabs"):
        nav.write_brainsight_targets(
            tmp_path / "a.txt", [placement.marker("a\tb")], coordinate_system="NIfTI:Scanner"
        )
    skewed = placement.matrix.copy()
    skewed[:3, 0] *= 1.1
    with pytest.raises(nav.NavigationError, match="orthonormal"):
        nav.write_brainsight_targets(
            tmp_path / "a.txt",
            [nav.NavigationMarker("t", skewed)],
            coordinate_system="NIfTI:Scanner",
        )
    assert not (tmp_path / "a.txt").exists()


def _structure(path: Path) -> list[tuple[str, tuple[str, ...]]]:
    """Element names and their attribute names, in document order (numbers aside)."""
    return [
        (element.tag, tuple(sorted(element.attrib)))
        for element in ElementTree.parse(path).getroot().iter()
    ]


@pytest.mark.parametrize("space", ["RAS", "LPS"])
def test_localite_writer_matches_the_export_layout(tmp_path, placement, head_file, space):
    path = tmp_path / f"InstrumentMarker_{space}.xml"
    nav.write_localite_instrument_markers(
        path,
        [placement.marker("M0"), placement.marker("dlpfc_left")],
        coordinate_space=space,
        t1w=head_file,
    )
    text = path.read_text()
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n')
    assert f'<InstrumentMarkerList coordinateSpace="{space}">' in text
    assert "E-" not in text and "e-" not in text
    assert _structure(path) == _structure(DATA / "localite_InstrumentMarker_RAS.xml")
    root = ElementTree.parse(path).getroot()
    data = root.find("InstrumentMarker/Marker/Matrix4D").attrib
    matrix = np.array([[float(data[f"data{r}{c}"]) for c in range(4)] for r in range(4)])
    flip = np.array([-1.0, -1.0, 1.0]) if space == "LPS" else np.ones(3)
    np.testing.assert_allclose(matrix[:3, 0] * flip, -placement.normal, atol=1e-15)
    np.testing.assert_allclose(matrix[:3, 1] * flip, placement.handle, atol=1e-15)
    np.testing.assert_allclose(matrix[:3, 3] * flip, placement.centre_mm, atol=1e-12)
    np.testing.assert_array_equal(matrix[3], [0.0, 0.0, 0.0, 1.0])
    back = nav.read_localite_instrument_markers(path)
    assert back.coordinate_system == space
    np.testing.assert_allclose(back.markers[1].matrix, placement.matrix, atol=1e-12)


def test_localite_writer_escapes_names(tmp_path, placement):
    path = nav.write_localite_instrument_markers(
        tmp_path / "m.xml", [placement.marker('A&B "left" <1>')]
    )
    assert nav.read_localite_instrument_markers(path).markers[0].name == 'A&B "left" <1>'


def test_localite_reader_refuses_other_files(tmp_path):
    wrong = tmp_path / "TriggerMarkers.xml"
    wrong.write_text('<?xml version="1.0"?>\n<TriggerMarkerList coordinateSpace="RAS"/>\n')
    with pytest.raises(nav.NavigationError, match="InstrumentMarkerList") as error:
        nav.read_localite_instrument_markers(wrong)
    assert str(wrong) in str(error.value)
    unknown = tmp_path / "im.xml"
    unknown.write_text('<InstrumentMarkerList coordinateSpace="voxel"/>\n')
    with pytest.raises(nav.NavigationError, match="RAS or LPS"):
        nav.read_localite_instrument_markers(unknown)


# ---------------------------------------------------------------------------------------
# The T1w's transforms
# ---------------------------------------------------------------------------------------


def _image_with(qcode: int, scode: int, shift_mm: float = 0.0) -> nib.Nifti1Image:
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    affine[:3, 3] = [-90.0, -110.0, -70.0]
    image = nib.Nifti1Image(np.zeros((4, 4, 4), np.float32), affine)
    shifted = affine.copy()
    shifted[0, 3] += shift_mm
    image.set_qform(shifted, code=qcode)
    image.set_sform(affine, code=scode)
    return image


def test_brainsight_coordinate_system_follows_the_header():
    assert nav.brainsight_coordinate_system(_image_with(1, 1)) == "NIfTI:Scanner"
    assert nav.brainsight_coordinate_system(_image_with(1, 2)) == "NIfTI:Aligned"
    assert nav.brainsight_coordinate_system(_image_with(2, 0)) == "NIfTI:Aligned"
    assert nav.brainsight_coordinate_system(_image_with(1, 4), version=14) == "NIfTI:S:MNI-152"
    assert nav.brainsight_coordinate_system(_image_with(2, 0), version=14) == "NIfTI:Q:Aligned"
    # Same code, different transforms: Brainsight before 2.5.3 reads the qform.
    with pytest.raises(nav.NavigationError, match="Brainsight before 2.5.3"):
        nav.brainsight_coordinate_system(_image_with(1, 1, shift_mm=3.0))
    assert nav.brainsight_coordinate_system(_image_with(1, 1, 3.0), version=14) == "NIfTI:S:Scanner"
    with pytest.raises(nav.NavigationError, match="neither its sform nor its qform"):
        nav.brainsight_coordinate_system(_image_with(0, 0))


def test_check_world_transforms():
    nav.check_world_transforms(_image_with(1, 1))
    nav.check_world_transforms(_image_with(1, 2, shift_mm=0.001))
    with pytest.raises(nav.NavigationError, match="differ by up to 3.00 mm"):
        nav.check_world_transforms(_image_with(1, 2, shift_mm=3.0))
