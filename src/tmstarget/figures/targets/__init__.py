"""Target figures (issue 4): one subject's score map, the group's targets, the distances
between the two arms' targets, and the demo's planted-target recovery.

Each function receives finished numbers (images and data frames from
:mod:`tmstarget.targeting` and :mod:`tmstarget.scalp`; it computes no statistic), draws one
figure in the shared style and writes it to every path given (PDF + PNG at 300 dpi, format
from the suffix) through :func:`tmstarget.style.save_figure`.

Conventions
-----------
- Coordinates are MNI152 world millimetres (x < 0 is the left hemisphere).
- Brain views are in the **neurological convention**: the left hemisphere is drawn on the
  left of coronal and axial views (nilearn's default, ``radiological=False``); sagittal
  views have anterior on the right. Every brain figure says so and marks L/R (and P/A).
- Score maps keep their sign and use a diverging colour map centred at 0 (blue negative,
  red positive). Circuit searchlight: the target is the **maximum positive** r with the
  circuit signal. sgACC seed map: the target is the **most negative** r with the seed.
- Arms keep the colours of :data:`tmstarget.style.ARM_COLOURS`.

Layout
------
Every public name is imported from :mod:`tmstarget.figures.targets`; the code lives in
one module per figure, each importing only ``common`` (so there is no circle):

- :mod:`~tmstarget.figures.targets.common`: the method and arm vocabulary, the published
  reference points, input checks and the drawing helpers the figures share.
- :mod:`~tmstarget.figures.targets.subject`: one subject's score map
  (:func:`plot_subject_target`, :func:`dilate_for_display`).
- :mod:`~tmstarget.figures.targets.group`: every subject's targets on a glass brain
  (:func:`plot_group_targets`).
- :mod:`~tmstarget.figures.targets.distances`: connectivity target to Beam F3, by arm
  (:func:`plot_target_distances`).
- :mod:`~tmstarget.figures.targets.recovery`: the demo's planted versus recovered target
  (:func:`plot_recovery`).
"""

from tmstarget.figures.targets.common import (
    ARM_NAMES,
    BEAM_F3_METHOD,
    METHOD_LABELS,
    NEUROLOGICAL_NOTE,
    PLANTED_METHOD,
    REFERENCE_POINTS,
    Paths,
)
from tmstarget.figures.targets.distances import DISTANCE_COLUMNS, plot_target_distances
from tmstarget.figures.targets.group import plot_group_targets
from tmstarget.figures.targets.recovery import plot_recovery
from tmstarget.figures.targets.subject import SCORE_KINDS, dilate_for_display, plot_subject_target

__all__ = [
    "Paths",
    "ARM_NAMES",
    "NEUROLOGICAL_NOTE",
    "METHOD_LABELS",
    "BEAM_F3_METHOD",
    "PLANTED_METHOD",
    "SCORE_KINDS",
    "REFERENCE_POINTS",
    "dilate_for_display",
    "plot_subject_target",
    "plot_group_targets",
    "DISTANCE_COLUMNS",
    "plot_target_distances",
    "plot_recovery",
]
