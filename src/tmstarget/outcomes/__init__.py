"""Trial outcome statistics: primary and secondary outcomes, blinding, safety, mechanism.

Pure functions on arrays and data frames; nothing here plots or writes files. Inputs are
the validated frames of :mod:`tmstarget.clinical` (arms as roles ``connectivity`` and
``scalp``). Every number is deterministic: the only resampling (optional bootstrap CIs of
correlations) uses ``OutcomeParams.seed``.

Conventions
-----------
- **Direction**: every comparison is experimental minus control, i.e. connectivity minus
  scalp. A number needed to scan is ``1 / (p_connectivity - p_scalp)``.
- **Reduction** (points) = baseline MADRS - MADRS at the visit; *positive = improvement*.
  Between-arm differences of reductions (Hodges-Lehmann shift, mean difference, ANCOVA,
  mixed-model contrasts, Cohen's d, Hedges' g, rank-biserial r) are therefore *positive
  when the connectivity arm improved more*.
- **Percent change** = 100 * (MADRS at visit - baseline) / baseline; *negative =
  improvement* (the waterfall plot and the mechanism correlations use this). Percent
  reduction = -percent change.
- **Response**: reduction >= ``response_min_reduction`` * baseline (default 50%).
  **Remission**: MADRS at the primary visit <= ``remission_max_score`` (default 10).
- **Missing primary visit** (``missing_policy``):
  ``non_responder`` (default, ITT): everyone randomised is in the denominator of response
  and remission; a missing primary visit counts as neither responder nor remitter.
  Continuous analyses of the primary visit use the participants observed there.
  ``exclude`` (complete case): participants without the primary visit are left out of
  every primary-visit analysis. ``last_observation`` (LOCF): the last rating on or before
  the primary visit stands in for it in every primary-visit analysis (baseline if nothing
  else, i.e. no change). The mixed model always uses every available rating (it is valid
  when data are missing at random) and is unaffected by the policy.

- **Primary analysis** (``primary_analysis``, one of :data:`PRIMARY_ANALYSES`): the
  prespecified test of the primary endpoint; Table 2 marks its row and calls every other P
  value secondary and unadjusted for multiple comparisons. The trial's is the Mann-Whitney
  U test of the reduction from baseline to the primary visit.

Methods (references in the function docstrings): Mann-Whitney U two-sided; Hodges-Lehmann
shift with the Moses distribution-free CI; Student t; ANCOVA (OLS, t-based CI); MMRM
(:mod:`tmstarget.mmrm`: reduction at each post-baseline visit ~ visit + arm x visit +
baseline x visit, unstructured covariance by REML with a prespecified fallback, Satterthwaite
df); linear mixed model ``madrs ~ arm * visit + (1 | participant)`` (REML) with Wald z
contrasts; Cohen's d with noncentral-t CI and Hedges' g; Wilson intervals for proportions
and Newcombe hybrid score (method 10) CIs for risk differences (both from statsmodels);
Fisher's exact test; Altman's NNT CI; Bang's blinding index with Tango's score CI; Spearman
rho with a Fisher-z (Bonett-Wright variance) or seeded bootstrap CI.

**Edge cases.** A statistic the data cannot support (zero variance in both arms, one arm
empty, a perfect ANCOVA fit, a mixed model that does not converge) raises
:class:`NotEstimable`, whose message names the quantity; :func:`analyse_primary` records the
message and the tables print "NA" with that message as a footnote, so every other number and
table is still written. Inputs that are wrong rather than uninformative (negative counts,
counts above their total, NaN counts, infinite values) raise :class:`ValueError` naming the
quantity. Missing values (NaN) in a sample are dropped; infinite values are an error.

**Layout.** The names above are imported from :mod:`tmstarget.outcomes`; they live in
sub-modules along the analysis's seams (none imports the package itself, so there is no
circle):

- :mod:`~tmstarget.outcomes.params`: :class:`OutcomeParams` and the fixed vocabulary.
- :mod:`~tmstarget.outcomes.estimates`: result types and :class:`NotEstimable`.
- :mod:`~tmstarget.outcomes.statistics`: statistics primitives (proportions, two-sample
  location and effect sizes, blinding, correlation) on arrays and counts.
- :mod:`~tmstarget.outcomes.mixed_models`: the random-intercept model and the MMRM.
- :mod:`~tmstarget.outcomes.per_participant`: outcomes per participant and by visit.
- :mod:`~tmstarget.outcomes.primary`: every primary and secondary analysis, once.
- :mod:`~tmstarget.outcomes.blinding_safety`: blinding and safety summaries, Table 3.
- :mod:`~tmstarget.outcomes.baseline_table`, :mod:`~tmstarget.outcomes.outcome_table`:
  Tables 1 and 2; :mod:`~tmstarget.outcomes.table_cells`: pieces the tables share.
- :mod:`~tmstarget.outcomes.figure_data`: the figures' source data.
- :mod:`~tmstarget.outcomes.mechanism`: site measures against the outcome, Table 4.
- :mod:`~tmstarget.outcomes.trial`: the whole stage (:func:`analyse_trial`).
"""

