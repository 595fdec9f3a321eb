"""Adapter: the coil on the patient's own scalp over each site, the navigation files
and, in a trial, the technician's blinded packet (rule place_coil)."""

from pathlib import Path

import pandas as pd

from tmstarget.bids import write_tsv
from tmstarget.blinding import revealing_words, technician_table
from tmstarget.logs import log_to_file
from tmstarget.navexport import COIL_DICTIONARY, coil_table, write_navigation_files

smk = snakemake  # noqa: F821 (injected by Snakemake)
log = log_to_file(smk.log[0])
participant_id = f"sub-{smk.wildcards.subject}"
targets = pd.read_csv(smk.input.targets, sep="\t", na_values="n/a")
coil = coil_table(
    participant_id, targets, smk.input.t1w, smk.params.methods, smk.params.handle_angle_deg
)
outputs = smk.output.keys()
formats = [fmt for fmt in ("csv", "brainsight", "localite") if fmt in outputs]
technician = [fmt for fmt in formats if f"technician_{fmt}" in outputs]
# the blinded packet is checked (and written) first: a failure leaves no navigation file
if technician:
    packet = technician_table(coil, participant_id, smk.params.delivered, Path(smk.input.t1w).name)
    write_navigation_files(
        packet,
        {fmt: smk.output[f"technician_{fmt}"] for fmt in technician},
        smk.input.t1w,
        blind_against=revealing_words({}, smk.params.revealing),
    )
    log.info("%s: technician's packet written (the delivered site, neutral label)", participant_id)
write_tsv(smk.output.coil, coil, COIL_DICTIONARY, smk.output.coil_dictionary)
write_navigation_files(coil, {fmt: smk.output[fmt] for fmt in formats}, smk.input.t1w)
log.info("coil poses:\n%s", coil.round(2).T.to_string(header=False))
