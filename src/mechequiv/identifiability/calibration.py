"""How well a score predicts exact equivalence: ROC AUC, cluster-bootstrap intervals, reliability.

Exact equivalence (:mod:`.exact`) is a binary label per pair of networks; an estimator such as
Congruity gives a score per pair. This module holds the scoring used by
``benchmarks/bench_exact_equivalence.py`` and the data of the report's calibration figure:

* ROC AUC by the Mann-Whitney statistic (ties count one half);
* a bootstrap over **networks**, not pairs: pairs sharing a network are dependent, so each
  replicate draws networks with replacement and weighs a pair by the product of its two
  networks' multiplicities (a network drawn twice brings its pairs twice);
* a shuffled-label null (labels permuted across pairs);
* a reliability diagram: score bins against the observed rate of the label, with counts.

:func:`calibration_data` builds the frozen :class:`CalibrationData` the figure draws, from the
benchmark's results file (or its parsed dict).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import rankdata


def roc_auc(scores: Sequence[float] | np.ndarray, labels: Sequence[bool] | np.ndarray) -> float:
    """ROC AUC (Mann-Whitney, ties 1/2); NaN when only one class is present."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=bool)
    if s.shape != y.shape or s.ndim != 1:
        raise ValueError(f"scores and labels must be 1-d of one length, got {s.shape}, {y.shape}")
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(s)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _weighted_auc(s: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    pos, neg = s[y], s[~y]
    wp, wn = w[y], w[~y]
    denom = wp.sum() * wn.sum()
    if denom == 0:
        return float("nan")
    wins = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    return float(wp @ wins @ wn / denom)


def network_bootstrap_auc(
    scores: Sequence[float] | np.ndarray,
    labels: Sequence[bool] | np.ndarray,
    pairs: Sequence[tuple[str, str]],
    rng: np.random.Generator,
    n_boot: int = 1000,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile interval of the AUC under resampling of networks (see the module docstring).

    ``pairs[i]`` names the two networks of pair ``i``. Replicates with one class only are
    dropped; the interval is NaN when fewer than half the replicates remain.
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=bool)
    if len(pairs) != len(s) or len(s) != len(y):
        raise ValueError(f"need one pair per score and label, got {len(pairs)}, {len(s)}, {len(y)}")
    if not 0 < level < 1 or n_boot < 1:
        raise ValueError(f"need 0 < level < 1 and n_boot >= 1, got {level}, {n_boot}")
    names = sorted({n for p in pairs for n in p})
    index = {n: i for i, n in enumerate(names)}
    a = np.array([index[p[0]] for p in pairs])
    b = np.array([index[p[1]] for p in pairs])
    reps = []
    for _ in range(n_boot):
        mult = np.bincount(rng.integers(len(names), size=len(names)), minlength=len(names))
        value = _weighted_auc(s, y, (mult[a] * mult[b]).astype(np.float64))
        if not np.isnan(value):
            reps.append(value)
    if len(reps) < n_boot / 2:
        return float("nan"), float("nan")
    lo, hi = np.quantile(reps, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def shuffled_null(
    scores: Sequence[float] | np.ndarray,
    labels: Sequence[bool] | np.ndarray,
    rng: np.random.Generator,
    n_perm: int = 1000,
) -> np.ndarray:
    """AUCs with the labels permuted across pairs (the no-information null)."""
    y = np.asarray(labels, dtype=bool)
    return np.array([roc_auc(scores, rng.permutation(y)) for _ in range(n_perm)])


@dataclass(frozen=True)
class ReliabilityBin:
    """Pairs whose score lies in ``[lo, hi)`` (the last bin includes ``hi``)."""

    lo: float
    hi: float
    n: int
    observed_rate: float | None  # fraction of the bin's pairs with the label; None when empty
    mean_score: float | None


@dataclass(frozen=True)
class CalibrationData:
    """Scores of one predictor and the exact label of each pair, for the calibration figure.

    ``scores`` are the predictor's values (Congruity lies in [0, 1]; a reliability diagram is
    meaningful only for a score meant as a probability, the ROC for any score); ``labels`` the
    exact-equivalence label named ``label``; ``subset`` says which pairs (e.g. trained pairs).
    """

    predictor: str
    label: str
    subset: str
    scores: tuple[float, ...]
    labels: tuple[bool, ...]
    bins: int = 10

    def __post_init__(self) -> None:
        if len(self.scores) != len(self.labels) or not self.scores:
            raise ValueError(
                f"need as many labels as scores (at least one), got {len(self.labels)} and "
                f"{len(self.scores)}"
            )
        if self.bins < 1:
            raise ValueError(f"bins must be >= 1, got {self.bins}")

    @property
    def auc(self) -> float:
        return roc_auc(self.scores, self.labels)

    def roc_curve(self) -> tuple[np.ndarray, np.ndarray]:
        """False- and true-positive rates at every threshold, from (0, 0) to (1, 1)."""
        s = np.asarray(self.scores)
        y = np.asarray(self.labels, dtype=bool)
        thresholds = np.unique(s)[::-1]
        n_pos, n_neg = max(int(y.sum()), 1), max(int((~y).sum()), 1)
        tpr = [0.0] + [float((y & (s >= t)).sum() / n_pos) for t in thresholds]
        fpr = [0.0] + [float((~y & (s >= t)).sum() / n_neg) for t in thresholds]
        return np.array(fpr), np.array(tpr)

    def reliability(self) -> tuple[ReliabilityBin, ...]:
        """Equal-width bins over [min(0, smallest score), max(1, largest score)]."""
        s = np.asarray(self.scores)
        y = np.asarray(self.labels, dtype=np.float64)
        edges = np.linspace(min(0.0, s.min()), max(1.0, s.max()), self.bins + 1)
        out = []
        for i in range(self.bins):
            lo, hi = edges[i], edges[i + 1]
            sel = (s >= lo) & ((s < hi) if i < self.bins - 1 else (s <= hi))
            n = int(sel.sum())
            out.append(
                ReliabilityBin(
                    float(lo),
                    float(hi),
                    n,
                    float(y[sel].mean()) if n else None,
                    float(s[sel].mean()) if n else None,
                )
            )
        return tuple(out)

    def to_dict(self) -> dict[str, Any]:
        return {
            "predictor": self.predictor,
            "label": self.label,
            "subset": self.subset,
            "scores": list(self.scores),
            "labels": list(self.labels),
            "bins": self.bins,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CalibrationData:
        return cls(
            str(d["predictor"]), str(d["label"]), str(d["subset"]),
            tuple(float(v) for v in d["scores"]), tuple(bool(v) for v in d["labels"]),
            int(d.get("bins", 10)),
        )  # fmt: skip


#: Subsets of a results file's pairs, by the pair's ``kind``: trained pairs are pairs of
#: independently trained networks (same width and across widths), copies pairs of a network
#: and its own permuted, rescaled copy, hand-built pairs those of
#: :func:`~mechequiv.identifiability.hand_built_zoo` networks.
SUBSETS: dict[str, tuple[str, ...] | None] = {
    "trained pairs": ("seeds", "cross-width"),
    "trained pairs and copies": ("seeds", "cross-width", "symmetry copy"),
    "hand-built pairs": ("hand-built",),
    "all pairs": None,
}
_RENAMED = {"seed pairs": "trained pairs"}


def calibration_data(
    results: str | Path | Mapping[str, Any],
    predictor: str,
    label: str = "same_algorithms",
    subset: str = "trained pairs",
    bins: int = 10,
) -> CalibrationData:
    """The pairs of a ``bench_exact_equivalence.py`` results file as :class:`CalibrationData`.

    ``subset``: ``"trained pairs"`` (independently trained networks, every pair of one task, of
    one width or across widths: the informative test), ``"hand-built pairs"`` (networks with a
    designed decomposition), ``"trained pairs and copies"`` (trained pairs with each network's
    permuted, rescaled copy: the positive control) or ``"all pairs"``. The former name
    ``"seed pairs"`` meant trained pairs, cross-width ones included; it still works, with a
    :class:`DeprecationWarning`. Pairs where the predictor has no value are left out.
    """
    if subset in _RENAMED:
        warnings.warn(
            f"subset {subset!r} is deprecated (it always included cross-width pairs); "
            f"use {_RENAMED[subset]!r}",
            DeprecationWarning,
            stacklevel=2,
        )
        subset = _RENAMED[subset]
    if subset not in SUBSETS:
        raise ValueError(f"subset must be one of {sorted(SUBSETS)}, got {subset!r}")
    data: Mapping[str, Any] = (
        results if isinstance(results, Mapping) else json.loads(Path(results).read_text())
    )
    rows = data.get("pairs")
    if not rows:
        raise ValueError("the results hold no 'pairs' (expected bench_exact_equivalence output)")
    if predictor not in rows[0]:
        known = sorted(k for k in rows[0] if k.startswith(("congruity", "linear", "-")))
        raise ValueError(f"unknown predictor {predictor!r}; the results have {known}")
    if label not in rows[0]:
        raise ValueError(f"unknown label {label!r}")
    kinds = SUBSETS[subset]
    chosen = [
        r for r in rows
        if r.get(predictor) is not None and (kinds is None or r["kind"] in kinds)
    ]  # fmt: skip
    if not chosen:
        raise ValueError(f"no pair of subset {subset!r} has a value for {predictor!r}")
    return CalibrationData(
        predictor, label, subset,
        tuple(float(r[predictor]) for r in chosen), tuple(bool(r[label]) for r in chosen), bins,
    )  # fmt: skip
