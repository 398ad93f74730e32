"""Exact forms of any depth through the polynomial's monomial coefficients (small models).

A net with ``k`` bilinear layers is a homogeneous polynomial of degree ``N = 2^k`` in the
padded input ``x~ = [1; x]``. Grouping the entries of its (tree) tensor by their sorted index
gives the monomial coefficients ``c_alpha`` (``alpha``: how often each padded coordinate
occurs, ``|alpha| = N``), which determine the function. From them, exactly:

* the fully symmetrised inner product: ``<Sym T_a, Sym T_b> = sum_alpha c_alpha c'_alpha /
  mult(alpha)``, ``mult(alpha) = N! / prod_i alpha_i!`` (each coefficient is spread evenly over
  the ``mult`` entries of the symmetric tensor);
* the Gaussian form ``E[p_a(x) p_b(x)]`` for ``x ~ N(0, I)`` (coordinate 0 is the constant):
  ``sum_b b! h_b h'_b`` over the coefficients ``h`` in the probabilists' Hermite basis of the
  random coordinates (:func:`~mechequiv.tensorsim.graded.to_hermite`).

Cost: the coefficients are built by multiplying the units' polynomials degree by degree
(:mod:`~mechequiv.tensorsim.graded`): ``sum over bilinear layers of units * M_d^2``
multiply-adds, ``M_d = C(n + d - 1, d)`` monomials of the layer's input degree ``d`` (``n``:
padded input width after :func:`reduce_inputs`, which rewrites both nets on the joint row
space of their first maps), against ``units * n^(2d)`` for the tree tensor; then ``O(d_out M)``
for the symmetrised form and ``O(n M N / 2 + d_out M)`` for the Gaussian form (the change to
the Hermite basis), ``M = M_N``. Refused beyond ``MAX_PRODUCT_TERMS`` multiply-adds,
before any work, with one line saying why and how large (:func:`check_dense_fits`). It is the
exact engine beyond two bilinear layers: polynomial in the width for a fixed depth, but
exponential in the degree, and no algorithm polynomial in the depth can exist unless
FP = #P (both forms compute matrix permanents; proof in ``docs/tensorsim_complexity.md``).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from mechequiv.errors import MechequivError
from mechequiv.tensorsim.graded import (
    code_bits,
    graded_coefficients,
    hermite_weights,
    product_terms,
    to_hermite,
)
from mechequiv.tensorsim.network import LinearOp, TensorNet

__all__ = [
    "COMPLEXITY_DOC",
    "MAX_PRODUCT_TERMS",
    "check_dense_fits",
    "dense_full_inner",
    "dense_full_pair",
    "dense_gaussian_inner",
    "monomial_coefficients",
    "monomials",
    "reduce_inputs",
]

MAX_PRODUCT_TERMS = 300_000_000  # multiply-adds of the graded products (about a second, one core)
COMPLEXITY_DOC = "docs/tensorsim_complexity.md"
"""Where the #P-hardness of the same-function forms beyond two layers is proved."""


def _count(log10_n: float) -> str:
    """A count given by its log10, readable however large (``4.3e+07``, ``10^308.3``)."""
    return f"{10**log10_n:.3g}" if log10_n < 15 else f"10^{log10_n:.1f}"


_REFUSED = {
    "full": ("fully symmetrised form", "symmetrize='layer' (fast, but not a same-function test)"),
    "gaussian": ("exact Gaussian form", "symmetrize='layer' or gaussian_inner_monte_carlo"),
}


def check_dense_fits(a: TensorNet, b: TensorNet, form: str) -> None:
    """Refuse, before any work and in one line, a pair the coefficient route cannot hold.

    The estimate is the work of the route: the multiply-adds of the graded products of both
    nets (:func:`~mechequiv.tensorsim.graded.product_terms`; ``n``: padded input width of the
    nets as given, reduce them first), which bound the ``C(n + N - 1, N)`` monomials of the
    result too. ``form``: "full" (fully symmetrised) or "gaussian", for the message.
    """
    if form not in _REFUSED:
        raise ValueError(f"form must be one of {tuple(_REFUSED)}; got {form!r}")
    n, N = max(a.d_in, b.d_in) + 1, max(a.degree, b.degree)
    terms = product_terms(a, n) + product_terms(b, n)
    if terms > MAX_PRODUCT_TERMS:
        count = terms
        what = f"products for degree {N} in {n} coordinates; limit {MAX_PRODUCT_TERMS:.3g}"
    elif code_bits(n, N) >= 62:
        count, what = (
            math.comb(n + N - 1, N),
            f"monomials of degree {N} in {n} coordinates: too many to index",
        )
    else:
        return
    form_name, alternative = _REFUSED[form]
    raise MechequivError(
        f"the {form_name} of {max(a.n_bilinear, b.n_bilinear)} bilinear layers is too large "
        f"here: exact similarity at this depth is #P-hard ({COMPLEXITY_DOC}); estimated "
        f"{_count(math.log10(count))} coefficients ({what}); use {alternative}"
    )


