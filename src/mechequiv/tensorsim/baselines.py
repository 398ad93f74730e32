"""Baselines on the same checkpoints: weight cosine and behaviour on data."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from mechequiv.measures.cka import linear_cka
from mechequiv.measures.functional import logit_cosine, prediction_agreement
from mechequiv.tensorsim.dynamics import pairwise_matrix
from mechequiv.tensorsim.network import to_tensor_net

__all__ = ["OutputBaselines", "baseline_matrices", "output_baselines", "weight_cosine"]


def _state(model: object) -> Mapping[str, torch.Tensor]:
    if isinstance(model, nn.Module):
        return model.state_dict()
    if isinstance(model, Mapping):
        return model
    raise TypeError(f"expected an nn.Module or a state dict; got {type(model)}")


def weight_cosine(model_a: object, model_b: object, keys: list[str] | None = None) -> float:
    """Cosine of the concatenated, flattened parameters (the "matrix cosine" baseline).

    Both models must have the same parameter names and shapes. ``keys`` restricts the
    comparison (e.g. ``["unembed.weight"]``); default: every entry.
    """
    sa, sb = _state(model_a), _state(model_b)
    if set(sa) != set(sb):
        raise ValueError(f"parameter names differ: {sorted(set(sa) ^ set(sb))}")
    names = sorted(sa) if keys is None else keys
    va, vb = [], []
    for k in names:
        if k not in sa:
            raise ValueError(f"no parameter {k!r}; have {sorted(sa)}")
        if sa[k].shape != sb[k].shape:
            raise ValueError(f"{k}: shapes differ, {tuple(sa[k].shape)} vs {tuple(sb[k].shape)}")
        va.append(torch.as_tensor(sa[k]).double().reshape(-1))
        vb.append(torch.as_tensor(sb[k]).double().reshape(-1))
    a, b = torch.cat(va), torch.cat(vb)
    na, nb = float(a.norm()), float(b.norm())
    if na == 0 or nb == 0:
        raise ValueError("weight cosine is undefined for an all-zero model")
    return float(a @ b) / (na * nb)


@dataclass(frozen=True)
class OutputBaselines:
    """Behavioural comparisons of two models' logits on the same inputs.

    ``logit_cosine``: mean over inputs of the cosine of class-centred logit vectors;
    ``cka``: linear CKA between the (n, classes) logit matrices; ``agreement``: fraction of
    inputs with the same argmax.
    """

    logit_cosine: float
    cka: float
    agreement: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def output_baselines(
    model_a: object, model_b: object, x: np.ndarray | torch.Tensor, residual: bool | None = None
) -> OutputBaselines:
    """Baselines on data ``x`` (n, d_in), in the models' tensor input space (one-hot for an
    embedding), evaluated exactly (float64) through the padded tensor net."""
    la, lb = (_logits(m, x, residual) for m in (model_a, model_b))
    return OutputBaselines(logit_cosine(la, lb), linear_cka(la, lb), prediction_agreement(la, lb))


def _logits(model: object, x: np.ndarray | torch.Tensor, residual: bool | None) -> np.ndarray:
    return to_tensor_net(getattr(model, "state", model), residual).forward(
        np.asarray(torch.as_tensor(x).double())
    )


def baseline_matrices(
    checkpoints: Sequence[Any],
    x: np.ndarray | torch.Tensor,
    *,
    residual: bool | None = None,
    progress: bool | None = None,
) -> dict[str, np.ndarray]:
    """Checkpoint-by-checkpoint matrices of every baseline, logits computed once per checkpoint.

    Returns ``{"weight_cosine", "logit_cosine", "cka", "agreement"}`` -> (n, n) arrays, for
    checkpoints as accepted by
    :func:`~mechequiv.tensorsim.dynamics.similarity_over_training` and data ``x`` (n_x, d_in).
    """
    states = [getattr(c, "state", c) for c in checkpoints]
    logits = [_logits(s, x, residual) for s in states]
    idx = list(range(len(states)))
    out = {"weight_cosine": pairwise_matrix(idx, lambda i, j: weight_cosine(states[i], states[j]))}
    for name, fn in (
        ("logit_cosine", logit_cosine),
        ("cka", linear_cka),
        ("agreement", prediction_agreement),
    ):

        def score(i: int, j: int, fn: Callable[[np.ndarray, np.ndarray], float] = fn) -> float:
            return fn(logits[i], logits[j])

        out[name] = pairwise_matrix(idx, score, progress)
    return out
