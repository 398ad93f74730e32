"""The validation vocabulary, in one place: every public function checks its input here, once,
at its boundary (scikit-learn's ``check_array`` style), and every failed check raises the one
error type :class:`ValidationError` (einops' ``EinopsError`` style).

:class:`ValidationError` derives from both ``ValueError`` (bad values) and ``TypeError`` (wrong
kinds), so callers that catch either keep working, and from
:class:`~mechequiv.errors.MechequivError`. The message names the argument, what was expected and
what was found; :func:`context` adds where it happened ("congruity: ...") once, at the public
boundary, however deep the check ran.

Scalars: :func:`check_int`, :func:`check_choice`, :func:`check_fraction`. Arrays (rows paired by
stimulus, computed in float64): :func:`check_pair`, :func:`as_float64`, :func:`as_matrix`, ...

One pass over each input (``aminmax``) proves it finite and gives its largest magnitude, which
decides the scale handling (see ``SAFE_EXPONENT``): nothing else is copied unless an input is
converted to float64 or lies outside the float64-safe window.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

from mechequiv.errors import MechequivError


class ValidationError(MechequivError, ValueError, TypeError):
    """Bad input to a public function: a bad value or a wrong kind (module docstring)."""

    def __init__(self, message: str, where: str | None = None) -> None:
        super().__init__(message if where is None else f"{where}: {message}")
        self.where = where


@contextmanager
def context(where: str) -> Iterator[None]:
    """Re-raise a :class:`ValidationError` from inside the block as ``"where: message"``,
    unless an enclosing boundary already named the place (context is added once)."""
    try:
        yield
    except ValidationError as e:
        if e.where is not None:
            raise
        raise ValidationError(str(e), where) from None


ArrayLike = np.ndarray | torch.Tensor

# Relative threshold below which a representation's total variance counts as zero.
ZERO_VARIANCE_RTOL = 1e-12


# Entries of magnitude within [2^-64, 2^64] keep every quantity a measure forms (up to products
# of two fourth-power sums, over n * d terms) far from float64 overflow and underflow.
# Scale-invariant measures bring inputs outside this window back into it by an exact power of two,
# so their value is that of the input at a normal scale. Real activations are never near it.
SAFE_EXPONENT = 64
# Measures that are not scale invariant cannot rescale: they refuse entries beyond 2^+-200, where
# squares (all such a measure forms) would leave the float64 range.
REFUSE_EXPONENT = 200


def _as_tensor(x: Any, name: str) -> torch.Tensor:
    """``x`` as a real torch tensor on its own device (numpy -> CPU), in its own dtype."""
    if isinstance(x, torch.Tensor):
        t = x.detach()
    elif isinstance(x, np.ndarray):
        if x.dtype.kind not in "biufc":  # bool, ints, floats, complex (refused below)
            raise ValidationError(f"{name} must be a numeric array; got dtype {x.dtype}")
        t = torch.from_numpy(np.ascontiguousarray(x))
    else:
        raise ValidationError(
            f"{name} must be a numpy array or a torch tensor; got {type(x).__name__}"
        )
    if t.is_complex():
        raise ValidationError(f"{name} must be real-valued; got dtype {t.dtype}")
    return t


def _finite_max_abs(t: torch.Tensor, name: str) -> float:
    """The largest |entry| of ``t`` (0 when empty), refusing NaN and infinite entries.

    One pass (aminmax propagates NaN and reaches inf), without a boolean mask the size of the
    input; only a failing input is scanned again, to count its bad entries.
    """
    if t.numel() == 0:
        return 0.0
    if not t.is_floating_point():
        t = t.to(torch.float64) if t.dtype == torch.bool else t
        lo, hi = torch.aminmax(t)
        return float(max(-float(lo), float(hi)))
    lo, hi = torch.aminmax(t)
    lo_f, hi_f = float(lo), float(hi)
    if not (np.isfinite(lo_f) and np.isfinite(hi_f)):
        bad = int((~torch.isfinite(t)).sum())
        raise ValidationError(f"{name} contains {bad} NaN or infinite value(s)")
    return max(-lo_f, hi_f)


def as_float64(x: Any, name: str = "X") -> torch.Tensor:
    """Return ``x`` as a float64 torch tensor on its own device (numpy -> CPU), checking finiteness."""
    t = _as_tensor(x, name)
    _finite_max_abs(t, name)
    return t.to(torch.float64)


def _as_matrix(x: Any, name: str, keep_float: bool) -> tuple[torch.Tensor, float]:
    """A (n, d) finite tensor and its largest |entry|; float64 unless ``keep_float`` keeps a
    float32 input as it is (callers convert it block by block)."""
    t = _as_tensor(x, name)
    if t.ndim == 3:
        raise ValidationError(
            f"{name} has shape {tuple(t.shape)} (n, t, d): state a token policy first, e.g. "
            f"mechequiv.tokens.pool_tokens({name}, 'last' | 'mean' | 'all' | 'concat' | position)"
        )
    if t.ndim != 2:
        raise ValidationError(
            f"{name} must be 2-D (n_samples, n_features); got shape {tuple(t.shape)}"
            + ("; reshape a single feature with x[:, None]" if t.ndim == 1 else "")
        )
    if t.shape[1] == 0:
        raise ValidationError(f"{name} has no features (shape {tuple(t.shape)})")
    m = _finite_max_abs(t, name)
    if not (keep_float and t.dtype == torch.float32):
        t = t.to(torch.float64)
    return t, m


def as_matrix(x: Any, name: str = "X") -> torch.Tensor:
    """A (n, d) float64 tensor; 1-D and 3-D inputs are refused with the fix spelled out."""
    return _as_matrix(x, name, keep_float=False)[0]


def as_matrix_scaled(x: Any, name: str = "X") -> tuple[torch.Tensor, int]:
    """:func:`as_matrix` brought into the float64-safe window: (x / 2^e, e), e = 0 for all real
    data (then no copy is made)."""
    t, m = _as_matrix(x, name, keep_float=False)
    e = scale_exponent(m)
    return times_power_of_two(t, -e), e


def scale_exponent(max_abs: float) -> int:
    """0 when entries up to ``max_abs`` lie in the safe window, else e with max_abs / 2^e in
    [0.5, 1): the exponent that brings them back to unit scale."""
    if max_abs == 0.0 or 2.0**-SAFE_EXPONENT <= max_abs <= 2.0**SAFE_EXPONENT:
        return 0
    return math.frexp(max_abs)[1]


def times_power_of_two(t: torch.Tensor, k: int) -> torch.Tensor:
    """``t * 2**k``, exact (a power of two only shifts exponents), in steps that cannot overflow."""
    while k:
        step = max(-1000, min(1000, k))
        t = t * 2.0**step
        k -= step
    return t


def _refuse_extreme(max_abs: float, name: str) -> None:
    if max_abs and not 2.0**-REFUSE_EXPONENT <= max_abs <= 2.0**REFUSE_EXPONENT:
        raise ValidationError(
            f"{name} has entries of magnitude up to {max_abs:.3g}, outside "
            f"[{2.0**-REFUSE_EXPONENT:.2g}, {2.0**REFUSE_EXPONENT:.2g}] where this measure, which is "
            "not scale invariant, can compute in float64 without overflow; rescale the inputs"
        )


def _validated_pair(
    X: Any, Y: Any, min_samples: int, names: tuple[str, str], keep_float: bool
) -> tuple[torch.Tensor, torch.Tensor, float, float]:
    x, mx = _as_matrix(X, names[0], keep_float)
    y, my = _as_matrix(Y, names[1], keep_float)
    _check_rows(x, y, min_samples, names)
    return x, y.to(x.device), mx, my


def check_pair_scaled(
    X: Any,
    Y: Any,
    min_samples: int = 2,
    names: tuple[str, str] = ("X", "Y"),
    keep_float: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, int, int]:
    """:func:`check_pair` for measures that handle scale: each side brought into the safe window
    by an exact power of two, returned with the exponents e_x, e_y (X = x * 2^e_x).

    Inputs already inside the window (all real data) come back unscaled and uncopied, with
    exponent 0. ``keep_float`` keeps float32 input in float32 (the caller converts blocks).
    """
    x, y, mx, my = _validated_pair(X, Y, min_samples, names, keep_float)
    ex, ey = scale_exponent(mx), scale_exponent(my)
    return times_power_of_two(x, -ex), times_power_of_two(y, -ey), ex, ey


def check_pair(
    X: Any,
    Y: Any,
    min_samples: int = 2,
    names: tuple[str, str] = ("X", "Y"),
    rescale: bool = False,
    keep_float: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate a pair of representations with rows paired by stimulus; return float64 tensors.

    Both end up on X's device. Raises ``ValueError`` for mismatched or too few samples.
    ``rescale=True`` is for measures invariant to scaling each side separately: an input with
    entries beyond the float64-safe window is brought back into it by an exact power of two.
    Without it such an input is refused, since a measure that is not scale invariant cannot
    rescale. ``keep_float`` keeps float32 input in float32 (the caller converts blocks).
    """
    if rescale:
        return check_pair_scaled(X, Y, min_samples, names, keep_float)[:2]
    x, y, mx, my = _validated_pair(X, Y, min_samples, names, keep_float)
    _refuse_extreme(mx, names[0])
    _refuse_extreme(my, names[1])
    return x, y


