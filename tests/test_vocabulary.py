"""One vocabulary: method, choice, arm and visit names are spelled in tmstarget.vocabulary,
the schema's enums are its tuples, and the old module names still import."""

from __future__ import annotations

import ast

import pytest
from conftest import REPO

from tmstarget import settings, vocabulary
from tmstarget.confounds import STRATEGIES

# (section, key, the vocabulary's tuple): the schema's enum of the key, in order.
ENUMS = [
    ("targets", "methods", vocabulary.METHODS),
    ("targets", "connectivity_method", vocabulary.METHODS),
    ("reliability", "method", (*vocabulary.METHODS, None)),
    ("targets", "choice", vocabulary.CHOICES),
    ("reliability", "choices", vocabulary.CHOICES),
    ("reliability", "between_convention", vocabulary.CONVENTIONS),
    ("reliability", "centroid", vocabulary.CENTROIDS),
    ("outcomes", "missing_policy", vocabulary.MISSING_POLICIES),
    ("outcomes", "primary_analysis", vocabulary.PRIMARY_ANALYSES),
    ("outcomes", "mmrm_covariances", vocabulary.COVARIANCE_STRUCTURES),
    ("outcomes", "hodges_lehmann_ci", vocabulary.HODGES_LEHMANN_CIS),
    ("outcomes", "effect_size_ci", vocabulary.EFFECT_SIZE_CIS),
    ("outcomes", "mann_whitney_method", vocabulary.MANN_WHITNEY_METHODS),
    ("outcomes", "correlation_ci", vocabulary.CORRELATION_CIS),
    ("preprocess.tedana", "mode", vocabulary.TEDANA_MODES),
    ("preprocess.tedana", "ica_method", vocabulary.ICA_METHODS),
    ("preprocess", "concat_normalise", vocabulary.CONCAT_NORMALISATIONS),
    ("preprocess", "nuisance", tuple(STRATEGIES)),
]


@pytest.mark.parametrize(("section", "key", "names"), ENUMS, ids=[f"{s}.{k}" for s, k, _ in ENUMS])
def test_schema_enum_is_the_vocabulary(section, key, names):
    assert settings.enum(section, key) == names


def test_defaults_of_the_schema_are_the_vocabulary():
    targets, outcomes = settings.defaults("targets"), settings.defaults("outcomes")
    assert tuple(targets["methods"]) == vocabulary.METHODS
    assert targets["connectivity_method"] == vocabulary.DEFAULT_CONNECTIVITY_METHOD
    assert targets["choice"] == vocabulary.DEFAULT_CHOICE
    assert tuple(outcomes["visits"]) == vocabulary.DEFAULT_VISITS
    assert outcomes["baseline_visit"] == vocabulary.DEFAULT_BASELINE_VISIT
    assert outcomes["primary_visit"] == vocabulary.DEFAULT_PRIMARY_VISIT
    assert outcomes["visit_labels"] == vocabulary.DEFAULT_VISIT_LABELS
    assert outcomes["arm_names"] == vocabulary.DEFAULT_ARM_NAMES
    assert settings.defaults("trial")["arm_labels"] == vocabulary.DEFAULT_ARM_LABELS


@pytest.mark.parametrize(
    "section",
    ["trial.arm_labels", "outcomes.arm_names", "demo.clinical.median_reduction"],
)
def test_arm_keys_of_the_schema_are_the_roles(section):
    assert settings.keys(section) == vocabulary.ARM_ROLES


def test_the_map_methods_and_sites():
    assert set(vocabulary.MAP_METHODS) < set(vocabulary.METHODS)
    assert vocabulary.SITE_METHODS == (*vocabulary.METHODS, vocabulary.BEAM_F3)
    assert set(vocabulary.ARM_METHODS) == set(vocabulary.ARM_ROLES)


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("tmstarget.stimulation", "METHODS"),
        ("tmstarget.stimulation", "MAP_METHODS"),
        ("tmstarget.stimulation", "BEAM_F3"),
        ("tmstarget.reliability", "METHODS"),
        ("tmstarget.reliability", "CONVENTIONS"),
        ("tmstarget.reliability", "CENTROIDS"),
        ("tmstarget.checks", "BEAM_F3"),
        ("tmstarget.blinding", "BEAM_F3"),
        ("tmstarget.uncertainty", "CHOICES"),
        ("tmstarget.mmrm", "COVARIANCE_STRUCTURES"),
        ("tmstarget.clinical", "ARM_ROLES"),
        ("tmstarget.clinical", "DEFAULT_ARM_LABELS"),
        ("tmstarget.clinical", "DEFAULT_VISITS"),
        ("tmstarget.clinical", "DEFAULT_BASELINE_VISIT"),
        ("tmstarget.native", "DEFAULT_CONNECTIVITY_METHOD"),
        ("tmstarget.outcomes", "DEFAULT_ARM_NAMES"),
        ("tmstarget.outcomes", "DEFAULT_VISIT_LABELS"),
        ("tmstarget.outcomes", "MISSING_POLICIES"),
        ("tmstarget.outcomes", "PRIMARY_ANALYSES"),
        ("tmstarget.outcomes.params", "DEFAULT_ARM_NAMES"),
    ],
)
def test_old_names_still_import(module, name):
    imported = __import__(module, fromlist=[name])
    assert getattr(imported, name) is getattr(vocabulary, name)


# String constants naming a method that may stay outside the vocabulary: config keys.
ALLOWED = {("stimulation.py", "beam_f3")}  # the key targets.beam_f3 (settings.default)


def test_method_names_are_spelled_once():
    """No module of the package or script spells a method name: each imports it."""
    names = {*vocabulary.METHODS, vocabulary.BEAM_F3}
    files = [*(REPO / "src" / "tmstarget").rglob("*.py"), *(REPO / "scripts").glob("*.py")]
    found = []
    for path in files:
        if path.name == "vocabulary.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in names:
                if (path.name, node.value) not in ALLOWED:
                    found.append(f"{path.relative_to(REPO)}:{node.lineno} {node.value!r}")
    assert found == []


def test_vocabulary_imports_nothing_of_the_package():
    tree = ast.parse((REPO / "src" / "tmstarget" / "vocabulary.py").read_text())
    imports = [node for node in ast.walk(tree) if isinstance(node, ast.Import | ast.ImportFrom)]
    assert all(getattr(node, "module", "") == "__future__" for node in imports)
