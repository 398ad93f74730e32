"""The #P-hardness reduction of docs/tensorsim_complexity.md, run through the library.

Products of linear forms are built as bilinear networks with the layer protocol (no zoo
class), and the library's exact same-function forms are checked against permanents and
hafnians computed by brute force: this tests the library and the reduction's arithmetic.
"""

from __future__ import annotations

import functools
import itertools
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from mechequiv.errors import MechequivError
from mechequiv.tensorsim import dense as dense_module
from mechequiv.tensorsim import graded as graded_module
from mechequiv.tensorsim import tensor_inner
from mechequiv.tensorsim.dense import COMPLEXITY_DOC
from mechequiv.tensorsim.expand import expand_tensor
from mechequiv.tensorsim.graded import graded_coefficients, product_terms
from mechequiv.tensorsim.layers import BilinearFactors
from mechequiv.tensorsim.network import to_tensor_net
from tests.tensorsim.conftest import random_mlp

ROOT = Path(__file__).resolve().parents[2]
F64 = torch.float64


class Product(nn.Module):
    """A bare bilinear layer read through ``bilinear_factors`` (the protocol, not the zoo)."""

    def __init__(self, factors: BilinearFactors) -> None:
        super().__init__()
        self.factors = factors

    def bilinear_factors(self) -> BilinearFactors:
        return self.factors


