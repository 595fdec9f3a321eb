"""A miniature fMRIPrep derivatives folder, named file by file as fMRIPrep writes it.

The names come from fMRIPrep's own documentation and code, not from this project's demo:
``docs/outputs.rst`` (anatomical and functional derivatives, "Multi-echo derivatives",
confounds) and ``fmriprep/workflows/bold/outputs.py``:

- fMRIPrep 23.2 to 25.x (``version="24"``): per run ``desc-hmc_boldref`` and
  ``from-orig_to-boldref_mode-image_desc-hmc_xfm.txt`` (head motion),
  ``desc-coreg_boldref`` and ``from-boldref_to-T1w_mode-image_desc-coreg_xfm.txt``
  (coregistration), the boldref ``desc-brain_mask``, with ``--me-output-echos`` the
  per-echo ``echo-K_desc-preproc_bold`` (sidecar with ``EchoTime``) and the
  ``space-boldref_T2starmap``; per template output space the optimally combined
  ``space-<tpl>_res-2_desc-preproc_bold`` (sidecar without ``EchoTime``), its mask and
  boldref; with ``--output-spaces func`` the combined native ``desc-preproc_bold``.
- fMRIPrep 21.0 to 23.1 (``version="22"``): the boldref ``boldref`` (no desc), the
  transforms ``from-scanner_to-T1w_mode-image_xfm.txt`` and its inverse.
- anat/: ``desc-preproc_T1w``, ``desc-brain_mask``, ``dseg``, ``label-*_probseg``, per
  template ``from-T1w_to-<tpl>_mode-image_xfm.h5`` and ``from-<tpl>_to-T1w_...``, and
  ``space-<tpl>_res-2_desc-preproc_T1w``; at the top ``dataset_description.json`` (with
  ``GeneratedBy`` fMRIPrep), ``sub-<id>.html``, ``logs/``.

The confounds table is the real fMRIPrep 21 table nilearn ships with its
``load_confounds`` tests (30 volumes, 3 non-steady-state volumes), read from the installed
package. Images are tiny but real NIfTI files; transforms are real ITK files (affines
written by nitransforms, composites by :func:`tmstarget.transforms.write_itk_composite`).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np

from tmstarget import transforms

NILEARN_CONFOUNDS = "test-v21_desc-confounds_timeseries"
N_VOLUMES = 30  # rows of that table
ECHO_TIMES_S = (0.0142, 0.0385, 0.0628)
REPETITION_TIME_S = 1.5
NATIVE_SHAPE = (12, 14, 10)


def nilearn_confounds() -> tuple[Path, Path]:
    """The real fMRIPrep confounds table (and its JSON) shipped with nilearn."""
    import nilearn.interfaces.fmriprep as package

    data = Path(package.__file__).parent / "data"
    return data / f"{NILEARN_CONFOUNDS}.tsv", data / f"{NILEARN_CONFOUNDS}.json"


def _json(path: Path, content: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content, indent=2))


def _image(path: Path, data: np.ndarray, affine: np.ndarray, tr: float | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = nib.Nifti1Image(data, affine)
    img.header.set_xyzt_units("mm", "sec")
    if tr is not None:
        img.header.set_zooms(img.header.get_zooms()[:3] + (tr,))
    img.to_filename(path)


def native_affine() -> np.ndarray:
    """An oblique acquisition grid (4 mm, tilted 15 degrees, x stored right-to-left)."""
    angle = np.deg2rad(15.0)
    rotation = np.array(
        [[1, 0, 0], [0, np.cos(angle), -np.sin(angle)], [0, np.sin(angle), np.cos(angle)]]
    )
    affine = np.eye(4)
    affine[:3, :3] = rotation @ np.diag([-4.0, 4.0, 4.0])
    affine[:3, 3] = [22.0, -30.0, -20.0]
    return affine


# The subject's registration, RAS: T1w = A (MNI + d(MNI)), boldref = B T1w.
TEMPLATE_TO_T1W = np.array(
    [[1.02, 0.03, 0.0, 2.0], [-0.02, 0.98, 0.05, 15.0], [0.0, -0.04, 1.01, 10.0], [0, 0, 0, 1]]
)
T1W_TO_BOLDREF = np.array(
    [[1.0, 0.02, 0.0, -1.5], [-0.02, 1.0, 0.01, 0.5], [0.0, -0.01, 1.0, 2.0], [0, 0, 0, 1]]
)
FIELD_GRID = np.array([[8.0, 0, 0, -96.0], [0, 8.0, 0, -132.0], [0, 0, 8.0, -78.0], [0, 0, 0, 1]])
FIELD_SHAPE = (25, 29, 25)


def field_mm() -> np.ndarray:
    """A smooth non-zero displacement field (mm, RAS) on FIELD_GRID."""
    ijk = np.stack(np.meshgrid(*map(np.arange, FIELD_SHAPE), indexing="ij"), axis=-1)
    xyz = ijk * 8.0 + FIELD_GRID[:3, 3]
    bump = np.exp(-((xyz - np.array([-30.0, 20.0, 30.0])) ** 2).sum(-1) / (2 * 35.0**2))
    return bump[..., None] * np.array([2.0, -1.5, 1.0])


def write_fmriprep_tree(
    root: Path,
    *,
    version: str = "24",
    subjects: dict[str, list[str | None]] | None = None,
    runs: tuple[str | None, ...] = ("1", "2"),
    echoes: int = 3,
    output_spaces: tuple[str, ...] = ("MNI152NLin6Asym",),
    anat_templates: tuple[str, ...] | None = None,
    output_func: bool = False,
    me_output_echos: bool = True,
    task: str = "rest",
) -> Path:
    """Write a BIDS root with ``derivatives/fmriprep`` as fMRIPrep ``version`` would, for
    ``subjects`` (label -> sessions, None for no session level). Returns the fMRIPrep
    folder."""
    subjects = subjects if subjects is not None else {"01": [None]}
    anat_templates = output_spaces if anat_templates is None else anat_templates
    _json(root / "dataset_description.json", {"Name": "test", "BIDSVersion": "1.8.0"})
    fmriprep = root / "derivatives" / "fmriprep"
    _json(
        fmriprep / "dataset_description.json",
        {
            "Name": "fMRIPrep - fMRI PREProcessing workflow",
            "BIDSVersion": "1.8.0",
            "DatasetType": "derivative",
            "GeneratedBy": [{"Name": "fMRIPrep", "Version": f"{version}.1.1"}],
        },
    )
    (fmriprep / ".bidsignore").write_text(
        "*.html\nlogs/\nfigures/\n*_xfm.*\n*.surf.gii\n*_boldref.nii.gz\n*_bold.func.gii\n"
        "*_mixing.tsv\n*_timeseries.tsv\n"
    )
    (fmriprep / "logs").mkdir(parents=True, exist_ok=True)
    (fmriprep / "logs" / "CITATION.md").write_text("fMRIPrep citation boilerplate\n")
    confounds_tsv, confounds_json = nilearn_confounds()
    rng = np.random.default_rng(0)
    affine = native_affine()
    for subject, sessions in subjects.items():
        (fmriprep / f"sub-{subject}.html").write_text("<html></html>\n")
        anat = fmriprep / f"sub-{subject}" / "anat"
        t1w_affine = np.diag([2.0, 2.0, 2.0, 1.0])
        t1w_affine[:3, 3] = [-90, -110, -70]
        _image(
            anat / f"sub-{subject}_desc-preproc_T1w.nii.gz",
            rng.integers(0, 1000, (20, 24, 20)).astype(np.int16),
            t1w_affine,
        )
        _json(anat / f"sub-{subject}_desc-preproc_T1w.json", {"SkullStripped": False})
        _image(
            anat / f"sub-{subject}_desc-brain_mask.nii.gz",
            np.ones((20, 24, 20), np.uint8),
            t1w_affine,
        )
        _image(anat / f"sub-{subject}_dseg.nii.gz", np.ones((20, 24, 20), np.uint8), t1w_affine)
        for label in ("GM", "WM", "CSF"):
            _image(
                anat / f"sub-{subject}_label-{label}_probseg.nii.gz",
                np.zeros((20, 24, 20), np.float32),
                t1w_affine,
            )
        for template in anat_templates:
            transforms.write_itk_composite(
                anat / f"sub-{subject}_from-T1w_to-{template}_mode-image_xfm.h5",
                TEMPLATE_TO_T1W,
                field_mm(),
                FIELD_GRID,
            )
            transforms.write_itk_composite(
                anat / f"sub-{subject}_from-{template}_to-T1w_mode-image_xfm.h5",
                np.linalg.inv(TEMPLATE_TO_T1W),
            )
            _image(
                anat / f"sub-{subject}_space-{template}_res-2_desc-preproc_T1w.nii.gz",
                np.zeros((9, 11, 9), np.int16),
                np.diag([20.0, 20, 20, 1]),
            )
        (fmriprep / f"sub-{subject}" / "figures").mkdir(exist_ok=True)
        (
            fmriprep / f"sub-{subject}" / "figures" / f"sub-{subject}_desc-summary_T1w.html"
        ).write_text("")
        for session in sessions:
            func = fmriprep / f"sub-{subject}" / (f"ses-{session}" if session else "") / "func"
            for run in runs:
                stem = f"sub-{subject}" + (f"_ses-{session}" if session else "") + f"_task-{task}"
                stem += f"_run-{run}" if run else ""
                _write_run(
                    func,
                    stem,
                    version,
                    echoes,
                    affine,
                    rng,
                    output_spaces,
                    output_func,
                    me_output_echos,
                    confounds_tsv,
                    confounds_json,
                )
    return fmriprep


def _write_run(
    func,
    stem,
    version,
    echoes,
    affine,
    rng,
    output_spaces,
    output_func,
    me_output_echos,
    confounds_tsv,
    confounds_json,
) -> None:
    shape = (*NATIVE_SHAPE, N_VOLUMES)
    timing = {
        "RepetitionTime": REPETITION_TIME_S,
        "TaskName": "rest",
        "SliceTimingCorrected": False,
    }
    if me_output_echos:
        for echo in range(1, echoes + 1):
            data = 3000 * np.exp(-ECHO_TIMES_S[echo - 1] / 0.04) + rng.normal(0, 20, shape)
            _image(
                func / f"{stem}_echo-{echo}_desc-preproc_bold.nii.gz",
                data.astype(np.float32),
                affine,
                REPETITION_TIME_S,
            )
            _json(
                func / f"{stem}_echo-{echo}_desc-preproc_bold.json",
                {"EchoTime": ECHO_TIMES_S[echo - 1], "SkullStripped": False, **timing},
            )
        _image(
            func / f"{stem}_space-boldref_T2starmap.nii.gz",
            np.full(NATIVE_SHAPE, 0.04, np.float32),
            affine,
        )
    if output_func:
        _image(
            func / f"{stem}_desc-preproc_bold.nii.gz",
            rng.normal(1000, 10, shape).astype(np.float32),
            affine,
            REPETITION_TIME_S,
        )
        _json(func / f"{stem}_desc-preproc_bold.json", {"SkullStripped": echoes > 1, **timing})
    _image(func / f"{stem}_desc-brain_mask.nii.gz", np.ones(NATIVE_SHAPE, np.uint8), affine)
    if version == "24":
        _image(
            func / f"{stem}_desc-coreg_boldref.nii.gz", np.ones(NATIVE_SHAPE, np.float32), affine
        )
        _image(func / f"{stem}_desc-hmc_boldref.nii.gz", np.ones(NATIVE_SHAPE, np.float32), affine)
        transforms.write_itk_affine(
            func / f"{stem}_from-boldref_to-T1w_mode-image_desc-coreg_xfm.txt", T1W_TO_BOLDREF
        )
        _write_hmc(func / f"{stem}_from-orig_to-boldref_mode-image_desc-hmc_xfm.txt")
    else:
        _image(func / f"{stem}_boldref.nii.gz", np.ones(NATIVE_SHAPE, np.float32), affine)
        transforms.write_itk_affine(
            func / f"{stem}_from-scanner_to-T1w_mode-image_xfm.txt", T1W_TO_BOLDREF
        )
        transforms.write_itk_affine(
            func / f"{stem}_from-T1w_to-scanner_mode-image_xfm.txt", np.linalg.inv(T1W_TO_BOLDREF)
        )
    shutil.copyfile(confounds_tsv, func / f"{stem}_desc-confounds_timeseries.tsv")
    shutil.copyfile(confounds_json, func / f"{stem}_desc-confounds_timeseries.json")
    for template in output_spaces:
        grid = np.diag([20.0, 20.0, 20.0, 1.0])
        grid[:3, 3] = [-90, -126, -72]
        _image(
            func / f"{stem}_space-{template}_res-2_desc-preproc_bold.nii.gz",
            rng.normal(1000, 10, (9, 11, 9, N_VOLUMES)).astype(np.float32),
            grid,
            REPETITION_TIME_S,
        )
        _json(
            func / f"{stem}_space-{template}_res-2_desc-preproc_bold.json",
            {"SkullStripped": True, **timing},
        )
        _image(
            func / f"{stem}_space-{template}_res-2_desc-brain_mask.nii.gz",
            np.ones((9, 11, 9), np.uint8),
            grid,
        )
        _image(
            func / f"{stem}_space-{template}_res-2_boldref.nii.gz",
            np.ones((9, 11, 9), np.float32),
            grid,
        )


def _write_hmc(path: Path) -> None:
    """A head-motion transform file: one ITK affine per volume (here two)."""
    lines = ["#Insight Transform File V1.0"]
    for index in range(2):
        lines += [
            f"#Transform {index}",
            "Transform: MatrixOffsetTransformBase_double_3_3",
            "Parameters: 1 0 0 0 1 0 0 0 1 0 0 0",
            "FixedParameters: 0 0 0",
        ]
    path.write_text("\n".join(lines) + "\n")
