"""Functional similarity: compare what two models output on the same inputs.

Inputs are per-sample output scores of shape (n, c): logits by default, or probabilities where
an option says so. Rows are paired by input.
"""

from __future__ import annotations

import math
from typing import Literal

import torch

from mechequiv.measures._validate import ArrayLike, as_float64, check_choice, check_pair
from mechequiv.measures.registry import register

Scores = Literal["logits", "probs"]


def _labels(a: ArrayLike, name: str) -> torch.Tensor:
    t = as_float64(a, name)
    if t.ndim == 1:
        if not bool((t == t.round()).all()):
            raise ValueError(f"1-D {name} must hold integer class labels")
        return t.long()
    if t.ndim == 2:
        return t.argmax(dim=1)
    raise ValueError(f"{name} must be labels (n,) or scores (n, c); got shape {tuple(t.shape)}")


@register(
    kind="similarity",
    range=(0.0, 1.0),
    metric=False,
    symmetric=True,
    invariances=("isotropic_scaling",),
    family="functional",
    convention="fraction of inputs whose top-1 predictions (argmax, first index on ties) agree",
    functional=True,
)
def prediction_agreement(A: ArrayLike, B: ArrayLike) -> float:
    """Fraction of inputs on which the two models predict the same class.

    ``A`` and ``B`` are scores (n, c) (logits or probabilities; argmax, lowest index on ties)
    or integer labels (n,). 1 - this value is the disagreement of Klabunde et al.'s survey.
    """
    a, b = _labels(A, "A"), _labels(B, "B")
    if a.shape[0] != b.shape[0]:
        raise ValueError(
            f"A and B must have the same number of inputs; got {a.shape[0]}, {b.shape[0]}"
        )
    if a.shape[0] == 0:
        raise ValueError("no inputs")
    return float((a == b.to(a.device)).double().mean())


def _log_probabilities(s: torch.Tensor, inputs: str, name: str) -> torch.Tensor:
    """Natural-log probabilities; finite for every class when computed from logits (a softmax
    can underflow to 0 where its logarithm is still exact)."""
    check_choice(inputs, "inputs", ("logits", "probs"))
    if inputs == "logits":
        return torch.log_softmax(s, dim=1)
    if bool((s < 0).any()) or not torch.allclose(s.sum(1), torch.ones_like(s[:, 0]), atol=1e-6):
        raise ValueError(f"{name} must hold probability rows (non-negative, summing to 1)")
    return torch.log(s)


@register(
    kind="distance",
    range=(0.0, 1.0),
    metric=False,
    symmetric=True,
    invariances=(),
    family="functional",
    convention="mean Jensen-Shannon divergence in bits (base 2) of softmax(logits); sqrt is a metric",
    functional=True,
)
def jensen_shannon(A: ArrayLike, B: ArrayLike, inputs: Scores = "logits") -> float:
    """Mean over inputs of the Jensen-Shannon divergence between the two output distributions.

    JS(p, q) = (KL(p || m) + KL(q || m)) / 2 with m = (p + q) / 2, in bits (log base 2), so it
    lies in [0, 1]. This is the divergence, not scipy's ``jensenshannon`` (its square root, in
    nats by default). ``inputs="logits"`` applies a softmax; ``"probs"`` takes probabilities.
    0 log 0 is taken as 0.
    """
    a, b = check_pair(A, B, min_samples=1, names=("A", "B"))
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"A and B must have the same number of classes; got {a.shape[1]}, {b.shape[1]}"
        )
    # In log space: m = (p + q) / 2 never underflows to 0 where p or q is positive.
    lp, lq = _log_probabilities(a, inputs, "A"), _log_probabilities(b, inputs, "B")
    lm = torch.logaddexp(lp, lq) - math.log(2.0)

    def kl(lu: torch.Tensor) -> torch.Tensor:
        u = lu.exp()
        return torch.where(u > 0, u * (lu - lm), torch.zeros_like(u)).sum(1) / math.log(2.0)

    return float((0.5 * (kl(lp) + kl(lq))).clamp_min(0.0).mean())


@register(
    kind="similarity",
    range=(-1.0, 1.0),
    metric=False,
    symmetric=True,
    invariances=("isotropic_scaling",),
    family="functional",
    convention="mean over inputs of the cosine between logit vectors centred over classes",
    functional=True,
)
def logit_cosine(A: ArrayLike, B: ArrayLike) -> float:
    """Mean over inputs of cos(a_i - mean(a_i), b_i - mean(b_i)) for logit vectors a_i, b_i.

    Logits are centred over classes first because a softmax ignores a per-input constant shift.
    """
    a, b = check_pair(A, B, min_samples=1, names=("A", "B"), rescale=True)
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"A and B must have the same number of classes; got {a.shape[1]}, {b.shape[1]}"
        )
    a = a - a.mean(1, keepdim=True)
    b = b - b.mean(1, keepdim=True)
    na, nb = a.norm(dim=1), b.norm(dim=1)
    if bool(((na == 0) | (nb == 0)).any()):
        raise ValueError("logit cosine is undefined for an input whose logits are all equal")
    return float(((a * b).sum(1) / (na * nb)).mean())
