"""Statistics primitives of the outcome analysis: proportions, two-sample location and
effect sizes, blinding and correlation.

Pure functions on arrays and counts (no data frames of participants, no tables); the
methods and their references are in each docstring. A statistic the data cannot support
raises :class:`~tmstarget.outcomes.estimates.NotEstimable`; wrong input raises
ValueError naming the quantity."""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from scipy import optimize, special, stats

from tmstarget.outcomes.estimates import Estimate, MannWhitney, NotEstimable, NumberNeededToTreat

# --------------------------------------------------------------------------------------
# Proportions
# --------------------------------------------------------------------------------------


def _check_count(count: float, total: float, quantity: str) -> tuple[int, int]:
    """Whole ``count`` in 0..``total`` and ``total`` >= 1, as ints; otherwise an error
    naming ``quantity`` (NotEstimable for an empty group, ValueError for wrong input)."""
    for name, value in (("count", count), ("total", total)):
        if value is None or not math.isfinite(float(value)) or float(value) != round(value):
            raise ValueError(f"{quantity}: the {name} must be a whole number, got {value!r}")
    count, total = int(count), int(total)
    if total < 0 or count < 0:
        raise ValueError(f"{quantity}: counts cannot be negative (got {count}/{total})")
    if count > total:
        raise ValueError(f"{quantity}: the count {count} exceeds its total {total}")
    if total == 0:
        raise NotEstimable(f"{quantity}: no participants in the denominator (total 0)")
    return count, total


