"""Unit tests for tmstarget.scalp: Beam F3 equations, the template scalp, cortex <-> scalp."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest

from tmstarget import atlas, scalp

# ---------------------------------------------------------------------------------------
# Beam equations, checked by hand
# ---------------------------------------------------------------------------------------


def test_beam_f3_average_head_hand_checked():
    # NI = TT = 36, CF = 57 (cm). By hand, with sin 324 = -sin 36 = -0.5877853,
    # sin 298 = -sin 62 = -0.8829476, cos 298 = cos 62 = 0.4694716:
    #   R1 = R2 = 14.4
    #   A = sin 324 + 1/2 = -0.0877853
    #   B = 14.4 * -0.8829476 / (14.4 * 0.4694716 - 7.2) = -12.714445 / -0.439609 = 28.92217
    #   x = 14.4 * (1 - 28.92217) / (2 * (-0.0877853 - 28.92217)) = 6.930021
    #   y = -0.0877853 * 6.930021 - 7.2 = -7.808355
    #   theta = atan(-1.126743) = -48.4105 deg (tan 48 deg = 1.110613, then Newton)
    #   X = (57 / 4) * 41.5895 / 90 = 6.58500 cm
    #   Y = 0.91 * sqrt(48.02519 + 60.97042) = 0.91 * 10.44010 = 9.50049 cm
    distances = scalp.beam_f3(36.0, 36.0, 57.0)
    assert distances.theta_deg == pytest.approx(-48.4105, abs=1e-3)
    assert distances.fpz_to_a_cm == pytest.approx(6.58500, abs=1e-4)
    assert distances.cz_to_f3_cm == pytest.approx(9.50049, abs=1e-4)


def test_beam_f3_unequal_head_hand_checked():
    # NI = 34, TT = 38, CF = 56 (cm): R1 = 13.6, R2 = 15.2
    #   A = (15.2 * -0.5877853 + 6.8) / 15.2 = -2.134336 / 15.2 = -0.1404168
    #   B = 13.6 * -0.8829476 / (13.6 * 0.4694716 - 7.6) = -12.008087 / -1.215186 = 9.881684
    #   x = (13.6 - 15.2 * 9.881684) / (2 * (-0.1404168 - 9.881684)) = 6.815018
    #   y = -0.1404168 * 6.815018 - 6.8 = -7.756943
    #   theta = atan(-1.138213) = -48.6984 deg
    #   X = 14 * 41.3016 / 90 = 6.42469 cm;  Y = 0.91 * sqrt(106.61464) = 9.39615 cm
    # (also confirmed with 30-digit mpmath arithmetic).
    distances = scalp.beam_f3(34.0, 38.0, 56.0)
    assert distances.theta_deg == pytest.approx(-48.6984, abs=1e-3)
    assert distances.fpz_to_a_cm == pytest.approx(6.42469, abs=1e-4)
    assert distances.cz_to_f3_cm == pytest.approx(9.39615, abs=1e-4)


def test_beam_f3_vectorised_and_theta_negative_for_normal_heads():
    nasion_inion, tragus_tragus = np.meshgrid(np.linspace(30, 42, 7), np.linspace(30, 42, 7))
    circumference = np.full(nasion_inion.shape, 57.0)
    distances = scalp.beam_f3(nasion_inion, tragus_tragus, circumference)
    assert distances.theta_deg.shape == (7, 7)
    assert np.all(distances.theta_deg < 0)
    assert np.all((distances.fpz_to_a_cm > 0) & (distances.fpz_to_a_cm < 57.0 / 4))
    one = scalp.beam_f3(nasion_inion[2, 3], tragus_tragus[2, 3], 57.0)
    assert distances.cz_to_f3_cm[2, 3] == pytest.approx(one.cz_to_f3_cm)
    assert isinstance(one.theta_deg, float)


def test_beam_f3_scaling_laws():
    # R1 and R2 scale together, so theta depends on NI/TT only, Y scales with head size and
    # X with circumference.
    base = scalp.beam_f3(35.0, 37.0, 56.0)
    bigger = scalp.beam_f3(35.0 * 1.1, 37.0 * 1.1, 56.0 * 1.2)
    assert bigger.theta_deg == pytest.approx(base.theta_deg)
    assert bigger.cz_to_f3_cm == pytest.approx(1.1 * base.cz_to_f3_cm)
    assert bigger.fpz_to_a_cm == pytest.approx(1.2 * base.fpz_to_a_cm)
    # Longer nasion-inion relative to tragus-tragus: theta rises towards zero.
    thetas = scalp.beam_f3(np.linspace(30, 44, 8), 36.0, 57.0).theta_deg
    assert np.all(np.diff(thetas) > 0)


@pytest.mark.parametrize(
    ("measurements", "name"),
    [
        ((-36.0, 36.0, 57.0), "nasion_inion_cm"),
        ((np.nan, 36.0, 57.0), "nasion_inion_cm"),
        ((24.0, 36.0, 57.0), "nasion_inion_cm"),
        ((46.0, 36.0, 57.0), "nasion_inion_cm"),
        ((360.0, 36.0, 57.0), "nasion_inion_cm"),  # millimetres by mistake
        ((36.0, np.inf, 57.0), "tragus_tragus_cm"),
        ((36.0, 20.0, 57.0), "tragus_tragus_cm"),
        ((36.0, 36.0, 80.0), "circumference_cm"),
        ((36.0, 36.0, -57.0), "circumference_cm"),
        (([36.0, 37.0], [36.0, 36.0], [57.0, np.nan]), "circumference_cm"),
    ],
)
def test_beam_f3_rejects_implausible_measurements(measurements, name):
    with pytest.raises(ValueError, match=name):
        scalp.beam_f3(*measurements)


# ---------------------------------------------------------------------------------------
# Space conversion
# ---------------------------------------------------------------------------------------


def test_mni152_to_mni305_matches_freesurfer_worked_example():
    # FreeSurfer wiki (CoordinateSystems, 8b): (10, -20, 35) in MNI152 is
    # (9.3131, -21.5849, 33.8345) in MNI305; the printed 4-decimal matrix reproduces it to
    # about 2e-3 mm.
    point_152 = np.array([10.0, -20.0, 35.0])
    point_305 = scalp.MNI152_TO_MNI305[:3, :3] @ point_152 + scalp.MNI152_TO_MNI305[:3, 3]
    np.testing.assert_allclose(point_305, [9.3131, -21.5849, 33.8345], atol=3e-3)
    np.testing.assert_allclose(scalp.mni305_to_mni152(point_305), point_152, atol=1e-9)


# ---------------------------------------------------------------------------------------
# Geometry helpers on a cube (known answers)
# ---------------------------------------------------------------------------------------


def _cube_mesh(half_side_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """A closed, outward-wound cube of side 2 * half_side_mm centred on the origin."""
    corners = half_side_mm * np.array(
        [[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], dtype=float
    )
    quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    faces = [tri for a, b, c, d in quads for tri in ((a, b, c), (a, c, d))]
    return corners, np.array(faces)


def test_plane_section_of_cube_has_the_perimeter():
    vertices, faces = _cube_mesh(10.0)
    loops = scalp._plane_sections(vertices, faces, np.zeros(3), np.array([0.0, 0.0, 1.0]))
    assert len(loops) == 1
    closed = np.vstack([loops[0], loops[0][:1]])
    assert scalp._cumulative_length(closed)[-1] == pytest.approx(80.0)
    np.testing.assert_allclose(loops[0][:, 2], 0.0, atol=1e-9)


def test_coil_position_on_cube_is_the_nearest_surface_point():
    vertices, faces = _cube_mesh(10.0)
    cube = dataclasses.replace(scalp.load_template_scalp(), vertices_mm=vertices, faces=faces)
    targets = np.array([[30.0, 0.0, 0.0], [30.0, 30.0, 0.0], [5.0, 2.0, 3.0], [-4.0, 1.0, -9.0]])
    expected = np.array([[10.0, 0.0, 0.0], [10.0, 10.0, 0.0], [10.0, 2.0, 3.0], [-4, 1, -10]])
    np.testing.assert_allclose(scalp.coil_position(targets, cube), expected, atol=1e-9)
    np.testing.assert_allclose(scalp.coil_position(targets[0], cube), expected[0], atol=1e-9)


def test_project_to_cortex_on_a_box_mask():
    import nibabel as nib

    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    affine[:3, 3] = [-10.0, -10.0, -10.0]
    data = np.zeros((11, 11, 11), dtype=np.uint8)
    data[3:8, 3:8, 3:8] = 1  # voxel centres -4 .. 4 mm on each axis
    mask = nib.Nifti1Image(data, affine)
    points = np.array([[20.0, 0.0, 0.0], [20.0, 20.0, -20.0], [0.0, 0.0, 0.0]])
    expected = np.array([[4.0, 0.0, 0.0], [4.0, 4.0, -4.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(scalp.project_to_cortex(points, mask), expected)
    with pytest.raises(ValueError, match="empty"):
        scalp.project_to_cortex(points, nib.Nifti1Image(np.zeros_like(data), affine))


# ---------------------------------------------------------------------------------------
# Template scalp
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def template() -> scalp.TemplateScalp:
    return scalp.load_template_scalp()


@pytest.fixture(scope="module")
def brain_mask():
    return atlas.template_tissue(2.0)["brain"]


@pytest.fixture(scope="module")
def template_f3(template) -> tuple[np.ndarray, np.ndarray]:
    """Point A and Beam F3 of a head whose measurements are the template's own."""
    return scalp.beam_f3_on_template(
        template.nasion_inion_cm, template.tragus_tragus_cm, template.circumference_cm
    )


