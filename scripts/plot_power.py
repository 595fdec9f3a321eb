"""Adapter: the power-curve figure (rule plot_power), drawn from the saved power curves."""

import pandas as pd

from tmstarget.figures.power import plot_power_curves
from tmstarget.logs import log_to_file

smk = snakemake  # noqa: F821 (injected by Snakemake)
log_to_file(smk.log[0])
curves = pd.read_csv(smk.input.curves, sep="\t", na_values="n/a", keep_default_na=False)
plot_power_curves(
    curves,
    [smk.output.figure, smk.output.vector_figure],
    power_targets=smk.params.power_targets,
    confidence=smk.params.confidence,
    alpha=smk.params.alpha,
)
