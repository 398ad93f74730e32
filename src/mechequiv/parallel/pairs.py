"""The one pairwise engine: a task per pair of items, run by a backend, saved and resumed.

Every "all pairs" computation of the project (a measure over many representations, Congruity over
many models, tensor similarity over training checkpoints) goes through :func:`map_pairs`: the
pairs are enumerated in one order (row-major, upper triangle for a symmetric job), each pair is
one task of :meth:`~mechequiv.parallel.Backend.map` keyed ``"i,j"``, so a
:class:`~mechequiv.parallel.JsonStore` resumes any of them, and ``backend="ray"`` distributes any
of them. :func:`pair_matrix` mirrors per-pair numbers into the square matrix.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from mechequiv.parallel.backend import Backend
from mechequiv.parallel.registry import get_backend
from mechequiv.parallel.store import ResultStore


def pair_indices(m: int, *, symmetric: bool = True, diagonal: bool = True) -> list[tuple[int, int]]:
    """The pairs of ``m`` items a job computes, row-major: ``i <= j`` (``i < j`` without the
    diagonal) when the job is symmetric, every ordered pair otherwise."""
    if isinstance(m, bool) or not isinstance(m, int | np.integer):
        raise TypeError(f"m must be an integer number of items; got {type(m).__name__}")
    if m < 1:
        raise ValueError(f"a pairwise job needs at least one item; got {m}")
    if symmetric:
        return [(i, j) for i in range(m) for j in range(i if diagonal else i + 1, m)]
    return [(i, j) for i in range(m) for j in range(m) if diagonal or i != j]


def map_pairs(
    job: Callable[[tuple[int, int]], Any],
    m: int,
    *,
    symmetric: bool = True,
    diagonal: bool = True,
    backend: str | Backend = "local",
    store: ResultStore | None = None,
    progress: bool | None = None,
    description: str = "pairs",
) -> dict[tuple[int, int], Any]:
    """``{(i, j): job((i, j))}`` for the pairs of :func:`pair_indices`, in that order.

    ``job`` must be deterministic given its pair (derive any seed from ``(i, j)``), so that the
    result depends neither on the backend nor on the order in which pairs finish; with Ray it is
    serialised once. ``store`` receives each finished pair under the key ``"i,j"`` and a rerun
    computes only the missing ones (its settings guard against mixing different jobs).
    """
    pairs = pair_indices(m, symmetric=symmetric, diagonal=diagonal)
    found = get_backend(backend).map(
        job, pairs, keys=[f"{i},{j}" for i, j in pairs], store=store, progress=progress,
        description=description,
    )  # fmt: skip
    return dict(zip(pairs, found, strict=True))


def pair_matrix(
    values: Mapping[tuple[int, int], Any],
    m: int,
    *,
    symmetric: bool = True,
    fill: float = np.nan,
    value: Callable[[Any], float] = float,
) -> np.ndarray:
    """The (m, m) float64 matrix of ``value(values[i, j])``, mirrored when ``symmetric``;
    pairs absent from ``values`` hold ``fill``."""
    out = np.full((m, m), fill, dtype=np.float64)
    for (i, j), v in values.items():
        out[i, j] = value(v)
        if symmetric:
            out[j, i] = out[i, j]
    return out


__all__ = ["map_pairs", "pair_indices", "pair_matrix"]
