"""The one interpolation into the analysis grid, the ITK files it reads, and the demo's
native spaces: known answers and independent implementations (nitransforms' resampling,
ITK's LPS conventions written by hand in test_native.py)."""

from __future__ import annotations

import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage
from test_native import LPS, write_itk_composite

from tmstarget import niftiio, resample, simulate_native, transforms


def _grid_points(affine: np.ndarray, shape) -> np.ndarray:
    ijk = np.indices(shape).reshape(3, -1).T
    return ijk @ affine[:3, :3].T + affine[:3, 3]


# ------------------------------------------------------------------------- ITK files


def test_composite_writer_matches_itk_lps_by_hand(tmp_path):
    """The package's RAS writer and a file laid out by hand in ITK's LPS terms (test_native)
    give the same point mapping: p -> A (p + d(p))."""
    affine_ras = np.array(
        [[0.98, -0.1, 0.05, 4.0], [0.12, 1.03, 0.0, -7.0], [0.0, 0.04, 0.97, 12.0], [0, 0, 0, 1]]
    )
    grid = np.diag([5.0, 5.0, 5.0, 1.0])
    grid[:3, 3] = [-60.0, -70.0, -50.0]
    shape = (25, 29, 23)
    xyz = _grid_points(grid, shape).reshape(*shape, 3)
    field = np.stack(
        [np.sin(xyz[..., 1] / 30), 0.5 * np.cos(xyz[..., 2] / 25), 0.02 * xyz[..., 0]], -1
    )
    ours = transforms.write_itk_composite(tmp_path / "ours.h5", affine_ras, field, grid)
    # by hand: LPS matrix and translation, field on an LPS grid with identity direction
    # (x and y run the other way), LPS vectors
    affine_lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ affine_ras @ np.diag([-1.0, -1.0, 1.0, 1.0])
    flipped = field[::-1, ::-1, :] * LPS
    origin_lps = (grid[:3, 3] + (np.array(shape) - 1) * [5.0, 5.0, 0.0]) * LPS
    by_hand = write_itk_composite(
        tmp_path / "hand.h5",
        affine_lps,
        field_lps=flipped,
        field_origin_lps=origin_lps,
        field_spacing=(5.0, 5.0, 5.0),
    )
    points = np.random.default_rng(1).uniform([-40, -50, -30], [40, 40, 40], (50, 3))
    mapped = transforms.map_points(transforms.load_chain([ours]), points)
    expected = transforms.map_points(transforms.load_chain([by_hand]), points)
    # the same grid stored in opposite orders: only the spline prefilter's edge handling
    # differs, by micrometres
    np.testing.assert_allclose(mapped, expected, atol=1e-2)
    analytic = (
        points
        + np.stack(
            [np.sin(points[:, 1] / 30), 0.5 * np.cos(points[:, 2] / 25), 0.02 * points[:, 0]], -1
        )
    ) @ affine_ras[:3, :3].T + affine_ras[:3, 3]
    np.testing.assert_allclose(mapped, analytic, atol=1e-2)  # the field is sampled at 5 mm


def test_chain_applies_files_in_order(tmp_path):
    shift = np.eye(4)
    shift[:3, 3] = [10.0, 0.0, 0.0]
    scale = np.diag([2.0, 1.0, 1.0, 1.0])
    first = transforms.write_itk_affine(tmp_path / "shift.txt", shift)
    second = transforms.write_itk_affine(tmp_path / "scale.txt", scale)
    chain = transforms.load_chain([first, second])
    np.testing.assert_allclose(
        transforms.map_points(chain, np.array([[1.0, 2, 3]])), [[22.0, 2, 3]], atol=1e-4
    )


def test_head_motion_files_are_refused(tmp_path):
    from fmriprep_tree import _write_hmc

    path = tmp_path / "sub-01_task-rest_from-orig_to-boldref_mode-image_desc-hmc_xfm.txt"
    _write_hmc(path)
    with pytest.raises(transforms.TransformFileError, match="series of affines"):
        transforms.load_chain([path])


