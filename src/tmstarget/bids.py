"""BIDS in, BIDS-derivatives out.

Reading: :func:`find_runs` asks pybids for the multi-echo runs of an fMRIPrep
derivatives dataset (``--me-output-echos``: one preprocessed file per echo in template
space, a brain mask and a confounds table per run) and checks what a run needs before
any job starts. The demo cohort is read by exactly the same code. :func:`discover_runs`
does both steps and remembers the runs while the dataset is unchanged. Discovery costs
grow linearly with the number of runs: pybids indexes only the files it is asked about,
three queries find them all, and sidecars are read by the inheritance principle
(benchmarks/bench_planning.py).

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
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from tmstarget import __version__

BIDS_VERSION = "1.10.0"
# Entity order of the BIDS specification (the subset this workflow uses).
ENTITY_ORDER = ("sub", "ses", "task", "acq", "run", "echo", "space", "res", "desc")
_LABEL = re.compile(r"^[A-Za-z0-9]+$")


class BIDSInputError(ValueError):
    """The input dataset is missing something a run needs; the message names the file."""


def bids_name(suffix: str, extension: str, **entities: str | int | None) -> str:
    """A BIDS file name with entities in specification order, e.g.
    ``bids_name("bold", ".nii.gz", sub="01", task="rest", run=1, echo=2)``.
    Entities whose value is None are left out."""
    unknown = set(entities) - set(ENTITY_ORDER)
    if unknown:
        raise ValueError(f"unknown BIDS entities {sorted(unknown)}; known: {ENTITY_ORDER}")
    parts = []
    for key in ENTITY_ORDER:
        value = entities.get(key)
        if value is None:
            continue
        if not _LABEL.match(str(value)):
            raise ValueError(f"BIDS label {key}-{value!r} must be alphanumeric")
        parts.append(f"{key}-{value}")
    return "_".join(parts + [suffix]) + extension


def write_json(path: str | Path, content: dict) -> None:
    """Write JSON with sorted keys and a trailing newline (same bytes on a rerun)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content, indent=2, sort_keys=True) + "\n")


