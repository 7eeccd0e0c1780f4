"""The HiPART joint hierarchy of a body mesh (docs/design.md section 3 "Hierarchy (HEM)").

``build_hierarchy`` turns mesh faces, rest vertices and the sparse (H36M-17) regressor into the
arrays stored under ``/hierarchy`` of the pose store:

* ``fine_from_vertex (96,V) f32`` and ``dense_from_fine (48,96) f32``: linear regressors (rows sum
  to 1). Mode ``exact``: a fine joint is the plain mean of its cluster's vertices and a dense joint
  the mean of its vertices (so ``dense_from_fine[d, f] = |f| / |d|``). Mode ``pose2mesh``: a coarse
  point is the pairwise average of its two children, recursively, a single real child copied
  (Pose2Mesh ``coarsening_vertice``); a fake (padded) node takes its parent's point, i.e. its real
  sibling's, or recursively the nearest real ancestor's.
* ``fine_real (96,)``, ``dense_real (48,)`` bool: False for padded fake nodes (all True in ``exact``).
* ``bone_of_dense (48,) i32``: min-cost assignment (``linear_sum_assignment``) of every dense joint to
  one of the 16 bones, exactly ``48 // 16`` per bone; the cost is the distance from the dense joint's
  rest position to the bone's rest segment (sparse rest joints = regressor @ rest vertices).
* ``bone_order (16,) i32``: ``hipart.skeleton.bone_order_center_to_periphery``.
* ``fine_flip (96,)``, ``dense_flip (48,) i32``: left/right mirror permutations (involutions). The rest
  positions of a level are mirrored across the sagittal plane (normal = RHip -> LHip direction of
  the sparse rest joints, through the pelvis) and matched to the unmirrored ones by min-cost
  assignment, then cycles longer than 2 are split into pairs (see ``involution_from_assignment``).
  This is approximate whenever the clustering itself is not mirror-symmetric (HEM breaks ties by
  vertex index, so it rarely is exactly): a joint is then paired with the nearest mirrored joint.

Mode ``pose2mesh`` is tested on icospheres only: the real counts 83 (fine) / 45 (dense) quoted for
SMPL in docs/protocols.md section 5 are not verified here (no SMPL file), and they may depend on how the reference's
unstable sort ordered degree ties, which this code pins by index.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linear_sum_assignment

from hipart.skeleton import H36M_BONES, NUM_BONES, bone_order_center_to_periphery
from pipelines.data.hem import exact_partition, mesh_adjacency, padded_orders, pose2mesh_levels

PELVIS, RHIP, LHIP = 0, 1, 4


def build_hierarchy(
    faces: np.ndarray,
    rest_vertices: np.ndarray,
    sparse_regressor,
    mode: str = "exact",
    n_fine: int = 96,
    n_dense: int = 48,
) -> dict[str, np.ndarray]:
    """All hierarchy arrays of docs/design.md section 3 for one mesh (see the module docstring).

    faces (F, 3) int vertex indices; rest_vertices (V, 3); sparse_regressor (17, V) dense or scipy
    sparse (H36M-17 joints from vertices). Raises ValueError on unusable input (non-integer faces,
    non-finite vertices, vertices on no face, more mesh components than clusters requested).
    """
    rest_vertices = np.asarray(rest_vertices, dtype=np.float64)  # (V, 3)
    num_vertices = rest_vertices.shape[0]
    assert rest_vertices.shape == (num_vertices, 3), rest_vertices.shape
    assert sparse_regressor.shape == (17, num_vertices), sparse_regressor.shape
    if not np.issubdtype(np.asarray(faces).dtype, np.integer):
        raise ValueError(f"faces must be integer vertex indices, got dtype {np.asarray(faces).dtype}")
    if not np.isfinite(rest_vertices).all():
        raise ValueError("rest vertices contain NaN or infinite values")
    if n_dense % NUM_BONES:
        raise ValueError(f"n_dense ({n_dense}) must be a multiple of the {NUM_BONES} bones")
    adjacency = mesh_adjacency(faces, num_vertices)
    if mode == "exact":
        fine_from_vertex, dense_from_fine, fine_real, dense_real = _exact_levels(adjacency, n_fine, n_dense)
    elif mode == "pose2mesh":
        fine_from_vertex, dense_from_fine, fine_real, dense_real = _pose2mesh_levels(adjacency, n_fine, n_dense)
    else:
        raise ValueError(f"unknown hierarchy mode {mode!r} (expected 'exact' or 'pose2mesh')")
    sparse_rest = np.asarray(sparse_regressor @ rest_vertices, dtype=np.float64)  # (17, 3)
    fine_rest = fine_from_vertex @ rest_vertices  # (n_fine, 3)
    dense_rest = dense_from_fine @ fine_rest  # (n_dense, 3)
    return {
        "fine_from_vertex": fine_from_vertex.astype(np.float32),
        "dense_from_fine": dense_from_fine.astype(np.float32),
        "fine_real": fine_real.astype(bool),
        "dense_real": dense_real.astype(bool),
        "bone_of_dense": assign_bones(dense_rest, sparse_rest).astype(np.int32),
        "bone_order": np.asarray(bone_order_center_to_periphery(), dtype=np.int32),
        "fine_flip": mirror_permutation(fine_rest, sparse_rest).astype(np.int32),
        "dense_flip": mirror_permutation(dense_rest, sparse_rest).astype(np.int32),
    }


# ----------------------------------------------------------------------------- regressors


def _exact_levels(adjacency: sp.csr_matrix, n_fine: int, n_dense: int):
    """Mode ``exact``: uniform cluster means; fine joints ordered by (dense cluster, smallest vertex)."""
    fine_of_vertex, dense_of_fine = exact_partition(adjacency, n_fine, n_dense)
    fine_order = np.lexsort((np.arange(n_fine), dense_of_fine))  # fine ids already rank smallest vertex
    new_fine_id = np.empty(n_fine, dtype=np.int64)
    new_fine_id[fine_order] = np.arange(n_fine)
    fine_of_vertex, dense_of_fine = new_fine_id[fine_of_vertex], dense_of_fine[fine_order]
    fine_from_vertex = _mean_matrix(fine_of_vertex, n_fine)
    fine_size = np.bincount(fine_of_vertex, minlength=n_fine).astype(np.float64)
    dense_size = np.bincount(dense_of_fine, weights=fine_size, minlength=n_dense)
    dense_from_fine = np.zeros((n_dense, n_fine))
    dense_from_fine[dense_of_fine, np.arange(n_fine)] = fine_size / dense_size[dense_of_fine]
    return fine_from_vertex, dense_from_fine, np.ones(n_fine, bool), np.ones(n_dense, bool)


def _mean_matrix(cluster_of: np.ndarray, n_clusters: int) -> np.ndarray:
    """(n_clusters, N) dense matrix whose row c averages the items of cluster c."""
    size = np.bincount(cluster_of, minlength=n_clusters).astype(np.float64)
    out = np.zeros((n_clusters, len(cluster_of)))
    out[cluster_of, np.arange(len(cluster_of))] = 1.0 / size[cluster_of]
    return out


def _pose2mesh_levels(adjacency: sp.csr_matrix, n_fine: int, n_dense: int):
    """Mode ``pose2mesh``: Pose2Mesh levels with padded sizes n_fine / n_dense (fakes copy their parent)."""
    if n_fine != 2 * n_dense or n_dense % 2:
        raise ValueError(f"pose2mesh mode needs n_fine == 2 * n_dense and an even n_dense, got {n_fine}/{n_dense}")
    top_size = n_dense // 2
    parents = pose2mesh_levels(adjacency, top_size)
    if len(parents) < 2:
        raise ValueError(f"mesh too small for pose2mesh mode: {adjacency.shape[0]} vertices")
    real_weights = _pairwise_average_weights(adjacency.shape[0], parents)  # per level, (M_l, V) sparse
    orders = padded_orders(parents, top_size)  # finest .. top
    top = _padded_rows(real_weights[-1], orders[-1], None)
    dense = _padded_rows(real_weights[-2], orders[-2], top)
    fine = _padded_rows(real_weights[-3], orders[-3], dense)
    fine_real = orders[-3] < real_weights[-3].shape[0]
    dense_real = orders[-2] < real_weights[-2].shape[0]
    return fine, _pairwise_parent_matrix(fine_real), fine_real, dense_real


def _pairwise_average_weights(num_vertices: int, parents: list[np.ndarray]) -> list[sp.csr_matrix]:
    """Vertex weights of the real nodes of every level: pairwise average of children, single child copied."""
    weights = [sp.identity(num_vertices, format="csr")]
    for parent in parents:
        n_coarse = int(parent.max()) + 1
        n_children = np.bincount(parent, minlength=n_coarse)
        average = sp.csr_matrix(
            (1.0 / n_children[parent], (parent, np.arange(len(parent)))), shape=(n_coarse, len(parent))
        )
        weights.append((average @ weights[-1]).tocsr())
    return weights


def _padded_rows(real: sp.csr_matrix, order: np.ndarray, parent_rows: np.ndarray | None) -> np.ndarray:
    """Dense (len(order), V) weights of a padded level; a fake slot takes its parent slot's row.

    At the top (no parent) fake slot k copies real node k mod M_top (Pose2Mesh never pads the top).
    """
    n_real = real.shape[0]
    rows = np.zeros((len(order), real.shape[1]))
    is_real = order < n_real
    rows[is_real] = real[order[is_real]].toarray()
    fake = np.flatnonzero(~is_real)
    if parent_rows is None:
        rows[fake] = real[fake % n_real].toarray()
    else:
        rows[fake] = parent_rows[fake // 2]
    return rows


def _pairwise_parent_matrix(child_real: np.ndarray) -> np.ndarray:
    """(n/2, n): slot s of the coarser level from children 2s, 2s+1 (average, or copy a single real one).

    A slot whose two children are fake averages them (both hold the slot's own point).
    """
    n_parent = len(child_real) // 2
    out = np.zeros((n_parent, len(child_real)))
    for s in range(n_parent):
        kids = [c for c in (2 * s, 2 * s + 1) if child_real[c]] or [2 * s, 2 * s + 1]
        out[s, kids] = 1.0 / len(kids)
    return out


# ----------------------------------------------------------------------------- bones and flips


def segment_distances(points: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """(P, S) Euclidean distance from every point to every segment [start, end]."""
    direction = ends - starts  # (S, 3)
    length2 = np.maximum((direction**2).sum(-1), 1e-12)
    rel = points[:, None, :] - starts[None]  # (P, S, 3)
    t = np.clip((rel * direction[None]).sum(-1) / length2, 0.0, 1.0)
    return np.linalg.norm(rel - t[..., None] * direction[None], axis=-1)


def assign_bones(dense_rest: np.ndarray, sparse_rest: np.ndarray) -> np.ndarray:
    """Bone of every dense joint, exactly n_dense / 16 per bone, by min-cost assignment (docs/design.md section 3)."""
    n_dense = len(dense_rest)
    per_bone = n_dense // NUM_BONES
    parents, children = (np.array(x) for x in zip(*H36M_BONES))
    cost = segment_distances(dense_rest, sparse_rest[parents], sparse_rest[children])  # (D, 16)
    _, column = linear_sum_assignment(np.repeat(cost, per_bone, axis=1))
    return column // per_bone


def mirror_permutation(points: np.ndarray, sparse_rest: np.ndarray) -> np.ndarray:
    """Left/right flip permutation (an involution) of a level's rest positions (module docstring)."""
    lateral = sparse_rest[LHIP] - sparse_rest[RHIP]
    lateral = lateral / max(np.linalg.norm(lateral), 1e-12)
    offset = (points - sparse_rest[PELVIS]) @ lateral
    mirrored = points - 2.0 * offset[:, None] * lateral[None]
    cost = np.linalg.norm(mirrored[:, None, :] - points[None], axis=-1)  # symmetric: mirroring is an isometry
    cost = 0.5 * (cost + cost.T)
    _, assigned = linear_sum_assignment(cost)
    return involution_from_assignment(assigned, cost)


def involution_from_assignment(perm: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Turn an optimal assignment of a symmetric cost into an involution of no larger cost, if possible.

    Cycles of length <= 2 are kept. An even cycle becomes the cheaper of its two alternating pair
    sets (optimal for that cycle). An odd cycle keeps one fixed point, chosen to minimise the cost,
    and pairs the rest along the cycle. Cycles are visited from their smallest index, ties to the
    first option, so the result is deterministic.
    """
    out = np.arange(len(perm))
    seen = np.zeros(len(perm), bool)
    for start in range(len(perm)):
        if seen[start]:
            continue
        cycle = [start]
        while perm[cycle[-1]] != start:
            cycle.append(int(perm[cycle[-1]]))
        seen[cycle] = True
        for a, b in _split_cycle(cycle, cost):
            out[a], out[b] = b, a
    return out


def _split_cycle(cycle: list[int], cost: np.ndarray) -> list[tuple[int, int]]:
    """Pairs (a, b) covering a permutation cycle (fixed points omitted) at minimal involution cost."""
    k = len(cycle)
    if k <= 2:
        return [(cycle[0], cycle[-1])] if k == 2 else []

    def pairs_from(offset: int, count: int) -> list[tuple[int, int]]:
        return [(cycle[(offset + 2 * i) % k], cycle[(offset + 2 * i + 1) % k]) for i in range(count)]

    if k % 2 == 0:
        options = [(pairs_from(0, k // 2), 0.0), (pairs_from(1, k // 2), 0.0)]
    else:  # fixed point cycle[m], the others paired along the cycle after it
        options = [(pairs_from(m + 1, k // 2), cost[cycle[m], cycle[m]]) for m in range(k)]
    totals = [fixed + 2.0 * sum(cost[a, b] for a, b in pairs) for pairs, fixed in options]
    return options[int(np.argmin(totals))][0]
