"""tmstarget.outputs: declared outputs looked up by name."""

from pathlib import Path

import pytest

from tmstarget.outputs import by_name, name_of


def test_by_name_groups_each_tables_and_figures_files_in_order():
    declared = by_name(
        ["r/t1.tsv", "r/t2.tsv", "r/t1.md", "r/t1.tex", "r/t2.md", "r/t2.tex", "f/t1.png"]
    )
    assert list(declared) == ["t1", "t2"]
    assert declared["t1"] == [Path(p) for p in ("r/t1.tsv", "r/t1.md", "r/t1.tex", "f/t1.png")]
    assert declared["t2"] == [Path("r/t2.tsv"), Path("r/t2.md"), Path("r/t2.tex")]
    assert name_of("results/x/sub-01_desc-clean_bold.nii.gz") == "sub-01_desc-clean_bold"


def test_an_undeclared_name_is_an_error_naming_it():
    declared = by_name(["r/consort.tsv", "r/visits.tsv"])
    with pytest.raises(KeyError, match="no output named 'forest' .*consort, visits"):
        declared["forest"]
    assert declared.one("visits") == Path("r/visits.tsv")
    with pytest.raises(ValueError, match="2 outputs named 'consort'"):
        by_name(["r/consort.png", "r/consort.pdf"]).one("consort")
