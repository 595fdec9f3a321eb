"""Trial outcome statistics: primary and secondary outcomes, blinding, safety, mechanism.

Pure functions on arrays and data frames; nothing here plots or writes files. Inputs are
the validated frames of :mod:`tmstarget.clinical` (arms as roles ``connectivity`` and
``scalp``). Every number is deterministic: the only resampling (optional bootstrap CIs of
correlations) uses ``OutcomeParams.seed``.

Conventions
-----------
- **Direction**: every comparison is experimental minus control, i.e. connectivity minus
  scalp. A number needed to scan is ``1 / (p_connectivity - p_scalp)``.
- **Reduction** (points) = baseline MADRS - MADRS at the visit; *positive = improvement*.
  Between-arm differences of reductions (Hodges-Lehmann shift, mean difference, ANCOVA,
  mixed-model contrasts, Cohen's d, Hedges' g, rank-biserial r) are therefore *positive
  when the connectivity arm improved more*.
- **Percent change** = 100 * (MADRS at visit - baseline) / baseline; *negative =
  improvement* (the waterfall plot and the mechanism correlations use this). Percent
  reduction = -percent change.
- **Response**: reduction >= ``response_min_reduction`` * baseline (default 50%).
  **Remission**: MADRS at the primary visit <= ``remission_max_score`` (default 10).
- **Missing primary visit** (``missing_policy``):
  ``non_responder`` (default, ITT): everyone randomised is in the denominator of response
  and remission; a missing primary visit counts as neither responder nor remitter.
  Continuous analyses of the primary visit use the participants observed there.
  ``exclude`` (complete case): participants without the primary visit are left out of
  every primary-visit analysis. ``last_observation`` (LOCF): the last rating on or before
  the primary visit stands in for it in every primary-visit analysis (baseline if nothing
  else, i.e. no change). The mixed model always uses every available rating (it is valid
  when data are missing at random) and is unaffected by the policy.

- **Primary analysis** (``primary_analysis``, one of :data:`PRIMARY_ANALYSES`): the
  prespecified test of the primary endpoint; Table 2 marks its row and calls every other P
  value secondary and unadjusted for multiple comparisons. The trial's is the Mann-Whitney
  U test of the reduction from baseline to the primary visit.

Methods (references in the function docstrings): Mann-Whitney U two-sided; Hodges-Lehmann
shift with the Moses distribution-free CI; Student t; ANCOVA (OLS, t-based CI); MMRM
(:mod:`tmstarget.mmrm`: reduction at each post-baseline visit ~ visit + arm x visit +
baseline x visit, unstructured covariance by REML with a prespecified fallback, Satterthwaite
df); linear mixed model ``madrs ~ arm * visit + (1 | participant)`` (REML) with Wald z
contrasts; Cohen's d with noncentral-t CI and Hedges' g; Wilson intervals for proportions
and Newcombe hybrid score (method 10) CIs for risk differences (both from statsmodels);
Fisher's exact test; Altman's NNT CI; Bang's blinding index with Tango's score CI; Spearman
rho with a Fisher-z (Bonett-Wright variance) or seeded bootstrap CI.

**Edge cases.** A statistic the data cannot support (zero variance in both arms, one arm
empty, a perfect ANCOVA fit, a mixed model that does not converge) raises
:class:`NotEstimable`, whose message names the quantity; :func:`analyse_primary` records the
message and the tables print "NA" with that message as a footnote, so every other number and
table is still written. Inputs that are wrong rather than uninformative (negative counts,
counts above their total, NaN counts, infinite values) raise :class:`ValueError` naming the
quantity. Missing values (NaN) in a sample are dropped; infinite values are an error.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from tmstarget.clinical import (
    ARM_ROLES,
    DEFAULT_BASELINE_VISIT,
    DEFAULT_VISITS,
    DONT_KNOW,
    validate_visits,
)
from tmstarget.mmrm import COVARIANCE_LABELS, COVARIANCE_STRUCTURES, MMRMError, fit_with_fallback
from tmstarget.tables import cell, cells_frame, whole_or_one_decimal

EXPERIMENTAL, CONTROL = ARM_ROLES
MISSING_POLICIES = ("non_responder", "exclude", "last_observation")
# The prespecified primary analysis of the primary endpoint (``outcomes.primary_analysis``);
# trial planning simulates the same choices.
PRIMARY_ANALYSES = ("mann_whitney", "t_test", "ancova", "mmrm", "random_intercept")
PRIMARY_ANALYSIS_LABELS = {
    "mann_whitney": "the two-sided Mann-Whitney U test of the MADRS reduction from baseline",
    "t_test": "the two-sided Student t test of the MADRS reduction from baseline",
    "ancova": "the ANCOVA of the MADRS reduction from baseline adjusted for baseline MADRS",
    "mmrm": "the MMRM contrast of the MADRS reduction from baseline",
    "random_intercept": "the random-intercept mixed-model contrast of the MADRS reduction",
}


class NotEstimable(ValueError):
    """The data cannot support this statistic (the message names it and says why)."""


DEFAULT_VISIT_LABELS = {
    "baseline": "Baseline",
    "day1": "Day 1",
    "day2": "Day 2",
    "day3": "Day 3",
    "day4": "Day 4",
    "day5": "Day 5",
    "eot": "End of treatment",
    "week1": "Week 1",
    "month1": "Month 1",
}
DEFAULT_ARM_NAMES = {"connectivity": "Connectivity", "scalp": "Scalp"}


# --------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutcomeParams:
    """Every choice of the outcome analysis (the ``outcomes`` block of the config).

    Attributes
    ----------
    visits : visit labels in time order, baseline first.
    baseline_visit, primary_visit : labels of the baseline and the primary endpoint visit.
    response_min_reduction : response = reduction >= this fraction of baseline (0.5 = 50%).
    remission_max_score : remission = MADRS at the primary visit <= this score.
    missing_policy : ``non_responder`` | ``exclude`` | ``last_observation`` (module doc).
    confidence : confidence level of every interval (0.95).
    hodges_lehmann_ci : ``exact`` (Moses CI from the exact null distribution of U, no tie
        correction; samples up to 10,000 pairs, normal above) | ``normal``.
    effect_size_ci : ``noncentral_t`` (exact under normality) | ``normal`` (Hedges-Olkin).
    mann_whitney_method : ``asymptotic`` (normal approximation, tie and continuity
        corrected, as R's wilcox.test with ties) | ``exact`` | ``auto`` (scipy's choice).
    scan_cost : cost of one targeting fMRI scan (with analysis), in ``currency``; the cost
        per additional responder is number needed to scan * scan_cost.
    currency : printed with the cost.
    primary_analysis : the prespecified primary analysis, one of :data:`PRIMARY_ANALYSES`.
    mmrm_covariances : MMRM covariance structures in the prespecified order of fallback
        (the first that converges is used; see :mod:`tmstarget.mmrm`).
    mmrm_baseline_by_visit : MMRM with a baseline x visit interaction (a baseline slope per
        visit, as in most depression-trial MMRMs) rather than one common baseline slope.
    correlation_ci : ``fisher`` (Fisher z, Bonett-Wright variance) | ``bootstrap``.
    n_bootstrap, seed : bootstrap resamples and seed (used only for bootstrap CIs).
    arm_names : printed names of the roles.
    visit_labels : printed names of the visits (unknown visits print as they are).
    consort_visits : visits whose attendance the CONSORT diagram reports.
    consort_assessed, consort_excluded : screening counts for the CONSORT diagram (not in
        BIDS; ``None`` leaves the enrolment boxes out).
    """

    visits: tuple[str, ...] = DEFAULT_VISITS
    baseline_visit: str = DEFAULT_BASELINE_VISIT
    primary_visit: str = "month1"
    response_min_reduction: float = 0.5
    remission_max_score: float = 10.0
    missing_policy: str = "non_responder"
    confidence: float = 0.95
    hodges_lehmann_ci: str = "exact"
    effect_size_ci: str = "noncentral_t"
    mann_whitney_method: str = "asymptotic"
    primary_analysis: str = "mann_whitney"
    mmrm_covariances: tuple[str, ...] = COVARIANCE_STRUCTURES
    mmrm_baseline_by_visit: bool = True
    scan_cost: float = 1000.0
    currency: str = "USD"
    correlation_ci: str = "fisher"
    n_bootstrap: int = 2000
    seed: int = 20260
    arm_names: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_ARM_NAMES))
    visit_labels: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_VISIT_LABELS))
    consort_visits: tuple[str, ...] = ("eot", "month1")
    consort_assessed: int | None = None
    consort_excluded: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "visits", tuple(self.visits))
        object.__setattr__(self, "consort_visits", tuple(self.consort_visits))
        object.__setattr__(self, "mmrm_covariances", tuple(self.mmrm_covariances))
        validate_visits(self.visits, self.baseline_visit)
        choices = {
            "primary_analysis": PRIMARY_ANALYSES,
            "missing_policy": MISSING_POLICIES,
            "hodges_lehmann_ci": ("exact", "normal"),
            "effect_size_ci": ("noncentral_t", "normal"),
            "mann_whitney_method": ("asymptotic", "exact", "auto"),
            "correlation_ci": ("fisher", "bootstrap"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(
                    f"outcomes.{name}: {getattr(self, name)!r} is not one of {', '.join(allowed)}"
                )
        structures = self.mmrm_covariances
        if not structures or len(set(structures)) != len(structures):
            raise ValueError("outcomes.mmrm_covariances: list one or more distinct structures")
        for structure in structures:
            if structure not in COVARIANCE_STRUCTURES:
                raise ValueError(
                    f"outcomes.mmrm_covariances: {structure!r} is not one of "
                    f"{', '.join(COVARIANCE_STRUCTURES)}"
                )
        if self.primary_visit not in self.visits or self.primary_visit == self.baseline_visit:
            raise ValueError(
                f"outcomes.primary_visit: {self.primary_visit!r} must be a post-baseline visit "
                f"of outcomes.visits ({', '.join(self.visits)})"
            )
        for visit in self.consort_visits:
            if visit not in self.visits:
                raise ValueError(f"outcomes.consort_visits: {visit!r} is not in outcomes.visits")
        if not 0.0 < self.response_min_reduction <= 1.0:
            raise ValueError("outcomes.response_min_reduction: must be in (0, 1], e.g. 0.5")
        if not 0.0 <= self.remission_max_score <= 60.0:
            raise ValueError("outcomes.remission_max_score: must be a MADRS score 0-60")
        if not 0.5 <= self.confidence < 1.0:
            raise ValueError("outcomes.confidence: must be in [0.5, 1), e.g. 0.95")
        if self.scan_cost < 0:
            raise ValueError("outcomes.scan_cost: must be >= 0")
        if self.n_bootstrap < 100:
            raise ValueError("outcomes.n_bootstrap: use at least 100 resamples")
        if set(self.arm_names) != set(ARM_ROLES):
            raise ValueError(f"outcomes.arm_names: needs exactly the roles {ARM_ROLES}")

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> OutcomeParams:
        """Build from a config mapping; unknown keys are an error naming the key."""
        config = dict(config or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(config) - known)
        if unknown:
            raise ValueError(
                f"outcomes: unknown key(s) {', '.join(unknown)}; "
                f"known keys: {', '.join(sorted(known))}"
            )
        merged = dict(config)
        for name in ("arm_names", "visit_labels"):
            if name in merged:
                default = DEFAULT_ARM_NAMES if name == "arm_names" else DEFAULT_VISIT_LABELS
                merged[name] = {**default, **dict(merged[name])}
        return cls(**merged)

    @property
    def z(self) -> float:
        """Two-sided standard normal critical value of ``confidence``."""
        return float(stats.norm.isf((1.0 - self.confidence) / 2.0))

    def visit_label(self, visit: str) -> str:
        return str(self.visit_labels.get(visit, visit))

    def arm_name(self, role: str) -> str:
        return str(self.arm_names[role])


# --------------------------------------------------------------------------------------
# Small result types
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its confidence interval (and P value / SE when defined)."""

    estimate: float
    low: float = math.nan
    high: float = math.nan
    p_value: float = math.nan
    se: float = math.nan


