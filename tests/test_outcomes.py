"""Outcome statistics: known answers from textbooks and papers, planted truths, invariants."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from helpers import long_madrs_ratings
from scipy import stats

from tmstarget import clinical
from tmstarget import outcomes as oc
from tmstarget.outcomes import primary, statistics
from tmstarget.tables import format_cell

try:  # pytest puts tests/ on sys.path (rootdir without __init__.py)
    from test_clinical import toy_tables
except ImportError:  # pragma: no cover - when tests/ becomes a package
    from tests.test_clinical import toy_tables


# --------------------------------------------------------------------------------------
# A planted cohort with the published headline numbers
# --------------------------------------------------------------------------------------

# Reductions (points) and baselines per participant, chosen so that the medians are 24 and
# 18, 16/20 and 12/20 respond (reduction >= half of baseline), P(Mann-Whitney) = .024 and
# d = 0.80: the published headline numbers.
CONNECTIVITY_REDUCTION = [
    28,
    24,
    15,
    18,
    24,
    17,
    16,
    24,
    25,
    16,
    22,
    28,
    23,
    26,
    22,
    29,
    29,
    25,
    29,
    16,
]
CONNECTIVITY_BASELINE = [
    37,
    34,
    37,
    32,
    36,
    39,
    34,
    31,
    30,
    33,
    35,
    33,
    39,
    36,
    38,
    30,
    38,
    35,
    32,
    31,
]
SCALP_REDUCTION = [21, 23, 19, 18, 18, 9, 17, 14, 27, 14, 26, 11, 16, 24, 18, 15, 23, 17, 24, 23]
SCALP_BASELINE = [36, 34, 31, 39, 30, 35, 32, 38, 32, 36, 33, 39, 38, 34, 30, 31, 37, 35, 37, 33]
VISITS = list(clinical.DEFAULT_VISITS)
DAYS = [0, 1, 2, 3, 4, 5, 6, 12, 35]
# Both arms follow the same path until week 1 (fraction of baseline removed).
SHARED_PATH = [0.0, 0.08, 0.15, 0.22, 0.28, 0.33, 0.36, 0.42]


def headline_cohort() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Validated participants and MADRS frames of the planted cohort."""
    ids, arms, rows = [], [], []
    planted = [
        ("connectivity", CONNECTIVITY_BASELINE, CONNECTIVITY_REDUCTION),
        ("scalp", SCALP_BASELINE, SCALP_REDUCTION),
    ]
    for arm, baselines, reductions in planted:
        for baseline, reduction in zip(baselines, reductions, strict=True):
            participant = f"sub-{len(ids) + 1:02d}"
            ids.append(participant)
            arms.append(arm)
            scores = [round(baseline * (1 - f)) for f in SHARED_PATH] + [baseline - reduction]
            for visit, day, score in zip(VISITS, DAYS, scores, strict=True):
                rows.append(
                    {
                        "participant_id": participant,
                        "session_id": visit,
                        "days_since_baseline": str(day),
                        "madrs_total": str(score),
                    }
                )
    n = len(ids)
    participants = pd.DataFrame(
        {
            "participant_id": ids,
            "arm": arms,
            "age": ["45"] * n,
            "sex": ["F", "M"] * (n // 2),
            "n_failed_treatments": ["4"] * n,
            "nasion_inion_cm": ["35.0"] * n,
            "tragus_tragus_cm": ["35.5"] * n,
            "head_circumference_cm": ["57.0"] * n,
        }
    )
    participants = clinical.validate_participants(participants)
    madrs = clinical.validate_madrs(pd.DataFrame(rows), participants)
    return participants, madrs


@pytest.fixture(scope="module")
def headline():
    participants, madrs = headline_cohort()
    return participants, madrs, oc.analyse_primary(participants, madrs)


def _printed(table: pd.DataFrame, row: str, column: str) -> str:
    match = table[(table["row"] == row) & (table["column"] == column)]
    assert len(match) == 1, (row, column)
    return format_cell(match.iloc[0].to_dict())


PRIMARY_ROW = "Median (IQR), primary analysis"
RESPONDERS = "Responders, No./total No. (%)"
NNT_ROW = "Number needed to scan, NNTB or NNTH"


def test_table2_shows_the_published_headline_numbers(headline):
    participants, madrs, _ = headline
    table = oc.table2_outcomes(participants, madrs)
    assert _printed(table, PRIMARY_ROW, "connectivity").startswith("24.0 (")
    assert _printed(table, PRIMARY_ROW, "scalp").startswith("18.0 (")
    assert _printed(table, PRIMARY_ROW, "p") == ".02"
    assert _printed(table, RESPONDERS, "connectivity") == "16/20 (80)"
    assert _printed(table, RESPONDERS, "scalp") == "12/20 (60)"
    assert _printed(table, RESPONDERS, "effect").startswith("20.0 (")
    response = table[table["section"].str.startswith("Response")]
    # the CI passes through infinity; the point estimate is a whole number of scans
    assert _printed(response, NNT_ROW, "derived").startswith("NNTB 5 (NNTB ")
    assert _printed(table, "Cohen d", "effect").startswith("0.80 (")
    cost = response[response["row"].str.startswith("Cost per additional responder")].iloc[0]
    assert cost["value"] == pytest.approx(5000.0) and cost["column"] == "derived"


def test_primary_statistics_agree_with_scipy_and_hand_values(headline):
    _, _, results = headline
    x, y = np.array(CONNECTIVITY_REDUCTION), np.array(SCALP_REDUCTION)
    reference = stats.mannwhitneyu(x, y, alternative="two-sided", method="asymptotic")
    assert results.mann_whitney.u == reference.statistic
    assert results.mann_whitney.p_value == pytest.approx(reference.pvalue)
    assert results.mann_whitney.p_value == pytest.approx(0.0243268, abs=1e-6)
    assert results.mann_whitney.rank_biserial == pytest.approx(oc.rank_biserial(x, y))
    assert results.reduction["connectivity"][0] == 24 and results.reduction["scalp"][0] == 18
    assert results.hodges_lehmann.estimate == np.median(np.subtract.outer(x, y))
    assert results.hodges_lehmann.low > 0  # consistent with P < .05
    assert results.cohens_d.estimate == pytest.approx(0.80464, abs=1e-4)
    assert 0.0 < results.cohens_d.low < results.cohens_d.estimate < results.cohens_d.high
    assert results.response.risk_difference.estimate == pytest.approx(0.2)
    assert results.response.number_needed.estimate == pytest.approx(5.0)
    assert results.response.number_needed.through_infinity


def test_arms_separate_only_at_month1_in_the_mixed_model(headline):
    _, _, results = headline
    model = results.mixed_model.set_index("visit")
    assert list(model.index) == VISITS[1:]
    early = model.loc[VISITS[1:-1], "difference"]
    # identical paths (up to rounding) until week 1
    assert np.all(np.abs(early) < 0.6)
    assert np.all(model.loc[VISITS[1:-1], "p_value"] > 0.05)
    month1 = model.loc["month1"]
    assert month1["difference"] == pytest.approx(
        np.mean(CONNECTIVITY_REDUCTION) - np.mean(SCALP_REDUCTION)
    )
    assert month1["p_value"] < 0.05 and month1["low"] > 0


# --------------------------------------------------------------------------------------
# Proportions: Wilson, Newcombe, Fisher, NNT (known answers)
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "total", "low", "high"),
    # Newcombe (1998) Stat Med 17:857, Table II, Wilson score method without correction
    [
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_interval_newcombe_examples(count, total, low, high):
    assert oc.wilson_interval(count, total) == pytest.approx((low, high), abs=5e-5)


@pytest.mark.parametrize(
    ("a", "m", "b", "n", "low", "high"),
    # Newcombe (1998) Stat Med 17:873, Table II, method 10 (hybrid score)
    [
        (56, 70, 48, 80, 0.0524, 0.3339),
        (9, 10, 3, 10, 0.1705, 0.8090),
        (6, 7, 2, 7, 0.0582, 0.8062),
        (5, 56, 0, 29, -0.0381, 0.1926),
        (0, 10, 0, 20, -0.1611, 0.2775),
        (0, 10, 0, 10, -0.2775, 0.2775),
        (10, 10, 0, 20, 0.6791, 1.0000),
        (10, 10, 0, 10, 0.6075, 1.0000),
    ],
)
def test_newcombe_hybrid_score_examples(a, m, b, n, low, high):
    result = oc.newcombe_difference(a, m, b, n)
    assert result.estimate == pytest.approx(a / m - b / n)
    assert (result.low, result.high) == pytest.approx((low, high), abs=5e-5)


def test_newcombe_matches_statsmodels():
    from statsmodels.stats.proportion import confint_proportions_2indep

    result = oc.newcombe_difference(16, 20, 12, 20)
    reference = confint_proportions_2indep(16, 20, 12, 20, method="newcomb", compare="diff")
    assert (result.low, result.high) == pytest.approx(reference, abs=1e-10)


def test_fisher_exact_lady_tasting_tea():
    # Fisher (1935): 3 of 4 cups right in each row; two-sided P = 34/70
    assert oc.fisher_exact_p(3, 4, 1, 4) == pytest.approx(34 / 70)


def test_nnt_altman_through_infinity():
    # Altman (1998) BMJ 317:1309 (as summarised by Newcombe, BMJ 1999): ARR -5% to 25%
    # inverts to NNTB 4 to infinity to NNTH 20.
    nnt = oc.number_needed_to_treat(oc.Estimate(0.10, -0.05, 0.25))
    assert nnt.estimate == pytest.approx(10.0)
    assert (nnt.low, nnt.high) == pytest.approx((4.0, -20.0))
    assert nnt.through_infinity
    assert nnt.describe() == "NNTB 10 (NNTB 4.0 to ∞ to NNTH 20.0)"


def test_nnt_significant_benefit_and_harm():
    # Barrowman (2002) CMAJ 166:1676: ARR 16.6% (0.9% to 32.2%) -> NNT 6 (3.1 to 111.1)
    nnt = oc.number_needed_to_treat(oc.Estimate(0.166, 0.009, 0.322))
    assert (nnt.low, nnt.high) == pytest.approx((3.1, 111.1), abs=0.05)
    assert not nnt.through_infinity
    harm = oc.number_needed_to_treat(oc.Estimate(-0.25, -0.5, -0.1))
    assert harm.describe() == "NNTH 4 (2.0 to 10.0)"
    assert math.isinf(oc.number_needed_to_treat(oc.Estimate(0.0, -0.1, 0.1)).estimate)


def test_cost_per_additional_responder():
    significant = oc.number_needed_to_treat(oc.Estimate(0.2, 0.1, 0.4))
    cost = oc.cost_per_additional_responder(significant, 1500.0)
    assert (cost.estimate, cost.low, cost.high) == pytest.approx((7500.0, 3750.0, 15000.0))
    open_ended = oc.cost_per_additional_responder(
        oc.number_needed_to_treat(oc.Estimate(0.2, -0.1, 0.4)), 1000
    )
    assert open_ended.estimate == pytest.approx(5000.0) and math.isinf(open_ended.high)
    no_benefit = oc.cost_per_additional_responder(
        oc.number_needed_to_treat(oc.Estimate(-0.1, -0.3, 0.1)), 1000
    )
    assert math.isnan(no_benefit.estimate)


# --------------------------------------------------------------------------------------
# Rank methods
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("m", "n", "critical"),
    # two-sided 5% critical values of U from the standard Mann-Whitney tables
    [(4, 6, 2), (5, 5, 2), (8, 8, 13), (10, 10, 23), (20, 20, 127)],
)
def test_moses_critical_values_match_u_tables(m, n, critical):
    assert oc.moses_critical_value(m, n, 0.95, "exact") == critical


