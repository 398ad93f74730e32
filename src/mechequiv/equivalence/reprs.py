"""GetReprs: the representation Congruity compares.

By default every hidden layer (MLPs) or the residual stream after every block (models with a
``blocks`` list, such as the zoo's transformers and bilinear networks), concatenated along
features, with sequence outputs reduced by an explicit token policy ("last" by default).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import torch
from torch import nn

from mechequiv.capture import Adapter, capture
from mechequiv.capture.adapters import TransformerLensAdapter
from mechequiv.capture.blocks import block_points
from mechequiv.equivalence.patched import PatchedModel
from mechequiv.tokens import TokenPolicy, pool_tokens


def default_points(model: nn.Module) -> list[str]:
    """Hidden layers of a Sequential MLP, else the blocks of
    :func:`mechequiv.capture.blocks.block_points` (zoo ``blocks.{i}``, TransformerLens,
    Hugging Face, ``nn.TransformerEncoder``, activation modules of other MLPs)."""
    if isinstance(model, nn.Sequential):
        points = [
            name
            for i, (name, m) in enumerate(model.named_children())
            if not isinstance(m, nn.Linear) and i != len(model) - 1
        ]
        if not points:
            raise ValueError("the MLP has no hidden layer")
        return points
    return block_points(model)


class LayerReprs:
    """GetReprs through :func:`mechequiv.capture.capture`: activations at ``points``, concatenated.

    Parameters
    ----------
    points : sequence of module names / capture Points, optional
        Default: :func:`default_points` of the model.
    tokens : token policy
        Applied to (n, t, ...) activations such as (n, t, d) or head activations
        (n, t, heads, d_head) (see :func:`mechequiv.tokens.pool_tokens`); 2-D activations are
        used as they are.

    Returns float64 CPU tensors (n, total features). A :class:`PatchedModel` is captured with
    its patches applied, so implementations made by patching are read at the same points. A
    TransformerLens model (one with ``hook_dict`` and ``run_with_cache``) is captured through
    :class:`~mechequiv.capture.adapters.TransformerLensAdapter`, so points are its hook names
    (``blocks.0.hook_attn_out``, ``blocks.0.mlp.hook_post``, ``hook_embed`` ...).
    """

    def __init__(
        self, points: Sequence[Hashable] | None = None, tokens: TokenPolicy = "last"
    ) -> None:
        self.points = None if points is None else list(points)
        self.tokens = tokens

    def __call__(self, model: nn.Module, inputs: Any) -> torch.Tensor:
        base, patches = (
            (model.model, model.patches) if isinstance(model, PatchedModel) else (model, None)
        )
        points = self.points if self.points is not None else default_points(base)
        acts = capture(model_adapter(base), inputs, points, patches=patches, progress=False)
        feats = []
        for p in points:
            a = acts[p]
            if a.ndim >= 3:  # (n, t, d) or (n, t, heads, d_head)
                a = pool_tokens(a, self.tokens)
            feats.append(a.reshape(a.shape[0], -1))
        return torch.cat(feats, dim=1).double()

    def __repr__(self) -> str:
        return f"LayerReprs(points={self.points}, tokens={self.tokens!r})"


def model_adapter(model: nn.Module) -> nn.Module | Adapter:
    """The capture adapter for ``model``: TransformerLens models by hook name, else the module."""
    if hasattr(model, "hook_dict") and callable(getattr(model, "run_with_cache", None)):
        return TransformerLensAdapter(model)
    return model


def hidden_representations(model: nn.Module, inputs: Any) -> torch.Tensor:
    """The default GetReprs: :class:`LayerReprs` with default points and the last token."""
    return LayerReprs()(model, inputs)
