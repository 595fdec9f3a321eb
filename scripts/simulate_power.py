"""Adapter: the trial-planning simulation (rule simulate_power): power curves, the
sample-size table and the inputs as run, from the config alone."""

from tmstarget import bids, tables
from tmstarget.logs import log_to_file
from tmstarget.outputs import by_name, name_of
from tmstarget.power import PlanningParams, plan_trial

smk = snakemake  # noqa: F821 (injected by Snakemake)
log = log_to_file(smk.log[0])
params = PlanningParams.from_config(smk.params.planning, smk.params.outcomes)
log.info(
    "%d scenarios x %d sizes x %d trials, %d workers",
    len(params.scenarios),
    len(params.n_per_arm),
    params.n_trials,
    smk.threads,
)
results = plan_trial(params, workers=smk.threads, progress=log.info)
table_files = by_name([*smk.output.tables, *smk.output.journal_tables])
for frame, tsv in zip((results.table, results.inputs), smk.output.tables, strict=True):
    tables.write_table(frame, table_files[name_of(tsv)])
curves, fits = smk.output.source_data
bids.write_tsv(curves, results.curves)
bids.write_tsv(fits, results.sample_sizes)
for row in results.sample_sizes.itertuples():
    log.info(
        "%s, %s: %g%% power at n per arm %g (%s)",
        row.scenario,
        row.analysis,
        100 * row.target_power,
        row.n_needed,
        row.status,
    )