def test_normal_critical_value_close_to_exact():
    assert oc.moses_critical_value(10, 10, 0.95, "normal") == 23
    assert oc.moses_critical_value(20, 20, 0.95, "normal") == 127
    assert oc.moses_critical_value(2, 2, 0.95, "exact") == -1  # too small for a 95% CI


def test_exact_u_distribution():
    # m = n = 2: the 6 orderings give U = 0, 1, 2, 2, 3, 4
    assert oc.mann_whitney_null_pmf(2, 2) * 6 == pytest.approx([1, 1, 2, 1, 1])
    pmf = oc.mann_whitney_null_pmf(7, 9)
    u = np.arange(len(pmf))
    assert pmf.sum() == pytest.approx(1.0)
    assert pmf == pytest.approx(pmf[::-1])
    assert (u * pmf).sum() == pytest.approx(7 * 9 / 2)
    assert ((u - 31.5) ** 2 * pmf).sum() == pytest.approx(7 * 9 * 17 / 12)


def test_hodges_lehmann_hand_computed():
    # Differences x_i - y_j = 10 + (i - j): 6 (x1), 7 (x2), 8 (x3), 9 (x4), 10 (x5), 11 (x4), ...
    # Median 10; the critical value for m = n = 5 is 2, so the CI is [D(3), D(23)] = [7, 13].
    result = oc.hodges_lehmann([10, 11, 12, 13, 14], [0, 1, 2, 3, 4])
    assert (result.estimate, result.low, result.high) == (10.0, 7.0, 13.0)
    shifted = oc.hodges_lehmann([12.5, 13.5, 14.5, 15.5, 16.5], [0, 1, 2, 3, 4])
    assert (shifted.estimate, shifted.low, shifted.high) == (12.5, 9.5, 15.5)
    tiny = oc.hodges_lehmann([3, 4], [1, 2])
    assert math.isinf(tiny.low) and math.isinf(tiny.high)


def test_rank_biserial_hand_computed_and_scipy_u():
    x, y = [3, 4, 5], [1, 2, 3]
    # pairs: 3 vs (1, 2, 3) -> 2.5, 4 -> 3, 5 -> 3; U = 8.5 of 9; r = 17/9 - 1 = 8/9
    assert oc.rank_biserial(x, y) == pytest.approx(8 / 9)
    result = oc.mann_whitney(x, y)
    assert result.u == 8.5 and result.rank_biserial == pytest.approx(8 / 9)
    assert oc.rank_biserial(y, x) == pytest.approx(-8 / 9)


