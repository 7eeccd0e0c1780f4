"""AdvOcc: patch grid, visibility, detector models, textures, occlusion sets, worst-case evaluation."""

from __future__ import annotations

import dataclasses
import json

import h5py
import numpy as np
import pytest
import torch
from PIL import Image

from hipart.config import Config
from pipelines.core.errors import UserError
from pipelines.data.store import PoseStore
from pipelines.data.textures import draw_textures, load_textures, texture_patch
from pipelines.evaluate import advocc, advocc_data, advocc_summary
from pipelines.evaluate.advocc import evaluate_advocc, worst_case
from pipelines.evaluate.occlusion import (
    apply_detector_model,
    grid_offsets,
    grid_side,
    occluded_joints,
    patch_boxes,
    person_crops,
    select_rows,
)
from pipelines.evaluate.occlusion_set import build_occlusion_set, read_occlusion_set

SIZES = {"banded": [(300, 260), (640, 480)], "dotted": [(224, 400)], "zigzagged": [(500, 500)]}


def write_dtd(root, split: list[str] | None = None):
    """A DTD-layout folder with real JPEGs of the given (w, h) sizes; optional labels/test1.txt."""
    rng = np.random.default_rng(1)
    for category, sizes in SIZES.items():
        folder = root / "images" / category
        folder.mkdir(parents=True, exist_ok=True)
        for i, (w, h) in enumerate(sizes):
            Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(folder / f"{category}_{i:04d}.jpg")
    if split is not None:
        (root / "labels").mkdir(exist_ok=True)
        (root / "labels" / "test1.txt").write_text("\n".join(split) + "\n")
    return root


@pytest.fixture(scope="module")
def dtd(tmp_path_factory):
    return write_dtd(tmp_path_factory.mktemp("dtd"))


def occ_config(**changes) -> Config:
    config = Config()
    return dataclasses.replace(config, occlusion=dataclasses.replace(config.occlusion, **changes))


# -- geometry -----------------------------------------------------------------------------------------
def test_grid_sizes_for_a_224_crop():
    assert grid_side(40) == 20 and grid_side(80) == 16
    for size, n in ((40, 20), (80, 16)):
        offsets = grid_offsets(size)
        assert offsets.shape == (n * n, 2)
        assert offsets[0].tolist() == [0, 0] and offsets[1].tolist() == [10, 0] and offsets[n].tolist() == [0, 10]
        assert offsets[-1].tolist() == [(n - 1) * 10, (n - 1) * 10]


def test_person_crop_and_patch_scaling():
    kp = np.zeros((1, 17, 2))
    kp[0, :, 0] = np.linspace(0, 100, 17)
    kp[0, :, 1] = np.linspace(0, 50, 17)
    crop = person_crops(kp, margin=0.2)  # side 100 * 1.4, centred on (50, 25)
    np.testing.assert_allclose(crop, [[50 - 70, 25 - 70, 140]])
    boxes = patch_boxes(crop, grid_offsets(40), 40)
    scale = 140 / 224
    np.testing.assert_allclose(boxes[0, 1], [-20 + 10 * scale, -45, -20 + 50 * scale, -45 + 40 * scale])


def test_joint_exactly_inside_or_outside_the_patch():
    boxes = np.array([[[10.0, 20.0, 50.0, 60.0]]])  # (1, 1, 4)
    joints = {
        (10, 20): True,
        (30, 40): True,
        (49.999, 59.999): True,
        (50, 40): False,
        (30, 60): False,
        (9.999, 40): False,
        (30, 19.999): False,
        (50, 60): False,
    }
    kp = np.zeros((1, 17, 2))
    kp[0, : len(joints)] = list(joints)
    kp[0, len(joints) :] = (200, 200)
    occluded = occluded_joints(kp, boxes)[0, 0]
    assert occluded[: len(joints)].tolist() == list(joints.values())
    assert not occluded[len(joints) :].any()


