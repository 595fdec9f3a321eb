"""The demo simulator: exact clinical calibration, the echo-time signal model, planted
targets. Known answers come from the published summaries and from the model's algebra."""

from itertools import combinations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tmstarget import atlas, simulate

VISIT_NAMES = [name for name, _ in simulate.VISITS]


@pytest.fixture(scope="module")
def clinical():
    """The default demo cohort's clinical tables (config/config.yaml: seed 2026)."""
    return simulate.simulate_clinical(simulate.ClinicalSpec(), seed=2026)


def _wide(tables):
    madrs = tables["madrs"].pivot(
        index="participant_id", columns="session_id", values="madrs_total"
    )[VISIT_NAMES]
    return madrs.join(tables["participants"].set_index("participant_id")["arm"])


def test_randomisation_is_balanced(clinical):
    participants = clinical["participants"]
    assert len(participants) == 40
    assert participants["participant_id"].is_unique
    assert participants["arm"].value_counts().to_dict() == {"connectivity": 20, "scalp": 20}


def test_published_summaries_hold_exactly(clinical):
    wide = _wide(clinical)
    reduction = wide["baseline"] - wide["month1"]
    responder = reduction >= 0.5 * wide["baseline"]
    by_arm = {arm: group.index for arm, group in wide.groupby("arm")}
    assert reduction[by_arm["connectivity"]].median() == 24
    assert reduction[by_arm["scalp"]].median() == 18
    assert responder[by_arm["connectivity"]].sum() == 16
    assert responder[by_arm["scalp"]].sum() == 12


def test_effect_size_and_p_in_line_with_publication(clinical):
    wide = _wide(clinical)
    reduction = wide["baseline"] - wide["month1"]
    conn = reduction[wide["arm"] == "connectivity"].to_numpy(float)
    scalp = reduction[wide["arm"] == "scalp"].to_numpy(float)
    pooled_sd = np.sqrt((conn.var(ddof=1) + scalp.var(ddof=1)) / 2)
    assert 0.75 <= (conn.mean() - scalp.mean()) / pooled_sd <= 0.85
    p = stats.mannwhitneyu(conn, scalp, alternative="two-sided").pvalue
    assert round(p, 2) == 0.02


def test_arms_alike_at_end_of_treatment_and_separated_at_one_month(clinical):
    wide = _wide(clinical)
    eot = wide["baseline"] - wide["eot"]
    month1 = wide["baseline"] - wide["month1"]
    conn, scalp = wide["arm"] == "connectivity", wide["arm"] == "scalp"
    assert abs(eot[conn].median() - eot[scalp].median()) <= 2
    assert stats.mannwhitneyu(eot[conn], eot[scalp]).pvalue > 0.3
    assert stats.mannwhitneyu(month1[conn], month1[scalp]).pvalue < 0.05
    # Baseline severity is balanced, as randomisation should give.
    assert abs(wide.loc[conn, "baseline"].mean() - wide.loc[scalp, "baseline"].mean()) <= 1.5


def test_madrs_values_are_plausible(clinical):
    madrs = clinical["madrs"]
    assert madrs["madrs_total"].between(0, 60).all()
    baseline = madrs[madrs["session_id"] == "baseline"]["madrs_total"]
    assert baseline.between(24, 45).all()  # moderate to severe
    assert len(madrs) == 40 * len(simulate.VISITS)
    # Everybody improves during treatment: MADRS at day 5 is below baseline.
    wide = _wide(clinical)
    assert (wide["day5"] < wide["baseline"]).all()
    days = madrs.groupby("session_id")["days_since_baseline"].first()[VISIT_NAMES]
    assert days.is_monotonic_increasing


def test_participant_characteristics_are_realistic(clinical):
    p = clinical["participants"]
    assert p["age"].between(22, 80).all()
    assert set(p["sex"]) <= {"F", "M"}
    assert (p["n_failed_treatments"] >= 2).all()
    assert p["nasion_inion_cm"].between(30, 42).all()
    assert p["tragus_tragus_cm"].between(30, 42).all()
    assert p["head_circumference_cm"].between(50, 63).all()
    # Head measurements share one size factor.
    assert p[["nasion_inion_cm", "head_circumference_cm"]].corr().iloc[0, 1] > 0.5


def test_blinding_guesses_near_chance(clinical):
    blinding = clinical["blinding"].merge(clinical["participants"], on="participant_id")
    for column in ("participant_guess", "rater_guess"):
        for arm, group in blinding.groupby("arm"):
            right = (group[column] == arm).sum()
            wrong = ((group[column] != arm) & (group[column] != simulate.DONT_KNOW)).sum()
            bang_index = (right - wrong) / len(group)
            assert abs(bang_index) <= 0.1, (column, arm, bang_index)


def test_safety_no_seizures_or_serious_events(clinical):
    events = clinical["adverse_events"]
    assert len(events) > 0
    assert "seizure" not in set(events["event_type"])
    assert (events["serious"] == "no").all()
    assert set(events["participant_id"]) <= set(clinical["participants"]["participant_id"])


def test_clinical_tables_are_deterministic():
    spec = simulate.ClinicalSpec(n_per_arm=10, mann_whitney_p_range=(0.0, 0.2))
    first = simulate.simulate_clinical(spec, seed=5)
    again = simulate.simulate_clinical(spec, seed=5)
    other = simulate.simulate_clinical(spec, seed=6)
    for name in first:
        pd.testing.assert_frame_equal(first[name], again[name])
    assert not first["madrs"].equals(other["madrs"])


