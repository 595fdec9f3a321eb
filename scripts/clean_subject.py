"""Adapter: clean, smooth and join one subject's runs, with QC (rule clean_subject)."""

import numpy as np

from tmstarget.atomic import save_image
from tmstarget.bids import preprocessed_bold_sidecar, write_json
from tmstarget.denoise import CleaningSettings, RunInput, clean_subject
from tmstarget.figures.qc import plot_subject_qc
from tmstarget.logs import log_to_file
from tmstarget.niftiio import write_masked
from tmstarget.runprep import read_summary

smk = snakemake  # noqa: F821 (injected by Snakemake)
log_to_file(smk.log[0])
subject = smk.wildcards.subject
runs = []
for index, label in enumerate(smk.params.run_labels):
    common = {
        "label": label,
        "bold": smk.input.bold[index],
        "mask": smk.input.masks[index],
        "confounds": smk.input.confounds[index],
        "repetition_time_s": smk.params.repetition_times_s[index],
        "n_dummy": smk.params.n_dummy[index],
    }
    if smk.params.direct:
        # Denoised elsewhere, in the template: cleaned as it is; whether its dummy volumes
        # are already gone is read from its length against the confounds.
        runs.append(RunInput(reference=None, mode="external", dummies_dropped=None, **common))
    else:
        summary = read_summary(smk.input.tedana[index])
        runs.append(
            RunInput(
                reference=smk.input.reference[index],
                mode=summary["mode"],
                components=summary["components"],
                # tedana dropped them; data denoised elsewhere: read from their length
                dummies_dropped=None if summary["mode"] == "external" else True,
                **common,
            )
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
qc = result.qc
# Censored volumes per run (indices after the dummies): the bootstrap's blocks must not
# straddle the gaps they leave in the joined series.
offsets = np.cumsum([0, *qc.run_lengths])
censored = [
    np.flatnonzero(~qc.kept[start:stop]).tolist()
    for start, stop in zip(offsets[:-1], offsets[1:], strict=True)
]
write_json(
    smk.output.metrics,
    {
        "participant_id": f"sub-{subject}",
        "runs": [
            {
                "label": label,
                "mode": mode,
                "volumes": length,
                "censored_volumes": removed,
                "components": {k: v for k, v in components.items() if k != "components"},
            }
            for label, mode, length, removed, components in zip(
                qc.run_labels,
                qc.run_modes,
                qc.run_lengths,
                censored,
                qc.components,
                strict=True,
            )
        ],
        "metrics": qc.metrics,
    },
)
plot_subject_qc(qc, [smk.output.qc])
