"""HEM hierarchy (pipelines/data/hem.py, pipelines/data/hierarchy.py): exact and pose2mesh modes."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import trimesh
from scipy.sparse.csgraph import connected_components

from hipart.skeleton import H36M_BONES, bone_order_center_to_periphery
from pipelines.data.hem import mesh_adjacency, padded_orders, pose2mesh_levels, pose2mesh_one_level
from pipelines.data.hierarchy import build_hierarchy, involution_from_assignment
from pipelines.data.store import hierarchy_sha256

# A crude T-pose body in metres (Z up, +X = the body's left), H36M-17 order.
BODY_JOINTS = np.array(
    [
        [0, 0, 0],
        [-0.12, 0, 0],
        [-0.12, 0, -0.45],
        [-0.12, 0, -0.9],  # pelvis, right leg
        [0.12, 0, 0],
        [0.12, 0, -0.45],
        [0.12, 0, -0.9],  # left leg
        [0, 0, 0.25],
        [0, 0, 0.5],
        [0, 0, 0.62],
        [0, 0, 0.78],  # spine, thorax, neck, head
        [0.2, 0, 0.5],
        [0.45, 0, 0.5],
        [0.7, 0, 0.5],  # left arm
        [-0.2, 0, 0.5],
        [-0.45, 0, 0.5],
        [-0.7, 0, 0.5],  # right arm
    ]
)


def voxel_surface(occupied: np.ndarray, origin: np.ndarray, size: float) -> tuple[np.ndarray, np.ndarray]:
    """Boundary quads (two triangles each) of a voxel solid, with shared lattice vertices."""
    padded = np.pad(occupied, 1)
    corners, quads = [], []
    for axis in range(3):
        u, v = [a for a in range(3) if a != axis]
        for step in (-1, 1):
            exposed = padded & ~np.roll(padded, -step, axis=axis)
            cells = np.argwhere(exposed[1:-1, 1:-1, 1:-1])
            base = cells.copy()
            base[:, axis] += step > 0
            for du, dv in ((0, 0), (1, 0), (1, 1), (0, 1)):
                corner = base.copy()
                corner[:, u] += du
                corner[:, v] += dv
                corners.append(corner)
            quads.append(len(cells))
    n = sum(quads)
    stacked = np.concatenate([np.stack(corners[4 * i : 4 * i + 4], 1) for i in range(len(quads))])  # (n, 4, 3)
    lattice, index = np.unique(stacked.reshape(-1, 3), axis=0, return_inverse=True)
    index = index.reshape(n, 4)
    faces = np.concatenate([index[:, [0, 1, 2]], index[:, [0, 2, 3]]])
    return origin + lattice * size, faces


def nearest_regressor(vertices: np.ndarray, joints: np.ndarray, k: int = 8) -> np.ndarray:
    """(17, V) regressor averaging the k vertices nearest to every joint."""
    regressor = np.zeros((len(joints), len(vertices)))
    for j, joint in enumerate(joints):
        nearest = np.argsort(np.linalg.norm(vertices - joint, axis=1), kind="stable")[:k]
        regressor[j, nearest] = 1.0 / k
    return regressor


@pytest.fixture(scope="module")
def body():
    """Connected surface of a stick figure thickened to 5 cm, symmetric in X."""
    size = 0.04
    axes = [np.arange(-0.84, 0.84 + 1e-9, size), np.arange(-0.12, 0.12 + 1e-9, size), np.arange(-1.0, 0.96, size)]
    centers = np.stack(np.meshgrid(*axes, indexing="ij"), -1)  # (X, Y, Z, 3)
    occupied = np.linalg.norm(centers - BODY_JOINTS[10], axis=-1) < 0.11
    for parent, child in H36M_BONES:
        a, b = BODY_JOINTS[parent], BODY_JOINTS[child]
        t = np.clip(((centers - a) @ (b - a)) / ((b - a) @ (b - a)), 0, 1)
        occupied |= np.linalg.norm(centers - a - t[..., None] * (b - a), axis=-1) < 0.06
    origin = np.array([axes[0][0], axes[1][0], axes[2][0]]) - size / 2
    vertices, faces = voxel_surface(occupied, origin, size)
    return faces, vertices, nearest_regressor(vertices, BODY_JOINTS)


@pytest.fixture(scope="module")
def sphere():
    mesh = trimesh.creation.icosphere(subdivisions=4)
    joints = BODY_JOINTS * 0.8
    return np.asarray(mesh.faces), np.asarray(mesh.vertices), nearest_regressor(np.asarray(mesh.vertices), joints)


@pytest.fixture(scope="module")
def exact(sphere, body):
    return {"sphere": build_hierarchy(*sphere), "body": build_hierarchy(*body)}


@pytest.fixture(scope="module")
def p2m(sphere):
    return build_hierarchy(*sphere, mode="pose2mesh")


def clusters(weights: np.ndarray) -> list[frozenset]:
    return [frozenset(np.flatnonzero(row).tolist()) for row in weights]


def check_basic_shapes(h: dict, num_vertices: int):
    expected = {
        "fine_from_vertex": ((96, num_vertices), np.float32),
        "dense_from_fine": ((48, 96), np.float32),
        "fine_real": ((96,), np.bool_),
        "dense_real": ((48,), np.bool_),
        "bone_of_dense": ((48,), np.int32),
        "bone_order": ((16,), np.int32),
        "fine_flip": ((96,), np.int32),
        "dense_flip": ((48,), np.int32),
    }
    assert set(h) == set(expected)
    for name, (shape, dtype) in expected.items():
        assert h[name].shape == shape and h[name].dtype == dtype, name
    assert np.allclose(h["fine_from_vertex"].sum(1), 1, atol=1e-6)
    assert np.allclose(h["dense_from_fine"].sum(1), 1, atol=1e-6)
    assert (h["fine_from_vertex"] >= 0).all() and (h["dense_from_fine"] >= 0).all()
    assert np.bincount(h["bone_of_dense"], minlength=16).tolist() == [3] * 16
    assert h["bone_order"].tolist() == list(bone_order_center_to_periphery())
    for name in ("fine_flip", "dense_flip"):
        flip = h[name]
        assert sorted(flip.tolist()) == list(range(len(flip)))
        assert (flip[flip] == np.arange(len(flip))).all(), f"{name} is not an involution"


# ----------------------------------------------------------------------------- exact mode


@pytest.mark.parametrize("mesh", ["sphere", "body"])
def test_exact_counts_shapes_and_connectivity(exact, mesh, sphere, body):
    faces, vertices, _ = {"sphere": sphere, "body": body}[mesh]
    h = exact[mesh]
    check_basic_shapes(h, len(vertices))
    assert h["fine_real"].all() and h["dense_real"].all()
    adjacency = mesh_adjacency(faces, len(vertices))
    fine = clusters(h["fine_from_vertex"])
    dense = clusters(h["dense_from_fine"] @ h["fine_from_vertex"])
    for level in (fine, dense):
        assert len(set(level)) == len(level) and sum(map(len, level)) == len(vertices)  # a partition
        for members in level:
            idx = np.array(sorted(members))
            n_parts, _ = connected_components(adjacency[idx][:, idx], directed=False)
            assert n_parts == 1, "a cluster is not connected on the mesh"


def test_exact_nesting_and_uniform_means(exact):
    h = exact["body"]
    fine_w, dense_from_fine = h["fine_from_vertex"].astype(np.float64), h["dense_from_fine"].astype(np.float64)
    fine = clusters(fine_w)
    parent_of_fine = [np.flatnonzero(col) for col in dense_from_fine.T]
    assert all(len(p) == 1 for p in parent_of_fine), "every fine cluster belongs to exactly one dense cluster"
    dense_w = dense_from_fine @ fine_w
    rng = np.random.default_rng(0)
    x = rng.normal(size=(fine_w.shape[1], 3))
    for d, members in enumerate(clusters(dense_w)):
        children = [f for f in range(96) if parent_of_fine[f][0] == d]
        assert members == frozenset().union(*(fine[f] for f in children))
        assert np.allclose(dense_w[d] @ x, x[sorted(members)].mean(0), atol=1e-5)
    for f, members in enumerate(fine):
        assert np.allclose(fine_w[f] @ x, x[sorted(members)].mean(0), atol=1e-5)


def test_exact_deterministic_and_face_order_invariant(exact, sphere):
    faces, vertices, regressor = sphere
    again = build_hierarchy(faces, vertices, regressor)
    assert hierarchy_sha256(again) == hierarchy_sha256(exact["sphere"])
    rng = np.random.default_rng(1)
    shuffled = faces[rng.permutation(len(faces))]
    rotated = np.stack([np.roll(f, int(s)) for f, s in zip(shuffled, rng.integers(0, 3, len(faces)))])
    other = build_hierarchy(rotated, vertices, regressor)
    for name in ("fine_from_vertex",):
        assert set(clusters(other[name])) == set(clusters(exact["sphere"][name]))
    dense = lambda h: set(clusters(h["dense_from_fine"] @ h["fine_from_vertex"]))  # noqa: E731
    assert dense(other) == dense(exact["sphere"])
    assert hierarchy_sha256(other) == hierarchy_sha256(exact["sphere"])


def test_exact_bones_and_flips_follow_the_body(exact, body):
    h = exact["body"]
    _, vertices, _ = body
    dense_rest = (h["dense_from_fine"] @ h["fine_from_vertex"]).astype(np.float64) @ vertices
    for b, (parent, child) in enumerate(H36M_BONES):
        bone_x = BODY_JOINTS[[parent, child], 0].mean()
        joints_x = dense_rest[h["bone_of_dense"] == b, 0]
        if abs(bone_x) > 0.1:  # limbs: their dense joints lie on the same side of the body
            assert (np.sign(joints_x) == np.sign(bone_x)).all(), (b, joints_x, bone_x)
    fine_rest = h["fine_from_vertex"].astype(np.float64) @ vertices
    for rest, flip in ((dense_rest, h["dense_flip"]), (fine_rest, h["fine_flip"])):
        lateral = np.abs(rest[:, 0]) > 0.3  # arms
        assert (np.sign(rest[lateral, 0]) == -np.sign(rest[flip[lateral], 0])).all()
        mirrored = rest * np.array([-1.0, 1.0, 1.0])  # the body's sagittal plane is x = 0
        flipped_error = np.linalg.norm(mirrored - rest[flip], axis=1).mean()
        unflipped_error = np.linalg.norm(mirrored - rest, axis=1).mean()
        assert flipped_error < 0.25 * unflipped_error, (flipped_error, unflipped_error)


def test_bad_inputs(sphere):
    faces, vertices, regressor = sphere
    with pytest.raises(ValueError, match="mode"):
        build_hierarchy(faces, vertices, regressor, mode="metis")
    extra = np.concatenate([vertices, [[5.0, 5.0, 5.0]]])
    with pytest.raises(ValueError, match="no face"):
        build_hierarchy(faces, extra, np.pad(regressor, ((0, 0), (0, 1))))
    tetra = np.array([[0, 1, 2], [0, 1, 3], [0, 2, 3], [1, 2, 3]])
    many_parts = np.concatenate([tetra + 4 * k for k in range(100)])  # 100 components > 96 clusters
    tiled = np.random.default_rng(0).normal(size=(400, 3))
    with pytest.raises(ValueError, match="components"):
        build_hierarchy(many_parts, tiled, np.full((17, 400), 1 / 400))


def test_exact_other_sizes_and_sparse_regressor(sphere):
    faces, vertices, regressor = sphere
    h = build_hierarchy(faces, vertices, sp.csr_matrix(regressor), n_fine=64, n_dense=32)
    assert h["fine_from_vertex"].shape == (64, len(vertices)) and h["dense_from_fine"].shape == (32, 64)
    assert np.bincount(h["bone_of_dense"]).tolist() == [2] * 16
    assert ((h["dense_from_fine"] > 0).sum(0) == 1).all()  # every fine cluster in one dense cluster
    with pytest.raises(ValueError, match="multiple"):
        build_hierarchy(faces, vertices, regressor, n_fine=40, n_dense=20)
    with pytest.raises(ValueError, match="integer"):
        build_hierarchy(faces.astype(float), vertices, regressor)


def test_involution_from_assignment_splits_cycles():
    points = np.array([0.0, 1.0, 2.0, 3.0, 10.0])
    cost = np.abs(points[:, None] - points[None])
    out = involution_from_assignment(np.array([1, 2, 3, 0, 4]), cost)  # 4-cycle -> cheaper pairs
    assert out.tolist() == [1, 0, 3, 2, 4]
    out = involution_from_assignment(np.array([1, 2, 0, 3, 4]), cost)  # 3-cycle -> one fixed point
    assert out.tolist() == [0, 2, 1, 3, 4]  # fixing 0 or 2 both cost 2; the first option wins


# ----------------------------------------------------------------------------- pose2mesh mode


def test_pose2mesh_shapes_and_fake_nodes(p2m, sphere):
    faces, vertices, _ = sphere
    check_basic_shapes(p2m, len(vertices))
    fine_w, dense_from_fine = p2m["fine_from_vertex"], p2m["dense_from_fine"]
    fine_real, dense_real = p2m["fine_real"], p2m["dense_real"]
    assert 48 < fine_real.sum() < 96 and 24 < dense_real.sum() <= 48
    # real nodes first within each sibling pair; a fake fine node copies its real sibling
    for s in np.flatnonzero(~fine_real):
        sibling = s ^ 1
        if fine_real[sibling]:
            assert s % 2 == 1 and np.array_equal(fine_w[s], fine_w[sibling])
    dense_w = dense_from_fine @ fine_w
    for s in np.flatnonzero(~fine_real):
        assert np.allclose(fine_w[s], dense_w[s // 2])  # fake = its parent's point
    for s in range(48):
        kids = [c for c in (2 * s, 2 * s + 1) if fine_real[c]]
        assert dense_real[s] == bool(kids)
        if len(kids) == 1:  # a single real child is copied
            assert np.allclose(dense_w[s], fine_w[kids[0]], atol=1e-7)


def test_pose2mesh_points_are_recursive_pairwise_averages(p2m, sphere):
    """Independent Pose2Mesh-style forward: padded level-0 points, pairwise averages, single child copied."""
    faces, vertices, _ = sphere
    parents = pose2mesh_levels(mesh_adjacency(faces, len(vertices)), top_size=24)
    orders = padded_orders(parents, top_size=24)
    points = np.where((orders[0] < len(vertices))[:, None], vertices[np.minimum(orders[0], len(vertices) - 1)], np.nan)
    levels = [points]
    for _ in range(len(parents)):
        pairs = levels[-1].reshape(-1, 2, 3)
        levels.append(
            np.where(np.isnan(pairs[:, 0]), pairs[:, 1], np.where(np.isnan(pairs[:, 1]), pairs[:, 0], pairs.mean(1)))
        )
    fine_ref, dense_ref = levels[-3], levels[-2]
    fine = p2m["fine_from_vertex"].astype(np.float64) @ vertices
    dense = p2m["dense_from_fine"].astype(np.float64) @ fine
    assert np.array_equal(~np.isnan(fine_ref[:, 0]), p2m["fine_real"])
    assert np.array_equal(~np.isnan(dense_ref[:, 0]), p2m["dense_real"])
    assert np.allclose(fine[p2m["fine_real"]], fine_ref[p2m["fine_real"]], atol=1e-6)
    assert np.allclose(dense[p2m["dense_real"]], dense_ref[p2m["dense_real"]], atol=1e-6)


def test_pose2mesh_face_order_invariant_and_deterministic(p2m, sphere):
    faces, vertices, regressor = sphere
    rng = np.random.default_rng(2)
    shuffled = np.roll(faces[rng.permutation(len(faces))], 1, axis=1)
    assert hierarchy_sha256(build_hierarchy(shuffled, vertices, regressor, mode="pose2mesh")) == hierarchy_sha256(p2m)


def _csr(n: int, entries: dict) -> sp.csr_matrix:
    rows, cols, vals = [], [], []
    for (i, j), w in entries.items():
        rows += [i, j] if i != j else [i]
        cols += [j, i] if i != j else [i]
        vals += [w, w] if i != j else [w]
    graph = sp.csr_matrix((np.array(vals, float), (rows, cols)), shape=(n, n))
    graph.sort_indices()
    return graph


def test_pose2mesh_row_length_quirks_by_hand():
    """Edges 0-4 1-2 2-3 3-4 4-5 3-5, degrees [1,1,2,3,3,2], visit order [0,1,2,5,3,4].

    Row 0 also scans the first entry of row 1 (neighbour 2, weight 1): score 4/(1+2) beats the real
    neighbour 4's 4/(1+3), so 0 pairs with the non-adjacent node 2. Node 1 (only neighbour 2, marked)
    stays single. Node 5 scans only its first entry (last row skips its last one): pairs with 3.
    Node 4's neighbours are all marked: single. Ids in visiting order -> [0, 1, 0, 2, 3, 2].
    """
    graph = _csr(6, {(0, 4): 1, (1, 2): 1, (2, 3): 1, (3, 4): 1, (4, 5): 1, (3, 5): 1})
    degree = np.asarray(graph.sum(axis=0)).ravel()
    assert pose2mesh_one_level(graph, degree).tolist() == [0, 1, 0, 2, 3, 2]


def test_pose2mesh_first_stored_entry_quirk_by_hand():
    """W_00=4, W_33=6, edges 0-1 0-2 1-3 2-3 of weight 1; column sums [6,2,2,8]; visit [1,2,0,3].

    "W_ii" is the first stored entry: 4 for row 0 but 1 (= W_31) for row 3. Node 1: neighbour 0 scores
    (2+1+4)/(2+6) = 0.875, neighbour 3 (2+1+1)/(2+8) = 0.4 -> pairs with 0 (with the true diagonal
    it would be 0.75 vs 0.8 and pair with 3). Node 2: neighbour 0 marked, 3 free -> pairs with 3.
    """
    graph = _csr(4, {(0, 0): 4, (3, 3): 6, (0, 1): 1, (0, 2): 1, (1, 3): 1, (2, 3): 1})
    degree = np.asarray(graph.sum(axis=0)).ravel()
    assert pose2mesh_one_level(graph, degree).tolist() == [0, 0, 1, 1]


def test_padded_orders_matches_reference_example():
    """The example asserted at the bottom of the reference coarsening.py (compute_perm)."""
    parents = [np.array([4, 1, 1, 2, 2, 3, 0, 0, 3]), np.array([2, 1, 0, 1, 0])]
    orders = padded_orders(parents, top_size=3)
    assert [o.tolist() for o in orders] == [[3, 4, 0, 9, 1, 2, 5, 8, 6, 7, 10, 11], [2, 4, 1, 3, 0, 5], [0, 1, 2]]
    padded = padded_orders(parents, top_size=4)  # top padded with one fake node, whose children are fake
    assert padded[-1].tolist() == [0, 1, 2, 3] and padded[-2].tolist()[-2:] == [6, 7]
