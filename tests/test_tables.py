"""Table writer: journal formatting, the three output files, determinism."""

from __future__ import annotations

import math

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
        (0.02, "P = .02"),
        (0.0243, "P = .02"),
        (0.3675, "P = .37"),
        (0.004, "P = .004"),
        (0.00049, "P < .001"),
        (0.0499, "P = .049"),  # never ".05" for a P below .05
        (0.0451, "P = .045"),
        (0.05, "P = .05"),
        (0.996, "P > .99"),
        (1.0, "P > .99"),
    ],
)
def test_p_values_print_as_jama(p, expected):
    assert format_p(p) == expected


def test_p_value_variants():
    assert format_p(0.0001, prefix=False) == "< .001"
    assert format_p(0.0001, tex=True) == "P $<$ .001"
    assert format_p(math.nan) == "NA"
    with pytest.raises(ValueError):
        format_p(1.5)


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
    assert _cell("mean_sd", value=45.123, sd=8.2) == "45.1 (8.2)"
    assert _cell("n_total_pct", count=16, total=20, decimals=0) == "16/20 (80%)"
    assert _cell("n_pct", count=17, total=40, decimals=0) == "17 (43%)"
    assert _cell("estimate_ci", value=20, low=-7.6, high=45) == "20.0 (-7.6 to 45.0)"
    assert _cell("estimate_ci", value=0.8, low=0.15, high=1.44, decimals=2) == "0.80 (0.15-1.44)"
    assert _cell("p", value=0.02) == "P = .02"
    assert _cell("count", count=3) == "3"
    assert _cell("nnt", value=5.0, low=2.2, high=-12.6) == "5.0 (NNTB 2.2 to ∞ to NNTH 12.6)"
    assert _cell("nnt", value=5.0, low=2.5, high=20.0) == "5.0 (2.5 to 20.0)"
    assert _cell("nnt", value=-4.0, low=-10.0, high=-2.0) == "NNTH 4.0 (NNTH 2.0 to 10.0)"
    assert _cell("cost", value=5000, low=2200, high=math.inf, decimals=0) == "5,000 (2,200 to ∞)"
    assert format_cell(cell("", "r", "c", "text", text="50% & more"), tex=True) == r"50\% \& more"
    with pytest.raises(ValueError, match="unknown cell kind"):
        cell("", "r", "c", "fancy")


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
    paths = tables.write_table(frame, tmp_path / "table2_outcomes")
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
        "| P = .02 |" in lines
    )
    assert "| Responders, No./total (%) | 16/20 (80%) | 12/20 (60%) |  |  |" in lines
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
    assert r"16/20 (80\%)" in latex and "24.0 (18.0--29.5)" in latex
    assert r"Note one\_1." in latex


def test_write_table_is_deterministic(tmp_path):
    first = [p.read_bytes() for p in tables.write_table(_example(), tmp_path / "a" / "t")]
    second = [p.read_bytes() for p in tables.write_table(_example(), tmp_path / "b" / "t")]
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
    paths = tables.write_table(frame, tmp_path / "plain", caption="Reliability", decimals=2)
    assert pd.read_csv(paths[0], sep="\t")["median_mm"].tolist() == [4.4721, 12.97]
    markdown = paths[1].read_text(encoding="utf-8")
    assert "| within | 4.47 | 40 | < .001 |" in markdown
    assert "| between | 12.97 | 1,560 | .20 |" in markdown
