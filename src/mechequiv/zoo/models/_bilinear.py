"""Bilinear (tensor-based) networks: ``f(x) = D((L x) * (R x))`` blocks on a residual stream.

Every map in these models is linear or an elementwise product of two linear maps of the same
input, so the whole network is a polynomial in its input (a tensor network). That is what
:mod:`mechequiv.tensorsim` needs to compare two such models from their weights alone.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mechequiv.zoo.models._gather import check_index_range

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
        """Outputs ``(..., d_out)`` of float inputs ``x`` ``(..., d_in)``.

        An int64 or int32 ``x`` ``(..., N, k)`` lists the positions of the ones of a k-hot input (the
        zoo trains one-hot tasks this way): the same outputs and gradients up to float
        rounding, computed from gathered tables (:meth:`_forward_hot`). Forward hooks on the
        submodules then see tables, not rows: capture activations from float inputs.
        """
        if x.dtype in (torch.int64, torch.int32):
            return self._forward_hot(x)
        h = self.embed(x)
        for block in self.blocks:
            h = h + block(h) if self.residual else block(h)
        result: torch.Tensor = self.unembed(h)
        return result

    def _forward_hot(self, hot: torch.Tensor) -> torch.Tensor:
        """Outputs of the k-hot inputs whose ones sit at positions ``hot`` ``(..., k)``.

        The embedding of a k-hot row is the sum of k columns of ``embed``; the first block's
        ``L`` and ``R`` maps and, with one block, the unembedding of the residual stream are
        linear in it, so each is the sum of k rows of a table with one row per input position
        (``d_in`` rows computed once instead of one product per input row). With one block the
        unembedding and the block's output map are also multiplied once (``U @ D``, ``d_out``
        by ``d_hidden``) where that is cheaper than applying them one after the other to every
        row. Biases are added once, after the sums. Weights may carry a leading seed axis
        (``SeedBatched``); every product keeps 3-d contiguous operands per seed, so a seed's
        arithmetic does not depend on the seeds beside it.
        """
        d_in = self.embed.weight.shape[-1]
        if hot.ndim < 2:
            raise ValueError(f"k-hot positions must be (..., N, k), got shape {tuple(hot.shape)}")
        check_index_range(hot, d_in, "k-hot positions")
        lead = self.embed.weight.shape[:-2]  # (S,) inside SeedBatched
        hot = hot.expand(*lead, *hot.shape[-2:]) if hot.ndim == 2 else hot
        e_rows = self.embed.weight.transpose(-1, -2).contiguous()  # (*lead, d_in, d_model)
        n_rows = hot.shape[-2]
        blocks = [block for block in self.blocks if isinstance(block, Bilinear)]
        if not blocks:
            return _linear_bias(_sum_rows(F.linear(e_rows, self.unembed.weight), hot),
                                self.unembed.bias)  # fmt: skip
        first = blocks[0]
        u, d = self.unembed, first.D
        d_model, d_hidden, d_out = u.weight.shape[-1], d.weight.shape[-1], u.weight.shape[-2]
        merge = len(blocks) == 1 and (
            n_rows * d_hidden * d_out + d_out * d_model * d_hidden
            < n_rows * (d_hidden * d_model + d_model * d_out)
        )
        # one gathered sum per table (not one gather of the tables side by side: slicing that
        # would cost a zero-filled full-width gradient per slice in the backward)
        left = _linear_bias(_sum_rows(F.linear(e_rows, first.L.weight), hot), first.L.bias)
        right = _linear_bias(_sum_rows(F.linear(e_rows, first.R.weight), hot), first.R.bias)
        z = left * right
        if not self.residual:
            stream = None
        elif merge:
            stream = _sum_rows(F.linear(e_rows, u.weight), hot)  # the stream's unembedding
        else:
            stream = _sum_rows(e_rows, hot)  # the residual stream itself
        if merge:
            # U (s + D z + b_D) + b_U = U s + (U D) z + (U b_D + b_U)
            ud = F.linear(u.weight, d.weight.transpose(-1, -2))  # U @ D: (*lead, d_out, d_hidden)
            bias = None if d.bias is None else (u.weight @ d.bias.unsqueeze(-1)).squeeze(-1)
            if u.bias is not None:
                bias = u.bias if bias is None else bias + u.bias
            out = F.linear(z, ud, bias)
            result: torch.Tensor = out if stream is None else out + stream
            return result
        h = first.D(z) if stream is None else stream + first.D(z)
        for block in blocks[1:]:
            h = h + block(h) if self.residual else block(h)
        result = self.unembed(h)
        return result


def _sum_rows(table: torch.Tensor, hot: torch.Tensor) -> torch.Tensor:
    """``table[..., hot, :].sum(-2)``: ``table`` ``(*lead, R, w)``, ``hot`` ``(*lead, N, k)``
    -> ``(*lead, N, w)`` (:class:`_GatherSum` on the flattened table, each leading entry's
    positions offset to its own rows)."""
    lead, n_rows, width = table.shape[:-2], table.shape[-2], table.shape[-1]
    if lead:
        offset = torch.arange(math.prod(lead), device=hot.device) * n_rows
        hot = hot + offset.reshape(*lead, 1, 1)
    flat = table.reshape(-1, width)
    sums: torch.Tensor = _GatherSum.apply(flat, hot.reshape(-1, hot.shape[-1]))  # type: ignore[no-untyped-call]
    return sums.reshape(*hot.shape[:-1], width)


class _GatherSum(torch.autograd.Function):
    """``table[positions].sum(1)`` for ``table`` ``(R, w)`` and ``positions`` ``(B, k)``.

    Forward: one ``embedding_bag`` sum (each bag's rows added in order, one pass, no
    ``(B, k, w)`` intermediate). Backward: one ``index_add_`` per bag position into a single
    zeroed table, which adds each table row's gradients in bag order. Not ``embedding_bag``'s
    own backward: it sorts the positions, so a row's gradient would be summed in an order that
    depends on the other seeds' rows in the same table."""

    @staticmethod
    def forward(ctx: Any, table: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(positions)
        ctx.n_rows = table.shape[0]
        return F.embedding_bag(positions, table, mode="sum")

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (positions,) = ctx.saved_tensors
        grad = grad.contiguous()
        out = grad.new_zeros(ctx.n_rows, grad.shape[-1])
        for j in range(positions.shape[1]):
            out.index_add_(0, positions[:, j], grad)
        return out, None


def _linear_bias(x: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``x + bias`` with a bias of shape ``(*lead, w)`` over rows ``(*lead, N, w)``."""
    return x if bias is None else x + bias.unsqueeze(-2)
