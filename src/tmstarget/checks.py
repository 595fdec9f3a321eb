"""Input checks before any job runs: everything headers, sidecars and tables can tell.

Discovery (:func:`tmstarget.bids.find_runs`) already checks what it reads to find the
runs (names, sidecars, NIfTI headers). :func:`check_inputs` adds what the later stages
would otherwise find out only after tedana or cleaning, an hour per trial-sized subject:

- per run: the confounds table (one row per volume, the nuisance set's columns, no
  ``n/a`` after the dummy volumes), enough volumes after the dummies, the brain mask
  (on the series' grid, not empty);
- per subject: one repetition time for all its runs (cleaning joins them);
- the subjects: imaging vs ``participants.tsv`` vs ``input.subjects`` and
  ``input.exclude_subjects``, head measurements where Beam F3 is wanted
  (:func:`reconcile_subjects`, written to ``results/inputs/subjects.tsv``);
- the clinical tables (:func:`tmstarget.clinical.load_clinical`);
- the circuit map, search mask and seed of ``targets`` on the analysis grid.

Every problem is collected; :class:`InputCheckError` lists them all, each naming the file
(and run, subject, column or config key) and the fix. Reading headers, tables and 3D
masks only, the check takes seconds, and its result is cached with the runs.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

from tmstarget import clinical, confounds, settings
from tmstarget.bids import Run
from tmstarget.config import DEFAULT_GRID_MM
from tmstarget.vocabulary import BEAM_F3

log = logging.getLogger(__name__)

# participants.tsv columns Beam F3 needs (cm).
HEAD_COLUMNS = clinical.HEAD_MEASUREMENT_COLUMNS
# The fields of CheckSettings that are config keys (their defaults are the schema's).
CONFIG_KEYS = {
    "arm_labels": "trial.arm_labels",
    "min_volumes": "preprocess.min_volumes",
    "n_dummy": "preprocess.n_dummy",
    "nuisance": "preprocess.nuisance",
    "nuisance_columns": "preprocess.nuisance_columns",
    "visits": "outcomes.visits",
    "baseline_visit": "outcomes.baseline_visit",
    "exclude_subjects": "input.exclude_subjects",
    "circuit_map": "targets.circuit_map",
    "search_mask": "targets.search_mask",
    "sgacc_seed": "targets.sgacc_seed",
}


def _default(field_name: str):
    section, key = CONFIG_KEYS[field_name].rsplit(".", 1)
    return settings.default(section, key)


SUBJECTS_DICTIONARY = {
    "participant_id": {"Description": "Participant label (sub-<label>)"},
    "n_runs": {"Description": "Resting-state runs found for the participant (0: no imaging)"},
    "in_participants_tsv": {"Description": "Whether participants.tsv has a row for them"},
    "arm": {"Description": "Randomised arm in participants.tsv (n/a: not given)"},
    "head_measurements": {
        "Description": "Whether participants.tsv gives all three head measurements (Beam F3)"
    },
    "imaging_analyses": {
        "Description": "Whether the participant enters targeting and reliability",
    },
    "clinical_analyses": {
        "Description": "Whether the participant enters the trial outcome analyses",
    },
    "note": {"Description": "Why a participant is left out of an analysis (n/a: in all)"},
}


class InputCheckError(ValueError):
    """The inputs cannot give a result; the message lists every problem found."""


@dataclass(frozen=True)
class CheckSettings:
    """What the checks need from the config (built by :meth:`from_config`)."""

    bids_dir: str
    # targets.methods and Beam F3 (targets.beam_f3)
    methods: tuple[str, ...] = (*settings.defaults("targets")["methods"], BEAM_F3)
    arm_labels: Mapping[str, str] = _default("arm_labels")
    min_volumes: int = _default("min_volumes")
    n_dummy: int | None = _default("n_dummy")  # null = the confounds table's count
    nuisance: str = _default("nuisance")
    nuisance_columns: tuple[str, ...] | None = _default("nuisance_columns")
    denoised_input: bool = False  # preprocess.denoised_input_desc is set
    # mode: trial: participants.tsv with the trial's columns (arms) for every imaging
    # subject; clinic: participants.tsv only for head measurements (Beam F3)
    trial: bool = True
    # the outcome analyses (stages.outcomes in trial mode): the clinical tables
    clinical_stage: bool = True
    visits: tuple[str, ...] = _default("visits")
    baseline_visit: str = _default("baseline_visit")
    exclude_subjects: Mapping[str, str] = _default("exclude_subjects")
    circuit_map: str | None = _default("circuit_map")
    search_mask: str | None = _default("search_mask")
    sgacc_seed: str | None = _default("sgacc_seed")
    grid_voxel_mm: float = DEFAULT_GRID_MM  # tmstarget.config.analysis_voxel_mm

    @classmethod
    def from_config(cls, config: dict, grid_voxel_mm: float) -> CheckSettings:
        """From the whole config; a key it lacks takes the schema's default."""
        values = {name: settings.config_value(config, key) for name, key in CONFIG_KEYS.items()}
        trial = settings.config_value(config, "mode") == "trial"
        beam_f3 = (BEAM_F3,) if settings.config_value(config, "targets.beam_f3") else ()
        columns = values["nuisance_columns"]
        return cls(
            **values
            | {
                "arm_labels": dict(values["arm_labels"]),
                "min_volumes": int(values["min_volumes"]),
                "nuisance_columns": tuple(columns) if columns else None,
                "visits": tuple(values["visits"]),
                "exclude_subjects": dict(values["exclude_subjects"] or {}),
            },
            bids_dir=str(config["input"]["bids_dir"]),
            methods=(*settings.config_value(config, "targets.methods"), *beam_f3),
            denoised_input=bool(settings.config_value(config, "preprocess.denoised_input_desc")),
            trial=trial,
            clinical_stage=trial and bool(settings.config_value(config, "stages.outcomes")),
            grid_voxel_mm=float(grid_voxel_mm),
        )


