"""Streaming accumulators equal the in-memory measures, whatever the batching."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from mechequiv import measures as M


@pytest.mark.parametrize("name", M.streamable())
@given(seed=st.integers(0, 10_000), cuts=st.lists(st.integers(1, 119), max_size=6, unique=True))
def test_streaming_equals_in_memory(name, seed, cuts):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(120, 6)) + 5.0
    Y = np.tanh(X @ rng.normal(size=(6, 5))) + 0.2 * rng.normal(size=(120, 5))
    s = M.StreamingMeasure(name)
    edges = [0, *sorted(cuts), 120]
    s.update_all((X[a:b], Y[a:b]) for a, b in itertools.pairwise(edges))
    assert s.n == 120
    assert s.compute() == pytest.approx(M.get(name)(X, Y), abs=1e-9)


def test_streaming_is_stable_under_large_offsets():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 16))
    Y = X @ rng.normal(size=(16, 8)) + rng.normal(size=(2000, 8))
    for debiased in (False, True):
        s = M.StreamingCKA(debiased=debiased)
        for i in range(0, 2000, 64):
            s.update(X[i : i + 64] + 1e6, Y[i : i + 64] - 1e5)
        exact = M.debiased_cka(X, Y) if debiased else M.linear_cka(X, Y)
        assert s.compute() == pytest.approx(exact, abs=1e-8)


def test_streaming_accepts_float32_torch_batches():
    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(300, 5)), rng.normal(size=(300, 7))
    s = M.StreamingMeasure("cca", statistic="mean_rho2")
    for i in range(0, 300, 100):
        s.update(torch.from_numpy(X[i : i + 100]).float(), torch.from_numpy(Y[i : i + 100]).float())
    assert s.compute() == pytest.approx(
        M.cca(X.astype(np.float32), Y.astype(np.float32), statistic="mean_rho2"), abs=1e-10
    )


def test_streaming_errors():
    with pytest.raises(ValueError, match="cannot stream"):
        M.StreamingMeasure("rsa")
    s = M.StreamingCKA()
    with pytest.raises(ValueError, match="no data"):
        s.compute()
    s.update(np.ones((3, 2)) * np.arange(3)[:, None], np.arange(6.0).reshape(3, 2))
    with pytest.raises(ValueError, match="feature sizes"):
        s.update(np.ones((3, 4)), np.ones((3, 2)))
    d = M.StreamingCKA(debiased=True)
    d.update(
        np.random.default_rng(0).normal(size=(3, 2)), np.random.default_rng(1).normal(size=(3, 2))
    )
    with pytest.raises(ValueError, match="n >= 4"):
        d.compute()
