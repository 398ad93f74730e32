"""Default hook points of common model families: where "the representation after each block" is.

- TransformerLens: the residual stream after each block as a hook point module,
  ``blocks.{i}.hook_resid_post`` (``HookedTransformer``) or ``blocks.{i}.hook_out``
  (TransformerLens 4's ``TransformerBridge``, whose blocks themselves return tuples).
- A model that names its ``"block"`` hook points (:mod:`mechequiv.capture.protocol`): those.
- A ``blocks`` list (the zoo's transformers and bilinear networks): ``blocks.{i}``.
- Any other model with a list of repeated blocks: the list holding the most parameters, e.g.
  ``transformer.h.{i}`` (GPT-2 style decoders), ``bert.encoder.layer.{i}`` (BERT style
  encoders), ``layers.{i}`` (``nn.TransformerEncoder``).
- Otherwise (MLPs written as modules): the output of every activation-function module before the
  last linear layer.

Blocks that return ``(hidden_state, extras...)`` are read at their first element with the point
name ``"name[0]"`` (see :func:`hidden_state_points`, which probes the model once to find them).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import torch
from torch import nn

from mechequiv.capture.batches import Batches, call, map_batch
from mechequiv.capture.engine import model_device
from mechequiv.capture.hooks import HookSet, eval_mode
from mechequiv.capture.points import Point, as_point
from mechequiv.capture.protocol import named_points

ACTIVATIONS = (
    nn.ReLU, nn.GELU, nn.Tanh, nn.Sigmoid, nn.SiLU, nn.LeakyReLU, nn.ELU, nn.Softplus, nn.Mish,
    nn.PReLU, nn.SELU, nn.CELU, nn.Hardtanh, nn.ReLU6, nn.Hardswish, nn.Softsign,
)  # fmt: skip


def block_points(model: nn.Module) -> list[str]:
    """Module names of the representation after each block (see the module docstring).

    Raises ValueError when the model has neither blocks nor activation modules.
    """
    declared = named_points(model, builtin=False).get("block")
    if declared:
        return declared
    names = dict(model.named_modules())
    blocks = getattr(model, "blocks", None)
    if hasattr(model, "hook_dict") and isinstance(blocks, nn.ModuleList) and len(blocks) > 0:
        for hook in ("hook_resid_post", "hook_out"):
            points = [f"blocks.{i}.{hook}" for i in range(len(blocks))]
            if all(p in names for p in points):
                return points
    if isinstance(blocks, nn.ModuleList) and len(blocks) > 0:
        return [f"blocks.{i}" for i in range(len(blocks))]
    found = largest_block_list(model)
    if found is not None:
        prefix, blocks = found
        return [f"{prefix}.{i}" for i in range(len(blocks))]
    points = _activation_points(model)
    if points:
        return points
    raise ValueError(
        f"no default hook points for {type(model).__name__} (no list of blocks, no activation "
        "modules): choose them with points=[module names] (--points on the command line)"
    )


def largest_block_list(model: nn.Module) -> tuple[str, nn.ModuleList] | None:
    """The ModuleList of same-class, non-leaf modules holding the most parameters."""
    best: tuple[int, str, nn.ModuleList] | None = None
    for name, module in model.named_modules():
        if not isinstance(module, nn.ModuleList) or len(module) == 0:
            continue
        kinds = {type(m) for m in module}
        if len(kinds) != 1 or not any(True for _ in module[0].children()):
            continue
        size = sum(p.numel() for p in module.parameters())
        if best is None or size > best[0]:
            best = (size, name, module)
    return None if best is None else (best[1], best[2])


def _activation_points(model: nn.Module) -> list[str]:
    """Activation modules that run before the model's last linear layer (its hidden layers)."""
    order = list(model.named_modules())
    last_linear = max((i for i, (_, m) in enumerate(order) if isinstance(m, nn.Linear)), default=-1)
    return [
        name for i, (name, m) in enumerate(order) if isinstance(m, ACTIVATIONS) and i < last_linear
    ]


def hidden_state_points(
    model: nn.Module, inputs: Any, points: Sequence[Hashable]
) -> list[Hashable]:
    """``points`` with ``"[0]"`` added to each plain name whose module returns a tuple or list
    starting with a tensor (the hidden state of blocks that return ``(hidden, extras...)``).

    Runs the model once on the first input row to see what each module returns.
    """
    plain = [p for p in points if isinstance(p, str) and as_point(p) == Point(p)]
    if not plain:
        return list(points)
    kinds: dict[Hashable, bool] = {}

    def seen(point: Point, key: Hashable, raw: Any) -> None:
        kinds[key] = isinstance(raw, (tuple, list)) and bool(raw) and torch.is_tensor(raw[0])

    first = next(iter(Batches(inputs, 1).chunks(0))).batch
    device = model_device(model)
    if device is not None:
        first = map_batch(first, lambda v: v.to(device))
    with eval_mode(model), torch.no_grad(), HookSet(model, plain, seen):
        call(model, first)
    return [f"{p}[0]" if kinds.get(p, False) else p for p in points]
