"""Per-patient target uncertainty: the block bootstrap (blocks, seeds, bytes), the score
model's resampled Pearson r against the targeting methods, the target choices on known
maps, the settings against the schema, and the simulator's within-session drift."""

from __future__ import annotations

import dataclasses
import hashlib

import nibabel as nib
import numpy as np
import pytest
import yaml
from conftest import REPO
from helpers import box_affine
from test_targeting import PLANTED, box_subject

from tmstarget import simulate, targeting, uncertainty
from tmstarget.reliability import ReliabilityParams
from tmstarget.stimulation import SubjectMaps, TargetingSettings, score_model, subject_bootstrap

# --------------------------------------------------------------------------- blocks


def test_segments_split_at_run_joins_and_censored_gaps():
    assert uncertainty.contiguous_segments([10, 8]) == [(0, 10), (10, 18)]
    # run 1 loses volume 3 (9 kept), run 2 loses its first and last: 9 + 6 = 15 volumes
    assert uncertainty.contiguous_segments([10, 8], [[3], [0, 7]]) == [(0, 3), (3, 9), (9, 15)]
    # two censored volumes in a row leave one gap; a run censored whole leaves nothing
    assert uncertainty.contiguous_segments([6, 3], [[2, 3], [0, 1, 2]]) == [(0, 2), (2, 4)]
    with pytest.raises(ValueError, match="outside a run of 6 volumes"):
        uncertainty.contiguous_segments([6], [[6]])


def test_segments_from_qc_check_the_series_length():
    runs = [{"volumes": 10, "censored_volumes": [3]}, {"volumes": 8}]
    assert uncertainty.segments_from_qc(runs, 17) == [(0, 3), (3, 9), (9, 17)]
    with pytest.raises(ValueError, match=r"sub-01_qc.json\) list 17 kept volumes .* has 18"):
        uncertainty.segments_from_qc(runs, 18, "sub-01_qc.json")


def test_block_length_in_volumes():
    assert uncertainty.block_volumes(60, 2.0) == 30
    assert uncertainty.block_volumes(60, 0.8) == 75
    assert uncertainty.block_volumes(61, 2.0) == 31  # 30.5 rounds half up
    assert uncertainty.block_volumes(1, 2.0) == 1  # at least one volume


def test_blocks_stay_inside_segments_and_fill_the_series():
    segments = [(0, 3), (3, 40), (40, 100)]
    rng = np.random.default_rng(5)
    for _ in range(200):
        blocks = uncertainty.draw_blocks(segments, 10, rng)
        assert sum(stop - start for start, stop in blocks) == 100
        for position, (start, stop) in enumerate(blocks):
            inside = [a <= start and stop <= b for a, b in segments]
            assert any(inside), (start, stop)
            length = stop - start
            if (start, stop) == (0, 3):
                continue  # the 3-volume segment is one block, itself
            # every block is 10 volumes long but the last, cut to fit
            assert length == 10 or (position == len(blocks) - 1 and length < 10)


def test_a_segment_as_long_as_the_block_is_always_drawn_whole():
    blocks = uncertainty.draw_blocks([(0, 5), (5, 10)], 5, np.random.default_rng(1))
    assert set(blocks) <= {(0, 5), (5, 10)} and len(blocks) == 2


def test_multiplicities_known_answers():
    counts = uncertainty.resample_multiplicities([(0, 40), (40, 80)], 80, 8, 300, seed=7)
    assert counts.shape == (300, 80) and counts.dtype == np.int32
    assert (counts.sum(axis=1) == 80).all()
    # each block is 8 consecutive volumes of one run: a resample's multiplicities change
    # only at block edges, and (moving blocks) edge volumes are drawn less often
    assert counts[:, 0].mean() < counts[:, 20].mean()
    # one-volume blocks: the iid bootstrap, every volume used once on average
    iid = uncertainty.resample_multiplicities([(0, 50)], 50, 1, 4000, seed=2)
    np.testing.assert_allclose(iid.mean(axis=0), 1.0, atol=0.06)


