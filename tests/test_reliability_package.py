"""The tmstarget.reliability sub-package (issue 17): every name the single module had still
imports from the package, its modules import one another without a circle, and no
function is longer than 100 lines."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from conftest import REPO
from helpers import assert_no_import_circle, import_graph, long_functions

import tmstarget.reliability as reliability

PACKAGE = REPO / "src" / "tmstarget" / "reliability"

# The names tmstarget.reliability offered as one module (its typing and helper imports
# aside), plus the private one tests reach.
NAMES = [
    "CENTROIDS",
    "CHOICES",
    "CHOICE_COLUMNS",
    "CHOICE_LABELS",
    "CIRCUIT_SEARCHLIGHT",
    "CONVENTIONS",
    "CONVENTION_LABELS",
    "DEFAULT_MINUTES_GRID",
    "DEFAULT_MIN_TIMEPOINTS",
    "FIRST_PREFIX",
    "MANUSCRIPT_BETWEEN_MM",
    "MANUSCRIPT_WITHIN_MM",
    "METHODS",
    "REFERENCE_LABELS",
    "REQUIRED_SEGMENTS",
    "RETEST_PREFIX",
    "ReliabilityParams",
    "ReliabilityResults",
    "SCAN_LENGTH_REFERENCES",
    "SECTION",
    "SEGMENT_FULL",
    "SEGMENT_HALF1",
    "SEGMENT_HALF2",
    "TARGET_COLUMNS",
    "TargetFunction",
    "TargetingError",
    "analyse_reliability",
    "between_subject_distances",
    "bootstrap_subjects",
    "choice_summary",
    "choice_table",
    "cross_half_matrix",
    "distance_table",
    "group_centroid",
    "half_targets",
    "lattice_check",
    "lattice_distances",
    "make_target_fn",
    "manuscript_convention_note",
    "minutes_needed",
    "minutes_needed_table",
    "mixed_model",
    "per_subject_distances",
    "percentile_interval",
    "plan_segments",
    "reliability_table",
    "scan_length_curve",
    "scan_length_distances",
    "scan_length_table",
    "segment_label",
    "subject_reliability",
    "summarise",
    "within_subject_distances",
    "_group_replicates",
]


@pytest.mark.parametrize("name", NAMES)
def test_the_old_names_import_from_the_package(name):
    module = importlib.import_module("tmstarget.reliability")
    assert hasattr(module, name), name


def test_all_lists_the_public_names_and_each_lives_in_one_sub_module():
    assert sorted(reliability.__all__) == sorted(n for n in NAMES if not n.startswith("_"))
    for name in NAMES:
        obj = getattr(reliability, name)
        home = getattr(obj, "__module__", "")
        if callable(obj) and home.startswith("tmstarget.reliability."):
            # the object a test must patch is the sub-module's: the package re-exports it
            assert getattr(importlib.import_module(home), name) is obj


def test_reliability_modules_import_no_circle():
    graph = import_graph(PACKAGE, "tmstarget.reliability")
    assert {"params", "subject", "statistics", "analysis", "choices"} <= set(graph)
    for module, imported in graph.items():
        assert imported <= set(graph), f"reliability.{module} imports {imported - set(graph)}"
    assert_no_import_circle(graph, "tmstarget.reliability")


@pytest.mark.parametrize(
    "path", sorted(PACKAGE.glob("*.py")), ids=lambda path: path.relative_to(REPO / "src").as_posix()
)
def test_reliability_functions_are_at_most_100_lines(path):
    long = long_functions(path, 100)
    assert not long, long


def test_the_single_module_is_gone():
    assert not (REPO / "src" / "tmstarget" / "reliability.py").exists()
    assert Path(reliability.__file__).parent == PACKAGE
