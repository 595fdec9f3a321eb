"""Everything one subject's targeting job computes from its series loaded once: every
method's site and score map, the connectivity target's bootstrap uncertainty, the
split-half and first-k-minutes targets, every target choice on the halves, and what the
subject's figure shows (rule ``find_targets``; the script only reads and writes)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from tmstarget.reliability import ReliabilityParams, subject_reliability
from tmstarget.stimulation import (
    BEAM_F3,
    MAP_METHODS,
    SubjectBootstrap,
    SubjectMaps,
    SubjectTargets,
    TargetingSettings,
    chosen_target,
    find_target,
    score_model,
    subject_bootstrap,
    subject_targets,
)
from tmstarget.uncertainty import ChoiceSettings, segments_from_qc
from tmstarget.vocabulary import CIRCUIT_SEARCHLIGHT

LOG = logging.getLogger("tmstarget")
CHOICE_COLUMNS = ["subject", "choice", "segment", "x_mm", "y_mm", "z_mm"]
# the parts every target choice is compared on (rows of the reliability table)
CHOICE_SEGMENTS = ("full", "half1", "half2")


@dataclass
class SubjectFigure:
    """What the subject's figure draws (:func:`tmstarget.figures.targets.plot_subject_target`).

    Attributes
    ----------
    method : str
        The connectivity method whose score map is drawn.
    sites : pandas.DataFrame
        ``method``, ``x_mm``, ``y_mm``, ``z_mm`` (template RAS mm): the connectivity and
        Beam F3 sites, and the planted site of simulated data.
    score_kind : str
        ``searchlight`` or ``seed_map`` (how the map's colour scale is labelled).
    bootstrap : pandas.DataFrame or None
        Candidate sites (``x_mm``... mm) with their ``probability`` of being the target.
    bootstrap_summary : dict or None
        The bootstrap table's row (95% radius, share within a coil radius, ...).
    """

    method: str
    sites: pd.DataFrame
    score_kind: str
    bootstrap: pd.DataFrame | None = None
    bootstrap_summary: dict | None = None


@dataclass
class SubjectAnalysis:
    """One subject's targeting results (:func:`analyse_subject`).

    Attributes
    ----------
    targets : SubjectTargets
        Every method's site (``targets.table``) and score map (``targets.score_maps``).
    bootstrap : SubjectBootstrap or None
        The connectivity target's uncertainty (``targets.bootstrap.enabled``).
    parts : pandas.DataFrame
        Targets of the full series, its halves and first k minutes
        (:func:`tmstarget.reliability.subject_reliability`).
    choices : pandas.DataFrame
        Every ``reliability.choices`` rule's target on the full series and the halves
        (:data:`CHOICE_COLUMNS`, template RAS mm); empty without a score map.
    figure : SubjectFigure
        What the subject's figure draws.
    """

    targets: SubjectTargets
    bootstrap: SubjectBootstrap | None
    parts: pd.DataFrame
    choices: pd.DataFrame
    figure: SubjectFigure


def analyse_subject(
    participant_id: str,
    maps: SubjectMaps,
    settings: TargetingSettings,
    reliability: ReliabilityParams,
    qc_runs: Sequence[Mapping],
    repetition_time_s: float,
    *,
    head_cm: Sequence[float] | None = None,
    transforms: Sequence[str | Path] | None = None,
    planted: pd.DataFrame | None = None,
    metrics_source: str | Path | None = None,
) -> SubjectAnalysis:
    """Every target of one subject from its loaded series.

    Parameters
    ----------
    participant_id : str
        ``sub-<label>``, written to every row and named in errors.
    maps : SubjectMaps
        The subject's cleaned series and masks (:func:`tmstarget.stimulation.load_subject`).
    settings : TargetingSettings
        The ``targets`` config (methods, choice, bootstrap).
    reliability : ReliabilityParams
        The ``reliability`` config (method, minutes grid, choices compared).
    qc_runs : sequence of mapping
        The ``runs`` of the subject's QC metrics (volumes and censored volumes per run):
        the bootstrap's blocks and the choices' windows stay inside runs.
    repetition_time_s : float
        TR (s).
    head_cm : sequence of float, optional
        Nasion-inion, tragus-tragus and head circumference (cm) for Beam F3; None: no
        Beam F3 site.
    transforms : sequence of path, optional
        Template-to-T1w transforms (native coordinates of the sites); None: none.
    planted : pandas.DataFrame, optional
        Planted targets (``participant_id``, ``x_mm``, ``y_mm``, ``z_mm``) of simulated
        data: the subject's row is drawn in the figure.
    metrics_source : path, optional
        The QC metrics file, named in errors about ``qc_runs``.

    Returns
    -------
    SubjectAnalysis
        The targets, bootstrap, parts, choices and figure contents.

    Raises
    ------
    tmstarget.targeting.TargetingError
        When the connectivity method finds no site on the full series or a half.
    """
    n_volumes = maps.timeseries.shape[0]
    segments = segments_from_qc(qc_runs, n_volumes, metrics_source)
    reliability_method = reliability.method or settings.connectivity_method
    models = _score_models(maps, settings, reliability, reliability_method)
    whole = (0, n_volumes)
    chosen = None
    if settings.choice != "argmax":
        chosen = chosen_target(
            models[settings.connectivity_method],
            settings,
            whole,
            segments,
            repetition_time_s,
            participant_id,
        )
        LOG.info("target chosen by %s: %s mm", settings.choice, chosen.mm)
    targets = subject_targets(
        participant_id, maps, settings, tuple(head_cm) if head_cm else None, transforms, chosen
    )
    bootstrap = None
    if settings.bootstrap.enabled:
        bootstrap = subject_bootstrap(
            participant_id,
            models[settings.connectivity_method],
            settings,
            segments,
            repetition_time_s,
            maps.brain_mask,
        )
    window_fn = None
    if reliability_method == settings.connectivity_method and settings.choice != "argmax":
        model = models[reliability_method]

        def window_fn(start, stop):
            return chosen_target(
                model, settings, (start, stop), segments, repetition_time_s, participant_id
            )

    parts = subject_reliability(
        maps.timeseries,
        maps.brain_mask,
        repetition_time_s,
        lambda part: find_target(maps, reliability_method, settings, part),
        reliability.minutes_grid,
        subject=participant_id,
        min_timepoints=reliability.min_timepoints,
        paired_retest=reliability.paired_retest,
        window_fn=window_fn,
    )
    choices = pd.DataFrame(columns=CHOICE_COLUMNS)
    if reliability_method in models:
        choices = choice_targets(
            participant_id,
            models[reliability_method],
            settings,
            reliability.choices,
            parts,
            segments,
            repetition_time_s,
        )
    figure = subject_figure(targets, settings, bootstrap, models, planted, participant_id)
    return SubjectAnalysis(targets, bootstrap, parts, choices, figure)


def _score_models(
    maps: SubjectMaps,
    settings: TargetingSettings,
    reliability: ReliabilityParams,
    reliability_method: str,
) -> dict:
    """The candidates' time courses of the methods that need them (the bootstrap, a choice
    other than argmax, the choices compared on the halves), computed once."""
    needed = {}
    for method in dict.fromkeys([settings.connectivity_method, reliability_method]):
        if method not in MAP_METHODS:
            continue
        if (
            settings.bootstrap.enabled
            or settings.choice != "argmax"
            or (method == reliability_method and reliability.choices)
        ):
            needed[method] = score_model(maps, method, settings)
    return needed


def choice_targets(
    participant_id: str,
    model,
    settings: TargetingSettings,
    choices: Sequence[str],
    parts: pd.DataFrame,
    segments,
    repetition_time_s: float,
) -> pd.DataFrame:
    """Every target choice's site on the full series and the two halves.

    Parameters
    ----------
    participant_id : str
        Written to every row.
    model : ScoreModel
        The reliability method's candidates' time courses
        (:func:`tmstarget.stimulation.score_model`).
    settings : TargetingSettings
        Smoothing and top fraction of the choices.
    choices : sequence of str
        The choice rules compared (``reliability.choices``).
    parts : pandas.DataFrame
        The subject's parts (``segment``, ``start_volume``, ``stop_volume``).
    segments : sequence
        Runs and censored gaps of the joined series (the blocks stay inside them).
    repetition_time_s : float
        TR (s).

    Returns
    -------
    pandas.DataFrame
        :data:`CHOICE_COLUMNS`, one row per choice and segment (template RAS mm).
    """
    windows = parts.set_index("segment")
    rows = []
    for rule in choices:
        choice = ChoiceSettings(
            rule, settings.choice_smoothing_fwhm_mm, settings.choice_top_fraction
        )
        for segment in CHOICE_SEGMENTS:
            window = (
                int(windows.loc[segment, "start_volume"]),
                int(windows.loc[segment, "stop_volume"]),
            )
            target = chosen_target(
                model, settings, window, segments, repetition_time_s, participant_id, choice
            )
            x_mm, y_mm, z_mm = target.mm
            rows.append([participant_id, rule, segment, x_mm, y_mm, z_mm])
    return pd.DataFrame(rows, columns=CHOICE_COLUMNS)


def subject_figure(
    targets: SubjectTargets,
    settings: TargetingSettings,
    bootstrap: SubjectBootstrap | None,
    models: Mapping,
    planted: pd.DataFrame | None,
    participant_id: str,
) -> SubjectFigure:
    """What the subject's figure draws: the connectivity and Beam F3 sites (and the planted
    one), the bootstrap's candidate probabilities and summary.

    Parameters
    ----------
    targets : SubjectTargets
        The subject's sites.
    settings : TargetingSettings
        The connectivity method.
    bootstrap : SubjectBootstrap or None
        The connectivity target's uncertainty.
    models : mapping
        Method -> candidates' time courses (the bootstrap's candidate sites).
    planted : pandas.DataFrame or None
        Planted targets of simulated data (the subject's row is drawn).
    participant_id : str
        ``sub-<label>``.

    Returns
    -------
    SubjectFigure
        The sites, score kind and bootstrap of the figure.
    """
    method = settings.connectivity_method
    table = targets.table
    sites = table[table["method"].isin([method, BEAM_F3])][["method", "x_mm", "y_mm", "z_mm"]]
    if planted is not None:
        own = planted[planted["participant_id"] == participant_id]
        sites = pd.concat([sites, own[["x_mm", "y_mm", "z_mm"]].assign(method="planted")])
    points = summary = None
    if bootstrap is not None:
        points = pd.DataFrame(models[method].candidate_mm, columns=["x_mm", "y_mm", "z_mm"]).assign(
            probability=bootstrap.result.probability
        )
        summary = bootstrap.table.iloc[0].to_dict()
    score_kind = "searchlight" if method == CIRCUIT_SEARCHLIGHT else "seed_map"
    return SubjectFigure(method, sites, score_kind, points, summary)
