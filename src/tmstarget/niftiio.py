"""Reading and writing NIfTI series as streams: a block of volumes at a time, and gzip
through ISA-L (``isal``), which compresses about ten times and decompresses about twice
as fast as zlib (benchmarks/README.md, resampling). Images are laid out as nibabel lays
them out (header from nibabel, data in NIfTI's Fortran order after ``vox_offset``); the
gzip header carries no time stamp or name, so the same image gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import nibabel as nib
import numpy as np

from tmstarget import atomic


class NiftiIOError(ValueError):
    """A NIfTI file cannot be read or written as asked; the message names the file."""


def _series_header(img: nib.Nifti1Image, path: Path) -> tuple[tuple[int, ...], int]:
    shape = tuple(int(n) for n in img.header.get_data_shape())
    if len(shape) != 4:
        raise NiftiIOError(f"{path} is not a 4D series (shape {shape})")
    return shape, int(img.dataobj.offset)


def iter_volume_rows(
    path: str | Path, block_volumes: int = 16, reuse: bool = False
) -> Iterator[np.ndarray]:
    """Blocks of consecutive volumes of a 4D NIfTI as (volumes, grid voxels) float32 rows,
    each row a volume flattened in NIfTI's (Fortran) order, read in file order so that no
    more than a block is in memory. A ``.nii.gz`` is decompressed once, as a stream, with
    ISA-L (``isal``: about twice zlib's speed) into one reused buffer; the layout comes from
    nibabel's header (data offset, type, scaling; volumes are contiguous in the file). An
    uncompressed ``.nii`` is read through a memory map. Scaled integers are scaled in
    float64 and rounded to float32, as nibabel's ``get_fdata`` then a float32 cast. With
    ``reuse`` a float32 file's blocks are views of one buffer, overwritten by the next
    block (for a caller that copies what it keeps)."""
    path = Path(path)
    try:
        img = nib.load(str(path))
    except Exception as error:  # nibabel raises many types for a broken header
        raise NiftiIOError(f"cannot read {path}: {type(error).__name__}: {error}") from error
    shape, offset = _series_header(img, path)
    header = img.header
    dtype = header.get_data_dtype()
    # nibabel moves the scaling from a loaded header into the array proxy
    slope, inter = float(img.dataobj.slope), float(img.dataobj.inter)
    scaled = (slope, inter) != (1.0, 0.0)
    n_grid, n_volumes = int(np.prod(shape[:3])), shape[3]
    volume_bytes = n_grid * dtype.itemsize

    def rows(raw, count: int) -> np.ndarray:
        values = np.frombuffer(raw, dtype=dtype, count=n_grid * count).reshape(count, n_grid)
        if scaled:
            return (values * slope + inter).astype(np.float32)
        return values.astype(np.float32, copy=not reuse)

    try:
        if not path.name.endswith(".gz"):
            data = np.memmap(path, dtype=dtype, mode="r", offset=offset)
            if data.size < n_grid * n_volumes:
                raise EOFError(f"the file holds {data.size // n_grid} of {n_volumes} volumes")
            for start in range(0, n_volumes, block_volumes):
                count = min(block_volumes, n_volumes - start)
                yield rows(data[start * n_grid : (start + count) * n_grid], count)
            return
        from isal import igzip

        buffer = bytearray(volume_bytes * min(block_volumes, n_volumes))
        with igzip.open(path, "rb") as stream:
            stream.read(offset)
            for start in range(0, n_volumes, block_volumes):
                count = min(block_volumes, n_volumes - start)
                view = memoryview(buffer)[: volume_bytes * count]
                got = 0
                while got < len(view):
                    read = stream.readinto(view[got:])
                    if not read:
                        raise EOFError(f"the file ends after {start} of {n_volumes} volumes")
                    got += read
                yield rows(view, count)
    except (EOFError, OSError, ValueError) as error:
        raise NiftiIOError(f"cannot read {path}: {type(error).__name__}: {error}") from error


def iter_volume_blocks(path: str | Path, block_volumes: int = 16) -> Iterator[np.ndarray]:
    """Blocks of consecutive volumes (x, y, z, t, float32) of a 4D NIfTI, read in file
    order (:func:`iter_volume_rows`), so no more than a block is in memory."""
    grid = None
    for block in iter_volume_rows(path, block_volumes):
        grid = grid or nib.load(str(path)).shape[:3]
        yield block.T.reshape((*grid, block.shape[0]), order="F")


def file_order_index(mask: np.ndarray) -> np.ndarray:
    """Where each voxel of ``volume[mask]`` (C order, numpy's boolean indexing) sits in a
    volume flattened in NIfTI's file (Fortran) order."""
    return np.ravel_multi_index(np.nonzero(mask), mask.shape, order="F")


def read_masked(
    source: str | Path | nib.spatialimages.SpatialImage,
    mask: np.ndarray,
    block_volumes: int = 16,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """The (volumes, mask voxels) float32 matrix of a 4D series, columns in the order of
    ``volume[mask]``: a file is read block by block straight into it (never the whole 4D;
    peak memory the matrix plus one block), an image in memory is masked as it is. ``out``
    (a C-ordered float32 array of that shape) is filled instead of a new one."""
    if not isinstance(source, str | Path):
        data = np.asarray(source.dataobj, dtype=np.float32)
        if data.ndim != 4 or data.shape[:3] != mask.shape:
            raise NiftiIOError(f"a series of shape {data.shape} for a mask of {mask.shape}")
        matrix = np.ascontiguousarray(data[mask].T)
        if out is None:
            return matrix
        out[...] = matrix
        return out
    path = Path(source)
    try:
        shape = nib.load(str(path)).shape
    except Exception as error:  # nibabel raises many types for a broken header
        raise NiftiIOError(f"cannot read {path}: {type(error).__name__}: {error}") from error
    if len(shape) != 4 or tuple(shape[:3]) != mask.shape:
        raise NiftiIOError(
            f"{path}: a series of shape {tuple(shape)} does not match its brain mask's grid "
            f"{mask.shape}; the two must come from the same run and space"
        )
    index = file_order_index(mask)
    if out is None:
        out = np.empty((shape[3], len(index)), np.float32)
    start = 0
    for rows in iter_volume_rows(path, block_volumes, reuse=True):
        # mode="clip": unbuffered (the indices are in range by construction)
        np.take(rows, index, axis=1, out=out[start : start + rows.shape[0]], mode="clip")
        start += rows.shape[0]
    return out


def read_image_data(path: str | Path) -> np.ndarray:
    """The data of a (small, e.g. 3D mask) NIfTI image; a truncated or unreadable file is
    a :class:`NiftiIOError` naming it."""
    try:
        return np.asarray(nib.load(str(path)).dataobj)
    except Exception as error:  # nibabel and gzip raise many types for a broken file
        raise NiftiIOError(f"cannot read {path}: {type(error).__name__}: {error}") from error


@contextmanager
def _atomic_stream(path: Path):
    """A binary stream writing ``path`` (gzip through ISA-L at level 1 for ``.gz``, no time
    stamp or name) under a temporary name, renamed on success and removed on an error."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic.remove_partials(path)
    partial = atomic.partial_path(path)
    try:
        with open(partial, "wb") as raw:
            if path.name.endswith(".gz"):
                from isal import igzip

                with igzip.IGzipFile(
                    filename="", mode="wb", fileobj=raw, compresslevel=1, mtime=0
                ) as stream:
                    yield stream
            else:
                yield raw
        partial.replace(path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def _header_and_padding(stream, header: nib.Nifti1Header) -> None:
    header.write_to(stream)
    stream.write(b"\x00" * (int(header["vox_offset"]) - stream.tell()))


def write_series(path: str | Path, header: nib.Nifti1Header, blocks: Iterator[np.ndarray]) -> Path:
    """Write a 4D NIfTI block by block without ever holding the whole series: the header,
    then each block's bytes in file order. A block is either volumes (x, y, z, t) or,
    faster, already in file order: a C-ordered (t, voxels) array whose rows are volumes
    flattened in NIfTI's Fortran order. Nothing is left behind on an error."""
    path = Path(path)
    expected = header.get_data_shape()
    n_grid = int(np.prod(expected[:3]))
    dtype = header.get_data_dtype()
    written = 0
    with _atomic_stream(path) as stream:
        _header_and_padding(stream, header)
        for block in blocks:
            if block.ndim == 2 and block.shape[1] == n_grid:
                rows, count = np.ascontiguousarray(block, dtype=dtype), block.shape[0]
            elif block.shape[:3] == tuple(expected[:3]):
                rows = np.asarray(block, dtype=dtype).reshape(-1, block.shape[3], order="F").T
                count = block.shape[3]
            else:
                raise NiftiIOError(f"block of shape {block.shape} for a grid {expected}")
            stream.write(np.ascontiguousarray(rows).data)
            written += count
        if written != expected[3]:
            raise NiftiIOError(f"{path}: wrote {written} volumes, the header says {expected[3]}")
    return path


def header_as_written(
    header: nib.Nifti1Header, affine: np.ndarray, shape: Sequence[int], dtype=np.float32
) -> nib.Nifti1Header:
    """The header nibabel writes for ``Nifti1Image(data, affine, header)`` with data of
    ``shape`` and ``dtype`` (its ``to_filename`` path: affine into the xforms, the shape,
    the scaling of the array writer), without holding any data: the stand-in is one
    broadcast zero."""
    from nibabel.arraywriters import get_slope_inter, make_array_writer

    prepared = header.copy()
    prepared.set_data_dtype(dtype)
    stand_in = nib.Nifti1Image(np.broadcast_to(np.zeros((), dtype), tuple(shape)), affine, prepared)
    stand_in.update_header()
    out = stand_in.header
    slope = out["scl_slope"].item() if out.has_data_slope else np.nan
    inter = out["scl_inter"].item() if out.has_data_intercept else np.nan
    if np.all(np.isnan((slope, inter))):
        writer = make_array_writer(
            stand_in.dataobj, out.get_data_dtype(), out.has_data_slope, out.has_data_intercept
        )
        out.set_slope_inter(*get_slope_inter(writer))
    return out


def write_masked(
    path: str | Path,
    series: np.ndarray,
    mask: np.ndarray,
    header: nib.Nifti1Header,
    affine: np.ndarray,
    block_volumes: int = 16,
) -> Path:
    """Write a (volumes, mask voxels) matrix (columns in the order of ``volume[mask]``) as
    the full-grid 4D float32 NIfTI nibabel would write for it (:func:`header_as_written`;
    0 outside the mask), block by block: never the full-grid 4D array. A ``.nii.gz`` is
    compressed with ISA-L: the image bytes are nibabel's, the gzip stream is not.

    Parameters
    ----------
    path : str or Path
        The output NIfTI (``.nii`` or ``.nii.gz``), written under a partial name and
        renamed on success; nothing is left behind on an error.
    series : numpy.ndarray
        The (volumes, mask voxels) matrix; column ``j`` is voxel ``j`` of
        ``volume[mask]`` (numpy's C-order boolean indexing).
    mask : numpy.ndarray
        The boolean 3D mask (voxel grid x, y, z) the columns come from.
    header : nibabel.Nifti1Header
        The header to start from (e.g. the source series'); shape, data type (float32)
        and scaling are set as nibabel would set them.
    affine : numpy.ndarray
        The 4 x 4 voxel-to-world affine (voxel indices to RAS+ mm) written to the xforms.
    block_volumes : int, default 16
        Volumes written per block: peak memory is one full-grid block.

    Returns
    -------
    Path
        The path written.

    Raises
    ------
    NiftiIOError
        When ``series`` is not 2D with one column per mask voxel.
    """
    if series.ndim != 2 or series.shape[1] != int(mask.sum()):
        raise NiftiIOError(
            f"{path}: a matrix of shape {series.shape} for a mask of {int(mask.sum())} voxels"
        )
    n_volumes = series.shape[0]
    written = header_as_written(header, affine, (*mask.shape, n_volumes), np.float32)
    index = file_order_index(mask)

    def blocks() -> Iterator[np.ndarray]:
        buffer = np.zeros((block_volumes, int(np.prod(mask.shape))), np.float32)
        for start in range(0, n_volumes, block_volumes):
            rows = buffer[: min(block_volumes, n_volumes - start)]
            rows[:, index] = series[start : start + rows.shape[0]]
            yield rows

    return write_series(path, written, blocks())


def write_image(img: nib.Nifti1Image, path: str | Path) -> Path:
    """Write a whole image of any dimension as nibabel would (its header, its data in
    Fortran order), ``.nii.gz`` through ISA-L."""
    data = np.asanyarray(img.dataobj)
    header = img.header.copy()
    header.set_data_shape(data.shape)
    header.set_data_dtype(data.dtype)
    with _atomic_stream(Path(path)) as stream:
        _header_and_padding(stream, header)
        stream.write(np.asarray(data, dtype=header.get_data_dtype()).tobytes(order="F"))
    return Path(path)