def test_detector_models():
    clean = np.full((1, 17, 2), 100.0)
    boxes = np.array([[[90.0, 80.0, 130.0, 120.0]]])
    occluded = np.zeros((1, 1, 17), bool)
    occluded[0, 0, :3] = True
    draws = np.random.default_rng(0).random((1, 1, 17, 2))
    moved, told = apply_detector_model(clean, boxes, occluded, "uniform", draws)
    assert told.all() and (moved[0, 0, 3:] == 100).all()
    inside = moved[0, 0, :3]
    assert ((inside >= [90, 80]) & (inside < [130, 120])).all()
    np.testing.assert_allclose(inside, [90, 80] + draws[0, 0, :3] * 40, rtol=1e-6)
    normal = np.random.default_rng(0).standard_normal((1, 1, 17, 2))
    moved, _ = apply_detector_model(clean, boxes, occluded, "gaussian", normal)
    np.testing.assert_allclose(moved[0, 0, :3], 100 + normal[0, 0, :3] * 20, rtol=1e-6)  # sigma = patch / 2
    moved, told = apply_detector_model(clean, boxes, occluded, "drop", None)
    assert (moved == 100).all() and told[0, 0].tolist() == [False] * 3 + [True] * 14


def test_worst_case_picks_the_maximum_of_a_known_table():
    table = np.array([[1.0, 5.0, 3.0], [np.nan, 2.0, 7.0], [4.0, np.nan, 4.5], [9.0, 8.0, 1.0]])
    worst, where = worst_case(table)
    assert worst.tolist() == [5.0, 7.0, 4.5, 9.0] and where.tolist() == [1, 2, 2, 0]
    assert select_rows(10, 0).tolist() == list(range(10)) and select_rows(10, 3).tolist() == [0, 4, 9]


# -- textures -----------------------------------------------------------------------------------------
def test_textures_from_a_dtd_folder(tmp_path):
    lib = load_textures(write_dtd(tmp_path / "dtd"))
    assert lib.names == (
        "banded/banded_0000.jpg",
        "banded/banded_0001.jpg",
        "dotted/dotted_0000.jpg",
        "zigzagged/zigzagged_0000.jpg",
    )
    assert lib.resized.tolist() == [[258, 224], [299, 224], [224, 400], [224, 224]]  # short side -> 224
    texture, offset = draw_textures(lib, 80, seed=3, row=7, positions=400)
    assert set(texture.tolist()) == {0, 1, 2, 3}
    assert ((offset >= 0) & (offset <= lib.resized[texture] - 80)).all()
    patch = texture_patch(lib, int(texture[0]), offset[0], 80)
    assert patch.shape == (80, 80, 3) and patch.dtype == np.uint8
    again = draw_textures(lib, 80, seed=3, row=7, positions=400)
    assert (again[0] == texture).all() and (again[1] == offset).all()
    split = load_textures(write_dtd(tmp_path / "split", ["dotted/dotted_0000.jpg", "banded/missing.jpg"]))
    assert split.names == ("dotted/dotted_0000.jpg",) and split.split_file


def test_empty_or_missing_texture_folder_is_a_user_error(tmp_path):
    (tmp_path / "empty" / "images" / "banded").mkdir(parents=True)
    with pytest.raises(UserError, match="no texture images found"):
        load_textures(tmp_path / "empty")
    with pytest.raises(UserError, match="not found"):
        load_textures(tmp_path / "nowhere")


# -- occlusion sets -----------------------------------------------------------------------------------
def test_seeded_set_is_reproducible(synthetic_store, dtd, tmp_path):
    config = occ_config(model="uniform")
    for name in ("a", "b"):
        build_occlusion_set(synthetic_store, 40, tmp_path / f"{name}.h5", config, textures=dtd, max_samples=24, seed=5)
    build_occlusion_set(synthetic_store, 40, tmp_path / "c.h5", config, textures=dtd, max_samples=24, seed=6)
    a, b, c = (read_occlusion_set(tmp_path / f"{n}.h5") for n in "abc")
    assert set(a) == set(b)
    for key in a:
        if key == "textures/names":
            assert a[key].tolist() == b[key].tolist()
        elif key != "attrs":
            assert a[key].dtype == b[key].dtype and a[key].tobytes() == b[key].tobytes(), key
    assert a["attrs"]["schema"] == "hipart-occlusion" and a["attrs"]["grid"] == 20
    assert a["attrs"]["store_hierarchy_sha256"] == PoseStore(synthetic_store).hierarchy_sha256
    assert a["occluded2d"].shape == (24, 400, 17, 2) and a["visible"].shape == (24, 400, 17)
    assert (a["texture_id"] != c["texture_id"]).any() and (a["occluded2d"] != c["occluded2d"]).any()
    # every re-detected joint lies in its patch; visible joints keep the clean 2D
    moved = ~a["visible"]
    box = np.broadcast_to(a["patch_box"][:, :, None], moved.shape + (4,))[moved]
    point = a["occluded2d"][moved]
    assert ((point >= box[:, :2] - 1e-3) & (point <= box[:, 2:] + 1e-3)).all()
    clean = np.broadcast_to(a["clean2d"][:, None], a["occluded2d"].shape)
    assert (a["occluded2d"][a["visible"]] == clean[a["visible"]]).all()


