"""Which between-subject convention the published numbers used: the lattice argument.

Targets on a grid differ by lattice distances; a median of grid-to-grid distances is a
lattice distance or the midpoint of two close ones, a distance to a centroid is not (see
:mod:`tmstarget.reliability`)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tmstarget.reliability.params import MANUSCRIPT_BETWEEN_MM, MANUSCRIPT_WITHIN_MM


def lattice_distances(voxel_mm: float = 2.0, max_mm: float = 40.0) -> np.ndarray:
    """Every distance between centres of a cubic grid of ``voxel_mm`` up to ``max_mm``,
    sorted: ``voxel_mm * sqrt(a^2 + b^2 + c^2)`` for integers a, b, c."""
    reach = int(math.ceil(max_mm / voxel_mm))
    steps = np.arange(reach + 1)
    squares = (
        steps[:, None, None] ** 2 + steps[None, :, None] ** 2 + steps[None, None, :] ** 2
    ).ravel()
    distances = voxel_mm * np.sqrt(np.unique(squares))
    return distances[distances <= max_mm + 1e-9]


def lattice_check(
    value_mm: float, voxel_mm: float = 2.0, decimals: int = 2, max_gap_mm: float | None = None
) -> dict[str, Any]:
    """Whether a reported distance can be a median of grid-to-grid distances.

    A median of distances between grid points is a lattice distance, or (even count) the
    midpoint of two of them that are neighbours in the sorted list, hence close: here at
    most ``max_gap_mm`` apart (default one voxel). Rounded to ``decimals``, as reported.
    Returns value_mm, nearest_lattice_mm, lattice_below_mm / lattice_above_mm (the
    lattice distances either side), is_lattice, midpoint (a matching pair of different
    lattice distances, or None) and consistent_with_grid_median (either holds).
    """
    gap = voxel_mm if max_gap_mm is None else max_gap_mm
    lattice = lattice_distances(voxel_mm, value_mm + gap + voxel_mm)
    tolerance = 0.5 * 10.0**-decimals + 1e-12
    nearest = float(lattice[np.argmin(np.abs(lattice - value_mm))])
    is_lattice = abs(nearest - value_mm) <= tolerance
    midpoint = None
    for a in lattice:
        partners = lattice[(lattice > a) & (lattice <= a + gap)]
        match = partners[np.abs((a + partners) / 2 - value_mm) <= tolerance]
        if match.size:
            midpoint = (float(a), float(match[0]))
            break
    below = lattice[lattice <= value_mm]
    above = lattice[lattice > value_mm]
    return {
        "value_mm": float(value_mm),
        "nearest_lattice_mm": nearest,
        "lattice_below_mm": float(below[-1]) if below.size else math.nan,
        "lattice_above_mm": float(above[0]) if above.size else math.nan,
        "is_lattice": bool(is_lattice),
        "midpoint": midpoint,
        "consistent_with_grid_median": bool(is_lattice or midpoint is not None),
    }


def manuscript_convention_note(
    within_mm: float = MANUSCRIPT_WITHIN_MM,
    between_mm: float = MANUSCRIPT_BETWEEN_MM,
    voxel_mm: float = 2.0,
) -> str:
    """One paragraph: which between-subject convention the published numbers most likely
    used, from :func:`lattice_check` (see :mod:`tmstarget.reliability`)."""
    within = lattice_check(within_mm, voxel_mm)
    between = lattice_check(between_mm, voxel_mm)
    if within["is_lattice"] and not between["consistent_with_grid_median"]:
        verdict = (
            f"The published within-subject {within_mm:.2f} mm is a lattice distance of a "
            f"{voxel_mm:g} mm grid (a median of grid-peak distances), but {between_mm:.2f} mm "
            "is neither a lattice distance (the nearest are "
            f"{between['lattice_below_mm']:.4f} and {between['lattice_above_mm']:.4f} mm) "
            "nor the midpoint of two nearby ones, as a median of pairwise grid-to-grid "
            "distances would be. Distances to a group "
            "centroid (off the grid) take continuous values: the published between-subject "
            "number most likely used the centroid convention (the Fox-lab one)."
        )
    else:
        verdict = (
            f"Lattice check: within {within_mm:.2f} mm lattice = {within['is_lattice']}, "
            f"between {between_mm:.2f} mm consistent with a grid median = "
            f"{between['consistent_with_grid_median']}; the convention cannot be told apart "
            "from the numbers alone."
        )
    return verdict
