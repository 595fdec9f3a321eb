"""House rules that no single module's tests see: scripts write exactly their declared
outputs (a static check of every script, and a run check on the tiny workflow), and the
outcomes package keeps its import paths, has no import circle and no overlong function."""

from __future__ import annotations

import ast
import csv
import io
import re
from pathlib import Path

import pytest
from conftest import REPO, run_snakemake, tiny_config
from helpers import assert_no_import_circle, import_graph, long_functions

import tmstarget.outcomes

SCRIPTS = sorted((REPO / "scripts").glob("*.py"))

# --------------------------------------------------------------------------------------
# Scripts take every output path from snakemake.output (static check)
# --------------------------------------------------------------------------------------

_FILE_SUFFIX = re.compile(r"\.(tsv|json|png|pdf|svg|md|tex|nii\.gz|nii|csv|txt|html|h5|gz|yaml)$")
_PATH_METHODS = {"with_suffix", "with_name", "with_stem", "joinpath"}


def _docstring_ids(tree: ast.AST) -> set[int]:
    return {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.FunctionDef | ast.ClassDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }


def _mentions_output(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Attribute) and n.attr == "output" for n in ast.walk(node))


def _is_text(node: ast.AST) -> bool:
    return isinstance(node, ast.JoinedStr) or (
        isinstance(node, ast.Constant) and isinstance(node.value, str)
    )


def path_constructions(source: str) -> set[str]:
    """The snippets of a script that build a path rather than take it from
    ``snakemake.output``: ``with_suffix``/``with_name``/``with_stem``/``joinpath``,
    ``os.path.join``, ``/`` with a string, the folder (``.parent``) of an output, and any
    string (not a docstring) that ends in a file suffix."""
    tree = ast.parse(source)
    docstrings = _docstring_ids(tree)
    in_fstrings = {
        id(part)
        for node in ast.walk(tree)
        if isinstance(node, ast.JoinedStr)
        for part in node.values
    }
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in _PATH_METHODS or ast.unparse(node.func) == "os.path.join":
                found.add(node)
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            if _is_text(node.left) or _is_text(node.right):
                found.add(node)
        elif isinstance(node, ast.Attribute) and node.attr == "parent":
            if _mentions_output(node.value):
                found.add(node)
        elif isinstance(node, ast.JoinedStr):
            last = node.values[-1] if node.values else None
            if isinstance(last, ast.Constant) and _FILE_SUFFIX.search(last.value):
                found.add(node)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in docstrings | in_fstrings and _FILE_SUFFIX.search(node.value):
                found.add(node)
    return {ast.get_source_segment(source, node) for node in found}


# Known exceptions: (script, snippet) -> why. Each must still occur (a fixed one is removed
# here, so the list cannot go stale).
EXCEPTIONS = {
    ("manuscript.py", "Path(smk.output.page).parent"): (
        "the folder the page's links are relative to; nothing is written there"
    ),
}


@pytest.mark.parametrize(
    "snippet",
    [
        'Path(smk.output.tables[0]).parent / "table1.tsv"',
        "tables.write_table(frame, Path(smk.output.tables[0]).parent / name)",
        'write_table(frame, Path(smk.output.table).with_suffix(""))',
        'out / f"{name}.png"',
        'os.path.join(folder, "targets.tsv")',
        'save(figure, "results/outcomes/figures/extra.pdf")',
        'Path(tsv).with_name("other.md")',
    ],
)
def test_path_constructions_are_found(snippet):
    assert path_constructions(snippet)


@pytest.mark.parametrize(
    "snippet",
    [
        "write_table(frame, [smk.output.table, *smk.output.journal])",
        "bids.write_tsv(source_files.one(name), frame)",
        "BIDS_ROOT = Path(smk.input.participants).parent",
        '"""Adapter: writes sub-01_targets.tsv."""',
        'log.info("%d subjects", n)',
    ],
)
def test_paths_taken_from_snakemake_are_not_flagged(snippet):
    assert not path_constructions(snippet)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_scripts_take_every_output_path_from_snakemake(script):
    found = path_constructions(script.read_text())
    unexplained = sorted(s for s in found if (script.name, s) not in EXCEPTIONS)
    assert not unexplained, f"{script.name} builds output paths: {unexplained}"
    stale = sorted(s for (name, s) in EXCEPTIONS if name == script.name and s not in found)
    assert not stale, f"{script.name}: remove the fixed exception(s) {stale} from EXCEPTIONS"


def test_every_exception_names_an_existing_script():
    assert {name for name, _ in EXCEPTIONS} <= {script.name for script in SCRIPTS}


