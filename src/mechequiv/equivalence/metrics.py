"""Behaviour metrics for circuit discovery: how close a (patched) model's output is to the model's.

Every metric scores an output against the clean model's output so that higher means closer to
the model's behaviour, averaged over the scored rows (inputs, or input positions):

- ``"margin"``: logit of the label minus the largest other logit. It stays linear where the
  softmax saturates (a model trained to 1 - p ~ 1e-7 has margins ~17 that patching moves by
  whole units, while its KL moves by 1e-6), so it is the default for classifiers.
- ``"logit_diff"``: logit of the label minus the logit of ``counter_labels`` (IOI-style: the
  answer against the counterfactual answer).
- ``"accuracy"``: argmax equals the label.
- ``"kl"``: minus KL(clean || patched) of the softmax distributions, in nats.
- ``"mse"``: minus the mean squared difference to the clean output (numerical outputs).

Labels default to the clean model's argmax, so the metrics measure agreement with the model,
not with a ground truth it may miss.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

KINDS = ("margin", "logit_diff", "accuracy", "kl", "mse")

Positions = int | slice | Sequence[int] | torch.Tensor | None


def output_logits(out: Any) -> torch.Tensor:
    """The logits tensor of a model output (a tensor, ``.logits``, or the first of a tuple)."""
    logits = out.logits if hasattr(out, "logits") else out
    if isinstance(logits, (tuple, list)):
        logits = logits[0]
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"expected the model to return logits (a tensor); got {type(out).__name__}")
    return logits.double()


@dataclass(frozen=True)
class BehaviourMetric:
    """How a circuit's behaviour is scored (see the module docstring for the kinds).

    Parameters
    ----------
    kind : one of ``"margin"``, ``"logit_diff"``, ``"accuracy"``, ``"kl"``, ``"mse"``; None picks
        ``"margin"`` for outputs with more than one logit and ``"mse"`` for a single number.
    positions : which positions of a ``(n, t, k)`` output are scored: None (all), an int
        (e.g. -1, the last), a slice, a list of ints, or a boolean mask ``(n, t)``.
    labels : the correct class per scored row, ``(n,)`` or ``(n, t)``; default: the clean
        model's argmax.
    counter_labels : for ``"logit_diff"``: the class to compare against, shaped as ``labels``.
    """

    kind: str | None = None
    positions: Positions = None
    labels: Any = None
    counter_labels: Any = None

    def __post_init__(self) -> None:
        if self.kind is not None and self.kind not in KINDS:
            raise ValueError(f"metric kind must be one of {KINDS}; got {self.kind!r}")
        if self.kind == "logit_diff" and self.counter_labels is None:
            raise ValueError("the logit_diff metric needs counter_labels (the competing answer)")

    def resolved_kind(self, clean: torch.Tensor) -> str:
        if self.kind is not None:
            return self.kind
        return "margin" if clean.shape[-1] > 1 else "mse"

    def describe(self, clean: torch.Tensor) -> str:
        kind = self.resolved_kind(clean)
        p = self.positions
        if p is None:
            where = "all positions"
        elif isinstance(p, torch.Tensor) and p.dtype == torch.bool:
            where = f"the {int(p.sum())} positions of a {tuple(p.shape)} mask"
        else:
            where = f"positions {p!r}"
        label = "the model's argmax" if self.labels is None else "given labels"
        if kind in ("kl", "mse"):
            return f"{kind} to the model's output at {where}"
        return f"{kind} ({label}) at {where}"

    def _select(self, x: torch.Tensor, rows_only: bool = False) -> torch.Tensor:
        """The scored rows of ``x`` (an output (n, [t,] k) or a label array (n, [t]))."""
        x = torch.as_tensor(x)
        seq = x.ndim == (2 if rows_only else 3)
        if not seq:
            if self.positions is not None:
                raise ValueError(
                    f"positions={self.positions!r} given, but the output has no position axis "
                    f"(shape {tuple(x.shape)})"
                )
            return x
        p = self.positions
        if p is None:
            return x.flatten(0, 1)
        if isinstance(p, torch.Tensor) and p.dtype == torch.bool:
            if p.shape != x.shape[:2]:
                raise ValueError(
                    f"positions mask has shape {tuple(p.shape)}; expected {tuple(x.shape[:2])}"
                )
            return x[p]
        if isinstance(p, int):
            return x[:, p]
        return x[:, p].flatten(0, 1)

    def scores(self, out: Any, clean: Any) -> torch.Tensor:
        """Per scored row, float64: higher is closer to the clean model's behaviour."""
        y, c = self._select(output_logits(out)), self._select(output_logits(clean))
        kind = self.resolved_kind(c)
        if kind == "mse":
            return -((y - c) ** 2).mean(-1)
        if kind == "kl":
            p, logq = torch.softmax(c, -1), torch.log_softmax(y, -1)
            ratio = torch.where(p > 0, p * (torch.log(p) - logq), torch.zeros_like(p))
            return -ratio.sum(-1)
        if c.shape[-1] < 2:
            raise ValueError(f"the {kind} metric needs at least two logits; the output has one")
        labels = c.argmax(-1) if self.labels is None else self._select(self.labels, True).long()
        if labels.shape != y.shape[:-1]:
            raise ValueError(
                f"labels select {tuple(labels.shape)} rows; the output has {tuple(y.shape[:-1])}"
            )
        if kind == "accuracy":
            return (y.argmax(-1) == labels).double()
        right = y.gather(-1, labels[:, None])[:, 0]
        if kind == "logit_diff":
            other = y.gather(-1, self._select(self.counter_labels, True).long()[:, None])[:, 0]
            return right - other
        rest = y.scatter(-1, labels[:, None], float("-inf"))
        return right - rest.max(-1).values

    def __call__(self, out: Any, clean: Any) -> float:
        return float(self.scores(out, clean).mean())
