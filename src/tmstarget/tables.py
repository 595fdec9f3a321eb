"""Manuscript tables: one data frame in, a TSV, a Markdown and a LaTeX file out (the paths
are the caller's: :func:`write_table` takes each one, :func:`table_paths` makes
``<stem>.tsv``, ``<stem>.md`` and ``<stem>.tex`` for a caller that has only a stem).

Two kinds of frame are accepted by :func:`write_table`.

**Cell frames** (what the outcome tables produce). One row per table cell, long format,
numbers unformatted, with the columns of :data:`CELL_COLUMNS`:

- ``section``: heading the row belongs to ("" for none); sections keep first-seen order.
- ``row``: the row label as printed; rows keep first-seen order within their section.
- ``column``: a machine key for the column (``connectivity``, ``scalp``, ``effect``, ``p``).
- ``column_label``: the column header as printed (e.g. "Connectivity (n = 20)").
- ``kind``: how the numbers are printed (see :data:`CELL_KINDS`).
- ``value``, ``low``, ``high``, ``sd``, ``count``, ``total``: the numbers (NaN where unused).
- ``decimals``: decimals printed for ``value``/``low``/``high``/``sd`` (percentages in
  ``n_pct``/``n_total_pct`` cells use ``decimals`` for the percentage).
- ``text``: free text for ``kind == "text"``.

The TSV is this long frame (machine-readable, one number per field, ``n/a`` for missing);
the Markdown and LaTeX files pivot it into the printed table (sections as bold spanning rows)
and format every cell the way JAMA prints it:

- every number is first normalised to 12 significant digits (so that binary noise such as
  23.9 - 17.95 = 5.9499999999999993 does not decide the rounding), then rounded half up
  (5.95 -> "6.0", 0.125 -> ".13");
- median (IQR) "24.0 (18.0-29.5)"; mean (SD) "45.1 (8.2)"; counts under a "No. (%)" or
  "No./total No. (%)" header print "17 (43)" and "16/20 (80)" (no % sign in the cell);
- estimates with CIs "6.0 (1.0-11.0)", or "-2.0 to 4.0" when a bound is negative;
- P values in a "P value" column ".02", ".004", "<.001", ">.99": two decimals from .01 up,
  three below .01 (a P that rounds to .010 prints ".01"), and three between .045 and .05 so
  that a P below .05 is never printed as ".05"; :func:`format_p` with ``prefix=True`` gives
  the running-text form "P = .02";
- numbers needed to treat are labelled NNTB (benefit) or NNTH (harm) and rounded up to a
  whole number, their CI as it is (Altman 1998): "NNTB 5 (NNTB 2.2 to ∞ to NNTH 12.6)".

Footnote markers: ``cells_frame(..., markers=[(section, row, column, letter), ...],
footnotes=[(letter, text), ...])`` puts a superscript letter after a row label (``column``
None) or after one cell's text, and prints the lettered footnotes after the unlettered
notes (JAMA order: abbreviations first, then a, b, c).

**Plain frames** (anything else) are written as they are to the TSV, and in the human files
floats are printed with ``decimals`` decimals and columns named ``p``/``p_value``/``*_p``
as P values.

Caption and notes come from the arguments or, failing those, from ``frame.attrs["caption"]``
and ``frame.attrs["notes"]``. Output is deterministic: the same frame gives the same bytes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tmstarget import atomic

CELL_COLUMNS = (
    "section",
    "row",
    "column",
    "column_label",
    "kind",
    "value",
    "low",
    "high",
    "sd",
    "count",
    "total",
    "decimals",
    "text",
)

CELL_KINDS = {
    "number": "value",
    "count": "count",
    "mean_sd": "value (sd)",
    "median_iqr": "value (low-high)",
    "estimate_ci": "value (low-high) or value (low to high)",
    "n_pct": "count (pct), under a No. (%) header",
    "n_total_pct": "count/total (pct), under a No./total No. (%) header",
    "p": ".xx (no 'P =': the column header says P value)",
    "nnt": "signed number needed to treat, printed NNTB/NNTH rounded up; low/high are the "
    "inverted CI limits (Altman)",
    "cost": "value (low to high); high may be inf",
    "text": "text",
}

_NUMERIC = ("value", "low", "high", "sd", "count", "total")
_P_COLUMN_NAMES = ("p", "p_value", "pvalue")


def cell(
    section: str,
    row: str,
    column: str,
    kind: str,
    *,
    column_label: str | None = None,
    value: float = math.nan,
    low: float = math.nan,
    high: float = math.nan,
    sd: float = math.nan,
    count: float = math.nan,
    total: float = math.nan,
    decimals: int = 1,
    text: str = "",
) -> dict[str, Any]:
    """One table cell as a dict of :data:`CELL_COLUMNS` (see the module docstring)."""
    if kind not in CELL_KINDS:
        raise ValueError(f"unknown cell kind {kind!r}; choose one of {sorted(CELL_KINDS)}")
    return {
        "section": section,
        "row": row,
        "column": column,
        "column_label": column if column_label is None else column_label,
        "kind": kind,
        "value": float(value),
        "low": float(low),
        "high": float(high),
        "sd": float(sd),
        "count": float(count),
        "total": float(total),
        "decimals": int(decimals),
        "text": text,
    }


def cells_frame(
    cells: Iterable[Mapping[str, Any]],
    caption: str = "",
    notes: Sequence[str] = (),
    row_header: str = "",
    markers: Sequence[tuple[str, str, str | None, str]] = (),
    footnotes: Sequence[tuple[str, str]] = (),
    columns: Sequence[str] = (),
) -> pd.DataFrame:
    """Build a cell frame from :func:`cell` dicts; caption, notes, the header of the
    row-label column, footnote ``markers`` ``(section, row, column or None, letter)`` and
    lettered ``footnotes`` ``(letter, text)`` go to ``attrs``, and so does ``columns``, the
    printed order of column keys (keys not listed follow in first-seen order).

    Every marker's letter needs a footnote and every footnote a marker (checked)."""
    frame = pd.DataFrame(list(cells), columns=list(CELL_COLUMNS))
    for name in _NUMERIC:
        frame[name] = frame[name].astype("float64")
    frame["decimals"] = frame["decimals"].astype("int64")
    used = {letter for *_, letter in markers}
    defined = [letter for letter, _ in footnotes]
    if used != set(defined) or len(defined) != len(set(defined)):
        raise ValueError(
            f"footnote markers {sorted(used)} and footnotes {defined} must match one to one"
        )
    frame.attrs["caption"] = caption
    frame.attrs["notes"] = list(notes)
    frame.attrs["row_header"] = row_header
    frame.attrs["markers"] = [list(marker) for marker in markers]
    frame.attrs["footnotes"] = [list(footnote) for footnote in footnotes]
    frame.attrs["columns"] = list(columns)
    return frame


