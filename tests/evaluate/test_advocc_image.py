"""Image-level AdvOcc: rendered rows of a sample-corpus store, BlazePose per patch position, the cache."""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pytest
import torch

from hipart.config import Config
from pipelines.core.errors import UserError
from pipelines.core.paths import SAMPLE_DIR
from pipelines.data.store import PoseStore
from pipelines.evaluate import image_occlusion as io
from pipelines.evaluate.advocc import evaluate_advocc
from pipelines.evaluate.advocc_data import load_detections
from pipelines.evaluate.occlusion import grid_offsets, person_crops
from pipelines.evaluate.occlusion_set import read_occlusion_set

pytest.importorskip("mediapipe")
STRIDE = 60  # 4 x 4 positions at 80 px, 5 x 5 at 40 px: the whole protocol geometry, few detector runs
INPUT = "blazepose"  # the sample corpus's detection set: the fallback of a clean render nobody is found in


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A pose store of the committed sample corpus, a few hundred rows."""
    from hipart_cli.main import main

    out = tmp_path_factory.mktemp("image_store") / "poses.h5"
    assert (
        main(
            [
                "coarsen",
                "--sample",
                str(SAMPLE_DIR),
                "--train-every",
                "1000",
                "--test-every",
                "1000",
                "--out",
                str(out),
                "--no-resume",
            ]
        )
        == 0
    )
    return out


@pytest.fixture(scope="module")
def blazepose():
    from pipelines.data.detector import BlazePose

    with BlazePose() as detector:
        yield detector


def occ(tmp, **changes):
    base = {"stride": STRIDE, "image_samples": 2, "image_cache": str(tmp), "input2d": INPUT}
    config = Config()
    return dataclasses.replace(config, occlusion=dataclasses.replace(config.occlusion, **{**base, **changes}))


class Counting:
    """Counts detector runs; raises KeyboardInterrupt after ``stop`` of them (an interrupted run)."""

    def __init__(self, inner=None, stop: int | None = None):
        self.inner, self.stop, self.calls = inner, stop, 0

    def detect(self, image):
        self.calls += 1
        if self.stop is not None and self.calls > self.stop:
            raise KeyboardInterrupt
        if self.inner is not None:
            return self.inner.detect(image)
        mean = image.reshape(-1, 3).mean(0)  # a cheap stand-in: a deterministic function of the pixels
        return np.column_stack([np.arange(33) * 3 + mean[0], np.arange(33) * 2 + mean[1], np.full(33, 0.5)])


def test_rendered_rows_are_detected_at_every_position_and_cached(store, blazepose, tmp_path_factory):
    cache = tmp_path_factory.getbasetemp() / "image_cache"
    config = occ(cache)
    counting = Counting(blazepose)
    path = io.image_detections(store, 80, config.occlusion, detector=counting)
    found = io.read_image_detections(path)
    positions = len(grid_offsets(80, 224, STRIDE))
    assert positions == 16 and counting.calls == 2 * (1 + positions)
    assert found["keypoints"].shape == (2, positions, 17, 3) and found["clean"].shape == (2, 17, 3)
    gt = PoseStore(store).read("test", "kp2d/sparse")[found["rows"]].astype(np.float64)
    np.testing.assert_allclose(found["crop_box"], person_crops(gt, 0.1), rtol=1e-5)  # the AdvOcc crop itself
    size = (gt.max(1) - gt.min(1)).max(-1)
    assert not found["clean_missed"].any()
    assert (np.linalg.norm(found["clean"][..., :2] - gt, axis=-1).mean(1) < 0.1 * size).all()  # full-image px
    missed = found["missed"]
    held = np.broadcast_to(found["clean"][:, None, :, :2], found["keypoints"][..., :2].shape)
    assert (found["keypoints"][missed][..., :2] == held[missed]).all() and (
        found["keypoints"][missed][..., 2] == 0
    ).all()
    checked = load_detections(
        path, 80, PoseStore(store).rows("test"), positions
    )  # the --detections-per-position format
    assert checked["keypoints"].shape == (2, positions, 17, 2) and "clean" in checked
    again = Counting()
    assert io.image_detections(store, 80, config.occlusion, detector=again) == path and again.calls == 0


def test_cache_key_follows_seed_size_and_textures(store, tmp_path):
    textures = tmp_path / "dtd"
    shutil.copytree(SAMPLE_DIR / "textures" / "dtd", textures)
    first = Counting()
    base = io.image_detections(store, 80, occ(tmp_path).occlusion, detector=first)
    variants = {
        "seed": (80, occ(tmp_path, seed=7)),
        "size": (40, occ(tmp_path)),
        "textures": (80, occ(tmp_path, textures=str(textures))),
    }
    paths = {base}
    for name, (size, config) in variants.items():
        counting = Counting()
        paths.add(io.image_detections(store, size, config.occlusion, detector=counting))
        assert counting.calls == 2 * (1 + len(grid_offsets(size, 224, STRIDE))), name
    same = Counting()
    assert io.image_detections(store, 80, occ(tmp_path).occlusion, detector=same) == base and same.calls == 0
    assert len(paths) == 4
    (textures / "images" / "banded" / "banded_0001.jpg").unlink()  # the folder changed: recomputed
    changed = Counting()
    assert (
        io.image_detections(store, 80, occ(tmp_path, textures=str(textures)).occlusion, detector=changed) not in paths
    )
    assert changed.calls == 34


def test_an_interrupted_run_continues_to_the_same_result(store, blazepose, tmp_path):
    config = occ(tmp_path / "a").occlusion
    with pytest.raises(KeyboardInterrupt):
        io.image_detections(store, 80, config, detector=Counting(blazepose, stop=20))  # row 0 done, row 1 cut
    assert len(list((tmp_path / "a").glob("*/rows/*.npz"))) == 1
    resumed = Counting(blazepose)
    done = io.read_image_detections(io.image_detections(store, 80, config, detector=resumed))
    assert resumed.calls == 17  # only the unfinished row
    whole = io.read_image_detections(io.image_detections(store, 80, occ(tmp_path / "b").occlusion, detector=blazepose))
    assert set(done) == set(whole)
    for key in done:
        if key != "seconds":
            assert np.array_equal(done[key], whole[key]), key
    assert not list((tmp_path / "a").glob("*/rows"))  # the finished set replaces the per-row files


def test_evaluate_and_occlude_at_image_level(store, blazepose, cli, tmp_path_factory, tmp_path):
    from hipart.config import LifterConfig
    from hipart.lifter import Lifter
    from pipelines.models.level_sources import NoLevels
    from pipelines.models.lifting import LiftingModel

    config = occ(tmp_path_factory.getbasetemp() / "image_cache", heatmap_samples=1)
    cached = io.image_detections(store, 80, config.occlusion, detector=blazepose)  # made by the first test
    torch.manual_seed(0)
    lifter = Lifter(LifterConfig(levels=(17,), dim=32, blocks=1, heads=2, dropout=0.0))
    model = LiftingModel(lifter=lifter, source=NoLevels(), flip_perms={}, device=torch.device("cpu"), name="tiny")
    result = evaluate_advocc([model], ["tiny"], PoseStore(store), 80, config, tmp_path / "eval", image_level=True)
    found = io.read_image_detections(cached)
    assert result["level"] == "image" and result["samples"] == 2 and result["image_level"]["detections"] == str(cached)
    assert result["image_level"]["detector_runs"] == 34 and result["models"][0]["pairs_evaluated"] == 32
    row = result["models"][0]
    assert row["advocc_mpjpe"] >= row["clean_mpjpe"] > 0 and 0 <= row["pelvis_hidden_at_worst_pct"] <= 100
    with pytest.raises(UserError, match="not both"):
        evaluate_advocc([model], ["tiny"], PoseStore(store), 80, config, tmp_path, cached, image_level=True)
    out = tmp_path / "occ80.h5"
    sets = [
        a
        for k, v in (("stride", STRIDE), ("input2d", INPUT), ("image_cache", config.occlusion.image_cache))
        for a in ("--set", f"occlusion.{k}={v}")
    ]
    code, _, err = cli("occlude", "--store", store, "--size", 80, "--out", out, "--render", "--max-samples", 2, *sets)
    assert code == 0, err
    data = read_occlusion_set(out)
    assert data["attrs"]["model"] == "image:blazepose" and data["score"].shape == (2, 16, 17)
    assert np.array_equal(data["occluded2d"], found["keypoints"][..., :2]) and np.array_equal(
        data["missed"], found["missed"]
    )
    assert np.array_equal(data["clean2d"], found["clean"][..., :2]) and np.array_equal(data["rows"], found["rows"])


def test_bad_input_is_one_line(cli, store, synthetic_store, tmp_path):
    (tmp_path / "empty" / "images").mkdir(parents=True)
    out = tmp_path / "occ.h5"
    for args, text in (
        ([store, "--textures", tmp_path / "empty"], "no texture images"),
        ([synthetic_store], "not from a rig corpus"),
        ([store, "--images", tmp_path], "not both"),
    ):
        code, stdout, stderr = cli(
            "occlude",
            "--store",
            *args[:1],
            "--size",
            80,
            "--out",
            out,
            "--render",
            *args[1:],
            "--set",
            f"occlusion.image_cache={tmp_path / 'cache'}",
        )
        assert code == 2 and text in stderr and len(stderr.strip().splitlines()) == 1, (args, stderr)
        assert not out.exists() and not (tmp_path / "occ.h5.tmp").exists() and "Traceback" not in stdout + stderr
    code, _, stderr = cli(
        "evaluate",
        "--protocol",
        "h36m",
        "--image-level",
        "--checkpoint",
        tmp_path / "none",
        "--store",
        store,
        "--out",
        tmp_path / "e",
    )
    assert code == 2 and "only for advocc" in stderr
