"""Adapter: circuit connectivity at the stimulated site and the distance between the arms'
sites against the clinical outcome (rule analyse_mechanism)."""

from pathlib import Path

import pandas as pd

from tmstarget.bids import write_tsv
from tmstarget.clinical import load_clinical
from tmstarget.figures.outcomes import plot_mechanism
from tmstarget.logs import log_to_file
from tmstarget.outcomes import (
    OutcomeParams,
    mechanism_correlations,
    mechanism_data,
    table4_mechanism,
)
from tmstarget.tables import write_table

MEASURES = {
    "stimulated_connectivity": "Circuit connectivity at the stimulated site (r)",
    "cortex_distance_mm": "Distance, connectivity target to Beam F3 (mm)",
}

smk = snakemake  # noqa: F821 (injected by Snakemake)
# the BIDS root: the folder of participants.tsv
BIDS_ROOT = Path(smk.input.participants).parent
log_to_file(smk.log[0])
params = OutcomeParams.from_config(smk.params.outcomes)
clinical = load_clinical(BIDS_ROOT, smk.params.arm_labels, params.visits, params.baseline_visit)
sites = pd.read_csv(smk.input.distances, sep="\t", na_values="n/a")
data = mechanism_data(clinical.participants, clinical.madrs, sites, MEASURES, params)
correlations = mechanism_correlations(
    clinical.participants, clinical.madrs, sites, MEASURES, params
)
write_table(table4_mechanism(correlations, params), [smk.output.table, *smk.output.journal])
write_tsv(smk.output.source_data, data)
plot_mechanism(
    data,
    correlations,
    [smk.output.figure, smk.output.vector_figure],
    MEASURES,
    dict(params.arm_names),
    params.visit_label(params.primary_visit).lower(),
)