def is_cell_frame(frame: pd.DataFrame) -> bool:
    """True when ``frame`` follows the cell schema."""
    return set(CELL_COLUMNS).issubset(frame.columns)


# --------------------------------------------------------------------------------------
# Number formatting
# --------------------------------------------------------------------------------------


def _minus(tex: bool) -> str:
    return "$-$" if tex else "-"


def _infinity(tex: bool) -> str:
    return r"$\infty$" if tex else "∞"


def format_number(x: float, decimals: int = 1, tex: bool = False) -> str:
    """``x`` with ``decimals`` decimals, thousands separators from 1,000, "NA" for NaN.

    A value that rounds to zero never carries a minus sign.
    """
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "NA"
    x = float(x)
    if math.isinf(x):
        return (_minus(tex) if x < 0 else "") + _infinity(tex)
    rounded = _round_half_up(abs(x), decimals)
    text = f"{rounded:,.{decimals}f}"
    if x < 0 and rounded != 0:
        return _minus(tex) + text
    return text


SIGNIFICANT_DIGITS = 12


def normalise(x: float) -> Decimal:
    """``x`` as a decimal with 12 significant digits: strips binary noise such as
    23.9 - 17.95 = 5.9499999999999993 (-> 5.95) before anything is rounded."""
    return Decimal(f"{float(x):.{SIGNIFICANT_DIGITS}g}")


