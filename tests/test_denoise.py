"""Tests of tmstarget.denoise: validation, tedana, cleaning, smoothing, QC.

The key evidence is ground truth planted in a small simulated multi-echo run: a circuit
signal c(t) drives an "sgACC" region (-c) and a "DLPFC" patch (+c) through R2* (BOLD,
scales with TE), while S0-type artefacts (same fraction at every echo) corrupt both. ME-ICA
should recover the sgACC-DLPFC anticorrelation better than optimal combination alone.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from scipy import ndimage, signal

from tmstarget import denoise
from tmstarget.denoise import PreprocessingError

TES_S = (0.014, 0.030, 0.046)
TR_S = 2.0
N_DUMMY = 4


def _slow_series(rng, n, cutoff_hz, tr_s=TR_S):
    x = rng.standard_normal(n + 40)
    b, a = signal.butter(2, cutoff_hz / (0.5 / tr_s))
    x = signal.filtfilt(b, a, x)[20:-20]
    return (x - x.mean()) / x.std()


def with_fmriprep_expansions(table: pd.DataFrame) -> pd.DataFrame:
    """Add the expansions fMRIPrep writes for motion and tissue signals
    (``docs/outputs.rst``: ``_derivative1`` backward differences, n/a in the first row,
    ``_power2`` and ``_derivative1_power2``)."""
    table = table.copy()
    for name in [*denoise.MOTION_COLUMNS, *denoise.TISSUE_COLUMNS]:
        if name in table:
            derivative = table[name].diff()
            table[f"{name}_derivative1"] = derivative
            table[f"{name}_power2"] = table[name] ** 2
            table[f"{name}_derivative1_power2"] = derivative**2
    return table


def _ball(shape, centre, radius):
    grid = np.indices(shape).T
    return (np.sqrt(((grid - np.asarray(centre)) ** 2).sum(-1)) <= radius).T


def simulate_run(
    seed=0,
    shape=(12, 12, 12),
    n_vols=124,
    bold_pct=1.0,
    artefact_pct=3.0,
    noise_pct=0.5,
    n_artefacts=3,
    artefact_smooth=1.5,
    n_networks=2,
    voxel_mm=4.0,
):
    """Mono-exponential multi-echo run: S = S0 (1 + a(t)) exp(-TE (R2* + dR2*(t))) + noise.

    BOLD changes R2* (its signal change grows with TE); artefacts a(t) change S0 (the same
    fraction at every echo). The first N_DUMMY volumes carry a non-steady-state excess.
    """
    rng = np.random.default_rng(seed)
    grid = np.indices(shape).astype(float)
    centre = (np.array(shape) - 1) / 2
    radius = ((grid.T - centre) / (np.array(shape) / 2 - 1)).T
    mask = np.sqrt((radius**2).sum(0)) <= 1.0
    sgacc = _ball(shape, centre + [0, 3, -3], 2.0) & mask
    dlpfc = _ball(shape, centre + [-4, 2, 3], 2.0) & mask
    circuit = _slow_series(rng, n_vols, 0.05)
    # dR2* (1/s) giving bold_pct % signal change at TE = 30 ms
    k = bold_pct / 100 / 0.030
    dr2s = np.zeros(shape + (n_vols,))
    dr2s[dlpfc] -= k * circuit
    dr2s[sgacc] += k * circuit
    for _ in range(n_networks):
        field = ndimage.gaussian_filter(rng.standard_normal(shape), 2.0)
        region = (field > np.quantile(field[mask], 0.85)) & mask & ~dlpfc & ~sgacc
        dr2s[region] -= k * _slow_series(rng, n_vols, 0.05)
    artefact = np.zeros(shape + (n_vols,))
    for _ in range(n_artefacts):
        field = ndimage.gaussian_filter(rng.standard_normal(shape), artefact_smooth)
        field /= np.abs(field[mask]).max()
        artefact += artefact_pct / 100 * field[..., None] * _slow_series(rng, n_vols, 0.1)
    steady = np.ones(n_vols)
    steady[:N_DUMMY] += 0.5 * np.exp(-np.arange(N_DUMMY))
    s0 = 1000.0 * mask
    r2s = 1 / 0.035
    echoes = []
    for te in TES_S:
        s = s0[..., None] * steady * (1 + artefact) * np.exp(-te * (r2s + dr2s))
        s += noise_pct * 10 * rng.standard_normal(s.shape)
        echoes.append(s.astype(np.float32))
    affine = np.diag([voxel_mm, voxel_mm, voxel_mm, 1.0])
    affine[:3, 3] = -voxel_mm * centre
    motion = np.cumsum(0.02 * rng.standard_normal((n_vols, 6)), axis=0)
    motion[:, 3:] /= 50.0  # radians
    confounds = pd.DataFrame(motion, columns=list(denoise.MOTION_COLUMNS))
    fd = np.abs(np.diff(motion * [1, 1, 1, 50, 50, 50], axis=0)).sum(1)
    confounds["framewise_displacement"] = np.r_[np.nan, fd]
    echo2 = echoes[1]
    confounds["global_signal"] = echo2[mask].mean(0)
    wm = _ball(shape, centre + [3, -3, 0], 1.5) & mask
    csf = _ball(shape, centre + [2, 0, -2], 1.0) & mask
    confounds["white_matter"] = echo2[wm].mean(0)
    confounds["csf"] = echo2[csf].mean(0)
    confounds = with_fmriprep_expansions(confounds)
    return {
        "echoes": echoes,
        "mask": mask,
        "affine": affine,
        "sgacc": sgacc,
        "dlpfc": dlpfc,
        "circuit": circuit,
        "confounds": confounds,
    }


def _img(data, affine, tr_s=TR_S):
    img = nib.Nifti1Image(np.asarray(data, dtype=np.float32), affine)
    if np.ndim(data) == 4:
        img.header.set_zooms(tuple(np.sqrt((affine[:3, :3] ** 2).sum(0))) + (tr_s,))
    return img


def write_run(sim, folder: Path, echoes=None):
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for i, data in enumerate(sim["echoes"] if echoes is None else echoes):
        path = folder / f"sub-01_task-rest_echo-{i + 1}_bold.nii.gz"
        _img(data, sim["affine"]).to_filename(path)
        files.append(path)
    mask_file = folder / "sub-01_task-rest_desc-brain_mask.nii.gz"
    nib.Nifti1Image(sim["mask"].astype(np.uint8), sim["affine"]).to_filename(mask_file)
    return files, mask_file


@pytest.fixture(scope="module")
def sim():
    return simulate_run(seed=0)


@pytest.fixture(scope="module")
def run_files(sim, tmp_path_factory):
    return write_run(sim, tmp_path_factory.mktemp("run"))


@pytest.fixture(scope="module")
def meica(run_files, tmp_path_factory):
    files, mask_file = run_files
    out = tmp_path_factory.mktemp("tedana") / "sub-01_run-1"
    return denoise.run_tedana(
        files, TES_S, mask_file, out, denoise.TedanaSettings(figures=False), n_dummy=N_DUMMY
    )


def _region_corr(img, sim):
    data = np.asarray(nib.load(img).dataobj if isinstance(img, str | Path) else img.dataobj)
    return float(np.corrcoef(data[sim["dlpfc"]].mean(0), data[sim["sgacc"]].mean(0))[0, 1])


def _cleaned(bold, result, sim, mask_file, **cleaning):
    return denoise.postprocess_run(
        bold,
        mask_file,
        sim["confounds"],
        TR_S,
        denoise.CleaningSettings(**cleaning),
        reference_img=result.optcom,
        mode=result.mode,
        components=result.components,
        n_dummy=N_DUMMY,
        image_dummies_dropped=True,
    )


# --- the key evidence ----------------------------------------------------------------


def test_meica_recovers_planted_circuit_better_than_optcom(meica, sim, run_files):
    """S0-type artefacts mask the sgACC-DLPFC anticorrelation; ME-ICA removes them."""
    _, mask_file = run_files
    circuit = sim["circuit"][N_DUMMY:]
    dlpfc = {}
    for name, bold in (("optcom", meica.optcom), ("meica", meica.bold)):
        data = nib.load(bold).get_fdata()
        dlpfc[name] = np.corrcoef(data[sim["dlpfc"]].mean(0), circuit)[0, 1]
    # tedana's own outputs: the DLPFC patch follows the planted circuit signal more closely
    assert dlpfc["meica"] > dlpfc["optcom"] + 0.1
    assert dlpfc["meica"] > 0.8
    # after the whole cleaning (regression + low-pass + smoothing), patch vs sgACC region
    r_optcom = _region_corr(_cleaned(meica.optcom, meica, sim, mask_file).img, sim)
    r_meica = _region_corr(_cleaned(meica.bold, meica, sim, mask_file).img, sim)
    assert r_meica < -0.9
    assert r_meica < r_optcom - 0.1


def test_meica_advantage_holds_across_simulations(tmp_path):
    """Five independent simulated runs: ME-ICA never worse, better on average."""
    gains = []
    for seed in range(1, 6):
        sim = simulate_run(seed=seed)
        files, mask_file = write_run(sim, tmp_path / f"in{seed}")
        result = denoise.run_tedana(
            files,
            TES_S,
            mask_file,
            tmp_path / f"out{seed}",
            denoise.TedanaSettings(figures=False),
            n_dummy=N_DUMMY,
        )
        r_optcom = _region_corr(_cleaned(result.optcom, result, sim, mask_file).img, sim)
        r_meica = _region_corr(_cleaned(result.bold, result, sim, mask_file).img, sim)
        assert r_meica < r_optcom + 0.01
        assert r_meica < -0.9
        gains.append(r_optcom - r_meica)
    assert np.mean(gains) > 0.1


# --- tedana wrapper ------------------------------------------------------------------


def test_run_tedana_outputs(meica):
    out = meica.bold.parent
    assert meica.mode == "me-ica"
    assert meica.bold.name == "desc-denoised_bold.nii.gz"
    assert meica.optcom.name == "desc-optcom_bold.nii.gz"
    assert meica.metrics.name == "desc-tedana_metrics.tsv"
    assert meica.n_volumes == 120
    assert nib.load(meica.bold).shape[3] == 120
    assert any(meica.figures.glob("*.png"))  # PCA plots; component figures need figures=True
    summary = meica.components
    assert summary["n_accepted"] >= 1 and summary["n_rejected"] >= 1
    assert summary["n_accepted"] + summary["n_rejected"] == summary["n_components"]
    assert len(summary["components"]) == summary["n_components"]
    assert 0 < summary["varex_accepted_pct"] + summary["varex_rejected_pct"] <= 100.5
    saved = json.loads((out / denoise.SUMMARY_NAME).read_text())
    assert saved["echo_times_s"] == list(TES_S)
    assert saved["ica_method"] == "fastica" and saved["seed"] == 42
    assert denoise.read_tedana_result(out).components == summary
    assert not list(out.parent.glob(".*partial"))


def test_run_tedana_optcom_only(run_files, tmp_path):
    files, mask_file = run_files
    optcom = denoise.TedanaSettings(mode="optcom")
    result = denoise.run_tedana(files, TES_S, mask_file, tmp_path / "oc", optcom)
    assert result.mode == "optcom"
    assert result.bold == result.optcom
    assert result.metrics is None and result.components["n_components"] == 0
    assert nib.load(result.bold).shape[3] == 120
    assert not (tmp_path / "oc" / "desc-denoised_bold.nii.gz").exists()


def test_run_tedana_single_echo_skips_tedana(run_files, tmp_path, caplog):
    files, mask_file = run_files
    single = tmp_path / "sub-01_task-rest_bold.nii.gz"  # no echo entity: a single-echo run
    single.write_bytes(files[1].read_bytes())
    with caplog.at_level(logging.WARNING, logger="tmstarget.denoise"):
        result = denoise.run_tedana([single], [TES_S[1]], mask_file, tmp_path / "se")
    assert "single-echo" in caplog.text and "tedana skipped" in caplog.text
    assert result.mode == "single-echo"
    assert result.bold.name == "desc-singleecho_bold.nii.gz"
    assert nib.load(result.bold).shape[3] == 120
    assert result.components["n_components"] == 0


def test_run_tedana_bad_input_leaves_no_output(run_files, tmp_path):
    files, mask_file = run_files
    out = tmp_path / "bad"
    with pytest.raises(PreprocessingError, match="increase"):
        denoise.run_tedana(files, (0.030, 0.014, 0.046), mask_file, out)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_run_tedana_refuses_to_overwrite(meica, run_files):
    files, mask_file = run_files
    with pytest.raises(FileExistsError):
        denoise.run_tedana(
            files, TES_S, mask_file, meica.bold.parent, denoise.TedanaSettings(mode="optcom")
        )


# --- validation ----------------------------------------------------------------------


def _tiny_run(n_vols=60, n_echoes=3, shape=(4, 4, 4)):
    rng = np.random.default_rng(0)
    affine = np.diag([3.0, 3.0, 3.0, 1.0])
    echoes = [
        _img(1000 * np.exp(-te / 0.035) + rng.standard_normal(shape + (n_vols,)), affine)
        for te in TES_S[:n_echoes]
    ]
    mask = nib.Nifti1Image(np.ones(shape, np.uint8), affine)
    confounds = pd.DataFrame({"global_signal": np.ones(n_vols)})
    return echoes, mask, confounds


def test_validate_run_accepts_good_run():
    echoes, mask, confounds = _tiny_run()
    info = denoise.validate_run(echoes, TES_S, mask, confounds, n_dummy=4, min_volumes=50)
    assert (info.n_echoes, info.n_volumes, info.shape) == (3, 60, (4, 4, 4))
    assert info.tr_header_s == TR_S and info.n_mask_voxels == 64


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("missing_file", r"echo 2 \(sub-01_echo-2_bold.nii.gz\) is missing: file not found"),
        ("echo_gap", r"echo \[2\] is missing"),
        ("echo_order", r"must be in echo order"),
        ("no_echoes", r"no echo images"),
        ("te_count", r"3 echo files but 2 echo times"),
        ("te_none", r"EchoTime is missing for echo 2"),
        ("te_none_all", r"3 echoes but no echo times"),
        ("te_order", r"echo times must increase with echo number: echo 2 has 0.03 s, echo 3"),
        ("te_ms", r"looks like milliseconds"),
        ("shape", r"echo 3 has shape \(4, 4, 5, 60\) but echo 1 has \(4, 4, 4, 60\)"),
        ("n_vols", r"echo 2 has shape \(4, 4, 4, 59\)"),
        ("affine", r"echo 2 has a different affine from echo 1"),
        ("short", r"after dropping 4 dummy volumes 46 remain, fewer than the minimum of 50"),
        ("nan", r"echo 3 contains 2 NaN/inf values in 1 voxels"),
        ("confounds", r"confounds have 59 rows but the run has 60 volumes"),
        ("mask_shape", r"brain mask: shape \(4, 4, 5\)"),
        ("all_zero", r"echo 2 \(sub-01_echo-2_bold.nii.gz\): every brain voxel is 0"),
        ("flat", r"echo 1 \(sub-01_echo-1_bold.nii.gz\): no brain voxel changes over time"),
        ("truncated", r"echo 3 \(sub-01_echo-3_bold.nii.gz\): cannot read its data"),
        ("mask_empty", r"brain mask is empty"),
        ("not_4d", r"echo 1 must be 4D"),
        ("tr_zero", r"TR 0.0 in its header"),
    ],
)
def test_validate_run_errors(change, message, tmp_path):
    echoes, mask, confounds = _tiny_run(n_vols=50 if change == "short" else 60)
    tes = list(TES_S)
    affine = echoes[0].affine
    if change == "all_zero":
        echoes[1] = _img(np.zeros(echoes[1].shape), affine)
    elif change == "flat":
        echoes[0] = _img(np.full(echoes[0].shape, 100.0), affine)
    if change in ("missing_file", "echo_gap", "echo_order", "all_zero", "flat", "truncated"):
        paths = []
        for i, img in enumerate(echoes):
            paths.append(tmp_path / f"sub-01_echo-{i + 1}_bold.nii.gz")
            img.to_filename(paths[-1])
        if change == "missing_file":
            paths[1].unlink()
        elif change == "truncated":
            paths[2].write_bytes(paths[2].read_bytes()[:-200])
        elif change == "echo_gap":
            paths, tes = [paths[0], paths[2]], tes[:2]
        elif change == "echo_order":
            paths = [paths[1], paths[0], paths[2]]
        echoes = paths
    elif change == "no_echoes":
        echoes = []
    elif change == "te_count":
        tes = tes[:2]
    elif change == "te_none":
        tes[1] = None
    elif change == "te_none_all":
        tes = None
    elif change == "te_order":
        tes = [0.014, 0.030, 0.025]
    elif change == "te_ms":
        tes = [14.0, 30.0, 46.0]
    elif change == "shape":
        echoes[2] = _img(np.ones((4, 4, 5, 60)), affine)
    elif change == "n_vols":
        echoes[1] = _img(np.ones((4, 4, 4, 59)), affine)
    elif change == "affine":
        shifted = affine.copy()
        shifted[0, 3] += 1.5
        echoes[1] = _img(echoes[1].get_fdata(), shifted)
    elif change == "nan":
        data = echoes[2].get_fdata()
        data[1, 1, 1, [3, 7]] = np.nan
        echoes[2] = _img(data, affine)
    elif change == "confounds":
        confounds = confounds.iloc[1:]
    elif change == "mask_shape":
        mask = nib.Nifti1Image(np.ones((4, 4, 5), np.uint8), affine)
    elif change == "mask_empty":
        mask = nib.Nifti1Image(np.zeros((4, 4, 4), np.uint8), affine)
    elif change == "not_4d":
        echoes[0] = nib.Nifti1Image(np.ones((4, 4, 4), np.float32), affine)
    elif change == "tr_zero":
        echoes[0].header.set_zooms((3.0, 3.0, 3.0, 0.0))
    with pytest.raises(PreprocessingError, match=message):
        denoise.validate_run(echoes, tes, mask, confounds, n_dummy=4, min_volumes=50)


def test_single_echo_needs_no_echo_time():
    echoes, mask, _ = _tiny_run(n_echoes=1)
    assert denoise.validate_run(echoes, None, mask).n_echoes == 1


def test_drop_dummy_volumes():
    echoes, _, _ = _tiny_run()
    trimmed = denoise.drop_dummy_volumes(echoes[0], 4)
    assert trimmed.shape == (4, 4, 4, 56)
    np.testing.assert_array_equal(trimmed.get_fdata(), echoes[0].get_fdata()[..., 4:])
    table = pd.DataFrame({"framewise_displacement": [np.nan, 0.1, 0.2, 0.3, 0.4, 0.5]})
    out = denoise.drop_dummy_volumes(table, 4)
    assert list(out.index) == [0, 1] and list(out["framewise_displacement"]) == [0.4, 0.5]
    with pytest.raises(PreprocessingError, match="cannot drop 6 rows"):
        denoise.drop_dummy_volumes(table, 6)


# --- confounds and cleaning ----------------------------------------------------------


def _confounds(n_vols, rng):
    motion = ndimage.gaussian_filter1d(0.1 * rng.standard_normal((n_vols, 6)), 1.0, axis=0)
    table = pd.DataFrame(motion, columns=list(denoise.MOTION_COLUMNS))
    for name in denoise.TISSUE_COLUMNS:
        table[name] = rng.standard_normal(n_vols)
    return with_fmriprep_expansions(table)


def test_nuisance_regressors_design():
    rng = np.random.default_rng(0)
    table = _confounds(20, rng)
    design = denoise.nuisance_regressors(table)
    assert design.shape == (20, 15)
    # fMRIPrep's first-row n/a of a derivative is 0 (nothing before the first volume)
    assert design["trans_x_derivative1"].iloc[0] == 0.0
    np.testing.assert_allclose(design["rot_z_derivative1"].iloc[1:], np.diff(table["rot_z"]))
    with pytest.raises(PreprocessingError, match=r"lack column\(s\) \['csf'\]"):
        denoise.nuisance_regressors(table.drop(columns="csf"))
    table.loc[5, "white_matter"] = np.nan
    with pytest.raises(PreprocessingError, match="white_matter in run.tsv has missing"):
        denoise.nuisance_regressors(table, source="run.tsv")


def test_framewise_displacement_column_and_power_formula():
    table = pd.DataFrame({"framewise_displacement": [np.nan, 0.2, 0.7]})
    np.testing.assert_allclose(denoise.framewise_displacement(table), [0, 0.2, 0.7])
    motion = np.zeros((3, 6))
    motion[1, 0] = 0.5  # mm
    motion[2, 3] = 0.01  # rad -> 0.5 mm arc at 50 mm
    table = pd.DataFrame(motion, columns=list(denoise.MOTION_COLUMNS))
    np.testing.assert_allclose(denoise.framewise_displacement(table), [0, 0.5, 1.0])


def _voxel_run(series, tr_s=TR_S):
    """4D image of n voxels in a row (1 x 1 x n), all in the mask."""
    data = np.asarray(series, np.float32)[None, None]
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    return _img(data, affine, tr_s), nib.Nifti1Image(np.ones(data.shape[:3], np.uint8), affine)


def test_clean_run_removes_motion_artefact_and_high_frequencies():
    rng = np.random.default_rng(3)
    n = 200
    t = np.arange(n) * TR_S
    table = _confounds(n, rng)
    slow = np.sin(2 * np.pi * 0.02 * t)
    fast = np.sin(2 * np.pi * 0.2 * t)
    motion = (table["trans_x"] - table["trans_x"].mean()).to_numpy()
    series = 100 + slow[:, None] + 0.1 * rng.standard_normal((n, 4))
    series[:, 0] += 5 * motion  # voxel 0: motion artefact
    series[:, 1] += 2 * fast  # voxel 1: 0.2 Hz oscillation
    series[:, 3] = 100 + slow  # voxel 3: the pure signal
    img, mask = _voxel_run(series.T)
    result = denoise.clean_run(img, mask, table, TR_S)
    out = result.img.get_fdata()[0, 0]  # voxels x time
    assert out.shape == (4, n) and result.kept.all()
    # Regressors filtered to < 0.08 Hz span part of any slow signal, so the truth to
    # recover is what cleaning leaves of the pure signal (voxel 3), not the sine itself.
    truth = out[3]
    assert np.corrcoef(truth, slow)[0, 1] > 0.7
    assert abs(np.corrcoef(out[0], motion)[0, 1]) < 0.05
    assert np.corrcoef(out[0], truth)[0, 1] > 0.97
    spectrum = np.abs(np.fft.rfft(out[1])) ** 2
    freqs = np.fft.rfftfreq(n, TR_S)
    at_02 = spectrum[np.argmin(np.abs(freqs - 0.2))]
    at_002 = spectrum[np.argmin(np.abs(freqs - 0.02))]
    assert at_02 < 1e-3 * at_002
    assert np.corrcoef(out[1], truth)[0, 1] > 0.97
    # without the filter the 0.2 Hz oscillation stays
    unfiltered = denoise.clean_run(img, mask, table, TR_S, low_pass_hz=None).img.get_fdata()
    assert np.corrcoef(unfiltered[0, 0, 1], fast)[0, 1] > 0.5
    # a 0.05-0.1 Hz band-pass removes the 0.02 Hz sine as well
    band = denoise.clean_run(img, mask, table, TR_S, low_pass_hz=0.1, high_pass_hz=0.05)
    assert band.img.get_fdata()[0, 0, 3].std() < 0.1 * truth.std()


def test_clean_run_censoring_and_errors():
    rng = np.random.default_rng(4)
    n = 100
    table = _confounds(n, rng)
    table["framewise_displacement"] = np.r_[np.nan, np.full(n - 1, 0.1)]
    table.loc[[10, 11, 50], "framewise_displacement"] = 0.9
    img, mask = _voxel_run(100 + rng.standard_normal((3, n)))
    result = denoise.clean_run(img, mask, table, TR_S, censor_fd_mm=0.5)
    assert result.img.shape == (1, 1, 3, n - 3)
    assert list(np.flatnonzero(~result.kept)) == [10, 11, 50]
    with pytest.raises(PreprocessingError, match="leaves 97 of 100 volumes"):
        denoise.clean_run(img, mask, table, TR_S, censor_fd_mm=0.5, min_volumes=98)
    with pytest.raises(PreprocessingError, match="Nyquist frequency 0.25 Hz"):
        denoise.clean_run(img, mask, table, TR_S, low_pass_hz=0.3)
    with pytest.raises(PreprocessingError, match="must be below low_pass_hz"):
        denoise.clean_run(img, mask, table, TR_S, low_pass_hz=0.05, high_pass_hz=0.08)
    with pytest.raises(PreprocessingError, match="confounds have 99 rows but the run has 100"):
        denoise.clean_run(img, mask, table.iloc[1:], TR_S)


# --- smoothing, concatenation, tSNR --------------------------------------------------


def test_smooth_within_mask():
    shape = (15, 15, 15)
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    mask = _ball(shape, (7, 7, 7), 5)
    mask_img = nib.Nifti1Image(mask.astype(np.uint8), affine)
    constant = np.where(mask, 7.0, 0.0)[..., None].repeat(3, axis=3)
    smoothed = denoise.smooth_within_mask(_img(constant, affine), mask_img, 6.0).get_fdata()
    np.testing.assert_allclose(smoothed[mask], 7.0, rtol=1e-5)
    assert np.all(smoothed[~mask] == 0)
    # a bright outside-the-brain signal must not bleed in
    loud = constant.copy()
    loud[~mask] = 1e4
    bled = denoise.smooth_within_mask(_img(loud, affine), mask_img, 6.0).get_fdata()
    np.testing.assert_allclose(bled[mask], 7.0, rtol=1e-5)
    # noise is reduced, the FWHM follows the voxel size
    rng = np.random.default_rng(0)
    noise = rng.standard_normal(shape) * mask
    sd_6 = denoise.smooth_within_mask(_img(noise, affine), mask_img, 6.0).get_fdata()[mask].std()
    sd_2 = denoise.smooth_within_mask(_img(noise, affine), mask_img, 2.0).get_fdata()[mask].std()
    assert sd_6 < sd_2 < 0.9 * noise[mask].std()
    unsmoothed = denoise.smooth_within_mask(_img(noise, affine), mask_img, 0.0).get_fdata()
    np.testing.assert_allclose(unsmoothed, noise, atol=1e-6)


@pytest.mark.parametrize("how", ["zscore", "demean"])
def test_concatenate_runs(how):
    rng = np.random.default_rng(0)
    runs = [_voxel_run(50 + scale * rng.standard_normal((3, n))) for scale, n in ((1, 40), (5, 30))]
    joined = denoise.concatenate_runs([img for img, _ in runs], runs[0][1], how=how)
    data = joined.get_fdata()[0, 0]
    assert data.shape == (3, 70)
    for part, (img, _) in zip((data[:, :40], data[:, 40:]), runs, strict=True):
        np.testing.assert_allclose(part.mean(axis=1), 0, atol=1e-5)
        expected = 1.0 if how == "zscore" else img.get_fdata()[0, 0].std(axis=1)
        np.testing.assert_allclose(part.std(axis=1), expected, rtol=1e-4)
    with pytest.raises(PreprocessingError, match="how must be"):
        denoise.concatenate_runs([runs[0][0]], runs[0][1], how="psc")


def test_normalise_run_time_axis_and_constant_voxels():
    series = np.array([[1.0, 5.0], [3.0, 5.0], [5.0, 5.0]], np.float32)  # time x voxels
    zscored = denoise.normalise_run(series, "zscore", time_axis=0)
    assert zscored.dtype == np.float32
    np.testing.assert_allclose(zscored[:, 0], [-1.2247449, 0.0, 1.2247449], rtol=1e-6)
    np.testing.assert_array_equal(zscored[:, 1], 0.0)  # constant in time
    np.testing.assert_allclose(denoise.normalise_run(series.T, "demean")[0], [-2.0, 0.0, 2.0])
    with pytest.raises(PreprocessingError, match="how must be"):
        denoise.normalise_run(series, "psc")


def test_tsnr_known_value():
    series = np.tile([90.0, 110.0], 20)  # mean 100, SD 10
    img, mask = _voxel_run(np.stack([series, np.full(40, 5.0)]))
    values = denoise.tsnr(img, mask).get_fdata()[0, 0]
    np.testing.assert_allclose(values, [10.0, 0.0])


# --- run and group QC ----------------------------------------------------------------


def test_postprocess_run_qc(meica, sim, run_files):
    _, mask_file = run_files
    confounds = sim["confounds"].copy()
    confounds.loc[[30, 31], "framewise_displacement"] = 1.2
    cleaned = _cleaned(meica.bold, meica, sim, mask_file, censor_fd_mm=0.5)
    qc = cleaned.qc
    assert cleaned.img.shape[3] == 120  # simulated FD stays below 0.5 mm
    cleaned = _cleaned(
        meica.bold, meica, {**sim, "confounds": confounds}, mask_file, censor_fd_mm=0.5
    )
    qc = cleaned.qc
    assert cleaned.img.shape[3] == 118
    assert list(np.flatnonzero(~qc.kept)) == [26, 27]
    assert np.isnan(qc.carpet_after[:, 26]).all() and not np.isnan(qc.carpet_after[:, 25]).any()
    assert qc.carpet_before.shape == (int(sim["mask"].sum()), 120)
    assert qc.metrics["pct_censored"] == pytest.approx(100 * 2 / 120)
    assert qc.metrics["median_tsnr_after"] > qc.metrics["median_tsnr_before"] > 10
    assert qc.components == meica.components and qc.mode == "me-ica"
    outside = ~sim["mask"]
    assert np.all(cleaned.img.get_fdata()[outside] == 0)
    saved = denoise.RunQC.from_saved(qc.arrays(), json.loads(json.dumps(qc.info())))
    np.testing.assert_array_equal(saved.kept, qc.kept)
    assert saved.metrics == qc.metrics


def test_postprocess_run_entry_for_denoised_data(sim, run_files):
    """A dataset that is already denoised enters at cleaning with its dummies still on."""
    _, mask_file = run_files
    img = _img(sim["echoes"][1], sim["affine"])
    cleaned = denoise.postprocess_run(img, mask_file, sim["confounds"], TR_S, n_dummy=N_DUMMY)
    assert cleaned.img.shape[3] == 120
    with pytest.raises(PreprocessingError, match="confounds have 124 rows but the run has 128"):
        denoise.postprocess_run(
            img, mask_file, sim["confounds"], TR_S, n_dummy=N_DUMMY, image_dummies_dropped=True
        )


def _run_qc(mean_fd, n=100, censored=0, mode="me-ica"):
    fd = np.full(n, mean_fd, np.float32)
    kept = np.ones(n, bool)
    kept[:censored] = False
    tsnr_map = np.zeros((5, 5, 5), np.float32)
    tsnr_map[1:4, 1:4, 1:4] = 50
    return denoise.RunQC(
        mode=mode,
        tsnr_before=tsnr_map,
        tsnr_after=2 * tsnr_map,
        carpet_before=np.zeros((10, n), np.float32),
        carpet_after=np.zeros((10, n), np.float32),
        fd_mm=fd,
        kept=kept,
        metrics={},
    )


def test_combine_run_qc_and_flags():
    subject = denoise.combine_run_qc(
        "01", [_run_qc(0.1, 100), _run_qc(0.4, 50, censored=10, mode="single-echo")]
    )
    assert subject.run_lengths == [100, 50]
    assert subject.carpet_after.shape == (10, 150)
    assert subject.metrics["mean_fd_mm"] == pytest.approx((0.1 * 100 + 0.4 * 50) / 150)
    assert subject.metrics["pct_censored"] == pytest.approx(100 * 10 / 150)
    assert subject.metrics["median_tsnr_before"] == 50
    assert subject.metrics["n_single_echo_runs"] == 1
    # no thresholds, no verdict (the workflow judges in summarise_qc and the report)
    assert subject.flags is None and subject.thresholds is None
    judged = denoise.combine_run_qc(
        "01",
        [_run_qc(0.1, 100), _run_qc(0.4, 50, censored=10, mode="single-echo")],
        thresholds={},
    )
    assert judged.flags == [] and judged.thresholds == denoise.QC_THRESHOLDS
    table = pd.DataFrame(
        [
            {"subject": "01", **subject.metrics},
            {**subject.metrics, "subject": "02", "mean_fd_mm": 0.5, "median_tsnr_before": 5},
        ]
    )
    flagged = denoise.flag_qc(table)
    assert list(flagged["qc_pass"]) == [True, False]
    assert flagged.loc[1, "qc_flags"] == "mean_fd,tsnr"
    assert bool(flagged.loc[1, "flag_mean_fd"]) and not bool(flagged.loc[1, "flag_censored"])
    strict = denoise.flag_qc(table, {"max_pct_censored": 5.0})
    assert strict.loc[0, "qc_flags"] == "censored"


def test_run_tedana_figures_and_reproducibility(run_files, meica, tmp_path):
    """figures=True keeps tedana's static figures; the fixed seed gives identical output."""
    files, mask_file = run_files
    figures = denoise.TedanaSettings(figures=True)
    result = denoise.run_tedana(files, TES_S, mask_file, tmp_path / "figs", figures)
    assert len(list(result.figures.glob("comp_*.png"))) == result.components["n_components"]
    assert any(result.figures.glob("carpet_*.svg"))
    np.testing.assert_array_equal(
        nib.load(result.bold).get_fdata(), nib.load(meica.bold).get_fdata()
    )
    assert result.components == meica.components