def pair_unscanned(
    X: Any, Y: Any, min_samples: int = 2
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """What ``check_pair(X, Y, min_samples, rescale=True, keep_float=True)`` returns for input
    that needs no rescaling, but without its pass over the values (finiteness and magnitude).

    For callers that compute something from which they can certify afterwards that the values
    were finite and inside the float64-safe window (see ``SAFE_EXPONENT``); when they cannot,
    they must call :func:`check_pair`, which then raises or rescales. ``None`` for anything but
    float32/float64 matrices with matching rows and enough samples, so that :func:`check_pair`
    gives every error, in its order.
    """
    try:
        x, y = _as_tensor(X, "X"), _as_tensor(Y, "Y")
    except ValidationError:
        return None
    floats = (torch.float32, torch.float64)
    if x.dtype not in floats or y.dtype not in floats or x.ndim != 2 or y.ndim != 2:
        return None
    if x.shape[1] == 0 or y.shape[1] == 0 or x.shape[0] != y.shape[0] or x.shape[0] < min_samples:
        return None
    return x, y.to(x.device)


def _check_rows(x: torch.Tensor, y: torch.Tensor, min_samples: int, names: tuple[str, str]) -> None:
    if x.shape[0] != y.shape[0]:
        raise ValidationError(
            f"{names[0]} and {names[1]} must have the same number of samples (rows paired by "
            f"stimulus); got {x.shape[0]} and {y.shape[0]}"
        )
    if x.shape[0] < min_samples:
        raise ValidationError(
            f"this estimator needs at least {min_samples} samples; got {x.shape[0]}"
        )


def centre(x: torch.Tensor) -> torch.Tensor:
    """Subtract column means."""
    return x - x.mean(dim=0, keepdim=True)


def check_not_constant(xc: torch.Tensor, x: torch.Tensor, name: str) -> None:
    """Refuse a representation whose centred total variance is (numerically) zero."""
    total = float((xc * xc).sum())
    scale = float((x * x).sum())
    if total <= ZERO_VARIANCE_RTOL * max(scale, 1e-300):
        raise ValidationError(
            f"{name} has zero variance across samples (every row is the same): "
            "the measure is undefined"
        )


def check_int(value: Any, name: str, minimum: int | None = None) -> int:
    """``value`` as an int (numpy integers accepted, bools not), at least ``minimum``.

    The argument order is (value, name, minimum) everywhere, as every ``check_*`` here."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValidationError(f"{name} must be an int; got {type(value).__name__}")
    if minimum is not None and value < minimum:
        raise ValidationError(f"{name} must be >= {minimum}; got {value}")
    return int(value)


def check_choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    """A string option from a fixed set."""
    if value not in choices:
        raise ValidationError(f"{name} must be one of {choices}; got {value!r}")
    return str(value)


def check_fraction(
    value: Any, name: str, low: float = 0.0, high: float = 1.0, low_open: bool = True
) -> float:
    """A real number in ``(low, high]`` (``[low, high]`` with ``low_open=False``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValidationError(f"{name} must be a number; got {type(value).__name__}")
    v = float(value)
    ok = (low < v if low_open else low <= v) and v <= high
    if not ok:
        bracket = "(" if low_open else "["
        raise ValidationError(f"{name} must lie in {bracket}{low:g}, {high:g}]; got {value}")
    return v


def safe_arccos(c: float, tol: float = 1e-9) -> float:
    """arccos of a cosine; values past +-1 by rounding only (<= tol) are clipped, larger ones raise."""
    if c > 1.0 + tol or c < -1.0 - tol:
        raise ValidationError(f"cosine {c!r} lies outside [-1, 1] beyond rounding error")
    return float(np.arccos(min(1.0, max(-1.0, c))))
