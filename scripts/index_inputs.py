"""Adapter: find every run with pybids and write the input inventory (rule index_inputs)."""

from tmstarget import bids
from tmstarget.logs import log_to_file

smk = snakemake  # noqa: F821 (injected by Snakemake)
log = log_to_file(smk.log[0])
# The same discovery as the workflow's (rules/common.smk), so the inventory lists exactly
# the files the later stages read.
runs = bids.discover_runs(smk.input.bids_dir, smk.params.fmriprep_dir, smk.params.query)
table = bids.inventory(runs, relative_to=smk.params.fmriprep_dir)
log.info("found %d runs of %d subjects", len(table), len(runs))
bids.write_tsv(smk.output.inventory, table)
