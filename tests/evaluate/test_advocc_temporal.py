"""AdvOcc for temporal lifters: the patch held on the person over the window, scored on the centre frame."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from helpers.lift_helpers import write_store

from hipart.config import Config
from pipelines.core.errors import UserError
from pipelines.data.store import PoseStore
from pipelines.data.windows import centre_index, centred_windows, sequences
from pipelines.evaluate.advocc import evaluate_advocc, pose_errors
from pipelines.evaluate.occlusion import occlude_block
from pipelines.evaluate.occlusion_set import load_inputs


def occ_config(**changes) -> Config:
    config = Config()
    return dataclasses.replace(config, occlusion=dataclasses.replace(config.occlusion, **changes))


class FrameOracle:
    """Single-frame stand-in: the GT 3D of the test row whose clean 2D matches the input's unmoved joints,
    shifted by 10x the mean 2D displacement of the input (so moved joints cost millimetres)."""

    is_temporal = False

    def __init__(self, store):
        self.gt3d = store.read("test", "kp3d/sparse").astype(np.float64)
        self.gt3d -= self.gt3d[:, :1]
        self.clean = store.read("test", "kp2d/sparse")
        self.index = {(j, *p.tolist()): i for i, pose in enumerate(self.clean) for j, p in enumerate(pose)}

    def frame_poses(self, sparse2d_px) -> np.ndarray:
        x = np.asarray(sparse2d_px, np.float32)
        match = np.array(
            [
                next(self.index[(j, *x[b, j].tolist())] for j in range(17) if (j, *x[b, j].tolist()) in self.index)
                for b in range(len(x))
            ]
        )
        shift = (x - self.clean[match]).mean(1)  # (B, 2)
        out = self.gt3d[match] + 10 * np.concatenate([shift, np.zeros((len(x), 1))], -1)[:, None]
        out[:, 0] = 0
        return out

    def predict(self, sparse2d_px, image_size, visible=None, scores=None):
        return {"kp3d": self.frame_poses(sparse2d_px).astype(np.float32)}


class WindowOracle(FrameOracle):
    """Temporal stand-in: the centre frame's GT 3D shifted by the displacement averaged over the window, so an
    occluder in any frame of the window moves the answer."""

    is_temporal = True

    def __init__(self, store, frames):
        super().__init__(store)
        self.frames = frames
        self.lifted = 0

    def predict(self, sparse2d_px, image_size, visible=None, scores=None, windows=None):
        per_frame = self.frame_poses(sparse2d_px)  # (K, 17, 3)
        self.lifted += len(windows)
        centre = per_frame[windows[:, centre_index(self.frames)]]
        shift = (per_frame[windows] - per_frame[windows][:, centre_index(self.frames)][:, None]).mean(1)
        out = centre + shift
        out[:, 0] = 0
        return {"kp3d": out.astype(np.float32)}


def brute_force(store, config, frames: int, size: int = 80) -> np.ndarray:
    """Per sample the worst MPJPE, built pair by pair: every frame of the window occluded at the same position."""
    cfg = config.occlusion
    oracle = WindowOracle(store, frames)
    seqs = sequences(store, "test")
    all_windows = centred_windows(seqs, store.rows("test"), frames)
    rows = np.arange(store.rows("test"))[: cfg.max_samples]
    gt3d = store.read("test", "kp3d/sparse").astype(np.float64)
    worst = []
    for row in rows:
        window = all_windows[row]  # (T,) split rows
        gt2d, clean2d = load_inputs(store, "test", "gt", window)
        block = occlude_block(gt2d, clean2d, window, size, cfg)
        positions = block["visible"].shape[1]
        c = centre_index(frames)
        errors = []
        for p in range(positions):
            pred = oracle.predict(block["occluded2d"][:, p], None, windows=np.arange(frames)[None])["kp3d"]
            scored = block["visible"][c, p][None]
            if not scored.any():
                errors.append(np.nan)
                continue
            errors.append(pose_errors(pred, (gt3d[row] - gt3d[row, :1])[None], scored)[0][0])
        worst.append(np.nanmax(errors))
    return np.array(worst)


@pytest.fixture(scope="module")
def sequence_store(tmp_path_factory):
    """Test rows in a few long sequences (one subject, action, camera each), so windows reach other frames."""
    path = write_store(
        tmp_path_factory.mktemp("seq") / "s.h5",
        n_train=8,
        n_test=24,
        extra_test={
            "meta/action": np.repeat([0, 1, 2], 8).astype(np.int32),
            "meta/subaction": np.ones(24, np.int32),
            "meta/camera": np.ones(24, np.int32),
            "meta/frame": np.tile(np.arange(8), 3).astype(np.int32),
        },
    )
    return PoseStore(path)


@pytest.mark.parametrize("model", ["uniform", "detector"])
def test_worst_cases_match_a_pair_by_pair_construction(sequence_store, tmp_path, model):
    config = occ_config(model=model, max_samples=0, heatmap_samples=0)
    config = dataclasses.replace(config, occlusion=dataclasses.replace(config.occlusion, max_samples=24))
    oracle = WindowOracle(sequence_store, 5)
    result = evaluate_advocc([oracle], ["window"], sequence_store, 80, config, tmp_path)
    errors = np.load(tmp_path / "advocc80_errors.npz")
    expected = brute_force(sequence_store, config, 5)
    np.testing.assert_allclose(errors["worst_mpjpe_0"], expected, rtol=1e-5, atol=1e-4)
    assert result["models"][0]["advocc_mpjpe"] == pytest.approx(expected.mean(), rel=1e-5)
    assert 0 < oracle.lifted < 24 * 256  # windows no patch touches are not lifted again


def test_a_patch_elsewhere_in_the_window_counts(sequence_store, tmp_path):
    """Held over the window, the occluder moves a temporal answer where the centre frame alone is untouched."""
    config = occ_config(model="uniform", max_samples=24, heatmap_samples=0)
    evaluate_advocc(
        [WindowOracle(sequence_store, 5), FrameOracle(sequence_store)],
        ["window", "frame"],
        sequence_store,
        80,
        config,
        tmp_path,
    )
    errors = np.load(tmp_path / "advocc80_errors.npz")
    window, frame = errors["table_mpjpe_0"], errors["table_mpjpe_1"]
    clean_window = errors["clean_mpjpe_0"][:, None]
    rows = np.arange(24)
    gt2d, clean2d = load_inputs(sequence_store, "test", "gt", rows)
    centre_untouched = occlude_block(gt2d, clean2d, rows, 80, config.occlusion)["visible"].all(-1)  # (N, P)
    moved = ~np.isclose(window, clean_window, atol=1e-3) & centre_untouched
    assert moved.any()  # frames around the centre were occluded at the same position
    assert np.allclose(frame[centre_untouched], errors["clean_mpjpe_1"][:, None].repeat(256, 1)[centre_untouched])


def test_one_frame_windows_equal_the_single_frame_protocol(sequence_store, tmp_path):
    config = occ_config(model="detector", max_samples=24, heatmap_samples=0)
    result = evaluate_advocc(
        [WindowOracle(sequence_store, 1), FrameOracle(sequence_store)],
        ["t1", "frame"],
        sequence_store,
        80,
        config,
        tmp_path,
    )
    errors = np.load(tmp_path / "advocc80_errors.npz")
    for key in ("table_mpjpe", "table_pa_mpjpe", "worst_mpjpe", "worst_err2d", "clean_mpjpe"):
        np.testing.assert_allclose(errors[f"{key}_0"], errors[f"{key}_1"], rtol=1e-5, atol=1e-4, err_msg=key)
    assert result["models"][0]["pairs_evaluated"] == result["models"][1]["pairs_evaluated"]


def test_per_position_detections_are_refused_for_a_temporal_lifter(sequence_store, tmp_path):
    np.savez(tmp_path / "det.npz", keypoints=np.zeros((4, 256, 17, 2)), rows=np.arange(4))
    with pytest.raises(UserError, match="temporal lifter") as err:
        evaluate_advocc(
            [WindowOracle(sequence_store, 5)],
            ["w"],
            sequence_store,
            80,
            occ_config(),
            tmp_path / "out",
            tmp_path / "det.npz",
        )
    assert "\n" not in str(err.value) and not (tmp_path / "out").exists()
