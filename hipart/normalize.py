"""Model input normalisation (docs/design.md section 3).

* Lifter: VideoPose3D screen normalisation, x/w*2 - [1, h/w]: the image width maps to [-1, 1] and
  the aspect ratio is kept. With ``lifter.framing = "canonical"`` each pose is first moved into a
  virtual ``CANVAS`` px square image, its sparse joints' box centred and ``LONG_SIDE`` of the width on
  its long side (the median framing of the sample corpus's detected training 2D), as crop-based lifters
  see people: the input no longer depends on the camera, the image size or where the person stands.
* MSST / HiARM: the 2D levels re-centred at the sparse pelvis and divided by the sparse pose's scale
  (RMS distance of the sparse joints to the pelvis), so the tokenizer sees translation- and
  size-free shapes; generated poses are mapped back with the same centre and scale.
"""

from __future__ import annotations

import torch

CANVAS = 1000.0  # side of the virtual square image of canonical framing, px
LONG_SIDE = 0.29  # a canonically framed pose's box, long side / image width
FRAMINGS = ("image", "canonical")


def canonical_frame(kp: torch.Tensor, n_sparse: int = 17) -> torch.Tensor:
    """(N, J, 2) px -> the poses in the virtual CANVAS image, the box of their first ``n_sparse`` joints centred
    and LONG_SIDE x CANVAS on its long side; every level follows its pose's sparse joints."""
    sparse = kp[:, :n_sparse]
    low, high = sparse.amin(1, keepdim=True), sparse.amax(1, keepdim=True)  # (N, 1, 2)
    side = (high - low).amax(-1, keepdim=True).clamp_min(1e-6)  # (N, 1, 1)
    return (kp - (low + high) / 2) * (LONG_SIDE * CANVAS / side) + CANVAS / 2


def lifter_normalize(kp: torch.Tensor, image_size: torch.Tensor, framing: str = "image") -> torch.Tensor:
    """What a lifter reads: (N, J, 2) px of (N, 2) images -> screen-normalised, canonically framed first if asked."""
    if framing == "canonical":
        return screen_normalize(canonical_frame(kp), torch.full_like(image_size, CANVAS))
    return screen_normalize(kp, image_size)


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