@dataclass
class InputReport:
    """The result of :func:`check_inputs`: the runs kept (after ``input.exclude_subjects``)
    and who is in which analysis."""

    runs: dict[str, list[Run]]
    subjects: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def check_inputs(
    runs: dict[str, list[Run]], settings: CheckSettings, found: Sequence[str] = ()
) -> InputReport:
    """Check the runs discovery found, the tables and the target maps (see the module
    docstring); raise :class:`InputCheckError` listing every problem, after those
    discovery ``found``."""
    problems: list[str] = list(found)
    unknown = sorted(set(_excluded(settings)) - set(runs))
    kept = apply_exclusions(runs, settings)
    for run_problems in _check_runs([run for rs in kept.values() for run in rs], settings):
        problems += run_problems
    for subject_runs in kept.values():
        problems += _check_repetition_times(subject_runs)
    participants, table_problems = _read_participants(settings)
    problems += table_problems
    subjects, subject_problems = reconcile_subjects(runs, participants, settings)
    problems += subject_problems
    if unknown and participants is not None:
        known = set(participants["participant_id"].str.removeprefix("sub-"))
        unknown = [label for label in unknown if label not in known]
    if unknown:
        problems.append(
            f"input.exclude_subjects lists {['sub-' + s for s in unknown]}, which are neither "
            "imaging subjects nor in participants.tsv; remove them or check the labels"
        )
    if settings.clinical_stage and participants is not None:
        problems += _check_clinical(settings)
    problems += check_target_maps(settings)
    if problems:
        head = f"{len(problems)} problem(s) with the inputs (nothing has run yet):"
        raise InputCheckError("\n".join([head, *(f"  - {problem}" for problem in problems)]))
    notes = [
        f"{row.participant_id}: {row.note}" for row in subjects.itertuples() if row.note != "n/a"
    ]
    return InputReport(runs=kept, subjects=subjects, notes=notes)


