"""One subject's score map in orthogonal views through the connectivity target (see
:mod:`tmstarget.figures.targets` for the conventions).

:func:`plot_subject_target` draws sagittal (anterior on the right, P/A marked), coronal
and axial views (neurological: left hemisphere on the left, L/R marked) on nilearn's 1 mm
MNI152 template, cut through the connectivity target, with the brain mask's outline
(grey), the search region's (dashed), a 1 cm scale bar and a diverging colour bar
(``RdBu_r``: blue negative, red positive, centred at 0 and symmetric to ``vmax``). NaN and
exactly 0 are transparent. Every marker (targets, bootstrap dots, the bootstrap radius) is
projected onto every view, whatever its distance to the cut. The brain mask bounds the
display thickening on the score map's grid (nearest-neighbour resampling when the grids
differ). A ``zoom_mm`` window is framed in grey. Bootstrap rows of probability 0 are not
drawn; ``confidence`` and ``share_within_coil`` are fractions (0.95), radii in mm. A
file that cannot be written raises :class:`tmstarget.atomic.OutputWriteError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Literal

import matplotlib.pyplot as plt
import nibabel as nib
import numpy as np
import pandas as pd
from matplotlib.colors import Normalize
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from nilearn import datasets, image, plotting
from scipy import ndimage

from tmstarget.figures.targets.common import (
    BEAM_F3_METHOD,
    METHOD_LABELS,
    NEUROLOGICAL_NOTE,
    PLANTED_METHOD,
    Paths,
    finite_coordinates,
    frozen_garbage_collector,
    require_columns,
)
from tmstarget.style import PALETTE, apply_style, save_figure

# Colour-bar label and target rule of each kind of score map (signs: package docstring).
SCORE_KINDS = {
    "searchlight": (
        "Pearson r with circuit signal",
        "Target: maximum positive r among surface candidates",
    ),
    "seed_map": (
        "Pearson r with sgACC seed",
        "Target: most negative r (anticorrelation with sgACC)",
    ),
}

# Markers in the single-subject figure: shape, face colour, size (points^2). The face
# colours avoid the red/blue of the score map.
_TARGET_MARKER = {"marker": "*", "color": PALETTE["yellow"], "size": 170}
_F3_MARKER = {"marker": "s", "color": PALETTE["green"], "size": 55}
_PLANTED_MARKER = {"marker": "o", "color": "none", "size": 240}

# 2-D coordinates of a world point in nilearn's ortho views (neurological).
_VIEW_AXES = {"x": (1, 2), "y": (0, 2), "z": (0, 1)}


def dilate_for_display(
    volume: np.ndarray, n_voxels: int = 1, within: np.ndarray | None = None
) -> np.ndarray:
    """Fill NaN voxels within ``n_voxels`` (26-neighbourhood steps) of a scored voxel with
    the value of the nearest scored voxel, for display only.

    Circuit-searchlight scores exist only at surface candidates: a one-voxel shell that a
    single slice cuts into a few isolated voxels. Thickening the shell by ``n_voxels``
    makes it visible without changing any value or which voxel holds the extreme score.
    Only voxels of ``within`` (e.g. the brain mask) are filled, so no score is drawn
    outside the brain. The result is never used for anything but drawing.
    """
    volume = np.asarray(volume, dtype=np.float32)
    scored = np.isfinite(volume)
    if n_voxels <= 0 or not scored.any() or scored.all():
        return volume.copy()
    distance, nearest = ndimage.distance_transform_edt(~scored, return_indices=True)
    fill = ~scored & (distance <= n_voxels * np.sqrt(3.0) + 1e-6)
    if within is not None:
        fill &= np.asarray(within, dtype=bool)
    out = volume.copy()
    out[fill] = volume[tuple(index[fill] for index in nearest)]
    return out


def _mask_on_grid(
    mask_img: nib.spatialimages.SpatialImage, ref_img: nib.spatialimages.SpatialImage
) -> np.ndarray:
    """Binary mask on ``ref_img``'s grid (nearest neighbour, in world space)."""
    if mask_img.shape[:3] == ref_img.shape[:3] and np.allclose(mask_img.affine, ref_img.affine):
        return np.asarray(mask_img.dataobj) > 0
    resampled = image.resample_to_img(
        mask_img, ref_img, interpolation="nearest", force_resample=True, copy_header=True
    )
    return np.asarray(resampled.dataobj) > 0


