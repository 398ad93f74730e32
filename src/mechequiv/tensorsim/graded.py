"""Monomial coefficients of a tensor net, multiplying its units' polynomials degree by degree.

After ``j`` bilinear layers every padded activation is a homogeneous polynomial of degree
``d = 2^j`` in ``x~ = [x0; x]`` (``x0 = 1``), stored as its coefficients over the
``M_d = C(n + d - 1, d)`` monomials of degree ``d`` in the ``n`` padded coordinates. A linear map
mixes the rows; a bilinear unit multiplies two such polynomials: every pair of monomials lands
on the monomial of the summed exponents. Cost: ``sum over bilinear layers of units * M_d^2``
multiply-adds (``d``: the degree of the layer's inputs), the last layer dominating, against
``units * n^(2d)`` for the tree tensor (:func:`~mechequiv.tensorsim.expand.expand_tensor`);
memory ``O(width * M_N)``. Exact like the tree (same sums, regrouped); float64.
"""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np
import torch

from mechequiv.tensorsim.network import BilinearOp, LinearOp, TensorNet

__all__ = [
    "code_bits",
    "graded_coefficients",
    "graded_monomials",
    "hermite_weights",
    "product_terms",
    "to_hermite",
]

_CHUNK = 4_000_000  # entries of one block of pairwise products (32 MB in float64)


@functools.lru_cache(maxsize=16)
def graded_monomials(n: int, d: int) -> np.ndarray:
    """Exponents (M_d, n) of the monomials of degree ``d`` in ``n`` coordinates; for ``d = 1``
    row ``i`` is coordinate ``i`` (so a linear map's rows are already its coefficients)."""
    combos = np.array(list(itertools.combinations_with_replacement(range(n), d)), dtype=np.int64)
    alpha = np.zeros((len(combos), n), dtype=np.int64)
    rows = np.arange(len(combos))
    for leg in range(d):
        alpha[rows, combos[:, leg]] += 1
    alpha.setflags(write=False)
    return alpha


def code_bits(n: int, degree: int) -> float:
    """Bits of the integer codes that index monomials up to ``degree`` (must stay < 63)."""
    return n * math.log2(degree + 1)


def _codes(alpha: np.ndarray, base: int) -> np.ndarray:
    # additive: code(a + b) = code(a) + code(b) while every exponent stays below base
    result: np.ndarray = alpha @ (base ** np.arange(alpha.shape[1], dtype=np.int64))
    return result


