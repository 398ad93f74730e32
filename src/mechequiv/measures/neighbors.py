"""Nearest-neighbour overlap measures.

Neighbours exclude the sample itself. Ties in distance are broken by the lower sample index
(stable sort), so results are deterministic. Distances are computed in row blocks, so memory
stays O(block * n) rather than O(n^2).
"""

from __future__ import annotations

from typing import Literal

import torch

from mechequiv.measures._validate import (
    ArrayLike,
    centre,
    check_choice,
    check_int,
    check_not_constant,
    check_pair,
)
from mechequiv.measures.registry import register

Metric = Literal["cosine", "euclidean"]
_BLOCK = 1024


def knn_indices(x: torch.Tensor, k: int, metric: Metric = "cosine") -> torch.Tensor:
    """Indices (n, k) of each row's k nearest other rows."""
    check_choice(metric, "metric", ("cosine", "euclidean"))
    n = x.shape[0]
    if metric == "cosine":
        norms = x.norm(dim=1, keepdim=True)
        if bool((norms == 0).any()):
            raise ValueError("cosine neighbours are undefined for an all-zero row")
        x = x / norms
    sq = (x * x).sum(1)
    out = torch.empty(n, k, dtype=torch.long, device=x.device)
    for start in range(0, n, _BLOCK):
        stop = min(start + _BLOCK, n)
        # Squared Euclidean distance; for unit rows it is 2 - 2 cos, the same ordering.
        d = sq[start:stop, None] + sq[None, :] - 2.0 * (x[start:stop] @ x.T)
        rows = torch.arange(start, stop, device=x.device)
        d[rows - start, rows] = float("inf")
        out[start:stop] = torch.sort(d, dim=1, stable=True).indices[:, :k]
    return out


def _overlaps(X: ArrayLike, Y: ArrayLike, k: int, metric: Metric) -> tuple[torch.Tensor, int]:
    x, y = check_pair(X, Y, rescale=True)
    n = x.shape[0]
    check_int(k, "k", 1)
    # A constant representation makes every neighbour a tie: refuse rather than break ties.
    check_not_constant(centre(x), x, "X")
    check_not_constant(centre(y), y, "Y")
    if k > n - 1:
        raise ValueError(f"k={k} neighbours need at least k + 1 = {k + 1} samples; got {n}")
    nx, ny = knn_indices(x, k, metric), knn_indices(y, k, metric)
    # |N_X(i) & N_Y(i)| per row via a boolean membership table, one block of rows at a time.
    inter = torch.empty(n, dtype=torch.float64, device=x.device)
    for start in range(0, n, _BLOCK):
        stop = min(start + _BLOCK, n)
        member = torch.zeros(stop - start, n, dtype=torch.bool, device=x.device)
        member.scatter_(1, nx[start:stop], True)
        inter[start:stop] = member.gather(1, ny[start:stop]).sum(1).to(torch.float64)
    return inter, k


@register(
    kind="similarity",
    range=(0.0, 1.0),
    metric=False,
    symmetric=True,
    invariances=("orthogonal", "isotropic_scaling", "permutation"),
    family="neighbors",
    convention="mean Jaccard index of the k=10 cosine nearest-neighbour sets (self excluded)",
)
def knn_jaccard(X: ArrayLike, Y: ArrayLike, k: int = 10, metric: Metric = "cosine") -> float:
    """Mean over samples of |N_X(i) & N_Y(i)| / |N_X(i) | N_Y(i)| for k-nearest-neighbour sets.

    ``metric="cosine"`` (default, as ReSi) or ``"euclidean"`` (adds translation invariance).
    """
    inter, k = _overlaps(X, Y, k, metric)
    return float((inter / (2 * k - inter)).mean())


@register(
    kind="similarity",
    range=(0.0, 1.0),
    metric=False,
    symmetric=True,
    invariances=("orthogonal", "isotropic_scaling", "permutation"),
    family="neighbors",
    convention="mean fraction of shared k=10 cosine nearest neighbours (Huh et al. mutual kNN)",
)
def mutual_knn(X: ArrayLike, Y: ArrayLike, k: int = 10, metric: Metric = "cosine") -> float:
    """Mutual nearest neighbours: mean over samples of |N_X(i) & N_Y(i)| / k.

    With the default cosine metric this is the measure of Huh et al. (2024), whose pipeline
    L2-normalises rows first (equivalent).
    """
    inter, k = _overlaps(X, Y, k, metric)
    return float((inter / k).mean())
