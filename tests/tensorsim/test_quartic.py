"""The packed symmetric quartics (the "tensor" route): entries against the explicit
symmetrised 4-tensor, the orderings' weights, batching, the memory budget, and the Gaussian
form's degree split."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mechequiv.tensorsim import to_tensor_net
from mechequiv.tensorsim.dense import dense_full_inner, reduce_inputs
from mechequiv.tensorsim.fullsym import TwoLayerNet, full_pair, quartic_pair
from mechequiv.tensorsim.gaussian import gaussian_pair
from mechequiv.tensorsim.quartic import (
    QuarticBudget,
    block_entries,
    pack_pairs,
    quartic_chunks,
    quartic_count,
    quartic_plan,
)
from tests.tensorsim.conftest import random_mlp


def _explicit(E: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Sym(sum_r sigma_r E_r (x) E_r) over all 24 leg orders, as a dense n^4 array."""
    T = np.einsum("r,rab,rcd->abcd", sigma, E, E)
    perms = list(itertools.permutations(range(4)))
    return sum(T.transpose(p) for p in perms) / len(perms)


def _random_squares(seed: int, n: int, m: int, d_out: int, ranks: list[int]):
    g = torch.Generator().manual_seed(seed)
    Y = torch.randn(m, n, n, generator=g, dtype=torch.float64)
    Y = Y + Y.transpose(1, 2)
    squares = [
        (torch.randn(r, generator=g, dtype=torch.float64),
         torch.randn(m, r, generator=g, dtype=torch.float64))
        for r in ranks
    ]  # fmt: skip
    assert len(squares) == d_out
    return Y, squares


@pytest.mark.parametrize("n", [1, 2, 5, 20])
def test_packed_entries_equal_the_explicit_symmetrised_tensor(n):
    """Every sorted entry, at sizes with one chunk and (n = 20) several, and ranks that
    differ between outputs (padding with zero weights)."""
    m, ranks = 4, [3, 1, 0]
    Y, squares = _random_squares(n, n, m, len(ranks), ranks)
    plan = quartic_plan(n, "cpu")
    if n == 20:
        assert len(plan.chunks) > 1
    i0, i1 = pack_pairs(n, Y.device)
    for ks, P in quartic_chunks(Y[:, i0, i1], squares, plan):
        for j, k in enumerate(range(ks.start, ks.stop)):
            sigma, e = squares[k]
            E = torch.einsum("mr,mij->rij", e, Y).numpy()
            want = _explicit(E, sigma.numpy())
            sorted_entries = [want[q] for q in itertools.combinations_with_replacement(range(n), 4)]
            np.testing.assert_allclose(P[:, j].numpy(), sorted_entries, rtol=0, atol=1e-12 * max(1.0, np.abs(want).max()))  # fmt: skip


@pytest.mark.parametrize("n", [1, 3, 7, 33])
def test_weights_count_every_index_tuple_once(n):
    plan = quartic_plan(n, "cpu")
    w = plan.weights
    assert w.shape == (quartic_count(n),)
    assert float(w.sum()) == n**4
    # The quadruples starting (0, 0) come first: (0,0,0,0) has one ordering, (0,0,0,1) four.
    assert float(w[0]) == 1.0
    if n > 1:
        assert float(w[1]) == 4.0
    assert sum(c.q1 - c.q0 for c in plan.chunks) == quartic_count(n)
    assert block_entries(n) <= (n * (n + 1) // 2) ** 2


def test_batches_of_any_size_give_the_same_quartics():
    Y, squares = _random_squares(1, 6, 5, 7, [5, 4, 5, 2, 5, 1, 3])
    plan = quartic_plan(6, "cpu")
    i0, i1 = pack_pairs(6, Y.device)
    whole = torch.cat([P for _, P in quartic_chunks(Y[:, i0, i1], squares, plan)], 1)
    for batch in (1, 3):
        parts = torch.cat([P for _, P in quartic_chunks(Y[:, i0, i1], squares, plan, batch)], 1)
        torch.testing.assert_close(parts, whole, rtol=0, atol=1e-13)


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    d_in=st.integers(1, 5),
    d_model=st.integers(1, 5),
    d_hidden=st.integers(1, 6),
    residual=st.booleans(),
    bias=st.booleans(),
)
def test_tensor_route_equals_brute_force(seed, d_in, d_model, d_hidden, residual, bias):
    """Two independent models (first maps of full or deficient rank, projected onto each
    other's row space): the tensor route against the polynomial coefficients."""
    a = to_tensor_net(random_mlp(seed, d_in, d_model, d_hidden, 2, 2, residual, bias))
    b = to_tensor_net(random_mlp(seed + 1, d_in, d_model + 1, d_hidden, 2, 2, residual, bias))
    ab, aa, bb = dense_full_inner(*reduce_inputs(a, b))
    scale = max(np.abs(aa).max(), np.abs(bb).max(), 1e-300)
    pa, pb = TwoLayerNet(a), TwoLayerNet(b)
    for x, y, want in ((pa, pb, ab), (pb, pa, ab), (pa, pa, aa), (pb, pb, bb)):
        np.testing.assert_allclose(full_pair(x, y, "tensor"), want, rtol=0, atol=1e-12 * scale)


