"""Two-sample tests of many simulated trials at once (trial planning, :mod:`tmstarget.power`).

Every function takes the data of R trials as arrays of shape (R, N), one row per trial and
one column per participant, with the design every trial shares: ``experimental`` (N,) bool
(True = the connectivity arm) and, for the tests with a site, ``site`` (N,) int labels.
A missing value is NaN: a continuous outcome not rated at the primary visit, or a binary
outcome of a participant left out of the denominator. Each function returns the two-sided
P value of every trial, shape (R,), and NaN where a trial's data cannot support the test
(the cases in which the workflow's own function raises
:class:`tmstarget.outcomes.NotEstimable`).

Each equals, trial by trial, the function the workflow or a reference package applies to
one trial (``tests/test_planning_trial.py`` checks them to 1e-10 on simulated data sets):

- :func:`t_test_p`: :func:`tmstarget.outcomes.mean_difference` (Student t, pooled variance).
- :func:`mann_whitney_p`: :func:`tmstarget.outcomes.mann_whitney` (normal approximation
  with tie and continuity corrections, scipy's ``method="asymptotic"``); other methods are
  scipy's own, called on the trials that share arm sizes.
- :func:`ancova_p`: without a site, :func:`tmstarget.outcomes.ancova_difference`
  (``outcome ~ 1 + arm + baseline``); with a site, statsmodels OLS
  ``outcome ~ C(site) + arm + baseline`` (site as a fixed effect).
- :func:`stratified_rank_p`: the van Elteren (1960) test (site weights 1 / (n_site + 1),
  locally most powerful for a common shift; no continuity correction, as SAS PROC FREQ's
  CMH statistic with modified ridit scores) or the unweighted stratified Wilcoxon-Mann-Whitney
  test (the sum of the sites' U statistics, continuity corrected); with one site both are
  scipy's Mann-Whitney test (without and with the continuity correction).
- :func:`fisher_p`: :func:`tmstarget.outcomes.fisher_exact_p` (two-sided: the sum of the
  tables no more probable than the observed one).
- :func:`chi_square_p`: ``scipy.stats.chi2_contingency`` (Pearson, with or without Yates'
  continuity correction).
- :func:`cmh_p`: the Cochran-Mantel-Haenszel test of response stratified by site,
  statsmodels ``StratifiedTable.test_null_odds`` (with ``correction``: R's
  ``mantelhaen.test``, which drops the correction when it would exceed the deviation).

Sums over sites run over contiguous blocks of columns (``np.add.reduceat``), never a BLAS
product, so the results do not depend on the number of threads.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special, stats

__all__ = [
    "ancova_p",
    "average_ranks",
    "chi_square_p",
    "cmh_p",
    "fisher_p",
    "mann_whitney_p",
    "stratified_rank_p",
    "t_test_p",
]

# Two tables are equally probable when their hypergeometric probabilities agree to this
# relative tolerance (the float error of the log-gamma sums is below 1e-12 up to 10,000
# participants; scipy's own comparison uses 1e-14 on its exactly computed probabilities).
FISHER_RELATIVE_TOLERANCE = 1e-9


def _as_batch(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    if values.ndim == 1:
        values = values[None, :]
    if values.ndim != 2:
        raise ValueError(f"expected an array (trials, participants), got shape {values.shape}")
    if np.isinf(values).any():
        raise ValueError("infinite value(s) in the simulated data")
    return values


def _as_design(experimental: np.ndarray, n_columns: int) -> np.ndarray:
    experimental = np.asarray(experimental, dtype=bool)
    if experimental.shape != (n_columns,):
        raise ValueError(
            f"experimental must have one entry per participant ({n_columns}), "
            f"got shape {experimental.shape}"
        )
    return experimental


@dataclass(frozen=True)
class _Sites:
    """Columns grouped by site: ``order`` puts them in site-major order (None when they
    already are), ``starts`` is the first column of each site's block."""

    order: np.ndarray | None
    starts: np.ndarray
    sizes: np.ndarray
    experimental: np.ndarray  # in site-major order

    def arrange(self, values: np.ndarray) -> np.ndarray:
        return values if self.order is None else values[:, self.order]

    def sums(self, values: np.ndarray) -> np.ndarray:
        """(R, N) -> (R, S): the sum of each site's block."""
        return np.add.reduceat(values, self.starts, axis=1)

    def spread(self, per_site: np.ndarray) -> np.ndarray:
        """(R, S) -> (R, N): each site's value repeated over its columns."""
        return np.repeat(per_site, self.sizes, axis=1)


