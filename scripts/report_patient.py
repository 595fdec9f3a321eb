"""Adapter: one patient's target report, PDF + PNG (rules report_patient and
report_technician, the blinded copy)."""

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
blind = bool(smk.params.blind)


def table(name):
    return pd.read_csv(smk.input[name], sep="\t", na_values="n/a")


metrics = json.loads(open(smk.input.metrics).read())["metrics"]
inputs = smk.input.keys()
data = report_data(
    participant_id,
    table("targets"),
    smk.params.delivered,
    qc_verdict(metrics, smk.params.qc_thresholds),
    coil=table("coil"),
    parts=None if blind else table("reliability"),
    bootstrap=table("bootstrap") if "bootstrap" in inputs and not blind else None,
    blind=blind,
    method_labels=METHOD_LABELS,
    handle_angle_deg=smk.params.handle_angle_deg,
    inputs=file_checksums(smk.input.sources),
    template=smk.params.template,
)
if blind:
    shown = "\n".join([data.delivered.label, *(name for name, _ in data.inputs)])
    check_blind(shown, revealing_words({}, smk.params.revealing), smk.output.pdf)
plot_patient_report(
    data,
    nib.load(smk.input.t1w),
    template_background(),
    [smk.output.pdf, smk.output.png],
    score_img=None if blind else nib.load(smk.input.score_map),
    probability_img=nib.load(smk.input.bootstrap_map)
    if "bootstrap_map" in inputs and not blind
    else None,
)
log.info("%s: report written (%s)", participant_id, "blinded" if blind else "unblinded")
