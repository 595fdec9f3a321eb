"""A run's inputs checked before anything is written (:func:`validate_run`), and its dummy
volumes dropped (:func:`drop_dummy_volumes`). Every failure is a
:class:`~tmstarget.denoise.PreprocessingError` that names the file and what to fix."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from tmstarget.denoise.errors import PreprocessingError
from tmstarget.denoise.images import ImgLike, _load, _mask_array
from tmstarget.niftiio import NiftiIOError, iter_volume_rows


def _label(index: int, img: ImgLike) -> str:
    """'echo 2 (sub-01_echo-2_bold.nii.gz)' for messages; echo numbers start at 1."""
    if isinstance(img, str | Path):
        return f"echo {index + 1} ({Path(img).name})"
    name = img.get_filename()
    return f"echo {index + 1} ({Path(name).name})" if name else f"echo {index + 1}"


def _name(img: ImgLike, what: str) -> str:
    """The file name of ``img`` for messages, or ``what`` for an image in memory."""
    if isinstance(img, str | Path):
        return str(img)
    return img.get_filename() or what


@dataclass(frozen=True)
class RunInfo:
    """What :func:`validate_run` learned about a run."""

    n_echoes: int
    n_volumes: int  # before dropping dummy volumes
    shape: tuple[int, int, int]
    tr_header_s: float
    n_mask_voxels: int


def validate_run(
    echo_imgs: Sequence[ImgLike],
    echo_times_s: Sequence[float | None] | None,
    mask_img: ImgLike,
    confounds: pd.DataFrame | None = None,
    n_dummy: int = 4,
    min_volumes: int = 50,
) -> RunInfo:
    """Check one run's inputs before any output is written; raise :class:`PreprocessingError`.

    Checks: at least one echo; every echo file exists; ``echo-<n>`` entities in file names
    (when present) are 1..N without gaps and in order; one echo time per echo, each given,
    in seconds (0 < TE < 1) and strictly increasing (a single-echo run needs no TE); every
    echo is 4D with the shape, number of volumes and affine of echo 1, a positive TR in its
    header and no NaN/inf; the brain mask is 3D, non-empty and on the echoes' grid; the run
    keeps at least ``min_volumes`` after dropping ``n_dummy``; the confounds (if given, not
    yet trimmed) have one row per volume.
    """
    if n_dummy < 0:
        raise PreprocessingError(f"n_dummy must be >= 0, got {n_dummy}")
    _check_echo_files(echo_imgs)
    _check_echo_entities(echo_imgs)
    _check_echo_times(echo_imgs, echo_times_s)
    imgs = [_load(img) for img in echo_imgs]
    tr_header = _check_echo_grids(echo_imgs, imgs)
    ref = imgs[0]
    inside = _check_mask(mask_img, ref, _label(0, echo_imgs[0]))
    n_volumes = int(ref.shape[3])
    if n_volumes - n_dummy < min_volumes:
        raise PreprocessingError(
            f"{_label(0, echo_imgs[0])}: {n_volumes} volumes; after dropping {n_dummy} dummy "
            f"volumes {n_volumes - n_dummy} remain, fewer than the minimum of {min_volumes} "
            "(preprocess.min_volumes). Check that the run is complete."
        )

    for i, img in enumerate(imgs):
        _scan_echo(echo_imgs[i], img, _label(i, echo_imgs[i]), inside)

    if confounds is not None and len(confounds) != n_volumes:
        raise PreprocessingError(
            f"confounds have {len(confounds)} rows but the run has {n_volumes} volumes: "
            "the confounds file does not belong to this run (or one of the two was trimmed)"
        )
    return RunInfo(
        n_echoes=len(echo_imgs),
        n_volumes=n_volumes,
        shape=tuple(int(n) for n in ref.shape[:3]),
        tr_header_s=tr_header,
        n_mask_voxels=int(inside.sum()),
    )


def _check_echo_files(echo_imgs: Sequence[ImgLike]) -> None:
    """At least one echo, and every echo given and (a file name) on disk."""
    if len(echo_imgs) == 0:
        raise PreprocessingError("no echo images were given for this run")
    for i, img in enumerate(echo_imgs):
        if img is None:
            raise PreprocessingError(f"echo {i + 1} is missing (no file given)")
        if isinstance(img, str | Path) and not Path(img).is_file():
            raise PreprocessingError(
                f"{_label(i, img)} is missing: file not found at {img}. fMRIPrep writes one "
                "file per echo only with --me-output-echos."
            )


def _check_echo_grids(
    echo_imgs: Sequence[ImgLike], imgs: Sequence[nib.spatialimages.SpatialImage]
) -> float:
    """Every echo 4D with echo 1's shape and affine (1e-3 mm), and a positive TR in echo
    1's header; the TR (seconds)."""
    ref = imgs[0]
    if ref.ndim != 4:
        raise PreprocessingError(f"{_label(0, echo_imgs[0])} must be 4D, has shape {ref.shape}")
    for i, img in enumerate(imgs[1:], start=1):
        if img.shape != ref.shape:
            raise PreprocessingError(
                f"{_label(i, echo_imgs[i])} has shape {img.shape} but echo 1 has {ref.shape}: "
                "all echoes of a run must have the same grid and number of volumes"
            )
        diff = float(np.max(np.abs(img.affine - ref.affine)))
        if diff > 1e-3:
            raise PreprocessingError(
                f"{_label(i, echo_imgs[i])} has a different affine from echo 1 (largest "
                f"difference {diff:.3g} mm): all echoes must be resampled to the same grid"
            )
    tr_header = float(ref.header.get_zooms()[3])
    if not tr_header > 0:
        raise PreprocessingError(
            f"{_label(0, echo_imgs[0])} has TR {tr_header} in its header; tedana needs the "
            "true repetition time (seconds) in pixdim[4]"
        )
    return tr_header


