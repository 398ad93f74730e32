"""The stimuli of a comparison, checked against both models before any work starts.

A user's stimuli come from a file or an array written by other code: float64 rows (numpy's
default) for a float32 network, token ids beyond a model's vocabulary, NaN left in by a
preprocessing step. Each of these otherwise surfaces deep inside a forward pass, or after the
first batch, as a library message that does not name the stimuli; here each is named in one line.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["check_stimuli", "describe_stimuli", "first_floating_dtype", "token_embedding"]


def token_embedding(model: nn.Module) -> nn.Embedding | None:
    """The embedding a token model reads first (its first leaf module with weights), else None.

    Leaves without weights (TransformerLens hook points, dropout) are skipped; this is the rule
    by which :func:`mechequiv.study.compare.input_form` calls a model a token model.
    """
    for m in model.modules():
        if not list(m.children()) and next(m.parameters(recurse=False), None) is not None:
            return m if isinstance(m, nn.Embedding) else None
    return None


def first_floating_dtype(model: nn.Module) -> torch.dtype | None:
    """The dtype of the model's first floating parameter (what it computes in), else None."""
    return next((p.dtype for p in model.parameters() if p.is_floating_point()), None)


def _ids(x: Any) -> torch.Tensor | None:
    """The tensor of stimuli (``input_ids`` of dict inputs), else None for other containers."""
    if isinstance(x, dict):
        x = x.get("input_ids")
    if isinstance(x, np.ndarray):
        return torch.from_numpy(x)
    return x if isinstance(x, torch.Tensor) else None


def _first_row(mask: torch.Tensor) -> int:
    """The first row (leading index) of a stimuli-shaped mask that holds a True."""
    return int(mask.reshape(mask.shape[0], -1).any(1).nonzero()[0, 0])


def describe_stimuli(x: Any) -> str:
    """``int64 of shape (64, 8), values 0..89``: what a failing forward pass was given."""
    t = _ids(x)
    if t is None:
        return f"a {type(x).__name__}"
    text = f"{str(t.dtype).removeprefix('torch.')} of shape {tuple(t.shape)}"
    if t.numel() and not t.is_floating_point() and not t.is_complex():
        text += f", values {int(t.min())}..{int(t.max())}"
    return text


def check_stimuli(models: tuple[nn.Module, ...], x: Any) -> Any:
    """``x`` checked against every model (ValueError / TypeError naming the problem), with
    floating stimuli given in the floating dtype the models compute in.

    - Fewer than two stimuli (rows) are refused: no measure is defined on one.
    - Non-finite values are refused (every measure would be NaN or refused, one by one).
    - A token model (one that starts with an embedding) needs integer ids within its
      vocabulary, checked on every row (running the first row does not see an id that only a
      later row holds).
    - Floating stimuli for models that read features are cast to the models' parameter dtype
      (float64 arrays are numpy's default; ``nn.Linear`` refuses them for float32 weights),
      when both models share that dtype. Integer stimuli are left as they are: a model may
      index with them.
    """
    t = _ids(x)
    if t is None:
        return x
    if t.ndim == 0 or t.shape[0] < 2:
        rows = "a scalar" if t.ndim == 0 else f"{t.shape[0]} row{'s' * (t.shape[0] != 1)}"
        raise ValueError(
            f"the stimuli hold {rows} (shape {tuple(t.shape)}): a comparison needs at least 2 "
            "stimuli, one per row (most measures need more)"
        )
    if t.is_floating_point() or t.is_complex():
        bad = ~torch.isfinite(t)
        if bool(bad.any()):
            raise ValueError(
                f"the stimuli hold {int(bad.sum())} NaN or infinite values (first in row "
                f"{_first_row(bad)})"
            )
    embeddings = [token_embedding(m) for m in models]
    for label, model, emb in zip("ab", models, embeddings, strict=True):
        if emb is None:
            continue
        name = f"model {label} ({type(model).__name__})"
        if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
            raise TypeError(
                f"{name} reads token ids (it starts with an embedding); the stimuli are "
                f"{describe_stimuli(x)}: give integer ids (e.g. numpy int64)"
            )
        if t.numel() == 0:
            continue
        lo, hi = int(t.min()), int(t.max())
        if lo < 0 or hi >= emb.num_embeddings:
            outside = (t < 0) | (t >= emb.num_embeddings)
            raise ValueError(
                f"{name} has an embedding of {emb.num_embeddings} tokens, so ids must lie in "
                f"[0, {emb.num_embeddings}); the stimuli hold ids {lo}..{hi} "
                f"({int(outside.sum())} outside, first in row {_first_row(outside)})"
            )
    if any(e is not None for e in embeddings) or not t.is_floating_point():
        return x
    dtypes = {first_floating_dtype(m) for m in models}
    dtype = dtypes.pop() if len(dtypes) == 1 else None
    if dtype is None or dtype == t.dtype:
        return x
    cast = t.to(dtype)
    return {**x, "input_ids": cast} if isinstance(x, dict) else cast
