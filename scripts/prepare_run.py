"""Adapter: one run from fMRIPrep's outputs to the analysis grid (rule prepare_run)."""

from pathlib import Path

from tmstarget.denoise import TedanaSettings
from tmstarget.logs import log_to_file
from tmstarget.runprep import RunOutputs, prepare_run

smk = snakemake  # noqa: F821 (injected by Snakemake)
log = log_to_file(smk.log[0])
summary = prepare_run(
    smk.input.echoes,
    smk.params.echo_times_s if len(smk.input.echoes) > 1 else None,
    smk.input.mask,
    RunOutputs(
        tedana_dir=Path(smk.output.tedana),
        bold=Path(smk.output.bold),
        optcom=Path(smk.output.optcom),
        mask=Path(smk.output.mask),
    ),
    repetition_time_s=smk.params.repetition_time_s,
    n_dummy=smk.params.n_dummy,
    xfm_files=smk.input.transforms,
    grid_voxel_mm=smk.params.grid_voxel_mm,
    kernel=smk.params.kernel,
    tedana=TedanaSettings.from_config(smk.params.tedana),
    denoised=smk.params.denoised,
    min_volumes=smk.params.min_volumes,
    n_threads=smk.threads,
)
components = summary["components"]
log.info(
    "%s: %s, %d volumes, %d components (%d accepted, %d rejected); tedana %.1f s, "
    "resampling %.1f s",
    smk.wildcards.run_key,
    summary["mode"],
    summary["n_volumes"],
    components["n_components"],
    components["n_accepted"],
    components["n_rejected"],
    summary["seconds"]["tedana"],
    summary["seconds"]["resampling"],
)
