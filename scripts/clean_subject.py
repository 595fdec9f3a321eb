"""Adapter: clean, smooth and join one subject's runs, with QC (rule clean_subject)."""

import numpy as np

from tmstarget.atomic import save_image
from tmstarget.bids import preprocessed_bold_sidecar, write_json
from tmstarget.denoise import CleaningSettings, clean_subject, qc_metrics_record, run_inputs
from tmstarget.figures.qc import plot_subject_qc
from tmstarget.logs import log_to_file
from tmstarget.niftiio import write_masked
from tmstarget.runprep import read_summary

smk = snakemake  # noqa: F821 (injected by Snakemake)
log_to_file(smk.log[0])
subject = smk.wildcards.subject
direct = smk.params.direct  # denoised elsewhere, in the template: no tedana summaries
runs = run_inputs(
    smk.params.run_labels,
    smk.input.bold,
    smk.input.masks,
    smk.input.confounds,
    smk.params.repetition_times_s,
    smk.params.n_dummy,
    references=None if direct else smk.input.reference,
    summaries=None if direct else [read_summary(folder) for folder in smk.input.tedana],
)
result = clean_subject(subject, runs, CleaningSettings.from_config(smk.params.cleaning))
# the joined matrix onto the full grid block by block (the image bytes nibabel writes)
write_masked(
    smk.output.bold,
    result.series,
    np.asarray(result.mask.dataobj) > 0,
    result.header,
    result.mask.affine,
)
write_json(
    smk.output.bold_sidecar,
    preprocessed_bold_sidecar(
        smk.params.repetition_times_s[0],  # one TR: clean_subject joins runs only at one
        smk.params.task,
        "tmstarget clean_subject: each run's denoised series confound-regressed, filtered, "
        "censored and smoothed as CleaningSettings say; the runs joined in BIDS order",
        dict(smk.params.cleaning),
    ),
)
save_image(result.mask, smk.output.mask)
write_json(smk.output.metrics, qc_metrics_record(subject, result.qc))
plot_subject_qc(result.qc, [smk.output.qc])
