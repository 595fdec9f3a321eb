"""Adapter: check the inputs, write the run inventory and the subject reconciliation
(rule check_inputs)."""

from tmstarget import bids, checks
from tmstarget.demo import planned_runs, spec_from_config
from tmstarget.logs import log_to_file

smk = snakemake  # noqa: F821 (injected by Snakemake)
log = log_to_file(smk.log[0])
params = smk.params
if params.demo is not None:
    # The demo as written, held against the plan the workflow made from the config.
    planned = planned_runs(params.bids_dir, spec_from_config(params.demo, params.arm_labels))
    report = checks.check_demo(
        params.bids_dir, params.fmriprep_dir, params.query, params.settings, planned
    )
else:
    # The same discovery and checks as at planning (rules/common.smk).
    report = checks.checked_inputs(
        params.bids_dir, params.fmriprep_dir, params.query, params.settings
    )
table = bids.inventory(report.runs, relative_to=params.fmriprep_dir)
log.info("found %d runs of %d subjects", len(table), len(report.runs))
for note in report.notes:
    log.warning("%s", note)
bids.write_tsv(smk.output.inventory, table)
bids.write_tsv(
    smk.output.subjects,
    report.subjects,
    checks.SUBJECTS_DICTIONARY,
    smk.output.subjects_dictionary,
)
