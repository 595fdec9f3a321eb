"""Time of the trial-planning simulation (rule simulate_power): per 1000 simulated trials,
and the full grid of config/config.yaml.

Input: the ``shrunken`` scenario of config/config.yaml (6 sites, 10% dropout) at 20, 100
and 400 participants per arm. Timed, each the median of ``--repeats`` calls:

- simulating 1000 trials (:func:`tmstarget.power.simulate_block`, in blocks of 500 as the
  stage does);
- each test of :data:`tmstarget.power.ANALYSES` on those trials
  (:func:`tmstarget.power.analysis_p_values`);
- baseline: the same tests one trial at a time with the workflow's own functions
  (``outcomes.mean_difference``, ``mann_whitney``, ``ancova_difference``,
  ``fisher_exact_p``) or the reference packages (statsmodels OLS with ``C(site)``,
  statsmodels ``StratifiedTable``, scipy ``chi2_contingency``), on ``--baseline-trials``
  trials and scaled to 1000; its P values are checked against the vectorised ones;
- the full grid of config/config.yaml (every scenario, n per arm and test, with the
  trials without an average effect): ``tmstarget.power.plan_trial`` with 1 and 2 workers
  (wall clock; CPU seconds of this process and its children).

Usage: python benchmarks/bench_power.py [--repeats 3] [--baseline-trials 50] [--no-grid]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import pandas as pd
from common import REPO, shipped_config
from snakemake.utils import validate

from tmstarget import outcomes as oc
from tmstarget import power as pw

SIZES = (20, 100, 400)
TRIALS = 1000


def _params() -> pw.PlanningParams:
    config = shipped_config()
    validate(config, str(REPO / "config" / "schema.yaml"))
    outcomes = {k: config["outcomes"][k] for k in ("primary_analysis", "missing_policy")}
    planning = {k: v for k, v in config["planning"].items() if k != "enabled"}
    return pw.PlanningParams.from_config(planning, outcomes)


def _cpu() -> float:
    own, children = os.times()[:2], os.times()[2:4]
    return sum(own) + sum(children)


def _median_seconds(function, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def _simulate(scenario: pw.Scenario, n: int, seed: int) -> pw.TrialBatch:
    blocks = [
        pw.simulate_block(scenario, n, pw.TRIALS_PER_BLOCK, seed, block)
        for block in range(TRIALS // pw.TRIALS_PER_BLOCK)
    ]
    return pw.TrialBatch(
        blocks[0].experimental,
        blocks[0].site,
        *(
            np.concatenate([getattr(b, name) for b in blocks])
            for name in ("baseline", "reduction", "responder", "missed")
        ),
    )


def _scalar_p(batch: pw.TrialBatch, name: str, trial: int) -> float:
    """One trial's P the straightforward way (see the module docstring)."""
    import statsmodels.formula.api as smf
    from scipy import stats
    from statsmodels.stats.contingency_tables import StratifiedTable

    x, site = batch.experimental, batch.site
    reduction, baseline, responder = (
        batch.reduction[trial],
        batch.baseline[trial],
        batch.responder[trial],
    )
    if name == "t_test":
        return oc.mean_difference(reduction[x], reduction[~x]).p_value
    if name == "mann_whitney":
        return oc.mann_whitney(reduction[x], reduction[~x]).p_value
    if name == "ancova":
        return oc.ancova_difference(reduction, baseline, x).p_value
    if name == "ancova_site":
        frame = pd.DataFrame({"y": reduction, "b": baseline, "t": x * 1.0, "s": site}).dropna()
        return float(smf.ols("y ~ C(s) + t + b", frame).fit().pvalues["t"])
    counts = (
        int(np.nansum(responder[x])),
        int(np.sum(~np.isnan(responder[x]))),
        int(np.nansum(responder[~x])),
        int(np.sum(~np.isnan(responder[~x]))),
    )
    if name == "fisher":
        return oc.fisher_exact_p(*counts)
    if name in ("chi_square", "chi_square_yates"):
        a, n1, c, n2 = counts
        table = [[a, n1 - a], [c, n2 - c]]
        return float(stats.chi2_contingency(table, correction=name.endswith("yates")).pvalue)
    if name == "cmh":
        tables = []
        for k in np.unique(site):
            counted = (site == k) & ~np.isnan(responder)
            a = np.nansum(responder[counted & x])
            c = np.nansum(responder[counted & ~x])
            tables.append([[a, (counted & x).sum() - a], [c, (counted & ~x).sum() - c]])
        table = StratifiedTable(np.array(tables, dtype=float).transpose(1, 2, 0))
        return float(table.test_null_odds().pvalue)
    raise KeyError(name)


