"""The CPU mesh renderer (pipelines/data/render.py) on hand-made geometry and the sample corpus, and `hipart render`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import trimesh
from helpers.coarsen_data import write_rig_folder
from PIL import Image

from pipelines.data import render as R
from pipelines.data.camera import Camera, camera_from_dict
from pipelines.data.render_rows import parse_rows
from pipelines.data.synth import lbs
from pipelines.data.textures import load_textures

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"
F, C = np.array([100.0, 100.0]), np.array([8.0, 8.0])


def unproject(px, z) -> np.ndarray:
    """Pixels (N, 2) at depths (N,) -> camera mm (N, 3) for the test intrinsics F, C."""
    px, z = np.asarray(px, np.float64), np.broadcast_to(np.asarray(z, np.float64), (len(px),))
    return np.column_stack([(px - C) / F * z[:, None], z])


def quad(corners_px, z) -> tuple[np.ndarray, np.ndarray]:
    """Axis-aligned quad (x0, y0, x1, y1) px at constant depth: 4 vertices, 2 faces."""
    x0, y0, x1, y1 = corners_px
    return unproject([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], z), np.array([[0, 1, 2], [0, 2, 3]])


def test_triangle_covers_exactly_the_pixel_centres_inside():
    tri_px = np.array([[2.2, 2.3], [12.1, 2.3], [2.2, 12.4]])
    depth, face = R.rasterize(unproject(tri_px, 1000.0), [[0, 1, 2]], F, C, 16, 16)
    j, i = np.mgrid[0:16, 0:16] + 0.5  # pixel centres (y, x)
    inside = (i >= 2.2) & (j >= 2.3) & ((i - 2.2) / 9.9 + (j - 2.3) / 10.1 <= 1)
    assert inside.sum() > 30 and np.array_equal(face >= 0, inside)
    assert np.all(face[inside] == 0) and np.all(face[~inside] == -1)
    assert np.allclose(depth[inside], 1000.0, atol=1e-3) and np.all(np.isinf(depth[~inside]))
    assert depth.dtype == np.float32 and face.dtype == np.int64


def test_both_windings_are_drawn_and_faces_behind_or_outside_are_dropped():
    verts = unproject([[2.2, 2.3], [12.1, 2.3], [2.2, 12.4]], 1000.0)
    a = R.rasterize(verts, [[0, 1, 2]], F, C, 16, 16)[1]
    b = R.rasterize(verts, [[0, 2, 1]], F, C, 16, 16)[1]
    assert np.array_equal(a, b)
    behind = verts * [1, 1, -1]
    assert (R.rasterize(behind, [[0, 1, 2]], F, C, 16, 16)[1] == -1).all()
    outside = unproject([[30, 30], [40, 30], [30, 40]], 1000.0)
    assert (R.rasterize(outside, [[0, 1, 2]], F, C, 16, 16)[1] == -1).all()


@pytest.mark.parametrize("near_first", [True, False])
def test_nearer_quad_wins_where_quads_overlap(near_first):
    near_v, near_f = quad((2, 2, 10, 10), 1000.0)
    far_v, far_f = quad((6, 6, 14, 14), 2000.0)
    parts = [(near_v, near_f), (far_v, far_f)] if near_first else [(far_v, far_f), (near_v, near_f)]
    verts = np.concatenate([parts[0][0], parts[1][0]])
    faces = np.concatenate([parts[0][1], parts[1][1] + 4])
    depth, face = R.rasterize(verts, faces, F, C, 16, 16)
    near_faces = {0, 1} if near_first else {2, 3}
    assert set(np.unique(face[2:10, 2:10]).tolist()) <= near_faces  # overlap 6..10 included
    assert np.allclose(depth[2:10, 2:10], 1000.0, atol=1e-3)
    assert np.allclose(depth[10:14, 10:14], 2000.0, atol=1e-3) and not set(face[10:14, 10:14].ravel()) & near_faces


def test_depth_is_perspective_correct_on_a_slanted_plane():
    px = np.array([[-4.0, -4.0], [20.0, -4.0], [20.0, 20.0], [-4.0, 20.0]])
    ray = np.column_stack([(px - C) / F, np.ones(4)])  # (4, 3) camera rays with Z = 1
    plane = lambda r: 1000.0 / (1 - 0.5 * r[..., 0] - 0.3 * r[..., 1])  # Z on Z = 1000 + 0.5 X + 0.3 Y
    verts = ray * plane(ray)[:, None]
    depth, face = R.rasterize(verts, [[0, 1, 2], [0, 2, 3]], F, C, 16, 16)
    j, i = np.mgrid[0:16, 0:16] + 0.5
    centre_rays = np.stack([(i - C[0]) / F[0], (j - C[1]) / F[1]], -1)
    assert (face >= 0).all()
    assert np.abs(depth - plane(centre_rays)).max() < 1e-3
    assert np.ptp(depth) > 50  # the plane really is slanted


def triangle_soup(seed: int = 0, n: int = 300):
    rng = np.random.default_rng(seed)
    centres = np.column_stack([rng.uniform(-300, 300, (n, 2)), rng.uniform(900, 1100, n)])
    verts = (centres[:, None] + rng.normal(0, 60, (n, 3, 3))).reshape(-1, 3)
    verts[3::9, 2] = verts[0::9, 2]  # some exact depth ties
    return verts, np.arange(3 * n).reshape(n, 3)


def test_rasterize_is_deterministic_and_independent_of_chunking(monkeypatch):
    verts, faces = triangle_soup()
    f, c = np.array([60.0, 60.0]), np.array([32.0, 32.0])
    first = R.rasterize(verts, faces, f, c, 64, 64)
    second = R.rasterize(verts, faces, f, c, 64, 64)
    assert all(a.tobytes() == b.tobytes() for a, b in zip(first, second))
    monkeypatch.setattr(R, "CHUNK_PAIRS", 97)
    chunked = R.rasterize(verts, faces, f, c, 64, 64)
    assert all(a.tobytes() == b.tobytes() for a, b in zip(first, chunked))
    assert (first[1] >= 0).mean() > 0.3
    plane = unproject([[-4.0, -4.0], [20.0, -4.0], [20.0, 20.0], [-4.0, 20.0]], [1000.0, 1200.0, 1400.0, 1200.0])
    monkeypatch.setattr(R, "CHUNK_PAIRS", 40)  # each face's box splits into bands
    banded = R.rasterize(plane, [[0, 1, 2], [0, 2, 3]], F, C, 16, 16)
    monkeypatch.setattr(R, "CHUNK_PAIRS", 1 << 22)
    whole = R.rasterize(plane, [[0, 1, 2], [0, 2, 3]], F, C, 16, 16)
    assert all(a.tobytes() == b.tobytes() for a, b in zip(banded, whole)) and (whole[1] >= 0).all()


def test_crop_camera_round_trip():
    rng = np.random.default_rng(3)
    camera = Camera(
        R=np.eye(3),
        t=np.array([10.0, -20.0, 3000.0]),
        f=np.array([1100.0, 1090.0]),
        c=np.array([500.0, 510.0]),
        size=(1000, 1000),
    )
    points = rng.normal(0, 400, (50, 3))
    full = camera.project(camera.to_camera(points))
    crop, box = R.crop_camera(camera, full, 256, scale=1.25)
    low, high = full.min(0), full.max(0)
    assert np.isclose(box[2], 1.25 * (high - low).max())
    assert np.allclose(box[:2] + box[2] / 2, (low + high) / 2)
    assert crop.size == (256, 256) and np.array_equal(crop.R, camera.R) and np.array_equal(crop.t, camera.t)
    in_crop = crop.project(crop.to_camera(points))
    assert np.allclose(in_crop, R.image_to_crop(full, box, 256))
    assert np.allclose(R.crop_to_image(in_crop, box, 256), full)
    assert in_crop.min() > 0 and in_crop.max() < 256


def sphere(centre, radius: float):
    mesh = trimesh.creation.icosphere(2)
    return np.asarray(mesh.vertices) * radius + centre, np.asarray(mesh.faces)


@pytest.mark.parametrize("z, expect_visible", [(3000.0, False), (1500.0, True)])
def test_sphere_behind_a_quad_is_hidden_and_in_front_visible(z, expect_visible):
    camera = Camera(R=np.eye(3), t=np.zeros(3), f=np.array([200.0, 200.0]), c=np.array([32.0, 32.0]), size=(64, 64))
    wall = np.array([[-2000.0, -2000, 2000], [2000, -2000, 2000], [2000, 2000, 2000], [-2000, 2000, 2000]])
    ball, ball_faces = sphere(np.array([0.0, 0.0, z]), 100.0)
    verts = np.concatenate([wall, ball])
    faces = np.concatenate([[[0, 1, 2], [0, 2, 3]], ball_faces + 4])
    result = R.render_mesh(verts, faces, camera, np.zeros((64, 64, 3), np.uint8))
    visible = R.vertex_visibility(camera.to_camera(verts), result.depth, camera)
    regressor = np.zeros((1, len(verts)))
    regressor[0, 4:] = 1.0 / len(ball)  # the ball's centre
    score = R.joint_visibility(visible, regressor)
    if expect_visible:
        assert 0.3 < score[0] < 0.7 and not R.hidden_mask(score)[0]  # its near half is seen
    else:
        assert score[0] == 0 and R.hidden_mask(score)[0] and not visible[4:].any()


def test_joint_visibility_on_a_hand_made_regressor():
    visible = np.array([True, False, True, False])
    regressor = np.array([[0.5, 0.5, 0, 0], [0, 0, 0, 0], [0.25, 0.25, 0.25, 0.25], [1.0, -0.2, 0, 0.2]])
    scores = R.joint_visibility(visible, regressor)
    assert scores.dtype == np.float32
    assert np.allclose(scores, [0.5, 0.0, 0.5, 1 / 1.2])
    assert R.hidden_mask(scores).tolist() == [False, True, False, False]


@pytest.fixture(scope="module")
def sample_mesh():
    with np.load(SAMPLE / "rig.npz") as npz:
        rig = {k: npz[k] for k in npz.files}
    with np.load(SAMPLE / "motions.npz") as npz:
        index = int(np.flatnonzero(npz["subject"] == "S9")[0])
        pose, trans = npz["rotations"][index : index + 1], npz["translation"][index : index + 1]
    subject = [str(s) for s in rig["subjects"]].index("S9")
    verts = lbs.posed_vertices(rig, subject, pose.astype(np.float64), trans.astype(np.float64))[0] * 1000.0
    entry = json.loads((SAMPLE / "cameras.json").read_text())["S9"]["54138969"]
    return rig, verts, camera_from_dict(entry, "cameras.json")


def test_sample_mesh_silhouette_matches_projected_vertices(sample_mesh):
    rig, verts, camera = sample_mesh
    rng = np.random.default_rng(0)
    colors = R.body_part_colors(rig["lbs_index"], list(rig["bone_names"]), rng)
    background = R.noise_background(camera.size, rng)
    result = R.render_mesh(verts, rig["faces"], camera, background, colors)
    width, height = camera.size
    assert result.image.shape == (height, width, 3) and result.depth.shape == (height, width)
    px = camera.project(camera.to_camera(verts))
    ys, xs = np.nonzero(result.face_index >= 0)
    assert np.abs([xs.min() + 0.5 - px[:, 0].min(), ys.min() + 0.5 - px[:, 1].min()]).max() <= 2
    assert np.abs([xs.max() + 0.5 - px[:, 0].max(), ys.max() + 0.5 - px[:, 1].max()]).max() <= 2
    assert np.array_equal(result.image[result.face_index < 0], background[result.face_index < 0])
    depth = result.depth[result.face_index >= 0]
    assert depth.min() >= camera.to_camera(verts)[:, 2].min() - 1 and np.isfinite(depth).all()


def test_sample_crop_render_and_visibility(sample_mesh):
    rig, verts, camera = sample_mesh
    cam = camera.to_camera(verts)
    crop, _ = R.crop_camera(camera, camera.project(cam), 128)
    result = R.render_mesh(verts, rig["faces"], crop, np.zeros((128, 128, 3), np.uint8))
    covered = result.face_index >= 0
    assert 0.05 < covered.mean() < 0.6 and result.camera is crop
    visible = R.vertex_visibility(cam, result.depth, crop)
    assert 0.2 < visible.mean() < 0.8  # roughly the front half
    scores = R.joint_visibility(visible, rig["sparse_regressor"])
    assert scores.shape == (17,) and ((scores >= 0) & (scores <= 1)).all() and np.median(scores) > R.VISIBLE_THRESHOLD


def test_body_part_colors_follow_the_dominant_bone():
    names = ["root", "spine01", "head", "upperarm01.L", "lowerarm01.L", "upperleg01.L", "lowerleg01.L", "foot.L"]
    index = np.zeros((len(names), 4), np.int64)
    index[:, 0] = np.arange(len(names))
    colors = R.body_part_colors(index, names, np.random.default_rng(0))
    assert colors.shape == (8, 3) and ((colors >= 0) & (colors <= 1)).all()
    assert np.allclose(colors[1], colors[3])  # shirt: spine, upper arm
    assert np.allclose(colors[2], colors[4])  # skin: head, forearm
    assert np.allclose(colors[5], colors[6]) and np.allclose(colors[0], colors[5])  # trousers: legs, pelvis
    assert not np.allclose(colors[1], colors[2]) and not np.allclose(colors[7], colors[5])


def test_backgrounds_are_seeded_and_sized():
    a = R.noise_background((40, 30), np.random.default_rng(5))
    b = R.noise_background((40, 30), np.random.default_rng(5))
    assert a.shape == (30, 40, 3) and a.dtype == np.uint8 and np.array_equal(a, b) and a.std() > 0
    library = load_textures(SAMPLE / "textures" / "dtd")
    tex = R.texture_background(library, 0, (300, 120), np.random.default_rng(0))
    assert tex.shape == (120, 300, 3) and tex.dtype == np.uint8


def test_parse_rows():
    assert parse_rows(None, 20, "test").tolist() == list(range(8))
    assert parse_rows("0:10:5, 7", 20, "test").tolist() == [0, 5, 7]
    assert parse_rows("15:", 20, "test").tolist() == [15, 16, 17, 18, 19]


# ------------------------------------------------------------------------------------------- CLI
@pytest.fixture(scope="module")
def rig_store(tmp_path_factory):
    from hipart_cli.main import main

    root = tmp_path_factory.mktemp("render")
    folder = write_rig_folder(root / "sample", frames=4)
    assert main(["coarsen", "--sample", str(folder), "--out", str(root / "poses.h5"), "--no-resume"]) == 0
    return folder, root / "poses.h5"


def test_cli_render_writes_images_depth_and_json(cli, rig_store, tmp_path):
    folder, store = rig_store
    code, _, err = cli("render", "--store", store, "--sample", folder, "--out", tmp_path, "--rows", "0,2", "--size", 64)
    assert code == 0, err
    for row in (0, 2):
        image = Image.open(tmp_path / f"row_{row}.png")
        depth = Image.open(tmp_path / f"row_{row}_depth.png")
        assert image.size == (64, 64) and image.mode == "RGB" and depth.mode == "I;16"
        values = np.asarray(depth)
        assert (values == 0).any() and 3000 < values[values > 0].mean() < 7000  # mm, cameras 4.5 m away
    summary = json.loads((tmp_path / "render.json").read_text())
    assert [r["row"] for r in summary["rows"]] == [0, 2]
    record = summary["rows"][0]
    assert len(record["visibility"]) == 17 and len(record["box"]) == 3 and record["camera"]["size"] == [64, 64]


def test_cli_render_errors_are_one_line(cli, rig_store, tmp_path, synthetic_store):
    folder, store = rig_store
    empty = tmp_path / "empty"
    empty.mkdir()
    for args, text in (
        (["--rows", "99999"], "out of range"),
        (["--textures", empty], "no texture images"),
        (["--split", "val"], "--split"),
    ):
        code, out, err = cli("render", "--store", store, "--sample", folder, "--out", tmp_path / "o", *args)
        assert code == 2 and text in err and len(err.strip().splitlines()) == 1 and "Traceback" not in out + err
    code, _, err = cli("render", "--store", synthetic_store, "--out", tmp_path / "o")
    assert code == 2 and "not from a rig corpus" in err
    code, _, err = cli("render", "--store", tmp_path / "none.h5", "--out", tmp_path / "o")
    assert code == 2 and "none.h5" in err
