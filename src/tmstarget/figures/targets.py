"""Target figures (issue 4): one subject's score map, the group's targets, the distances
between the two arms' targets, and the demo's planted-target recovery.

Each function receives finished numbers (images and data frames from
:mod:`tmstarget.targeting` and :mod:`tmstarget.scalp`; it computes no statistic), draws one
figure in the shared style and writes it to every path given (PDF + PNG at 300 dpi, format
from the suffix) through :func:`tmstarget.style.save_figure`.

Conventions
-----------
- Coordinates are MNI152 world millimetres (x < 0 is the left hemisphere).
- Brain views are in the **neurological convention**: the left hemisphere is drawn on the
  left of coronal and axial views (nilearn's default, ``radiological=False``); sagittal
  views have anterior on the right. Every brain figure says so and marks L/R (and P/A).
- Score maps keep their sign and use a diverging colour map centred at 0 (blue negative,
  red positive). Circuit searchlight: the target is the **maximum positive** r with the
  circuit signal. sgACC seed map: the target is the **most negative** r with the seed.
- Arms keep the colours of :data:`tmstarget.style.ARM_COLOURS`.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Literal

import matplotlib.pyplot as plt
import nibabel as nib
import numpy as np
import pandas as pd
from matplotlib.colors import Normalize
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from nilearn import datasets, image, plotting
from scipy import ndimage

from tmstarget import atlas
from tmstarget.style import ARM_COLOURS, PALETTE, apply_style, save_figure
from tmstarget.vocabulary import (
    BEAM_F3,
    CIRCUIT_SEARCHLIGHT,
    DEFAULT_ARM_NAMES,
    DEFAULT_CONNECTIVITY_METHOD,
    SGACC_CLASSIC,
    SGACC_CLUSTER,
)

Paths = Iterable[str | Path]

# The default printed names of the arms (tmstarget.vocabulary, as the outcomes use).
ARM_NAMES = dict(DEFAULT_ARM_NAMES)
NEUROLOGICAL_NOTE = "Neurological convention: left hemisphere on the left (L/R marked)"

# Legend text of the method names the targeting stage writes.
METHOD_LABELS = {
    CIRCUIT_SEARCHLIGHT: "Connectivity target (circuit searchlight)",
    "searchlight": "Connectivity target (circuit searchlight)",
    SGACC_CLASSIC: "Connectivity target (sgACC seed map)",
    SGACC_CLUSTER: "Connectivity target (sgACC seed map, cluster)",
    BEAM_F3: "Beam F3, projected to cortex",
    "planted": "Planted target (demo ground truth)",
}
BEAM_F3_METHOD = BEAM_F3
PLANTED_METHOD = "planted"

# Colour-bar label and target rule of each kind of score map (sign conventions above).
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

# Published reference points (atlas.py), drawn in every group figure.
REFERENCE_POINTS = (
    ("Group F3", atlas.GROUP_F3_BRAIN_MM, "*", 110),
    ("Fox target", atlas.FOX_TARGET_MM, "D", 38),
    ("Normative sgACC-anticorrelation peak", atlas.NORMATIVE_SGACC_PEAK_MM, "P", 60),
)

# Markers in the single-subject figure: shape, face colour, size (points^2). The face
# colours avoid the red/blue of the score map.
_TARGET_MARKER = {"marker": "*", "color": PALETTE["yellow"], "size": 170}
_F3_MARKER = {"marker": "s", "color": PALETTE["green"], "size": 55}
_PLANTED_MARKER = {"marker": "o", "color": "none", "size": 240}

# 2-D coordinates of a world point in nilearn's ortho views (neurological).
_VIEW_AXES = {"x": (1, 2), "y": (0, 2), "z": (0, 1)}
# Zoom panels of the group figure: (title, horizontal axis, vertical axis), keyed, ordered
# and oriented as nilearn's 'ortho' glass brain views (coronal and axial: left on the left;
# sagittal: anterior on the right).
_ZOOM_VIEWS = {
    "y": ("Coronal (left on the left)", 0, 2),
    "x": ("Sagittal (anterior to the right)", 1, 2),
    "z": ("Axial (anterior up)", 0, 1),
}
_AXIS_NAMES = ("x (mm, left \u2212 / right +)", "y (mm, posterior \u2212 / anterior +)", "z (mm)")


# --------------------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------------------


def _require_columns(table: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    if not isinstance(table, pd.DataFrame):
        raise ValueError(f"{name} must be a pandas DataFrame, got {type(table).__name__}")
    missing = [column for column in columns if column not in table.columns]
    if missing:
        raise ValueError(
            f"{name} is missing column(s) {', '.join(repr(c) for c in missing)}; "
            f"it has {', '.join(repr(c) for c in table.columns)}"
        )


def _finite_coordinates(table: pd.DataFrame, name: str) -> np.ndarray:
    xyz = table[["x_mm", "y_mm", "z_mm"]].to_numpy(dtype=float)
    bad = ~np.isfinite(xyz).all(axis=1)
    if bad.any():
        raise ValueError(
            f"{name} has {int(bad.sum())} row(s) with non-finite x_mm/y_mm/z_mm "
            "(coordinates must be MNI mm)"
        )
    return xyz


def _check_arms(arms: pd.Series, arm_colours: Mapping[str, str], name: str) -> None:
    unknown = sorted(set(arms.astype(str)) - set(arm_colours))
    if unknown:
        raise ValueError(
            f"{name} column 'arm' has value(s) {unknown} without a colour; "
            f"expected {sorted(arm_colours)}"
        )


def _column_legend(fig: plt.Figure, columns: list[list[tuple]]) -> None:
    """Figure legend at the bottom, one list of (handle, label) per column."""
    rows = max(len(column) for column in columns)
    blank = (Line2D([], [], linestyle="none"), "")
    entries = [entry for column in columns for entry in column + [blank] * (rows - len(column))]
    fig.legend(
        [handle for handle, _ in entries],
        [label for _, label in entries],
        loc="lower left",
        bbox_to_anchor=(0.02, 0.0),
        ncol=len(columns),
        frameon=False,
        fontsize=7,
        handletextpad=0.4,
        columnspacing=1.5,
    )


def _arm_order(arms: pd.Series, arm_colours: Mapping[str, str]) -> list[str]:
    present = set(arms.astype(str))
    return [arm for arm in arm_colours if arm in present]


# --------------------------------------------------------------------------------------
# 1. one subject's score map
# --------------------------------------------------------------------------------------


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


@contextmanager
def _frozen_garbage_collector() -> Iterator[None]:
    """Move the objects that exist now out of the garbage collector's reach meanwhile.

    nilearn calls ``gc.collect()`` on every image it reads (``safe_get_data``); in a
    large process (a test session, a Snakemake job with the whole stack imported) each
    call walks every live object and the three views took ~6 s of collecting alone.
    Frozen objects are skipped, so each collection only sees what plotting created; they
    are collectable again afterwards. Output is unaffected.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


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

    ``score_img``: 3-D score map in MNI space (e.g. ``SearchlightResult.score_volume`` or
    ``SeedMapResult.r_volume`` as an image), NaN (or 0) where there is no score.
    ``brain_mask_img`` / ``search_mask_img``: binary images, drawn as outlines (brain in
    grey, search region dashed). ``targets``: columns ``method``, ``x_mm``, ``y_mm``,
    ``z_mm`` (optional ``label`` for the legend text; a table with ``label`` but no
    ``method`` uses the labels as methods); the row whose method is not ``beam_f3``
    or ``planted`` is the connectivity target (star; the cuts pass through the first
    such row), ``beam_f3`` is the Beam F3 cortical site (square), ``planted`` the demo's
    planted target (open circle). Markers are projected onto every view.

    ``score_kind`` sets the colour-bar label and the target rule printed under the views
    (``searchlight``: maximum positive r; ``seed_map``: most negative r). The colour map
    is diverging, centred at 0, symmetric to ``vmax`` (default: the largest |score|).
    Sparse maps are thickened by ``display_dilation_voxels`` inside the brain mask, for
    display only (:func:`dilate_for_display`; default 1 voxel for ``searchlight``, whose
    scores exist only at surface candidates, 0 for ``seed_map``); a score of exactly 0 is
    drawn as transparent. ``zoom_mm``: half-width (mm) of the window shown around the
    target in each view (None: the whole brain); a 1 cm scale bar is drawn.

    ``bootstrap`` (optional; columns ``x_mm``, ``y_mm``, ``z_mm``, ``probability``): the
    probability map of the target location, the candidates some resample chose, drawn as
    dots whose area is proportional to the probability (projected onto each view);
    ``bootstrap_summary`` (``radius_mm``, ``confidence``, ``n_resamples``,
    ``share_within_coil``, ``coil_radius_mm``) adds the radius as a circle around the
    target in each view and a line of text.
    """
    if score_kind not in SCORE_KINDS:
        raise ValueError(f"score_kind must be one of {sorted(SCORE_KINDS)}, got {score_kind!r}")
    if "method" not in targets.columns and "label" in targets.columns:
        targets = targets.assign(method=targets["label"])
    _require_columns(targets, ["method", "x_mm", "y_mm", "z_mm"], "targets")
    chosen, f3, planted = _split_targets(targets)
    label, rule = SCORE_KINDS[score_kind]
    label = score_label or label
    scores = np.asarray(score_img.dataobj, dtype=np.float32)
    if scores.ndim != 3:
        raise ValueError(f"score_img must be 3-D, got shape {scores.shape}")
    finite = scores[np.isfinite(scores)]
    if vmax is None:
        vmax = float(np.max(np.abs(finite))) if finite.size else 1.0
        vmax = vmax if vmax > 0 else 1.0
    if display_dilation_voxels is None:
        display_dilation_voxels = 1 if score_kind == "searchlight" else 0
    within = _mask_on_grid(brain_mask_img, score_img)
    shown = dilate_for_display(
        np.where(scores == 0, np.nan, scores), display_dilation_voxels, within=within
    )
    shown_img = nib.Nifti1Image(np.nan_to_num(shown, nan=0.0), score_img.affine)
    cut = _finite_coordinates(chosen, "targets")[0]

    apply_style()
    fig = plt.figure(figsize=(7.0, 3.2))
    # a fourth line of text above the views with the bootstrap
    panel_height = 0.56 if bootstrap_summary is not None else 0.6
    with _frozen_garbage_collector():
        view_axes = {
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
    handles = [
        Line2D([], [], color=PALETTE["black"], linestyle="--", linewidth=0.8),
        Line2D([], [], color=PALETTE["grey"], linewidth=0.8),
    ]
    labels = ["Search region", "Brain mask"]
    for rows, style, edge, width in (
        (chosen, _TARGET_MARKER, PALETTE["black"], 0.7),
        (f3, _F3_MARKER, PALETTE["black"], 0.7),
        (planted, _PLANTED_MARKER, PALETTE["black"], 1.4),
    ):
        if rows.empty:
            continue
        _draw_points(view_axes, _finite_coordinates(rows, "targets"), style, edge, width)
        handles.append(
            Line2D(
                [],
                [],
                linestyle="none",
                marker=style["marker"],
                markersize=np.sqrt(style["size"]) * 0.75,
                markerfacecolor=style["color"],
                markeredgecolor=edge,
                markeredgewidth=width,
            )
        )
        labels.append(_legend_label(rows.iloc[0]))

    boot_text = ""
    if bootstrap is not None and len(bootstrap):
        _require_columns(bootstrap, ["x_mm", "y_mm", "z_mm", "probability"], "bootstrap")
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
        handles.append(
            Line2D(
                [],
                [],
                linestyle="none",
                marker="o",
                markersize=5,
                markerfacecolor=PALETTE["orange"],
                markeredgecolor=PALETTE["black"],
                markeredgewidth=0.3,
            )
        )
        labels.append("Bootstrap targets (dot area: probability)")
    if bootstrap_summary is not None:
        radius = float(bootstrap_summary["radius_mm"])
        centre = _finite_coordinates(chosen, "targets")[0]
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
        level = f"{100 * float(bootstrap_summary['confidence']):g}%"
        handles.append(Line2D([], [], color=PALETTE["black"], linestyle=":", linewidth=0.9))
        labels.append(f"{level} radius ({radius:.1f} mm)")
        boot_text = (
            f"\nBlock bootstrap ({int(bootstrap_summary['n_resamples'])} resamples): "
            f"{level} of resample targets within {radius:.1f} mm of the target, "
            f"{100 * float(bootstrap_summary['share_within_coil']):.0f}% within one coil "
            f"radius ({float(bootstrap_summary['coil_radius_mm']):g} mm)."
        )

    colour_ax = fig.add_axes((0.885, 0.2, 0.018, 0.54))
    mappable = plt.cm.ScalarMappable(norm=Normalize(-vmax, vmax), cmap="RdBu_r")
    bar = fig.colorbar(mappable, cax=colour_ax)
    bar.set_label(label, fontsize=8)
    bar.ax.tick_params(labelsize=7)

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
    fig.legend(
        handles,
        labels,
        loc="lower left",
        bbox_to_anchor=(0.01, 0.0),
        ncol=3,
        frameon=False,
        fontsize=7.5,
        handletextpad=0.4,
        columnspacing=1.2,
    )
    save_figure(fig, paths)


# --------------------------------------------------------------------------------------
# 2. every subject's targets on a glass brain
# --------------------------------------------------------------------------------------


def plot_group_targets(
    targets_table: pd.DataFrame,
    paths: Paths,
    arm_colours: Mapping[str, str] = ARM_COLOURS,
    connectivity_method: str = DEFAULT_CONNECTIVITY_METHOD,
    f3_method: str = BEAM_F3_METHOD,
    arm_names: Mapping[str, str] | None = None,
) -> None:
    """Every subject's connectivity target and Beam F3 cortical site, coloured by arm.

    ``targets_table``: one row per subject and method, columns ``participant_id``,
    ``arm``, ``method``, ``x_mm``, ``y_mm``, ``z_mm`` (MNI mm). Rows whose method is
    ``connectivity_method`` are drawn as filled circles, rows of ``f3_method`` as open
    triangles; other methods are ignored. Top: glass brain (coronal, sagittal with anterior
    on the right, axial; neurological). Bottom: the same three projections zoomed onto the
    targets (dashed squares on the glass brain) with mm axes. The published reference
    points (group F3, Fox target, normative sgACC-anticorrelation peak) are drawn in black
    and labelled in the legend. Every row of the two methods must have an arm in
    ``arm_colours``.
    """
    _require_columns(
        targets_table,
        ["participant_id", "arm", "method", "x_mm", "y_mm", "z_mm"],
        "targets_table",
    )
    method = targets_table["method"].astype(str)
    connectivity = targets_table[method == connectivity_method]
    f3 = targets_table[method == f3_method]
    if connectivity.empty:
        raise ValueError(
            f"targets_table has no row with method {connectivity_method!r}; methods present: "
            f"{sorted(set(method))}"
        )
    drawn_arms = pd.concat([connectivity["arm"], f3["arm"]])
    _check_arms(drawn_arms, arm_colours, "targets_table")
    names = {**ARM_NAMES, **dict(arm_names or {})}
    arms = _arm_order(drawn_arms, arm_colours)
    layers = []  # (xyz, colours, marker style)
    for rows, filled in ((f3, False), (connectivity, True)):
        if rows.empty:
            continue
        xyz = _finite_coordinates(rows, "targets_table")
        colours = [arm_colours[str(arm)] for arm in rows["arm"]]
        layers.append((xyz, colours, filled))
    references = np.array([point for _, point, _, _ in REFERENCE_POINTS])

    apply_style()
    fig = plt.figure(figsize=(7.0, 4.9))
    with _frozen_garbage_collector():
        glass = plotting.plot_glass_brain(
            None,
            display_mode="ortho",
            figure=fig,
            axes=(0.02, 0.6, 0.96, 0.37),
            black_bg=False,
            annotate=False,
            radiological=False,
            alpha=0.5,
        )
    glass.annotate(size=8, positions=False)
    for x_text, text in ((0.03, "P"), (0.97, "A")):  # nilearn marks L/R only
        glass.axes["x"].ax.text(
            x_text, 0.97, text, transform=glass.axes["x"].ax.transAxes, fontsize=8, va="top"
        )
    for xyz, colours, filled in layers:
        if filled:
            glass.add_markers(
                xyz,
                marker_color=colours,
                marker_size=14,
                marker="o",
                linewidths=0.3,
                edgecolors="white",
            )
        else:
            glass.add_markers(
                xyz,
                marker_color="none",
                marker_size=14,
                marker="^",
                linewidths=0.7,
                edgecolors=colours,
            )
    for _, point, marker, size in REFERENCE_POINTS:
        glass.add_markers(
            [point],
            marker_color=PALETTE["black"],
            marker_size=size * 0.45,
            marker=marker,
            linewidths=0.3,
            edgecolors="white",
        )

    # Zoom window: one square size for all three panels so their mm scales match.
    every_point = np.vstack([xyz for xyz, _, _ in layers] + [references])
    low, high = every_point.min(axis=0), every_point.max(axis=0)
    half = float(np.max(high - low)) / 2 + 5.0
    centre = (low + high) / 2
    for column, (key, (view_title, h, v)) in enumerate(_ZOOM_VIEWS.items()):
        ax_glass = glass.axes[key].ax
        ax = fig.add_axes((0.08 + column * 0.325, 0.19, 0.24, 0.33))
        ax_glass.add_patch(
            Rectangle(
                (centre[h] - half, centre[v] - half),
                2 * half,
                2 * half,
                fill=False,
                edgecolor=PALETTE["grey"],
                linewidth=0.7,
                linestyle="--",
                zorder=999,
            )
        )
        for xyz, colours, filled in layers:
            if filled:
                ax.scatter(
                    xyz[:, h],
                    xyz[:, v],
                    s=16,
                    c=colours,
                    marker="o",
                    edgecolors="white",
                    linewidths=0.3,
                    alpha=0.9,
                    zorder=3,
                )
            else:
                ax.scatter(
                    xyz[:, h],
                    xyz[:, v],
                    s=18,
                    facecolors="none",
                    marker="^",
                    edgecolors=colours,
                    linewidths=0.8,
                    zorder=2,
                )
        for _, point, marker, size in REFERENCE_POINTS:
            ax.scatter(
                point[h],
                point[v],
                s=size,
                c=PALETTE["black"],
                marker=marker,
                edgecolors="white",
                linewidths=0.5,
                zorder=4,
            )
        ax.set_xlim(centre[h] - half, centre[h] + half)
        ax.set_ylim(centre[v] - half, centre[v] + half)
        ax.set_aspect("equal")
        ax.set_title(view_title, fontsize=8)
        ax.set_xlabel(_AXIS_NAMES[h], fontsize=7)
        ax.set_ylabel(_AXIS_NAMES[v], fontsize=7)
        ax.tick_params(labelsize=7)

    arm_entries = []
    for arm in arms:
        n = int((connectivity["arm"].astype(str) == arm).sum())
        arm_entries.append((Patch(color=arm_colours[arm]), f"{names.get(arm, arm)} arm (n = {n})"))
    marker_entries = [
        (
            Line2D(
                [],
                [],
                linestyle="none",
                marker="o",
                markersize=5,
                markerfacecolor=PALETTE["grey"],
                markeredgecolor="white",
            ),
            METHOD_LABELS.get(connectivity_method, connectivity_method),
        ),
        (
            Line2D(
                [],
                [],
                linestyle="none",
                marker="^",
                markersize=5,
                markerfacecolor="none",
                markeredgecolor=PALETTE["grey"],
            ),
            METHOD_LABELS.get(f3_method, f3_method),
        ),
    ]
    reference_entries = [
        (
            Line2D(
                [],
                [],
                linestyle="none",
                marker=marker,
                markersize=np.sqrt(size) * 0.8,
                markerfacecolor=PALETTE["black"],
                markeredgecolor="white",
            ),
            f"{name} ({point[0]:.0f}, {point[1]:.0f}, {point[2]:.0f})",
        )
        for name, point, marker, size in REFERENCE_POINTS
    ]
    _column_legend(fig, [arm_entries, marker_entries, reference_entries])
    fig.text(
        0.02,
        0.995,
        f"MNI152 coordinates (mm). {NEUROLOGICAL_NOTE}; dashed squares: zoomed area.",
        fontsize=7,
        va="top",
    )
    save_figure(fig, paths)


# --------------------------------------------------------------------------------------
# 3. connectivity target to Beam F3, by arm
# --------------------------------------------------------------------------------------

DISTANCE_COLUMNS = {
    "cortex_distance_mm": "On cortex",
    "scalp_distance_mm": "On scalp (coil positions)",
}


def _strip(ax, values_by_arm: list[np.ndarray], colours: list[str], seed: int) -> None:
    """Box (median, quartiles, 1.5 IQR whiskers) and every value, jittered for display."""
    positions = np.arange(len(values_by_arm))
    boxes = ax.boxplot(
        values_by_arm,
        positions=positions,
        widths=0.5,
        showfliers=False,
        patch_artist=True,
        medianprops={"color": PALETTE["black"], "linewidth": 1.2},
        whiskerprops={"linewidth": 0.8},
        capprops={"linewidth": 0.8},
        boxprops={"linewidth": 0.8},
    )
    for patch, colour in zip(boxes["boxes"], colours, strict=True):
        patch.set_facecolor(colour)
        patch.set_alpha(0.25)
    jitter = np.random.default_rng(seed)  # fixed seed: same picture on every run
    for position, values, colour in zip(positions, values_by_arm, colours, strict=True):
        offsets = jitter.uniform(-0.14, 0.14, size=len(values))
        ax.scatter(
            position + offsets, values, s=12, c=colour, edgecolors="white", linewidths=0.3, zorder=3
        )


def plot_target_distances(
    distances_table: pd.DataFrame,
    paths: Paths,
    arm_colours: Mapping[str, str] = ARM_COLOURS,
    arm_names: Mapping[str, str] | None = None,
) -> None:
    """Per-subject distance (mm) between the connectivity target and Beam F3, by arm.

    ``distances_table``: one row per subject, columns ``participant_id``, ``arm``,
    ``cortex_distance_mm`` (connectivity target to Beam F3 projected to cortex) and
    ``scalp_distance_mm`` (the target's coil position to Beam F3 on the scalp), as in
    :class:`tmstarget.scalp.ArmDistances`. Two panels sharing the mm axis; boxes show
    median, quartiles and whiskers to 1.5 IQR (matplotlib's definition), dots every subject.
    """
    _require_columns(
        distances_table, ["participant_id", "arm", *DISTANCE_COLUMNS], "distances_table"
    )
    _check_arms(distances_table["arm"], arm_colours, "distances_table")
    names = {**ARM_NAMES, **dict(arm_names or {})}
    arms = _arm_order(distances_table["arm"], arm_colours)
    arm_of = distances_table["arm"].astype(str)

    apply_style()
    fig, axes = plt.subplots(1, 2, figsize=(3.5, 2.7), sharey=True)
    for index, (ax, (column, panel_title)) in enumerate(
        zip(axes, DISTANCE_COLUMNS.items(), strict=True)
    ):
        values = distances_table[column].to_numpy(dtype=float)
        if not np.isfinite(values).all():
            raise ValueError(f"distances_table column {column!r} has non-finite values")
        by_arm = [values[(arm_of == arm).to_numpy()] for arm in arms]
        _strip(ax, by_arm, [arm_colours[arm] for arm in arms], seed=index)
        ax.set_xticks(
            range(len(arms)),
            [f"{names.get(arm, arm)}\n(n = {len(v)})" for arm, v in zip(arms, by_arm, strict=True)],
        )
        ax.set_title(panel_title, fontsize=9)
        ax.set_xlim(-0.6, len(arms) - 0.4)
    axes[0].set_ylim(bottom=0)
    axes[0].set_ylabel("Connectivity target to Beam F3 (mm)")
    save_figure(fig, paths)


# --------------------------------------------------------------------------------------
# 4. demo: planted versus recovered target
# --------------------------------------------------------------------------------------


def plot_recovery(
    recovery_table: pd.DataFrame,
    paths: Paths,
    voxel_mm: float,
    arm_colours: Mapping[str, str] = ARM_COLOURS,
    arm_names: Mapping[str, str] | None = None,
) -> None:
    """Distance (mm) between each subject's planted and recovered target, sorted.

    ``recovery_table``: one row per subject (and method), columns ``participant_id`` and
    ``error_mm``; optional ``arm`` (colours the dots) and ``method`` (one panel per
    method). Dotted lines at one and two voxels (``voxel_mm``, the data's voxel size).
    """
    _require_columns(recovery_table, ["participant_id", "error_mm"], "recovery_table")
    if not np.isfinite(voxel_mm) or voxel_mm <= 0:
        raise ValueError(f"voxel_mm must be a positive voxel size in mm, got {voxel_mm}")
    errors = recovery_table["error_mm"].to_numpy(dtype=float)
    if not np.isfinite(errors).all() or (errors < 0).any():
        raise ValueError("recovery_table column 'error_mm' must be finite and >= 0 (mm)")
    has_arm = "arm" in recovery_table.columns
    if has_arm:
        _check_arms(recovery_table["arm"], arm_colours, "recovery_table")
    names = {**ARM_NAMES, **dict(arm_names or {})}
    methods = (
        list(dict.fromkeys(recovery_table["method"].astype(str)))
        if "method" in recovery_table.columns
        else [None]
    )

    apply_style()
    # Constrained layout keeps each panel's axis label clear of the next panel's title.
    fig, axes = plt.subplots(
        len(methods),
        1,
        figsize=(3.5, 0.5 + 2.1 * len(methods)),
        squeeze=False,
        sharey=True,
        layout="constrained",
    )
    top = max(float(errors.max()), 2 * voxel_mm) * 1.4
    for ax, method in zip(axes[:, 0], methods, strict=True):
        rows = (
            recovery_table
            if method is None
            else recovery_table[recovery_table["method"].astype(str) == method]
        )
        rows = rows.sort_values(["error_mm", "participant_id"], kind="mergesort")
        rank = np.arange(len(rows))
        values = rows["error_mm"].to_numpy(dtype=float)
        colours = (
            [arm_colours[str(arm)] for arm in rows["arm"]]
            if has_arm
            else [PALETTE["blue"]] * len(rows)
        )
        ax.vlines(rank, 0, values, colors=colours, linewidth=0.8)
        ax.scatter(rank, values, s=14, c=colours, zorder=3, edgecolors="white", linewidths=0.3)
        for multiple, text in ((1, "1 voxel"), (2, "2 voxels")):
            ax.axhline(multiple * voxel_mm, color=PALETTE["grey"], linestyle=":", linewidth=0.9)
            ax.text(
                -0.5,
                multiple * voxel_mm,
                f"{text} ({multiple * voxel_mm:g} mm)",
                ha="left",
                va="bottom",
                fontsize=7,
                color=PALETTE["black"],
            )
        ax.set_xlim(-1, len(rows))
        ax.set_ylim(0, top)
        if len(rows) <= 20:
            ax.set_xticks(rank, rows["participant_id"].astype(str), rotation=90, fontsize=6)
        else:
            ax.set_xticks([])
        ax.set_xlabel("Participants, sorted by error")
        ax.set_ylabel("Planted to recovered (mm)")
        if method is not None:
            ax.set_title(METHOD_LABELS.get(method, method), fontsize=9, loc="left")
    if has_arm:
        arms = _arm_order(recovery_table["arm"], arm_colours)
        # upper left stays empty: errors are sorted ascending, and the y range has headroom
        axes[0, 0].legend(
            [Patch(color=arm_colours[arm]) for arm in arms],
            [f"{names.get(arm, arm)} arm" for arm in arms],
            loc="upper left",
            ncol=len(arms),
            frameon=False,
            fontsize=7,
        )
    save_figure(fig, paths)
