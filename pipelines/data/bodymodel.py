"""Body models for `hipart coarsen`: one batched torch LBS forward and two readers (docs/design.md section 3).

SMPL conventions: local axis-angle rotations, ``G_k = G_parent [R_k | j_k - j_parent]``, skinning with
``A_k = G_k`` times the inverse rest transform, i.e. ``A_k = [R^g_k | t^g_k - R^g_k j_k]``; shape blend
shapes move the template and (linearly) the rest joints, pose blend shapes add
``posedirs @ (R_k - I)`` over the non-root joints; the world translation is added last.

Readers: the official SMPL ``.pkl`` (through ``pipelines.core.safe_pickle``, chumpy not needed; vertex,
joint, shape and pose-blend counts come from the file) and the ``hipart-rig`` NPZ v1 (one model per
subject; no blend shapes).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

from pipelines.core.errors import UserError
from pipelines.core.safe_pickle import safe_load

SMPL_KEYS = ("v_template", "f", "weights", "kintree_table", "J_regressor")
RIG_KEYS = ("template", "faces", "lbs_index", "lbs_weight", "parents", "joints_rest", "sparse_regressor", "subjects")


@dataclass
class BodyModel:
    """One linear-blend-skinning model, float64 numpy arrays, metres."""

    name: str
    v_template: np.ndarray  # (V, 3)
    faces: np.ndarray  # (F, 3) int
    weights: np.ndarray  # (V, K) skinning weights
    parents: np.ndarray  # (K,) parent index, -1 at the root; parents precede children
    joints_rest: np.ndarray  # (K, 3) rest joints of the template
    shapedirs: np.ndarray | None = None  # (V, 3, S) shape blend shapes
    joint_shapedirs: np.ndarray | None = None  # (K, 3, S) rest joints' dependence on the betas
    posedirs: np.ndarray | None = None  # (V, 3, 9 (K-1)) pose blend shapes

    @property
    def num_betas(self) -> int:
        return 0 if self.shapedirs is None else self.shapedirs.shape[2]

    def __post_init__(self):
        V, K = self.weights.shape
        assert self.v_template.shape == (V, 3) and self.joints_rest.shape == (K, 3), (self.v_template.shape, K)
        if any(p >= k for k, p in enumerate(self.parents)):
            raise UserError(f"{self.name}: kinematic tree lists a joint before its parent (expected parents first)")


# ------------------------------------------------------------------------------------------ LBS
def mat3(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a @ b for (..., 3, 3) @ (..., 3, n) by broadcasting (CPU batched GEMM is slow on tiny matrices)."""
    return (a[..., :, :, None] * b[..., None, :, :]).sum(-2)


def rodrigues(rotvec: torch.Tensor) -> torch.Tensor:
    """Axis-angle (..., 3) -> rotation matrices (..., 3, 3): cos I + sin [k]x + (1 - cos) k k^T."""
    angle = rotvec.norm(dim=-1, keepdim=True).clamp_min(1e-12)  # (..., 1)
    axis = rotvec / angle
    x, y, z = axis.unbind(-1)
    zero = torch.zeros_like(x)
    skew = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(rotvec.shape + (3,))
    cos, sin = angle.cos()[..., None], angle.sin()[..., None]  # (..., 1, 1)
    eye = torch.eye(3, dtype=rotvec.dtype, device=rotvec.device)
    return cos * eye + sin * skew + (1 - cos) * axis[..., :, None] * axis[..., None, :]


def rodrigues_batch_last(rotvec: torch.Tensor) -> torch.Tensor:
    """Axis-angle (..., 3, B) -> rotations (..., 3, 3, B); batch last keeps every op one long vector op."""
    angle = rotvec.norm(dim=-2, keepdim=True).clamp_min(1e-12)  # (..., 1, B)
    x, y, z = (rotvec / angle).unbind(-2)
    angle = angle[..., 0, :]
    cos, sin = angle.cos(), angle.sin()
    c1 = 1 - cos
    rows = [
        [cos + c1 * x * x, c1 * x * y - sin * z, c1 * x * z + sin * y],
        [c1 * y * x + sin * z, cos + c1 * y * y, c1 * y * z - sin * x],
        [c1 * z * x - sin * y, c1 * z * y + sin * x, cos + c1 * z * z],
    ]
    return torch.stack([torch.stack(r, -2) for r in rows], -3)


