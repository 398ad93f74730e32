"""A float64 input whose head is centred within one standard deviation is accumulated with a
zero pivot (no centring pass); values still agree with the two-pass formulas to 1e-12, on both
sides of the switch and where the head is unrepresentative of the rest."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mechequiv import measures as M
from mechequiv.measures._linalg import BLOCK_ELEMENTS
from mechequiv.measures._moments import CrossMoments, _pivot


def _two_pass(x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    xc, yc = x - x.mean(0), y - y.mean(0)
    hxy = np.linalg.norm(xc.T @ yc) ** 2
    cka = float(hxy / (np.linalg.norm(xc.T @ xc) * np.linalg.norm(yc.T @ yc)))
    return cka, xc.T @ xc, xc.T @ yc


def test_pivot_is_zero_only_for_a_centred_float64_head():
    rng = np.random.default_rng(0)
    head = torch.from_numpy(rng.normal(size=(500, 6)))
    assert not bool(_pivot(head).any())
    shifted = head.clone()
    shifted[:, 2] += 3.0  # one column's mean beyond its sd: the head mean is the pivot
    assert torch.allclose(_pivot(shifted), shifted.mean(0), rtol=0, atol=1e-14)
    assert torch.allclose(_pivot(head.float()), head.float().double().mean(0), atol=1e-7)
    constant = torch.full((10, 3), 2.0, dtype=torch.float64)
    assert torch.equal(_pivot(constant), constant.mean(0))


@pytest.mark.parametrize(
    "offset",
    [0.0, 0.99, 1.01, 1e3],  # mean/sd of every column just below, just above the switch
)
def test_moments_match_the_two_pass_formula_around_the_switch(offset):
    rng = np.random.default_rng(1)
    n, d = 3 * BLOCK_ELEMENTS // 16, 16  # three blocks
    z = rng.normal(size=(n, d))
    z = (z - z.mean(0)) / z.std(0)  # exact unit sd, zero mean: offset is mean / sd
    x = z * np.logspace(0, -3, d) + offset * np.logspace(0, -3, d)
    y = np.tanh(z @ rng.normal(size=(d, d))) + 0.3 * rng.normal(size=(n, d)) - offset
    cka, cxx, cxy = _two_pass(x, y)
    assert M.linear_cka(x, y) == pytest.approx(cka, abs=1e-12)
    m = CrossMoments()
    for i in range(0, n, n // 5):  # streamed in batches: the first batch sets the pivot
        m.update(x[i : i + n // 5], y[i : i + n // 5])
    assert bool(m._cx.any()) == (offset > 1.0)  # which side of the switch the case is on
    got_xx, got_xy, _ = m.centred()
    scale = np.abs(cxx).max()
    assert np.abs(got_xx.numpy() - cxx).max() <= 1e-12 * scale
    assert np.abs(got_xy.numpy() - cxy).max() <= 1e-12 * np.abs(cxy).max()


def test_unrepresentative_centred_head_then_a_far_offset():
    # the head passes the test (pivot 0) but most rows sit far away: same accuracy as the
    # head-mean pivot, which would have been ~0 as well
    rng = np.random.default_rng(2)
    d = 8
    head = BLOCK_ELEMENTS // d
    x = rng.normal(size=(4 * head, d))
    x[head:] = 1e4 + 1e-2 * x[head:]
    y = x @ rng.normal(size=(d, d)) + rng.normal(size=(4 * head, d))
    assert M.linear_cka(x, y) == pytest.approx(_two_pass(x, y)[0], abs=1e-12)
    assert M.debiased_cka(x, y) == pytest.approx(M.debiased_cka(x - x.mean(0), y), abs=1e-12)


def test_non_contiguous_float64_input_is_copied_not_misread():
    rng = np.random.default_rng(3)
    x = np.asfortranarray(rng.normal(size=(3000, 12)))
    y = rng.normal(size=(12, 3000)).T  # transposed view
    y = y + x[:, :1]
    assert M.linear_cka(x, y) == pytest.approx(_two_pass(x, y)[0], abs=1e-12)


@pytest.mark.parametrize("offset", [0.0, 1e6])
def test_frobenius_terms_from_lower_triangles_match_the_full_matrices(offset):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(5000, 33)) + offset
    y = x[:, :20] @ rng.normal(size=(20, 21)) + rng.normal(size=(5000, 21))
    m = CrossMoments()
    m.update(x[:1700], y[:1700]).update(x[1700:], y[1700:])
    cxx, cxy, cyy = m.centred()
    full = [float((c * c).sum()) for c in (cxx, cxy, cyy)]
    assert m.centred_frobenius() == pytest.approx(full, rel=1e-13)
    _, ref_xx, ref_xy = _two_pass(x, y)
    assert m.centred_frobenius()[:2] == pytest.approx(
        [np.linalg.norm(ref_xx) ** 2, np.linalg.norm(ref_xy) ** 2], rel=1e-11
    )
    with pytest.raises(ValueError, match="no data"):
        CrossMoments().centred_frobenius()
    with pytest.raises(ValueError, match="auto=False"):
        CrossMoments(auto=False).update(x, y).centred_frobenius()
