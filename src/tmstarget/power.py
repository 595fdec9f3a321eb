"""Planning the multi-site follow-up trial: power and sample size by simulating its analysis.

Many multi-site trials are simulated for each scenario (``planning.scenarios``) and each
number of participants randomised per arm (``planning.n_per_arm``), and each simulated
trial is analysed with the tests the workflow runs (:mod:`tmstarget.batch_stats`, equal
trial by trial to the functions of :mod:`tmstarget.outcomes`). Power is the share of
simulated trials with a two-sided P below ``alpha``; the n per arm needed for each target
power comes from the simulated power curve. Pure functions; nothing here plots or writes.

The simulated trial
-------------------
- **Design.** ``n_sites`` sites; participant j of each arm is enrolled at site j mod
  n_sites, so sites are equal in size (to one participant) and randomisation is stratified
  by site, 1:1 within each site. n per arm counts everyone randomised, dropouts included.
- **Baseline MADRS** B: normal (``baseline_mean``, ``baseline_sd``) truncated to
  [``baseline_min``, ``baseline_max``] (the eligibility range); not rounded.
- **MADRS reduction** at the primary visit (points, positive = improvement)::

      reduction = scalp_mean_reduction + a_site + slope (B - E[B])
                  + connectivity * f * (delta + b_site) + e

  with site intercepts a_site ~ N(0, ``site_intercept_sd``^2) and site effects b_site ~
  N(0, ``site_effect_sd``^2) (points, drawn anew for each trial); delta = ``cohens_d`` *
  ``reduction_sd``; slope and the SD of e make the within-site, within-arm SD of the
  reduction ``reduction_sd`` and its correlation with B
  ``baseline_reduction_correlation``. The reduction is normal (the 0-60 bounds of the
  scale are not imposed).
- **Target unreliability.** A connectivity-arm participant's delivered site misses their
  target by more than ``miss_radius_mm`` with probability ``miss_share``; such a
  participant keeps the fraction f = ``miss_effect_retained`` of the effect (0: the scalp
  arm's outcome), everyone else f = 1. ``cohens_d`` and the connectivity response rate are
  therefore the effects in participants stimulated at their target; the intention-to-treat
  effects are diluted (:attr:`Scenario.itt_effect_points`). The radius defines what a miss
  is and does not enter the simulation otherwise (:func:`median_error_for_miss_share`
  translates a share into the median delivery error it implies).
- **Response** (reduction of at least 50%) is simulated from its own rates: a probit
  model on a latent scale that carries the same site effects (divided by
  ``reduction_sd``), so that ``response_connectivity`` and ``response_scalp`` are the
  response rates averaged over sites (among participants rated at the primary visit and,
  for the connectivity arm, stimulated at their target). Response is not derived from the
  simulated reduction: the pilot's d of 0.8 and 80% vs 60% need not hold together under
  one normal model, and no reported power depends on the within-participant link, since
  each test uses one endpoint.
- **Dropout** by the primary visit: each participant independently with probability
  ``dropout`` (missing completely at random). The continuous analyses use the rated
  participants; response follows ``outcomes.missing_policy``: ``non_responder`` (the
  workflow's default, intention to treat) counts a dropout as a non-responder,
  ``exclude`` leaves them out (last observation carried forward needs visits the planner
  does not simulate and is refused).

Analyses
--------
Each planned test is one of :data:`ANALYSES`. Reported for every scenario: the multi-site
model of the MADRS reduction (``planning.analysis``, default ANCOVA on baseline with site
as a fixed effect), the pilot's prespecified primary analysis (``outcomes.primary_analysis``
as the pilot ran it, without site: Mann-Whitney U by default; ``mmrm`` is simulated as the
ANCOVA on baseline, which it equals with one post-baseline visit; ``random_intercept`` is
refused), the multi-site model of response (``planning.response_analysis``, default
Cochran-Mantel-Haenszel stratified by site), the pilot's test of response (Fisher's exact
test, without site) and ``planning.extra_analyses``. Each test has its own power; nothing
is adjusted for multiplicity.

Power and sample size
---------------------
Each point of the curve is ``n_trials`` independent trials: power k / R with a Wilson
interval (:func:`tmstarget.outcomes.wilson_interval`). The n per arm for a target power
comes from a probit curve of power on sqrt(n) (normal-theory power is Phi(c sqrt(n) - z))
fitted by maximum likelihood to the four grid points around the first that reaches the
target (:func:`required_n`); its CI is Fieller's interval for the n at which the fitted
curve crosses the target, i.e. simulation error only. The needed n is the fitted n rounded
up to a whole participant (and its CI limits likewise).

Type I error: every scenario is also simulated without an average effect
(:func:`null_scenario`: d 0, the scalp arm's response rate in both arms, everything else
kept). With ``site_effect_sd`` > 0 the tests, which treat sites as fixed or ignore them,
reject more often than ``alpha``: their P values are conditional on the trial's sites.

Determinism: the random numbers of n per arm n, block c of :data:`TRIALS_PER_BLOCK` trials
and model component j come from ``SeedSequence(seed, spawn_key=(n, c, j))``, whatever the
number of workers; scenarios share them (common random numbers), so that differences
between scenarios at the same n carry far less simulation noise than the powers do, and a
scenario's results do not change when others are added.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

from tmstarget import batch_stats, settings
from tmstarget.outcomes import wilson_interval
from tmstarget.tables import cell, cells_frame, round_up_whole
from tmstarget.vocabulary import MANN_WHITNEY_METHODS, MISSING_POLICIES, PRIMARY_ANALYSES

CONTINUOUS, BINARY = "MADRS reduction", "Response"

# name: (endpoint, label as printed)
ANALYSES: dict[str, tuple[str, str]] = {
    "t_test": (CONTINUOUS, "Student t test"),
    "mann_whitney": (CONTINUOUS, "Mann-Whitney U test"),
    "ancova": (CONTINUOUS, "ANCOVA on baseline MADRS"),
    "ancova_site": (CONTINUOUS, "ANCOVA on baseline MADRS, site as fixed effect"),
    "van_elteren": (CONTINUOUS, "van Elteren test, stratified by site"),
    "stratified_mann_whitney": (CONTINUOUS, "Stratified Mann-Whitney test (sum of site U)"),
    "fisher": (BINARY, "Fisher exact test"),
    "chi_square": (BINARY, "Pearson chi-square test"),
    "chi_square_yates": (BINARY, "Chi-square test, Yates continuity correction"),
    "cmh": (BINARY, "Cochran-Mantel-Haenszel test, stratified by site"),
    "cmh_corrected": (BINARY, "Cochran-Mantel-Haenszel test, continuity corrected"),
}
CONTINUOUS_ANALYSES = tuple(name for name, (kind, _) in ANALYSES.items() if kind == CONTINUOUS)
BINARY_ANALYSES = tuple(name for name, (kind, _) in ANALYSES.items() if kind == BINARY)
# outcomes.primary_analysis as the planner simulates it (baseline and one visit only).
PRIMARY_ANALYSIS_TESTS = {
    "mann_whitney": "mann_whitney",
    "t_test": "t_test",
    "ancova": "ancova",
    "mmrm": "ancova",  # the MMRM with one post-baseline visit is the ANCOVA
}
PILOT_RESPONSE_TEST = "fisher"  # outcomes: risk difference with Fisher's exact P
PLANNING_MISSING_POLICIES = ("non_responder", "exclude")

ROLE_LABELS = {
    "model": "multi-site model (planning.analysis)",
    "primary": "pilot's prespecified primary analysis (outcomes.primary_analysis)",
    "response_model": "multi-site model of response (planning.response_analysis)",
    "pilot_response": "pilot's test of response",
    "extra": "planning.extra_analyses",
}

# Trials simulated together; part of the seed (see the module docstring), so that the
# results do not depend on how the work is split between workers.
TRIALS_PER_BLOCK = 500
STREAMS = (
    "baseline",
    "residual",
    "site_intercept",
    "site_effect",
    "dropout",
    "miss",
    "response",
)
_NAME = re.compile(r"^[A-Za-z0-9_]+$")
SECTION = "planning"
SCENARIO_SECTION = "planning.scenario_defaults"
# The outcome analysis keys the planner simulates (config outcomes.*).
OUTCOME_KEYS = ("primary_analysis", "missing_policy", "mann_whitney_method")


def _scenario_default(key: str):
    return settings.default(SCENARIO_SECTION, key, float)


# --------------------------------------------------------------------------------------
# Scenarios and settings
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """One set of assumptions about the follow-up trial (``planning.scenario_defaults``
    overlaid with one entry of ``planning.scenarios``). Units: points of the MADRS (0-60)
    unless said otherwise; rates and shares are fractions.

    cohens_d : effect of connectivity-guided targeting on the MADRS reduction at the
        primary visit, in within-site SDs of the reduction, in participants stimulated at
        their target. Default 0.52: the pilot's 0.8 shrunk to the lower limit of its
        two-sided 60% CI (0.8 - 0.84 x SE 0.33, the "safeguard" effect size of Perugini,
        Gallucci & Costantini 2014, Perspect Psychol Sci 9:319).
    reduction_sd : within-site, within-arm SD of the reduction (7.5: the pilot's median
        difference of 6 points over its d of 0.8).
    scalp_mean_reduction : mean reduction in the scalp arm (18: the pilot's median).
    baseline_reduction_correlation : correlation of baseline MADRS with the reduction,
        within site and arm (what ANCOVA gains from; not public, assumed 0.3).
    response_connectivity, response_scalp : response rates among participants rated at
        the primary visit (connectivity: stimulated at their target), averaged over sites.
    n_sites : sites (each enrols equally, randomisation stratified by site).
    site_intercept_sd, site_effect_sd : between-site SDs of the mean reduction and of the
        treatment effect (points).
    dropout : probability of no rating at the primary visit (missing completely at random).
    baseline_mean, baseline_sd, baseline_min, baseline_max : baseline MADRS, normal
        truncated to the eligibility range.
    miss_share : share of connectivity-arm participants whose delivered site misses their
        target by more than ``miss_radius_mm`` (mm).
    miss_effect_retained : fraction of the effect (on both endpoints, on the latent probit
        scale for response) that a missed participant keeps; 0 = the scalp arm's outcome.
    label : printed name (default: ``name``).
    """

    name: str = "default"
    label: str | None = None
    cohens_d: float = _scenario_default("cohens_d")
    reduction_sd: float = _scenario_default("reduction_sd")
    scalp_mean_reduction: float = _scenario_default("scalp_mean_reduction")
    baseline_reduction_correlation: float = _scenario_default("baseline_reduction_correlation")
    response_connectivity: float = _scenario_default("response_connectivity")
    response_scalp: float = _scenario_default("response_scalp")
    n_sites: int = settings.default(SCENARIO_SECTION, "n_sites", int)
    site_intercept_sd: float = _scenario_default("site_intercept_sd")
    site_effect_sd: float = _scenario_default("site_effect_sd")
    dropout: float = _scenario_default("dropout")
    baseline_mean: float = _scenario_default("baseline_mean")
    baseline_sd: float = _scenario_default("baseline_sd")
    baseline_min: float = _scenario_default("baseline_min")
    baseline_max: float = _scenario_default("baseline_max")
    miss_share: float = _scenario_default("miss_share")
    miss_radius_mm: float = _scenario_default("miss_radius_mm")
    miss_effect_retained: float = _scenario_default("miss_effect_retained")

    def __post_init__(self) -> None:
        key = f"planning.scenarios[{self.name}]"
        if not _NAME.match(self.name):
            raise ValueError(f"{key}.name: use letters, digits and _ only, got {self.name!r}")
        checks = [
            ("reduction_sd", self.reduction_sd > 0, "must be > 0 points"),
            (
                "baseline_reduction_correlation",
                -1 < self.baseline_reduction_correlation < 1,
                "must lie strictly between -1 and 1",
            ),
            ("response_connectivity", 0 < self.response_connectivity < 1, "must be in (0, 1)"),
            ("response_scalp", 0 < self.response_scalp < 1, "must be in (0, 1)"),
            ("n_sites", int(self.n_sites) == self.n_sites >= 1, "must be a whole number >= 1"),
            ("site_intercept_sd", self.site_intercept_sd >= 0, "must be >= 0 points"),
            ("site_effect_sd", self.site_effect_sd >= 0, "must be >= 0 points"),
            ("dropout", 0 <= self.dropout < 1, "must be in [0, 1)"),
            ("baseline_sd", self.baseline_sd > 0, "must be > 0 points"),
            (
                "baseline_max",
                self.baseline_min < self.baseline_max,
                f"must exceed baseline_min ({self.baseline_min})",
            ),
            ("miss_share", 0 <= self.miss_share <= 1, "must be in [0, 1]"),
            ("miss_radius_mm", self.miss_radius_mm > 0, "must be > 0 mm"),
            ("miss_effect_retained", 0 <= self.miss_effect_retained <= 1, "must be in [0, 1]"),
        ]
        for name, ok, message in checks:
            if not ok:
                raise ValueError(f"{key}.{name}: {message}, got {getattr(self, name)!r}")
        low, high = self._standard_bounds
        if special.ndtr(high) - special.ndtr(low) < 1e-6:
            raise ValueError(
                f"{key}.baseline_mean: the baseline range [{self.baseline_min}, "
                f"{self.baseline_max}] lies in the far tail of N({self.baseline_mean}, "
                f"{self.baseline_sd}^2)"
            )
        object.__setattr__(self, "n_sites", int(self.n_sites))

    @property
    def printed_label(self) -> str:
        return self.label or self.name

    @property
    def _standard_bounds(self) -> tuple[float, float]:
        return (
            (self.baseline_min - self.baseline_mean) / self.baseline_sd,
            (self.baseline_max - self.baseline_mean) / self.baseline_sd,
        )

    @property
    def baseline_moments(self) -> tuple[float, float]:
        """Mean and SD (points) of the truncated baseline distribution."""
        low, high = self._standard_bounds
        mean, variance = stats.truncnorm.stats(low, high, moments="mv")
        return (
            self.baseline_mean + self.baseline_sd * float(mean),
            self.baseline_sd * math.sqrt(float(variance)),
        )

    def baseline_from_uniform(self, uniform: np.ndarray) -> np.ndarray:
        """Baseline MADRS by inverting the truncated normal CDF at ``uniform`` in [0, 1)."""
        low, high = (special.ndtr(bound) for bound in self._standard_bounds)
        return self.baseline_mean + self.baseline_sd * special.ndtri(low + uniform * (high - low))

    @property
    def effect_points(self) -> float:
        """Effect in participants stimulated at their target (points): d x reduction SD."""
        return self.cohens_d * self.reduction_sd

    @property
    def baseline_slope(self) -> float:
        """Points of reduction per point of baseline MADRS (within site and arm)."""
        return self.baseline_reduction_correlation * self.reduction_sd / self.baseline_moments[1]

    @property
    def residual_sd(self) -> float:
        """SD (points) of the reduction not explained by baseline (within site and arm)."""
        return self.reduction_sd * math.sqrt(1.0 - self.baseline_reduction_correlation**2)

    @property
    def delivered_fraction(self) -> float:
        """Mean fraction of the effect the connectivity arm receives."""
        return 1.0 - self.miss_share * (1.0 - self.miss_effect_retained)

    @property
    def itt_effect_points(self) -> float:
        """Intention-to-treat effect on the reduction (points), misses included."""
        return self.effect_points * self.delivered_fraction

    def probit_intercepts(self) -> tuple[float, float]:
        """Latent intercepts (connectivity at target, scalp) that make the site-averaged
        response rates the configured ones."""
        spread_scalp = (self.site_intercept_sd / self.reduction_sd) ** 2
        spread_connectivity = spread_scalp + (self.site_effect_sd / self.reduction_sd) ** 2
        return (
            float(special.ndtri(self.response_connectivity)) * math.sqrt(1 + spread_connectivity),
            float(special.ndtri(self.response_scalp)) * math.sqrt(1 + spread_scalp),
        )

    def response_rate_missed(self) -> float:
        """Site-averaged response rate of a connectivity participant who was missed."""
        connectivity, scalp = self.probit_intercepts()
        f = self.miss_effect_retained
        spread = (self.site_intercept_sd**2 + (f * self.site_effect_sd) ** 2) / self.reduction_sd**2
        return float(special.ndtr((scalp + f * (connectivity - scalp)) / math.sqrt(1 + spread)))

    def itt_response_connectivity(self) -> float:
        """Response rate of the connectivity arm among rated participants, misses included."""
        return (1 - self.miss_share) * self.response_connectivity + (
            self.miss_share * self.response_rate_missed()
        )


SCENARIO_KEYS = tuple(f.name for f in fields(Scenario) if f.name not in ("name", "label"))

# The schema's scenarios and grid (config/schema.yaml, planning.scenarios, n_per_arm).
DEFAULT_SCENARIOS: tuple[dict[str, Any], ...] = tuple(
    {key: float(value) if key in SCENARIO_KEYS else value for key, value in entry.items()}
    for entry in settings.defaults(SECTION)["scenarios"]
)
DEFAULT_N_PER_ARM = tuple(int(n) for n in settings.defaults(SECTION)["n_per_arm"])


@dataclass(frozen=True)
class PlannedAnalysis:
    """One reported test: its name (:data:`ANALYSES`), endpoint, label and roles."""

    name: str
    roles: tuple[str, ...]

    @property
    def endpoint(self) -> str:
        return ANALYSES[self.name][0]

    @property
    def label(self) -> str:
        return ANALYSES[self.name][1]

    @property
    def role_label(self) -> str:
        return "; ".join(ROLE_LABELS[role] for role in self.roles)


@dataclass(frozen=True)
class PlanningParams:
    """Settings of the trial planning stage.

    The config ``planning`` section, plus the outcome analysis keys it simulates:
    ``outcomes.primary_analysis``, ``missing_policy`` and ``mann_whitney_method``. Build
    it with :meth:`from_config`; every default is config/schema.yaml's.

    Parameters
    ----------
    enabled : bool
        Build the stage in the main run and the manuscript (the rule ``plan_trial``
        builds it either way).
    seed : int
        Seed of every simulated trial (same seed, same results, whatever the number of
        workers; see the module docstring).
    n_trials : int
        Simulated trials per scenario and n per arm, at least 100 (2000: SE of a power
        near 80% is 0.9 percentage points).
    n_per_arm : tuple of int
        Participants randomised per arm (dropouts included) at which power is simulated:
        at least two whole numbers >= 2, increasing.
    alpha : float
        Two-sided significance level of every test, in (0, 0.5).
    power_targets : tuple of float
        Powers whose n per arm is reported, each in (0, 1), increasing.
    confidence : float
        Level of the simulation CIs (Wilson for power, Fieller for n), in [0.5, 1).
    analysis : str
        The multi-site model of the MADRS reduction, one of the continuous analyses of
        :data:`ANALYSES` (default ``ancova_site``).
    response_analysis : str
        The multi-site model of response, one of the binary analyses of
        :data:`ANALYSES` (default ``cmh``).
    extra_analyses : tuple of str
        More tests to report (names in :data:`ANALYSES`).
    scenario_defaults : mapping of str to value
        Settings of every scenario (:class:`Scenario`: effect in MADRS points, SDs,
        rates, ``miss_radius_mm`` in mm...) unless it overrides them.
    scenarios : tuple of mapping
        The scenarios, each a ``name`` (letters, digits and _), optionally a ``label``,
        and its overrides of ``scenario_defaults``; names unique.
    primary_analysis : str
        ``outcomes.primary_analysis``: ``mann_whitney``, ``t_test``, ``ancova`` or
        ``mmrm`` (simulated as the ANCOVA on baseline); ``random_intercept`` is refused.
    missing_policy : str
        ``outcomes.missing_policy``: ``non_responder`` or ``exclude``;
        ``last_observation`` is refused.
    mann_whitney_method : str
        ``outcomes.mann_whitney_method``: P value of the Mann-Whitney test
        (``asymptotic``, ``exact`` or ``auto``).

    Raises
    ------
    ValueError
        When a value is out of range, unknown or cannot be simulated, or a scenario has an
        unknown key, no name or a bad value; the message names the config key
        (``planning.n_per_arm``, ``outcomes.primary_analysis``,
        ``planning.scenarios[0]``...).
    """

    enabled: bool = settings.default(SECTION, "enabled")
    seed: int = settings.default(SECTION, "seed")
    n_trials: int = settings.default(SECTION, "n_trials")
    n_per_arm: tuple[int, ...] = DEFAULT_N_PER_ARM
    alpha: float = settings.default(SECTION, "alpha", float)
    power_targets: tuple[float, ...] = settings.default(SECTION, "power_targets")
    confidence: float = settings.default(SECTION, "confidence", float)
    analysis: str = settings.default(SECTION, "analysis")
    response_analysis: str = settings.default(SECTION, "response_analysis")
    extra_analyses: tuple[str, ...] = settings.default(SECTION, "extra_analyses")
    # the schema's planning.scenario_defaults, as Scenario's defaults hold them
    scenario_defaults: Mapping[str, Any] = field(
        default_factory=lambda: {key: getattr(Scenario(), key) for key in SCENARIO_KEYS}
    )
    scenarios: tuple[Mapping[str, Any], ...] = DEFAULT_SCENARIOS
    primary_analysis: str = settings.default("outcomes", "primary_analysis")
    missing_policy: str = settings.default("outcomes", "missing_policy")
    mann_whitney_method: str = settings.default("outcomes", "mann_whitney_method")

    def __post_init__(self) -> None:
        for name in ("n_per_arm", "power_targets", "extra_analyses", "scenarios"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "n_per_arm", tuple(int(n) for n in self.n_per_arm))
        grid = np.asarray(self.n_per_arm)
        if grid.size < 2 or np.any(grid < 2) or np.any(np.diff(grid) <= 0):
            raise ValueError(
                "planning.n_per_arm: give at least two whole numbers >= 2 in increasing "
                f"order, got {list(self.n_per_arm)}"
            )
        if self.n_trials < 100:
            raise ValueError("planning.n_trials: simulate at least 100 trials per point")
        if not 0 < self.alpha < 0.5:
            raise ValueError(f"planning.alpha: must be in (0, 0.5), got {self.alpha}")
        targets = np.asarray(self.power_targets, dtype=float)
        if targets.size == 0 or np.any((targets <= 0) | (targets >= 1)):
            raise ValueError("planning.power_targets: powers in (0, 1), e.g. [0.8, 0.9]")
        if np.any(np.diff(targets) <= 0):
            raise ValueError("planning.power_targets: give them in increasing order")
        if not 0.5 <= self.confidence < 1:
            raise ValueError("planning.confidence: must be in [0.5, 1), e.g. 0.95")
        if self.analysis not in CONTINUOUS_ANALYSES:
            raise ValueError(
                f"planning.analysis: {self.analysis!r} is not one of "
                f"{', '.join(CONTINUOUS_ANALYSES)}"
            )
        if self.response_analysis not in BINARY_ANALYSES:
            raise ValueError(
                f"planning.response_analysis: {self.response_analysis!r} is not one of "
                f"{', '.join(BINARY_ANALYSES)}"
            )
        for name in self.extra_analyses:
            if name not in ANALYSES:
                raise ValueError(
                    f"planning.extra_analyses: {name!r} is not one of {', '.join(ANALYSES)}"
                )
        if self.primary_analysis not in PRIMARY_ANALYSES:
            raise ValueError(
                f"outcomes.primary_analysis: {self.primary_analysis!r} is not one of "
                f"{', '.join(PRIMARY_ANALYSES)}"
            )
        if self.primary_analysis not in PRIMARY_ANALYSIS_TESTS:
            raise ValueError(
                f"outcomes.primary_analysis: {self.primary_analysis!r} cannot be simulated "
                "by the planner, which simulates baseline and the primary visit only (the "
                "random-intercept model needs every visit); plan with mann_whitney, t_test, "
                "ancova or mmrm"
            )
        if self.missing_policy not in MISSING_POLICIES:
            raise ValueError(f"outcomes.missing_policy: {self.missing_policy!r} is unknown")
        if self.missing_policy not in PLANNING_MISSING_POLICIES:
            raise ValueError(
                f"outcomes.missing_policy: {self.missing_policy!r} cannot be simulated by the "
                "planner (it carries forward ratings of visits it does not simulate); plan "
                "with non_responder or exclude"
            )
        if self.mann_whitney_method not in MANN_WHITNEY_METHODS:
            raise ValueError(f"outcomes.mann_whitney_method: {self.mann_whitney_method!r}")
        unknown = sorted(set(self.scenario_defaults) - set(SCENARIO_KEYS))
        if unknown:
            raise ValueError(f"planning.scenario_defaults: unknown key(s) {', '.join(unknown)}")
        if not self.scenarios:
            raise ValueError("planning.scenarios: give at least one scenario")
        names = [str(dict(s).get("name", "")) for s in self.scenarios]
        if len(set(names)) != len(names):
            raise ValueError(f"planning.scenarios: names must be unique, got {names}")
        self.scenario_list()  # every scenario is checked now, naming its key

    @classmethod
    def from_config(
        cls, planning: Mapping[str, Any] | None, outcomes: Mapping[str, Any] | None = None
    ) -> PlanningParams:
        """Build from the ``planning`` section and the three ``outcomes`` keys it uses;
        unknown keys are an error naming the key."""
        planning = dict(planning or {})
        settings.check_keys(SECTION, planning, {f.name for f in fields(cls)} - set(OUTCOME_KEYS))
        outcomes = dict(outcomes or {})
        merged = {**planning, **{key: outcomes[key] for key in OUTCOME_KEYS if key in outcomes}}
        if "scenario_defaults" in merged:
            defaults = cls().scenario_defaults
            merged["scenario_defaults"] = {**defaults, **dict(merged["scenario_defaults"])}
        return settings.from_config(cls, SECTION, merged)

    def scenario_list(self) -> list[Scenario]:
        """The scenarios: ``scenario_defaults`` overlaid with each entry."""
        built = []
        for index, entry in enumerate(self.scenarios):
            entry = dict(entry)
            unknown = sorted(set(entry) - set(SCENARIO_KEYS) - {"name", "label"})
            if unknown or "name" not in entry:
                problem = f"unknown key(s) {', '.join(unknown)}" if unknown else "needs a name"
                raise ValueError(f"planning.scenarios[{index}]: {problem}")
            built.append(Scenario(**{**dict(self.scenario_defaults), **entry}))
        return built

    def planned_analyses(self) -> list[PlannedAnalysis]:
        """The reported tests in order, each once with every role it plays."""
        wanted = [
            (self.analysis, "model"),
            (PRIMARY_ANALYSIS_TESTS[self.primary_analysis], "primary"),
            (self.response_analysis, "response_model"),
            (PILOT_RESPONSE_TEST, "pilot_response"),
            *((name, "extra") for name in self.extra_analyses),
        ]
        roles: dict[str, list[str]] = {}
        for name, role in wanted:
            roles.setdefault(name, [])
            if role not in roles[name]:
                roles[name].append(role)
        return [PlannedAnalysis(name, tuple(r)) for name, r in roles.items()]


def median_error_for_miss_share(miss_share: float, radius_mm: float) -> float:
    """Median distance (mm) between delivered site and target that makes ``miss_share``
    of them exceed ``radius_mm``, for an isotropic normal 3-D error (distance = sigma x
    chi with 3 df). NaN for a share of 0 or 1."""
    if not 0 < miss_share < 1:
        return math.nan
    sigma = radius_mm / math.sqrt(stats.chi2.isf(miss_share, 3))
    return sigma * math.sqrt(stats.chi2.ppf(0.5, 3))


# --------------------------------------------------------------------------------------
# Simulated trials
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrialBatch:
    """Simulated trials sharing one design: arrays (trials, participants).

    experimental, site : (N,) the arm (True = connectivity) and site of each participant,
        in site-major order. baseline : MADRS. reduction : points (NaN = not rated).
    responder : 1/0, NaN = not in the denominator (``exclude``). missed : connectivity
        participants whose target was missed.
    """

    experimental: np.ndarray
    site: np.ndarray
    baseline: np.ndarray
    reduction: np.ndarray
    responder: np.ndarray
    missed: np.ndarray

    @property
    def n_trials(self) -> int:
        return self.baseline.shape[0]


def trial_design(n_per_arm: int, n_sites: int) -> tuple[np.ndarray, np.ndarray]:
    """Arm (True = connectivity) and site of each participant, site-major: participant j
    of each arm at site j mod n_sites (sites with nobody are left out)."""
    experimental, site = [], []
    for k in range(n_sites):
        size = len(range(k, n_per_arm, n_sites))
        experimental += [True] * size + [False] * size
        site += [k] * (2 * size)
    return np.array(experimental, dtype=bool), np.array(site, dtype=np.int64)


def _generator(seed: int, n_per_arm: int, block: int, stream: str) -> np.random.Generator:
    key = (int(n_per_arm), int(block), STREAMS.index(stream))
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=key)))


def simulate_block(
    scenario: Scenario,
    n_per_arm: int,
    n_trials: int,
    seed: int,
    block: int = 0,
    missing_policy: str = "non_responder",
) -> TrialBatch:
    """``n_trials`` simulated trials of ``scenario`` with ``n_per_arm`` per arm (the model
    of the module docstring), from the random numbers of ``(seed, n_per_arm, block)``."""
    if missing_policy not in PLANNING_MISSING_POLICIES:
        raise ValueError(f"missing_policy: {missing_policy!r} is not simulated")
    experimental, site = trial_design(n_per_arm, scenario.n_sites)
    shape = (n_trials, experimental.size)

    def draw(stream: str) -> np.random.Generator:
        return _generator(seed, n_per_arm, block, stream)

    baseline = scenario.baseline_from_uniform(draw("baseline").random(shape))
    site_shape = (n_trials, scenario.n_sites)
    intercept = scenario.site_intercept_sd * draw("site_intercept").standard_normal(site_shape)
    site_effect = scenario.site_effect_sd * draw("site_effect").standard_normal(site_shape)
    intercept, site_effect = intercept[:, site], site_effect[:, site]
    missed = experimental & (draw("miss").random(shape) < scenario.miss_share)
    # share of the effect each participant receives: 1 at target, f when missed, 0 (scalp)
    delivered = np.where(missed, scenario.miss_effect_retained, 1.0) * experimental
    reduction = (
        scenario.scalp_mean_reduction
        + intercept
        + scenario.baseline_slope * (baseline - scenario.baseline_moments[0])
        + delivered * (scenario.effect_points + site_effect)
        + scenario.residual_sd * draw("residual").standard_normal(shape)
    )
    connectivity, scalp = scenario.probit_intercepts()
    latent = (
        scalp
        + delivered * (connectivity - scalp)
        + (intercept + delivered * site_effect) / scenario.reduction_sd
        + draw("response").standard_normal(shape)
    )
    responder = (latent > 0).astype(float)
    rated = draw("dropout").random(shape) >= scenario.dropout
    reduction[~rated] = np.nan
    responder[~rated] = 0.0 if missing_policy == "non_responder" else np.nan
    return TrialBatch(experimental, site, baseline, reduction, responder, missed)


def analysis_p_values(
    batch: TrialBatch, name: str, mann_whitney_method: str = "asymptotic"
) -> np.ndarray:
    """Two-sided P of test ``name`` (:data:`ANALYSES`) in every trial of ``batch``."""
    x, site = batch.experimental, batch.site
    reduction, responder = batch.reduction, batch.responder
    continuous: dict[str, Callable[[], np.ndarray]] = {
        "t_test": lambda: batch_stats.t_test_p(reduction, x),
        "mann_whitney": lambda: batch_stats.mann_whitney_p(reduction, x, mann_whitney_method),
        "ancova": lambda: batch_stats.ancova_p(reduction, batch.baseline, x),
        "ancova_site": lambda: batch_stats.ancova_p(reduction, batch.baseline, x, site),
        "van_elteren": lambda: batch_stats.stratified_rank_p(reduction, x, site, "van_elteren"),
        "stratified_mann_whitney": lambda: batch_stats.stratified_rank_p(
            reduction, x, site, "unweighted"
        ),
        "cmh": lambda: batch_stats.cmh_p(responder, x, site, correction=False),
        "cmh_corrected": lambda: batch_stats.cmh_p(responder, x, site, correction=True),
    }
    if name in continuous:
        return continuous[name]()
    counts = batch_stats.arm_counts(responder, x)
    if name == "fisher":
        return batch_stats.fisher_p(*counts)
    if name in ("chi_square", "chi_square_yates"):
        return batch_stats.chi_square_p(*counts, correction=name == "chi_square_yates")
    raise ValueError(f"unknown analysis {name!r}; choose one of {', '.join(ANALYSES)}")


@dataclass(frozen=True)
class _Task:
    scenario: Scenario
    n_per_arm: int
    n_trials: int
    block: int
    seed: int
    analyses: tuple[str, ...]
    alpha: float
    missing_policy: str
    mann_whitney_method: str


def null_scenario(scenario: Scenario) -> Scenario:
    """``scenario`` with no average effect: d 0 and the scalp arm's response rate in both
    arms; site effects, dropout and misses as they are (for the type I error)."""
    return replace(scenario, cohens_d=0.0, response_connectivity=scenario.response_scalp)


def _run_task(task: _Task) -> dict[str, tuple[int, int, int]]:
    """(significant, not estimable, significant without an effect) trials of each
    analysis in one block."""
    batches = [
        simulate_block(
            scenario,
            task.n_per_arm,
            task.n_trials,
            task.seed,
            task.block,
            task.missing_policy,
        )
        for scenario in (task.scenario, null_scenario(task.scenario))
    ]
    counts = {}
    for name in task.analyses:
        p, p_null = (analysis_p_values(b, name, task.mann_whitney_method) for b in batches)
        counts[name] = (
            int(np.sum(p < task.alpha)),
            int(np.sum(np.isnan(p))),
            int(np.sum(p_null < task.alpha)),
        )
    return counts


POWER_CURVE_COLUMNS = [
    "scenario",
    "scenario_label",
    "analysis",
    "analysis_label",
    "endpoint",
    "roles",
    "n_per_arm",
    "n_trials",
    "n_significant",
    "n_not_estimable",
    "power",
    "power_low",
    "power_high",
    "n_significant_null",
    "type_i_error",
    "type_i_error_low",
    "type_i_error_high",
]


def power_curves(
    params: PlanningParams,
    workers: int = 1,
    progress: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Simulated power, and type I error, of every planned analysis, scenario and n.

    One row per (scenario, analysis, n per arm), columns :data:`POWER_CURVE_COLUMNS`:
    power = significant / trials with its Wilson interval at ``params.confidence``
    (``n_not_estimable`` trials, P undefined, count as not significant), and the same for
    the trials of :func:`null_scenario` (``type_i_error``). ``workers`` processes share the
    blocks of trials; the result does not depend on their number. ``progress`` is called
    with a message as each scenario is done.
    """
    analyses = params.planned_analyses()
    names = tuple(a.name for a in analyses)
    scenarios = params.scenario_list()
    tasks = []
    for scenario in scenarios:
        for n in params.n_per_arm:
            for block, start in enumerate(range(0, params.n_trials, TRIALS_PER_BLOCK)):
                size = min(TRIALS_PER_BLOCK, params.n_trials - start)
                tasks.append(
                    _Task(
                        scenario,
                        n,
                        size,
                        block,
                        params.seed,
                        names,
                        params.alpha,
                        params.missing_policy,
                        params.mann_whitney_method,
                    )
                )
    totals: dict[tuple[str, int, str], list[int]] = {}
    pool = ProcessPoolExecutor(max_workers=workers) if workers > 1 else None
    try:
        results = pool.map(_run_task, tasks, chunksize=1) if pool else map(_run_task, tasks)
        for index, (task, counts) in enumerate(zip(tasks, results, strict=True)):
            for name, numbers in counts.items():
                total = totals.setdefault((task.scenario.name, task.n_per_arm, name), [0] * 4)
                for position, number in enumerate((*numbers, task.n_trials)):
                    total[position] += number
            last = index + 1 == len(tasks) or tasks[index + 1].scenario is not task.scenario
            if progress and last:
                progress(f"scenario {task.scenario.name}: {len(params.n_per_arm)} sizes done")
    finally:
        if pool:
            pool.shutdown()
    rows = []
    for scenario in scenarios:
        for analysis in analyses:
            for n in params.n_per_arm:
                significant, not_estimable, null, trials = totals[(scenario.name, n, analysis.name)]
                low, high = wilson_interval(significant, trials, params.confidence)
                null_low, null_high = wilson_interval(null, trials, params.confidence)
                rows.append(
                    {
                        "scenario": scenario.name,
                        "scenario_label": scenario.printed_label,
                        "analysis": analysis.name,
                        "analysis_label": analysis.label,
                        "endpoint": analysis.endpoint,
                        "roles": ",".join(analysis.roles),
                        "n_per_arm": n,
                        "n_trials": trials,
                        "n_significant": significant,
                        "n_not_estimable": not_estimable,
                        "power": significant / trials,
                        "power_low": low,
                        "power_high": high,
                        "n_significant_null": null,
                        "type_i_error": null / trials,
                        "type_i_error_low": null_low,
                        "type_i_error_high": null_high,
                    }
                )
    return pd.DataFrame(rows, columns=POWER_CURVE_COLUMNS)


# --------------------------------------------------------------------------------------
# Sample size from the power curve
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RequiredN:
    """n per arm (continuous) at which the fitted power curve reaches ``target``.

    status : ``fitted`` | ``above_grid`` (the target is not reached at the largest n) |
        ``below_grid`` (reached at the smallest n already). ``low``/``high``: Fieller CI
        (``high`` may be inf when the curve's slope is not clearly positive).
    fit_n : the grid points the probit curve was fitted to.
    """

    target: float
    n: float
    low: float
    high: float
    status: str
    fit_n: tuple[int, ...] = ()

    @property
    def needed(self) -> float:
        """Whole participants per arm: the smallest n with fitted power >= target."""
        return float(round_up_whole(self.n)) if math.isfinite(self.n) else self.n


def _probit_fit(n: np.ndarray, successes: np.ndarray, trials: np.ndarray):
    import statsmodels.api as sm
    from statsmodels.genmod.families import Binomial
    from statsmodels.genmod.families.links import Probit

    design = np.column_stack([np.ones(n.size), np.sqrt(n)])
    endog = np.column_stack([successes, trials - successes])
    with warnings.catch_warnings():
        # two points fit exactly (no residual df), and a point at 0% or 100% power makes
        # statsmodels warn of separation; the estimates and their covariance are fine
        warnings.simplefilter("ignore")
        return sm.GLM(endog, design, family=Binomial(link=Probit())).fit()


def required_n(
    n_per_arm: Sequence[int],
    successes: Sequence[int],
    trials: Sequence[int],
    target: float,
    confidence: float = 0.95,
    window: int = 2,
) -> RequiredN:
    """The n per arm at which power reaches ``target``, from a simulated power curve.

    Fits probit(power) = a + b sqrt(n) by maximum likelihood (binomial) to the ``window``
    grid points below the first point whose simulated power reaches the target and the
    ``window`` points from it on, and solves a + b sqrt(n) = probit(target). The CI is
    Fieller's for that ratio: the s = sqrt(n) with (q - a - b s)^2 <= z^2 Var(a + b s),
    the roots of s^2 (b^2 - z^2 Vbb) - 2 s (g b + z^2 Vab) + g^2 - z^2 Vaa with g = q - a.
    """
    n = np.asarray(n_per_arm, dtype=float)
    k = np.asarray(successes, dtype=float)
    r = np.asarray(trials, dtype=float)
    power = k / r
    reached = np.flatnonzero(power >= target)
    if reached.size == 0:
        return RequiredN(target, math.inf, math.inf, math.inf, "above_grid")
    first = int(reached[0])
    if first == 0:
        return RequiredN(target, n[0], 0.0, n[0], "below_grid")
    chosen = np.arange(max(0, first - window), min(n.size, first + window))
    fit = _probit_fit(n[chosen], k[chosen], r[chosen])
    a, b = (float(v) for v in fit.params)
    cov = np.asarray(fit.cov_params())
    q = float(special.ndtri(target))
    z = float(stats.norm.isf((1 - confidence) / 2))
    fit_n = tuple(int(v) for v in n[chosen])
    if not b > 0:
        return RequiredN(target, math.nan, math.nan, math.inf, "fitted", fit_n)
    root = (q - a) / b
    g = q - a
    quad = b**2 - z**2 * cov[1, 1]
    lin = g * b + z**2 * cov[0, 1]
    const = g**2 - z**2 * cov[0, 0]
    discriminant = lin**2 - quad * const
    if quad <= 0 or discriminant < 0:
        return RequiredN(target, root**2, 0.0, math.inf, "fitted", fit_n)
    low = (lin - math.sqrt(discriminant)) / quad
    high = (lin + math.sqrt(discriminant)) / quad
    return RequiredN(target, root**2, max(low, 0.0) ** 2, high**2, "fitted", fit_n)


SAMPLE_SIZE_COLUMNS = [
    "scenario",
    "scenario_label",
    "analysis",
    "analysis_label",
    "endpoint",
    "roles",
    "target_power",
    "status",
    "n_fitted",
    "n_fitted_low",
    "n_fitted_high",
    "n_needed",
    "n_needed_low",
    "n_needed_high",
    "fit_n_per_arm",
    "type_i_n_per_arm",
    "type_i_error",
    "type_i_error_low",
    "type_i_error_high",
]


def _whole(x: float) -> float:
    return float(round_up_whole(x)) if math.isfinite(x) else x


def sample_sizes(curves: pd.DataFrame, params: PlanningParams) -> pd.DataFrame:
    """n per arm needed for each target power, scenario and analysis (from
    :func:`power_curves`): the fitted n with its CI, the whole numbers above them, and the
    simulated type I error with its CI at the first simulated n at or above the needed n
    (``type_i_n_per_arm``; NaN when the target is not reached)."""
    rows = []
    keys = ["scenario", "scenario_label", "analysis", "analysis_label", "endpoint", "roles"]
    for key, curve in curves.groupby(keys, sort=False):
        curve = curve.sort_values("n_per_arm")
        grid = curve["n_per_arm"].to_numpy(dtype=float)
        for target in params.power_targets:
            result = required_n(
                grid, curve["n_significant"], curve["n_trials"], target, params.confidence
            )
            needed = result.needed
            at = np.flatnonzero(grid >= needed) if math.isfinite(needed) else np.array([])
            null = curve.iloc[int(at[0])] if at.size else None
            rows.append(
                {
                    **dict(zip(keys, key, strict=True)),
                    "target_power": target,
                    "status": result.status,
                    "n_fitted": result.n,
                    "n_fitted_low": result.low,
                    "n_fitted_high": result.high,
                    "n_needed": needed,
                    "n_needed_low": _whole(result.low),
                    "n_needed_high": _whole(result.high),
                    "fit_n_per_arm": ",".join(str(n) for n in result.fit_n),
                    "type_i_n_per_arm": math.nan if null is None else float(null["n_per_arm"]),
                    **{
                        column: math.nan if null is None else float(null[column])
                        for column in ("type_i_error", "type_i_error_low", "type_i_error_high")
                    },
                }
            )
    return pd.DataFrame(rows, columns=SAMPLE_SIZE_COLUMNS)


# --------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------


def _percent(x: float) -> str:
    return f"{100 * x:g}%"


_ROLE_LETTERS = {"model": "a", "response_model": "a", "primary": "b", "pilot_response": "c"}


def sample_size_table(sizes: pd.DataFrame, params: PlanningParams) -> pd.DataFrame:
    """The manuscript table: n per arm for each target power with its simulation CI, and
    the type I error at the n for the highest target; one section per scenario and one
    row per planned analysis (a cell frame, see :mod:`tmstarget.tables`)."""
    analyses = params.planned_analyses()
    grid_max, grid_min = max(params.n_per_arm), min(params.n_per_arm)
    top = max(params.power_targets)
    columns = [f"power{round(100 * t):d}" for t in params.power_targets] + ["type_i_error"]
    level = _percent(params.confidence)
    cells, markers = [], []
    out_of_grid = set()
    for scenario in params.scenario_list():
        section = scenario.printed_label
        own = sizes[sizes["scenario"] == scenario.name]
        for analysis in analyses:
            row = f"{analysis.endpoint}: {analysis.label}"
            mine = own[own["analysis"] == analysis.name]
            for target, column in zip(params.power_targets, columns[:-1], strict=True):
                result = mine[np.isclose(mine["target_power"], target)].iloc[0]
                label = f"n per arm, {_percent(target)} power ({level} CI)"
                if result["status"] in ("above_grid", "below_grid"):
                    text = f"> {grid_max}" if result["status"] == "above_grid" else f"≤ {grid_min}"
                    out_of_grid.add(result["status"])
                    cells.append(cell(section, row, column, "text", column_label=label, text=text))
                    continue
                cells.append(
                    cell(
                        section,
                        row,
                        column,
                        "estimate_ci",
                        column_label=label,
                        value=result["n_needed"],
                        low=result["n_needed_low"],
                        high=result["n_needed_high"],
                        decimals=0,
                    )
                )
            at_top = mine[np.isclose(mine["target_power"], top)].iloc[0]
            cells.append(
                cell(
                    section,
                    row,
                    "type_i_error",
                    "estimate_ci",
                    column_label=f"Type I error at the n for {_percent(top)} power, % ({level} CI)",
                    value=100 * at_top["type_i_error"],
                    low=100 * at_top["type_i_error_low"],
                    high=100 * at_top["type_i_error_high"],
                    decimals=1,
                )
            )
            for letter in sorted({_ROLE_LETTERS[r] for r in analysis.roles if r in _ROLE_LETTERS}):
                markers.append((section, row, None, letter))
    footnotes = [
        ("a", "The multi-site analysis model (planning.analysis, planning.response_analysis)."),
        (
            "b",
            "The pilot trial's prespecified primary analysis (outcomes.primary_analysis: "
            f"{params.primary_analysis}), as the pilot ran it, without site.",
        ),
        ("c", "The pilot trial's test of response, as the pilot ran it, without site."),
    ]
    used = {letter for *_, letter in markers}
    notes = [
        "n per arm counts participants randomised to each arm (dropouts included).",
        f"Power: share of {params.n_trials:,} simulated trials per n per arm with a two-sided "
        f"P < {params.alpha:g} (seed {params.seed}); each test on its own, no adjustment "
        "for multiplicity.",
        "n needed: the smallest whole n per arm at which a probit curve of power on √n, "
        "fitted to the 4 simulated n around the crossing, reaches the target; its CI "
        "(Fieller) is simulation error only, not uncertainty in the scenario's assumptions.",
        "Type I error: the same share in trials simulated with no average effect (d 0, the "
        "scalp arm's response rate in both arms; sites, dropout and misses as in the "
        f"scenario), at the first simulated n at or above the n for {_percent(top)} power "
        "(NA when that n is not reached). It exceeds the nominal level when sites differ in "
        "their effect: these tests treat sites as fixed or ignore them, so their P values "
        "are conditional on the trial's sites.",
    ]
    if "above_grid" in out_of_grid:
        notes.append(f"> {grid_max}: the target is not reached at the largest n simulated.")
    if "below_grid" in out_of_grid:
        notes.append(f"≤ {grid_min}: the target is reached at the smallest n simulated.")
    notes.append("Assumptions of each scenario: the inputs table (power_inputs).")
    return cells_frame(
        cells,
        caption="Participants per arm needed for the multi-site follow-up trial, by simulation "
        "of its analysis",
        notes=notes,
        row_header="Scenario and test",
        markers=markers,
        footnotes=[f for f in footnotes if f[0] in used],
        columns=columns,
    )


INPUT_ROWS: tuple[tuple[str, str, str], ...] = (
    ("cohens_d", "Effect on the MADRS reduction at target, Cohen's d", "SD"),
    ("reduction_sd", "SD of the MADRS reduction within site and arm", "points"),
    ("scalp_mean_reduction", "Mean MADRS reduction, scalp arm", "points"),
    ("baseline_reduction_correlation", "Correlation of baseline MADRS with the reduction", ""),
    ("response_connectivity", "Response rate, connectivity arm at target (rated)", "fraction"),
    ("response_scalp", "Response rate, scalp arm (rated)", "fraction"),
    ("n_sites", "Sites", ""),
    ("site_intercept_sd", "Between-site SD of the mean reduction", "points"),
    ("site_effect_sd", "Between-site SD of the treatment effect", "points"),
    ("dropout", "Dropout by the primary visit", "fraction"),
    ("baseline_mean", "Baseline MADRS, mean before truncation", "points"),
    ("baseline_sd", "Baseline MADRS, SD before truncation", "points"),
    ("baseline_min", "Baseline MADRS, lowest eligible", "points"),
    ("baseline_max", "Baseline MADRS, highest eligible", "points"),
    ("miss_share", "Connectivity participants whose site misses the target", "fraction"),
    ("miss_radius_mm", "Radius of a miss", "mm"),
    ("miss_effect_retained", "Fraction of the effect a missed participant keeps", "fraction"),
)
ALL_SCENARIOS = "all scenarios"


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return "NA" if math.isnan(value) else f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_text(v) for v in value)
    return str(value)


