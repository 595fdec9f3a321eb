"""Native T1w coordinates through fMRIPrep's ITK transforms, and the neuronavigation export.

Known answers are computed by hand in ITK's own terms (LPS, last-stored transform applied
first) and compared with what :func:`tmstarget.native.mni_to_native` returns in RAS.
nitransforms cannot write ITK composite HDF5 files, so :func:`write_itk_composite` lays one
out as antsRegistration does; single affines are written by nitransforms itself.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from tmstarget import native

LPS = np.array([-1.0, -1.0, 1.0])
# 90 degrees about z, in LPS: (x, y, z) -> (-y, x, z).
ROTATION_Z90 = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])


def write_itk_composite(
    path: Path,
    affine_lps: np.ndarray | None = None,
    center_lps=(0.0, 0.0, 0.0),
    field_lps: np.ndarray | None = None,
    field_origin_lps=(0.0, 0.0, 0.0),
    field_spacing=(1.0, 1.0, 1.0),
) -> Path:
    """An ITK composite transform file as antsRegistration writes it: group 0 the
    composite, then the affine (12 parameters: row-major matrix, translation; fixed
    parameters: centre), then the displacement field (parameters: vectors interleaved,
    x fastest; fixed: size, origin, spacing, direction). All in LPS."""
    with h5py.File(path, "w") as h5:
        group = h5.create_group("TransformGroup")
        group.create_group("0")["TransformType"] = np.array([b"CompositeTransform_double_3_3"])
        index = 1
        if affine_lps is not None:
            node = group.create_group(str(index))
            index += 1
            node["TransformType"] = np.array([b"AffineTransform_double_3_3"])
            node["TransformParameters"] = np.concatenate(
                [affine_lps[:3, :3].ravel(), affine_lps[:3, 3]]
            )
            node["TransformFixedParameters"] = np.asarray(center_lps, dtype=float)
        if field_lps is not None:
            node = group.create_group(str(index))
            node["TransformType"] = np.array([b"DisplacementFieldTransform_float_3_3"])
            node["TransformFixedParameters"] = np.concatenate(
                [field_lps.shape[:3], field_origin_lps, field_spacing, np.eye(3).ravel()]
            ).astype(float)
            node["TransformParameters"] = np.moveaxis(field_lps, -1, 0).reshape(-1, order="F")
    return path


def lps_matrix(rotation: np.ndarray, translation) -> np.ndarray:
    matrix = np.eye(4)
    matrix[:3, :3] = rotation
    matrix[:3, 3] = translation
    return matrix


# A displacement field on a 2 mm LPS grid covering -40..40 mm: a constant shift plus a z
# displacement growing with x, so that it does not commute with the rotation.
FIELD_SHAPE = (41, 41, 41)
FIELD_ORIGIN_LPS = np.array([-40.0, -40.0, -40.0])
FIELD_SPACING = np.array([2.0, 2.0, 2.0])


def field_displacement_lps(points_lps: np.ndarray) -> np.ndarray:
    points_lps = np.atleast_2d(points_lps)
    shift = np.tile([3.0, -2.0, 1.0], (len(points_lps), 1))
    shift[:, 2] += 0.1 * points_lps[:, 0]
    return shift


def sample_field() -> np.ndarray:
    index = np.stack(np.meshgrid(*map(np.arange, FIELD_SHAPE), indexing="ij"), axis=-1)
    positions = FIELD_ORIGIN_LPS + index * FIELD_SPACING
    return field_displacement_lps(positions.reshape(-1, 3)).reshape(*FIELD_SHAPE, 3)


COMPOSITE_AFFINE_LPS = lps_matrix(ROTATION_Z90, (10.0, 0.0, 0.0))
COMPOSITE_CENTER_LPS = np.array([1.0, 2.0, 3.0])


def composite_by_hand(points_ras: np.ndarray) -> np.ndarray:
    """ITK's composite: field first (it is stored last), then the affine, in LPS."""
    points = np.atleast_2d(points_ras) * LPS
    points = points + field_displacement_lps(points)
    points = (
        (points - COMPOSITE_CENTER_LPS) @ COMPOSITE_AFFINE_LPS[:3, :3].T
        + COMPOSITE_CENTER_LPS
        + COMPOSITE_AFFINE_LPS[:3, 3]
    )
    return points * LPS