# --------------------------------------------------------------------------------------
# Effect sizes and ANCOVA
# --------------------------------------------------------------------------------------


def test_cohens_d_and_hedges_g_hand_computed():
    # means 4 and 2; variances 4 and 1; pooled variance (2*4 + 2*1)/4 = 2.5
    d = oc.cohens_d([2, 4, 6], [1, 2, 3])
    assert d.estimate == pytest.approx(2 / math.sqrt(2.5))
    g = oc.hedges_g([2, 4, 6], [1, 2, 3])
    assert g.estimate == pytest.approx(0.7978845608 * 2 / math.sqrt(2.5))  # J(4)


def test_hedges_correction_known_values():
    assert oc.hedges_correction(2) == pytest.approx(1 / math.sqrt(math.pi))  # 0.5642
    assert oc.hedges_correction(4) == pytest.approx(math.sqrt(2 / math.pi))  # 0.7979
    assert oc.hedges_correction(38) == pytest.approx(1 - 3 / (4 * 38 - 1), abs=5e-5)


def test_noncentral_t_interval_is_dual_to_the_t_test():
    # when t equals the two-sided 5% critical value, the lower limit of ncp is exactly 0
    df = 38
    t_critical = stats.t.isf(0.025, df)
    low, high = statistics._noncentral_t_limits(t_critical, df, 0.95)
    assert low == pytest.approx(0.0, abs=1e-7)
    assert stats.nct.cdf(t_critical, df, high) == pytest.approx(0.025)
    rng = np.random.default_rng(3)
    for _ in range(20):
        x, y = rng.normal(0.6, 1, 15), rng.normal(0, 1, 17)
        d = oc.cohens_d(x, y)
        assert (d.low > 0 or d.high < 0) == (d.p_value < 0.05)


def test_effect_size_ci_methods_agree_for_large_samples():
    rng = np.random.default_rng(4)
    x, y = rng.normal(0.5, 1, 400), rng.normal(0, 1, 400)
    exact = oc.cohens_d(x, y, method="noncentral_t")
    normal = oc.cohens_d(x, y, method="normal")
    assert exact.estimate == normal.estimate
    assert (exact.low, exact.high) == pytest.approx((normal.low, normal.high), abs=0.005)


def test_ancova_with_balanced_baselines_equals_difference_in_means():
    baseline = np.array([30.0, 34, 38, 42] * 2)
    experimental = np.array([True] * 4 + [False] * 4)
    outcome = np.array([20.0, 22, 27, 25, 14, 17, 20, 21])
    result = oc.ancova_difference(outcome, baseline, experimental)
    assert result.estimate == pytest.approx(outcome[:4].mean() - outcome[4:].mean())
    assert result.low < result.estimate < result.high


def test_ancova_recovers_planted_effect():
    rng = np.random.default_rng(5)
    baseline = rng.normal(33, 5, 400)
    experimental = np.arange(400) % 2 == 0
    outcome = 2.0 + 6.0 * experimental + 0.4 * baseline + rng.normal(0, 3, 400)
    result = oc.ancova_difference(outcome, baseline, experimental)
    assert result.low < 6.0 < result.high
    assert result.estimate == pytest.approx(6.0, abs=0.8)


# --------------------------------------------------------------------------------------
# Blinding and correlation
# --------------------------------------------------------------------------------------


def test_bang_blinding_index_crisp_example():
    # Bang, Ni & Davis (2004) Table 7 (CRISP): treatment 82 correct, 25 wrong, 170 don't
    # know -> BI 0.21; placebo 29 correct, 27 wrong, 83 don't know -> BI 0.01
    treatment = oc.bang_blinding_index(82, 25, 170)
    placebo = oc.bang_blinding_index(29, 27, 83)
    assert round(treatment.estimate, 2) == 0.21 and round(placebo.estimate, 2) == 0.01


def test_bang_blinding_index_hand_computed_variance():
    # 6 correct, 2 wrong, 2 don't know: BI = 0.4; var = (.6*.4 + .2*.8 + 2*.6*.2)/10 = .064
    result = oc.bang_blinding_index(6, 2, 2)
    assert result.estimate == pytest.approx(0.4)
    assert result.se == pytest.approx(math.sqrt(0.064))
    # the CI is Tango's score interval: the score statistic is +-z at its limits
    z = stats.norm.isf(0.025)
    assert oc.tango_score_statistic(6, 2, 10, result.low) == pytest.approx(z, abs=1e-8)
    assert oc.tango_score_statistic(6, 2, 10, result.high) == pytest.approx(-z, abs=1e-8)
    assert math.isnan(oc.bang_blinding_index(0, 0, 0).estimate)


@pytest.mark.parametrize("n", [1, 2, 5, 20])
def test_bang_ci_respects_the_bounds_when_every_guess_is_correct(n):
    """All correct: BI = 1; the Wald CI had zero width. Tango's lower limit is then
    (n - z^2)/(n + z^2), the Wilson lower limit of p = 1 on the BI scale (2p - 1)."""
    z2 = stats.norm.isf(0.025) ** 2
    result = oc.bang_blinding_index(n, 0, 0)
    assert (result.estimate, result.high) == (1.0, 1.0)
    assert result.low == pytest.approx((n - z2) / (n + z2), abs=1e-9)
    assert result.low == pytest.approx(2 * oc.wilson_interval(n, n)[0] - 1, abs=1e-9)
    opposite = oc.bang_blinding_index(0, n, 0)  # everyone wrong: the mirror image
    assert (opposite.low, opposite.high) == pytest.approx((-1.0, -result.low), abs=1e-9)


def test_bang_ci_stays_within_minus_one_to_one():
    # (18, 1, 1): BI 0.85; the Wald CI was 0.64 to 1.059
    result = oc.bang_blinding_index(18, 1, 1)
    assert result.estimate == pytest.approx(0.85)
    assert -1.0 <= result.low < 0.85 < result.high < 1.0
    assert (result.low, result.high) == pytest.approx((0.4835, 0.9590), abs=5e-5)
    mirrored = oc.bang_blinding_index(1, 18, 1)
    assert (mirrored.low, mirrored.high) == pytest.approx((-result.high, -result.low))


@pytest.mark.parametrize(
    ("correct", "incorrect", "dont_know"),
    [(12, 4, 4), (9, 3, 0), (5, 5, 10), (10, 2, 28), (7, 1, 2), (3, 9, 8)],
)
def test_bang_ci_excludes_zero_exactly_when_mcnemar_rejects(correct, incorrect, dont_know):
    """At BI = 0 Tango's statistic is McNemar's (c - i)/sqrt(c + i): the score CI and the
    uncorrected McNemar test (statsmodels) agree on significance."""
    from statsmodels.stats.contingency_tables import mcnemar

    n = correct + incorrect + dont_know
    assert oc.tango_score_statistic(correct, incorrect, n, 0.0) == pytest.approx(
        (correct - incorrect) / math.sqrt(correct + incorrect)
    )
    result = oc.bang_blinding_index(correct, incorrect, dont_know)
    table = [[dont_know, correct], [incorrect, 0]]
    p_value = mcnemar(table, exact=False, correction=False).pvalue
    assert (result.low > 0 or result.high < 0) == (p_value < 0.05)


