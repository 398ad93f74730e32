"""Random exact reparameterisations of any model that declares its symmetries.

A model declares them through the model protocol (:func:`mechequiv.capture.protocol.symmetries`:
its own ``exact_symmetries()``, a registered adapter, or a built-in one for the zoo's residual
models, TransformerLens ``HookedTransformer`` without normalisation and ``nn.Sequential`` MLPs).
:func:`apply` draws one symmetry of each declared kind, at random so that a model and any
transformed copy of it give identically distributed implementations (Haar rotations and
uniform permutations, swaps and signs are invariant under composition; rescalings act on units
first scaled to unit norm):

- a rotation R of the residual stream (x -> x R, R Haar-orthogonal): every declared stream tensor
  T becomes T' with T'[.., j, ..] = sum_k T[.., k, ..] R[k, j] along its stream axis;
- neurons: permutation, positive rescaling across a homogeneous activation, sign flips across an
  odd one (the incoming weights and biases scaled by c, the outgoing ones by 1 / c);
- attention heads: permutation of whole heads;
- bilinear units: permutation, swapping left and right, and scale a on left_j, b on right_j,
  1/(ab) on down's unit j (any nonzero a, b: the product absorbs signs too).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import ortho_group
from torch import nn

from mechequiv.capture.protocol import (
    Axis,
    BilinearUnits,
    Heads,
    Neurons,
    Stream,
    Symmetries,
    UnsupportedModelError,
    symmetries,
)
from mechequiv.equivalence._units import log_uniform

__all__ = ["Draws", "apply", "is_residual_model", "transform"]


@dataclass(frozen=True)
class Draws:
    """Which symmetries :func:`apply` draws (each only where the model declares it)."""

    permute: bool = True
    rescale: bool = True
    flip_signs: bool = True
    rotate: bool = True
    scale_range: tuple[float, float] = (0.5, 2.0)


def is_residual_model(model: nn.Module) -> bool:
    """True when the model declares a residual-stream rotation among its symmetries."""
    try:
        return symmetries(model).stream is not None
    except UnsupportedModelError:
        return False


def _unit_rows(axes: Sequence[Axis]) -> np.ndarray:
    """(units, everything else) float64: all tensors' slices of each unit side by side."""
    parts = [a.tensor.detach().double().cpu().movedim(a.axis, 0) for a in axes]
    return np.hstack([p.reshape(p.shape[0], -1).numpy() for p in parts])


def _norms(axes: Sequence[Axis]) -> np.ndarray:
    norms = np.linalg.norm(_unit_rows(axes), axis=1)
    return np.where(norms > 0, norms, 1.0)  # a dead unit keeps its (zero) weights


def _canonical_signs(axes: Sequence[Axis]) -> np.ndarray:
    w = _unit_rows(axes)
    lead = w[np.arange(len(w)), np.abs(w).argmax(1)]
    return np.where(lead < 0, -1.0, 1.0)


def _set(a: Axis, value: torch.Tensor) -> None:
    """Write ``value`` (unit axis first, float64) back into ``a.tensor`` in place."""
    a.tensor.copy_(value.movedim(0, a.axis).to(a.tensor.dtype))


def _units_first(a: Axis) -> torch.Tensor:
    return a.tensor.detach().double().movedim(a.axis, 0)


def _scaled(a: Axis, perm: torch.Tensor, factor: torch.Tensor) -> None:
    t = _units_first(a)[perm]
    _set(a, t * factor.to(t.device).view((-1,) + (1,) * (t.ndim - 1)))


def _neurons(units: Neurons, rng: np.random.Generator, draws: Draws) -> None:
    width = units.width
    perm = rng.permutation(width) if draws.permute else np.arange(width)
    factor = np.ones(width)
    if draws.rescale and units.scale:
        factor *= log_uniform(rng, draws.scale_range, width) / _norms(units.incoming)
    if draws.flip_signs and units.sign:
        factor *= _canonical_signs(units.incoming) * rng.choice([-1.0, 1.0], size=width)
    p, c = torch.as_tensor(perm), torch.as_tensor(factor[perm])
    for a in units.incoming:
        _scaled(a, p, c)
    for a in units.outgoing:
        _scaled(a, p, 1.0 / c)


def _heads(heads: Heads, rng: np.random.Generator, draws: Draws) -> None:
    if not draws.permute:
        return
    order = torch.as_tensor(rng.permutation(heads.n_heads))
    for a in heads.tensors:
        t = _units_first(a)
        blocks = t.reshape(heads.n_heads, -1, *t.shape[1:])[order]
        _set(a, blocks.reshape(t.shape))


def _bilinear(units: BilinearUnits, rng: np.random.Generator, draws: Draws) -> None:
    width = units.width
    nl, nr = _norms(units.left), _norms(units.right)
    swap = rng.random(width) < 0.5 if draws.permute else np.zeros(width, bool)
    scale_range = draws.scale_range if draws.rescale else (1.0, 1.0)
    signs = (lambda: rng.choice([-1.0, 1.0], width)) if draws.flip_signs else (lambda: 1.0)
    a = log_uniform(rng, scale_range, width) * signs() / nl
    b = log_uniform(rng, scale_range, width) * signs() / nr
    p = torch.as_tensor(rng.permutation(width) if draws.permute else np.arange(width))
    swapped = torch.as_tensor(swap)[p]
    a_t, b_t = torch.as_tensor(a)[p], torch.as_tensor(b)[p]
    for left, right in zip(units.left, units.right, strict=True):
        tl, tr = _units_first(left)[p], _units_first(right)[p]
        shape = (-1,) + (1,) * (tl.ndim - 1)
        new_l, new_r = tl * a_t.view(shape), tr * b_t.view(shape)
        mask = swapped.view(shape)
        _set(left, torch.where(mask, new_r, new_l))
        _set(right, torch.where(mask, new_l, new_r))
    # the product scales by a_j b_j whichever factor holds which; down's unit j undoes it
    for d in units.down:
        _scaled(d, p, 1.0 / (a_t * b_t))


def _rotate(stream: Stream, rng: np.random.Generator) -> None:
    d = stream.width
    R = torch.as_tensor(ortho_group.rvs(d, random_state=rng) if d > 1 else np.ones((1, 1)))
    for a in stream.tensors:
        t = a.tensor.detach().double().movedim(a.axis, -1)
        a.tensor.copy_((t @ R.to(t.device)).movedim(-1, a.axis).to(a.tensor.dtype))


def apply(sym: Symmetries, rng: np.random.Generator, draws: Draws = Draws()) -> None:
    """Apply one random draw of the declared symmetries in place (units in declared order, then
    the stream rotation)."""
    lo, hi = draws.scale_range
    if not 0 < lo <= hi:
        raise ValueError(f"scale_range must satisfy 0 < low <= high; got {draws.scale_range}")
    with torch.no_grad():
        for units in sym.units:
            if isinstance(units, Neurons):
                _neurons(units, rng, draws)
            elif isinstance(units, Heads):
                _heads(units, rng, draws)
            else:
                _bilinear(units, rng, draws)
        if draws.rotate and sym.stream is not None:
            _rotate(sym.stream, rng)


def transform(model: nn.Module, rng: np.random.Generator, scale_range: tuple[float, float]) -> None:
    """Apply a random draw of ``model``'s declared symmetries in place (every kind drawn)."""
    apply(symmetries(model), rng, Draws(scale_range=scale_range))