def _round_half_up(x: float, decimals: int) -> Decimal:
    """Round as people do (2.25 -> 2.3, 42.5 -> 43, 5.9499999999999993 -> 6.0).

    Python's own formatting rounds the binary value half to even, so 42.5 would print 42,
    and 23.9 - 17.95 would print 5.9; normalising first (:func:`normalise`) fixes both.
    """
    return normalise(x).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)


def is_whole(x: float) -> bool:
    """True when ``x`` is a whole number after normalisation (NaN is not)."""
    if x is None or not math.isfinite(float(x)):
        return False
    return normalise(x) == normalise(x).to_integral_value()


def whole_or_one_decimal(*values: float) -> int:
    """Decimals for numbers of count data: 0 when every finite value is whole
    ("4 (2-6)"), otherwise 1 ("4.5 (3.0-6.0)")."""
    finite = [v for v in values if v is not None and math.isfinite(float(v))]
    return 0 if all(is_whole(v) for v in finite) else 1


def round_up_whole(x: float) -> int:
    """The smallest whole number >= ``x`` after normalisation (5.000000000000001 -> 5)."""
    return int(normalise(x).to_integral_value(rounding=ROUND_CEILING))


def format_interval(low: float, high: float, decimals: int = 1, tex: bool = False) -> str:
    """ "1.0-11.0" when both limits are non-negative, otherwise "-2.0 to 4.0"."""
    low_text = format_number(low, decimals, tex)
    high_text = format_number(high, decimals, tex)
    minus = _minus(tex)
    if low_text.startswith(minus) or high_text.startswith(minus) or "NA" in (low_text, high_text):
        return f"{low_text} to {high_text}"
    if math.isinf(high) or math.isinf(low):
        return f"{low_text} to {high_text}"
    return f"{low_text}{'--' if tex else '-'}{high_text}"


def format_p(p: float, prefix: bool = False, tex: bool = False) -> str:
    """JAMA-style P value: ".02", ".004", "<.001", ">.99" (``prefix=True``: "P = .02",
    "P < .001", the form for running text and figure labels).

    P is normalised to 12 significant digits, then rounded half up: two decimals from .01
    up, three below .01 (so .00999 rounds to .010 and prints ".01"); between .045 and .05
    three decimals, truncated, so that a P below .05 is never printed as ".05".
    """
    if p is None or math.isnan(p):
        return "NA"
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"P value must lie in [0, 1], got {p}")
    value = normalise(p)
    if value < Decimal("0.001"):
        relation, number = "<", ".001"
    elif value > Decimal("0.99"):
        relation, number = ">", ".99"
    elif Decimal("0.045") <= value < Decimal("0.05"):
        relation = "="
        number = str(value.quantize(Decimal("0.001"), rounding=ROUND_FLOOR))[1:]
    else:
        rounded = value.quantize(Decimal("0.001"), rounding=ROUND_HALF_UP)
        if rounded >= Decimal("0.01"):
            rounded = value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        relation, number = "=", str(rounded)[1:]
    if prefix:
        text = f"P {relation} {number}"
    else:
        text = number if relation == "=" else relation + number
    if tex:
        text = text.replace("<", "$<$").replace(">", "$>$")
    return text


def format_percent(count: float, total: float, decimals: int = 0) -> str:
    """ "80" for 16/20 (no % sign); "NA" when total is 0."""
    if total is None or math.isnan(total) or total == 0:
        return "NA"
    return format_number(100.0 * count / total, decimals)


