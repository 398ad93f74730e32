"""The default answers "same function?"; skip-path share and block-only similarity; state dicts
must say whether they are residual."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from mechequiv.tensorsim import TensorInner, tensor_inner, tensor_similarity, to_tensor_net
from mechequiv.tensorsim.expand import expand
from mechequiv.zoo.models._bilinear import Bilinear, BilinearMLP
from tests.tensorsim.conftest import random_mlp


def _quadratic_two_ways(seed: int, d: int = 3, m: int = 3, k: int = 2):
    """f_k(x) = sum_j C[k, j] (u_j . x)(v_j . x), computed (A) in layer 1 then passed through
    layer 2 (times a bias of 1), and (B) with layer 1 passing u_j . x and v_j . x through (times
    1) and layer 2 multiplying them."""
    g = torch.Generator().manual_seed(seed)
    U, V = (torch.randn(m, d, generator=g, dtype=torch.float64) for _ in range(2))
    C = torch.randn(k, m, generator=g, dtype=torch.float64)
    a1, a2 = Bilinear(d, m, m, bias=True).double(), Bilinear(m, k, k, bias=True).double()
    b1, b2 = Bilinear(d, 2 * m, 2 * m, bias=True).double(), Bilinear(2 * m, m, k, bias=True)
    b2 = b2.double()
    with torch.no_grad():
        for p in (*a1.parameters(), *a2.parameters(), *b1.parameters(), *b2.parameters()):
            p.zero_()
        a1.L.weight.copy_(U), a1.R.weight.copy_(V), a1.D.weight.copy_(torch.eye(m))
        a2.L.weight.copy_(C), a2.R.bias.fill_(1.0), a2.D.weight.copy_(torch.eye(k))
        b1.L.weight.copy_(torch.cat([U, V])), b1.R.bias.fill_(1.0)
        b1.D.weight.copy_(torch.eye(2 * m))
        b2.L.weight.copy_(torch.eye(m, 2 * m)), b2.R.weight[:, m:].copy_(torch.eye(m))
        b2.D.weight.copy_(C)
    return nn.Sequential(a1, a2), nn.Sequential(b1, b2)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_same_function_quadratic_in_layer_one_or_two(seed):
    a, b = _quadratic_two_ways(seed)
    x = torch.randn(7, 3, dtype=torch.float64)
    torch.testing.assert_close(a(x), b(x))
    assert tensor_similarity(a, b) == pytest.approx(1.0, abs=1e-12)  # the default
    assert tensor_similarity(a, b, form="gaussian") == pytest.approx(1.0, abs=1e-12)
    assert tensor_similarity(a, b, per_class=True) == pytest.approx([1.0, 1.0], abs=1e-12)
    layer = tensor_similarity(a, b, symmetrize="layer")
    assert layer < 0.95  # the layer-wise form does not see the equality


def test_depth_one_and_two_with_the_same_function_score_one():
    torch.manual_seed(0)
    block = Bilinear(3, 4, 2, bias=True).double()
    # An identity bilinear layer x -> x * 1 on top (L = I, R = 0 with bias 1, D = I).
    ident = Bilinear(2, 2, 2, bias=True).double()
    with torch.no_grad():
        for p in ident.parameters():
            p.zero_()
        (
            ident.L.weight.copy_(torch.eye(2)),
            ident.R.bias.fill_(1.0),
            ident.D.weight.copy_(torch.eye(2)),
        )
    deeper = nn.Sequential(block, ident)
    x = torch.randn(4, 3, dtype=torch.float64)
    torch.testing.assert_close(block(x), deeper(x))
    assert tensor_similarity(block, deeper) == pytest.approx(1.0, abs=1e-12)
    assert tensor_similarity(block, deeper, form="gaussian") == pytest.approx(1.0, abs=1e-12)
    with pytest.raises(ValueError, match="1 and 2 bilinear layers"):
        tensor_similarity(block, deeper, symmetrize="layer")


def _shared_skip_pair() -> tuple[BilinearMLP, BilinearMLP]:
    torch.manual_seed(0)
    a = BilinearMLP(8, 16, 32, 4, n_layers=2, residual=True).double()
    b = BilinearMLP(8, 16, 32, 4, n_layers=2, residual=True).double()
    with torch.no_grad():  # shared embedding and unembedding, unrelated blocks
        b.embed.weight.copy_(a.embed.weight)
        b.unembed.weight.copy_(a.unembed.weight)
    return a, b


def test_skip_path_dominates_and_block_similarity_exposes_it():
    a, b = _shared_skip_pair()
    for symmetrize in ("full", "layer"):
        r = tensor_inner(a, b, symmetrize=symmetrize)
        assert r.skip_share_a > 0.9 and r.skip_share_b > 0.9
        assert r.similarity > 0.98  # dominated by the shared identity path (0.994 full)
        assert abs(r.block_similarity) < 0.5  # the blocks are unrelated (0.25 full)
    same = tensor_inner(a, a)
    assert same.block_similarity == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("symmetrize", ["layer", "none"])
@pytest.mark.parametrize("bias", [True, False])
def test_block_similarity_is_the_cosine_of_whole_minus_skip_tensors(symmetrize, bias):
    nets = [to_tensor_net(random_mlp(s, n_layers=2, bias=bias)) for s in (40, 41)]
    r = tensor_inner(*nets, symmetrize=symmetrize)
    blocks = [expand(n, symmetrize) - expand(n.skip_net(), symmetrize) for n in nets]
    ta, tb = (t.reshape(t.shape[0], -1)[1:] for t in blocks)
    want = (ta * tb).sum() / np.sqrt((ta * ta).sum() * (tb * tb).sum())
    assert r.block_similarity == pytest.approx(want, rel=1e-9)
    whole = [expand(n, symmetrize).reshape(3, -1)[1:] for n in nets]
    skip = [expand(n.skip_net(), symmetrize).reshape(3, -1)[1:] for n in nets]
    assert r.skip_share_a == pytest.approx((skip[0] ** 2).sum() / (whole[0] ** 2).sum(), rel=1e-9)


def test_non_residual_models_have_no_skip_path():
    a, b = random_mlp(1, residual=False), random_mlp(2, residual=False)
    r = tensor_inner(a, b)
    assert r.skip_share_a == 0.0 and r.skip_share_b == 0.0
    assert r.block_similarity == pytest.approx(r.similarity, rel=1e-12)


def test_result_round_trips_through_json():
    r = tensor_inner(random_mlp(1, d_out=3), random_mlp(2, d_out=3))
    d = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    back = TensorInner.from_dict(d)
    assert back.similarity == r.similarity and back.block_similarity == r.block_similarity
    np.testing.assert_array_equal(back.per_class, r.per_class)
    assert back.symmetrize == "full" and back.form == "weight"
    full = tensor_similarity(random_mlp(1), random_mlp(2), details=True)
    assert full.similarity == tensor_similarity(random_mlp(1), random_mlp(2))
    with pytest.raises(ValueError, match="lacks"):
        TensorInner.from_dict({"similarity": 1.0})


def test_state_dicts_must_say_whether_they_are_residual():
    plain = random_mlp(5, residual=False)
    sd = plain.state_dict()
    with pytest.raises(ValueError, match="pass residual=True or residual=False"):
        tensor_similarity(sd, plain)
    with pytest.raises(ValueError, match="residual"):
        to_tensor_net(sd)
    assert tensor_similarity(sd, plain, residual=False) == pytest.approx(1.0, abs=1e-12)
    assert tensor_similarity(sd, plain, residual=True) < 1 - 1e-6  # the old silent guess
    single = Bilinear(3, 4, 2).state_dict()
    with pytest.raises(ValueError, match="pass residual"):
        to_tensor_net(single)
    with pytest.raises(TypeError, match="residual must be True or False"):
        to_tensor_net(sd, residual="yes")
