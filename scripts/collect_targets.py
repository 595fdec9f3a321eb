"""Adapter: group tables, neuronavigation export and figures of the targets (rule
collect_targets)."""

from pathlib import Path

import pandas as pd

from tmstarget.bids import write_dataset_description, write_tsv
from tmstarget.clinical import load_participants
from tmstarget.figures.targets import plot_group_targets, plot_target_distances
from tmstarget.logs import log_to_file
from tmstarget.native import neuronavigation_table, write_neuronavigation_csv
from tmstarget.outputs import by_name
from tmstarget.stimulation import DISTANCES_DICTIONARY, TARGETS_DICTIONARY, arm_distances

smk = snakemake  # noqa: F821 (injected by Snakemake)
# the BIDS root: the folder of participants.tsv
BIDS_ROOT = Path(smk.input.participants).parent
log = log_to_file(smk.log[0])
method = smk.params.connectivity_method
targets = pd.concat(
    [pd.read_csv(path, sep="\t", na_values="n/a") for path in smk.input.targets],
    ignore_index=True,
)
write_tsv(smk.output.table, targets, TARGETS_DICTIONARY, smk.output.table_dictionary)
participants = load_participants(BIDS_ROOT, smk.params.arm_labels)
distances = arm_distances(targets, participants, method)
write_tsv(smk.output.distances, distances, DISTANCES_DICTIONARY, smk.output.distances_dictionary)
log.info(
    "%d subjects; median distance connectivity target - Beam F3: %.1f mm (cortex)",
    len(distances),
    distances["cortex_distance_mm"].median(),
)
with_arm = targets.merge(participants[["participant_id", "arm"]], on="participant_id")
write_neuronavigation_csv(
    neuronavigation_table(with_arm, connectivity_method=method), smk.output.navigation
)
# each figure's PNG and PDF, as the rule declares them
figures = by_name([smk.output.group_figure, smk.output.distance_figure, *smk.output.vector_figures])
plot_group_targets(
    with_arm,
    figures["group_targets"],
    connectivity_method=method,
)
plot_target_distances(distances, figures["arm_distances"])
write_dataset_description(
    smk.output.description,
    "tmstarget targets: individual TMS targets, Beam F3 sites and coil positions",
    sources=smk.params.sources,
)
