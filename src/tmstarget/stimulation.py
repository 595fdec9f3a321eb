"""Per-subject stimulation sites: every configured targeting method, Beam F3, the coil's
scalp positions and native coordinates, in one table.

This is the subject-level step of the targets stage: it loads the subject's cleaned
series once, runs each connectivity method (:mod:`tmstarget.targeting`), places Beam F3
from the head measurements on the template scalp (:mod:`tmstarget.scalp`), scores the
circuit connectivity at every site (including Beam F3, which the outcome analysis
needs), and maps the sites to the subject's T1w space when fMRIPrep's transform exists
(:mod:`tmstarget.native`). All coordinates are MNI world millimetres (RAS).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from tmstarget import circuits, native, niftiio, scalp, settings, targeting, uncertainty
from tmstarget.vocabulary import (
    BEAM_F3,
    CIRCUIT_SEARCHLIGHT,
    CONNECTIVITY,
    MAP_METHODS,
    METHODS,
    SGACC_CLASSIC,
    SGACC_CLUSTER,
)

LOG = logging.getLogger("tmstarget")
SECTION = "targets"

TARGETS_DICTIONARY = {
    "participant_id": {"Description": "Participant label"},
    "method": {
        "Description": "How the site was chosen",
        "Levels": {
            CIRCUIT_SEARCHLIGHT: "circuit searchlight (trial method): maximum positive r "
            "of a coil-cone signal with the circuit-weighted whole-brain signal",
            SGACC_CLASSIC: "most negative voxel of the sgACC seed map",
            SGACC_CLUSTER: "centre of mass of the largest cluster of the most negative "
            "sgACC seed-map values",
            BEAM_F3: "Beam F3 from head measurements, projected to cortex",
        },
    },
    "x_mm": {"Description": "Cortical site, MNI x (RAS)", "Units": "mm"},
    "y_mm": {"Description": "Cortical site, MNI y", "Units": "mm"},
    "z_mm": {"Description": "Cortical site, MNI z", "Units": "mm"},
    "i": {"Description": "Voxel index (first axis) of the site on the data grid"},
    "j": {"Description": "Voxel index (second axis)"},
    "k": {"Description": "Voxel index (third axis)"},
    "score": {
        "Description": "The method's own score: r with the circuit signal (searchlight), r "
        "with the sgACC seed (seed-map methods, negative is better); n/a for Beam F3"
    },
    "circuit_connectivity": {
        "Description": "Pearson r of the coil-cone signal at the site with the circuit "
        "signal (the searchlight's score, computed at every site)"
    },
    "scalp_x_mm": {"Description": "Coil position on the template scalp, MNI x", "Units": "mm"},
    "scalp_y_mm": {"Description": "Coil position on the template scalp, MNI y", "Units": "mm"},
    "scalp_z_mm": {"Description": "Coil position on the template scalp, MNI z", "Units": "mm"},
    "native_x_mm": {
        "Description": "Cortical site in the subject's T1w space (n/a without fMRIPrep's "
        "transform)",
        "Units": "mm",
    },
    "native_y_mm": {"Description": "Cortical site in T1w space, y", "Units": "mm"},
    "native_z_mm": {"Description": "Cortical site in T1w space, z", "Units": "mm"},
    "scalp_native_x_mm": {
        "Description": "Coil position (template scalp) carried into the subject's T1w space, "
        "x (RAS); n/a without fMRIPrep's transform",
        "Units": "mm",
    },
    "scalp_native_y_mm": {"Description": "Coil position in T1w space, y", "Units": "mm"},
    "scalp_native_z_mm": {"Description": "Coil position in T1w space, z", "Units": "mm"},
}


DISTANCES_DICTIONARY = {
    "participant_id": {"Description": "Participant label"},
    "arm": {"Description": "Randomised arm (role)"},
    "cortex_distance_mm": {
        "Description": "Connectivity target to Beam F3 projected to cortex",
        "Units": "mm",
    },
    "scalp_distance_mm": {
        "Description": "Coil position of the connectivity target to Beam F3 on the scalp",
        "Units": "mm",
    },
    "connectivity_at_target": {
        "Description": "Circuit connectivity (r) at the connectivity target"
    },
    "connectivity_at_beam_f3": {"Description": "Circuit connectivity (r) at the Beam F3 site"},
    "stimulated_connectivity": {
        "Description": "Circuit connectivity (r) at the site the participant's arm stimulated"
    },
}


@dataclass(frozen=True)
class TargetingSettings:
    """The ``targets`` config section (defaults: config/schema.yaml).

    Build it with :meth:`from_config`; every field's default is the schema's. All
    coordinates and radii are MNI world millimetres (RAS).

    Parameters
    ----------
    methods : tuple of str
        Connectivity methods run for every subject (:data:`tmstarget.vocabulary.METHODS`:
        ``circuit_searchlight``, ``sgacc_classic``, ``sgacc_cluster``).
    connectivity_method : str
        The method whose target the connectivity arm is stimulated at (one of
        ``methods``). Only score-map methods (:data:`tmstarget.vocabulary.MAP_METHODS`:
        ``circuit_searchlight``, ``sgacc_classic``) take another ``choice`` or the
        bootstrap.
    beam_f3 : bool
        Compute a Beam F3 site from the head measurements (the rule passes each
        subject's, or none); False: no Beam F3 site.
    circuit_map : str or None
        Circuit map NIfTI in template space (sign convention: DLPFC positive, sgACC
        negative; never rescaled or sign-flipped); None builds the surrogate
        (:func:`tmstarget.circuits.surrogate_circuit_map`).
    search_mask : str or None
        Left DLPFC search mask NIfTI; None builds the union-of-spheres region.
    sgacc_seed : str or None
        sgACC seed mask NIfTI; None builds the 10 mm sphere at MNI (6, 16, -10).
    sgacc_bilateral : bool
        Add the mirror sphere (x = -6 mm) to the default sgACC seed; ignored when
        ``sgacc_seed`` is a file.
    cone_radii_mm : tuple of float
        Coil-cone shell radii (mm), increasing.
    cone_weights : tuple of float
        Weight of each cone shell (as many as radii).
    cluster_percentile : float
        ``sgacc_cluster`` keeps the voxels below this percentile of the negative r values,
        in (0, 100].
    cluster_centre : str
        ``sgacc_cluster``'s centre of mass: ``value`` (weighted by abs(r)) or ``plain``
        (unweighted).
    choice : str
        How the connectivity method's site is chosen on its score map
        (:data:`tmstarget.vocabulary.CHOICES`); ``argmax`` is the trial's.
    choice_smoothing_fwhm_mm : float
        Gaussian kernel (FWHM, mm) of the ``smoothed`` choice; > 0.
    choice_top_fraction : float
        Share of the candidates whose score-weighted centre of gravity the
        ``top_fraction`` choice takes, in (0, 1].
    bootstrap : tmstarget.uncertainty.BootstrapSettings
        The ``targets.bootstrap`` section (block bootstrap over time of the connectivity
        method: resamples, block length in s, seed, confidence, coil radius in mm).

    Raises
    ------
    ValueError
        When a choice option is out of range (:class:`tmstarget.uncertainty.ChoiceSettings`),
        or ``choice`` is not ``argmax`` or the bootstrap is enabled while
        ``connectivity_method`` is not a score-map method; the message names the config
        key (``targets.choice``, ``targets.bootstrap.enabled``...).
    """

    methods: tuple[str, ...] = settings.default(SECTION, "methods")
    connectivity_method: str = settings.default(SECTION, "connectivity_method")
    # Beam F3 from the head measurements (the rule passes each subject's, or none)
    beam_f3: bool = settings.default(SECTION, "beam_f3")
    circuit_map: str | None = settings.default(SECTION, "circuit_map")
    search_mask: str | None = settings.default(SECTION, "search_mask")
    sgacc_seed: str | None = settings.default(SECTION, "sgacc_seed")
    sgacc_bilateral: bool = settings.default(SECTION, "sgacc_bilateral")
    cone_radii_mm: tuple[float, ...] = targeting.DEFAULT_CONE_RADII_MM
    cone_weights: tuple[float, ...] = targeting.DEFAULT_CONE_WEIGHTS
    cluster_percentile: float = settings.default(SECTION, "cluster_percentile", float)
    cluster_centre: str = settings.default(SECTION, "cluster_centre")
    # How the site is chosen on a score map (vocabulary.CHOICES); argmax is the trial's.
    choice: str = settings.default(SECTION, "choice")
    choice_smoothing_fwhm_mm: float = settings.default(SECTION, "choice_smoothing_fwhm_mm", float)
    choice_top_fraction: float = settings.default(SECTION, "choice_top_fraction", float)
    bootstrap: uncertainty.BootstrapSettings = settings.default(
        SECTION, "bootstrap", uncertainty.BootstrapSettings.from_config
    )

    def __post_init__(self) -> None:
        self.choice_settings  # noqa: B018 (checks the choice options)
        if self.connectivity_method not in MAP_METHODS and (
            self.choice != "argmax" or self.bootstrap.enabled
        ):
            key = "targets.choice" if self.choice != "argmax" else "targets.bootstrap.enabled"
            raise ValueError(
                f"{key}: the bootstrap and the target choices work on score maps "
                f"({', '.join(MAP_METHODS)}); targets.connectivity_method "
                f"{self.connectivity_method!r} chooses by its own rule. Set "
                "targets.choice: argmax and targets.bootstrap.enabled: false, or another "
                "connectivity method"
            )

    @property
    def choice_settings(self) -> uncertainty.ChoiceSettings:
        return uncertainty.ChoiceSettings(
            self.choice, self.choice_smoothing_fwhm_mm, self.choice_top_fraction
        )

    @property
    def coil_radius_mm(self) -> float:
        """One coil radius (mm): targets.bootstrap.coil_radius_mm, else the cone's reach."""
        return self.bootstrap.coil_radius_mm or float(max(self.cone_radii_mm))

    @classmethod
    def from_config(cls, section: dict | None) -> TargetingSettings:
        """From the config section; an unknown key is an error naming it."""
        values = dict(section or {})
        for key in ("methods", "cone_radii_mm", "cone_weights"):
            if key in values:
                values[key] = tuple(values[key])
        if "bootstrap" in values:
            values["bootstrap"] = uncertainty.BootstrapSettings.from_config(values["bootstrap"])
        return settings.from_config(cls, SECTION, values)


@dataclass
class SubjectMaps:
    """A subject's inputs on the data grid, loaded once."""

    timeseries: np.ndarray  # (n_timepoints, n_brain_voxels) float32
    brain_mask: nib.Nifti1Image
    circuit_map: nib.Nifti1Image
    search_mask: nib.Nifti1Image
    seed_mask: nib.Nifti1Image


def load_timeseries(
    bold_path: str | Path, mask_path: str | Path
) -> tuple[np.ndarray, nib.Nifti1Image]:
    """The brain voxels' time series (n_timepoints, n_brain_voxels, float32, columns in
    the order of ``volume[mask]``) and the mask image. The series is read a block of
    volumes at a time straight into that matrix (:func:`tmstarget.niftiio.read_masked`):
    the peak is the matrix plus one block, never the full-grid 4D array."""
    mask_img = nib.load(mask_path)
    mask = np.asarray(mask_img.dataobj) > 0
    bold = nib.load(bold_path)
    if bold.shape[:3] != mask.shape or not np.allclose(bold.affine, mask_img.affine):
        raise targeting.TargetingError(
            f"{bold_path} and its brain mask {mask_path} are on different grids"
        )
    timeseries = niftiio.read_masked(bold_path, mask)
    return timeseries, nib.Nifti1Image(mask.astype(np.uint8), mask_img.affine)


def load_subject(
    bold_path: str | Path, mask_path: str | Path, settings: TargetingSettings
) -> SubjectMaps:
    """Load the series once and resample the circuit map, search mask and seed onto its grid.

    Resampling is in world space; the defaults are built from the published coordinates
    when no path is set (:func:`subject_maps`). The series is read a block of volumes at a
    time, brain voxels only (:func:`load_timeseries`).

    Parameters
    ----------
    bold_path : str or Path
        The subject's cleaned 4D series on the analysis grid (template space, MNI RAS).
    mask_path : str or Path
        Its brain mask (voxels > 0 are brain), on the same grid: same shape and affine.
    settings : TargetingSettings
        Where the circuit map, search mask and sgACC seed come from (``circuit_map``,
        ``search_mask``, ``sgacc_seed``, ``sgacc_bilateral``).

    Returns
    -------
    SubjectMaps
        ``timeseries`` (n_timepoints, n_brain_voxels) float32, columns in the order of
        ``volume[mask]``; the brain mask (uint8); the circuit map (float32, DLPFC
        positive, sgACC negative), search mask and seed mask (uint8, 1 inside), all on
        the series' grid.

    Raises
    ------
    tmstarget.targeting.TargetingError
        When the series and its brain mask are on different grids, or a configured map
        or mask is missing, not 3-D, or has no voxel left after resampling onto the grid
        (the message names it).
    tmstarget.niftiio.NiftiIOError
        When the series cannot be read as a 4D image on the mask's grid.
    """
    timeseries, brain_mask = load_timeseries(bold_path, mask_path)
    return subject_maps(timeseries, brain_mask, settings)


def subject_maps(
    timeseries: np.ndarray, brain_mask: nib.Nifti1Image, settings: TargetingSettings
) -> SubjectMaps:
    """A loaded series with the circuit map, search mask and seed resampled onto its grid
    (what :func:`load_subject` adds to :func:`load_timeseries`)."""
    return SubjectMaps(
        timeseries=timeseries,
        brain_mask=brain_mask,
        circuit_map=circuits.load_circuit_map(settings.circuit_map, brain_mask),
        search_mask=circuits.load_search_mask(settings.search_mask, brain_mask),
        seed_mask=circuits.load_seed_mask(
            settings.sgacc_seed, brain_mask, bilateral=settings.sgacc_bilateral
        ),
    )


def find_target(
    maps: SubjectMaps,
    method: str,
    settings: TargetingSettings,
    timeseries: np.ndarray | None = None,
):
    """Run one connectivity method; ``timeseries`` (default: the subject's whole series)
    lets reliability analyses pass a part of it without reloading."""
    data = maps.timeseries if timeseries is None else timeseries
    if method == CIRCUIT_SEARCHLIGHT:
        return targeting.circuit_searchlight(
            data,
            maps.brain_mask,
            maps.circuit_map,
            maps.search_mask,
            settings.cone_radii_mm,
            settings.cone_weights,
        )
    if method in (SGACC_CLASSIC, SGACC_CLUSTER):
        return targeting.sgacc_target(
            data,
            maps.brain_mask,
            maps.seed_mask,
            maps.search_mask,
            method=method.removeprefix("sgacc_"),
            cluster_percentile=settings.cluster_percentile,
            centre_of_mass=settings.cluster_centre,
        )
    raise ValueError(f"targets.methods: unknown method {method!r}; known: {', '.join(METHODS)}")


def score_model(
    maps: SubjectMaps, method: str, settings: TargetingSettings
) -> uncertainty.ScoreModel:
    """The candidates' time courses and the reference signal of a score-map method
    (:data:`MAP_METHODS`), computed once from the whole series for the bootstrap, the
    choice variants and any part of the series."""
    affine = np.asarray(maps.brain_mask.affine)
    if method == CIRCUIT_SEARCHLIGHT:
        signals = targeting.searchlight_signals(
            maps.timeseries,
            maps.brain_mask,
            maps.circuit_map,
            maps.search_mask,
            settings.cone_radii_mm,
            settings.cone_weights,
        )
        return uncertainty.ScoreModel.build(
            method,
            signals.candidate_ijk,
            affine,
            signals.cone_signals,
            signals.circuit_signal,
            sign=1.0,
        )
    if method == SGACC_CLASSIC:
        region_ijk, region_signals, seed_signal = targeting.seed_signals(
            maps.timeseries, maps.brain_mask, maps.seed_mask, maps.search_mask
        )
        return uncertainty.ScoreModel.build(
            method, region_ijk, affine, region_signals, seed_signal, sign=-1.0
        )
    raise ValueError(
        f"{method!r} does not choose on a score map; the bootstrap and the target choices "
        f"work with {', '.join(MAP_METHODS)}"
    )


@dataclass
class SubjectBootstrap:
    """What the bootstrap writes for one subject: a one-row table and the probability
    map of the target location (share of resamples choosing each voxel)."""

    table: pd.DataFrame
    probability_map: nib.Nifti1Image
    result: uncertainty.BootstrapResult


def subject_bootstrap(
    participant_id: str,
    model: uncertainty.ScoreModel,
    settings: TargetingSettings,
    segments: Sequence[tuple[int, int]],
    repetition_time_s: float,
    brain_mask: nib.Nifti1Image,
) -> SubjectBootstrap:
    """Block bootstrap of the connectivity method (``targets.bootstrap``) on a subject's
    whole series; ``segments`` from :func:`uncertainty.contiguous_segments`."""
    boot = settings.bootstrap
    result = uncertainty.bootstrap_targets(
        model,
        segments,
        uncertainty.block_volumes(boot.block_s, repetition_time_s),
        boot.n_resamples,
        uncertainty.subject_stream(boot.seed, participant_id),
        settings.choice_settings,
        boot.confidence,
        settings.coil_radius_mm,
    )
    row = {
        "participant_id": participant_id,
        "choice": settings.choice,
        "block_s": boot.block_s,
        "seed": boot.seed,
        **uncertainty.describe(result, model),
    }
    table = pd.DataFrame([row])[list(uncertainty.BOOTSTRAP_DICTIONARY)]
    volume = np.zeros(brain_mask.shape[:3], dtype=np.float32)
    volume[tuple(model.candidate_ijk.T)] = result.probability
    return SubjectBootstrap(table, nib.Nifti1Image(volume, brain_mask.affine), result)


def chosen_target(
    model: uncertainty.ScoreModel,
    settings: TargetingSettings,
    window: tuple[int, int],
    segments: Sequence[tuple[int, int]],
    repetition_time_s: float,
    participant_id: str,
    choice: uncertainty.ChoiceSettings | None = None,
) -> targeting.Target:
    """The target ``choice`` (default: the configured one) gives on volumes ``window``
    of the series, as a :class:`targeting.Target` (``mm``: the chosen point; ``ijk``,
    ``voxel_mm`` and ``score``: its candidate)."""
    choice = choice or settings.choice_settings
    mm = uncertainty.choice_site(
        model,
        choice,
        window,
        segments,
        settings.bootstrap,
        repetition_time_s,
        uncertainty.subject_stream(settings.bootstrap.seed, participant_id),
    )
    index = int(np.argmin(np.linalg.norm(model.candidate_mm - mm, axis=1)))
    scores = uncertainty.segment_scores(model, *window)
    voxel = model.candidate_mm[index]
    return targeting.Target(
        method=model.method,
        mm=(float(mm[0]), float(mm[1]), float(mm[2])),
        ijk=tuple(int(v) for v in model.candidate_ijk[index]),
        voxel_mm=(float(voxel[0]), float(voxel[1]), float(voxel[2])),
        score=float(scores[index]),
    )


@dataclass
class SubjectTargets:
    """Everything the subject-level rule writes."""

    table: pd.DataFrame
    score_maps: dict[str, nib.Nifti1Image]  # method -> map on the data grid


def subject_targets(
    participant_id: str,
    maps: SubjectMaps,
    settings: TargetingSettings,
    head_cm: tuple[float, float, float] | None,
    transform: str | Path | Sequence[str | Path] | None = None,
    chosen: targeting.Target | None = None,
) -> SubjectTargets:
    """Every configured method's target, Beam F3 (from ``head_cm``: nasion-inion,
    tragus-tragus, circumference in cm; None skips it), coil positions on the template
    scalp, circuit connectivity at every site and native T1w coordinates if
    ``transform`` (fMRIPrep's ``from-T1w_to-<template>`` file, or a list of files template
    side first, see :func:`tmstarget.native.mni_to_native`) is given. ``chosen`` (from
    :func:`chosen_target`) replaces the connectivity method's argmax site when
    ``targets.choice`` is another rule."""
    brain = np.asarray(maps.brain_mask.dataobj) > 0
    rows, score_maps = [], {}
    for method in settings.methods:
        try:
            result = find_target(maps, method, settings)
        except targeting.TargetingError as error:
            if method == settings.connectivity_method:
                raise
            # a secondary method that finds no site (e.g. sgacc_cluster where no
            # search-region voxel is anticorrelated with the seed) leaves its row out; its
            # map is all zeros, and the log says why
            LOG.warning("%s: %s found no target: %s", participant_id, method, error)
            score_maps[method] = nib.Nifti1Image(
                np.zeros(brain.shape, dtype=np.float32), maps.brain_mask.affine
            )
            continue
        target = result.target
        if chosen is not None and method == settings.connectivity_method:
            target = chosen
        record = target.as_record()
        record["method"] = method
        rows.append(record)
        if hasattr(result, "score_volume"):
            volume = result.score_volume(brain.shape)
        else:
            volume = result.r_volume(brain.shape)
        score_maps[method] = nib.Nifti1Image(
            np.nan_to_num(volume).astype(np.float32), maps.brain_mask.affine
        )
    if head_cm is not None:
        rows.append(_beam_f3_row(head_cm, maps.brain_mask))
    table = pd.DataFrame(rows)
    sites_ijk = table[["i", "j", "k"]].to_numpy(dtype=int)
    table["circuit_connectivity"] = targeting.circuit_connectivity_at(
        maps.timeseries,
        maps.brain_mask,
        maps.circuit_map,
        sites_ijk,
        settings.cone_radii_mm,
        settings.cone_weights,
    )
    sites_mm = table[["x_mm", "y_mm", "z_mm"]].to_numpy(dtype=float)
    coil = scalp.coil_position(sites_mm)
    table[["scalp_x_mm", "scalp_y_mm", "scalp_z_mm"]] = coil
    if head_cm is not None:
        # Beam F3 is placed on the scalp first; keep that point as its coil position.
        beam = table["method"] == BEAM_F3
        table.loc[beam, ["scalp_x_mm", "scalp_y_mm", "scalp_z_mm"]] = scalp.place_beam_f3(*head_cm)
    scalp_mm = table[["scalp_x_mm", "scalp_y_mm", "scalp_z_mm"]].to_numpy(dtype=float)
    if transform is not None:
        native_mm = native.mni_to_native(np.vstack([sites_mm, scalp_mm]), transform)
    else:
        native_mm = np.full((2 * len(sites_mm), 3), np.nan)
    table[["native_x_mm", "native_y_mm", "native_z_mm"]] = native_mm[: len(sites_mm)]
    table[["scalp_native_x_mm", "scalp_native_y_mm", "scalp_native_z_mm"]] = native_mm[
        len(sites_mm) :
    ]
    table.insert(0, "participant_id", participant_id)
    return SubjectTargets(table=table[list(TARGETS_DICTIONARY)], score_maps=score_maps)


def _beam_f3_row(head_cm: tuple[float, float, float], brain_mask: nib.Nifti1Image) -> dict:
    scalp_mm = scalp.place_beam_f3(*head_cm)
    cortex_mm = scalp.project_to_cortex(scalp_mm, brain_mask)
    ijk = np.rint(nib.affines.apply_affine(np.linalg.inv(brain_mask.affine), cortex_mm)).astype(int)
    return {
        "method": BEAM_F3,
        "x_mm": float(cortex_mm[0]),
        "y_mm": float(cortex_mm[1]),
        "z_mm": float(cortex_mm[2]),
        "i": int(ijk[0]),
        "j": int(ijk[1]),
        "k": int(ijk[2]),
        "score": np.nan,
    }


# --------------------------------------------------------------------------- group


def arm_distances(
    targets: pd.DataFrame, participants: pd.DataFrame, connectivity_method: str
) -> pd.DataFrame:
    """Per subject: distance (mm) between the connectivity target and Beam F3.

    The distances are on the cortex and on the scalp; the table also gives the circuit
    connectivity at each and at the site the subject's arm stimulated
    (``stimulated_connectivity``, for the mechanism analysis).

    Parameters
    ----------
    targets : pandas.DataFrame
        The subjects' target tables (:data:`TARGETS_DICTIONARY` columns), one row per
        participant and method: cortical site ``x_mm``, ``y_mm``, ``z_mm`` and coil
        position ``scalp_x_mm``... (MNI RAS mm) and ``circuit_connectivity`` (r).
    participants : pandas.DataFrame
        ``participant_id`` and ``arm`` holding the role (``connectivity`` or ``scalp``),
        as :func:`tmstarget.clinical.load_participants` returns them.
    connectivity_method : str
        The method whose target the connectivity arm is stimulated at
        (``targets.connectivity_method``).

    Returns
    -------
    pandas.DataFrame
        One row per participant, sorted by ``participant_id``, with columns of
        :data:`DISTANCES_DICTIONARY`: Euclidean distances in MNI mm (>= 0) and Pearson r
        values. A participant without both a connectivity-method and a Beam F3 row is
        left out; one not in ``participants`` has arm ``n/a`` and the Beam F3 site's
        connectivity as ``stimulated_connectivity``. No rows (and no columns) when no
        participant has both sites.
    """
    wide = targets.set_index(["participant_id", "method"])
    rows = []
    arms = participants.set_index("participant_id")["arm"]
    for pid in sorted(targets["participant_id"].unique()):
        if (pid, connectivity_method) not in wide.index or (pid, BEAM_F3) not in wide.index:
            continue
        conn, beam = wide.loc[(pid, connectivity_method)], wide.loc[(pid, BEAM_F3)]
        cortex = ["x_mm", "y_mm", "z_mm"]
        on_scalp = ["scalp_x_mm", "scalp_y_mm", "scalp_z_mm"]
        arm = arms.get(pid, "n/a")
        rows.append(
            {
                "participant_id": pid,
                "arm": arm,
                "cortex_distance_mm": float(np.linalg.norm(conn[cortex] - beam[cortex])),
                "scalp_distance_mm": float(np.linalg.norm(conn[on_scalp] - beam[on_scalp])),
                "connectivity_at_target": float(conn["circuit_connectivity"]),
                "connectivity_at_beam_f3": float(beam["circuit_connectivity"]),
                "stimulated_connectivity": float(
                    (conn if arm == CONNECTIVITY else beam)["circuit_connectivity"]
                ),
            }
        )
    return pd.DataFrame(rows)


def recovery(
    targets: pd.DataFrame, planted: pd.DataFrame, voxel_mm: float, methods: Sequence[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Planted-target recovery (demo): the error between recovered and planted DLPFC targets.

    Per subject and method the error (mm, voxels) between the recovered and the planted
    DLPFC target, and a summary per method (median error, % within one and two voxels).
    Where both tables have native T1w coordinates (``native_x_mm``...), the error in the
    subject's own T1w space too (mm, and in analysis voxels: the heads are scaled by up
    to 7%).

    Parameters
    ----------
    targets : pandas.DataFrame
        The group target table (:data:`TARGETS_DICTIONARY` columns): ``participant_id``,
        ``method``, the site ``x_mm``, ``y_mm``, ``z_mm`` (MNI RAS mm) and, optionally,
        ``native_x_mm``, ``native_y_mm``, ``native_z_mm`` (T1w RAS mm).
    planted : pandas.DataFrame
        The demo's planted targets (``planted_targets.tsv``): ``participant_id``, ``x_mm``,
        ``y_mm``, ``z_mm`` (MNI RAS mm) and optionally the native T1w columns. Subjects
        without a planted row are left out.
    voxel_mm : float
        Edge of one analysis voxel (mm), e.g. from :func:`voxel_size_mm`; errors in voxels
        are errors in mm divided by it.
    methods : sequence of str
        The targeting methods scored; rows of other methods (Beam F3...) are left out.

    Returns
    -------
    per_subject : pandas.DataFrame
        One row per subject and method: ``participant_id``, ``method``, ``error_mm``
        (Euclidean, MNI mm), ``error_voxels`` and, with native coordinates,
        ``native_error_mm`` (T1w mm).
    summary : pandas.DataFrame
        One row per method, in order of first appearance: ``n``, ``median_error_mm``,
        ``median_error_voxels``, ``pct_within_1_voxel``, ``pct_within_2_voxels`` (percent,
        0-100; an error at the limit counts as within) and, with native coordinates,
        ``median_native_error_mm`` and ``pct_native_within_1_voxel`` (native error at most
        ``voxel_mm``).
    """
    native = [f"native_{axis}_mm" for axis in "xyz"]
    with_native = set(native) <= set(planted.columns) and set(native) <= set(targets.columns)
    merged = targets[targets["method"].isin(methods)].merge(
        planted[["participant_id", "x_mm", "y_mm", "z_mm", *(native if with_native else [])]],
        on="participant_id",
        suffixes=("", "_planted"),
    )
    found = merged[["x_mm", "y_mm", "z_mm"]].to_numpy(dtype=float)
    truth = merged[["x_mm_planted", "y_mm_planted", "z_mm_planted"]].to_numpy(dtype=float)
    per_subject = merged[["participant_id", "method"]].copy()
    per_subject["error_mm"] = np.linalg.norm(found - truth, axis=1)
    per_subject["error_voxels"] = per_subject["error_mm"] / voxel_mm
    aggregates = {
        "n": ("error_mm", "size"),
        "median_error_mm": ("error_mm", "median"),
        "median_error_voxels": ("error_voxels", "median"),
        "pct_within_1_voxel": ("error_voxels", lambda e: 100 * np.mean(e <= 1.0 + 1e-9)),
        "pct_within_2_voxels": ("error_voxels", lambda e: 100 * np.mean(e <= 2.0 + 1e-9)),
    }
    if with_native:
        found_native = merged[native].to_numpy(dtype=float)
        truth_native = merged[[f"{c}_planted" for c in native]].to_numpy(dtype=float)
        per_subject["native_error_mm"] = np.linalg.norm(found_native - truth_native, axis=1)
        aggregates["median_native_error_mm"] = ("native_error_mm", "median")
        aggregates["pct_native_within_1_voxel"] = (
            "native_error_mm",
            lambda e: 100 * np.mean(e <= voxel_mm + 1e-9),
        )
    summary = per_subject.groupby("method", sort=False).agg(**aggregates).reset_index()
    return per_subject, summary


def voxel_size_mm(img: nib.spatialimages.SpatialImage) -> float:
    """Mean voxel edge (mm) of an image's grid.

    Parameters
    ----------
    img : nibabel.spatialimages.SpatialImage
        An image (e.g. the analysis-grid brain mask); only its affine is read.

    Returns
    -------
    float
        The mean of the three voxel edge lengths (mm): the norms of the affine's first
        three columns, so rotations and axis flips do not change it.
    """
    return float(np.mean(np.linalg.norm(img.affine[:3, :3], axis=0)))