def test_same_seed_same_bytes_other_seed_other_resamples():
    first = uncertainty.resample_multiplicities([(0, 30), (30, 70)], 70, 6, 50, seed=[3, 9])
    again = uncertainty.resample_multiplicities([(0, 30), (30, 70)], 70, 6, 50, seed=[3, 9])
    other = uncertainty.resample_multiplicities([(0, 30), (30, 70)], 70, 6, 50, seed=[3, 10])
    assert first.tobytes() == again.tobytes()
    assert not np.array_equal(first, other)
    assert uncertainty.subject_stream(1, "sub-01") != uncertainty.subject_stream(1, "sub-02")


# --------------------------------------------------------------------------- scores


def _model(n_candidates=6, n_timepoints=120, seed=0, planted=None, strength=0.5):
    rng = np.random.default_rng(seed)
    reference = rng.standard_normal(n_timepoints)
    signals = rng.standard_normal((n_candidates, n_timepoints))
    for index, gain in (planted or {}).items():
        signals[index] += gain * strength * reference
    ijk = np.stack(
        [np.arange(n_candidates), np.zeros(n_candidates, int), np.zeros(n_candidates, int)], 1
    )
    return uncertainty.ScoreModel.build(
        "circuit_searchlight", ijk, box_affine(), signals, reference, 1.0
    )


def test_resampled_r_equals_r_of_the_repeated_series():
    model = _model()
    counts = uncertainty.resample_multiplicities([(0, 120)], 120, 10, 3, seed=1)
    r = uncertainty.resample_scores(model, counts)
    for row, multiplicity in zip(r, counts, strict=True):
        repeated = np.repeat(np.arange(120), multiplicity)
        expected = targeting.pearson_with(model.signals[:, repeated], model.reference[repeated])
        np.testing.assert_allclose(row, expected, atol=1e-12)
    whole = uncertainty.segment_scores(model, 30, 90)
    np.testing.assert_allclose(
        whole, targeting.pearson_with(model.signals[:, 30:90], model.reference[30:90]), atol=1e-12
    )


def test_score_model_gives_the_searchlight_on_any_part_of_the_series():
    timeseries, brain_img, circuit, search = box_subject(n_timepoints=300)
    maps = SubjectMaps(timeseries, brain_img, circuit, search, circuit)
    model = score_model(maps, "circuit_searchlight", TargetingSettings())
    for start, stop in ((0, 300), (0, 150), (150, 300), (37, 211)):
        result = targeting.circuit_searchlight(timeseries[start:stop], brain_img, circuit, search)
        scores = uncertainty.segment_scores(model, start, stop)
        np.testing.assert_allclose(scores, result.scores, atol=1e-6)
        chosen = uncertainty.choose(model, scores, uncertainty.ChoiceSettings())
        assert tuple(model.candidate_ijk[chosen.index[0]]) == result.target.ijk
    assert tuple(model.candidate_ijk[chosen.index[0]]) == PLANTED


# --------------------------------------------------------------------------- choices


def _line_model(scores):
    """Candidates 2 mm apart on a line, with given full-data scores (as a reference
    and signals that reproduce them is not needed: the choices work on score maps)."""
    n = len(scores)
    ijk = np.stack([np.arange(n), np.zeros(n, int), np.zeros(n, int)], 1)
    model = uncertainty.ScoreModel.build(
        "circuit_searchlight",
        ijk,
        box_affine(),
        np.zeros((n, 3)) + np.arange(3),
        np.arange(3.0),
        1.0,
    )
    return model, np.asarray(scores, dtype=float)


