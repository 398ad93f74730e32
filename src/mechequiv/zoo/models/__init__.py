"""Architectures: specs (:func:`mlp`, :func:`transformer`, :func:`bilinear`) and the modules they build.

An :class:`Architecture` is a name plus keyword arguments; ``arch.build(task, seed)`` makes a
freshly initialised model for ``task`` whose weights depend only on ``seed``. Input and output
sizes come from the task, so one spec serves every task it fits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from mechequiv.zoo.models._bilinear import Bilinear, BilinearMLP
from mechequiv.zoo.models._mlp import ACTIVATIONS, MLP, make_activation
from mechequiv.zoo.models._transformer import Attention, Block, FeedForward, TokenTransformer
from mechequiv.zoo.tasks import Task

ARCHITECTURES = ("mlp", "transformer", "bilinear")


@dataclass(frozen=True)
class Architecture:
    """A model recipe: ``name`` (one of :data:`ARCHITECTURES`) and its keyword arguments."""

    name: str
    kwargs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise TypeError(f"architecture name must be a str, got {type(self.name).__name__}")
        if self.name not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {self.name!r}; expected one of {ARCHITECTURES}")

    def check(self, task: Task) -> None:
        """Raise ValueError unless this architecture can take ``task``'s inputs and labels."""
        if not isinstance(task, Task):
            raise TypeError(f"expected a Task, got {type(task).__name__}")
        if self.name == "transformer" and task.input_kind != "tokens":
            hint = " (use encoding='tokens')" if task.name == "modular_addition" else ""
            raise ValueError(f"the transformer takes tokens; {task.name!r} has features{hint}")
        if self.name != "transformer" and task.input_kind != "features":
            hint = " (use encoding='one_hot')" if task.name == "modular_addition" else ""
            raise ValueError(f"{self.name!r} takes float features; {task.name!r} has tokens{hint}")

    def build(self, task: Task, seed: int) -> nn.Module:
        """A freshly initialised model for ``task``; its weights depend only on ``seed``."""
        self.check(task)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            if self.name == "transformer":
                model: nn.Module = TokenTransformer(
                    vocab_size=int(task.vocab_size),  # type: ignore[arg-type]
                    n_ctx=task.inputs.shape[1],
                    n_outputs=task.n_outputs,
                    readout=task.readout,
                    **self.kwargs,
                )
            elif self.name == "mlp":
                model = MLP(task.inputs.shape[1], out_features=task.n_outputs, **self.kwargs)
            else:
                model = BilinearMLP(task.inputs.shape[1], d_out=task.n_outputs, **self.kwargs)
        return model.eval()

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe ``{"name": ..., "kwargs": ...}``."""
        return {"name": self.name, "kwargs": _json_safe(self.kwargs)}


def _json_safe(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in kwargs.items()}


def mlp(
    hidden: Sequence[int] = (64,),
    activation: str = "relu",
    negative_slope: float = 0.01,
    output_activation: bool = False,
    bias: bool = True,
) -> Architecture:
    """An :class:`MLP` (``nn.Sequential`` of Linear and activation layers) for feature tasks.

    Méloux et al. use ``activation="leaky_relu"`` (slope 0.01) with small hidden widths.
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; expected one of {ACTIVATIONS}")
    return Architecture(
        "mlp",
        {
            "hidden": [int(h) for h in hidden],
            "activation": activation,
            "negative_slope": float(negative_slope),
            "output_activation": bool(output_activation),
            "bias": bool(bias),
        },
    )


def transformer(
    alpha: float = 1.0,
    d_model: int = 128,
    n_heads: int = 4,
    d_mlp: int | None = None,
    n_layers: int = 1,
    activation: str = "relu",
    layer_norm: bool = False,
) -> Architecture:
    """A :class:`TokenTransformer` with attention rate ``alpha`` (0: constant, 1: softmax).

    Zhong et al.: on modular addition ``alpha = 0`` gives the Pizza, ``alpha = 1`` the Clock.
    ``d_mlp`` defaults to ``4 * d_model``.
    """
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"alpha (attention rate) must lie in [0, 1], got {alpha}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; expected one of {ACTIVATIONS}")
    return Architecture(
        "transformer",
        {
            "alpha": float(alpha),
            "d_model": int(d_model),
            "n_heads": int(n_heads),
            "d_mlp": None if d_mlp is None else int(d_mlp),
            "n_layers": int(n_layers),
            "activation": activation,
            "layer_norm": bool(layer_norm),
        },
    )


def bilinear(
    d_model: int = 64,
    d_hidden: int = 128,
    n_layers: int = 1,
    residual: bool = True,
    bias: bool = False,
) -> Architecture:
    """A :class:`BilinearMLP` (tensor-based network of the tensor-similarity work)."""
    return Architecture(
        "bilinear",
        {
            "d_model": int(d_model),
            "d_hidden": int(d_hidden),
            "n_layers": int(n_layers),
            "residual": bool(residual),
            "bias": bool(bias),
        },
    )


_FACTORIES: dict[str, Callable[[], Architecture]] = {
    "mlp": mlp,
    "transformer": transformer,
    "bilinear": bilinear,
}


def as_architecture(architecture: Architecture | str) -> Architecture:
    """``architecture`` itself, or the default spec of the architecture with that name."""
    if isinstance(architecture, Architecture):
        return architecture
    if not isinstance(architecture, str):
        raise TypeError(
            f"architecture must be an Architecture or a name, got {type(architecture).__name__}"
        )
    if architecture not in _FACTORIES:
        raise ValueError(f"unknown architecture {architecture!r}; expected one of {ARCHITECTURES}")
    result: Architecture = _FACTORIES[architecture]()
    return result


__all__ = [
    "ACTIVATIONS",
    "ARCHITECTURES",
    "MLP",
    "Architecture",
    "Attention",
    "Bilinear",
    "BilinearMLP",
    "Block",
    "FeedForward",
    "TokenTransformer",
    "as_architecture",
    "bilinear",
    "make_activation",
    "mlp",
    "transformer",
]
