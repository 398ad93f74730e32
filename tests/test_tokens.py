"""Token policies for sequence activations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mechequiv import measures as M
from mechequiv.tokens import pool_tokens

X = torch.arange(24.0).reshape(2, 3, 4)
MASK = torch.tensor([[1, 1, 0], [0, 1, 1]])  # right- and left-padded rows


def test_policies_with_padding():
    assert torch.equal(pool_tokens(X, "last", MASK), torch.stack([X[0, 1], X[1, 2]]))
    assert torch.equal(pool_tokens(X, 0, MASK), torch.stack([X[0, 0], X[1, 1]]))
    assert torch.equal(pool_tokens(X, -2, MASK), torch.stack([X[0, 0], X[1, 1]]))
    assert torch.allclose(
        pool_tokens(X, "mean", MASK), torch.stack([X[0, :2].mean(0), X[1, 1:].mean(0)])
    )
    assert pool_tokens(X, "all", MASK).shape == (4, 4)
    assert pool_tokens(X, "concat").shape == (2, 12)
    assert pool_tokens(X.numpy(), "last").shape == (2, 4)


def test_bad_policies():
    with pytest.raises(ValueError, match="unknown token policy"):
        pool_tokens(X, "first")
    with pytest.raises(TypeError, match="token policy"):
        pool_tokens(X, 1.5)
    with pytest.raises(ValueError, match="out of range"):
        pool_tokens(X, 2, MASK)
    with pytest.raises(ValueError, match="needs unpadded"):
        pool_tokens(X, "concat", MASK)
    with pytest.raises(ValueError, match=r"shape \(n, t, d\)"):
        pool_tokens(X[0], "last")
    with pytest.raises(ValueError, match="no valid token"):
        pool_tokens(X, "last", torch.zeros(2, 3))
    with pytest.raises(ValueError, match="mask must have shape"):
        pool_tokens(X, "last", torch.ones(3, 2))


def test_compare_pools_tokens_first():
    rng = np.random.default_rng(0)
    A, B = rng.normal(size=(20, 5, 3)), rng.normal(size=(20, 5, 4))
    out = M.compare(A, B, measures=["linear_cka", "cca"], tokens="mean")
    assert out["linear_cka"] == pytest.approx(M.linear_cka(A.mean(1), B.mean(1)))
    assert set(out) == {"linear_cka", "cca"}
