"""One reading of a ``device`` argument, checked before any work starts."""

from __future__ import annotations

import torch


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``device`` as a :class:`torch.device` (``None``: the CPU), or one clear ``ValueError``.

    Refused up front rather than at the first tensor moved: a device string torch cannot read,
    and an accelerator this torch build or machine does not have (or an index past its count).
    """
    if device is None:
        return torch.device("cpu")
    if not isinstance(device, str | torch.device):
        raise TypeError(f"device must be a str or torch.device, got {type(device).__name__}")
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise ValueError(
            f"device {device!r} is not a device torch can read (e.g. 'cpu', 'cuda', 'cuda:1')"
        ) from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device {device!r} asked for, but CUDA is not available to this torch "
                f"({torch.__version__}); use device='cpu' or install a CUDA build"
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(
                f"device {device!r} asked for, but this machine has "
                f"{torch.cuda.device_count()} CUDA device(s)"
            )
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {device!r} asked for, but MPS is not available here")
    elif dev.type == "meta":
        raise ValueError("device 'meta' holds no values; training needs a real device")
    return dev
