"""Run an unmodified module on weights stacked along a leading seed axis.

``functional_call(module, stacked_params, x)`` inside :class:`SeedBatched` evaluates S models
at once: every weight carries a leading axis of size S, inputs and activations carry the same
leading axis, and the three weight-shaped operations (``F.linear``, ``F.embedding``,
``F.layer_norm``) are rerouted to batched matrix products and gathers. Every other operation in
the zoo's models is elementwise or acts on trailing axes, so it broadcasts over the seed axis
unchanged. One batched matmul per layer replaces S small ones (``single_as_plain``: with S = 1
the plain operation, bit for bit the plain module's result); the backward pass is plain
autograd (much faster than ``vmap`` over a functional forward for models this small).
Embedding options (``padding_idx``, ``max_norm``) are not applied to seed-batched weights; the
zoo's models use none.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from mechequiv.zoo.models._gather import check_index_range


def _linear(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
    s, d_out, d_in = w.shape
    rows, w_t = x.reshape(s, -1, d_in), w.transpose(1, 2)
    # bmm, not matmul (whose autograd adds reshapes and copies around the same bmm), and the
    # bias added by the product itself (baddbmm: one pass over the output instead of two; the
    # same sum, rounded once after the product as by bmm then add)
    out = torch.bmm(rows, w_t) if b is None else torch.baddbmm(b.unsqueeze(1), rows, w_t)
    return out.reshape(*x.shape[:-1], d_out)


def _embedding(idx: torch.Tensor, w: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
    # One index_select on the seeds' stacked rows, each seed's indices offset to its own rows:
    # the rows w[seed, idx] reads, and a backward of one index_add (each row's gradients summed
    # in index order, as the advanced-indexing backward accumulates them, bit for bit) without
    # advanced indexing's overhead.
    n_seeds, n_rows, width = w.shape
    check_index_range(idx, n_rows, "embedding indices")
    offset = torch.arange(n_seeds, device=idx.device) * n_rows
    flat = idx + offset.reshape(-1, *([1] * (idx.ndim - 1)))
    return w.reshape(-1, width).index_select(0, flat.reshape(-1)).reshape(*flat.shape, width)


def _per_seed(v: torch.Tensor, ndim: int) -> torch.Tensor:
    return v.reshape(v.shape[0], *([1] * (ndim - 2)), v.shape[-1])


def _layer_norm(
    x: torch.Tensor,
    shape: Any,
    weight: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    eps: float = 1e-5,
) -> torch.Tensor:
    y = F.layer_norm(x, shape, None, None, eps)
    if weight is not None:
        y = y * _per_seed(weight, x.ndim)
    if bias is not None:
        y = y + _per_seed(bias, x.ndim)
    return y


# One model (S = 1): the plain operation on the model's slice (addmm with its fused bias, not a
# one-matrix bmm), bit for bit what the plain module computes.
def _linear_one(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
    # Rows flattened as in _linear, so that the bias gradient sums in the same order as with
    # S > 1 (for (n, d) inputs this is exactly the plain F.linear).
    out = F.linear(x[0].reshape(-1, w.shape[-1]), w[0], None if b is None else b[0])
    return out.reshape(*x.shape[:-1], w.shape[1])


# function -> (position of its weight argument, weight ndim when seed-batched, batched version,
# version for one model with single_as_plain)
_Batched = Callable[..., torch.Tensor]
_BATCHED: dict[Callable[..., Any], tuple[int, int, _Batched, _Batched]] = {
    F.linear: (1, 3, _linear, _linear_one),
    F.embedding: (1, 3, _embedding, _embedding),
    # not the fused plain layer norm: its rounding differs from the S > 1 formula, and a seed's
    # model must not depend on how many seeds train beside it
    F.layer_norm: (2, 2, _layer_norm, _layer_norm),
}


class SeedBatched(TorchFunctionMode):
    """Inside this mode, linear, embedding and layer-norm weights with an extra leading (seed)
    axis are applied seed by seed to inputs whose leading axis is the same seed axis.

    ``single_as_plain=True``: with a seed axis of size 1, linear layers run the plain
    ``F.linear`` (addmm) instead of a one-matrix bmm: bit for bit a plain module's arithmetic,
    which differs in rounding from the same model's row of a larger batch (the default keeps a
    seed's result independent of how many seeds run beside it).
    """

    def __init__(self, single_as_plain: bool = False) -> None:
        super().__init__()
        self.single_as_plain = single_as_plain

    def __torch_function__(
        self,
        func: Callable[..., Any],
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        kwargs = kwargs or {}
        if func in _BATCHED:
            pos, ndim, batched, one = _BATCHED[func]
            weight = args[pos] if len(args) > pos else kwargs.get("weight")
            if weight is not None and weight.ndim == ndim:
                x = args[0] if args else kwargs["input"]
                if self.single_as_plain and weight.shape[0] == 1 and x.shape[0] == 1:
                    return one(*args, **kwargs)
                return batched(*args, **kwargs)
        return func(*args, **kwargs)
