"""Heavy Edge Matching (HEM) on a mesh graph: the clustering half of docs/design.md section 3.

Two modes share one greedy matching core (``greedy_match``):

* ``exact_partition`` (mode ``exact``): HGN-style HEM with its intended semantics and every tie
  pinned. At each level the nodes (clusters) are visited in ascending order of their volume d_i
  (row sum of the cluster graph, self-loops included; the plain degree on the mesh), ties by cluster
  index; each unmarked node is paired with the unmarked neighbour maximising
  ``(2 W_ij + W_ii + W_jj) / (d_i + d_j)`` (the normalised association of the merged pair), ties to
  the lowest neighbour index; a node without a free neighbour stays single. Cluster indices are the
  rank of the cluster's smallest vertex index, so every tie is broken by vertex index.
  **Reaching exact counts:** a level stops merging as soon as the cluster count reaches the target
  (the remaining nodes stay single), so the last level of a stage merges only its lowest-volume
  (smallest) clusters. Stage 1 runs from the vertices to exactly ``n_fine`` clusters; stage 2
  continues on the fine cluster graph to exactly ``n_dense``, so dense clusters are unions of fine
  ones. Merges only join clusters sharing a mesh edge, so every cluster is connected on the mesh.
  The result depends only on the binary adjacency and the vertex indices, hence not on the order
  of the face list nor on the rotation of each face's vertices.

* ``pose2mesh_levels`` (mode ``pose2mesh``): the Pose2Mesh / HGN ``coarsening.HEM`` faithfully,
  including the implementation details listed in docs/protocols.md section 5: visiting order =
  ascending column sums recomputed at every level (ties by index, since the reference's order of
  ties depends on numpy's unstable sort), nonzeros of a row walked in column order, first strictly
  larger score kept, "W_ii" = first stored entry of row i, the off-by-one row lengths (row 0 also
  scans the first entry of row 1, the last row skips its last entry), d_i = degree without the
  diagonal on level 0 and column sums afterwards, a 1e-9 denominator guard, scores in float64 (as
  numpy < 2 computed them), coarse graphs summing every entry through the cluster ids.
  ``padded_orders`` is the reference ``compute_perm`` (binary tree with fake nodes after the real
  ones), generalised by padding the top level to a fixed size (see its docstring). The level-0
  graph is the binary adjacency of ``mesh_adjacency``; the reference ``build_graph`` gives the same
  on manifold meshes such as SMPL (it would weigh an edge shared by 3+ faces with 2).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def mesh_adjacency(faces: np.ndarray, num_vertices: int) -> sp.csr_matrix:
    """Binary symmetric vertex adjacency (float64 CSR, sorted indices, no diagonal) of a triangle mesh."""
    faces = np.asarray(faces)
    assert faces.ndim == 2 and faces.shape[1] == 3, faces.shape
    if faces.size and (faces.min() < 0 or faces.max() >= num_vertices):
        raise ValueError(f"faces index vertices outside [0, {num_vertices})")
    a = faces.reshape(-1).astype(np.int64)
    b = np.roll(faces, -1, axis=1).reshape(-1).astype(np.int64)
    keep = a != b  # degenerate faces contribute no self-loops
    rows, cols = np.concatenate([a[keep], b[keep]]), np.concatenate([b[keep], a[keep]])
    adj = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(num_vertices, num_vertices))
    adj.sum_duplicates()
    adj.data[:] = 1.0
    adj.sort_indices()
    isolated = np.flatnonzero(np.diff(adj.indptr) == 0)
    if len(isolated):
        raise ValueError(
            f"vertex {isolated[0]} lies on no face ({len(isolated)} such vertices); "
            "remove unreferenced vertices before building the hierarchy"
        )
    return adj


def greedy_match(visit, scan_ptr, scan_nbr, scan_score, max_merges: int) -> np.ndarray:
    """One HEM pass: the matching loop of HGN's ``HEM_one_level``.

    Node ``t`` scans positions ``scan_ptr[t]:scan_ptr[t+1]`` (neighbour ``scan_nbr[p]``, score
    ``scan_score[p]``) and keeps the first unmarked neighbour with a strictly larger positive score.
    Cluster ids are given in visiting order. After ``max_merges`` merges every later node stays single.
    """
    visit, ptr, nbr, score = (np.asarray(x).tolist() for x in (visit, scan_ptr, scan_nbr, scan_score))
    marked = [False] * (len(ptr) - 1)
    cluster = [0] * (len(ptr) - 1)
    count = merges = 0
    for t in visit:
        if marked[t]:
            continue
        marked[t] = True  # before scanning, so a self-loop never matches
        best, best_score = -1, 0.0
        if merges < max_merges:
            for p in range(ptr[t], ptr[t + 1]):
                j = nbr[p]
                if not marked[j] and score[p] > best_score:
                    best, best_score = j, score[p]
        cluster[t] = count
        if best >= 0:
            cluster[best] = count
            marked[best] = True
            merges += 1
        count += 1
    return np.asarray(cluster, dtype=np.int64)


def coarse_graph(graph: sp.csr_matrix, cluster: np.ndarray, n_clusters: int) -> sp.csr_matrix:
    """Sum every entry through the cluster ids (intra-cluster weights become diagonal entries)."""
    coo = graph.tocoo()
    out = sp.csr_matrix((coo.data, (cluster[coo.row], cluster[coo.col])), shape=(n_clusters, n_clusters))
    out.sum_duplicates()
    out.eliminate_zeros()
    out.sort_indices()
    return out


# ----------------------------------------------------------------------------- mode "exact"


def _exact_scores(graph: sp.csr_matrix) -> np.ndarray:
    """(2 W_ij + W_ii + W_jj) / (d_i + d_j) for every stored entry, d = row sums incl. self-loops."""
    volume = np.asarray(graph.sum(axis=1)).ravel()
    self_weight = graph.diagonal()
    rows = np.repeat(np.arange(graph.shape[0]), np.diff(graph.indptr))
    cols = graph.indices
    return (2.0 * graph.data + self_weight[rows] + self_weight[cols]) / (volume[rows] + volume[cols])


def _exact_level(graph: sp.csr_matrix, node_min: np.ndarray, target: int):
    """One exact-mode HEM level that stops merging at ``target`` clusters.

    Returns (cluster (N,), coarse graph, smallest vertex of each coarse cluster); coarse clusters are
    numbered by their smallest vertex index.
    """
    n = graph.shape[0]
    volume = np.asarray(graph.sum(axis=1)).ravel()
    visit = np.lexsort((np.arange(n), volume))  # ascending volume, ties by index
    cluster = greedy_match(visit, graph.indptr, graph.indices, _exact_scores(graph), n - target)
    n_new = int(cluster.max()) + 1
    if n_new == n:
        raise ValueError(
            f"the mesh graph cannot be coarsened below {n} clusters "
            f"(more connected components than the {target} requested)"
        )
    cluster_min = np.full(n_new, np.iinfo(np.int64).max)
    np.minimum.at(cluster_min, cluster, node_min)
    rank = np.empty(n_new, dtype=np.int64)
    rank[np.argsort(cluster_min, kind="stable")] = np.arange(n_new)  # keys are distinct vertex ids
    cluster = rank[cluster]
    return cluster, coarse_graph(graph, cluster, n_new), np.sort(cluster_min, kind="stable")


def _exact_stage(graph: sp.csr_matrix, node_min: np.ndarray, target: int):
    """Coarsen level by level until exactly ``target`` clusters; returns (node -> cluster, graph, mins)."""
    assignment = np.arange(graph.shape[0])
    while graph.shape[0] > target:
        cluster, graph, node_min = _exact_level(graph, node_min, target)
        assignment = cluster[assignment]
    return assignment, graph, node_min


def exact_partition(adjacency: sp.csr_matrix, n_fine: int, n_dense: int) -> tuple[np.ndarray, np.ndarray]:
    """Mode ``exact``: (fine cluster of every vertex (V,), dense cluster of every fine cluster (n_fine,)).

    Clusters are numbered by their smallest vertex index at each level.
    """
    num_vertices = adjacency.shape[0]
    if not num_vertices >= n_fine >= n_dense >= 1:
        raise ValueError(f"need vertices ({num_vertices}) >= n_fine ({n_fine}) >= n_dense ({n_dense}) >= 1")
    fine_of_vertex, fine_graph, fine_min = _exact_stage(adjacency, np.arange(num_vertices), n_fine)
    dense_of_fine, _, _ = _exact_stage(fine_graph, fine_min, n_dense)
    return fine_of_vertex, dense_of_fine


# ----------------------------------------------------------------------------- mode "pose2mesh"


def _pose2mesh_scan(graph: sp.csr_matrix, degree: np.ndarray):
    """Scan layout of HGN's ``HEM_one_level`` with its row-length off-by-one and "W_ii" quirks.

    Returns (scan_ptr (N+1,), scan_nbr (nnz,), scan_score (nnz,)).
    """
    n = graph.shape[0]
    lengths = np.diff(graph.indptr)
    if (lengths == 0).any():
        raise ValueError("pose2mesh mode needs every node to have a stored entry (an isolated vertex?)")
    rowstart = graph.indptr[:-1]
    vals = graph.data.astype(np.float64)
    # The reference counts entry ii towards the row *before* it when ii opens a new row.
    scan_len = lengths.copy()
    if n > 1:
        scan_len[0] += 1
        scan_len[-1] -= 1
    scan_ptr = np.concatenate([[0], np.cumsum(scan_len)])
    owner = np.repeat(np.arange(n), scan_len)
    pos = rowstart[owner] + (np.arange(len(owner)) - scan_ptr[owner])  # walks rowstart[t] onwards
    nbr = graph.indices[pos]
    w_ii = vals[rowstart]  # first stored entry of the row, not necessarily the diagonal
    numerator = 2.0 * vals[pos] + w_ii[owner] + w_ii[nbr]
    score = numerator * 1.0 / (degree[owner] + degree[nbr] + 1e-9)
    return scan_ptr, nbr, score


def pose2mesh_one_level(graph: sp.csr_matrix, degree: np.ndarray) -> np.ndarray:
    """One level of HGN ``HEM``: cluster id of every node, ids in visiting order."""
    column_sums = np.asarray(graph.sum(axis=0)).ravel()
    visit = np.argsort(column_sums, kind="stable")  # the reference's unstable argsort, ties pinned by index
    scan_ptr, nbr, score = _pose2mesh_scan(graph, degree.astype(np.float64))
    return greedy_match(visit, scan_ptr, nbr, score, max_merges=graph.shape[0])


def pose2mesh_levels(adjacency: sp.csr_matrix, top_size: int) -> list[np.ndarray]:
    """Mode ``pose2mesh``: HGN HEM levels until at most ``top_size`` real nodes remain.

    Returns the ``parents`` list of the reference (parents[l][i] = cluster at level l+1 of node i).
    On SMPL this stops after the reference's 9 levels (24 real nodes at the top).
    """
    graph = adjacency.astype(np.float64)
    degree = np.asarray(graph.sum(axis=0)).ravel() - graph.diagonal()  # level 0: no diagonal
    parents = []
    while graph.shape[0] > top_size:
        cluster = pose2mesh_one_level(graph, degree)
        n_new = int(cluster.max()) + 1
        if n_new == graph.shape[0]:
            raise ValueError(f"pose2mesh HEM is stuck at {n_new} nodes (more components than {top_size}?)")
        parents.append(cluster)
        graph = coarse_graph(graph, cluster, n_new)
        degree = np.asarray(graph.sum(axis=0)).ravel()  # afterwards: column sums, self-loops included
    return parents


def padded_orders(parents: list[np.ndarray], top_size: int) -> list[np.ndarray]:
    """HGN ``compute_perm``: padded node order of every level (index >= real count = fake node).

    Slot ``s`` of level l+1 has children ``2s, 2s+1`` at level l: its real children in index order,
    then fakes. Generalisation: the top level is padded to ``top_size`` slots (fakes after the
    ``M_top`` real nodes) instead of having exactly ``M_top`` slots, so the level sizes are
    ``top_size * 2**k`` on any mesh; with M_top == top_size (SMPL) this is the reference exactly.
    Returns orders from the finest level (index 0) to the top.
    """
    m_top = int(parents[-1].max()) + 1 if parents else top_size
    assert m_top <= top_size, (m_top, top_size)
    orders = [np.arange(top_size)]
    for parent in reversed(parents):
        n_coarse = int(parent.max()) + 1
        children = [[] for _ in range(n_coarse)]
        for i in np.argsort(parent, kind="stable").tolist():
            children[parent[i]].append(i)  # ascending index within each parent
        next_fake = len(parent)
        layer = []
        for slot in orders[-1].tolist():
            kids = list(children[slot]) if slot < n_coarse else []
            assert len(kids) <= 2
            while len(kids) < 2:
                kids.append(next_fake)
                next_fake += 1
            layer += kids
        orders.append(np.asarray(layer, dtype=np.int64))
    return orders[::-1]
