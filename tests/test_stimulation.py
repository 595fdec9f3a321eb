"""The subject-level targets step: every method, Beam F3, connectivity at any site, and
the group tables (distances between arms, planted-target recovery)."""

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from tmstarget import atlas, simulate, targeting
from tmstarget.stimulation import (
    BEAM_F3,
    SubjectMaps,
    TargetingSettings,
    arm_distances,
    recovery,
    subject_targets,
)


@pytest.fixture(scope="module")
def subject_maps() -> tuple[SubjectMaps, np.ndarray]:
    """A 6 mm noise-free demo subject: BOLD only, so the planted circuit dominates."""
    template = simulate.load_template(6.0)
    spec = simulate.ImagingSpec(
        voxel_size_mm=6.0, n_volumes=80, artefact_percent=0.0, s0_noise_percent=0.0
    )
    rng = np.random.default_rng(4)
    target = simulate.draw_targets(template, 1, 0.0, rng)[0]
    model = simulate.subject_model(spec, template, target, rng)
    run = simulate.simulate_run(spec, model, rng)
    data = run.echoes[-1].reshape(-1, spec.n_volumes)[template.brain.ravel()].T
    data = data[spec.n_non_steady_state :]
    timeseries = ((data - data.mean(0)) / data.std(0)).astype(np.float32)
    brain = nib.Nifti1Image(template.brain.astype(np.uint8), template.affine)
    region = atlas.dlpfc_search_region(6.0)
    circuit = np.zeros(template.shape, dtype=np.float32)
    circuit[template.sgacc > 0.5] = -1.0  # the core of the planted sgACC field
    circuit[tuple(target)] = 1.0  # the planted patch is the circuit's positive node
    maps = SubjectMaps(
        timeseries=timeseries,
        brain_mask=brain,
        circuit_map=nib.Nifti1Image(circuit, template.affine),
        search_mask=region,
        seed_mask=atlas.sgacc_seed(6.0),
    )
    return maps, atlas.voxel_centres_mm(template.affine, target[None])[0]


def test_every_method_and_beam_f3(subject_maps):
    maps, planted_mm = subject_maps
    result = subject_targets("sub-01", maps, TargetingSettings(), head_cm=(36.0, 35.0, 56.0))
    table = result.table.set_index("method")
    assert list(table.index) == [
        "circuit_searchlight",
        "sgacc_classic",
        "sgacc_cluster",
        BEAM_F3,
    ]
    found = table.loc["circuit_searchlight", ["x_mm", "y_mm", "z_mm"]].to_numpy(float)
    assert np.linalg.norm(found - planted_mm) <= 6.0 + 1e-6  # within one voxel
    # The searchlight's own score is the circuit connectivity at its target.
    assert table.loc["circuit_searchlight", "score"] == pytest.approx(
        table.loc["circuit_searchlight", "circuit_connectivity"], abs=1e-5
    )
    # Seed-map targets anticorrelate with the sgACC; Beam F3 has no score of its own.
    assert table.loc["sgacc_classic", "score"] < 0
    assert np.isnan(table.loc[BEAM_F3, "score"])
    beam = table.loc[BEAM_F3]
    assert beam["x_mm"] < 0 and beam["y_mm"] > 0 and beam["z_mm"] > 0  # left, front, up
    scalp_radius = np.linalg.norm(beam[["scalp_x_mm", "scalp_y_mm", "scalp_z_mm"]].to_numpy(float))
    assert scalp_radius > np.linalg.norm(beam[["x_mm", "y_mm", "z_mm"]].to_numpy(float))
    assert table[["native_x_mm"]].isna().all(axis=None)  # no transform given
    assert set(result.score_maps) == {"circuit_searchlight", "sgacc_classic", "sgacc_cluster"}


def test_connectivity_at_candidates_equals_searchlight_scores(subject_maps):
    maps, _ = subject_maps
    result = targeting.circuit_searchlight(
        maps.timeseries, maps.brain_mask, maps.circuit_map, maps.search_mask
    )
    sites = result.candidate_ijk[:25]
    at = targeting.circuit_connectivity_at(
        maps.timeseries, maps.brain_mask, maps.circuit_map, sites
    )
    np.testing.assert_allclose(at, result.scores[:25], rtol=1e-5)
    outside = targeting.circuit_connectivity_at(
        maps.timeseries, maps.brain_mask, maps.circuit_map, np.array([[0, 0, 0]])
    )
    assert np.isnan(outside).all()


