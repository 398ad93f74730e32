"""Token policies: turn sequence activations (n, t, d) into one row per sample or per token.

Different tools silently pick different policies (flatten tokens into features, into samples,
mean-pool, last token), which gives different numbers for the same layer. mechequiv asks for the
policy explicitly wherever a sequence output meets a measure.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

TokenPolicy = Literal["last", "mean", "all", "concat"] | int

POLICIES = ("last", "mean", "all", "concat")


def pool_tokens(
    x: np.ndarray | torch.Tensor,
    policy: TokenPolicy,
    mask: np.ndarray | torch.Tensor | None = None,
) -> torch.Tensor:
    """Reduce activations of shape (n, t, d) to a 2-D matrix under an explicit token policy.

    Parameters
    ----------
    x : array (n, t, d) or (n, t, d1, d2, ...)
        Activations of n sequences of t positions. Each position's features may have several
        axes, such as attention heads (n, t, heads, d_head) (TransformerLens ``hook_z``); they
        are flattened in C order into d = d1 * d2 * ... features before pooling.
    policy : {"last", "mean", "all", "concat"} or int
        - ``"last"``: the last *valid* position of each sequence -> (n, d).
        - ``"mean"``: the mean over valid positions -> (n, d).
        - ``"all"``: every valid position becomes its own row -> (number of valid tokens, d).
          Rows stay paired across models only if both share the same mask.
        - ``"concat"``: positions concatenated into features -> (n, t * d); needs no padding.
        - an int ``p``: position ``p`` (negative counts from the end of the *valid* positions).
    mask : array (n, t) of bool or {0, 1}, optional
        True/1 marks real tokens, False/0 padding. Default: every position is valid.

    Returns
    -------
    torch.Tensor, 2-D, on the input's device (numpy input gives a CPU tensor).
    """
    t = torch.as_tensor(x)
    if t.ndim < 3:
        raise ValueError(
            f"pool_tokens expects activations of shape (n, t, d) or (n, t, heads, d_head); got "
            f"shape {tuple(t.shape)}"
        )
    if t.ndim > 3:  # per-position feature axes (heads, d_head) become one feature axis
        t = t.reshape(*t.shape[:2], -1)
    n, steps, _ = t.shape
    if mask is None:
        m = torch.ones(n, steps, dtype=torch.bool, device=t.device)
    else:
        m = torch.as_tensor(mask, device=t.device).bool()
        if tuple(m.shape) != (n, steps):
            raise ValueError(f"mask must have shape (n, t) = {(n, steps)}; got {tuple(m.shape)}")
    lengths = m.sum(dim=1)
    if bool((lengths == 0).any()):
        raise ValueError("mask leaves a sequence with no valid token")
    if isinstance(policy, bool) or not isinstance(policy, (str, int)):
        raise TypeError(f"token policy must be one of {POLICIES} or an int; got {policy!r}")
    if policy == "mean":
        w = m.to(t.dtype).unsqueeze(-1)
        return (t * w).sum(dim=1) / lengths.to(t.dtype).unsqueeze(-1)
    if policy == "all":
        return t[m]
    if policy == "concat":
        if not bool(m.all()):
            raise ValueError("token policy 'concat' needs unpadded sequences (mask all True)")
        return t.reshape(n, -1)
    if policy == "last":
        policy = -1
    if isinstance(policy, str):
        raise ValueError(f"unknown token policy {policy!r}; expected one of {POLICIES} or an int")
    # Positions index the valid tokens of each row, which need not be left-aligned.
    valid_rank = torch.cumsum(m.long(), dim=1) - 1
    target = torch.full_like(lengths, policy) if policy >= 0 else lengths + policy
    if bool(((target < 0) | (target >= lengths)).any()):
        raise ValueError(f"token position {policy} is out of range for the shortest sequence")
    pick = m & (valid_rank == target.unsqueeze(1))
    return t[pick]
