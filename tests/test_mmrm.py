"""MMRM: a published worked example (SAS PROC MIXED on the mmrm package's fev_data), exact
answers for complete balanced data, and the fallback between covariance structures.

``tests/data/fev_data.csv`` is ``fev_data`` of the R package mmrm (Apache License 2.0,
openpharma/mmrm, commit ec290b2, data/fev_data.rda; columns USUBJID, AVISIT, ARMCD, RACE,
SEX, FEV1; an artificial dataset). The SAS results below are that package's
design/SAS/sas_log_reml.txt ("Real MMRM", REML), sas_cs_reml.txt and sas_toep_reml.rtf.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import long_madrs_ratings

from tmstarget import mmrm
from tmstarget import outcomes as oc

FEV_DATA = Path(__file__).parent / "data" / "fev_data.csv"


@pytest.fixture(scope="module")
def fev():
    data = pd.read_csv(FEV_DATA, na_values="NA", keep_default_na=False)
    data = data[data["FEV1"].notna()].reset_index(drop=True)
    visit = data["AVISIT"].map({"VIS1": 0, "VIS2": 1, "VIS3": 2, "VIS4": 3}).to_numpy()
    return data, visit


def _fev_design(data: pd.DataFrame, visit: np.ndarray) -> np.ndarray:
    """FEV1 ~ ARMCD * AVISIT + RACE + SEX with SAS's references (PBO, VIS1, Asian, Male)."""
    treated = (data["ARMCD"] == "TRT").to_numpy(float)
    columns = [np.ones(len(data)), treated]
    columns += [(visit == v).astype(float) for v in (1, 2, 3)]
    columns += [treated * (visit == v) for v in (1, 2, 3)]
    columns += [
        (data["RACE"] == "Black or African American").to_numpy(float),
        (data["RACE"] == "White").to_numpy(float),
        (data["SEX"] == "Female").to_numpy(float),
    ]
    return np.column_stack(columns)


def test_unstructured_reml_matches_sas_proc_mixed(fev):
    data, visit = fev
    fit = mmrm.fit_mmrm(
        data["FEV1"], _fev_design(data, visit), data["USUBJID"], visit, 4, "unstructured"
    )
    assert fit.converged and fit.n_subjects == 197 and fit.n_observations == 537
    # -2 Res Log Like 3386.44987722 (SAS stops at relative change 1e-8; we go further)
    assert fit.minus_two_reml == pytest.approx(3386.44987722, abs=1e-4)
    assert fit.minus_two_reml <= 3386.44987722 + 1e-6
    # Covariance parameter estimates; SAS orders the visits VIS2, VIS3, VIS4, VIS1
    sas_order = [1, 2, 3, 0]
    sas = np.array(
        [
            [26.5692, 2.7851, 7.4790, 14.3982],
            [2.7851, 14.8970, 0.9017, 4.9744],
            [7.4790, 0.9017, 95.5528, 13.3731],
            [14.3982, 4.9744, 13.3731, 40.5509],
        ]
    )
    ours = fit.covariance[np.ix_(sas_order, sas_order)]
    np.testing.assert_allclose(ours, sas, atol=0.005)
    # Solution for fixed effects: estimate, SE, Satterthwaite df (SAS prints whole df)
    expected = [
        (30.7774, 0.8865, 219),  # intercept
        (3.7745, 1.0741, 146),  # TRT
        (4.8396, 0.8016, 144),  # VIS2
        (10.3422, 0.8227, 156),  # VIS3
        (15.0537, 1.3129, 138),  # VIS4
        (-0.04231, 1.1292, 139),  # VIS2 x TRT
        (-0.6939, 1.1876, 158),  # VIS3 x TRT
        (0.6240, 1.8510, 130),  # VIS4 x TRT
        (1.5305, 0.6244, 169),  # Black or African American
        (5.6436, 0.6656, 157),  # White
        (0.3262, 0.5319, 166),  # Female
    ]
    for k, (estimate, se, df) in enumerate(expected):
        weights = np.zeros(11)
        weights[k] = 1.0
        result = fit.contrast(weights)
        assert result.estimate == pytest.approx(estimate, abs=3e-4), k
        assert result.se == pytest.approx(se, abs=2e-4), k
        assert round(result.df) == df, (k, result.df)