from tmstarget.outcomes.baseline_table import OPTIONAL_CATEGORIES, table1_baseline
from tmstarget.outcomes.blinding_safety import (
    blinding_summary,
    safety_summary,
    table3_blinding_safety,
)
from tmstarget.outcomes.estimates import (
    BinaryOutcome,
    Estimate,
    MannWhitney,
    NotEstimable,
    NumberNeededToTreat,
)
from tmstarget.outcomes.figure_data import binary_summary, consort_counts, forest_effects
from tmstarget.outcomes.mechanism import mechanism_correlations, mechanism_data, table4_mechanism
from tmstarget.outcomes.mixed_models import (
    MIXED_MODEL_COLUMNS,
    MMRM_COLUMNS,
    mixed_model_contrasts,
    mmrm_contrasts,
)
from tmstarget.outcomes.outcome_table import table2_from_results, table2_outcomes
from tmstarget.outcomes.params import (
    CONTROL,
    DEFAULT_ARM_NAMES,
    DEFAULT_VISIT_LABELS,
    EXPERIMENTAL,
    MISSING_POLICIES,
    PRIMARY_ANALYSES,
    PRIMARY_ANALYSIS_LABELS,
    OutcomeParams,
)
from tmstarget.outcomes.per_participant import participant_outcomes, visit_summary
from tmstarget.outcomes.primary import PrimaryResults, analyse_primary
from tmstarget.outcomes.statistics import (
    ancova_difference,
    bang_blinding_index,
    cohens_d,
    cost_per_additional_responder,
    fisher_exact_p,
    hedges_correction,
    hedges_g,
    hodges_lehmann,
    mann_whitney,
    mann_whitney_null_pmf,
    mean_difference,
    median_iqr,
    moses_critical_value,
    newcombe_difference,
    number_needed_to_treat,
    rank_biserial,
    spearman_with_ci,
    tango_score_statistic,
    wilson_interval,
)
from tmstarget.outcomes.table_cells import format_number_plain
from tmstarget.outcomes.trial import analyse_trial

__all__ = [
    "EXPERIMENTAL",
    "CONTROL",
    "MISSING_POLICIES",
    "PRIMARY_ANALYSES",
    "PRIMARY_ANALYSIS_LABELS",
    "NotEstimable",
    "DEFAULT_VISIT_LABELS",
    "DEFAULT_ARM_NAMES",
    "OutcomeParams",
    "Estimate",
    "MannWhitney",
    "NumberNeededToTreat",
    "BinaryOutcome",
    "wilson_interval",
    "newcombe_difference",
    "fisher_exact_p",
    "number_needed_to_treat",
    "cost_per_additional_responder",
    "mann_whitney",
    "rank_biserial",
    "mann_whitney_null_pmf",
    "moses_critical_value",
    "hodges_lehmann",
    "hedges_correction",
    "cohens_d",
    "hedges_g",
    "mean_difference",
    "ancova_difference",
    "median_iqr",
    "tango_score_statistic",
    "bang_blinding_index",
    "spearman_with_ci",
    "mixed_model_contrasts",
    "mmrm_contrasts",
    "participant_outcomes",
    "visit_summary",
    "PrimaryResults",
    "MIXED_MODEL_COLUMNS",
    "MMRM_COLUMNS",
    "analyse_primary",
    "OPTIONAL_CATEGORIES",
    "table1_baseline",
    "table2_from_results",
    "format_number_plain",
    "table2_outcomes",
    "blinding_summary",
    "safety_summary",
    "table3_blinding_safety",
    "binary_summary",
    "forest_effects",
    "consort_counts",
    "mechanism_data",
    "mechanism_correlations",
    "table4_mechanism",
    "analyse_trial",
]