# Above this many runs the checks run in parallel processes (about 5 ms a run: a
# 1000-subject trial of 3 runs takes 15 s on one core).
PARALLEL_RUNS = 200


def _check_runs(runs: Sequence[Run], settings: CheckSettings) -> list[list[str]]:
    """:func:`check_run` for each run, in order; in up to ``os.cpu_count()`` forked
    processes for large cohorts (when this process runs no other thread)."""
    workers = min(os.cpu_count() or 1, 8)
    # forking a process that runs other threads can deadlock: then one process
    forkable = "fork" in mp.get_all_start_methods() and threading.active_count() == 1
    if len(runs) <= PARALLEL_RUNS or workers == 1 or not forkable:
        return [check_run(run, settings) for run in runs]
    from concurrent.futures import ProcessPoolExecutor
    from functools import partial

    with ProcessPoolExecutor(workers, mp_context=mp.get_context("fork")) as pool:
        return list(pool.map(partial(check_run, settings=settings), runs, chunksize=50))


def check_run(run: Run, settings: CheckSettings) -> list[str]:
    """Problems of one run that its confounds table and mask header can tell."""
    problems = []
    name = Path(run.echo_files[0]).name
    n_volumes = int(run.shape[3]) if len(run.shape) == 4 else None
    n_dummy = settings.n_dummy if settings.n_dummy is not None else run.n_dummy
    if n_volumes is not None and n_volumes - n_dummy < settings.min_volumes:
        problems.append(
            f"{name}: {n_volumes} volumes, {n_volumes - n_dummy} after dropping {n_dummy} "
            f"non-steady-state volumes, fewer than preprocess.min_volumes "
            f"({settings.min_volumes}); check that the run is complete, or leave the "
            "subject out with input.exclude_subjects"
        )
    problems += _check_confounds(run, n_volumes, n_dummy, settings)
    problems += _check_mask(run)
    return problems


def _check_confounds(run: Run, n_volumes, n_dummy: int, settings: CheckSettings) -> list[str]:
    """The confounds table holds what cleaning will take from it. Only the columns the
    nuisance set and the dummy count need are parsed: real tables have hundreds (every
    CompCor component), and the check runs on every run of the cohort at planning."""
    path = run.confounds_file
    try:
        with open(path, encoding="utf-8") as stream:
            header = stream.readline().rstrip("\n").split("\t")
        # the names suffice: a header-only stand-in, not an empty frame (costly per run)
        wanted = confounds.strategy_columns(
            SimpleNamespace(columns=header), settings.nuisance, settings.nuisance_columns
        )
    except OSError as error:
        return [f"{path}: cannot read the confounds table ({error})"]
    except confounds.ConfoundsError as error:
        return [
            f"{path}: {error}; use the table fMRIPrep wrote for this run, or choose another "
            "preprocess.nuisance (or preprocess.nuisance_columns)"
        ]
    dummies = [c for c in header if c.startswith("non_steady_state_outlier")]
    try:
        table = pd.read_csv(path, sep="\t", na_values=["n/a"], usecols=sorted({*wanted, *dummies}))
    except (OSError, ValueError, pd.errors.ParserError) as error:
        return [f"{path}: cannot read the confounds table ({error})"]
    problems = []
    if n_volumes is not None and len(table) != n_volumes:
        return [
            f"{path}: {len(table)} rows but the run has {n_volumes} volumes "
            f"({Path(run.echo_files[0]).name}); the confounds table must have one row per "
            "volume (was the run cut after fMRIPrep?)"
        ]
    if settings.n_dummy is None and dummies:
        try:
            confounds.dummy_volumes(table, source=path)
        except confounds.ConfoundsError as error:
            problems.append(str(error))
    values = table[wanted].to_numpy(dtype=float)[n_dummy:]
    finite = np.isfinite(values)
    if len(values):
        # a derivative's first row is n/a when no dummy volume precedes it (cleaning sets 0)
        finite[0] |= np.array(["derivative1" in name for name in wanted])
    if not finite.all():
        try:
            confounds.nuisance_design(table[wanted].iloc[n_dummy:], columns=wanted, source=path)
        except confounds.ConfoundsError as error:
            problems.append(
                f"{error}; use the table fMRIPrep wrote for this run, or set "
                "preprocess.n_dummy to drop the volumes where it is missing"
            )
    return problems