def test_cli_occlude_without_images(cli, synthetic_store, dtd, tmp_path):
    out = tmp_path / "occ80.h5"
    code, stdout, _ = cli(
        "occlude",
        "--store",
        synthetic_store,
        "--size",
        80,
        "--out",
        out,
        "--textures",
        dtd,
        "--max-samples",
        10,
        "--set",
        "occlusion.model=gaussian",
    )
    assert code == 0, stdout
    data = read_occlusion_set(out)
    assert data["visible"].shape == (10, 256, 17) and data["attrs"]["model"] == "gaussian"
    assert data["rows"].tolist() == select_rows(512, 10).tolist() and data["attrs"]["crops_dir"] == ""
    assert not (tmp_path / "occ80_crops").exists()
    code, stdout, _ = cli("info", out)
    assert code == 0 and "occlusion set" in stdout and "gaussian" in stdout
    from pipelines.report.info import describe

    summary = describe(out)
    assert (summary["samples"], summary["positions"], summary["size"], summary["joints"]) == (10, 256, 80, 17)
    assert summary["hidden_joints_pct"] == pytest.approx(100 * (1 - data["visible"].mean()), abs=0.01)


@pytest.mark.parametrize(
    "args, message",
    [(("--size", 50), "unknown AdvOcc patch size"), (("--size", 40, "--textures", "EMPTY"), "no texture images")],
)
def test_cli_errors_are_one_line_and_write_nothing(cli, synthetic_store, tmp_path, args, message):
    (tmp_path / "empty" / "images").mkdir(parents=True)
    args = [str(tmp_path / "empty") if a == "EMPTY" else a for a in args]
    out = tmp_path / "occ.h5"
    code, _, stderr = cli("occlude", "--store", synthetic_store, "--out", out, *args)
    assert code == 2 and message in stderr and len(stderr.strip().splitlines()) == 1
    assert not out.exists() and not (tmp_path / "occ.h5.tmp").exists()


def test_cli_occlude_with_images(cli, synthetic_store, dtd, tmp_path):
    store = PoseStore(synthetic_store)
    rows = select_rows(store.rows("test"), 2)
    subjects, actions = store.names["subjects"], store.names["actions"]
    meta = {k: store.read("test", f"meta/{k}")[rows] for k in ("subject", "action", "subaction", "camera", "frame")}
    images = tmp_path / "images"
    rng = np.random.default_rng(2)
    for i in range(len(rows)):
        path = (
            images
            / subjects[meta["subject"][i]]
            / (f"{actions[meta['action'][i]]}_{meta['subaction'][i]}.{meta['camera'][i]}")
            / f"{meta['frame'][i]:06d}.jpg"
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(90, 110, (1000, 1000, 3), dtype=np.uint8)).save(path)
    out = tmp_path / "occ80.h5"
    code, _, stderr = cli(
        "occlude",
        "--store",
        synthetic_store,
        "--size",
        80,
        "--out",
        out,
        "--textures",
        dtd,
        "--max-samples",
        2,
        "--images",
        images,
    )
    assert code == 0, stderr
    data = read_occlusion_set(out)
    crops = tmp_path / "occ80_crops"
    assert data["attrs"]["crops_dir"] == "occ80_crops"
    assert sorted(p.name for p in crops.iterdir()) == ["000000", "000001"]
    assert len(list((crops / "000001").glob("*.jpg"))) == 257
    clean = np.asarray(Image.open(crops / "000000" / "clean.jpg"), np.float64)
    occluded = np.asarray(Image.open(crops / "000000" / "017.jpg"), np.float64)  # offset (10, 10)
    assert clean.shape == occluded.shape == (224, 224, 3)
    x, y = data["offsets"][17]
    lib = load_textures(dtd)
    patch = texture_patch(lib, int(data["texture_id"][0, 17]), data["texture_offset"][0, 17], 80).astype(np.float64)
    assert np.abs(occluded[y + 5 : y + 75, x + 5 : x + 75] - patch[5:75, 5:75]).mean() < 12  # JPEG loss only
    assert np.abs(occluded[120:, 120:] - clean[120:, 120:]).mean() < 3  # untouched outside the patch
    os_missing = tmp_path / "none"
    os_missing.mkdir()
    code, _, stderr = cli(
        "occlude",
        "--store",
        synthetic_store,
        "--size",
        80,
        "--out",
        tmp_path / "x.h5",
        "--textures",
        dtd,
        "--max-samples",
        2,
        "--images",
        os_missing,
    )
    assert code == 2 and "not found" in stderr and not (tmp_path / "x.h5").exists()


