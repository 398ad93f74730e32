"""Architectures and ``build_model(architecture, task, seed, **kwargs)``."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from mechequiv.zoo.models.bilinear import BilinearBlock, BilinearNet
from mechequiv.zoo.models.mlp import ACTIVATIONS, MLP, make_activation
from mechequiv.zoo.models.transformer import Attention, Block, FeedForward, TokenTransformer
from mechequiv.zoo.tasks import Task

ARCHITECTURES = ("mlp", "transformer", "bilinear")


def check_architecture(architecture: str, task: Task) -> None:
    """Raise unless ``architecture`` is known and can take ``task``'s inputs and targets."""
    if not isinstance(architecture, str):
        raise TypeError(f"architecture must be a str, got {type(architecture).__name__}")
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {architecture!r}; expected one of {ARCHITECTURES}")
    if architecture == "transformer" and task.input_kind != "tokens":
        raise ValueError(f"the transformer needs a token task, {task.name!r} has feature inputs")
    if architecture != "transformer" and task.readout == "all":
        raise ValueError(
            f"{architecture!r} predicts one output per sample; {task.name!r} needs per-position "
            "outputs (use 'transformer')"
        )


def build_model(architecture: str, task: Task, seed: int, **kwargs: Any) -> nn.Module:
    """A freshly initialised model for ``task`` whose initial weights depend only on ``seed``.

    ``kwargs`` go to the architecture: :class:`MLP` (``hidden`` default ``(64,)``,
    ``activation``, ``negative_slope``, ``output_activation``, ``bias``),
    :class:`TokenTransformer` (``d_model``, ``n_heads``, ``d_mlp``, ``n_layers``,
    ``attention_rate``, ``activation``, ``layer_norm``) or :class:`BilinearNet` (``d_model``,
    ``d_hidden``, ``n_blocks``, ``residual``, ``bias``). Input and output sizes come from ``task``.
    """
    check_architecture(architecture, task)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if architecture == "transformer":
            model: nn.Module = TokenTransformer(
                vocab_size=int(task.vocab_size),  # type: ignore[arg-type]
                n_ctx=task.inputs.shape[1],
                n_outputs=task.n_outputs,
                readout=task.readout,
                **kwargs,
            )
        else:
            n_in = task.features().shape[1]
            if architecture == "mlp":
                kw = {"hidden": (64,), **kwargs}
                model = MLP(n_in, out_features=task.n_outputs, **kw)
            else:
                model = BilinearNet(n_in, task.n_outputs, **kwargs)
    return model.eval()


def model_inputs(architecture: str, task: Task) -> torch.Tensor:
    """All of ``task``'s rows in the form ``architecture`` takes (tokens or float features)."""
    return task.inputs if architecture == "transformer" else task.features()


__all__ = [
    "ACTIVATIONS",
    "ARCHITECTURES",
    "MLP",
    "Attention",
    "BilinearBlock",
    "BilinearNet",
    "Block",
    "FeedForward",
    "TokenTransformer",
    "build_model",
    "check_architecture",
    "make_activation",
    "model_inputs",
]
