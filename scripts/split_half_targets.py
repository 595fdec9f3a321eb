"""Adapter: targets of one subject's halves and first k minutes (rule split_half_targets).
The series is loaded once; every part is a view of it."""

from tmstarget.bids import write_tsv
from tmstarget.logs import log_to_file
from tmstarget.reliability import ReliabilityParams, subject_reliability
from tmstarget.stimulation import TargetingSettings, find_target, load_subject

smk = snakemake  # noqa: F821 (injected by Snakemake)
log = log_to_file(smk.log[0])
settings = TargetingSettings.from_config(smk.params.targets)
params = ReliabilityParams.from_config(smk.params.reliability)
method = params.method or settings.connectivity_method
maps = load_subject(smk.input.bold, smk.input.mask, settings)
log.info("sub-%s: %d volumes; method %s", smk.wildcards.subject, len(maps.timeseries), method)
table = subject_reliability(
    maps.timeseries,
    maps.brain_mask,
    smk.params.repetition_time_s,
    lambda part: find_target(maps, method, settings, part),
    params.minutes_grid,
    subject=f"sub-{smk.wildcards.subject}",
    min_timepoints=params.min_timepoints,
    paired_retest=params.paired_retest,
)
write_tsv(smk.output[0], table)
