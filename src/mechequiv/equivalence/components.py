"""Components: slices of activations that circuit discovery and resample ablation act on.

A component is a slice of one activation: a whole module output (``Component("blocks.0.mlp")``),
a neuron (``Component("3", 5)``: unit 5 of module "3") or a head (``Component("blocks.0.attn.hook_z",
2, axis=2)`` for per-head activations of shape (n, t, heads, d_head)).

Patching writes a component's replacement into the *live* activation: the other slices of the
same hook point keep the values the (possibly already patched) forward pass gives them.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from mechequiv.capture import Adapter, capture
from mechequiv.capture.engine import as_adapter


@dataclass(frozen=True, order=True)
class Component:
    """A slice of the activation at ``point``: index ``index`` along ``axis`` (None: all of it)."""

    point: str
    index: int | None = None
    axis: int = -1

    def __str__(self) -> str:
        return self.point if self.index is None else f"{self.point}[{self.index}]"


def neurons(model: nn.Module, inputs: Any, point: str) -> list[Component]:
    """Every unit of the last dimension of the activation at ``point``."""
    width = capture(model, inputs, [point], progress=False)[point].shape[-1]
    return [Component(point, i) for i in range(width)]


def component_slice(a: torch.Tensor, c: Component) -> torch.Tensor:
    """The part of activation ``a`` (all rows) that component ``c`` names."""
    if c.index is None:
        return a
    if not -a.ndim <= c.axis < a.ndim:
        raise ValueError(
            f"component {c}: axis {c.axis} does not exist; the activation at {c.point!r} has "
            f"shape {tuple(a.shape)}"
        )
    if not 0 <= c.index < a.shape[c.axis]:
        raise ValueError(
            f"component {c}: index {c.index} is out of range; the activation at {c.point!r} has "
            f"{a.shape[c.axis]} entries along axis {c.axis} (shape {tuple(a.shape)})"
        )
    return a.movedim(c.axis, -1)[..., c.index]


def slice_writer(
    parts: Iterable[tuple[Component, torch.Tensor]],
) -> Callable[[torch.Tensor], torch.Tensor]:
    """A patch function (for :func:`~mechequiv.capture.run_with_patches`) that writes each
    component's value into the live activation of one hook point, leaving the rest live.

    The values hold every input row, so the patched run must be one batch of those rows.
    """
    parts = list(parts)

    def write(live: torch.Tensor) -> torch.Tensor:
        out = live.clone()
        for c, v in parts:
            v = v.to(device=out.device, dtype=out.dtype)
            if c.index is None:
                out = v.expand_as(out).clone()
            else:
                out.movedim(c.axis, -1)[..., c.index] = v
        return out

    return write


def component_patches(
    values: Mapping[Component, torch.Tensor],
    hook_modules: Mapping[str, nn.Module] | None = None,
) -> dict[Hashable, Callable[[torch.Tensor], torch.Tensor]]:
    """Patch functions ``{point: fn}`` writing each component's value (see :func:`slice_writer`).

    ``hook_modules`` (the adapter's ``hook_modules()``): where a TransformerLens 4 hook point
    converts its tensor (``hook_conversion``, e.g. ``hook_z`` is stored ``(n, t, heads *
    d_head)`` and shown as ``(n, t, heads, d_head)``), the write happens in the converted layout
    that captures return, and is converted back.
    """
    by_point: dict[str, list[tuple[Component, torch.Tensor]]] = {}
    for c, v in values.items():
        by_point.setdefault(c.point, []).append((c, v))
    out: dict[Hashable, Callable[[torch.Tensor], torch.Tensor]] = {}
    for p, parts in by_point.items():
        write = slice_writer(parts)
        conv = getattr((hook_modules or {}).get(p), "hook_conversion", None)
        out[p] = write if conv is None else through_conversion(write, conv)
    return out


def through_conversion(
    write: Callable[[torch.Tensor], torch.Tensor], conv: Any
) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda raw: conv.revert(write(conv.convert(raw)))


def model_adapter(model: Any) -> Adapter:
    """The capture adapter for ``model``: TransformerLens models (``hook_dict`` and
    ``run_with_cache``, e.g. a TL 4 ``TransformerBridge``) by hook name, others by module name."""
    if isinstance(model, Adapter):
        return model
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"model must be a torch.nn.Module or a capture Adapter; got {type(model).__name__}"
        )
    if hasattr(model, "hook_dict") and callable(getattr(model, "run_with_cache", None)):
        from mechequiv.capture.adapters import TransformerLensAdapter

        return TransformerLensAdapter(model)
    return as_adapter(model)