def test_bang_rejects_impossible_counts():
    with pytest.raises(ValueError, match="Bang blinding index"):
        oc.bang_blinding_index(-1, 2, 3)
    with pytest.raises(ValueError, match="Bang blinding index"):
        oc.bang_blinding_index(math.nan, 2, 3)


def test_spearman_fisher_ci_hand_computed():
    # ranks (1..8) vs (1, 2, 4, 6, 7, 8, 5, 3): sum d^2 = 42, rho = 1 - 6*42/504 = 0.5
    rho, n = oc.spearman_with_ci(range(1, 9), [1, 2, 4, 6, 7, 8, 5, 3])
    assert n == 8 and rho.estimate == pytest.approx(0.5)
    se = math.sqrt((1 + 0.25 / 2) / 5)
    centre = math.atanh(0.5)
    assert (rho.low, rho.high) == pytest.approx(
        (math.tanh(centre - 1.959964 * se), math.tanh(centre + 1.959964 * se)), abs=1e-6
    )
    assert (rho.low, rho.high) == pytest.approx((-0.3630, 0.9013), abs=1e-4)


def test_spearman_bootstrap_is_seeded():
    rng = np.random.default_rng(6)
    x = rng.normal(size=30)
    y = x + rng.normal(size=30)
    first, _ = oc.spearman_with_ci(x, y, method="bootstrap", n_bootstrap=500, seed=1)
    again, _ = oc.spearman_with_ci(x, y, method="bootstrap", n_bootstrap=500, seed=1)
    other, _ = oc.spearman_with_ci(x, y, method="bootstrap", n_bootstrap=500, seed=2)
    assert first == again and first != other
    assert first.low < first.estimate < first.high


# --------------------------------------------------------------------------------------
# Mixed model: known answer for balanced data, planted effect
# --------------------------------------------------------------------------------------


def test_mixed_model_balanced_complete_data_equals_raw_differences():
    rng = np.random.default_rng(7)
    visits = ["baseline", "eot", "month1"]
    arms = ["connectivity"] * 12 + ["scalp"] * 12
    scores = 30 + rng.normal(0, 4, (24, 1)) + rng.normal(0, 2, (24, 3)) - np.array([0, 8, 12])
    result = oc.mixed_model_contrasts(long_madrs_ratings(scores, arms, visits), visits).set_index(
        "visit"
    )
    change = scores[:, 0:1] - scores  # reduction from baseline
    for j, visit in enumerate(visits[1:], start=1):
        expected = change[:12, j].mean() - change[12:, j].mean()
        assert result.loc[visit, "difference"] == pytest.approx(expected, abs=1e-6)
        assert result.loc[visit, "reduction_connectivity"] == pytest.approx(
            change[:12, j].mean(), abs=1e-6
        )
        level = scores[:12, j].mean() - scores[12:, j].mean()
        assert result.loc[visit, "madrs_difference"] == pytest.approx(level, abs=1e-6)


