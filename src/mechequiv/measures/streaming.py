"""Streaming measures: exact answers for data that arrives in batches or does not fit in memory.

The moment-based measures are functions of a few float64 cross-product matrices (and, for the
debiased HSIC, row-norm sums) that add up exactly over batches. So unlike minibatch CKA
(Nguyen et al. 2021), whose value depends on the batch size, these accumulators return the same
number as the in-memory function on the concatenated data, whatever the batching.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from mechequiv.measures._cca import cca_from_moments, svcca_from_moments
from mechequiv.measures._moments import CrossMoments
from mechequiv.measures._procrustes import (
    check_matching_size,
    permutation_from_moments,
    procrustes_from_moments,
)
from mechequiv.measures._validate import ArrayLike, safe_arccos
from mechequiv.measures.cka import cka_from_moments

# name -> (needs quartic terms, function of (moments, **options))
_FROM_MOMENTS: dict[str, tuple[bool, Callable[..., float]]] = {
    "linear_cka": (False, lambda m: cka_from_moments(m, debiased=False)),
    "debiased_cka": (True, lambda m: cka_from_moments(m, debiased=True)),
    "angular_cka": (False, lambda m: safe_arccos(cka_from_moments(m, debiased=False))),
    "cca": (False, cca_from_moments),
    "svcca": (False, svcca_from_moments),
    "procrustes": (False, procrustes_from_moments),
    "permutation_distance": (False, permutation_from_moments),
}


def _width(a: ArrayLike) -> int:
    shape: tuple[int, ...] = getattr(a, "shape", ())
    return int(shape[-1]) if len(shape) else 0


def streamable() -> list[str]:
    """Names of the measures :class:`StreamingMeasure` supports."""
    return sorted(_FROM_MOMENTS)


class StreamingMeasure:
    """Accumulate paired batches, then compute a registered measure exactly.

    Parameters
    ----------
    name : str
        One of :func:`streamable` (linear/debiased/angular CKA, CCA, SVCCA, Procrustes,
        permutation distance).
    **options
        Options of that measure (e.g. ``statistic="mean_rho2"`` for ``"cca"``).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X, Y = rng.normal(size=(1000, 8)), rng.normal(size=(1000, 4))
    >>> s = StreamingMeasure("linear_cka")
    >>> for i in range(0, 1000, 128):
    ...     _ = s.update(X[i:i + 128], Y[i:i + 128])
    >>> from mechequiv.measures import linear_cka
    >>> abs(s.compute() - linear_cka(X, Y)) < 1e-12
    True
    """

    def __init__(self, name: str, **options: Any) -> None:
        if name not in _FROM_MOMENTS:
            raise ValueError(
                f"measure {name!r} cannot stream; streamable: {', '.join(streamable())}"
            )
        quartic, self._fn = _FROM_MOMENTS[name]
        self.name = name
        self.options = options
        self._moments = CrossMoments(quartic=quartic)

    @property
    def n(self) -> int:
        """Number of rows accumulated so far."""
        return self._moments.n

    def update(self, X: ArrayLike, Y: ArrayLike) -> StreamingMeasure:
        """Add a batch of paired rows (any batch size, including 1).

        Batches are float64 or float32 (converted block by block) with entries within
        [2^-200, 2^200]; a batch outside that window is refused (no common rescaling is known
        while streaming). A permutation distance beyond its matching limit is refused on the
        first batch, before any d1 x d2 moment is allocated.
        """
        if self.name == "permutation_distance" and self._moments.n == 0:
            check_matching_size(_width(X), _width(Y))
        self._moments.update(X, Y)
        return self

    def update_all(self, batches: Iterable[tuple[ArrayLike, ArrayLike]]) -> StreamingMeasure:
        """Add every (X_batch, Y_batch) pair of an iterable."""
        for x, y in batches:
            self.update(x, y)
        return self

    def compute(self) -> float:
        """The measure on all rows seen so far."""
        return self._fn(self._moments, **self.options)


class StreamingCKA(StreamingMeasure):
    """Exact streaming linear CKA; ``debiased=True`` for Song et al.'s unbiased HSIC."""

    def __init__(self, debiased: bool = False) -> None:
        super().__init__("debiased_cka" if debiased else "linear_cka")
