"""Mixed models of the MADRS by visit: the random-intercept model
``madrs ~ arm * visit + (1 | participant)`` and the MMRM of the reduction from baseline
(:mod:`tmstarget.mmrm`), each as per-visit contrasts."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from scipy import stats

from tmstarget.clinical import ARM_ROLES, DEFAULT_BASELINE_VISIT
from tmstarget.mmrm import COVARIANCE_STRUCTURES, MMRMError, fit_with_fallback
from tmstarget.outcomes.estimates import NotEstimable
from tmstarget.outcomes.params import CONTROL, EXPERIMENTAL

_ARM_CI_COLUMNS = [
    f"reduction_{role}{suffix}" for role in ARM_ROLES for suffix in ("", "_low", "_high")
]
MIXED_MODEL_COLUMNS = ["visit", "n_connectivity", "n_scalp", *_ARM_CI_COLUMNS]
MIXED_MODEL_COLUMNS += ["difference", "se", "low", "high", "p_value"]
MIXED_MODEL_COLUMNS += ["madrs_difference", "madrs_low", "madrs_high", "madrs_p_value"]
MMRM_COLUMNS = ["visit", "n_connectivity", "n_scalp", *_ARM_CI_COLUMNS]
MMRM_COLUMNS += ["difference", "se", "df", "low", "high", "p_value"]


class _Wald(NamedTuple):
    """A linear contrast of the fixed effects with its Wald z CI and P."""

    estimate: float
    low: float
    high: float
    p_value: float
    se: float


def _rated_in_both_arms(counts: pd.DataFrame, visits: Sequence[str]) -> list[str]:
    """The visits (in order) with at least one rating in each arm; ``counts`` holds the
    ratings by visit (index) and arm (columns)."""
    return [
        visit
        for visit in visits
        if visit in counts.index and all(counts.loc[visit].get(role, 0) > 0 for role in ARM_ROLES)
    ]


def _contrast_row(visit: str, counts: pd.DataFrame, connectivity, scalp) -> dict[str, Any]:
    """The first columns of a contrast row: the visit, ratings per arm, each arm's
    estimated reduction with its CI (``connectivity``/``scalp`` have estimate, low, high)."""
    return {
        "visit": visit,
        "n_connectivity": int(counts.loc[visit].get(EXPERIMENTAL, 0)),
        "n_scalp": int(counts.loc[visit].get(CONTROL, 0)),
        "reduction_connectivity": connectivity.estimate,
        "reduction_connectivity_low": connectivity.low,
        "reduction_connectivity_high": connectivity.high,
        "reduction_scalp": scalp.estimate,
        "reduction_scalp_low": scalp.low,
        "reduction_scalp_high": scalp.high,
    }


def _random_intercept_design(data: pd.DataFrame, post: Sequence[str]) -> np.ndarray:
    """Treatment-coded design of ``madrs ~ arm * visit``: intercept, one column per
    post-baseline visit, the experimental arm, arm x each post-baseline visit."""
    experimental = (data["arm"] == EXPERIMENTAL).to_numpy(dtype=float)
    columns = [np.ones(len(data))]
    columns += [(data["session_id"] == visit).to_numpy(dtype=float) for visit in post]
    columns.append(experimental)
    columns += [
        experimental * (data["session_id"] == visit).to_numpy(dtype=float) for visit in post
    ]
    return np.column_stack(columns)


def _fit_random_intercept(data: pd.DataFrame, design: np.ndarray):
    """REML fit of the random-intercept model; returns the statsmodels result and the
    convergence warnings it raised."""
    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

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
    return result, convergence_warnings


def _wald_contrast(
    weights: np.ndarray, beta: np.ndarray, covariance: np.ndarray, z: float
) -> _Wald:
    estimate = float(weights @ beta)
    se = float(math.sqrt(max(float(weights @ covariance @ weights), 0.0)))
    if not se > 0:
        return _Wald(estimate, math.nan, math.nan, math.nan, se)
    p_value = float(2 * stats.norm.sf(abs(estimate / se)))
    return _Wald(estimate, estimate - z * se, estimate + z * se, p_value, se)


def _random_intercept_rows(
    post: Sequence[str],
    counts: pd.DataFrame,
    beta: np.ndarray,
    covariance: np.ndarray,
    z: float,
) -> list[dict[str, Any]]:
    """Per post-baseline visit: each arm's reduction, the difference in reduction and the
    difference in MADRS (columns of :func:`_random_intercept_design`)."""
    k = len(beta)
    n_post = len(post)
    arm_column = 1 + n_post
    rows = []
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
        difference = _wald_contrast(w_interaction, beta, covariance, z)
        level = _wald_contrast(w_level, beta, covariance, z)
        connectivity = _wald_contrast(w_connectivity, beta, covariance, z)
        scalp = _wald_contrast(w_scalp, beta, covariance, z)
        rows.append(
            {
                **_contrast_row(visit, counts, connectivity, scalp),
                "difference": difference.estimate,
                "se": difference.se,
                "low": difference.low,
                "high": difference.high,
                "p_value": difference.p_value,
                "madrs_difference": level.estimate,
                "madrs_low": level.low,
                "madrs_high": level.high,
                "madrs_p_value": level.p_value,
            }
        )
    return rows


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
    data = long[long["session_id"].isin(visits)].copy()
    counts = data.groupby(["session_id", "arm"]).size().unstack(fill_value=0)
    usable = _rated_in_both_arms(counts, visits)
    if baseline_visit not in usable:
        raise NotEstimable("mixed model: the baseline visit needs ratings in both arms")
    dropped = [visit for visit in visits if visit not in usable]
    data = data[data["session_id"].isin(usable)].sort_values(["participant_id", "session_id"])
    post = [visit for visit in usable if visit != baseline_visit]
    if not post:
        raise NotEstimable("mixed model: no post-baseline visit has ratings in both arms")
    design = _random_intercept_design(data, post)
    k = design.shape[1]
    result, convergence_warnings = _fit_random_intercept(data, design)
    beta = np.asarray(result.fe_params, dtype=float)
    covariance = np.asarray(result.cov_params(), dtype=float)[:k, :k]
    if not np.all(np.isfinite(beta)) or not np.all(np.isfinite(covariance)):
        raise NotEstimable("random-intercept mixed model: the fit gave no finite estimates")
    z = float(stats.norm.isf((1.0 - confidence) / 2.0))
    frame = pd.DataFrame(_random_intercept_rows(post, counts, beta, covariance, z))
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
    post = [v for v in _rated_in_both_arms(counts, visits) if v != baseline_visit]
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
                **_contrast_row(visit, counts, connectivity, scalp),
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
