"""Which dense / fine joints each sparse joint's token embeds in the level-efficient lifter.

Bone ``b`` ends at sparse joint ``b + 1`` (hipart.skeleton), so dense joint ``d`` belongs to the token of
joint ``bone_of_dense[d] + 1`` and fine joint ``f`` to the token of its dense parent (the largest weight
in ``dense_from_fine[:, f]``). Mesh coarsening is not left/right symmetric, so that rule alone would give
a joint and its mirror groups that are not mirror images; every group is therefore the union of the rule
and its mirror (``d`` joins token ``j`` when it or its mirror point is assigned to ``j`` or ``flip(j)``),
which makes the grouping commute with flipping: ``in_perm[groups[j]] == groups[flip(j)]`` as sets, and
element by element for left/right pairs. Indices point into the concatenated input (17, then 48, then 96).
"""

from __future__ import annotations

import numpy as np

from hipart.skeleton import H36M_FLIP_PERM, NUM_SPARSE

PAD = -1  # marks an unused slot of a shorter group


def _token_of_level(level_to_token: np.ndarray, flip: np.ndarray) -> list[set[int]]:
    """Per sparse token, the level's joints the rule or its mirror assigns to it."""
    groups: list[set[int]] = [set() for _ in range(NUM_SPARSE)]
    for point, token in enumerate(level_to_token):
        groups[token].add(point)
        groups[H36M_FLIP_PERM[token]].add(int(flip[point]))
    return groups


def joint_groups(levels: tuple[int, ...], hierarchy: dict[str, np.ndarray]) -> np.ndarray:
    """(17, P) int64 input indices per sparse token, PAD-filled; P is the largest group."""
    bone_of_dense = np.asarray(hierarchy["bone_of_dense"], np.int64)
    token_of = {48: bone_of_dense + 1}
    if 96 in levels:
        token_of[96] = token_of[48][np.asarray(hierarchy["dense_from_fine"]).argmax(0)]
    flips = {48: np.asarray(hierarchy["dense_flip"]), 96: np.asarray(hierarchy.get("fine_flip", []))}
    per_token: list[list[int]] = [[] for _ in range(NUM_SPARSE)]
    offset = NUM_SPARSE
    for level in levels[1:]:
        if level not in token_of:
            raise ValueError(f"the efficient lifter takes levels 48 and 96, got {level}")
        groups = _token_of_level(token_of[level], flips[level])
        for token in range(NUM_SPARSE):
            mirror = H36M_FLIP_PERM[token]
            # the later token of a left/right pair lists the mirror images of its partner's points, in order
            points = (
                sorted(groups[token]) if mirror >= token else [int(flips[level][p]) for p in sorted(groups[mirror])]
            )
            per_token[token] += [offset + p for p in points]
        offset += level
    width = max((len(g) for g in per_token), default=0)
    return np.array([g + [PAD] * (width - len(g)) for g in per_token], np.int64).reshape(NUM_SPARSE, width)


def even_joint_groups(n_dense: int = 48, n_fine: int = 96) -> np.ndarray:
    """Groups of the usual size without a hierarchy (benchmarks): each bone's 3 dense and 6 fine points."""
    dense, fine = n_dense // 16, n_fine // 16
    rows = [[PAD] * (dense + fine)] + [
        [NUM_SPARSE + dense * b + i for i in range(dense)] + [NUM_SPARSE + n_dense + fine * b + i for i in range(fine)]
        for b in range(16)
    ]
    return np.array(rows, np.int64)