def rigid_transforms_batch_last(r: torch.Tensor, j: torch.Tensor, parents) -> torch.Tensor:
    """Skinning transforms (K, 3, 4, B) from local rotations (K, 3, 3, B) and rest joints (K, 3, B).

    Batch last: elementwise products over long vectors (tiny batched matmuls are slow on CPU).
    """
    assert all(p < k for k, p in enumerate(parents)), "parents must precede their children"
    g_rot, g_pos = [None] * len(parents), [None] * len(parents)
    for k, p in enumerate(parents):
        if p < 0:
            g_rot[k], g_pos[k] = r[k], j[k]
        else:
            g_rot[k] = (g_rot[p][:, :, None] * r[k][None]).sum(1)
            g_pos[k] = g_pos[p] + (g_rot[p] * (j[k] - j[p])[None]).sum(1)
    R = torch.stack(g_rot)  # (K, 3, 3, B)
    t = torch.stack(g_pos) - (R * j[:, None]).sum(2)  # (K, 3, B)
    return torch.cat([R, t[:, :, None]], 2)  # (K, 3, 4, B)


def rigid_transforms(rot: torch.Tensor, joints: torch.Tensor, parents) -> torch.Tensor:
    """Skinning transforms A (B, K, 3, 4) from local rotations (B, K, 3, 3) and rest joints (B, K, 3)."""
    A = rigid_transforms_batch_last(rot.permute(1, 2, 3, 0), joints.permute(1, 2, 0), parents)
    return A.permute(3, 0, 1, 2)


class TorchBodyModel(torch.nn.Module):
    """Batched LBS forward of a ``BodyModel`` (the full-mesh reference path)."""

    def __init__(self, model: BodyModel, dtype=torch.float32, device="cpu"):
        super().__init__()
        as_t = lambda a: None if a is None else torch.as_tensor(np.asarray(a), dtype=dtype, device=device)
        self.parents = [int(p) for p in model.parents]
        self.register_buffer("v_template", as_t(model.v_template))
        self.register_buffer("weights", as_t(model.weights))
        self.register_buffer("joints_rest", as_t(model.joints_rest))
        self.register_buffer("shapedirs", as_t(model.shapedirs))
        self.register_buffer("joint_shapedirs", as_t(model.joint_shapedirs))
        self.register_buffer("posedirs", as_t(model.posedirs))

    def shaped(self, betas: torch.Tensor | None):
        """Template and rest joints for the betas: (B|1, V, 3), (B|1, K, 3)."""
        if self.shapedirs is None or betas is None:
            return self.v_template[None], self.joints_rest[None]
        betas = betas[:, : self.shapedirs.shape[2]]
        return (
            self.v_template + torch.einsum("vcs,bs->bvc", self.shapedirs, betas),
            self.joints_rest + torch.einsum("kcs,bs->bkc", self.joint_shapedirs, betas),
        )

    def forward(self, pose: torch.Tensor, betas: torch.Tensor | None = None, trans: torch.Tensor | None = None):
        """pose (B, K, 3) axis-angle, betas (B, S), trans (B, 3) -> vertices (B, V, 3)."""
        B, K = pose.shape[:2]
        assert K == len(self.parents), (pose.shape, len(self.parents))
        verts, joints = self.shaped(betas)
        rot = rodrigues(pose)  # (B, K, 3, 3)
        if self.posedirs is not None:
            feature = (rot[:, 1:] - torch.eye(3, dtype=rot.dtype, device=rot.device)).reshape(B, -1)
            verts = verts + torch.einsum("vcp,bp->bvc", self.posedirs, feature)
        A = rigid_transforms(rot, joints.expand(B, -1, -1), self.parents)  # (B, K, 3, 4)
        T = torch.einsum("vk,bkij->bvij", self.weights, A)  # (B, V, 3, 4)
        out = (T[..., :3] * verts[:, :, None, :]).sum(-1) + T[..., 3]  # elementwise: tiny bmm is slow on CPU
        return out if trans is None else out + trans[:, None]


# -------------------------------------------------------------------------------------- readers
def _array(data: dict, key: str, where: str) -> np.ndarray:
    value = data[key]
    if sp.issparse(value):
        value = value.toarray()
    arr = np.asarray(value)
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
        raise UserError(f"{where}: field '{key}' is not a numeric array (got {type(value).__name__})")
    if not np.isfinite(arr).all():
        raise UserError(f"{where}: field '{key}' contains NaN or infinite values")
    return arr