def format_nnt(value: float, low: float, high: float, decimals: int = 1, tex: bool = False) -> str:
    """Number needed to treat with the Altman (1998) interval.

    ``value``, ``low`` and ``high`` are signed: positive = benefit (NNTB), negative = harm
    (NNTH), ``inf`` = no difference. ``low``/``high`` are 1/(RD upper) and 1/(RD lower).
    The point estimate is labelled NNTB or NNTH and rounded up to a whole number, as is
    customary ("NNTB 5"); the limits keep ``decimals`` decimals. When the limits differ in
    sign the interval passes through infinity: "NNTB 5 (NNTB 2.2 to ∞ to NNTH 12.6)".
    """
    inf = _infinity(tex)

    def one(x: float) -> str:
        if math.isinf(x):
            return inf
        return format_number(abs(x), decimals, tex)

    if math.isnan(value):
        return "NA"
    if math.isinf(value):
        point = inf
    else:
        point = f"{'NNTB' if value > 0 else 'NNTH'} {round_up_whole(abs(value)):,}"
    if math.isnan(low) or math.isnan(high):
        return point
    if low > 0 and high > 0:
        interval = f"{one(low)} to {one(high)}"
    elif low < 0 and high < 0:
        interval = f"{one(high)} to {one(low)}"
    else:
        benefit, harm = (low, high) if low > 0 else (high, low)
        interval = f"NNTB {one(benefit)} to {inf} to NNTH {one(harm)}"
    return f"{point} ({interval})"


def format_cell(values: Mapping[str, Any], tex: bool = False) -> str:
    """Print one cell of a cell frame (a row of it as a mapping)."""
    kind = values["kind"]
    decimals = int(values["decimals"])
    value, low, high = float(values["value"]), float(values["low"]), float(values["high"])
    if kind == "text":
        text = str(values["text"])
        return escape_latex(text) if tex else text
    if kind == "number":
        return format_number(value, decimals, tex)
    if kind == "count":
        return format_number(float(values["count"]), 0, tex)
    if kind == "mean_sd":
        return (
            f"{format_number(value, decimals, tex)} ({format_number(values['sd'], decimals, tex)})"
        )
    if kind in ("median_iqr", "estimate_ci"):
        if math.isnan(value):
            return "NA"
        return (
            f"{format_number(value, decimals, tex)} ({format_interval(low, high, decimals, tex)})"
        )
    if kind in ("n_pct", "n_total_pct"):
        count, total = float(values["count"]), float(values["total"])
        if math.isnan(count):
            return "NA"
        pct = format_percent(count, total, decimals)
        shown = f"{count:.0f}" if kind == "n_pct" else f"{count:.0f}/{total:.0f}"
        return shown if pct == "NA" else f"{shown} ({pct})"
    if kind == "p":
        return format_p(value, tex=tex)
    if kind == "nnt":
        return format_nnt(value, low, high, decimals, tex)
    if kind == "cost":
        if math.isnan(value):
            return "NA"
        if math.isnan(low) and math.isnan(high):
            return format_number(value, decimals, tex)
        return (
            f"{format_number(value, decimals, tex)} "
            f"({format_number(low, decimals, tex)} to {format_number(high, decimals, tex)})"
        )
    raise ValueError(f"unknown cell kind {kind!r}")


_LATEX_REPLACEMENTS = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "≥": r"$\geq$",
    "≤": r"$\leq$",
    "∞": r"$\infty$",
    "−": "$-$",
    "–": "--",
    "—": "---",
    "±": r"$\pm$",
    "×": r"$\times$",
    "ρ": r"$\rho$",
    "→": r"$\rightarrow$",
    "<": "$<$",
    ">": "$>$",
    "|": r"\textbar{}",
}


def escape_latex(text: str) -> str:
    """Escape LaTeX special characters and map the few Unicode symbols we print."""
    return "".join(_LATEX_REPLACEMENTS.get(char, char) for char in str(text))


# --------------------------------------------------------------------------------------
# Layout
# --------------------------------------------------------------------------------------


def _ordered_unique(values: Iterable[Any]) -> list[Any]:
    seen: dict[Any, None] = {}
    for value in values:
        seen.setdefault(value, None)
    return list(seen)


