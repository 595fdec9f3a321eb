"""Adapter: every target of one subject (rule find_targets)."""

from pathlib import Path

import pandas as pd

from tmstarget.atomic import save_image
from tmstarget.bids import write_tsv
from tmstarget.clinical import load_participants
from tmstarget.figures.targets import plot_subject_target
from tmstarget.logs import log_to_file
from tmstarget.reliability import ReliabilityParams, subject_reliability
from tmstarget.stimulation import (
    BEAM_F3,
    TARGETS_DICTIONARY,
    TargetingSettings,
    find_target,
    load_subject,
    subject_targets,
)

smk = snakemake  # noqa: F821 (injected by Snakemake)
# the BIDS root: the folder of participants.tsv
BIDS_ROOT = Path(smk.input.participants).parent
log = log_to_file(smk.log[0])
subject = smk.wildcards.subject
participant_id = f"sub-{subject}"
settings = TargetingSettings.from_config(smk.params.targets)
maps = load_subject(smk.input.bold, smk.input.mask, settings)
log.info("%s: %d volumes x %d brain voxels", participant_id, *maps.timeseries.shape)

participants = load_participants(BIDS_ROOT, smk.params.arm_labels)
head_columns = ["nasion_inion_cm", "tragus_tragus_cm", "head_circumference_cm"]
row = participants[participants["participant_id"] == participant_id]
head_cm = None
if row.empty or row[head_columns].isna().any(axis=None):
    log.warning("%s: no head measurements in participants.tsv: no Beam F3 site", participant_id)
else:
    head_cm = tuple(float(v) for v in row[head_columns].iloc[0])
transforms = list(smk.input.template_transforms) or None
log.info("template-to-T1w transform: %s", transforms or "none (no native coordinates)")

result = subject_targets(participant_id, maps, settings, head_cm, transforms)
write_tsv(smk.output.targets, result.table, TARGETS_DICTIONARY, smk.output.targets_dictionary)
for method, path in zip(settings.methods, smk.output.maps, strict=True):
    save_image(result.score_maps[method], path)

# Split halves and first k minutes: views of the series already in memory.
reliability = ReliabilityParams.from_config(smk.params.reliability)
method = reliability.method or settings.connectivity_method
parts = subject_reliability(
    maps.timeseries,
    maps.brain_mask,
    smk.params.repetition_time_s,
    lambda part: find_target(maps, method, settings, part),
    reliability.minutes_grid,
    subject=participant_id,
    min_timepoints=reliability.min_timepoints,
    paired_retest=reliability.paired_retest,
)
write_tsv(smk.output.reliability, parts)

shown = result.table[result.table["method"].isin([settings.connectivity_method, BEAM_F3])]
shown = shown[["method", "x_mm", "y_mm", "z_mm"]]
if smk.input.planted:
    planted = pd.read_csv(smk.input.planted, sep="\t")
    planted = planted[planted["participant_id"] == participant_id]
    shown = pd.concat([shown, planted[["x_mm", "y_mm", "z_mm"]].assign(method="planted")])
method = settings.connectivity_method
plot_subject_target(
    result.score_maps[method],
    maps.brain_mask,
    maps.search_mask,
    shown,
    [smk.output.figure, smk.output.figure_pdf],
    title=f"{participant_id}: {method.replace('_', ' ')}",
    score_kind="searchlight" if method == "circuit_searchlight" else "seed_map",
)
log.info("targets:\n%s", result.table.round(3).to_string(index=False))
