"""Mixed model for repeated measures (MMRM): REML generalised least squares with a
structured within-participant covariance, Satterthwaite degrees of freedom.

The model is ``y_i = X_i beta + e_i`` with ``e_i ~ N(0, Sigma[o_i, o_i])``: ``o_i`` are the
visits participant ``i`` was rated at (missing visits are simply absent; valid when data are
missing at random) and ``Sigma`` (visits x visits) is one of :data:`COVARIANCE_STRUCTURES`:

- ``unstructured``: every variance and covariance free (T (T + 1) / 2 parameters), fitted
  through a log-Cholesky factor, so every iterate is positive definite;
- ``toeplitz``: homogeneous Toeplitz (SAS ``TYPE=TOEP``): one variance and one correlation
  per lag (T parameters), through partial autocorrelations in (-1, 1) (Durbin-Levinson), so
  every iterate is positive definite;
- ``compound_symmetry``: one variance and one common correlation in (-1/(T-1), 1).

Fitting minimises -2 times the REML log-likelihood, SAS PROC MIXED's "-2 Res Log Like"
(including its (N - p) log(2 pi) term)::

    -2 l_R = sum_i log|V_i| + log|sum_i X_i' V_i^-1 X_i| + sum_i r_i' V_i^-1 r_i + (N - p) log 2 pi

with BFGS on the analytic gradient ``d(-2 l_R) = tr(M dSigma)``, ``M = sum_i E_i (V_i^-1 -
V_i^-1 r_i r_i' V_i^-1 - V_i^-1 X_i C X_i' V_i^-1) E_i'``, then Newton steps on the numerical
Hessian. A fit counts as converged when the gradient vanishes (max |g| < 1e-5), the Hessian
is positive definite and Sigma is well conditioned; otherwise :func:`fit_mmrm` reports why.

Inference on a linear combination ``l' beta``: model-based SE ``sqrt(l' C l)`` with
``C = (sum_i X_i' V_i^-1 X_i)^-1`` and Satterthwaite's degrees of freedom
``2 (l' C l)^2 / (g' A g)``, ``g = d(l' C l)/d theta``, ``A = 2 H^-1`` the asymptotic
covariance of the covariance parameters (``H`` the Hessian of -2 l_R), as SAS
``DDFM=SATTERTHWAITE`` and the R package mmrm. Validated against SAS PROC MIXED on the
mmrm package's ``fev_data`` (tests/test_mmrm.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize, stats

from tmstarget.vocabulary import COVARIANCE_STRUCTURES

COVARIANCE_LABELS = {
    "unstructured": "unstructured",
    "toeplitz": "Toeplitz",
    "compound_symmetry": "compound symmetry",
}
_LOG_2PI = math.log(2.0 * math.pi)
_GRADIENT_TOLERANCE = 1e-5
_MAX_CONDITION = 1e10


class MMRMError(ValueError):
    """The model cannot be set up for these data (the message says why)."""


# --------------------------------------------------------------------------------------
# Covariance structures: unconstrained parameters theta -> Sigma (positive definite)
# --------------------------------------------------------------------------------------


def n_parameters(structure: str, n_visits: int) -> int:
    """Number of covariance parameters of ``structure`` for ``n_visits`` visits."""
    if structure == "unstructured":
        return n_visits * (n_visits + 1) // 2
    if structure == "toeplitz":
        return n_visits
    if structure == "compound_symmetry":
        return 1 if n_visits == 1 else 2
    raise ValueError(f"unknown covariance structure {structure!r}; use {COVARIANCE_STRUCTURES}")


def partial_to_autocorrelation(partial: Sequence[float]) -> np.ndarray:
    """Autocorrelations rho_1..rho_m of the stationary process with partial
    autocorrelations ``partial`` (each in (-1, 1)), by the Durbin-Levinson recursion."""
    partial = np.asarray(partial, dtype=float)
    m = len(partial)
    rho = np.ones(m + 1)
    previous = np.zeros(0)
    for k in range(1, m + 1):
        coefficients = np.empty(k)
        coefficients[k - 1] = partial[k - 1]
        coefficients[: k - 1] = previous - partial[k - 1] * previous[::-1]
        rho[k] = float(coefficients @ rho[k - 1 :: -1][:k])
        previous = coefficients
    return rho[1:]


def covariance_matrix(structure: str, theta: np.ndarray, n_visits: int) -> np.ndarray:
    """Sigma (n_visits x n_visits) of ``structure`` at the unconstrained parameters ``theta``."""
    theta = np.asarray(theta, dtype=float)
    if structure == "unstructured":
        factor = np.zeros((n_visits, n_visits))
        factor[np.tril_indices(n_visits)] = theta
        diagonal = np.diag_indices(n_visits)
        factor[diagonal] = np.exp(factor[diagonal])
        return factor @ factor.T
    variance = math.exp(theta[0])
    if n_visits == 1:
        return np.array([[variance]])
    if structure == "toeplitz":
        rho = np.concatenate([[1.0], partial_to_autocorrelation(np.tanh(theta[1:]))])
        lags = np.abs(np.subtract.outer(np.arange(n_visits), np.arange(n_visits)))
        return variance * rho[lags]
    if structure == "compound_symmetry":
        lowest = -1.0 / (n_visits - 1)
        rho = lowest + (1.0 - lowest) / (1.0 + math.exp(-theta[1]))
        return variance * ((1.0 - rho) * np.eye(n_visits) + rho)
    raise ValueError(f"unknown covariance structure {structure!r}")


def _starting_values(structure: str, variances: np.ndarray) -> np.ndarray:
    n_visits = len(variances)
    if structure == "unstructured":
        factor = np.diag(np.sqrt(variances))
        theta = factor[np.tril_indices(n_visits)].copy()
        diagonal_positions = [k * (k + 3) // 2 for k in range(n_visits)]
        theta[diagonal_positions] = np.log(np.sqrt(variances))
        return theta
    theta = np.zeros(n_parameters(structure, n_visits))
    theta[0] = math.log(float(np.mean(variances)))
    if structure == "compound_symmetry" and n_visits > 1:
        lowest = -1.0 / (n_visits - 1)
        theta[1] = -math.log((1.0 - lowest) / (0.0 - lowest) - 1.0)  # rho = 0
    return theta


def _unstructured_gradient(m_matrix: np.ndarray, theta: np.ndarray, n_visits: int) -> np.ndarray:
    factor = np.zeros((n_visits, n_visits))
    factor[np.tril_indices(n_visits)] = theta
    diagonal = np.diag_indices(n_visits)
    factor[diagonal] = np.exp(factor[diagonal])
    by_factor = 2.0 * m_matrix @ factor  # d tr(M L L') / dL
    by_factor[diagonal] *= factor[diagonal]  # chain rule through exp
    return by_factor[np.tril_indices(n_visits)]


# --------------------------------------------------------------------------------------
# The REML criterion
# --------------------------------------------------------------------------------------


@dataclass
class _Pattern:
    visits: np.ndarray  # observed visit indices, in order
    y: np.ndarray  # (n_subjects, k)
    x: np.ndarray  # (n_subjects, k, p)


def _patterns(
    y: np.ndarray, design: np.ndarray, subjects: np.ndarray, visits: np.ndarray
) -> list[_Pattern]:
    rows_of: dict[object, list[int]] = {}
    for row, subject in enumerate(subjects):
        rows_of.setdefault(subject, []).append(row)
    grouped: dict[tuple[int, ...], list[list[int]]] = {}
    for rows in rows_of.values():
        rows = sorted(rows, key=lambda r: visits[r])
        key = tuple(int(visits[r]) for r in rows)
        if len(set(key)) != len(key):
            raise MMRMError("a participant has two ratings at the same visit")
        grouped.setdefault(key, []).append(rows)
    patterns = []
    for key, members in sorted(grouped.items()):
        index = np.array(members)
        patterns.append(_Pattern(np.array(key), y[index], design[index]))
    return patterns


@dataclass
class _Evaluation:
    value: float
    m_matrix: np.ndarray
    beta: np.ndarray
    beta_covariance: np.ndarray


class _Criterion:
    """-2 REML log-likelihood and its gradient with respect to Sigma."""

    def __init__(self, patterns: list[_Pattern], n_visits: int, n_observations: int, p: int):
        self.patterns = patterns
        self.n_visits = n_visits
        self.n_observations = n_observations
        self.p = p

    def evaluate(self, sigma: np.ndarray, gradient: bool = True) -> _Evaluation | None:
        p = self.p
        information = np.zeros((p, p))
        score = np.zeros(p)
        log_det = 0.0
        inverses = []
        for pattern in self.patterns:
            block = sigma[np.ix_(pattern.visits, pattern.visits)]
            try:
                cholesky = np.linalg.cholesky(block)
            except np.linalg.LinAlgError:
                return None
            inverse = np.linalg.inv(block)
            inverses.append(inverse)
            log_det += len(pattern.y) * 2.0 * float(np.sum(np.log(np.diag(cholesky))))
            weighted_x = np.einsum("kl,ilp->ikp", inverse, pattern.x)
            information += np.einsum("ikp,ikq->pq", pattern.x, weighted_x)
            score += np.einsum("ikp,ik->p", weighted_x, pattern.y)
        try:
            info_cholesky = np.linalg.cholesky(information)
        except np.linalg.LinAlgError:
            return None
        beta_covariance = np.linalg.inv(information)
        beta = beta_covariance @ score
        quadratic = 0.0
        m_matrix = np.zeros((self.n_visits, self.n_visits))
        for pattern, inverse in zip(self.patterns, inverses, strict=True):
            residuals = pattern.y - pattern.x @ beta
            weighted = residuals @ inverse
            quadratic += float(np.sum(weighted * residuals))
            if gradient:
                weighted_x = np.einsum("kl,ilp->ikp", inverse, pattern.x)
                part = len(pattern.y) * inverse - weighted.T @ weighted
                part -= np.einsum("ikp,pq,ilq->kl", weighted_x, beta_covariance, weighted_x)
                m_matrix[np.ix_(pattern.visits, pattern.visits)] += part
        value = (
            log_det
            + 2.0 * float(np.sum(np.log(np.diag(info_cholesky))))
            + quadratic
            + (self.n_observations - p) * _LOG_2PI
        )
        return _Evaluation(value, m_matrix, beta, beta_covariance)


# --------------------------------------------------------------------------------------
# Fit
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Contrast:
    """``l' beta`` with its model-based SE, Satterthwaite df, t-based CI and two-sided P."""

    estimate: float
    se: float
    df: float
    low: float
    high: float
    p_value: float