_SUPERSCRIPT = dict(zip("abcdefghijklmnoprstuvwxyz", "ᵃᵇᶜᵈᵉᶠᵍʰⁱʲᵏˡᵐⁿᵒᵖʳˢᵗᵘᵛʷˣʸᶻ", strict=True))


def superscript(letters: str, tex: bool = False) -> str:
    """Footnote marker: Unicode superscript letters ("ᵃ") in Markdown and plain text,
    ``\textsuperscript{a}`` in LaTeX."""
    if not letters:
        return ""
    if tex:
        return r"\textsuperscript{" + escape_latex(letters) + "}"
    return "".join(_SUPERSCRIPT.get(letter, f"^{letter}") for letter in letters)


def _marker_lookup(cells: pd.DataFrame) -> dict[tuple[str, str, str | None], str]:
    lookup: dict[tuple[str, str, str | None], str] = {}
    for section, row, column, letter in cells.attrs.get("markers", []):
        key = (str(section), str(row), None if column is None else str(column))
        lookup[key] = lookup.get(key, "") + ("," if key in lookup else "") + str(letter)
    return lookup


def _cell_layout(
    cells: pd.DataFrame, tex: bool
) -> tuple[list[str], list[tuple[str, str | None, list[str]]]]:
    """Headers and printed rows of a cell frame.

    Returns ``(headers, rows)``; each row is ``(kind, label, texts)`` with kind "section"
    (label is the section title, no texts) or "row". Cell texts carry their footnote
    markers; a row label's marker is kept apart (``label`` is a ``(text, marker)`` pair
    for rows) so that the writer can escape the text first.
    """
    markers = _marker_lookup(cells)
    present = _ordered_unique(cells["column"])
    order = [column for column in cells.attrs.get("columns", []) if column in present]
    columns = order + [column for column in present if column not in order]
    labels = {
        column: str(cells.loc[cells["column"] == column, "column_label"].iloc[0])
        for column in columns
    }
    headers = [labels[column] for column in columns]
    rows: list[tuple[str, str | None, list[str]]] = []
    for section in _ordered_unique(cells["section"]):
        in_section = cells[cells["section"] == section]
        if section:
            title_marker = markers.get((str(section), "", None), "")
            rows.append(("section", (str(section), superscript(title_marker, tex)), []))
        for row in _ordered_unique(in_section["row"]):
            in_row = in_section[in_section["row"] == row]
            texts = []
            for column in columns:
                match = in_row[in_row["column"] == column]
                text = "" if match.empty else format_cell(match.iloc[0].to_dict(), tex)
                marker = markers.get((str(section), str(row), str(column)), "")
                texts.append(text + superscript(marker, tex) if text else text)
            label_marker = markers.get((str(section), str(row), None), "")
            rows.append(("row", (str(row), superscript(label_marker, tex)), texts))
    return headers, rows


def _label(label: Any, escape) -> str:
    """A row label escaped for the output format, with its marker after it."""
    if isinstance(label, tuple):
        text, marker = label
        return escape(text) + marker
    return escape(str(label))


def _footnote_lines(frame: pd.DataFrame, tex: bool) -> list[str]:
    escape = escape_latex if tex else _markdown_escape
    return [
        superscript(str(letter), tex) + " " + escape(str(text))
        for letter, text in frame.attrs.get("footnotes", [])
    ]


def _is_p_column(name: str) -> bool:
    lowered = str(name).lower()
    return lowered in _P_COLUMN_NAMES or lowered.endswith("_p")


