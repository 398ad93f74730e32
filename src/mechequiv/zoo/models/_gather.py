"""Bounds of the flat table indices the zoo's training forwards gather with."""

from __future__ import annotations

import torch


def check_index_range(index: torch.Tensor, size: int, what: str) -> None:
    """Raise IndexError unless every entry of ``index`` lies in ``[0, size)``.

    A flat index into a table of several blocks (positions, seeds) would otherwise read another
    block's row without any error. On the CPU the check is a plain comparison; on an
    accelerator it is asserted asynchronously (no host synchronisation inside a training step;
    a violation surfaces at a later kernel launch)."""
    if not index.numel():
        return
    if index.device.type != "cpu":
        torch._assert_async(((index >= 0) & (index < size)).all(), f"{what} outside [0, {size})")
        return
    low, high = int(index.min()), int(index.max())
    if low < 0 or high >= size:
        raise IndexError(f"{what} must lie in [0, {size}), got {low}..{high}")