def _check_mask(run: Run) -> list[str]:
    import nibabel as nib

    try:
        mask = nib.load(run.mask_file)
    except Exception as error:  # nibabel raises many types for a broken header
        return [f"{run.mask_file}: not a readable NIfTI image ({type(error).__name__}: {error})"]
    from tmstarget.niftiio import NiftiIOError

    shape = tuple(int(n) for n in mask.shape)
    if len(shape) != 3 or (len(run.shape) == 4 and list(shape) != list(run.shape[:3])):
        return [
            f"{run.mask_file}: shape {shape}, but the run's series "
            f"({Path(run.echo_files[0]).name}) has a {tuple(run.shape[:3])} grid; use the "
            "brain mask fMRIPrep wrote for this run"
        ]
    echo_affine = nib.load(run.echo_files[0]).affine
    difference = float(np.max(np.abs(mask.affine - echo_affine)))
    if difference > 1e-3:
        return [
            f"{run.mask_file}: its affine differs from the series' "
            f"({Path(run.echo_files[0]).name}) by up to {difference:.3g} mm; use the brain "
            "mask fMRIPrep wrote for this run"
        ]
    try:
        data = np.asarray(mask.dataobj)
    except Exception as error:  # gzip and nibabel raise many types for a broken file
        return [str(NiftiIOError(f"cannot read {run.mask_file}: {type(error).__name__}: {error}"))]
    if not np.any(np.nan_to_num(data) > 0):
        return [
            f"{run.mask_file}: the brain mask is empty (no voxel above 0); use the mask "
            "fMRIPrep wrote for this run"
        ]
    return []


def _check_repetition_times(subject_runs: Sequence[Run]) -> list[str]:
    times = {run.key: run.repetition_time_s for run in subject_runs}
    if len(set(times.values())) <= 1:
        return []
    subject = subject_runs[0].subject
    shown = ", ".join(f"{key} {tr:g} s" for key, tr in times.items())
    return [
        f"sub-{subject}: its runs have different repetition times ({shown}); cleaning joins "
        "a subject's runs into one series, which needs one TR: check the sidecars' "
        "RepetitionTime, or leave a run's subject out with input.exclude_subjects"
    ]


def _read_participants(settings: CheckSettings) -> tuple[pd.DataFrame | None, list[str]]:
    path = Path(settings.bids_dir) / clinical.PARTICIPANTS_FILE
    if not path.is_file():
        needed = []
        if settings.trial:
            needed.append("the trial (arms; mode: clinic analyses patients without it)")
        if BEAM_F3 in settings.methods:
            needed.append("Beam F3 (head measurements)")
        if not needed:
            return None, []
        return None, [
            f"{path}: not found; it is needed for {' and '.join(needed)}: add it (one row per "
            "participant, participant_id first)"
        ]
    try:
        if not settings.trial:
            return clinical.load_head_measurements(settings.bids_dir), []
        return clinical.load_participants(settings.bids_dir, settings.arm_labels), []
    except clinical.ClinicalDataError as error:
        return None, [str(error)]


