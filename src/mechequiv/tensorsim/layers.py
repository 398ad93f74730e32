"""The bilinear layer protocol: how any bilinear module tells tensorsim its weights.

A bilinear layer computes

    y = down( (left x + left_bias) * (right x + right_bias) ) + down_bias  [+ skip_scale * x]

(``*`` elementwise; the last term only when ``residual``). Any ``nn.Module`` that has a method
``bilinear_factors(self) -> BilinearFactors`` is read as such a layer, whatever its attribute
names or how it fuses its weights (a GLU-style ``nn.Linear(d, 2 h)`` split into halves, a
``Parameter`` of shape (2, h, d), ...). For a class you cannot edit (a layer from a library),
register a reader once::

    register_bilinear(TheirBlock, lambda m: BilinearFactors(m.w[:h], m.w[h:], m.proj.weight))

A whole model is read layer by layer. ``nn.Linear``, ``nn.Embedding``, ``nn.Identity``,
bilinear layers and ``nn.Sequential`` / ``nn.ModuleList`` of them need nothing more; a model with
its own structure (a residual stream of bilinear blocks, say) names its chain with a method
``tensor_layers(self) -> Sequence[nn.Module | BilinearFactors]`` (applied in order; give
``BilinearFactors(..., residual=True)`` for blocks that add to their input), or, for a class
you cannot edit, :func:`register_tensor_layers`.

The zoo's ``Bilinear`` and ``BilinearMLP`` are read through the same protocol, by built-in
readers matched by class name (tensorsim does not import the zoo).
The factors are read as they are (device and dtype kept); tensorsim computes in float64.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
from torch import nn

from mechequiv.errors import MechequivError

__all__ = [
    "BilinearFactors",
    "TensorLayer",
    "bilinear_factors_of",
    "register_bilinear",
    "register_tensor_layers",
    "tensor_layers_of",
]


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


def _is_zoo(m: nn.Module, name: str) -> bool:
    return type(m).__name__ == name and type(m).__module__.startswith("mechequiv.zoo.")


def _only_children(m: nn.Module, allowed: set[str]) -> None:
    """The zoo classes are read by their parts: nothing may hide beside them."""
    for name, child in m.named_children():
        if name not in allowed:
            raise MechequivError(
                f"{name} ({type(child).__name__}) is not tensor-based: a {type(m).__name__} "
                f"may hold only {sorted(allowed)}"
            )


def _zoo_bilinear(m: Any) -> BilinearFactors:
    _only_children(m, {"L", "R", "D"})
    for part in ("L", "R", "D"):
        if type(getattr(m, part)) is not nn.Linear:
            raise TypeError(f"{part} must be nn.Linear; found {type(getattr(m, part))}")
    return BilinearFactors(
        m.L.weight, m.R.weight, m.D.weight, m.L.bias, m.R.bias, m.D.bias, residual=False
    )


def _reader_of(
    m: nn.Module,
    registered: Mapping[type, Callable[[nn.Module], Any]],
    zoo_class: str,
    zoo_reader: Callable[[Any], Any],
    method_name: str,
) -> Callable[[nn.Module], Any] | None:
    """How to read ``m``: a reader registered for exactly ``type(m)``, else the zoo's reader for
    its class, else the class's own ``method_name`` (unbound), else None."""
    reader = registered.get(type(m))
    if reader is None and _is_zoo(m, zoo_class):
        reader = zoo_reader
    if reader is None and callable(getattr(m, method_name, None)):
        reader = getattr(type(m), method_name)
    return reader


def bilinear_factors_of(m: nn.Module) -> BilinearFactors | None:
    """The factors of a bilinear layer, or None if ``m`` is not one.

    A registered reader for ``type(m)`` wins; otherwise a ``bilinear_factors()`` method.
    """
    reader = _reader_of(m, _READERS, "Bilinear", _zoo_bilinear, "bilinear_factors")
    if reader is None:
        return None
    out = reader(m)
    if not isinstance(out, BilinearFactors):
        raise TypeError(
            f"{type(m).__name__}: the bilinear reader returned {type(out).__name__}, "
            "not BilinearFactors"
        )
    return out


TensorLayer = nn.Module | BilinearFactors
"""One link of a tensor network's chain: a module tensorsim reads, or bilinear factors."""

_CHAINS: dict[type, Callable[[nn.Module], Sequence[TensorLayer]]] = {}


def register_tensor_layers(cls: type, reader: Callable[[nn.Module], Sequence[TensorLayer]]) -> None:
    """Read models of exactly type ``cls`` as the chain ``reader(model)`` (for classes you
    cannot edit; see ``tensor_layers`` in the module docstring)."""
    if not isinstance(cls, type) or not issubclass(cls, nn.Module):
        raise TypeError(f"cls must be an nn.Module subclass; got {cls!r}")
    if not callable(reader):
        raise TypeError("reader must be callable: module -> sequence of layers")
    _CHAINS[cls] = reader


def _zoo_bilinear_mlp(m: Any) -> list[TensorLayer]:
    _only_children(m, {"embed", "blocks", "unembed"})
    blocks = []
    for i, block in enumerate(m.blocks):
        try:
            factors = bilinear_factors_of(block)
        except MechequivError as e:
            raise MechequivError(f"blocks.{i}.{e}") from None
        if factors is None:
            raise MechequivError(f"blocks.{i} ({type(block).__name__}) is not tensor-based")
        blocks.append(dataclasses.replace(factors, residual=bool(m.residual)))
    return [m.embed, *blocks, m.unembed]


def tensor_layers_of(m: nn.Module) -> list[TensorLayer] | None:
    """The chain of a model that names one (a registered reader, a ``tensor_layers()`` method,
    or the zoo's ``BilinearMLP``), or None."""
    reader = _reader_of(m, _CHAINS, "BilinearMLP", _zoo_bilinear_mlp, "tensor_layers")
    if reader is None:
        return None
    out = list(reader(m))
    bad = [type(x).__name__ for x in out if not isinstance(x, nn.Module | BilinearFactors)]
    if bad:
        raise TypeError(
            f"{type(m).__name__}: tensor_layers must give modules or BilinearFactors; got {bad}"
        )
    return out