def test_argmax_smoothed_and_top_fraction_on_known_maps():
    # an isolated spike at 0 (0.9) and a broad plateau around 10 (0.8 at 8-12)
    scores = np.full(21, 0.1)
    scores[0] = 0.9
    scores[8:13] = 0.8
    model, scores = _line_model(scores)
    argmax = uncertainty.choose(model, scores, uncertainty.ChoiceSettings("argmax"))
    assert argmax.index[0] == 0
    smoothed = uncertainty.choose(model, scores, uncertainty.ChoiceSettings("smoothed", 6.0))
    assert smoothed.index[0] == 10  # the plateau's centre
    # top 5 of 21 (ceil 0.25 * 21 = 6: the spike and the plateau): weights above the
    # cut-off 0.1 -> (0.8 * 0 mm + 0.7 * (16+18+20+22+24) mm) / (0.8 + 5 * 0.7)
    top = uncertainty.choose(
        model, scores, uncertainty.ChoiceSettings("top_fraction", top_fraction=0.25)
    )
    expected_x = 0.7 * (16 + 18 + 20 + 22 + 24) / (0.8 + 3.5) + model.candidate_mm[0, 0]
    assert top.mm[0, 0] == pytest.approx(expected_x)
    assert top.index[0] == int(np.argmin(np.abs(model.candidate_mm[:, 0] - top.mm[0, 0])))
    # NaN scores are never chosen; a map without a finite score is an error naming it
    scores[10] = np.nan
    assert uncertainty.choose(model, scores, uncertainty.ChoiceSettings("smoothed")).index[0] != 10
    with pytest.raises(Exception, match="circuit_searchlight: a score map has no finite score"):
        uncertainty.choose(model, np.full(21, np.nan), uncertainty.ChoiceSettings())


def test_sgacc_sign_picks_the_most_negative():
    model, scores = _line_model([0.2, -0.6, 0.1])
    model = dataclasses.replace(model, sign=-1.0)
    assert uncertainty.choose(model, scores, uncertainty.ChoiceSettings()).index[0] == 1


# --------------------------------------------------------------------------- bootstrap


def test_bootstrap_known_answers_strong_and_split_targets():
    strong = _model(planted={2: 1.0}, strength=1.5, n_timepoints=400)
    result = uncertainty.bootstrap_targets(strong, [(0, 200), (200, 400)], 20, 200, seed=4)
    # one candidate carries the reference: every resample chooses it
    assert result.site_index == result.mode_index == 2
    assert result.radius_mm == 0.0 and result.share_within_coil == 1.0
    np.testing.assert_allclose(result.probability.sum(), 1.0)
    assert result.probability[2] == 1.0 and result.n_segments == 2 and result.block_volumes == 20
    # two candidates 8 mm apart carry it equally: the resamples split between them
    split = _model(n_candidates=6, planted={1: 1.0, 5: 1.0}, strength=0.4, n_timepoints=400)
    result = uncertainty.bootstrap_targets(split, [(0, 400)], 20, 400, seed=4, coil_radius_mm=4)
    assert set(np.flatnonzero(result.probability > 0.1)) == {1, 5}
    assert result.radius_mm == pytest.approx(8.0)
    assert 0.1 < result.share_within_coil < 0.9  # the other candidate is 8 mm away
    # at least 95% of the resample targets lie within the radius, and no smaller one
    assert np.mean(result.distance_mm <= result.radius_mm) >= 0.95


def test_bootstrap_same_bytes_on_a_rerun(tmp_path):
    timeseries, brain_img, circuit, search = box_subject(n_timepoints=240, seed=2)
    maps = SubjectMaps(timeseries, brain_img, circuit, search, circuit)
    settings = TargetingSettings.from_config({"bootstrap": {"n_resamples": 60, "block_s": 20}})
    model = score_model(maps, "circuit_searchlight", settings)
    digests = []
    for attempt in range(2):
        out = subject_bootstrap("sub-01", model, settings, [(0, 120), (120, 240)], 2.0, brain_img)
        path = tmp_path / f"probseg{attempt}.nii.gz"
        out.probability_map.to_filename(path)
        digests.append((hashlib.sha256(path.read_bytes()).hexdigest(), out.table.to_csv()))
    assert digests[0] == digests[1]
    row = out.table.iloc[0]
    assert row["block_volumes"] == 10 and row["n_segments"] == 2 and row["n_resamples"] == 60
    assert row["coil_radius_mm"] == 12.0  # the cone's largest radius by default
    probability = np.asarray(nib.load(path).dataobj)
    assert probability.sum() == pytest.approx(1.0)
    assert probability[PLANTED] == pytest.approx(row["site_probability"])
    assert row["site_probability"] > 0.5


