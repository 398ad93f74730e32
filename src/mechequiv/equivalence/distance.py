"""Representation distances for Congruity: the paper's norm-bounded distance, the ridge estimator
of the authors' code, mechequiv's nested cross-validated ridge, or any registered measure.

What the paper and the authors' code do (Sun & Toneva, ICLR 2026; github.com/alansun17904/
interp-equiv). The paper defines d_repr as the max over both directions of the best fit by a
linear map of operator norm at most 1 (``"repr_distance"`` here). The code does not enforce the
norm bound: it scores one direction, anchor -> other, with scikit-learn's ``RidgeCV`` (alphas
0.1, 1, 10, one alpha for all targets chosen by efficient leave-one-out, intercept fitted) on one
random 90/10 train/test split, and takes the held-out R^2 averaged uniformly over the target's
columns (the IOI script reports sqrt(max(R^2, 0)) as a similarity; the toy script compares raw
R^2 values, which orders pairs the same way). ``"ridge_authors"`` is that estimator;
``"ridge_cv"`` is mechequiv's own (nested 5-fold, penalty grid relative to the data's scale,
variance-weighted R^2), a different estimator.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from mechequiv import measures
from mechequiv.validation import check_pair

# A distance returns a float, or a CertifiedDistance (value and a bracket known to hold the exact
# distance), which Congruity uses to call a comparison a tie when the brackets overlap.
Distance = Callable[[Any, Any], "float | measures.CertifiedDistance"]

AUTHORS_ALPHAS = (0.1, 1.0, 10.0)  # scikit-learn RidgeCV's default grid, as the authors use it


def ridge_cv_distance(X: Any, Y: Any, folds: int = 5, seed: int = 0) -> float:
    """1 - sqrt(max(R^2, 0)) with mechequiv's nested cross-validated ridge R^2 (one direction:
    anchor -> other; :func:`mechequiv.measures.ridge_cv`). Not the authors' estimator: see
    :func:`ridge_authors_distance`."""
    r2 = measures.ridge_cv(X, Y, folds=folds, seed=seed).r2
    result: float = 1.0 - max(r2, 0.0) ** 0.5
    return result


def ridge_distance(X: Any, Y: Any, folds: int = 5, seed: int = 0) -> float:
    """Deprecated name of :func:`ridge_cv_distance` (it never was the authors' estimator)."""
    warnings.warn(
        "ridge_distance / distance='ridge' is mechequiv's nested ridge, not the authors' "
        "estimator: use ridge_cv_distance / 'ridge_cv', or 'ridge_authors' for theirs",
        DeprecationWarning,
        stacklevel=2,
    )
    return ridge_cv_distance(X, Y, folds, seed)


def authors_split(n: int, seed: int, test_fraction: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) row indices of scikit-learn's ``train_test_split(test_size=0.1,
    random_state=seed)``: a permutation from ``RandomState(seed)``, the first ceil(0.1 n) rows
    held out."""
    n_test = math.ceil(test_fraction * n)
    perm = np.random.RandomState(seed).permutation(n)
    return perm[n_test:], perm[:n_test]


def ridge_authors_r2(
    X: Any, Y: Any, seed: int = 0, alphas: tuple[float, ...] = AUTHORS_ALPHAS
) -> float:
    """Held-out R^2 of the authors' ridge map from X (anchor) to Y.

    One 90/10 split (:func:`authors_split`); on the training rows, ridge with a fitted,
    unpenalised intercept and one absolute penalty alpha for all targets, chosen from ``alphas``
    by the exact leave-one-out squared error summed over rows and targets (what ``RidgeCV``'s
    efficient LOO does; the first alpha wins a tie); R^2 on the held-out rows per target column
    (1 - SSE / SS around the held-out mean; a constant held-out column scores 1 if predicted
    exactly, else 0), averaged uniformly over columns. float64 throughout.
    """
    xt, yt = check_pair(X, Y, names=("source", "target"))
    x, y = xt.cpu().numpy(), yt.cpu().numpy()
    n = x.shape[0]
    if n < 20:
        raise ValueError(f"the authors' 90/10 split needs at least 20 samples; got {n}")
    if not alphas or min(alphas) <= 0:
        raise ValueError("alphas must be a non-empty sequence of positive numbers")
    train, test = authors_split(n, seed)
    xtr, ytr = x[train], y[train]
    mx, my = xtr.mean(0), ytr.mean(0)
    u, s, vt = np.linalg.svd(xtr - mx, full_matrices=False)
    uy = u.T @ (ytr - my)
    best, best_loss = None, np.inf
    for alpha in alphas:
        shrink = s**2 / (s**2 + alpha)
        fitted = u @ (shrink[:, None] * uy)
        hat = (u**2) @ shrink + 1.0 / len(train)  # leverage, intercept included
        loss = float(((((ytr - my) - fitted) / (1.0 - hat)[:, None]) ** 2).sum())
        if loss < best_loss:
            best, best_loss = alpha, loss
    coef = vt.T @ ((s / (s**2 + best))[:, None] * uy)
    pred = (x[test] - mx) @ coef + my
    sse = ((y[test] - pred) ** 2).sum(0)
    sst = ((y[test] - y[test].mean(0)) ** 2).sum(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_column = np.where(sst > 0, 1.0 - sse / sst, np.where(sse == 0, 1.0, 0.0))
    return float(per_column.mean())


def ridge_authors_distance(X: Any, Y: Any, seed: int = 0) -> float:
    """1 - sqrt(max(R^2, 0)) of :func:`ridge_authors_r2`: one minus the authors' similarity
    (their IOI script's sqrt(max(R^2, 0))), one direction (anchor -> other)."""
    result: float = 1.0 - max(ridge_authors_r2(X, Y, seed), 0.0) ** 0.5
    return result


def resolve_distance(distance: str | Distance) -> tuple[str, Distance]:
    """A (name, callable) pair. Names: ``"repr_distance"`` (default; the callable returns a
    :class:`~mechequiv.measures.CertifiedDistance`), ``"ridge_authors"``, ``"ridge_cv"``
    (``"ridge"`` is its deprecated alias), or any registered measure; similarities s become
    distances 1 - s."""
    if callable(distance):
        return getattr(distance, "__name__", "custom"), distance
    if distance == "ridge":
        warnings.warn(
            "distance='ridge' is mechequiv's nested ridge ('ridge_cv'), not the authors' "
            "estimator ('ridge_authors'); the alias will be removed",
            DeprecationWarning,
            stacklevel=3,
        )
        return "ridge_cv", ridge_cv_distance
    if distance == "ridge_cv":
        return "ridge_cv", ridge_cv_distance
    if distance == "ridge_authors":
        return "ridge_authors", ridge_authors_distance
    if distance == "repr_distance":  # the same values, with their certified brackets
        return distance, measures.repr_distance_bounds
    info = measures.get(distance)
    if info.functional:
        raise ValueError(f"{distance!r} compares outputs, not representations")
    if info.kind == "distance":
        return distance, info.fn
    return f"1 - {distance}", lambda X, Y: 1.0 - info.fn(X, Y)


__all__ = [
    "AUTHORS_ALPHAS",
    "Distance",
    "authors_split",
    "resolve_distance",
    "ridge_authors_distance",
    "ridge_authors_r2",
    "ridge_cv_distance",
    "ridge_distance",
]
