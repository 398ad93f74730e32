"""Bilinear networks: layers ``f(x) = D((L x) * (R x))`` (Pearce, Dooms et al. 2025).

Attribute names (``embed``, ``blocks``, ``L``, ``R``, ``D``, ``unembed``, ``residual``) are an
interface: weight-based tools (tensor similarity) read the model through them.
"""

from __future__ import annotations

import torch
from torch import nn


class BilinearBlock(nn.Module):
    """``y = D((L x) * (R x))``, plus ``x`` when ``residual`` (then ``d_out == d_in``)."""

    def __init__(
        self, d_in: int, d_hidden: int, d_out: int, residual: bool = True, bias: bool = False
    ) -> None:
        super().__init__()
        if residual and d_in != d_out:
            raise ValueError(f"a residual block needs d_in == d_out, got {d_in} and {d_out}")
        self.L = nn.Linear(d_in, d_hidden, bias=bias)
        self.R = nn.Linear(d_in, d_hidden, bias=bias)
        self.D = nn.Linear(d_hidden, d_out, bias=bias)
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.D(self.L(x) * self.R(x))
        return x + y if self.residual else y


class BilinearNet(nn.Module):
    """``x -> embed -> blocks.0 -> ... -> unembed`` with linear ``embed`` (no bias) and ``unembed``.

    For modular addition the input is the one-hot concatenation ``[e_a; e_b]`` (see
    :meth:`mechequiv.zoo.tasks.Task.features`). ``residual`` applies to every block.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        d_model: int = 64,
        d_hidden: int = 128,
        n_blocks: int = 1,
        residual: bool = True,
        bias: bool = False,
    ) -> None:
        super().__init__()
        if n_blocks < 1:
            raise ValueError(f"n_blocks must be >= 1, got {n_blocks}")
        self.embed = nn.Linear(in_features, d_model, bias=False)
        self.blocks = nn.ModuleList(
            BilinearBlock(d_model, d_hidden, d_model, residual=residual, bias=bias)
            for _ in range(n_blocks)
        )
        self.unembed = nn.Linear(d_model, out_features, bias=bias)
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(x)
        for block in self.blocks:
            h = block(h)
        return self.unembed(h)