@dataclass(frozen=True)
class MannWhitney:
    """Two-sided Mann-Whitney U test of x (experimental) vs y (control)."""

    u: float  # U of x: pairs with x > y, ties counted 1/2
    p_value: float
    rank_biserial: float  # 2 U / (n_x n_y) - 1; positive = x tends to be larger
    n_x: int
    n_y: int


@dataclass(frozen=True)
class NumberNeededToTreat:
    """1 / risk difference with the Altman (1998) interval.

    All three numbers are signed: positive = benefit (NNTB), negative = harm (NNTH).
    ``low`` = 1 / (upper RD limit), ``high`` = 1 / (lower RD limit). When the RD interval
    contains 0 the NNT interval passes through infinity (``through_infinity``): it runs
    from NNTB ``low`` up to infinity and on from NNTH ``|high|``.
    """

    estimate: float
    low: float
    high: float
    through_infinity: bool

    def describe(self, decimals: int = 1) -> str:
        from tmstarget.tables import format_nnt

        return format_nnt(self.estimate, self.low, self.high, decimals)


@dataclass(frozen=True)
class BinaryOutcome:
    """Response or remission by arm."""

    name: str
    count_experimental: int
    total_experimental: int
    count_control: int
    total_control: int
    rate_experimental: Estimate  # proportion with Wilson CI
    rate_control: Estimate
    risk_difference: Estimate  # proportion scale, Newcombe CI, Fisher exact P
    number_needed: NumberNeededToTreat
    cost_per_additional: Estimate  # high is inf when the RD CI reaches 0; NaN when RD <= 0


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


# --------------------------------------------------------------------------------------
# Mixed model
# --------------------------------------------------------------------------------------