# -- evaluation ---------------------------------------------------------------------------------------
class LookupOracle:
    """Returns the GT 3D of the sample whose clean 2D matches the input's (told-)visible joints, shifted
    by the mean 2D displacement of those joints; with ``drop`` it ignores the masked joints."""

    def __init__(self, store, split="test"):
        self.gt3d = store.read(split, "kp3d/sparse").astype(np.float64)
        self.gt3d -= self.gt3d[:, :1]
        self.clean = store.read(split, "kp2d/sparse")
        self.index = {(j, *p.tolist()): i for i, pose in enumerate(self.clean) for j, p in enumerate(pose)}
        self.calls = []

    def predict(self, sparse2d_px, image_size, visible=None, scores=None):
        x = np.asarray(sparse2d_px, np.float32)
        told = np.ones(x.shape[:2], bool) if visible is None else np.asarray(visible)
        self.calls.append(len(x))
        match = np.array(
            [
                next(
                    self.index[(j, *x[b, j].tolist())]
                    for j in range(17)
                    if told[b, j] and (j, *x[b, j].tolist()) in self.index
                )
                for b in range(len(x))
            ]
        )
        shift = ((x - self.clean[match]) * told[..., None]).sum(1) / told.sum(1, keepdims=True)  # (B, 2)
        out = self.gt3d[match] + np.concatenate([shift, np.zeros((len(x), 1))], -1)[:, None] * 10
        out[:, 0] = 0
        return {"kp3d": out.astype(np.float32), "dense2d": None, "fine2d": None}


def test_drop_with_a_mask_aware_model_changes_nothing(synthetic_store, tmp_path):
    store = PoseStore(synthetic_store)
    config = occ_config(model="drop", max_samples=32, batch_size=4000, heatmap_samples=2)
    result = evaluate_advocc([LookupOracle(store)], ["oracle"], store, 40, config, tmp_path)
    row = result["models"][0]
    assert row["clean_mpjpe"] < 1e-3 and row["advocc_mpjpe"] < 1e-3 and row["advocc_pa_mpjpe"] < 1e-3
    assert 0 < row["pairs_evaluated"] < 32 * 400  # untouched positions are not re-run
    uniform = evaluate_advocc([LookupOracle(store)], ["oracle"], store, 40, occ_config(max_samples=32), tmp_path)
    assert uniform["models"][0]["advocc_mpjpe"] > 1.0  # re-detected joints do move the answer
    assert (tmp_path / "advocc40_heatmap.png").stat().st_size > 0