def _check_mask(
    mask_img: ImgLike, ref: nib.spatialimages.SpatialImage, ref_label: str
) -> np.ndarray:
    """The brain mask 3D, on the grid of ``ref`` (echo 1, named ``ref_label`` in messages)
    and not empty; its voxels (bool)."""
    mask = _load(mask_img)
    mask_name = _name(mask_img, "brain mask")
    if mask.ndim != 3 or mask.shape != ref.shape[:3]:
        raise PreprocessingError(
            f"{mask_name}: shape {mask.shape}, expected the echoes' 3D grid {ref.shape[:3]} "
            f"({ref_label}); use the brain mask fMRIPrep wrote for this run"
        )
    diff = float(np.max(np.abs(mask.affine - ref.affine)))
    if diff > 1e-3:
        raise PreprocessingError(
            f"{mask_name}: its affine differs from the echoes' (largest difference "
            f"{diff:.3g} mm); use the mask fMRIPrep wrote for the same space and resolution"
        )
    inside = _mask_array(mask)
    if not inside.any():
        raise PreprocessingError(
            f"{mask_name}: the brain mask is empty; use the mask fMRIPrep wrote for this run"
        )
    return inside


def _echo_rows(source: ImgLike, img: nib.spatialimages.SpatialImage) -> Iterator[np.ndarray]:
    """An echo's volumes as (volumes, grid voxels) rows in file order: a file streamed a
    block at a time (:func:`tmstarget.niftiio.iter_volume_rows`), an image in memory as
    it is."""
    if isinstance(source, str | Path):
        yield from iter_volume_rows(source, 16, reuse=True)
        return
    data = np.asarray(img.dataobj)
    yield data.reshape(-1, data.shape[3], order="F").T


def _scan_echo(
    source: ImgLike, img: nib.spatialimages.SpatialImage, label: str, inside: np.ndarray
) -> None:
    """An echo's data read once, a block of volumes at a time (never the whole echo):
    finite everywhere, not 0 everywhere in the brain, changing over time somewhere in
    it."""
    index = np.ravel_multi_index(np.nonzero(inside), inside.shape, order="F")
    bad_values, bad_voxels = 0, np.zeros(int(np.prod(inside.shape)), bool)
    low = np.full(len(index), np.inf)
    high = np.full(len(index), -np.inf)
    try:
        for rows in _echo_rows(source, img):
            bad = ~np.isfinite(rows)
            if bad.any():
                bad_values += int(bad.sum())
                bad_voxels |= bad.any(axis=0)
                continue
            within = rows[:, index]
            low = np.minimum(low, within.min(axis=0))
            high = np.maximum(high, within.max(axis=0))
    except (NiftiIOError, OSError, EOFError, ValueError) as error:
        cause = error.__cause__ or error
        raise PreprocessingError(
            f"{label}: cannot read its data ({type(cause).__name__}: {cause}); the file is "
            "truncated or damaged: copy it again from fMRIPrep's output"
        ) from error
    if bad_values:
        raise PreprocessingError(
            f"{label} contains {bad_values} NaN/inf values in {int(bad_voxels.sum())} voxels; "
            "fix the input (e.g. rerun the resampling)"
        )
    # A series that is zero (or constant) over time in every brain voxel carries no
    # signal: tedana would fail deep inside (IndexError, sklearn's ValueError).
    if not (np.any(low != 0) or np.any(high != 0)):
        raise PreprocessingError(
            f"{label}: every brain voxel is 0 in every volume (an empty or failed export); "
            "rerun fMRIPrep for this run, or leave the subject out with "
            "input.exclude_subjects"
        )
    if not np.any(high > low):
        raise PreprocessingError(
            f"{label}: no brain voxel changes over time; the series holds no signal: rerun "
            "fMRIPrep for this run, or leave the subject out with input.exclude_subjects"
        )