def test_mixed_model_recovers_planted_separation_with_missing_data():
    rng = np.random.default_rng(8)
    visits = ["baseline", "day5", "eot", "week1", "month1"]
    n = 120
    arms = ["connectivity", "scalp"] * (n // 2)
    experimental = np.array([arm == "connectivity" for arm in arms])
    path = np.array([0, 8, 10, 12, 14], dtype=float)
    extra = np.where(experimental[:, None], np.array([0, 0, 0, 0, 6.0]), 0.0)
    scores = 32 + rng.normal(0, 4, (n, 1)) - path - extra + rng.normal(0, 3, (n, 5))
    scores[rng.random((n, 5)) < 0.1] = np.nan  # 10% of ratings missing at random
    scores[:, 0] = np.where(np.isnan(scores[:, 0]), 32, scores[:, 0])
    result = oc.mixed_model_contrasts(long_madrs_ratings(scores, arms, visits), visits).set_index(
        "visit"
    )
    assert result.attrs["converged"]
    month1 = result.loc["month1"]
    assert month1["low"] < 6.0 < month1["high"] and month1["p_value"] < 0.001
    for visit in ("day5", "eot", "week1"):
        assert result.loc[visit, "low"] < 0 < result.loc[visit, "high"]


def test_mixed_model_drops_visits_without_both_arms():
    visits = ["baseline", "eot", "month1"]
    scores = np.array([[30, 20, 15], [32, 22, 18], [31, 25, np.nan], [29, 24, np.nan]], dtype=float)
    result = oc.mixed_model_contrasts(
        long_madrs_ratings(scores, ["connectivity", "connectivity", "scalp", "scalp"], visits),
        visits,
    )
    assert list(result["visit"]) == ["eot"] and result.attrs["dropped_visits"] == ["month1"]


# --------------------------------------------------------------------------------------
# Missing data policies and per-participant outcomes
# --------------------------------------------------------------------------------------


def _small_cohort():
    participants = clinical.validate_participants(
        pd.DataFrame(
            {
                "participant_id": ["sub-01", "sub-02", "sub-03", "sub-04"],
                "arm": ["connectivity", "connectivity", "scalp", "scalp"],
                "age": ["40", "50", "60", "n/a"],
                "sex": ["F", "F", "M", "F"],
                "n_failed_treatments": ["3", "4", "5", "6"],
                "nasion_inion_cm": ["35"] * 4,
                "tragus_tragus_cm": ["35"] * 4,
                "head_circumference_cm": ["57"] * 4,
            }
        ).replace("n/a", None)
    )
    rows = [
        ("sub-01", "baseline", 0, 30),
        ("sub-01", "week1", 12, 20),
        ("sub-01", "month1", 35, 15),
        ("sub-02", "baseline", 0, 40),
        ("sub-02", "week1", 12, 18),  # month 1 missed
        ("sub-03", "baseline", 0, 30),
        ("sub-03", "week1", 12, 16),
        ("sub-03", "month1", 35, 10),
        ("sub-04", "baseline", 0, 20),
        ("sub-04", "month1", 35, 11),
    ]
    madrs = pd.DataFrame(
        rows, columns=["participant_id", "session_id", "days_since_baseline", "madrs_total"]
    )
    madrs = clinical.validate_madrs(madrs.astype(str), participants)
    return participants, madrs


@pytest.mark.parametrize(
    ("policy", "responder_02", "primary_02", "source_02"),
    [
        ("non_responder", 0.0, math.nan, "missing"),
        ("exclude", math.nan, math.nan, "missing"),
        ("last_observation", 1.0, 18.0, "carried:week1"),
    ],
)
def test_missing_policies(policy, responder_02, primary_02, source_02):
    participants, madrs = _small_cohort()
    outcomes = oc.participant_outcomes(
        participants, madrs, oc.OutcomeParams(missing_policy=policy)
    ).set_index("participant_id")
    row = outcomes.loc["sub-02"]
    assert row["primary_source"] == source_02
    assert (math.isnan(row["responder"]) and math.isnan(responder_02)) or row[
        "responder"
    ] == responder_02
    assert (math.isnan(row["primary"]) and math.isnan(primary_02)) or row["primary"] == primary_02
    # exactly 50% reduction is a response; exactly 10 is a remission; 11 is not
    assert outcomes.loc["sub-01", "responder"] == 1.0 and outcomes.loc["sub-01", "reduction"] == 15
    assert outcomes.loc["sub-01", "percent_change"] == pytest.approx(-50.0)
    assert outcomes.loc["sub-03", "remitter"] == 1.0 and outcomes.loc["sub-04", "remitter"] == 0.0
    assert outcomes.loc["sub-04", "responder"] == 0.0  # 9/20 = 45% reduction


def test_thresholds_are_parameters():
    participants, madrs = _small_cohort()
    strict = oc.OutcomeParams(response_min_reduction=0.6, remission_max_score=9)
    outcomes = oc.participant_outcomes(participants, madrs, strict).set_index("participant_id")
    assert outcomes.loc["sub-01", "responder"] == 0.0
    assert outcomes.loc["sub-03", "responder"] == 1.0  # 20/30 = 67%
    assert outcomes.loc["sub-03", "remitter"] == 0.0


def test_primary_visit_is_a_parameter():
    participants, madrs = _small_cohort()
    outcomes = oc.participant_outcomes(participants, madrs, oc.OutcomeParams(primary_visit="week1"))
    assert outcomes.set_index("participant_id").loc["sub-02", "reduction"] == 22


def test_binary_denominators_follow_the_policy(headline):
    participants, madrs, _ = headline
    dropped = madrs[~((madrs["participant_id"] == "sub-01") & (madrs["session_id"] == "month1"))]
    itt = oc.analyse_primary(participants, dropped)
    assert (itt.response.count_experimental, itt.response.total_experimental) == (15, 20)
    complete = oc.analyse_primary(participants, dropped, oc.OutcomeParams(missing_policy="exclude"))
    assert (complete.response.count_experimental, complete.response.total_experimental) == (15, 19)
    assert itt.n_continuous["connectivity"] == 19
    # the mixed model ignores the policy
    pd.testing.assert_frame_equal(itt.mixed_model, complete.mixed_model)


# --------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------


def test_params_from_config_and_errors_name_the_key():
    params = oc.OutcomeParams.from_config(
        {"missing_policy": "exclude", "arm_names": {"scalp": "Beam F3"}}
    )
    assert params.missing_policy == "exclude"
    assert params.arm_names == {"connectivity": "Connectivity", "scalp": "Beam F3"}
    with pytest.raises(ValueError, match="outcomes.missing_policy"):
        oc.OutcomeParams(missing_policy="impute")
    with pytest.raises(ValueError, match="unknown key.*resonse_min_reduction"):
        oc.OutcomeParams.from_config({"resonse_min_reduction": 0.5})
    with pytest.raises(ValueError, match="outcomes.primary_visit"):
        oc.OutcomeParams(primary_visit="month3")
    with pytest.raises(ValueError, match="outcomes.response_min_reduction"):
        oc.OutcomeParams(response_min_reduction=50)


# --------------------------------------------------------------------------------------
# Tables 1 and 3, CONSORT, mechanism
# --------------------------------------------------------------------------------------


def test_table1_counts_and_missing_note():
    participants, madrs = _small_cohort()
    table = oc.table1_baseline(participants, madrs)
    assert _printed(table, "Female", "connectivity") == "2 (100)"
    assert _printed(table, "Female", "all") == "3 (75)"
    assert _printed(table, "Age, mean (SD), y", "scalp") == "60.0 (NA)"
    assert _printed(table, "MADRS total score, mean (SD), points", "connectivity") == "35.0 (7.1)"
    assert any("Age: missing for 1" in note for note in table.attrs["notes"])
    assert table.attrs["caption"].startswith("Table 1.")


def test_table3_blinding_and_safety():
    participants, madrs = _small_cohort()
    blinding = clinical.validate_blinding(
        pd.DataFrame(
            {
                "participant_id": ["sub-01", "sub-02", "sub-03", "sub-04"],
                "participant_guess": ["connectivity", "scalp", "dont_know", "scalp"],
                "rater_guess": ["dont_know", "dont_know", "connectivity", None],
            }
        ),
        participants,
    )
    events = clinical.validate_adverse_events(
        pd.DataFrame(
            {
                "participant_id": ["sub-01", "sub-01", "sub-03"],
                "event_type": ["headache", "headache", "seizure"],
                "severity": ["mild", "moderate", "severe"],
                "serious": ["no", "no", "yes"],
            }
        ),
        participants,
    )
    summary = oc.blinding_summary(participants, blinding).set_index(["assessor", "arm"])
    # connectivity participants: 1 correct, 1 wrong -> BI 0; scalp: 1 correct, 1 don't know -> 0.5
    assert summary.loc[("participant", "connectivity"), "bang_bi"] == pytest.approx(0.0)
    assert summary.loc[("participant", "scalp"), "bang_bi"] == pytest.approx(0.5)
    assert summary.loc[("rater", "scalp"), "not_answered"] == 1
    assert summary.loc[("rater", "scalp"), "bang_bi"] == pytest.approx(-1.0)

    safety = oc.safety_summary(participants, events).set_index("item")
    assert list(safety.index[:4]) == ["any", "serious", "severe", "seizure"]
    assert (
        safety.loc["any", "participants_connectivity"] == 1
        and safety.loc["any", "events_connectivity"] == 2
    )
    assert (
        safety.loc["seizure", "participants_scalp"] == 1
        and safety.loc["serious", "participants_scalp"] == 1
    )
    assert safety.loc["type:headache", "participants_connectivity"] == 1

    table = oc.table3_blinding_safety(participants, blinding, events)
    assert _printed(table, "Seizure", "scalp") == "1/2 (50)"
    assert _printed(table, "Serious adverse event", "connectivity") == "0/2 (0)"
    assert _printed(table, "Events, total No.", "connectivity") == "2"
    assert "Not answered" in set(table["row"])
    none_recorded = oc.table3_blinding_safety(participants, None, None)
    assert set(none_recorded.loc[none_recorded["kind"] == "text", "text"]) == {"Not recorded"}


def test_table3_lists_seizures_and_serious_events_when_none_occurred():
    participants, _ = _small_cohort()
    no_events = clinical.validate_adverse_events(
        pd.DataFrame(columns=["participant_id", "event_type", "severity", "serious"]), participants
    )
    safety = oc.safety_summary(participants, no_events).set_index("item")
    assert safety.loc["seizure", "participants_connectivity"] == 0
    assert safety.loc["serious", "participants_scalp"] == 0


def test_consort_counts(tmp_path):
    participants, madrs = _small_cohort()
    counts = oc.consort_counts(
        participants, madrs, oc.OutcomeParams(consort_assessed=9, consort_excluded=5)
    )
    table = counts.set_index(["stage", "arm"])["n"]
    assert table[("assessed", "all")] == 9 and table[("randomised", "all")] == 4
    assert (
        table[("rated:month1", "connectivity")] == 1
        and table[("missed:month1", "connectivity")] == 1
    )
    assert (
        table[("analysed_binary", "connectivity")] == 2
        and table[("analysed_continuous", "connectivity")] == 1
    )
    assert table[("missed:eot", "scalp")] == 2


def test_mechanism_correlations_planted():
    participants, madrs = headline_cohort()
    outcomes = oc.participant_outcomes(participants, madrs)
    # connectivity at site = -percent change (monotone) -> rho = -1 in each arm
    site = pd.DataFrame(
        {
            "participant_id": outcomes["participant_id"],
            "circuit_connectivity": -outcomes["percent_change"],
            "distance_mm": np.arange(len(outcomes), dtype=float),
        }
    )
    result = oc.mechanism_correlations(
        participants,
        madrs,
        site,
        {"circuit_connectivity": "Connectivity at site", "distance_mm": "Distance"},
    )
    by = result.set_index(["measure", "group"])
    assert by.loc[("circuit_connectivity", "connectivity"), "rho"] == pytest.approx(-1.0)
    assert by.loc[("circuit_connectivity", "pooled"), "n"] == 40
    table = oc.table4_mechanism(result)
    assert set(table["section"]) == {"Connectivity at site", "Distance"}
    with pytest.raises(ValueError, match="lack column"):
        oc.mechanism_correlations(participants, madrs, site, {"missing_column": "x"})


def test_everything_is_deterministic():
    tables = toy_tables(seed=11)
    participants = clinical.validate_participants(tables["participants"])
    madrs = clinical.validate_madrs(tables["madrs"], participants)
    first = oc.table2_outcomes(participants, madrs)
    second = oc.table2_outcomes(participants, madrs)
    pd.testing.assert_frame_equal(first, second)


def test_demo_cohort_regenerates_the_headline(tmp_path):
    """The demo simulator's tables, written as BIDS and read back, give the published
    headline in Table 2 (the simulator guarantees medians, responder counts, P .015-.025
    and d .75-.85; this checks that our analysis reads them out the same way)."""
    from tmstarget import simulate

    try:
        from test_clinical import write_bids
    except ImportError:  # pragma: no cover
        from tests.test_clinical import write_bids

    simulated = simulate.simulate_clinical(simulate.ClinicalSpec(), seed=2026)
    data = clinical.load_clinical(write_bids(tmp_path, simulated))
    table = oc.table2_outcomes(data.participants, data.madrs)
    assert _printed(table, PRIMARY_ROW, "connectivity").startswith("24.0 (")
    assert _printed(table, PRIMARY_ROW, "scalp").startswith("18.0 (")
    assert _printed(table, PRIMARY_ROW, "p") == ".02"
    assert _printed(table, RESPONDERS, "connectivity") == "16/20 (80)"
    assert _printed(table, RESPONDERS, "scalp") == "12/20 (60)"
    response = table[table["section"].str.startswith("Response")]
    assert _printed(response, NNT_ROW, "derived").startswith("NNTB 5 (")
    d = table[(table["row"] == "Cohen d")].iloc[0]["value"]
    assert 0.75 <= d <= 0.85
    # both arms improve alike during treatment; they separate at month 1
    model = oc.analyse_primary(data.participants, data.madrs).mixed_model.set_index("visit")
    assert model.loc["eot", "p_value"] > 0.05 and model.loc["month1", "p_value"] < 0.05
    safety = oc.safety_summary(data.participants, data.adverse_events).set_index("item")
    assert (
        safety.loc[["seizure", "serious"], ["participants_connectivity", "participants_scalp"]]
        .sum()
        .sum()
        == 0
    )


# --------------------------------------------------------------------------------------
# Edge cases: a clear error naming the quantity, or a documented value
# --------------------------------------------------------------------------------------


def test_wilson_and_newcombe_come_from_statsmodels_with_exact_bounds():
    from statsmodels.stats.proportion import proportion_confint

    assert oc.wilson_interval(7, 19) == pytest.approx(proportion_confint(7, 19, method="wilson"))
    assert oc.wilson_interval(20, 20)[1] == 1.0  # statsmodels gives 0.9999999999999999
    assert oc.wilson_interval(0, 20)[0] == 0.0


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ((0, 0, 1, 5), oc.NotEstimable, "total 0"),  # was ZeroDivisionError
        ((0, 0, 0, 0), oc.NotEstimable, "total 0"),
        ((math.nan, 5, 1, 5), ValueError, "whole number"),
        ((6, 5, 1, 5), ValueError, "exceeds its total"),  # was a math domain error
        ((-1, 5, 1, 5), ValueError, "negative"),
        ((2.5, 5, 1, 5), ValueError, "whole number"),
    ],
)
def test_newcombe_difference_rejects_impossible_counts(arguments, error, message):
    with pytest.raises(error, match=f"risk difference.*{message}"):
        oc.newcombe_difference(*arguments)


