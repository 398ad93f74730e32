"""Plain MLP as an ``nn.Sequential``: Linear, activation, ..., Linear (optionally a final activation)."""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

ACTIVATIONS = ("relu", "leaky_relu", "tanh", "gelu")


def make_activation(name: str, negative_slope: float = 0.01) -> nn.Module:
    """The activation module called ``name`` (one of :data:`ACTIVATIONS`)."""
    if name == "relu":
        return nn.ReLU()
    if name == "leaky_relu":
        return nn.LeakyReLU(negative_slope)
    if name == "tanh":
        return nn.Tanh()
    if name == "gelu":
        return nn.GELU()
    raise ValueError(f"unknown activation {name!r}; expected one of {ACTIVATIONS}")


class MLP(nn.Sequential):
    """``Linear(in, h1), act, Linear(h1, h2), act, ..., Linear(h_k, out)[, act]``.

    Children are numbered as in any ``nn.Sequential`` (Linear layers at even indices), so code
    that walks the network layer by layer can read it directly. Méloux et al. use
    ``activation="leaky_relu", negative_slope=0.01, output_activation=True``.
    PyTorch default initialisation, drawn in ``dtype`` (float32 by default). The one MLP builder
    of mechequiv: the identifiability recipe (:func:`~mechequiv.identifiability.make_mlp`) and
    the demo build theirs with it. Slicing (``mlp[:4]``) returns a plain ``nn.Sequential``.
    """

    def __init__(
        self,
        in_features: int,
        hidden: Sequence[int],
        out_features: int,
        activation: str = "relu",
        negative_slope: float = 0.01,
        output_activation: bool = False,
        bias: bool = True,
        dtype: torch.dtype | None = None,
    ) -> None:
        widths = [int(in_features), *(int(h) for h in hidden), int(out_features)]
        if any(w < 1 for w in widths):
            raise ValueError(f"all widths must be >= 1, got {widths}")
        layers: list[nn.Module] = []
        for i, (w_in, w_out) in enumerate(itertools.pairwise(widths)):
            layers.append(nn.Linear(w_in, w_out, bias=bias, dtype=dtype))
            if i < len(widths) - 2 or output_activation:
                layers.append(make_activation(activation, negative_slope))
        super().__init__(*layers)
        self.activation = activation
        self.negative_slope = negative_slope
        self.output_activation = output_activation

    def __getitem__(self, idx: int | slice) -> nn.Module:
        # nn.Sequential slices by calling type(self)(OrderedDict), which MLP's signature refuses.
        if isinstance(idx, slice):
            return nn.Sequential(OrderedDict(list(self._modules.items())[idx]))
        return super().__getitem__(idx)
