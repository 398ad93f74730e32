"""The model protocol: how methods learn a model's hook points and exact symmetries.

Methods do not guess attribute names. They ask two questions, each answered by the model itself
(a method on its class), by an adapter registered for its class, or by a built-in adapter:

- **Named hook points** (:func:`hook_points`): for a role (``"block"``: the residual stream
  after each block; ``"attention"``: each block's attention output; ``"mlp"``: each block's MLP
  hidden activations), the list of point names, one per block, that
  :func:`~mechequiv.capture.capture` accepts for that model. A model answers with a method
  ``named_hook_points(self) -> Mapping[str, Sequence[str]]`` (roles it lacks are left out).
- **Declared symmetries** (:func:`symmetries`): the exact reparameterisations of the model as a
  :class:`Symmetries` value: which tensors read or write the residual stream (rotated by an
  orthogonal R), which form hidden units that may be permuted and rescaled across their
  activation (MLP neurons), attention heads that may be permuted, and bilinear units. A model
  answers with ``exact_symmetries(self) -> Symmetries``; declaring a symmetry asserts that it
  preserves the function (for a stream rotation: no normalisation layer that is not
  rotation-equivariant, no other tensor touching the stream).

The third part of the protocol, tensor-network layers (``bilinear_factors()`` and
``tensor_layers()``), is read by :mod:`mechequiv.tensorsim.layers`.

Built-in adapters (:mod:`mechequiv.capture.adapters.layouts`): the zoo's ``TokenTransformer``
and ``BilinearMLP``, TransformerLens (``HookedTransformer`` of TransformerLens 2/3 and the
``TransformerBridge`` of TransformerLens 4; symmetries for ``HookedTransformer`` without
normalisation), Hugging Face decoders and encoders (hook points), and plain ``nn.Sequential``
MLPs (symmetries and hook points). For a class you cannot edit, :func:`register_model`.

A model none of these answers gets one :class:`UnsupportedModelError` error naming what is missing.

Conventions. An :class:`Axis` is a tensor (a parameter, changed in place by a transform) and the
axis along which it indexes the stream or the units. The residual stream is a row vector: a
rotation maps x -> x R; every stream tensor T becomes T' with T'[..., j, ...] =
sum_k T[..., k, ...] R[k, j] along its stream axis (readers, writers, embeddings and biases
alike, since R is orthogonal).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import torch
from torch import nn

from mechequiv.errors import MechequivError

__all__ = [
    "ELEMENTWISE",
    "HOMOGENEOUS",
    "ODD",
    "ROLES",
    "Axis",
    "BilinearUnits",
    "DeclaresSymmetries",
    "Heads",
    "NamesHookPoints",
    "Neurons",
    "Stream",
    "Symmetries",
    "UnsupportedModelError",
    "hook_points",
    "register_model",
    "symmetries",
]

ROLES = ("block", "attention", "mlp")
"""Hook-point roles: residual stream after each block, attention output, MLP hidden units."""

# Activations that commute with a positive rescaling: f(c x) = c f(x) for c > 0.
HOMOGENEOUS: tuple[type[nn.Module], ...] = (nn.ReLU, nn.LeakyReLU, nn.Identity)
# Activations that commute with a sign flip: f(-x) = -f(x).
ODD: tuple[type[nn.Module], ...] = (nn.Tanh, nn.Identity, nn.Hardtanh, nn.Softsign)
# Elementwise activations: hidden units may at least be permuted across them.
ELEMENTWISE: tuple[type[nn.Module], ...] = (
    *HOMOGENEOUS, *ODD, nn.GELU, nn.SiLU, nn.Sigmoid, nn.ELU, nn.Softplus,
)  # fmt: skip


class UnsupportedModelError(MechequivError, TypeError):
    """A model does not answer a protocol question (the message names what is missing)."""


@dataclass(frozen=True, eq=False)
class Axis:
    """``tensor`` indexes the stream (or the units) along ``axis``."""

    tensor: torch.Tensor
    axis: int

    def __post_init__(self) -> None:
        if not isinstance(self.tensor, torch.Tensor):
            raise TypeError(f"Axis.tensor must be a tensor; got {type(self.tensor).__name__}")
        if not -self.tensor.ndim <= self.axis < self.tensor.ndim:
            raise ValueError(
                f"axis {self.axis} is out of range for a tensor of shape {tuple(self.tensor.shape)}"
            )

    @property
    def size(self) -> int:
        return int(self.tensor.shape[self.axis])


def _axes(value: Sequence[Axis], what: str) -> tuple[Axis, ...]:
    out = tuple(value)
    if not out or not all(isinstance(a, Axis) for a in out):
        raise TypeError(f"{what} must be a non-empty sequence of Axis")
    return out


def _same_size(axes: Sequence[Axis], what: str, size: int | None = None) -> int:
    sizes = {a.size for a in axes} | ({size} if size is not None else set())
    if len(sizes) != 1:
        raise ValueError(f"{what} disagree on their size along the declared axis: {sorted(sizes)}")
    return sizes.pop()


@dataclass(frozen=True, eq=False)
class Stream:
    """Every tensor that reads or writes the residual stream, at its stream axis: a rotation of
    the stream is exact when this list is complete and no normalisation sits on the stream."""

    tensors: Sequence[Axis]

    def __post_init__(self) -> None:
        object.__setattr__(self, "tensors", _axes(self.tensors, "Stream.tensors"))
        _same_size(self.tensors, "Stream tensors")

    @property
    def width(self) -> int:
        return self.tensors[0].size


@dataclass(frozen=True, eq=False)
class Neurons:
    """Hidden units across an elementwise activation: permutable; rescalable by c > 0 when the
    activation is positively homogeneous (``scale``); sign-flippable when it is odd (``sign``).

    ``incoming``: the weights and biases that make the pre-activation (unit axis);
    ``outgoing``: the weights that read the activation (unit axis).
    """

    incoming: Sequence[Axis]
    outgoing: Sequence[Axis]
    scale: bool = False
    sign: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "incoming", _axes(self.incoming, "Neurons.incoming"))
        object.__setattr__(self, "outgoing", _axes(self.outgoing, "Neurons.outgoing"))
        _same_size((*self.incoming, *self.outgoing), "a layer's incoming and outgoing tensors")

    @classmethod
    def across(
        cls, incoming: Sequence[Axis], outgoing: Sequence[Axis], activation: nn.Module
    ) -> Neurons:
        """Units across ``activation``; what commutes with it read from its type."""
        if not isinstance(activation, ELEMENTWISE):
            raise UnsupportedModelError(
                f"{type(activation).__name__} is not a known elementwise activation: declare "
                "Neurons(incoming, outgoing, scale=..., sign=...) yourself"
            )
        return cls(
            tuple(incoming),
            tuple(outgoing),
            scale=isinstance(activation, HOMOGENEOUS),
            sign=isinstance(activation, ODD),
        )

    @property
    def width(self) -> int:
        return self.incoming[0].size


@dataclass(frozen=True, eq=False)
class Heads:
    """Attention heads that may be permuted as wholes: along each tensor's axis lie ``n_heads``
    equal blocks (``n_heads`` itself, or ``n_heads * d_head`` for fused projections)."""

    n_heads: int
    tensors: Sequence[Axis]

    def __post_init__(self) -> None:
        object.__setattr__(self, "tensors", _axes(self.tensors, "Heads.tensors"))
        if isinstance(self.n_heads, bool) or not isinstance(self.n_heads, int) or self.n_heads < 1:
            raise ValueError(f"Heads.n_heads must be an int >= 1; got {self.n_heads!r}")
        bad = [a.size for a in self.tensors if a.size % self.n_heads]
        if bad:
            raise ValueError(f"head tensors of size {bad} do not split into {self.n_heads} heads")


@dataclass(frozen=True, eq=False)
class BilinearUnits:
    """Units of a bilinear layer ``down((left x) * (right x))``: permutable, left and right
    swappable per unit, and scaled by a on left, b on right, 1 / (a b) on down (any a, b != 0).
    ``left`` and ``right`` list matching tensors (weight with weight, bias with bias)."""

    left: Sequence[Axis]
    right: Sequence[Axis]
    down: Sequence[Axis]

    def __post_init__(self) -> None:
        for name in ("left", "right", "down"):
            object.__setattr__(self, name, _axes(getattr(self, name), f"BilinearUnits.{name}"))
        if len(self.left) != len(self.right) or any(
            a.tensor.shape != b.tensor.shape or a.axis != b.axis
            for a, b in zip(self.left, self.right, strict=True)
        ):
            raise ValueError("BilinearUnits.left and .right must list tensors of the same shapes")
        _same_size((*self.left, *self.down), "a bilinear layer's tensors")

    @property
    def width(self) -> int:
        return self.left[0].size


UnitGroup = Neurons | Heads | BilinearUnits


@dataclass(frozen=True, eq=False)
class Symmetries:
    """A model's exact reparameterisations: unit groups (applied in order) and an optional
    stream rotation (``None``: the stream may not be rotated, e.g. under LayerNorm)."""

    units: Sequence[UnitGroup] = ()
    stream: Stream | None = None
    description: str = field(default="")

    def __post_init__(self) -> None:
        object.__setattr__(self, "units", tuple(self.units))
        bad = [type(u).__name__ for u in self.units if not isinstance(u, UnitGroup)]
        if bad:
            raise TypeError(f"Symmetries.units holds Neurons, Heads or BilinearUnits; got {bad}")
        if self.stream is not None and not isinstance(self.stream, Stream):
            raise TypeError(f"Symmetries.stream must be a Stream or None; got {self.stream!r}")
        if not self.units and self.stream is None:
            raise ValueError("Symmetries declares nothing (no units, no stream)")


@runtime_checkable
class NamesHookPoints(Protocol):
    """A model that names its hook points by role (see the module docstring)."""

    def named_hook_points(self) -> Mapping[str, Sequence[str]]: ...


@runtime_checkable
class DeclaresSymmetries(Protocol):
    """A model that declares its exact reparameterisations."""

    def exact_symmetries(self) -> Symmetries: ...


PointsReader = Callable[[nn.Module], Mapping[str, Sequence[str]]]
SymmetriesReader = Callable[[nn.Module], Symmetries]


@dataclass(frozen=True)
class _Adapter:
    name: str
    applies: Callable[[nn.Module], bool]
    points: PointsReader | None = None
    symmetries: SymmetriesReader | None = None


_REGISTERED: list[_Adapter] = []
_BUILTIN: list[_Adapter] = []


def register_model(
    cls: type,
    points: PointsReader | None = None,
    symmetries: SymmetriesReader | None = None,
) -> None:
    """Answer the protocol for instances of ``cls`` (and subclasses) you cannot edit:
    ``points(model) -> {role: [point, ...]}``, ``symmetries(model) -> Symmetries``."""
    if not isinstance(cls, type) or not issubclass(cls, nn.Module):
        raise TypeError(f"cls must be an nn.Module subclass; got {cls!r}")
    if points is None and symmetries is None:
        raise ValueError("register_model needs points= or symmetries= (or both)")
    for name, fn in (("points", points), ("symmetries", symmetries)):
        if fn is not None and not callable(fn):
            raise TypeError(f"{name} must be callable (model -> ...); got {fn!r}")
    _REGISTERED.insert(0, _Adapter(cls.__name__, lambda m: isinstance(m, cls), points, symmetries))


def builtin_adapter(
    name: str,
    applies: Callable[[nn.Module], bool],
    points: PointsReader | None = None,
    symmetries: SymmetriesReader | None = None,
) -> None:
    """Add a built-in adapter (used by :mod:`mechequiv.capture.adapters.layouts`)."""
    _BUILTIN.append(_Adapter(name, applies, points, symmetries))


def _adapters(model: nn.Module) -> list[_Adapter]:
    # the built-ins are registered by mechequiv.capture.adapters.layouts, which the package
    # mechequiv.capture imports (so before any caller can reach this function)
    return [a for a in (*_REGISTERED, *_BUILTIN) if a.applies(model)]


def _own(model: nn.Module, method: str) -> Callable[[], object] | None:
    fn = getattr(model, method, None)
    return fn if callable(fn) else None


def _supported(kind: str) -> str:
    names = [a.name for a in (*_REGISTERED, *_BUILTIN) if getattr(a, kind) is not None]
    return ", ".join(dict.fromkeys(names))


def named_points(model: nn.Module, builtin: bool = True) -> dict[str, list[str]]:
    """All roles the model (or its adapter) names, ``{role: [point per block]}``; ``{}`` when
    nothing answers (callers then fall back to their own defaults). ``builtin=False``: only
    what the model or a :func:`register_model` adapter declares."""
    own = _own(model, "named_hook_points")
    if own is not None:
        found = own()
    else:
        adapters = _adapters(model) if builtin else [a for a in _REGISTERED if a.applies(model)]
        readers = [a.points for a in adapters if a.points is not None]
        found = readers[0](model) if readers else {}
    if not isinstance(found, Mapping):
        raise TypeError(f"named_hook_points() must return a mapping; got {type(found).__name__}")
    out = {}
    for role, pts in found.items():
        if role not in ROLES:
            raise ValueError(f"unknown hook-point role {role!r}; roles are {ROLES}")
        out[role] = [str(p) for p in pts]
    return out


def hook_points(model: nn.Module, role: str) -> list[str]:
    """The points of ``role`` (one per block). Raises :class:`UnsupportedModelError` naming what is
    missing when neither the model nor an adapter names them."""
    if role not in ROLES:
        raise ValueError(f"unknown hook-point role {role!r}; roles are {ROLES}")
    found = named_points(model)
    if role not in found:
        raise UnsupportedModelError(
            f"{type(model).__name__} names no {role!r} hook points: give it a method "
            "named_hook_points() -> {role: [point, ...]} or call "
            "mechequiv.capture.protocol.register_model(cls, points=...); "
            f"adapters exist for: {_supported('points')}"
        )
    return found[role]


def symmetries(model: nn.Module) -> Symmetries:
    """The model's declared exact symmetries. Raises :class:`UnsupportedModelError` naming what is
    missing (or why an adapter refuses, e.g. a LayerNorm on the stream)."""
    own = _own(model, "exact_symmetries")
    if own is not None:
        out = own()
    else:
        readers = [a.symmetries for a in _adapters(model) if a.symmetries is not None]
        if not readers:
            raise UnsupportedModelError(
                f"{type(model).__name__} declares no exact symmetries: give it a method "
                "exact_symmetries() -> mechequiv.capture.protocol.Symmetries or call "
                "register_model(cls, symmetries=...); adapters exist for: "
                f"{_supported('symmetries')}"
            )
        out = readers[0](model)
    if not isinstance(out, Symmetries):
        raise TypeError(
            f"{type(model).__name__}: exact_symmetries returned {type(out).__name__}, "
            "not Symmetries"
        )
    return out
