"""Read a tensor-based model into a chain of padded linear and bilinear maps.

Convention (the "padded" representation): every activation ``x`` is extended by a constant
coordinate, ``x~ = [1; x]``. A bias becomes column 0 of a weight, and a residual connection
becomes extra hidden units of the bilinear map (unit ``i`` computes ``x_i * 1``), so that each
layer is a homogeneous linear or bilinear map of ``x~`` and the network is one homogeneous tensor
in ``x~``. Output coordinate 0 is the constant; it is never compared.

Weights are float64 torch tensors on the model's device (a CUDA model stays on the GPU; all
recursions run there); results come back as small numpy arrays.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, overload

import numpy as np
import torch
from torch import nn

from mechequiv.errors import MechequivError
from mechequiv.tensorsim.attention import PolynomialAttention
from mechequiv.tensorsim.layers import BilinearFactors, bilinear_factors_of, tensor_layers_of

__all__ = ["BilinearOp", "LinearOp", "TensorNet", "to_tensor_net"]


@dataclass(frozen=True, eq=False)
class LinearOp:
    """``x~ -> W x~`` with ``W`` of shape (d_out + 1, d_in + 1), ``W[0] = e_0``."""

    W: torch.Tensor
    degree: ClassVar[int] = 1

    @property
    def d_in(self) -> int:
        return self.W.shape[1] - 1

    def apply(self, h: torch.Tensor) -> torch.Tensor:
        """Rows of ``h`` are padded activations (float64)."""
        return h @ self.W.T

    @property
    def d_out(self) -> int:
        return self.W.shape[0] - 1


@dataclass(frozen=True, eq=False)
class BilinearOp:
    """``x~ -> D ((L x~) * (R x~))``; L, R: (h, d_in + 1), D: (d_out + 1, h).

    Unit layout (as built by :func:`pad_bilinear`): the layer's own ("block") units first
    (``n_block`` of them), then the skip units ``x_i * 1`` of a residual connection, then the
    constant unit ``1 * 1`` (last; column ``D[:, -1]`` = (1, block output bias)).
    ``n_block=None``: every unit but the last belongs to the block (no skip path).
    """

    L: torch.Tensor
    R: torch.Tensor
    D: torch.Tensor
    n_block: int | None = None
    degree: ClassVar[int] = 2

    def skip_op(self) -> BilinearOp:
        """This layer with its block's output set to zero (units and output bias dropped):
        only the skip units and the constant unit remain."""
        n = self.L.shape[0] - 1 if self.n_block is None else self.n_block
        D = self.D[:, n:].clone()
        D[1:, -1] = 0.0
        return BilinearOp(self.L[n:], self.R[n:], D, 0)

    def selections(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """For an op whose every unit reads one coordinate on each side with weight 1 (the
        skip ops): the coordinates read by L and by R; else None."""
        if self.n_block != 0:
            return None
        out = []
        for M in (self.L, self.R):
            nz = M != 0
            if not bool((nz.sum(1) == 1).all()) or not bool((M[nz] == 1).all()):
                return None
            out.append(nz.to(torch.int8).argmax(1))
        return out[0], out[1]

    @property
    def d_in(self) -> int:
        return self.L.shape[1] - 1

    def apply(self, h: torch.Tensor) -> torch.Tensor:
        """Rows of ``h`` are padded activations (float64)."""
        return ((h @ self.L.T) * (h @ self.R.T)) @ self.D.T

    @property
    def d_out(self) -> int:
        return self.D.shape[0] - 1


Op = LinearOp | BilinearOp


@dataclass(frozen=True, eq=False)
class TensorNet:
    """A tensor-based model as a chain of padded ops (float64 torch tensors on one device)."""

    ops: tuple[Op, ...]
    d_in: int
    d_out: int

    @property
    def n_bilinear(self) -> int:
        return sum(isinstance(op, BilinearOp) for op in self.ops)

    @property
    def degree(self) -> int:
        """Polynomial degree in ``x~`` (each bilinear layer doubles it)."""
        result: int = 2**self.n_bilinear
        return result

    def skip_net(self) -> TensorNet:
        """The network with every bilinear block's output set to zero: the identity (residual)
        path and the biases after it, in the same layer layout (so it pairs with this net)."""
        ops = tuple(op.skip_op() if isinstance(op, BilinearOp) else op for op in self.ops)
        return TensorNet(ops, self.d_in, self.d_out)

    def raised_to(self, n_bilinear: int) -> TensorNet:
        """The same function with identity bilinear layers (``x_i * 1``) appended until it has
        ``n_bilinear`` of them: a degree-``2^n_bilinear`` tensor in ``x~`` (for comparing the
        fully symmetrised or Gaussian forms of models of different depth)."""
        ops = list(self.ops)
        for _ in range(n_bilinear - self.n_bilinear):
            eye = _eye(self.d_out, self.device)
            ops += [pad_bilinear(eye[:0], eye[:0], eye[:, :0], (None, None, None), True),
                    LinearOp(_eye(self.d_out + 1, self.device))]  # fmt: skip
        return TensorNet(tuple(ops), self.d_in, self.d_out)

    @property
    def device(self) -> torch.device:
        first = self.ops[0]
        assert isinstance(first, LinearOp)  # a canonical chain starts with a linear map
        return first.W.device

    def to(self, device: torch.device | str) -> TensorNet:
        """The same net with its weights on ``device``."""
        if torch.device(device) == self.device:
            return self

        def move(op: Op) -> Op:
            if isinstance(op, LinearOp):
                return LinearOp(op.W.to(device))
            return BilinearOp(op.L.to(device), op.R.to(device), op.D.to(device), op.n_block)

        return TensorNet(tuple(move(op) for op in self.ops), self.d_in, self.d_out)

    def initial_gram(self) -> None:
        """The input metric of the recursion, ``I`` on ``[1; x]`` (``None`` = identity)."""
        return None

    def slices(self, G: torch.Tensor) -> np.ndarray:
        """Per-output inner products from a final Gram: ``diag(G)[1:]``."""
        return G.diagonal()[1:].cpu().numpy().copy()

    def forward(self, x: np.ndarray | torch.Tensor) -> np.ndarray:
        """Outputs (n, d_out) for raw inputs ``x`` (n, d_in) (no constant column), float64."""
        h = torch.as_tensor(x).detach().to(self.device, torch.float64)
        if h.ndim != 2 or h.shape[1] != self.d_in:
            raise ValueError(f"expected inputs of shape (n, {self.d_in}); got {tuple(h.shape)}")
        h = torch.cat([h.new_ones(h.shape[0], 1), h], dim=1)
        for op in self.ops:
            h = op.apply(h)
        return h[:, 1:].cpu().numpy()


def _eye(n: int, device: torch.device) -> torch.Tensor:
    return torch.eye(n, dtype=torch.float64, device=device)


def _pad_linear(weight: torch.Tensor, bias: torch.Tensor | None) -> LinearOp:
    d_out, d_in = weight.shape
    W = weight.new_zeros((d_out + 1, d_in + 1))
    W[0, 0] = 1.0
    W[1:, 1:] = weight
    if bias is not None:
        W[1:, 0] = bias
    return LinearOp(W)


def pad_bilinear(
    L: torch.Tensor,
    R: torch.Tensor,
    D: torch.Tensor,
    biases: tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None],
    residual: bool,
    skip_scale: float = 1.0,
) -> BilinearOp:
    """Block units, then (if residual) one unit ``x_i * 1`` per stream coordinate (weight
    ``skip_scale``), then ``1 * 1``."""
    h, d = L.shape
    d_out = D.shape[0]
    if R.shape != L.shape or D.shape[1] != h:
        raise ValueError(
            f"bilinear factors disagree: L {tuple(L.shape)}, R {tuple(R.shape)}, D "
            f"{tuple(D.shape)} (expected R like L "
            "and D with one column per hidden unit)"
        )
    if residual and d_out != d:
        raise ValueError(f"a residual bilinear layer needs d_out == d_in; got {d_out} != {d}")
    bL, bR, bD = biases
    n_res = d if residual else 0
    hp = h + n_res + 1
    Lp, Rp, Dp = L.new_zeros((hp, d + 1)), L.new_zeros((hp, d + 1)), L.new_zeros((d_out + 1, hp))
    Lp[:h, 1:], Rp[:h, 1:], Dp[1:, :h] = L, R, D
    if bL is not None:
        Lp[:h, 0] = bL
    if bR is not None:
        Rp[:h, 0] = bR
    idx = torch.arange(n_res, device=L.device)
    Lp[h + idx, 1 + idx] = 1.0
    Rp[h + idx, 0] = 1.0
    Dp[1 + idx, h + idx] = skip_scale
    Lp[-1, 0] = Rp[-1, 0] = Dp[0, -1] = 1.0
    if bD is not None:
        Dp[1:, -1] = bD
    return BilinearOp(Lp, Rp, Dp, h)


@overload
def _np(t: torch.Tensor, device: torch.device | None = None) -> torch.Tensor: ...
@overload
def _np(t: None, device: torch.device | None = None) -> None: ...
@overload
def _np(t: torch.Tensor | None, device: torch.device | None = None) -> torch.Tensor | None: ...
def _np(t: torch.Tensor | None, device: torch.device | None = None) -> torch.Tensor | None:
    """float64 copy of a weight, on its own device (or ``device``)."""
    if t is None:
        return None
    t = torch.as_tensor(t).detach()
    return t.to(t.device if device is None else device, torch.float64)


def _linear_module(m: nn.Linear) -> LinearOp:
    return _pad_linear(_np(m.weight), _np(m.bias))


def _factors_op(f: BilinearFactors, residual: bool | None = None) -> BilinearOp:
    """A padded op from protocol factors (``residual`` overrides ``f.residual``)."""
    res = f.residual if residual is None else residual
    if res and f.down.shape[0] != f.left.shape[1]:
        raise ValueError(
            f"a residual bilinear layer needs d_out == d_in; got {f.down.shape[0]} != "
            f"{f.left.shape[1]}"
        )
    biases = (_np(f.left_bias), _np(f.right_bias), _np(f.down_bias))
    return pad_bilinear(_np(f.left), _np(f.right), _np(f.down), biases, res, float(f.skip_scale))


def _bilinear_module(m: nn.Module, name: str, residual: bool | None = None) -> BilinearOp:
    try:
        factors = bilinear_factors_of(m)
    except MechequivError as e:
        raise MechequivError(_join(name, str(e))) from None
    except TypeError as e:
        raise TypeError(f"{name or 'model'}: {e}") from None
    assert factors is not None
    return _factors_op(factors, residual)


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _refuse(m: nn.Module, name: str) -> MechequivError:
    return MechequivError(
        f"{name or 'model'} ({type(m).__name__}) is not tensor-based: only nn.Linear, "
        "nn.Embedding, nn.Identity, bilinear layers (a bilinear_factors() method or a "
        "register_bilinear reader), models naming their chain (a tensor_layers() method or a "
        "register_tensor_layers reader; see mechequiv.tensorsim.layers) and "
        "nn.Sequential / nn.ModuleList of these are supported (no elementwise nonlinearity, "
        "softmax or normalisation)"
    )


def _walk(m: nn.Module, name: str) -> list[Op]:
    if type(m) is nn.Linear:
        return [_linear_module(m)]
    if type(m) is nn.Embedding:
        # A token lookup is the linear map of its one-hot input: x -> weight^T onehot.
        return [_pad_linear(_np(m.weight).T, None)]
    if type(m) is nn.Identity:
        return []
    try:
        chain = tensor_layers_of(m)
    except MechequivError as e:
        raise MechequivError(_join(name, str(e))) from None
    if chain is not None:
        ops: list[Op] = []
        names = {id(sub): sub_name for sub_name, sub in m.named_modules()}
        for i, part in enumerate(chain):
            if isinstance(part, BilinearFactors):
                ops.append(_factors_op(part))
            else:
                ops += _walk(part, _join(name, names.get(id(part), f"tensor_layers[{i}]")))
        return ops
    if bilinear_factors_of(m) is not None:
        return [_bilinear_module(m, name)]
    if type(m) in (nn.Sequential, nn.ModuleList):
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


def _need_residual(residual: bool | None) -> bool:
    if residual is None:
        raise ValueError(
            "a state dict does not record whether its bilinear blocks are residual "
            "(x + block(x)) or not (block(x)): pass residual=True or residual=False"
        )
    if not isinstance(residual, bool):
        raise TypeError(f"residual must be True or False; got {residual!r}")
    return residual


def _from_state_dict(sd: Mapping[str, torch.Tensor], residual: bool | None) -> list[Op]:
    """A :class:`BilinearMLP` state dict (keys ``embed.weight``, ``blocks.i.{L,R,D}.*``,
    ``unembed.*``) or a :class:`Bilinear` one (keys ``{L,R,D}.weight``, optional biases)."""
    keys = set(sd)

    def get(key: str) -> torch.Tensor | None:
        return _np(torch.as_tensor(sd[key])) if key in sd else None

    def need(key: str) -> torch.Tensor:  # a key checked present
        return _np(torch.as_tensor(sd[key]))

    if {"L.weight", "R.weight", "D.weight"} <= keys <= _BILINEAR_KEYS:
        biases = (get("L.bias"), get("R.bias"), get("D.bias"))
        weights = (need("L.weight"), need("R.weight"), need("D.weight"))
        return [pad_bilinear(*weights, biases, _need_residual(residual))]
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
    ops: list[Op] = [_pad_linear(need("embed.weight"), None)]
    block_residual = _need_residual(residual) if n_layers else False  # asked only with blocks
    for i in range(n_layers):
        p = f"blocks.{i}."
        L, R, D = (get(p + f"{x}.weight") for x in "LRD")
        if L is None or R is None or D is None:
            raise ValueError(f"state dict block {i} lacks one of L, R, D weights")
        biases = (get(p + "L.bias"), get(p + "R.bias"), get(p + "D.bias"))
        ops.append(pad_bilinear(L, R, D, biases, block_residual))
    ops.append(_pad_linear(need("unembed.weight"), get("unembed.bias")))
    return ops


def to_tensor_net(model: object, residual: bool | None = None) -> TensorNet:
    """Convert a tensor-based model into its padded op chain.

    Parameters
    ----------
    model : nn.Module, list of modules, Mapping[str, Tensor] or TensorNet
        ``nn.Linear``, ``nn.Embedding``, ``nn.Identity``, any bilinear layer (the zoo's
        ``Bilinear``, or a module following the protocol of :mod:`mechequiv.tensorsim.layers`),
        ``BilinearMLP``, or an ``nn.Sequential`` / ``nn.ModuleList`` / list of these, applied in
        order; or a ``Bilinear`` or ``BilinearMLP`` state dict.
    residual : bool
        Required for state dicts with bilinear blocks (they do not record it): whether each
        block adds its output to its input. Ignored for modules, which know it.

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
    if isinstance(model, (list, tuple)) and model and all(isinstance(m, nn.Module) for m in model):
        model = nn.ModuleList(model)
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
            out += [LinearOp(_eye(op.d_in + 1, op.L.device)), op]
        else:
            out.append(op)
    if isinstance(out[-1], BilinearOp):
        out.append(LinearOp(_eye(out[-1].d_out + 1, out[-1].L.device)))
    return tuple(out)