def write_tsv(path: str | Path, table: pd.DataFrame, dictionary: dict | None = None) -> None:
    """Write a BIDS TSV (tab-separated, ``n/a`` for missing values) and, if given, its
    JSON data dictionary next to it. Every column must be described in ``dictionary``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, sep="\t", index=False, na_rep="n/a", lineterminator="\n")
    if dictionary is not None:
        missing = [column for column in table.columns if column not in dictionary]
        if missing:
            raise ValueError(f"data dictionary of {path.name} does not describe {missing}")
        write_json(path.with_suffix(".json"), dictionary)


def write_dataset_description(
    root: Path, name: str, dataset_type: str = "derivative", sources: list[str] | None = None
) -> None:
    """``dataset_description.json`` of a raw dataset or a derivatives folder written by
    this workflow (``GeneratedBy`` names the package and its version)."""
    content: dict = {"Name": name, "BIDSVersion": BIDS_VERSION, "DatasetType": dataset_type}
    if dataset_type == "derivative":
        content["GeneratedBy"] = [
            {
                "Name": "tmstarget",
                "Version": __version__,
                "Description": "Connectivity-guided TMS targeting workflow",
            }
        ]
        if sources:
            content["SourceDatasets"] = [{"URL": source} for source in sources]
    write_json(root / "dataset_description.json", content)


# --------------------------------------------------------------------------- discovery


@dataclass
class Run:
    """One multi-echo (or single-echo) run of one subject, as found on disk."""

    subject: str
    session: str | None
    run: str | None
    echo_files: list[str]
    echo_times_s: list[float]
    repetition_time_s: float
    mask_file: str
    confounds_file: str
    entities: dict[str, str] = field(default_factory=dict)

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


# What find_runs reads from an fMRIPrep folder: the BOLD series, brain masks and
# confounds tables in each subject's (or session's) func/ folder. The rest (anat/,
# figures/, reports, transforms, boldrefs, JSON sidecars) stays out of pybids's index:
# pybids spends about 0.5 ms of CPU per indexed file, and fMRIPrep writes 100 or more
# files per subject. Patterns are matched against "/" + the path relative to the folder.
_NOT_INDEXED = (
    # at the top: everything but the subject folders
    re.compile(r"^/(?!sub-[A-Za-z0-9]+$)[^/]+$"),
    # in a subject or session folder: everything but func/ and the session folders
    re.compile(r"^/sub-[^/]+(/ses-[^/]+)?/(?!func$|ses-)[^/]+$"),
    # in func/: everything but BOLD and mask images and timeseries tables
    re.compile(r"/func/(?![^/]*_(bold|mask)\.nii(\.gz)?$|[^/]*_timeseries\.tsv$)[^/]+$"),
)


def load_layout(
    bids_dir: str | Path,
    fmriprep_dir: str | Path,
    space: str | None = None,
    task: str | None = None,
    desc: str | None = None,
):
    """A pybids layout of the fMRIPrep derivatives, for :func:`find_runs`.

    Only what :func:`find_runs` reads is indexed (see ``_NOT_INDEXED``): BOLD series,
    masks and confounds tables in ``func/`` folders, without their JSON metadata, which
    :func:`find_runs` reads from the sidecars itself (pybids's metadata index costs more
    than the rest of discovery). Given ``space``, ``task`` and ``desc`` (the BOLD files'),
    only the files of that query are: fMRIPrep also writes the series in other spaces.
    The raw dataset is checked but not indexed: nothing in it is looked up through pybids.

    Raises :class:`BIDSInputError` naming the folder when either is missing or lacks a
    ``dataset_description.json``.
    """
    from bids import BIDSLayout, BIDSLayoutIndexer  # slow to import: only when reading

    bids_dir, fmriprep_dir = Path(bids_dir), Path(fmriprep_dir)
    _check_dataset_folders(bids_dir, fmriprep_dir)
    ignore = list(_NOT_INDEXED)
    if space is not None and task is not None and desc is not None:
        ignore.append(_outside_query(space, task, desc))
    indexer = BIDSLayoutIndexer(validate=False, ignore=ignore, index_metadata=False)
    return BIDSLayout(
        fmriprep_dir,
        validate=False,
        is_derivative=True,
        config=["bids", "derivatives"],
        indexer=indexer,
    )


def _outside_query(space: str, task: str, desc: str) -> re.Pattern:
    """Files in func/ other than the BOLD files, masks and confounds of one query."""
    task, space, desc = (re.escape(label) for label in (task, space, desc))
    image = r"\.nii(\.gz)?$"
    in_space = rf"[^/]*_task-{task}_(?:[^/]*_)?space-{space}_(?:[^/]*_)?"
    wanted = (
        rf"{in_space}desc-{desc}_bold{image}",
        rf"{in_space}desc-brain_mask{image}",
        rf"[^/]*_task-{task}_(?:[^/]*_)?desc-confounds_timeseries\.tsv$",
    )
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


def find_runs(
    layout,
    space: str,
    task: str = "rest",
    subjects: list[str] | None = None,
    resolution: str | None = None,
    desc: str = "preproc",
) -> dict[str, list[Run]]:
    """All runs of ``task`` in template ``space``, by subject (labels without ``sub-``).

    Each run has its echo files sorted by echo time (from the sidecars' ``EchoTime``),
    the brain mask and the confounds table. A run with a single file (single-echo data,
    or data already denoised, chosen by ``desc``) needs no ``EchoTime``. Problems found
    while matching files raise :class:`BIDSInputError` naming the file and how to fix it.

    Three pybids queries (BOLD files, masks, confounds) whatever the number of subjects;
    files are matched to runs by the entities in their names, and metadata is read from
    the JSON sidecars by the BIDS inheritance principle, so the cost grows linearly with
    the number of runs.
    """
    images = [".nii", ".nii.gz"]
    bold_query = {"task": task, "desc": desc, "suffix": "bold", "extension": images}
    if resolution is not None:
        bold_query["res"] = resolution
    found = _get(layout, space=space, **bold_query)
    if subjects is not None:
        wanted = set(subjects)
        found = [path for path in found if parse_bids_name(path)[0].get("sub") in wanted]
    if not found:
        spaces = _bold_spaces(layout.root, task)
        raise BIDSInputError(
            f"no '{task}' BOLD files with desc-{desc} in space '{space}' under the fMRIPrep "
            f"derivatives (spaces present: {spaces or 'none'}); set config key input.space "
            "to one of them (or rerun fMRIPrep with --output-spaces " + space + "), or "
            "check preprocess.denoised_input_desc"
        )
    masks = _by_run(
        _get(layout, space=space, task=task, desc="brain", suffix="mask", extension=images)
    )
    confounds = _by_run(
        _get(layout, task=task, desc="confounds", suffix="timeseries", extension=".tsv")
    )
    grouped: dict[tuple, list[str]] = {}
    for path in found:
        grouped.setdefault(_run_key(path), []).append(path)

    sidecars = _Sidecars(layout.root)
    runs: dict[str, list[Run]] = {}
    for key, files in sorted(grouped.items(), key=lambda item: tuple(map(str, item[0]))):
        runs.setdefault(key[0], []).append(
            _describe_run(key, files, masks, confounds, sidecars, task, resolution)
        )
    return runs


def _bold_spaces(root: str | Path, task: str) -> list[str]:
    """Spaces of the ``task`` BOLD files in the func/ folders under ``root``, read from
    the names on disk (the layout may index one space only); for error messages."""
    spaces = set()
    for folder, _, names in os.walk(root):
        if os.path.basename(folder) != "func":
            continue
        for name in names:
            entities, suffix, extension = parse_bids_name(name)
            if (
                suffix == "bold"
                and extension in (".nii", ".nii.gz")
                and entities.get("task") == task
            ):
                spaces.add(entities.get("space", "none"))
    return sorted(spaces)


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
        folder, name = os.path.split(os.path.normpath(str(path)))
        entities, suffix, _ = parse_bids_name(name)
        applicable = []  # (depth from the top, number of entities, sidecar)
        for depth, sidecars in enumerate(self._chain(folder)):
            for js_entities, sidecar in sidecars.get(suffix, []):
                if all(entities.get(key) == value for key, value in js_entities.items()):
                    applicable.append((depth, len(js_entities), sidecar))
        metadata: dict = {}
        for _, _, sidecar in sorted(applicable):
            try:
                with open(sidecar, encoding="utf-8") as handle:
                    metadata.update(json.load(handle))
            except (OSError, json.JSONDecodeError) as error:
                raise BIDSInputError(f"{sidecar}: not a readable JSON sidecar ({error})") from error
        return metadata


def _describe_run(key, files, masks, confounds, sidecars, task, resolution) -> Run:
    subject, session, run, acquisition = key
    echo_times = []
    repetition_times = set()
    for bold in files:
        metadata = sidecars.metadata(bold)
        if "EchoTime" not in metadata and len(files) == 1:
            metadata["EchoTime"] = float("nan")  # single-echo or denoised: not needed
        if "EchoTime" not in metadata:
            raise BIDSInputError(
                f"{bold}: sidecar has no EchoTime; add EchoTime (seconds) to its JSON "
                "(fMRIPrep copies it from the raw data's sidecar)"
            )
        if "RepetitionTime" not in metadata:
            raise BIDSInputError(f"{bold}: sidecar has no RepetitionTime (seconds)")
        echo_times.append(float(metadata["EchoTime"]))
        repetition_times.add(float(metadata["RepetitionTime"]))
    if len(repetition_times) != 1:
        raise BIDSInputError(
            f"sub-{subject} {session or ''} run {run}: echoes disagree on RepetitionTime "
            f"{sorted(repetition_times)}"
        )
    if len(files) > 1 and len(set(echo_times)) != len(echo_times):
        raise BIDSInputError(
            f"sub-{subject} run {run}: two echo files share EchoTime {echo_times}; "
            "each echo needs its own EchoTime in its sidecar"
        )
    order = sorted(range(len(files)), key=lambda i: echo_times[i])
    common = {"subject": subject, "task": task}
    for name, value in (("session", session), ("run", run), ("acquisition", acquisition)):
        if value is not None:
            common[name] = value
    mask_file = _one(masks.get(key, []), f"brain mask of sub-{subject} run {run}", resolution)
    confounds_file = _one(confounds.get(key, []), f"confounds of sub-{subject} run {run}")
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
    )


def _one(matches: list[str], what: str, resolution: str | None = None) -> str:
    # fMRIPrep writes one mask per resolution: keep the run's when several match.
    if len(matches) > 1 and resolution is not None:
        matches = [m for m in matches if parse_bids_name(m)[0].get("res") == resolution]
    if len(matches) != 1:
        raise BIDSInputError(
            f"expected one {what} in the fMRIPrep derivatives, found {len(matches)}: "
            f"{matches or 'none'}"
        )
    return matches[0]


# Bump when the cached form of the runs changes.
_CACHE_FORMAT = 1
_SUBJECT_FOLDER = re.compile(r"^sub-[A-Za-z0-9]+$")


def discover_runs(
    bids_dir: str | Path,
    fmriprep_dir: str | Path,
    space: str,
    task: str = "rest",
    subjects: list[str] | None = None,
    resolution: str | None = None,
    desc: str = "preproc",
    cache_dir: str | Path | None = None,
) -> dict[str, list[Run]]:
    """:func:`load_layout` (indexing only this query's files) then :func:`find_runs`,
    remembered in ``cache_dir``.

    Every Snakemake invocation finds the inputs anew, and so does every cluster job, which
    plans its own job. With ``cache_dir``, the runs are kept there (JSON) under a
    fingerprint of the query and of every file discovery can read: the name, size and
    modification time of each file in the fMRIPrep folder's top level, subject and
    session folders and ``func/`` folders (what pybids may index, and the JSON sidecars).
    While the fingerprint holds, the runs are read back: a walk of the folder (0.2 s for
    1,000 subjects of 33 files) instead of indexing it (13 s, see benchmarks/README.md).
    """
    query = {
        "space": space,
        "task": task,
        "subjects": None if subjects is None else sorted(subjects),
        "resolution": resolution,
        "desc": desc,
    }
    if cache_dir is None:
        return find_runs(load_layout(bids_dir, fmriprep_dir, space, task, desc), **query)
    _check_dataset_folders(Path(bids_dir), Path(fmriprep_dir))
    cache_dir = Path(cache_dir)
    cached = cache_dir / f"runs-{_fingerprint(Path(fmriprep_dir), query)}.json"
    try:
        content = json.loads(cached.read_text())
        return {subject: [Run(**run) for run in runs] for subject, runs in content.items()}
    except (OSError, ValueError, TypeError, AttributeError):
        pass  # absent, stale format or being replaced: find them again
    runs = find_runs(load_layout(bids_dir, fmriprep_dir, space, task, desc), **query)
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


def _fingerprint(fmriprep_dir: Path, query: dict) -> str:
    """Hash of the query and of (path, size, mtime) of every file discovery can read."""
    digest = hashlib.sha256(
        json.dumps(
            [_CACHE_FORMAT, __version__, str(fmriprep_dir.resolve()), query], sort_keys=True
        ).encode()
    )

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
                elif level in ("subject", "session") and entry.name == "func":
                    walk(entry.path, "func")
                continue
            stat = entry.stat()
            digest.update(f"{entry.path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())

    walk(str(fmriprep_dir), "top")
    return digest.hexdigest()[:20]


def inventory(runs: dict[str, list[Run]], relative_to: str | Path | None = None) -> pd.DataFrame:
    """One row per run: subject, session, run, number of echoes, echo times (ms),
    repetition time (s) and file paths (relative to ``relative_to`` if given, so that the
    table is the same wherever the dataset lives)."""

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
                    "echo_files": ",".join(shown(f) for f in run.echo_files),
                    "mask_file": shown(run.mask_file),
                    "confounds_file": shown(run.confounds_file),
                }
            )
    return pd.DataFrame(rows)
