"""Adapter: write the demo cohort (rule simulate_cohort)."""

from tmstarget.demo import spec_from_config, write_demo_dataset
from tmstarget.logs import log_to_file

smk = snakemake  # noqa: F821 (injected by Snakemake)
log_to_file(smk.log[0])
spec = spec_from_config(smk.params.demo, smk.params.arm_labels)
write_demo_dataset(
    smk.params.bids_dir, spec, threads=smk.threads, mem_mb=smk.resources.mem_mb, replace=True
)