def test_two_sample_statistics_on_empty_tied_and_infinite_data():
    with pytest.raises(oc.NotEstimable, match="Hodges-Lehmann shift.*got 0 and 3"):
        oc.hodges_lehmann([], [1, 2, 3])  # was NaN
    with pytest.raises(oc.NotEstimable, match="Hodges-Lehmann"):
        oc.hodges_lehmann([math.nan, math.nan], [1, 2, 3])
    with pytest.raises(ValueError, match="Mann-Whitney U: 1 infinite"):
        oc.mann_whitney([1, 2, math.inf], [1, 2, 3])  # was silently dropped
    with pytest.raises(ValueError, match="Cohen's d: 1 infinite"):
        oc.cohens_d([1, 2, -math.inf], [1, 2, 3])
    with pytest.raises(oc.NotEstimable, match="Cohen's d.*pooled SD 0"):
        oc.cohens_d([5, 5, 5], [5, 5])  # all reductions tied
    tied = oc.mann_whitney([5, 5, 5], [5, 5])
    assert (tied.u, tied.p_value, tied.rank_biserial) == (3.0, 1.0, 0.0)
    with pytest.raises(ValueError, match=r"needs df > 1, got 1"):
        oc.hedges_correction(1)  # was 0


def test_mean_difference_with_a_single_value():
    """One value in an arm adds nothing to the pooled variance: still a t interval with
    df = n - 1 (documented); one value in each arm is not estimable."""
    result = oc.mean_difference([10.0], [1.0, 3.0, 5.0])
    # pooled variance = 8 / 2 = 4; SE = 2 sqrt(1 + 1/3); df = 2
    se = 2 * math.sqrt(1 + 1 / 3)
    assert result.estimate == 7.0 and result.se == pytest.approx(se)
    assert result.high == pytest.approx(7.0 + stats.t.isf(0.025, 2) * se)
    assert result.p_value == pytest.approx(2 * stats.t.sf(7.0 / se, 2))
    with pytest.raises(oc.NotEstimable, match="mean difference: needs at least 3"):
        oc.mean_difference([1.0], [2.0])
    with pytest.raises(oc.NotEstimable, match="mean difference: needs at least 1"):
        oc.mean_difference([], [2.0, 3.0])
    # agrees with scipy whenever scipy can compute it
    x, y = [3.0, 7, 8, 12], [1.0, 2, 6]
    reference = stats.ttest_ind(x, y)
    assert oc.mean_difference(x, y).p_value == pytest.approx(reference.pvalue)


