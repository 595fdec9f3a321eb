"""Adapter: the coil on the patient's own scalp over each site, and the navigation files
(rule place_coil)."""

import pandas as pd

from tmstarget.bids import write_tsv
from tmstarget.logs import log_to_file
from tmstarget.navexport import COIL_DICTIONARY, coil_table, write_navigation_files

smk = snakemake  # noqa: F821 (injected by Snakemake)
log = log_to_file(smk.log[0])
participant_id = f"sub-{smk.wildcards.subject}"
targets = pd.read_csv(smk.input.targets, sep="\t", na_values="n/a")
coil = coil_table(
    participant_id, targets, smk.input.t1w, smk.params.methods, smk.params.handle_angle_deg
)
write_tsv(smk.output.coil, coil, COIL_DICTIONARY, smk.output.coil_dictionary)
formats = [fmt for fmt in ("csv", "brainsight", "localite") if fmt in smk.output.keys()]
write_navigation_files(coil, {fmt: smk.output[fmt] for fmt in formats}, smk.input.t1w)
log.info("coil poses:\n%s", coil.round(2).T.to_string(header=False))