def _reference_f3(montage: str) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return scalp.standard_electrode_mm("F3", montage)


def test_template_measurements_and_landmarks(template):
    # fsaverage is an MNI-sized (large) head: NI 39.5, TT 37.3, CF 60.1 cm.
    assert template.nasion_inion_cm == pytest.approx(39.5, abs=0.3)
    assert template.tragus_tragus_cm == pytest.approx(37.3, abs=0.3)
    assert template.circumference_cm == pytest.approx(60.1, abs=0.3)
    marks = template.landmarks_mm
    on_mesh = scalp.coil_position(np.array(list(marks.values())), template)
    np.testing.assert_allclose(on_mesh, np.array(list(marks.values())), atol=1e-6)
    ni_path = template.nasion_inion_path_mm
    ni_mm = 10.0 * template.nasion_inion_cm
    assert scalp._arc_position(ni_path, marks["cz"]) == pytest.approx(0.5 * ni_mm, abs=0.1)
    assert scalp._arc_position(ni_path, marks["fpz"]) == pytest.approx(0.1 * ni_mm, abs=0.1)
    assert scalp._arc_position(ni_path, marks["oz"]) == pytest.approx(0.9 * ni_mm, abs=0.1)
    # 10-20 consistency: Cz is also (nearly) the midpoint of the tragus-tragus arc.
    tt_path = template.tragus_tragus_path_mm
    tt_mm = 10.0 * template.tragus_tragus_cm
    assert scalp._arc_position(tt_path, marks["cz"]) == pytest.approx(0.5 * tt_mm, abs=3.0)
    assert marks["cz"][2] > np.percentile(template.vertices_mm[:, 2], 99)
    assert marks["t7"][0] < -70 and marks["t8"][0] > 70 and marks["lpa"][0] < 0
    assert marks["fpz"][1] > 80 and marks["oz"][1] < -110
    # The circumference walk starts at Fpz and heads to the left.
    path = template.circumference_path_mm
    assert np.linalg.norm(path[0] - marks["fpz"]) < 1.0
    assert path[5, 0] < path[0, 0]


