"""One patient's target report: a single A4 page for the TMS clinician (PDF + PNG).

Draws :class:`tmstarget.patient_report.ReportData` (it computes nothing): the delivered
site on the patient's own T1w and on the MNI152 template, the coil centre on the scalp
with its orientation, the coordinates, the QC verdict with its numbers, this patient's
target stability (split halves, scan-length curve, bootstrap; unblinded reports only),
the distance to Beam F3, the input checksums and software versions.

Views are in the **neurological convention** (the patient's left on the left of coronal
and axial views, anterior on the right of sagittal views), each labelled L/R, A/P, S/I.
Slices are sampled from the images in world (RAS mm) coordinates through the site, so an
oblique T1w is shown upright.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable
from pathlib import Path

import matplotlib.pyplot as plt
import nibabel as nib
import numpy as np
from matplotlib.gridspec import GridSpec
from scipy import ndimage

from tmstarget.patient_report import ReportData, ReportSite
from tmstarget.style import PALETTE, apply_style, save_figure

# (horizontal, vertical) world axes of each view and the letters at their ends.
_VIEWS = {
    "sagittal": (1, 2, ("P", "A"), ("I", "S")),
    "coronal": (0, 2, ("L", "R"), ("I", "S")),
    "axial": (0, 1, ("L", "R"), ("P", "A")),
}
_NORMAL_AXIS = {"sagittal": 0, "coronal": 1, "axial": 2}
HALF_WIDTH_MM = 60.0
# Characters per footer line (5.5 pt across the page).
FOOTER_CHARACTERS = 190
STEP_MM = 0.5
FLAG_TEXT = {
    "mean_fd": "mean head motion (FD)",
    "fd_above": "share of high-motion frames",
    "censored": "share of censored frames",
    "tsnr": "signal-to-noise (tSNR)",
}
GLOSSARY = (
    "RAS mm: x to the patient's right, y to the front, z up. T1w (native): the patient's own "
    "anatomical image as fMRIPrep wrote it; load that image in the navigation system.",
    "MNI152: the standard brain template the targets are found in. FD: framewise displacement "
    "(head motion between volumes). tSNR: temporal signal-to-noise ratio.",
    "Split-half distance: how far apart the targets of the first and second half of the scan "
    "are. Bootstrap radius: the sphere around the target holding 95% of the targets found "
    "on resampled blocks of the scan (smaller is steadier).",
)


def template_background() -> nib.Nifti1Image:
    """nilearn's bundled 1 mm MNI152 T1 template (no download), the background of the
    template views.

    Returns
    -------
    nibabel.Nifti1Image
        The template image (1 mm voxels, its affine maps voxels to MNI mm).
    """
    from nilearn import datasets

    return datasets.load_mni152_template(resolution=1)


def _plane(
    img: nib.spatialimages.SpatialImage,
    centre_mm: Iterable[float],
    view: str,
    order: int = 1,
    half_width_mm: float = HALF_WIDTH_MM,
) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """The slice of ``img`` through ``centre_mm`` in ``view``, sampled every
    :data:`STEP_MM` in world space (rows: vertical axis upwards), and its extent."""
    centre = np.asarray(list(centre_mm), dtype=float)
    h, v, _, _ = _VIEWS[view]
    offsets = np.arange(-half_width_mm, half_width_mm + STEP_MM / 2, STEP_MM)
    hh, vv = np.meshgrid(centre[h] + offsets, centre[v] + offsets)
    world = np.repeat(centre[None, :], hh.size, axis=0)
    world[:, h] = hh.ravel()
    world[:, v] = vv.ravel()
    ijk = nib.affines.apply_affine(np.linalg.inv(img.affine), world)
    data = np.asarray(img.dataobj, dtype=np.float32)
    if data.ndim > 3:
        data = data[..., 0]
    values = ndimage.map_coordinates(data, ijk.T, order=order, mode="constant", cval=np.nan)
    extent = (
        centre[h] - half_width_mm,
        centre[h] + half_width_mm,
        centre[v] - half_width_mm,
        centre[v] + half_width_mm,
    )
    return values.reshape(hh.shape), extent


def _label_axes(ax: plt.Axes, view: str) -> None:
    _, _, (left, right), (bottom, top) = _VIEWS[view]
    style = {
        "transform": ax.transAxes,
        "fontsize": 7,
        "color": "white",
        "weight": "bold",
        "bbox": {"boxstyle": "square,pad=0.15", "facecolor": "black", "alpha": 0.6, "linewidth": 0},
    }
    ax.text(0.03, 0.5, left, ha="left", va="center", **style)
    ax.text(0.97, 0.5, right, ha="right", va="center", **style)
    ax.text(0.5, 0.03, bottom, ha="center", va="bottom", **style)
    ax.text(0.5, 0.97, top, ha="center", va="top", **style)
    ax.set_xticks([])
    ax.set_yticks([])


def _grey(ax: plt.Axes, img, centre, view) -> tuple[float, float, float, float]:
    values, extent = _plane(img, centre, view)
    finite = values[np.isfinite(values)]
    top = float(np.percentile(finite, 99.5)) if finite.size else 1.0
    ax.imshow(
        np.nan_to_num(values),
        origin="lower",
        extent=extent,
        cmap="gray",
        vmin=0,
        vmax=top or 1.0,
        interpolation="bilinear",
    )
    return extent


def _marker(ax: plt.Axes, point, view, **style) -> None:
    h, v, _, _ = _VIEWS[view]
    ax.scatter([point[h]], [point[v]], zorder=5, clip_on=True, **style)


def _finish_view(ax: plt.Axes, view: str, target_mm) -> None:
    """The target's cross on top, the orientation letters and the slice's coordinate."""
    _marker(ax, target_mm, view, s=70, marker="+", color=PALETTE["vermillion"], linewidths=1.6)
    _label_axes(ax, view)
    axis = _NORMAL_AXIS[view]
    ax.set_title(f"{view} ({'xyz'[axis]} = {target_mm[axis]:.1f} mm)", fontsize=7)


def _native_row(fig, grid, site: ReportSite, t1w_img) -> list[plt.Axes]:
    axes = []
    for column, view in enumerate(_VIEWS):
        ax = fig.add_subplot(grid[column])
        axes.append(ax)
        _grey(ax, t1w_img, site.native_mm, view)
        h, v, _, _ = _VIEWS[view]
        if site.coil_mm is not None:
            coil = np.asarray(site.coil_mm)
            ax.plot(
                [coil[h], site.native_mm[h]],
                [coil[v], site.native_mm[v]],
                color=PALETTE["yellow"],
                linewidth=1.0,
                zorder=4,
            )
            _marker(
                ax,
                coil,
                view,
                s=40,
                marker="o",
                facecolors="none",
                edgecolors=PALETTE["yellow"],
                linewidths=1.4,
            )
            if site.handle is not None:
                tip = coil + 25.0 * np.asarray(site.handle)
                ax.annotate(
                    "",
                    xy=(tip[h], tip[v]),
                    xytext=(coil[h], coil[v]),
                    arrowprops={"arrowstyle": "-|>", "color": PALETTE["sky"], "linewidth": 1.2},
                    zorder=6,
                )
        _finish_view(ax, view, site.native_mm)
    return axes


def _template_row(
    fig, grid, data: ReportData, template_img, score_img, probability_img
) -> list[plt.Axes]:
    site = data.delivered
    axes = []
    for column, view in enumerate(_VIEWS):
        ax = fig.add_subplot(grid[column])
        axes.append(ax)
        extent = _grey(ax, template_img, site.mni_mm, view)
        if score_img is not None:
            score, _ = _plane(score_img, site.mni_mm, view, order=0)
            shown = np.where(np.isfinite(score) & (score != 0), score, np.nan)
            finite = np.abs(shown[np.isfinite(shown)])
            top = float(finite.max()) if finite.size else 1.0
            ax.imshow(
                shown,
                origin="lower",
                extent=extent,
                cmap="RdBu_r",
                vmin=-top,
                vmax=top,
                alpha=0.75,
                interpolation="nearest",
            )
        if probability_img is not None:
            probability, _ = _plane(probability_img, site.mni_mm, view, order=0)
            probability = np.nan_to_num(probability)
            if probability.max() > 0:
                ax.contour(
                    probability > 0,
                    levels=[0.5],
                    extent=extent,
                    origin="lower",
                    colors=PALETTE["green"],
                    linewidths=0.9,
                )
        for other in data.others:
            _marker(
                ax,
                other.mni_mm,
                view,
                s=45,
                marker="s",
                facecolors="none",
                edgecolors=PALETTE["orange"],
                linewidths=1.4,
            )
        _finish_view(ax, view, site.mni_mm)
    return axes


def _xyz(point) -> str:
    if point is None:
        return "n/a"
    return "(" + ", ".join(f"{value:+.1f}" for value in point) + ")"


def _coordinates_text(data: ReportData) -> str:
    site = data.delivered
    lines = [
        f"Delivered site: {site.label}",
        f"  target, T1w (native) RAS mm     {_xyz(site.native_mm)}",
        f"  coil centre on scalp, T1w RAS mm {_xyz(site.coil_mm)}",
    ]
    if not data.blind:
        lines.insert(2, f"  target, {data.template} RAS mm  {_xyz(site.mni_mm)}")
    if site.coil_to_target_mm is not None:
        lines.append(f"  scalp-to-target depth           {site.coil_to_target_mm:.1f} mm")
    if site.handle is not None:
        lines += [
            f"  coil handle {data.handle_angle_deg:g} deg from the midline, pointing backwards",
            f"    (handle direction, unit vector {_xyz(site.handle).replace('+', '')})",
        ]
    for other in data.others:
        lines += [
            f"{other.label} (for comparison)",
            f"  T1w RAS mm {_xyz(other.native_mm)}   {data.template} {_xyz(other.mni_mm)}",
        ]
    if data.beam_f3_distance_mm is not None:
        lines.append(
            "Distance delivered site - Beam F3 (template, cortex): "
            f"{data.beam_f3_distance_mm:.1f} mm"
        )
    return "\n".join(lines)


def _qc_text(data: ReportData) -> tuple[str, str, str]:
    qc = data.qc
    m, t = qc.metrics, qc.thresholds
    if qc.passed:
        verdict, colour = "QC PASSED", PALETTE["green"]
    else:
        names = ", ".join(FLAG_TEXT.get(flag, flag) for flag in qc.flags)
        verdict, colour = f"QC FLAGGED: {names}", PALETTE["vermillion"]
    numbers = (
        f"mean head motion (FD) {m['mean_fd_mm']:.2f} mm (limit {t['max_mean_fd_mm']:g} mm); "
        f"high-motion frames {m['pct_fd_above']:.1f}% (limit {t['max_pct_fd_above']:g}%)\n"
        f"censored frames {m['pct_censored']:.1f}% (limit {t['max_pct_censored']:g}%); "
        f"median tSNR {m['median_tsnr_before']:.0f} (at least {t['min_median_tsnr']:g}); "
        f"{m['n_kept']} of {m['n_volumes']} volumes used"
    )
    return verdict, colour, numbers


def _stability_text(data: ReportData) -> str:
    s = data.stability
    if s is None:
        return ""
    lines = [
        f"Split-half distance: {s.split_half_mm:.1f} mm (two halves of {s.full_minutes / 2:.1f} "
        "min each; the trial's group median was 4.5 mm)"
    ]
    if s.n_resamples:
        lines.append(
            f"Bootstrap ({s.n_resamples} resamples): {100 * s.confidence:.0f}% of targets within "
            f"{s.radius_mm:.1f} mm; {100 * s.share_within_coil:.0f}% within one coil radius "
            f"({s.coil_radius_mm:g} mm)"
        )
    coil = s.coil_radius_mm if np.isfinite(s.coil_radius_mm) else None
    moves = [
        what
        for what, distance in (
            ("between the halves", s.split_half_mm),
            ("in the bootstrap", s.radius_mm),
        )
        if coil is not None and np.isfinite(distance) and distance > coil
    ]
    if moves:
        lines.append(
            f"CAUTION: the target moves more than one coil radius ({coil:g} mm) "
            f"{' and '.join(moves)}: it is not stable on this scan; a longer scan would steady it."
        )
    return "\n".join(lines)


def _curve(ax: plt.Axes, data: ReportData) -> None:
    s = data.stability
    ax.plot(
        s.curve["minutes"],
        s.curve["distance_mm"],
        marker="o",
        markersize=3,
        color=PALETTE["blue"],
        linewidth=1.0,
    )
    if np.isfinite(s.radius_mm):
        ax.axhline(
            s.radius_mm,
            color=PALETTE["green"],
            linestyle="--",
            linewidth=0.8,
            label=f"bootstrap {100 * s.confidence:.0f}% radius",
        )
        ax.legend(fontsize=6, frameon=False, loc="upper right")
    ax.set_xlabel("minutes of scan used (from the start)", fontsize=7)
    ax.set_ylabel("distance to full-scan target (mm)", fontsize=7)
    ax.set_title("Scan-length curve (this patient)", fontsize=8)
    ax.tick_params(labelsize=6)
    ax.set_ylim(bottom=0)


def _section_title(fig: plt.Figure, axes: list[plt.Axes], text: str, legend: str = "") -> None:
    """A bold line (and a legend line in small print) above a row of views."""
    top = axes[0].get_position().y1
    fig.text(0.06, top + (0.031 if legend else 0.022), text, fontsize=9, weight="bold", va="bottom")
    if legend:
        fig.text(0.06, top + 0.019, legend, fontsize=7, va="bottom")


def plot_patient_report(
    data: ReportData,
    t1w_img: nib.spatialimages.SpatialImage,
    template_img: nib.spatialimages.SpatialImage,
    paths: Iterable[str | Path],
    score_img: nib.spatialimages.SpatialImage | None = None,
    probability_img: nib.spatialimages.SpatialImage | None = None,
) -> None:
    """Draw ``data`` on one A4 page and save it to every path (PDF and PNG).

    ``t1w_img``: the patient's T1w (fMRIPrep ``desc-preproc_T1w``, the space of the
    native coordinates); ``template_img``: the template of the ``mni_mm`` coordinates;
    ``score_img`` and ``probability_img`` (the method's score map and the bootstrap's
    probability map, template space) are drawn when given (never on a blinded report).

    Parameters
    ----------
    data : ReportData
        The report's content (:func:`tmstarget.patient_report.report_data`): the sites
        with their T1w (native) and MNI coordinates (mm, RAS), coil pose, QC and
        stability.
    t1w_img : nibabel.spatialimages.SpatialImage
        The patient's T1w, in whose world space (RAS mm) the native coordinates lie.
    template_img : nibabel.spatialimages.SpatialImage
        The template whose world space the ``mni_mm`` coordinates are in (e.g.
        :func:`template_background`).
    paths : iterable of str or Path
        The files to write, format from each suffix (PDF, PNG at 300 dpi).
    score_img : nibabel.spatialimages.SpatialImage, optional
        The method's score map (template space); None: not drawn.
    probability_img : nibabel.spatialimages.SpatialImage, optional
        The bootstrap's probability map of the target (template space); None: not drawn.

    Raises
    ------
    ValueError
        When the delivered site has no T1w coordinates, or a blinded report is given a
        score or probability map.
    OutputWriteError
        When a figure file cannot be written (:func:`tmstarget.style.save_figure`).
    """
    if data.delivered.native_mm is None:
        raise ValueError(
            f"{data.participant_id}: the delivered site has no T1w coordinates (no "
            "template-to-T1w transform): a report for navigation needs them"
        )
    if data.blind and (score_img is not None or probability_img is not None):
        raise ValueError("a blinded report shows no score or probability map")
    apply_style()
    fig = plt.figure(figsize=(8.27, 11.69))
    outer = GridSpec(
        6,
        1,
        figure=fig,
        height_ratios=[0.45, 2.1, 2.1, 1.55, 0.75, 1.05],
        hspace=0.42,
        left=0.06,
        right=0.97,
        top=0.965,
        bottom=0.02,
    )
    header = fig.add_subplot(outer[0])
    header.axis("off")
    kind = "blinded technician copy" if data.blind else "left DLPFC, connectivity-guided"
    header.text(
        0,
        1,
        f"{data.participant_id}: TMS target report ({kind})",
        fontsize=13,
        weight="bold",
        va="top",
    )
    header.text(
        0,
        0.25,
        "Red +: target in the cortex. Yellow circle: coil centre on the scalp (line: coil "
        "axis to the target).\nBlue arrow: coil handle direction. Neurological view: the "
        "patient's left on the left.",
        fontsize=7,
        va="top",
    )

    native = outer[1].subgridspec(1, 3, wspace=0.05)
    axes = _native_row(fig, native, data.delivered, t1w_img)
    _section_title(
        fig,
        axes,
        "On the patient's own T1w (native space: load this image in the navigation system)",
    )
    if data.blind:
        # no template view: like the technician's files, a blinded page holds the site in
        # the patient's own space only
        note = fig.add_subplot(outer[2])
        note.axis("off")
        note.text(
            0,
            0.9,
            "Blinded copy: the template view, the method, its scores and the "
            "target's stability are in the unblinded report only.",
            fontsize=8,
            va="top",
        )
    else:
        template = outer[2].subgridspec(1, 3, wspace=0.05)
        axes = _template_row(fig, template, data, template_img, score_img, probability_img)
        overlay = []
        if score_img is not None:
            overlay.append("colours: score map (red: higher)")
        if probability_img is not None:
            overlay.append("green outline: bootstrap target locations")
        if data.others:
            overlay.append("orange square: Beam F3")
        title = f"On the {data.template} template"
        _section_title(fig, axes, title, "; ".join(overlay))

    middle = outer[3].subgridspec(1, 2, width_ratios=[1.5, 1.0], wspace=0.25)
    text_ax = fig.add_subplot(middle[0])
    text_ax.axis("off")
    text_ax.text(
        0, 1, _coordinates_text(data), family="monospace", fontsize=7, va="top", linespacing=1.45
    )
    if data.stability is not None and len(data.stability.curve):
        _curve(fig.add_subplot(middle[1]), data)

    qc_ax = fig.add_subplot(outer[4])
    qc_ax.axis("off")
    verdict, colour, numbers = _qc_text(data)
    qc_ax.text(0, 1, verdict, fontsize=10, weight="bold", color=colour, va="top")
    qc_ax.text(0, 0.62, numbers, fontsize=7, va="top", linespacing=1.4)
    stability = _stability_text(data)
    if stability:
        qc_ax.text(0, 0.05, stability, fontsize=7, va="top", linespacing=1.4)

    footer = fig.add_subplot(outer[5])
    footer.axis("off")
    checksums = "; ".join(f"{name} {digest[:12]}" for name, digest in data.inputs)
    versions = ", ".join(f"{name} {version}" for name, version in data.versions.items())
    lines = [*(GLOSSARY[:2] if data.blind else GLOSSARY)]
    lines.append(f"Inputs (SHA-256, first 12 hex digits): {checksums or 'n/a'}")
    lines.append(f"Software: {versions}")
    # wrapped here (matplotlib's own wrapping lays the text out again on every draw)
    text = "\n".join(
        "\n".join(textwrap.wrap(line, FOOTER_CHARACTERS, break_on_hyphens=False)) for line in lines
    )
    footer.text(0, 1, text, fontsize=5.5, va="top", linespacing=1.5)
    # one exact A4 page (not trimmed to the drawing): it prints at its size
    with plt.rc_context({"savefig.bbox": "standard"}):
        save_figure(fig, paths)
