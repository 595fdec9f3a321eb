"""Adapter: the group reliability and scan-length analysis (rule analyse_reliability)."""

import nibabel as nib
import pandas as pd

from tmstarget.bids import write_tsv
from tmstarget.figures.reliability import (
    plot_choice_reliability,
    plot_scan_length,
    plot_within_between,
)
from tmstarget.logs import log_to_file
from tmstarget.outputs import by_name, name_of
from tmstarget.reliability import (
    ReliabilityParams,
    analyse_reliability,
    choice_summary,
    choice_table,
)
from tmstarget.stimulation import voxel_size_mm
from tmstarget.tables import write_table

smk = snakemake  # noqa: F821 (injected by Snakemake)
log = log_to_file(smk.log[0])
params = ReliabilityParams.from_config(smk.params.reliability)
tables = [pd.read_csv(path, sep="\t", na_values="n/a") for path in smk.input.targets]
results = analyse_reliability(tables, params, voxel_size_mm(nib.load(smk.input.mask[0])))
log.info("%s", results.convention_note)
choice_targets = pd.concat(
    [pd.read_csv(path, sep="\t", na_values="n/a") for path in smk.input.choices],
    ignore_index=True,
)
by_choice = choice_summary(choice_targets, params)
results.tables["choice_reliability"] = choice_table(by_choice, params)
extra = {"choice_targets": choice_targets, "choice_summary": by_choice}
table_files = by_name([*smk.output.tables, *smk.output.journal])
for name in ("reliability", "scan_length", "choice_reliability"):
    write_table(results.tables[name], table_files[name])
for path in smk.output.source_data:
    stem = name_of(path)
    write_tsv(path, extra[stem] if stem in extra else getattr(results, stem))
# each figure's PNG and PDF, as the rule declares them
figures = by_name([*smk.output.figures, *smk.output.vector_figures])
plot_within_between(
    results.per_subject,
    results.distances,
    figures["within_between"],
    convention=params.between_convention,
    summary=results.summary,
    reference_mm={
        "published within": params.manuscript_within_mm,
        "published between": params.manuscript_between_mm,
    },
)
plot_scan_length(
    results.curve,
    figures["scan_length"],
    results.one_voxel_mm,
    results.between_mm,
)
plot_choice_reliability(
    by_choice,
    figures["choice_reliability"],
    {
        "published within": params.manuscript_within_mm,
        "published between": params.manuscript_between_mm,
    },
)
