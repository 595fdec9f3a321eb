"""Every primary and secondary outcome analysis, run once (:func:`analyse_primary`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import pandas as pd

from tmstarget.clinical import ARM_ROLES
from tmstarget.outcomes.estimates import (
    BinaryOutcome,
    Estimate,
    MannWhitney,
    NotEstimable,
    NumberNeededToTreat,
)
from tmstarget.outcomes.mixed_models import (
    MIXED_MODEL_COLUMNS,
    MMRM_COLUMNS,
    mixed_model_contrasts,
    mmrm_contrasts,
)
from tmstarget.outcomes.params import CONTROL, EXPERIMENTAL, OutcomeParams
from tmstarget.outcomes.per_participant import participant_outcomes, with_arm
from tmstarget.outcomes.statistics import (
    ancova_difference,
    cohens_d,
    cost_per_additional_responder,
    fisher_exact_p,
    hedges_g,
    hodges_lehmann,
    mann_whitney,
    mean_difference,
    median_iqr,
    newcombe_difference,
    number_needed_to_treat,
    wilson_interval,
)


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
    long = with_arm(participants, madrs)

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
