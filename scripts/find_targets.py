"""Adapter: every target of one subject (rule find_targets)."""

import json

import pandas as pd

from tmstarget.atomic import save_image
from tmstarget.bids import write_tsv
from tmstarget.figures.targets import plot_subject_target
from tmstarget.logs import log_to_file
from tmstarget.reliability import ReliabilityParams, subject_reliability
from tmstarget.stimulation import (
    BEAM_F3,
    MAP_METHODS,
    TARGETS_DICTIONARY,
    TargetingSettings,
    chosen_target,
    find_target,
    load_subject,
    score_model,
    subject_bootstrap,
    subject_targets,
)
from tmstarget.uncertainty import BOOTSTRAP_DICTIONARY, ChoiceSettings, segments_from_qc
from tmstarget.vocabulary import CIRCUIT_SEARCHLIGHT

smk = snakemake  # noqa: F821 (injected by Snakemake)
log = log_to_file(smk.log[0])
subject = smk.wildcards.subject
participant_id = f"sub-{subject}"
settings = TargetingSettings.from_config(smk.params.targets)
maps = load_subject(smk.input.bold, smk.input.mask, settings)
log.info("%s: %d volumes x %d brain voxels", participant_id, *maps.timeseries.shape)

# nasion-inion, tragus-tragus, circumference (cm), read from participants.tsv at planning
head_cm = tuple(smk.params.head_cm) if smk.params.head_cm else None
if head_cm is None:
    log.info("%s: no Beam F3 site (targets.beam_f3 off or no head measurements)", participant_id)
transforms = list(smk.input.template_transforms) or None
log.info("template-to-T1w transform: %s", transforms or "none (no native coordinates)")

# Runs and censored gaps of the joined series: the bootstrap's blocks stay inside them.
with open(smk.input.metrics) as file:
    qc_runs = json.load(file)["runs"]
segments = segments_from_qc(qc_runs, maps.timeseries.shape[0], smk.input.metrics)
tr_s = smk.params.repetition_time_s
whole = (0, maps.timeseries.shape[0])
reliability = ReliabilityParams.from_config(smk.params.reliability)
reliability_method = reliability.method or settings.connectivity_method
# The candidates' time courses, computed once for the bootstrap, the choices and the parts.
models = {
    method: score_model(maps, method, settings)
    for method in dict.fromkeys([settings.connectivity_method, reliability_method])
    if method in MAP_METHODS
    and (
        settings.bootstrap.enabled
        or settings.choice != "argmax"
        or (method == reliability_method and reliability.choices)
    )
}
chosen = None
if settings.choice != "argmax":
    chosen = chosen_target(
        models[settings.connectivity_method], settings, whole, segments, tr_s, participant_id
    )
    log.info("target chosen by %s: %s mm", settings.choice, chosen.mm)

result = subject_targets(participant_id, maps, settings, head_cm, transforms, chosen)
write_tsv(smk.output.targets, result.table, TARGETS_DICTIONARY, smk.output.targets_dictionary)
for method, path in zip(settings.methods, smk.output.maps, strict=True):
    save_image(result.score_maps[method], path)

bootstrap = None
if settings.bootstrap.enabled:
    bootstrap = subject_bootstrap(
        participant_id,
        models[settings.connectivity_method],
        settings,
        segments,
        tr_s,
        maps.brain_mask,
    )
    write_tsv(
        smk.output.bootstrap_table,
        bootstrap.table,
        BOOTSTRAP_DICTIONARY,
        smk.output.bootstrap_dictionary,
    )
    save_image(bootstrap.probability_map, smk.output.bootstrap_map)
    log.info("bootstrap:\n%s", bootstrap.table.round(3).T.to_string(header=False))

# Split halves and first k minutes: views of the series already in memory (or, for a
# choice other than argmax, the candidates' time courses of those volumes).
window_fn = None
if reliability_method == settings.connectivity_method and settings.choice != "argmax":
    model = models[reliability_method]

    def window_fn(start, stop):
        return chosen_target(model, settings, (start, stop), segments, tr_s, participant_id)


parts = subject_reliability(
    maps.timeseries,
    maps.brain_mask,
    tr_s,
    lambda part: find_target(maps, reliability_method, settings, part),
    reliability.minutes_grid,
    subject=participant_id,
    min_timepoints=reliability.min_timepoints,
    paired_retest=reliability.paired_retest,
    window_fn=window_fn,
)
write_tsv(smk.output.reliability, parts)

# Every target choice on the two halves (and the full series), side by side.
rows = []
if reliability_method in models:
    halves = parts.set_index("segment")
    for rule in reliability.choices:
        choice = ChoiceSettings(
            rule, settings.choice_smoothing_fwhm_mm, settings.choice_top_fraction
        )
        for segment in ("full", "half1", "half2"):
            window = (
                int(halves.loc[segment, "start_volume"]),
                int(halves.loc[segment, "stop_volume"]),
            )
            target = chosen_target(
                models[reliability_method],
                settings,
                window,
                segments,
                tr_s,
                participant_id,
                choice,
            )
            rows.append(
                {
                    "subject": participant_id,
                    "choice": rule,
                    "segment": segment,
                    "x_mm": target.mm[0],
                    "y_mm": target.mm[1],
                    "z_mm": target.mm[2],
                }
            )
else:
    log.warning("%s has no score map: no target choices compared", reliability_method)
write_tsv(
    smk.output.choices,
    pd.DataFrame(rows, columns=["subject", "choice", "segment", "x_mm", "y_mm", "z_mm"]),
)

shown = result.table[result.table["method"].isin([settings.connectivity_method, BEAM_F3])]
shown = shown[["method", "x_mm", "y_mm", "z_mm"]]
if smk.input.planted:
    planted = pd.read_csv(smk.input.planted[0], sep="\t")
    planted = planted[planted["participant_id"] == participant_id]
    shown = pd.concat([shown, planted[["x_mm", "y_mm", "z_mm"]].assign(method="planted")])
method = settings.connectivity_method
boot_points = boot_summary = None
if bootstrap is not None:
    model = models[method]
    boot_points = pd.DataFrame(model.candidate_mm, columns=["x_mm", "y_mm", "z_mm"]).assign(
        probability=bootstrap.result.probability
    )
    boot_summary = bootstrap.table.iloc[0].to_dict()
plot_subject_target(
    result.score_maps[method],
    maps.brain_mask,
    maps.search_mask,
    shown,
    [smk.output.figure, smk.output.figure_pdf],
    title=f"{participant_id}: {method.replace('_', ' ')}",
    score_kind="searchlight" if method == CIRCUIT_SEARCHLIGHT else "seed_map",
    bootstrap=boot_points,
    bootstrap_summary=boot_summary,
)
log.info("targets:\n%s", result.table.round(3).to_string(index=False))
