"""Nuisance strategies read fMRIPrep's confounds table by fMRIPrep's column names, checked
on a real fMRIPrep 21 table (shipped with nilearn's load_confounds tests)."""

import numpy as np
import pandas as pd
import pytest
from fmriprep_tree import nilearn_confounds

from tmstarget import confounds


@pytest.fixture
def table() -> pd.DataFrame:
    return confounds.read_confounds(nilearn_confounds()[0])


def test_real_table_reads_with_its_dummy_volumes(table):
    assert table.shape == (30, 84)
    assert confounds.dummy_volumes(table) == 3
    # fMRIPrep writes n/a in the first row of derivatives
    assert np.isnan(table.loc[0, "trans_x_derivative1"])


@pytest.mark.parametrize(
    ("strategy", "n_columns"),
    [("trial", 15), ("trial_nogsr", 14), ("24p", 24), ("36p", 36), ("acompcor", 12 + 5 + 1)],
)
def test_strategies_take_fmriprep_columns(table, strategy, n_columns):
    trimmed = table.iloc[3:].reset_index(drop=True)
    design = confounds.nuisance_design(trimmed, strategy)
    assert design.shape == (27, n_columns)
    assert np.isfinite(design.to_numpy()).all()
    # fMRIPrep's own derivative columns, not recomputed
    if "trans_x_derivative1" in design:
        np.testing.assert_array_equal(design["trans_x_derivative1"], trimmed["trans_x_derivative1"])


def test_acompcor_takes_the_combined_mask_components_and_cosines(table):
    columns = confounds.strategy_columns(table, "acompcor")
    assert [c for c in columns if "comp_cor" in c] == [f"a_comp_cor_0{k}" for k in range(5)]
    assert "cosine00" in columns and not any(c.startswith(("c_comp", "w_comp")) for c in columns)


def test_first_row_derivative_is_zero_without_dummy_volumes(table):
    design = confounds.nuisance_design(table.drop(columns=[c for c in table if "non_steady" in c]))
    assert design.loc[0, "trans_x_derivative1"] == 0.0


def test_missing_values_and_columns_name_the_file(table):
    broken = table.iloc[3:].reset_index(drop=True)
    broken.loc[4, "csf"] = np.nan
    with pytest.raises(confounds.ConfoundsError, match=r"csf in run\.tsv has missing .* \[4\]"):
        confounds.nuisance_design(broken, source="run.tsv")
    with pytest.raises(confounds.ConfoundsError, match=r"lack column\(s\) \['global_signal'\]"):
        confounds.nuisance_design(table.drop(columns="global_signal"))
    with pytest.raises(confounds.ConfoundsError, match="preprocess.nuisance_columns"):
        confounds.nuisance_design(table, columns=["trans_x", "no_such_column"])
    with pytest.raises(confounds.ConfoundsError, match="preprocess.nuisance must be one of"):
        confounds.nuisance_design(table, "all_of_them")


def test_non_steady_state_columns_must_flag_the_first_volumes(table):
    moved = table.copy()
    moved["non_steady_state_outlier02"] = 0.0
    moved.loc[10, "non_steady_state_outlier02"] = 1.0
    with pytest.raises(confounds.ConfoundsError, match=r"flag volumes \[0, 1, 10\]"):
        confounds.dummy_volumes(moved, "run.tsv")
