"""Representational and functional similarity measures with exact, stated conventions.

Every measure is a function ``name(X, Y, **options) -> float`` on numpy arrays or torch tensors
of shape (n, d1) and (n, d2) with rows paired by stimulus, computed in float64 on the input's
device (CUDA tensors stay there; float32 input is converted block by block, never copied whole).

- Extreme scales: a scale-invariant measure brings an input whose entries lie outside
  [2^-64, 2^64] back by an exact power of two, so X * 1e150 gives the value of X; the others
  refuse entries beyond 2^+-200 with one error naming the magnitude.
- Wide inputs (d > n): measures invariant to orthogonal maps of features work on an exact
  n x n row-space factor (or an exact low-rank factor), never on d x d moments; CCA and PWCCA
  refuse n <= d before computing anything, and the permutation distance refuses matchings
  beyond 8192 units per side.

The registry holds each measure's properties::

    >>> from mechequiv import measures
    >>> info = measures.get("linear_cka")
    >>> info.kind, sorted(info.invariances)[:2]
    ('similarity', ['isotropic_scaling', 'orthogonal'])
"""

from __future__ import annotations

from typing import Any

from mechequiv.measures._cca import cca, pwcca, svcca
from mechequiv.measures._procrustes import permutation_distance, procrustes
from mechequiv.measures._rsa import rdm, rsa
from mechequiv.measures.cka import angular_cka, debiased_cka, linear_cka, rbf_cka
from mechequiv.measures.functional import jensen_shannon, logit_cosine, prediction_agreement
from mechequiv.measures.neighbors import knn_jaccard, mutual_knn
from mechequiv.measures.registry import INVARIANCES, MeasureInfo, get, names
from mechequiv.measures.regression import (
    BoundedMapFit,
    CertifiedDistance,
    bounded_map_error,
    linear_regression_similarity,
    repr_distance,
    repr_distance_bounds,
    ridge_cv,
)
from mechequiv.measures.streaming import StreamingCKA, StreamingMeasure, streamable
from mechequiv.tokens import pool_tokens as _pool_tokens


def compare(
    X: Any,
    Y: Any,
    measures: list[str] | None = None,
    tokens: Any = None,
    mask: Any = None,
) -> dict[str, float]:
    """Several representational measures on one pair; ``tokens`` pools (n, t, d) inputs first.

    ``measures`` defaults to every representational measure in the registry.
    """
    if tokens is not None:
        X, Y = _pool_tokens(X, tokens, mask), _pool_tokens(Y, tokens, mask)
    chosen = names(functional=False) if measures is None else measures
    return {name: get(name)(X, Y) for name in chosen}


__all__ = [
    "INVARIANCES",
    "BoundedMapFit",
    "CertifiedDistance",
    "MeasureInfo",
    "StreamingCKA",
    "StreamingMeasure",
    "angular_cka",
    "bounded_map_error",
    "cca",
    "compare",
    "debiased_cka",
    "get",
    "jensen_shannon",
    "knn_jaccard",
    "linear_cka",
    "linear_regression_similarity",
    "logit_cosine",
    "mutual_knn",
    "names",
    "permutation_distance",
    "prediction_agreement",
    "procrustes",
    "pwcca",
    "rbf_cka",
    "rdm",
    "repr_distance",
    "repr_distance_bounds",
    "ridge_cv",
    "rsa",
    "streamable",
    "svcca",
]


# Names that moved out of this package (it imports neither the backends nor the progress bars):
# still reachable here, with a DeprecationWarning naming the new home.
_MOVED = {
    "pairwise": "mechequiv.parallel.pairwise",
    "PairwiseMatrix": "mechequiv.parallel.pairwise",
    "pool_tokens": "mechequiv.tokens",
}


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        import importlib
        import warnings

        home = _MOVED[name]
        warnings.warn(
            f"mechequiv.measures.{name} moved to {home}.{name}; import it from there",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(home), name)
    raise AttributeError(f"module 'mechequiv.measures' has no attribute {name!r}")