def test_template_to_template_chain_equals_the_direct_transform(tmp_path):
    """A subject registered to another template, reached through a template-to-template
    transform (input.template_transform): the chain maps every point where the direct
    registration would."""
    direct_affine = np.array(
        [[1.02, 0.03, 0.0, 2.0], [-0.02, 0.98, 0.05, 15.0], [0.0, -0.04, 1.01, 10.0], [0, 0, 0, 1]]
    )
    grid = np.diag([6.0, 6.0, 6.0, 1.0])
    grid[:3, 3] = [-96.0, -132.0, -78.0]
    shape = (33, 37, 33)
    xyz = _grid_points(grid, shape).reshape(*shape, 3)
    bump = np.exp(-((xyz - [-30.0, 20.0, 30.0]) ** 2).sum(-1) / (2 * 35.0**2))[..., None]
    direct = transforms.write_itk_composite(
        tmp_path / "sub-01_from-T1w_to-MNI152NLin6Asym_mode-image_xfm.h5",
        direct_affine,
        bump * [2.0, -1.5, 1.0],
        grid,
    )
    # MNI6 point q -> 2009c point q + t; the subject's 2009c registration S(r) = D(r - t):
    # its field lives on the shifted grid, its affine absorbs the shift.
    t = np.array([1.5, -2.0, 3.0])
    bridge_matrix = np.eye(4)
    bridge_matrix[:3, 3] = t
    bridge = transforms.write_itk_affine(
        tmp_path / "tpl-MNI152NLin6Asym_from-MNI152NLin2009cAsym_mode-image_xfm.txt", bridge_matrix
    )
    shifted_grid = grid.copy()
    shifted_grid[:3, 3] += t
    unshift = np.eye(4)
    unshift[:3, 3] = -t
    subject_2009c = transforms.write_itk_composite(
        tmp_path / "sub-01_from-T1w_to-MNI152NLin2009cAsym_mode-image_xfm.h5",
        direct_affine @ unshift,
        bump * [2.0, -1.5, 1.0],
        shifted_grid,
    )
    points = np.random.default_rng(3).uniform([-60, -90, -40], [60, 60, 70], (40, 3))
    through = transforms.map_points(transforms.load_chain([bridge, subject_2009c]), points)
    np.testing.assert_allclose(
        through, transforms.map_points(transforms.load_chain([direct]), points), atol=1e-3
    )


# ---------------------------------------------------------------------------- resampling


@pytest.fixture(scope="module")
def native_run(tmp_path_factory):
    """A native run of the demo's kind: an oblique 6 mm grid, fMRIPrep-named transforms."""
    root = tmp_path_factory.mktemp("native")
    space = simulate_native.draw_native_space(np.random.default_rng(7), 1, 6.0, 2.0, 6.0)
    h5 = simulate_native.write_template_transform(
        space, root / "sub-01_from-T1w_to-MNI152NLin6Asym_mode-image_xfm.h5"
    )
    txt = simulate_native.write_run_transform(
        space, 0, root / "sub-01_task-rest_from-boldref_to-T1w_mode-image_desc-coreg_xfm.txt"
    )
    shape = space.bold_shape
    ijk = np.indices(shape).astype(float)
    smooth = np.sin(ijk[0] / 3.0) + np.cos(ijk[1] / 4.0) * ijk[2] / 10.0
    data = np.stack([1000 + 100 * smooth * (1 + 0.1 * t) for t in range(20)], axis=-1).astype(
        np.float32
    )
    mask = np.zeros(shape, np.uint8)
    mask[3:-3, 3:-3, 3:-3] = 1
    series = root / "bold.nii.gz"
    nib.Nifti1Image(data, space.bold_affine).to_filename(series)
    mask_file = root / "mask.nii.gz"
    nib.Nifti1Image(mask, space.bold_affine).to_filename(mask_file)
    return space, [h5, txt], series, mask_file, data