def _plain_layout(
    frame: pd.DataFrame, decimals: int, tex: bool
) -> tuple[list[str], list[tuple[str, str | None, list[str]]]]:
    headers = [str(column) for column in frame.columns[1:]]
    rows: list[tuple[str, str | None, list[str]]] = []
    for _, record in frame.iterrows():
        texts = []
        for column in frame.columns[1:]:
            value = record[column]
            if _is_p_column(column) and isinstance(value, (float, np.floating)):
                texts.append(format_p(float(value), prefix=False, tex=tex))
            elif isinstance(value, (float, np.floating)):
                texts.append(format_number(float(value), decimals, tex))
            elif isinstance(value, (int, np.integer)):
                texts.append(format_number(float(value), 0, tex))
            else:
                texts.append(escape_latex(str(value)) if tex else str(value))
        rows.append(("row", str(record[frame.columns[0]]), texts))
    return headers, rows


def _layout(frame: pd.DataFrame, decimals: int, tex: bool):
    if is_cell_frame(frame):
        return _cell_layout(frame, tex)
    return _plain_layout(frame, decimals, tex)


def _first_header(frame: pd.DataFrame) -> str:
    if is_cell_frame(frame):
        return str(frame.attrs.get("row_header", ""))
    return str(frame.columns[0])


def _markdown_escape(text: str) -> str:
    return str(text).replace("|", r"\|")


def to_markdown(
    frame: pd.DataFrame, caption: str = "", notes: Sequence[str] = (), decimals: int = 2
) -> str:
    """The human Markdown table (pipe table, caption above, notes below)."""
    headers, rows = _layout(frame, decimals, tex=False)
    lines = []
    if caption:
        lines += [f"**{_markdown_escape(caption)}**", ""]
    all_headers = [_first_header(frame), *headers]
    lines.append("| " + " | ".join(_markdown_escape(h) for h in all_headers) + " |")
    lines.append("| " + " | ".join([":---"] + ["---:"] * len(headers)) + " |")
    for kind, label, texts in rows:
        if kind == "section":
            title = _label(label, lambda text: f"**{_markdown_escape(text)}**")
            lines.append("| " + " | ".join([title] + [""] * len(headers)) + " |")
        else:
            row_label = _label(label, _markdown_escape)
            lines.append("| " + " | ".join([row_label, *map(_markdown_escape, texts)]) + " |")
    all_notes = [_markdown_escape(note) for note in notes] + _footnote_lines(frame, tex=False)
    if all_notes:
        lines.append("")
        lines += _join_notes(all_notes)
    return "\n".join(lines) + "\n"


def _join_notes(notes: Sequence[str]) -> list[str]:
    out = []
    for note in notes:
        out += [note, ""]
    return out[:-1]


def to_latex(
    frame: pd.DataFrame,
    caption: str = "",
    notes: Sequence[str] = (),
    label: str = "",
    decimals: int = 2,
) -> str:
    """The human LaTeX table (booktabs; needs ``\\usepackage{booktabs}``)."""
    headers, rows = _layout(frame, decimals, tex=True)
    n_columns = 1 + len(headers)
    lines = [
        "% Generated by tmstarget.tables; needs \\usepackage{booktabs}.",
        r"\begin{table}[htbp]",
        r"\centering",
        r"\small",
    ]
    if caption:
        lines.append(r"\caption{" + escape_latex(caption) + "}")
    if label:
        lines.append(r"\label{" + label + "}")
    lines.append(r"\begin{tabular}{l" + "r" * len(headers) + "}")
    lines.append(r"\toprule")
    header_cells = [escape_latex(_first_header(frame))] + [escape_latex(h) for h in headers]
    lines.append(" & ".join(header_cells) + r" \\")
    lines.append(r"\midrule")
    has_sections = any(kind == "section" for kind, _, _ in rows)
    first = True
    for kind, row_label, texts in rows:
        if kind == "section":
            if not first:
                lines.append(r"\addlinespace")
            title = _label(row_label, lambda text: r"\textbf{" + escape_latex(text) + "}")
            lines.append(r"\multicolumn{" + str(n_columns) + "}{l}{" + title + r"} \\")
        else:
            indent = r"\quad " if has_sections else ""
            lines.append(" & ".join([indent + _label(row_label, escape_latex), *texts]) + r" \\")
        first = False
    lines.append(r"\bottomrule")
    lines.append(r"\end{tabular}")
    all_notes = [escape_latex(note) for note in notes] + _footnote_lines(frame, tex=True)
    if all_notes:
        lines.append(r"\par\smallskip")
        lines.append(r"\begin{minipage}{\linewidth}\footnotesize")
        lines.append("\n\n".join(all_notes))
        lines.append(r"\end{minipage}")
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def to_tsv(frame: pd.DataFrame) -> str:
    """The machine TSV: columns as they are, ``n/a`` for missing, 10 significant digits."""
    return frame.to_csv(
        sep="\t", index=False, na_rep="n/a", float_format="%.10g", lineterminator="\n"
    )