def pairwise(width: int, first: torch.Tensor | None = None) -> Product:
    """Multiply neighbouring rows: unit u = (row 2u . x) (row 2u+1 . x)."""
    rows = torch.eye(width, dtype=F64) if first is None else first
    return Product(BilinearFactors(rows[0::2], rows[1::2], torch.eye(width // 2, dtype=F64)))


def product_net(Q: np.ndarray) -> nn.Sequential:
    """``x -> prod_j (q_j . x)`` for the 2^k rows of Q: k bilinear layers of width <= 2^(k-1)."""
    N = Q.shape[0]
    layers = [pairwise(N, torch.as_tensor(Q, dtype=F64))]
    while N > 2:
        N //= 2
        layers.append(pairwise(N))
    return nn.Sequential(*layers)


def padded_product_net(Q: np.ndarray) -> nn.Sequential:
    """``prod_{j<4} (q_j . x)`` times two units equal to the constant 1 (biases): the 4-form
    product written as a 3-layer net, i.e. the degree-8 polynomial ``x0^4 prod_j (q_j . x~)``
    in the padded coordinates ``x~ = [x0; x]`` the library symmetrises over."""
    q = torch.as_tensor(Q, dtype=F64)
    zero = torch.zeros(2, q.shape[1], dtype=F64)
    one = torch.tensor([0.0, 0.0, 1.0, 1.0], dtype=F64)
    first = BilinearFactors(
        torch.cat([q[0::2], zero]), torch.cat([q[1::2], zero]), torch.eye(4, dtype=F64),
        left_bias=one, right_bias=one.clone(),
    )  # fmt: skip
    return nn.Sequential(Product(first), pairwise(4), pairwise(2))


def permanent(A: np.ndarray) -> float:
    n = A.shape[0]
    return float(
        sum(math.prod(A[i, s[i]] for i in range(n)) for s in itertools.permutations(range(n)))
    )


def hafnian(M: np.ndarray) -> float:
    """Sum over perfect matchings of the product of the matched entries (bitmask recursion)."""
    n = M.shape[0]

    @functools.cache
    def haf(mask: int) -> float:
        if mask == 0:
            return 1.0
        i = (mask & -mask).bit_length() - 1  # match the lowest remaining index
        rest = mask & ~(1 << i)
        return sum(float(M[i, j]) * haf(rest & ~(1 << j)) for j in range(n) if rest >> j & 1)

    return haf((1 << n) - 1) if n % 2 == 0 else 0.0


def integer_matrix(seed: int, shape: tuple[int, int]) -> np.ndarray:
    # nonzero small integers: every factor is a nonzero linear form, values stay exact
    return np.random.default_rng(seed).choice([-2.0, -1.0, 1.0, 2.0], shape)


def constant_one(d_in: int) -> nn.Linear:
    one = nn.Linear(d_in, 1).double()
    with torch.no_grad():
        one.weight.zero_()
        one.bias.fill_(1.0)
    return one


@pytest.mark.parametrize("seed", range(4))
def test_depth_two_full_form_is_permanent_over_n_factorial(seed: int) -> None:
    A = integer_matrix(seed, (4, 4))
    f, g = product_net(A), product_net(np.eye(4))  # prod_i (a_i . x) and x_1 x_2 x_3 x_4
    full = tensor_inner(f, g)  # default: fully symmetrised (two-layer tensor route)
    assert not full.scaled  # ab is the inner product itself
    assert full.ab[0] == pytest.approx(permanent(A) / math.factorial(4), rel=1e-12, abs=1e-12)
    gauss = tensor_inner(f, g, form="gaussian")
    assert gauss.ab[0] == pytest.approx(permanent(A), rel=1e-12, abs=1e-12)


def test_depth_three_full_form_is_the_homogenised_bombieri_product() -> None:
    # n = 4 forms padded to degree 8 by constant factors: the exponent of the padding
    # coordinate is 4, so <Sym T_f, Sym T_g> = perm(A) 4! / 8! (not perm(A) / 4!).
    A = integer_matrix(7, (4, 4))
    assert permanent(A) != 0
    f, g = padded_product_net(A), padded_product_net(np.eye(4))
    full = tensor_inner(f, g)  # three bilinear layers: the coefficient route
    expected = permanent(A) * math.factorial(4) / math.factorial(8)
    assert full.ab[0] == pytest.approx(expected, rel=1e-12)
    # the Gaussian form does not see the padding: E[f g] = perm(A)
    assert tensor_inner(f, g, form="gaussian").ab[0] == pytest.approx(permanent(A), rel=1e-12)


def test_depth_two_gaussian_is_the_hafnian_of_all_eight_forms() -> None:
    B, C = integer_matrix(1, (4, 3)), integer_matrix(2, (4, 3))
    forms = np.vstack([B, C])
    r = tensor_inner(product_net(B), product_net(C), form="gaussian")
    assert r.ab[0] == pytest.approx(hafnian(forms @ forms.T), rel=1e-12)


def test_depth_three_gaussian_is_a_hafnian() -> None:
    A = integer_matrix(3, (8, 3))
    f = product_net(A)
    # E[f * 1] = haf(A A^T); the constant model is raised to three layers by the library
    r = tensor_inner(f, constant_one(3), form="gaussian")
    assert r.ab[0] == pytest.approx(hafnian(A @ A.T), rel=1e-12)
    # E[f g] for two 8-form products: the hafnian of all 16 forms' Gram matrix
    C = integer_matrix(4, (8, 3))
    forms = np.vstack([A, C])
    r = tensor_inner(f, product_net(C), form="gaussian")
    assert r.ab[0] == pytest.approx(hafnian(forms @ forms.T), rel=1e-12)


def test_depth_three_forms_are_permanents_of_8_by_8() -> None:
    A = integer_matrix(8, (8, 8))
    assert permanent(A) != 0
    f, g = product_net(A), product_net(np.eye(8))
    full = tensor_inner(f, g)  # graded coefficient route
    assert full.ab[0] == pytest.approx(permanent(A) / math.factorial(8), rel=1e-12)
    gauss = tensor_inner(f, g, form="gaussian")  # Hermite basis on the same coefficients
    assert gauss.ab[0] == pytest.approx(permanent(A), rel=1e-12)


def test_graded_coefficients_equal_the_tree_tensor_grouped_by_monomial() -> None:
    for residual in (True, False):
        net = to_tensor_net(random_mlp(3, n_layers=3, residual=residual, bias=True))
        tree = expand_tensor(net, "none").reshape(net.d_out + 1, -1)[1:].numpy()
        n = net.d_in + 1
        grouped: dict[tuple[int, ...], np.ndarray] = {}
        for flat, legs in enumerate(itertools.product(range(n), repeat=net.degree)):
            key = tuple(np.bincount(legs, minlength=n))
            grouped[key] = grouped.get(key, 0.0) + tree[:, flat]
        alpha, c = graded_coefficients(net)
        assert len(alpha) == len(grouped)
        for row, exponents in enumerate(alpha):
            np.testing.assert_allclose(c[:, row].numpy(), grouped[tuple(exponents)], atol=1e-13)


@pytest.mark.parametrize("form", ["weight", "gaussian"])
def test_hard_instance_is_refused_in_one_line_before_any_work(
    form: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the coefficient route started before the size check")

    monkeypatch.setattr(dense_module, "graded_coefficients", never)
    A = integer_matrix(5, (16, 16))
    f, g = product_net(A), product_net(np.eye(16))  # the permanent of a 16 x 16 matrix
    with pytest.raises(MechequivError) as info:
        tensor_inner(f, g, form=form)
    message = str(info.value)
    assert "\n" not in message
    assert f"exact similarity at this depth is #P-hard ({COMPLEXITY_DOC}); estimated " in message
    # four layers: products of degree-8 polynomials in 17 coordinates
    expected = sum(product_terms(to_tensor_net(m)) for m in (f, g))
    assert f"estimated {expected:.3g} coefficients (products for degree 16" in message
    assert "4 bilinear layers" in message


def test_refusal_counts_astronomical_sizes_readably() -> None:
    A = integer_matrix(6, (2**10, 3))
    with pytest.raises(MechequivError, match=r"#P-hard .*estimated 10\^\d+\.\d coefficients"):
        tensor_inner(product_net(A), product_net(A))


def test_complexity_doc_exists_and_is_linked() -> None:
    doc = (ROOT / COMPLEXITY_DOC).read_text()
    assert "#P-hard" in doc and "perm" in doc and "haf" in doc
    assert COMPLEXITY_DOC in (ROOT / "README.md").read_text()


def test_size_check_names_its_forms() -> None:
    net = to_tensor_net(product_net(integer_matrix(0, (8, 3))))
    dense_module.check_dense_fits(net, net, "gaussian")  # 4^8 entries, 165 monomials: fits
    with pytest.raises(ValueError, match="form must be one of"):
        dense_module.check_dense_fits(net, net, "layer")


def test_gaussian_with_a_given_covariance_is_the_hafnian_of_any_graph() -> None:
    # E_{x ~ N(0, S)}[x_1 x_2 x_3 x_4] = haf(S), and haf ignores the diagonal: S = M + 4 I
    # (positive definite, rational) gives the number of perfect matchings of the graph M.
    M = np.array([[0, 1, 1, 1], [1, 0, 1, 0], [1, 1, 0, 1], [1, 0, 1, 0]], dtype=float)
    assert hafnian(M) == 2.0  # {12, 34} and {14, 23} (0-based: {01, 23}, {03, 12})
    S = M + 4.0 * np.eye(4)
    r = tensor_inner(product_net(np.eye(4)), constant_one(4), form="gaussian", cov=S)
    assert r.ab[0] == pytest.approx(2.0, rel=1e-12)


def test_graded_products_do_not_depend_on_the_block_size(monkeypatch: pytest.MonkeyPatch) -> None:
    net = to_tensor_net(random_mlp(4, n_layers=3, bias=True))
    whole = graded_coefficients(net)[1]
    for chunk in (7, 300):  # blocks of a few monomials of one unit; several units per block
        monkeypatch.setattr(graded_module, "_CHUNK", chunk)
        again = graded_coefficients(net)[1]
        np.testing.assert_allclose(again.numpy(), whole.numpy(), rtol=0, atol=1e-13)