def _site(pid, method, xyz, scalp_xyz, connectivity):
    return {
        "participant_id": pid,
        "method": method,
        "x_mm": xyz[0],
        "y_mm": xyz[1],
        "z_mm": xyz[2],
        "scalp_x_mm": scalp_xyz[0],
        "scalp_y_mm": scalp_xyz[1],
        "scalp_z_mm": scalp_xyz[2],
        "circuit_connectivity": connectivity,
    }


def test_arm_distances_known_answers():
    targets = pd.DataFrame(
        [
            _site("sub-01", "circuit_searchlight", (0, 0, 0), (0, 0, 10), 0.5),
            _site("sub-01", BEAM_F3, (3, 4, 0), (0, 0, 20), 0.1),
            _site("sub-02", "circuit_searchlight", (0, 0, 0), (0, 0, 0), 0.4),
            _site("sub-02", BEAM_F3, (0, 0, 12), (5, 12, 0), 0.2),
        ]
    )
    participants = pd.DataFrame(
        {"participant_id": ["sub-01", "sub-02"], "arm": ["connectivity", "scalp"]}
    )
    table = arm_distances(targets, participants, "circuit_searchlight").set_index("participant_id")
    assert table.loc["sub-01", "cortex_distance_mm"] == pytest.approx(5.0)
    assert table.loc["sub-01", "scalp_distance_mm"] == pytest.approx(10.0)
    assert table.loc["sub-02", "scalp_distance_mm"] == pytest.approx(13.0)
    # Each arm's stimulated site: the connectivity target, or Beam F3.
    assert table.loc["sub-01", "stimulated_connectivity"] == 0.5
    assert table.loc["sub-02", "stimulated_connectivity"] == 0.2


def test_recovery_known_answers():
    targets = pd.DataFrame(
        [
            _site(f"sub-0{i}", "circuit_searchlight", (offset, 0, 0), (0, 0, 0), 0.3)
            for i, offset in enumerate([0, 4, 8, 12], start=1)
        ]
    )
    planted = pd.DataFrame(
        {
            "participant_id": [f"sub-0{i}" for i in range(1, 5)],
            "x_mm": 0.0,
            "y_mm": 0.0,
            "z_mm": 0.0,
        }
    )
    per_subject, summary = recovery(targets, planted, 4.0, ["circuit_searchlight"])
    assert per_subject["error_voxels"].tolist() == [0, 1, 2, 3]
    row = summary.iloc[0]
    assert row["median_error_mm"] == 6.0
    assert row["pct_within_1_voxel"] == 50.0 and row["pct_within_2_voxels"] == 75.0


def test_recovery_in_the_subjects_own_space():
    """With native T1w coordinates in both tables, the error is also measured in the
    subject's T1w space (here the heads are 10% larger: errors grow by 10%)."""
    targets = pd.DataFrame(
        [
            _site(f"sub-0{i}", "circuit_searchlight", (offset, 0, 0), (0, 0, 0), 0.3)
            for i, offset in enumerate([0, 4, 8, 12], start=1)
        ]
    )
    for axis in "xyz":
        targets[f"native_{axis}_mm"] = 1.1 * targets[f"{axis}_mm"] + 20.0
    planted = pd.DataFrame({"participant_id": [f"sub-0{i}" for i in range(1, 5)]})
    for axis in "xyz":
        planted[f"{axis}_mm"] = 0.0
        planted[f"native_{axis}_mm"] = 20.0
    per_subject, summary = recovery(targets, planted, 4.0, ["circuit_searchlight"])
    np.testing.assert_allclose(per_subject["native_error_mm"], [0.0, 4.4, 8.8, 13.2])
    row = summary.iloc[0]
    assert row["median_native_error_mm"] == pytest.approx(6.6)
    assert row["pct_native_within_1_voxel"] == 25.0  # 4.4 mm is beyond one 4 mm voxel
    # without native coordinates the summary keeps its MNI columns only
    plain = recovery(targets.drop(columns=["native_x_mm"]), planted, 4.0, ["circuit_searchlight"])
    assert "median_native_error_mm" not in plain[1]
