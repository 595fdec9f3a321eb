"""Subject-bootstrap statistics of the split-half distances and the mixed model.

Confidence intervals are percentile bootstraps that resample subjects, never distances
(see :mod:`tmstarget.reliability`); every resampling is seeded."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from tmstarget.reliability.distances import _need_subjects, cross_half_matrix, half_targets
from tmstarget.vocabulary import CENTROIDS, CONVENTIONS

# Resamples per vectorised block (pairwise medians hold block * n^2 floats).
_BOOTSTRAP_BLOCK = 250
_BOOTSTRAP_BLOCK_VALUES = 4_000_000


def bootstrap_subjects(
    statistic: Callable[[np.ndarray], np.ndarray],
    n_subjects: int,
    n_bootstrap: int = 2000,
    seed: int = 0,
    block: int = _BOOTSTRAP_BLOCK,
) -> np.ndarray:
    """Replicates of ``statistic`` over resamples of subjects.

    ``statistic(indices)`` receives a (b, n_subjects) integer array, each row a resample of
    subject indices drawn with replacement, and returns b values (or b rows). Indices are
    drawn with ``numpy.random.default_rng(seed)`` in one (n_bootstrap, n_subjects) draw, so
    the result does not depend on ``block`` (the number of rows passed per call).
    """
    rng = np.random.default_rng(seed)
    indices = rng.integers(0, n_subjects, size=(n_bootstrap, n_subjects))
    parts = [statistic(indices[start : start + block]) for start in range(0, n_bootstrap, block)]
    return np.concatenate([np.asarray(part, dtype=float) for part in parts], axis=0)


def percentile_interval(replicates: np.ndarray, confidence: float = 0.95) -> np.ndarray:
    """Percentile interval along axis 0: array (2, ...) of lower and upper limits."""
    alpha = 100.0 * (1.0 - confidence) / 2.0
    return np.nanpercentile(replicates, [alpha, 100.0 - alpha], axis=0)


_REPLICATE_COLUMNS = (
    "within_median",
    "within_mean",
    "pairwise_cross_half_median",
    "pairwise_cross_half_mean",
    "centroid_median",
    "centroid_mean",
)


def _group_replicates(halves: np.ndarray, indices: np.ndarray, centroid: str) -> np.ndarray:
    """Medians and means of the three distance sets for each row of subject ``indices``.

    Returns (b, 6) in the order of ``_REPLICATE_COLUMNS``. A subject drawn twice is two
    subjects, but pairs of its two copies are left out; the centroid is the resample's.
    """
    within = np.linalg.norm(halves[:, 0] - halves[:, 1], axis=1)[indices]
    matrix = cross_half_matrix(halves)
    pairs = matrix[indices[:, :, None], indices[:, None, :]]
    distinct = indices[:, :, None] != indices[:, None, :]
    pairs = np.where(distinct, pairs, np.nan).reshape(len(indices), -1)
    drawn = halves[indices]  # (b, n, 2, 3)
    if centroid == "pooled":
        centre = drawn.mean(axis=(1, 2))[:, None, None, :]
    else:
        centre = drawn.mean(axis=1)[:, None, :, :]
    to_centre = np.linalg.norm(drawn - centre, axis=-1).reshape(len(indices), -1)
    with warnings.catch_warnings():
        # a resample of copies of one subject has no between pair: NaN, by design
        warnings.simplefilter("ignore", RuntimeWarning)
        columns = [
            np.median(within, axis=1),
            within.mean(axis=1),
            np.nanmedian(pairs, axis=1),
            np.nanmean(pairs, axis=1),
            np.median(to_centre, axis=1),
            to_centre.mean(axis=1),
        ]
    return np.column_stack(columns)


def summarise(
    targets: pd.DataFrame | Sequence[pd.DataFrame],
    n_bootstrap: int = 2000,
    seed: int = 20265,
    confidence: float = 0.95,
    centroid: str = "pooled",
) -> pd.DataFrame:
    """Medians and means of the within and between distances with subject-bootstrap CIs.

    Rows (``quantity``): ``within``, ``pairwise_cross_half``, ``centroid`` (unit mm) and
    ``ratio_pairwise_cross_half``, ``ratio_centroid`` (between / within, unit ratio; the
    ``median`` column holds the ratio of medians, ``mean`` the ratio of means). Columns:
    quantity, unit, n_subjects, n_distances, median, median_low, median_high, mean,
    mean_low, mean_high. CIs: percentile bootstrap of ``n_bootstrap`` resamples of
    subjects (:func:`bootstrap_subjects`, seeded); ratios from the same resamples.
    """
    subjects, halves = half_targets(targets)
    n = len(subjects)
    _need_subjects(n, 2, "the reliability summary")
    if centroid not in CENTROIDS:
        raise ValueError(f"centroid must be one of {', '.join(CENTROIDS)}, got {centroid!r}")

    def statistic(indices: np.ndarray) -> np.ndarray:
        values = _group_replicates(halves, indices, centroid)
        ratios = values[:, 2:] / values[:, [0, 1, 0, 1]]
        return np.column_stack([values, ratios])

    with np.errstate(divide="ignore", invalid="ignore"):
        point = statistic(np.arange(n)[None, :])[0]
        block = max(1, min(_BOOTSTRAP_BLOCK, _BOOTSTRAP_BLOCK_VALUES // (n * n)))
        replicates = bootstrap_subjects(statistic, n, n_bootstrap, seed, block)
    replicates[~np.isfinite(replicates)] = np.nan
    low, high = percentile_interval(replicates, confidence)
    counts = {"within": n, "pairwise_cross_half": n * (n - 1), "centroid": 2 * n}
    rows = []
    for position, quantity in enumerate(("within", "pairwise_cross_half", "centroid")):
        columns = (2 * position, 2 * position + 1)
        rows.append((quantity, "mm", counts[quantity], columns))
    for position, convention in enumerate(CONVENTIONS):
        columns = (6 + 2 * position, 7 + 2 * position)
        rows.append((f"ratio_{convention}", "ratio", counts[convention], columns))
    frame = pd.DataFrame(
        [
            {
                "quantity": quantity,
                "unit": unit,
                "n_subjects": n,
                "n_distances": n_distances,
                "median": point[median_at],
                "median_low": low[median_at],
                "median_high": high[median_at],
                "mean": point[mean_at],
                "mean_low": low[mean_at],
                "mean_high": high[mean_at],
            }
            for quantity, unit, n_distances, (median_at, mean_at) in rows
        ]
    )
    frame.attrs.update(
        {"n_bootstrap": n_bootstrap, "seed": seed, "confidence": confidence, "centroid": centroid}
    )
    return frame


def mixed_model(
    distances: pd.DataFrame,
    convention: str = "centroid",
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Linear mixed model ``distance ~ type + (1 | subject)``, between vs within.

    ``distances`` is :func:`distance_table` (within rows plus the between rows of
    ``convention``). Fitted by REML with statsmodels MixedLM; treatment coding with
    ``within`` as reference, so ``difference`` = between - within (mm) with a Wald CI and
    P. One row: convention, n_subjects, n_within, n_between, within_mean (intercept, mm),
    difference, low, high, p_value, subject_variance (random-intercept variance, mm^2),
    residual_variance, converged. The pairwise convention's rows share subjects beyond
    the one the model knows, so its CI is too narrow: prefer the bootstrap there.
    """
    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {', '.join(CONVENTIONS)}, got {convention!r}")
    data = distances[distances["convention"].isin(["within", convention])]
    data = data.sort_values(["subject", "type"], kind="stable")
    between = (data["type"] == "between").to_numpy(dtype=float)
    if between.sum() == 0 or between.sum() == len(data):
        raise ValueError(f"mixed model: needs both within and {convention} distances")
    design = np.column_stack([np.ones(len(data)), between])
    model = sm.MixedLM(
        data["distance_mm"].to_numpy(dtype=float),
        design,
        groups=data["subject"].astype(str).to_numpy(),
        exog_re=np.ones((len(data), 1)),
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = model.fit(reml=True)
    converged = bool(getattr(result, "converged", True)) and not any(
        issubclass(w.category, ConvergenceWarning) for w in caught
    )
    beta = np.asarray(result.fe_params, dtype=float)
    covariance = np.asarray(result.cov_params(), dtype=float)[:2, :2]
    se = math.sqrt(covariance[1, 1])
    z = float(stats.norm.isf((1.0 - confidence) / 2.0))
    p_value = float(2 * stats.norm.sf(abs(beta[1] / se))) if se > 0 else math.nan
    return pd.DataFrame(
        [
            {
                "convention": convention,
                "n_subjects": int(data["subject"].nunique()),
                "n_within": int((between == 0).sum()),
                "n_between": int(between.sum()),
                "within_mean": float(beta[0]),
                "difference": float(beta[1]),
                "low": float(beta[1] - z * se),
                "high": float(beta[1] + z * se),
                "p_value": p_value,
                "subject_variance": float(np.asarray(result.cov_re)[0, 0]),
                "residual_variance": float(result.scale),
                "converged": converged,
            }
        ]
    )