BASELINE_TESTS = ("t_test", "mann_whitney", "ancova", "ancova_site", "fisher", "chi_square", "cmh")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline-trials", type=int, default=50)
    parser.add_argument("--no-grid", action="store_true", help="skip the full grid")
    args = parser.parse_args()
    params = _params()
    scenario = next(s for s in params.scenario_list() if s.name == "shrunken")
    rows = []
    for n in SIZES:
        seconds, batch = _median_seconds(lambda n=n: _simulate(scenario, n, 1), args.repeats)
        rows.append((n, "simulate 1000 trials", seconds, ""))
        for name in pw.ANALYSES:
            seconds, p = _median_seconds(
                lambda name=name, batch=batch: pw.analysis_p_values(batch, name), args.repeats
            )
            note = ""
            if name in BASELINE_TESTS:
                trials = range(args.baseline_trials)
                _scalar_p(batch, name, 0)  # imports and first-call set-up are not timed
                start = time.perf_counter()
                scalar = [_scalar_p(batch, name, t) for t in trials]
                baseline = (time.perf_counter() - start) * TRIALS / args.baseline_trials
                difference = float(np.nanmax(np.abs(np.asarray(scalar) - p[: len(scalar)])))
                note = (
                    f"one trial at a time: {baseline:.2f} s ({baseline / seconds:.0f}x); "
                    f"max abs difference of P {difference:.1e}"
                )
            rows.append((n, name, seconds, note))
    print(f"\nPer {TRIALS} simulated trials, scenario shrunken ({scenario.n_sites} sites)\n")
    print("| n per arm | step | seconds | notes |")
    print("|---:|---|---:|---|")
    for n, step, seconds, note in rows:
        print(f"| {n} | {step} | {seconds:.4f} | {note} |")
    reported = [a.name for a in params.planned_analyses()]
    print(f"\nReported tests of the config: {', '.join(reported)}")
    for n in SIZES:
        own = [seconds for size, step, seconds, _ in rows if size == n]
        total = own[0] + sum(
            seconds for size, step, seconds, _ in rows if size == n and step in reported
        )
        print(
            f"- n {n}: simulate + reported tests {total:.3f} s per 1000 trials (x2 with the null)"
        )
    if args.no_grid:
        return
    points = len(params.scenarios) * len(params.n_per_arm)
    print(
        f"\nFull grid: {len(params.scenarios)} scenarios x {len(params.n_per_arm)} n per arm x "
        f"{params.n_trials} trials x 2 (with and without the effect) = "
        f"{2 * points * params.n_trials:,} trials, {len(reported)} tests each\n"
    )
    print("| workers | wall s | CPU s |")
    print("|---:|---:|---:|")
    reference = None
    for workers in (1, 2):
        cpu, start = _cpu(), time.perf_counter()
        results = pw.plan_trial(params, workers=workers)
        wall, cpu = time.perf_counter() - start, _cpu() - cpu
        print(f"| {workers} | {wall:.1f} | {cpu:.1f} |")
        if reference is None:
            reference = results.curves
        else:
            pd.testing.assert_frame_equal(reference, results.curves)
    print("\n(1 and 2 workers give identical power curves.)")


if __name__ == "__main__":
    main()
