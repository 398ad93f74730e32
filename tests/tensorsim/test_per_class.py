"""Per-output slices localise a change to one output."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from mechequiv.tensorsim import tensor_inner, tensor_similarity
from tests.tensorsim.conftest import random_mlp


def test_changing_one_output_row_moves_only_that_slice():
    a = random_mlp(20, d_out=4, n_layers=2)
    b = copy.deepcopy(a)
    with torch.no_grad():
        b.unembed.weight[2] += torch.randn(3, dtype=torch.float64)
    pc = tensor_similarity(a, b, per_class=True)
    assert pc.shape == (4,)
    np.testing.assert_allclose(np.delete(pc, 2), 1.0, atol=1e-12)
    assert pc[2] < 0.99


def test_total_is_the_norm_weighted_mean_of_slices():
    a, b = random_mlp(21, d_out=3), random_mlp(22, d_out=3)
    r = tensor_inner(a, b)
    assert r.similarity == pytest.approx(r.ab.sum() / np.sqrt(r.aa.sum() * r.bb.sum()))
    np.testing.assert_allclose(r.per_class, r.ab / np.sqrt(r.aa * r.bb))


def test_a_zero_slice_is_nan_not_a_number():
    a = random_mlp(23, d_out=3, n_layers=1, residual=False)
    with torch.no_grad():
        a.unembed.weight[1] = 0.0
    pc = tensor_similarity(a, random_mlp(24, d_out=3, n_layers=1, residual=False), per_class=True)
    assert np.isnan(pc[1]) and np.isfinite(pc[[0, 2]]).all()
    d = tensor_inner(a, a).to_dict()
    assert d["per_class"][1] is None
