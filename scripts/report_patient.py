"""Adapter: one patient's target report, PDF + PNG, and in a trial the blinded copy for
the technician (rule report_patient)."""

import json

import nibabel as nib
import pandas as pd

from tmstarget.blinding import check_blind, revealing_words
from tmstarget.figures.report import plot_patient_report, template_background
from tmstarget.figures.targets import METHOD_LABELS
from tmstarget.logs import log_to_file
from tmstarget.patient_report import file_checksums, qc_verdict, report_data

smk = snakemake  # noqa: F821 (injected by Snakemake)
log = log_to_file(smk.log[0])
participant_id = f"sub-{smk.wildcards.subject}"
inputs, outputs = smk.input.keys(), smk.output.keys()


def table(name):
    return pd.read_csv(smk.input[name], sep="\t", na_values="n/a")


with open(smk.input.metrics) as file:
    qc = qc_verdict(json.load(file)["metrics"], smk.params.qc_thresholds)
common = {
    "coil": table("coil"),
    "method_labels": METHOD_LABELS,
    "handle_angle_deg": smk.params.handle_angle_deg,
    "inputs": file_checksums(smk.input.sources),
    "template": smk.params.template,
}
targets = table("targets")
t1w, template = nib.load(smk.input.t1w), template_background()
data = report_data(
    participant_id,
    targets,
    smk.params.connectivity_method,
    qc,
    parts=table("reliability"),
    bootstrap=table("bootstrap") if "bootstrap" in inputs else None,
    **common,
)
plot_patient_report(
    data,
    t1w,
    template,
    [smk.output.pdf, smk.output.png],
    score_img=nib.load(smk.input.score_map),
    probability_img=nib.load(smk.input.bootstrap_map) if "bootstrap_map" in inputs else None,
)
if "technician_pdf" in outputs:
    blind = report_data(participant_id, targets, smk.params.delivered, qc, blind=True, **common)
    shown = "\n".join([blind.delivered.label, *(name for name, _ in blind.inputs)])
    check_blind(shown, revealing_words({}, smk.params.revealing), smk.output.technician_pdf)
    plot_patient_report(
        blind, t1w, template, [smk.output.technician_pdf, smk.output.technician_png]
    )
log.info(
    "%s: report written%s",
    participant_id,
    " (and the blinded copy)" if "technician_pdf" in outputs else "",
)
