"""Exact equivalence beside cheap label-free predictors, for every pair of a set of networks.

The study's identifiability section trains and audits small MLPs; :func:`score_pairs` turns
them into calibration data: for each pair of networks the exact labels of :mod:`.exact` and
two representational similarities of their hidden activations on the task's rows (linear CKA
and the Procrustes angular distance of :mod:`mechequiv.measures`), which need no labels and
cost microseconds. :mod:`.calibration` then scores how well each predicts the labels.

Conventions: the hidden activations of a network are its hidden layers side by side (one row
per task row, in task order); ``-procrustes`` is the negated distance, so that for every
predictor a larger value means "more alike". A predictor that is undefined on a pair (e.g. a
network whose hidden units are all constant on the task) is stored as None and left out.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mechequiv import measures
from mechequiv.identifiability.calibration import CalibrationData
from mechequiv.identifiability.exact import ExplanationClasses, compare_classes
from mechequiv.identifiability.network import MLPNet
from mechequiv.identifiability.tasks import BooleanTask

#: Label names (see :class:`PairScore`) and predictor names, larger = more alike.
LABELS = ("equivalent", "same_algorithms")
PREDICTORS = ("linear_cka", "-procrustes")


@dataclass(frozen=True)
class PairScore:
    """One pair of networks: its exact labels and the predictors' scores.

    ``equivalent``: all four Jaccard indices of :func:`~.exact.compare_classes` equal 1.
    ``same_algorithms``: the same non-empty set of aligned algorithms (a weaker label).
    ``widths``: the two networks' hidden widths (equal for seed pairs).
    """

    a: str
    b: str
    widths: tuple[int, int]
    equivalent: bool
    same_algorithms: bool
    scores: dict[str, float | None]

    def label(self, name: str) -> bool:
        if name not in LABELS:
            raise ValueError(f"unknown label {name!r}; expected one of {LABELS}")
        return bool(getattr(self, name))

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.a, "b": self.b, "widths": list(self.widths),
            "equivalent": self.equivalent, "same_algorithms": self.same_algorithms,
            "scores": dict(self.scores),
        }  # fmt: skip

    @classmethod
    def from_dict(cls, d: Any, where: str = "pair") -> PairScore:
        """Read (and check) :meth:`to_dict` output; errors name the entry by ``where``."""
        keys = {"a", "b", "widths", "equivalent", "same_algorithms", "scores"}
        if not isinstance(d, Mapping) or set(d) != keys:
            found = sorted(d) if isinstance(d, Mapping) else type(d).__name__
            raise ValueError(f"{where}: expected a dict with keys {sorted(keys)}, found {found}")
        if not all(isinstance(d[k], str) for k in ("a", "b")):
            raise TypeError(f"{where}: 'a' and 'b' must be network names (strings)")
        w = d["widths"]
        if not isinstance(w, list | tuple) or len(w) != 2 or not all(_is_width(v) for v in w):
            raise ValueError(f"{where}['widths']: expected two integers >= 1, found {w!r}")
        for label in LABELS:
            if not isinstance(d[label], bool):
                raise TypeError(f"{where}[{label!r}]: expected a boolean, found {d[label]!r}")
        scores = d["scores"]
        if not isinstance(scores, Mapping):
            raise TypeError(f"{where}['scores']: expected a dict, found {type(scores).__name__}")
        for k, v in scores.items():
            if v is not None and (
                isinstance(v, bool) or not isinstance(v, int | float) or not np.isfinite(v)
            ):
                raise ValueError(f"{where}['scores'][{k!r}]: expected a finite number or null")
        return cls(
            d["a"], d["b"], (int(w[0]), int(w[1])), d["equivalent"], d["same_algorithms"],
            {str(k): None if v is None else float(v) for k, v in scores.items()},
        )  # fmt: skip


def _is_width(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 1


def hidden_activations(net: MLPNet, task: BooleanTask) -> np.ndarray:
    """The hidden layers' activations side by side, one row per task row (float64)."""
    acts = net.forward(task.inputs.astype(np.float64))
    return np.hstack(acts[1:-1])


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def predictor_scores(x: np.ndarray, y: np.ndarray) -> dict[str, float | None]:
    """Linear CKA and negated Procrustes distance of two activation matrices (None where
    undefined: a matrix with no variance)."""
    if np.ptp(x, axis=0).max(initial=0.0) == 0.0 or np.ptp(y, axis=0).max(initial=0.0) == 0.0:
        return dict.fromkeys(PREDICTORS)
    return {
        "linear_cka": _finite(measures.linear_cka(x, y)),
        "-procrustes": _finite(-measures.procrustes(x, y)),
    }


def score_pairs(
    networks: Sequence[tuple[str, MLPNet, ExplanationClasses]],
    task: BooleanTask,
    *,
    cross_width: bool = True,
) -> list[PairScore]:
    """Every pair of ``networks`` (name, network, its explanation classes) with its exact
    labels and predictor scores. Pairs of different widths are included when ``cross_width``
    and their explanation classes were computed with the same audit settings (they cannot be
    compared otherwise, e.g. under the paper's width-dependent circuit filter)."""
    names = [n for n, _, _ in networks]
    if len(set(names)) != len(names):
        raise ValueError(f"network names must be distinct, got {names}")
    acts = {n: hidden_activations(net, task) for n, net, _ in networks}
    out = []
    for (na, net_a, ca), (nb, net_b, cb) in itertools.combinations(networks, 2):
        wa, wb = max(net_a.hidden_widths), max(net_b.hidden_widths)
        if wa != wb and (not cross_width or ca.settings != cb.settings):
            continue
        r = compare_classes(ca, cb)
        out.append(
            PairScore(
                na, nb, (wa, wb), r.equivalent,
                bool(r.algorithms.jaccard == 1.0 and r.algorithms.n_a > 0),
                predictor_scores(acts[na], acts[nb]),
            )
        )  # fmt: skip
    return out


def calibration_of(
    pairs: Sequence[PairScore], predictor: str, label: str, subset: str, bins: int = 10
) -> CalibrationData | None:
    """The :class:`CalibrationData` of one predictor and label over ``pairs`` (pairs where the
    predictor is undefined left out); None when no pair has a value."""
    have = [p for p in pairs if p.scores.get(predictor) is not None]
    if not have:
        return None
    return CalibrationData(
        predictor, label, subset,
        tuple(float(p.scores[predictor]) for p in have),  # type: ignore[arg-type]
        tuple(p.label(label) for p in have), bins,
    )  # fmt: skip
