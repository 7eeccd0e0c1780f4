"""Where a model runs and in which precision: one choice for every command."""

from __future__ import annotations

import contextlib

import torch

from pipelines.core.errors import UserError

AMP_CHOICES = ("auto", "bf16", "fp32")


def default_device(device: str | torch.device | None = None) -> torch.device:
    """The device asked for, else CUDA when available, else the CPU."""
    if device is None or device == "":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except (RuntimeError, ValueError):
        raise UserError(f"--device {device!r}: expected cpu, cuda or cuda:N") from None


def autocast(device: torch.device, amp: str = "auto"):
    """bf16 autocast on CUDA ("auto") or when asked ("bf16"); fp32 otherwise (bf16 is slow on most CPUs)."""
    if amp not in AMP_CHOICES:
        raise UserError(f"train.amp: unknown value '{amp}' (expected {' | '.join(AMP_CHOICES)})")
    if amp == "bf16" or (amp == "auto" and device.type == "cuda"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
