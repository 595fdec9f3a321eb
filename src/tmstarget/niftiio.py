"""Reading and writing NIfTI series as streams: a block of volumes at a time, and gzip
through ISA-L (``isal``), which compresses about ten times and decompresses about twice
as fast as zlib (benchmarks/README.md, resampling). Images are laid out as nibabel lays
them out (header from nibabel, data in NIfTI's Fortran order after ``vox_offset``); the
gzip header carries no time stamp or name, so the same image gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import nibabel as nib
import numpy as np

from tmstarget import atomic


class NiftiIOError(ValueError):
    """A NIfTI file cannot be read or written as asked; the message names the file."""


def iter_volume_blocks(path: str | Path, block_volumes: int = 16) -> Iterator[np.ndarray]:
    """Blocks of consecutive volumes (x, y, z, t, float32) of a 4D NIfTI, read in file
    order, so no more than a block is in memory. A ``.nii.gz`` is decompressed once, as a
    stream, with ISA-L (``isal``: about twice zlib's speed); the image layout comes from
    nibabel's header (data offset, type, scaling; volumes are contiguous in NIfTI's
    Fortran order). An uncompressed ``.nii`` is read through nibabel's memory map."""
    path = Path(path)
    img = nib.load(str(path))
    header, offset = img.header, int(img.dataobj.offset)
    shape = header.get_data_shape()
    if len(shape) != 4:
        raise NiftiIOError(f"{path} is not a 4D series (shape {shape})")
    n_volumes = shape[3]
    try:
        if not path.name.endswith(".gz"):
            dataobj = nib.load(str(path), mmap=True).dataobj
            for start in range(0, n_volumes, block_volumes):
                yield np.asarray(dataobj[..., start : start + block_volumes], dtype=np.float32)
            return
        from isal import igzip

        dtype = header.get_data_dtype()
        slope, inter = header.get_slope_inter()
        volume_bytes = int(np.prod(shape[:3])) * dtype.itemsize
        with igzip.open(path, "rb") as stream:
            stream.read(offset)
            for start in range(0, n_volumes, block_volumes):
                count = min(block_volumes, n_volumes - start)
                raw = stream.read(volume_bytes * count)
                if len(raw) != volume_bytes * count:
                    raise EOFError(f"the file ends after {start} of {n_volumes} volumes")
                block = np.frombuffer(raw, dtype=dtype).reshape((*shape[:3], count), order="F")
                block = block.astype(np.float32)
                if slope not in (None, 1.0) or inter not in (None, 0.0):
                    block = block * np.float32(slope or 1.0) + np.float32(inter or 0.0)
                yield block
    except (EOFError, OSError, ValueError) as error:
        raise NiftiIOError(f"cannot read {path}: {type(error).__name__}: {error}") from error


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
