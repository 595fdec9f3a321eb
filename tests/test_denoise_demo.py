"""Evidence that denoising works on the demo cohort: the demo's artefacts change S0 (the
same fraction at every echo), and some of them no confound regressor captures, so ME-ICA
must recover the planted circuit better than optimal combination alone, through the real
path (native echoes -> tedana -> one interpolation into MNI -> cleaning)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tmstarget import bids, demo, simulate
from tmstarget.denoise import RunInput, TedanaSettings, clean_subject
from tmstarget.runprep import RunOutputs, prepare_run

SPEC = demo.DemoSpec(
    seed=7,
    clinical=simulate.ClinicalSpec(),
    imaging=simulate.ImagingSpec(voxel_size_mm=6, n_volumes=94, n_runs=1),
)


def demo_subject(root: Path, spec: demo.DemoSpec, number: int, target) -> dict[str, bids.Run]:
    """Write one demo subject (``demo._write_subject``) and find its runs as the workflow
    does."""
    template = simulate.load_template(spec.imaging.voxel_size_mm)
    demo._write_subject((root, spec, template, "01", number, target))
    (root / "dataset_description.json").write_text('{"Name": "x", "BIDSVersion": "1.10.0"}')
    fmriprep = root / "derivatives" / "fmriprep"
    (fmriprep / "dataset_description.json").write_text('{"Name": "x", "BIDSVersion": "1.10.0"}')
    query = bids.Query(bold_space=spec.layout)
    return {run.key: run for run in bids.discover_runs(root, fmriprep, query)["01"]}


def prepared(run: bids.Run, folder: Path, mode: str, voxel_mm: float) -> RunInput:
    """A run through tedana (``mode``) and the resampling, ready for cleaning."""
    outputs = RunOutputs(
        tedana_dir=folder / "tedana",
        bold=folder / "bold.nii.gz",
        optcom=folder / "optcom.nii.gz",
        mask=folder / "mask.nii.gz",
    )
    summary = prepare_run(
        run.echo_files,
        run.echo_times_s,
        run.mask_file,
        outputs,
        repetition_time_s=run.repetition_time_s,
        n_dummy=run.n_dummy,
        xfm_files=run.resample_xfms,
        grid_voxel_mm=voxel_mm,
        tedana=TedanaSettings(mode=mode),
    )
    return RunInput(
        label=run.key,
        bold=outputs.bold,
        reference=outputs.optcom,
        mask=outputs.mask,
        confounds=run.confounds_file,
        repetition_time_s=run.repetition_time_s,
        mode=summary["mode"],
        components=summary["components"],
        n_dummy=run.n_dummy,
    )


@pytest.fixture(scope="module")
def correlations(tmp_path_factory):
    """Per demo subject and mode: r of the cleaned series at the planted DLPFC site (an
    MNI voxel of the analysis grid) with the planted circuit signal c(t)."""
    template = simulate.load_template(SPEC.imaging.voxel_size_mm)
    result = {"me-ica": [], "optcom": []}
    for number in (1, 2, 3):
        root = tmp_path_factory.mktemp(f"subject{number}")
        target = simulate.draw_targets(template, 1, 7.5, np.random.default_rng(number))[0]
        run = demo_subject(root, SPEC, number, target)["task-rest_run-1"]
        latent = next((root / "derivatives" / "simulation").rglob("*_desc-latent_timeseries.tsv"))
        circuit = pd.read_csv(latent, sep="\t")["circuit"].to_numpy()[run.n_dummy :]
        for mode in result:
            cleaned = clean_subject("01", [prepared(run, root / mode, mode, 6.0)])
            series = np.asarray(cleaned.img.dataobj)[tuple(target)]
            result[mode].append(np.corrcoef(series, circuit)[0, 1])
    return {mode: np.array(values) for mode, values in result.items()}


def test_me_ica_recovers_the_planted_circuit_better_than_optimal_combination(correlations):
    me_ica, optcom = correlations["me-ica"], correlations["optcom"]
    assert (me_ica > 0.4).all(), me_ica  # the patch follows +c(t)
    assert (me_ica > optcom).all(), (me_ica, optcom)
    assert me_ica.mean() - optcom.mean() > 0.1, (me_ica, optcom)


@pytest.mark.parametrize("dummies_already_dropped", [False, True])
def test_denoised_input_enters_at_cleaning(tmp_path, dummies_already_dropped):
    """Data denoised elsewhere and already in the template are cleaned as they are;
    whether their dummy volumes are gone is read from their length against the
    confounds."""
    import nibabel as nib

    spec = demo.DemoSpec(
        seed=SPEC.seed, clinical=SPEC.clinical, imaging=SPEC.imaging, layout="template"
    )
    template = simulate.load_template(spec.imaging.voxel_size_mm)
    target = simulate.draw_targets(template, 1, 7.5, np.random.default_rng(9))[0]
    run = demo_subject(tmp_path, spec, 9, target)["task-rest_run-1"]
    echo = nib.load(run.echo_files[1])
    if dummies_already_dropped:
        echo = echo.slicer[..., run.n_dummy :]
    denoised = tmp_path / "denoised.nii.gz"
    echo.to_filename(denoised)
    cleaned = clean_subject(
        "01",
        [
            RunInput(
                label=run.key,
                bold=denoised,
                reference=None,
                mask=run.mask_file,
                confounds=run.confounds_file,
                repetition_time_s=2.0,
                mode="external",
                dummies_dropped=None,
            )
        ],
    )
    assert cleaned.img.shape[3] == spec.imaging.n_volumes - 4
    assert cleaned.qc.run_modes == ["external"]