@pytest.mark.parametrize(
    ("kernel", "order", "mode"),
    [("cubic", 3, "mirror"), ("linear", 1, "constant"), ("nearest", 0, "constant")],
)
def test_resampling_equals_nitransforms(native_run, tmp_path, kernel, order, mode):
    """Inside the run's mask, the sparse one-step resampling gives what nitransforms'
    own resampler gives through the same chain, volume by volume."""
    from nitransforms.resampling import apply

    space, files, series, mask_file, data = native_run
    shape, affine = resample.analysis_grid(6.0)
    resampler = resample.plan_resampling(mask_file, files, shape, affine, kernel)
    out = tmp_path / "out.nii.gz"
    assert resample.resample_series(resampler, series, out, 2.0, block_volumes=7) == 20
    result = nib.load(out)
    assert result.shape == (*shape, 20)
    assert result.header.get_zooms() == pytest.approx((6.0, 6.0, 6.0, 2.0))
    np.testing.assert_allclose(result.affine, affine)
    values = np.asarray(result.dataobj)
    assert np.all(values[~resampler.mask] == 0)
    chain = transforms.load_chain(files)
    reference = nib.Nifti1Image(np.zeros(shape, np.float32), affine)
    for volume in (0, 13, 19):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = apply(
                chain,
                nib.Nifti1Image(data[..., volume], space.bold_affine),
                reference=reference,
                order=order,
                mode=mode,
                prefilter=True,
            )
        expected = np.asarray(expected.dataobj)
        np.testing.assert_allclose(
            values[..., volume][resampler.mask], expected[resampler.mask], rtol=2e-5, atol=2e-3
        )


def test_resampled_mask_is_the_native_mask_carried_over(native_run):
    space, files, _, mask_file, _ = native_run
    shape, affine = resample.analysis_grid(6.0)
    resampler = resample.plan_resampling(mask_file, files, shape, affine)
    # every grid voxel in the mask maps to a native point inside the native mask's box
    world = _grid_points(affine, shape)[resampler.mask.ravel()]
    native_points = transforms.map_points(transforms.load_chain(files), world)
    ijk = (
        native_points @ np.linalg.inv(space.bold_affine)[:3, :3].T
        + np.linalg.inv(space.bold_affine)[:3, 3]
    )
    # the native mask spans voxels 3 .. n-4; trilinear fraction >= 0.5 within half a voxel
    assert np.all((ijk > 2.5 - 1e-6) & (ijk < np.array(space.bold_shape) - 3.5 + 1e-6))
    assert resampler.n_voxels > 1000


def test_constant_is_kept_and_linear_trend_exact(native_run, tmp_path):
    """B-spline and trilinear interpolation reproduce a linear function of position
    exactly (B-spline away from the grid's edge, where the mirror boundary bends it)."""
    space, files, _, mask_file, _ = native_run
    ijk = np.indices(space.bold_shape).astype(np.float32)
    ramp = (3.0 * ijk[0] - 2.0 * ijk[1] + ijk[2] + 50.0)[..., None].astype(np.float32)
    path = tmp_path / "ramp.nii.gz"
    nib.Nifti1Image(np.repeat(ramp, 3, axis=-1), space.bold_affine).to_filename(path)
    shape, affine = resample.analysis_grid(6.0)
    for kernel in ("cubic", "linear"):
        resampler = resample.plan_resampling(mask_file, files, shape, affine, kernel)
        resample.resample_series(resampler, path, tmp_path / f"{kernel}.nii.gz", 2.0)
        values = np.asarray(nib.load(tmp_path / f"{kernel}.nii.gz").dataobj)[..., 1]
        world = _grid_points(affine, shape)[resampler.mask.ravel()]
        native_points = transforms.map_points(transforms.load_chain(files), world)
        inverse = np.linalg.inv(space.bold_affine)
        ijk = native_points @ inverse[:3, :3].T + inverse[:3, 3]
        far = np.all((ijk > 6) & (ijk < np.array(space.bold_shape) - 7), axis=1)
        keep = far if kernel == "cubic" else np.ones(len(ijk), bool)
        assert keep.sum() > 500
        i, j, k = ijk[keep].T
        np.testing.assert_allclose(values[resampler.mask][keep], 3 * i - 2 * j + k + 50, atol=2e-3)