@pytest.fixture
def composite_h5(tmp_path) -> Path:
    return write_itk_composite(
        tmp_path / "sub-01_from-T1w_to-MNI152NLin6Asym_mode-image_xfm.h5",
        affine_lps=COMPOSITE_AFFINE_LPS,
        center_lps=COMPOSITE_CENTER_LPS,
        field_lps=sample_field(),
        field_origin_lps=FIELD_ORIGIN_LPS,
        field_spacing=FIELD_SPACING,
    )


# ----------------------------------------------------------------------------- mni_to_native


def test_affine_translation_is_read_in_lps(tmp_path):
    # +10 mm along ITK's x is 10 mm to the LEFT: RAS x decreases by 10.
    path = write_itk_composite(tmp_path / "a.h5", lps_matrix(np.eye(3), (10.0, 0.0, 0.0)))
    mapped = native.mni_to_native([1.0, 2.0, 3.0], path)
    assert mapped.shape == (1, 3)
    np.testing.assert_allclose(mapped, [[-9.0, 2.0, 3.0]], atol=1e-9)


def test_affine_rotation_about_its_centre(tmp_path):
    path = write_itk_composite(
        tmp_path / "a.h5", lps_matrix(ROTATION_Z90, (10.0, 0.0, 0.0)), center_lps=(5, 5, 5)
    )
    # By hand: RAS (1, 2, 3) is LPS (-1, -2, 3); minus the centre (-6, -7, -2); rotated
    # (7, -6, -2); plus centre and translation (22, -1, 3) LPS, which is RAS (-22, 1, 3).
    np.testing.assert_allclose(
        native.mni_to_native([[1.0, 2.0, 3.0]], path), [[-22.0, 1.0, 3.0]], atol=1e-9
    )


