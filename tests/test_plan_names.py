"""Output names never collide within one plan: a subject's single run without a ``run-``
entity (run key ``task-rest``, as fMRIPrep names a lone run) against the subject's own
joined outputs, which carry the same entities."""

import re

import yaml
from conftest import run_snakemake
from fmriprep_tree import write_fmriprep_tree


def test_a_lone_run_without_run_entity_is_planned(tmp_path):
    write_fmriprep_tree(tmp_path / "bids", subjects={"01": [None]}, runs=(None,))
    config = tmp_path / "lone_run.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "mode": "clinic",
                "demo": {"enabled": False},
                "input": {"bids_dir": "bids"},
                "targets": {"beam_f3": False},
                # the fixture's runs are 30 volumes
                "preprocess": {"min_volumes": 20},
            }
        )
    )
    result = run_snakemake(tmp_path, "-n", "--quiet", "rules", configfiles=[config])
    assert result.returncode == 0, result.output[-3000:]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", result.output, re.MULTILINE))
    assert counts["prepare_run"] == "1"
    assert counts["clean_subject"] == "1"
    assert counts["find_targets"] == "1"
