"""Typed access to the ops of a canonical :class:`~.network.TensorNet` chain.

A canonical chain alternates ``Linear, (Bilinear, Linear) * k`` (see ``network._canonical``),
so the kind of op ``i`` is known from its position; these accessors state that to the type
checker and fail loudly if a chain was built some other way.
"""

from __future__ import annotations

from mechequiv.tensorsim.network import BilinearOp, LinearOp, TensorNet


def linear_at(net: TensorNet, i: int) -> LinearOp:
    """Op ``i`` of ``net``, a linear map (even positions of a canonical chain)."""
    op = net.ops[i]
    assert isinstance(op, LinearOp), f"op {i} of a canonical chain is linear; got {op!r}"
    return op


def bilinear_at(net: TensorNet, i: int) -> BilinearOp:
    """Op ``i`` of ``net``, a bilinear layer (odd positions of a canonical chain)."""
    op = net.ops[i]
    assert isinstance(op, BilinearOp), f"op {i} of a canonical chain is bilinear; got {op!r}"
    return op
