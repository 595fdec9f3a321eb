"""Adapter: the configuration as run and the software versions (rule provenance)."""

from tmstarget.atomic import write_text
from tmstarget.logs import log_to_file
from tmstarget.provenance import config_yaml, software_versions

smk = snakemake  # noqa: F821 (injected by Snakemake)
log = log_to_file(smk.log[0])
write_text(smk.output.config, config_yaml(smk.params.config))
versions = software_versions()
write_text(smk.output.versions, versions.to_csv(sep="\t", index=False, lineterminator="\n"))
log.info("software: %s", ", ".join(f"{s} {v}" for s, v in versions.itertuples(index=False)))
