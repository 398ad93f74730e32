"""A small transformer with an attention rate alpha (Zhong et al. 2023, "The Clock and the Pizza").

Module names are an interface for activation capture: ``embed`` (token embedding, before the
positional embedding), ``blocks.{i}.attn``, ``blocks.{i}.mlp``, ``blocks.{i}`` (residual stream
after block i), ``unembed``.
"""

from __future__ import annotations

import math
from typing import cast

import torch
from torch import nn

from mechequiv.zoo.models._mlp import make_activation


class Attention(nn.Module):
    """Bidirectional multi-head attention with pattern ``alpha * softmax(q k^T / sqrt(d_head)) + (1 - alpha)``.

    This is Zhong et al.'s attention rate exactly (their ``attn_coeff``): ``alpha = 1`` is standard
    softmax attention, ``alpha = 0`` constant attention in which every position adds up all
    positions' values with weight 1 (not 1/T), so the block sees ``E_a + E_b``. No causal mask.
    """

    def __init__(self, d_model: int, n_heads: int, alpha: float) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha (attention rate) must lie in [0, 1], got {alpha}")
        self.n_heads = n_heads
        self.d_head = d_model // n_heads
        self.alpha = float(alpha)
        self.W_Q = nn.Linear(d_model, d_model, bias=False)
        self.W_K = nn.Linear(d_model, d_model, bias=False)
        self.W_V = nn.Linear(d_model, d_model, bias=False)
        self.W_O = nn.Linear(d_model, d_model, bias=False)

    def pattern(self, x: torch.Tensor) -> torch.Tensor:
        """Attention pattern ``(..., heads, query, key)`` for residual input ``x`` of ``(..., T, d)``."""
        return self._pattern(self._heads(self.W_Q(x)), self._heads(self.W_K(x)))

    def _pattern(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        # Broadcast-and-sum instead of matmul: with a handful of positions, batched matmuls of
        # 2x2 blocks are far slower on CPU than elementwise products.
        scores = (q.unsqueeze(-2) * k.unsqueeze(-3)).sum(-1) / math.sqrt(self.d_head)
        return self._rate(scores.softmax(-1))

    def _rate(self, softmax: torch.Tensor) -> torch.Tensor:
        """``alpha * softmax + (1 - alpha)``, the pattern from the softmax of the scores."""
        if self.alpha == 1.0:
            # 1.0 * s + 0.0 is s itself, bit for bit (softmax outputs are never -0.0, and
            # multiplying by 1 or adding +0.0 leaves every other float, NaN included, as it
            # is; backward, the gradient times 1.0 likewise): two passes over the pattern
            # and one over its gradient saved. Not so at alpha = 0, where the graph through
            # W_Q and W_K must stay so that they get zero gradients (and weight decay).
            return softmax
        return self.alpha * softmax + (1.0 - self.alpha)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = (self.pattern(x).unsqueeze(-1) * self._heads(self.W_V(x)).unsqueeze(-3)).sum(-2)
        z = z.transpose(-2, -3).reshape(*x.shape)
        result: torch.Tensor = self.W_O(z)
        return result

    def forward_last(self, x: torch.Tensor) -> torch.Tensor:
        """``forward(x)[..., -1, :]`` computed for the last query only: ``(..., T, d) -> (..., d)``.

        Keys and values still come from every position; queries, the pattern row and ``W_O``
        only from the last, so a last-position readout costs a fraction of the full forward.
        Heads stay in the ``(..., T, heads, d_head)`` layout the projections produce: no
        transposed views, so every elementwise product and reduction runs on contiguous memory.
        """
        lead, n_pos = x.shape[:-2], x.shape[-2]
        q = self.W_Q(x[..., -1, :]).reshape(*lead, 1, self.n_heads, self.d_head)
        k = self.W_K(x).reshape(*lead, n_pos, self.n_heads, self.d_head)
        v = self.W_V(x).reshape(*lead, n_pos, self.n_heads, self.d_head)
        scores = (q * k).sum(-1) / math.sqrt(self.d_head)  # (..., key, heads)
        pattern = self._rate(scores.softmax(-2))
        # Each head's weight copied over its d_head coordinates before the product: a same-shape
        # product on contiguous rows and a sum over keys, several times faster (forward and
        # backward) than broadcasting the weight over a d_head-sized axis; the same sums.
        weight = pattern.unsqueeze(-1).expand(*pattern.shape, self.d_head).contiguous()
        z = (weight * v).sum(-3)  # (..., heads, d_head)
        result: torch.Tensor = self.W_O(z.reshape(*lead, x.shape[-1]))
        return result

    def _heads(self, y: torch.Tensor) -> torch.Tensor:
        # (..., T, d) -> (..., heads, T, d_head)
        return y.reshape(*y.shape[:-1], self.n_heads, self.d_head).transpose(-2, -3)


class FeedForward(nn.Module):
    """``fc_out(act(fc_in(x)))``."""

    def __init__(self, d_model: int, d_mlp: int, activation: str) -> None:
        super().__init__()
        self.fc_in = nn.Linear(d_model, d_mlp)
        self.act = make_activation(activation)
        self.fc_out = nn.Linear(d_mlp, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        result: torch.Tensor = self.fc_out(self.act(self.fc_in(x)))
        return result


class Block(nn.Module):
    """Pre-norm residual block ``x + attn(ln1 x)`` then ``+ mlp(ln2 x)``; Identity norms by default."""

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        d_mlp: int,
        alpha: float,
        activation: str,
        layer_norm: bool,
    ) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model) if layer_norm else nn.Identity()
        self.attn = Attention(d_model, n_heads, alpha)
        self.ln2 = nn.LayerNorm(d_model) if layer_norm else nn.Identity()
        self.mlp = FeedForward(d_model, d_mlp, activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        result: torch.Tensor = x + self.mlp(self.ln2(x))
        return result

    def forward_last(self, x: torch.Tensor) -> torch.Tensor:
        """``forward(x)[..., -1, :]`` without the work for other positions: the residual stream
        at the last position, ``(..., T, d) -> (..., d)``."""
        x = x[..., -1, :] + self.attn.forward_last(self.ln1(x))
        result: torch.Tensor = x + self.mlp(self.ln2(x))
        return result


class TokenTransformer(nn.Module):
    """Token transformer: ``embed + pos_embed -> blocks -> unembed``, read out at the last position
    (``readout="last"``, output ``(N, n_outputs)``) or at every position (``"all"``, ``(N, T, n_outputs)``).

    Zhong et al.'s model: ``d_model=128, n_heads=4, d_mlp=4*d_model, n_layers=1``, ReLU,
    no LayerNorm. Embeddings are initialised ``N(0, 1/d_model)`` as theirs; Linear layers use the
    PyTorch default.
    """

    def __init__(
        self,
        vocab_size: int,
        n_ctx: int,
        n_outputs: int,
        d_model: int = 128,
        n_heads: int = 4,
        d_mlp: int | None = None,
        n_layers: int = 1,
        alpha: float = 1.0,
        activation: str = "relu",
        layer_norm: bool = False,
        readout: str = "last",
    ) -> None:
        super().__init__()
        if readout not in ("last", "all"):
            raise ValueError(f"readout must be 'last' or 'all', got {readout!r}")
        if n_layers < 1:
            raise ValueError(f"n_layers must be >= 1, got {n_layers}")
        self.readout = readout
        self.embed = nn.Embedding(vocab_size, d_model)
        self.pos_embed = nn.Parameter(torch.empty(n_ctx, d_model))
        nn.init.normal_(self.embed.weight, std=d_model**-0.5)
        nn.init.normal_(self.pos_embed, std=d_model**-0.5)
        self.blocks = nn.ModuleList(
            Block(d_model, n_heads, d_mlp or 4 * d_model, alpha, activation, layer_norm)
            for _ in range(n_layers)
        )
        self.ln_final = nn.LayerNorm(d_model) if layer_norm else nn.Identity()
        self.unembed = nn.Linear(d_model, n_outputs, bias=False)

    def forward(self, tokens: torch.Tensor, readout_only: bool = False) -> torch.Tensor:
        """Logits of ``tokens`` ``(N, T)``; see :meth:`forward_from_embeddings` for ``readout_only``."""
        return self.forward_from_embeddings(self.embed(tokens), readout_only)

    def forward_from_embeddings(
        self, emb: torch.Tensor, readout_only: bool = False
    ) -> torch.Tensor:
        """Logits from token embeddings ``(N, T, d)`` (the output of ``embed``).

        ``readout_only=True`` (with ``readout="last"``) computes the last block only at the last
        position, the one position the logits read: the same logits (up to float rounding) and
        gradients with about half the operations, which is what training uses. The last block's
        ``attn`` and ``mlp`` then see only that position, and forward hooks on the last block and
        its attention do not fire, so activation capture must use the default.
        """
        # Indexing from the right keeps this valid when weights carry a leading seed axis.
        x = emb + self.pos_embed[..., : emb.shape[-2], :].unsqueeze(-3)
        last_only = readout_only and self.readout == "last"
        blocks = list(self.blocks)
        for block in blocks[:-1] if last_only else blocks:
            x = block(x)
        if last_only:
            x = cast(Block, blocks[-1]).forward_last(x)
        elif self.readout == "last":
            x = x[..., -1, :]
        result: torch.Tensor = self.unembed(self.ln_final(x))
        return result
