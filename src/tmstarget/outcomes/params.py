"""The outcome analysis's choices (:class:`OutcomeParams`, the ``outcomes`` block of the
config) and the printed names of its primary analyses (the fixed vocabulary - arm roles,
missing-data policies, primary analyses, arm and visit names - is tmstarget.vocabulary's)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from scipy import stats

from tmstarget import settings
from tmstarget.clinical import validate_visits
from tmstarget.vocabulary import (
    ARM_ROLES,
    CORRELATION_CIS,
    COVARIANCE_STRUCTURES,
    DEFAULT_ARM_NAMES,
    DEFAULT_VISIT_LABELS,
    EFFECT_SIZE_CIS,
    HODGES_LEHMANN_CIS,
    MANN_WHITNEY_METHODS,
    MISSING_POLICIES,
    PRIMARY_ANALYSES,
)

__all__ = [
    "CONTROL",
    "DEFAULT_ARM_NAMES",
    "DEFAULT_VISIT_LABELS",
    "EXPERIMENTAL",
    "MISSING_POLICIES",
    "PRIMARY_ANALYSES",
    "PRIMARY_ANALYSIS_LABELS",
    "OutcomeParams",
]

EXPERIMENTAL, CONTROL = ARM_ROLES
# outcomes.primary_analysis (tmstarget.vocabulary.PRIMARY_ANALYSES) as Table 2 names it;
# trial planning simulates the same choices.
PRIMARY_ANALYSIS_LABELS = {
    "mann_whitney": "the two-sided Mann-Whitney U test of the MADRS reduction from baseline",
    "t_test": "the two-sided Student t test of the MADRS reduction from baseline",
    "ancova": "the ANCOVA of the MADRS reduction from baseline adjusted for baseline MADRS",
    "mmrm": "the MMRM contrast of the MADRS reduction from baseline",
    "random_intercept": "the random-intercept mixed-model contrast of the MADRS reduction",
}
SECTION = "outcomes"


def _default(key: str, convert=None):
    return settings.default(SECTION, key, convert)


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

    visits: tuple[str, ...] = _default("visits")
    baseline_visit: str = _default("baseline_visit")
    primary_visit: str = _default("primary_visit")
    response_min_reduction: float = _default("response_min_reduction", float)
    remission_max_score: float = _default("remission_max_score", float)
    missing_policy: str = _default("missing_policy")
    confidence: float = _default("confidence", float)
    hodges_lehmann_ci: str = _default("hodges_lehmann_ci")
    effect_size_ci: str = _default("effect_size_ci")
    mann_whitney_method: str = _default("mann_whitney_method")
    primary_analysis: str = _default("primary_analysis")
    mmrm_covariances: tuple[str, ...] = _default("mmrm_covariances")
    mmrm_baseline_by_visit: bool = _default("mmrm_baseline_by_visit")
    scan_cost: float = _default("scan_cost", float)
    currency: str = _default("currency")
    correlation_ci: str = _default("correlation_ci")
    n_bootstrap: int = _default("n_bootstrap")
    seed: int = _default("seed")
    arm_names: Mapping[str, str] = _default("arm_names")
    visit_labels: Mapping[str, str] = _default("visit_labels")
    consort_visits: tuple[str, ...] = _default("consort_visits")
    consort_assessed: int | None = _default("consort_assessed")
    consort_excluded: int | None = _default("consort_excluded")

    def __post_init__(self) -> None:
        object.__setattr__(self, "visits", tuple(self.visits))
        object.__setattr__(self, "consort_visits", tuple(self.consort_visits))
        object.__setattr__(self, "mmrm_covariances", tuple(self.mmrm_covariances))
        validate_visits(self.visits, self.baseline_visit)
        choices = {
            "primary_analysis": PRIMARY_ANALYSES,
            "missing_policy": MISSING_POLICIES,
            "hodges_lehmann_ci": HODGES_LEHMANN_CIS,
            "effect_size_ci": EFFECT_SIZE_CIS,
            "mann_whitney_method": MANN_WHITNEY_METHODS,
            "correlation_ci": CORRELATION_CIS,
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
        merged = dict(config or {})
        for name, default in (
            ("arm_names", DEFAULT_ARM_NAMES),
            ("visit_labels", DEFAULT_VISIT_LABELS),
        ):
            if name in merged:
                merged[name] = {**default, **dict(merged[name])}
        return settings.from_config(cls, SECTION, merged)

    @property
    def z(self) -> float:
        """Two-sided standard normal critical value of ``confidence``."""
        return float(stats.norm.isf((1.0 - self.confidence) / 2.0))

    def visit_label(self, visit: str) -> str:
        return str(self.visit_labels.get(visit, visit))

    def arm_name(self, role: str) -> str:
        return str(self.arm_names[role])
