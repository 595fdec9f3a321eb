"""Provenance: software versions, the configuration as run, the manuscript manifest."""

import hashlib

import pandas as pd
import pytest
import yaml

from tmstarget import provenance


def test_software_versions_lists_python_and_the_pins():
    versions = provenance.software_versions(["numpy", "no-such-package-xyz"])
    table = dict(zip(versions["software"], versions["version"], strict=True))
    import numpy

    assert table["numpy"] == numpy.__version__
    assert table["no-such-package-xyz"] == "not installed"
    assert table["python"].count(".") == 2
    # Every key package of the default list is installed here (they are pinned).
    default = provenance.software_versions()
    assert (default["version"] != "not installed").all(), default


def test_config_yaml_is_sorted_and_round_trips():
    config = {"b": {"y": [1, 2], "x": (3.5, "a")}, "a": True}
    text = provenance.config_yaml(config)
    assert text.index("a: true") < text.index("b:")
    assert yaml.safe_load(text) == {"a": True, "b": {"x": [3.5, "a"], "y": [1, 2]}}
    assert provenance.config_yaml(dict(reversed(list(config.items())))) == text


def test_caption_text_takes_the_first_paragraph_without_markup(tmp_path):
    caption = tmp_path / "caption.rst"
    caption.write_text(
        "The **median** reduction of ``MADRS`` at\n{{ snakemake.config['x'] }} month.\n\n"
        "Second paragraph.\n"
    )
    rendered = provenance.caption_text(caption, {"x": 1})
    assert rendered == "The median reduction of MADRS at 1 month."
    assert provenance.caption_text(None) == ""


def test_manifest_checksums_sizes_and_links(tmp_path):
    figures = tmp_path / "results" / "figures"
    figures.mkdir(parents=True)
    (figures / "a.png").write_bytes(b"png bytes")
    (figures / "a.pdf").write_bytes(b"%PDF")
    (tmp_path / "a.rst").write_text("Figure A.\n")
    items = [
        provenance.ManuscriptItem(
            "Outcomes", "figure", str(figures / "a.png"), str(tmp_path / "a.rst")
        ),
        provenance.ManuscriptItem(
            "Outcomes", "figure", str(figures / "a.pdf"), str(tmp_path / "a.rst")
        ),
    ]
    table = provenance.manifest(items, root=tmp_path)
    assert list(table["path"]) == ["results/figures/a.png", "results/figures/a.pdf"]
    assert list(table["bytes"]) == [9, 4]
    assert table["sha256"].iloc[0] == hashlib.sha256(b"png bytes").hexdigest()
    assert list(table["format"]) == ["png", "pdf"]
    page = provenance.manifest_markdown(table, "Manuscript", page_dir="results/manuscript")
    # One entry per figure, both formats linked relative to the page's folder.
    assert page.count("**a**") == 1
    assert "[png](../figures/a.png), [pdf](../figures/a.pdf)" in page
    assert "Figure A." in page


def test_manifest_names_a_missing_file(tmp_path):
    item = provenance.ManuscriptItem("Targets", "table", str(tmp_path / "gone.tsv"))
    with pytest.raises(FileNotFoundError, match="gone.tsv"):
        provenance.manifest([item], root=tmp_path)
    assert isinstance(provenance.manifest([], root=tmp_path), pd.DataFrame)