def reconcile_subjects(
    runs: Mapping[str, Sequence[Run]],
    participants: pd.DataFrame | None,
    settings: CheckSettings,
) -> tuple[pd.DataFrame, list[str]]:
    """Who is in which analysis and why: one row per participant with imaging or a row in
    ``participants.tsv`` (:data:`SUBJECTS_DICTIONARY`), and the problems: an imaging
    subject missing from ``participants.tsv`` (when the trial stages or Beam F3 need it)
    or without head measurements while Beam F3 is wanted, unless excluded by
    ``input.exclude_subjects``."""
    excluded = _excluded(settings)
    rows = participants.set_index("participant_id") if participants is not None else None
    listed = set(rows.index.str.removeprefix("sub-")) if rows is not None else set()
    problems, table = [], []
    for subject in sorted(set(runs) | listed):
        participant_id = f"sub-{subject}"
        row = rows.loc[participant_id] if subject in listed else None
        head = row is not None and all(
            column in row.index and pd.notna(row[column]) for column in HEAD_COLUMNS
        )
        imaging = subject in runs and subject not in excluded
        note = "n/a"
        if subject in excluded:
            note = f"input.exclude_subjects: {excluded[subject]}"
        elif subject not in runs:
            note = (
                "no resting-state runs: clinical analyses only"
                if settings.trial
                else "no resting-state runs: not analysed"
            )
        elif (
            row is None
            and participants is not None
            and (settings.trial or BEAM_F3 in settings.methods)
        ):
            needs = "arm, head measurements" if settings.trial else "head measurements"
            problems.append(
                f"{participant_id} has imaging ({Path(runs[subject][0].echo_files[0]).name}) "
                f"but no row in {Path(settings.bids_dir) / clinical.PARTICIPANTS_FILE}; add "
                f"the row ({needs}), or leave the subject out with "
                f"input.exclude_subjects: {{{subject}: <reason>}}"
            )
        elif BEAM_F3 in settings.methods and row is not None and not head:
            missing = [c for c in HEAD_COLUMNS if c not in row.index or pd.isna(row[c])]
            problems.append(
                f"{Path(settings.bids_dir) / clinical.PARTICIPANTS_FILE}: {participant_id} has "
                f"no {', '.join(missing)}; Beam F3 (targets.beam_f3) needs all three head "
                "measurements (cm): add them, set targets.beam_f3: false, or leave "
                "the subject out with input.exclude_subjects"
            )
        table.append(
            {
                "participant_id": participant_id,
                "n_runs": len(runs.get(subject, [])),
                "in_participants_tsv": row is not None,
                "arm": row["arm"] if row is not None and pd.notna(row.get("arm")) else "n/a",
                "head_measurements": head,
                "imaging_analyses": imaging,
                "clinical_analyses": row is not None and settings.clinical_stage,
                "note": note,
            }
        )
    return pd.DataFrame(table, columns=list(SUBJECTS_DICTIONARY)), problems


def _check_clinical(settings: CheckSettings) -> list[str]:
    try:
        clinical.load_clinical(
            settings.bids_dir, settings.arm_labels, settings.visits, settings.baseline_visit
        )
    except clinical.ClinicalDataError as error:
        return [str(error)]
    return []


def check_target_maps(settings: CheckSettings) -> list[str]:
    """Problems of the configured circuit map, search mask and sgACC seed on the analysis
    grid within the template brain: a map that does not reach the brain, a flat circuit
    map, a search mask outside the brain."""
    if not any((settings.circuit_map, settings.search_mask, settings.sgacc_seed)):
        return []  # the defaults are built from the published coordinates
    import nibabel as nib

    from tmstarget import atlas, circuits

    brain_img = atlas.template_tissue(settings.grid_voxel_mm)["brain"]
    brain = np.asarray(brain_img.dataobj) > 0
    reference = nib.Nifti1Image(brain.astype(np.uint8), brain_img.affine)
    problems = []
    loaders = (
        ("circuit_map", circuits.load_circuit_map),
        ("search_mask", circuits.load_search_mask),
        ("sgacc_seed", circuits.load_seed_mask),
    )
    for key, load in loaders:
        path = getattr(settings, key)
        if path is None:
            continue
        try:
            values = np.asarray(load(path, reference).dataobj, dtype=np.float64)
        except (circuits.TargetingError, OSError, ValueError) as error:
            problems.append(f"targets.{key}: {error}")
            continue
        inside = values[brain]
        if not np.any(inside != 0):
            problems.append(
                f"targets.{key}: {path} has no non-zero voxel inside the template brain on the "
                f"{settings.grid_voxel_mm:g} mm analysis grid; check that it is in "
                "MNI152NLin6Asym (MNI mm)"
            )
        elif key == "circuit_map" and np.ptp(inside) == 0:
            problems.append(
                f"targets.circuit_map: {path} is flat inside the brain (every voxel "
                f"{inside[0]:g}); the searchlight needs a weighted map (DLPFC positive, sgACC "
                "negative)"
            )
    return problems


