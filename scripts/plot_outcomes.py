"""Adapter: the outcome figures (rule plot_outcomes), drawn from the saved source data."""

import pandas as pd

from tmstarget.figures import outcomes as figures
from tmstarget.logs import log_to_file
from tmstarget.outcomes import OutcomeParams
from tmstarget.outputs import by_name

smk = snakemake  # noqa: F821 (injected by Snakemake)
log_to_file(smk.log[0])
params = OutcomeParams.from_config(smk.params.outcomes)
sources = by_name(smk.input.source_data)
paths = by_name([*smk.output.figures, *smk.output.vector_figures])


def read(name: str) -> pd.DataFrame:
    return pd.read_csv(sources.one(name), sep="\t", na_values="n/a", keep_default_na=False)


names = dict(params.arm_names)
figures.plot_consort(
    read("consort"), paths["consort"], names, dict(params.visit_labels), params.missing_policy
)
figures.plot_trajectories(
    read("visits"),
    paths["madrs_trajectories"],
    contrasts=read("mixed_model"),
    arm_names=names,
    visit_labels=dict(params.visit_labels),
)
figures.plot_waterfall(
    read("participants"),
    paths["waterfall"],
    params.response_min_reduction,
    names,
    params.visit_label(params.primary_visit).lower(),
)
figures.plot_response_bars(read("rates"), paths["response_remission"], names, params.confidence)
figures.plot_forest(read("effects"), paths["forest"], names, confidence=params.confidence)
