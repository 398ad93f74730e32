"""Shared input checks: every measure validates once, here, and computes in float64."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

ArrayLike = np.ndarray | torch.Tensor

# Relative threshold below which a representation's total variance counts as zero.
_ZERO_VARIANCE_RTOL = 1e-12


def as_float64(x: Any, name: str = "X") -> torch.Tensor:
    """Return ``x`` as a float64 torch tensor on its own device (numpy -> CPU), checking finiteness."""
    if isinstance(x, torch.Tensor):
        t = x.detach()
    elif isinstance(x, np.ndarray):
        if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
            raise TypeError(f"{name} must be a numeric array; got dtype {x.dtype}")
        t = torch.from_numpy(np.ascontiguousarray(x))
    else:
        raise TypeError(f"{name} must be a numpy array or a torch tensor; got {type(x).__name__}")
    if t.is_complex():
        raise TypeError(f"{name} must be real-valued; got dtype {t.dtype}")
    t = t.to(torch.float64)
    # A finite sum proves every entry finite in one pass, without a boolean mask the size of the
    # input (that mask cost 0.12 s per 1e5 x 128 array); a non-finite sum is re-checked exactly,
    # since finite entries near the float64 maximum can overflow it.
    if not bool(torch.isfinite(t.sum())) and not bool(torch.isfinite(t).all()):
        bad = int((~torch.isfinite(t)).sum())
        raise ValueError(f"{name} contains {bad} NaN or infinite value(s)")
    return t


def as_matrix(x: Any, name: str = "X") -> torch.Tensor:
    """A (n, d) float64 tensor; 1-D and 3-D inputs are refused with the fix spelled out."""
    t = as_float64(x, name)
    if t.ndim == 3:
        raise ValueError(
            f"{name} has shape {tuple(t.shape)} (n, t, d): state a token policy first, e.g. "
            f"mechequiv.tokens.pool_tokens({name}, 'last' | 'mean' | 'all' | 'concat' | position)"
        )
    if t.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D (n_samples, n_features); got shape {tuple(t.shape)}"
            + ("; reshape a single feature with x[:, None]" if t.ndim == 1 else "")
        )
    if t.shape[1] == 0:
        raise ValueError(f"{name} has no features (shape {tuple(t.shape)})")
    return t


def check_pair(
    X: Any, Y: Any, min_samples: int = 2, names: tuple[str, str] = ("X", "Y")
) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate a pair of representations with rows paired by stimulus; return float64 tensors.

    Both end up on X's device. Raises ``ValueError`` for mismatched or too few samples.
    """
    x = as_matrix(X, names[0])
    y = as_matrix(Y, names[1])
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same number of samples (rows paired by "
            f"stimulus); got {x.shape[0]} and {y.shape[0]}"
        )
    if x.shape[0] < min_samples:
        raise ValueError(f"this estimator needs at least {min_samples} samples; got {x.shape[0]}")
    return x, y.to(x.device)


def centre(x: torch.Tensor) -> torch.Tensor:
    """Subtract column means."""
    return x - x.mean(dim=0, keepdim=True)


def check_not_constant(xc: torch.Tensor, x: torch.Tensor, name: str) -> None:
    """Refuse a representation whose centred total variance is (numerically) zero."""
    total = float((xc * xc).sum())
    scale = float((x * x).sum())
    if total <= _ZERO_VARIANCE_RTOL * max(scale, 1e-300):
        raise ValueError(
            f"{name} has zero variance across samples (every row is the same): "
            "the measure is undefined"
        )


def check_int(value: Any, name: str, minimum: int) -> int:
    """An integer option at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int; got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {value}")
    return int(value)


def check_choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    """A string option from a fixed set."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}; got {value!r}")
    return value


def safe_arccos(c: float, tol: float = 1e-9) -> float:
    """arccos of a cosine; values past +-1 by rounding only (<= tol) are clipped, larger ones raise."""
    if c > 1.0 + tol or c < -1.0 - tol:
        raise ValueError(f"cosine {c!r} lies outside [-1, 1] beyond rounding error")
    return float(np.arccos(min(1.0, max(-1.0, c))))
