"""Adapter: the key to the technicians' blinded files, for the unblinded statistician
(rule technician_key)."""

from pathlib import Path

import pandas as pd

from tmstarget.bids import write_tsv
from tmstarget.blinding import KEY_DICTIONARY, blinding_key
from tmstarget.logs import log_to_file

smk = snakemake  # noqa: F821 (injected by Snakemake)
log = log_to_file(smk.log[0])
packets = [pd.read_csv(path) for path in smk.input.packets]
technician = pd.concat(packets, ignore_index=True)
files = {
    row.participant_id: Path(path).name
    for path, packet in zip(smk.input.packets, packets, strict=True)
    for row in packet.itertuples(index=False)
}
key = blinding_key(technician, smk.params.arms, smk.params.connectivity_method, files)
write_tsv(smk.output.key, key, KEY_DICTIONARY, smk.output.key_dictionary)
log.info("key of %d participants: %s", len(key), key["arm"].value_counts().to_dict())
