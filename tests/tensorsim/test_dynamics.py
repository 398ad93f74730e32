"""similarity_over_training, phases, plots and the baselines on checkpoints."""

from __future__ import annotations

import json

import matplotlib.figure
import numpy as np
import pytest
import torch

from mechequiv.measures import linear_cka, prediction_agreement
from mechequiv.measures.functional import logit_cosine
from mechequiv.tensorsim import tensor_similarity
from mechequiv.tensorsim.baselines import baseline_matrices, output_baselines, weight_cosine
from mechequiv.tensorsim.dynamics import block_means, segment_phases, similarity_over_training
from mechequiv.tensorsim.training import Checkpoint
from tests.tensorsim.conftest import random_mlp


@pytest.fixture
def checkpoints() -> list[Checkpoint]:
    return [Checkpoint(10 * i, random_mlp(i, n_layers=1).state_dict()) for i in range(4)]


@pytest.mark.parametrize("symmetrize", ["layer", "none"])
def test_matrix_matches_pairwise_similarity(checkpoints, symmetrize):
    r = similarity_over_training(checkpoints, per_class=True, symmetrize=symmetrize, residual=True)
    assert r.steps == (0, 10, 20, 30)
    np.testing.assert_allclose(r.matrix, r.matrix.T)
    np.testing.assert_allclose(np.diag(r.matrix), 1.0)
    for i, j in [(0, 1), (2, 3), (1, 3)]:
        a, b = checkpoints[i].state, checkpoints[j].state
        want = tensor_similarity(a, b, symmetrize=symmetrize, residual=True)
        assert r.matrix[i, j] == pytest.approx(want)
        want = tensor_similarity(a, b, per_class=True, symmetrize=symmetrize, residual=True)
        np.testing.assert_allclose(r.per_class[i, j], want, rtol=1e-10)


def test_gaussian_form_and_plain_models(checkpoints):
    models = [random_mlp(i, n_layers=1) for i in range(3)]
    r = similarity_over_training(models, form="gaussian", steps=[5, 6, 7])
    assert r.matrix[0, 2] == pytest.approx(tensor_similarity(models[0], models[2], form="gaussian"))
    assert r.steps == (5, 6, 7) and r.per_class is None


def test_to_dict_is_json_and_plot_is_a_figure(checkpoints, tmp_path):
    r = similarity_over_training(checkpoints, per_class=True, residual=True)
    d = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    assert len(d["matrix"]) == 4 and d["steps"] == [0, 10, 20, 30]
    back = type(r).from_dict(d)
    np.testing.assert_allclose(back.matrix, r.matrix)
    np.testing.assert_allclose(back.block_matrix, r.block_matrix)
    assert back.steps == r.steps and back.symmetrize == "full"
    fig = r.plot(tmp_path / "m.png", marks=[2], curves={"acc": [0.1, 0.2, 0.3, 0.4]})
    assert isinstance(fig, matplotlib.figure.Figure)
    assert (tmp_path / "m.png").stat().st_size > 0
    assert "n=4" in repr(r)


def test_bad_checkpoint_lists(checkpoints):
    with pytest.raises(ValueError, match="no checkpoints"):
        similarity_over_training([])
    with pytest.raises(ValueError, match="2 step labels for 4 checkpoints"):
        similarity_over_training(checkpoints, steps=[0, 1])
    with pytest.raises(ValueError, match="input widths differ"):
        similarity_over_training([checkpoints[0], random_mlp(0, n_layers=1, d_in=4)], residual=True)
    with pytest.raises(ValueError, match="pass residual=True or residual=False"):
        similarity_over_training(checkpoints)


def test_segment_phases_recovers_planted_blocks():
    sizes = [3, 5, 2, 4]
    labels = np.repeat(np.arange(4), sizes)
    rng = np.random.default_rng(0)
    m = np.where(labels[:, None] == labels[None, :], 0.9, 0.2) + 0.02 * rng.normal(size=(14, 14))
    m = (m + m.T) / 2
    assert segment_phases(m, 4) == (3, 8, 10)
    assert segment_phases(m, 1) == ()
    means = block_means(m, [3, 8, 10])
    assert means.shape == (4, 4) and np.all(np.diag(means) > 0.85) and means[0, 1] < 0.3
    with pytest.raises(ValueError, match="n_phases"):
        segment_phases(m, 15)
    with pytest.raises(ValueError, match="square"):
        segment_phases(m[:3], 2)


def test_baselines_agree_with_the_measures(checkpoints):
    x = torch.randn(50, 3, dtype=torch.float64)
    mats = baseline_matrices(checkpoints, x, residual=True)
    assert set(mats) == {"weight_cosine", "logit_cosine", "cka", "agreement"}
    models = [random_mlp(i, n_layers=1) for i in range(4)]
    la, lb = models[0](x).detach(), models[2](x).detach()
    assert mats["cka"][0, 2] == pytest.approx(linear_cka(la, lb))
    assert mats["logit_cosine"][0, 2] == pytest.approx(logit_cosine(la, lb))
    assert mats["agreement"][0, 2] == pytest.approx(prediction_agreement(la, lb))
    wa = torch.cat([p.reshape(-1) for _, p in sorted(models[0].state_dict().items())])
    wb = torch.cat([p.reshape(-1) for _, p in sorted(models[2].state_dict().items())])
    want = float(wa @ wb / (wa.norm() * wb.norm()))
    assert mats["weight_cosine"][0, 2] == pytest.approx(want)
    assert weight_cosine(models[0], models[2]) == pytest.approx(want)
    ob = output_baselines(models[0], models[0], x)
    assert (ob.logit_cosine, ob.cka, ob.agreement) == pytest.approx((1.0, 1.0, 1.0))
    assert json.dumps(ob.to_dict())


def test_weight_cosine_is_not_invariant_but_tensor_similarity_is():
    from tests.tensorsim.conftest import change_basis

    m = random_mlp(0, d_model=4)
    other = change_basis(m, 1)
    assert tensor_similarity(m, other) == pytest.approx(1.0, abs=1e-9)
    assert weight_cosine(m, other) < 0.99


def test_zero_slices_become_none_in_json():
    ckpts = [random_mlp(i, d_out=3, n_layers=1, residual=False) for i in range(2)]
    with torch.no_grad():
        ckpts[0].unembed.weight[1] = 0.0
    r = similarity_over_training(ckpts, per_class=True)
    assert np.isnan(r.per_class[0, 1, 1]) and np.isnan(r.per_class[0, 0, 1])
    d = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    assert d["per_class"][0][1][1] is None and d["per_class"][1][1][1] == pytest.approx(1.0)
