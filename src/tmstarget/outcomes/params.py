"""The outcome analysis's choices (:class:`OutcomeParams`, the ``outcomes`` block of the
config) and its fixed vocabulary: arm roles, missing-data policies, primary analyses,
printed arm and visit names."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from scipy import stats

from tmstarget.clinical import ARM_ROLES, DEFAULT_BASELINE_VISIT, DEFAULT_VISITS, validate_visits
from tmstarget.mmrm import COVARIANCE_STRUCTURES

EXPERIMENTAL, CONTROL = ARM_ROLES
MISSING_POLICIES = ("non_responder", "exclude", "last_observation")
# The prespecified primary analysis of the primary endpoint (``outcomes.primary_analysis``);
# trial planning simulates the same choices.
PRIMARY_ANALYSES = ("mann_whitney", "t_test", "ancova", "mmrm", "random_intercept")
PRIMARY_ANALYSIS_LABELS = {
    "mann_whitney": "the two-sided Mann-Whitney U test of the MADRS reduction from baseline",
    "t_test": "the two-sided Student t test of the MADRS reduction from baseline",
    "ancova": "the ANCOVA of the MADRS reduction from baseline adjusted for baseline MADRS",
    "mmrm": "the MMRM contrast of the MADRS reduction from baseline",
    "random_intercept": "the random-intercept mixed-model contrast of the MADRS reduction",
}
DEFAULT_VISIT_LABELS = {
    "baseline": "Baseline",
    "day1": "Day 1",
    "day2": "Day 2",
    "day3": "Day 3",
    "day4": "Day 4",
    "day5": "Day 5",
    "eot": "End of treatment",
    "week1": "Week 1",
    "month1": "Month 1",
}
DEFAULT_ARM_NAMES = {"connectivity": "Connectivity", "scalp": "Scalp"}


@dataclass(frozen=True)
class OutcomeParams:
    """Every choice of the outcome analysis (the ``outcomes`` block of the config).

    Attributes
    ----------
    visits : visit labels in time order, baseline first.
    baseline_visit, primary_visit : labels of the baseline and the primary endpoint visit.
    response_min_reduction : response = reduction >= this fraction of baseline (0.5 = 50%).
    remission_max_score : remission = MADRS at the primary visit <= this score.
    missing_policy : ``non_responder`` | ``exclude`` | ``last_observation`` (module doc).
    confidence : confidence level of every interval (0.95).
    hodges_lehmann_ci : ``exact`` (Moses CI from the exact null distribution of U, no tie
        correction; samples up to 10,000 pairs, normal above) | ``normal``.
    effect_size_ci : ``noncentral_t`` (exact under normality) | ``normal`` (Hedges-Olkin).
    mann_whitney_method : ``asymptotic`` (normal approximation, tie and continuity
        corrected, as R's wilcox.test with ties) | ``exact`` | ``auto`` (scipy's choice).
    scan_cost : cost of one targeting fMRI scan (with analysis), in ``currency``; the cost
        per additional responder is number needed to scan * scan_cost.
    currency : printed with the cost.
    primary_analysis : the prespecified primary analysis, one of :data:`PRIMARY_ANALYSES`.
    mmrm_covariances : MMRM covariance structures in the prespecified order of fallback
        (the first that converges is used; see :mod:`tmstarget.mmrm`).
    mmrm_baseline_by_visit : MMRM with a baseline x visit interaction (a baseline slope per
        visit, as in most depression-trial MMRMs) rather than one common baseline slope.
    correlation_ci : ``fisher`` (Fisher z, Bonett-Wright variance) | ``bootstrap``.
    n_bootstrap, seed : bootstrap resamples and seed (used only for bootstrap CIs).
    arm_names : printed names of the roles.
    visit_labels : printed names of the visits (unknown visits print as they are).
    consort_visits : visits whose attendance the CONSORT diagram reports.
    consort_assessed, consort_excluded : screening counts for the CONSORT diagram (not in
        BIDS; ``None`` leaves the enrolment boxes out).
    """

    visits: tuple[str, ...] = DEFAULT_VISITS
    baseline_visit: str = DEFAULT_BASELINE_VISIT
    primary_visit: str = "month1"
    response_min_reduction: float = 0.5
    remission_max_score: float = 10.0
    missing_policy: str = "non_responder"
    confidence: float = 0.95
    hodges_lehmann_ci: str = "exact"
    effect_size_ci: str = "noncentral_t"
    mann_whitney_method: str = "asymptotic"
    primary_analysis: str = "mann_whitney"
    mmrm_covariances: tuple[str, ...] = COVARIANCE_STRUCTURES
    mmrm_baseline_by_visit: bool = True
    scan_cost: float = 1000.0
    currency: str = "USD"
    correlation_ci: str = "fisher"
    n_bootstrap: int = 2000
    seed: int = 20260
    arm_names: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_ARM_NAMES))
    visit_labels: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_VISIT_LABELS))
    consort_visits: tuple[str, ...] = ("eot", "month1")
    consort_assessed: int | None = None
    consort_excluded: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "visits", tuple(self.visits))
        object.__setattr__(self, "consort_visits", tuple(self.consort_visits))
        object.__setattr__(self, "mmrm_covariances", tuple(self.mmrm_covariances))
        validate_visits(self.visits, self.baseline_visit)
        choices = {
            "primary_analysis": PRIMARY_ANALYSES,
            "missing_policy": MISSING_POLICIES,
            "hodges_lehmann_ci": ("exact", "normal"),
            "effect_size_ci": ("noncentral_t", "normal"),
            "mann_whitney_method": ("asymptotic", "exact", "auto"),
            "correlation_ci": ("fisher", "bootstrap"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(
                    f"outcomes.{name}: {getattr(self, name)!r} is not one of {', '.join(allowed)}"
                )
        structures = self.mmrm_covariances
        if not structures or len(set(structures)) != len(structures):
            raise ValueError("outcomes.mmrm_covariances: list one or more distinct structures")
        for structure in structures:
            if structure not in COVARIANCE_STRUCTURES:
                raise ValueError(
                    f"outcomes.mmrm_covariances: {structure!r} is not one of "
                    f"{', '.join(COVARIANCE_STRUCTURES)}"
                )
        if self.primary_visit not in self.visits or self.primary_visit == self.baseline_visit:
            raise ValueError(
                f"outcomes.primary_visit: {self.primary_visit!r} must be a post-baseline visit "
                f"of outcomes.visits ({', '.join(self.visits)})"
            )
        for visit in self.consort_visits:
            if visit not in self.visits:
                raise ValueError(f"outcomes.consort_visits: {visit!r} is not in outcomes.visits")
        if not 0.0 < self.response_min_reduction <= 1.0:
            raise ValueError("outcomes.response_min_reduction: must be in (0, 1], e.g. 0.5")
        if not 0.0 <= self.remission_max_score <= 60.0:
            raise ValueError("outcomes.remission_max_score: must be a MADRS score 0-60")
        if not 0.5 <= self.confidence < 1.0:
            raise ValueError("outcomes.confidence: must be in [0.5, 1), e.g. 0.95")
        if self.scan_cost < 0:
            raise ValueError("outcomes.scan_cost: must be >= 0")
        if self.n_bootstrap < 100:
            raise ValueError("outcomes.n_bootstrap: use at least 100 resamples")
        if set(self.arm_names) != set(ARM_ROLES):
            raise ValueError(f"outcomes.arm_names: needs exactly the roles {ARM_ROLES}")

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> OutcomeParams:
        """Build from a config mapping; unknown keys are an error naming the key."""
        config = dict(config or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(config) - known)
        if unknown:
            raise ValueError(
                f"outcomes: unknown key(s) {', '.join(unknown)}; "
                f"known keys: {', '.join(sorted(known))}"
            )
        merged = dict(config)
        for name in ("arm_names", "visit_labels"):
            if name in merged:
                default = DEFAULT_ARM_NAMES if name == "arm_names" else DEFAULT_VISIT_LABELS
                merged[name] = {**default, **dict(merged[name])}
        return cls(**merged)

    @property
    def z(self) -> float:
        """Two-sided standard normal critical value of ``confidence``."""
        return float(stats.norm.isf((1.0 - self.confidence) / 2.0))

    def visit_label(self, visit: str) -> str:
        return str(self.visit_labels.get(visit, visit))

    def arm_name(self, role: str) -> str:
        return str(self.arm_names[role])
