"""The norm-bounded solver behind repr_distance: its certified bracket holds the optimum, exact
copies come out at rounding level, and it agrees with the previous solver within the certified
tolerance on random and adversarial inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mechequiv import measures as M
from mechequiv.measures.regression import _normalise, _solve_bounded
from tests.measures.bounded_reference import adversarial_inputs, old_solve_bounded


def _problem(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float]:
    xh = _normalise(x.double(), "frobenius", "X")
    yh = _normalise(y.double(), "frobenius", "Y")
    return xh.T @ xh, xh.T @ yh, float((yh * yh).sum())


def _ill_conditioned_float32(seed: int, smallest: float = 1e-5) -> torch.Tensor:
    """float32 activations with a wide spectrum and exactly dependent columns (compiled-like)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(400, 64, generator=g, dtype=torch.float64) * torch.logspace(0, smallest, 64)
    x = x.float()
    return torch.cat([x, x[:, :20] + x[:, 20:40]], 1)


@pytest.mark.parametrize("seed", range(3))
def test_exact_copies_come_out_at_rounding_level(seed):
    x = _ill_conditioned_float32(seed, -5)
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(x.shape[1], x.shape[1], generator=g, dtype=torch.float64))
    rotated = (x.double() @ q).float()
    permuted = 3.0 * x[:, torch.randperm(x.shape[1], generator=g)] - 1.0
    for y in (x.clone(), rotated, permuted):
        b = M.repr_distance_bounds(x, y)
        assert b.upper <= 1e-6 and 0.0 <= b.lower <= b.upper
        assert M.repr_distance(x, y) == b.value
    # the previous solver stopped at its duality gap, tens of times higher
    assert old_solve_bounded(*_problem(x, rotated), 1e-5, 50_000).error > 1e-5


@pytest.mark.parametrize("seed", range(4))
def test_certified_bracket_holds_the_optimum(seed):
    rng = np.random.default_rng(seed)
    n, d1, d2 = [(120, 10, 8), (40, 60, 30), (200, 16, 16), (90, 12, 25)][seed]
    x = rng.normal(size=(n, d1)) * np.logspace(0, -3, d1)
    y = x @ rng.normal(size=(d1, d2)) * 2 + 0.05 * rng.normal(size=(n, d2))
    b = M.repr_distance_bounds(x, y)
    tight = M.repr_distance_bounds(x, y, tol=1e-8, max_iter=200_000)
    # both brackets hold the optimum: each one's lower bound is below the other's attained value
    assert b.lower <= tight.upper + 1e-12 and tight.lower <= b.upper + 1e-12
    assert tight.upper - tight.lower < 0.01 * (b.upper - b.lower) + 1e-9
    assert b.upper - b.lower <= 1e-5 / (2 * b.lower) + 1e-9  # width from the gap's definition


@pytest.mark.parametrize(
    "kind", ["random", "rank_deficient", "n_below_d", "near_constant_columns", "huge_offsets"]
)
def test_agrees_with_the_previous_solver_within_the_certified_tolerance(kind):
    rng = np.random.default_rng(len(kind))
    x, y = adversarial_inputs(kind, rng)
    for a, b in ((x, y), (y, x)):
        args = _problem(torch.as_tensor(a), torch.as_tensor(b))
        old = old_solve_bounded(*args, 1e-5, 50_000)
        new = _solve_bounded(*args, 1e-5, 50_000)
        # each bracket holds the optimum, so each lower bound is below the other's value
        assert new.lower <= old.error + 1e-12 and old.lower <= new.error + 1e-12
        assert new.gap <= 1e-5 * args[2] and new.op_norm <= 1 + 1e-9
