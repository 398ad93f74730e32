"""Read a tensor-based model into a chain of padded linear and bilinear maps.

Convention (the "padded" representation): every activation ``x`` is extended by a constant
coordinate, ``x~ = [1; x]``. A bias becomes column 0 of a weight, and a residual connection
becomes extra hidden units of the bilinear map (unit ``i`` computes ``x_i * 1``), so that each
layer is a homogeneous linear or bilinear map of ``x~`` and the network is one homogeneous tensor
in ``x~``. Output coordinate 0 is the constant; it is never compared.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from mechequiv.errors import MechequivError
from mechequiv.tensorsim.attention import PolynomialAttention
from mechequiv.zoo.models.bilinear import Bilinear, BilinearMLP

__all__ = ["BilinearOp", "LinearOp", "TensorNet", "to_tensor_net"]


@dataclass(frozen=True, eq=False)
class LinearOp:
    """``x~ -> W x~`` with ``W`` of shape (d_out + 1, d_in + 1), ``W[0] = e_0``."""

    W: np.ndarray
    degree: ClassVar[int] = 1

    @property
    def d_in(self) -> int:
        return self.W.shape[1] - 1

    def apply(self, h: torch.Tensor) -> torch.Tensor:
        """Rows of ``h`` are padded activations (float64)."""
        return h @ torch.from_numpy(self.W).T

    @property
    def d_out(self) -> int:
        return self.W.shape[0] - 1


@dataclass(frozen=True, eq=False)
class BilinearOp:
    """``x~ -> D ((L x~) * (R x~))``; L, R: (h, d_in + 1), D: (d_out + 1, h)."""

    L: np.ndarray
    R: np.ndarray
    D: np.ndarray
    degree: ClassVar[int] = 2

    @property
    def d_in(self) -> int:
        return self.L.shape[1] - 1

    def apply(self, h: torch.Tensor) -> torch.Tensor:
        """Rows of ``h`` are padded activations (float64)."""
        L, R, D = (torch.from_numpy(m) for m in (self.L, self.R, self.D))
        return ((h @ L.T) * (h @ R.T)) @ D.T

    @property
    def d_out(self) -> int:
        return self.D.shape[0] - 1


Op = LinearOp | BilinearOp


@dataclass(frozen=True, eq=False)
class TensorNet:
    """A tensor-based model as a chain of padded ops (float64 numpy arrays)."""

    ops: tuple[Op, ...]
    d_in: int
    d_out: int

    @property
    def n_bilinear(self) -> int:
        return sum(isinstance(op, BilinearOp) for op in self.ops)

    @property
    def degree(self) -> int:
        """Polynomial degree in ``x~`` (each bilinear layer doubles it)."""
        return 2**self.n_bilinear

    def initial_gram(self) -> None:
        """The input metric of the recursion, ``I`` on ``[1; x]`` (``None`` = identity)."""
        return None

    def slices(self, G: torch.Tensor) -> np.ndarray:
        """Per-output inner products from a final Gram: ``diag(G)[1:]``."""
        return G.diagonal()[1:].numpy().copy()

    def forward(self, x: np.ndarray | torch.Tensor) -> np.ndarray:
        """Outputs (n, d_out) for raw inputs ``x`` (n, d_in) (no constant column), float64."""
        h = torch.as_tensor(x).detach().to("cpu", torch.float64)
        if h.ndim != 2 or h.shape[1] != self.d_in:
            raise ValueError(f"expected inputs of shape (n, {self.d_in}); got {tuple(h.shape)}")
        h = torch.cat([torch.ones(h.shape[0], 1, dtype=torch.float64), h], dim=1)
        for op in self.ops:
            h = op.apply(h)
        return h[:, 1:].numpy()


def _pad_linear(weight: np.ndarray, bias: np.ndarray | None) -> LinearOp:
    d_out, d_in = weight.shape
    W = np.zeros((d_out + 1, d_in + 1))
    W[0, 0] = 1.0
    W[1:, 1:] = weight
    if bias is not None:
        W[1:, 0] = bias
    return LinearOp(W)


def _pad_bilinear(
    L: np.ndarray,
    R: np.ndarray,
    D: np.ndarray,
    biases: tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None],
    residual: bool,
) -> BilinearOp:
    """Active units, then (if residual) one unit ``x_i * 1`` per stream coordinate, then ``1 * 1``."""
    h, d = L.shape
    d_out = D.shape[0]
    if R.shape != L.shape or D.shape[1] != h:
        raise ValueError(
            f"bilinear factors disagree: L {L.shape}, R {R.shape}, D {D.shape} (expected R like L "
            "and D with one column per hidden unit)"
        )
    if residual and d_out != d:
        raise ValueError(f"a residual bilinear layer needs d_out == d_in; got {d_out} != {d}")
    bL, bR, bD = biases
    n_res = d if residual else 0
    hp = h + n_res + 1
    Lp, Rp, Dp = np.zeros((hp, d + 1)), np.zeros((hp, d + 1)), np.zeros((d_out + 1, hp))
    Lp[:h, 1:], Rp[:h, 1:], Dp[1:, :h] = L, R, D
    if bL is not None:
        Lp[:h, 0] = bL
    if bR is not None:
        Rp[:h, 0] = bR
    idx = np.arange(n_res)
    Lp[h + idx, 1 + idx] = 1.0
    Rp[h + idx, 0] = 1.0
    Dp[1 + idx, h + idx] = 1.0
    Lp[-1, 0] = Rp[-1, 0] = Dp[0, -1] = 1.0
    if bD is not None:
        Dp[1:, -1] = bD
    return BilinearOp(Lp, Rp, Dp)


def _np(t: torch.Tensor | None) -> np.ndarray | None:
    return None if t is None else t.detach().to("cpu", torch.float64).numpy()


def _linear_module(m: nn.Linear) -> LinearOp:
    return _pad_linear(_np(m.weight), _np(m.bias))


def _bilinear_module(m: Bilinear, residual: bool, name: str) -> BilinearOp:
    _only_children(m, {"L", "R", "D"}, name)
    for part in ("L", "R", "D"):
        if type(getattr(m, part)) is not nn.Linear:
            raise TypeError(
                f"{_join(name, part)} must be nn.Linear; found {type(getattr(m, part))}"
            )
    return _pad_bilinear(
        _np(m.L.weight),
        _np(m.R.weight),
        _np(m.D.weight),
        (_np(m.L.bias), _np(m.R.bias), _np(m.D.bias)),
        residual,
    )


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _refuse(m: nn.Module, name: str) -> MechequivError:
    return MechequivError(
        f"{name or 'model'} ({type(m).__name__}) is not tensor-based: only nn.Linear, "
        "nn.Embedding, Bilinear, BilinearMLP, nn.Identity and nn.Sequential of these are "
        "supported (no elementwise nonlinearity, softmax or normalisation)"
    )


def _only_children(m: nn.Module, allowed: set[str], name: str) -> None:
    for child_name, child in m.named_children():
        if child_name not in allowed:
            raise _refuse(child, _join(name, child_name))


def _walk(m: nn.Module, name: str) -> list[Op]:
    if type(m) is nn.Linear:
        return [_linear_module(m)]
    if type(m) is nn.Embedding:
        # A token lookup is the linear map of its one-hot input: x -> weight^T onehot.
        return [_pad_linear(_np(m.weight).T, None)]
    if type(m) is nn.Identity:
        return []
    if type(m) is Bilinear:
        return [_bilinear_module(m, residual=False, name=name)]
    if type(m) is BilinearMLP:
        _only_children(m, {"embed", "blocks", "unembed"}, name)
        ops: list[Op] = _walk(m.embed, _join(name, "embed"))
        for i, block in enumerate(m.blocks):
            block_name = _join(name, f"blocks.{i}")
            if type(block) is not Bilinear:
                raise _refuse(block, block_name)
            ops.append(_bilinear_module(block, residual=m.residual, name=block_name))
        return ops + _walk(m.unembed, _join(name, "unembed"))
    if type(m) is nn.Sequential:
        return [
            op
            for child_name, child in m.named_children()
            for op in _walk(child, _join(name, child_name))
        ]
    if type(m) is PolynomialAttention:
        raise MechequivError(
            f"{name or 'model'} is a PolynomialAttention: a sequence model; pass n_ctx "
            "(the number of positions to compare on)"
        )
    raise _refuse(m, name)


_BILINEAR_KEYS = {f"{p}.{w}" for p in "LRD" for w in ("weight", "bias")}


def _from_state_dict(sd: Mapping[str, torch.Tensor], residual: bool) -> list[Op]:
    """A :class:`BilinearMLP` state dict (keys ``embed.weight``, ``blocks.i.{L,R,D}.*``,
    ``unembed.*``) or a :class:`Bilinear` one (keys ``{L,R,D}.weight``, optional biases)."""
    keys = set(sd)

    def get(key: str) -> np.ndarray | None:
        return _np(torch.as_tensor(sd[key])) if key in sd else None

    if {"L.weight", "R.weight", "D.weight"} <= keys <= _BILINEAR_KEYS:
        biases = tuple(get(f"{x}.bias") for x in "LRD")
        return [_pad_bilinear(get("L.weight"), get("R.weight"), get("D.weight"), biases, False)]
    if "embed.weight" not in keys or "unembed.weight" not in keys:
        raise ValueError(
            "a state dict must be a Bilinear's (keys 'L.weight', 'R.weight', 'D.weight') or a "
            "BilinearMLP's (keys 'embed.weight', 'blocks.<i>.L.weight', ..., 'unembed.weight'); "
            f"found keys {sorted(keys)[:8]}"
        )

    n_layers = 0
    while f"blocks.{n_layers}.L.weight" in keys:
        n_layers += 1
    known = {"embed.weight", "unembed.weight", "unembed.bias"} | {
        f"blocks.{i}.{p}.{w}" for i in range(n_layers) for p in "LRD" for w in ("weight", "bias")
    }
    if keys - known:
        raise MechequivError(
            f"state dict has entries that are not part of a BilinearMLP: {sorted(keys - known)}"
        )
    ops: list[Op] = [_pad_linear(get("embed.weight"), None)]
    for i in range(n_layers):
        p = f"blocks.{i}."
        parts = [get(p + f"{x}.weight") for x in "LRD"]
        if any(w is None for w in parts):
            raise ValueError(f"state dict block {i} lacks one of L, R, D weights")
        biases = tuple(get(p + f"{x}.bias") for x in "LRD")
        ops.append(_pad_bilinear(*parts, biases, residual))
    ops.append(_pad_linear(get("unembed.weight"), get("unembed.bias")))
    return ops


def to_tensor_net(model: object, residual: bool = True) -> TensorNet:
    """Convert a tensor-based model into its padded op chain.

    Parameters
    ----------
    model : nn.Module, Mapping[str, Tensor] or TensorNet
        ``BilinearMLP``, ``Bilinear``, ``nn.Linear``, ``nn.Embedding``, ``nn.Identity`` or an
        ``nn.Sequential`` of these; or a ``Bilinear`` or ``BilinearMLP`` state dict.
    residual : bool
        Only for ``BilinearMLP`` state dicts (which do not record it): whether the blocks are
        residual.

    Raises
    ------
    MechequivError
        A submodule is not tensor-based (the message names it, e.g. ``blocks.0.act (ReLU)``).
    ValueError
        Widths of consecutive layers do not match.
    TypeError
        ``model`` is neither a module, a state dict nor a TensorNet.
    """
    if isinstance(model, TensorNet):
        return model
    if isinstance(model, nn.Module):
        ops = _walk(model, "")
    elif isinstance(model, Mapping):
        ops = _from_state_dict(model, residual)
    else:
        raise TypeError(
            f"expected an nn.Module, a BilinearMLP state dict or a TensorNet; got {type(model)}"
        )
    if not ops:
        raise ValueError("the model has no linear or bilinear layer")
    for i in range(1, len(ops)):
        if ops[i].d_in != ops[i - 1].d_out:
            raise ValueError(
                f"layer {i} expects width {ops[i].d_in} but layer {i - 1} outputs {ops[i - 1].d_out}"
            )
    return TensorNet(_canonical(ops), ops[0].d_in, ops[-1].d_out)


def _canonical(ops: list[Op]) -> tuple[Op, ...]:
    """``Linear, (Bilinear, Linear) * k``: fold runs of linear maps, insert identities.

    Neither changes the tensor; it lets two differently written models with the same number of
    bilinear layers be run through the recursion side by side.
    """
    out: list[Op] = []
    for op in ops:
        if isinstance(op, LinearOp) and out and isinstance(out[-1], LinearOp):
            out[-1] = LinearOp(op.W @ out[-1].W)
        elif isinstance(op, BilinearOp) and (not out or isinstance(out[-1], BilinearOp)):
            out += [LinearOp(np.eye(op.d_in + 1)), op]
        else:
            out.append(op)
    if isinstance(out[-1], BilinearOp):
        out.append(LinearOp(np.eye(out[-1].d_out + 1)))
    return tuple(out)
