"""What the config says about preprocessing: :class:`CleaningSettings` (the ``preprocess``
section's cleaning keys), :class:`TedanaSettings` (``preprocess.tedana``) and the default
QC thresholds, all with their defaults from config/schema.yaml (:mod:`tmstarget.settings`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from tmstarget import settings
from tmstarget.denoise.errors import PreprocessingError
from tmstarget.vocabulary import ICA_METHODS, TEDANA_MODES

Mode = Literal["me-ica", "optcom"]

# Default QC thresholds (group QC flags; preprocess.qc_thresholds in config/schema.yaml).
# Lenient floors meant to catch broken or very high-motion runs, not to grade ordinary ones.
QC_THRESHOLDS = {
    key: float(value) for key, value in settings.defaults("preprocess.qc_thresholds").items()
}
PREPROCESS = "preprocess"
TEDANA = "preprocess.tedana"


def _preprocess_default(key: str, convert=None):
    return settings.default(PREPROCESS, key, convert)


@dataclass(frozen=True)
class CleaningSettings:
    """The cleaning keys of the config's ``preprocess`` section: what
    :func:`~tmstarget.denoise.clean_subject` and :func:`~tmstarget.denoise.postprocess_run`
    read. Defaults are config/schema.yaml's; :meth:`from_config` builds the settings from
    the rule's params (:func:`cleaning_options`).

    Parameters
    ----------
    n_dummy : int or None
        Dummy (non-steady-state) volumes dropped from the start of every run, overriding
        each run's own; None: each run's (fMRIPrep's ``non_steady_state_outlier``
        columns).
    min_volumes : int
        Fewest volumes a run may keep after dropping dummies and censoring.
    low_pass_hz : float or None
        Low-pass cut-off of the Butterworth filter (Hz); None for none.
    high_pass_hz : float or None
        High-pass cut-off (Hz), below ``low_pass_hz``; None for none.
    censor_fd_mm : float or None
        Censor frames whose framewise displacement exceeds this (mm); None: no censoring.
    fwhm_mm : float
        Gaussian smoothing within the brain mask (FWHM, mm); 0 only masks.
    nuisance : str
        The nuisance strategy (:data:`tmstarget.confounds.STRATEGIES`; the trial's is
        ``trial``: global signal, white matter, CSF, 6 motion parameters and their
        derivatives).
    nuisance_columns : tuple of str or None
        Confounds columns regressed instead of the strategy's; None: ``nuisance``. A list
        is stored as a tuple.
    concat_normalise : {"zscore", "demean"}
        Per-voxel normalisation of each run before the runs are joined.
    fd_flag_mm : float
        Framewise displacement (mm) above which a frame is counted in the QC.

    Raises
    ------
    ValueError
        From :meth:`from_config`, when the section has a key that is not a field (the
        message names it).
    """

    n_dummy: int | None = _preprocess_default("n_dummy")
    min_volumes: int = _preprocess_default("min_volumes")
    low_pass_hz: float | None = _preprocess_default("low_pass_hz", float)
    high_pass_hz: float | None = _preprocess_default("high_pass_hz", float)
    censor_fd_mm: float | None = _preprocess_default("censor_fd_mm", float)
    fwhm_mm: float = _preprocess_default("fwhm_mm", float)
    nuisance: str = _preprocess_default("nuisance")
    nuisance_columns: tuple[str, ...] | None = _preprocess_default("nuisance_columns")
    concat_normalise: Literal["zscore", "demean"] = _preprocess_default("concat_normalise")
    fd_flag_mm: float = _preprocess_default("fd_flag_mm", float)

    def __post_init__(self) -> None:
        if self.nuisance_columns is not None:
            object.__setattr__(self, "nuisance_columns", tuple(self.nuisance_columns))

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        """The ``preprocess`` keys cleaning reads (no QC thresholds: the verdict is
        judged in cheap jobs)."""
        return tuple(field.name for field in dataclasses.fields(cls))

    @classmethod
    def from_config(cls, section: Mapping | None) -> CleaningSettings:
        """From the cleaning keys of ``preprocess`` (:func:`cleaning_options`); an unknown
        key is an error naming it."""
        return settings.from_config(cls, PREPROCESS, section)

    @classmethod
    def from_preprocess(cls, preprocess: Mapping) -> CleaningSettings:
        """From the whole ``preprocess`` section (its other keys are not cleaning's)."""
        return cls.from_config(cleaning_options(preprocess))


@dataclass(frozen=True)
class TedanaSettings:
    """The config's ``preprocess.tedana`` section: how
    :func:`~tmstarget.denoise.run_tedana` runs tedana. Defaults are config/schema.yaml's.

    Parameters
    ----------
    mode : {"me-ica", "optcom"}
        ``me-ica`` (optimal combination and ME-ICA denoising, the trial's) or ``optcom``
        (T2* fit and optimal combination only, no ICA).
    seed : int
        tedana's ``fixed_seed`` (FastICA; robustica derives its runs from it).
    ica_method : {"fastica", "robustica"}
        tedana's ICA algorithm.
    n_robust_runs : int
        ICA runs of robustica (``ica_method="robustica"`` only).
    tree : str
        tedana's decision tree (e.g. ``tedana_orig``).
    tedpca : str or float or int
        PCA dimension selection before ICA: ``aic``, ``kic``, ``mdl``, ``kundu``, or a
        number (components, or a fraction of variance).
    figures : bool
        Keep tedana's static figures (and its HTML report).

    Raises
    ------
    PreprocessingError
        When ``mode`` or ``ica_method`` is not one of the names above.
    ValueError
        From :meth:`from_config`, when the section has a key that is not a field (the
        message names it).
    """

    mode: Mode = settings.default(TEDANA, "mode")
    seed: int = settings.default(TEDANA, "seed")
    ica_method: Literal["fastica", "robustica"] = settings.default(TEDANA, "ica_method")
    n_robust_runs: int = settings.default(TEDANA, "n_robust_runs")
    tree: str = settings.default(TEDANA, "tree")
    tedpca: str | float | int = settings.default(TEDANA, "tedpca")
    figures: bool = settings.default(TEDANA, "figures")

    def __post_init__(self) -> None:
        if self.mode not in TEDANA_MODES:
            raise PreprocessingError(f"mode must be 'me-ica' or 'optcom', got {self.mode!r}")
        if self.ica_method not in ICA_METHODS:
            raise PreprocessingError(
                f"ica_method must be fastica or robustica, got {self.ica_method!r}"
            )

    @classmethod
    def from_config(cls, section: Mapping | None) -> TedanaSettings:
        """From the config's ``preprocess.tedana``; an unknown key is an error naming it."""
        return settings.from_config(cls, TEDANA, section)


def cleaning_options(preprocess: Mapping) -> dict:
    """The keys of the config's ``preprocess`` section that cleaning reads
    (:meth:`CleaningSettings.keys`; no QC thresholds: the verdict is judged in cheap jobs),
    as the rule's params: :meth:`CleaningSettings.from_config` builds the settings."""
    return {key: preprocess[key] for key in CleaningSettings.keys() if key in preprocess}