def mixed_model_contrasts(
    long: pd.DataFrame,
    visits: Sequence[str],
    baseline_visit: str = DEFAULT_BASELINE_VISIT,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Linear mixed model ``madrs ~ arm * visit + (1 | participant)`` and per-visit contrasts.

    ``long`` has participant_id, arm (role), session_id, madrs_total; every available rating
    is used. Fitted by REML with statsmodels MixedLM (treatment coding: reference arm scalp,
    reference visit baseline). Visits without ratings in both arms are left out.

    One row per post-baseline visit: ``n_connectivity``/``n_scalp`` (ratings),
    ``reduction_connectivity``/``reduction_scalp`` (model-estimated mean reduction from
    baseline, points) with Wald z CIs ``reduction_<arm>_low``/``_high``, ``difference`` =
    connectivity - scalp in reduction (minus the interaction coefficient; positive favours
    connectivity) with ``se``/``low``/``high``/``p_value`` (Wald z), and ``madrs_difference``
    = connectivity - scalp in MADRS at the visit (arm + interaction coefficients; negative
    favours connectivity) with ``madrs_low``/``madrs_high``/``madrs_p_value``. ``attrs``
    records convergence and dropped visits. Too few visits or ratings raise
    :class:`NotEstimable`.
    """
    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    data = long[long["session_id"].isin(visits)].copy()
    counts = data.groupby(["session_id", "arm"]).size().unstack(fill_value=0)
    usable = [
        visit
        for visit in visits
        if visit in counts.index and all(counts.loc[visit].get(role, 0) > 0 for role in ARM_ROLES)
    ]
    if baseline_visit not in usable:
        raise NotEstimable("mixed model: the baseline visit needs ratings in both arms")
    dropped = [visit for visit in visits if visit not in usable]
    data = data[data["session_id"].isin(usable)].sort_values(["participant_id", "session_id"])
    post = [visit for visit in usable if visit != baseline_visit]
    if not post:
        raise NotEstimable("mixed model: no post-baseline visit has ratings in both arms")
    experimental = (data["arm"] == EXPERIMENTAL).to_numpy(dtype=float)
    columns = [np.ones(len(data))]
    columns += [(data["session_id"] == visit).to_numpy(dtype=float) for visit in post]
    columns.append(experimental)
    columns += [
        experimental * (data["session_id"] == visit).to_numpy(dtype=float) for visit in post
    ]
    design = np.column_stack(columns)
    k = design.shape[1]
    model = sm.MixedLM(
        data["madrs_total"].to_numpy(dtype=float),
        design,
        groups=data["participant_id"].to_numpy(),
        exog_re=np.ones((len(data), 1)),
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = model.fit(reml=True)
        except (np.linalg.LinAlgError, ValueError) as error:
            raise NotEstimable(f"random-intercept mixed model: the fit failed ({error})") from error
    convergence_warnings = [
        str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)
    ]
    beta = np.asarray(result.fe_params, dtype=float)
    covariance = np.asarray(result.cov_params(), dtype=float)[:k, :k]
    z = float(stats.norm.isf((1.0 - confidence) / 2.0))

    if not np.all(np.isfinite(beta)) or not np.all(np.isfinite(covariance)):
        raise NotEstimable("random-intercept mixed model: the fit gave no finite estimates")

    def contrast(weights: np.ndarray) -> tuple[float, float, float, float, float]:
        estimate = float(weights @ beta)
        se = float(math.sqrt(max(float(weights @ covariance @ weights), 0.0)))
        if not se > 0:
            return estimate, math.nan, math.nan, math.nan, se
        p_value = float(2 * stats.norm.sf(abs(estimate / se)))
        return estimate, estimate - z * se, estimate + z * se, p_value, se

    rows = []
    n_post = len(post)
    arm_column = 1 + n_post
    for position, visit in enumerate(post):
        visit_column = 1 + position
        interaction_column = 2 + n_post + position
        w_interaction = np.zeros(k)
        w_interaction[interaction_column] = -1.0  # reduction = -(change)
        w_scalp = np.zeros(k)
        w_scalp[visit_column] = -1.0
        w_connectivity = w_scalp.copy()
        w_connectivity[interaction_column] = -1.0
        w_level = np.zeros(k)
        w_level[arm_column] = 1.0
        w_level[interaction_column] = 1.0
        difference = contrast(w_interaction)
        level = contrast(w_level)
        connectivity = contrast(w_connectivity)
        scalp = contrast(w_scalp)
        rows.append(
            {
                "visit": visit,
                "n_connectivity": int(counts.loc[visit].get(EXPERIMENTAL, 0)),
                "n_scalp": int(counts.loc[visit].get(CONTROL, 0)),
                "reduction_connectivity": connectivity[0],
                "reduction_connectivity_low": connectivity[1],
                "reduction_connectivity_high": connectivity[2],
                "reduction_scalp": scalp[0],
                "reduction_scalp_low": scalp[1],
                "reduction_scalp_high": scalp[2],
                "difference": difference[0],
                "se": difference[4],
                "low": difference[1],
                "high": difference[2],
                "p_value": difference[3],
                "madrs_difference": level[0],
                "madrs_low": level[1],
                "madrs_high": level[2],
                "madrs_p_value": level[3],
            }
        )
    frame = pd.DataFrame(rows)
    frame.attrs["converged"] = bool(result.converged) and not convergence_warnings
    frame.attrs["warnings"] = convergence_warnings
    frame.attrs["dropped_visits"] = dropped
    frame.attrs["n_participants"] = int(data["participant_id"].nunique())
    frame.attrs["n_ratings"] = len(data)
    return frame


def mmrm_contrasts(
    long: pd.DataFrame,
    visits: Sequence[str],
    baseline_visit: str = DEFAULT_BASELINE_VISIT,
    confidence: float = 0.95,
    structures: Sequence[str] = COVARIANCE_STRUCTURES,
    baseline_by_visit: bool = True,
) -> pd.DataFrame:
    """Mixed model for repeated measures of the reduction from baseline, as trials report it.

    Outcome: reduction = baseline MADRS - MADRS at each post-baseline visit (points,
    positive = improvement) of every participant with a baseline and at least one later
    rating (all available ratings: valid under missing at random; no imputation). Fixed
    effects: visit (categorical), arm x visit and baseline MADRS (centred at the analysed
    participants' mean; per visit when ``baseline_by_visit``). Covariance: the first of
    ``structures`` whose REML fit converges (prespecified fallback, default unstructured,
    then Toeplitz, then compound symmetry; :mod:`tmstarget.mmrm`). Inference: t with
    Satterthwaite df. Visits without ratings in both arms are left out.

    One row per post-baseline visit: ``n_connectivity``/``n_scalp`` (ratings),
    ``reduction_<arm>`` (least-squares mean reduction at the mean baseline) with
    ``reduction_<arm>_low``/``_high``, ``difference`` (connectivity - scalp) with ``se``,
    ``df``, ``low``, ``high``, ``p_value``. ``attrs``: ``structure`` (used), ``attempts``
    (``[structure, outcome]`` per structure tried), ``baseline_by_visit``,
    ``n_participants``, ``n_ratings``, ``dropped_visits``, ``minus_two_reml``.
    Raises :class:`NotEstimable` when no structure converges or the design is degenerate.
    """
    data = long[long["session_id"].isin(visits)]
    baselines = (
        data[data["session_id"] == baseline_visit]
        .drop_duplicates("participant_id")
        .set_index("participant_id")["madrs_total"]
        .astype(float)
    )
    post_data = data[(data["session_id"] != baseline_visit)].copy()
    post_data["baseline"] = post_data["participant_id"].map(baselines)
    post_data = post_data[post_data["baseline"].notna()]
    counts = post_data.groupby(["session_id", "arm"]).size().unstack(fill_value=0)
    post = [
        visit
        for visit in visits
        if visit != baseline_visit
        and visit in counts.index
        and all(counts.loc[visit].get(role, 0) > 0 for role in ARM_ROLES)
    ]
    dropped = [v for v in visits if v != baseline_visit and v not in post]
    if not post:
        raise NotEstimable("MMRM: no post-baseline visit has ratings in both arms")
    post_data = post_data[post_data["session_id"].isin(post)].sort_values(
        ["participant_id", "session_id"], kind="stable"
    )
    position = {visit: index for index, visit in enumerate(post)}
    visit_index = post_data["session_id"].map(position).to_numpy(dtype=int)
    n_visits = len(post)
    experimental = (post_data["arm"] == EXPERIMENTAL).to_numpy(dtype=float)
    baseline = post_data["baseline"].to_numpy(dtype=float)
    analysed = post_data.drop_duplicates("participant_id")
    centre = float(analysed["baseline"].mean())
    centred = baseline - centre
    one_hot = np.eye(n_visits)[visit_index]
    columns = [one_hot, one_hot * experimental[:, None]]
    columns.append(one_hot * centred[:, None] if baseline_by_visit else centred[:, None])
    design = np.column_stack(columns)
    reduction = baseline - post_data["madrs_total"].to_numpy(dtype=float)
    if not np.any(centred != 0):
        raise NotEstimable("MMRM: the baseline MADRS does not vary, so it cannot be a covariate")
    try:
        fit, attempts = fit_with_fallback(
            reduction,
            design,
            post_data["participant_id"].to_numpy(),
            visit_index,
            n_visits,
            structures,
        )
    except MMRMError as error:
        raise NotEstimable(f"MMRM: {error}") from error
    k = design.shape[1]
    rows = []
    for visit in post:
        j = position[visit]
        w_scalp = np.zeros(k)
        w_scalp[j] = 1.0
        w_difference = np.zeros(k)
        w_difference[n_visits + j] = 1.0
        scalp = fit.contrast(w_scalp, confidence)
        connectivity = fit.contrast(w_scalp + w_difference, confidence)
        difference = fit.contrast(w_difference, confidence)
        rows.append(
            {
                "visit": visit,
                "n_connectivity": int(counts.loc[visit].get(EXPERIMENTAL, 0)),
                "n_scalp": int(counts.loc[visit].get(CONTROL, 0)),
                "reduction_connectivity": connectivity.estimate,
                "reduction_connectivity_low": connectivity.low,
                "reduction_connectivity_high": connectivity.high,
                "reduction_scalp": scalp.estimate,
                "reduction_scalp_low": scalp.low,
                "reduction_scalp_high": scalp.high,
                "difference": difference.estimate,
                "se": difference.se,
                "df": difference.df,
                "low": difference.low,
                "high": difference.high,
                "p_value": difference.p_value,
            }
        )
    frame = pd.DataFrame(rows)
    frame.attrs["structure"] = fit.structure
    frame.attrs["attempts"] = [[structure, message] for structure, message in attempts]
    frame.attrs["baseline_by_visit"] = bool(baseline_by_visit)
    frame.attrs["n_participants"] = int(analysed["participant_id"].nunique())
    frame.attrs["n_ratings"] = len(post_data)
    frame.attrs["dropped_visits"] = dropped
    frame.attrs["minus_two_reml"] = float(fit.minus_two_reml)
    return frame


# --------------------------------------------------------------------------------------
# Per-participant outcomes
# --------------------------------------------------------------------------------------


def _with_arm(participants: pd.DataFrame, madrs: pd.DataFrame) -> pd.DataFrame:
    return madrs.merge(participants[["participant_id", "arm"]], on="participant_id", how="inner")


def participant_outcomes(
    participants: pd.DataFrame, madrs: pd.DataFrame, params: OutcomeParams | None = None
) -> pd.DataFrame:
    """One row per randomised participant with the primary-visit outcomes.

    Columns: participant_id, arm, baseline, primary_observed (NaN when missed),
    primary (value used for primary-visit analyses under ``missing_policy``; NaN when the
    participant is excluded from them), primary_source (``observed`` | ``carried:<visit>``
    | ``missing``), reduction (points, positive = improvement), percent_change (negative =
    improvement), responder and remitter (float 1/0; NaN when excluded from binary
    analyses). See the module docstring for the policy.
    """
    params = params or OutcomeParams()
    order = {visit: position for position, visit in enumerate(params.visits)}
    primary_position = order[params.primary_visit]
    rated = _with_arm(participants, madrs)
    rated = rated[rated["session_id"].isin(params.visits)]
    # One pass over the ratings (filtering them per participant would cost n^2).
    visits_of = {
        pid: dict(zip(group["session_id"], group["madrs_total"], strict=True))
        for pid, group in rated.groupby("participant_id", sort=False)
    }
    rows = []
    for participant in participants.itertuples():
        by_visit = visits_of.get(participant.participant_id, {})
        baseline = float(by_visit.get(params.baseline_visit, math.nan))
        observed = float(by_visit.get(params.primary_visit, math.nan))
        if not math.isnan(observed):
            primary, source = observed, "observed"
        elif params.missing_policy == "last_observation":
            earlier = [visit for visit in by_visit if order[visit] <= primary_position]
            last = max(earlier, key=order.get) if earlier else None
            primary = float(by_visit[last]) if last else math.nan
            source = f"carried:{last}" if last else "missing"
        else:
            primary, source = math.nan, "missing"
        reduction = baseline - primary
        percent_change = 100.0 * (primary - baseline) / baseline if baseline > 0 else math.nan
        if math.isnan(primary):
            binary = 0.0 if params.missing_policy == "non_responder" else math.nan
            responder = remitter = binary
        else:
            threshold = params.response_min_reduction * baseline
            responder = float(baseline > 0 and reduction >= threshold - 1e-9)
            remitter = float(primary <= params.remission_max_score)
        rows.append(
            {
                "participant_id": participant.participant_id,
                "arm": participant.arm,
                "baseline": baseline,
                "primary_observed": observed,
                "primary": primary,
                "primary_source": source,
                "reduction": reduction,
                "percent_change": percent_change,
                "responder": responder,
                "remitter": remitter,
            }
        )
    frame = pd.DataFrame(rows)
    frame.attrs["missing_policy"] = params.missing_policy
    return frame


def visit_summary(
    participants: pd.DataFrame, madrs: pd.DataFrame, params: OutcomeParams | None = None
) -> pd.DataFrame:
    """Observed MADRS by visit and arm: n, mean, sd, se (= sd / sqrt(n)), median, mean day.

    Rows follow the configured visit order, experimental arm first.
    """
    params = params or OutcomeParams()
    rated = _with_arm(participants, madrs)
    rows = []
    for visit in params.visits:
        for role in ARM_ROLES:
            scores = rated.loc[
                (rated["session_id"] == visit) & (rated["arm"] == role), "madrs_total"
            ].to_numpy(dtype=float)
            days = rated.loc[
                (rated["session_id"] == visit) & (rated["arm"] == role), "days_since_baseline"
            ].to_numpy(dtype=float)
            n = len(scores)
            sd = float(np.std(scores, ddof=1)) if n > 1 else math.nan
            rows.append(
                {
                    "visit": visit,
                    "visit_label": params.visit_label(visit),
                    "arm": role,
                    "n": n,
                    "mean": float(np.mean(scores)) if n else math.nan,
                    "sd": sd,
                    "se": sd / math.sqrt(n) if n > 1 else math.nan,
                    "median": float(np.median(scores)) if n else math.nan,
                    "mean_day": float(np.mean(days)) if n else math.nan,
                }
            )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------
# Primary and secondary outcomes
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PrimaryResults:
    """Everything Table 2 and the outcome figures print (see :func:`analyse_primary`).

    A statistic the data cannot support holds NaN (an empty frame for the mixed models)
    and ``not_estimable`` maps its key (``hodges_lehmann``, ``mann_whitney``,
    ``mean_difference``, ``ancova``, ``cohens_d``, ``hedges_g``, ``response``,
    ``remission``, ``mmrm``, ``random_intercept``) to the reason.
    """

    params: OutcomeParams
    outcomes: pd.DataFrame  # participant_outcomes
    n_randomised: dict[str, int]
    n_continuous: dict[str, int]
    baseline: dict[str, tuple[float, float, float]]  # median, q1, q3 (all randomised)
    primary: dict[str, tuple[float, float, float]]  # MADRS at primary visit (analysed)
    reduction: dict[str, tuple[float, float, float]]
    reduction_mean_sd: dict[str, tuple[float, float]]
    percent_reduction: dict[str, tuple[float, float, float]]
    hodges_lehmann: Estimate
    mann_whitney: MannWhitney
    mean_difference: Estimate
    ancova: Estimate
    cohens_d: Estimate
    hedges_g: Estimate
    response: BinaryOutcome
    remission: BinaryOutcome
    mixed_model: pd.DataFrame  # random-intercept model (mixed_model_contrasts)
    mmrm: pd.DataFrame = field(default_factory=pd.DataFrame)  # mmrm_contrasts
    not_estimable: dict[str, str] = field(default_factory=dict)


_NOT_ESTIMABLE = Estimate(math.nan)
_ARM_CI_COLUMNS = [
    f"reduction_{role}{suffix}" for role in ARM_ROLES for suffix in ("", "_low", "_high")
]
MIXED_MODEL_COLUMNS = ["visit", "n_connectivity", "n_scalp", *_ARM_CI_COLUMNS]
MIXED_MODEL_COLUMNS += ["difference", "se", "low", "high", "p_value"]
MIXED_MODEL_COLUMNS += ["madrs_difference", "madrs_low", "madrs_high", "madrs_p_value"]
MMRM_COLUMNS = ["visit", "n_connectivity", "n_scalp", *_ARM_CI_COLUMNS]
MMRM_COLUMNS += ["difference", "se", "df", "low", "high", "p_value"]


def _guarded(reasons: dict[str, str], key: str, compute, fallback):
    """``compute()``, or ``fallback`` with the reason recorded when it is not estimable."""
    try:
        return compute()
    except NotEstimable as error:
        reasons[key] = str(error)
        return fallback


def _binary_outcome(
    name: str, outcomes: pd.DataFrame, column: str, params: OutcomeParams, reasons: dict[str, str]
) -> BinaryOutcome:
    counts = {}
    for role in ARM_ROLES:
        values = outcomes.loc[outcomes["arm"] == role, column].dropna()
        counts[role] = (int(values.sum()), int(len(values)))
    (c1, n1), (c2, n2) = counts[EXPERIMENTAL], counts[CONTROL]

    def rate(count: int, total: int) -> Estimate:
        if total == 0:
            return _NOT_ESTIMABLE
        return Estimate(count / total, *wilson_interval(count, total, params.confidence))

    def difference() -> Estimate:
        rd = newcombe_difference(c1, n1, c2, n2, params.confidence)
        return replace(rd, p_value=fisher_exact_p(c1, n1, c2, n2))

    rd = _guarded(reasons, name, difference, _NOT_ESTIMABLE)
    if math.isnan(rd.estimate):
        nnt = NumberNeededToTreat(math.nan, math.nan, math.nan, False)
    else:
        nnt = number_needed_to_treat(rd)
    return BinaryOutcome(
        name=name,
        count_experimental=c1,
        total_experimental=n1,
        count_control=c2,
        total_control=n2,
        rate_experimental=rate(c1, n1),
        rate_control=rate(c2, n2),
        risk_difference=rd,
        number_needed=nnt,
        cost_per_additional=cost_per_additional_responder(nnt, params.scan_cost),
    )


def analyse_primary(
    participants: pd.DataFrame, madrs: pd.DataFrame, params: OutcomeParams | None = None
) -> PrimaryResults:
    """Run every primary and secondary outcome analysis once (see the module docstring).

    A statistic the data cannot support is NaN with its reason in ``not_estimable``; the
    others are still computed. Each arm needs at least one randomised participant.
    """
    params = params or OutcomeParams()
    outcomes = participant_outcomes(participants, madrs, params)
    by_arm = {role: outcomes[outcomes["arm"] == role] for role in ARM_ROLES}
    for role, frame in by_arm.items():
        if frame.empty:
            raise ValueError(f"arm {role}: no randomised participant; nothing to compare")
    analysed = {role: frame[frame["primary"].notna()] for role, frame in by_arm.items()}
    x = analysed[EXPERIMENTAL]["reduction"].to_numpy()
    y = analysed[CONTROL]["reduction"].to_numpy()
    both = pd.concat([analysed[EXPERIMENTAL], analysed[CONTROL]])
    reasons: dict[str, str] = {}
    confidence = params.confidence
    long = _with_arm(participants, madrs)

    def mean_sd(frame: pd.DataFrame) -> tuple[float, float]:
        values = frame["reduction"]
        mean = float(values.mean()) if len(values) else math.nan
        return (mean, float(values.std(ddof=1)) if len(values) > 1 else math.nan)

    return PrimaryResults(
        params=params,
        outcomes=outcomes,
        n_randomised={role: len(frame) for role, frame in by_arm.items()},
        n_continuous={role: len(frame) for role, frame in analysed.items()},
        baseline={role: median_iqr(frame["baseline"]) for role, frame in by_arm.items()},
        primary={role: median_iqr(frame["primary"]) for role, frame in analysed.items()},
        reduction={role: median_iqr(frame["reduction"]) for role, frame in analysed.items()},
        reduction_mean_sd={role: mean_sd(frame) for role, frame in analysed.items()},
        percent_reduction={
            role: median_iqr(-frame["percent_change"]) for role, frame in analysed.items()
        },
        hodges_lehmann=_guarded(
            reasons,
            "hodges_lehmann",
            lambda: hodges_lehmann(x, y, confidence, params.hodges_lehmann_ci),
            _NOT_ESTIMABLE,
        ),
        mann_whitney=_guarded(
            reasons,
            "mann_whitney",
            lambda: mann_whitney(x, y, params.mann_whitney_method),
            MannWhitney(math.nan, math.nan, math.nan, len(x), len(y)),
        ),
        mean_difference=_guarded(
            reasons, "mean_difference", lambda: mean_difference(x, y, confidence), _NOT_ESTIMABLE
        ),
        ancova=_guarded(
            reasons,
            "ancova",
            lambda: ancova_difference(
                both["reduction"], both["baseline"], both["arm"] == EXPERIMENTAL, confidence
            ),
            _NOT_ESTIMABLE,
        ),
        cohens_d=_guarded(
            reasons,
            "cohens_d",
            lambda: cohens_d(x, y, confidence, params.effect_size_ci),
            _NOT_ESTIMABLE,
        ),
        hedges_g=_guarded(
            reasons,
            "hedges_g",
            lambda: hedges_g(x, y, confidence, params.effect_size_ci),
            _NOT_ESTIMABLE,
        ),
        response=_binary_outcome("response", outcomes, "responder", params, reasons),
        remission=_binary_outcome("remission", outcomes, "remitter", params, reasons),
        mixed_model=_guarded(
            reasons,
            "random_intercept",
            lambda: mixed_model_contrasts(long, params.visits, params.baseline_visit, confidence),
            pd.DataFrame(columns=MIXED_MODEL_COLUMNS),
        ),
        mmrm=_guarded(
            reasons,
            "mmrm",
            lambda: mmrm_contrasts(
                long,
                params.visits,
                params.baseline_visit,
                confidence,
                params.mmrm_covariances,
                params.mmrm_baseline_by_visit,
            ),
            pd.DataFrame(columns=MMRM_COLUMNS),
        ),
        not_estimable=reasons,
    )


# --------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------


def _arm_header(params: OutcomeParams, role: str, n: int) -> str:
    return f"{params.arm_name(role)} (n = {n})"


def _percent(confidence: float) -> str:
    return f"{100 * confidence:g}%"


OPTIONAL_CATEGORIES = {"race": "Race", "ethnicity": "Ethnicity"}


def _category_levels(
    values: pd.Series, column: str, dictionary: Mapping[str, Any] | None
) -> list[tuple[str, str]]:
    """(value, printed label) of a categorical column: the data dictionary's ``Levels`` in
    their order (values not seen are kept: a zero row is information), then values the
    dictionary does not list, in sorted order, as written."""
    entry = dict((dictionary or {}).get(column) or {})
    levels = dict(entry.get("Levels") or {})
    seen = sorted({str(v) for v in values.dropna()})
    ordered = [(str(value), str(label)) for value, label in levels.items()]
    ordered += [(value, value.replace("_", " ")) for value in seen if value not in levels]
    return [(value, label[:1].upper() + label[1:]) for value, label in ordered]


def table1_baseline(
    participants: pd.DataFrame,
    madrs: pd.DataFrame,
    params: OutcomeParams | None = None,
    dictionary: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Table 1: baseline characteristics by arm and overall (a cell frame, no P values).

    Age, sex, race and ethnicity (only when ``participants.tsv`` has ``race`` /
    ``ethnicity`` columns; categories and their printed labels from the data dictionary
    ``dictionary`` = participants.json, participants without a value as "Not reported"),
    failed treatments (a count: whole numbers print without decimals), baseline MADRS,
    head measurements (cm). Statistics over the participants with a value; missing values
    are counted in a note.
    """
    params = params or OutcomeParams()
    baseline = madrs.loc[
        madrs["session_id"] == params.baseline_visit, ["participant_id", "madrs_total"]
    ]
    data = participants.merge(baseline, on="participant_id", how="left")
    groups = [(role, data[data["arm"] == role]) for role in ARM_ROLES] + [("all", data)]
    headers = {role: _arm_header(params, role, len(frame)) for role, frame in groups[:2]}
    headers["all"] = f"All (n = {len(data)})"
    cells = []
    missing_notes = []

    def add(section: str, row: str, kind: str, column_name: str, decimals: int | None = 1) -> None:
        """One row; ``decimals=None``: count data, a cell whose numbers are all whole prints
        them without decimals ("4 (2-6)"), any other cell with one ("3.5 (2.0-4.3)")."""
        per_group = {}
        for role, frame in groups:
            finite = frame[column_name].astype(float).dropna()
            if kind == "mean_sd":
                per_group[role] = {
                    "value": finite.mean() if len(finite) else math.nan,
                    "sd": finite.std(ddof=1) if len(finite) > 1 else math.nan,
                }
            else:
                median, q1, q3 = median_iqr(finite)
                per_group[role] = {"value": median, "low": q1, "high": q3}
        for role, _ in groups:
            places = (
                whole_or_one_decimal(*per_group[role].values()) if decimals is None else decimals
            )
            cells.append(
                cell(
                    section,
                    row,
                    role,
                    kind,
                    column_label=headers[role],
                    decimals=places,
                    **per_group[role],
                )
            )
        n_missing = int(data[column_name].isna().sum())
        if n_missing:
            missing_notes.append(f"{row.split(',')[0]}: missing for {n_missing} participant(s).")

    def categories(
        title: str, column: str, levels: list[tuple[str, str]], of_recorded: bool
    ) -> None:
        for value, label in levels:
            for role, frame in groups:
                total = int(frame[column].notna().sum()) if of_recorded else len(frame)
                cells.append(
                    cell(
                        title,
                        label,
                        role,
                        "n_pct",
                        column_label=headers[role],
                        count=int((frame[column].astype("string") == value).sum()),
                        total=total,
                        decimals=0,
                    )
                )

    add("", "Age, mean (SD), y", "mean_sd", "age")
    categories("Sex, No. (%)", "sex", [("F", "Female"), ("M", "Male")], of_recorded=True)
    if data["sex"].isna().any():
        missing_notes.append(f"Sex: missing for {int(data['sex'].isna().sum())} participant(s).")
    shown_categories = []
    for column, name in OPTIONAL_CATEGORIES.items():
        if column not in data.columns:
            continue
        shown_categories.append(name.lower())
        levels = _category_levels(data[column], column, dictionary)
        title = f"{name}, No. (%)"
        categories(title, column, levels, of_recorded=False)
        if data[column].isna().any():
            for role, frame in groups:
                cells.append(
                    cell(
                        title,
                        "Not reported",
                        role,
                        "n_pct",
                        column_label=headers[role],
                        count=int(frame[column].isna().sum()),
                        total=len(frame),
                        decimals=0,
                    )
                )
    add(
        "Clinical",
        "Failed treatments, median (IQR), No.",
        "median_iqr",
        "n_failed_treatments",
        None,
    )
    add("Clinical", "MADRS total score, mean (SD), points", "mean_sd", "madrs_total")
    add("Head measurements, mean (SD), cm", "Nasion-inion distance", "mean_sd", "nasion_inion_cm")
    add("Head measurements, mean (SD), cm", "Tragus-tragus distance", "mean_sd", "tragus_tragus_cm")
    add(
        "Head measurements, mean (SD), cm", "Head circumference", "mean_sd", "head_circumference_cm"
    )
    notes = [
        "Abbreviation: MADRS, Montgomery-Asberg Depression Rating Scale (0-60; higher is worse).",
        "Head measurements are the inputs of the Beam F3 method. Percentages of sex are of "
        "participants with a recorded value.",
        *missing_notes,
    ]
    if shown_categories:
        notes.insert(
            2,
            f"{' and '.join(shown_categories).capitalize()} as recorded in participants.tsv, with "
            "the categories and labels of its data dictionary (participants.json) where it "
            "lists them; percentages are of all participants in the column.",
        )
    return cells_frame(
        cells,
        caption="Table 1. Baseline Characteristics of the Participants by Arm",
        notes=notes,
        row_header="Characteristic",
    )


class _Footnotes:
    """Lettered footnotes in order of first use (JAMA: a, b, c as they appear)."""

    def __init__(self) -> None:
        self.letters: dict[str, str] = {}
        self.texts: list[tuple[str, str]] = []
        self.markers: list[tuple[str, str, str | None, str]] = []

    def letter(self, key: str, text: str) -> str:
        if key not in self.letters:
            letter = "abcdefghijklmnoprstuvwxyz"[len(self.letters)]
            self.letters[key] = letter
            self.texts.append((letter, text))
        return self.letters[key]

    def mark(self, section: str, row: str, column: str | None, key: str, text: str) -> None:
        self.markers.append((section, row, column, self.letter(key, text)))


def _covariance_sentence(frame: pd.DataFrame, structures: Sequence[str]) -> str:
    """What the MMRM's covariance is and how the prespecified fallback went."""
    used = frame.attrs.get("structure", structures[0])
    order = ", then ".join(COVARIANCE_LABELS[s] for s in structures)
    failed = [
        f"the {COVARIANCE_LABELS[s]} fit did not converge: {message}"
        for s, message in frame.attrs.get("attempts", [])
        if s != used
    ]
    text = f"{COVARIANCE_LABELS[used]} within-participant covariance (prespecified order: {order}"
    return text + ("; " + "; ".join(failed) if failed else "") + ")"


def table2_from_results(results: PrimaryResults) -> pd.DataFrame:
    """Table 2 (cell frame) from :func:`analyse_primary` results.

    Columns: one per arm, the between-arm difference with its CI (differences only: in
    points, percentage points or SD units), the number needed to scan and the cost per
    additional responder (their own column), and the P value. The prespecified primary
    analysis (``params.primary_analysis``) is named in its row; every other P value is
    secondary and unadjusted (note). Footnote letters tie each method to its rows; a
    statistic that is not estimable prints "NA" with its reason as a footnote.
    """
    params = results.params
    primary_label = params.visit_label(params.primary_visit)
    primary_lower = primary_label.lower()
    ci = _percent(params.confidence)
    headers = {role: _arm_header(params, role, results.n_randomised[role]) for role in ARM_ROLES}
    headers["effect"] = (
        f"Difference, {params.arm_name(EXPERIMENTAL)} \u2212 {params.arm_name(CONTROL)} ({ci} CI)"
    )
    headers["derived"] = f"Number needed to scan or cost ({ci} CI)"
    headers["p"] = "P value"
    cells = []
    notes = _Footnotes()
    reasons = results.not_estimable

    def add(section: str, row: str, column: str, kind: str, **numbers: Any) -> None:
        cells.append(cell(section, row, column, kind, column_label=headers[column], **numbers))

    def arms(section: str, row: str, kind: str, values: dict[str, dict[str, float]], **kw) -> None:
        for role in ARM_ROLES:
            add(section, row, role, kind, **values[role], **kw)

    def not_estimable(section: str, row: str, column: str, key: str) -> None:
        if key in reasons:  # keyed by the reason: one footnote per distinct reason
            reason = reasons[key]
            notes.mark(section, row, column, f"na:{reason}", f"NA, not estimable: {reason}.")

    def as_iqr(triple: tuple[float, float, float]) -> dict[str, float]:
        return {"value": triple[0], "low": triple[1], "high": triple[2]}

    def primary_row(label: str, analysis: str) -> str:
        return f"{label}, primary analysis" if params.primary_analysis == analysis else label

    section = "MADRS total score, median (IQR), points"
    arms(section, "Baseline", "median_iqr", {r: as_iqr(results.baseline[r]) for r in ARM_ROLES})
    arms(section, primary_label, "median_iqr", {r: as_iqr(results.primary[r]) for r in ARM_ROLES})

    section = f"MADRS reduction, baseline to {primary_lower}, points"
    row = primary_row("Median (IQR)", "mann_whitney")
    arms(section, row, "median_iqr", {r: as_iqr(results.reduction[r]) for r in ARM_ROLES})
    hl, mw = results.hodges_lehmann, results.mann_whitney
    add(section, row, "effect", "estimate_ci", value=hl.estimate, low=hl.low, high=hl.high)
    add(section, row, "p", "p", value=mw.p_value)
    exact = "exact" if params.hodges_lehmann_ci == "exact" else "normal-approximation"
    mw_text = (
        f"Hodges-Lehmann shift (median of all between-arm differences) with the Moses {ci} CI "
        f"({exact} critical value); P from the two-sided Mann-Whitney U test "
        f"({params.mann_whitney_method}"
        + (", tie- and continuity-corrected" if params.mann_whitney_method == "asymptotic" else "")
        + ")"
    )
    if math.isfinite(mw.u):
        mw_text += (
            f": U = {format_number_plain(mw.u, whole_or_one_decimal(mw.u))}, rank-biserial r = "
            f"{format_number_plain(mw.rank_biserial, 2)} (2U/(n1 n2) - 1)"
        )
    notes.mark(section, row, None, "mann_whitney", mw_text + ".")
    not_estimable(section, row, "effect", "hodges_lehmann")
    not_estimable(section, row, "p", "mann_whitney")

    row = primary_row("Mean (SD)", "t_test")
    arms(
        section,
        row,
        "mean_sd",
        {
            r: {"value": results.reduction_mean_sd[r][0], "sd": results.reduction_mean_sd[r][1]}
            for r in ARM_ROLES
        },
    )
    md = results.mean_difference
    add(section, row, "effect", "estimate_ci", value=md.estimate, low=md.low, high=md.high)
    add(section, row, "p", "p", value=md.p_value)
    notes.mark(section, row, None, "t_test", "Difference in means; Student t CI and P.")
    not_estimable(section, row, "effect", "mean_difference")

    row = primary_row("Adjusted for baseline MADRS (ANCOVA)", "ancova")
    an = results.ancova
    add(section, row, "effect", "estimate_ci", value=an.estimate, low=an.low, high=an.high)
    add(section, row, "p", "p", value=an.p_value)
    notes.mark(
        section,
        row,
        None,
        "ancova",
        "Analysis of covariance: least squares, reduction ~ arm + baseline MADRS; t CI and P.",
    )
    not_estimable(section, row, "effect", "ancova")
    arms(
        section,
        "% of baseline, median (IQR)",
        "median_iqr",
        {r: as_iqr(results.percent_reduction[r]) for r in ARM_ROLES},
        decimals=0,
    )

    section = "Standardized difference in the reduction, SD units"
    d_method = "noncentral t" if params.effect_size_ci == "noncentral_t" else "Hedges-Olkin normal"
    for label, key, estimate in (
        ("Cohen d", "cohens_d", results.cohens_d),
        ("Hedges g", "hedges_g", results.hedges_g),
    ):
        add(
            section,
            label,
            "effect",
            "estimate_ci",
            decimals=2,
            value=estimate.estimate,
            low=estimate.low,
            high=estimate.high,
        )
        notes.mark(
            section,
            label,
            None,
            "effect_size",
            f"Cohen d: difference in means / pooled SD, {d_method} CI; Hedges g: d times the "
            "exact small-sample factor J(n1 + n2 - 2). No test of their own (the t test of the "
            "mean row applies).",
        )
        not_estimable(section, label, "effect", key)

    percent_threshold = f"{100 * params.response_min_reduction:g}%"
    for outcome, title in (
        (results.response, f"Response (reduction ≥{percent_threshold}) at {primary_lower}"),
        (
            results.remission,
            f"Remission (MADRS ≤{params.remission_max_score:g}) at {primary_lower}",
        ),
    ):
        noun = "Responders" if outcome.name == "response" else "Remitters"
        row = f"{noun}, No./total No. (%)"
        arms(
            title,
            row,
            "n_total_pct",
            {
                EXPERIMENTAL: {
                    "count": outcome.count_experimental,
                    "total": outcome.total_experimental,
                },
                CONTROL: {"count": outcome.count_control, "total": outcome.total_control},
            },
            decimals=0,
        )
        rd = outcome.risk_difference
        add(
            title,
            row,
            "effect",
            "estimate_ci",
            value=100 * rd.estimate,
            low=100 * rd.low,
            high=100 * rd.high,
        )
        add(title, row, "p", "p", value=rd.p_value)
        notes.mark(
            title,
            row,
            None,
            "risk_difference",
            f"Risk difference in percentage points with the Newcombe hybrid score {ci} CI; "
            "P from Fisher's exact test.",
        )
        not_estimable(title, row, "effect", outcome.name)
        nnt = outcome.number_needed
        nnt_row = "Number needed to scan, NNTB or NNTH"
        add(title, nnt_row, "derived", "nnt", value=nnt.estimate, low=nnt.low, high=nnt.high)
        notes.mark(
            title,
            nnt_row,
            None,
            "nnt",
            "Number needed to scan = 1/risk difference, rounded up to a whole number: NNTB, "
            "scans needed for 1 additional participant to benefit (NNTH: to be harmed); "
            "Altman's CI from the inverted risk-difference limits, through infinity when "
            "that CI includes 0.",
        )
        cost = outcome.cost_per_additional
        extra = "responder" if outcome.name == "response" else "remitter"
        cost_row = f"Cost per additional {extra} at an assumed scan cost, {params.currency}"
        add(
            title,
            cost_row,
            "derived",
            "cost",
            decimals=0,
            value=cost.estimate,
            low=cost.low,
            high=cost.high,
        )
        notes.mark(
            title,
            cost_row,
            None,
            "cost",
            f"Scan cost/risk difference (the unrounded number needed x {params.scan_cost:,.0f} "
            f"{params.currency}): the cost of one targeting scan with its analysis is a user-set "
            "assumption (configuration outcomes.scan_cost), not trial data. Upper limit ∞ when "
            "the risk-difference CI includes 0; NA when the point estimate shows no benefit.",
        )

    for key, frame, title, method in (
        (
            "mmrm",
            results.mmrm,
            "MMRM: least-squares mean reduction from baseline (95% CI), points",
            "mmrm",
        ),
        (
            "random_intercept",
            results.mixed_model,
            "Random-intercept mixed model: estimated reduction from baseline (95% CI), points",
            "random_intercept",
        ),
    ):
        title = title.replace("95%", ci)
        if key == "mmrm":
            structures = params.mmrm_covariances
            baseline_term = (
                "baseline MADRS x visit" if params.mmrm_baseline_by_visit else "baseline MADRS"
            )
            text = (
                "Mixed model for repeated measures: reduction from baseline at each "
                f"post-baseline visit ~ visit + arm x visit + {baseline_term} (visit "
                f"categorical, baseline centred at its mean), "
                f"{_covariance_sentence(frame, structures) if len(frame) else 'covariance'}, "
                "REML; least-squares means at the mean baseline; t CIs and P with "
                "Satterthwaite df; all available ratings"
            )
        else:
            text = (
                "Random-intercept linear mixed model: MADRS ~ arm x visit + (1 | participant) "
                "over all visits including baseline (visit categorical), REML; estimated "
                "reduction = minus the visit effect; Wald z CIs and P; all available ratings"
            )
        if len(frame):
            text += (
                f" of {frame.attrs.get('n_participants', 'all')} participants"
                + (
                    f"; visits without ratings in both arms left out: "
                    f"{', '.join(params.visit_label(v) for v in frame.attrs['dropped_visits'])}"
                    if frame.attrs.get("dropped_visits")
                    else ""
                )
                + "."
            )
            if key == "random_intercept" and not frame.attrs.get("converged", True):
                text += " The fit did not converge cleanly; interpret these rows with care."
        else:
            text += "."
        notes.mark(title, "", None, method, text)
        if not len(frame):
            row = primary_row(primary_label, method)
            for column in (*ARM_ROLES, "effect", "p"):
                add(title, row, column, "estimate_ci" if column != "p" else "p")
            not_estimable(title, row, "effect", key)
            continue
        for record in frame.itertuples():
            row = params.visit_label(record.visit)
            if record.visit == params.primary_visit:
                row = primary_row(row, method)
            arms(
                title,
                row,
                "estimate_ci",
                {
                    role: {
                        "value": getattr(record, f"reduction_{role}"),
                        "low": getattr(record, f"reduction_{role}_low"),
                        "high": getattr(record, f"reduction_{role}_high"),
                    }
                    for role in ARM_ROLES
                },
            )
            add(
                title,
                row,
                "effect",
                "estimate_ci",
                value=record.difference,
                low=record.low,
                high=record.high,
            )
            add(title, row, "p", "p", value=record.p_value)

    n_cont = results.n_continuous
    policy_text = {
        "non_responder": (
            f"Participants without a {primary_lower} rating count as non-responders and "
            "non-remitters (denominator: all randomised); continuous analyses use the participants "
            f"rated at {primary_lower}"
        ),
        "exclude": (
            f"Complete-case analysis: participants without a {primary_lower} rating are "
            "left out of every primary-visit analysis"
        ),
        "last_observation": (
            f"A missing {primary_lower} rating is replaced by the participant's last "
            "earlier rating (last observation carried forward) in every primary-visit analysis"
        ),
    }[params.missing_policy]
    table_notes = [
        "Abbreviations: ANCOVA, analysis of covariance; IQR, interquartile range; MADRS, "
        "Montgomery-Asberg Depression Rating Scale; MMRM, mixed model for repeated measures; "
        "NA, not available; NNTB/NNTH, number needed to treat (here, to scan) to benefit/harm.",
        f"Primary analysis (prespecified): {PRIMARY_ANALYSIS_LABELS[params.primary_analysis]} "
        f"to {primary_lower}, in the row marked primary analysis. All other P values are from "
        "secondary analyses, are not adjusted for multiple comparisons and are exploratory.",
        f"Reduction = baseline - {primary_lower} MADRS (positive = improvement). Differences "
        f"are {params.arm_name(EXPERIMENTAL)} minus {params.arm_name(CONTROL)}; positive "
        f"differences favour the {params.arm_name(EXPERIMENTAL)} arm. Analyses of the "
        f"{primary_lower} reduction include {n_cont[EXPERIMENTAL]} and {n_cont[CONTROL]} "
        f"participants. {policy_text}.",
    ]
    frame = cells_frame(
        cells,
        caption=f"Table 2. Primary and Secondary Outcomes, Baseline to {primary_label}",
        notes=table_notes,
        row_header="Outcome",
        markers=notes.markers,
        footnotes=notes.texts,
        columns=[*ARM_ROLES, "effect", "derived", "p"],
    )
    frame.attrs["not_estimable"] = dict(reasons)
    return frame


def format_number_plain(value: float, decimals: int = 1) -> str:
    """A number for running text in a note (half-up, normalised; see tables)."""
    from tmstarget.tables import format_number

    return format_number(value, decimals)


def table2_outcomes(
    participants: pd.DataFrame, madrs: pd.DataFrame, params: OutcomeParams | None = None
) -> pd.DataFrame:
    """Table 2: primary and secondary outcomes (a cell frame for :func:`tables.write_table`)."""
    return table2_from_results(analyse_primary(participants, madrs, params))


def blinding_summary(
    participants: pd.DataFrame, blinding: pd.DataFrame, params: OutcomeParams | None = None
) -> pd.DataFrame:
    """Guesses and Bang's blinding index per assessor (participant, rater) and arm.

    Columns: assessor, arm, guessed_connectivity, guessed_scalp, dont_know, not_answered,
    n (answered, incl. don't know), correct, incorrect, bang_bi, low, high, se.
    """
    params = params or OutcomeParams()
    data = participants[["participant_id", "arm"]].merge(blinding, on="participant_id", how="left")
    rows = []
    for assessor, column in (("participant", "participant_guess"), ("rater", "rater_guess")):
        for role in ARM_ROLES:
            guesses = data.loc[data["arm"] == role, column]
            counts = {
                "guessed_connectivity": int((guesses == EXPERIMENTAL).sum()),
                "guessed_scalp": int((guesses == CONTROL).sum()),
                "dont_know": int((guesses == DONT_KNOW).sum()),
                "not_answered": int(guesses.isna().sum()),
            }
            correct = counts[f"guessed_{role}"]
            other = CONTROL if role == EXPERIMENTAL else EXPERIMENTAL
            incorrect = counts[f"guessed_{other}"]
            bi = bang_blinding_index(correct, incorrect, counts["dont_know"], params.confidence)
            rows.append(
                {
                    "assessor": assessor,
                    "arm": role,
                    **counts,
                    "n": correct + incorrect + counts["dont_know"],
                    "correct": correct,
                    "incorrect": incorrect,
                    "bang_bi": bi.estimate,
                    "low": bi.low,
                    "high": bi.high,
                    "se": bi.se,
                }
            )
    return pd.DataFrame(rows)


def _event_label(event_type: str) -> str:
    text = str(event_type).replace("_", " ")
    return text[:1].upper() + text[1:]


def safety_summary(participants: pd.DataFrame, adverse_events: pd.DataFrame) -> pd.DataFrame:
    """Adverse events by arm: participants with >= 1 event and number of events.

    Rows: ``any`` (any event), ``serious``, ``severe``, ``seizure`` (always present, also
    when zero), then every event type seen (most frequent first, then by name).
    Columns: item, label, participants_<role>, events_<role>, total_<role>, p_value
    (Fisher exact on participants with >= 1 event).
    """
    totals = {role: int((participants["arm"] == role).sum()) for role in ARM_ROLES}
    events = adverse_events.merge(participants[["participant_id", "arm"]], on="participant_id")
    items: list[tuple[str, str, pd.Series]] = [
        ("any", "Any adverse event", pd.Series(True, index=events.index)),
        ("serious", "Serious adverse event", events["serious"] == "yes"),
        ("severe", "Severe adverse event", events["severity"] == "severe"),
        ("seizure", "Seizure", events["event_type"] == "seizure"),
    ]
    frequency = events.groupby("event_type")["participant_id"].nunique()
    ordered = sorted(frequency.index, key=lambda name: (-frequency[name], name))
    items += [
        (f"type:{name}", _event_label(name), events["event_type"] == name)
        for name in ordered
        if name != "seizure"
    ]
    rows = []
    for item, label, mask in items:
        row: dict[str, Any] = {"item": item, "label": label}
        selected = events[mask.to_numpy(dtype=bool)] if len(events) else events
        for role in ARM_ROLES:
            in_arm = selected[selected["arm"] == role]
            row[f"participants_{role}"] = int(in_arm["participant_id"].nunique())
            row[f"events_{role}"] = len(in_arm)
            row[f"total_{role}"] = totals[role]
        row["p_value"] = fisher_exact_p(
            row[f"participants_{EXPERIMENTAL}"],
            totals[EXPERIMENTAL],
            row[f"participants_{CONTROL}"],
            totals[CONTROL],
        )
        rows.append(row)
    return pd.DataFrame(rows)


def table3_blinding_safety(
    participants: pd.DataFrame,
    blinding: pd.DataFrame | None,
    adverse_events: pd.DataFrame | None,
    params: OutcomeParams | None = None,
) -> pd.DataFrame:
    """Table 3: blinding (guesses, Bang's index per arm) and safety (events by arm)."""
    params = params or OutcomeParams()
    totals = {role: int((participants["arm"] == role).sum()) for role in ARM_ROLES}
    headers = {role: _arm_header(params, role, totals[role]) for role in ARM_ROLES}
    cells = []
    ci = _percent(params.confidence)
    if blinding is None:
        for role in ARM_ROLES:
            cells.append(
                cell(
                    "Blinding",
                    "Blinding questionnaire",
                    role,
                    "text",
                    column_label=headers[role],
                    text="Not recorded",
                )
            )
    else:
        summary = blinding_summary(participants, blinding, params)
        for assessor, title in (
            ("participant", "Blinding: participants' guess, No./total No. (%)"),
            ("rater", "Blinding: raters' guess, No./total No. (%)"),
        ):
            part = summary[summary["assessor"] == assessor].set_index("arm")
            show_missing = bool(part["not_answered"].sum())
            labels = [
                ("guessed_connectivity", f"Guessed {params.arm_name(EXPERIMENTAL)}"),
                ("guessed_scalp", f"Guessed {params.arm_name(CONTROL)}"),
                ("dont_know", "Don't know"),
            ]
            for key, label in labels:
                for role in ARM_ROLES:
                    cells.append(
                        cell(
                            title,
                            label,
                            role,
                            "n_total_pct",
                            column_label=headers[role],
                            count=part.at[role, key],
                            total=part.at[role, "n"],
                            decimals=0,
                        )
                    )
            if show_missing:
                for role in ARM_ROLES:
                    cells.append(
                        cell(
                            title,
                            "Not answered",
                            role,
                            "count",
                            column_label=headers[role],
                            count=part.at[role, "not_answered"],
                        )
                    )
            for role in ARM_ROLES:
                cells.append(
                    cell(
                        title,
                        f"Bang blinding index ({ci} CI)",
                        role,
                        "estimate_ci",
                        column_label=headers[role],
                        value=part.at[role, "bang_bi"],
                        low=part.at[role, "low"],
                        high=part.at[role, "high"],
                        decimals=2,
                    )
                )
    title = "Adverse events, participants with ≥1 event, No./total No. (%)"
    if adverse_events is None:
        for role in ARM_ROLES:
            cells.append(
                cell(
                    title,
                    "Adverse events",
                    role,
                    "text",
                    column_label=headers[role],
                    text="Not recorded",
                )
            )
    else:
        safety = safety_summary(participants, adverse_events)
        for record in safety.to_dict("records"):
            for role in ARM_ROLES:
                cells.append(
                    cell(
                        title,
                        record["label"],
                        role,
                        "n_total_pct",
                        column_label=headers[role],
                        count=record[f"participants_{role}"],
                        total=record[f"total_{role}"],
                        decimals=0,
                    )
                )
            if record["item"] == "any":
                cells.append(
                    cell(
                        title,
                        record["label"],
                        "p",
                        "p",
                        column_label="P value",
                        value=record["p_value"],
                    )
                )
        any_row = safety[safety["item"] == "any"].iloc[0]
        for role in ARM_ROLES:
            cells.append(
                cell(
                    title,
                    "Events, total No.",
                    role,
                    "count",
                    column_label=headers[role],
                    count=any_row[f"events_{role}"],
                )
            )
    notes = [
        "Guesses: denominators are the participants who answered in each arm (don't know "
        "included). Seizures and serious adverse events are listed even when none occurred.",
    ]
    footnotes = []
    markers = []
    if blinding is not None:
        footnotes.append(
            (
                "a",
                "Bang blinding index per arm = (correct - incorrect guesses)/answers (Bang et al, "
                f"2004) with Tango's score {ci} CI (within -1 to 1): 0 is random guessing, 1 "
                "complete unblinding, -1 opposite guessing; values within -0.2 to 0.2 are "
                "usually read as successful blinding.",
            )
        )
        for assessor in ("participants'", "raters'"):
            section = f"Blinding: {assessor} guess, No./total No. (%)"
            markers.append((section, f"Bang blinding index ({ci} CI)", None, "a"))
    if adverse_events is not None:
        letter = "b" if footnotes else "a"
        footnotes.append((letter, "P value: Fisher's exact test."))
        markers.append((title, "Any adverse event", "p", letter))
    return cells_frame(
        cells,
        caption="Table 3. Blinding and Safety",
        notes=notes,
        row_header="Measure",
        markers=markers,
        footnotes=footnotes,
    )


# --------------------------------------------------------------------------------------
# Figure inputs
# --------------------------------------------------------------------------------------


def binary_summary(results: PrimaryResults) -> pd.DataFrame:
    """Response and remission rates by arm with Wilson CIs (for the bar figure).

    Columns: outcome (label), arm, count, total, proportion, low, high.
    """
    rows = []
    params = results.params
    labels = {
        "response": f"Response (≥{100 * params.response_min_reduction:g}% reduction)",
        "remission": f"Remission (MADRS ≤{params.remission_max_score:g})",
    }
    for outcome in (results.response, results.remission):
        for role, count, total, rate in (
            (
                EXPERIMENTAL,
                outcome.count_experimental,
                outcome.total_experimental,
                outcome.rate_experimental,
            ),
            (CONTROL, outcome.count_control, outcome.total_control, outcome.rate_control),
        ):
            rows.append(
                {
                    "outcome": labels[outcome.name],
                    "arm": role,
                    "count": count,
                    "total": total,
                    "proportion": rate.estimate,
                    "low": rate.low,
                    "high": rate.high,
                }
            )
    return pd.DataFrame(rows)


def forest_effects(results: PrimaryResults) -> pd.DataFrame:
    """Effects for the forest plot, grouped into panels that share a scale.

    Columns: panel, label, estimate, low, high, null (reference line). All effects are
    connectivity minus scalp; positive favours connectivity.
    """
    params = results.params
    primary = params.visit_label(params.primary_visit).lower()
    rows = []
    points = "Difference in MADRS reduction, points"

    def add(panel: str, label: str, estimate: Estimate, scale: float = 1.0) -> None:
        rows.append(
            {
                "panel": panel,
                "label": label,
                "estimate": scale * estimate.estimate,
                "low": scale * estimate.low,
                "high": scale * estimate.high,
                "null": 0.0,
            }
        )

    add(points, f"Hodges-Lehmann shift, {primary}", results.hodges_lehmann)
    add(points, f"ANCOVA, {primary}", results.ancova)
    if len(results.mmrm):
        at_primary = results.mmrm[results.mmrm["visit"] == params.primary_visit]
        for record in at_primary.itertuples():
            add(points, f"MMRM, {primary}", Estimate(record.difference, record.low, record.high))
    for record in results.mixed_model.itertuples():
        add(
            points,
            f"Random-intercept model, {params.visit_label(record.visit)}",
            Estimate(record.difference, record.low, record.high),
        )
    standardised = "Standardised effect size"
    add(standardised, "Cohen d", results.cohens_d)
    add(standardised, "Hedges g", results.hedges_g)
    risk = "Risk difference, percentage points"
    add(risk, "Response", results.response.risk_difference, 100.0)
    add(risk, "Remission", results.remission.risk_difference, 100.0)
    return pd.DataFrame(rows)


def consort_counts(
    participants: pd.DataFrame, madrs: pd.DataFrame, params: OutcomeParams | None = None
) -> pd.DataFrame:
    """Participant flow from the data, for the CONSORT diagram.

    Columns: stage, arm (role, or ``all``), n. Stages in order: ``assessed`` and
    ``excluded`` (only when given in params), ``randomised``, ``allocated``,
    ``rated:<visit>`` and ``missed:<visit>`` for each of ``consort_visits``,
    ``analysed_continuous`` (primary-visit continuous analyses), ``analysed_binary``
    (response/remission denominators), ``analysed_mixed`` (participants in the mixed model).
    The frame's ``attrs["missing_policy"]`` records the policy used.
    """
    params = params or OutcomeParams()
    outcomes = participant_outcomes(participants, madrs, params)
    rows = []
    if params.consort_assessed is not None:
        rows.append({"stage": "assessed", "arm": "all", "n": int(params.consort_assessed)})
    if params.consort_excluded is not None:
        rows.append({"stage": "excluded", "arm": "all", "n": int(params.consort_excluded)})
    rows.append({"stage": "randomised", "arm": "all", "n": len(participants)})
    rated = _with_arm(participants, madrs)
    for role in ARM_ROLES:
        ids = set(participants.loc[participants["arm"] == role, "participant_id"])
        rows.append({"stage": "allocated", "arm": role, "n": len(ids)})
        for visit in params.consort_visits:
            seen = set(
                rated.loc[(rated["session_id"] == visit) & (rated["arm"] == role), "participant_id"]
            )
            rows.append({"stage": f"rated:{visit}", "arm": role, "n": len(seen & ids)})
            rows.append({"stage": f"missed:{visit}", "arm": role, "n": len(ids - seen)})
        own = outcomes[outcomes["arm"] == role]
        rows.append(
            {"stage": "analysed_continuous", "arm": role, "n": int(own["primary"].notna().sum())}
        )
        rows.append(
            {"stage": "analysed_binary", "arm": role, "n": int(own["responder"].notna().sum())}
        )
        rows.append(
            {"stage": "analysed_mixed", "arm": role, "n": int(own["baseline"].notna().sum())}
        )
    frame = pd.DataFrame(rows)
    frame.attrs["missing_policy"] = params.missing_policy
    return frame


# --------------------------------------------------------------------------------------
# Mechanism
# --------------------------------------------------------------------------------------


def mechanism_data(
    participants: pd.DataFrame,
    madrs: pd.DataFrame,
    site_metrics: pd.DataFrame,
    measures: Mapping[str, str],
    params: OutcomeParams | None = None,
) -> pd.DataFrame:
    """One row per randomised participant: the primary-visit outcomes
    (:func:`participant_outcomes`) with the site measures (columns of ``measures``) joined;
    the data behind the mechanism correlations and their figure."""
    missing = [
        column for column in ("participant_id", *measures) if column not in site_metrics.columns
    ]
    if missing:
        raise ValueError(f"site metrics lack column(s): {', '.join(missing)}")
    outcomes = participant_outcomes(participants, madrs, params or OutcomeParams())
    return outcomes.merge(
        site_metrics[["participant_id", *measures]], on="participant_id", how="left"
    )


def mechanism_correlations(
    participants: pd.DataFrame,
    madrs: pd.DataFrame,
    site_metrics: pd.DataFrame,
    measures: Mapping[str, str],
    params: OutcomeParams | None = None,
) -> pd.DataFrame:
    """Spearman correlation of site measures with % MADRS change, per arm and pooled.

    ``site_metrics`` has participant_id and one column per measure (e.g. circuit
    connectivity at the stimulated site, r; distance from Beam F3 to the connectivity
    target, mm); ``measures`` maps column -> printed label. The outcome is percent change
    at the primary visit (negative = improvement; so a negative rho means a higher value
    goes with more improvement), using the participants analysed for continuous outcomes.

    Columns: measure, label, group (connectivity | scalp | pooled), n, rho, low, high, p_value.
    """
    params = params or OutcomeParams()
    data = mechanism_data(participants, madrs, site_metrics, measures, params)
    rows = []
    for measure, label in measures.items():
        for group in (*ARM_ROLES, "pooled"):
            subset = data if group == "pooled" else data[data["arm"] == group]
            estimate, n = spearman_with_ci(
                subset[measure],
                subset["percent_change"],
                params.confidence,
                params.correlation_ci,
                params.n_bootstrap,
                params.seed,
            )
            rows.append(
                {
                    "measure": measure,
                    "label": label,
                    "group": group,
                    "n": n,
                    "rho": estimate.estimate,
                    "low": estimate.low,
                    "high": estimate.high,
                    "p_value": estimate.p_value,
                }
            )
    return pd.DataFrame(rows)


def table4_mechanism(
    correlations: pd.DataFrame, params: OutcomeParams | None = None
) -> pd.DataFrame:
    """Mechanism table (cell frame) from :func:`mechanism_correlations`.

    One section per measure; columns per group: rho (CI) and P.
    """
    params = params or OutcomeParams()
    names = {**{role: params.arm_name(role) for role in ARM_ROLES}, "pooled": "Pooled"}
    cells = []
    ci = _percent(params.confidence)
    for record in correlations.to_dict("records"):
        group = record["group"]
        row = f"{names[group]} (n = {record['n']})"
        cells.append(
            cell(
                record["label"],
                row,
                "rho",
                "estimate_ci",
                column_label=f"Spearman ρ ({ci} CI)",
                value=record["rho"],
                low=record["low"],
                high=record["high"],
                decimals=2,
            )
        )
        cells.append(
            cell(record["label"], row, "p", "p", column_label="P value", value=record["p_value"])
        )
    method = (
        "Fisher z with the Bonett-Wright variance"
        if params.correlation_ci == "fisher"
        else f"percentile bootstrap ({params.n_bootstrap} resamples, seed {params.seed})"
    )
    notes = [
        "Outcome: percent change in MADRS from baseline to "
        f"{params.visit_label(params.primary_visit).lower()} "
        "(negative = improvement); a negative ρ means higher values go with more improvement.",
        f"CI: {method}. P: Spearman test (t approximation).",
    ]
    return cells_frame(
        cells,
        caption="Table 4. Target Site Measures and Clinical Outcome",
        notes=notes,
        row_header="Group",
    )


# --------------------------------------------------------------------------------------
# The whole stage


def analyse_trial(
    participants: pd.DataFrame,
    madrs: pd.DataFrame,
    blinding: pd.DataFrame | None,
    adverse_events: pd.DataFrame | None,
    params: OutcomeParams | None = None,
    dictionary: Mapping[str, Any] | None = None,
) -> dict[str, pd.DataFrame]:
    """Every table and every figure's source data of the outcome analysis, computed once.

    Keys: ``table1_baseline``, ``table2_outcomes``, ``table3_blinding_safety`` (cell
    frames for :func:`tmstarget.tables.write_table`) and the source data ``consort``,
    ``visits``, ``mixed_model`` (random intercept), ``mmrm``, ``participants``, ``rates``,
    ``effects``. ``dictionary`` is participants.json (labels of optional Table 1
    categories). A statistic that is not estimable is NA in the tables, never an error.
    """
    params = params or OutcomeParams()
    results = analyse_primary(participants, madrs, params)
    return {
        "table1_baseline": table1_baseline(participants, madrs, params, dictionary),
        "table2_outcomes": table2_from_results(results),
        "table3_blinding_safety": table3_blinding_safety(
            participants, blinding, adverse_events, params
        ),
        "consort": consort_counts(participants, madrs, params),
        "visits": visit_summary(participants, madrs, params),
        "mixed_model": results.mixed_model,
        "mmrm": results.mmrm,
        "participants": results.outcomes,
        "rates": binary_summary(results),
        "effects": forest_effects(results),
    }