def test_ancova_edge_cases():
    baseline = np.array([30.0, 34, 38, 42, 31, 35, 39, 43])
    experimental = np.array([True] * 4 + [False] * 4)
    with pytest.raises(oc.NotEstimable, match="ANCOVA: needs participants in both arms"):
        oc.ancova_difference(np.full(8, math.nan), baseline, experimental)  # was numpy error
    with pytest.raises(oc.NotEstimable, match="ANCOVA: needs participants in both arms"):
        oc.ancova_difference(baseline / 2, baseline, np.ones(8, bool))  # was a number
    exact = 2.0 + 3.0 * experimental + 0.5 * baseline  # a perfect fit
    with pytest.raises(oc.NotEstimable, match="fits the data exactly"):
        oc.ancova_difference(exact, baseline, experimental)  # was "0.0 (0.0-0.0) P = .12"
    with pytest.raises(oc.NotEstimable, match="baseline does not vary"):
        oc.ancova_difference(baseline, np.full(8, 30.0), experimental)
    with pytest.raises(ValueError, match="ANCOVA: infinite"):
        oc.ancova_difference(np.r_[math.inf, baseline[1:]], baseline, experimental)


def _tied_cohort():
    """Everyone improves by exactly 10 points at month 1: no variance to standardise by."""
    participants, madrs = headline_cohort()
    madrs = madrs.copy()
    baseline = madrs[madrs["session_id"] == "baseline"].set_index("participant_id")["madrs_total"]
    month1 = madrs["session_id"] == "month1"
    madrs.loc[month1, "madrs_total"] = (
        madrs.loc[month1, "participant_id"].map(baseline).to_numpy() - 10
    )
    return participants, madrs


def test_all_reductions_tied_prints_na_and_still_writes_every_table(tmp_path):
    from tmstarget import tables as tb

    participants, madrs = _tied_cohort()
    results = oc.analyse_trial(participants, madrs, None, None)
    table = results["table2_outcomes"]
    assert "cohens_d" in table.attrs["not_estimable"]
    assert _printed(table, "Cohen d", "effect") == "NA"
    assert _printed(table, "Hedges g", "effect") == "NA"
    assert _printed(table, "Mean (SD)", "effect") == "NA"
    assert _printed(table, PRIMARY_ROW, "effect") == "0.0 (0.0-0.0)"  # defined: no shift
    assert _printed(table, PRIMARY_ROW, "p") == ">.99"
    for name, frame in results.items():
        if name.startswith("table"):
            paths = tb.write_table(frame, tb.table_paths(tmp_path / name))
            assert all(path.stat().st_size > 200 for path in paths)
    markdown = (tmp_path / "table2_outcomes.md").read_text(encoding="utf-8")
    assert "| Mean (SD)ᵇ | 10.0 (0.0) | 10.0 (0.0) | NAᶜ |  | NA |" in markdown
    # one footnote for d and g, which fail for the same reason
    assert "| Cohen dᶠ |  |  | NAᵍ |  |  |" in markdown
    assert "| Hedges gᶠ |  |  | NAᵍ |  |  |" in markdown
    assert "ᵍ NA, not estimable: Cohen's d: undefined when neither group varies" in markdown
    assert "ᵉ NA, not estimable: ANCOVA: the model fits the data exactly" in markdown
    # the reductions at the early visits are functions of baseline: the unstructured MMRM
    # covariance is singular and the prespecified fallback is used and reported
    (mmrm_note,) = [t for _, t in table.attrs["footnotes"] if t.startswith("Mixed model for")]
    assert mmrm_note.count("the unstructured fit did not converge") == 1


def test_one_statistic_failing_leaves_the_others(monkeypatch):
    participants, madrs = headline_cohort()

    def fail(*_, **__):
        raise oc.NotEstimable("ANCOVA: the model fits the data exactly (residual variance 0)")

    # analyse_primary looks the function up in its own module
    monkeypatch.setattr(primary, "ancova_difference", fail)
    results = oc.analyse_primary(participants, madrs)
    assert math.isnan(results.ancova.estimate) and "ancova" in results.not_estimable
    assert results.cohens_d.estimate == pytest.approx(0.80464, abs=1e-4)
    table = oc.table2_from_results(results)
    assert _printed(table, "Adjusted for baseline MADRS (ANCOVA)", "effect") == "NA"
    assert _printed(table, "Adjusted for baseline MADRS (ANCOVA)", "p") == "NA"


# --------------------------------------------------------------------------------------
# Table 2: primary analysis, markers, MMRM next to the random-intercept model
# --------------------------------------------------------------------------------------


def test_table2_names_the_prespecified_primary_analysis(headline):
    participants, madrs, _ = headline
    default = oc.table2_outcomes(participants, madrs)
    assert (default["row"] == PRIMARY_ROW).any()
    notes = " ".join(default.attrs["notes"])
    assert "Primary analysis (prespecified): the two-sided Mann-Whitney U test" in notes
    assert "not adjusted for multiple comparisons" in notes
    # the Mann-Whitney P appears once; U and r are in its footnote, not in the table
    assert (default["column"] == "p").sum() == len(default[default["column"] == "p"])
    assert not default["row"].str.contains("Mann-Whitney|Rank-biserial").any()
    footnotes = dict(default.attrs["footnotes"])
    assert "U = 283.5, rank-biserial r = 0.42" in footnotes["a"]  # r = 2 * 283.5/400 - 1
    p_cells = default[default["column"] == "p"]
    assert (np.abs(p_cells["value"] - 0.0243268) < 1e-6).sum() == 1
    # the difference column holds only differences
    effect_rows = set(default.loc[default["column"] == "effect", "row"])
    assert not any(row.startswith(("Number needed", "Cost")) for row in effect_rows)
    mmrm = oc.table2_outcomes(participants, madrs, oc.OutcomeParams(primary_analysis="mmrm"))
    mmrm_section = mmrm[mmrm["section"].str.startswith("MMRM")]
    assert "Month 1, primary analysis" in set(mmrm_section["row"])
    assert "Median (IQR)" in set(mmrm["row"])
    assert "the MMRM contrast" in " ".join(mmrm.attrs["notes"])
    with pytest.raises(ValueError, match="outcomes.primary_analysis"):
        oc.OutcomeParams(primary_analysis="wilcoxon")
    assert set(oc.PRIMARY_ANALYSES) == set(oc.PRIMARY_ANALYSIS_LABELS)