@functools.lru_cache(maxsize=8)
def _product_codes(n: int, d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Codes of the degree-d monomials, sorted codes of the degree-2d ones and their order:
    the degree-2d monomial of a product of monomials i and j is
    ``order[searchsorted(sorted, low[i] + low[j])]`` (looked up block by block, so no
    ``M_d x M_d`` table is ever held)."""
    base = 2 * d + 1
    low, high = _codes(graded_monomials(n, d), base), _codes(graded_monomials(n, 2 * d), base)
    order = np.argsort(high)
    return low, high[order], order


@functools.lru_cache(maxsize=4)
def _whole_index(n: int, d: int) -> np.ndarray:
    """The product table in one piece, kept for small degrees (at most ``_CHUNK`` entries)."""
    low, high_sorted, order = _product_codes(n, d)
    table: np.ndarray = order[np.searchsorted(high_sorted, low[:, None] + low[None, :])]
    return table.reshape(-1)


def _multiply(A: torch.Tensor, B: torch.Tensor, n: int, d: int) -> torch.Tensor:
    """Row-wise products of degree-d polynomials (coefficients A, B: (units, M_d))."""
    low, high_sorted, order = _product_codes(n, d)
    m_d = A.shape[1]
    out = A.new_zeros((A.shape[0], len(high_sorted)))
    cols = max(1, _CHUNK // m_d)  # monomials of A per block
    rows = max(1, _CHUNK // (min(cols, m_d) * m_d))  # units per block
    for c in range(0, m_d, cols):
        if cols >= m_d:  # one block: the cached table
            block = _whole_index(n, d)
        else:
            block = order[np.searchsorted(high_sorted, low[c : c + cols, None] + low[None, :])]
        index = torch.as_tensor(block.reshape(-1), device=A.device)
        for r in range(0, A.shape[0], rows):
            outer = A[r : r + rows, c : c + cols, None] * B[r : r + rows, None, :]
            out[r : r + rows].index_add_(1, index, outer.reshape(outer.shape[0], -1))
    return out


def product_terms(net: TensorNet, n: int | None = None) -> int:
    """Multiply-adds of :func:`graded_coefficients` for ``net`` (``n``: padded input width)."""
    n = net.d_in + 1 if n is None else n
    terms, d = 0, 1
    for op in net.ops:
        if isinstance(op, BilinearOp):
            terms += op.L.shape[0] * math.comb(n + d - 1, d) ** 2
            d *= 2
    return terms


def graded_coefficients(net: TensorNet) -> tuple[np.ndarray, torch.Tensor]:
    """``(alpha, c)``: exponents (M_N, n) over the padded coordinates and coefficients
    (d_out, M_N) of the net's homogeneous polynomial of degree ``N = net.degree`` (outputs
    1..; float64 on the net's device). Callers bound the size first (:func:`product_terms`,
    :func:`code_bits`)."""
    n = net.d_in + 1
    first = net.ops[0]
    assert isinstance(first, LinearOp)  # a canonical chain starts with a linear map
    H, d = first.W, 1  # rows: padded activations, columns: monomials of degree d
    for op in net.ops[1:]:
        if isinstance(op, LinearOp):
            H = op.W @ H
            continue
        H = op.D @ _multiply(op.L @ H, op.R @ H, n, d)
        d *= 2
    return graded_monomials(n, d), H[1:]


def to_hermite(alpha: np.ndarray, c: torch.Tensor) -> torch.Tensor:
    """Coefficients ``c`` (rows: outputs) over the monomials ``alpha`` of one degree ``N`` in
    ``[x0; x]`` rewritten in the probabilists' Hermite basis of the random coordinates 1..
    (``x0`` = 1 is a constant: a monomial ``x0^a0 x^b`` stands for ``x^b``, and ``He_g`` is
    stored at the exponents ``(N - |g|, g)``, so the same list indexes both bases).

    Per coordinate, ``x^k = sum_i k! / (2^i i! (k - 2i)!) He_(k-2i)``; the passes act on
    different coordinates and commute. Cost ``O(n M N / 2)`` for ``M`` monomials. Then for
    ``x ~ N(0, I)``: ``E[f g] = sum_b b! h_b h'_b`` (:func:`hermite_weights`).
    """
    n, N = alpha.shape[1], int(alpha[0].sum())
    base = (N + 1) ** np.arange(n, dtype=np.int64)
    codes = alpha @ base
    order = np.argsort(codes)
    h = c.clone()
    for coord in range(1, n):
        k = alpha[:, coord]
        new = h.clone()
        for i in range(1, int(k.max()) // 2 + 1):
            rows = np.nonzero(k >= 2 * i)[0]
            target = codes[rows] - 2 * i * base[coord] + 2 * i * base[0]
            index = order[np.searchsorted(codes[order], target)]
            weight = _hermite_table(N, i)[k[rows]]
            w = torch.as_tensor(weight, dtype=h.dtype, device=h.device)
            new.index_add_(1, torch.as_tensor(index, device=h.device), h[:, rows] * w)
        h = new
    return h


@functools.lru_cache(maxsize=64)
def _hermite_table(N: int, i: int) -> np.ndarray:
    """``k! / (2^i i! (k - 2i)!)`` for k = 0..N (0 where k < 2i): the coefficient of
    ``He_(k-2i)`` in ``x^k``."""
    table = np.zeros(N + 1)
    for k in range(2 * i, N + 1):
        table[k] = math.factorial(k) / (2**i * math.factorial(i) * math.factorial(k - 2 * i))
    table.setflags(write=False)
    return table


def hermite_weights(alpha: np.ndarray) -> np.ndarray:
    """``b! = prod_(i >= 1) alpha_i!``: ``E[He_b(x) He_b'(x)] = b! [b = b']`` for N(0, I)."""
    f = np.vectorize(math.factorial, otypes=[float])
    result: np.ndarray = f(alpha[:, 1:]).prod(1)
    return result
