"""Tests of the target figures (toy inputs on the 4 mm MNI grid; finished numbers only),
and of the package's layout (public names, no import circle, short functions)."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from helpers import long_functions, sibling_imports
from matplotlib import image as mpimg

from tmstarget import atlas
from tmstarget.figures import targets as figures

N_SUBJECTS = 40

# Every public name of the flat module tmstarget/figures/targets.py before it became a
# package (issue 17); scripts import them from tmstarget.figures.targets.
FLAT_TARGETS_NAMES = """
Paths ARM_NAMES NEUROLOGICAL_NOTE METHOD_LABELS BEAM_F3_METHOD PLANTED_METHOD SCORE_KINDS
REFERENCE_POINTS dilate_for_display plot_subject_target plot_group_targets DISTANCE_COLUMNS
plot_target_distances plot_recovery
""".split()
TARGETS_PACKAGE = Path(figures.__file__).parent


@pytest.fixture(scope="module")
def subject_inputs():
    """A searchlight score map peaked at a surface candidate of the DLPFC search region,
    an sgACC seed map over the region, and the targets table of one subject."""
    rng = np.random.default_rng(0)
    brain_img = atlas.template_tissue(4)["brain"]
    search_img = atlas.dlpfc_search_region(4)
    brain = np.asarray(brain_img.dataobj) > 0
    region = np.asarray(search_img.dataobj) > 0
    affine = brain_img.affine

    candidates = np.argwhere(atlas.surface_voxels(region, brain))
    candidates_mm = atlas.voxel_centres_mm(affine, candidates)
    distance = np.linalg.norm(candidates_mm - [-42.0, 40.0, 32.0], axis=1)
    scores = 0.5 * np.exp(-0.5 * (distance / 12.0) ** 2) - 0.15
    scores += 0.03 * rng.standard_normal(len(scores))
    searchlight = np.full(brain.shape, np.nan, dtype=np.float32)
    searchlight[tuple(candidates.T)] = scores
    target = candidates_mm[np.argmax(scores)]

    region_ijk = np.argwhere(region & brain)
    region_mm = atlas.voxel_centres_mm(affine, region_ijk)
    r = -0.4 * np.exp(-0.5 * (np.linalg.norm(region_mm - [-44, 42, 30], axis=1) / 10) ** 2)
    seed_map = np.full(brain.shape, np.nan, dtype=np.float32)
    seed_map[tuple(region_ijk.T)] = r + 0.1
    seed_target = region_mm[np.argmin(r)]

    targets = pd.DataFrame(
        {
            "method": ["circuit_searchlight", "beam_f3", "planted"],
            "x_mm": [target[0], -40.0, target[0]],
            "y_mm": [target[1], 30.0, target[1] + 4.0],
            "z_mm": [target[2], 46.0, target[2]],
        }
    )
    seed_targets = pd.DataFrame(
        {
            "method": ["sgacc_classic", "beam_f3"],
            "x_mm": [seed_target[0], -40.0],
            "y_mm": [seed_target[1], 30.0],
            "z_mm": [seed_target[2], 46.0],
        }
    )
    return {
        "searchlight": nib.Nifti1Image(searchlight, affine),
        "seed_map": nib.Nifti1Image(seed_map, affine),
        "brain": brain_img,
        "search": search_img,
        "targets": targets,
        "seed_targets": seed_targets,
    }


@pytest.fixture(scope="module")
def group_tables():
    """40 subjects' targets around (-42, 40, 32) (~7 mm spread), Beam F3 near (-40, 38, 42),
    their distances and a planted-target recovery table."""
    rng = np.random.default_rng(1)
    ids = [f"sub-{number:02d}" for number in range(1, N_SUBJECTS + 1)]
    arms = np.array(["connectivity", "scalp"] * (N_SUBJECTS // 2))
    connectivity = np.array([-42.0, 40.0, 32.0]) + 7.0 * rng.standard_normal((N_SUBJECTS, 3))
    beam = np.array([-40.0, 38.0, 42.0]) + 2.5 * rng.standard_normal((N_SUBJECTS, 3))

    def rows(method, xyz):
        return pd.DataFrame(
            {
                "participant_id": ids,
                "arm": arms,
                "method": method,
                "x_mm": xyz[:, 0],
                "y_mm": xyz[:, 1],
                "z_mm": xyz[:, 2],
            }
        )

    targets = pd.concat(
        [rows("circuit_searchlight", connectivity), rows("beam_f3", beam)], ignore_index=True
    )
    cortex = np.linalg.norm(connectivity - beam, axis=1)
    distances = pd.DataFrame(
        {
            "participant_id": ids,
            "arm": arms,
            "cortex_distance_mm": cortex,
            "scalp_distance_mm": 0.8 * cortex + rng.uniform(0, 2, N_SUBJECTS),
        }
    )
    errors = rng.choice([0.0, 0.0, 4.0, 5.66, 8.0, 12.0], size=N_SUBJECTS)
    recovery = pd.DataFrame(
        {
            "participant_id": ids * 2,
            "arm": np.concatenate([arms, arms]),
            "method": ["circuit_searchlight"] * N_SUBJECTS + ["sgacc_classic"] * N_SUBJECTS,
            "error_mm": np.concatenate([errors, errors[::-1]]),
        }
    )
    return {"targets": targets, "distances": distances, "recovery": recovery}


def _check_written(paths, min_width_px: int, max_width_px: int) -> None:
    png, pdf = paths
    assert png.stat().st_size > 20_000
    assert pdf.stat().st_size > 5_000
    assert pdf.read_bytes().startswith(b"%PDF")
    width = mpimg.imread(png).shape[1]
    assert min_width_px < width < max_width_px  # 300 dpi, tight bounding box


def _paths(folder, stem):
    return [folder / f"{stem}.png", folder / f"{stem}.pdf"]


def _same_bytes(first, second) -> None:
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name


# --------------------------------------------------------------------------- subject


def test_plot_subject_target_writes_png_and_pdf_reproducibly(tmp_path, subject_inputs):
    first, second = _paths(tmp_path, "a"), _paths(tmp_path, "b")
    for paths in (first, second):
        figures.plot_subject_target(
            subject_inputs["searchlight"],
            subject_inputs["brain"],
            subject_inputs["search"],
            subject_inputs["targets"],
            paths,
            title="sub-01  circuit searchlight",
        )
    _check_written(first, 1900, 2400)  # 7 in wide
    _same_bytes(first, second)


def test_plot_subject_target_seed_map_with_label_column(tmp_path, subject_inputs):
    targets = subject_inputs["seed_targets"].rename(columns={"method": "label"})
    paths = _paths(tmp_path, "seed")
    figures.plot_subject_target(
        subject_inputs["seed_map"],
        subject_inputs["brain"],
        subject_inputs["search"],
        targets,
        paths,
        title="sub-01  sgACC seed map",
        score_kind="seed_map",
    )
    _check_written(paths, 1900, 2400)


@pytest.mark.parametrize("column", ["method", "x_mm", "y_mm", "z_mm"])
def test_plot_subject_target_names_missing_column(tmp_path, subject_inputs, column):
    targets = subject_inputs["targets"].drop(columns=column)
    with pytest.raises(ValueError, match=repr(column)):
        figures.plot_subject_target(
            subject_inputs["searchlight"],
            subject_inputs["brain"],
            subject_inputs["search"],
            targets,
            _paths(tmp_path, "bad"),
        )
    assert not list(tmp_path.iterdir())


def test_plot_subject_target_needs_a_connectivity_target(tmp_path, subject_inputs):
    targets = subject_inputs["targets"].iloc[1:]
    with pytest.raises(ValueError, match="no connectivity target"):
        figures.plot_subject_target(
            subject_inputs["searchlight"],
            subject_inputs["brain"],
            subject_inputs["search"],
            targets,
            _paths(tmp_path, "bad"),
        )


def test_dilate_for_display_fills_neighbours_only_within_mask():
    volume = np.full((7, 7, 7), np.nan, dtype=np.float32)
    volume[3, 3, 3] = 0.5
    volume[3, 3, 6] = -0.2
    within = np.ones(volume.shape, dtype=bool)
    within[:, :, 5] = False
    shown = figures.dilate_for_display(volume, 1, within=within)
    assert shown[3, 3, 3] == 0.5 and shown[3, 3, 6] == np.float32(-0.2)  # values unchanged
    assert shown[2, 2, 2] == 0.5 and shown[4, 4, 4] == 0.5  # 26-neighbours filled
    assert np.isnan(shown[1, 3, 3])  # two voxels away: left empty
    assert np.isnan(shown[3, 3, 5])  # outside the mask: left empty
    assert shown[2, 3, 6] == np.float32(-0.2)
    assert np.nanmax(shown) == 0.5 and np.nanmin(shown) == np.float32(-0.2)
    assert np.array_equal(np.isfinite(figures.dilate_for_display(volume, 0)), np.isfinite(volume))


# --------------------------------------------------------------------------- group


def test_plot_group_targets_writes_png_and_pdf_reproducibly(tmp_path, group_tables):
    first, second = _paths(tmp_path, "a"), _paths(tmp_path, "b")
    for paths in (first, second):
        figures.plot_group_targets(group_tables["targets"], paths)
    _check_written(first, 1900, 2400)
    _same_bytes(first, second)


@pytest.mark.parametrize("column", ["participant_id", "arm", "method", "x_mm", "y_mm", "z_mm"])
def test_plot_group_targets_names_missing_column(tmp_path, group_tables, column):
    with pytest.raises(ValueError, match=repr(column)):
        figures.plot_group_targets(
            group_tables["targets"].drop(columns=column), _paths(tmp_path, "bad")
        )


def test_plot_group_targets_rejects_unknown_arm_and_method(tmp_path, group_tables):
    table = group_tables["targets"].copy()
    table.loc[0, "arm"] = "sham"
    with pytest.raises(ValueError, match="sham"):
        figures.plot_group_targets(table, _paths(tmp_path, "bad"))
    with pytest.raises(ValueError, match="'sgacc_cluster'"):
        figures.plot_group_targets(
            group_tables["targets"], _paths(tmp_path, "bad"), connectivity_method="sgacc_cluster"
        )


# --------------------------------------------------------------------------- distances


def test_plot_target_distances_writes_png_and_pdf_reproducibly(tmp_path, group_tables):
    first, second = _paths(tmp_path, "a"), _paths(tmp_path, "b")
    for paths in (first, second):
        figures.plot_target_distances(group_tables["distances"], paths)
    _check_written(first, 900, 1200)  # 3.5 in wide
    _same_bytes(first, second)


@pytest.mark.parametrize(
    "column", ["participant_id", "arm", "cortex_distance_mm", "scalp_distance_mm"]
)
def test_plot_target_distances_names_missing_column(tmp_path, group_tables, column):
    with pytest.raises(ValueError, match=repr(column)):
        figures.plot_target_distances(
            group_tables["distances"].drop(columns=column), _paths(tmp_path, "bad")
        )


# --------------------------------------------------------------------------- recovery


def test_plot_recovery_writes_png_and_pdf_reproducibly(tmp_path, group_tables):
    first, second = _paths(tmp_path, "a"), _paths(tmp_path, "b")
    for paths in (first, second):
        figures.plot_recovery(group_tables["recovery"], paths, voxel_mm=4.0)
    _check_written(first, 900, 1200)
    _same_bytes(first, second)
    single = _paths(tmp_path, "single")
    table = group_tables["recovery"].drop(columns=["method", "arm"]).iloc[:12]
    figures.plot_recovery(table, single, voxel_mm=2.0)
    _check_written(single, 900, 1200)


@pytest.mark.parametrize("column", ["participant_id", "error_mm"])
def test_plot_recovery_names_missing_column(tmp_path, group_tables, column):
    with pytest.raises(ValueError, match=repr(column)):
        figures.plot_recovery(
            group_tables["recovery"].drop(columns=column), _paths(tmp_path, "bad"), voxel_mm=4.0
        )


def test_plot_recovery_rejects_bad_voxel_size(tmp_path, group_tables):
    with pytest.raises(ValueError, match="voxel_mm"):
        figures.plot_recovery(group_tables["recovery"], _paths(tmp_path, "bad"), voxel_mm=0.0)


# --------------------------------------------------------------------------- layout


def test_targets_keeps_every_public_name():
    assert sorted(figures.__all__) == sorted(FLAT_TARGETS_NAMES)
    namespace: dict = {}
    exec(f"from tmstarget.figures.targets import {', '.join(FLAT_TARGETS_NAMES)}", namespace)
    for name in FLAT_TARGETS_NAMES:
        assert namespace[name] is getattr(figures, name), name


def test_targets_modules_import_only_common():
    for path in sorted(TARGETS_PACKAGE.glob("*.py")):
        if path.stem in ("__init__", "common"):
            continue
        assert sibling_imports(path, figures.__name__) == {"common"}, path.name
    assert sibling_imports(TARGETS_PACKAGE / "common.py", figures.__name__) == set()


@pytest.mark.parametrize("path", sorted(TARGETS_PACKAGE.glob("*.py")), ids=lambda path: path.name)
def test_targets_functions_are_short(path):
    long = long_functions(path, 100)
    assert not long, long
