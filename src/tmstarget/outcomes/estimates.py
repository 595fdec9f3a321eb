"""Small result types shared by the outcome statistics and tables: an estimate with its
CI, the Mann-Whitney test, the number needed to treat, a binary outcome by arm; and
:class:`NotEstimable`, raised when the data cannot support a statistic."""

from __future__ import annotations

import math
from dataclasses import dataclass

from tmstarget.tables import format_nnt


class NotEstimable(ValueError):
    """The data cannot support this statistic (the message names it and says why)."""


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its confidence interval (and P value / SE when defined)."""

    estimate: float
    low: float = math.nan
    high: float = math.nan
    p_value: float = math.nan
    se: float = math.nan


@dataclass(frozen=True)
class MannWhitney:
    """Two-sided Mann-Whitney U test of x (experimental) vs y (control)."""

    u: float  # U of x: pairs with x > y, ties counted 1/2
    p_value: float
    rank_biserial: float  # 2 U / (n_x n_y) - 1; positive = x tends to be larger
    n_x: int
    n_y: int


@dataclass(frozen=True)
class NumberNeededToTreat:
    """1 / risk difference with the Altman (1998) interval.

    All three numbers are signed: positive = benefit (NNTB), negative = harm (NNTH).
    ``low`` = 1 / (upper RD limit), ``high`` = 1 / (lower RD limit). When the RD interval
    contains 0 the NNT interval passes through infinity (``through_infinity``): it runs
    from NNTB ``low`` up to infinity and on from NNTH ``|high|``.
    """

    estimate: float
    low: float
    high: float
    through_infinity: bool

    def describe(self, decimals: int = 1) -> str:
        return format_nnt(self.estimate, self.low, self.high, decimals)


@dataclass(frozen=True)
class BinaryOutcome:
    """Response or remission by arm."""

    name: str
    count_experimental: int
    total_experimental: int
    count_control: int
    total_control: int
    rate_experimental: Estimate  # proportion with Wilson CI
    rate_control: Estimate
    risk_difference: Estimate  # proportion scale, Newcombe CI, Fisher exact P
    number_needed: NumberNeededToTreat
    cost_per_additional: Estimate  # high is inf when the RD CI reaches 0; NaN when RD <= 0
