"""The source data of the outcome figures: response and remission rates, forest-plot
effects, CONSORT participant flow."""

from __future__ import annotations

import pandas as pd

from tmstarget.clinical import ARM_ROLES
from tmstarget.outcomes.estimates import Estimate
from tmstarget.outcomes.params import CONTROL, EXPERIMENTAL, OutcomeParams
from tmstarget.outcomes.per_participant import participant_outcomes, with_arm
from tmstarget.outcomes.primary import PrimaryResults


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
    rated = with_arm(participants, madrs)
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
