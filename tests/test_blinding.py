"""The technician's blinded packet and its key (tmstarget.blinding)."""

import numpy as np
import pandas as pd
import pytest

from tmstarget.blinding import (
    BlindingError,
    blinding_key,
    check_blind,
    delivered_method,
    revealing_words,
    technician_table,
)
from tmstarget.patient_report import NEUTRAL_LABEL


def coil_rows(participant_id: str, offset: float) -> pd.DataFrame:
    """Coil poses of the two methods of one participant (rule place_coil's table)."""
    rows = []
    for index, method in enumerate(("circuit_searchlight", "beam_f3")):
        base = offset + 10 * index
        rows.append(
            {
                "participant_id": participant_id,
                "method": method,
                "target_label": f"{method} label",
                "coordinate_convention": "RAS",
                "t1w_image": f"{participant_id}_desc-preproc_T1w.nii.gz",
                **{f"target_{a}_mm": base + i for i, a in enumerate("xyz")},
                **{f"coil_{a}_mm": base + 20 + i for i, a in enumerate("xyz")},
                "normal_x": 0.0,
                "normal_y": 0.6,
                "normal_z": 0.8,
                "handle_x": -0.7071,
                "handle_y": -0.5657,
                "handle_z": 0.4243,
                "scalp_depth_mm": 20.0,
                "handle_angle_deg": 45.0,
            }
        )
    return pd.DataFrame(rows)


def test_each_arm_gets_its_method():
    assert delivered_method("connectivity", "circuit_searchlight") == "circuit_searchlight"
    assert delivered_method("scalp", "circuit_searchlight") == "beam_f3"
    with pytest.raises(ValueError, match="unknown arm"):
        delivered_method("sham", "circuit_searchlight")


def test_technician_table_has_the_delivered_site_only_under_the_neutral_label():
    coil = coil_rows("sub-01", 0.0)
    table = technician_table(coil, "sub-01", "beam_f3", "sub-01_desc-preproc_T1w.nii.gz")
    assert len(table) == 1
    assert table.loc[0, "target_label"] == NEUTRAL_LABEL
    # the beam_f3 row's site (offset 10), not the connectivity one
    assert table.loc[0, "target_x_mm"] == 10.0
    assert table.loc[0, "coil_z_mm"] == 32.0
    words = revealing_words({"connectivity": "A", "scalp": "B"}, ["circuit_searchlight"])
    check_blind(table, words, "packet.csv")  # passes: nothing tells the arm
    with pytest.raises(ValueError, match="exactly one 'sgacc_classic'"):
        technician_table(coil, "sub-01", "sgacc_classic", "t1w.nii.gz")


@pytest.mark.parametrize(
    ("cell", "found"),
    [
        ("Beam F3 (scalp heuristic)", "Beam"),
        ("circuit_searchlight", "circuit_searchlight"),
        ("target of arm B", "B"),
        ("SCALP", "scalp"),
    ],
)
def test_check_blind_finds_words_that_tell_the_arm(cell, found):
    words = revealing_words({"connectivity": "A", "scalp": "B"}, ["circuit_searchlight"])
    table = pd.DataFrame({"target_label": [cell], "coordinate_convention": ["RAS"]})
    with pytest.raises(BlindingError, match=found):
        check_blind(table, words, "packet.csv")


def test_check_blind_matches_whole_words_only():
    # an arm labelled "A" is not found in "RAS" or "TMS target"
    check_blind("RAS TMS target sub-01_T1w", ["A", "B"], "packet.csv")
    with pytest.raises(BlindingError, match="packet.csv"):
        check_blind('<Marker description="B"/>', ["A", "B"], "packet.csv")


def test_key_restores_arm_and_method_of_every_packet():
    arms = {"sub-01": "connectivity", "sub-02": "scalp", "sub-03": "scalp"}
    coil = {p: coil_rows(p, 5.0 * i) for i, p in enumerate(arms)}
    methods = {p: delivered_method(arm, "circuit_searchlight") for p, arm in arms.items()}
    packets = pd.concat(
        [technician_table(coil[p], p, methods[p], f"{p}_T1w.nii.gz") for p in arms],
        ignore_index=True,
    )
    files = {p: f"{p}_space-T1w_desc-technician_targets.csv" for p in arms}
    key = blinding_key(packets, arms, "circuit_searchlight", files)
    restored = packets.merge(key, on="participant_id", suffixes=("", "_key"))
    for row in restored.itertuples(index=False):
        assert row.arm == arms[row.participant_id]
        assert row.method == methods[row.participant_id]
        # the key's site is the packet's, and the packet's is that method's coil row
        site = coil[row.participant_id]
        site = site[site["method"] == row.method].iloc[0]
        assert np.isclose(row.target_x_mm_key, site["target_x_mm"])
        assert row.technician_file == files[row.participant_id]
    assert set(key["target_label"]) == {NEUTRAL_LABEL}
