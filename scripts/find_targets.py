"""Adapter: every target of one subject (rule find_targets)."""

import json

import pandas as pd

from tmstarget.atomic import save_image
from tmstarget.bids import write_tsv
from tmstarget.figures.targets import plot_subject_target
from tmstarget.logs import log_to_file
from tmstarget.reliability import ReliabilityParams
from tmstarget.stimulation import TARGETS_DICTIONARY, TargetingSettings, load_subject
from tmstarget.subject_analysis import analyse_subject
from tmstarget.uncertainty import BOOTSTRAP_DICTIONARY

smk = snakemake  # noqa: F821 (injected by Snakemake)
log = log_to_file(smk.log[0])
participant_id = f"sub-{smk.wildcards.subject}"
settings = TargetingSettings.from_config(smk.params.targets)
maps = load_subject(smk.input.bold, smk.input.mask, settings)
log.info("%s: %d volumes x %d brain voxels", participant_id, *maps.timeseries.shape)
# nasion-inion, tragus-tragus, circumference (cm), read from participants.tsv at planning
head_cm = smk.params.head_cm or None
if head_cm is None:
    log.info("%s: no Beam F3 site (targets.beam_f3 off or no head measurements)", participant_id)
transforms = list(smk.input.template_transforms) or None
log.info("template-to-T1w transform: %s", transforms or "none (no native coordinates)")
with open(smk.input.metrics) as file:
    qc_runs = json.load(file)["runs"]
planted = pd.read_csv(smk.input.planted[0], sep="\t") if smk.input.planted else None

analysis = analyse_subject(
    participant_id,
    maps,
    settings,
    ReliabilityParams.from_config(smk.params.reliability),
    qc_runs,
    smk.params.repetition_time_s,
    head_cm=head_cm,
    transforms=transforms,
    planted=planted,
    metrics_source=smk.input.metrics,
)

targets = analysis.targets
write_tsv(smk.output.targets, targets.table, TARGETS_DICTIONARY, smk.output.targets_dictionary)
for method, path in zip(settings.methods, smk.output.maps, strict=True):
    save_image(targets.score_maps[method], path)
if analysis.bootstrap is not None:
    table = analysis.bootstrap.table
    write_tsv(
        smk.output.bootstrap_table, table, BOOTSTRAP_DICTIONARY, smk.output.bootstrap_dictionary
    )
    save_image(analysis.bootstrap.probability_map, smk.output.bootstrap_map)
    log.info("bootstrap:\n%s", table.round(3).T.to_string(header=False))
write_tsv(smk.output.reliability, analysis.parts)
if analysis.choices.empty and smk.params.reliability["choices"]:
    log.warning("the reliability method has no score map: no target choices compared")
write_tsv(smk.output.choices, analysis.choices)
figure = analysis.figure
plot_subject_target(
    targets.score_maps[figure.method],
    maps.brain_mask,
    maps.search_mask,
    figure.sites,
    [smk.output.figure, smk.output.figure_pdf],
    title=f"{participant_id}: {figure.method.replace('_', ' ')}",
    score_kind=figure.score_kind,
    bootstrap=figure.bootstrap,
    bootstrap_summary=figure.bootstrap_summary,
)
log.info("targets:\n%s", targets.table.round(3).to_string(index=False))