def test_evaluate_reports_mean_of_per_sample_worst_and_reads_per_position_detections(
    synthetic_store, dtd, tmp_path, monkeypatch
):
    store = PoseStore(synthetic_store)
    config = occ_config(model="uniform", max_samples=16, heatmap_samples=0)
    models = [LookupOracle(store), LookupOracle(store)]
    result = evaluate_advocc(models, ["a", "b"], store, 80, config, tmp_path)
    errors = np.load(tmp_path / "advocc80_errors.npz")
    worst_position = np.nanargmax(errors["table_mpjpe_0"].astype(np.float64), 1)  # both metrics are read there
    for metric in ("mpjpe", "pa_mpjpe"):
        per_position = errors[f"table_{metric}_0"].astype(np.float64)
        assert per_position.shape == (16, 256) and errors["table_samples"].tolist() == list(range(16))
        at_worst = per_position[np.arange(16), worst_position]
        np.testing.assert_allclose(errors[f"worst_{metric}_0"], at_worst, rtol=1e-6)
        expected = at_worst.mean()
        assert result["models"][0][f"advocc_{metric}"] == pytest.approx(expected, rel=1e-6)
        clean = errors[f"clean_{metric}_0"].mean()
        assert result["models"][0][f"degradation_{metric}_pct"] == pytest.approx(100 * (expected - clean) / clean)
    monkeypatch.setattr(advocc, "FULL_TABLES", 0)  # large sets keep only the heatmap samples' tables
    bounded = evaluate_advocc(
        models[:1], ["a"], store, 80, occ_config(model="uniform", max_samples=16, heatmap_samples=2), tmp_path / "b"
    )
    assert bounded["models"][0]["advocc_mpjpe"] == pytest.approx(result["models"][0]["advocc_mpjpe"])
    assert np.load(tmp_path / "b" / "advocc80_errors.npz")["table_mpjpe_0"].shape == (2, 256)
    assert result["grid"] == 16 and result["samples"] == 16 and result["tables"][0][2][1][0] == "b"
    assert json.loads((tmp_path / "results.json").read_text())["models"][1]["name"] == "b"
    # an external detector that returns the keypoint-level set gives the same figures
    set_path = tmp_path / "occ80.h5"
    build_occlusion_set(store, 80, set_path, config, textures=dtd)
    with h5py.File(set_path) as f:
        np.savez(tmp_path / "det.npz", keypoints=f["occluded2d"][()], rows=f["rows"][()], size=80)
    again = evaluate_advocc([LookupOracle(store)], ["a"], store, 80, config, tmp_path / "ext", tmp_path / "det.npz")
    assert again["models"][0]["advocc_mpjpe"] == pytest.approx(result["models"][0]["advocc_mpjpe"], rel=1e-6)
    assert again["models"][0]["pairs_evaluated"] == 16 * 256
    np.savez(tmp_path / "bad.npz", keypoints=np.zeros((16, 400, 17, 2)), rows=np.arange(16))
    with pytest.raises(UserError, match="expected \\(N, 256, 17, 2\\|3\\)"):
        evaluate_advocc([LookupOracle(store)], ["a"], store, 80, config, tmp_path, tmp_path / "bad.npz")


def test_worst_position_diagnostics(synthetic_store, tmp_path):
    """Pelvis-hidden share, hidden / visible input 2D error and per-joint 3D error, read at the worst position."""
    from pipelines.evaluate.occlusion import occlude_block
    from pipelines.evaluate.occlusion_set import load_inputs

    store = PoseStore(synthetic_store)
    config = occ_config(model="uniform", max_samples=12, heatmap_samples=0)
    result = evaluate_advocc([LookupOracle(store)], ["a"], store, 80, config, tmp_path)
    row, errors = result["models"][0], np.load(tmp_path / "advocc80_errors.npz")
    rows = errors["rows"]
    gt2d, clean2d = load_inputs(store, "test", "gt", rows)
    block = occlude_block(gt2d, clean2d, rows, 80, config.occlusion)
    at = np.arange(len(rows))
    where = errors["worst_position_mpjpe_0"]
    hidden = ~block["visible"][at, where]  # (N, 17)
    assert np.array_equal(errors["worst_hidden_0"], hidden)
    assert row["pelvis_hidden_at_worst_pct"] == pytest.approx(100 * hidden[:, 0].mean())
    err2d = np.linalg.norm(block["occluded2d"][at, where] - gt2d, axis=-1)
    assert row["err2d_hidden_px"] == pytest.approx(err2d[hidden].mean(), rel=1e-5) and row["err2d_hidden_px"] > 0
    assert row["err2d_visible_px"] == pytest.approx(0, abs=1e-4)  # GT input: visible joints are exact
    joint = errors["worst_joint_err_0"]
    assert np.isnan(joint[hidden]).all() and np.isfinite(joint[~hidden]).all()
    np.testing.assert_allclose(joint[~hidden].mean(), np.nanmean(joint), rtol=1e-9)
    touched = ~block["visible"].all(-1)
    moved = ~block["visible"] & touched[..., None]
    all2d = np.linalg.norm(block["occluded2d"] - gt2d[:, None], axis=-1)
    assert result["input_err2d"]["hidden_px"] == pytest.approx(all2d[moved].mean(), rel=1e-5)
    assert result["models"][0]["per_joint"]["hidden_at_worst_pct"][0] == row["pelvis_hidden_at_worst_pct"]