def test_block_writer_gives_nibabels_bytes(tmp_path):
    """The block-by-block writer and nibabel's own writer give the same image, and the
    same bytes on a rerun."""
    data = np.random.default_rng(0).normal(size=(5, 6, 4, 9)).astype(np.float32)
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    header = nib.Nifti1Header()
    header.set_data_shape(data.shape)
    header.set_data_dtype(np.float32)
    header.set_sform(affine, code=4)
    header.set_qform(affine, code=4)
    blocks = (data[..., start : start + 4] for start in range(0, 9, 4))
    first = resample.write_series(tmp_path / "a.nii.gz", header, blocks)
    again = resample.write_series(
        tmp_path / "b.nii.gz", header, (data[..., s : s + 2] for s in range(0, 9, 2))
    )
    assert first.read_bytes() == again.read_bytes()
    np.testing.assert_array_equal(np.asarray(nib.load(first).dataobj), data)
    assert not list(tmp_path.glob(".*partial*"))


def test_unrelated_transform_is_an_error(native_run, tmp_path):
    _, files, _, mask_file, _ = native_run
    far = np.eye(4)
    far[:3, 3] = [500.0, 0.0, 0.0]
    wrong = transforms.write_itk_affine(tmp_path / "far.txt", far)
    shape, affine = resample.analysis_grid(6.0)
    with pytest.raises(resample.ResamplingError, match="do the transforms belong to this run"):
        resample.plan_resampling(mask_file, [files[0], wrong], shape, affine)


