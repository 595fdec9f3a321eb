"""Trial planning (tmstarget.power, tmstarget.batch_stats): the vectorised tests equal the
workflow's own functions trial by trial; simulated power matches the textbook answers of
the tests they belong to; the stage runs in Snakemake without data and gives the same
bytes on a rerun."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO, digest, run_snakemake
from scipy import stats

from tmstarget import batch_stats as bs
from tmstarget import outcomes as oc
from tmstarget import power as pw

# One site, no site variance, no dropout, no misses, no baseline covariance: every
# simulated trial is a plain two-sample experiment, so textbook power applies exactly.
KNOWN = {
    "name": "known",
    "n_sites": 1,
    "site_intercept_sd": 0.0,
    "site_effect_sd": 0.0,
    "dropout": 0.0,
    "miss_share": 0.0,
    "baseline_reduction_correlation": 0.0,
    "cohens_d": 0.8,
    "response_connectivity": 0.8,
    "response_scalp": 0.6,
}
# 1600 trials: the binomial SE of a power near 80% is 1.0 percentage point.
KNOWN_TRIALS = 1600


def _se(power: float, trials: int) -> float:
    return math.sqrt(power * (1 - power) / trials)


def _known_params(n_per_arm, extra=(), n_trials=KNOWN_TRIALS, seed=20262, **changes):
    return pw.PlanningParams(
        seed=seed,
        n_trials=n_trials,
        n_per_arm=tuple(n_per_arm),
        analysis="t_test",
        response_analysis="chi_square",
        extra_analyses=tuple(extra),
        scenarios=({**KNOWN, **changes},),
    )


# --------------------------------------------------------------------------------------
# Data sets: simulated multi-site trials with dropout, misses and (rounded) ties
# --------------------------------------------------------------------------------------

MULTI_SITE = pw.Scenario(
    name="multisite",
    n_sites=4,
    dropout=0.2,
    miss_share=0.3,
    site_effect_sd=2.0,
    baseline_reduction_correlation=0.4,
)


def _batches():
    """Three data sets of 40 trials: 13 per arm at 4 unequal sites (continuous values),
    the same rounded to whole points (ties), and 9 per arm at 1 site (small arms)."""
    continuous = pw.simulate_block(MULTI_SITE, 13, 40, seed=5)
    rounded = replace(
        continuous,
        reduction=np.round(continuous.reduction),
        baseline=np.round(continuous.baseline),
    )
    small = pw.simulate_block(replace(MULTI_SITE, n_sites=1), 9, 40, seed=6)
    return {"continuous": continuous, "ties": rounded, "small": small}


BATCHES = _batches()


def _arms(row: np.ndarray, experimental: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return row[experimental], row[~experimental]


@pytest.mark.parametrize("data", BATCHES)
def test_t_test_equals_mean_difference(data):
    batch = BATCHES[data]
    p = bs.t_test_p(batch.reduction, batch.experimental)
    expected = [oc.mean_difference(*_arms(r, batch.experimental)).p_value for r in batch.reduction]
    np.testing.assert_allclose(p, expected, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("data", BATCHES)
@pytest.mark.parametrize("method", ["asymptotic", "exact", "auto"])
def test_mann_whitney_equals_the_workflow(data, method):
    batch = BATCHES[data]
    p = bs.mann_whitney_p(batch.reduction, batch.experimental, method)
    expected = [
        oc.mann_whitney(*_arms(r, batch.experimental), method=method).p_value
        for r in batch.reduction
    ]
    np.testing.assert_allclose(p, expected, rtol=1e-10, atol=1e-14)


def test_average_ranks_equal_scipy():
    values = BATCHES["ties"].reduction
    ranks, tie_term = bs.average_ranks(values)
    for row, row_ranks, term in zip(values, ranks, tie_term, strict=True):
        observed = ~np.isnan(row)
        np.testing.assert_allclose(row_ranks[observed], stats.rankdata(row[observed]))
        assert np.isnan(row_ranks[~observed]).all()
        _, counts = np.unique(row[observed], return_counts=True)
        assert term == pytest.approx(np.sum(counts**3 - counts))


@pytest.mark.parametrize("data", BATCHES)
def test_ancova_without_site_equals_ancova_difference(data):
    batch = BATCHES[data]
    p = bs.ancova_p(batch.reduction, batch.baseline, batch.experimental)
    expected = [
        oc.ancova_difference(r, b, batch.experimental).p_value
        for r, b in zip(batch.reduction, batch.baseline, strict=True)
    ]
    np.testing.assert_allclose(p, expected, rtol=1e-10, atol=1e-14)


def _ols_site_p(reduction, baseline, experimental, site) -> float:
    import statsmodels.formula.api as smf

    frame = pd.DataFrame(
        {"y": reduction, "baseline": baseline, "arm": experimental.astype(float), "site": site}
    ).dropna()
    return float(smf.ols("y ~ C(site) + arm + baseline", frame).fit().pvalues["arm"])


@pytest.mark.parametrize("data", ["continuous", "ties"])
def test_ancova_with_site_equals_statsmodels(data):
    batch = BATCHES[data]
    p = bs.ancova_p(batch.reduction, batch.baseline, batch.experimental, batch.site)
    expected = [
        _ols_site_p(r, b, batch.experimental, batch.site)
        for r, b in zip(batch.reduction, batch.baseline, strict=True)
    ]
    np.testing.assert_allclose(p, expected, rtol=1e-10, atol=1e-14)


def test_ancova_with_site_in_any_column_order_and_an_empty_site():
    """Sites need not be contiguous; a site whose participants were all lost leaves the
    model (statsmodels: a zero dummy column, rank and df one lower)."""
    batch = BATCHES["continuous"]
    order = np.random.default_rng(0).permutation(batch.experimental.size)
    reduction = batch.reduction[:, order].copy()
    baseline, experimental, site = (
        batch.baseline[:, order],
        batch.experimental[order],
        batch.site[order],
    )
    reduction[:5, site == 2] = np.nan
    p = bs.ancova_p(reduction, baseline, experimental, site)
    for row in range(5):
        keep = site != 2
        expected = _ols_site_p(
            reduction[row, keep], baseline[row, keep], experimental[keep], site[keep]
        )
        assert p[row] == pytest.approx(expected, rel=1e-10)


def test_mmrm_with_one_post_baseline_visit_is_the_ancova():
    """outcomes.primary_analysis: mmrm is simulated as the ANCOVA: the workflow's MMRM of
    a trial with baseline and one later visit gives the ANCOVA's P (REML converges to
    1e-6 or so)."""
    batch = BATCHES["continuous"]
    p = bs.ancova_p(batch.reduction, batch.baseline, batch.experimental)
    for trial in range(3):
        rows = []
        for j, (b, r) in enumerate(zip(batch.baseline[trial], batch.reduction[trial], strict=True)):
            arm = "connectivity" if batch.experimental[j] else "scalp"
            rows.append(
                {
                    "participant_id": f"sub-{j}",
                    "arm": arm,
                    "session_id": "baseline",
                    "madrs_total": b,
                }
            )
            if not np.isnan(r):
                rows.append(
                    {
                        "participant_id": f"sub-{j}",
                        "arm": arm,
                        "session_id": "month1",
                        "madrs_total": b - r,
                    }
                )
        mmrm = oc.mmrm_contrasts(pd.DataFrame(rows), ("baseline", "month1"))
        assert mmrm["p_value"].iloc[0] == pytest.approx(p[trial], rel=1e-5)


def test_the_workflow_analysis_of_a_simulated_trial_gives_the_same_p_values():
    """Three simulated trials as participants.tsv + madrs.tsv, through
    outcomes.analyse_primary (what Table 2 prints): its Mann-Whitney, t and ANCOVA P
    values are the planner's."""
    batch = BATCHES["ties"]
    params = oc.OutcomeParams(visits=("baseline", "month1"), consort_visits=("month1",))
    planned = {
        name: pw.analysis_p_values(batch, name) for name in ("mann_whitney", "t_test", "ancova")
    }
    for trial in range(3):
        ids = [f"sub-{j:02d}" for j in range(batch.experimental.size)]
        arms = np.where(batch.experimental, "connectivity", "scalp")
        participants = pd.DataFrame({"participant_id": ids, "arm": arms})
        rows = [
            (pid, "baseline", 0, b) for pid, b in zip(ids, batch.baseline[trial], strict=True)
        ] + [
            (pid, "month1", 30, b - r)
            for pid, b, r in zip(ids, batch.baseline[trial], batch.reduction[trial], strict=True)
            if not np.isnan(r)
        ]
        madrs = pd.DataFrame(
            rows, columns=["participant_id", "session_id", "days_since_baseline", "madrs_total"]
        )
        results = oc.analyse_primary(participants, madrs, params)
        assert results.mann_whitney.p_value == pytest.approx(
            planned["mann_whitney"][trial], rel=1e-10
        )
        assert results.mean_difference.p_value == pytest.approx(planned["t_test"][trial], rel=1e-10)
        assert results.ancova.p_value == pytest.approx(planned["ancova"][trial], rel=1e-10)


