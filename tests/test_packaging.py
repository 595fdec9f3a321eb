"""What a newcomer meets first: the README's two commands, CI running the linters and then
exactly the test command, and the conda environment pinned like pyproject.toml."""

import re
import tomllib

import yaml
from conftest import REPO


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def test_conda_env_has_the_same_pins_as_pyproject():
    env = yaml.safe_load((REPO / "envs" / "tmstarget.yaml").read_text())
    pip_section = next(item["pip"] for item in env["dependencies"] if isinstance(item, dict))
    assert sorted(pip_section) == sorted(_pyproject()["project"]["dependencies"])
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python"))
    assert python == "python=3.11"


def test_every_dependency_is_pinned():
    for requirement in _pyproject()["project"]["dependencies"]:
        assert re.search(r"==\d", requirement), requirement


LINT_COMMANDS = [
    "ruff check src tests scripts benchmarks",
    "ruff format --check src tests scripts benchmarks",
    "snakefmt --check Snakefile rules",
    "snakemake --lint",
]


def test_readme_commands_and_ci():
    readme = (REPO / "README.md").read_text()
    assert "pip install -e . && snakemake --cores 8" in readme
    test_command = 'pip install -e ".[test]" && pytest'
    assert test_command in readme
    ci_lines = [
        line
        for line in (REPO / ".ci" / "run").read_text().splitlines()
        if line and not line.startswith("#") and not line.startswith(("set ", "cd "))
    ]
    # CI runs exactly the README's test command, then the slow tests; before them the
    # linters, as a gate (set -e: a finding stops the run), right after installing.
    assert test_command in ci_lines
    after = ci_lines[ci_lines.index(test_command) + 1 :]
    assert after == ["pytest -m slow"]
    assert "pytest -m slow" in readme
    before = ci_lines[: ci_lines.index(test_command)]
    assert before[-len(LINT_COMMANDS) - 1 :] == ['pip install -e ".[test]"', *LINT_COMMANDS]
    assert "set -euo pipefail" in (REPO / ".ci" / "run").read_text()
    for linter in ("ruff check", "ruff format --check", "snakefmt --check", "snakemake --lint"):
        assert f"`{linter}" in readme, linter


def test_every_rule_has_a_log_and_the_conda_env():
    for rules_file in (REPO / "rules").glob("*.smk"):
        text = rules_file.read_text()
        for rule in re.split(r"\n\s*(?:rule|checkpoint) ", text)[1:]:
            name = rule.split(":")[0]
            if "output:" not in rule and "shell:" not in rule and "script:" not in rule:
                continue  # a target (rule navigation: inputs only, nothing runs)
            assert "log:" in rule, f"{rules_file.name}: rule {name} has no log"
            assert "conda:" in rule, f"{rules_file.name}: rule {name} has no conda env"