def inputs_table(params: PlanningParams) -> pd.DataFrame:
    """The inputs as run: every scenario's settings and what they imply (one column per
    scenario), and the simulation settings (column ``all scenarios``). A plain frame of
    text cells with columns ``parameter``, ``key``, ``unit``, ``all scenarios`` and the
    scenario names."""
    scenarios = params.scenario_list()
    rows: list[dict[str, str]] = []

    def add(parameter: str, key: str, unit: str, values: Sequence[Any]) -> None:
        row = {"parameter": parameter, "key": key, "unit": unit, ALL_SCENARIOS: ""}
        row.update({s.name: _text(v) for s, v in zip(scenarios, values, strict=True)})
        rows.append(row)

    def setting(parameter: str, key: str, unit: str, value: Any) -> None:
        row = {"parameter": parameter, "key": key, "unit": unit, ALL_SCENARIOS: _text(value)}
        row.update({s.name: "" for s in scenarios})
        rows.append(row)

    add("Label", "label", "", [s.printed_label for s in scenarios])
    for key, parameter, unit in INPUT_ROWS:
        add(parameter, key, unit, [getattr(s, key) for s in scenarios])
    derived = "(derived)"
    add(
        "Effect on the reduction at target", derived, "points", [s.effect_points for s in scenarios]
    )
    add(
        "Intention-to-treat effect on the reduction, misses included",
        derived,
        "points",
        [s.itt_effect_points for s in scenarios],
    )
    add(
        "Intention-to-treat Cohen's d",
        derived,
        "SD",
        [s.itt_effect_points / s.reduction_sd for s in scenarios],
    )
    add(
        "Response rate, connectivity arm, rated, misses included",
        derived,
        "fraction",
        [s.itt_response_connectivity() for s in scenarios],
    )
    if params.missing_policy == "non_responder":
        add(
            "Response rate, connectivity arm, intention to treat (dropouts non-responders)",
            derived,
            "fraction",
            [s.itt_response_connectivity() * (1 - s.dropout) for s in scenarios],
        )
        add(
            "Response rate, scalp arm, intention to treat (dropouts non-responders)",
            derived,
            "fraction",
            [s.response_scalp * (1 - s.dropout) for s in scenarios],
        )
    add(
        "Median delivery error that gives the miss share (isotropic normal 3-D error)",
        derived,
        "mm",
        [median_error_for_miss_share(s.miss_share, s.miss_radius_mm) for s in scenarios],
    )
    add(
        "Baseline MADRS after truncation, mean and SD",
        derived,
        "points",
        [list(s.baseline_moments) for s in scenarios],
    )
    add(
        "Site intraclass correlation of the reduction, scalp arm",
        derived,
        "",
        [s.site_intercept_sd**2 / (s.site_intercept_sd**2 + s.reduction_sd**2) for s in scenarios],
    )
    primary = PRIMARY_ANALYSIS_TESTS[params.primary_analysis]
    settings = [
        ("Seed", "planning.seed", "", params.seed),
        ("Simulated trials per n per arm", "planning.n_trials", "", params.n_trials),
        ("n per arm simulated", "planning.n_per_arm", "participants", list(params.n_per_arm)),
        ("Two-sided significance level", "planning.alpha", "", params.alpha),
        ("Target powers", "planning.power_targets", "", list(params.power_targets)),
        ("Confidence level of the simulation CIs", "planning.confidence", "", params.confidence),
        ("Multi-site model, MADRS reduction", "planning.analysis", "", params.analysis),
        ("Multi-site model, response", "planning.response_analysis", "", params.response_analysis),
        (
            "Pilot's prespecified primary analysis",
            "outcomes.primary_analysis",
            "",
            params.primary_analysis
            if primary == params.primary_analysis
            else f"{params.primary_analysis}, simulated as {primary} (equal with one "
            "post-baseline visit)",
        ),
        ("Pilot's test of response", "(outcomes)", "", PILOT_RESPONSE_TEST),
        ("Missing primary visit", "outcomes.missing_policy", "", params.missing_policy),
        ("Mann-Whitney P", "outcomes.mann_whitney_method", "", params.mann_whitney_method),
        ("More tests", "planning.extra_analyses", "", list(params.extra_analyses) or "none"),
    ]
    for parameter, key, unit, value in settings:
        setting(parameter, key, unit, value)
    columns = ["parameter", "key", "unit", ALL_SCENARIOS, *(s.name for s in scenarios)]
    frame = pd.DataFrame(rows, columns=columns)
    frame.attrs["caption"] = "Inputs of the trial-planning simulation as run"
    frame.attrs["notes"] = [
        "Scenario keys: planning.scenario_defaults overlaid with the scenario's own "
        "(planning.scenarios). Effects are connectivity minus scalp; reductions are "
        "positive for improvement; fractions are of participants. Derived rows follow "
        "from the inputs.",
    ]
    return frame


