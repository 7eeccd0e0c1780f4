"""Model input normalisation (docs/design.md section 3).

* Lifter: VideoPose3D screen normalisation, x/w*2 - [1, h/w]: the image width maps to [-1, 1] and
  the aspect ratio is kept.
* MSST / HiARM: the 2D levels re-centred at the sparse pelvis and divided by the sparse pose's scale
  (RMS distance of the sparse joints to the pelvis), so the tokenizer sees translation- and
  size-free shapes; generated poses are mapped back with the same centre and scale.
"""
from __future__ import annotations

import torch


def screen_normalize(kp: torch.Tensor, image_size: torch.Tensor) -> torch.Tensor:
    """Pixels -> screen-normalised. kp (N, J, 2), image_size (N, 2) as (w, h)."""
    w = image_size[:, 0:1, None].to(kp.dtype)
    h = image_size[:, 1:2, None].to(kp.dtype)
    offset = torch.cat([torch.ones_like(h), h / w], dim=-1)  # (N, 1, 2)
    return kp / w * 2 - offset


def screen_denormalize(kp: torch.Tensor, image_size: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`screen_normalize`."""
    w = image_size[:, 0:1, None].to(kp.dtype)
    h = image_size[:, 1:2, None].to(kp.dtype)
    offset = torch.cat([torch.ones_like(h), h / w], dim=-1)
    return (kp + offset) * w / 2


def pose_frame(sparse: torch.Tensor, eps: float = 1e-6) -> tuple[torch.Tensor, torch.Tensor]:
    """Centre (N, 1, 2) and scale (N, 1, 1) of a sparse 2D pose (N, 17, 2): pelvis and RMS radius."""
    center = sparse[:, 0:1, :]
    scale = (sparse - center).pow(2).sum(-1).mean(-1).sqrt()[:, None, None].clamp_min(eps)
    return center, scale


def to_pose_frame(kp: torch.Tensor, center: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """(N, J, 2) in pixels (or screen units) -> pelvis-centred, unit-scale coordinates."""
    return (kp - center) / scale


def from_pose_frame(kp: torch.Tensor, center: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`to_pose_frame`."""
    return kp * scale + center