def _excluded(settings: CheckSettings) -> dict[str, str]:
    return {
        label.removeprefix("sub-"): reason for label, reason in settings.exclude_subjects.items()
    }


def apply_exclusions(runs: dict[str, list[Run]], settings: CheckSettings) -> dict[str, list[Run]]:
    """``runs`` without the subjects of ``input.exclude_subjects``."""
    excluded = _excluded(settings)
    return {
        subject: subject_runs for subject, subject_runs in runs.items() if subject not in excluded
    }


def checked_inputs(
    bids_dir: str | Path,
    fmriprep_dir: str | Path,
    query,
    settings: CheckSettings,
    cache_dir: str | Path | None = None,
) -> InputReport:
    """Discovery (:func:`tmstarget.bids.discover_runs`) then :func:`check_inputs`.

    With ``cache_dir``, a passed check is remembered under the discovery fingerprint (the
    fMRIPrep folder's files), the settings and the size and modification time of the
    clinical tables and target maps: planning a cluster job again costs a file read.
    Discovery's problems are reported together with the checks' own, all at once.

    Parameters
    ----------
    bids_dir : str or Path
        The raw BIDS dataset's root (``participants.tsv``, ``phenotype/``), config
        ``input.bids_dir``.
    fmriprep_dir : str or Path
        The fMRIPrep derivatives' root, config ``input.fmriprep_dir``.
    query : tmstarget.bids.Query or None
        What to look for in the derivatives (space, task, native or template series,
        echoes, subjects); None: :class:`tmstarget.bids.Query`'s defaults.
    settings : CheckSettings
        What the checks need from the config (:meth:`CheckSettings.from_config`).
    cache_dir : str or Path or None
        Folder of the discovery and check caches (JSON; the workflow uses
        ``.snakemake/tmstarget``); None checks anew and caches nothing. Only a passed
        check is cached, and stale cache files are removed.

    Returns
    -------
    InputReport
        The runs kept (by subject label without ``sub-``, after
        ``input.exclude_subjects``), the subject reconciliation (columns of
        :data:`SUBJECTS_DICTIONARY`) and the notes on who is left out of which analysis.

    Raises
    ------
    InputCheckError
        Listing every problem found (discovery's and the checks'), each naming the file
        (and run, subject, column or config key) and the fix.
    tmstarget.bids.BIDSInputError
        When ``bids_dir`` or ``fmriprep_dir`` is not a BIDS dataset (no
        ``dataset_description.json``), or ``input.bold_space`` is unknown.
    """
    import hashlib
    import json
    from dataclasses import asdict

    from tmstarget import __version__, atomic, bids

    found: list[str] = []
    runs = bids.discover_runs(bids_dir, fmriprep_dir, query, cache_dir=cache_dir, problems=found)
    if cache_dir is None or found:
        return check_inputs(runs, settings, found)
    stats = []
    for path in [
        Path(bids_dir) / clinical.PARTICIPANTS_FILE,
        Path(bids_dir) / "participants.json",
        *(Path(bids_dir) / "phenotype").glob("*.tsv"),
        *(Path(p) for p in (settings.circuit_map, settings.search_mask, settings.sgacc_seed) if p),
    ]:
        try:
            stat = path.stat()
            stats.append([str(path), stat.st_size, stat.st_mtime_ns])
        except OSError:
            stats.append([str(path), None, None])
    key = hashlib.sha256(
        json.dumps(
            [
                __version__,
                bids.dataset_fingerprint(Path(fmriprep_dir), query),
                asdict(settings),
                sorted(stats),
            ],
            sort_keys=True,
            default=str,
        ).encode()
    ).hexdigest()[:20]
    cached = Path(cache_dir) / f"checks-{key}.json"
    try:
        content = json.loads(cached.read_text())
        return InputReport(
            runs=apply_exclusions(runs, settings),
            subjects=pd.DataFrame(content["subjects"], columns=list(SUBJECTS_DICTIONARY)),
            notes=content["notes"],
        )
    except (OSError, ValueError, KeyError, TypeError):
        pass
    report = check_inputs(runs, settings)
    atomic.write_text(
        cached,
        json.dumps({"subjects": report.subjects.to_dict("records"), "notes": report.notes}),
    )
    for stale in Path(cache_dir).glob("checks-*.json"):
        if stale != cached:
            stale.unlink(missing_ok=True)
    return report