def _sites(experimental: np.ndarray, site: np.ndarray | None) -> _Sites:
    n = experimental.shape[0]
    if site is None:
        return _Sites(None, np.array([0]), np.array([n]), experimental)
    site = np.asarray(site)
    if site.shape != (n,):
        raise ValueError(f"site must have one entry per participant ({n}), got {site.shape}")
    order = np.argsort(site, kind="stable")
    arranged = site[order]
    starts = np.flatnonzero(np.r_[True, arranged[1:] != arranged[:-1]])
    sizes = np.diff(np.r_[starts, n])
    if np.array_equal(order, np.arange(n)):
        return _Sites(None, starts, sizes, experimental)
    return _Sites(order, starts, sizes, experimental[order])


# --------------------------------------------------------------------------------------
# Ranks
# --------------------------------------------------------------------------------------


def average_ranks(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Average ranks along the last axis among the non-missing values, and the tie term.

    Returns ``(ranks, tie_term)``: ``ranks`` has the shape of ``values`` (1 = smallest,
    tied values share their mean rank, NaN stays NaN) and ``tie_term`` (R,) is the sum of
    t^3 - t over the groups of t tied non-missing values (0 without ties).
    """
    values = _as_batch(values)
    n_rows, n_columns = values.shape
    order = np.argsort(values, axis=1, kind="stable")  # NaN sorts last
    ordered = np.take_along_axis(values, order, axis=1)
    position = np.broadcast_to(np.arange(n_columns), ordered.shape)
    starts = np.ones(ordered.shape, dtype=bool)
    starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]  # NaN != NaN: each NaN alone
    ends = np.ones(ordered.shape, dtype=bool)
    ends[:, :-1] = starts[:, 1:]
    first = np.maximum.accumulate(np.where(starts, position, 0), axis=1)
    last = np.minimum.accumulate(np.where(ends, position, n_columns)[:, ::-1], axis=1)[:, ::-1]
    tied = (last - first + 1).astype(float)
    observed = ~np.isnan(ordered)
    tie_term = np.sum(np.where(observed, tied**2 - 1.0, 0.0), axis=1)
    ranks = np.empty_like(values)
    np.put_along_axis(ranks, order, np.where(observed, (first + last) / 2.0 + 1.0, np.nan), 1)
    return ranks, tie_term


# --------------------------------------------------------------------------------------
# Continuous outcome
# --------------------------------------------------------------------------------------


def _group_moments(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Count, mean and sum of squared deviations of each row's non-missing values."""
    observed = ~np.isnan(values)
    count = observed.sum(axis=1)
    filled = np.where(observed, values, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = filled.sum(axis=1) / count
    deviation = np.where(observed, values - mean[:, None], 0.0)
    return count, mean, np.sum(deviation**2, axis=1)


def t_test_p(values: np.ndarray, experimental: np.ndarray) -> np.ndarray:
    """Two-sided Student t test (pooled variance) of experimental vs control, per trial.

    As :func:`tmstarget.outcomes.mean_difference`: NaN when an arm has no value, fewer
    than 3 values in all, or no variation (pooled SD 0).
    """
    values = _as_batch(values)
    experimental = _as_design(experimental, values.shape[1])
    n_x, mean_x, ss_x = _group_moments(values[:, experimental])
    n_y, mean_y, ss_y = _group_moments(values[:, ~experimental])
    df = n_x + n_y - 2
    with np.errstate(invalid="ignore", divide="ignore"):
        pooled_var = (ss_x + ss_y) / df
        se = np.sqrt(pooled_var * (1.0 / n_x + 1.0 / n_y))
        t = (mean_x - mean_y) / se
    p = 2.0 * stats.t.sf(np.abs(t), np.maximum(df, 1))
    estimable = (n_x >= 1) & (n_y >= 1) & (df >= 1) & (pooled_var > 0)
    return np.where(estimable, p, np.nan)


def mann_whitney_p(
    values: np.ndarray, experimental: np.ndarray, method: str = "asymptotic"
) -> np.ndarray:
    """Two-sided Mann-Whitney U test of experimental vs control, per trial.

    ``asymptotic`` (the workflow's default) is computed here: U of the experimental arm
    from average ranks among the non-missing values, z = (max(U, n_x n_y - U) - n_x n_y / 2
    - 1/2) / sd with the tie-corrected sd, P = 2 (1 - Phi(z)) clipped to [0, 1] (all tied:
    P = 1). ``exact`` and ``auto`` call scipy's ``mannwhitneyu`` on the trials that share
    arm sizes. NaN when an arm has no value.
    """
    values = _as_batch(values)
    experimental = _as_design(experimental, values.shape[1])
    if method != "asymptotic":
        return _mann_whitney_scipy(values, experimental, method)
    ranks, tie_term = average_ranks(values)
    n_x = np.sum(~np.isnan(values[:, experimental]), axis=1).astype(float)
    n_y = np.sum(~np.isnan(values[:, ~experimental]), axis=1).astype(float)
    n = n_x + n_y
    rank_sum = np.nansum(ranks[:, experimental], axis=1)
    u = rank_sum - n_x * (n_x + 1.0) / 2.0
    u_max = np.maximum(u, n_x * n_y - u)
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = np.sqrt(n_x * n_y / 12.0 * ((n + 1.0) - tie_term / (n * (n - 1.0))))
        z = (u_max - n_x * n_y / 2.0 - 0.5) / sd
    p = np.clip(2.0 * special.ndtr(-z), 0.0, 1.0)
    return np.where((n_x >= 1) & (n_y >= 1), p, np.nan)


def _compact(values: np.ndarray, size: int) -> np.ndarray:
    """Each row's ``size`` non-missing values, in their order."""
    order = np.argsort(np.isnan(values), axis=1, kind="stable")
    return np.take_along_axis(values, order, axis=1)[:, :size]


def _mann_whitney_scipy(values: np.ndarray, experimental: np.ndarray, method: str) -> np.ndarray:
    x_all, y_all = values[:, experimental], values[:, ~experimental]
    n_x = np.sum(~np.isnan(x_all), axis=1)
    n_y = np.sum(~np.isnan(y_all), axis=1)
    p = np.full(values.shape[0], np.nan)
    sizes = np.stack([n_x, n_y], axis=1)
    for size_x, size_y in np.unique(sizes, axis=0):
        if size_x < 1 or size_y < 1:
            continue
        rows = np.flatnonzero((n_x == size_x) & (n_y == size_y))
        x = _compact(x_all[rows], size_x)
        y = _compact(y_all[rows], size_y)
        result = stats.mannwhitneyu(x, y, alternative="two-sided", method=method, axis=1)
        p[rows] = result.pvalue
    return p


def ancova_p(
    values: np.ndarray,
    baseline: np.ndarray,
    experimental: np.ndarray,
    site: np.ndarray | None = None,
) -> np.ndarray:
    """Two-sided P of the arm coefficient of OLS ``outcome ~ site + arm + baseline``.

    Without ``site``, one intercept (:func:`tmstarget.outcomes.ancova_difference`); with
    it, one intercept per site (site as a fixed effect). By the Frisch-Waugh-Lovell theorem
    the arm coefficient is that of the site-centred outcome on the site-centred arm and
    baseline; residual df = observed participants - sites with any - 2. Participants with
    a missing outcome are left out. NaN when df < 1, the arm or the baseline does not vary
    within any site, or the fit is exact (residual variance 0). ``baseline`` (R, N) has no
    missing values.
    """
    values = _as_batch(values)
    baseline = _as_batch(baseline)
    if baseline.shape != values.shape or np.isnan(baseline).any():
        raise ValueError("baseline: needs a value for every participant of every trial")
    experimental = _as_design(experimental, values.shape[1])
    sites = _sites(experimental, site)
    y = sites.arrange(values)
    observed = ~np.isnan(y)
    weight = observed.astype(float)
    arm = np.broadcast_to(sites.experimental.astype(float), y.shape)
    base = sites.arrange(baseline)
    counts = sites.sums(weight)
    with np.errstate(invalid="ignore", divide="ignore"):

        def centred(column: np.ndarray) -> np.ndarray:
            filled = np.where(observed, column, 0.0)
            means = np.where(counts > 0, sites.sums(filled) / counts, 0.0)
            return np.where(observed, column - sites.spread(means), 0.0)

        y_c, arm_c, base_c = centred(y), centred(arm), centred(base)
        s_tt = np.sum(arm_c**2, axis=1)
        s_bb = np.sum(base_c**2, axis=1)
        s_tb = np.sum(arm_c * base_c, axis=1)
        s_ty = np.sum(arm_c * y_c, axis=1)
        s_by = np.sum(base_c * y_c, axis=1)
        determinant = s_tt * s_bb - s_tb**2
        beta_arm = (s_bb * s_ty - s_tb * s_by) / determinant
        beta_base = (s_tt * s_by - s_tb * s_ty) / determinant
        residual = y_c - beta_arm[:, None] * arm_c - beta_base[:, None] * base_c
        ssr = np.sum(np.where(observed, residual, 0.0) ** 2, axis=1)
        df = observed.sum(axis=1) - np.sum(counts > 0, axis=1) - 2
        se = np.sqrt(ssr / df * s_bb / determinant)
        t = beta_arm / se
        total = np.sum(y_c**2, axis=1)
    p = 2.0 * stats.t.sf(np.abs(t), np.maximum(df, 1))
    full_rank = determinant > 1e-10 * s_tt * s_bb
    estimable = (df >= 1) & (s_tt > 0) & (s_bb > 0) & full_rank
    estimable &= ssr > 1e-20 * np.maximum(total, 1.0)
    return np.where(estimable, p, np.nan)


STRATIFIED_WEIGHTS = ("van_elteren", "unweighted")


def stratified_rank_p(
    values: np.ndarray,
    experimental: np.ndarray,
    site: np.ndarray,
    weights: str = "van_elteren",
) -> np.ndarray:
    """Two-sided stratified Wilcoxon-Mann-Whitney test of experimental vs control, per trial.

    Within each site k (its non-missing values): W_k the rank sum of the experimental arm,
    E_k = m_k (N_k + 1) / 2, V_k = m_k n_k / 12 (N_k + 1 - T_k / (N_k (N_k - 1))) with T_k
    the site's tie term. Statistic sum_k w_k (W_k - E_k) over sd sqrt(sum_k w_k^2 V_k):
    ``van_elteren`` w_k = 1 / (N_k + 1), no continuity correction (van Elteren 1960;
    Lehmann 1975, Nonparametrics, ch. 3); ``unweighted`` w_k = 1 with the continuity
    correction 1/2 (the sum of the sites' U statistics). Sites with one arm missing add
    nothing. NaN when no site has both arms, or no value varies.
    """
    if weights not in STRATIFIED_WEIGHTS:
        raise ValueError(f"weights: {weights!r} is not one of {', '.join(STRATIFIED_WEIGHTS)}")
    values = _as_batch(values)
    experimental = _as_design(experimental, values.shape[1])
    sites = _sites(experimental, site)
    y = sites.arrange(values)
    statistic = np.zeros(values.shape[0])
    variance = np.zeros(values.shape[0])
    for start, size in zip(sites.starts, sites.sizes, strict=True):
        block = y[:, start : start + size]
        in_arm = sites.experimental[start : start + size]
        ranks, tie_term = average_ranks(block)
        m = np.sum(~np.isnan(block[:, in_arm]), axis=1).astype(float)
        n = np.sum(~np.isnan(block[:, ~in_arm]), axis=1).astype(float)
        total = m + n
        both = (m > 0) & (n > 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            rank_sum = np.nansum(ranks[:, in_arm], axis=1)
            deviation = rank_sum - m * (total + 1.0) / 2.0
            ties = np.where(total > 1, tie_term / (total * (total - 1.0)), 0.0)
            site_variance = m * n / 12.0 * (total + 1.0 - ties)
        weight = 1.0 / (total + 1.0) if weights == "van_elteren" else np.ones_like(total)
        statistic += np.where(both, weight * deviation, 0.0)
        variance += np.where(both, weight**2 * site_variance, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        if weights == "unweighted":
            z = (np.abs(statistic) - 0.5) / np.sqrt(variance)
        else:
            z = np.abs(statistic) / np.sqrt(variance)
    p = np.clip(2.0 * special.ndtr(-z), 0.0, 1.0)
    return np.where(variance > 0, p, np.nan)


# --------------------------------------------------------------------------------------
# Binary outcome
# --------------------------------------------------------------------------------------


def arm_counts(
    responder: np.ndarray, experimental: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Responders and denominators by arm, per trial: (count_x, total_x, count_y, total_y).

    ``responder`` (R, N) holds 1 (responder), 0 (not) or NaN (not in the denominator).
    """
    responder = _as_batch(responder)
    experimental = _as_design(experimental, responder.shape[1])
    counted = ~np.isnan(responder)
    filled = np.where(counted, responder, 0.0)
    return (
        filled[:, experimental].sum(axis=1).astype(np.int64),
        counted[:, experimental].sum(axis=1).astype(np.int64),
        filled[:, ~experimental].sum(axis=1).astype(np.int64),
        counted[:, ~experimental].sum(axis=1).astype(np.int64),
    )


def fisher_p(
    count1: np.ndarray, total1: np.ndarray, count2: np.ndarray, total2: np.ndarray
) -> np.ndarray:
    """Two-sided Fisher exact P of each 2x2 table [[count1, total1 - count1], [count2, ...]].

    Conditional on the margins the responders of group 1 are hypergeometric; P is the
    probability of the tables no more probable than the observed one (relative tolerance
    :data:`FISHER_RELATIVE_TOLERANCE`), as ``scipy.stats.fisher_exact``. NaN when a group
    is empty (:func:`tmstarget.outcomes.fisher_exact_p` raises NotEstimable).
    """
    count1, total1, count2, total2 = (
        np.atleast_1d(np.asarray(a, dtype=np.int64)) for a in (count1, total1, count2, total2)
    )
    if np.any((count1 < 0) | (count2 < 0) | (count1 > total1) | (count2 > total2)):
        raise ValueError("Fisher exact test: counts must lie within 0..total")
    responders = count1 + count2
    everyone = total1 + total2
    # log C(a, b) from a table of log-gamma values
    log_factorial = special.gammaln(np.arange(int(everyone.max(initial=0)) + 2) + 1.0)

    def log_choose(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return log_factorial[a] - log_factorial[b] - log_factorial[a - b]

    k = np.arange(int(total1.max(initial=0)) + 1)[None, :]
    low = np.maximum(0, responders - total2)[:, None]
    high = np.minimum(responders, total1)[:, None]
    valid = (k >= low) & (k <= high)
    k_safe = np.clip(k, low, high)
    log_pmf = (
        log_choose(responders[:, None], k_safe)
        + log_choose((everyone - responders)[:, None], total1[:, None] - k_safe)
        - log_choose(everyone, total1)[:, None]
    )
    observed = (
        log_choose(responders, count1)
        + log_choose(everyone - responders, total1 - count1)
        - log_choose(everyone, total1)
    )
    as_extreme = valid & (log_pmf <= observed[:, None] + np.log1p(FISHER_RELATIVE_TOLERANCE))
    p = np.minimum(np.sum(np.where(as_extreme, np.exp(log_pmf), 0.0), axis=1), 1.0)
    return np.where((total1 > 0) & (total2 > 0), p, np.nan)


def chi_square_p(
    count1: np.ndarray,
    total1: np.ndarray,
    count2: np.ndarray,
    total2: np.ndarray,
    correction: bool = False,
) -> np.ndarray:
    """Two-sided Pearson chi-square P of each 2x2 table (1 df), per trial.

    chi2 = N (|ad - bc| - c)^2 / (r1 r2 c1 c2) with c = 0 or, with Yates' ``correction``,
    N / 2 (never past zero), as ``scipy.stats.chi2_contingency``. NaN when a margin is 0.
    """
    a, n1, c, n2 = (
        np.atleast_1d(np.asarray(x, dtype=float)) for x in (count1, total1, count2, total2)
    )
    b, d = n1 - a, n2 - c
    everyone = n1 + n2
    deviation = np.abs(a * d - b * c)
    if correction:
        deviation = np.maximum(deviation - everyone / 2.0, 0.0)
    margins = n1 * n2 * (a + c) * (b + d)
    with np.errstate(invalid="ignore", divide="ignore"):
        statistic = everyone * deviation**2 / margins
    return np.where(margins > 0, stats.chi2.sf(statistic, 1), np.nan)


def cmh_p(
    responder: np.ndarray,
    experimental: np.ndarray,
    site: np.ndarray,
    correction: bool = False,
) -> np.ndarray:
    """Two-sided Cochran-Mantel-Haenszel P of response by arm, stratified by site (1 df).

    Per site k: a_k experimental responders, E(a_k) = m_k r_k / N_k, Var(a_k) = m_k n_k r_k
    s_k / (N_k^2 (N_k - 1)) (m, n arm sizes, r, s responders and non-responders). Statistic
    (|sum (a_k - E a_k)| - c)^2 / sum Var(a_k), c = 1/2 with ``correction`` when the
    deviation is at least 1/2 (R's ``mantelhaen.test``), else 0 (statsmodels'
    ``test_null_odds``, SAS PROC FREQ). Sites with fewer than 2 participants add nothing.
    NaN when the variance is 0 (no site has both arms and both outcomes).
    """
    responder = _as_batch(responder)
    experimental = _as_design(experimental, responder.shape[1])
    sites = _sites(experimental, site)
    y = sites.arrange(responder)
    counted = ~np.isnan(y)
    filled = np.where(counted, y, 0.0)
    in_arm = np.broadcast_to(sites.experimental, y.shape)
    a = sites.sums(np.where(in_arm, filled, 0.0))
    m = sites.sums((counted & in_arm).astype(float))
    n = sites.sums((counted & ~in_arm).astype(float))
    r = sites.sums(filled)
    total = m + n
    s = total - r
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = np.where(total > 0, m * r / total, 0.0)
        variance = np.where(total > 1, m * n * r * s / (total**2 * (total - 1.0)), 0.0)
    deviation = np.abs(np.sum(a - expected, axis=1))
    if correction:
        deviation = np.where(deviation >= 0.5, deviation - 0.5, deviation)
    denominator = np.sum(variance, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        statistic = deviation**2 / denominator
    return np.where(denominator > 0, stats.chi2.sf(statistic, 1), np.nan)
