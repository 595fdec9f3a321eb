"""Which between-subject spread of the planted targets (demo.imaging.target_spread_mm)
reproduces the trial's between-subject target distance (12.97 mm)?

The simulator draws each subject's DLPFC site from a normal distribution (SD per axis =
the spread) around the group site and moves it to the nearest brain-surface voxel of the
search region; the surface constraint compresses the spread. This script draws cohorts of
``--subjects`` for each spread on the ``--voxel-mm`` grid (no imaging: it is fast) and
prints the median distance under both conventions of the reliability table: pairwise
(every pair of subjects) and distance to the group centroid, as the mean over
``--repeats`` cohorts with the range of the cohorts' medians.

These are the planted sites' distances. The targets found on split halves add their own
within-subject jitter: with a within-subject median distance w, a cross-half pairwise
distance is about sqrt(d**2 + w**2) for planted distance d (printed for w = 4.47 mm, the
trial's within-subject distance).

Usage: python benchmarks/calibrate_target_spread.py [--voxel-mm 2] [--subjects 40]
[--repeats 20] [--spreads 5 6 7 7.5 8 9 10 11]
"""

from __future__ import annotations

import argparse

import numpy as np

from tmstarget import atlas, simulate

PUBLISHED_BETWEEN_MM = 12.97
PUBLISHED_WITHIN_MM = 4.47


def planted_distances(
    template: simulate.Template, n_subjects: int, spread_mm: float, seed: int
) -> tuple[float, float]:
    """Median pairwise and median to-centroid distance (mm) of one planted cohort."""
    ijk = simulate.draw_targets(template, n_subjects, spread_mm, np.random.default_rng(seed))
    mm = atlas.voxel_centres_mm(template.affine, ijk)
    pairs = np.triu_indices(n_subjects, 1)
    pairwise = np.linalg.norm(mm[:, None] - mm[None], axis=2)[pairs]
    centroid = np.linalg.norm(mm - mm.mean(axis=0), axis=1)
    return float(np.median(pairwise)), float(np.median(centroid))


def main(voxel_mm: float, n_subjects: int, repeats: int, spreads: list[float]) -> None:
    template = simulate.load_template(voxel_mm)
    print(
        f"Planted targets: {n_subjects} subjects, {voxel_mm:g} mm grid, {repeats} cohorts "
        f"per spread (published between-subject distance {PUBLISHED_BETWEEN_MM} mm)\n"
    )
    header = (
        f"{'spread (mm)':>11} | {'pairwise median':>20} | {'with jitter':>11} | "
        f"{'centroid median':>20}"
    )
    print(header)
    print("-" * len(header))
    for spread in spreads:
        medians = np.array(
            [planted_distances(template, n_subjects, spread, seed) for seed in range(repeats)]
        )
        pairwise, centroid = medians[:, 0], medians[:, 1]
        jitter = np.sqrt(pairwise.mean() ** 2 + PUBLISHED_WITHIN_MM**2)
        print(
            f"{spread:>11g} | {pairwise.mean():6.2f} ({pairwise.min():5.2f}-{pairwise.max():5.2f})"
            f" | {jitter:11.2f} | {centroid.mean():6.2f} ({centroid.min():5.2f}-"
            f"{centroid.max():5.2f})"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voxel-mm", type=float, default=2.0)
    parser.add_argument("--subjects", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument(
        "--spreads", type=float, nargs="+", default=[5, 6, 7, 7.5, 8, 9, 10, 11, 12]
    )
    args = parser.parse_args()
    main(args.voxel_mm, args.subjects, args.repeats, args.spreads)
