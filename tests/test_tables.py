"""Table writer: journal formatting, the three output files, determinism."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from tmstarget import tables
from tmstarget.tables import (
    cell,
    cells_frame,
    format_cell,
    format_interval,
    format_number,
    format_p,
)


@pytest.mark.parametrize(
    ("p", "expected"),
    [
        (0.02, ".02"),
        (0.0243, ".02"),
        (0.3675, ".37"),
        (0.004, ".004"),
        (0.00049, "<.001"),
        (0.0009999, "<.001"),
        (0.001, ".001"),
        (0.0499, ".049"),  # never ".05" for a P below .05
        (0.0451, ".045"),
        (0.05, ".05"),
        (0.00999, ".01"),  # rounds to .010, which JAMA prints with two decimals
        (0.0095, ".01"),
        (0.0094, ".009"),
        (0.125, ".13"),  # half up, not Python's half to even (.12)
        (0.015, ".02"),  # binary 0.01499999..., half up after normalising
        (0.99, ".99"),
        (0.996, ">.99"),
        (1.0, ">.99"),
    ],
)
def test_p_values_print_as_jama(p, expected):
    """In a column headed "P value" the cell is the number alone (JAMA)."""
    assert format_p(p) == expected
    assert _cell("p", value=p) == expected


def test_p_value_variants():
    assert format_p(0.02, prefix=True) == "P = .02"
    assert format_p(0.0001, prefix=True) == "P < .001"
    assert format_p(0.999, prefix=True) == "P > .99"
    assert format_p(0.0001, tex=True) == "$<$.001"
    assert format_p(0.0001, prefix=True, tex=True) == "P $<$ .001"
    assert format_p(math.nan) == "NA"
    with pytest.raises(ValueError):
        format_p(1.5)


@pytest.mark.parametrize(
    ("value", "decimals", "expected"),
    [
        (23.9 - 17.95, 1, "6.0"),  # 5.9499999999999993 as stored; 5.95 half up
        (22.25 - 20.3, 1, "2.0"),  # 1.9499999999999993 (Table 2, week 1)
        (12.3 - 11.75, 1, "0.6"),  # 0.5500000000000007 (Table 2, day 3); also from below:
        (0.55 - 1e-15, 1, "0.6"),
        (2.95 - 3.6, 1, "-0.7"),  # -0.65: half away from zero, as 0.65 -> 0.7
        (5.95 + 1e-14, 1, "6.0"),
        (5.9499, 1, "5.9"),  # a genuine 5.9499 still rounds down
        (1.005, 2, "1.01"),  # binary 1.00499999999999989
        (2.675, 2, "2.68"),
    ],
)
def test_binary_noise_never_decides_the_rounding(value, decimals, expected):
    assert format_number(value, decimals) == expected


def test_numbers_round_half_up_with_separators_and_clean_signs():
    assert format_number(42.5, 0) == "43"  # Python's format would print 42
    assert format_number(1.85, 1) == "1.9"
    assert format_number(23.25, 1) == "23.3"
    assert format_number(12345.6, 0) == "12,346"
    assert format_number(-0.04, 1) == "0.0"  # no "-0.0"
    assert format_number(-2.5, 1) == "-2.5"
    assert format_number(-2.5, 1, tex=True) == "$-$2.5"
    assert format_number(math.inf, 1) == "∞"
    assert format_number(math.nan, 1) == "NA"


def test_intervals_use_a_dash_unless_a_limit_is_negative():
    assert format_interval(18.0, 29.5, 1) == "18.0-29.5"
    assert format_interval(18.0, 29.5, 1, tex=True) == "18.0--29.5"
    assert format_interval(-7.6, 45.0, 1) == "-7.6 to 45.0"
    assert format_interval(2.5, math.inf, 1) == "2.5 to ∞"


def _cell(kind, **numbers):
    return format_cell(cell("", "row", "c", kind, **numbers))


def test_cell_kinds():
    assert _cell("median_iqr", value=24, low=18, high=29.5) == "24.0 (18.0-29.5)"
    assert _cell("median_iqr", value=4, low=2, high=6, decimals=0) == "4 (2-6)"
    assert _cell("mean_sd", value=45.123, sd=8.2) == "45.1 (8.2)"
    # under "No./total No. (%)" and "No. (%)" headers the cell has no % sign (JAMA)
    assert _cell("n_total_pct", count=16, total=20, decimals=0) == "16/20 (80)"
    assert _cell("n_pct", count=17, total=40, decimals=0) == "17 (43)"  # 42.5 half up
    assert _cell("n_pct", count=0, total=0, decimals=0) == "0"
    assert _cell("estimate_ci", value=20, low=-7.6, high=45) == "20.0 (-7.6 to 45.0)"
    assert _cell("estimate_ci", value=0.8, low=0.15, high=1.44, decimals=2) == "0.80 (0.15-1.44)"
    assert _cell("estimate_ci", value=math.nan) == "NA"
    assert _cell("p", value=0.02) == ".02"
    assert _cell("count", count=3) == "3"
    assert _cell("cost", value=5000, low=2200, high=math.inf, decimals=0) == "5,000 (2,200 to ∞)"
    assert format_cell(cell("", "r", "c", "text", text="50% & more"), tex=True) == r"50\% \& more"
    assert (
        format_cell(cell("", "r", "c", "n_total_pct", count=1, total=2), tex=True) == "1/2 (50.0)"
    )
    with pytest.raises(ValueError, match="unknown cell kind"):
        cell("", "r", "c", "fancy")


@pytest.mark.parametrize(
    ("value", "low", "high", "expected"),
    [
        # 1/0.2 is 5 exactly; 1/(0.8 - 0.6) is 5.000000000000001 and must not print 6
        (1 / (0.8 - 0.6), 2.2, -12.6, "NNTB 5 (NNTB 2.2 to ∞ to NNTH 12.6)"),
        (1 / 0.15, 2.5, -7.5, "NNTB 7 (NNTB 2.5 to ∞ to NNTH 7.5)"),  # 6.67 rounded up
        (4.2, 2.5, 20.0, "NNTB 5 (2.5 to 20.0)"),
        (-4.0, -10.0, -2.0, "NNTH 4 (2.0 to 10.0)"),
        (-3.1, 8.0, -1.9, "NNTH 4 (NNTB 8.0 to ∞ to NNTH 1.9)"),
        (math.inf, 10.0, -10.0, "∞ (NNTB 10.0 to ∞ to NNTH 10.0)"),
        (1234.2, math.nan, math.nan, "NNTB 1,235"),
        (math.nan, 1.0, 2.0, "NA"),
    ],
)
def test_number_needed_is_labelled_and_rounded_up(value, low, high, expected):
    assert _cell("nnt", value=value, low=low, high=high) == expected


def test_count_data_prints_whole_numbers():
    assert tables.whole_or_one_decimal(4, 2, 6) == 0
    assert tables.whole_or_one_decimal(4.5, 3, 6) == 1
    assert tables.whole_or_one_decimal(4, 2.25, 6, math.nan) == 1
    assert tables.whole_or_one_decimal(2.0000000000000004) == 0  # binary noise
    assert tables.round_up_whole(5.000000000000001) == 5 and tables.round_up_whole(5.01) == 6


def test_latex_escaping():
    assert (
        tables.escape_latex("a_b 10% #1 ≥50% ≤10 ∞ ρ")
        == r"a\_b 10\% \#1 $\geq$50\% $\leq$10 $\infty$ $\rho$"
    )


def _example() -> pd.DataFrame:
    cells = []
    for role, n, count in (("connectivity", 20, 16), ("scalp", 20, 12)):
        label = f"{role.title()} (n = {n})"
        cells.append(
            cell(
                "MADRS",
                "Reduction, median (IQR)",
                role,
                "median_iqr",
                column_label=label,
                value=24 if role == "connectivity" else 18,
                low=18,
                high=29.5,
            )
        )
        cells.append(
            cell(
                "Response (≥50%)",
                "Responders, No./total (%)",
                role,
                "n_total_pct",
                column_label=label,
                count=count,
                total=n,
                decimals=0,
            )
        )
    cells.append(
        cell(
            "MADRS",
            "Reduction, median (IQR)",
            "effect",
            "estimate_ci",
            column_label="Effect (95% CI)",
            value=6,
            low=1,
            high=11,
        )
    )
    cells.append(
        cell("MADRS", "Reduction, median (IQR)", "p", "p", column_label="P value", value=0.0243)
    )
    return cells_frame(
        cells,
        caption="Table 2. Outcomes",
        notes=["Note one_1.", "Note 2: 50%."],
        row_header="Outcome",
    )


def test_write_table_three_files_with_content(tmp_path):
    frame = _example()
    paths = tables.write_table(frame, tables.table_paths(tmp_path / "table2_outcomes"))
    assert [p.name for p in paths] == [
        "table2_outcomes.tsv",
        "table2_outcomes.md",
        "table2_outcomes.tex",
    ]

    tsv = pd.read_csv(paths[0], sep="\t", na_values="n/a", keep_default_na=False)
    assert list(tsv.columns) == list(tables.CELL_COLUMNS)
    effect = tsv[tsv["column"] == "effect"].iloc[0]
    assert (effect["value"], effect["low"], effect["high"]) == (6, 1, 11)
    assert tsv.loc[tsv["column"] == "p", "value"].iloc[0] == pytest.approx(0.0243)

    markdown = paths[1].read_text(encoding="utf-8")
    lines = markdown.splitlines()
    assert lines[0] == "**Table 2. Outcomes**"
    assert (
        lines[2]
        == "| Outcome | Connectivity (n = 20) | Scalp (n = 20) | Effect (95% CI) | P value |"
    )
    assert "| **MADRS** |  |  |  |  |" in lines
    assert (
        "| Reduction, median (IQR) | 24.0 (18.0-29.5) | 18.0 (18.0-29.5) | 6.0 (1.0-11.0) "
        "| .02 |" in lines
    )
    assert "| Responders, No./total (%) | 16/20 (80) | 12/20 (60) |  |  |" in lines
    # sections keep their order; notes come last
    assert (
        markdown.index("**MADRS**")
        < markdown.index("**Response (≥50%)**")
        < markdown.index("Note one_1.")
    )

    latex = paths[2].read_text(encoding="utf-8")
    assert r"\caption{Table 2. Outcomes}" in latex and r"\label{tab:table2_outcomes}" in latex
    assert r"\toprule" in latex and r"\bottomrule" in latex and r"\begin{tabular}{lrrrr}" in latex
    assert r"\multicolumn{5}{l}{\textbf{Response ($\geq$50\%)}} \\" in latex
    assert "16/20 (80)" in latex and "24.0 (18.0--29.5)" in latex
    assert r"Note one\_1." in latex


def test_write_table_writes_exactly_the_paths_given(tmp_path):
    """Each path in the format of its suffix, in any order and folders; nothing else."""
    latex, tsv, markdown = tmp_path / "x" / "t.tex", tmp_path / "t.tsv", tmp_path / "y" / "t.md"
    written = tables.write_table(_example(), [latex, tsv, markdown])
    assert written == [latex, tsv, markdown]
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.*")) == [
        "t.tsv",
        "x/t.tex",
        "y/t.md",
    ]
    assert "\\begin{table}" in latex.read_text(encoding="utf-8")
    assert r"\label{tab:t}" in latex.read_text(encoding="utf-8")
    assert markdown.read_text(encoding="utf-8").startswith("**Table 2. Outcomes**")
    assert tsv.read_text(encoding="utf-8").startswith("section\t")


@pytest.mark.parametrize(
    "names",
    [["t.tsv", "t.md"], ["t.tsv", "t.md", "t.tex", "u.md"], ["t.tsv", "t.md", "t.txt"]],
)
def test_write_table_needs_one_file_of_each_format(tmp_path, names):
    with pytest.raises(ValueError, match="one .tsv, one .md and one .tex"):
        tables.write_table(_example(), [tmp_path / name for name in names])
    assert not list(tmp_path.iterdir())  # checked before anything is written


def test_write_table_refuses_a_stem(tmp_path):
    with pytest.raises(TypeError, match="table_paths"):
        tables.write_table(_example(), tmp_path / "t")


def test_table_paths_from_a_stem():
    assert tables.table_paths("r/a") == [Path("r/a.tsv"), Path("r/a.md"), Path("r/a.tex")]


def test_write_table_is_deterministic(tmp_path):
    first = [
        p.read_bytes()
        for p in tables.write_table(_example(), tables.table_paths(tmp_path / "a" / "t"))
    ]
    second = [
        p.read_bytes()
        for p in tables.write_table(_example(), tables.table_paths(tmp_path / "b" / "t"))
    ]
    assert first == second


def test_plain_frames(tmp_path):
    frame = pd.DataFrame(
        {
            "measure": ["within", "between"],
            "median_mm": [4.4721, 12.97],
            "n": [40, 1560],
            "p_value": [0.0004, 0.2],
        }
    )
    paths = tables.write_table(
        frame, tables.table_paths(tmp_path / "plain"), caption="Reliability", decimals=2
    )
    assert pd.read_csv(paths[0], sep="\t")["median_mm"].tolist() == [4.4721, 12.97]
    markdown = paths[1].read_text(encoding="utf-8")
    assert "| within | 4.47 | 40 | <.001 |" in markdown
    assert "| between | 12.97 | 1,560 | .20 |" in markdown


def test_footnote_markers_follow_labels_and_cells(tmp_path):
    cells = [
        cell("Outcome", "Median", "effect", "estimate_ci", value=6, low=1, high=11),
        cell("Outcome", "Median", "p", "p", column_label="P value", value=0.0243),
        cell("Outcome", "Cohen d", "effect", "estimate_ci", value=math.nan),
        cell("Outcome", "Cohen d", "derived", "text", text="x"),
    ]
    frame = cells_frame(
        cells,
        notes=["Abbreviation: IQR."],
        markers=[
            ("Outcome", "", None, "a"),
            ("Outcome", "Median", None, "b"),
            ("Outcome", "Cohen d", "effect", "c"),
        ],
        footnotes=[("a", "Section."), ("b", "Mann-Whitney."), ("c", "NA, not estimable: x.")],
        columns=["derived", "effect", "p"],
    )
    markdown = tables.to_markdown(frame, notes=frame.attrs["notes"])
    lines = markdown.splitlines()
    assert lines[0] == "|  | derived | effect | P value |"  # the given column order
    assert "| **Outcome**ᵃ |  |  |  |" in lines
    assert "| Medianᵇ |  | 6.0 (1.0-11.0) | .02 |" in lines
    assert "| Cohen d | x | NAᶜ |  |" in lines
    # unlettered notes first, then the lettered footnotes in order
    assert markdown.index("Abbreviation: IQR.") < markdown.index("ᵃ Section.")
    assert markdown.index("ᵃ Section.") < markdown.index("ᵇ Mann-Whitney.")
    latex = tables.to_latex(frame)
    assert r"\textbf{Outcome}\textsuperscript{a}" in latex
    assert r"\quad Median\textsuperscript{b}" in latex
    assert r"NA\textsuperscript{c}" in latex and r"\textsuperscript{c} NA, not estimable" in latex
    with pytest.raises(ValueError, match="must match"):
        cells_frame(cells, markers=[("Outcome", "Median", None, "a")], footnotes=[])