def check_demo(
    bids_dir: str | Path,
    fmriprep_dir: str | Path,
    query,
    settings: CheckSettings,
    planned: dict[str, list[Run]],
) -> InputReport:
    """The demo as written, read like real data, held against the workflow's plan.

    Discovery, the runs held against those the workflow planned from the config
    (``planned``, before exclusions), then :func:`check_inputs` on the planned runs. File
    paths are compared as absolute paths. Nothing is cached.

    Parameters
    ----------
    bids_dir : str or Path
        The demo's raw BIDS root (config ``input.bids_dir``).
    fmriprep_dir : str or Path
        The demo's fMRIPrep-style derivatives root (config ``input.fmriprep_dir``).
    query : tmstarget.bids.Query or None
        What to look for in the derivatives; None: :class:`tmstarget.bids.Query`'s
        defaults.
    settings : CheckSettings
        What the checks need from the config (:meth:`CheckSettings.from_config`).
    planned : dict of str to list of tmstarget.bids.Run
        The runs the workflow planned from the config
        (:func:`tmstarget.demo.planned_runs`), by subject label without ``sub-``,
        before ``input.exclude_subjects``.

    Returns
    -------
    InputReport
        As :func:`checked_inputs`: the planned runs kept after ``input.exclude_subjects``,
        the subject reconciliation and the notes.

    Raises
    ------
    InputCheckError
        When the runs found differ from ``planned`` (a bug in :mod:`tmstarget.demo`; the
        message names up to five subjects), or listing every problem the checks find.
    tmstarget.bids.BIDSInputError
        When discovery finds a problem in the written demo (all of them, each naming the
        file), or a folder is not a BIDS dataset.
    """
    from tmstarget import bids

    runs = bids.discover_runs(bids_dir, fmriprep_dir, query)
    found, wanted = _absolute(runs), _absolute(planned)
    if found != wanted:
        differ = sorted(
            set(found) ^ set(wanted)
            | {s for s in set(found) & set(wanted) if found[s] != wanted[s]}
        )
        raise InputCheckError(
            f"the demo written to {bids_dir} differs from what the workflow planned from the "
            f"config for {['sub-' + s for s in differ][:5]}: a bug in tmstarget.demo "
            "(planned_runs must mirror write_demo_dataset); please report it"
        )
    return check_inputs(planned, settings)


def _absolute(runs: dict[str, list[Run]]) -> dict[str, list[Run]]:
    """``runs`` with every file path absolute (discovery's are; a plan's may not be)."""
    from dataclasses import replace

    def absolute(path):
        return os.path.abspath(path) if path else path

    return {
        subject: [
            replace(
                run,
                echo_files=[absolute(f) for f in run.echo_files],
                mask_file=absolute(run.mask_file),
                confounds_file=absolute(run.confounds_file),
                boldref_xfm=absolute(run.boldref_xfm),
                template_xfms=[absolute(f) for f in run.template_xfms],
                t1w_file=absolute(run.t1w_file),
            )
            for run in subject_runs
        ]
        for subject, subject_runs in runs.items()
    }
