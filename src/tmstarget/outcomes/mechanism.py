"""Mechanism: do the site measures (circuit connectivity at the stimulated site, distance
between the arms' sites) go with the clinical outcome? Spearman correlations and Table 4."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from tmstarget.clinical import ARM_ROLES
from tmstarget.outcomes.params import OutcomeParams
from tmstarget.outcomes.per_participant import participant_outcomes
from tmstarget.outcomes.statistics import spearman_with_ci
from tmstarget.outcomes.table_cells import TableCells, percent_label
from tmstarget.tables import cells_frame


def mechanism_data(
    participants: pd.DataFrame,
    madrs: pd.DataFrame,
    site_metrics: pd.DataFrame,
    measures: Mapping[str, str],
    params: OutcomeParams | None = None,
) -> pd.DataFrame:
    """One row per randomised participant: the primary-visit outcomes
    (:func:`participant_outcomes`) with the site measures (columns of ``measures``) joined;
    the data behind the mechanism correlations and their figure.

    Parameters
    ----------
    participants : pandas.DataFrame
        The validated participants (:func:`tmstarget.clinical.load_participants`; arm as
        role).
    madrs : pandas.DataFrame
        The validated MADRS ratings, long (participant_id, session_id,
        days_since_baseline in days, madrs_total 0-60).
    site_metrics : pandas.DataFrame
        participant_id and one column per measure (e.g. circuit connectivity at the
        stimulated site, r; distance from Beam F3 to the connectivity target, mm).
    measures : mapping of str to str
        Column of ``site_metrics`` -> printed label (with its unit), in order.
    params : OutcomeParams, optional
        The outcome settings (primary visit, missing-data policy, response threshold,
        confidence, correlation CI method, bootstrap size and seed); None: the defaults.

    Returns
    -------
    pandas.DataFrame
        :func:`participant_outcomes`' columns (percent_change: negative = improvement)
        and the measures' columns, NaN for a participant without site metrics.

    Raises
    ------
    ValueError
        When ``site_metrics`` lacks participant_id or a measure's column.
    """
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

    Parameters
    ----------
    participants : pandas.DataFrame
        The validated participants (:func:`tmstarget.clinical.load_participants`; arm as
        role).
    madrs : pandas.DataFrame
        The validated MADRS ratings, long (participant_id, session_id,
        days_since_baseline in days, madrs_total 0-60).
    site_metrics : pandas.DataFrame
        participant_id and one column per measure (e.g. circuit connectivity at the
        stimulated site, r; distance from Beam F3 to the connectivity target, mm).
    measures : mapping of str to str
        Column of ``site_metrics`` -> printed label (with its unit), in order.
    params : OutcomeParams, optional
        The outcome settings (primary visit, missing-data policy, response threshold,
        confidence, correlation CI method, bootstrap size and seed); None: the defaults.

    Returns
    -------
    pandas.DataFrame
        One row per measure and group (each arm, then pooled), with the columns above;
        low/high are the ``params.confidence`` CI of rho.

    Raises
    ------
    ValueError
        When ``site_metrics`` lacks participant_id or a measure's column.
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

    Parameters
    ----------
    correlations : pandas.DataFrame
        :func:`mechanism_correlations`' frame (measure, label, group, n, rho, low, high,
        p_value).
    params : OutcomeParams, optional
        The outcome settings (arm names, confidence, CI method, primary visit) for the
        headers and notes; None: the defaults.

    Returns
    -------
    pandas.DataFrame
        A cell frame (:func:`tmstarget.tables.cells_frame`) with caption and notes, for
        :func:`tmstarget.tables.write_table`.
    """
    params = params or OutcomeParams()
    names = {**{role: params.arm_name(role) for role in ARM_ROLES}, "pooled": "Pooled"}
    ci = percent_label(params.confidence)
    table = TableCells({"rho": f"Spearman ρ ({ci} CI)", "p": "P value"})
    for record in correlations.to_dict("records"):
        section, row = record["label"], f"{names[record['group']]} (n = {record['n']})"
        rho = {"value": record["rho"], "low": record["low"], "high": record["high"]}
        table.add(section, row, "rho", "estimate_ci", decimals=2, **rho)
        table.add(section, row, "p", "p", value=record["p_value"])
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
        table.cells,
        caption="Table 4. Target Site Measures and Clinical Outcome",
        notes=notes,
        row_header="Group",
    )
