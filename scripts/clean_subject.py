"""Adapter: clean, smooth and join one subject's runs, with QC (rule clean_subject)."""

from pathlib import Path

from tmstarget.bids import write_json
from tmstarget.denoise import RunInput, clean_subject, cleaning_options, read_tedana_result
from tmstarget.figures.qc import plot_subject_qc
from tmstarget.logs import log_to_file

smk = snakemake  # noqa: F821 (injected by Snakemake)
log_to_file(smk.log[0])
settings = smk.params.preprocess
subject = smk.wildcards.subject
runs = []
for index, label in enumerate(smk.params.run_labels):
    common = {
        "label": label,
        "mask": smk.input.masks[index],
        "confounds": smk.input.confounds[index],
        "repetition_time_s": smk.params.repetition_times_s[index],
    }
    if settings["denoised_input_desc"]:
        # Denoised elsewhere: clean it as it is; whether its dummy volumes are already
        # gone is read from its length against the confounds.
        runs.append(
            RunInput(
                bold=smk.input.bold[index],
                reference=None,
                mode="external",
                dummies_dropped=None,
                **common,
            )
        )
    else:
        tedana = read_tedana_result(Path(smk.input.tedana) / f"sub-{subject}_{label}")
        runs.append(
            RunInput(
                bold=tedana.bold,
                reference=tedana.optcom,
                mode=tedana.mode,
                components=tedana.components,
                dummies_dropped=True,
                **common,
            )
        )
result = clean_subject(subject, runs, **cleaning_options(settings))
result.img.to_filename(smk.output.bold)
result.mask.to_filename(smk.output.mask)
qc = result.qc
write_json(
    smk.output.metrics,
    {
        "participant_id": f"sub-{subject}",
        "runs": [
            {
                "label": label,
                "mode": mode,
                "volumes": length,
                "components": {k: v for k, v in components.items() if k != "components"},
            }
            for label, mode, length, components in zip(
                qc.run_labels, qc.run_modes, qc.run_lengths, qc.components, strict=True
            )
        ],
        "metrics": qc.metrics,
        "flags": qc.flags,
    },
)
plot_subject_qc(qc, [smk.output.qc])
