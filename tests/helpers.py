"""Synthetic inputs more than one test module builds: box-brain sgACC seed-map subjects
with planted answers, and long-format MADRS ratings from a score matrix (imported as
``from helpers import ...``; pytest puts tests/ on the path, as for conftest and
fmriprep_tree)."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pandas as pd


def box_affine(voxel_mm=(2.0, 2.0, 2.0)) -> np.ndarray:
    """Affine of the box-brain grids: ``voxel_mm`` voxels, origin at (-30, -20, -10) mm."""
    affine = np.diag([*voxel_mm, 1.0])
    affine[:3, 3] = (-30.0, -20.0, -10.0)
    return affine


def seed_map_cubes_subject(rng_seed=0, n_timepoints=300):
    """Box brain (24^3, 2 mm); seed at one corner; the search region positively coupled to
    the seed except a planted 3x3x3 cube (A) and a planted 2x2x2 cube (B) that are
    anticorrelated; B is more strongly anticorrelated but smaller; one voxel of A,
    (11, 10, 12), is exactly -seed.

    Returns (timeseries (time x brain voxels, float32), brain image, seed mask, search
    mask, affine)."""
    rng = np.random.default_rng(rng_seed)
    shape = (24, 24, 24)
    brain = np.zeros(shape, dtype=bool)
    brain[1:23, 1:23, 1:23] = True
    seed = np.zeros(shape, dtype=bool)
    seed[2:5, 2:5, 2:5] = True
    search = np.zeros(shape, dtype=bool)
    search[8:22, 8:22, 8:22] = True
    seed_signal = rng.standard_normal(n_timepoints)
    volume = rng.standard_normal((n_timepoints, *shape))
    volume[:, search] += 0.8 * seed_signal[:, None]
    cube_a = (slice(10, 13), slice(10, 13), slice(10, 13))
    cube_b = (slice(17, 19), slice(17, 19), slice(17, 19))
    volume[(slice(None), *cube_a)] = (
        -0.7 * seed_signal[:, None, None, None] + 0.5 * volume[(slice(None), *cube_a)]
    )
    volume[(slice(None), *cube_b)] = (
        -seed_signal[:, None, None, None] + 0.2 * volume[(slice(None), *cube_b)]
    )
    volume[:, seed] = seed_signal[:, None]
    volume[:, 11, 10, 12] = -seed_signal
    timeseries = volume[:, brain].astype(np.float32)
    affine = box_affine()
    return timeseries, nib.Nifti1Image(brain.astype(np.uint8), affine), seed, search, affine


def seed_map_split_half_subject(first_voxel, second_voxel, n_per_half=80, seed=0):
    """Box brain (14^3, 2 mm) with sgACC-seed data where ``first_voxel`` is exactly -seed
    in the first half of the series and ``second_voxel`` in the second; everything else
    noise weakly coupled to the seed.

    Returns (timeseries (time x brain voxels, float32), brain image, seed mask, search
    mask)."""
    rng = np.random.default_rng(seed)
    shape = (14, 14, 14)
    brain = np.zeros(shape, dtype=bool)
    brain[1:13, 1:13, 1:13] = True
    seed_mask = np.zeros(shape, dtype=bool)
    seed_mask[2:4, 2:4, 2:4] = True
    search = np.zeros(shape, dtype=bool)
    search[6:12, 6:12, 6:12] = True
    n = 2 * n_per_half
    seed_signal = rng.standard_normal(n)
    volume = rng.standard_normal((n, *shape))
    volume[:, search] -= 0.5 * seed_signal[:, None]
    volume[:, seed_mask] = seed_signal[:, None]
    volume[:n_per_half, *first_voxel] = -seed_signal[:n_per_half]
    volume[n_per_half:, *second_voxel] = -seed_signal[n_per_half:]
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    affine[:3, 3] = (-20.0, -10.0, 0.0)
    brain_img = nib.Nifti1Image(brain.astype(np.uint8), affine)
    return volume[:, brain].astype(np.float32), brain_img, seed_mask, search


def long_madrs_ratings(scores: np.ndarray, arms: list[str], visits: list[str]) -> pd.DataFrame:
    """Ratings in long format (``participant_id``, ``arm``, ``session_id``,
    ``madrs_total``) from a participants x visits matrix of MADRS totals; participant i
    is ``sub-<i:03d>`` in ``arms[i]``; NaN scores are missing ratings (no row)."""
    rows = []
    for i, arm in enumerate(arms):
        for j, visit in enumerate(visits):
            if np.isfinite(scores[i, j]):
                rows.append(
                    {
                        "participant_id": f"sub-{i:03d}",
                        "arm": arm,
                        "session_id": visit,
                        "madrs_total": scores[i, j],
                    }
                )
    return pd.DataFrame(rows)


# ------------------------------------------------------------- package layout checks


def sibling_imports(path, package: str) -> set[str]:
    """The modules of ``package`` (a dotted name) that the file ``path`` imports, relative
    to the package (``""``: the package itself; relative imports count as its own)."""
    import ast

    imported = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom):
            if node.level:
                names = [f"{package}.{node.module or ''}".rstrip(".")]
            elif node.module:
                names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            if name == package or name.startswith(package + "."):
                imported.add(name.removeprefix(package).lstrip("."))
    return imported


def import_graph(folder, package: str) -> dict[str, set[str]]:
    """Module -> the sibling modules it imports, for every module of the package folder
    ``folder`` but its ``__init__``."""
    return {
        path.stem: sibling_imports(path, package)
        for path in sorted(folder.glob("*.py"))
        if path.stem != "__init__"
    }


def assert_no_import_circle(graph: dict[str, set[str]], package: str) -> None:
    """No module imports the package itself, and the modules can be imported in an order
    (each after every module it imports)."""
    for module, imported in graph.items():
        assert "" not in imported, f"{package}.{module} imports the package (a circle)"
    order: set[str] = set()
    remaining = dict(graph)
    while remaining:
        ready = [module for module, imported in remaining.items() if imported <= order]
        assert ready, f"import circle among {package} modules {sorted(remaining)}"
        order |= set(ready)
        for module in ready:
            del remaining[module]


def long_functions(path, limit: int) -> list[str]:
    """The functions of the file ``path`` over ``limit`` lines (docstrings included)."""
    import ast

    return [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > limit
    ]