@dataclass
class MMRMFit:
    """A fitted MMRM (see the module docstring). ``converged`` is False when the criteria
    were not met; ``message`` then says which."""

    structure: str
    beta: np.ndarray
    beta_covariance: np.ndarray
    covariance: np.ndarray
    theta: np.ndarray
    minus_two_reml: float
    converged: bool
    message: str
    n_subjects: int
    n_observations: int
    _theta_covariance: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((0, 0)))
    _beta_covariance_derivatives: np.ndarray = field(
        repr=False, default_factory=lambda: np.zeros((0, 0, 0))
    )

    def contrast(self, weights: Sequence[float], confidence: float = 0.95) -> Contrast:
        """Estimate, SE, Satterthwaite df, CI and P of ``weights @ beta``."""
        weights = np.asarray(weights, dtype=float)
        estimate = float(weights @ self.beta)
        variance = float(weights @ self.beta_covariance @ weights)
        se = math.sqrt(variance) if variance > 0 else 0.0
        gradient = np.einsum("p,kpq,q->k", weights, self._beta_covariance_derivatives, weights)
        spread = float(gradient @ self._theta_covariance @ gradient)
        df = 2.0 * variance * variance / spread if spread > 0 else math.inf
        if not se > 0:
            return Contrast(estimate, se, df, math.nan, math.nan, math.nan)
        critical = float(stats.t.isf((1.0 - confidence) / 2.0, df))
        t_value = estimate / se
        p_value = float(2.0 * stats.t.sf(abs(t_value), df))
        low, high = estimate - critical * se, estimate + critical * se
        return Contrast(estimate, se, df, low, high, p_value)