def test_gaussian_degree_split_from_one_set_of_quartics():
    """The Gaussian tensor route reads degrees 4 and 3 off the same packed quartics as the
    full form: with all-ones weights they give the full form, and the Gaussian value equals
    the units route's."""
    kw = dict(d_in=3, d_model=3, d_hidden=5, d_out=3, n_layers=2, residual=True, bias=True)
    a = to_tensor_net(random_mlp(3, **kw))
    b = to_tensor_net(random_mlp(4, **kw))
    pa, pb = TwoLayerNet(a), TwoLayerNet(b)
    np.testing.assert_allclose(quartic_pair(pa, pb).numpy(), full_pair(pa, pb, "units"), rtol=1e-12)
    np.testing.assert_allclose(
        gaussian_pair(a, b, "tensor"), gaussian_pair(a, b, "units"), rtol=1e-12
    )


class _Owner:
    def __init__(self) -> None:
        self.dropped = False

    def drop_quartics(self) -> None:
        self.dropped = True


def test_budget_drops_the_least_recently_used():
    budget = QuarticBudget(100)
    x, y, z = _Owner(), _Owner(), _Owner()
    cpu = torch.device("cpu")
    assert budget.admit(x, 40, cpu) and budget.admit(y, 40, cpu)
    budget.touch(x)  # y is now the least recently used
    assert budget.admit(z, 40, cpu)
    assert y.dropped and not x.dropped
    assert not budget.admit(_Owner(), 101, cpu)  # larger than the whole budget: not kept
    del z  # a dead owner frees its share
    assert budget.admit(_Owner(), 60, cpu) and not x.dropped


def test_engine_budget_bounds_what_many_nets_keep():
    """Pairs among nets whose quartics cannot all be kept still give the values of a fresh
    computation (dropped quartics are formed again)."""
    kw = dict(d_in=4, d_model=4, d_hidden=6, d_out=3, n_layers=2, residual=False, bias=True)
    nets = [to_tensor_net(random_mlp(s, **kw)) for s in range(3)]
    one = quartic_count(5) * 3
    budget = QuarticBudget(one)  # room for one net's quartics
    prepared = [TwoLayerNet(n, budget) for n in nets]
    for i, j in itertools.product(range(3), repeat=2):
        got = full_pair(prepared[i], prepared[j], "tensor")
        want = full_pair(TwoLayerNet(nets[i]), TwoLayerNet(nets[j]), "units")
        np.testing.assert_allclose(got, want, rtol=1e-12)
        assert sum(p.quartics_cached for p in prepared) <= 1


def test_time_estimate_scales_with_the_work():
    """The estimate behind the route choice and the refusal: forming a model's quartics grows
    like r n^4 / 8 (rank r ~ n)."""
    small, big = block_entries(17), block_entries(33)
    assert 8 < big / small < 2**4 * 1.5
    assert math.isclose(block_entries(5000), 5000**4 // 8)


def test_skip_paths_keep_only_their_live_quartics():
    """A residual net's skip path only touches the constant coordinate in its first layer's
    forms: its packed quartics stop after the first chunk, and its pairs (with the whole net,
    with itself, with another net) equal the squares route's over many chunks."""
    kw = dict(d_in=20, d_model=20, d_hidden=8, d_out=2, n_layers=2, residual=True, bias=True)
    a = to_tensor_net(random_mlp(30, **kw))
    b = to_tensor_net(random_mlp(31, **kw))
    plan = quartic_plan(21, "cpu")
    assert len(plan.chunks) > 2
    pa, pb, sa = TwoLayerNet(a), TwoLayerNet(b), TwoLayerNet(a.skip_net())
    for x, y in ((pa, sa), (sa, pa), (sa, sa), (pb, sa), (pa, pb)):
        np.testing.assert_allclose(
            full_pair(x, y, "tensor"), full_pair(x, y, "squares"), rtol=1e-12, atol=1e-14
        )
    assert sa.quartics_cached and sa._quartics.shape[0] == plan.chunks[0].q1
    assert pa._quartics.shape[0] == quartic_count(21)


def test_gpu_sizes_give_the_same_values(monkeypatch):
    """The GPU's chunk, batch, gather-cache and dot sizes (run here on the CPU through the
    same code) change only how the work is cut, not the values."""
    from mechequiv.tensorsim import quartic

    kw = dict(d_in=20, d_model=20, d_hidden=8, d_out=5, n_layers=2, residual=True, bias=True)
    a = to_tensor_net(random_mlp(40, **kw))
    b = to_tensor_net(random_mlp(41, **kw))
    want = full_pair(TwoLayerNet(a), TwoLayerNet(b), "tensor")
    want_g = gaussian_pair(a, b, "tensor")
    quartic.quartic_plan.cache_clear()
    monkeypatch.setattr(quartic, "_sizes", lambda device: quartic.CUDA_SIZES)
    try:
        plan = quartic.quartic_plan(21, "cpu")
        assert len(plan.chunks) < len(quartic._layout(21)) and plan.batch(21, 5) == 5
        np.testing.assert_allclose(full_pair(TwoLayerNet(a), TwoLayerNet(b), "tensor"), want,
                                   rtol=1e-13)  # fmt: skip
        np.testing.assert_allclose(gaussian_pair(a, b, "tensor"), want_g, rtol=1e-13)
    finally:
        quartic.quartic_plan.cache_clear()
