"""Bilinear (tensor-based) networks: ``f(x) = D((L x) * (R x))`` blocks on a residual stream.

Every map in these models is linear or an elementwise product of two linear maps of the same
input, so the whole network is a polynomial in its input (a tensor network). That is what
:mod:`mechequiv.tensorsim` needs to compare two such models from their weights alone.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["Bilinear", "BilinearMLP"]


class Bilinear(nn.Module):
    """One bilinear layer ``x -> D((L x) * (R x))`` (``*`` elementwise), optional biases.

    Parameters
    ----------
    d_in, d_hidden, d_out : int
        Input width, number of hidden (product) units, output width.
    bias : bool
        Biases on ``L``, ``R`` and ``D`` (all three or none).
    """

    def __init__(self, d_in: int, d_hidden: int, d_out: int, bias: bool = False) -> None:
        super().__init__()
        self.L = nn.Linear(d_in, d_hidden, bias=bias)
        self.R = nn.Linear(d_in, d_hidden, bias=bias)
        self.D = nn.Linear(d_hidden, d_out, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        result: torch.Tensor = self.D(self.L(x) * self.R(x))
        return result


class BilinearMLP(nn.Module):
    """``input -> embed -> [x + block(x)] * n_layers -> unembed`` with bilinear blocks.

    Parameters
    ----------
    d_in, d_model, d_hidden, d_out : int
        Input width, residual-stream width, hidden width of each block, output width.
    n_layers : int
        Number of bilinear blocks (``self.blocks``, an ``nn.ModuleList`` of :class:`Bilinear`).
    residual : bool
        ``True``: each block adds its output to the stream (``x + block(x)``);
        ``False``: the block replaces it (``block(x)``).
    bias : bool
        Biases in the blocks and the unembedding (the embedding never has one).
    """

    def __init__(
        self,
        d_in: int,
        d_model: int,
        d_hidden: int,
        d_out: int,
        n_layers: int = 1,
        residual: bool = True,
        bias: bool = False,
    ) -> None:
        super().__init__()
        if n_layers < 0:
            raise ValueError(f"n_layers must be >= 0, got {n_layers}")
        self.residual = bool(residual)
        self.embed = nn.Linear(d_in, d_model, bias=False)
        self.blocks = nn.ModuleList(
            Bilinear(d_model, d_hidden, d_model, bias=bias) for _ in range(n_layers)
        )
        self.unembed = nn.Linear(d_model, d_out, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(x)
        for block in self.blocks:
            h = h + block(h) if self.residual else block(h)
        result: torch.Tensor = self.unembed(h)
        return result
