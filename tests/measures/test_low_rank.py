"""The exact low-rank factor that makes wide, low-rank representations cheap."""

from __future__ import annotations

import pytest
import torch

from mechequiv import measures
from mechequiv.measures import _linalg


def _low_rank(n: int, d: int, r: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, r, generator=g, dtype=torch.float64) @ torch.randn(
        r, d, generator=g, dtype=torch.float64
    )


@pytest.mark.parametrize("rank", [1, 8, 40])
def test_factor_has_the_same_gram_and_the_rank(rank):
    x = _low_rank(600, 900, rank, 0)
    f = _linalg.low_rank_factor(x)
    assert f.shape == (600, rank)
    torch.testing.assert_close(f @ f.T, x @ x.T, rtol=1e-10, atol=1e-10 * float(x.abs().max()) ** 2)


def test_full_rank_or_small_inputs_are_returned_as_they_are():
    x = torch.randn(700, 600, dtype=torch.float64)
    assert _linalg.low_rank_factor(x) is x
    rank_100 = _low_rank(700, 600, 100, 1)
    assert _linalg.low_rank_factor(rank_100) is rank_100  # more than 64 directions
    small = _low_rank(300, 200, 3, 2)
    assert _linalg.low_rank_factor(small) is small


def test_a_wide_input_too_small_to_sketch_gets_its_row_space_factor():
    wide = _low_rank(300, 2000, 3, 2)
    f = _linalg.low_rank_factor(wide)
    assert f.shape == (300, 300)
    torch.testing.assert_close(f @ f.T, wide @ wide.T, rtol=1e-10, atol=1e-9)


def test_repr_distance_is_unchanged_by_the_factor(monkeypatch):
    x = _low_rank(600, 1000, 6, 3)
    y = x[:, :700] @ torch.randn(700, 800, dtype=torch.float64) / 30 + _low_rank(600, 800, 5, 4)
    fast = measures.repr_distance(x, y)
    fit = measures.bounded_map_error(x, y)
    monkeypatch.setattr(_linalg, "LOW_RANK_MIN_DIM", 10**9)
    assert fast == pytest.approx(measures.repr_distance(x, y), abs=1e-6)
    slow_fit = measures.bounded_map_error(x, y)
    assert fit.error == pytest.approx(slow_fit.error, abs=1e-6)
    assert fit.op_norm == pytest.approx(slow_fit.op_norm, abs=1e-4)


@pytest.mark.parametrize(
    "measure",
    [
        measures.linear_cka,
        measures.procrustes,
        lambda x, y: measures.procrustes(x, y, score="euclidean"),
    ],
)
def test_wide_cka_and_procrustes_are_unchanged_by_the_factor(measure, monkeypatch):
    x = _low_rank(520, 2100, 7, 5) + 3.0  # offset: the factor is taken after centring
    y = torch.cat([x[:, :1000] * 2, _low_rank(520, 1500, 4, 6)], dim=1)
    assert _linalg.reduce_wide(x).shape == (520, 7)
    fast = measure(x, y)
    monkeypatch.setattr(_linalg, "WIDE_DIM", 10**9)
    assert fast == pytest.approx(measure(x, y), rel=1e-9, abs=1e-9)


def test_a_constant_wide_representation_is_still_refused():
    with pytest.raises(ValueError, match="zero variance"):
        measures.linear_cka(torch.ones(600, 2100, dtype=torch.float64), torch.randn(600, 5))


def test_ranks_beyond_64_are_revealed_and_factored_exactly(monkeypatch):
    x = _low_rank(600, 2050, 72, 7) + 5.0  # rank 72: beyond the 64 sketch, within 600 / 8
    mix = torch.randn(1000, 1100, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    y = torch.cat([torch.tanh(x[:, :100] / 30), x[:, 1000:2000] @ mix], dim=1)
    assert _linalg.reduce_wide(x).shape == (600, 72)
    assert _linalg.reduce_wide(y).shape[1] > 75  # beyond the cap: no factor
    fast = [measures.linear_cka(x, y), measures.procrustes(x, y)]
    monkeypatch.setattr(_linalg, "WIDE_DIM", 10**9)
    assert fast == pytest.approx([measures.linear_cka(x, y), measures.procrustes(x, y)], rel=1e-10)


def test_a_full_rank_wide_input_is_not_factored_by_the_sketch():
    x = torch.randn(600, 2100, dtype=torch.float64)
    assert _linalg._sketched_factor(x, 0) is None
