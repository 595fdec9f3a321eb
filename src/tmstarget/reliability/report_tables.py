"""The two manuscript tables of the reliability stage, as cell frames
(:func:`tmstarget.tables.write_table`): split-half reliability and scan length."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from tmstarget.reliability.lattice import manuscript_convention_note
from tmstarget.reliability.params import (
    CONVENTION_LABELS,
    MANUSCRIPT_BETWEEN_MM,
    MANUSCRIPT_WITHIN_MM,
    REFERENCE_LABELS,
    SCAN_LENGTH_REFERENCES,
)
from tmstarget.tables import cell, cells_frame

_CENTROID_WORDS = {
    "pooled": "the group centroid (mean of all half-targets)",
    "per_half": "the centroid of the same half (mean of the half-1, or half-2, targets)",
}


_RATIO_LABELS = {
    "ratio_pairwise_cross_half": "Pairwise cross-half / within",
    "ratio_centroid": "Centroid / within",
}


def reliability_table(
    summary: pd.DataFrame,
    mixed: pd.DataFrame,
    manuscript_within_mm: float = MANUSCRIPT_WITHIN_MM,
    manuscript_between_mm: float = MANUSCRIPT_BETWEEN_MM,
    voxel_mm: float = 2.0,
) -> pd.DataFrame:
    """Cell frame (for :func:`tmstarget.tables.write_table`) of the split-half analysis:
    median and mean (95% CI) of each distance set, the between/within ratios, the mixed
    model difference, and the published numbers beside them."""
    confidence = float(summary.attrs.get("confidence", 0.95))
    level = f"{100 * confidence:g}%"
    columns = {
        "n": "Distances (subjects)",
        "median": f"Median ({level} CI)",
        "mean": f"Mean ({level} CI)",
        "published": "Published",
    }
    published = {
        "within": manuscript_within_mm,
        "centroid": manuscript_between_mm,
        "ratio_centroid": manuscript_between_mm / manuscript_within_mm,
    }
    cells = [
        *_summary_cells(summary, columns, published),
        *_mixed_model_cells(mixed, columns),
    ]
    notes = [
        "Targets of the two contiguous halves of each subject's concatenated series (cut at "
        "T/2). Within: distance between a subject's two half-targets. Pairwise cross-half: "
        "half-1 target of one subject vs half-2 target of another, all ordered pairs. "
        "Centroid: each half-target vs "
        + _CENTROID_WORDS[summary.attrs.get("centroid", "pooled")]
        + ".",
        f"CIs: percentile bootstrap resampling subjects ({summary.attrs.get('n_bootstrap')} "
        f"resamples, seed {summary.attrs.get('seed')}). Mixed model distance ~ type + "
        "(1 | subject), REML, Wald CI (too narrow for the pairwise convention, whose "
        "distances share two subjects).",
        manuscript_convention_note(manuscript_within_mm, manuscript_between_mm, voxel_mm),
    ]
    return cells_frame(
        cells, caption="Split-half reliability of targets", notes=notes, row_header=""
    )


def _summary_cells(
    summary: pd.DataFrame, columns: dict[str, str], published: dict[str, float]
) -> list[dict[str, Any]]:
    """The distance and ratio rows of :func:`reliability_table`: count, median and mean
    (CI) of each quantity of :func:`~tmstarget.reliability.summarise`, and the published
    number where there is one."""
    labels = {**CONVENTION_LABELS, **_RATIO_LABELS}
    cells = []
    for record in summary.to_dict("records"):
        quantity = record["quantity"]
        section = "Ratio between / within" if record["unit"] == "ratio" else "Distance, mm"
        decimals = 2
        row = labels[quantity]
        count_text = f"{record['n_distances']:,} ({record['n_subjects']})"
        cells.append(cell(section, row, "n", "text", column_label=columns["n"], text=count_text))
        for name in ("median", "mean"):
            cells.append(
                cell(
                    section,
                    row,
                    name,
                    "estimate_ci",
                    column_label=columns[name],
                    value=record[name],
                    low=record[f"{name}_low"],
                    high=record[f"{name}_high"],
                    decimals=decimals,
                )
            )
        reported = published.get(quantity)
        cells.append(
            cell(
                section,
                row,
                "published",
                "number" if reported is not None else "text",
                column_label=columns["published"],
                value=math.nan if reported is None else reported,
                decimals=2,
                text="",
            )
        )
    return cells


def _mixed_model_cells(mixed: pd.DataFrame, columns: dict[str, str]) -> list[dict[str, Any]]:
    """The mixed-model rows of :func:`reliability_table`: the between - within difference
    (mm, Wald CI) of each convention in the mean column."""
    section = "Mixed model, between - within, mm"
    cells = []
    for record in mixed.to_dict("records"):
        row = CONVENTION_LABELS[record["convention"]]
        count_text = f"{record['n_within'] + record['n_between']:,} ({record['n_subjects']})"
        cells.append(cell(section, row, "n", "text", column_label=columns["n"], text=count_text))
        cells.append(
            cell(
                section,
                row,
                "median",
                "text",
                column_label=columns["median"],
                text="",
            )
        )
        cells.append(
            cell(
                section,
                row,
                "mean",
                "estimate_ci",
                column_label=columns["mean"],
                value=record["difference"],
                low=record["low"],
                high=record["high"],
                decimals=2,
            )
        )
        cells.append(
            cell(section, row, "published", "text", column_label=columns["published"], text="")
        )
    return cells


def scan_length_table(curve: pd.DataFrame, needed: pd.DataFrame | None = None) -> pd.DataFrame:
    """Cell frame of the scan-length curve: per k, the median distance (CI) to each
    reference and the number of subjects; ``needed`` (:func:`minutes_needed_table`) adds a
    section with the minutes after which the median stays below each threshold."""
    confidence = float(curve.attrs.get("confidence", 0.95))
    level = f"{100 * confidence:g}%"
    references = [r for r in SCAN_LENGTH_REFERENCES if r in set(curve["reference"])]
    cells = []
    section = f"Median distance, mm ({level} CI)"
    for minutes in sorted(curve["minutes"].unique()):
        row = f"{minutes:g} min"
        for reference in references:
            match = curve[(curve["reference"] == reference) & (curve["minutes"] == minutes)]
            label = REFERENCE_LABELS[reference]
            if match.empty:
                cells.append(cell(section, row, reference, "text", column_label=label, text="-"))
                continue
            record = match.iloc[0]
            cells.append(
                cell(
                    section,
                    row,
                    reference,
                    "estimate_ci",
                    column_label=label,
                    value=record["median_mm"],
                    low=record["low"],
                    high=record["high"],
                    decimals=2,
                )
            )
        n_subjects = int(curve.loc[curve["minutes"] == minutes, "n_subjects"].max())
        cells.append(cell(section, row, "n", "count", column_label="Subjects", count=n_subjects))
    if needed is not None and len(needed):
        relation = "at or below" if needed.attrs.get("inclusive") else "below"
        section = f"Minutes from which the median stays {relation} (upper CI limit in brackets)"
        for record in needed.to_dict("records"):
            row = f"{record['threshold']} ({record['threshold_mm']:.2f} mm)"

            def minutes_text(value: float) -> str:
                return "not reached" if math.isnan(value) else f"{value:g}"

            text = (
                f"{minutes_text(record['minutes_median'])} "
                f"[{minutes_text(record['minutes_upper_ci'])}]"
            )
            cells.append(
                cell(
                    section,
                    row,
                    record["reference"],
                    "text",
                    column_label=REFERENCE_LABELS[record["reference"]],
                    text=text,
                )
            )
    notes = [
        "Target from the first k minutes of each subject's concatenated series, compared with "
        "the full-data target (overlapping data, converges to 0), with the second-half target "
        "(independent data; only while the first k minutes end before the second half) and, "
        "where computed, with the next k minutes after the cut (retest).",
        f"CIs: percentile bootstrap over subjects ({curve.attrs.get('n_bootstrap')} resamples, "
        f"seed {curve.attrs.get('seed')}). Subjects with less data than k minutes are absent "
        "at that k.",
    ]
    return cells_frame(cells, caption="Target distance by scan length", notes=notes)
