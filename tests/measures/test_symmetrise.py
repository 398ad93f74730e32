"""symmetrise_ (in place, by bands) gives exactly symmetrised's matrix; order_statistics (one
selection per rank, on shrinking prefixes) gives exactly the sorted values; cross_product_into
adds a^T b in place."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mechequiv.measures._linalg import self_product_into, symmetrise_, symmetrised


@pytest.mark.parametrize("n", [1, 2, 63, 64, 65, 130, 257])
@pytest.mark.parametrize("rows", [1, 64, 100])
def test_in_place_bands_equal_symmetrised(n, rows):
    x = torch.from_numpy(np.random.default_rng(n).normal(size=(n, 7)))
    gram = torch.zeros(n, n, dtype=torch.float64)
    self_product_into(gram, x, gram=True)  # lower triangle only, as the callers build it
    # junk above the diagonal: a band the copy missed would keep it
    gram += torch.triu(torch.full((n, n), 5.0, dtype=torch.float64), 1)
    assert n == 1 or bool(gram.tril(-1).abs().sum() > 0)
    expected = symmetrised(gram)
    out = symmetrise_(gram, rows=rows)
    assert out is gram
    assert torch.equal(out, expected)
    assert torch.equal(out, out.T)


def test_float32_in_place():
    a = torch.randn(40, 40)
    expected = symmetrised(a)
    storage = a.data_ptr()
    assert torch.equal(symmetrise_(a, rows=16), expected)
    assert a.data_ptr() == storage


@pytest.mark.parametrize("ks", [[0], [5], [999], [499, 500], [0, 999], [3, 3, 700, 10], [998, 1]])
def test_order_statistics_equal_a_sort(ks):
    from mechequiv.measures._linalg import order_statistics

    rng = np.random.default_rng(len(ks))
    v = np.round(rng.normal(size=1000), 1)  # ties
    expected = [float(x) for x in np.sort(v)[ks]]
    assert order_statistics(torch.from_numpy(v.copy()), ks) == expected
    assert order_statistics(torch.from_numpy(v.copy()).float(), ks) == pytest.approx(expected)


@pytest.mark.parametrize(("n", "d1", "d2"), [(1, 1, 1), (5, 3, 7), (3000, 40, 30), (4096, 128, 64)])
def test_cross_product_into_adds_a_transpose_b_in_place(n, d1, d2):
    from mechequiv.measures._linalg import LARGE_PRODUCT, cross_product_into

    assert (n * d1 * d2 >= LARGE_PRODUCT) == (n == 4096)  # one case on scipy's BLAS

    rng = np.random.default_rng(n)
    a, b = (torch.from_numpy(rng.normal(size=(n, d))) for d in (d1, d2))
    acc = torch.from_numpy(rng.normal(size=(d1, d2)))
    expected = acc + a.T @ b
    storage = acc.data_ptr()
    cross_product_into(acc, a, b)
    assert acc.data_ptr() == storage
    torch.testing.assert_close(acc, expected, rtol=1e-13, atol=1e-12)
    acc32 = torch.zeros(d1, d2)  # off the float64 BLAS route: torch's addmm_
    cross_product_into(acc32, a.float(), b.float())
    torch.testing.assert_close(acc32, (a.T @ b).float(), rtol=1e-4, atol=1e-3)
