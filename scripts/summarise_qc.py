"""Adapter: the group QC table (rule summarise_qc)."""

from tmstarget.bids import write_dataset_description
from tmstarget.denoise import group_qc_table
from tmstarget.logs import log_to_file
from tmstarget.tables import write_table

smk = snakemake  # noqa: F821 (injected by Snakemake)
log = log_to_file(smk.log[0])
table = group_qc_table(smk.input.metrics, smk.params.thresholds)
log.info("%d subjects, %d flagged", len(table), int((~table["qc_pass"]).sum()))
write_table(
    table,
    [smk.output.table, *smk.output.journal],
    caption="Preprocessing QC by subject",
    notes=[f"Thresholds: {smk.params.thresholds}"],
)
write_dataset_description(
    smk.output.description,
    "tmstarget preprocessing: cleaned, smoothed resting-state BOLD per subject",
    sources=smk.params.sources,
)
