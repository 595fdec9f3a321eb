"""A rule's declared outputs as its script receives them, looked up by name.

Scripts write exactly the paths their rule declares, taking each from ``snakemake.output``
(house convention). When a rule declares a list of files, one or more per table, figure
or source frame, the script finds each one's files with :func:`by_name` instead of building
them from a folder and a name: a name the rule does not declare is then an error naming
it, never a file written beside the declared outputs.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


def name_of(path: str | Path) -> str:
    """A file's name up to its first dot: ``results/x/consort.png`` -> ``consort``.

    Parameters
    ----------
    path : str or Path
        A file path; only its last component is used.

    Returns
    -------
    str
        The file name without its folder and without every extension.
    """
    return Path(path).name.split(".", 1)[0]


class Declared(dict[str, list[Path]]):
    """Name (:func:`name_of`) -> the declared paths of that name, in declaration order."""

    def __missing__(self, name: str) -> list[Path]:
        raise KeyError(
            f"the rule declares no output named {name!r} (it declares {', '.join(self)})"
        )

    def one(self, name: str) -> Path:
        """The single declared path of ``name`` (an error when there are several)."""
        paths = self[name]
        if len(paths) != 1:
            raise ValueError(f"the rule declares {len(paths)} outputs named {name!r}, not one")
        return paths[0]


def by_name(paths: Iterable[str | Path]) -> Declared:
    """Group declared paths by name: the ``.tsv``, ``.md`` and ``.tex`` of a table, the
    ``.png`` and ``.pdf`` of a figure.

    Parameters
    ----------
    paths : iterable of str or Path
        A rule's declared outputs (or inputs), as ``snakemake.output`` gives them.

    Returns
    -------
    Declared
        Name (:func:`name_of`) -> the paths of that name, in declaration order. Looking up
        a name the rule does not declare raises ``KeyError`` naming the declared ones;
        ``.one(name)`` raises ``ValueError`` unless exactly one path has that name.
    """
    declared = Declared()
    for path in map(Path, paths):
        declared.setdefault(name_of(path), []).append(path)
    return declared
