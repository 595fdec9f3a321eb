"""The whole outcome stage: every table and figure source of the trial, computed once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from tmstarget.outcomes.baseline_table import table1_baseline
from tmstarget.outcomes.blinding_safety import table3_blinding_safety
from tmstarget.outcomes.figure_data import binary_summary, consort_counts, forest_effects
from tmstarget.outcomes.outcome_table import table2_from_results
from tmstarget.outcomes.params import OutcomeParams
from tmstarget.outcomes.per_participant import visit_summary
from tmstarget.outcomes.primary import analyse_primary


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

    Parameters
    ----------
    participants : pandas.DataFrame
        The validated participants (:func:`tmstarget.clinical.load_participants`; arm as
        role, age in years, head measurements in cm).
    madrs : pandas.DataFrame
        The validated MADRS ratings, long (participant_id, session_id,
        days_since_baseline in days, madrs_total 0-60).
    blinding : pandas.DataFrame or None
        The blinding guesses (roles, ``dont_know`` or NaN); None when not recorded.
    adverse_events : pandas.DataFrame or None
        One row per adverse event; None when not recorded (not the same as no events).
    params : OutcomeParams, optional
        The outcome settings; None: the defaults.
    dictionary : mapping, optional
        participants.json (the ``Levels`` of ``race``/``ethnicity``); None: none.

    Returns
    -------
    dict of str to pandas.DataFrame
        The tables and source frames under the keys above.
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