def test_smooth_series_volume_blocks_equal_the_4d_normalised_convolution():
    """Smoothing the masked matrix a few volumes at a time gives, bit for bit, the
    normalised convolution of the whole 4D array (the kernel has no width in time)."""
    from scipy import ndimage

    rng = np.random.default_rng(7)
    affine = np.diag([3.0, 3.0, 3.0, 1.0])
    mask = rng.random((9, 8, 7)) > 0.3
    data = (rng.normal(size=(9, 8, 7, 11)) * mask[..., None]).astype(np.float32)
    sigma = 6.0 / (2.0 * np.sqrt(2.0 * np.log(2.0))) / 3.0
    norm = ndimage.gaussian_filter(mask.astype(float), sigma, mode="constant")
    whole = ndimage.gaussian_filter(data.astype(float), (sigma, sigma, sigma, 0.0), mode="constant")
    expected = (whole[mask] / norm[mask][:, None]).astype(np.float32).T
    series = np.ascontiguousarray(data[mask].T)
    for chunk in (1, 4, 16):
        got = denoise.smooth_series(series, mask, affine, 6.0, chunk_volumes=chunk)
        np.testing.assert_array_equal(got, expected)
    assert not np.shares_memory(got, series)
    in_place = denoise.smooth_series(series.copy(), mask, affine, 0.0, in_place=True)
    np.testing.assert_array_equal(in_place, series)
