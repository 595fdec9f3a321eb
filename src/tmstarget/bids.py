"""BIDS in, BIDS-derivatives out.

Reading: :func:`find_runs` asks pybids for the multi-echo runs of an fMRIPrep
derivatives dataset (``--me-output-echos``: one preprocessed file per echo in template
space, a brain mask and a confounds table per run) and checks what a run needs before
any job starts. The demo cohort is read by exactly the same code.

Writing: :func:`bids_name` builds entity-ordered file names, :func:`write_tsv` writes a
table with its JSON data dictionary, :func:`write_dataset_description` fills in
``GeneratedBy``.

Echo and repetition times are in seconds, as in BIDS sidecars.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
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


def load_layout(bids_dir: str | Path, fmriprep_dir: str | Path):
    """A pybids layout of the raw dataset with the fMRIPrep derivatives attached.

    Raises :class:`BIDSInputError` naming the folder when either is missing or lacks a
    ``dataset_description.json``.
    """
    from bids import BIDSLayout  # pybids is slow to import; only pay for it when reading

    bids_dir, fmriprep_dir = Path(bids_dir), Path(fmriprep_dir)
    for folder, key in ((bids_dir, "input.bids_dir"), (fmriprep_dir, "input.fmriprep_dir")):
        if not (folder / "dataset_description.json").is_file():
            raise BIDSInputError(
                f"{folder} is not a BIDS dataset (no dataset_description.json); "
                f"set config key {key} to the dataset's root folder"
            )
    return BIDSLayout(bids_dir, derivatives=[str(fmriprep_dir)], validate=False)


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
    """
    filters = {"task": task, "desc": desc, "suffix": "bold", "extension": [".nii", ".nii.gz"]}
    if resolution is not None:
        filters["res"] = resolution
    found = layout.get(scope="derivatives", space=space, **filters)
    if subjects is not None:
        found = [f for f in found if f.entities["subject"] in subjects]
    if not found:
        spaces = sorted(set(layout.get_spaces(scope="derivatives", task=task, suffix="bold") or []))
        raise BIDSInputError(
            f"no '{task}' BOLD files with desc-{desc} in space '{space}' under the fMRIPrep "
            f"derivatives (spaces present: {spaces or 'none'}); set config key input.space "
            "to one of them (or rerun fMRIPrep with --output-spaces " + space + "), or "
            "check preprocess.denoised_input_desc"
        )

    grouped: dict[tuple, list] = {}
    for bold in found:
        ent = bold.entities
        key = (ent["subject"], ent.get("session"), ent.get("run"), ent.get("acquisition"))
        grouped.setdefault(key, []).append(bold)

    runs: dict[str, list[Run]] = {}
    for (subject, session, run, acquisition), files in sorted(
        grouped.items(), key=lambda item: tuple(str(v) for v in item[0])
    ):
        runs.setdefault(subject, []).append(
            _describe_run(layout, files, subject, session, run, acquisition, space, task)
        )
    return runs


def _describe_run(layout, files, subject, session, run, acquisition, space, task) -> Run:
    echo_times = []
    repetition_times = set()
    for bold in files:
        metadata = bold.get_metadata()
        if "EchoTime" not in metadata and len(files) == 1:
            metadata["EchoTime"] = float("nan")  # single-echo or denoised: not needed
        if "EchoTime" not in metadata:
            raise BIDSInputError(
                f"{bold.path}: sidecar has no EchoTime; add EchoTime (seconds) to its JSON "
                "(fMRIPrep copies it from the raw data's sidecar)"
            )
        if "RepetitionTime" not in metadata:
            raise BIDSInputError(f"{bold.path}: sidecar has no RepetitionTime (seconds)")
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
    for key, value in (("session", session), ("run", run), ("acquisition", acquisition)):
        if value is not None:
            common[key] = value
    mask_file = _one(
        layout,
        f"brain mask of sub-{subject} run {run}",
        space=space,
        desc="brain",
        suffix="mask",
        **common,
    )
    confounds_file = _one(
        layout,
        f"confounds of sub-{subject} run {run}",
        desc="confounds",
        suffix="timeseries",
        extension=".tsv",
        **common,
    )
    return Run(
        subject=subject,
        session=None if session is None else str(session),
        run=None if run is None else str(run),
        echo_files=[files[i].path for i in order],
        echo_times_s=[echo_times[i] for i in order],
        repetition_time_s=repetition_times.pop(),
        mask_file=mask_file,
        confounds_file=confounds_file,
        entities={k: str(v) for k, v in common.items()},
    )


def _one(layout, what: str, **query) -> str:
    query.setdefault("extension", [".nii", ".nii.gz"])
    matches = layout.get(scope="derivatives", return_type="filename", **query)
    # Single-run subjects have no run entity; pybids then matches any run: keep exact ones.
    if "run" not in query:
        matches = [m for m in matches if "_run-" not in Path(m).name]
    if len(matches) != 1:
        raise BIDSInputError(
            f"expected one {what} in the fMRIPrep derivatives, found {len(matches)}: "
            f"{matches or 'none'}"
        )
    return matches[0]


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
