"""Reading series block by block into the masked matrix, and writing them back in blocks:
the same values and the same image bytes as nibabel, never the whole 4D array."""

import gzip

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from nibabel.arrayproxy import ArrayProxy

from tmstarget import denoise, niftiio, stimulation

AFFINE = np.diag([3.0, 3.0, 3.0, 1.0])
SHAPE = (7, 5, 6, 23)


def _write(path, data, slope=None, inter=None):
    img = nib.Nifti1Image(data, AFFINE)
    img.header.set_zooms((3.0, 3.0, 3.0, 2.0))
    if slope is not None:
        img.header.set_slope_inter(slope, inter)
    img.to_filename(path)
    return path


@pytest.fixture
def mask():
    return np.random.default_rng(1).random(SHAPE[:3]) > 0.4


@pytest.mark.parametrize(
    "name, dtype, scaling",
    [
        ("float.nii.gz", np.float32, None),
        ("float.nii", np.float32, None),
        ("scaled.nii.gz", np.int16, (0.37, 2.1)),
        ("ints.nii", np.int16, None),
        ("bigendian.nii.gz", ">f4", None),
    ],
)
def test_read_masked_equals_nibabel(tmp_path, mask, name, dtype, scaling):
    rng = np.random.default_rng(0)
    data = (rng.normal(size=SHAPE) * 100).astype(dtype)
    path = _write(tmp_path / name, data, *(scaling or (None, None)))
    expected = np.asarray(nib.load(path).get_fdata(), dtype=np.float32)[mask].T
    for block_volumes in (1, 4, 16, 50):
        got = niftiio.read_masked(path, mask, block_volumes)
        assert got.dtype == np.float32 and got.flags.c_contiguous
        np.testing.assert_array_equal(got, expected)
    # in memory: the same matrix
    np.testing.assert_array_equal(niftiio.read_masked(nib.load(path), mask), expected)
    blocks = np.concatenate(list(niftiio.iter_volume_blocks(path, 5)), axis=3)
    np.testing.assert_array_equal(blocks, nib.load(path).get_fdata().astype(np.float32))


def test_read_masked_errors_name_the_file(tmp_path, mask):
    data = np.random.default_rng(5).normal(size=SHAPE).astype(np.float32)
    path = _write(tmp_path / "run.nii.gz", data)
    truncated = tmp_path / "truncated.nii.gz"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(niftiio.NiftiIOError, match="truncated.nii.gz"):
        niftiio.read_masked(truncated, mask)
    with pytest.raises(niftiio.NiftiIOError, match=r"run.nii.gz.*brain mask's grid"):
        niftiio.read_masked(path, mask[:-1])


def test_write_masked_gives_nibabel_image_bytes(tmp_path, mask):
    rng = np.random.default_rng(2)
    reference = nib.load(_write(tmp_path / "ref.nii.gz", np.zeros(SHAPE, np.float32)))
    series = rng.normal(size=(19, int(mask.sum()))).astype(np.float32)
    full = np.zeros(mask.shape + (19,), np.float32)
    full[mask] = series.T
    denoise._like(full, reference).to_filename(tmp_path / "nibabel.nii.gz")
    niftiio.write_masked(
        tmp_path / "blocks.nii.gz", series, mask, reference.header, reference.affine, 4
    )
    assert (
        gzip.open(tmp_path / "blocks.nii.gz").read()
        == gzip.open(tmp_path / "nibabel.nii.gz").read()
    )
    with pytest.raises(niftiio.NiftiIOError, match="mask of"):
        niftiio.write_masked(tmp_path / "bad.nii.gz", series[:, 1:], mask, reference.header, AFFINE)
    assert not (tmp_path / "bad.nii.gz").exists()


@pytest.fixture
def no_whole_4d(monkeypatch):
    """Reading any 4D image whole through nibabel fails the test (3D masks may be read)."""
    original = ArrayProxy.__array__

    def guarded(self, *args, **kwargs):
        assert len(self.shape) < 4, "a 4D series was read whole"
        return original(self, *args, **kwargs)

    monkeypatch.setattr(ArrayProxy, "__array__", guarded)
    monkeypatch.setattr(ArrayProxy, "__getitem__", lambda self, key: pytest.fail("sliced whole"))


def test_targeting_and_validation_never_read_a_whole_series(tmp_path, mask, no_whole_4d):
    rng = np.random.default_rng(3)
    bold = _write(tmp_path / "bold.nii.gz", rng.normal(size=SHAPE).astype(np.float32))
    mask_path = tmp_path / "mask.nii.gz"
    nib.Nifti1Image(mask.astype(np.uint8), AFFINE).to_filename(mask_path)
    series, _ = stimulation.load_timeseries(bold, mask_path)
    assert series.shape == (SHAPE[3], int(mask.sum()))
    echoes = [
        _write(tmp_path / f"sub-01_echo-{e}_bold.nii.gz", rng.normal(size=SHAPE).astype(np.float32))
        for e in (1, 2)
    ]
    info = denoise.validate_run(echoes, [0.015, 0.04], mask_path, None, n_dummy=0, min_volumes=10)
    assert info.n_mask_voxels == int(mask.sum())


def test_clean_subject_never_reads_a_whole_series(tmp_path, mask, no_whole_4d):
    rng = np.random.default_rng(4)
    n = SHAPE[3]
    confounds = pd.DataFrame(
        {
            c: rng.normal(size=n)
            for c in ("global_signal", "white_matter", "csf")
            + denoise.MOTION_COLUMNS
            + tuple(f"{m}_derivative1" for m in denoise.MOTION_COLUMNS)
        }
    )
    confounds_path = tmp_path / "confounds.tsv"
    confounds.to_csv(confounds_path, sep="\t", index=False)
    mask_path = tmp_path / "mask.nii.gz"
    nib.Nifti1Image(mask.astype(np.uint8), AFFINE).to_filename(mask_path)
    run = denoise.RunInput(
        label="run-1",
        bold=_write(tmp_path / "bold.nii.gz", rng.normal(size=SHAPE).astype(np.float32)),
        reference=_write(tmp_path / "optcom.nii.gz", rng.normal(size=SHAPE).astype(np.float32)),
        mask=mask_path,
        confounds=confounds_path,
        repetition_time_s=2.0,
        mode="me-ica",
        dummies_dropped=True,
        n_dummy=0,
    )
    cleaning = denoise.CleaningSettings(min_volumes=10, low_pass_hz=0.08)
    result = denoise.clean_subject("01", [run], cleaning)
    assert result.series.shape == (n, int(mask.sum()))
    # z-scored per voxel within the run
    np.testing.assert_allclose(result.series.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(result.series.std(axis=0), 1, atol=1e-4)
