"""Adapter: the configuration as run and the software versions (rule provenance)."""

from pathlib import Path

from tmstarget.logs import log_to_file
from tmstarget.provenance import config_yaml, software_versions

smk = snakemake  # noqa: F821 (injected by Snakemake)
log = log_to_file(smk.log[0])
Path(smk.output.config).write_text(config_yaml(smk.params.config), encoding="utf-8")
versions = software_versions()
versions.to_csv(smk.output.versions, sep="\t", index=False, lineterminator="\n")
log.info("software: %s", ", ".join(f"{s} {v}" for s, v in versions.itertuples(index=False)))
