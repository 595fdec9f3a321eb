"""Evidence that denoising works on the demo cohort: the demo's artefacts change S0 (the
same fraction at every echo), and some of them no confound regressor captures, so ME-ICA
must recover the planted circuit better than optimal combination alone."""

import numpy as np
import pandas as pd
import pytest

from tmstarget import demo, simulate
from tmstarget.denoise import RunInput, clean_subject, run_tedana

SPEC = demo.DemoSpec(
    seed=7,
    clinical=simulate.ClinicalSpec(),
    imaging=simulate.ImagingSpec(voxel_size_mm=6, n_volumes=94, n_runs=1),
)


@pytest.fixture(scope="module")
def correlations(tmp_path_factory):
    """Per demo subject and mode: r of the cleaned DLPFC patch centre with the planted
    circuit signal c(t) (the sgACC follows -c(t))."""
    template = simulate.load_template(SPEC.imaging.voxel_size_mm)
    result = {"me-ica": [], "optcom": []}
    for number in (1, 2, 3):
        root = tmp_path_factory.mktemp(f"subject{number}")
        target = simulate.draw_targets(template, 1, 7.5, np.random.default_rng(number))[0]
        demo._write_subject((root, SPEC, template, "01", number, target))
        func = root / "derivatives" / "fmriprep" / "sub-01" / "func"
        echoes = sorted(func.glob("*_echo-*_bold.nii.gz"))
        mask = next(func.glob("*_mask.nii.gz"))
        confounds = next(func.glob("*_desc-confounds_timeseries.tsv"))
        latent = next((root / "derivatives" / "simulation").rglob("*_desc-latent_timeseries.tsv"))
        circuit = pd.read_csv(latent, sep="\t")["circuit"].to_numpy()[4:]
        for mode in result:
            tedana = run_tedana(
                echoes, SPEC.imaging.echo_times_s, mask, root / mode, mode=mode, figures=False
            )
            run = RunInput(
                label="run-1",
                bold=tedana.bold,
                reference=tedana.optcom,
                mask=mask,
                confounds=confounds,
                repetition_time_s=SPEC.imaging.repetition_time_s,
                mode=tedana.mode,
            )
            cleaned = np.asarray(clean_subject("01", [run]).img.dataobj)
            result[mode].append(np.corrcoef(cleaned[tuple(target)], circuit)[0, 1])
    return {mode: np.array(values) for mode, values in result.items()}


def test_me_ica_recovers_the_planted_circuit_better_than_optimal_combination(correlations):
    me_ica, optcom = correlations["me-ica"], correlations["optcom"]
    assert (me_ica > 0.4).all()  # the patch follows +c(t), hence anticorrelates with sgACC
    assert (me_ica > optcom).all(), (me_ica, optcom)
    assert me_ica.mean() - optcom.mean() > 0.1, (me_ica, optcom)


@pytest.mark.parametrize("dummies_already_dropped", [False, True])
def test_denoised_input_enters_at_cleaning(tmp_path, dummies_already_dropped):
    """Data denoised elsewhere are cleaned as they are; whether their dummy volumes are
    gone is read from their length against the confounds."""
    import nibabel as nib

    template = simulate.load_template(SPEC.imaging.voxel_size_mm)
    target = simulate.draw_targets(template, 1, 7.5, np.random.default_rng(9))[0]
    demo._write_subject((tmp_path, SPEC, template, "01", 9, target))
    func = tmp_path / "derivatives" / "fmriprep" / "sub-01" / "func"
    echo = nib.load(next(func.glob("*_echo-2_*_bold.nii.gz")))
    if dummies_already_dropped:
        echo = echo.slicer[..., 4:]
    denoised = tmp_path / "denoised.nii.gz"
    echo.to_filename(denoised)
    run = RunInput(
        label="run-1",
        bold=denoised,
        reference=None,
        mask=next(func.glob("*_mask.nii.gz")),
        confounds=next(func.glob("*_desc-confounds_timeseries.tsv")),
        repetition_time_s=2.0,
        mode="external",
        dummies_dropped=None,
    )
    result = clean_subject("01", [run])
    assert result.img.shape[3] == SPEC.imaging.n_volumes - 4
    assert result.qc.run_modes == ["external"]
