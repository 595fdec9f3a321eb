"""Adapter: the trial outcome analysis (rule analyse_outcomes): tables 1-3 and the
figures' source data, from participants.tsv and phenotype/."""

from pathlib import Path

from tmstarget import bids, tables
from tmstarget.clinical import load_clinical
from tmstarget.logs import log_to_file
from tmstarget.outcomes import OutcomeParams, analyse_trial
from tmstarget.outputs import by_name

smk = snakemake  # noqa: F821 (injected by Snakemake)
# the BIDS root: the folder of participants.tsv
BIDS_ROOT = Path(smk.input.participants).parent
log = log_to_file(smk.log[0])
params = OutcomeParams.from_config(smk.params.outcomes)
clinical = load_clinical(BIDS_ROOT, smk.params.arm_labels, params.visits, params.baseline_visit)
log.info("read %d participants", len(clinical.participants))
results = analyse_trial(
    clinical.participants,
    clinical.madrs,
    clinical.blinding,
    clinical.adverse_events,
    params,
    clinical.participants_dictionary,
)
for reason in results["table2_outcomes"].attrs.get("not_estimable", {}).values():
    log.warning("printed as NA: %s", reason)
table_files = by_name([*smk.output.tables, *smk.output.journal_tables])
source_files = by_name(smk.output.source_data)
for name, frame in results.items():
    if name.startswith("table"):
        tables.write_table(frame, table_files[name])
    else:
        bids.write_tsv(source_files.one(name), frame)