# --------------------------------------------------------------------------------------
# The stage
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanningResults:
    """Everything the planning stage writes."""

    curves: pd.DataFrame  # power_curves (the figure's source data)
    sample_sizes: pd.DataFrame  # sample_sizes (fitted n, CIs, whole n, type I error)
    table: pd.DataFrame  # sample_size_table (cell frame)
    inputs: pd.DataFrame  # inputs_table


def plan_trial(
    params: PlanningParams,
    workers: int = 1,
    progress: Callable[[str], None] | None = None,
) -> PlanningResults:
    """Simulate the power curves and derive the sample-size and inputs tables.

    Parameters
    ----------
    params : PlanningParams
        The planning settings: scenarios, grid of n per arm, trials per point, tests.
    workers : int, default 1
        Processes sharing the blocks of simulated trials; the results do not depend on
        their number.
    progress : callable, optional
        Called with a message (str) as each scenario is done (e.g. a logger's ``info``).

    Returns
    -------
    PlanningResults
        ``curves`` (:func:`power_curves`: power and type I error with Wilson CIs per
        scenario, analysis and n per arm), ``sample_sizes`` (:func:`sample_sizes`: n per
        arm needed for each target power, with its CI), ``table``
        (:func:`sample_size_table`, the manuscript table as cells) and ``inputs``
        (:func:`inputs_table`, the inputs as run).
    """
    curves = power_curves(params, workers, progress)
    sizes = sample_sizes(curves, params)
    return PlanningResults(curves, sizes, sample_size_table(sizes, params), inputs_table(params))
