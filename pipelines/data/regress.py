"""Hierarchical joints (17 + 48 + 96) from pose parameters: the fast moment path and the mesh path.

Every stored joint is a fixed linear combination of the skinned vertices, ``x_j = sum_v C[j,v] v'``, and
LBS gives ``v' = sum_k W[v,k] A_k [v~; 1]`` (``A_k`` the (3, 4) skinning transform of bone k, ``v~`` the
shaped and pose-corrected rest vertex). Swapping the sums,

    x_j = sum_k A_k H[j, k],        H[j, k] = sum_v C[j,v] W[v,k] [v~_v; 1]      (the moments)

and ``v~`` is affine in the betas and the pose feature, so ``H`` is too: ``H = H0 + Hd @ d`` with
``d = [betas, pose feature]``. Precomputing ``H0 (J, K, 4)`` and ``Hd (J, K, 3, D)`` makes the joints
cost O(J K) per frame (O(J K D) with blend shapes) instead of skinning the V-vertex mesh. The
translation adds ``trans * sum_v C[j,v]``. ``MeshRegressor`` is the reference: skin, then regress.
"""

from __future__ import annotations

import numpy as np
import torch

from pipelines.data.bodymodel import BodyModel, TorchBodyModel, rigid_transforms_batch_last, rodrigues_batch_last


def _moments(model: BodyModel, regressor: np.ndarray):
    """H0 (J, K, 4) and the blend-shape moments Hd (J, K, 3, D) or None, float64."""
    J, K = regressor.shape[0], model.weights.shape[1]
    dirs = [d for d in (model.shapedirs, model.posedirs) if d is not None]
    blend = np.concatenate(dirs, 2) if dirs else None  # (V, 3, D)
    H0 = np.zeros((J, K, 4))
    Hd = None if blend is None else np.zeros((J, K, 3, blend.shape[2]))
    homog = np.concatenate([model.v_template, np.ones((len(model.v_template), 1))], 1)  # (V, 4)
    for k in range(K):
        used = np.flatnonzero(model.weights[:, k])  # skinning weights are sparse
        if not len(used):
            continue
        cw = regressor[:, used] * model.weights[used, k]  # (J, n)
        H0[:, k] = cw @ homog[used]
        if Hd is not None:
            Hd[:, k] = (cw @ blend[used].reshape(len(used), -1)).reshape(J, 3, -1)
    return H0, Hd


class MomentRegressor(torch.nn.Module):
    """Joints (B, J, 3) = regressor @ LBS(pose, betas) + trans, without building the mesh."""

    def __init__(self, model: BodyModel, regressor: np.ndarray, dtype=torch.float32, device="cpu"):
        super().__init__()
        regressor = np.asarray(regressor, np.float64)  # (J, V)
        assert regressor.shape[1] == model.v_template.shape[0], regressor.shape
        H0, Hd = _moments(model, regressor)
        as_t = lambda a: None if a is None else torch.as_tensor(a, dtype=dtype, device=device)
        self.parents = [int(p) for p in model.parents]
        self.num_betas = model.num_betas
        self.has_posedirs = model.posedirs is not None
        self.register_buffer("H0", as_t(H0.reshape(len(H0), -1)))  # (J, K*4)
        self.register_buffer("Hd", None if Hd is None else as_t(Hd.reshape(-1, Hd.shape[-1])))  # (J*K*3, D)
        self.register_buffer("rowsum", as_t(regressor.sum(1)))  # (J,)
        self.register_buffer("joints_rest", as_t(model.joints_rest))
        self.register_buffer("joint_shapedirs", as_t(model.joint_shapedirs))

    def forward(self, pose: torch.Tensor, betas: torch.Tensor | None = None, trans: torch.Tensor | None = None):
        """pose (B, K, 3), betas (B, S) or None, trans (B, 3) or None -> (B, J, 3)."""
        B, K = pose.shape[:2]
        J = self.rowsum.shape[0]
        rot = rodrigues_batch_last(pose.permute(1, 2, 0))  # (K, 3, 3, B)
        joints = self.joints_rest[..., None].expand(-1, -1, B)  # (K, 3, B)
        parts = []
        if self.num_betas:
            betas = (
                torch.zeros(B, self.num_betas, dtype=pose.dtype, device=pose.device)
                if betas is None
                else betas[:, : self.num_betas]
            )
            joints = joints + torch.einsum("kcs,bs->kcb", self.joint_shapedirs, betas)
            parts.append(betas)
        if self.has_posedirs:
            eye = torch.eye(3, dtype=rot.dtype, device=rot.device)[..., None]
            parts.append((rot[1:] - eye).permute(3, 0, 1, 2).reshape(B, -1))
        A = rigid_transforms_batch_last(rot, joints, self.parents)  # (K, 3, 4, B)
        out = self.H0 @ A.permute(0, 2, 1, 3).reshape(K * 4, 3 * B)  # (J, 3 B)
        out = out.reshape(J, 3, B).permute(2, 0, 1)  # (B, J, 3)
        if parts:
            delta = (self.Hd @ torch.cat(parts, 1).T).T.reshape(B, J, K, 3)  # (B, J, K, 3)
            out = out + torch.einsum("kxyb,bjky->bjx", A[:, :, :3], delta)
        if trans is not None:
            out = out + trans[:, None] * self.rowsum[:, None]
        return out


class MeshRegressor(torch.nn.Module):
    """Reference path: skin the whole mesh (``TorchBodyModel``), then apply the regressor."""

    def __init__(self, model: BodyModel, regressor: np.ndarray, dtype=torch.float32, device="cpu"):
        super().__init__()
        self.body = TorchBodyModel(model, dtype=dtype, device=device)
        self.register_buffer("regressor", torch.as_tensor(np.asarray(regressor), dtype=dtype, device=device))

    def forward(self, pose, betas=None, trans=None, chunk: int = 256):
        out = []
        for s in range(0, len(pose), chunk):  # the (B, V, 3, 4) transforms are large: bound the memory
            part = lambda a, s=s: None if a is None else a[s : s + chunk]
            verts = self.body(pose[s : s + chunk], part(betas), part(trans))  # (b, V, 3)
            out.append(torch.matmul(self.regressor, verts))  # (b, J, 3)
        return torch.cat(out)


def make_regressor(model: BodyModel, regressor: np.ndarray, fast: bool = True, dtype=torch.float32, device="cpu"):
    return (MomentRegressor if fast else MeshRegressor)(model, regressor, dtype=dtype, device=device)


def stacked_regressor(sparse: np.ndarray, hierarchy: dict) -> np.ndarray:
    """(17 + 48 + 96, V): sparse joints, dense (= dense_from_fine @ fine), fine."""
    fine = np.asarray(hierarchy["fine_from_vertex"], np.float64)
    dense = np.asarray(hierarchy["dense_from_fine"], np.float64) @ fine
    return np.concatenate([np.asarray(sparse, np.float64), dense, fine], 0)