# --------------------------------------------------------------------------------------
# The tiny workflow writes nothing it does not declare (run check)
# --------------------------------------------------------------------------------------


def undeclared_files(results: Path, summary: str) -> list[str]:
    """Files under ``results`` (relative to its parent, the working folder) that no job
    declares as an output or a log, nor lie inside a declared directory; ``summary`` is
    the text of ``snakemake --summary``. Benchmark files are Snakemake's own."""
    rows = list(csv.DictReader(io.StringIO(summary), delimiter="\t"))
    declared = {row["output_file"] for row in rows}
    for row in rows:
        declared |= {log for log in row["log-file(s)"].split(",") if log and log != "-"}
    workdir = results.parent
    folders = [name.rstrip("/") + "/" for name in declared if (workdir / name).is_dir()]
    written = [
        path.relative_to(workdir).as_posix() for path in results.rglob("*") if path.is_file()
    ]
    return sorted(
        name
        for name in written
        if name not in declared
        and not name.startswith(tuple(folders))
        and not name.startswith("results/benchmarks/")
    )


SUMMARY = (
    "output_file\tdate\trule\tlog-file(s)\tstatus\tplan\n"
    "results/a/table.tsv\t-\tr\tresults/logs/r.log\tok\tno update\n"
    "results/a/folder\t-\tr\tresults/logs/r.log\tok\tno update\n"
)


def test_undeclared_files_are_found(tmp_path):
    results = tmp_path / "results"
    for name in ("a/table.tsv", "a/folder/inside.json", "logs/r.log", "benchmarks/r.tsv"):
        (results / name).parent.mkdir(parents=True, exist_ok=True)
        (results / name).write_text("x")
    assert undeclared_files(results, SUMMARY) == []
    (results / "a" / "table.md").write_text("written beside the declared outputs")
    assert undeclared_files(results, SUMMARY) == ["results/a/table.md"]


@pytest.mark.workflow
def test_the_tiny_workflow_writes_only_declared_outputs(tiny_run):
    workdir = tiny_run.parent
    result = run_snakemake(workdir, "--summary", configfiles=[tiny_config(workdir)])
    assert result.returncode == 0, result.output[-3000:]
    summary = result.stdout[result.stdout.index("output_file\t") :]
    assert "results/outcomes/tables/table2_outcomes.md" in summary
    assert undeclared_files(tiny_run, summary) == []


# --------------------------------------------------------------------------------------
# The outcomes package
# --------------------------------------------------------------------------------------

# Every public name of the flat module tmstarget/outcomes.py before it became a package.
FLAT_OUTCOMES_NAMES = """
EXPERIMENTAL CONTROL MISSING_POLICIES PRIMARY_ANALYSES PRIMARY_ANALYSIS_LABELS NotEstimable
DEFAULT_VISIT_LABELS DEFAULT_ARM_NAMES OutcomeParams Estimate MannWhitney NumberNeededToTreat
BinaryOutcome wilson_interval newcombe_difference fisher_exact_p number_needed_to_treat
cost_per_additional_responder mann_whitney rank_biserial mann_whitney_null_pmf
moses_critical_value hodges_lehmann hedges_correction cohens_d hedges_g mean_difference
ancova_difference median_iqr tango_score_statistic bang_blinding_index spearman_with_ci
mixed_model_contrasts mmrm_contrasts participant_outcomes visit_summary PrimaryResults
MIXED_MODEL_COLUMNS MMRM_COLUMNS analyse_primary OPTIONAL_CATEGORIES table1_baseline
table2_from_results format_number_plain table2_outcomes blinding_summary safety_summary
table3_blinding_safety binary_summary forest_effects consort_counts mechanism_data
mechanism_correlations table4_mechanism analyse_trial
""".split()
OUTCOMES = Path(tmstarget.outcomes.__file__).parent


def test_outcomes_keeps_every_public_name():
    assert sorted(tmstarget.outcomes.__all__) == sorted(FLAT_OUTCOMES_NAMES)
    for name in FLAT_OUTCOMES_NAMES:
        assert getattr(tmstarget.outcomes, name) is not None, name


def test_outcomes_modules_import_no_circle():
    assert_no_import_circle(import_graph(OUTCOMES, "tmstarget.outcomes"), "tmstarget.outcomes")


@pytest.mark.parametrize(
    "path",
    [*sorted(OUTCOMES.glob("*.py")), REPO / "src" / "tmstarget" / "figures" / "outcomes.py"],
    ids=lambda path: path.relative_to(REPO / "src").as_posix(),
)
def test_outcome_functions_are_short(path):
    long = long_functions(path, 120)
    assert not long, long