def _van_elteren_reference(values, experimental, site, weights) -> float:
    """Textbook stratified Wilcoxon (van Elteren 1960; Lehmann 1975 ch. 3), one site at
    a time with scipy's ranks."""
    statistic = variance = 0.0
    for k in np.unique(site):
        in_site = (site == k) & ~np.isnan(values)
        x = values[in_site & experimental]
        y = values[in_site & ~experimental]
        m, n = len(x), len(y)
        if m == 0 or n == 0:
            continue
        total = m + n
        ranks = stats.rankdata(np.r_[x, y])
        _, counts = np.unique(np.r_[x, y], return_counts=True)
        ties = np.sum(counts**3 - counts)
        w = 1.0 / (total + 1) if weights == "van_elteren" else 1.0
        statistic += w * (ranks[:m].sum() - m * (total + 1) / 2)
        variance += w**2 * m * n / 12 * (total + 1 - ties / (total * (total - 1)))
    correction = 0.5 if weights == "unweighted" else 0.0
    z = (abs(statistic) - correction) / math.sqrt(variance)
    return float(min(1.0, 2 * stats.norm.sf(z)))


@pytest.mark.parametrize("data", ["continuous", "ties"])
@pytest.mark.parametrize("weights", bs.STRATIFIED_WEIGHTS)
def test_stratified_rank_tests_equal_the_textbook_formula(data, weights):
    batch = BATCHES[data]
    p = bs.stratified_rank_p(batch.reduction, batch.experimental, batch.site, weights)
    expected = [
        _van_elteren_reference(r, batch.experimental, batch.site, weights) for r in batch.reduction
    ]
    np.testing.assert_allclose(p, expected, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("data", BATCHES)
def test_one_site_stratified_tests_are_mann_whitney(data):
    """With one site: the unweighted stratified test is the workflow's Mann-Whitney test,
    van Elteren's is scipy's without the continuity correction."""
    batch = BATCHES[data]
    one_site = np.zeros_like(batch.site)
    unweighted = bs.stratified_rank_p(batch.reduction, batch.experimental, one_site, "unweighted")
    np.testing.assert_allclose(
        unweighted, bs.mann_whitney_p(batch.reduction, batch.experimental), rtol=1e-12
    )
    workflow = [oc.mann_whitney(*_arms(r, batch.experimental)).p_value for r in batch.reduction]
    np.testing.assert_allclose(unweighted, workflow, rtol=1e-10, atol=1e-14)
    van_elteren = bs.stratified_rank_p(batch.reduction, batch.experimental, one_site)
    expected = []
    for row in batch.reduction:
        x, y = _arms(row, batch.experimental)
        x, y = x[~np.isnan(x)], y[~np.isnan(y)]
        expected.append(stats.mannwhitneyu(x, y, use_continuity=False, method="asymptotic").pvalue)
    np.testing.assert_allclose(van_elteren, expected, rtol=1e-10, atol=1e-14)


def test_fisher_equals_the_workflow_on_every_table():
    """Every 2x2 table of some arm sizes (balanced ones have ties between mirrored tables),
    and random tables up to 600 per arm."""
    tables = [
        (a, n1, c, n2)
        for n1, n2 in [(1, 1), (5, 5), (10, 10), (12, 9), (20, 20), (31, 40)]
        for a in range(n1 + 1)
        for c in range(n2 + 1)
    ]
    rng = np.random.default_rng(3)
    for _ in range(300):
        n1, n2 = rng.integers(1, 600, size=2)
        tables.append((rng.integers(0, n1 + 1), n1, rng.integers(0, n2 + 1), n2))
    a, n1, c, n2 = (np.array(column) for column in zip(*tables, strict=True))
    p = bs.fisher_p(a, n1, c, n2)
    expected = [oc.fisher_exact_p(*table) for table in tables]
    np.testing.assert_allclose(p, expected, rtol=1e-10, atol=1e-300)
    assert np.isnan(bs.fisher_p([0], [0], [1], [3])).all()  # an empty arm: NotEstimable


@pytest.mark.parametrize("correction", [False, True])
def test_chi_square_equals_scipy(correction):
    rng = np.random.default_rng(4)
    n1, n2 = rng.integers(2, 120, size=(2, 400))
    a, c = rng.integers(0, n1 + 1), rng.integers(0, n2 + 1)
    p = bs.chi_square_p(a, n1, c, n2, correction)
    for i in range(a.size):
        table = [[a[i], n1[i] - a[i]], [c[i], n2[i] - c[i]]]
        if a[i] + c[i] in (0, n1[i] + n2[i]):
            assert np.isnan(p[i])  # scipy refuses a zero margin
            continue
        expected = stats.chi2_contingency(table, correction=correction).pvalue
        assert p[i] == pytest.approx(expected, rel=1e-10, abs=1e-300)


def _statsmodels_cmh(responder, experimental, site, correction) -> float:
    """statsmodels' CMH test; with the correction only when the deviation is at least
    1/2, as R's mantelhaen.test (statsmodels would square |deviation| - 1/2 < 0)."""
    from statsmodels.stats.contingency_tables import StratifiedTable

    tables = []
    for k in np.unique(site):
        counted = (site == k) & ~np.isnan(responder)
        a = np.nansum(responder[counted & experimental])
        c = np.nansum(responder[counted & ~experimental])
        m, n = (counted & experimental).sum(), (counted & ~experimental).sum()
        tables.append([[a, m - a], [c, n - c]])
    tables = np.array(tables, dtype=float)
    totals = tables.sum(axis=(1, 2))
    expected = tables[:, 0].sum(axis=1) * tables[:, :, 0].sum(axis=1) / totals
    deviation = abs(np.sum(tables[:, 0, 0] - expected))
    result = StratifiedTable(tables.transpose(1, 2, 0))
    return float(result.test_null_odds(correction=correction and deviation >= 0.5).pvalue)


@pytest.mark.parametrize("policy", pw.PLANNING_MISSING_POLICIES)
@pytest.mark.parametrize("correction", [False, True])
def test_cmh_equals_statsmodels(policy, correction):
    batch = pw.simulate_block(MULTI_SITE, 25, 60, seed=8, missing_policy=policy)
    p = bs.cmh_p(batch.responder, batch.experimental, batch.site, correction)
    for row, value in zip(batch.responder, p, strict=True):
        expected = _statsmodels_cmh(row, batch.experimental, batch.site, correction)
        assert value == pytest.approx(expected, rel=1e-10)


def test_not_estimable_trials_are_nan_as_the_workflow_refuses_them():
    experimental = np.array([True, True, True, False, False, False])
    values = np.array(
        [
            [1.0, 2.0, 3.0, np.nan, np.nan, np.nan],  # control arm empty
            [2.0, 2.0, 2.0, 2.0, 2.0, 2.0],  # no variation
            [1.0, 2.0, 4.0, 3.0, 5.0, 8.0],  # fine
        ]
    )
    baseline = np.tile([30.0, 31.0, 35.0, 29.0, 33.0, 30.0], (3, 1))
    t = bs.t_test_p(values, experimental)
    assert np.isnan(t[:2]).all() and np.isfinite(t[2])
    with pytest.raises(oc.NotEstimable):
        oc.mean_difference(values[1, :3], values[1, 3:])
    mw = bs.mann_whitney_p(values, experimental)
    assert np.isnan(mw[0]) and mw[1] == 1.0  # all tied: P = 1, as the workflow
    assert oc.mann_whitney(values[1, :3], values[1, 3:]).p_value == 1.0
    ancova = bs.ancova_p(values, baseline, experimental)
    assert np.isnan(ancova[:2]).all() and np.isfinite(ancova[2])


# --------------------------------------------------------------------------------------
# Known answers
# --------------------------------------------------------------------------------------


def _exact_2x2_power(n: int, p1: float, p2: float, kind: str, alpha: float = 0.05) -> float:
    """Power of the chi-square test of two binomial(n) groups, by summing over every
    table (independent of the package)."""
    x = np.arange(n + 1)
    a, c = x[:, None], x[None, :]
    b, d = n - a, n - c
    deviation = np.abs(a * d - b * c).astype(float)
    if kind == "yates":
        deviation = np.maximum(deviation - n, 0.0)  # N / 2 with N = 2n
    margins = (n * n * (a + c) * (b + d)).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        statistic = np.where(margins > 0, 2 * n * deviation**2 / margins, 0.0)
    reject = statistic > stats.chi2.isf(alpha, 1)
    weights = stats.binom.pmf(x, n, p1)[:, None] * stats.binom.pmf(x, n, p2)[None, :]
    return float(np.sum(weights * reject))


def _fleiss_n(p1: float, p2: float, power: float, alpha: float = 0.05) -> tuple[float, float]:
    """Per-arm n of the normal-approximation formula (uncorrected) and with Fleiss'
    continuity correction (Fleiss, Tytun & Ury 1980)."""
    z_a, z_b = stats.norm.isf(alpha / 2), stats.norm.ppf(power)
    mean = (p1 + p2) / 2
    n = (
        z_a * math.sqrt(2 * mean * (1 - mean)) + z_b * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    ) ** 2 / (p1 - p2) ** 2
    corrected = n / 4 * (1 + math.sqrt(1 + 4 / (n * abs(p1 - p2)))) ** 2
    return n, corrected


def test_textbook_sample_sizes():
    """The analytic answers the simulation is held against (statsmodels and the formula)."""
    from statsmodels.stats.power import TTestIndPower

    assert math.ceil(TTestIndPower().solve_power(0.8, power=0.8, alpha=0.05)) == 26
    n, corrected = _fleiss_n(0.8, 0.6, 0.8)
    assert (math.ceil(n), math.ceil(corrected)) == (82, 91)
    # The normal formula is approximate: the tests' exact power at those n
    assert _exact_2x2_power(82, 0.8, 0.6, "pearson") == pytest.approx(0.8074, abs=1e-4)
    assert _exact_2x2_power(91, 0.8, 0.6, "yates") == pytest.approx(0.8016, abs=1e-4)


def test_simulated_t_test_power_matches_the_noncentral_t():
    from statsmodels.stats.power import TTestIndPower

    curves = pw.power_curves(_known_params([20, 26, 34]))
    t_test = curves[curves["analysis"] == "t_test"].set_index("n_per_arm")
    for n in (20, 26, 34):
        analytic = TTestIndPower().power(0.8, n, 0.05)
        assert t_test.loc[n, "power"] == pytest.approx(
            analytic, abs=3 * _se(analytic, KNOWN_TRIALS)
        )


def test_simulated_chi_square_power_matches_the_exact_power():
    params = _known_params([60, 82, 91, 110], extra=["chi_square_yates"])
    curves = pw.power_curves(params).set_index(["analysis", "n_per_arm"])
    for kind, name in (("pearson", "chi_square"), ("yates", "chi_square_yates")):
        for n in (60, 82, 91, 110):
            exact = _exact_2x2_power(n, 0.8, 0.6, kind)
            simulated = curves.loc[(name, n), "power"]
            assert simulated == pytest.approx(exact, abs=3 * _se(exact, KNOWN_TRIALS)), (name, n)


def test_planner_n_per_arm_matches_the_analytic_n_and_mann_whitney_fisher_need_more():
    """The planner's n for 80% power (a probit fit to the simulated curve) against the
    analytic n of each test, and the pilot's prespecified tests (Mann-Whitney, Fisher)
    needing more than the t and chi-square tests, as the table reports them."""
    from statsmodels.stats.power import TTestIndPower

    grid = [18, 20, 22, 24, 26, 28, 30, 32, 34, 70, 75, 80, 85, 90, 95, 100, 105]
    params = _known_params(grid, extra=["chi_square_yates", "mann_whitney"])
    results = pw.plan_trial(params)
    sizes = results.sample_sizes[np.isclose(results.sample_sizes["target_power"], 0.8)]
    sizes = sizes.set_index("analysis")

    def within(name: str, analytic: float) -> None:
        row = sizes.loc[name]
        half_width = (row["n_fitted_high"] - row["n_fitted_low"]) / 2
        assert row["n_fitted_low"] < row["n_fitted"] < row["n_fitted_high"]
        assert abs(row["n_fitted"] - analytic) < 1.5 * half_width, (name, row["n_fitted"])

    within("t_test", TTestIndPower().solve_power(0.8, power=0.8, alpha=0.05))  # 25.5
    exact_pearson = next(
        n for n in range(60, 120) if _exact_2x2_power(n, 0.8, 0.6, "pearson") >= 0.8
    )
    within("chi_square", exact_pearson)  # 80 (the formula's 82 is conservative)
    assert sizes.loc["t_test", "n_needed"] in (25, 26, 27)
    assert sizes.loc["chi_square", "n_needed"] in range(79, 84)
    assert sizes.loc["chi_square_yates", "n_needed"] in range(89, 94)  # Fleiss: 91
    # Mann-Whitney: about n_t x pi / 3 (asymptotic relative efficiency 3 / pi under
    # normality); Fisher: about the continuity-corrected chi-square, more than Pearson's.
    mann_whitney, t_test = sizes.loc["mann_whitney"], sizes.loc["t_test"]
    assert mann_whitney["n_fitted_low"] > t_test["n_fitted_high"]
    assert mann_whitney["n_fitted"] == pytest.approx(t_test["n_fitted"] * math.pi / 3, abs=1.5)
    fisher, pearson = sizes.loc["fisher"], sizes.loc["chi_square"]
    assert fisher["n_fitted_low"] > pearson["n_fitted_high"]
    assert fisher["n_needed"] in range(88, 95)
    # the table prints the simulated n of the pilot's tests
    table = results.table
    for name, label in (("mann_whitney", "Mann-Whitney U test"), ("fisher", "Fisher exact test")):
        cell = table[table["row"].str.endswith(label) & (table["column"] == "power80")].iloc[0]
        assert cell["value"] == sizes.loc[name, "n_needed"]


def test_type_i_error_is_alpha_without_site_variance():
    curves = pw.power_curves(_known_params([30, 90], extra=["fisher", "mann_whitney"]))
    for name, rate in curves.groupby("analysis")["type_i_error"]:
        nominal = 0.05
        # Fisher's test and the continuity-corrected Mann-Whitney test are conservative
        assert rate.max() < nominal + 3 * _se(nominal, KNOWN_TRIALS), name
        if name in ("t_test", "chi_square"):
            assert rate.min() > nominal - 3 * _se(nominal, KNOWN_TRIALS), name


@pytest.mark.slow
def test_known_answers_to_a_tenth_of_a_point():
    """20,000 trials per point (SE 0.28 points at 80%): t, Pearson, Yates and Fisher
    against their exact power (Fisher by summing scipy's P over every table)."""
    from statsmodels.stats.power import TTestIndPower

    trials = 20_000
    params = _known_params([26, 82, 91], extra=["chi_square_yates"], n_trials=trials, seed=99)
    curves = pw.power_curves(params).set_index(["analysis", "n_per_arm"])
    analytic = TTestIndPower().power(0.8, 26, 0.05)
    assert curves.loc[("t_test", 26), "power"] == pytest.approx(analytic, abs=3 * _se(0.8, trials))
    for n in (82, 91):
        for kind, name in (("pearson", "chi_square"), ("yates", "chi_square_yates")):
            exact = _exact_2x2_power(n, 0.8, 0.6, kind)
            assert curves.loc[(name, n), "power"] == pytest.approx(exact, abs=3 * _se(0.8, trials))
        x = np.arange(n + 1)
        weights = stats.binom.pmf(x, n, 0.8)[:, None] * stats.binom.pmf(x, n, 0.6)[None, :]
        reject = np.array(
            [[oc.fisher_exact_p(a, n, c, n) < 0.05 for c in x] for a in x], dtype=float
        )
        exact = float(np.sum(weights * reject))
        assert curves.loc[("fisher", n), "power"] == pytest.approx(exact, abs=3 * _se(0.8, trials))


# --------------------------------------------------------------------------------------
# The simulated trial
# --------------------------------------------------------------------------------------


def test_simulated_trials_have_the_configured_marginals():
    scenario = replace(MULTI_SITE, n_sites=5, miss_share=0.0, site_effect_sd=1.5)
    batch = pw.simulate_block(scenario, 200, 400, seed=11)
    x = batch.experimental
    rated = ~np.isnan(batch.reduction)
    assert rated.mean() == pytest.approx(1 - scenario.dropout, abs=0.005)
    # response rates averaged over sites, among the rated
    responder = np.where(rated, batch.responder, np.nan)
    assert np.nanmean(responder[:, x]) == pytest.approx(scenario.response_connectivity, abs=0.01)
    assert np.nanmean(responder[:, ~x]) == pytest.approx(scenario.response_scalp, abs=0.01)
    assert (batch.responder[~rated] == 0).all()  # non_responder: dropouts in the denominator
    # effect and SD within site and arm, correlation with baseline
    within = batch.reduction - np.nanmean(batch.reduction[:, ~x], axis=1, keepdims=True)
    difference = np.nanmean(within[:, x]) - np.nanmean(within[:, ~x])
    assert difference == pytest.approx(scenario.effect_points, abs=0.15)
    one_site = (batch.site == 0) & ~x
    values = batch.reduction[:, one_site]
    centred = values - np.nanmean(values, axis=1, keepdims=True)
    assert np.sqrt(np.nanmean(centred**2)) == pytest.approx(scenario.reduction_sd, rel=0.03)
    base = batch.baseline[:, one_site] - batch.baseline[:, one_site].mean(axis=1, keepdims=True)
    keep = ~np.isnan(centred)
    correlation = np.corrcoef(base[keep], centred[keep])[0, 1]
    assert correlation == pytest.approx(scenario.baseline_reduction_correlation, abs=0.03)
    assert batch.baseline.min() >= scenario.baseline_min
    assert batch.baseline.max() <= scenario.baseline_max
    assert batch.baseline.mean() == pytest.approx(scenario.baseline_moments[0], abs=0.05)


def test_missed_targets_dilute_the_effect():
    scenario = replace(MULTI_SITE, n_sites=1, site_effect_sd=0.0, miss_share=0.25, dropout=0.0)
    batch = pw.simulate_block(scenario, 300, 200, seed=12)
    x = batch.experimental
    assert batch.missed[:, x].mean() == pytest.approx(0.25, abs=0.01)
    assert not batch.missed[:, ~x].any()
    difference = batch.reduction[:, x].mean() - batch.reduction[:, ~x].mean()
    assert scenario.itt_effect_points == pytest.approx(0.75 * scenario.effect_points)
    assert difference == pytest.approx(scenario.itt_effect_points, abs=0.15)
    missed_rate = batch.responder[:, x][batch.missed[:, x]].mean()
    assert missed_rate == pytest.approx(scenario.response_scalp, abs=0.015)


def test_design_is_balanced_and_stratified_by_site():
    experimental, site = pw.trial_design(13, 4)
    assert experimental.sum() == 13 and (~experimental).sum() == 13
    for k in range(4):
        assert experimental[site == k].sum() == (~experimental[site == k]).sum()
    assert sorted(np.bincount(site)) == [6, 6, 6, 8]
    assert np.all(np.diff(site) >= 0)  # site-major order


def test_power_rises_with_n_and_falls_with_site_variance():
    shared = {**KNOWN, "n_sites": 6, "cohens_d": 0.5, "response_connectivity": 0.75}
    scenarios = (
        {**shared, "name": "none"},
        {**shared, "name": "intercepts", "site_intercept_sd": 4.0},
        {**shared, "name": "effects", "site_effect_sd": 3.0},
    )
    params = pw.PlanningParams(
        n_trials=1000,
        n_per_arm=(20, 40, 60, 90, 200, 300),
        analysis="ancova_site",
        response_analysis="cmh",
        scenarios=scenarios,
    )
    power = pw.power_curves(params).set_index(["scenario", "analysis", "n_per_arm"])["power"]
    power = power.sort_index()
    for scenario in ("none", "intercepts", "effects"):
        for name in ("ancova_site", "mann_whitney", "cmh", "fisher"):
            curve = power.loc[(scenario, name)].to_numpy()
            assert np.all(np.diff(curve) >= 0), (scenario, name, curve)
            assert curve[-1] - curve[0] > 0.3, (scenario, name, curve)
    # between-site differences in the effect cost every test power where power matters
    # (where it is near alpha they add rejections: the type I error rises, see below)
    checks = [(name, n) for name in ("ancova_site", "mann_whitney") for n in (40, 60, 90)]
    checks += [(name, n) for name in ("cmh", "fisher") for n in (200, 300)]
    for name, n in checks:
        assert power.loc[("effects", name, n)] < power.loc[("none", name, n)] - 0.03, (name, n)
    # differences in the mean cost the tests that ignore site, not the ones stratified by it
    for n in (40, 60, 90):
        intercepts, none = (
            power.loc[("intercepts", "mann_whitney", n)],
            power.loc[("none", "mann_whitney", n)],
        )
        assert intercepts < none - 0.03
        assert power.loc[("intercepts", "ancova_site", n)] == pytest.approx(
            power.loc[("none", "ancova_site", n)], abs=0.02
        )


def test_site_differences_in_the_effect_inflate_the_type_i_error():
    """The fixed-site ANCOVA ignores between-site variation of the effect: without an
    average effect it rejects more often than alpha, as normal theory predicts (the
    estimate's variance grows by site_effect_sd^2 / n_sites, its SE does not)."""
    scenario = {**KNOWN, "n_sites": 6, "site_effect_sd": 3.0}
    params = replace(
        _known_params([40, 85], n_trials=4000), analysis="ancova_site", scenarios=(scenario,)
    )
    curves = pw.power_curves(params)
    type_i = curves[curves["analysis"] == "ancova_site"].set_index("n_per_arm")["type_i_error"]
    sd = pw.Scenario().reduction_sd
    for n in (40, 85):
        variance = sd**2 * 2 / n
        inflated = 2 * stats.norm.sf(stats.norm.isf(0.025) / math.sqrt(1 + 3.0**2 / 6 / variance))
        assert type_i[n] == pytest.approx(inflated, abs=3 * _se(inflated, 4000)), n
    assert type_i[85] > type_i[40] > 0.08


def test_rerun_and_workers_give_identical_results():
    params = replace(
        pw.PlanningParams(), n_trials=600, n_per_arm=(10, 40), scenarios=pw.DEFAULT_SCENARIOS[:2]
    )
    one = pw.plan_trial(params, workers=1)
    two = pw.plan_trial(params, workers=2)
    pd.testing.assert_frame_equal(one.curves, two.curves)
    pd.testing.assert_frame_equal(one.sample_sizes, two.sample_sizes)
    again = pw.power_curves(params)
    pd.testing.assert_frame_equal(one.curves, again)
    # a scenario's numbers do not depend on the others (common random numbers by n)
    alone = pw.power_curves(replace(params, scenarios=pw.DEFAULT_SCENARIOS[1:2]))
    shrunken = one.curves[one.curves["scenario"] == "shrunken"].reset_index(drop=True)
    pd.testing.assert_frame_equal(shrunken, alone)


# --------------------------------------------------------------------------------------
# Sample size from the curve
# --------------------------------------------------------------------------------------


def test_required_n_recovers_an_exact_probit_curve():
    n = np.array([10, 20, 30, 40, 60, 80])
    power = stats.norm.cdf(-1.2 + 0.35 * np.sqrt(n))
    trials = np.full(n.size, 10**9)
    result = pw.required_n(n, np.round(power * trials), trials, 0.8)
    expected = ((stats.norm.ppf(0.8) + 1.2) / 0.35) ** 2
    assert result.status == "fitted"
    assert result.n == pytest.approx(expected, rel=1e-4)
    assert result.low < result.n < result.high and result.high - result.low < 0.01
    assert result.needed == math.ceil(expected)
    assert pw.required_n(n, np.round(power * trials), trials, 0.999).status == "above_grid"
    assert pw.required_n(n, np.round(power * trials), trials, 0.1).status == "below_grid"


def test_median_error_for_miss_share():
    # 3-D isotropic normal error: P(distance > r) = chi2_3 tail at (r / sigma)^2
    median = pw.median_error_for_miss_share(0.2, 10.0)
    sigma = median / math.sqrt(stats.chi2.ppf(0.5, 3))
    assert stats.chi2.sf((10.0 / sigma) ** 2, 3) == pytest.approx(0.2)
    assert math.isnan(pw.median_error_for_miss_share(0.0, 10.0))


# --------------------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------------------


def _schema_planning() -> dict:
    schema = yaml.safe_load((REPO / "config" / "schema.yaml").read_text())
    return schema["properties"]["planning"]["properties"]


def test_params_defaults_equal_the_schema():
    properties = _schema_planning()
    params = pw.PlanningParams()
    for name, spec in properties.items():
        value = getattr(params, name)
        if name == "scenarios":
            value = [dict(s) for s in value]
        elif isinstance(value, tuple):
            value = list(value)
        elif hasattr(value, "items"):
            value = dict(value)
        if name == "scenario_defaults":
            assert value == {k: v["default"] for k, v in spec["properties"].items()}
        else:
            assert value == spec["default"], name
    scenario = pw.Scenario()
    assert set(pw.SCENARIO_KEYS) == set(properties["scenario_defaults"]["properties"])
    for key in pw.SCENARIO_KEYS:
        assert getattr(scenario, key) == params.scenario_defaults[key]


def test_default_shrunken_effect_is_the_pilots_safeguard_d():
    """cohens_d 0.52: the lower limit of the two-sided 60% CI of the pilot's d of 0.8
    with 20 + 20 (Hedges-Olkin SE), and the response difference shrunk alike."""
    d, n = 0.8, 20
    se = math.sqrt(2 / n + d**2 / (4 * n))
    safeguard = d - stats.norm.ppf(0.8) * se
    assert pw.Scenario().cohens_d == pytest.approx(safeguard, abs=0.005)
    shrink = pw.Scenario().cohens_d / d
    assert pw.Scenario().response_connectivity == pytest.approx(0.6 + 0.2 * shrink, abs=0.005)
    assert pw.Scenario().reduction_sd == pytest.approx((24 - 18) / 0.8)


@pytest.mark.parametrize(
    ("planning", "outcomes", "message"),
    [
        ({"analysis": "cmh"}, {}, "planning.analysis"),
        ({"response_analysis": "ancova"}, {}, "planning.response_analysis"),
        ({"n_per_arm": [30, 20]}, {}, "planning.n_per_arm"),
        ({"scenarios": [{"name": "a", "cohen_d": 1}]}, {}, r"planning.scenarios\[0\]"),
        ({"scenarios": [{"name": "a"}, {"name": "a"}]}, {}, "unique"),
        ({"scenarios": [{"name": "a", "dropout": 1.0}]}, {}, r"scenarios\[a\].dropout"),
        ({}, {"primary_analysis": "random_intercept"}, "outcomes.primary_analysis"),
        ({}, {"missing_policy": "last_observation"}, "outcomes.missing_policy"),
        ({"colour": "red"}, {}, "planning: unknown key"),
    ],
)
def test_bad_settings_name_their_key(planning, outcomes, message):
    with pytest.raises(ValueError, match=message):
        pw.PlanningParams.from_config(planning, outcomes)


def test_primary_analysis_key_chooses_the_reported_test():
    for primary, test in pw.PRIMARY_ANALYSIS_TESTS.items():
        params = pw.PlanningParams.from_config({}, {"primary_analysis": primary})
        roles = {a.name: a.roles for a in params.planned_analyses()}
        assert "primary" in roles[test]
    params = pw.PlanningParams.from_config({"analysis": "mann_whitney"}, {})
    assert [a.name for a in params.planned_analyses()] == ["mann_whitney", "cmh", "fisher"]
    assert params.planned_analyses()[0].roles == ("model", "primary")


# --------------------------------------------------------------------------------------
# Tables and figure
# --------------------------------------------------------------------------------------


SMALL = replace(pw.PlanningParams(), n_trials=300, n_per_arm=(10, 20, 40, 80, 160))


@pytest.fixture(scope="module")
def small_results():
    return pw.plan_trial(SMALL)


def test_sample_size_table_rows_and_footnotes(small_results, tmp_path):
    from tmstarget import tables

    table = small_results.table
    scenarios = [s.printed_label for s in SMALL.scenario_list()]
    assert list(dict.fromkeys(table["section"])) == scenarios
    assert table.groupby("section")["row"].nunique().tolist() == [4] * len(scenarios)
    assert set(table["column"]) == {"power80", "power90", "type_i_error"}
    assert [letter for letter, _ in table.attrs["footnotes"]] == ["a", "b", "c"]
    paths = tables.write_table(table, tables.table_paths(tmp_path / "power_sample_size"))
    markdown = paths[1].read_text()
    assert "Mann-Whitney U testᵇ" in markdown and "> 160" in markdown
    assert "n per arm, 90% power (95% CI)" in markdown


def test_inputs_table_lists_every_key_and_setting(small_results):
    inputs = small_results.inputs.set_index("key")
    for key in pw.SCENARIO_KEYS:
        assert key in inputs.index
    assert inputs.loc["miss_share", "missed_targets"] == "0.2"
    assert inputs.loc["planning.n_trials", "all scenarios"] == "300"
    assert inputs.loc["outcomes.primary_analysis", "all scenarios"] == "mann_whitney"


def test_power_figure_is_written(small_results, tmp_path):
    from tmstarget.figures.power import plot_power_curves

    paths = [tmp_path / "power_curves.png", tmp_path / "power_curves.pdf"]
    plot_power_curves(small_results.curves, paths, (0.8, 0.9), 0.95, 0.05)
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert paths[1].read_bytes()[:5] == b"%PDF-"


# --------------------------------------------------------------------------------------
# The stage in Snakemake
# --------------------------------------------------------------------------------------

TINY_PLANNING = {
    "planning": {
        "n_trials": 200,
        "n_per_arm": [10, 30, 90, 270],
        "scenarios": [
            {"name": "pilot", "cohens_d": 0.8, "response_connectivity": 0.8},
            {"name": "shrunken"},
        ],
    }
}


@pytest.mark.workflow
def test_plan_trial_runs_without_data_and_reruns_to_the_same_bytes(tmp_path):
    runs = []
    for name in ("first", "second"):
        workdir = tmp_path / name
        workdir.mkdir()
        config = workdir / "planning.yaml"
        config.write_text(yaml.safe_dump(TINY_PLANNING))
        result = run_snakemake(workdir, "--cores", "2", "plan_trial", configfiles=[config])
        assert result.returncode == 0, result.output[-3000:]
        runs.append(workdir / "results")
    first = runs[0]
    assert not (first / "demo").exists()  # no data were simulated or read
    planning = first / "planning"
    made = {p.relative_to(planning).as_posix() for p in planning.rglob("*") if p.is_file()}
    assert made == {
        "figures/power_curves.png",
        "figures/power_curves.pdf",
        "source_data/power_curves.tsv",
        "source_data/power_sample_size_fits.tsv",
        *(
            f"tables/{t}.{e}"
            for t in ("power_sample_size", "power_inputs")
            for e in ("tsv", "md", "tex")
        ),
    }
    curves = pd.read_csv(planning / "source_data/power_curves.tsv", sep="\t")
    assert len(curves) == 2 * 4 * 4 and (curves["n_trials"] == 200).all()
    assert (
        curves.groupby(["scenario", "analysis"])["power"].apply(lambda p: p.is_monotonic_increasing)
    ).all()
    inputs = pd.read_csv(planning / "tables/power_inputs.tsv", sep="\t", dtype=str).set_index("key")
    assert inputs.loc["planning.n_trials", "all scenarios"] == "200"
    assert digest(runs[1] / "planning") == digest(first / "planning")


@pytest.mark.workflow
def test_main_run_leaves_planning_out_unless_enabled(tmp_path):
    plain = run_snakemake(tmp_path, "-n", "--quiet", "rules")
    assert plain.returncode == 0, plain.output[-2000:]
    assert "simulate_power" not in plain.output
    enabled = tmp_path / "enabled.yaml"
    enabled.write_text(yaml.safe_dump({"planning": {"enabled": True}}))
    result = run_snakemake(tmp_path, "-n", "manuscript", "--quiet", "rules", configfiles=[enabled])
    assert result.returncode == 0, result.output[-2000:]
    assert "simulate_power" in result.output and "plot_power" in result.output


def test_config_checks_name_the_planning_keys():
    """A bad planning value stops the run before any job (schema, then check_config);
    the outcome keys it simulates are checked up front only when the main run builds it."""
    import copy

    from snakemake.utils import validate

    from tmstarget.config import ConfigError, check_config

    schema = str(REPO / "config" / "schema.yaml")
    for bad, message in (
        ({"scenarios": [{"name": "a", "cohen_d": 1}]}, "'cohen_d' was unexpected"),
        ({"scenario_defaults": {"n_sites": 2.5}}, "is not of type 'integer'"),
        ({"analysis": "logrank"}, "'logrank' is not one of"),
    ):
        with pytest.raises(Exception, match=message):
            validate({"planning": bad}, schema)
    config: dict = {}
    validate(config, schema)
    config["outcomes"]["primary_analysis"] = "random_intercept"
    check_config(copy.deepcopy(config))  # planning off: the rule would refuse it
    config["planning"]["enabled"] = True
    with pytest.raises(ConfigError, match="outcomes.primary_analysis"):
        check_config(config)
