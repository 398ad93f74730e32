"""Bad input gets a clear error."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from mechequiv.errors import MechequivError
from mechequiv.tensorsim import tensor_inner, tensor_similarity, to_tensor_net
from mechequiv.tensorsim.baselines import weight_cosine
from mechequiv.tensorsim.expand import expand
from mechequiv.zoo.models._bilinear import Bilinear, BilinearMLP
from tests.tensorsim.conftest import random_mlp


def test_relu_inside_is_refused_by_name():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    with pytest.raises(MechequivError, match=r"1 \(ReLU\) is not tensor-based"):
        tensor_similarity(model, model)


def test_nonlinearity_inside_a_block_is_refused_by_name():
    m = BilinearMLP(3, 3, 4, 2, n_layers=2)
    m.blocks[1].act = nn.GELU()
    with pytest.raises(MechequivError, match=r"blocks\.1\.act \(GELU\)"):
        to_tensor_net(m)
    m2 = BilinearMLP(3, 3, 4, 2, n_layers=1)
    m2.blocks[0] = nn.Sequential(Bilinear(3, 4, 3), nn.Softmax(-1))
    with pytest.raises(MechequivError, match=r"blocks\.0 \(Sequential\)"):
        to_tensor_net(m2)
    m3 = Bilinear(3, 4, 2)
    m3.L = nn.Sequential(nn.Linear(3, 4), nn.Tanh())
    with pytest.raises(TypeError, match=r"L must be nn\.Linear"):
        to_tensor_net(m3)


def test_layer_norm_is_refused():
    with pytest.raises(MechequivError, match=r"0 \(LayerNorm\)"):
        to_tensor_net(nn.Sequential(nn.LayerNorm(3), nn.Linear(3, 2)))


def test_mismatched_dimensions():
    a, b = random_mlp(0, d_in=3), random_mlp(1, d_in=4)
    with pytest.raises(ValueError, match="input widths differ: model_a takes 3, model_b takes 4"):
        tensor_similarity(a, b)
    c = random_mlp(2, d_out=3)
    with pytest.raises(ValueError, match="output widths differ"):
        tensor_similarity(a, c)
    with pytest.raises(ValueError, match="layer 1 expects width 5 but layer 0 outputs 4"):
        to_tensor_net(nn.Sequential(nn.Linear(3, 4), nn.Linear(5, 2)))
    with pytest.raises(ValueError, match="expected inputs of shape"):
        to_tensor_net(a).forward(np.zeros((2, 5)))


def test_different_depths_and_bad_options():
    a, b = random_mlp(0, n_layers=1), random_mlp(1, n_layers=2)
    with pytest.raises(ValueError, match="1 and 2 bilinear layers"):
        tensor_similarity(a, b, symmetrize="layer")
    with pytest.raises(ValueError, match="symmetrize must be one of"):
        tensor_similarity(a, a, symmetrize="all")
    with pytest.raises(ValueError, match="form must be one of"):
        tensor_similarity(a, a, form="data")


def test_intractable_requests():
    # 3 layers on 17 coordinates: ~5e8 products of degree-4 coefficients per model
    deep = random_mlp(0, d_in=16, d_model=16, d_hidden=4, n_layers=3)
    with pytest.raises(MechequivError, match="use symmetrize='layer'"):
        tensor_similarity(deep, deep, symmetrize="full")
    with pytest.raises(MechequivError, match="entries"):
        expand(to_tensor_net(deep))
    # 64 outputs of full rank 257 on 257 input coordinates: ~10^13 multiply-adds by the
    # fastest route, far beyond the time limit (refused before any of it is computed).
    wide = random_mlp(0, d_in=256, d_model=256, d_hidden=256, d_out=64, n_layers=2)
    with pytest.raises(MechequivError, match="fully symmetrised form of two bilinear layers needs"):
        tensor_similarity(wide, wide, symmetrize="full")
    with pytest.raises(MechequivError, match="exact Gaussian form of two bilinear layers needs"):
        tensor_similarity(wide, wide, form="gaussian")
    with pytest.raises(MechequivError, match=r"Gaussian form of 3 bilinear layers.*too large"):
        tensor_similarity(deep, deep, form="gaussian")
    with pytest.raises(MechequivError, match=r"#P-hard.*estimated 10\^"):
        tensor_similarity(*(random_mlp(s, n_layers=10) for s in (0, 1)))
    assert tensor_similarity(deep, deep, symmetrize="layer") == pytest.approx(1.0)


def test_wrong_kinds_and_zero_models():
    with pytest.raises(TypeError, match=r"expected an nn\.Module"):
        tensor_similarity(np.zeros((3, 3)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="must be a Bilinear's"):
        tensor_similarity({"w": torch.zeros(2)}, {"w": torch.zeros(2)})
    sd = random_mlp(0).state_dict()
    sd["blocks.0.extra"] = torch.zeros(1)
    with pytest.raises(MechequivError, match="not part of a BilinearMLP"):
        to_tensor_net(sd)
    bad = {
        "L.weight": torch.zeros(4, 3),
        "R.weight": torch.zeros(5, 3),
        "D.weight": torch.zeros(2, 4),
    }
    with pytest.raises(ValueError, match="bilinear factors disagree"):
        to_tensor_net(bad, residual=False)
    zero = random_mlp(0, residual=False)
    with torch.no_grad():
        zero.unembed.weight.zero_()
    with pytest.raises(ValueError, match="model_a has a zero tensor"):
        tensor_inner(zero, random_mlp(1, residual=False))
    with pytest.raises(ValueError, match="no linear or bilinear layer"):
        to_tensor_net(nn.Identity())


def test_weight_cosine_errors():
    a, b = random_mlp(0), random_mlp(1, bias=True)
    with pytest.raises(ValueError, match="parameter names differ"):
        weight_cosine(a, b)
    with pytest.raises(ValueError, match="shapes differ"):
        weight_cosine(a, random_mlp(1, d_hidden=5))
    with pytest.raises(TypeError, match=r"expected an nn\.Module or a state dict"):
        weight_cosine([1], [2])
