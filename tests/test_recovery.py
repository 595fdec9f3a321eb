"""Planted-target recovery: the circuit searchlight with the default (surrogate) circuit map
and search region finds the DLPFC sites planted by the demo simulator. Criterion of the
targets issue: median error at most one voxel, at least 90% within two voxels.

The fast test runs the simulator's BOLD model (every BOLD source, thermal noise, no S0
artefacts: what denoising should leave); the slow one runs demo subjects through the real
preprocessing (tedana ME-ICA, nuisance cleaning, smoothing) first."""

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from tmstarget import atlas, circuits, demo, simulate
from tmstarget.denoise import RunInput, clean_subject, run_tedana
from tmstarget.stimulation import SubjectMaps, TargetingSettings, find_target, load_subject

VOXEL_MM = 6.0


def _errors_in_voxels(found_mm: list, planted_mm: np.ndarray) -> np.ndarray:
    return np.linalg.norm(np.asarray(found_mm) - planted_mm, axis=1) / VOXEL_MM


def _assert_recovered(errors: np.ndarray) -> None:
    assert np.median(errors) <= 1.0 + 1e-9, errors
    assert np.mean(errors <= 2.0 + 1e-9) >= 0.9, errors


def test_searchlight_recovers_targets_planted_in_simulated_bold():
    template = simulate.load_template(VOXEL_MM)
    spec = simulate.ImagingSpec(
        voxel_size_mm=VOXEL_MM,
        n_volumes=184,
        artefact_percent=0.0,
        s0_noise_percent=0.0,
        n_non_steady_state=0,
    )
    rng = np.random.default_rng(2026)
    planted = simulate.draw_targets(template, 20, 7.5, rng)
    brain = nib.Nifti1Image(template.brain.astype(np.uint8), template.affine)
    settings = TargetingSettings()
    # The defaults a user gets without a circuit map or search mask of their own.
    circuit_map = circuits.load_circuit_map(None, brain)
    search_mask = circuits.load_search_mask(None, brain)
    found = []
    for target in planted:
        model = simulate.subject_model(spec, template, target, rng)
        run = simulate.simulate_run(spec, model, rng)
        data = run.echoes[1].reshape(-1, spec.n_volumes)[template.brain.ravel()].T
        data = data - data.mean(0)
        # Global signal regression, as the cleaning step does.
        grey_mean = data[:, model.grey].mean(1, keepdims=True)
        data = data - grey_mean @ np.linalg.lstsq(grey_mean, data, rcond=None)[0]
        timeseries = (data / np.where(data.std(0) > 0, data.std(0), 1)).astype(np.float32)
        maps = SubjectMaps(timeseries, brain, circuit_map, search_mask, atlas.sgacc_seed(6.0))
        found.append(find_target(maps, "circuit_searchlight", settings).target.mm)
    planted_mm = atlas.voxel_centres_mm(template.affine, planted)
    _assert_recovered(_errors_in_voxels(found, planted_mm))


@pytest.mark.slow
def test_demo_subjects_recovered_after_preprocessing(tmp_path):
    """Ten subjects of the default demo cohort (6 mm, two runs of 94 volumes), through
    tedana, cleaning and smoothing, then the searchlight."""
    spec = demo.DemoSpec(
        seed=2026,
        clinical=simulate.ClinicalSpec(),
        imaging=simulate.ImagingSpec(voxel_size_mm=VOXEL_MM, n_runs=2, n_volumes=94),
    )
    template = simulate.load_template(VOXEL_MM)
    planted = simulate.draw_targets(template, 10, 7.5, np.random.default_rng(5))
    settings = TargetingSettings()
    found = []
    for number, target in enumerate(planted, start=1):
        root = tmp_path / f"subject{number}"
        demo._write_subject((root, spec, template, "01", number, target))
        func = root / "derivatives" / "fmriprep" / "sub-01" / "func"
        runs = []
        for run in ("1", "2"):
            echoes = sorted(func.glob(f"*_run-{run}_echo-*_bold.nii.gz"))
            mask = next(func.glob(f"*_run-{run}_*_mask.nii.gz"))
            confounds = next(func.glob(f"*_run-{run}_desc-confounds_timeseries.tsv"))
            tedana = run_tedana(
                echoes, spec.imaging.echo_times_s, mask, root / f"tedana{run}", figures=False
            )
            runs.append(
                RunInput(
                    label=f"run-{run}",
                    bold=tedana.bold,
                    reference=tedana.optcom,
                    mask=mask,
                    confounds=confounds,
                    repetition_time_s=spec.imaging.repetition_time_s,
                    mode=tedana.mode,
                )
            )
        cleaned = clean_subject("01", runs)
        cleaned.img.to_filename(root / "clean.nii.gz")
        cleaned.mask.to_filename(root / "mask.nii.gz")
        maps = load_subject(root / "clean.nii.gz", root / "mask.nii.gz", settings)
        found.append(find_target(maps, "circuit_searchlight", settings).target.mm)
    planted_mm = atlas.voxel_centres_mm(template.affine, planted)
    errors = _errors_in_voxels(found, planted_mm)
    pd.Series(errors).to_csv(tmp_path / "errors.tsv", sep="\t")
    _assert_recovered(errors)