def wilson_interval(count: int, total: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for count/total, without continuity correction
    (statsmodels ``proportion_confint(method="wilson")``; Newcombe 1998, Stat Med 17:857,
    method 3). The limits are exactly 0 for count 0 and exactly 1 for count = total.

    Raises :class:`NotEstimable` for total 0 and ValueError for impossible counts.
    """
    from statsmodels.stats.proportion import proportion_confint

    count, total = _check_count(count, total, "Wilson interval")
    low, high = proportion_confint(count, total, alpha=1.0 - confidence, method="wilson")
    low = 0.0 if count == 0 else min(max(float(low), 0.0), 1.0)
    high = 1.0 if count == total else min(max(float(high), 0.0), 1.0)
    return (low, high)


def newcombe_difference(
    count1: int, total1: int, count2: int, total2: int, confidence: float = 0.95
) -> Estimate:
    """Risk difference p1 - p2 with the Newcombe hybrid score interval.

    Method 10 of Newcombe (1998), Stat Med 17:873-890 (statsmodels
    ``confint_proportions_2indep(method="newcomb")``): the distances of each proportion to
    its own Wilson limits are combined, ``L = d - sqrt((p1 - l1)^2 + (u2 - p2)^2)``,
    ``U = d + sqrt((u1 - p1)^2 + (p2 - l2)^2)``; limits within [-1, 1].

    Raises :class:`NotEstimable` when a total is 0 and ValueError for NaN, negative or
    too-large counts, naming the quantity.
    """
    from statsmodels.stats.proportion import confint_proportions_2indep

    count1, total1 = _check_count(count1, total1, "risk difference (first group)")
    count2, total2 = _check_count(count2, total2, "risk difference (second group)")
    low, high = confint_proportions_2indep(
        count1, total1, count2, total2, method="newcomb", compare="diff", alpha=1.0 - confidence
    )
    difference = count1 / total1 - count2 / total2
    return Estimate(difference, max(-1.0, float(low)), min(1.0, float(high)))


def fisher_exact_p(count1: int, total1: int, count2: int, total2: int) -> float:
    """Two-sided Fisher exact P for the 2x2 table [[count1, total1 - count1], [...]]."""
    count1, total1 = _check_count(count1, total1, "Fisher exact test (first group)")
    count2, total2 = _check_count(count2, total2, "Fisher exact test (second group)")
    table = [[count1, total1 - count1], [count2, total2 - count2]]
    return float(stats.fisher_exact(table, alternative="two-sided").pvalue)


def number_needed_to_treat(risk_difference: Estimate) -> NumberNeededToTreat:
    """Number needed to treat (here: to scan) = 1 / RD with Altman's (1998) interval.

    Altman DG, BMJ 1998;317:1309-12: invert and exchange the RD limits. A limit of exactly
    0 maps to infinity on the side it is approached from.
    """
    rd, rd_low, rd_high = risk_difference.estimate, risk_difference.low, risk_difference.high

    def inverse(x: float, sign_if_zero: float) -> float:
        if x == 0:
            return math.copysign(math.inf, sign_if_zero)
        return 1.0 / x

    estimate = inverse(rd, 1.0)
    low = inverse(rd_high, -1.0)
    high = inverse(rd_low, 1.0)
    return NumberNeededToTreat(estimate, low, high, bool(rd_low < 0 < rd_high))


def cost_per_additional_responder(nnt: NumberNeededToTreat, unit_cost: float) -> Estimate:
    """Number needed to scan * cost of one scan, with the matching interval.

    Defined only when the point estimate shows a benefit (NaN otherwise). When the RD
    interval reaches 0 or below, the upper limit is infinite (no finite cost is excluded).
    """
    if not (nnt.estimate > 0 and math.isfinite(nnt.estimate)):
        return Estimate(math.nan)
    low = nnt.low * unit_cost if nnt.low > 0 and math.isfinite(nnt.low) else math.nan
    high = nnt.high * unit_cost if nnt.high > 0 and math.isfinite(nnt.high) else math.inf
    return Estimate(nnt.estimate * unit_cost, low, high)


# --------------------------------------------------------------------------------------
# Two-sample location: Mann-Whitney, Hodges-Lehmann, d, g, ANCOVA
# --------------------------------------------------------------------------------------


def _observed(values: Sequence[float] | np.ndarray, quantity: str) -> np.ndarray:
    """The non-missing values as floats: NaN (missing) is dropped, +-inf is an error."""
    array = np.asarray(values, dtype=float).ravel()
    if np.isinf(array).any():
        raise ValueError(f"{quantity}: {int(np.isinf(array).sum())} infinite value(s) in the data")
    return array[~np.isnan(array)]


def _two_samples(
    x: Sequence[float], y: Sequence[float], quantity: str, minimum: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    x, y = _observed(x, quantity), _observed(y, quantity)
    if len(x) < minimum or len(y) < minimum:
        raise NotEstimable(
            f"{quantity}: needs at least {minimum} value(s) in each group "
            f"(got {len(x)} and {len(y)})"
        )
    return x, y


def mann_whitney(x: Sequence[float], y: Sequence[float], method: str = "asymptotic") -> MannWhitney:
    """Two-sided Mann-Whitney U test and rank-biserial correlation (x vs y).

    ``asymptotic`` uses the normal approximation with tie and continuity corrections
    (all values tied: U = n_x n_y / 2, P = 1). The rank-biserial r = 2U/(n_x n_y) - 1
    (Kerby 2014; equals Cliff's delta): the share of pairs where x is larger minus the
    share where y is larger.
    """
    x, y = _two_samples(x, y, "Mann-Whitney U")
    result = stats.mannwhitneyu(x, y, alternative="two-sided", method=method)
    u = float(result.statistic)
    return MannWhitney(u, float(result.pvalue), 2.0 * u / (len(x) * len(y)) - 1.0, len(x), len(y))


def rank_biserial(x: Sequence[float], y: Sequence[float]) -> float:
    """Rank-biserial correlation 2U/(n_x n_y) - 1 computed from all pairs (ties = 1/2)."""
    x, y = _two_samples(x, y, "rank-biserial r")
    differences = x[:, None] - y[None, :]
    u = np.sum(differences > 0) + 0.5 * np.sum(differences == 0)
    return float(2.0 * u / differences.size - 1.0)


@lru_cache(maxsize=64)
def mann_whitney_null_pmf(m: int, n: int) -> np.ndarray:
    """Exact null distribution of U (no ties) for sample sizes m and n, as probabilities.

    Recursion on the largest observation: it belongs to the first sample with probability
    m/(m+n) and then beats all n values of the second, so
    ``P_{m,n}(u) = m/(m+n) P_{m-1,n}(u-n) + n/(m+n) P_{m,n-1}(u)``.
    """
    previous = [np.ones(1) for _ in range(n + 1)]  # m' = 0: U = 0
    for i in range(1, m + 1):
        current = [np.ones(1)]
        for j in range(1, n + 1):
            pmf = np.zeros(i * j + 1)
            shifted = previous[j]
            pmf[j : j + len(shifted)] += i / (i + j) * shifted
            pmf[: len(current[j - 1])] += j / (i + j) * current[j - 1]
            current.append(pmf)
        previous = current
    return previous[n]


def moses_critical_value(m: int, n: int, confidence: float = 0.95, method: str = "exact") -> int:
    """Largest c with P(U <= c) <= alpha/2 under H0 (-1 if none).

    The Moses CI is then [D_(c+1), D_(mn-c)] of the mn ordered pairwise differences. With
    ``method="exact"`` P comes from the exact no-ties distribution (used up to 10,000
    pairs); ``normal`` uses c = floor(mn/2 - 0.5 - z sqrt(mn(m+n+1)/12)). Textbook tables:
    m = n = 10 gives 23, m = n = 20 gives 127 (two-sided 5%).
    """
    alpha_half = (1.0 - confidence) / 2.0
    if method == "exact" and m * n <= 10_000:
        cdf = np.cumsum(mann_whitney_null_pmf(min(m, n), max(m, n)))
        below = np.nonzero(cdf <= alpha_half * (1 + 1e-12))[0]
        return int(below[-1]) if below.size else -1
    z = float(stats.norm.isf(alpha_half))
    value = m * n / 2.0 - 0.5 - z * math.sqrt(m * n * (m + n + 1) / 12.0)
    return max(-1, int(math.floor(value)))


def hodges_lehmann(
    x: Sequence[float], y: Sequence[float], confidence: float = 0.95, method: str = "exact"
) -> Estimate:
    """Hodges-Lehmann shift (median of all x_i - y_j) with the Moses CI.

    Hollander & Wolfe, Nonparametric Statistical Methods, ch. 4. ``method`` chooses the
    critical value (see :func:`moses_critical_value`); with ties the order-statistic interval
    is kept as is (slightly conservative). When the samples are too small for any interval
    at ``confidence`` the limits are -inf and inf (documented, not an error). The P value is
    not set here (use Mann-Whitney). An empty group raises :class:`NotEstimable`.
    """
    x, y = _two_samples(x, y, "Hodges-Lehmann shift")
    differences = np.sort((x[:, None] - y[None, :]).ravel())
    estimate = float(np.median(differences))
    c = moses_critical_value(len(x), len(y), confidence, method)
    if c < 0:
        return Estimate(estimate, -math.inf, math.inf)
    return Estimate(estimate, float(differences[c]), float(differences[len(differences) - c - 1]))


def hedges_correction(df: float) -> float:
    """Exact small-sample factor J(df) = Gamma(df/2) / (sqrt(df/2) Gamma((df-1)/2)).

    Hedges (1981); J(2) = 0.5642, J(4) = 0.7979, about 1 - 3/(4 df - 1) for large df.
    Defined for df > 1 (J tends to 0 as df -> 1); smaller df raise ValueError.
    """
    if not df > 1:
        raise ValueError(f"Hedges' correction J(df): needs df > 1, got {df}")
    return float(
        math.exp(special.gammaln(df / 2) - special.gammaln((df - 1) / 2)) / math.sqrt(df / 2)
    )


def _noncentral_t_limits(t: float, df: float, confidence: float) -> tuple[float, float]:
    """Noncentrality parameters whose t distributions put t at the CI quantiles."""
    alpha_half = (1.0 - confidence) / 2.0

    def solve(target: float) -> float:
        def f(ncp: float) -> float:
            value = float(stats.nct.cdf(t, df, ncp))
            if math.isnan(value):  # far tails: the cdf is 1 below t and 0 above
                value = 1.0 if ncp < t else 0.0
            return value - target

        # the ncp CI is about t +- z sqrt(1 + t^2 / (2 df)); start there, widen if needed
        width = 1.0 + 3.0 * math.sqrt(1.0 + t * t / (2.0 * df))
        lower, upper = t - width, t + width
        while f(lower) < 0:
            lower -= width
        while f(upper) > 0:
            upper += width
        return float(optimize.brentq(f, lower, upper, xtol=1e-10))

    return solve(1.0 - alpha_half), solve(alpha_half)


def _pooled_sd(x: np.ndarray, y: np.ndarray) -> float:
    df = len(x) + len(y) - 2
    sum_squares = float(np.sum((x - x.mean()) ** 2) + np.sum((y - y.mean()) ** 2))
    return math.sqrt(sum_squares / df)


def cohens_d(
    x: Sequence[float], y: Sequence[float], confidence: float = 0.95, method: str = "noncentral_t"
) -> Estimate:
    """Cohen's d = (mean x - mean y) / pooled SD, with a CI.

    ``noncentral_t`` (exact under normality; Steiger & Fouladi 1997, as MBESS::ci.smd):
    the CI limits of the noncentrality parameter of t = d / sqrt(1/n_x + 1/n_y), rescaled.
    ``normal``: Hedges & Olkin (1985) SE sqrt((n_x+n_y)/(n_x n_y) + d^2 / (2 (n_x+n_y))).
    The P value is the pooled-variance t test. Fewer than 2 values in a group, or no
    variation in either group (pooled SD 0, e.g. all reductions tied), raise
    :class:`NotEstimable`.
    """
    x, y = _two_samples(x, y, "Cohen's d", minimum=2)
    n_x, n_y = len(x), len(y)
    df = n_x + n_y - 2
    pooled = _pooled_sd(x, y)
    if not pooled > 0:
        raise NotEstimable("Cohen's d: undefined when neither group varies (pooled SD 0)")
    d = float((np.mean(x) - np.mean(y)) / pooled)
    scale = math.sqrt(1.0 / n_x + 1.0 / n_y)
    t = d / scale
    p_value = float(2.0 * stats.t.sf(abs(t), df))
    if method == "noncentral_t":
        low_ncp, high_ncp = _noncentral_t_limits(t, df, confidence)
        return Estimate(d, low_ncp * scale, high_ncp * scale, p_value)
    z = float(stats.norm.isf((1.0 - confidence) / 2.0))
    se = math.sqrt((n_x + n_y) / (n_x * n_y) + d * d / (2.0 * (n_x + n_y)))
    return Estimate(d, d - z * se, d + z * se, p_value, se)


def hedges_g(
    x: Sequence[float], y: Sequence[float], confidence: float = 0.95, method: str = "noncentral_t"
) -> Estimate:
    """Hedges' g = J(df) * d with the CI of d multiplied by J (exact J, see above)."""
    d = cohens_d(x, y, confidence, method)
    j = hedges_correction(len(_observed(x, "Hedges' g")) + len(_observed(y, "Hedges' g")) - 2)
    return Estimate(j * d.estimate, j * d.low, j * d.high, d.p_value, j * d.se)


def mean_difference(x: Sequence[float], y: Sequence[float], confidence: float = 0.95) -> Estimate:
    """Mean x - mean y with the pooled-variance (Student) t CI and P.

    Defined with one value in a group as long as the other has two or more (df = n_x +
    n_y - 2 >= 1; the single value adds nothing to the pooled variance). An empty group,
    two values in all, or no variation at all (pooled SD 0) raise :class:`NotEstimable`.
    """
    x, y = _two_samples(x, y, "mean difference")
    df = len(x) + len(y) - 2
    if df < 1:
        raise NotEstimable("mean difference: needs at least 3 values in all for a t interval")
    pooled = _pooled_sd(x, y)
    if not pooled > 0:
        raise NotEstimable("mean difference: no variation in either group (pooled SD 0)")
    difference = float(np.mean(x) - np.mean(y))
    se = pooled * math.sqrt(1.0 / len(x) + 1.0 / len(y))
    critical = float(stats.t.isf((1.0 - confidence) / 2.0, df))
    p_value = float(2.0 * stats.t.sf(abs(difference / se), df))
    return Estimate(difference, difference - critical * se, difference + critical * se, p_value, se)


def ancova_difference(
    outcome: Sequence[float],
    baseline: Sequence[float],
    experimental: Sequence[bool],
    confidence: float = 0.95,
) -> Estimate:
    """Arm difference adjusted for baseline: OLS ``outcome ~ 1 + experimental + baseline``.

    Returns the coefficient of the experimental indicator with its t-based CI and P.
    Rows with a missing outcome or baseline are dropped. :class:`NotEstimable` when fewer
    than 4 rows remain, an arm has no row, the baseline does not vary (it cannot be
    separated from the intercept), or the model fits exactly (residual variance 0: no CI
    or P exists). Infinite values raise ValueError.
    """
    import statsmodels.api as sm

    outcome = np.asarray(outcome, dtype=float)
    baseline = np.asarray(baseline, dtype=float)
    indicator = np.asarray(experimental, dtype=float)
    if np.isinf(outcome).any() or np.isinf(baseline).any():
        raise ValueError("ANCOVA: infinite value(s) in the outcome or baseline")
    keep = ~np.isnan(outcome) & ~np.isnan(baseline)
    n_arm = int(indicator[keep].sum())
    if n_arm == 0 or n_arm == int(keep.sum()):
        raise NotEstimable(
            f"ANCOVA: needs participants in both arms with an outcome and a baseline "
            f"(got {n_arm} and {int(keep.sum()) - n_arm})"
        )
    if keep.sum() < 4:
        raise NotEstimable(f"ANCOVA: {int(keep.sum())} participants cannot estimate 3 terms")
    design = np.column_stack([np.ones(keep.sum()), indicator[keep], baseline[keep]])
    if np.linalg.matrix_rank(design) < 3:
        raise NotEstimable("ANCOVA: the baseline does not vary, so it cannot be adjusted for")
    fit = sm.OLS(outcome[keep], design).fit()
    total = float(np.sum((outcome[keep] - outcome[keep].mean()) ** 2))
    if float(fit.ssr) <= 1e-20 * max(total, 1.0):
        raise NotEstimable("ANCOVA: the model fits the data exactly (residual variance 0)")
    low, high = fit.conf_int(alpha=1.0 - confidence)[1]
    return Estimate(
        float(fit.params[1]), float(low), float(high), float(fit.pvalues[1]), float(fit.bse[1])
    )


def median_iqr(values: Sequence[float]) -> tuple[float, float, float]:
    """Median, 25th and 75th percentile (linear interpolation, R type 7); NaN when empty."""
    values = _observed(values, "median (IQR)")
    if values.size == 0:
        return (math.nan, math.nan, math.nan)
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    return (float(median), float(q1), float(q3))


# --------------------------------------------------------------------------------------
# Blinding and correlation
# --------------------------------------------------------------------------------------


def tango_score_statistic(n_correct: int, n_incorrect: int, n: int, delta: float) -> float:
    """Tango's (1998) score statistic for H0: p_correct - p_incorrect = ``delta``.

    Tango T, Stat Med 17:891-908: with b correct, c incorrect of n (the rest don't know),
    the constrained MLE of p_incorrect is the positive root of ``2n q^2 - (b + c - (2n - b +
    c) delta) q - c delta (1 - delta) = 0`` and ``Z = (b - c - n delta) / sqrt(n (2q + delta
    - delta^2))``. At delta = 0 it is McNemar's (b - c) / sqrt(b + c).
    """
    b, c = float(n_correct), float(n_incorrect)
    a_coefficient = 2.0 * n
    b_coefficient = -b - c + (2.0 * n - b + c) * delta
    c_coefficient = -c * delta * (1.0 - delta)
    discriminant = max(b_coefficient * b_coefficient - 4.0 * a_coefficient * c_coefficient, 0.0)
    q = (-b_coefficient + math.sqrt(discriminant)) / (2.0 * a_coefficient)
    variance = n * (2.0 * q + delta - delta * delta)
    numerator = b - c - n * delta
    if variance <= 0:
        return math.copysign(math.inf, numerator) if numerator else 0.0
    return numerator / math.sqrt(variance)


def bang_blinding_index(
    n_correct: int, n_incorrect: int, n_dont_know: int, confidence: float = 0.95
) -> Estimate:
    """Bang's blinding index for one arm with Tango's score CI.

    Bang, Ni & Davis (2004), Control Clin Trials 25:143-156:
    BI = (2 c/(c+i) - 1) (c+i)/n = (c - i)/n with n = c + i + don't know, i.e. the
    difference between the shares of correct and incorrect guesses. BI = 0: random
    guessing; 1: everyone correct; -1: everyone wrong. The CI inverts Tango's score test
    for a difference of two multinomial shares of one sample (:func:`tango_score_statistic`,
    the paired-proportions interval, which depends only on c, i and n): it stays within
    [-1, 1] and has positive width even when every guess is correct (lower limit
    (n - z^2)/(n + z^2), the Wilson limit on the BI scale). ``se`` is the multinomial
    (Wald) SE sqrt((p_c (1 - p_c) + p_i (1 - p_i) + 2 p_c p_i)/n) of the R package BI.
    No answers (n = 0) give NaN; negative or non-whole counts raise ValueError.
    Bang prefers one-sided intervals for claims of unblinding; we report the two-sided one.
    """
    counts = (n_correct, n_incorrect, n_dont_know)
    for value in counts:
        if value is None or not math.isfinite(float(value)) or value != round(value) or value < 0:
            raise ValueError(f"Bang blinding index: counts must be whole and >= 0, got {counts}")
    b, c, n = int(n_correct), int(n_incorrect), int(sum(counts))
    if n == 0:
        return Estimate(math.nan)
    p_c, p_i = b / n, c / n
    estimate = p_c - p_i
    se = math.sqrt((p_c * (1 - p_c) + p_i * (1 - p_i) + 2 * p_c * p_i) / n)
    z = float(stats.norm.isf((1.0 - confidence) / 2.0))
    edge = 1e-12

    def solve(target: float, low: float, high: float) -> float:
        return float(
            optimize.brentq(
                lambda d: tango_score_statistic(b, c, n, d) - target, low, high, xtol=1e-12
            )
        )

    lower = -1.0 if b == 0 and c == n else solve(z, -1.0 + edge, min(estimate, 1.0 - edge))
    upper = 1.0 if b == n else solve(-z, max(estimate, -1.0 + edge), 1.0 - edge)
    return Estimate(estimate, max(-1.0, lower), min(1.0, upper), math.nan, se)


def spearman_with_ci(
    x: Sequence[float],
    y: Sequence[float],
    confidence: float = 0.95,
    method: str = "fisher",
    n_bootstrap: int = 2000,
    seed: int = 0,
) -> tuple[Estimate, int]:
    """Spearman rho with P (scipy, t approximation) and a CI; returns (estimate, n).

    ``fisher``: tanh(atanh(rho) +- z * sqrt((1 + rho^2/2) / (n - 3))) (Bonett & Wright
    2000, Psychometrika 65:23-28). ``bootstrap``: percentile interval of ``n_bootstrap``
    pair resamples drawn with ``numpy.random.default_rng(seed)``. Pairs with a missing
    value are dropped.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    n = len(x)
    if n < 4 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return Estimate(math.nan), n
    result = stats.spearmanr(x, y)
    rho, p_value = float(result.statistic), float(result.pvalue)
    if method == "fisher":
        if abs(rho) >= 1:
            return Estimate(rho, rho, rho, p_value), n
        z = float(stats.norm.isf((1.0 - confidence) / 2.0))
        se = math.sqrt((1 + rho * rho / 2) / (n - 3))
        centre = math.atanh(rho)
        return Estimate(rho, math.tanh(centre - z * se), math.tanh(centre + z * se), p_value, se), n
    rng = np.random.default_rng(seed)
    indices = rng.integers(0, n, size=(n_bootstrap, n))
    ranks_x = stats.rankdata(x[indices], axis=1)
    ranks_y = stats.rankdata(y[indices], axis=1)
    ranks_x -= ranks_x.mean(axis=1, keepdims=True)
    ranks_y -= ranks_y.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        rhos = (ranks_x * ranks_y).sum(axis=1) / np.sqrt(
            (ranks_x**2).sum(axis=1) * (ranks_y**2).sum(axis=1)
        )
    rhos = rhos[np.isfinite(rhos)]
    alpha_half = (1.0 - confidence) / 2.0
    low, high = np.quantile(rhos, [alpha_half, 1.0 - alpha_half])
    return Estimate(rho, float(low), float(high), p_value), n