@lru_cache(maxsize=1)
def _background() -> nib.Nifti1Image:
    """nilearn's bundled 1 mm MNI152 template (no download), for zoomed views."""
    return datasets.load_mni152_template(resolution=1)


def _split_targets(targets: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    method = targets["method"].astype(str)
    f3 = targets[method == BEAM_F3_METHOD]
    planted = targets[method == PLANTED_METHOD]
    chosen = targets[~method.isin([BEAM_F3_METHOD, PLANTED_METHOD])]
    if chosen.empty:
        raise ValueError(
            "targets has no connectivity target: every row's 'method' is "
            f"{BEAM_F3_METHOD!r} or {PLANTED_METHOD!r}"
        )
    return chosen, f3, planted


def _legend_label(row: pd.Series) -> str:
    label = row.get("label")
    if isinstance(label, str) and label and label != row["method"]:
        return label
    return METHOD_LABELS.get(str(row["method"]), str(row["method"]))


def _draw_points(
    view_axes: Mapping[str, plt.Axes], xyz: np.ndarray, style: dict, edge: str, linewidth: float
) -> None:
    """Markers projected onto each view (all drawn, whatever their distance to the cut:
    nilearn's add_markers would hide those more than 2 mm from the slice)."""
    for direction, ax in view_axes.items():
        h, v = _VIEW_AXES[direction]
        ax.scatter(
            xyz[:, h],
            xyz[:, v],
            s=style["size"],
            marker=style["marker"],
            c=style["color"] if style["color"] != "none" else None,
            facecolors="none" if style["color"] == "none" else None,
            edgecolors=edge,
            linewidths=linewidth,
            zorder=1000,
            clip_on=True,
        )


def _draw_view(
    fig: plt.Figure,
    rect: tuple[float, float, float, float],
    direction: str,
    shown_img: nib.Nifti1Image,
    brain_mask_img: nib.spatialimages.SpatialImage,
    search_mask_img: nib.spatialimages.SpatialImage,
    cut: np.ndarray,
    vmax: float,
    zoom_mm: float | None,
) -> plt.Axes:
    """One slice view (x: sagittal, y: coronal, z: axial) through ``cut``; returns its axes."""
    display = plotting.plot_stat_map(
        shown_img,
        bg_img=_background(),
        display_mode=direction,
        cut_coords=[float(cut["xyz".index(direction)])],
        axes=fig.add_axes(rect),
        colorbar=False,
        cmap="RdBu_r",
        symmetric_cbar=True,
        vmax=vmax,
        threshold=1e-9,
        black_bg=False,
        dim=-0.3,
        draw_cross=False,
        annotate=False,
        radiological=False,
        resampling_interpolation="nearest",
    )
    display.add_contours(brain_mask_img, levels=[0.5], colors=PALETTE["grey"], linewidths=0.6)
    display.add_contours(
        search_mask_img,
        levels=[0.5],
        colors=PALETTE["black"],
        linewidths=0.7,
        linestyles="dashed",
    )
    # single-direction displays key their one view by its cut coordinate
    ax = next(iter(display.axes.values())).ax
    h, v = _VIEW_AXES[direction]
    if zoom_mm is not None:
        ax.set_xlim(cut[h] - zoom_mm, cut[h] + zoom_mm)
        ax.set_ylim(cut[v] - zoom_mm, cut[v] + zoom_mm)
    display.annotate(
        size=8, scalebar=direction == "z", scale_size=1.0, scale_units="cm", scale_loc=4
    )
    if direction == "x":  # nilearn marks L/R only; the sagittal view needs P/A
        for x_text, text in ((0.02, "P"), (0.98, "A")):
            ax.text(x_text, 0.97, text, transform=ax.transAxes, fontsize=8, ha="center", va="top")
    if zoom_mm is not None:  # a frame shows where the zoomed window ends
        ax.add_patch(
            Rectangle(
                (0, 0),
                1,
                1,
                transform=ax.transAxes,
                fill=False,
                edgecolor=PALETTE["grey"],
                linewidth=0.5,
                clip_on=False,
            )
        )
    return ax


def _draw_views(
    fig: plt.Figure,
    panel_height: float,
    shown_img: nib.Nifti1Image,
    brain_mask_img: nib.spatialimages.SpatialImage,
    search_mask_img: nib.spatialimages.SpatialImage,
    cut: np.ndarray,
    vmax: float,
    zoom_mm: float | None,
) -> dict[str, plt.Axes]:
    """Sagittal, coronal and axial views side by side (:func:`_draw_view`), by direction."""
    with frozen_garbage_collector():
        return {
            direction: _draw_view(
                fig,
                (0.005 + column * 0.29, 0.16, 0.28, panel_height),
                direction,
                shown_img,
                brain_mask_img,
                search_mask_img,
                cut,
                vmax,
                zoom_mm,
            )
            for column, direction in enumerate(("x", "y", "z"))
        }


def plot_subject_target(
    score_img: nib.spatialimages.SpatialImage,
    brain_mask_img: nib.spatialimages.SpatialImage,
    search_mask_img: nib.spatialimages.SpatialImage,
    targets: pd.DataFrame,
    paths: Paths,
    title: str = "Connectivity target",
    score_kind: Literal["searchlight", "seed_map"] = "searchlight",
    score_label: str | None = None,
    display_dilation_voxels: int | None = None,
    zoom_mm: float | None = 45.0,
    vmax: float | None = None,
    bootstrap: pd.DataFrame | None = None,
    bootstrap_summary: Mapping[str, float] | None = None,
) -> None:
    """One subject's score map in orthogonal views through the connectivity target.

    Parameters
    ----------
    score_img : nibabel image
        3-D score map in MNI space (e.g. ``SearchlightResult.score_volume`` or
        ``SeedMapResult.r_volume`` as an image), sign kept; NaN or 0 where there is no score.
    brain_mask_img, search_mask_img : nibabel image
        Binary images, drawn as outlines (brain in grey, search region dashed).
    targets : pandas.DataFrame
        Columns ``method``, ``x_mm``, ``y_mm``, ``z_mm`` (MNI RAS mm); optional ``label``
        (legend text; a table without ``method`` uses the labels as methods). A row whose
        method is not ``beam_f3`` or ``planted`` is the connectivity target (star; the cuts
        pass through the first such row), ``beam_f3`` the Beam F3 cortical site (square),
        ``planted`` the demo's planted target (open circle).
    paths : iterable of str or Path
        Every file to write, format from the suffix (PDF, PNG at 300 dpi).
    title : str
        The figure's title (top left, bold).
    score_kind : {"searchlight", "seed_map"}
        Sets the colour-bar label and the target rule printed under the title
        (``searchlight``: maximum positive r; ``seed_map``: most negative r).
    score_label : str or None
        Colour-bar label instead of the one of ``score_kind``.
    display_dilation_voxels : int or None
        Display-only thickening (voxels) inside the brain mask (:func:`dilate_for_display`);
        None: 1 for ``searchlight`` (scores only at surface candidates), 0 for ``seed_map``.
    zoom_mm : float or None
        Half-width (mm) of the window shown around the target in each view (None: all).
    vmax : float or None
        Colour limit, ``-vmax`` to ``vmax`` (None: the largest finite |score|, or 1).
    bootstrap : pandas.DataFrame or None
        Columns ``x_mm``, ``y_mm``, ``z_mm``, ``probability``: the target's probability
        map, drawn as dots whose area grows linearly with the probability.
    bootstrap_summary : mapping of str to float or None
        ``radius_mm``, ``confidence``, ``n_resamples``, ``share_within_coil`` (fractions)
        and ``coil_radius_mm``: the radius as a circle around the target, and a text line.

    Raises
    ------
    ValueError
        Unknown ``score_kind``, a missing column, no connectivity target, non-finite target
        coordinates, or a ``score_img`` that is not 3-D.
    """
    if score_kind not in SCORE_KINDS:
        raise ValueError(f"score_kind must be one of {sorted(SCORE_KINDS)}, got {score_kind!r}")
    if "method" not in targets.columns and "label" in targets.columns:
        targets = targets.assign(method=targets["label"])
    require_columns(targets, ["method", "x_mm", "y_mm", "z_mm"], "targets")
    chosen, f3, planted = _split_targets(targets)
    label, rule = SCORE_KINDS[score_kind]
    label = score_label or label
    if display_dilation_voxels is None:
        display_dilation_voxels = 1 if score_kind == "searchlight" else 0
    shown_img, vmax = _display_image(score_img, brain_mask_img, display_dilation_voxels, vmax)
    cut = finite_coordinates(chosen, "targets")[0]

    apply_style()
    fig = plt.figure(figsize=(7.0, 3.2))
    # a fourth line of text above the views with the bootstrap
    panel_height = 0.56 if bootstrap_summary is not None else 0.6
    view_axes = _draw_views(
        fig, panel_height, shown_img, brain_mask_img, search_mask_img, cut, vmax, zoom_mm
    )
    entries = _outline_entries() + _draw_target_markers(view_axes, chosen, f3, planted)
    if bootstrap is not None and len(bootstrap):
        entries.append(_draw_bootstrap_targets(view_axes, bootstrap))
    boot_text = ""
    if bootstrap_summary is not None:
        radius_entry, boot_text = _draw_bootstrap_radius(view_axes, cut, bootstrap_summary)
        entries.append(radius_entry)
    _colour_bar(fig, vmax, label)
    _subject_caption(fig, title, cut, rule, display_dilation_voxels, boot_text)
    fig.legend(
        [handle for handle, _ in entries],
        [text for _, text in entries],
        loc="lower left",
        bbox_to_anchor=(0.01, 0.0),
        ncol=3,
        frameon=False,
        fontsize=7.5,
        handletextpad=0.4,
        columnspacing=1.2,
    )
    save_figure(fig, paths)


def _display_image(
    score_img: nib.spatialimages.SpatialImage,
    brain_mask_img: nib.spatialimages.SpatialImage,
    display_dilation_voxels: int,
    vmax: float | None,
) -> tuple[nib.Nifti1Image, float]:
    """The score map as drawn (0 and NaN transparent, thickened inside the brain) and the
    colour limit (``vmax``, default: the largest |score|)."""
    scores = np.asarray(score_img.dataobj, dtype=np.float32)
    if scores.ndim != 3:
        raise ValueError(f"score_img must be 3-D, got shape {scores.shape}")
    finite = scores[np.isfinite(scores)]
    if vmax is None:
        vmax = float(np.max(np.abs(finite))) if finite.size else 1.0
        vmax = vmax if vmax > 0 else 1.0
    within = _mask_on_grid(brain_mask_img, score_img)
    shown = dilate_for_display(
        np.where(scores == 0, np.nan, scores), display_dilation_voxels, within=within
    )
    return nib.Nifti1Image(np.nan_to_num(shown, nan=0.0), score_img.affine), vmax


def _outline_entries() -> list[tuple[Line2D, str]]:
    """Legend entries of the two outlines every view carries."""
    return [
        (Line2D([], [], color=PALETTE["black"], linestyle="--", linewidth=0.8), "Search region"),
        (Line2D([], [], color=PALETTE["grey"], linewidth=0.8), "Brain mask"),
    ]


def _draw_target_markers(
    view_axes: Mapping[str, plt.Axes],
    chosen: pd.DataFrame,
    f3: pd.DataFrame,
    planted: pd.DataFrame,
) -> list[tuple[Line2D, str]]:
    """The connectivity target, Beam F3 and planted target on every view; their legend
    entries (labelled by each kind's first row)."""
    entries = []
    for rows, style, edge, width in (
        (chosen, _TARGET_MARKER, PALETTE["black"], 0.7),
        (f3, _F3_MARKER, PALETTE["black"], 0.7),
        (planted, _PLANTED_MARKER, PALETTE["black"], 1.4),
    ):
        if rows.empty:
            continue
        _draw_points(view_axes, finite_coordinates(rows, "targets"), style, edge, width)
        handle = Line2D(
            [],
            [],
            linestyle="none",
            marker=style["marker"],
            markersize=np.sqrt(style["size"]) * 0.75,
            markerfacecolor=style["color"],
            markeredgecolor=edge,
            markeredgewidth=width,
        )
        entries.append((handle, _legend_label(rows.iloc[0])))
    return entries


def _draw_bootstrap_targets(
    view_axes: Mapping[str, plt.Axes], bootstrap: pd.DataFrame
) -> tuple[Line2D, str]:
    """The bootstrap's target probability map as dots (area: probability) on every view;
    its legend entry."""
    require_columns(bootstrap, ["x_mm", "y_mm", "z_mm", "probability"], "bootstrap")
    points = bootstrap[bootstrap["probability"] > 0]
    xyz = points[["x_mm", "y_mm", "z_mm"]].to_numpy(dtype=float)
    area = 6.0 + 120.0 * points["probability"].to_numpy(dtype=float)
    for direction, ax in view_axes.items():
        h, v = _VIEW_AXES[direction]
        ax.scatter(
            xyz[:, h],
            xyz[:, v],
            s=area,
            c=PALETTE["orange"],
            edgecolors=PALETTE["black"],
            linewidths=0.3,
            alpha=0.85,
            zorder=900,
        )
    handle = Line2D(
        [],
        [],
        linestyle="none",
        marker="o",
        markersize=5,
        markerfacecolor=PALETTE["orange"],
        markeredgecolor=PALETTE["black"],
        markeredgewidth=0.3,
    )
    return handle, "Bootstrap targets (dot area: probability)"


def _draw_bootstrap_radius(
    view_axes: Mapping[str, plt.Axes], centre: np.ndarray, summary: Mapping[str, float]
) -> tuple[tuple[Line2D, str], str]:
    """The bootstrap radius as a dotted circle around ``centre`` (the target, mm) on every
    view; its legend entry and the caption's line about it."""
    radius = float(summary["radius_mm"])
    for direction, ax in view_axes.items():
        h, v = _VIEW_AXES[direction]
        ax.add_patch(
            plt.Circle(
                (centre[h], centre[v]),
                max(radius, 0.5),
                fill=False,
                edgecolor=PALETTE["black"],
                linewidth=0.9,
                linestyle=":",
                zorder=950,
            )
        )
    level = f"{100 * float(summary['confidence']):g}%"
    entry = (
        Line2D([], [], color=PALETTE["black"], linestyle=":", linewidth=0.9),
        f"{level} radius ({radius:.1f} mm)",
    )
    text = (
        f"\nBlock bootstrap ({int(summary['n_resamples'])} resamples): "
        f"{level} of resample targets within {radius:.1f} mm of the target, "
        f"{100 * float(summary['share_within_coil']):.0f}% within one coil "
        f"radius ({float(summary['coil_radius_mm']):g} mm)."
    )
    return entry, text


def _colour_bar(fig: plt.Figure, vmax: float, label: str) -> None:
    """The diverging colour bar, symmetric to ``vmax``, right of the views."""
    colour_ax = fig.add_axes((0.885, 0.2, 0.018, 0.54))
    mappable = plt.cm.ScalarMappable(norm=Normalize(-vmax, vmax), cmap="RdBu_r")
    bar = fig.colorbar(mappable, cax=colour_ax)
    bar.set_label(label, fontsize=8)
    bar.ax.tick_params(labelsize=7)


def _subject_caption(
    fig: plt.Figure,
    title: str,
    cut: np.ndarray,
    rule: str,
    display_dilation_voxels: int,
    boot_text: str,
) -> None:
    """Title and the lines under it: cut, target rule, display notes, bootstrap."""
    fig.text(0.01, 0.99, title, fontsize=10, weight="bold", va="top")
    thickened = (
        f"; scores thickened by {display_dilation_voxels} voxel inside the brain, for display"
        if display_dilation_voxels
        else ""
    )
    fig.text(
        0.01,
        0.925,
        f"Cuts through the connectivity target ({cut[0]:.0f}, {cut[1]:.0f}, {cut[2]:.0f}) mm"
        f" MNI. {rule}.\nMarkers projected onto each view{thickened}.\n{NEUROLOGICAL_NOTE}."
        f"{boot_text}",
        fontsize=7,
        va="top",
        linespacing=1.4,
    )
