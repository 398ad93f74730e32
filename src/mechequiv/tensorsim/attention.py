"""Polynomial attention and tensor similarity of sequence models built from it.

:class:`PolynomialAttention` replaces the softmax by a product of two query-key scores:

    z_i = sum_{j <= i} (q1_i . k1_j) (q2_i . k2_j) / d_head^2 * v_j,     out_i = W_O z_i

per head (causal mask optional), so each output is a degree-5 polynomial of the input sequence
(legs Q1, Q2 at the query position, K1, K2, V at the key position). A sequence model is an
``nn.Sequential`` of position-wise ``nn.Linear`` maps (no bias) and such layers; its tensor maps
``n_ctx`` input positions to ``n_ctx`` output positions.

The Gram recursion carries the cross-Gram ``G[p, a, q, b]`` between model a's activation at
position p, feature a and model b's at position q, feature b (``G_0 = I``). For an attention
layer, with ``XG = X_a G_{..} Y_b^T`` per position pair and head pair,

    S_1[i, i', j, j'] = <Q1G[i, i'], K1G[j, j']>  (summed over both models' head dims), same S_2,
    "layer":  score = (S_1 S_2 + S_1x S_2x) / 2  (S_1x pairs a's (Q1, K1) with b's (Q2, K2)),
    "none":   score = S_1 S_2,
    G'[i, k, i', l] = sum_{j <= i, j' <= i'} O_a[k] (score * VG[j, j']) O_b[l]^T / d_head^4.

"layer" symmetrises each attention layer over the swap (Q1, K1) <-> (Q2, K2) (the analogue of
L <-> R), so the similarity is invariant to that swap, to head permutations, and to the gauge
freedoms ``Q -> M Q, K -> M^-T K`` of each score and ``V -> M V, O -> O M^-1`` of each head.
Exact; the cost grows like ``n_ctx^4`` per attention layer (the reference work analyses
``n_ctx = 4``). Biases and residual connections are not supported in sequence models here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from mechequiv.errors import MechequivError

__all__ = ["AttentionOp", "PolynomialAttention", "SeqLinearOp", "SeqNet", "to_seq_net"]


class PolynomialAttention(nn.Module):
    """Multi-head attention whose pattern is ``(q1 . k1)(q2 . k2) / d_head^2`` (no softmax).

    Parameters
    ----------
    d_model : int
        Width of the input and output at each position.
    n_heads, d_head : int
        Number of heads and per-head width of every query, key and value.
    causal : bool
        Mask ``j > i`` (multiplicatively, after the product).

    ``forward`` takes (batch, n_ctx, d_model) and returns the same shape.
    """

    # set by name in __init__; declared for the type checker
    Q1: nn.Linear
    K1: nn.Linear
    Q2: nn.Linear
    K2: nn.Linear
    V: nn.Linear

    def __init__(self, d_model: int, n_heads: int, d_head: int, causal: bool = True) -> None:
        super().__init__()
        self.n_heads, self.d_head, self.causal = n_heads, d_head, bool(causal)
        for name in ("Q1", "K1", "Q2", "K2", "V"):
            setattr(self, name, nn.Linear(d_model, n_heads * d_head, bias=False))
        self.O = nn.Linear(n_heads * d_head, d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape

        def heads(lin: nn.Linear) -> torch.Tensor:
            result: torch.Tensor = lin(x).view(b, n, self.n_heads, self.d_head)
            return result

        s1 = torch.einsum("bihc,bjhc->bhij", heads(self.Q1), heads(self.K1))
        s2 = torch.einsum("bihc,bjhc->bhij", heads(self.Q2), heads(self.K2))
        pattern = s1 * s2 / self.d_head**2
        if self.causal:
            pattern = pattern * torch.ones(n, n, dtype=x.dtype, device=x.device).tril()
        z = torch.einsum("bhij,bjhc->bihc", pattern, heads(self.V))
        result: torch.Tensor = self.O(z.reshape(b, n, -1))
        return result


@dataclass(frozen=True, eq=False)
class SeqLinearOp:
    """Position-wise ``x_i -> W x_i``, ``W`` (d_out, d_in)."""

    W: torch.Tensor
    degree: ClassVar[int] = 1

    @property
    def d_in(self) -> int:
        result: int = self.W.shape[1]
        return result

    @property
    def d_out(self) -> int:
        result: int = self.W.shape[0]
        return result

    def gram(self, other: SeqLinearOp, G: torch.Tensor, sym: bool) -> torch.Tensor:
        return torch.einsum("ka,paqb,lb->pkql", self.W, G, other.W)

    def apply(self, h: torch.Tensor) -> torch.Tensor:
        return h @ self.W.T


@dataclass(frozen=True, eq=False)
class AttentionOp:
    """Weights (float64, on the model's device): Q1, K1, Q2, K2, V (heads, d_head, d_in);
    O (d_out, heads, d_head)."""

    Q1: torch.Tensor
    K1: torch.Tensor
    Q2: torch.Tensor
    K2: torch.Tensor
    V: torch.Tensor
    O: torch.Tensor
    causal: bool
    degree: ClassVar[int] = 5

    @property
    def d_in(self) -> int:
        result: int = self.V.shape[2]
        return result

    @property
    def d_out(self) -> int:
        result: int = self.O.shape[0]
        return result

    def _mask(self, n: int) -> torch.Tensor:
        ones = torch.ones(n, n, dtype=torch.float64, device=self.V.device)
        return ones.tril() if self.causal else ones

    def gram(self, other: AttentionOp, G: torch.Tensor, sym: bool) -> torch.Tensor:
        n = G.shape[0]

        def xg(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # (p, h, c, q, g, d)
            return torch.einsum("hca,paqb,gdb->phcqgd", x, G, y)

        def score(q: tuple[str, str], k: tuple[str, str]) -> torch.Tensor:
            qg = xg(getattr(self, q[0]), getattr(other, q[1]))
            kg = xg(getattr(self, k[0]), getattr(other, k[1]))
            return torch.einsum("ihcIgd,jhcJgd->iIjJhg", qg, kg)

        s = score(("Q1", "Q1"), ("K1", "K1")) * score(("Q2", "Q2"), ("K2", "K2"))
        if sym:
            swapped = score(("Q1", "Q2"), ("K1", "K2")) * score(("Q2", "Q1"), ("K2", "K1"))
            s = 0.5 * (s + swapped)
        mask = torch.einsum("ij,IJ->iIjJ", self._mask(n), other._mask(n))
        s = s * mask[..., None, None] / (self.Q1.shape[1] ** 2 * other.Q1.shape[1] ** 2)
        y = torch.einsum("iIjJhg,jhcJgd->iIhcgd", s, xg(self.V, other.V))
        return torch.einsum("khc,iIhcgd,lgd->ikIl", self.O, y, other.O)

    def apply(self, h: torch.Tensor) -> torch.Tensor:
        def proj(x: torch.Tensor) -> torch.Tensor:
            return torch.einsum("hca,bia->bihc", x, h)

        s1 = torch.einsum("bihc,bjhc->bhij", proj(self.Q1), proj(self.K1))
        s2 = torch.einsum("bihc,bjhc->bhij", proj(self.Q2), proj(self.K2))
        pattern = s1 * s2 / self.Q1.shape[1] ** 2 * self._mask(h.shape[1])
        z = torch.einsum("bhij,bjhc->bihc", pattern, proj(self.V))
        return torch.einsum("khc,bihc->bik", self.O, z)


SeqOp = SeqLinearOp | AttentionOp


@dataclass(frozen=True, eq=False)
class SeqNet:
    """A sequence model as a chain of ops on ``n_ctx`` positions (float64 weights on the
    model's device; the recursion runs there)."""

    ops: tuple[SeqOp, ...]
    n_ctx: int
    d_in: int
    d_out: int

    @property
    def n_attention(self) -> int:
        return sum(isinstance(op, AttentionOp) for op in self.ops)

    @property
    def n_bilinear(self) -> int:
        """Number of multiplicative layers (here: attention layers), for the pairing checks."""
        return self.n_attention

    @property
    def device(self) -> torch.device:
        first = self.ops[0]
        return (first.W if isinstance(first, SeqLinearOp) else first.V).device

    def initial_gram(self) -> torch.Tensor:
        """``I`` on (position, feature) pairs, shape (n_ctx, d_in, n_ctx, d_in)."""
        device = self.device
        eye_n = torch.eye(self.n_ctx, dtype=torch.float64, device=device)
        eye_d = torch.eye(self.d_in, dtype=torch.float64, device=device)
        return torch.einsum("pq,ab->paqb", eye_n, eye_d)

    def slices(self, G: torch.Tensor) -> np.ndarray:
        """Per-output inner products, summed over output positions."""
        return torch.einsum("ikik->k", G).cpu().numpy().copy()

    def to(self, device: torch.device | str) -> SeqNet:
        """The same net with its weights on ``device``."""

        def move(op: SeqOp) -> SeqOp:
            if isinstance(op, SeqLinearOp):
                return SeqLinearOp(op.W.to(device))
            return AttentionOp(op.Q1.to(device), op.K1.to(device), op.Q2.to(device),
                               op.K2.to(device), op.V.to(device), op.O.to(device), op.causal)  # fmt: skip

        return SeqNet(tuple(move(op) for op in self.ops), self.n_ctx, self.d_in, self.d_out)

    def forward(self, x: np.ndarray | torch.Tensor) -> np.ndarray:
        """Outputs (batch, n_ctx, d_out) for inputs (batch, n_ctx, d_in), float64."""
        h = torch.as_tensor(x).detach().to(self.device, torch.float64)
        if h.ndim != 3 or h.shape[1:] != (self.n_ctx, self.d_in):
            raise ValueError(
                f"expected inputs of shape (batch, {self.n_ctx}, {self.d_in}); got {tuple(h.shape)}"
            )
        for op in self.ops:
            h = op.apply(h)
        return h.cpu().numpy()


def _np(w: torch.Tensor) -> torch.Tensor:
    """A weight as a float64 tensor on its device (a copy: later training does not change it)."""
    return w.detach().to(torch.float64).clone()


def _walk(m: nn.Module, name: str) -> list[SeqOp]:
    label = name or "model"
    if type(m) is nn.Linear:
        if m.bias is not None:
            raise MechequivError(
                f"{label} (Linear) has a bias; sequence models are supported without biases"
            )
        return [SeqLinearOp(_np(m.weight))]
    if type(m) is nn.Identity:
        return []
    if type(m) is PolynomialAttention:
        h, e = m.n_heads, m.d_head

        def w(lin: nn.Linear) -> torch.Tensor:
            return _np(lin.weight).reshape(h, e, -1)

        o = _np(m.O.weight).reshape(-1, h, e)
        return [AttentionOp(w(m.Q1), w(m.K1), w(m.Q2), w(m.K2), w(m.V), o, m.causal)]
    if type(m) is nn.Sequential:
        return [
            op
            for child, sub in m.named_children()
            for op in _walk(sub, f"{name}.{child}" if name else child)
        ]
    raise MechequivError(
        f"{label} ({type(m).__name__}) is not tensor-based: sequence models may contain only "
        "nn.Linear (no bias), PolynomialAttention, nn.Identity and nn.Sequential of these"
    )


def to_seq_net(model: object, n_ctx: int) -> SeqNet:
    """Read a sequence model (see the module docstring) for inputs of ``n_ctx`` positions.

    Raises ``MechequivError`` naming an unsupported module, ``ValueError`` for mismatched widths
    or ``n_ctx < 1``, ``TypeError`` for something that is not a module.
    """
    if isinstance(model, SeqNet):
        return model
    if not isinstance(model, nn.Module):
        raise TypeError(f"expected an nn.Module or a SeqNet; got {type(model)}")
    if n_ctx < 1:
        raise ValueError(f"n_ctx must be >= 1; got {n_ctx}")
    ops = _walk(model, "")
    if not ops:
        raise ValueError("the model has no linear or attention layer")
    for i in range(1, len(ops)):
        if ops[i].d_in != ops[i - 1].d_out:
            raise ValueError(
                f"layer {i} expects width {ops[i].d_in} but layer {i - 1} outputs {ops[i - 1].d_out}"
            )
    return SeqNet(_canonical(ops), n_ctx, ops[0].d_in, ops[-1].d_out)


def _canonical(ops: list[SeqOp]) -> tuple[SeqOp, ...]:
    """``Linear, (Attention, Linear) * k``: fold runs of linear maps, insert identities, so
    that two models with the same number of attention layers pair up layer by layer."""
    out: list[SeqOp] = []
    for op in ops:
        if isinstance(op, SeqLinearOp) and out and isinstance(out[-1], SeqLinearOp):
            out[-1] = SeqLinearOp(op.W @ out[-1].W)
        elif isinstance(op, AttentionOp) and (not out or isinstance(out[-1], AttentionOp)):
            out += [SeqLinearOp(torch.eye(op.d_in, dtype=torch.float64, device=op.V.device)), op]
        else:
            out.append(op)
    last = out[-1]
    if isinstance(last, AttentionOp):
        out.append(SeqLinearOp(torch.eye(last.d_out, dtype=torch.float64, device=last.V.device)))
    return tuple(out)
