"""tmstarget.denoise is a package along the stage's seams (issue 17): every name of the
flat module it was still imports from ``tmstarget.denoise``, its modules import no circle,
and no function is longer than 100 lines."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import assert_no_import_circle, long_functions, sibling_imports

import tmstarget.denoise as denoise

# Every public name of the flat module tmstarget/denoise.py before it became a package,
# and the private one a test reaches (_like).
FLAT_DENOISE_NAMES = """
LGR MOTION_COLUMNS TISSUE_COLUMNS FD_COLUMN SUMMARY_NAME Mode ImgLike QC_THRESHOLDS
PREPROCESS TEDANA CleaningSettings TedanaSettings PreprocessingError RunInfo validate_run
drop_dummy_volumes TedanaResult component_summary run_tedana read_tedana_result
framewise_displacement nuisance_regressors CleanResult clean_run clean_series
series_mean_sd smooth_within_mask smooth_series normalise_run concatenate_runs
normalise_series tsnr carpet_matrix carpet_rows qc_metrics RunQC CleanedRun
postprocess_run ReferenceSummary reference_summary CleanedSeries postprocess_series
SubjectQC combine_run_qc qc_flags flag_qc RunInput SubjectResult cleaning_options
run_dummies clean_subject group_qc_table _like
""".split()
NEW_NAMES = ["run_inputs", "qc_metrics_record"]
PACKAGE = Path(denoise.__file__).parent
MODULES = sorted(path.stem for path in PACKAGE.glob("*.py") if path.stem != "__init__")


@pytest.mark.parametrize("name", FLAT_DENOISE_NAMES + NEW_NAMES)
def test_every_name_still_imports_from_the_package(name):
    assert getattr(denoise, name) is not None
    if not name.startswith("_") and name != "LGR":
        assert name in denoise.__all__


def test_all_names_only_what_the_package_has():
    assert len(denoise.__all__) == len(set(denoise.__all__))
    for name in denoise.__all__:
        assert hasattr(denoise, name), name


def test_the_seams():
    assert MODULES == [
        "cleaning",
        "errors",
        "images",
        "qc",
        "settings",
        "subject",
        "tedana",
        "validation",
    ]
    where = {
        "CleaningSettings": "settings",
        "TedanaSettings": "settings",
        "run_tedana": "tedana",
        "TedanaResult": "tedana",
        "postprocess_run": "cleaning",
        "postprocess_series": "cleaning",
        "smooth_within_mask": "cleaning",
        "normalise_series": "cleaning",
        "RunQC": "qc",
        "SubjectQC": "qc",
        "group_qc_table": "qc",
        "carpet_rows": "qc",
        "qc_metrics_record": "qc",
        "RunInput": "subject",
        "clean_subject": "subject",
        "SubjectResult": "subject",
        "run_inputs": "subject",
    }
    for name, module in where.items():
        assert getattr(denoise, name).__module__ == f"tmstarget.denoise.{module}", name


def test_denoise_modules_import_no_circle():
    graph = {
        module: sibling_imports(PACKAGE / f"{module}.py", "tmstarget.denoise") for module in MODULES
    }
    for module, imported in graph.items():
        assert imported <= set(MODULES), (module, imported)
    assert_no_import_circle(graph, "tmstarget.denoise")


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda path: path.name)
def test_no_function_over_100_lines(path):
    long = long_functions(path, 100)
    assert not long, long


# --------------------------------------------------------------------------------------
# What scripts/clean_subject.py now asks of the package
# --------------------------------------------------------------------------------------


def _columns(n=2):
    return (
        [f"task-rest_run-{i + 1}" for i in range(n)],
        [f"bold{i}.nii.gz" for i in range(n)],
        [f"mask{i}.nii.gz" for i in range(n)],
        [f"confounds{i}.tsv" for i in range(n)],
        [2.0] * n,
        [4, None][:n],
    )


def test_run_inputs_of_tedana_outputs():
    components = denoise.component_summary(None)
    summaries = [
        {"mode": "me-ica", "components": components},
        {"mode": "external", "components": components},
    ]
    runs = denoise.run_inputs(
        *_columns(), references=["optcom0.nii.gz", "optcom1.nii.gz"], summaries=summaries
    )
    assert [run.label for run in runs] == ["task-rest_run-1", "task-rest_run-2"]
    assert [run.reference for run in runs] == ["optcom0.nii.gz", "optcom1.nii.gz"]
    assert [run.mode for run in runs] == ["me-ica", "external"]
    # tedana dropped the dummies; data denoised elsewhere tell by their length
    assert [run.dummies_dropped for run in runs] == [True, None]
    assert [run.n_dummy for run in runs] == [4, None]
    assert runs[0].components == components
    assert runs[1].bold == "bold1.nii.gz" and runs[1].confounds == "confounds1.tsv"


def test_run_inputs_of_data_denoised_elsewhere():
    runs = denoise.run_inputs(*_columns())
    assert all(run.reference is None and run.mode == "external" for run in runs)
    assert all(run.dummies_dropped is None and run.components is None for run in runs)


def test_run_inputs_errors():
    labels, bold, masks, confounds, trs, dummies = _columns()
    with pytest.raises(denoise.PreprocessingError, match="2 runs .* but 1 masks"):
        denoise.run_inputs(labels, bold, masks[:1], confounds, trs, dummies)
    with pytest.raises(denoise.PreprocessingError, match="go together"):
        denoise.run_inputs(*_columns(), references=["a", "b"])
    with pytest.raises(denoise.PreprocessingError, match="but 1 summaries"):
        denoise.run_inputs(
            *_columns(), references=["a", "b"], summaries=[{"mode": "me-ica", "components": {}}]
        )


def test_qc_metrics_record_round_trips_through_the_group_table(tmp_path):
    def run(n, censored, mode):
        kept = np.ones(n, bool)
        kept[censored] = False
        tsnr_map = np.zeros((4, 4, 4), np.float32)
        tsnr_map[1:3, 1:3, 1:3] = 40
        return denoise.RunQC(
            mode=mode,
            tsnr_before=tsnr_map,
            tsnr_after=tsnr_map,
            carpet_before=np.zeros((3, n), np.float32),
            carpet_after=np.zeros((3, n), np.float32),
            fd_mm=np.full(n, 0.1, np.float32),
            kept=kept,
            metrics={},
            components={**denoise.component_summary(None), "n_accepted": 3, "n_rejected": 2},
        )

    qc = denoise.combine_run_qc(
        "07", [run(60, [5, 6], "me-ica"), run(50, [49], "optcom")], ["run-1", "run-2"]
    )
    record = denoise.qc_metrics_record("07", qc)
    assert record["participant_id"] == "sub-07"
    assert [r["censored_volumes"] for r in record["runs"]] == [[5, 6], [49]]
    assert [r["volumes"] for r in record["runs"]] == [60, 50]
    assert "components" not in record["runs"][0]["components"]
    assert record["metrics"] == qc.metrics
    path = tmp_path / "sub-07_desc-qc_metrics.json"
    path.write_text(json.dumps(record))
    table = denoise.group_qc_table([path])
    row = table.iloc[0]
    assert row["participant_id"] == "sub-07" and row["n_runs"] == 2
    assert row["n_volumes"] == 110 and row["modes"] == "me-ica,optcom"
    assert row["n_accepted"] == 6 and row["n_rejected"] == 4