def test_bench_advocc_quick(cli):
    from pipelines.bench import advocc as bench_advocc

    lifter = dataclasses.replace(Config().lifter, dim=32, blocks=1, heads=2)
    (report,) = bench_advocc.run(dataclasses.replace(Config(), lifter=lifter), quick=True)
    assert report["name"] == "advocc" and [r[0] for r in report["rows"]] == ["@40", "@40", "@80", "@80"]
    assert all(r[3] in (400, 256) and 0 < r[4] <= r[2] * r[3] and r[6] > 0 for r in report["rows"])
    code, stdout, _ = cli(
        "bench", "advocc", "--quick", "--set", "lifter.dim=32", "--set", "lifter.blocks=1", "--set", "lifter.heads=2"
    )
    assert code == 0 and "pairs/s" in stdout


def test_hipart_evaluate_dispatches_advocc_with_a_real_lifting_model(synthetic_store, tmp_path):
    from hipart.config import LifterConfig
    from hipart.lifter import Lifter
    from pipelines.evaluate.protocols import evaluate
    from pipelines.models.level_sources import NoLevels
    from pipelines.models.lifting import LiftingModel

    torch.manual_seed(0)
    lifter = Lifter(LifterConfig(levels=(17,), dim=32, blocks=1, heads=2, dropout=0.0))
    model = LiftingModel(lifter=lifter, source=NoLevels(), flip_perms={}, device=torch.device("cpu"), name="tiny")
    config = occ_config(max_samples=8, heatmap_samples=1)
    result = evaluate("advocc80", None, synthetic_store, tmp_path, config, models=[model])
    row = result["models"][0]
    assert row["name"] == "tiny" and np.isfinite([row["clean_mpjpe"], row["advocc_mpjpe"]]).all()
    # the worst position is never better than the clean pose (untouched positions score the clean error)
    assert row["advocc_mpjpe"] >= row["clean_mpjpe"] and row["advocc_pa_mpjpe"] >= row["clean_pa_mpjpe"]
    assert json.loads((tmp_path / "results.json").read_text())["protocol"] == "advocc80"
    assert (tmp_path / "advocc80_heatmap.png").is_file()


def test_a_gt_level_lifter_is_refused(synthetic_store, tmp_path):
    from types import SimpleNamespace

    model = SimpleNamespace(source=SimpleNamespace(name="gt"), predict=None)
    with pytest.raises(UserError, match="dense-source gt"):
        evaluate_advocc([model], ["gt-lifter"], PoseStore(synthetic_store), 40, occ_config(), tmp_path)


def test_paper_degradations_are_the_papers_table():
    """+61 % / +85 % for HiPART, +228 % VideoPose3D and +94 % Di2Pose at @80 (3DPW, MPJPE)."""
    at40, at80 = advocc_summary.paper_degradation_pct(40), advocc_summary.paper_degradation_pct(80)
    assert {k: round(v) for k, v in at40.items()} == {"HiPART (paper, 3DPW)": 61}
    assert {k: round(v) for k, v in at80.items()} == {
        "HiPART (paper, 3DPW)": 85,
        "VideoPose3D (paper, 3DPW)": 228,
        "Di2Pose (paper, 3DPW)": 94,
    }


def test_protocol_joints_follow_the_store_source():
    from types import SimpleNamespace

    name, joints = advocc_data.protocol_joints(SimpleNamespace(source="3dpw:3DPW"))
    assert "14" in name and joints.sum() == 14 and not joints[0] and not joints[7]  # no pelvis, no spine
    name, joints = advocc_data.protocol_joints(SimpleNamespace(source="h36m:annotations"))
    assert "17" in name and joints.all()