def _first_linear(net: TensorNet) -> torch.Tensor:
    op = net.ops[0]
    assert isinstance(op, LinearOp)  # a canonical chain starts with a linear map
    return op.W


def reduce_inputs(a: TensorNet, b: TensorNet) -> tuple[TensorNet, TensorNet]:
    """Both nets rewritten on ``r`` input coordinates, ``r`` = rank of their stacked first
    linear maps (without the constant column), by an orthonormal basis ``Q`` of that row space.

    The function of ``x`` becomes a function of ``Q x``; the Frobenius form of the symmetric
    tensors and the ``N(0, I)`` form are unchanged (``Q`` is an isometry on the part of the
    input either net reads, and ``Q x ~ N(0, I_r)``).
    """
    Wa, Wb = _first_linear(a), _first_linear(b).to(a.device)
    stacked = torch.cat([Wa[1:, 1:], Wb[1:, 1:]])
    _, s, vt = torch.linalg.svd(stacked, full_matrices=False)
    tol = max(stacked.shape) * np.finfo(float).eps * (float(s[0]) if s.numel() else 0.0)
    Q = vt[: int((s > tol).sum())]

    def rewrite(net: TensorNet, W: torch.Tensor) -> TensorNet:
        W2 = torch.cat([W[:, :1], W[:, 1:] @ Q.T], dim=1)
        return TensorNet((LinearOp(W2), *net.ops[1:]), Q.shape[0], net.d_out)

    return rewrite(a, Wa), rewrite(b, Wb)


def monomials(net: TensorNet) -> tuple[np.ndarray, np.ndarray]:
    """``(alpha, c)``: exponents (n_mono, n) over the padded coordinates and coefficients
    (d_out, n_mono) of the net's homogeneous polynomial (outputs 1..)."""
    alpha, c = monomial_coefficients(net)
    return alpha, c.cpu().numpy()


def monomial_coefficients(net: TensorNet) -> tuple[np.ndarray, torch.Tensor]:
    """:func:`monomials` with the coefficients a float64 tensor on the net's device (the
    exponents, index bookkeeping, stay a host array). Refused beyond the limits of
    :func:`check_dense_fits`."""
    check_dense_fits(net, net, "full")
    return graded_coefficients(net)


def _multiplicity(alpha: np.ndarray) -> np.ndarray:
    f = np.vectorize(math.factorial, otypes=[float])
    result: np.ndarray = f(alpha.sum(1)) / f(alpha).prod(1)
    return result


def _check_same_degree(a: TensorNet, b: TensorNet) -> None:
    if a.degree != b.degree or a.d_in != b.d_in:
        raise ValueError(f"the nets have degrees {a.degree}, {b.degree}; raise them to one first")


def dense_full_inner(a: TensorNet, b: TensorNet) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-output (ab, aa, bb) Frobenius inner products of the fully symmetrised tensors."""
    _check_same_degree(a, b)
    (alpha, A), (al_b, B) = monomial_coefficients(a), monomial_coefficients(b)
    # one input width and degree: both are listed over the same monomials, in the same order
    assert al_b is alpha or np.array_equal(al_b, alpha)
    w = torch.as_tensor(1.0 / _multiplicity(alpha), device=A.device)
    parts = torch.stack([(A * B * w).sum(1), (A * A * w).sum(1), (B * B * w).sum(1)])
    ab, aa, bb = parts.cpu().numpy()
    return ab, aa, bb


def dense_full_pair(a: TensorNet, b: TensorNet) -> np.ndarray:
    """Per-output Frobenius inner products of the fully symmetrised tensors (refused in one
    line, before any work, where the coefficients would not fit: :func:`check_dense_fits`)."""
    check_dense_fits(a, b, "full")
    return dense_full_inner(a, b)[0]


def dense_gaussian_inner(a: TensorNet, b: TensorNet) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-output ``E[f_a f_b]``, ``E[f_a^2]``, ``E[f_b^2]`` for ``x ~ N(0, I)``: the
    coefficients in the Hermite basis, weighted by ``b!`` (:func:`~mechequiv.tensorsim.graded.to_hermite`)."""
    _check_same_degree(a, b)
    (alpha, ca), (al_b, cb) = monomial_coefficients(a), monomial_coefficients(b)
    assert al_b is alpha or np.array_equal(al_b, alpha)  # one width and degree: one list
    A, B = to_hermite(alpha, ca), to_hermite(alpha, cb)
    w = torch.as_tensor(hermite_weights(alpha), device=A.device)
    parts = torch.stack([(A * B * w).sum(1), (A * A * w).sum(1), (B * B * w).sum(1)])
    ab, aa, bb = parts.cpu().numpy()
    return ab, aa, bb
