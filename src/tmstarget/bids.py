"""BIDS in, BIDS-derivatives out.

Reading: :func:`find_runs` asks pybids for the resting-state runs of an fMRIPrep
derivatives dataset, as fMRIPrep 21.0 to 25.x names its files (``docs/outputs.rst``):
by default the per-echo series that ``--me-output-echos`` writes in each run's own
(boldref) space, ``sub-X[_ses-Y]_task-rest[_run-N]_echo-K_desc-preproc_bold.nii.gz``
without a ``space-`` entity, with the run's boldref ``desc-brain_mask``, its
``desc-confounds_timeseries.tsv``, its transform to T1w (``from-boldref_to-T1w`` from
23.2 on, ``from-scanner_to-T1w`` before) and the subject's
``anat/..._from-T1w_to-<template>_mode-image_xfm.h5``; or (:class:`Query`) series already
in a template space, single-echo series, or data denoised elsewhere. It checks what every
run needs before any job starts and reports all problems at once. The demo cohort is read
by exactly the same code. :func:`discover_runs` does both steps and remembers the runs
while the dataset is unchanged. Discovery costs grow linearly with the number of runs:
pybids indexes only the files it is asked about, a fixed number of queries find them all,
and sidecars are read by the inheritance principle (benchmarks/bench_planning.py).

Writing: :func:`bids_name` builds entity-ordered file names, :func:`write_tsv` writes a
table with its JSON data dictionary, :func:`write_dataset_description` fills in
``GeneratedBy``.

Echo and repetition times are in seconds, as in BIDS sidecars.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from tmstarget import __version__, atomic

BIDS_VERSION = "1.10.0"
# Entity order of the BIDS specification (the subset this workflow uses; ``label`` and
# ``desc`` are the derivatives' entities, after ``space`` and ``res``).
ENTITY_ORDER = ("sub", "ses", "task", "acq", "run", "echo", "space", "res", "label", "desc")
_LABEL = re.compile(r"^[A-Za-z0-9]+$")
# A Snakemake wildcard standing for a label in an output pattern, e.g. ``{subject}``.
_WILD = r"\{[A-Za-z_]\w*\}"
_WILDCARD = re.compile(rf"^{_WILD}$")
# Source entities: ``key-label`` pairs (labels alphanumeric or wildcards) or a wildcard
# standing for several pairs (``{run_key}``), joined by underscores.
_SOURCE_PART = re.compile(rf"^(?:[a-z]+-(?:[A-Za-z0-9]+|{_WILD})|{_WILD})$")


class BIDSInputError(ValueError):
    """The input dataset is missing something a run needs; the message names the file."""


def bids_label(name: str) -> str:
    """The BIDS label of a name of ours (a targeting method, a choice...): its letters and
    digits, e.g. ``circuit_searchlight`` -> ``circuitsearchlight``. A label holds no ``_``
    or ``-``: pybids reads ``desc-circuit_searchlight_stat`` as ``desc=circuit``. The name
    itself (tables' ``method`` column, figures, config) is unchanged; only file names
    carry the label."""
    label = re.sub(r"[^A-Za-z0-9]", "", str(name))
    if not label:
        raise ValueError(f"{name!r} has no letters or digits to make a BIDS label of")
    return label


def bids_name(
    suffix: str, extension: str, source: str | None = None, **entities: str | int | None
) -> str:
    """A BIDS file name with entities in specification order, e.g.
    ``bids_name("bold", ".nii.gz", sub="01", task="rest", run=1, echo=2)``.
    Entities whose value is None are left out. ``source`` puts the source file's
    entities first, as the derivatives specification names files
    (``<source_entities>[_keyword-<value>]_<suffix>``): ``"sub-01_task-rest_run-1"``.
    A value, or a part of ``source``, may be a Snakemake wildcard (``{subject}``,
    ``{run_key}``) in an output pattern. Raises ValueError naming the entity and the value
    when a label is not alphanumeric (map names with :func:`bids_label`)."""
    unknown = set(entities) - set(ENTITY_ORDER)
    if unknown:
        raise ValueError(f"unknown BIDS entities {sorted(unknown)}; known: {ENTITY_ORDER}")
    parts = []
    if source is not None:
        # underscores split the pairs, not a wildcard's name ({run_key})
        source_parts = re.split(r"_(?![^{]*\})", str(source))
        bad = [part for part in source_parts if not _SOURCE_PART.match(part)]
        if bad:
            raise ValueError(
                f"BIDS source entities {source!r}: {bad} not key-label pairs with alphanumeric "
                "labels"
            )
        given = {part.partition("-")[0] for part in source_parts}
        twice = sorted(given & {key for key, value in entities.items() if value is not None})
        if twice:
            raise ValueError(f"BIDS entities {twice} both in source {source!r} and given")
        parts.append(str(source))
    for key in ENTITY_ORDER:
        value = entities.get(key)
        if value is None:
            continue
        if not (_LABEL.match(str(value)) or _WILDCARD.match(str(value))):
            raise ValueError(
                f"BIDS entity {key!r}: label {str(value)!r} is not alphanumeric (a '_' or '-' "
                f"in it splits the name: {key}-{value} is read as {key}="
                f"{re.split(r'[^A-Za-z0-9]', str(value))[0]!r}); use bids_label()"
            )
        parts.append(f"{key}-{value}")
    if not _LABEL.match(suffix):
        raise ValueError(f"BIDS suffix {suffix!r} is not alphanumeric")
    return "_".join(parts + [suffix]) + extension


def write_json(path: str | Path, content: dict) -> None:
    """Write JSON with sorted keys and a trailing newline (same bytes on a rerun).

    Parameters
    ----------
    path : str or Path
        The output file (a sidecar, a data dictionary, a dataset description...); its
        folder is created when missing. It appears whole or not at all
        (:mod:`tmstarget.atomic`).
    content : dict
        What to write: JSON-serialisable values, indented by two spaces, keys sorted.

    Raises
    ------
    tmstarget.atomic.OutputWriteError
        When the file cannot be written (the message names it and the free space).
    """
    atomic.write_text(path, json.dumps(content, indent=2, sort_keys=True) + "\n")


def write_tsv(
    path: str | Path,
    table: pd.DataFrame,
    dictionary: dict | None = None,
    dictionary_path: str | Path | None = None,
) -> None:
    """Write a BIDS TSV and, if given, its JSON data dictionary.

    The table is tab-separated, with ``n/a`` for missing values, a header line, no index
    column and Unix line ends. Each file appears whole or not at all
    (:mod:`tmstarget.atomic`).

    Parameters
    ----------
    path : str or Path
        The ``.tsv`` file; its folder is created when missing.
    table : pandas.DataFrame
        The rows to write, its columns in order; values are written as they are (units are
        the columns' own, e.g. ``x_mm`` in mm, ``repetition_time_s`` in seconds).
    dictionary : dict or None
        The JSON data dictionary (column name to its description: ``Description``,
        ``Units``, ``Levels``...), written with :func:`write_json`. Every column of
        ``table`` must be described. None writes the TSV only.
    dictionary_path : str or Path or None
        Where the data dictionary goes; None: next to the table, ``path`` with the suffix
        ``.json``. Unused without ``dictionary``.

    Raises
    ------
    ValueError
        When ``dictionary`` does not describe every column of ``table`` (the message names
        the file and the columns); nothing is written then.
    tmstarget.atomic.OutputWriteError
        When a file cannot be written (the message names it and the free space).
    """
    path = Path(path)
    if dictionary is not None:
        missing = [column for column in table.columns if column not in dictionary]
        if missing:
            raise ValueError(f"data dictionary of {path.name} does not describe {missing}")
    atomic.write_text(path, table.to_csv(sep="\t", index=False, na_rep="n/a", lineterminator="\n"))
    if dictionary is not None:
        write_json(dictionary_path or path.with_suffix(".json"), dictionary)


def source_url(source: str | Path, root: str | Path) -> str:
    """A ``SourceDatasets`` URL for the local dataset folder ``source`` (a path as the
    workflow sees it: absolute, or relative to its working folder) read by the derived
    dataset at ``root``: relative to ``root`` when both paths are relative (the
    specification's form, ``file://../demo/bids/derivatives/fmriprep``: the two move
    together), else absolute (``file:///data/fmriprep``)."""
    source, root = Path(source), Path(root)
    if source.is_absolute() or root.is_absolute():
        return Path(os.path.abspath(source)).as_uri()
    return "file://" + Path(os.path.relpath(source, root)).as_posix()


def write_dataset_description(
    path: str | Path,
    name: str,
    dataset_type: str = "derivative",
    sources: list[str | Path] | None = None,
    extra: dict | None = None,
) -> None:
    """Write the ``dataset_description.json`` of a dataset this workflow wrote.

    A derivatives folder, or a raw dataset the workflow wrote (the demo), gets
    ``GeneratedBy`` naming the package and its version. ``Name``, ``BIDSVersion``
    (:data:`BIDS_VERSION`) and ``DatasetType`` are always written.

    Parameters
    ----------
    path : str or Path
        The output file, which must be named ``dataset_description.json`` (at the top of
        the dataset it describes).
    name : str
        The dataset's ``Name``.
    dataset_type : str
        The ``DatasetType``: ``"derivative"`` (default) or ``"raw"``. A derivative always
        gets ``GeneratedBy``; a raw dataset only when ``extra`` is given.
    sources : list of str or Path, or None
        The local dataset folders read (paths as the workflow sees them: absolute, or
        relative to its working folder), written as ``SourceDatasets`` URLs relative to
        the dataset where possible (:func:`source_url`). Written only together with
        ``GeneratedBy``; None or empty writes no ``SourceDatasets``.
    extra : dict or None
        Further fields (e.g. ``License``), added last: a key given here replaces the
        field of the same name.

    Raises
    ------
    ValueError
        When ``path`` is not named ``dataset_description.json``.
    tmstarget.atomic.OutputWriteError
        When the file cannot be written (the message names it and the free space).
    """
    path = Path(path)
    if path.name != "dataset_description.json":
        raise ValueError(f"{path}: a dataset description must be named dataset_description.json")
    content: dict = {"Name": name, "BIDSVersion": BIDS_VERSION, "DatasetType": dataset_type}
    if dataset_type == "derivative" or extra is not None:
        content["GeneratedBy"] = [
            {
                "Name": "tmstarget",
                "Version": __version__,
                "Description": "Connectivity-guided TMS targeting workflow",
            }
        ]
        if sources:
            content["SourceDatasets"] = [
                {"URL": source_url(source, path.parent)} for source in sources
            ]
    write_json(path, content | (extra or {}))


def preprocessed_bold_sidecar(
    repetition_time_s: float, task: str, description: str, settings: dict | None = None
) -> dict:
    """The JSON sidecar of a preprocessed BOLD series of ours.

    ``SkullStripped`` is REQUIRED for preprocessed images by the derivatives
    specification: true, every voxel outside the brain mask is zero. The source's
    REQUIRED ``RepetitionTime`` and ``TaskName`` are propagated as the specification
    asks.

    Parameters
    ----------
    repetition_time_s : float
        The series' repetition time in seconds (``RepetitionTime``).
    task : str
        The task's name (``TaskName``), e.g. ``"rest"``.
    description : str
        What the series is (``Description``).
    settings : dict or None
        The settings that made it (``CleaningSettings``, our own field); None leaves the
        field out.

    Returns
    -------
    dict
        The sidecar's fields, ready for :func:`write_json`.
    """
    sidecar = {
        "SkullStripped": True,
        "RepetitionTime": float(repetition_time_s),
        "TaskName": task,
        "Description": description,
    }
    if settings is not None:
        sidecar["CleaningSettings"] = settings
    return sidecar


# --------------------------------------------------------------------------- discovery

# How the runs enter (config key input.bold_space): fMRIPrep's per-echo series in each
# run's own space, or series already in a template space (another pipeline's output).
BOLD_SPACES = ("native", "template")


@dataclass(frozen=True)
class Query:
    """What to look for in the fMRIPrep derivatives (the config's ``input`` section and
    ``preprocess.denoised_input_desc``).

    ``space``: the template of the analysis (and of ``bold_space="template"`` inputs).
    ``bold_space``: ``"native"`` reads what fMRIPrep writes with ``--me-output-echos``:
    ``..._echo-<n>_desc-preproc_bold`` without a ``space-`` entity, the run's boldref
    ``desc-brain_mask``, its transform to T1w and the subject's ``from-T1w_to-<space>``;
    ``"template"`` reads series already in ``space``. ``multi_echo`` false reads one
    series per run (``desc-<desc>_bold``, no ``echo-``). ``denoised_desc`` reads data
    denoised elsewhere (one series per run, ``desc-<denoised_desc>``).
    ``template_transform``: a file that maps ``space`` points to the points of another
    template (its ``from-`` entity), for subjects registered only to that one.
    """

    space: str = "MNI152NLin6Asym"
    task: str = "rest"
    bold_space: str = "native"
    multi_echo: bool = True
    denoised_desc: str | None = None
    subjects: tuple[str, ...] | None = None
    resolution: str | None = None
    template_transform: str | None = None

    @property
    def desc(self) -> str:
        return self.denoised_desc or "preproc"

    @property
    def wants_echoes(self) -> bool:
        return self.multi_echo and self.denoised_desc is None

    @property
    def native(self) -> bool:
        return self.bold_space == "native"

    @classmethod
    def from_config(cls, config: dict) -> Query:
        """The query of a validated workflow config."""
        section = config["input"]
        subjects = section.get("subjects")
        return cls(
            space=section["space"],
            task=section["task"],
            bold_space=section.get("bold_space", "native"),
            multi_echo=bool(section.get("multi_echo", True)),
            denoised_desc=config.get("preprocess", {}).get("denoised_input_desc"),
            subjects=None if subjects is None else tuple(sorted(subjects)),
            resolution=section.get("resolution"),
            template_transform=section.get("template_transform"),
        )


@dataclass
class Run:
    """One resting-state run of one subject, as found on disk.

    ``space`` is ``"native"`` (the run's own boldref space) or the template the files are
    in. ``template_xfms`` are the files that map template points to the subject's T1w
    space, template side first (fMRIPrep's ``from-T1w_to-<template>`` h5, after a
    template-to-template file where one is configured); ``boldref_xfm`` maps T1w points
    to the run's boldref space (native runs only). ``n_dummy`` counts the confounds
    table's ``non_steady_state_outlierXX`` columns."""

    subject: str
    session: str | None
    run: str | None
    echo_files: list[str]
    echo_times_s: list[float]
    repetition_time_s: float
    mask_file: str
    confounds_file: str
    entities: dict[str, str] = field(default_factory=dict)
    space: str = "native"
    n_dummy: int = 0
    boldref_xfm: str | None = None
    template_xfms: list[str] = field(default_factory=list)
    t1w_file: str | None = None
    shape: list[int] = field(default_factory=list)  # of the series (x, y, z, volumes)

    @property
    def key(self) -> str:
        """The run's entities after ``sub-`` as used in output names, e.g.
        ``ses-1_task-rest_run-2`` (session, task, acquisition and run, in BIDS order)."""
        short = {"session": "ses", "task": "task", "acquisition": "acq", "run": "run"}
        parts = [f"{short[k]}-{self.entities[k]}" for k in short if k in self.entities]
        return "_".join(parts)

    @property
    def is_multi_echo(self) -> bool:
        return len(self.echo_files) > 1

    @property
    def resample_xfms(self) -> list[str]:
        """The transforms that carry this run into the template grid, template side first
        (empty for a run already in the template)."""
        return [*self.template_xfms, self.boldref_xfm] if self.boldref_xfm else []


# What find_runs reads from an fMRIPrep folder: in each subject's (or session's) func/
# folder the BOLD series, brain masks, confounds tables, boldrefs and transforms; in
# anat/ the transforms and the preprocessed T1w. The rest (figures/, reports, JSON
# sidecars, other anatomical images) stays out of pybids's index: pybids spends about
# 0.5 ms of CPU per indexed file, and fMRIPrep writes 100 or more files per subject.
# Patterns are matched against "/" + the path relative to the folder.
_NOT_INDEXED = (
    # at the top: everything but the subject folders
    re.compile(r"^/(?!sub-[A-Za-z0-9]+$)[^/]+$"),
    # in a subject or session folder: everything but func/, anat/ and the session folders
    re.compile(r"^/sub-[^/]+(/ses-[^/]+)?/(?!func$|anat$|ses-)[^/]+$"),
    # in func/: everything but images of BOLD series, masks and boldrefs, timeseries
    # tables and ITK text transforms
    re.compile(
        r"/func/(?![^/]*_(bold|mask|boldref)\.nii(\.gz)?$|[^/]*_timeseries\.tsv$"
        r"|[^/]*_xfm\.txt$)[^/]+$"
    ),
    # in anat/: everything but the T1w-to-template transforms and the preprocessed T1w
    re.compile(
        r"/anat/(?![^/]*_from-T1w_to-[^/]*_xfm\.h5$"
        r"|(?![^/]*_space-)[^/]*_desc-preproc_T1w\.nii(\.gz)?$)[^/]+$"
    ),
)


def load_layout(bids_dir: str | Path, fmriprep_dir: str | Path, query: Query | None = None):
    """A pybids layout of the fMRIPrep derivatives, for :func:`find_runs`.

    Only what :func:`find_runs` reads is indexed (see ``_NOT_INDEXED``), without JSON
    metadata, which :func:`find_runs` reads from the sidecars itself (pybids's metadata
    index costs more than the rest of discovery). Given a ``query``, only the func/ files
    of that query are: fMRIPrep also writes the series in other spaces. The raw dataset is
    checked but not indexed: nothing in it is looked up through pybids.

    Raises :class:`BIDSInputError` naming the folder when either is missing or lacks a
    ``dataset_description.json``.
    """
    from bids import BIDSLayout, BIDSLayoutIndexer  # slow to import: only when reading

    bids_dir, fmriprep_dir = Path(bids_dir), Path(fmriprep_dir)
    _check_dataset_folders(bids_dir, fmriprep_dir)
    ignore = list(_NOT_INDEXED)
    if query is not None:
        ignore.append(_outside_query(query))
    indexer = BIDSLayoutIndexer(validate=False, ignore=ignore, index_metadata=False)
    return BIDSLayout(
        fmriprep_dir,
        validate=False,
        is_derivative=True,
        config=["bids", "derivatives"],
        indexer=indexer,
    )


def _outside_query(query: Query) -> re.Pattern:
    """Files in func/ other than the BOLD files, masks, confounds and transforms of one
    query."""
    task, space, desc = (re.escape(label) for label in (query.task, query.space, query.desc))
    image = r"\.nii(\.gz)?$"
    if query.native:
        # no space entity (fMRIPrep's boldref space)
        where = rf"[^/]*_task-{task}_(?![^/]*_space-)(?:[^/]*_)?"
    else:
        where = rf"[^/]*_task-{task}_(?:[^/]*_)?space-{space}_(?:[^/]*_)?"
    wanted = [
        rf"{where}desc-{desc}_bold{image}",
        rf"{where}desc-brain_mask{image}",
        rf"[^/]*_task-{task}_(?:[^/]*_)?desc-confounds_timeseries\.tsv$",
    ]
    if query.native:
        wanted.append(rf"[^/]*_task-{task}_(?:[^/]*_)?to-T1w_[^/]*_xfm\.txt$")
    return re.compile(rf"/func/(?!{'|'.join(wanted)})[^/]+$")


def _check_dataset_folders(bids_dir: Path, fmriprep_dir: Path) -> None:
    for folder, key in ((bids_dir, "input.bids_dir"), (fmriprep_dir, "input.fmriprep_dir")):
        if not (folder / "dataset_description.json").is_file():
            raise BIDSInputError(
                f"{folder} is not a BIDS dataset (no dataset_description.json); "
                f"set config key {key} to the dataset's root folder"
            )


def parse_bids_name(name: str) -> tuple[dict[str, str], str, str]:
    """Entities (short keys: ``sub``, ``ses``, ``run``...), suffix and extension of a
    BIDS file name; the inverse of :func:`bids_name`, e.g.
    ``({"sub": "01", "task": "rest", "echo": "2"}, "bold", ".nii.gz")``. Labels stay
    strings as written (``run-01`` gives ``"01"``)."""
    stem, dot, rest = os.path.basename(name).partition(".")
    *pairs, suffix = stem.split("_")
    entities = {}
    for pair in pairs:
        key, _, value = pair.partition("-")
        entities[key] = value
    return entities, suffix, dot + rest


# The fMRIPrep command line that writes what the native input mode reads (README).
FMRIPREP_HINT = "fMRIPrep writes them with --me-output-echos --output-spaces MNI152NLin6Asym:res-2"


def find_runs(
    layout, query: Query | None = None, problems: list[str] | None = None, **changes
) -> dict[str, list[Run]]:
    """All runs of the query, by subject (labels without ``sub-``).

    Each run has its series (echo files sorted by echo time, from the sidecars'
    ``EchoTime``; one file for single-echo or denoised input), brain mask, confounds
    table, and, for native runs, the transforms that carry it into the template. Every
    problem found is collected and raised at the end as one :class:`BIDSInputError`, one
    line per problem naming the file or run and the fix; with ``problems`` (a list) they
    are appended to it instead, and the runs without problems are returned (the input
    checks then add theirs and report all at once). ``changes`` override fields of
    ``query`` (e.g. ``space=``).

    A fixed number of pybids queries whatever the number of subjects; files are matched to
    runs by the entities in their names, and metadata is read from the JSON sidecars by
    the BIDS inheritance principle, so the cost grows linearly with the number of runs.
    """
    from bids.layout import Query as PybidsQuery

    query = replace(query or Query(), **changes)
    if query.bold_space not in BOLD_SPACES:
        raise BIDSInputError(
            f"input.bold_space must be one of {BOLD_SPACES}, got {query.bold_space!r}"
        )
    images = [".nii", ".nii.gz"]
    where = {"space": PybidsQuery.NONE} if query.native else {"space": query.space}
    bold_query = {"task": query.task, "desc": query.desc, "suffix": "bold", "extension": images}
    if query.resolution is not None and not query.native:
        bold_query["res"] = query.resolution
    found = _get(layout, **where, **bold_query)
    on_disk = _bold_names_on_disk(layout.root, query.task)
    collect = problems
    problems = []
    wanted_subjects = set(query.subjects) if query.subjects is not None else None
    if wanted_subjects is not None:
        found = [path for path in found if parse_bids_name(path)[0].get("sub") in wanted_subjects]
        missing = sorted(wanted_subjects - set(on_disk))
        if missing:
            problems.append(
                f"input.subjects lists {['sub-' + s for s in missing]}, which have no "
                f"'{query.task}' BOLD files under {layout.root}; remove them or check the labels"
            )
    masks = _by_run(
        _get(layout, **where, task=query.task, desc="brain", suffix="mask", extension=images)
    )
    confounds = _by_run(
        _get(layout, task=query.task, desc="confounds", suffix="timeseries", extension=".tsv")
    )
    boldref_xfms = (
        _by_run(_get(layout, task=query.task, suffix="xfm", to="T1w", extension=".txt"))
        if query.native
        else {}
    )
    anat = _AnatFiles(
        _get(layout, suffix="xfm", extension=".h5", **{"from": "T1w"}),
        _get(layout, suffix="T1w", desc="preproc", space=PybidsQuery.NONE, extension=images),
    )
    grouped: dict[tuple, list[str]] = {}
    for path in found:
        grouped.setdefault(_run_key(path), []).append(path)

    for subject in sorted(set(on_disk) - {key[0] for key in grouped}):
        if wanted_subjects is None or subject in wanted_subjects:
            problems.append(_absent_subject(subject, on_disk[subject], query))

    sidecars = _Sidecars(layout.root)
    runs: dict[str, list[Run]] = {}
    for key, files in sorted(grouped.items(), key=lambda item: tuple(map(str, item[0]))):
        files = _series_of_run(key, files, query, problems)
        if files is None:
            continue
        run = _describe_run(
            key, files, masks, confounds, boldref_xfms, anat, sidecars, query, problems
        )
        if run is not None:
            runs.setdefault(key[0], []).append(run)
    if not found and not problems:
        problems.append(_nothing_found(layout.root, query))
    if problems and collect is not None:
        collect += problems
    elif problems:
        raise BIDSInputError(_report(problems, layout.root))
    return runs


def _report(problems: list[str], root) -> str:
    head = f"{len(problems)} problem(s) with the inputs under {root}:"
    return "\n".join([head, *(f"  - {problem}" for problem in problems)])


def _nothing_found(root, query: Query) -> str:
    spaces = _bold_spaces(root, query.task)
    if query.native:
        return (
            f"no '{query.task}' BOLD files with desc-{query.desc} in fMRIPrep's native "
            f"(boldref) space, i.e. without a space- entity (spaces present: "
            f"{spaces or 'none'}); {FMRIPREP_HINT}, or set input.bold_space: template "
            "for series already in a template space"
        )
    return (
        f"no '{query.task}' BOLD files with desc-{query.desc} in space '{query.space}' under "
        f"the fMRIPrep derivatives (spaces present: {spaces or 'none'}); set config key "
        "input.space to one of them, or input.bold_space: native for fMRIPrep's per-echo "
        "series, or check preprocess.denoised_input_desc"
    )


def _absent_subject(subject: str, names: list[str], query: Query) -> str:
    """Why a subject with BOLD files on disk has no run of the query."""
    spaces = sorted({parse_bids_name(n)[0].get("space", "native") for n in names})
    where = "native (no space- entity)" if query.native else f"space-{query.space}"
    return (
        f"sub-{subject} has '{query.task}' BOLD files only in {spaces} ({names[0]}, ...), "
        f"none {where} with desc-{query.desc}; it would be left out: "
        + (
            f"{FMRIPREP_HINT}"
            if query.native
            else f"set input.space, or resample its runs into {query.space}"
        )
        + ", or leave it out with input.subjects"
    )


def _series_of_run(key, files: list[str], query: Query, problems: list[str]):
    """The run's echo files (multi-echo), or its one series; None (with a problem noted)
    when what is on disk does not fit the query."""
    subject, session, run, acquisition = key
    echoes = [f for f in files if "echo" in parse_bids_name(f)[0]]
    combined = [f for f in files if "echo" not in parse_bids_name(f)[0]]
    label = _run_label(key)
    if query.wants_echoes:
        # fMRIPrep's --output-spaces func also writes the optimally combined series next
        # to the echoes: it is not an echo.
        if echoes:
            return echoes
        problems.append(
            f"{label}: found only the optimally combined series {Path(combined[0]).name} "
            "(no echo- entity), not the per-echo series tedana needs "
            f"(..._echo-1_desc-{query.desc}_bold.nii.gz ...); rerun fMRIPrep with "
            "--me-output-echos, or set input.multi_echo: false for single-echo data"
        )
        return None
    if combined and len(combined) == 1:
        return combined
    if query.denoised_desc is None and echoes:
        problems.append(
            f"{label}: input.multi_echo is false but the run has {len(echoes)} echo files "
            f"({Path(echoes[0]).name}, ...); set input.multi_echo: true"
        )
    else:
        problems.append(
            f"{label}: expected one desc-{query.desc} series, found {[Path(f).name for f in files]}"
        )
    return None


def _run_label(key) -> str:
    subject, session, run, acquisition = key
    parts = [f"sub-{subject}"]
    parts += [f"ses-{session}"] if session else []
    parts += [f"acq-{acquisition}"] if acquisition else []
    parts += [f"run-{run}"] if run else []
    return " ".join(parts)


def _bold_names_on_disk(root: str | Path, task: str) -> dict[str, list[str]]:
    """Names of the ``task`` BOLD images in every subject's (and session's) func/ folder
    under ``root``, by subject, read from the names on disk (the layout indexes one query
    only). Only those folders are listed: an fMRIPrep folder may hold FreeSurfer's
    hundreds of files per subject under sourcedata/."""
    names: dict[str, list[str]] = {}
    for func in _func_folders(str(root)):
        for name in sorted(os.listdir(func)):
            entities, suffix, extension = parse_bids_name(name)
            if (
                suffix == "bold"
                and extension in (".nii", ".nii.gz")
                and entities.get("task") == task
                and "sub" in entities
            ):
                names.setdefault(entities["sub"], []).append(name)
    return names


def _func_folders(root: str) -> list[str]:
    """``sub-*/func`` and ``sub-*/ses-*/func`` under ``root``."""
    folders = []
    with os.scandir(root) as top:
        subjects = sorted(e.path for e in top if e.is_dir() and _SUBJECT_FOLDER.match(e.name))
    for subject in subjects:
        levels = [subject]
        with os.scandir(subject) as inside:
            levels += sorted(e.path for e in inside if e.is_dir() and e.name.startswith("ses-"))
        folders += [os.path.join(level, "func") for level in levels]
    return [folder for folder in folders if os.path.isdir(folder)]


def _bold_spaces(root: str | Path, task: str) -> list[str]:
    """Spaces of the ``task`` BOLD files under ``root`` ("native" where a name has no
    space entity); for error messages."""
    return sorted(
        {
            parse_bids_name(name)[0].get("space", "native")
            for names in _bold_names_on_disk(root, task).values()
            for name in names
        }
    )


def _get(layout, **query) -> list[str]:
    return layout.get(scope="derivatives", return_type="filename", **query)


def _run_key(path: str) -> tuple[str, str | None, str | None, str | None]:
    """(subject, session, run, acquisition) of a file, None where the name has none."""
    entities = parse_bids_name(path)[0]
    return (entities["sub"], entities.get("ses"), entities.get("run"), entities.get("acq"))


def _by_run(paths: list[str]) -> dict[tuple, list[str]]:
    by_run: dict[tuple, list[str]] = {}
    for path in paths:
        by_run.setdefault(_run_key(path), []).append(path)
    return by_run


class _AnatFiles:
    """The subjects' T1w-to-template transforms and preprocessed T1w images, found once;
    the anatomy is per subject (``sub-X/anat``) or, when fMRIPrep ran per session, per
    session (``sub-X/ses-Y/anat``)."""

    def __init__(self, transforms: list[str], t1w_images: list[str]):
        self.transforms: dict[str, list[tuple[dict, str]]] = {}
        for path in transforms:
            entities = parse_bids_name(path)[0]
            self.transforms.setdefault(entities["sub"], []).append((entities, path))
        self.t1w: dict[str, list[tuple[dict, str]]] = {}
        for path in t1w_images:
            entities = parse_bids_name(path)[0]
            self.t1w.setdefault(entities["sub"], []).append((entities, path))

    @staticmethod
    def _pick(files: list[tuple[dict, str]], session: str | None) -> list[str]:
        """The session's own files, else the subject-wide ones."""
        own = [p for e, p in files if session is not None and e.get("ses") == session]
        return own or [p for e, p in files if "ses" not in e]

    def template_xfm(self, subject: str, session: str | None, template: str) -> list[str]:
        files = [
            (e, p)
            for e, p in self.transforms.get(subject, [])
            if e.get("to") == template and e.get("mode", "image") == "image"
        ]
        return self._pick(files, session)

    def templates(self, subject: str) -> list[str]:
        return sorted({e.get("to", "?") for e, _ in self.transforms.get(subject, [])})

    def t1w_image(self, subject: str, session: str | None) -> str | None:
        chosen = self._pick(self.t1w.get(subject, []), session)
        return chosen[0] if len(chosen) == 1 else None


def _template_xfms(key, anat: _AnatFiles, query: Query, problems: list[str]) -> list[str] | None:
    """The files mapping template points to the subject's T1w space, template side first;
    None (with a problem noted when they are needed) if the subject has none."""
    subject, session = key[0], key[1]
    label = f"sub-{subject}" + (f" ses-{session}" if session else "")
    direct = anat.template_xfm(subject, session, query.space)
    if len(direct) == 1:
        return direct
    if len(direct) > 1:
        problems.append(f"{label}: several T1w-to-{query.space} transforms: {direct}")
        return None
    if query.template_transform:
        other = parse_bids_name(query.template_transform)[0].get("from")
        via = anat.template_xfm(subject, session, other) if other else []
        if len(via) == 1:
            return [str(query.template_transform), via[0]]
        if query.native:
            problems.append(
                f"{label}: no anat/..._from-T1w_to-{other}_mode-image_xfm.h5 for "
                f"input.template_transform ({Path(query.template_transform).name}) to "
                "continue from"
            )
        return None
    if not query.native:
        return None  # only native coordinates need it; the run itself is in the template
    others = anat.templates(subject)
    if others:
        problems.append(
            f"{label}: fMRIPrep registered the T1w only to {others}, but the circuit map and "
            f"masks are in {query.space}; rerun fMRIPrep with --output-spaces "
            f"{query.space}:res-2 (added to the other spaces), or set input.template_transform "
            f"to a transform from {others[0]} to {query.space} (e.g. TemplateFlow's "
            f"tpl-{query.space}_from-{others[0]}_mode-image_xfm.h5)"
        )
    else:
        problems.append(
            f"{label}: no anat/sub-{subject}_from-T1w_to-{query.space}_mode-image_xfm.h5 "
            f"(the T1w-to-template transform); {FMRIPREP_HINT}"
        )
    return None


def _boldref_xfm(key, boldref_xfms: dict, problems: list[str]) -> str | None:
    """The run's transform to T1w: ``from-boldref_to-T1w_mode-image_desc-coreg_xfm.txt``
    (fMRIPrep 23.2 and later), ``from-scanner_to-T1w_mode-image_xfm.txt`` (21.0 to 23.1),
    or any other ``from-*_to-T1w`` (fMRIPrep's development docs write ``from-run``)."""
    candidates = boldref_xfms.get(key, [])
    if len(candidates) > 1:
        coreg = [c for c in candidates if parse_bids_name(c)[0].get("desc") == "coreg"]
        candidates = coreg if len(coreg) == 1 else candidates
    if len(candidates) == 1:
        return candidates[0]
    if candidates:
        problems.append(
            f"{_run_label(key)}: several transforms to T1w, expected one: "
            f"{[Path(c).name for c in candidates]}"
        )
    else:
        problems.append(
            f"{_run_label(key)}: no func/..._from-boldref_to-T1w_mode-image_desc-coreg_xfm.txt "
            "(nor the pre-23.2 from-scanner_to-T1w_mode-image_xfm.txt): the run's transform "
            "to the T1w image; fMRIPrep writes it with every run"
        )
    return None


def _confounds_header(path: str) -> list[str]:
    with open(path, encoding="utf-8") as handle:
        return handle.readline().rstrip("\n").split("\t")


class _Sidecars:
    """Metadata of data files from their JSON sidecars, by the BIDS inheritance principle:
    every ``*_<suffix>.json`` in the file's folder or a parent folder (up to ``root``)
    whose entities are among the file's, with the same values, applied from the top down
    (the nearest, most specific sidecar wins). Each folder is listed once; paths are
    handled as strings (pathlib costs more than the rest of this for 10,000 files)."""

    def __init__(self, root: str | Path):
        self.root = os.path.normpath(str(root))
        self._chains: dict[str, list[dict[str, list[tuple[dict[str, str], str]]]]] = {}

    def _chain(self, folder: str) -> list[dict[str, list[tuple[dict[str, str], str]]]]:
        """The sidecars of ``folder`` and of its parents up to the root, top first."""
        if folder not in self._chains:
            parent = os.path.dirname(folder)
            inside = folder != self.root and parent != folder
            inside = inside and (parent + os.sep).startswith(self.root + os.sep)
            above = self._chain(parent) if inside else []
            self._chains[folder] = [*above, self._sidecars_in(folder)]
        return self._chains[folder]

    @staticmethod
    def _sidecars_in(folder: str) -> dict[str, list[tuple[dict[str, str], str]]]:
        """The JSON files of ``folder`` by suffix: (entities, path)."""
        by_suffix: dict[str, list[tuple[dict[str, str], str]]] = {}
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    if entry.name.endswith(".json") and entry.is_file():
                        entities, suffix, _ = parse_bids_name(entry.name)
                        by_suffix.setdefault(suffix, []).append((entities, entry.path))
        except OSError:
            pass
        return by_suffix

    def metadata(self, path: str | Path) -> dict:
        return self.metadata_and_sources(path)[0]

    def metadata_and_sources(self, path: str | Path) -> tuple[dict, dict[str, str]]:
        """The metadata, and for each key the sidecar it came from."""
        folder, name = os.path.split(os.path.normpath(str(path)))
        entities, suffix, _ = parse_bids_name(name)
        applicable = []  # (depth from the top, number of entities, sidecar)
        for depth, sidecars in enumerate(self._chain(folder)):
            for js_entities, sidecar in sidecars.get(suffix, []):
                if all(entities.get(key) == value for key, value in js_entities.items()):
                    applicable.append((depth, len(js_entities), sidecar))
        metadata: dict = {}
        sources: dict[str, str] = {}
        for _, _, sidecar in sorted(applicable):
            try:
                with open(sidecar, encoding="utf-8") as handle:
                    content = json.load(handle)
            except (OSError, json.JSONDecodeError) as error:
                raise BIDSInputError(f"{sidecar}: not a readable JSON sidecar ({error})") from error
            if not isinstance(content, dict):
                raise BIDSInputError(f"{sidecar}: a JSON sidecar must hold an object")
            metadata.update(content)
            sources.update(dict.fromkeys(content, sidecar))
        return metadata, sources


def _seconds(value, bold: str, field_name: str, problems: list[str]) -> float | None:
    """A sidecar time in seconds, or None with the problem noted."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        problems.append(
            f"{bold}: {field_name} is {value!r}, not a number; BIDS sidecars give times in "
            "seconds as numbers (e.g. 0.032)"
        )
        return None
    if not np.isfinite(seconds) or seconds <= 0:
        problems.append(f"{bold}: {field_name} is {value!r}; it must be a positive number (s)")
        return None
    return seconds


def _describe_run(
    key, files, masks, confounds, boldref_xfms, anat, sidecars, query, problems
) -> Run | None:
    subject, session, run, acquisition = key
    label = _run_label(key)
    n_before = len(problems)
    echo_times, repetition_times = [], set()
    for bold in files:
        try:
            metadata, sources = sidecars.metadata_and_sources(bold)
        except BIDSInputError as error:
            problems.append(str(error))
            continue
        if "RepetitionTime" not in metadata:
            problems.append(f"{bold}: no sidecar gives its RepetitionTime (seconds)")
        else:
            tr = _seconds(
                metadata["RepetitionTime"], sources["RepetitionTime"], "RepetitionTime", problems
            )
            repetition_times.add(tr)
        if len(files) == 1:
            echo_times.append(float("nan"))  # single-echo or denoised: not needed
        elif "EchoTime" not in metadata:
            problems.append(
                f"{bold}: sidecar has no EchoTime; add EchoTime (seconds) to its JSON "
                "(fMRIPrep copies it from the raw data's sidecar)"
            )
        else:
            te = _seconds(metadata["EchoTime"], sources["EchoTime"], "EchoTime", problems)
            if te is not None and te >= 1:
                problems.append(
                    f"{sources['EchoTime']}: EchoTime is {te}; BIDS gives it in seconds (this "
                    f"looks like milliseconds: {te / 1000:g} s)"
                )
            echo_times.append(te)
    repetition_times.discard(None)
    if len(repetition_times) > 1:
        problems.append(f"{label}: echoes disagree on RepetitionTime {sorted(repetition_times)}")
    if len(files) > 1 and len(problems) == n_before and len(set(echo_times)) != len(echo_times):
        problems.append(
            f"{label}: two echo files share EchoTime {echo_times}; each echo needs its own "
            "EchoTime in its sidecar"
        )
    if len(files) > 1:
        # the order only once each echo time is fine (an EchoTime in ms is one problem)
        order_known = len(problems) == n_before
        _check_echo_numbers(label, files, echo_times, sidecars, problems, order_known)
    mask_file = _one(masks.get(key, []), f"brain mask of {label}", query, problems)
    confounds_file = _one(confounds.get(key, []), f"confounds of {label}", query, problems)
    boldref_xfm = _boldref_xfm(key, boldref_xfms, problems) if query.native else None
    template_xfms = _template_xfms(key, anat, query, problems)
    shape = _series_shape(files, repetition_times, problems)
    if len(problems) > n_before:
        return None
    order = sorted(range(len(files)), key=lambda i: echo_times[i])
    common = {"subject": subject, "task": query.task}
    for name, value in (("session", session), ("run", run), ("acquisition", acquisition)):
        if value is not None:
            common[name] = value
    n_dummy = sum(
        column.startswith("non_steady_state_outlier")
        for column in _confounds_header(confounds_file)
    )
    return Run(
        subject=subject,
        session=session,
        run=run,
        echo_files=[files[i] for i in order],
        echo_times_s=[echo_times[i] for i in order],
        repetition_time_s=repetition_times.pop(),
        mask_file=mask_file,
        confounds_file=confounds_file,
        entities=common,
        space="native" if query.native else query.space,
        n_dummy=n_dummy,
        boldref_xfm=boldref_xfm,
        template_xfms=template_xfms or [],
        t1w_file=anat.t1w_image(subject, session),
        shape=shape,
    )


def _check_echo_numbers(
    label, files, echo_times, sidecars, problems: list[str], order_known: bool = True
) -> None:
    """The echo- entities are 1..N (a gap is a missing echo file) and the sidecars'
    EchoTime grows with them (otherwise two sidecars, or two files, were swapped)."""
    try:
        numbers = [int(parse_bids_name(f)[0]["echo"]) for f in files]
    except (KeyError, ValueError):
        return
    missing = sorted(set(range(1, max(numbers) + 1)) - set(numbers))
    if missing:
        example = Path(files[0]).name.replace(f"echo-{numbers[0]}_", f"echo-{missing[0]}_")
        problems.append(
            f"{label}: echo file(s) {missing} missing (found echoes {sorted(numbers)}; e.g. "
            f"{example} is absent beside {Path(files[0]).name}); copy the missing echo from "
            "fMRIPrep's output, or rerun fMRIPrep with --me-output-echos"
        )
    if not order_known or any(te is None or not np.isfinite(te) for te in echo_times):
        return
    by_number = [te for _, te in sorted(zip(numbers, echo_times, strict=True))]
    if any(b <= a for a, b in zip(by_number, by_number[1:], strict=False)):
        shown = ", ".join(
            f"echo-{n}: {1000 * te:g} ms" for n, te in sorted(zip(numbers, echo_times, strict=True))
        )
        first = files[numbers.index(min(numbers))]
        problems.append(
            f"{label}: EchoTime does not increase with the echo- entity ({shown}; from "
            f"{sidecars.metadata_and_sources(first)[1].get('EchoTime', first)} and the other "
            "echoes' sidecars); echo-1 is the shortest echo: fix the swapped sidecars or "
            "file names"
        )


def _series_shape(files: list[str], repetition_times: set, problems: list[str]) -> list[int]:
    """The shape of the run's series from the first file's NIfTI header (reading the
    header only), checked against the others' and against the sidecar's RepetitionTime
    (pixdim[4], when the header gives one in seconds)."""
    import nibabel as nib

    shapes = []
    for path in files:
        try:
            header = nib.load(path).header
        except Exception as error:  # nibabel raises many types for a broken header
            problems.append(f"{path}: not a readable NIfTI image ({type(error).__name__}: {error})")
            return []
        shape = [int(n) for n in header.get_data_shape()]
        if len(shape) != 4:
            problems.append(f"{path}: a BOLD series must be 4D, this image has shape {shape}")
            return []
        shapes.append(shape)
        zooms = header.get_zooms()
        unit = header.get_xyzt_units()[1]
        header_tr = float(zooms[3]) * {"msec": 1e-3, "usec": 1e-6}.get(unit, 1.0)
        for tr in repetition_times:
            if tr and header_tr > 0 and abs(header_tr - tr) > 0.01 * tr:
                problems.append(
                    f"{path}: the NIfTI header's TR (pixdim[4]) is {header_tr:g} s but the "
                    f"sidecar's RepetitionTime is {tr:g} s; fix whichever is wrong"
                )
    for path, shape in zip(files[1:], shapes[1:], strict=True):
        if shape != shapes[0]:
            problems.append(
                f"{path}: shape {shape} differs from {Path(files[0]).name}'s {shapes[0]}; the "
                "echoes of a run share one grid and number of volumes"
            )
    return shapes[0]


def _one(matches: list[str], what: str, query: Query, problems: list[str]) -> str | None:
    # fMRIPrep writes one template-space mask per resolution: keep the run's.
    if len(matches) > 1 and query.resolution is not None:
        matches = [m for m in matches if parse_bids_name(m)[0].get("res") == query.resolution]
    if len(matches) != 1:
        where = "fMRIPrep's native (boldref) space" if query.native else f"space-{query.space}"
        problems.append(
            f"expected one {what} in {where}, found {len(matches)}: "
            f"{[Path(m).name for m in matches] or 'none'}"
            + ("; set input.resolution" if len(matches) > 1 and not query.native else "")
        )
        return None
    return matches[0]


# Bump when the cached form of the runs changes.
_CACHE_FORMAT = 2
_SUBJECT_FOLDER = re.compile(r"^sub-[A-Za-z0-9]+$")


def discover_runs(
    bids_dir: str | Path,
    fmriprep_dir: str | Path,
    query: Query | None = None,
    cache_dir: str | Path | None = None,
    problems: list[str] | None = None,
    **changes,
) -> dict[str, list[Run]]:
    """:func:`load_layout` (indexing only this query's files) then :func:`find_runs`,
    remembered in ``cache_dir``; ``changes`` override fields of ``query``.

    Every Snakemake invocation finds the inputs anew, and so does every cluster job, which
    plans its own job. With ``cache_dir``, the runs are kept there (JSON) under a
    fingerprint of the query and of every file discovery can read: the name, size and
    modification time of each file in the fMRIPrep folder's top level, subject and
    session folders and their ``func/`` and ``anat/`` folders (what pybids may index, and
    the JSON sidecars), and of a configured template-to-template transform. While the
    fingerprint holds, the runs are read back: a walk of the folder instead of indexing it
    (see benchmarks/README.md).
    """
    query = replace(query or Query(), **changes)
    if cache_dir is None:
        return find_runs(load_layout(bids_dir, fmriprep_dir, query), query, problems)
    _check_dataset_folders(Path(bids_dir), Path(fmriprep_dir))
    cache_dir = Path(cache_dir)
    cached = cache_dir / f"runs-{dataset_fingerprint(Path(fmriprep_dir), query)}.json"
    try:
        content = json.loads(cached.read_text())
        return {subject: [Run(**run) for run in runs] for subject, runs in content.items()}
    except (OSError, ValueError, TypeError, AttributeError):
        pass  # absent, stale format or being replaced: find them again
    found: list[str] = []
    runs = find_runs(load_layout(bids_dir, fmriprep_dir, query), query, found)
    if found:  # not cached: the dataset needs fixing first
        if problems is None:
            raise BIDSInputError(_report(found, fmriprep_dir))
        problems += found
        return runs
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = cached.with_name(f"{cached.name}.{os.getpid()}.tmp")
    content = {
        subject: [asdict(run) for run in subject_runs] for subject, subject_runs in runs.items()
    }
    partial.write_text(json.dumps(content))
    os.replace(partial, cached)  # atomic: parallel jobs never read half a file
    for stale in cache_dir.glob("runs-*.json"):
        if stale != cached:
            stale.unlink(missing_ok=True)
    return runs


def dataset_fingerprint(fmriprep_dir: Path, query: Query) -> str:
    """Hash of the query and of (path, size, mtime) of every file discovery can read."""
    digest = hashlib.sha256(
        json.dumps(
            [_CACHE_FORMAT, __version__, str(fmriprep_dir.resolve()), asdict(query)],
            sort_keys=True,
        ).encode()
    )
    if query.template_transform:
        stat = os.stat(query.template_transform)
        digest.update(f"{query.template_transform}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())

    def walk(folder: str, level: str) -> None:
        with os.scandir(folder) as listing:
            entries = sorted(listing, key=lambda entry: entry.name)
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir():
                # the folders _NOT_INDEXED lets pybids into
                if level == "top" and _SUBJECT_FOLDER.match(entry.name):
                    walk(entry.path, "subject")
                elif level == "subject" and entry.name.startswith("ses-"):
                    walk(entry.path, "session")
                elif level in ("subject", "session") and entry.name in ("func", "anat"):
                    walk(entry.path, entry.name)
                continue
            stat = entry.stat()
            digest.update(f"{entry.path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())

    walk(str(fmriprep_dir), "top")
    return digest.hexdigest()[:20]


def inventory(runs: dict[str, list[Run]], relative_to: str | Path | None = None) -> pd.DataFrame:
    """The input inventory: one row per run, as found on disk.

    Parameters
    ----------
    runs : dict of str to list of Run
        Each subject's runs, keyed by subject label without ``sub-``, as
        :func:`find_runs` and :func:`discover_runs` return them.
    relative_to : str or Path or None
        A folder the file paths are shown relative to (so that the table is the same
        wherever the dataset lives); None shows them as the runs hold them.

    Returns
    -------
    pandas.DataFrame
        One row per run, subjects in the order of ``runs``: ``participant_id``
        (``sub-<label>``), ``session`` and ``run`` (``n/a`` when absent), ``n_echoes``,
        ``echo_times_ms`` (echo times in ms, comma-separated, shortest first),
        ``repetition_time_s`` (seconds), ``space`` (``native`` or the template the series
        is in), ``n_dummy`` (dummy volumes: the confounds table's non-steady-state
        columns), ``echo_files`` (comma-separated), ``mask_file``, ``confounds_file`` and
        ``transforms`` (the transforms into the template grid, comma-separated in the order
        they apply to a template point; ``n/a`` for a run already in the template). No
        runs give an empty table without columns.
    """

    def shown(path: str) -> str:
        return os.path.relpath(path, relative_to) if relative_to is not None else path

    rows = []
    for subject, subject_runs in runs.items():
        for run in subject_runs:
            rows.append(
                {
                    "participant_id": f"sub-{subject}",
                    "session": run.session or "n/a",
                    "run": run.run or "n/a",
                    "n_echoes": len(run.echo_files),
                    "echo_times_ms": ",".join(f"{1000 * te:g}" for te in run.echo_times_s),
                    "repetition_time_s": run.repetition_time_s,
                    "space": run.space,
                    "n_dummy": run.n_dummy,
                    "echo_files": ",".join(shown(f) for f in run.echo_files),
                    "mask_file": shown(run.mask_file),
                    "confounds_file": shown(run.confounds_file),
                    "transforms": ",".join(shown(f) for f in run.resample_xfms) or "n/a",
                }
            )
    return pd.DataFrame(rows)