@pytest.mark.parametrize(
    ("visit", "difference", "se", "df", "low", "high"),
    # Differences of least squares means TRT - PBO at each visit (SAS LSMEANS pdiff)
    [
        (0, 3.7745, 1.0741, 146, 1.6517, 5.8974),
        (1, 3.7322, 0.8588, 145, 2.0348, 5.4296),
        (2, 3.0806, 0.6896, 131, 1.7164, 4.4448),
        (3, 4.3985, 1.6805, 133, 1.0746, 7.7225),
    ],
)
def test_lsmean_differences_match_sas(fev, visit, difference, se, df, low, high):
    data, visits = fev
    fit = mmrm.fit_mmrm(
        data["FEV1"], _fev_design(data, visits), data["USUBJID"], visits, 4, "unstructured"
    )
    weights = np.zeros(11)
    weights[1] = 1.0
    if visit:
        weights[4 + visit] = 1.0
    result = fit.contrast(weights)
    assert result.estimate == pytest.approx(difference, abs=3e-4)
    assert result.se == pytest.approx(se, abs=2e-4)
    assert round(result.df) == df
    assert (result.low, result.high) == pytest.approx((low, high), abs=5e-4)


def test_lsmeans_match_sas(fev):
    """LS means average over RACE (1/3 each) and SEX (1/2 each), as SAS does."""
    data, visits = fev
    fit = mmrm.fit_mmrm(
        data["FEV1"], _fev_design(data, visits), data["USUBJID"], visits, 4, "unstructured"
    )
    margins = np.array([1 / 3, 1 / 3, 1 / 2])
    for visit, treated, estimate, se, df in (
        (1, 1, 41.9037, 0.6023, 144),
        (1, 0, 38.1715, 0.6117, 147),
        (3, 1, 52.7841, 1.1877, 133),
        (0, 0, 33.3318, 0.7554, 148),
    ):
        weights = np.zeros(11)
        weights[0], weights[1] = 1.0, treated
        if visit:
            weights[1 + visit] = 1.0
            weights[4 + visit] = treated
        weights[8:] = margins
        result = fit.contrast(weights)
        assert result.estimate == pytest.approx(estimate, abs=3e-4)
        assert result.se == pytest.approx(se, abs=2e-4)
        assert abs(result.df - df) < 0.6  # SAS prints whole df (here 143.49 for 144)


@pytest.mark.parametrize(
    ("structure", "minus_two_reml", "first_row", "intercept", "se", "df"),
    [
        # FEV1 ~ 1, REPEATED AVISIT / TYPE=CS: CS 5.8943 + residual 81.0025
        (
            "compound_symmetry",
            3917.98183508,
            [86.8968, 5.8943, 5.8943, 5.8943],
            42.2896,
            0.4285,
            187,
        ),
        # TYPE=TOEP: residual 89.0847, TOEP(2..4) 41.5499, 6.9536, -17.6135
        ("toeplitz", 3856.7, [89.0847, 41.5499, 6.9536, -17.6135], 42.3721, 0.4684, 166),
    ],
)
def test_structured_covariances_match_sas(
    fev, structure, minus_two_reml, first_row, intercept, se, df
):
    data, visits = fev
    design = np.ones((len(data), 1))
    fit = mmrm.fit_mmrm(data["FEV1"], design, data["USUBJID"], visits, 4, structure)
    assert fit.converged
    assert fit.minus_two_reml == pytest.approx(minus_two_reml, abs=0.05)
    # the CS likelihood is flat along the covariance: SAS stopped after one iteration
    np.testing.assert_allclose(fit.covariance[0], first_row, atol=0.01)
    result = fit.contrast([1.0])
    assert result.estimate == pytest.approx(intercept, abs=1e-4)
    assert result.se == pytest.approx(se, abs=1e-4)
    assert round(result.df) == df


