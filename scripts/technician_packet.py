"""Adapter: the technician's blinded navigation files of one trial participant (rule
technician_packet): the delivered site only, under a neutral label."""

from pathlib import Path

import pandas as pd

from tmstarget.blinding import revealing_words, technician_table
from tmstarget.logs import log_to_file
from tmstarget.navexport import write_navigation_files

smk = snakemake  # noqa: F821 (injected by Snakemake)
log = log_to_file(smk.log[0])
participant_id = f"sub-{smk.wildcards.subject}"
coil = pd.read_csv(smk.input.coil, sep="\t", na_values="n/a")
packet = technician_table(coil, participant_id, smk.params.delivered, Path(smk.input.t1w).name)
formats = [fmt for fmt in ("csv", "brainsight", "localite") if fmt in smk.output.keys()]
write_navigation_files(
    packet,
    {fmt: smk.output[fmt] for fmt in formats},
    smk.input.t1w,
    blind_against=revealing_words({}, smk.params.revealing),
)
log.info("%s: technician's packet written (delivered site under a neutral label)", participant_id)
