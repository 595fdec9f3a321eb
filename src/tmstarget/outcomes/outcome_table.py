"""Table 2: primary and secondary outcomes, from :func:`analyse_primary` results."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from tmstarget.clinical import ARM_ROLES
from tmstarget.mmrm import COVARIANCE_LABELS
from tmstarget.outcomes.estimates import BinaryOutcome, Estimate, MannWhitney
from tmstarget.outcomes.params import CONTROL, EXPERIMENTAL, PRIMARY_ANALYSIS_LABELS, OutcomeParams
from tmstarget.outcomes.primary import PrimaryResults, analyse_primary
from tmstarget.outcomes.table_cells import (
    Footnotes,
    TableCells,
    arm_header,
    format_number_plain,
    percent_label,
)
from tmstarget.tables import cells_frame, whole_or_one_decimal


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


def _as_iqr(triple: tuple[float, float, float]) -> dict[str, float]:
    """A (median, q1, q3) triple as the numbers of a ``median_iqr`` cell."""
    return {"value": triple[0], "low": triple[1], "high": triple[2]}


def _as_ci(estimate: Estimate, scale: float = 1.0) -> dict[str, float]:
    """An estimate and its CI (times ``scale``) as the numbers of an ``estimate_ci`` cell."""
    return {
        "value": scale * estimate.estimate,
        "low": scale * estimate.low,
        "high": scale * estimate.high,
    }


def _primary_row(params: OutcomeParams, label: str, analysis: str) -> str:
    """The row label, marked as the primary analysis when ``analysis`` is the prespecified
    one."""
    return f"{label}, primary analysis" if params.primary_analysis == analysis else label


def _table2_headers(results: PrimaryResults) -> dict[str, str]:
    """Printed headers of Table 2's columns: the arms, the difference, the number needed
    to scan or cost, the P value."""
    params = results.params
    ci = percent_label(params.confidence)
    headers = {role: arm_header(params, role, results.n_randomised[role]) for role in ARM_ROLES}
    headers["effect"] = (
        f"Difference, {params.arm_name(EXPERIMENTAL)} \u2212 {params.arm_name(CONTROL)} ({ci} CI)"
    )
    headers["derived"] = f"Number needed to scan or cost ({ci} CI)"
    headers["p"] = "P value"
    return headers


def _add_score_rows(table: TableCells, results: PrimaryResults) -> None:
    """MADRS at baseline and at the primary visit, median (IQR) by arm."""
    section = "MADRS total score, median (IQR), points"
    primary_label = results.params.visit_label(results.params.primary_visit)
    for row, by_arm in (("Baseline", results.baseline), (primary_label, results.primary)):
        table.add_row(section, row, "median_iqr", {r: _as_iqr(by_arm[r]) for r in ARM_ROLES})


def _mann_whitney_note(params: OutcomeParams, mw: MannWhitney) -> str:
    """The methods footnote of the Hodges-Lehmann / Mann-Whitney row (with U and r)."""
    ci = percent_label(params.confidence)
    exact = "exact" if params.hodges_lehmann_ci == "exact" else "normal-approximation"
    text = (
        f"Hodges-Lehmann shift (median of all between-arm differences) with the Moses {ci} CI "
        f"({exact} critical value); P from the two-sided Mann-Whitney U test "
        f"({params.mann_whitney_method}"
        + (", tie- and continuity-corrected" if params.mann_whitney_method == "asymptotic" else "")
        + ")"
    )
    if math.isfinite(mw.u):
        text += (
            f": U = {format_number_plain(mw.u, whole_or_one_decimal(mw.u))}, rank-biserial r = "
            f"{format_number_plain(mw.rank_biserial, 2)} (2U/(n1 n2) - 1)"
        )
    return text + "."


def _add_effect_and_p(
    table: TableCells, section: str, row: str, estimate: Estimate, p_value: float
) -> None:
    table.add(section, row, "effect", "estimate_ci", **_as_ci(estimate))
    table.add(section, row, "p", "p", value=p_value)


def _add_reduction_rows(table: TableCells, notes: Footnotes, results: PrimaryResults) -> None:
    """The reduction to the primary visit: median (IQR) with the Hodges-Lehmann shift and
    the Mann-Whitney P, mean (SD) with the t test, ANCOVA, percent of baseline."""
    params, reasons = results.params, results.not_estimable
    section = f"MADRS reduction, baseline to {params.visit_label(params.primary_visit).lower()}, "
    section += "points"

    row = _primary_row(params, "Median (IQR)", "mann_whitney")
    table.add_row(section, row, "median_iqr", {r: _as_iqr(results.reduction[r]) for r in ARM_ROLES})
    mw = results.mann_whitney
    _add_effect_and_p(table, section, row, results.hodges_lehmann, mw.p_value)
    notes.mark(section, row, None, "mann_whitney", _mann_whitney_note(params, mw))
    notes.mark_not_estimable(section, row, "effect", "hodges_lehmann", reasons)
    notes.mark_not_estimable(section, row, "p", "mann_whitney", reasons)

    row = _primary_row(params, "Mean (SD)", "t_test")
    mean_sd = {
        r: {"value": results.reduction_mean_sd[r][0], "sd": results.reduction_mean_sd[r][1]}
        for r in ARM_ROLES
    }
    table.add_row(section, row, "mean_sd", mean_sd)
    md = results.mean_difference
    _add_effect_and_p(table, section, row, md, md.p_value)
    notes.mark(section, row, None, "t_test", "Difference in means; Student t CI and P.")
    notes.mark_not_estimable(section, row, "effect", "mean_difference", reasons)

    row = _primary_row(params, "Adjusted for baseline MADRS (ANCOVA)", "ancova")
    _add_effect_and_p(table, section, row, results.ancova, results.ancova.p_value)
    ancova_note = (
        "Analysis of covariance: least squares, reduction ~ arm + baseline MADRS; t CI and P."
    )
    notes.mark(section, row, None, "ancova", ancova_note)
    notes.mark_not_estimable(section, row, "effect", "ancova", reasons)
    percent = {r: _as_iqr(results.percent_reduction[r]) for r in ARM_ROLES}
    table.add_row(section, "% of baseline, median (IQR)", "median_iqr", percent, decimals=0)


def _add_standardised_rows(table: TableCells, notes: Footnotes, results: PrimaryResults) -> None:
    """Cohen's d and Hedges' g of the reduction."""
    params = results.params
    section = "Standardized difference in the reduction, SD units"
    d_method = "noncentral t" if params.effect_size_ci == "noncentral_t" else "Hedges-Olkin normal"
    note = (
        f"Cohen d: difference in means / pooled SD, {d_method} CI; Hedges g: d times the "
        "exact small-sample factor J(n1 + n2 - 2). No test of their own (the t test of the "
        "mean row applies)."
    )
    for label, key, estimate in (
        ("Cohen d", "cohens_d", results.cohens_d),
        ("Hedges g", "hedges_g", results.hedges_g),
    ):
        table.add(section, label, "effect", "estimate_ci", decimals=2, **_as_ci(estimate))
        notes.mark(section, label, None, "effect_size", note)
        notes.mark_not_estimable(section, label, "effect", key, results.not_estimable)


_RISK_DIFFERENCE_NOTE = (
    "Risk difference in percentage points with the Newcombe hybrid score {ci} CI; "
    "P from Fisher's exact test."
)
_NNT_NOTE = (
    "Number needed to scan = 1/risk difference, rounded up to a whole number: NNTB, "
    "scans needed for 1 additional participant to benefit (NNTH: to be harmed); "
    "Altman's CI from the inverted risk-difference limits, through infinity when "
    "that CI includes 0."
)


def _cost_note(params: OutcomeParams) -> str:
    return (
        f"Scan cost/risk difference (the unrounded number needed x {params.scan_cost:,.0f} "
        f"{params.currency}): the cost of one targeting scan with its analysis is a user-set "
        "assumption (configuration outcomes.scan_cost), not trial data. Upper limit ∞ when "
        "the risk-difference CI includes 0; NA when the point estimate shows no benefit."
    )


def _binary_sections(results: PrimaryResults) -> list[tuple[BinaryOutcome, str]]:
    """Response and remission with the titles of their sections."""
    params = results.params
    primary_lower = params.visit_label(params.primary_visit).lower()
    threshold = f"{100 * params.response_min_reduction:g}%"
    remission = f"MADRS ≤{params.remission_max_score:g}"
    return [
        (results.response, f"Response (reduction ≥{threshold}) at {primary_lower}"),
        (results.remission, f"Remission ({remission}) at {primary_lower}"),
    ]


def _add_binary_rows(
    table: TableCells,
    notes: Footnotes,
    results: PrimaryResults,
    outcome: BinaryOutcome,
    title: str,
) -> None:
    """One binary outcome: counts by arm with the risk difference and Fisher's P, the
    number needed to scan, the cost per additional responder or remitter."""
    params = results.params
    noun = "Responders" if outcome.name == "response" else "Remitters"
    row = f"{noun}, No./total No. (%)"
    counts = {
        EXPERIMENTAL: {"count": outcome.count_experimental, "total": outcome.total_experimental},
        CONTROL: {"count": outcome.count_control, "total": outcome.total_control},
    }
    table.add_row(title, row, "n_total_pct", counts, decimals=0)
    rd = outcome.risk_difference
    table.add(title, row, "effect", "estimate_ci", **_as_ci(rd, 100))
    table.add(title, row, "p", "p", value=rd.p_value)
    ci = percent_label(params.confidence)
    notes.mark(title, row, None, "risk_difference", _RISK_DIFFERENCE_NOTE.format(ci=ci))
    notes.mark_not_estimable(title, row, "effect", outcome.name, results.not_estimable)

    nnt = outcome.number_needed
    nnt_row = "Number needed to scan, NNTB or NNTH"
    table.add(title, nnt_row, "derived", "nnt", value=nnt.estimate, low=nnt.low, high=nnt.high)
    notes.mark(title, nnt_row, None, "nnt", _NNT_NOTE)

    extra = "responder" if outcome.name == "response" else "remitter"
    cost_row = f"Cost per additional {extra} at an assumed scan cost, {params.currency}"
    table.add(title, cost_row, "derived", "cost", decimals=0, **_as_ci(outcome.cost_per_additional))
    notes.mark(title, cost_row, None, "cost", _cost_note(params))


def _mmrm_method(frame: pd.DataFrame, params: OutcomeParams) -> str:
    baseline_term = "baseline MADRS x visit" if params.mmrm_baseline_by_visit else "baseline MADRS"
    covariance = (
        _covariance_sentence(frame, params.mmrm_covariances) if len(frame) else "covariance"
    )
    return (
        "Mixed model for repeated measures: reduction from baseline at each "
        f"post-baseline visit ~ visit + arm x visit + {baseline_term} (visit "
        f"categorical, baseline centred at its mean), {covariance}, "
        "REML; least-squares means at the mean baseline; t CIs and P with "
        "Satterthwaite df; all available ratings"
    )


_RANDOM_INTERCEPT_METHOD = (
    "Random-intercept linear mixed model: MADRS ~ arm x visit + (1 | participant) "
    "over all visits including baseline (visit categorical), REML; estimated "
    "reduction = minus the visit effect; Wald z CIs and P; all available ratings"
)


def _mixed_model_note(key: str, frame: pd.DataFrame, params: OutcomeParams) -> str:
    """The methods footnote of a mixed model's section: the model, who was analysed, the
    visits left out, a convergence warning."""
    text = _mmrm_method(frame, params) if key == "mmrm" else _RANDOM_INTERCEPT_METHOD
    if not len(frame):
        return text + "."
    text += f" of {frame.attrs.get('n_participants', 'all')} participants"
    if frame.attrs.get("dropped_visits"):
        dropped = ", ".join(params.visit_label(v) for v in frame.attrs["dropped_visits"])
        text += f"; visits without ratings in both arms left out: {dropped}"
    text += "."
    if key == "random_intercept" and not frame.attrs.get("converged", True):
        text += " The fit did not converge cleanly; interpret these rows with care."
    return text


def _mixed_model_sections(results: PrimaryResults) -> list[tuple[str, pd.DataFrame, str]]:
    """(key, contrasts, title) of the MMRM and the random-intercept model."""
    ci = percent_label(results.params.confidence)
    return [
        (
            "mmrm",
            results.mmrm,
            f"MMRM: least-squares mean reduction from baseline ({ci} CI), points",
        ),
        (
            "random_intercept",
            results.mixed_model,
            f"Random-intercept mixed model: estimated reduction from baseline ({ci} CI), points",
        ),
    ]


def _add_mixed_model_rows(
    table: TableCells,
    notes: Footnotes,
    results: PrimaryResults,
    key: str,
    frame: pd.DataFrame,
    title: str,
) -> None:
    """One row per visit of a mixed model's contrasts (arm reductions, difference, P); a
    single NA row at the primary visit when the model was not estimable."""
    params = results.params
    notes.mark(title, "", None, key, _mixed_model_note(key, frame, params))
    if not len(frame):
        row = _primary_row(params, params.visit_label(params.primary_visit), key)
        for column in (*ARM_ROLES, "effect", "p"):
            table.add(title, row, column, "estimate_ci" if column != "p" else "p")
        notes.mark_not_estimable(title, row, "effect", key, results.not_estimable)
        return
    for record in frame.itertuples():
        row = params.visit_label(record.visit)
        if record.visit == params.primary_visit:
            row = _primary_row(params, row, key)
        by_arm = {
            role: _as_ci(
                Estimate(
                    getattr(record, f"reduction_{role}"),
                    getattr(record, f"reduction_{role}_low"),
                    getattr(record, f"reduction_{role}_high"),
                )
            )
            for role in ARM_ROLES
        }
        table.add_row(title, row, "estimate_ci", by_arm)
        difference = Estimate(record.difference, record.low, record.high)
        _add_effect_and_p(table, title, row, difference, record.p_value)


def _missing_policy_sentence(params: OutcomeParams) -> str:
    primary_lower = params.visit_label(params.primary_visit).lower()
    return {
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


def _table2_notes(results: PrimaryResults) -> list[str]:
    """Abbreviations, the prespecified primary analysis, the direction of differences and
    the missing-data policy."""
    params = results.params
    primary_lower = params.visit_label(params.primary_visit).lower()
    n_cont = results.n_continuous
    experimental, control = params.arm_name(EXPERIMENTAL), params.arm_name(CONTROL)
    return [
        "Abbreviations: ANCOVA, analysis of covariance; IQR, interquartile range; MADRS, "
        "Montgomery-Asberg Depression Rating Scale; MMRM, mixed model for repeated measures; "
        "NA, not available; NNTB/NNTH, number needed to treat (here, to scan) to benefit/harm.",
        f"Primary analysis (prespecified): {PRIMARY_ANALYSIS_LABELS[params.primary_analysis]} "
        f"to {primary_lower}, in the row marked primary analysis. All other P values are from "
        "secondary analyses, are not adjusted for multiple comparisons and are exploratory.",
        f"Reduction = baseline - {primary_lower} MADRS (positive = improvement). Differences "
        f"are {experimental} minus {control}; positive differences favour the {experimental} "
        f"arm. Analyses of the {primary_lower} reduction include {n_cont[EXPERIMENTAL]} and "
        f"{n_cont[CONTROL]} participants. {_missing_policy_sentence(params)}.",
    ]


def table2_from_results(results: PrimaryResults) -> pd.DataFrame:
    """Table 2 (cell frame) from :func:`analyse_primary` results.

    Columns: one per arm, the between-arm difference with its CI (differences only: in
    points, percentage points or SD units), the number needed to scan and the cost per
    additional responder (their own column), and the P value. The prespecified primary
    analysis (``params.primary_analysis``) is named in its row; every other P value is
    secondary and unadjusted (note). Footnote letters tie each method to its rows; a
    statistic that is not estimable prints "NA" with its reason as a footnote.
    """
    table = TableCells(_table2_headers(results))
    notes = Footnotes()
    _add_score_rows(table, results)
    _add_reduction_rows(table, notes, results)
    _add_standardised_rows(table, notes, results)
    for outcome, title in _binary_sections(results):
        _add_binary_rows(table, notes, results, outcome, title)
    for key, frame, title in _mixed_model_sections(results):
        _add_mixed_model_rows(table, notes, results, key, frame, title)
    primary_label = results.params.visit_label(results.params.primary_visit)
    frame = cells_frame(
        table.cells,
        caption=f"Table 2. Primary and Secondary Outcomes, Baseline to {primary_label}",
        notes=_table2_notes(results),
        row_header="Outcome",
        markers=notes.markers,
        footnotes=notes.texts,
        columns=[*ARM_ROLES, "effect", "derived", "p"],
    )
    frame.attrs["not_estimable"] = dict(results.not_estimable)
    return frame


def table2_outcomes(
    participants: pd.DataFrame, madrs: pd.DataFrame, params: OutcomeParams | None = None
) -> pd.DataFrame:
    """Table 2: primary and secondary outcomes (a cell frame for :func:`tables.write_table`)."""
    return table2_from_results(analyse_primary(participants, madrs, params))
