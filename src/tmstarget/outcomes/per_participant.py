"""Per-participant outcomes at the primary visit (the missing-data policy applied) and
the observed MADRS by visit and arm."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from tmstarget.clinical import ARM_ROLES
from tmstarget.outcomes.params import OutcomeParams


def with_arm(participants: pd.DataFrame, madrs: pd.DataFrame) -> pd.DataFrame:
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
    rated = with_arm(participants, madrs)
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
    rated = with_arm(participants, madrs)
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
