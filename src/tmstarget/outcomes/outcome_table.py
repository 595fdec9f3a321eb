"""Table 2: primary and secondary outcomes, from :func:`analyse_primary` results."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from tmstarget.clinical import (
    ARM_ROLES,
)
from tmstarget.mmrm import COVARIANCE_LABELS
from tmstarget.outcomes.params import CONTROL, EXPERIMENTAL, PRIMARY_ANALYSIS_LABELS, OutcomeParams
from tmstarget.outcomes.primary import PrimaryResults, analyse_primary
from tmstarget.outcomes.table_cells import Footnotes, arm_header, format_number_plain, percent_label
from tmstarget.tables import cell, cells_frame, whole_or_one_decimal


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


def table2_from_results(results: PrimaryResults) -> pd.DataFrame:
    """Table 2 (cell frame) from :func:`analyse_primary` results.

    Columns: one per arm, the between-arm difference with its CI (differences only: in
    points, percentage points or SD units), the number needed to scan and the cost per
    additional responder (their own column), and the P value. The prespecified primary
    analysis (``params.primary_analysis``) is named in its row; every other P value is
    secondary and unadjusted (note). Footnote letters tie each method to its rows; a
    statistic that is not estimable prints "NA" with its reason as a footnote.
    """
    params = results.params
    primary_label = params.visit_label(params.primary_visit)
    primary_lower = primary_label.lower()
    ci = percent_label(params.confidence)
    headers = {role: arm_header(params, role, results.n_randomised[role]) for role in ARM_ROLES}
    headers["effect"] = (
        f"Difference, {params.arm_name(EXPERIMENTAL)} \u2212 {params.arm_name(CONTROL)} ({ci} CI)"
    )
    headers["derived"] = f"Number needed to scan or cost ({ci} CI)"
    headers["p"] = "P value"
    cells = []
    notes = Footnotes()
    reasons = results.not_estimable

    def add(section: str, row: str, column: str, kind: str, **numbers: Any) -> None:
        cells.append(cell(section, row, column, kind, column_label=headers[column], **numbers))

    def arms(section: str, row: str, kind: str, values: dict[str, dict[str, float]], **kw) -> None:
        for role in ARM_ROLES:
            add(section, row, role, kind, **values[role], **kw)

    def not_estimable(section: str, row: str, column: str, key: str) -> None:
        if key in reasons:  # keyed by the reason: one footnote per distinct reason
            reason = reasons[key]
            notes.mark(section, row, column, f"na:{reason}", f"NA, not estimable: {reason}.")

    def as_iqr(triple: tuple[float, float, float]) -> dict[str, float]:
        return {"value": triple[0], "low": triple[1], "high": triple[2]}

    def primary_row(label: str, analysis: str) -> str:
        return f"{label}, primary analysis" if params.primary_analysis == analysis else label

    section = "MADRS total score, median (IQR), points"
    arms(section, "Baseline", "median_iqr", {r: as_iqr(results.baseline[r]) for r in ARM_ROLES})
    arms(section, primary_label, "median_iqr", {r: as_iqr(results.primary[r]) for r in ARM_ROLES})

    section = f"MADRS reduction, baseline to {primary_lower}, points"
    row = primary_row("Median (IQR)", "mann_whitney")
    arms(section, row, "median_iqr", {r: as_iqr(results.reduction[r]) for r in ARM_ROLES})
    hl, mw = results.hodges_lehmann, results.mann_whitney
    add(section, row, "effect", "estimate_ci", value=hl.estimate, low=hl.low, high=hl.high)
    add(section, row, "p", "p", value=mw.p_value)
    exact = "exact" if params.hodges_lehmann_ci == "exact" else "normal-approximation"
    mw_text = (
        f"Hodges-Lehmann shift (median of all between-arm differences) with the Moses {ci} CI "
        f"({exact} critical value); P from the two-sided Mann-Whitney U test "
        f"({params.mann_whitney_method}"
        + (", tie- and continuity-corrected" if params.mann_whitney_method == "asymptotic" else "")
        + ")"
    )
    if math.isfinite(mw.u):
        mw_text += (
            f": U = {format_number_plain(mw.u, whole_or_one_decimal(mw.u))}, rank-biserial r = "
            f"{format_number_plain(mw.rank_biserial, 2)} (2U/(n1 n2) - 1)"
        )
    notes.mark(section, row, None, "mann_whitney", mw_text + ".")
    not_estimable(section, row, "effect", "hodges_lehmann")
    not_estimable(section, row, "p", "mann_whitney")

    row = primary_row("Mean (SD)", "t_test")
    arms(
        section,
        row,
        "mean_sd",
        {
            r: {"value": results.reduction_mean_sd[r][0], "sd": results.reduction_mean_sd[r][1]}
            for r in ARM_ROLES
        },
    )
    md = results.mean_difference
    add(section, row, "effect", "estimate_ci", value=md.estimate, low=md.low, high=md.high)
    add(section, row, "p", "p", value=md.p_value)
    notes.mark(section, row, None, "t_test", "Difference in means; Student t CI and P.")
    not_estimable(section, row, "effect", "mean_difference")

    row = primary_row("Adjusted for baseline MADRS (ANCOVA)", "ancova")
    an = results.ancova
    add(section, row, "effect", "estimate_ci", value=an.estimate, low=an.low, high=an.high)
    add(section, row, "p", "p", value=an.p_value)
    notes.mark(
        section,
        row,
        None,
        "ancova",
        "Analysis of covariance: least squares, reduction ~ arm + baseline MADRS; t CI and P.",
    )
    not_estimable(section, row, "effect", "ancova")
    arms(
        section,
        "% of baseline, median (IQR)",
        "median_iqr",
        {r: as_iqr(results.percent_reduction[r]) for r in ARM_ROLES},
        decimals=0,
    )

    section = "Standardized difference in the reduction, SD units"
    d_method = "noncentral t" if params.effect_size_ci == "noncentral_t" else "Hedges-Olkin normal"
    for label, key, estimate in (
        ("Cohen d", "cohens_d", results.cohens_d),
        ("Hedges g", "hedges_g", results.hedges_g),
    ):
        add(
            section,
            label,
            "effect",
            "estimate_ci",
            decimals=2,
            value=estimate.estimate,
            low=estimate.low,
            high=estimate.high,
        )
        notes.mark(
            section,
            label,
            None,
            "effect_size",
            f"Cohen d: difference in means / pooled SD, {d_method} CI; Hedges g: d times the "
            "exact small-sample factor J(n1 + n2 - 2). No test of their own (the t test of the "
            "mean row applies).",
        )
        not_estimable(section, label, "effect", key)

    percent_threshold = f"{100 * params.response_min_reduction:g}%"
    for outcome, title in (
        (results.response, f"Response (reduction ≥{percent_threshold}) at {primary_lower}"),
        (
            results.remission,
            f"Remission (MADRS ≤{params.remission_max_score:g}) at {primary_lower}",
        ),
    ):
        noun = "Responders" if outcome.name == "response" else "Remitters"
        row = f"{noun}, No./total No. (%)"
        arms(
            title,
            row,
            "n_total_pct",
            {
                EXPERIMENTAL: {
                    "count": outcome.count_experimental,
                    "total": outcome.total_experimental,
                },
                CONTROL: {"count": outcome.count_control, "total": outcome.total_control},
            },
            decimals=0,
        )
        rd = outcome.risk_difference
        add(
            title,
            row,
            "effect",
            "estimate_ci",
            value=100 * rd.estimate,
            low=100 * rd.low,
            high=100 * rd.high,
        )
        add(title, row, "p", "p", value=rd.p_value)
        notes.mark(
            title,
            row,
            None,
            "risk_difference",
            f"Risk difference in percentage points with the Newcombe hybrid score {ci} CI; "
            "P from Fisher's exact test.",
        )
        not_estimable(title, row, "effect", outcome.name)
        nnt = outcome.number_needed
        nnt_row = "Number needed to scan, NNTB or NNTH"
        add(title, nnt_row, "derived", "nnt", value=nnt.estimate, low=nnt.low, high=nnt.high)
        notes.mark(
            title,
            nnt_row,
            None,
            "nnt",
            "Number needed to scan = 1/risk difference, rounded up to a whole number: NNTB, "
            "scans needed for 1 additional participant to benefit (NNTH: to be harmed); "
            "Altman's CI from the inverted risk-difference limits, through infinity when "
            "that CI includes 0.",
        )
        cost = outcome.cost_per_additional
        extra = "responder" if outcome.name == "response" else "remitter"
        cost_row = f"Cost per additional {extra} at an assumed scan cost, {params.currency}"
        add(
            title,
            cost_row,
            "derived",
            "cost",
            decimals=0,
            value=cost.estimate,
            low=cost.low,
            high=cost.high,
        )
        notes.mark(
            title,
            cost_row,
            None,
            "cost",
            f"Scan cost/risk difference (the unrounded number needed x {params.scan_cost:,.0f} "
            f"{params.currency}): the cost of one targeting scan with its analysis is a user-set "
            "assumption (configuration outcomes.scan_cost), not trial data. Upper limit ∞ when "
            "the risk-difference CI includes 0; NA when the point estimate shows no benefit.",
        )

    for key, frame, title, method in (
        (
            "mmrm",
            results.mmrm,
            "MMRM: least-squares mean reduction from baseline (95% CI), points",
            "mmrm",
        ),
        (
            "random_intercept",
            results.mixed_model,
            "Random-intercept mixed model: estimated reduction from baseline (95% CI), points",
            "random_intercept",
        ),
    ):
        title = title.replace("95%", ci)
        if key == "mmrm":
            structures = params.mmrm_covariances
            baseline_term = (
                "baseline MADRS x visit" if params.mmrm_baseline_by_visit else "baseline MADRS"
            )
            text = (
                "Mixed model for repeated measures: reduction from baseline at each "
                f"post-baseline visit ~ visit + arm x visit + {baseline_term} (visit "
                f"categorical, baseline centred at its mean), "
                f"{_covariance_sentence(frame, structures) if len(frame) else 'covariance'}, "
                "REML; least-squares means at the mean baseline; t CIs and P with "
                "Satterthwaite df; all available ratings"
            )
        else:
            text = (
                "Random-intercept linear mixed model: MADRS ~ arm x visit + (1 | participant) "
                "over all visits including baseline (visit categorical), REML; estimated "
                "reduction = minus the visit effect; Wald z CIs and P; all available ratings"
            )
        if len(frame):
            text += (
                f" of {frame.attrs.get('n_participants', 'all')} participants"
                + (
                    f"; visits without ratings in both arms left out: "
                    f"{', '.join(params.visit_label(v) for v in frame.attrs['dropped_visits'])}"
                    if frame.attrs.get("dropped_visits")
                    else ""
                )
                + "."
            )
            if key == "random_intercept" and not frame.attrs.get("converged", True):
                text += " The fit did not converge cleanly; interpret these rows with care."
        else:
            text += "."
        notes.mark(title, "", None, method, text)
        if not len(frame):
            row = primary_row(primary_label, method)
            for column in (*ARM_ROLES, "effect", "p"):
                add(title, row, column, "estimate_ci" if column != "p" else "p")
            not_estimable(title, row, "effect", key)
            continue
        for record in frame.itertuples():
            row = params.visit_label(record.visit)
            if record.visit == params.primary_visit:
                row = primary_row(row, method)
            arms(
                title,
                row,
                "estimate_ci",
                {
                    role: {
                        "value": getattr(record, f"reduction_{role}"),
                        "low": getattr(record, f"reduction_{role}_low"),
                        "high": getattr(record, f"reduction_{role}_high"),
                    }
                    for role in ARM_ROLES
                },
            )
            add(
                title,
                row,
                "effect",
                "estimate_ci",
                value=record.difference,
                low=record.low,
                high=record.high,
            )
            add(title, row, "p", "p", value=record.p_value)

    n_cont = results.n_continuous
    policy_text = {
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
    table_notes = [
        "Abbreviations: ANCOVA, analysis of covariance; IQR, interquartile range; MADRS, "
        "Montgomery-Asberg Depression Rating Scale; MMRM, mixed model for repeated measures; "
        "NA, not available; NNTB/NNTH, number needed to treat (here, to scan) to benefit/harm.",
        f"Primary analysis (prespecified): {PRIMARY_ANALYSIS_LABELS[params.primary_analysis]} "
        f"to {primary_lower}, in the row marked primary analysis. All other P values are from "
        "secondary analyses, are not adjusted for multiple comparisons and are exploratory.",
        f"Reduction = baseline - {primary_lower} MADRS (positive = improvement). Differences "
        f"are {params.arm_name(EXPERIMENTAL)} minus {params.arm_name(CONTROL)}; positive "
        f"differences favour the {params.arm_name(EXPERIMENTAL)} arm. Analyses of the "
        f"{primary_lower} reduction include {n_cont[EXPERIMENTAL]} and {n_cont[CONTROL]} "
        f"participants. {policy_text}.",
    ]
    frame = cells_frame(
        cells,
        caption=f"Table 2. Primary and Secondary Outcomes, Baseline to {primary_label}",
        notes=table_notes,
        row_header="Outcome",
        markers=notes.markers,
        footnotes=notes.texts,
        columns=[*ARM_ROLES, "effect", "derived", "p"],
    )
    frame.attrs["not_estimable"] = dict(reasons)
    return frame


def table2_outcomes(
    participants: pd.DataFrame, madrs: pd.DataFrame, params: OutcomeParams | None = None
) -> pd.DataFrame:
    """Table 2: primary and secondary outcomes (a cell frame for :func:`tables.write_table`)."""
    return table2_from_results(analyse_primary(participants, madrs, params))