def test_template_average_f3_lands_on_the_standard_electrode(template, template_f3):
    _, f3 = template_f3
    # Same head: FieldTrip's 10-20 F3 on fsaverage (measured 2.7 mm).
    assert np.linalg.norm(f3 - _reference_f3("fsaverage_1020")) < 5.0
    # MNE's standard_1020 (= colin27_1020) F3 sits on another head whose inion is placed
    # ~20 mm higher; the two caps' F3 differ by 9.3 mm. Measured 10.1 mm ("about 1 cm").
    assert np.linalg.norm(f3 - _reference_f3("colin27_1020")) < 12.0
    # Left, anterior, superior.
    assert f3[0] < -30
    assert f3[1] > template.landmarks_mm["cz"][1] + 40
    assert f3[2] > template.landmarks_mm["fpz"][2] + 30
    # F3 is on the scalp.
    np.testing.assert_allclose(scalp.coil_position(f3, template), f3, atol=1e-6)


def test_point_a_moves_back_with_relatively_longer_nasion_inion(template):
    # Larger NI (TT, CF fixed) raises theta, so X grows: A moves from Fpz towards T7, i.e.
    # posteriorly and laterally. Larger TT does the opposite.
    levels = np.linspace(31.0, 43.0, 5)
    points_a, _ = scalp.beam_f3_on_template(levels, 37.0, 58.0, template)
    assert np.all(np.diff(points_a[:, 1]) < 0)
    assert np.all(np.diff(points_a[:, 0]) < 0)
    points_a, _ = scalp.beam_f3_on_template(39.0, levels, 58.0, template)
    assert np.all(np.diff(points_a[:, 1]) > 0)


