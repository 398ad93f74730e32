"""Independent references for tensor similarity, shared by the tests and the benchmark."""

from __future__ import annotations

from typing import Any

import numpy as np


def cubature(a: Any, b: Any, mean: np.ndarray, cov: np.ndarray, points: int) -> np.ndarray:
    """E[f_a,k f_b,k] per output k under x ~ N(mean, cov), by a tensor Gauss-Hermite rule with
    ``points`` nodes per coordinate (exact for polynomials of degree <= 2 points - 1 in each
    coordinate; points^d nodes). ``a``, ``b``: anything with ``forward(x) -> (n, outputs)``."""
    t, w = np.polynomial.hermite_e.hermegauss(points)
    w = w / np.sqrt(2 * np.pi)
    d = mean.shape[0]
    grid = np.stack(np.meshgrid(*([t] * d), indexing="ij"), -1).reshape(-1, d)
    weight = np.prod(np.stack(np.meshgrid(*([w] * d), indexing="ij"), -1).reshape(-1, d), 1)
    lam, U = np.linalg.eigh(cov)
    x = mean + grid @ (U * np.sqrt(np.clip(lam, 0, None))).T
    return (weight[:, None] * a.forward(x) * b.forward(x)).sum(0)
