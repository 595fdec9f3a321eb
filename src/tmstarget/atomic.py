"""Files that appear whole or not at all.

A job killed while it writes (out of time on a cluster, Ctrl-C, a full disk) must not
leave a half-written file under the output's name, which a resumed run could take for a
finished one. Every writer of the package writes to a hidden partial file beside the
output and renames it into place (``os.replace``, atomic within a file system).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class OutputWriteError(OSError):
    """An output could not be written; the message names the file and the free space."""


def partial_path(path: str | Path) -> Path:
    """A hidden name beside ``path`` with the same extensions (``.a.partial-<pid>.nii.gz``
    for ``a.nii.gz``): writers that choose the format by extension still see it."""
    path = Path(path)
    base, dot, extensions = path.name.partition(".")
    return path.with_name(f".{base}.partial-{os.getpid()}{dot}{extensions}")


def remove_partials(path: str | Path) -> None:
    """Remove what killed writers of ``path`` left (their partial files or folders)."""
    path = Path(path)
    base, dot, extensions = path.name.partition(".")
    for stale in path.parent.glob(f".{base}.partial-*{dot}{extensions}"):
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)


@contextmanager
def replacing(path: str | Path) -> Iterator[Path]:
    """Yield a partial path to write; on success it replaces ``path``, on any error it is
    removed and ``path`` is left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_partials(path)
    partial = partial_path(path)
    try:
        yield partial
        os.replace(partial, path)
    except Exception as error:
        partial.unlink(missing_ok=True)
        # A full disk surfaces in some writers as an unrelated error (matplotlib's PDF
        # backend: "'Stream' object has no attribute 'pos'"): say which file and why.
        free_mb = shutil.disk_usage(path.parent).free / 1e6
        if isinstance(error, OSError) or free_mb < 100:
            raise OutputWriteError(
                f"cannot write {path}: {type(error).__name__}: {error} ({free_mb:.0f} MB free "
                f"on its file system{'; the disk is full' if free_mb < 100 else ''})"
            ) from error
        raise
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def write_text(path: str | Path, text: str) -> None:
    """``Path.write_text`` (UTF-8), atomically.

    Parameters
    ----------
    path : str or Path
        The output file; its folder is created when missing. A partial file beside it
        is renamed into place only once the whole text is written.
    text : str
        The file's content, written as UTF-8.

    Raises
    ------
    OutputWriteError
        When the file cannot be written (the message names it and the free space); the
        partial file is removed and ``path`` is left as it was.
    """
    with replacing(path) as partial:
        partial.write_text(text, encoding="utf-8")


def save_image(img, path: str | Path) -> None:
    """``img.to_filename(path)`` (nibabel; the same bytes), atomically.

    Parameters
    ----------
    img : nibabel.spatialimages.SpatialImage
        The image to save (any nibabel image with ``to_filename``).
    path : str or Path
        The output file; its extensions (``.nii.gz``, ``.nii``) choose the format, and the
        partial file written first keeps them.

    Raises
    ------
    OutputWriteError
        When the file cannot be written (the message names it and the free space); the
        partial file is removed and ``path`` is left as it was.
    """
    with replacing(path) as partial:
        img.to_filename(str(partial))
