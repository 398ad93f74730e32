"""The layer-wise Gram recursion through per-output interaction matrices (cost independent of
the hidden width) against the sum over hidden units, and the choice between them."""

from __future__ import annotations

import numpy as np
import pytest

from mechequiv.tensorsim import gram, tensor_inner, to_tensor_net
from mechequiv.tensorsim.gram import cross_diag, interaction_forms, self_gram
from tests.tensorsim.conftest import random_mlp


@pytest.fixture
def grouping(monkeypatch):
    """Force one grouping of the bilinear steps: "units" or "forms"."""

    def force(which: str) -> None:
        monkeypatch.setattr(gram, "_forms_cheaper", lambda *a: which == "forms")

    return force


@pytest.mark.parametrize("symmetrize", ["layer", "none"])
@pytest.mark.parametrize("n_layers", [1, 2, 3])
@pytest.mark.parametrize("residual", [True, False])
def test_interaction_forms_equal_the_sum_over_units(grouping, symmetrize, n_layers, residual):
    kw = dict(d_in=3, d_model=4, d_hidden=7, d_out=3, n_layers=n_layers, residual=residual,
              bias=True)  # fmt: skip
    a = to_tensor_net(random_mlp(10, **kw))
    b = to_tensor_net(random_mlp(11, **{**kw, "d_model": 5, "d_hidden": 3}))
    values = {}
    for which in ("units", "forms"):
        grouping(which)
        sa, sb = self_gram(a, symmetrize), self_gram(b, symmetrize)
        values[which] = (cross_diag(a, b, sa, sb, symmetrize), sa.diag, sb.diag, sa.log_scale)
    for got, want in zip(values["forms"], values["units"], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-300)


def test_interaction_forms_are_symmetric_and_kept():
    op = to_tensor_net(random_mlp(2, d_hidden=9)).ops[1]
    M = interaction_forms(op, sym=True)
    assert M is interaction_forms(op, sym=True)
    np.testing.assert_allclose(M.numpy(), M.transpose(1, 2).numpy(), rtol=0, atol=0)
    raw = interaction_forms(op, sym=False)
    np.testing.assert_allclose((0.5 * (raw + raw.transpose(1, 2))).numpy(), M.numpy(), atol=1e-15)


def test_wide_layers_take_the_interaction_forms():
    """A wide hidden layer over a narrow stream: the forms are cheaper, and the default
    layer-wise result equals the one by units."""
    kw = dict(d_in=4, d_model=4, d_hidden=512, d_out=3, n_layers=2, residual=True)
    a = to_tensor_net(random_mlp(20, **kw))
    b = to_tensor_net(random_mlp(21, **kw))
    assert gram._forms_cheaper(a.ops[1], b.ops[1], a.ops[0].W)
    narrow = to_tensor_net(random_mlp(22, d_in=30, d_model=30, d_hidden=2, n_layers=2))
    assert not gram._forms_cheaper(narrow.ops[1], narrow.ops[1], narrow.ops[0].W)
    fast = tensor_inner(a, b, symmetrize="layer")
    orig = gram._forms_cheaper
    try:
        gram._forms_cheaper = lambda *x: False
        slow = tensor_inner(to_tensor_net(random_mlp(20, **kw)),
                            to_tensor_net(random_mlp(21, **kw)), symmetrize="layer")  # fmt: skip
    finally:
        gram._forms_cheaper = orig
    assert fast.similarity == pytest.approx(slow.similarity, abs=1e-12)
    np.testing.assert_allclose(fast.per_class, slow.per_class, rtol=1e-12)
