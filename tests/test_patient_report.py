"""One patient's target report: its numbers (tmstarget.patient_report) and its page
(tmstarget.figures.report)."""

import hashlib

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

from tmstarget.figures.report import plot_patient_report
from tmstarget.patient_report import (
    NEUTRAL_LABEL,
    file_checksums,
    qc_verdict,
    report_data,
    subject_stability,
)

METRICS = {
    "mean_fd_mm": 0.12,
    "pct_fd_above": 2.0,
    "pct_censored": 0.0,
    "median_tsnr_before": 55.0,
    "n_kept": 400,
    "n_volumes": 400,
}


def parts_table() -> pd.DataFrame:
    """Full, halves 3-4-0 mm apart (5 mm), first 2 and 4 minutes 6 and 0 mm off."""
    rows = [
        ("full", 10.0, (-40.0, 40.0, 30.0)),
        ("half1", 5.0, (-40.0, 40.0, 30.0)),
        ("half2", 5.0, (-37.0, 44.0, 30.0)),
        ("first_2min", 2.0, (-40.0, 46.0, 30.0)),
        ("first_4min", 4.0, (-40.0, 40.0, 30.0)),
        ("first_20min", np.nan, (np.nan, np.nan, np.nan)),
    ]
    return pd.DataFrame(
        [{"segment": s, "minutes": m, "x_mm": p[0], "y_mm": p[1], "z_mm": p[2]} for s, m, p in rows]
    )


def targets_table() -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "method": "circuit_searchlight",
                "x_mm": -40.0,
                "y_mm": 40.0,
                "z_mm": 30.0,
                "native_x_mm": -38.0,
                "native_y_mm": 45.0,
                "native_z_mm": 35.0,
            },
            {
                "method": "beam_f3",
                "x_mm": -37.0,
                "y_mm": 44.0,
                "z_mm": 30.0,
                "native_x_mm": -35.0,
                "native_y_mm": 49.0,
                "native_z_mm": 35.0,
            },
        ]
    )


def test_stability_from_the_patients_own_parts():
    bootstrap = pd.DataFrame(
        [
            {
                "radius_mm": 3.5,
                "confidence": 0.95,
                "share_within_coil": 0.9,
                "coil_radius_mm": 12.0,
                "n_resamples": 200,
            }
        ]
    )
    stability = subject_stability(parts_table(), bootstrap)
    assert stability.split_half_mm == pytest.approx(5.0)
    assert stability.full_minutes == 10.0
    # skipped rows (NaN) are left out; distances to the full-data target
    assert stability.curve["minutes"].tolist() == [2.0, 4.0]
    assert stability.curve["distance_mm"].tolist() == pytest.approx([6.0, 0.0])
    assert stability.radius_mm == 3.5 and stability.n_resamples == 200
    with pytest.raises(ValueError, match="half2"):
        subject_stability(parts_table().iloc[:2])


def test_qc_verdict_against_the_group_thresholds():
    assert qc_verdict(METRICS, {"max_mean_fd_mm": 0.3}).passed
    flagged = qc_verdict(METRICS, {"max_mean_fd_mm": 0.1, "min_median_tsnr": 60})
    assert set(flagged.flags) == {"mean_fd", "tsnr"}


def test_blinded_report_shows_no_other_site_nor_stability():
    qc = qc_verdict(METRICS, None)
    open_report = report_data(
        "sub-01",
        targets_table(),
        "circuit_searchlight",
        qc,
        parts=parts_table(),
        method_labels={"circuit_searchlight": "Connectivity target"},
        versions={},
    )
    assert open_report.delivered.label == "Connectivity target"
    assert open_report.beam_f3_distance_mm == pytest.approx(5.0)
    assert [site.label for site in open_report.others] == ["beam_f3"]
    blind = report_data(
        "sub-01", targets_table(), "beam_f3", qc, parts=parts_table(), blind=True, versions={}
    )
    assert blind.delivered.label == NEUTRAL_LABEL
    assert blind.delivered.native_mm == (-35.0, 49.0, 35.0)
    assert blind.others == () and blind.stability is None and blind.beam_f3_distance_mm is None
    with pytest.raises(ValueError, match="no 'sgacc_classic' target"):
        report_data("sub-01", targets_table(), "sgacc_classic", qc)


def test_checksums_are_sha256_of_each_file(tmp_path):
    path = tmp_path / "a.nii.gz"
    path.write_bytes(b"x" * 10_000_000)
    assert file_checksums([path, path]) == (
        ("a.nii.gz", hashlib.sha256(b"x" * 10_000_000).hexdigest()),
    )


def _head(affine) -> nib.Nifti1Image:
    """A bright ball (the head) with a darker core, 2 mm voxels."""
    shape = (80, 96, 80)
    ijk = np.indices(shape).reshape(3, -1).T
    world = nib.affines.apply_affine(affine, ijk)
    radius = np.linalg.norm(world / [70.0, 85.0, 70.0], axis=1)
    data = np.where(radius < 1, 800.0, 0.0) + np.where(radius < 0.8, 200.0, 0.0)
    return nib.Nifti1Image(data.reshape(shape).astype(np.float32), affine)


def test_report_page_marks_the_target_where_it_is(tmp_path):
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    affine[:3, 3] = [-80, -96, -80]
    t1w = _head(affine)
    qc = qc_verdict(METRICS, None)
    data = report_data(
        "sub-01", targets_table(), "circuit_searchlight", qc, parts=parts_table(), versions={}
    )
    paths = [tmp_path / "sub-01_desc-navigation_report.pdf", tmp_path / "r.png"]
    plot_patient_report(data, t1w, t1w, paths)
    assert paths[0].read_bytes().startswith(b"%PDF")
    page = imread(paths[1])
    # one A4 portrait page at 300 dpi (trimmed to the drawing)
    assert 0.9 * 11.69 * 300 < page.shape[0] <= 11.69 * 300 + 2
    assert page.shape[0] > 1.3 * page.shape[1]
    # the vermillion target cross is drawn (RGB of #D55E00)
    vermillion = np.array([0xD5, 0x5E, 0x00]) / 255
    assert (np.abs(page[..., :3] - vermillion).max(axis=-1) < 0.05).sum() > 50
    blind = report_data("sub-01", targets_table(), "beam_f3", qc, blind=True, versions={})
    with pytest.raises(ValueError, match="blinded report"):
        plot_patient_report(blind, t1w, t1w, paths, score_img=t1w)
