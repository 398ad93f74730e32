"""The interior-point path of the norm-bounded solver: it agrees with the previous FISTA solver
(exact secular dual bounds) to 1e-12 where both are run to a tight duality gap (random and adversarial inputs), certifies
within a bounded number of Newton steps, and the FISTA fallback still certifies the same value."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import mechequiv.measures.regression as regression
from mechequiv.measures.regression import _normalise, _solve_bounded
from tests.measures.bounded_reference import adversarial_inputs, previous_solve_bounded


def _problem(x: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, float]:
    xh = _normalise(torch.as_tensor(x, dtype=torch.float64), "frobenius", "X")
    yh = _normalise(torch.as_tensor(y, dtype=torch.float64), "frobenius", "Y")
    return xh.T @ xh, xh.T @ yh, float((yh * yh).sum())


def _inputs(kind: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    return adversarial_inputs(kind, np.random.default_rng(seed))


KINDS = [
    "random",
    "rank_deficient",
    "n_below_d",
    "near_constant_columns",
    "huge_offsets",
    "steep_spectrum",
]


@pytest.mark.parametrize("kind", ["random", "rank_deficient", "n_below_d", "near_constant_columns"])
def test_agrees_with_the_previous_solver_to_1e12_when_both_converge_tightly(kind):
    x, y = _inputs(kind, len(kind))
    for a, b in ((x, y), (y, x)):
        args = _problem(a, b)
        new = _solve_bounded(*args, 1e-13, 200_000)
        old = previous_solve_bounded(*args, 1e-13, 200_000)
        assert abs(new.error - old.error) <= 1e-12
        assert new.gap <= 1e-13 * args[2] and new.op_norm <= 1 + 1e-12


@pytest.mark.parametrize(("kind", "old_tol"), [("huge_offsets", 1e-10), ("steep_spectrum", 1e-9)])
def test_lies_in_the_previous_solvers_bracket_where_that_one_stalls(kind, old_tol):
    # the previous solver's certificate stalls near 1e-10 here (tens of thousands of FISTA
    # iterations); the interior point certifies 1e-13 and its value lies in the old bracket
    x, y = _inputs(kind, len(kind))
    for a, b in ((x, y), (y, x)):
        args = _problem(a, b)
        new = _solve_bounded(*args, 1e-13, 200_000)
        old = previous_solve_bounded(*args, old_tol, 200_000)
        assert new.gap <= 1e-13 * args[2] and new.iterations <= 100
        assert old.lower - 1e-12 <= new.error <= old.error + 1e-12
        assert new.error - new.lower <= 1e-12


@pytest.mark.parametrize("kind", KINDS)
def test_certifies_the_default_tolerance_in_few_newton_steps(kind):
    x, y = _inputs(kind, 100 + len(kind))
    for a, b in ((x, y), (y, x)):
        args = _problem(a, b)
        fit = _solve_bounded(*args, 1e-5, 50_000)
        # Newton steps only (at most 200 before the FISTA fallback would start)
        assert fit.iterations <= 60 and fit.gap <= 1e-5 * args[2]


def test_fista_fallback_certifies_the_same_value(monkeypatch):
    x, y = _inputs("steep_spectrum", 7)
    args = _problem(x, y)
    ipm = _solve_bounded(*args, 1e-7, 200_000)
    monkeypatch.setattr(regression, "_interior_point", lambda *a: 100)
    fista = _solve_bounded(*args, 1e-7, 200_000)
    assert fista.iterations > 60  # the fallback ran
    assert ipm.lower <= fista.error + 1e-12 and fista.lower <= ipm.error + 1e-12


def test_interior_point_on_a_congruity_shaped_problem():
    # a 3481 x 128-like shape, scaled down: wide spectrum, a map of norm above 1
    g = torch.Generator().manual_seed(0)
    x = torch.randn(600, 48, generator=g, dtype=torch.float64) * torch.arange(1, 49) ** -1.5
    y = x @ (torch.randn(48, 48, generator=g, dtype=torch.float64) * 0.5)
    y = y + 0.05 * torch.randn(600, 48, generator=g, dtype=torch.float64) * y.std()
    args = _problem(x.numpy(), y.numpy())
    tight = _solve_bounded(*args, 1e-12, 200_000)
    fit = _solve_bounded(*args, 1e-5, 50_000)
    assert 0 < fit.iterations <= 60
    assert fit.lower <= tight.error + 1e-12 and tight.lower <= fit.error + 1e-12
    assert tight.error - tight.lower < 1e-9