def test_bootstrap_mode_choice_is_the_modal_site():
    model = _model(n_candidates=6, planted={1: 1.0, 4: 1.05}, strength=0.4, n_timepoints=300)
    choice = uncertainty.ChoiceSettings("bootstrap_mode")
    result = uncertainty.bootstrap_targets(model, [(0, 300)], 15, 200, seed=8, choice=choice)
    assert result.site_index == result.mode_index
    assert result.probability[result.site_index] == result.probability.max()


# --------------------------------------------------------------------------- settings


def _schema(*path):
    node = yaml.safe_load((REPO / "config" / "schema.yaml").read_text())["properties"]
    for key in path:
        node = node[key]["properties"]
    return node


def test_settings_defaults_equal_the_schema():
    targets = _schema("targets")
    defaults = TargetingSettings()
    for key in ("choice", "choice_smoothing_fwhm_mm", "choice_top_fraction"):
        assert getattr(defaults, key) == targets[key]["default"], key
    boot = _schema("targets", "bootstrap")
    for field in dataclasses.fields(uncertainty.BootstrapSettings):
        assert getattr(uncertainty.BootstrapSettings(), field.name) == boot[field.name]["default"]
    assert list(ReliabilityParams().choices) == _schema("reliability")["choices"]["default"]
    assert list(uncertainty.CHOICES) == targets["choice"]["enum"]


def test_bad_settings_name_the_key():
    with pytest.raises(ValueError, match="targets.bootstrap: unknown key"):
        TargetingSettings.from_config({"bootstrap": {"n_resample": 10}})
    with pytest.raises(ValueError, match="targets.choice: 'median'"):
        TargetingSettings.from_config({"choice": "median"})
    with pytest.raises(ValueError, match="targets.bootstrap.enabled: .*'sgacc_cluster'"):
        TargetingSettings.from_config(
            {"methods": ["sgacc_cluster"], "connectivity_method": "sgacc_cluster"}
        )
    with pytest.raises(ValueError, match="reliability.choices"):
        ReliabilityParams(choices=("argmax", "argmax"))


# --------------------------------------------------------------------------- simulator


def _drift_run(**drift):
    spec = simulate.ImagingSpec(voxel_size_mm=6.0, n_volumes=200, **drift)
    template = simulate.load_template(6.0)
    target = simulate.draw_targets(template, 1, 0.0, np.random.default_rng(0))[0]
    rng = np.random.default_rng(1)
    model = simulate.subject_model(spec, template, target, rng)
    return spec, model, rng


def test_without_drift_the_simulator_is_unchanged():
    spec, model, rng = _drift_run()
    state = rng.bit_generator.state
    extra = simulate.within_session_drift(spec, model, rng, np.ones(200), np.ones((8, 200)))
    assert extra == 0.0 and rng.bit_generator.state == state  # no draw at all
    assert model.network_drift_maps is None


def test_drifting_patch_moves_the_coupled_site():
    spec, model, rng = _drift_run(patch_drift_mm=6.0, drift_timescale_s=60.0)
    circuit = np.ones(spec.n_volumes)
    extra = simulate.within_session_drift(spec, model, rng, circuit, np.zeros((8, spec.n_volumes)))
    distance = np.linalg.norm(model.xyz_mm - model.target_mm, axis=1)
    changed = np.abs(extra).max(axis=0) > 0
    assert changed.any() and distance[changed].max() <= 12 + 4 * 6.0 + 1e-6
    # the patch (static + drift) is the cone profile around a moving site: its centre of
    # mass wanders around the planted site by a few mm
    static = simulate._cone_profile(distance) * model.grey
    total = spec.circuit_percent * static[None, :] + extra
    centre = (total @ model.xyz_mm) / total.sum(axis=1, keepdims=True)
    wander = np.linalg.norm(centre - model.target_mm, axis=1)
    assert 1.0 < np.median(wander) < 15.0


def test_slow_process_has_unit_variance_and_its_time_scale():
    rng = np.random.default_rng(0)
    draws = np.stack([simulate.slow_process(rng, 2000, 2.0, 60.0) for _ in range(20)])
    assert draws.var() == pytest.approx(1.0, abs=0.25)
    lag = 15  # volumes = 30 s, half the smoothing SD: strongly correlated
    correlation = np.mean([np.corrcoef(d[:-lag], d[lag:])[0, 1] for d in draws])
    assert correlation > 0.8