def test_table2_footnote_letters_tie_each_method_to_its_rows(headline):
    participants, madrs, _ = headline
    table = oc.table2_outcomes(participants, madrs)
    markers = {(section, row): letter for section, row, column, letter in table.attrs["markers"]}
    letters = [letter for letter, _ in table.attrs["footnotes"]]
    assert letters == list("abcdefghi")  # in order of appearance
    by_row = {row: letter for (_, row), letter in markers.items()}
    assert by_row[PRIMARY_ROW] == "a" and by_row["Mean (SD)"] == "b"
    assert by_row["Cohen d"] == by_row["Hedges g"] == "d"
    assert by_row[RESPONDERS] == by_row["Remitters, No./total No. (%)"] == "e"
    footnotes = dict(table.attrs["footnotes"])
    assert "Mann-Whitney" in footnotes["a"] and "Student t" in footnotes["b"]
    assert "user-set assumption" in footnotes["g"]
    # the planted early visits are deterministic in baseline: unstructured is singular,
    # Toeplitz (next in the prespecified order) is used, and the note says so
    assert "Toeplitz within-participant covariance" in footnotes["h"]
    assert "the unstructured fit did not converge" in footnotes["h"]
    assert "Satterthwaite" in footnotes["h"] and "Wald z" in footnotes["i"]


def test_table2_mixed_model_rows_carry_arm_cis():
    tables = toy_tables(seed=5, missing_primary=())
    participants = clinical.validate_participants(tables["participants"])
    madrs = clinical.validate_madrs(tables["madrs"], participants)
    results = oc.analyse_primary(participants, madrs)
    assert results.mmrm.attrs["structure"] == "unstructured"
    table = oc.table2_from_results(results)
    for prefix in ("MMRM", "Random-intercept"):
        section = table[table["section"].str.startswith(prefix)]
        arm_cells = section[section["column"] == "connectivity"]
        assert len(arm_cells) == 8 and (arm_cells["kind"] == "estimate_ci").all()
        assert arm_cells["low"].notna().all() and (arm_cells["low"] < arm_cells["value"]).all()
    # complete data, unstructured: the MMRM at month 1 is the ANCOVA of the reduction
    month1 = results.mmrm.set_index("visit").loc["month1"]
    assert month1["difference"] == pytest.approx(results.ancova.estimate, abs=1e-7)
    assert (month1["low"], month1["high"]) == pytest.approx(
        (results.ancova.low, results.ancova.high), abs=1e-6
    )
    assert month1["df"] == pytest.approx(40 - 3, abs=1e-3)


def test_params_defaults_equal_the_schema():
    import yaml

    try:
        from conftest import REPO
    except ImportError:  # pragma: no cover
        from tests.conftest import REPO
    schema = yaml.safe_load((REPO / "config" / "schema.yaml").read_text())
    properties = schema["properties"]["outcomes"]["properties"]
    params = oc.OutcomeParams()
    for name, spec in properties.items():
        value = getattr(params, name)
        if isinstance(value, tuple):
            value = list(value)
        if hasattr(value, "items"):
            value = dict(value)
        assert value == spec["default"], name


# --------------------------------------------------------------------------------------
# Table 1 and Table 3 as JAMA prints them
# --------------------------------------------------------------------------------------


def test_table1_madrs_once_and_counts_as_whole_numbers():
    participants, madrs = _small_cohort()
    table = oc.table1_baseline(participants, madrs)
    assert table["row"].str.startswith("MADRS").sum() == 3  # one row: 2 arms and all
    # failed treatments 3, 4 | 5, 6 | 3, 4, 5, 6: medians 3.5, 5.5, 4.5 -> one decimal row
    assert _printed(table, "Failed treatments, median (IQR), No.", "all") == "4.5 (3.8-5.3)"
    whole = participants.copy()
    whole["n_failed_treatments"] = [3.0, 3, 4, 6]  # 3 (3-3) | 5.0 (4.5-5.5) | 3.5 (3.0-4.5)
    counts = oc.table1_baseline(whole, madrs)
    row = "Failed treatments, median (IQR), No."
    assert _printed(counts, row, "connectivity") == "3 (3-3)"  # whole: no decimals
    assert _printed(counts, row, "scalp") == "5.0 (4.5-5.5)"  # a median of x.5: one decimal
    assert table.attrs["caption"] == "Table 1. Baseline Characteristics of the Participants by Arm"


def test_table1_race_and_ethnicity_rows_from_the_data_dictionary():
    participants, madrs = _small_cohort()
    assert not oc.table1_baseline(participants, madrs)["section"].str.startswith("Race").any()
    participants = participants.assign(
        race=["white", "black", "white", None], ethnicity=["not_hispanic"] * 3 + ["hispanic"]
    )
    dictionary = {
        "race": {
            "Description": "Self-reported race",
            "Levels": {"asian": "Asian", "black": "Black or African American", "white": "White"},
        }
    }
    table = oc.table1_baseline(participants, madrs, dictionary=dictionary)
    race = table[table["section"] == "Race, No. (%)"]
    assert list(dict.fromkeys(race["row"])) == [
        "Asian",
        "Black or African American",
        "White",
        "Not reported",
    ]
    assert _printed(race, "White", "all") == "2 (50)"
    assert _printed(race, "Asian", "connectivity") == "0 (0)"
    assert _printed(race, "Not reported", "scalp") == "1 (50)"
    ethnicity = table[table["section"] == "Ethnicity, No. (%)"]
    assert list(dict.fromkeys(ethnicity["row"])) == ["Hispanic", "Not hispanic"]
    assert any("participants.json" in note for note in table.attrs["notes"])


def test_race_values_are_checked_against_the_data_dictionary(tmp_path):
    try:
        from test_clinical import write_bids
    except ImportError:  # pragma: no cover
        from tests.test_clinical import write_bids
    import json

    tables = toy_tables(seed=3)
    tables["participants"]["race"] = ["white", "asian"] * 20
    root = write_bids(tmp_path, tables)
    data = clinical.load_clinical(root)
    assert data.participants_dictionary == {} and "race" in data.participants.columns
    (root / "participants.json").write_text(
        json.dumps({"race": {"Levels": {"white": "White", "black": "Black"}}})
    )
    with pytest.raises(clinical.ClinicalDataError, match="column race: 'asian' is not a level"):
        clinical.load_clinical(root)


def test_table3_header_denominators_and_title():
    participants, _ = _small_cohort()
    blinding = clinical.validate_blinding(
        pd.DataFrame(
            {
                "participant_id": ["sub-01", "sub-02", "sub-03", "sub-04"],
                "participant_guess": ["connectivity", "connectivity", "dont_know", None],
                "rater_guess": ["dont_know", "dont_know", "connectivity", "scalp"],
            }
        ),
        participants,
    )
    table = oc.table3_blinding_safety(participants, blinding, None)
    assert table.attrs["row_header"] == "Measure"
    assert table.attrs["caption"] == "Table 3. Blinding and Safety"
    guesses = table[table["section"] == "Blinding: participants' guess, No./total No. (%)"]
    # the scalp arm: one don't know, one not answered -> denominator 1
    assert _printed(guesses, "Don't know", "scalp") == "1/1 (100)"
    assert _printed(guesses, "Guessed Connectivity", "connectivity") == "2/2 (100)"
    # 2 of 2 correct: Tango's lower limit (2 - z^2)/(2 + z^2) = -0.315
    assert _printed(guesses, "Bang blinding index (95% CI)", "connectivity") == (
        "1.00 (-0.32 to 1.00)"
    )