def _balanced(n: int = 30, n_visits: int = 4, seed: int = 1):
    rng = np.random.default_rng(seed)
    arm = np.repeat([1.0, 0.0], n // 2)
    baseline = rng.normal(33, 5, n)
    factor = rng.normal(size=(n_visits, n_visits))
    sigma = factor @ factor.T + n_visits * np.eye(n_visits)
    scores = 10 + 3 * arm[:, None] + 0.4 * baseline[:, None]
    scores = scores + rng.multivariate_normal(np.zeros(n_visits), sigma, n)
    subject, visit = np.divmod(np.arange(n * n_visits), n_visits)
    centred = baseline - baseline.mean()
    design = np.zeros((n * n_visits, 3 * n_visits))
    design[np.arange(n * n_visits), visit] = 1.0
    design[np.arange(n * n_visits), n_visits + visit] = arm[subject]
    design[np.arange(n * n_visits), 2 * n_visits + visit] = centred[subject]
    return scores, arm, centred, design, subject, visit


def test_complete_balanced_unstructured_equals_ancova_at_every_visit():
    """Same design at every visit and an unstructured covariance: GLS is OLS equation by
    equation, the REML covariance is E'E/(n - p) and the Satterthwaite df are n - p."""
    n, n_visits = 30, 4
    scores, arm, centred, design, subject, visit = _balanced(n, n_visits)
    fit = mmrm.fit_mmrm(scores.ravel(), design, subject, visit, n_visits, "unstructured")
    per_visit = np.column_stack([np.ones(n), arm, centred])
    coefficients, *_ = np.linalg.lstsq(per_visit, scores, rcond=None)
    residuals = scores - per_visit @ coefficients
    np.testing.assert_allclose(fit.beta[n_visits : 2 * n_visits], coefficients[1], atol=1e-9)
    np.testing.assert_allclose(fit.covariance, residuals.T @ residuals / (n - 3), atol=1e-9)
    unscaled = np.linalg.inv(per_visit.T @ per_visit)[1, 1]
    for j in range(n_visits):
        weights = np.zeros(3 * n_visits)
        weights[n_visits + j] = 1.0
        result = fit.contrast(weights)
        assert result.se == pytest.approx(math.sqrt(fit.covariance[j, j] * unscaled), rel=1e-9)
        assert result.df == pytest.approx(n - 3, abs=1e-4)


def test_compound_symmetry_equals_statsmodels_random_intercept():
    """Complete balanced data with a positive within-participant correlation: compound
    symmetry is the random-intercept model (statsmodels MixedLM, REML)."""
    import statsmodels.api as sm

    n, n_visits = 30, 4
    scores, _, _, design, subject, visit = _balanced(n, n_visits, seed=3)
    scores = scores + np.random.default_rng(4).normal(0, 4, (n, 1))  # a shared level
    fit = mmrm.fit_mmrm(scores.ravel(), design, subject, visit, n_visits, "compound_symmetry")
    reference = sm.MixedLM(scores.ravel(), design, groups=subject).fit(reml=True)
    np.testing.assert_allclose(fit.beta, reference.fe_params, atol=1e-5)
    intercept_variance = float(np.asarray(reference.cov_re)[0, 0])
    assert fit.covariance[0, 1] == pytest.approx(intercept_variance, rel=1e-4)
    assert fit.covariance[0, 0] == pytest.approx(intercept_variance + reference.scale, rel=1e-4)
    np.testing.assert_allclose(np.sqrt(np.diag(fit.beta_covariance)), reference.bse_fe, rtol=1e-4)
    # the same REML criterion: statsmodels' llf is -1/2 of SAS's -2 Res Log Like
    assert fit.minus_two_reml == pytest.approx(-2 * reference.llf, abs=1e-4)


def test_toeplitz_parameterisation():
    # partial autocorrelations (0.5, 0, 0) are an AR(1): 0.5, 0.25, 0.125
    np.testing.assert_allclose(mmrm.partial_to_autocorrelation([0.5, 0, 0]), [0.5, 0.25, 0.125])
    rng = np.random.default_rng(2)
    for _ in range(20):  # every unconstrained theta gives a positive definite matrix
        theta = rng.normal(0, 3, 5)
        assert np.linalg.eigvalsh(mmrm.covariance_matrix("toeplitz", theta, 5)).min() > 0
        cs = mmrm.covariance_matrix("compound_symmetry", theta[:2], 5)
        assert np.linalg.eigvalsh(cs).min() > 0
        assert np.allclose(cs[np.triu_indices(5, 1)], cs[0, 1])


def test_fallback_to_the_next_structure_when_unstructured_fails():
    """Six participants cannot support 10 unstructured covariances beside 12 fixed effects;
    the fit falls back to Toeplitz and says why."""
    scores, _, _, design, subject, visit = _balanced(6, 4, seed=5)
    fit, attempts = mmrm.fit_with_fallback(scores.ravel(), design, subject, visit, 4)
    assert attempts[0][0] == "unstructured" and attempts[0][1] != "converged"
    assert fit.structure != "unstructured" and fit.converged
    assert attempts[-1] == (fit.structure, "converged")
    with pytest.raises(mmrm.MMRMError, match="no covariance structure converged"):
        mmrm.fit_with_fallback(scores.ravel(), design, subject, visit, 4, ["unstructured"])
    with pytest.raises(mmrm.MMRMError, match="rank deficient"):
        mmrm.fit_mmrm(scores.ravel(), np.ones((len(visit), 2)), subject, visit, 4)


def test_trial_mmrm_equals_ancova_with_complete_data():
    """The trial MMRM (reduction ~ visit + arm x visit + baseline x visit, unstructured):
    with complete data each visit's contrast is that visit's ANCOVA, df n - 3."""
    rng = np.random.default_rng(7)
    visits = ["baseline", "eot", "week1", "month1"]
    arms = ["connectivity"] * 12 + ["scalp"] * 12
    scores = 32 + rng.normal(0, 4, (24, 1)) + rng.normal(0, 3, (24, 4)) - [0, 8, 10, 12]
    scores = np.round(scores)
    frame = oc.mmrm_contrasts(long_madrs_ratings(scores, arms, visits), visits).set_index("visit")
    assert frame.attrs["structure"] == "unstructured"
    assert frame.attrs["n_participants"] == 24 and frame.attrs["n_ratings"] == 72
    experimental = np.array([arm == "connectivity" for arm in arms])
    for j, visit in enumerate(visits[1:], start=1):
        reduction = scores[:, 0] - scores[:, j]
        ancova = oc.ancova_difference(reduction, scores[:, 0], experimental)
        row = frame.loc[visit]
        assert row["difference"] == pytest.approx(ancova.estimate, abs=1e-7)
        assert (row["low"], row["high"]) == pytest.approx((ancova.low, ancova.high), abs=1e-6)
        assert row["p_value"] == pytest.approx(ancova.p_value, abs=1e-7)
        assert row["df"] == pytest.approx(24 - 3, abs=1e-3)
        # LS means at the mean baseline differ by the contrast
        assert row["reduction_connectivity"] - row["reduction_scalp"] == pytest.approx(
            row["difference"]
        )


def test_trial_mmrm_recovers_planted_effect_with_missing_data():
    rng = np.random.default_rng(8)
    visits = ["baseline", "day5", "eot", "week1", "month1"]
    n = 120
    arms = ["connectivity", "scalp"] * (n // 2)
    experimental = np.array([arm == "connectivity" for arm in arms])
    path = np.array([0, 8, 10, 12, 14], dtype=float)
    extra = np.where(experimental[:, None], np.array([0, 0, 0, 0, 6.0]), 0.0)
    scores = 32 + rng.normal(0, 4, (n, 1)) - path - extra + rng.normal(0, 3, (n, 5))
    scores[:, 1:][rng.random((n, 4)) < 0.15] = np.nan
    frame = oc.mmrm_contrasts(long_madrs_ratings(scores, arms, visits), visits).set_index("visit")
    assert frame.attrs["structure"] == "unstructured"
    month1 = frame.loc["month1"]
    assert month1["low"] < 6.0 < month1["high"] and month1["p_value"] < 0.001
    for visit in ("day5", "eot", "week1"):
        assert frame.loc[visit, "low"] < 0 < frame.loc[visit, "high"]
