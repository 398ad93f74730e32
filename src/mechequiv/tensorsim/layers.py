"""The bilinear layer protocol: how any bilinear module tells tensorsim its weights.

A bilinear layer computes

    y = down( (left x + left_bias) * (right x + right_bias) ) + down_bias  [+ skip_scale * x]

(``*`` elementwise; the last term only when ``residual``). Any ``nn.Module`` that has a method
``bilinear_factors(self) -> BilinearFactors`` is read as such a layer, whatever its attribute
names or how it fuses its weights (a GLU-style ``nn.Linear(d, 2 h)`` split into halves, a
``Parameter`` of shape (2, h, d), ...). For a class you cannot edit (a layer from a library),
register a reader once::

    register_bilinear(TheirBlock, lambda m: BilinearFactors(m.w[:h], m.w[h:], m.proj.weight))

The zoo's :class:`~mechequiv.zoo.models.bilinear.Bilinear` is read through the same protocol.
The factors are read as they are (device and dtype kept); tensorsim computes in float64.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import torch
from torch import nn

from mechequiv.zoo.models.bilinear import Bilinear

__all__ = ["BilinearFactors", "bilinear_factors_of", "register_bilinear"]


@dataclass(frozen=True, eq=False)
class BilinearFactors:
    """The weights of one bilinear layer (see the module docstring for the map they define).

    ``left``, ``right``: (hidden, d_in); ``down``: (d_out, hidden); biases optional, of shapes
    (hidden,), (hidden,), (d_out,). ``residual``: the layer adds ``skip_scale * x`` to its
    output (needs ``d_out == d_in``).
    """

    left: torch.Tensor
    right: torch.Tensor
    down: torch.Tensor
    left_bias: torch.Tensor | None = None
    right_bias: torch.Tensor | None = None
    down_bias: torch.Tensor | None = None
    residual: bool = False
    skip_scale: float = 1.0

    def __post_init__(self) -> None:
        for name in ("left", "right", "down"):
            w = getattr(self, name)
            if not isinstance(w, torch.Tensor) or w.ndim != 2:
                raise TypeError(f"BilinearFactors.{name} must be a 2-d tensor; got {_shape(w)}")
        h, d = self.left.shape
        if self.right.shape != (h, d) or self.down.shape[1] != h:
            raise ValueError(
                f"bilinear factors disagree: left {tuple(self.left.shape)}, right "
                f"{tuple(self.right.shape)}, down {tuple(self.down.shape)} (expected right like "
                "left and down with one column per hidden unit)"
            )
        for name, size in (("left_bias", h), ("right_bias", h), ("down_bias", self.down.shape[0])):
            b = getattr(self, name)
            if b is not None and (not isinstance(b, torch.Tensor) or b.shape != (size,)):
                raise ValueError(
                    f"BilinearFactors.{name} must have shape ({size},); got {_shape(b)}"
                )
        if self.residual and self.down.shape[0] != d:
            raise ValueError(
                f"a residual bilinear layer needs d_out == d_in; got {self.down.shape[0]} != {d}"
            )


def _shape(x: object) -> str:
    return str(tuple(x.shape)) if isinstance(x, torch.Tensor) else type(x).__name__


# each reader takes modules of exactly its key type
_READERS: dict[type, Callable[[Any], BilinearFactors]] = {}
_M = TypeVar("_M", bound=nn.Module)


def register_bilinear(cls: type[_M], reader: Callable[[_M], BilinearFactors]) -> None:
    """Read modules of exactly type ``cls`` with ``reader`` (for classes you cannot edit)."""
    if not isinstance(cls, type) or not issubclass(cls, nn.Module):
        raise TypeError(f"cls must be an nn.Module subclass; got {cls!r}")
    if not callable(reader):
        raise TypeError("reader must be callable: module -> BilinearFactors")
    _READERS[cls] = reader


def _zoo_bilinear(m: Bilinear) -> BilinearFactors:
    for part in ("L", "R", "D"):
        if type(getattr(m, part)) is not nn.Linear:
            raise TypeError(f"{part} must be nn.Linear; found {type(getattr(m, part))}")
    return BilinearFactors(
        m.L.weight, m.R.weight, m.D.weight, m.L.bias, m.R.bias, m.D.bias, residual=False
    )


register_bilinear(Bilinear, _zoo_bilinear)


def bilinear_factors_of(m: nn.Module) -> BilinearFactors | None:
    """The factors of a bilinear layer, or None if ``m`` is not one.

    A registered reader for ``type(m)`` wins; otherwise a ``bilinear_factors()`` method.
    """
    reader = _READERS.get(type(m))
    if reader is None:
        method = getattr(m, "bilinear_factors", None)
        if not callable(method):
            return None
        reader = cast(Any, type(m)).bilinear_factors
    out = reader(m)
    if not isinstance(out, BilinearFactors):
        raise TypeError(
            f"{type(m).__name__}: the bilinear reader returned {type(out).__name__}, "
            "not BilinearFactors"
        )
    return out
