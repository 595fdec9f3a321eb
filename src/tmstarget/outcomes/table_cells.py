"""Pieces shared by the outcome tables: column headers, cells collected row by row,
lettered footnotes, numbers for running text."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tmstarget.outcomes.params import OutcomeParams
from tmstarget.tables import cell, format_number


def arm_header(params: OutcomeParams, role: str, n: int) -> str:
    """The printed header of an arm's column: its name and size, "Scalp (n = 20)"."""
    return f"{params.arm_name(role)} (n = {n})"


def percent_label(confidence: float) -> str:
    """A confidence level as printed before "CI": 0.95 -> "95%"."""
    return f"{100 * confidence:g}%"


class TableCells:
    """The cells of one table (:func:`tmstarget.tables.cell` dicts) in the order they are
    added; ``headers`` maps each column key to its printed label."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        self.headers = dict(headers)
        self.cells: list[dict[str, Any]] = []

    def add(self, section: str, row: str, column: str, kind: str, **numbers: Any) -> None:
        """One cell of ``kind`` (see :data:`tmstarget.tables.CELL_KINDS`)."""
        self.cells.append(
            cell(section, row, column, kind, column_label=self.headers[column], **numbers)
        )

    def add_row(
        self,
        section: str,
        row: str,
        kind: str,
        numbers: Mapping[str, Mapping[str, Any]],
        **shared: Any,
    ) -> None:
        """One cell per column key of ``numbers`` (in its order) with that column's numbers
        and the ``shared`` ones (e.g. ``decimals``)."""
        for column, values in numbers.items():
            self.add(section, row, column, kind, **values, **shared)


class Footnotes:
    """Lettered footnotes in order of first use (JAMA: a, b, c as they appear)."""

    def __init__(self) -> None:
        self.letters: dict[str, str] = {}
        self.texts: list[tuple[str, str]] = []
        self.markers: list[tuple[str, str, str | None, str]] = []

    def letter(self, key: str, text: str) -> str:
        if key not in self.letters:
            letter = "abcdefghijklmnoprstuvwxyz"[len(self.letters)]
            self.letters[key] = letter
            self.texts.append((letter, text))
        return self.letters[key]

    def mark(self, section: str, row: str, column: str | None, key: str, text: str) -> None:
        self.markers.append((section, row, column, self.letter(key, text)))

    def mark_not_estimable(
        self, section: str, row: str, column: str, key: str, reasons: Mapping[str, str]
    ) -> None:
        """Mark the cell "NA, not estimable" when ``reasons`` holds ``key`` (one footnote per
        distinct reason, so statistics failing for the same reason share a letter)."""
        if key in reasons:
            reason = reasons[key]
            self.mark(section, row, column, f"na:{reason}", f"NA, not estimable: {reason}.")


def format_number_plain(value: float, decimals: int = 1) -> str:
    """A number for running text in a note (half-up, normalised; see tables)."""
    return format_number(value, decimals)