def load_smpl(path: str | Path) -> tuple[BodyModel, np.ndarray]:
    """Official SMPL pickle (or SMPL_NEUTRAL-style renamed copy) -> (BodyModel, J_regressor (K, V))."""
    path = Path(path)
    data = safe_load(path)
    if not isinstance(data, dict) or any(k not in data for k in SMPL_KEYS):
        got = ", ".join(sorted(map(str, data))[:8]) if isinstance(data, dict) else type(data).__name__
        raise UserError(f"{path}: not an SMPL model pickle (expected keys {', '.join(SMPL_KEYS)}; got {got})")
    where = str(path)
    v_template = _array(data, "v_template", where).astype(np.float64)
    V = v_template.shape[0]
    kintree = _array(data, "kintree_table", where).astype(np.int64)
    parents = kintree[0].copy()
    parents[(parents < 0) | (parents >= kintree.shape[1]) | (parents == 4294967295)] = -1
    order = kintree[1]
    if not np.array_equal(order, np.arange(len(order))):
        raise UserError(f"{path}: field 'kintree_table' row 1 must list joints 0..K-1 in order")
    K = len(parents)
    weights = _array(data, "weights", where).astype(np.float64)
    regressor = _array(data, "J_regressor", where).astype(np.float64)
    if weights.shape != (V, K) or regressor.shape != (K, V) or v_template.shape != (V, 3):
        raise UserError(
            f"{path}: fields 'weights' {weights.shape} / 'J_regressor' {regressor.shape} do not match "
            f"{V} vertices and {K} joints"
        )
    model = BodyModel(
        name=path.name,
        v_template=v_template,
        faces=_array(data, "f", where).astype(np.int64),
        weights=weights,
        parents=parents,
        joints_rest=regressor @ v_template,
    )
    if "shapedirs" in data:
        model.shapedirs = _array(data, "shapedirs", where).astype(np.float64).reshape(V, 3, -1)
        model.joint_shapedirs = np.einsum("kv,vcs->kcs", regressor, model.shapedirs)
    if "posedirs" in data:
        posedirs = _array(data, "posedirs", where).astype(np.float64).reshape(V, 3, -1)
        if posedirs.shape[2] != 9 * (K - 1):
            raise UserError(
                f"{path}: field 'posedirs' has {posedirs.shape[2]} pose blend shapes, expected {9 * (K - 1)}"
            )
        model.posedirs = posedirs
    return model, regressor


def load_rig(path: str | Path) -> tuple[list[BodyModel], dict]:
    """hipart-rig NPZ v1 -> one BodyModel per subject, plus the raw arrays (faces, sparse_regressor, subjects)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: rig file not found")
    try:
        with np.load(path, allow_pickle=False) as npz:
            data = {k: npz[k] for k in npz.files}
    except ValueError as exc:
        raise UserError(f"{path}: not a hipart-rig NPZ ({exc})") from None
    missing = [k for k in RIG_KEYS if k not in data]
    if missing:
        raise UserError(f"{path}: hipart-rig array '{missing[0]}' is missing (expected {', '.join(RIG_KEYS)})")
    if "schema" in data and str(data["schema"]) != "hipart-rig":
        raise UserError(f"{path}: array 'schema' is {str(data['schema'])!r}, expected 'hipart-rig'")
    where = str(path)
    template = _array(data, "template", where).astype(np.float64)  # (S, V, 3)
    S, V, _ = template.shape
    index, weight = data["lbs_index"].astype(np.int64), _array(data, "lbs_weight", where).astype(np.float64)
    joints = _array(data, "joints_rest", where).astype(np.float64)  # (S, K, 3)
    K = joints.shape[1]
    if index.shape != weight.shape or index.shape[0] != V or index.min() < 0 or index.max() >= K:
        raise UserError(f"{path}: arrays 'lbs_index'/'lbs_weight' must be (V={V}, n) with bones in 0..{K - 1}")
    dense = np.zeros((V, K))
    np.add.at(dense, (np.repeat(np.arange(V), index.shape[1]), index.ravel()), weight.ravel())
    subjects = [str(s) for s in data["subjects"]]
    models = [
        BodyModel(
            name=f"{path.name}:{s}",
            v_template=template[i],
            faces=data["faces"].astype(np.int64),
            weights=dense,
            parents=data["parents"].astype(np.int64),
            joints_rest=joints[i],
        )
        for i, s in enumerate(subjects)
    ]
    regressor = _array(data, "sparse_regressor", where).astype(np.float64)
    if regressor.shape != (17, V):
        raise UserError(f"{path}: array 'sparse_regressor' has shape {regressor.shape}, expected (17, {V})")
    return models, {"faces": data["faces"], "sparse_regressor": regressor, "subjects": subjects}
