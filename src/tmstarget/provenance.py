"""What a run used and what it made: the configuration as run, the software versions, and
a manifest of the manuscript's figures and tables with their checksums and captions.

Everything written here is deterministic for a given configuration and installation
(no dates, host names or paths outside the results folder), so reruns give the same bytes
and a changed checksum in the manifest means a changed figure or table.
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import yaml

# The packages whose versions decide the numbers and figures (the pins of pyproject.toml).
KEY_PACKAGES = (
    "tmstarget",
    "snakemake",
    "snakemake-executor-plugin-slurm",
    "numpy",
    "scipy",
    "pandas",
    "nibabel",
    "nilearn",
    "tedana",
    "scikit-learn",
    "pybids",
    "statsmodels",
    "matplotlib",
    "mne",
    "nitransforms",
)


def software_versions(packages: Iterable[str] = KEY_PACKAGES) -> pd.DataFrame:
    """Python, the operating system and each package's installed version ("not installed"
    when absent), one row each, in the order given.

    Parameters
    ----------
    packages : iterable of str, optional
        Distribution names to report (:data:`KEY_PACKAGES`: those whose versions decide
        the numbers and figures).

    Returns
    -------
    pandas.DataFrame
        Columns software and version: ``python``, ``platform`` (system and machine), then
        one row per package.
    """
    rows = [
        ("python", platform.python_version()),
        ("platform", f"{platform.system()} {platform.machine()}"),
    ]
    for name in packages:
        try:
            rows.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            rows.append((name, "not installed"))
    return pd.DataFrame(rows, columns=["software", "version"])


def config_yaml(config: Mapping) -> str:
    """The configuration as YAML with sorted keys (the same config gives the same text).

    Parameters
    ----------
    config : mapping
        The configuration as run (Snakemake's ``config``; its own mapping and sequence
        types become plain dicts and lists, keys strings).

    Returns
    -------
    str
        Block-style YAML (``yaml.safe_dump``) with sorted keys.
    """
    return yaml.safe_dump(_plain(config), sort_keys=True, default_flow_style=False)


def _plain(value):
    """Snakemake's config holds its own mapping/sequence types; YAML wants plain ones."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


@dataclass(frozen=True)
class ManuscriptItem:
    """One figure or table file of the manuscript and the caption that describes it.

    Attributes
    ----------
    section : str
        The manuscript section the file is listed under (e.g. "Trial outcomes").
    kind : str
        "figure", "table", "source data" or "provenance".
    path : str
        The file (relative to the working directory).
    caption_file : str or None
        The report caption (reStructuredText) that describes it; None: no caption.
    """

    section: str  # e.g. "Trial outcomes"
    kind: str  # "figure", "table", "source data" or "provenance"
    path: str
    caption_file: str | None = None


def caption_text(path: str | Path | None, config: Mapping | None = None) -> str:
    """The first paragraph of a report caption (reStructuredText) as one line of plain
    text. Jinja expressions are rendered as Snakemake's report renders them, with
    ``snakemake.config`` set to ``config`` (expressions that need more render empty);
    inline markup is removed."""
    if path is None:
        return ""
    import jinja2

    text = Path(path).read_text(encoding="utf-8").strip()
    first = re.split(r"\n\s*\n", text, maxsplit=1)[0]
    context = {"snakemake": SimpleNamespace(config=dict(config or {}))}
    first = jinja2.Environment(undefined=jinja2.ChainableUndefined).from_string(first)
    first = first.render(context)
    first = first.replace("**", "").replace("``", "").replace("*", "")
    return " ".join(first.split())


def sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def manifest(
    items: Iterable[ManuscriptItem], root: str | Path = ".", config: Mapping | None = None
) -> pd.DataFrame:
    """One row per item: section, kind, path (relative to ``root``), format, size in bytes,
    SHA-256 and caption (rendered with ``config``, see :func:`caption_text`). Raises
    FileNotFoundError naming a missing file.

    Parameters
    ----------
    items : iterable of ManuscriptItem
        The manuscript's files, in the order to list them.
    root : str or Path, default "."
        The folder paths are shown relative to (a path outside it is shown as given).
    config : mapping, optional
        The configuration the captions' Jinja expressions are rendered with.

    Returns
    -------
    pandas.DataFrame
        Columns section, kind, path, format (the suffixes without the first dot, e.g.
        ``nii.gz``), bytes, sha256 (hex) and caption (one line of plain text).

    Raises
    ------
    FileNotFoundError
        When an item's file does not exist.
    """
    root = Path(root)
    rows = []
    for item in items:
        path = Path(item.path)
        if not path.is_file():
            raise FileNotFoundError(f"manuscript item {item.path} does not exist")
        try:
            shown = path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            shown = path.as_posix()
        rows.append(
            {
                "section": item.section,
                "kind": item.kind,
                "path": shown,
                "format": "".join(path.suffixes).lstrip("."),
                "bytes": path.stat().st_size,
                "sha256": sha256(path),
                "caption": caption_text(item.caption_file, config),
            }
        )
    return pd.DataFrame(
        rows, columns=["section", "kind", "path", "format", "bytes", "sha256", "caption"]
    )


def manifest_markdown(table: pd.DataFrame, title: str, page_dir: str | Path = ".") -> str:
    """The manifest as a Markdown page: one list per section, figures and tables with their
    caption, each file's formats beside it as links relative to ``page_dir`` (the folder
    the page is written to; manifest paths are relative to the working directory).

    Parameters
    ----------
    table : pandas.DataFrame
        The manifest (:func:`manifest`); sections keep their order of appearance, and the
        files of one stem (a figure's PNG and PDF, a table's TSV, MD and TeX) share a line.
    title : str
        The page's heading.
    page_dir : str or Path, default "."
        The folder the page is written to, which the links are relative to.

    Returns
    -------
    str
        The Markdown page.
    """
    lines = [f"# {title}", ""]
    for section, rows in table.groupby("section", sort=False):
        lines += [f"## {section}", ""]
        stems: dict[str, list[pd.Series]] = {}
        for _, row in rows.iterrows():
            stem = re.sub(r"\.(png|pdf|svg|tsv|csv|md|tex|yaml|json)$", "", row["path"])
            stems.setdefault(stem, []).append(row)
        for stem, files in stems.items():
            caption = next((f["caption"] for f in files if f["caption"]), "")
            formats = ", ".join(
                f"[{f['format']}]({os.path.relpath(f['path'], page_dir)})" for f in files
            )
            caption = f": {caption}" if caption else ""
            lines.append(f"- **{Path(stem).name}** ({files[0]['kind']}; {formats}){caption}")
        lines.append("")
    return "\n".join(lines)
