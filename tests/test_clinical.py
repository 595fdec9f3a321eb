"""Loading and validating the clinical tables of a BIDS dataset.

Also home of :func:`toy_tables` / :func:`write_bids`, a small synthetic cohort in the exact
file format, imported by the other outcome test modules.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tmstarget import clinical
from tmstarget.clinical import ClinicalDataError

VISITS = list(clinical.DEFAULT_VISITS)
DAYS = [0, 1, 2, 3, 4, 5, 6, 12, 35]


def toy_tables(
    n_per_arm: int = 20,
    seed: int = 0,
    missing_primary: tuple[str, ...] = ("sub-40",),
    month1_reduction: tuple[float, float] = (0.68, 0.52),
) -> dict[str, pd.DataFrame]:
    """A synthetic cohort as the four raw tables (strings, as they sit in the files).

    Both arms improve alike during treatment; at month 1 the mean fractional reduction is
    ``month1_reduction`` (connectivity, scalp). Participants in ``missing_primary`` have
    no month-1 row.
    """
    rng = np.random.default_rng(seed)
    n = 2 * n_per_arm
    ids = [f"sub-{i + 1:02d}" for i in range(n)]
    arms = ["connectivity", "scalp"] * n_per_arm
    participants = pd.DataFrame(
        {
            "participant_id": ids,
            "arm": arms,
            "age": rng.integers(22, 80, n).astype(str),
            "sex": rng.choice(["F", "M"], n),
            "n_failed_treatments": rng.integers(2, 9, n).astype(str),
            "nasion_inion_cm": np.round(rng.normal(35, 1.5, n), 1).astype(str),
            "tragus_tragus_cm": np.round(rng.normal(35.5, 1.5, n), 1).astype(str),
            "head_circumference_cm": np.round(rng.normal(57, 2, n), 1).astype(str),
        }
    )
    during = dict(zip(VISITS[:-1], [0, 0.08, 0.15, 0.22, 0.28, 0.33, 0.36, 0.42], strict=True))
    rows = []
    for participant, arm in zip(ids, arms, strict=True):
        baseline = int(np.clip(np.round(rng.normal(33, 5)), 22, 50))
        personal = rng.normal(0, 0.08)
        for visit, day in zip(VISITS, DAYS, strict=True):
            if visit == "month1":
                if participant in missing_primary:
                    continue
                mean = month1_reduction[0] if arm == "connectivity" else month1_reduction[1]
                fraction = mean + personal + rng.normal(0, 0.15)
            else:
                fraction = during[visit] + personal + rng.normal(0, 0.05)
            score = (
                baseline
                if visit == "baseline"
                else int(np.clip(np.round(baseline * (1 - fraction)), 0, 60))
            )
            rows.append(
                {
                    "participant_id": participant,
                    "session_id": visit,
                    "days_since_baseline": str(day),
                    "madrs_total": str(score),
                }
            )
    guesses = ["connectivity", "scalp", "dont_know"]
    blinding = pd.DataFrame(
        {
            "participant_id": ids,
            "participant_guess": rng.choice(guesses, n),
            "rater_guess": rng.choice(guesses, n),
        }
    )
    events = []
    for participant in ids:
        for event_type in ("headache", "scalp_discomfort", "fatigue", "dizziness"):
            if rng.random() < 0.25:
                events.append(
                    {
                        "participant_id": participant,
                        "event_type": event_type,
                        "severity": str(rng.choice(["mild", "moderate"])),
                        "serious": "no",
                    }
                )
    adverse_events = pd.DataFrame(
        events, columns=["participant_id", "event_type", "severity", "serious"]
    )
    return {
        "participants": participants,
        "madrs": pd.DataFrame(rows),
        "blinding": blinding,
        "adverse_events": adverse_events,
    }


FILES = {
    "participants": clinical.PARTICIPANTS_FILE,
    "madrs": clinical.MADRS_FILE,
    "blinding": clinical.BLINDING_FILE,
    "adverse_events": clinical.ADVERSE_EVENTS_FILE,
}


def write_bids(root: Path, tables: dict[str, pd.DataFrame]) -> Path:
    """Write the tables where a BIDS dataset keeps them (missing values as n/a)."""
    for name, frame in tables.items():
        path = root / FILES[name]
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(path, sep="\t", index=False, na_rep="n/a")
    return root


def load_toy(root: Path, **kwargs) -> clinical.ClinicalData:
    return clinical.load_clinical(write_bids(root, toy_tables(**kwargs)))


@pytest.fixture
def tables() -> dict[str, pd.DataFrame]:
    return toy_tables()


def _load(tmp_path: Path, tables: dict[str, pd.DataFrame], **kwargs) -> clinical.ClinicalData:
    return clinical.load_clinical(write_bids(tmp_path, tables), **kwargs)


def _error(tmp_path: Path, tables: dict[str, pd.DataFrame], **kwargs) -> str:
    with pytest.raises(ClinicalDataError) as caught:
        _load(tmp_path, tables, **kwargs)
    return str(caught.value)


# --------------------------------------------------------------------------------------
# happy path
# --------------------------------------------------------------------------------------


def test_load_toy_cohort(tmp_path, tables):
    data = _load(tmp_path, tables)
    assert len(data.participants) == 40
    assert data.participants["arm"].value_counts().to_dict() == {"connectivity": 20, "scalp": 20}
    assert data.participants["age"].dtype == np.float64
    # 40 x 9 visits minus the one missed month-1 visit
    assert len(data.madrs) == 359
    assert data.madrs["madrs_total"].dtype == np.int64
    first = data.madrs[data.madrs["participant_id"] == "sub-01"]
    assert list(first["session_id"]) == VISITS
    assert data.blinding is not None and len(data.blinding) == 40
    assert set(data.blinding["participant_guess"]) <= {"connectivity", "scalp", "dont_know"}
    assert data.adverse_events is not None and len(data.adverse_events) == len(
        tables["adverse_events"]
    )


def test_custom_arm_labels_are_translated_to_roles(tmp_path, tables):
    relabel = {"connectivity": "fMRI-guided", "scalp": "Beam-F3"}
    tables["participants"]["arm"] = tables["participants"]["arm"].map(relabel)
    for column in ("participant_guess", "rater_guess"):
        tables["blinding"][column] = tables["blinding"][column].replace(relabel)
    data = _load(tmp_path, tables, arm_labels=relabel)
    assert set(data.participants["arm"]) == {"connectivity", "scalp"}
    assert set(data.participants["arm_label"]) == {"fMRI-guided", "Beam-F3"}
    assert set(data.blinding["participant_guess"]) <= {"connectivity", "scalp", "dont_know"}
    # and the default labels no longer fit
    message = _error(tmp_path, tables)
    assert "unknown arm label 'fMRI-guided'" in message and "column arm" in message


def test_missed_visit_written_as_na_is_dropped_and_ses_prefix_accepted(tmp_path, tables):
    madrs = tables["madrs"]
    madrs.loc[
        (madrs["participant_id"] == "sub-02") & (madrs["session_id"] == "week1"), "madrs_total"
    ] = None
    madrs["session_id"] = "ses-" + madrs["session_id"]
    data = _load(tmp_path, tables)
    own = data.madrs[data.madrs["participant_id"] == "sub-02"]
    assert "week1" not in set(own["session_id"])
    assert len(data.madrs) == 358


def test_optional_tables_absent_or_empty(tmp_path, tables):
    del tables["blinding"]
    tables["adverse_events"] = tables["adverse_events"].iloc[0:0]
    data = _load(tmp_path, tables)
    assert data.blinding is None
    assert data.adverse_events is not None and data.adverse_events.empty


def test_visit_list_is_a_parameter(tmp_path, tables):
    madrs = tables["madrs"]
    tables["madrs"] = madrs[madrs["session_id"].isin(["baseline", "eot", "month1"])]
    data = _load(tmp_path, tables, visits=["baseline", "eot", "month1"])
    assert set(data.madrs["session_id"]) == {"baseline", "eot", "month1"}
    # the default visit list does not know a custom visit
    tables["madrs"] = tables["madrs"].replace({"eot": "post"})
    message = _error(tmp_path, tables, visits=["baseline", "eot", "month1"])
    assert "unknown visit 'post'" in message and "column session_id" in message


# --------------------------------------------------------------------------------------
# every validation error names file, participant and column
# --------------------------------------------------------------------------------------


def test_unknown_arm_label(tmp_path, tables):
    tables["participants"].loc[4, "arm"] = "sham"
    message = _error(tmp_path, tables)
    assert message.startswith("participants.tsv")
    assert "participant sub-05" in message and "column arm" in message and "'sham'" in message
    assert "arm_labels" in message  # says how to fix


def test_duplicate_participant_ids(tmp_path, tables):
    tables["participants"].loc[1, "participant_id"] = "sub-01"
    message = _error(tmp_path, tables)
    assert "participants.tsv" in message and "participant sub-01" in message
    assert "column participant_id" in message and "duplicate" in message


def test_malformed_participant_id(tmp_path, tables):
    tables["participants"].loc[2, "participant_id"] = "03"
    message = _error(tmp_path, tables)
    assert "column participant_id" in message and "'03'" in message and "sub-<label>" in message


def test_missing_baseline(tmp_path, tables):
    madrs = tables["madrs"]
    tables["madrs"] = madrs[
        ~((madrs["participant_id"] == "sub-07") & (madrs["session_id"] == "baseline"))
    ]
    message = _error(tmp_path, tables)
    assert message.startswith("phenotype/madrs.tsv")
    assert (
        "participant sub-07" in message
        and "column session_id" in message
        and "no baseline" in message
    )


@pytest.mark.parametrize("bad", ["61", "-1", "75"])
def test_madrs_outside_0_60(tmp_path, tables, bad):
    madrs = tables["madrs"]
    madrs.loc[
        (madrs["participant_id"] == "sub-11") & (madrs["session_id"] == "day3"), "madrs_total"
    ] = bad
    message = _error(tmp_path, tables)
    assert "phenotype/madrs.tsv" in message and "participant sub-11" in message
    assert "column madrs_total" in message and "outside 0-60" in message


def test_madrs_not_a_whole_number(tmp_path, tables):
    madrs = tables["madrs"]
    madrs.loc[
        (madrs["participant_id"] == "sub-12") & (madrs["session_id"] == "day2"), "madrs_total"
    ] = "20.5"
    message = _error(tmp_path, tables)
    assert (
        "participant sub-12" in message
        and "column madrs_total" in message
        and "whole number" in message
    )


def test_visits_out_of_order(tmp_path, tables):
    madrs = tables["madrs"]
    madrs.loc[
        (madrs["participant_id"] == "sub-03") & (madrs["session_id"] == "week1"),
        "days_since_baseline",
    ] = "2"
    message = _error(tmp_path, tables)
    assert "participant sub-03" in message and "column days_since_baseline" in message
    assert "'week1'" in message and "'eot'" in message and "visit order" in message


def test_baseline_not_on_day_zero(tmp_path, tables):
    madrs = tables["madrs"]
    madrs.loc[
        (madrs["participant_id"] == "sub-04") & (madrs["session_id"] == "baseline"),
        "days_since_baseline",
    ] = "-3"
    message = _error(tmp_path, tables)
    assert (
        "participant sub-04" in message
        and "column days_since_baseline" in message
        and "not 0" in message
    )


def test_duplicate_visit(tmp_path, tables):
    madrs = tables["madrs"]
    tables["madrs"] = pd.concat([madrs, madrs.iloc[[3]]], ignore_index=True)
    message = _error(tmp_path, tables)
    assert (
        "participant sub-01" in message and "duplicate" in message and "session_id day3" in message
    )


def test_madrs_participant_not_in_participants_tsv(tmp_path, tables):
    madrs = tables["madrs"]
    extra = madrs.iloc[[0]].assign(participant_id="sub-99")
    tables["madrs"] = pd.concat([madrs, extra], ignore_index=True)
    message = _error(tmp_path, tables)
    assert "participant sub-99" in message and "not listed in participants.tsv" in message


def test_missing_column(tmp_path, tables):
    tables["madrs"] = tables["madrs"].drop(columns="days_since_baseline")
    message = _error(tmp_path, tables)
    assert (
        "phenotype/madrs.tsv" in message
        and "days_since_baseline" in message
        and "missing column" in message
    )


def test_several_problems_are_listed_together(tmp_path, tables):
    tables["participants"].loc[[1, 5], "arm"] = "sham"
    message = _error(tmp_path, tables)
    assert "2 problems" in message and "sub-02" in message and "sub-06" in message


def test_bad_sex_and_age(tmp_path, tables):
    tables["participants"].loc[0, "sex"] = "female"
    message = _error(tmp_path, tables)
    assert "participant sub-01" in message and "column sex" in message
    tables = toy_tables()
    tables["participants"].loc[0, "age"] = "250"
    message = _error(tmp_path, tables)
    assert "participant sub-01" in message and "column age" in message and "outside" in message


def test_blinding_guess_must_be_label_or_dont_know(tmp_path, tables):
    tables["blinding"].loc[8, "rater_guess"] = "active"
    message = _error(tmp_path, tables)
    assert message.startswith("phenotype/blinding.tsv")
    assert (
        "participant sub-09" in message
        and "column rater_guess" in message
        and "dont_know" in message
    )


def test_adverse_event_severity_and_serious(tmp_path, tables):
    tables["adverse_events"].loc[0, "severity"] = "terrible"
    message = _error(tmp_path, tables)
    assert "phenotype/adverse_events.tsv" in message and "column severity" in message
    participant = tables["adverse_events"].loc[0, "participant_id"]
    assert f"participant {participant}" in message
    tables = toy_tables()
    tables["adverse_events"].loc[0, "serious"] = "maybe"
    assert "column serious" in _error(tmp_path, tables)


def test_arm_without_participants(tmp_path, tables):
    tables["participants"]["arm"] = "connectivity"
    message = _error(tmp_path, tables)
    assert "no participant in arm 'scalp'" in message


def test_bad_config_values():
    with pytest.raises(ClinicalDataError, match="arm_labels"):
        clinical.validate_arm_labels({"connectivity": "A", "scalp": "A"})
    with pytest.raises(ClinicalDataError, match="arm_labels"):
        clinical.validate_arm_labels({"connectivity": "A"})
    with pytest.raises(ClinicalDataError, match="baseline"):
        clinical.validate_visits(["day1", "baseline"], "baseline")


def test_missing_file_names_the_file(tmp_path, tables):
    write_bids(tmp_path, tables)
    (tmp_path / clinical.MADRS_FILE).unlink()
    with pytest.raises(ClinicalDataError, match="phenotype/madrs.tsv: file not found"):
        clinical.load_clinical(tmp_path)