def test_placement_is_scale_free(template):
    # Walks are scaled by template/subject ratios, so only proportions matter: a head that is
    # the template scaled by 0.85, or a different circumference alone, gives the same F3.
    f3 = scalp.place_beam_f3(
        template.nasion_inion_cm, template.tragus_tragus_cm, template.circumference_cm
    )
    smaller = scalp.place_beam_f3(
        0.85 * template.nasion_inion_cm,
        0.85 * template.tragus_tragus_cm,
        0.85 * template.circumference_cm,
    )
    other_circumference = scalp.place_beam_f3(
        template.nasion_inion_cm, template.tragus_tragus_cm, 52.0
    )
    np.testing.assert_allclose(smaller, f3, atol=1e-6)
    np.testing.assert_allclose(other_circumference, f3, atol=1e-6)


def test_projection_to_cortex_near_group_f3(template_f3, brain_mask):
    _, f3 = template_f3
    cortex = scalp.project_to_cortex(f3, brain_mask)
    ijk = np.round(np.linalg.solve(brain_mask.affine, np.append(cortex, 1.0))[:3]).astype(int)
    assert np.asarray(brain_mask.dataobj)[tuple(ijk)] > 0
    # Measured 14.2 mm from the published group F3 brain coordinate (-37, 26, 49).
    assert np.linalg.norm(cortex - np.array(atlas.GROUP_F3_BRAIN_MM)) < 15.0
    # A scalp-to-cortex depth of 10-25 mm over the DLPFC.
    assert 10.0 < np.linalg.norm(cortex - f3) < 25.0


def test_coil_position_is_outside_the_brain_on_the_scalp(template, brain_mask):
    targets = np.array([atlas.GROUP_F3_BRAIN_MM, atlas.FOX_TARGET_MM, (-44.0, 40.0, 29.0)])
    coils = scalp.coil_position(targets, template)
    assert coils.shape == (3, 3)
    # On the mesh: the closest mesh point of a mesh point is itself, and it is no farther
    # than the nearest vertex.
    np.testing.assert_allclose(scalp.coil_position(coils, template), coils, atol=1e-6)
    for target, coil in zip(targets, coils, strict=True):
        nearest_vertex = np.min(np.linalg.norm(template.vertices_mm - target, axis=1))
        assert np.linalg.norm(coil - target) <= nearest_vertex + 1e-9
        # Outward: away from the head centre, beyond the target.
        outward = target - template.head_centre_mm
        assert (coil - target) @ outward > 0
        ijk = np.round(np.linalg.solve(brain_mask.affine, np.append(coil, 1.0))[:3]).astype(int)
        in_grid = np.all((ijk >= 0) & (ijk < np.array(brain_mask.shape)))
        assert not in_grid or np.asarray(brain_mask.dataobj)[tuple(ijk)] == 0


def test_scalp_cortex_scalp_round_trip(template, template_f3, brain_mask):
    _, f3 = template_f3
    back = scalp.coil_position(scalp.project_to_cortex(f3, brain_mask), template)
    assert np.linalg.norm(back - f3) < 4.0  # measured 2.2 mm


def test_compare_arms_distances(template, template_f3, brain_mask):
    _, f3 = template_f3
    beam_cortex = scalp.project_to_cortex(f3, brain_mask)
    targets = np.vstack([beam_cortex, beam_cortex + [0.0, 10.0, 0.0]])
    result = scalp.compare_arms(targets, np.vstack([f3, f3]), brain_mask, template)
    np.testing.assert_allclose(result.beam_cortex_mm, [beam_cortex, beam_cortex])
    assert result.cortex_distance_mm == pytest.approx([0.0, 10.0])
    assert result.scalp_distance_mm[0] < 4.0  # the round trip above
    assert result.scalp_distance_mm[1] > result.scalp_distance_mm[0]
    assert scalp.paired_distance_mm([0, 0, 0], [3, 4, 0]) == pytest.approx(5.0)
