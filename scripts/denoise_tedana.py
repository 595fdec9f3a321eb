"""Adapter: tedana on every run of one subject (rule denoise_tedana); one folder per run."""

from pathlib import Path

from tmstarget.denoise import run_tedana
from tmstarget.logs import log_to_file

smk = snakemake  # noqa: F821 (injected by Snakemake)
log = log_to_file(smk.log[0])
tedana = smk.params.tedana
subject_dir = Path(smk.output[0])
for run in smk.params.runs:
    result = run_tedana(
        run["echo_files"],
        run["echo_times_s"],
        run["mask"],
        subject_dir / f"sub-{smk.wildcards.subject}_{run['key']}",
        mode=tedana["mode"],
        n_dummy=smk.params.n_dummy,
        min_volumes=smk.params.min_volumes,
        seed=tedana["seed"],
        ica_method=tedana["ica_method"],
        n_robust_runs=tedana["n_robust_runs"],
        tree=tedana["tree"],
        tedpca=tedana["tedpca"],
        figures=tedana["figures"],
        n_threads=smk.threads,
    )
    components = result.components
    log.info(
        "%s %s: %d volumes, %d components (%d accepted, %d rejected) in %.1f s",
        run["key"],
        result.mode,
        result.n_volumes,
        components["n_components"],
        components["n_accepted"],
        components["n_rejected"],
        result.runtime_s,
    )