def test_truncated_series_names_the_file(native_run, tmp_path):
    space, files, series, mask_file, _ = native_run
    broken = tmp_path / "broken.nii.gz"
    broken.write_bytes(Path(series).read_bytes()[: len(Path(series).read_bytes()) // 2])
    shape, affine = resample.analysis_grid(6.0)
    resampler = resample.plan_resampling(mask_file, files, shape, affine)
    with pytest.raises(niftiio.NiftiIOError, match="broken.nii.gz: EOFError"):
        resample.resample_series(resampler, broken, tmp_path / "out.nii.gz", 2.0)
    assert not (tmp_path / "out.nii.gz").exists()


# ------------------------------------------------------------------ the demo's native spaces


@pytest.mark.parametrize("field_spacing", [2.0, 6.0])
def test_written_transforms_hold_the_designed_mapping(tmp_path, field_spacing):
    """The demo's ITK files, read back by nitransforms, map points as the simulation
    designed them: T1w = A (p + d(p)) exactly (to the field's sampling), boldref = B T1w."""
    from tmstarget import native

    space = simulate_native.draw_native_space(np.random.default_rng(2), 2, 6.0, 2.0, field_spacing)
    h5 = simulate_native.write_template_transform(space, tmp_path / "a.h5")
    points = np.random.default_rng(0).uniform([-70, -100, -50], [70, 70, 80], (300, 3))
    designed = simulate_native.mni_to_t1w(space, points)
    np.testing.assert_allclose(native.mni_to_native(points, h5), designed, atol=1e-3)
    txt = simulate_native.write_run_transform(space, 1, tmp_path / "b.txt")
    boldref = transforms.map_points(transforms.load_chain([h5, txt]), points)
    expected = designed @ space.t1w_to_boldref[1][:3, :3].T + space.t1w_to_boldref[1][:3, 3]
    np.testing.assert_allclose(boldref, expected, atol=1e-3)
    # the displacement is really there: 1 mm or more somewhere in the brain
    assert (
        np.abs(
            designed - points @ space.template_to_t1w[:3, :3].T - space.template_to_t1w[:3, 3]
        ).max()
        > 1.0
    )


def test_native_positions_invert_the_chain(tmp_path):
    space = simulate_native.draw_native_space(np.random.default_rng(4), 1, 6.0, 2.0, 6.0)
    h5 = simulate_native.write_template_transform(space, tmp_path / "a.h5")
    txt = simulate_native.write_run_transform(space, 0, tmp_path / "b.txt")
    linear = space.t1w_to_boldref[0] @ space.template_to_t1w
    positions = simulate_native.grid_positions(
        space.bold_affine, space.bold_shape, [h5, txt], linear
    )
    tissue = simulate_native.TissueSampler.load(2.0)
    grid = simulate_native.sampling_grid(positions, tissue, 6.0)
    world = _grid_points(space.bold_affine, space.bold_shape)[grid.voxels]
    back = transforms.map_points(transforms.load_chain([h5, txt]), grid.xyz_mm)
    np.testing.assert_allclose(back, world, atol=1e-3)
    # the brain is inside the acquisition grid, with a margin
    brain = np.zeros(np.prod(space.bold_shape), bool)
    brain[grid.voxels] = True
    brain = brain.reshape(space.bold_shape)
    assert (
        not brain[[0, -1]].any() and not brain[:, [0, -1]].any() and not brain[:, :, [0, -1]].any()
    )
    assert 0.5 < grid.grey.mean() < 0.8 and grid.white.any() and grid.csf.any()


def test_t1w_image_has_a_scalp(tmp_path):
    space = simulate_native.draw_native_space(np.random.default_rng(4), 1, 6.0, 2.0, 6.0)
    h5 = simulate_native.write_template_transform(space, tmp_path / "a.h5")
    t1w, brain = simulate_native.t1w_images(space, h5)
    head = np.asarray(t1w.dataobj) > 0
    inside = np.asarray(brain.dataobj) > 0
    outside_brain = head & ~ndimage.binary_dilation(inside, iterations=2)
    # skull and scalp: a shell of head voxels around the brain, the scalp bright
    assert outside_brain.sum() > 0.2 * inside.sum()
    assert np.asarray(t1w.dataobj)[outside_brain].max() >= 700


# ------------------------------------------------------------------------ the per-run job


@pytest.mark.parametrize("denoised", [False, True])
def test_prepare_run_without_tedana(tmp_path, denoised):
    """Single-echo runs (no tedana) and data denoised elsewhere (no tedana, dummies
    unknown) from fMRIPrep's native layout are carried into the grid all the same."""
    import json

    from fmriprep_tree import write_fmriprep_tree

    from tmstarget import bids
    from tmstarget.runprep import RunOutputs, prepare_run, read_summary

    fmriprep = write_fmriprep_tree(
        tmp_path / "bids", runs=("1",), echoes=1, me_output_echos=False, output_func=True
    )
    run = bids.discover_runs(fmriprep.parent.parent, fmriprep, bids.Query(multi_echo=False))["01"][
        0
    ]
    outputs = RunOutputs(
        tedana_dir=tmp_path / "out" / "tedana",
        bold=tmp_path / "out" / "bold.nii.gz",
        optcom=tmp_path / "out" / "optcom.nii.gz",
        mask=tmp_path / "out" / "mask.nii.gz",
    )
    summary = prepare_run(
        run.echo_files,
        None,
        run.mask_file,
        outputs,
        repetition_time_s=run.repetition_time_s,
        n_dummy=run.n_dummy,
        xfm_files=run.resample_xfms,
        grid_voxel_mm=6.0,
        denoised=denoised,
        min_volumes=20,
    )
    assert summary["mode"] == ("external" if denoised else "single-echo")
    assert summary == read_summary(outputs.tedana_dir)
    # external data keep their volumes (dummies are decided at cleaning)
    assert summary["n_volumes"] == (30 if denoised else 27)
    mask = np.asarray(nib.load(outputs.mask).dataobj) > 0
    assert mask.sum() == summary["resampling"]["mask_voxels"] > 0
    bold, optcom = (np.asarray(nib.load(p).dataobj) for p in (outputs.bold, outputs.optcom))
    np.testing.assert_array_equal(bold, optcom)  # one series: it is its own reference
    assert np.all(bold[~mask] == 0) and np.all(bold[mask].std(axis=1) > 0)
    # the input in the fMRIPrep folder is left as it was
    assert Path(run.echo_files[0]).is_file()
    assert json.loads(json.dumps(summary))["resampling"]["kernel"] == "linear"
