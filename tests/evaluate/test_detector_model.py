"""The calibrated detector model of AdvOcc: draws per (sample, joint), derived joints, the fit's round trip."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from hipart.config import Config
from pipelines.core.errors import UserError
from pipelines.evaluate import detector_fit
from pipelines.evaluate import detector_model as dm
from pipelines.evaluate.occlusion import occlude_block, select_rows

TRUE = dm.DetectorParams(scale=0.07, dof=2.5, swap=0.08, snap=0.12, score_a=1.5, score_b=4.0, max_offset=20.0)


def poses(n: int, seed: int = 0) -> np.ndarray:
    """(n, 17, 2) px: a standing skeleton (about 300 px tall) jittered and moved per sample."""
    template = np.array(
        [
            [0, 0],
            [-20, 0],
            [-22, 80],
            [-24, 160],
            [20, 0],
            [22, 80],
            [24, 160],
            [0, -50],
            [0, -100],
            [0, -120],
            [0, -140],
            [35, -95],
            [55, -40],
            [60, 10],
            [-35, -95],
            [-55, -40],
            [-60, 10],
        ],
        float,
    )
    rng = np.random.default_rng(seed)
    return template + rng.normal(0, 8, (n, 17, 2)) + rng.uniform(200, 800, (n, 1, 2))


def test_draws_are_per_sample_and_joint_and_identical_across_positions():
    clean = poses(20)
    draws = dm.draw(TRUE, 0, np.arange(100, 120), dm.person_size(clean))
    occluded = np.zeros((20, 3, 17), bool)
    occluded[:, 0, 13] = occluded[:, 1, [12, 13]] = occluded[:, 2, 13] = True  # three positions hide the wrist
    out, score = dm.apply(clean, occluded, draws)
    assert np.array_equal(out[:, 0, 13], out[:, 1, 13]) and np.array_equal(out[:, 0, 13], out[:, 2, 13])
    assert np.array_equal(score[:, 0, 13], score[:, 2, 13]) and (score[:, 0, 13] < 1).all()
    assert not np.allclose(out[:, 0, 13], clean[:, 13])  # it did move
    untouched = np.ones(17, bool)
    untouched[[0, 7, 8, 12, 13]] = False
    assert np.array_equal(out[:, 1][:, untouched], clean[:, untouched])  # visible joints keep the clean 2D
    again = dm.draw(TRUE, 0, np.arange(110, 120), dm.person_size(clean[10:]))  # a row draws the same in any subset
    assert np.array_equal(again.offset, draws.offset[10:]) and np.array_equal(again.base, draws.base[10:])


def test_pelvis_thorax_and_spine_follow_their_sources():
    clean = poses(50, seed=1)
    draws = dm.draw(TRUE, 3, np.arange(50), dm.person_size(clean))
    occluded = np.zeros((50, 2, 17), bool)
    occluded[:, 0, [0, 1, 4]] = True  # pelvis with both hips
    occluded[:, 1, 0] = True  # the pelvis alone
    out, score = dm.apply(clean, occluded, draws)
    shift = (out[:, 0, 1] - clean[:, 1] + out[:, 0, 4] - clean[:, 4]) / 2
    np.testing.assert_allclose(out[:, 0, 0], clean[:, 0] + shift)
    np.testing.assert_allclose(out[:, 0, 7], clean[:, 7] + shift / 2)  # spine: mid(pelvis, thorax)
    np.testing.assert_allclose(score[:, 0, 0], np.minimum(score[:, 0, 1], score[:, 0, 4]))
    assert np.array_equal(out[:, 1], clean) and (score[:, 1] == 1).all()  # hips seen: nothing moves


def test_kinds_follow_the_probabilities():
    clean = poses(4000, seed=2)
    draws = dm.draw(TRUE, 0, np.arange(4000), dm.person_size(clean))
    joints = np.arange(17)
    swapped = draws.base == np.asarray(dm.PARTNER)
    snapped = np.array([[b in dm.NEIGHBOURS[j] for j, b in zip(joints, row)] for row in draws.base])
    with_partner = np.asarray(dm.PARTNER) >= 0
    assert swapped[:, with_partner].mean() == pytest.approx(TRUE.swap, abs=0.01)
    assert snapped.mean() == pytest.approx(TRUE.snap, abs=0.01) and not swapped[:, ~with_partner].any()


def simulated(params: dm.DetectorParams, n: int, seed: int = 0) -> dict:
    """Every primary joint of n samples hidden once: what the fit sees."""
    clean = poses(n, seed)
    sizes = dm.person_size(clean)
    draws = dm.draw(params, seed, np.arange(n), sizes)
    out, score = dm.apply(clean, np.ones((n, 1, 17), bool), draws)
    joints = np.asarray(dm.PRIMARY)
    return {
        "observed": out[:, 0, joints].reshape(-1, 2),
        "clean": np.repeat(clean, len(joints), 0),
        "joint": np.tile(joints, n),
        "size": np.repeat(sizes, len(joints)),
        "score": score[:, 0, joints].ravel(),
        "visible_shift": np.zeros(1),
        "visible_score": np.ones(1),
    }


def test_fit_recovers_known_parameters():
    fitted = detector_fit.fit(simulated(TRUE, 2500))["params"]
    assert fitted["scale"] == pytest.approx(TRUE.scale, rel=0.05)
    assert fitted["dof"] == pytest.approx(TRUE.dof, rel=0.15)
    assert fitted["swap"] == pytest.approx(TRUE.swap, abs=0.015)
    assert fitted["snap"] == pytest.approx(TRUE.snap, abs=0.015)
    assert fitted["score_a"] == pytest.approx(TRUE.score_a, rel=0.1)
    assert fitted["score_b"] == pytest.approx(TRUE.score_b, rel=0.1)
    capped = dm.draw(dataclasses.replace(TRUE, max_offset=0.1), 0, np.arange(500), np.full(500, 300.0))
    radius = np.linalg.norm(capped.offset, axis=-1)
    assert radius.max() == pytest.approx(30.0) and (radius < 30.0).mean() > 0.5  # capped at 0.1 person sizes
    with pytest.raises(UserError, match="observations"):
        detector_fit.fit({k: v[:10] for k, v in simulated(TRUE, 50).items()})


def test_observations_of_an_image_level_set_and_the_refit_round_trip(tmp_path):
    """A fake image-level set whose 'detector' is the model itself: extraction + fit recover its parameters."""
    cfg = dataclasses.replace(Config().occlusion, stride=30, detector_fit=str(tmp_path / "true.json"))
    (tmp_path / "true.json").write_text(json.dumps({"params": dataclasses.asdict(TRUE)}))
    gt = poses(600, seed=4)
    rows = np.arange(600)
    block = occlude_block(gt, gt, rows, 80, cfg)
    missed = np.zeros(block["visible"].shape[:2], bool)
    missed[::7, 3] = True
    found = {
        "keypoints": np.concatenate([block["occluded2d"], block["score"][..., None]], -1),
        "missed": missed,
        "clean": np.concatenate([gt, np.ones((600, 17, 1))], -1),
        "clean_missed": rows % 50 == 0,
    }
    obs = detector_fit.observations(found, gt, 80, cfg)
    hidden = (
        ~block["visible"]
        & np.isin(np.arange(17), dm.PRIMARY)
        & ~missed[..., None]
        & ~found["clean_missed"][:, None, None]
    )
    assert len(obs["joint"]) == hidden.sum() > 2000
    fitted = detector_fit.fit(obs)["params"]
    assert fitted["scale"] == pytest.approx(TRUE.scale, rel=0.1) and fitted["swap"] == pytest.approx(
        TRUE.swap, abs=0.03
    )
    assert select_rows(600, 0).tolist() == rows.tolist()


def test_parameter_files(tmp_path):
    default = dm.load_params()
    assert default.scale > 0 and 0 <= default.swap + default.snap <= 1
    committed = json.loads(dm.DEFAULT_FIT.read_text())
    assert committed["params"] == dataclasses.asdict(default)
    for size, params in committed.get("params_by_size", {}).items():
        assert dataclasses.asdict(dm.load_params(size=int(size))) == params
    assert dm.load_params(size=123) == default  # no fit of that size: the pooled one
    negative = '{"params": {"scale": -1, "dof": 3, "swap": 0, "snap": 0, "score_a": 1, "score_b": 1}}'
    for text, message in (("{", "malformed"), (negative, "invalid values")):
        (tmp_path / "bad.json").write_text(text)
        with pytest.raises(UserError, match=message):
            dm.load_params(tmp_path / "bad.json")
    with pytest.raises(UserError, match="not found"):
        dm.load_params(tmp_path / "none.json")
