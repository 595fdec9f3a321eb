"""Adapter: the manuscript manifest (rule manuscript)."""

from pathlib import Path

from tmstarget.atomic import write_text
from tmstarget.logs import log_to_file
from tmstarget.provenance import ManuscriptItem, manifest, manifest_markdown

smk = snakemake  # noqa: F821 (injected by Snakemake)
log = log_to_file(smk.log[0])
items = [ManuscriptItem(*item) for item in smk.params.entries]
table = manifest(items, config=smk.config)
write_text(smk.output.table, table.to_csv(sep="\t", index=False, lineterminator="\n"))
page = manifest_markdown(table, "Manuscript figures and tables", Path(smk.output.page).parent)
write_text(smk.output.page, page)
counts = table["kind"].value_counts().to_dict()
log.info("manifest: %d files (%s)", len(table), counts)