def test_itk_affine_written_by_nitransforms(tmp_path):
    from nitransforms.io.itk import ITKLinearTransform
    from nitransforms.linear import Affine

    angle = np.deg2rad(30.0)
    ras = np.eye(4)
    ras[:2, :2] = [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
    ras[:3, 3] = (10.0, -4.0, 2.5)
    path = tmp_path / "affine.tfm"
    Affine(ras).to_filename(path, fmt="itk")
    # On disk the translation is LPS: x and y negated.
    on_disk = ITKLinearTransform.from_filename(path).structarr["parameters"]
    np.testing.assert_allclose(on_disk[:3, 3], [-10.0, 4.0, 2.5], atol=1e-5)

    points = np.array([[-40.0, 30.0, 25.0], [0.0, 0.0, 0.0], [12.0, -50.0, 60.0]])
    expected = points @ ras[:3, :3].T + ras[:3, 3]
    np.testing.assert_allclose(native.mni_to_native(points, path), expected, atol=1e-4)


def test_affine_plus_displacement_field(composite_h5):
    # Off-grid and on-grid points; the cubic spline reproduces the linear field exactly
    # in the interior, up to the library's float32 indices.
    points = np.array([[1.3, 2.7, -3.1], [4.0, -6.0, 8.0], [-20.5, 11.25, 17.0]])
    mapped = native.mni_to_native(points, composite_h5)
    np.testing.assert_allclose(mapped, composite_by_hand(points), atol=1e-3)
    # The order matters here: the affine first would put the points elsewhere.
    wrong_order = points * LPS
    wrong_order = (
        (wrong_order - COMPOSITE_CENTER_LPS) @ ROTATION_Z90.T
        + COMPOSITE_CENTER_LPS
        + COMPOSITE_AFFINE_LPS[:3, 3]
    )
    wrong_order = (wrong_order + field_displacement_lps(wrong_order)) * LPS
    assert np.all(np.linalg.norm(mapped - wrong_order, axis=1) > 1.0)


def test_point_direction_matches_image_resampling(composite_h5):
    """The same file that resamples a T1w image into the template (fMRIPrep's use of
    from-T1w_to-<template>) maps the template location of a feature back to its T1w
    location: that is the point direction mni_to_native claims."""
    from nitransforms import manip
    from nitransforms.resampling import apply

    grid = np.diag([2.0, 2.0, 2.0, 1.0])
    grid[:3, 3] = -30.0
    index = np.stack(np.meshgrid(*[np.arange(31)] * 3, indexing="ij"), axis=-1)
    world = index * 2.0 - 30.0
    t1w_blob_mm = np.array([-12.0, 5.0, 4.0])
    blob = np.exp(-((world - t1w_blob_mm) ** 2).sum(-1) / (2 * 3.0**2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        resampled = apply(
            manip.load(composite_h5, fmt="itk"),
            nib.Nifti1Image(blob, grid),
            reference=nib.Nifti1Image(np.zeros(blob.shape), grid),
            order=1,
        )
    values = np.asanyarray(resampled.dataobj)
    weights = np.where(values > 0.2 * values.max(), values, 0.0)
    template_blob_mm = (weights[..., None] * world).sum((0, 1, 2)) / weights.sum()
    assert np.linalg.norm(template_blob_mm - t1w_blob_mm) > 10.0  # the transform moved it

    back = native.mni_to_native(template_blob_mm, composite_h5)
    np.testing.assert_allclose(back[0], t1w_blob_mm, atol=0.1)


def test_point_outside_the_field_is_an_error(composite_h5):
    with pytest.raises(ValueError, match="outside the displacement field") as error:
        native.mni_to_native([[0.0, 0.0, 0.0], [0.0, 0.0, 60.0], [1.0, 1.0, 1.0]], composite_h5)
    assert composite_h5.name in str(error.value)
    assert "[[0.0, 0.0, 60.0]]" in str(error.value)


def test_unreadable_files_name_the_file(tmp_path):
    garbage = tmp_path / "sub-01_from-T1w_to-MNI152NLin6Asym_mode-image_xfm.h5"
    garbage.write_bytes(b"not an HDF5 file")
    no_group = tmp_path / "empty.h5"
    with h5py.File(no_group, "w") as h5:
        h5["something"] = np.zeros(3)
    unknown_type = tmp_path / "bspline.h5"
    with h5py.File(unknown_type, "w") as h5:
        group = h5.create_group("TransformGroup")
        group.create_group("0")["TransformType"] = np.array([b"CompositeTransform_double_3_3"])
        node = group.create_group("1")
        node["TransformType"] = np.array([b"BSplineTransform_double_3_3"])
        node["TransformParameters"] = np.zeros(3)
        node["TransformFixedParameters"] = np.zeros(3)
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    for path in (garbage, no_group, unknown_type, text):
        with pytest.raises(ValueError, match="cannot read ITK transform") as error:
            native.mni_to_native([0.0, 0.0, 0.0], path)
        assert str(path) in str(error.value)


def test_missing_file_and_bad_points(tmp_path):
    with pytest.raises(FileNotFoundError, match="no_such.h5"):
        native.mni_to_native([0.0, 0.0, 0.0], tmp_path / "no_such.h5")
    path = write_itk_composite(tmp_path / "a.h5", np.eye(4))
    with pytest.raises(ValueError, match="shape"):
        native.mni_to_native([[0.0, 0.0]], path)
    with pytest.raises(ValueError, match="finite"):
        native.mni_to_native([np.nan, 0.0, 0.0], path)


# -------------------------------------------------------------------- neuronavigation table


def targets_frame() -> pd.DataFrame:
    rows = []
    for participant, arm, shift in (
        ("sub-02", "scalp", 0.0),
        ("sub-01", "connectivity", 1.0),
        ("sub-03", "connectivity", 2.0),
    ):
        for method, base in (("circuit_searchlight", -40.0), ("sgacc_classic", -38.0)):
            rows.append((participant, arm, method, base + shift, 40.0, 30.0, -55.0, 50.0, 40.0))
        rows.append((participant, arm, "beam_f3", -37.0 + shift, 26.0, 49.0, -50.0, 53.0, 42.0))
    frame = pd.DataFrame(
        rows,
        columns=[
            "participant_id",
            "arm",
            "method",
            "x_mm",
            "y_mm",
            "z_mm",
            "scalp_x_mm",
            "scalp_y_mm",
            "scalp_z_mm",
        ],
    )
    has_native = frame["participant_id"] != "sub-03"
    for axis, offset in zip("xyz", (1.5, -2.0, 3.25), strict=True):
        frame[f"native_{axis}_mm"] = np.where(has_native, frame[f"{axis}_mm"] + offset, np.nan)
    return frame


def test_navigation_table_picks_each_arms_site():
    table = native.neuronavigation_table(targets_frame())
    assert list(table.columns) == list(native.NAVIGATION_COLUMNS)
    assert table["participant_id"].tolist() == ["sub-01", "sub-02", "sub-03"]
    assert table["participant_id"].is_unique
    by_id = table.set_index("participant_id")
    assert by_id.loc["sub-01", "target_label"] == "circuit_searchlight"
    assert by_id.loc["sub-01", "mni_x_mm"] == -39.0
    assert by_id.loc["sub-02", "target_label"] == "beam_f3"
    assert by_id.loc["sub-02", ["mni_x_mm", "mni_y_mm", "mni_z_mm"]].tolist() == [-37.0, 26.0, 49.0]
    assert by_id.loc["sub-02", "scalp_mni_y_mm"] == 53.0
    assert by_id.loc["sub-02", "native_t1w_x_mm"] == -35.5
    assert by_id.loc["sub-03", ["native_t1w_x_mm", "native_t1w_y_mm"]].isna().all()
    assert by_id["scalp_native_t1w_x_mm"].isna().all()  # not in the input
    assert set(by_id["coordinate_convention"]) == {"RAS"}
    assert set(by_id["template_space"]) == {"MNI152NLin6Asym"}


def test_navigation_table_connectivity_method_and_arm_labels():
    frame = targets_frame()
    frame["arm"] = frame["arm"].map({"connectivity": "A", "scalp": "B"})
    table = native.neuronavigation_table(
        frame, connectivity_method="sgacc_classic", connectivity_arm="A", scalp_arm="B"
    ).set_index("participant_id")
    assert table.loc["sub-01", "target_label"] == "sgacc_classic"
    assert table.loc["sub-01", "mni_x_mm"] == -37.0
    assert table.loc["sub-02", "target_label"] == "beam_f3"


def test_navigation_table_errors():
    frame = targets_frame()
    with pytest.raises(ValueError, match="lacks columns.*native_x_mm"):
        native.neuronavigation_table(frame.drop(columns="native_x_mm"))
    without = frame[~((frame["participant_id"] == "sub-02") & (frame["method"] == "beam_f3"))]
    with pytest.raises(ValueError, match="sub-02.*exactly one 'beam_f3'"):
        native.neuronavigation_table(without)
    doubled = pd.concat([frame, frame.iloc[[3]]])  # sub-01's circuit_searchlight twice
    with pytest.raises(ValueError, match="sub-01.*exactly one.*found 2"):
        native.neuronavigation_table(doubled)
    mixed = frame.copy()
    mixed.loc[0, "arm"] = "connectivity"
    with pytest.raises(ValueError, match="several arms"):
        native.neuronavigation_table(mixed)
    unknown = frame.replace({"arm": {"scalp": "sham"}})
    with pytest.raises(ValueError, match="arm 'sham'"):
        native.neuronavigation_table(unknown)


def test_navigation_csv_is_plain_and_deterministic(tmp_path):
    frame = targets_frame()
    frame.loc[frame["participant_id"] == "sub-01", "native_z_mm"] = -1e-9  # rounds to 0
    table = native.neuronavigation_table(frame)
    first = native.write_neuronavigation_csv(table, tmp_path / "a" / "navigation.csv")
    second = native.write_neuronavigation_csv(
        native.neuronavigation_table(frame.iloc[::-1]), tmp_path / "b.csv"
    )
    assert first.read_bytes() == second.read_bytes()
    lines = first.read_text(encoding="utf-8").split("\n")
    assert lines[0] == ",".join(native.NAVIGATION_COLUMNS)
    assert lines[-1] == "" and len(lines) == 5  # header, 3 participants, final newline
    assert lines[1] == (
        "sub-01,connectivity,circuit_searchlight,RAS,MNI152NLin6Asym,"
        "-39.000,40.000,30.000,-37.500,38.000,0.000,-55.000,50.000,40.000,,,"
    )
    assert lines[3].startswith("sub-03,connectivity,circuit_searchlight,RAS,MNI152NLin6Asym,")
    assert ",-38.000,40.000,30.000,,,,-55.000" in lines[3]
    reread = pd.read_csv(first)
    assert reread.shape == (3, len(native.NAVIGATION_COLUMNS))