def _numerical_jacobian(function, theta: np.ndarray, step: float = 1e-6) -> np.ndarray:
    """Central-difference derivatives of a matrix-valued ``function`` (one per theta_k)."""
    derivatives = []
    for k in range(len(theta)):
        h = step * max(1.0, abs(theta[k]))
        up, down = theta.copy(), theta.copy()
        up[k] += h
        down[k] -= h
        derivatives.append((function(up) - function(down)) / (2.0 * h))
    return np.array(derivatives)


def fit_mmrm(
    y: Sequence[float],
    design: np.ndarray,
    subjects: Sequence[object],
    visits: Sequence[int],
    n_visits: int,
    structure: str = "unstructured",
    max_iterations: int = 2000,
) -> MMRMFit:
    """Fit an MMRM by REML (see the module docstring).

    ``y`` (N), ``design`` (N x p, full column rank), ``subjects`` (N labels) and
    ``visits`` (N visit indices in 0..n_visits-1, at most one rating per subject and
    visit) describe the observed ratings. Raises :class:`MMRMError` when the design is
    rank deficient; a fit that does not converge is returned with ``converged=False``.
    """
    y = np.asarray(y, dtype=float)
    design = np.asarray(design, dtype=float)
    visits = np.asarray(visits, dtype=int)
    subjects = np.asarray(subjects, dtype=object)
    if not (len(y) == len(design) == len(subjects) == len(visits)):
        raise MMRMError("y, design, subjects and visits must have one entry per rating")
    if not np.all(np.isfinite(y)) or not np.all(np.isfinite(design)):
        raise MMRMError("ratings and design must be finite (drop missing ratings first)")
    if visits.min(initial=0) < 0 or visits.max(initial=0) >= n_visits:
        raise MMRMError(f"visit indices must lie in 0..{n_visits - 1}")
    p = design.shape[1]
    if np.linalg.matrix_rank(design) < p:
        raise MMRMError("the fixed-effects design is rank deficient")
    if len(y) <= p:
        raise MMRMError(f"{len(y)} ratings cannot estimate {p} fixed effects and a covariance")
    observed_visits = np.unique(visits)
    if len(observed_visits) != n_visits:
        raise MMRMError("every visit needs at least one rating")
    patterns = _patterns(y, design, subjects, visits)
    criterion = _Criterion(patterns, n_visits, len(y), p)

    ols_beta = np.linalg.lstsq(design, y, rcond=None)[0]
    residuals = y - design @ ols_beta
    variances = np.array(
        [max(float(np.mean(residuals[visits == v] ** 2)), 1e-8) for v in range(n_visits)]
    )
    scale = float(np.mean(variances))

    def sigma_of(theta: np.ndarray) -> np.ndarray:
        return covariance_matrix(structure, theta, n_visits)

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        sigma = sigma_of(theta)
        evaluation = criterion.evaluate(sigma * scale)
        if evaluation is None or not math.isfinite(evaluation.value):
            return math.inf, np.zeros_like(theta)
        m_matrix = evaluation.m_matrix * scale
        if structure == "unstructured":
            gradient = _unstructured_gradient(m_matrix, theta, n_visits)
        else:
            derivatives = _numerical_jacobian(sigma_of, theta, 1e-7)
            gradient = np.einsum("kab,ab->k", derivatives, m_matrix)
        return evaluation.value, gradient

    # Work on Sigma / scale so that the parameters are of order 1.
    theta = _starting_values(structure, variances / scale)
    result = optimize.minimize(
        objective,
        theta,
        jac=True,
        method="BFGS",
        options={"maxiter": max_iterations, "gtol": 1e-7},
    )
    theta = np.asarray(result.x, dtype=float)

    def gradient_only(values: np.ndarray) -> np.ndarray:
        return objective(values)[1]

    hessian = np.zeros((len(theta), len(theta)))
    for _ in range(20):  # Newton polish on the numerical Hessian
        value, gradient = objective(theta)
        hessian = _numerical_jacobian(gradient_only, theta, 1e-5)
        hessian = (hessian + hessian.T) / 2.0
        if not math.isfinite(value) or np.max(np.abs(gradient)) < 1e-9:
            break
        try:
            step = np.linalg.solve(hessian, gradient)
        except np.linalg.LinAlgError:
            break
        shrink = 1.0
        while shrink > 1e-4:
            candidate = theta - shrink * step
            if objective(candidate)[0] <= value + 1e-12:
                theta = candidate
                break
            shrink /= 2.0
        else:
            break
    value, gradient = objective(theta)
    sigma = sigma_of(theta) * scale
    evaluation = criterion.evaluate(sigma, gradient=False)
    problems = []
    if evaluation is None or not math.isfinite(value):
        problems.append("REML criterion not finite")
    largest = float(np.max(np.abs(gradient), initial=0.0))
    if largest > _GRADIENT_TOLERANCE:
        problems.append(f"REML gradient not zero (max {largest:.1e})")
    eigenvalues = np.linalg.eigvalsh(hessian) if hessian.size else np.ones(1)
    if not np.all(np.isfinite(eigenvalues)) or eigenvalues.min() <= 1e-8 * max(
        1.0, float(eigenvalues.max())
    ):
        problems.append("REML Hessian not positive definite")
    if np.linalg.cond(sigma) > _MAX_CONDITION:
        problems.append("covariance matrix near singular")
    if evaluation is None:
        nan = np.full(p, math.nan)
        return MMRMFit(
            structure,
            nan,
            np.full((p, p), math.nan),
            sigma,
            theta,
            math.nan,
            False,
            "; ".join(problems),
            len({*subjects}),
            len(y),
        )
    converged = not problems

    # Satterthwaite ingredients, on the theta scale used by the optimiser (the df are
    # invariant to the parameterisation at the optimum).
    def beta_covariance_of(values: np.ndarray) -> np.ndarray:
        evaluated = criterion.evaluate(sigma_of(values) * scale, gradient=False)
        if evaluated is None:
            return np.full((p, p), math.nan)
        return evaluated.beta_covariance

    derivatives = _numerical_jacobian(beta_covariance_of, theta, 1e-5)
    try:
        theta_covariance = 2.0 * np.linalg.inv(hessian)
    except np.linalg.LinAlgError:
        theta_covariance = np.full_like(hessian, math.nan)
    return MMRMFit(
        structure=structure,
        beta=evaluation.beta,
        beta_covariance=evaluation.beta_covariance,
        covariance=sigma,
        theta=theta,
        minus_two_reml=evaluation.value,
        converged=converged,
        message="; ".join(problems) if problems else "converged",
        n_subjects=len({*subjects}),
        n_observations=len(y),
        _theta_covariance=theta_covariance,
        _beta_covariance_derivatives=derivatives,
    )


def fit_with_fallback(
    y: Sequence[float],
    design: np.ndarray,
    subjects: Sequence[object],
    visits: Sequence[int],
    n_visits: int,
    structures: Sequence[str] = COVARIANCE_STRUCTURES,
) -> tuple[MMRMFit, list[tuple[str, str]]]:
    """Fit the prespecified structures in order and keep the first that converges.

    Returns ``(fit, attempts)``; ``attempts`` lists ``(structure, message)`` for every
    structure tried. Raises :class:`MMRMError` when none converges (the message lists why).
    """
    if not structures:
        raise MMRMError("no covariance structure given")
    attempts = []
    for structure in structures:
        if structure not in COVARIANCE_STRUCTURES:
            raise ValueError(f"unknown covariance structure {structure!r}")
        fit = fit_mmrm(y, design, subjects, visits, n_visits, structure)
        attempts.append((structure, fit.message))
        if fit.converged:
            return fit, attempts
    listing = "; ".join(f"{COVARIANCE_LABELS[s]}: {message}" for s, message in attempts)
    raise MMRMError(f"no covariance structure converged ({listing})")
