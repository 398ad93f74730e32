"""Representation distances for Congruity: the paper's norm-bounded distance, its code's ridge
variant, or any registered measure."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mechequiv import measures

Distance = Callable[[Any, Any], float]


def ridge_distance(X: Any, Y: Any, folds: int = 5, seed: int = 0) -> float:
    """1 - sqrt(max(R^2, 0)) of ridge-predicting Y from X (one direction: anchor -> other).

    The public code of Sun & Toneva scores similarity as sqrt(max(R^2_test, 0)) of a RidgeCV map
    from the anchor's representation; here R^2 is mechequiv's nested cross-validated ridge R^2
    (:func:`mechequiv.measures.ridge_cv`), and the distance is one minus that similarity.
    """
    r2 = measures.ridge_cv(X, Y, folds=folds, seed=seed).r2
    return 1.0 - max(r2, 0.0) ** 0.5


def resolve_distance(distance: str | Distance) -> tuple[str, Distance]:
    """A (name, callable) pair. Names: ``"repr_distance"`` (default), ``"ridge"``, or any
    registered measure; similarities s become distances 1 - s."""
    if callable(distance):
        return getattr(distance, "__name__", "custom"), distance
    if distance == "ridge":
        return "ridge", ridge_distance
    info = measures.get(distance)
    if info.functional:
        raise ValueError(f"{distance!r} compares outputs, not representations")
    if info.kind == "distance":
        return distance, info.fn
    return f"1 - {distance}", lambda X, Y: 1.0 - info.fn(X, Y)
