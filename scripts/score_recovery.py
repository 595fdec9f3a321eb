"""Adapter: recovery of the demo's planted targets (rule score_recovery)."""

import nibabel as nib
import pandas as pd

from tmstarget.bids import write_tsv
from tmstarget.figures.targets import plot_recovery
from tmstarget.logs import log_to_file
from tmstarget.stimulation import recovery, voxel_size_mm
from tmstarget.tables import write_table

smk = snakemake  # noqa: F821 (injected by Snakemake)
log = log_to_file(smk.log[0])
targets = pd.read_csv(smk.input.table, sep="\t", na_values="n/a")
planted = pd.read_csv(smk.input.planted, sep="\t")
voxel_mm = voxel_size_mm(nib.load(smk.input.mask[0]))
per_subject, summary = recovery(targets, planted, voxel_mm, smk.params.methods)
write_tsv(smk.output.per_subject, per_subject)
write_table(
    summary,
    [smk.output.summary, *smk.output.journal],
    caption=f"Recovery of the planted DLPFC targets ({voxel_mm:g} mm voxels)",
    notes=[
        "Error: distance between the recovered and the planted target, in MNI space and "
        "(native) in the subject's own T1w space, through the subject's fMRIPrep transform."
    ],
)
log.info("recovery:\n%s", summary.to_string(index=False))
plot_recovery(per_subject, [smk.output.figure, smk.output.vector_figure], voxel_mm)