# What a table file's suffix says it holds.
TABLE_FORMATS = {".tsv": "TSV", ".md": "Markdown", ".tex": "LaTeX"}


def table_paths(stem: str | Path) -> list[Path]:
    """``<stem>.tsv``, ``<stem>.md`` and ``<stem>.tex``, for :func:`write_table`; for callers
    that name a table by a stem (tests, notebooks). Workflow scripts pass the paths their
    rule declares instead."""
    stem = Path(stem)
    return [stem.with_name(stem.name + suffix) for suffix in TABLE_FORMATS]


def write_table(
    frame: pd.DataFrame,
    paths: Iterable[str | Path],
    caption: str | None = None,
    notes: Sequence[str] | None = None,
    decimals: int = 2,
) -> list[Path]:
    """Write ``frame`` to each of ``paths`` in the format its suffix names: ``.tsv``
    (machine-readable), ``.md`` (Markdown) and ``.tex`` (LaTeX), one path of each; returns
    the paths in the order given.

    ``caption``/``notes`` default to ``frame.attrs``. ``decimals`` applies to plain frames
    only (cell frames carry their own). The LaTeX label is ``tab:<name of the .tex file
    without its suffix>``. Paths of another suffix, or a format missing or given twice,
    are a ValueError before anything is written.

    Parameters
    ----------
    frame : pandas.DataFrame
        A cell frame (:data:`CELL_COLUMNS`, see the module docstring) or a plain frame.
    paths : iterable of str or Path
        One ``.tsv``, one ``.md`` and one ``.tex`` path, in any order (the rule's declared
        outputs; :func:`table_paths` makes them from a stem). Folders are created.
    caption : str, optional
        The table's caption; None takes ``frame.attrs["caption"]`` (or none).
    notes : sequence of str, optional
        Notes printed under the table; None takes ``frame.attrs["notes"]`` (or none).
    decimals : int, default 2
        Decimals of floats in the human files of a plain frame.

    Returns
    -------
    list of Path
        ``paths``, in the order given.

    Raises
    ------
    TypeError
        When ``paths`` is one path rather than the three.
    ValueError
        When ``paths`` is not exactly one ``.tsv``, one ``.md`` and one ``.tex``.
    OutputWriteError
        When a file cannot be written (:func:`tmstarget.atomic.write_text`).
    """
    if isinstance(paths, str | Path):
        raise TypeError(
            f"write_table: give the table's .tsv, .md and .tex paths, not one path ({paths}); "
            "table_paths(stem) makes them from a stem"
        )
    paths = [Path(path) for path in paths]
    if sorted(path.suffix for path in paths) != sorted(TABLE_FORMATS):
        raise ValueError(
            f"write_table: needs one .tsv, one .md and one .tex path, got {[str(p) for p in paths]}"
        )
    caption = frame.attrs.get("caption", "") if caption is None else caption
    notes = list(frame.attrs.get("notes", [])) if notes is None else list(notes)
    by_suffix = {path.suffix: path for path in paths}
    label = f"tab:{by_suffix['.tex'].stem}"
    texts = {
        ".tsv": to_tsv(frame),
        ".md": to_markdown(frame, caption, notes, decimals),
        ".tex": to_latex(frame, caption, notes, label=label, decimals=decimals),
    }
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_text(path, texts[path.suffix])
    return paths