def _check_echo_entities(echo_imgs: Sequence[ImgLike]) -> None:
    """If file names carry BIDS ``echo-<n>``, they must be 1..N, in order, without gaps."""
    numbers = []
    for img in echo_imgs:
        name = Path(img).name if isinstance(img, str | Path) else (img.get_filename() or "")
        match = re.search(r"(?:^|_)echo-(\d+)", Path(name).name)
        if match is None:
            return
        numbers.append(int(match.group(1)))
    expected = list(range(1, len(numbers) + 1))
    if sorted(numbers) != expected:
        missing = sorted(set(range(1, max(numbers) + 1)) - set(numbers))
        raise PreprocessingError(
            f"echo files have echo numbers {numbers}; echo {missing or '?'} is missing "
            f"(beside {_name(echo_imgs[0], 'echo 1')})"
        )
    if numbers != expected:
        raise PreprocessingError(
            f"echo files must be in echo order 1..N, got order {numbers} "
            f"({', '.join(Path(_name(img, '?')).name for img in echo_imgs)})"
        )


def _check_echo_times(
    echo_imgs: Sequence[ImgLike], echo_times_s: Sequence[float | None] | None
) -> None:
    n_echoes = len(echo_imgs)
    if echo_times_s is None:
        if n_echoes == 1:
            return
        raise PreprocessingError(
            f"{n_echoes} echoes but no echo times: give EchoTime (seconds) from each sidecar"
        )
    if len(echo_times_s) != n_echoes:
        raise PreprocessingError(
            f"{n_echoes} echo files but {len(echo_times_s)} echo times: an echo file or its "
            "EchoTime is missing"
        )
    values = []
    for i, te in enumerate(echo_times_s):
        if te is None or not np.isfinite(float(te)):
            raise PreprocessingError(
                f"EchoTime is missing for {_label(i, echo_imgs[i])}: add it to the JSON sidecar"
            )
        te = float(te)
        if not 0 < te < 1:
            hint = " (looks like milliseconds: divide by 1000)" if te >= 1 else ""
            raise PreprocessingError(
                f"EchoTime of {_label(i, echo_imgs[i])} is {te}; echo times must be in "
                f"seconds, between 0 and 1{hint}"
            )
        values.append(te)
    for i in range(1, n_echoes):
        if values[i] <= values[i - 1]:
            raise PreprocessingError(
                f"echo times must increase with echo number: echo {i} has {values[i - 1]} s, "
                f"echo {i + 1} has {values[i]} s (check the file order and the sidecars)"
            )


def drop_dummy_volumes(
    data: nib.spatialimages.SpatialImage | pd.DataFrame, n_dummy: int = 4
) -> nib.spatialimages.SpatialImage | pd.DataFrame:
    """Drop the first ``n_dummy`` volumes of a 4D image, or rows of a confounds table.

    A confounds table gets a fresh 0-based index, so that row ``i`` is volume ``i`` of the
    trimmed run. The first row keeps its values (e.g. FD is now a real value, not n/a).
    """
    if n_dummy < 0:
        raise PreprocessingError(f"n_dummy must be >= 0, got {n_dummy}")
    if isinstance(data, pd.DataFrame):
        if n_dummy >= len(data):
            raise PreprocessingError(f"cannot drop {n_dummy} rows from {len(data)} confounds")
        return data.iloc[n_dummy:].reset_index(drop=True)
    img = _load(data)
    if img.ndim != 4 or n_dummy >= img.shape[3]:
        raise PreprocessingError(f"cannot drop {n_dummy} volumes from an image of {img.shape}")
    if n_dummy == 0:
        return img
    return img.slicer[:, :, :, n_dummy:]
