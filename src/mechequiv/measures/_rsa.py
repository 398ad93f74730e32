"""Representational similarity analysis (Kriegeskorte et al. 2008).

Each representation becomes a representational dissimilarity matrix (RDM) over stimuli; two RDMs
are compared on their upper triangles (i < j), diagonal excluded.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from scipy import stats

from mechequiv.measures._linalg import BLOCK_ELEMENTS, host_float64, upper_triangle
from mechequiv.measures._validate import (
    ArrayLike,
    as_matrix_scaled,
    check_choice,
    check_pair,
    times_power_of_two,
)
from mechequiv.measures.registry import register

RDMKind = Literal["correlation", "euclidean", "cosine"]
Comparison = Literal["spearman", "pearson", "kendall_tau_a"]
_RDMS = ("correlation", "euclidean", "cosine")
_COMPARISONS = ("spearman", "pearson", "kendall_tau_a")


def rdm(X: ArrayLike, kind: RDMKind = "correlation") -> torch.Tensor:
    """Representational dissimilarity matrix (n x n, float64) of the rows of X.

    - ``"correlation"``: 1 - Pearson correlation between rows (each row centred over features).
    - ``"euclidean"``: squared Euclidean distance divided by the number of features
      (rsatoolbox's "euclidean" convention).
    - ``"cosine"``: 1 - cosine similarity between rows.
    """
    check_choice(kind, "rdm", _RDMS)
    x, e = as_matrix_scaled(X)  # correlation and cosine are scale free; Euclidean scales by 4^e
    if kind == "euclidean":
        sq = (x * x).sum(1)
        # (sq_i + sq_j - 2 x_i.x_j).clamp_min(0) / d, computed in the Gram's own memory, a band
        # of rows at a time: the same operations without n x n temporaries
        d = x @ x.T
        rows = max(1, BLOCK_ELEMENTS // max(1, d.shape[0]))
        for i in range(0, d.shape[0], rows):
            band = d[i : i + rows]
            torch.sub(sq[i : i + rows, None] + sq[None, :], band.mul_(2.0), out=band)
        d.clamp_min_(0.0).div_(x.shape[1])
        if e:
            d = times_power_of_two(d, 2 * e)
            if not bool(torch.isfinite(d).all()):
                raise ValueError("the squared Euclidean distances of X exceed the float64 range")
        return d
    if kind == "correlation":
        x = x - x.mean(1, keepdim=True)
    norms = x.norm(dim=1)
    if bool((norms == 0).any()):
        what = "constant across features" if kind == "correlation" else "all zero"
        raise ValueError(f"the {kind} RDM is undefined: a row (stimulus pattern) is {what}")
    u = x / norms[:, None]
    result: torch.Tensor = (u @ u.T).neg_().add_(1.0)  # 1 - u u^T without a second n x n
    return result


def _condensed_rdm(x: torch.Tensor, kind: RDMKind) -> torch.Tensor:
    """The RDM's upper triangle (i < j) as a vector; the n x n matrix is freed on return."""
    return upper_triangle(rdm(x, kind))


def average_ranks(v: torch.Tensor) -> torch.Tensor:
    """Ranks 1..N of ``v`` with ties given their average rank (scipy's ``rankdata``), in torch
    on v's device."""
    order = torch.argsort(v)
    _, inverse, counts = torch.unique_consecutive(v[order], return_inverse=True, return_counts=True)
    ends = torch.cumsum(counts, 0).to(torch.float64)
    mean_rank = ends - (counts.to(torch.float64) - 1.0) / 2.0
    ranks = torch.empty_like(v, dtype=torch.float64)
    ranks[order] = mean_rank[inverse]
    return ranks


def pearson(a: torch.Tensor, b: torch.Tensor) -> float:
    """Pearson correlation of two vectors, centred in float64 on their device."""
    a = a - a.mean()
    b = b - b.mean()
    return float(torch.dot(a, b) / (torch.linalg.vector_norm(a) * torch.linalg.vector_norm(b)))


def _compare_on_device(a: torch.Tensor, b: torch.Tensor, comparison: Comparison) -> float:
    """:func:`compare_rdms` for condensed RDMs that stay on an accelerator (Pearson and
    Spearman; Kendall's tau-a, an O(N log N) merge count, runs in scipy on the host)."""
    check_choice(comparison, "compare", _COMPARISONS)
    if comparison == "kendall_tau_a":
        return compare_rdms(a.cpu().numpy(), b.cpu().numpy(), comparison)
    if bool(a.min() == a.max()) or bool(b.min() == b.max()):
        raise ValueError("an RDM has all off-diagonal entries equal: rank correlation undefined")
    if comparison == "spearman":
        a, b = average_ranks(a), average_ranks(b)
    return pearson(a, b)


def kendall_tau_a(a: np.ndarray, b: np.ndarray) -> float:
    """Kendall's tau-a = (concordant - discordant) / (N (N - 1) / 2), in O(N log N).

    Derived from scipy's tau-b (which is O(N log N)) by undoing its tie correction.
    """
    n0 = len(a) * (len(a) - 1) / 2.0
    tau_b = stats.kendalltau(a, b, variant="b").statistic
    if not np.isfinite(tau_b):
        raise ValueError("Kendall's tau is undefined: an RDM has all entries equal")

    def tied_pairs(v: np.ndarray) -> float:
        _, counts = np.unique(v, return_counts=True)
        return float((counts * (counts - 1) / 2.0).sum())

    return float(tau_b * np.sqrt((n0 - tied_pairs(a)) * (n0 - tied_pairs(b))) / n0)


def compare_rdms(a: np.ndarray, b: np.ndarray, comparison: Comparison = "spearman") -> float:
    """Compare two condensed RDM vectors."""
    check_choice(comparison, "compare", _COMPARISONS)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        raise ValueError("an RDM has all off-diagonal entries equal: rank correlation undefined")
    if comparison == "kendall_tau_a":
        return kendall_tau_a(a, b)
    if comparison == "spearman":
        # scipy.stats.spearmanr's own steps (rankdata per column, then corrcoef of the two rank
        # columns, entry [1, 0]), so the same value bit for bit, without its stacked copy of
        # the inputs and apply_along_axis' buffers (a third less peak memory)
        ranked = np.empty((len(a), 2))
        ranked[:, 0] = stats.rankdata(a)
        ranked[:, 1] = stats.rankdata(b)
        correlations: np.ndarray = np.asarray(np.corrcoef(ranked, rowvar=False))
        return float(correlations[1, 0])
    return float(np.corrcoef(a, b)[0, 1])


@register(
    kind="similarity",
    range=(-1.0, 1.0),
    metric=False,
    symmetric=True,
    invariances=("isotropic_scaling", "permutation"),
    family="rsa",
    convention="correlation-distance RDMs compared by Spearman rank correlation (upper triangles)",
)
def rsa(
    X: ArrayLike,
    Y: ArrayLike,
    rdm_kind: RDMKind = "correlation",
    compare: Comparison = "spearman",
) -> float:
    """RSA: correlation between the two representations' RDMs over stimulus pairs i < j.

    Parameters
    ----------
    rdm_kind : {"correlation", "euclidean", "cosine"}
        See :func:`rdm`. Euclidean RDMs add invariance to orthogonal maps and translation.
    compare : {"spearman", "pearson", "kendall_tau_a"}
        Spearman rank correlation (ties averaged), Pearson correlation, or Kendall's tau-a
        (rsatoolbox's recommendation for RDMs with tied entries).

    Needs n >= 3 stimuli. Memory, for n stimuli and N = n (n - 1) / 2 pairs: one n x n
    float64 RDM at a time (8 n^2 bytes, built in place), the two condensed RDMs (8 N bytes
    each), then scipy's rank correlation, which works on copies of both (several float64
    vectors of N; measured in benchmarks/results/rsa.json). No index arrays are built.
    """
    x, y = check_pair(X, Y, min_samples=3, rescale=True)
    a = _condensed_rdm(x, rdm_kind)
    b = _condensed_rdm(y, rdm_kind)
    if host_float64(a):
        return compare_rdms(a.numpy(), b.numpy(), compare)
    return _compare_on_device(a, b, compare)