def test_impossible_calibration_names_the_keys():
    spec = simulate.ClinicalSpec(n_per_arm=4, mann_whitney_p_range=(0.015, 0.025), max_draws=300)
    with pytest.raises(simulate.SimulationError, match="mann_whitney_p_range"):
        simulate.simulate_clinical(spec, seed=1)


# --------------------------------------------------------------------------- imaging


@pytest.fixture(scope="module")
def template():
    return simulate.load_template(6.0)


def _run(template, **changes):
    spec = simulate.ImagingSpec(voxel_size_mm=6.0, n_volumes=60, **changes)
    target = simulate.draw_targets(template, 1, 0.0, np.random.default_rng(0))[0]
    rng = np.random.default_rng(1)
    model = simulate.subject_model(spec, template, target, rng)
    run = simulate.simulate_run(spec, model, rng)
    vox = np.flatnonzero(template.brain.ravel())
    echoes = [echo.reshape(-1, spec.n_volumes)[vox] for echo in run.echoes]
    return spec, target, run, echoes, vox


def test_bold_changes_r2star_so_its_effect_grows_with_echo_time(template):
    """Noise- and artefact-free: log(S_e(t) / mean) / TE_e is the same at every echo
    (the signal change is -TE * dR2*), so the percent change grows with TE."""
    spec, _, _, echoes, _ = _run(
        template, thermal_noise_sd=0.0, artefact_percent=0.0, s0_noise_percent=0.0
    )
    steady = slice(spec.n_non_steady_state, None)
    scaled = []
    for te, data in zip(spec.echo_times_s, echoes, strict=True):
        log_signal = np.log(data[:, steady].astype(float))
        scaled.append((log_signal - log_signal.mean(1, keepdims=True)) / te)
    np.testing.assert_allclose(scaled[0], scaled[-1], atol=2e-3)
    percent = [np.std(np.log(d[:, steady]), axis=1).mean() for d in echoes]
    assert percent[-1] / percent[0] == pytest.approx(
        spec.echo_times_s[-1] / spec.echo_times_s[0], rel=0.01
    )


def test_artefacts_change_s0_by_the_same_fraction_at_every_echo(template):
    spec, _, _, echoes, _ = _run(
        template,
        thermal_noise_sd=0.0,
        circuit_percent=0.0,
        global_percent=0.0,
        network_percent=0.0,
        local_percent=0.0,
    )
    relative = [data / data[:, -1:] for data in echoes]  # S(t) / S(t_last), per voxel
    np.testing.assert_allclose(relative[0], relative[-1], rtol=1e-6)
    # ... and the artefact is there: the non-steady-state volumes are brighter.
    assert relative[0][:, 0].mean() > 1.3


def test_thermal_noise_is_the_same_at_every_echo(template):
    spec = simulate.ImagingSpec(voxel_size_mm=6.0, n_volumes=60)
    silent = dict(
        circuit_percent=0.0,
        global_percent=0.0,
        network_percent=0.0,
        local_percent=0.0,
        artefact_percent=0.0,
        s0_noise_percent=0.0,
        n_non_steady_state=0,
    )
    _, _, _, echoes, _ = _run(template, **silent)
    noise_sd = [data.std(axis=1).mean() for data in echoes]
    np.testing.assert_allclose(noise_sd, spec.thermal_noise_sd, rtol=0.05)


def test_planted_circuit_signs(template):
    spec, target, run, echoes, vox = _run(
        template, thermal_noise_sd=0.0, artefact_percent=0.0, s0_noise_percent=0.0
    )
    steady = slice(spec.n_non_steady_state, None)
    circuit = run.latent["circuit"].to_numpy()[steady]
    last_echo = echoes[-1][:, steady]
    centre = np.searchsorted(vox, np.ravel_multi_index(tuple(target), template.shape))
    sgacc = template.sgacc.ravel()[vox] > 0.5
    # The BOLD increase lowers R2*, raising the signal: the patch follows +c(t) ...
    assert np.corrcoef(last_echo[centre], circuit)[0, 1] > 0.3
    # ... and the subgenual cingulate follows -c(t).
    assert np.corrcoef(last_echo[sgacc].mean(0), circuit)[0, 1] < -0.3


def test_confounds_look_like_fmriprep(template):
    spec, _, run, _, _ = _run(template)
    confounds = run.confounds
    for column in ("trans_x", "rot_z", "framewise_displacement", "global_signal", "csf"):
        assert column in confounds
    assert len(confounds) == spec.n_volumes
    assert np.isnan(confounds["framewise_displacement"].iloc[0])
    assert (confounds["framewise_displacement"].iloc[1:] >= 0).all()
    assert confounds["non_steady_state_outlier00"].iloc[0] == 1


def test_planted_targets_reachable_and_spread_like_the_trial():
    template = simulate.load_template(4.0)
    targets = simulate.draw_targets(template, 40, 7.5, np.random.default_rng(3))
    region = np.asarray(atlas.dlpfc_search_region(4.0).dataobj) > 0
    surface = atlas.surface_voxels(region, template.brain)
    assert surface[tuple(targets.T)].all()
    mm = atlas.voxel_centres_mm(template.affine, targets)
    assert (mm[:, 0] < 0).all()  # left hemisphere
    pairwise = [np.linalg.norm(a - b) for a, b in combinations(mm, 2)]
    # Published between-subject distance: about 13 mm.
    assert 10 <= np.mean(pairwise) <= 16
