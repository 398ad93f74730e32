"""CUDA models stay on the GPU: the recursion, the closed forms and the Gaussian form run there
and agree with the CPU (skipped without CUDA)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mechequiv.tensorsim import tensor_inner, to_tensor_net
from tests.tensorsim.conftest import random_mlp

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def test_nets_keep_the_model_device_and_dtype_is_float64():
    net = to_tensor_net(random_mlp(0).float())
    assert net.device.type == "cpu" and net.ops[1].L.dtype == torch.float64
    assert net.to("cpu") is net


@cuda
@pytest.mark.parametrize(
    "kw", [dict(symmetrize="full"), dict(symmetrize="layer"), dict(form="gaussian")]
)
def test_cuda_models_are_compared_on_the_gpu(kw):
    a, b = random_mlp(1, bias=True), random_mlp(2, bias=True)
    want = tensor_inner(a, b, **kw)
    ga, gb = a.cuda(), b.cuda()
    net = to_tensor_net(ga)
    assert all(op.W.is_cuda for op in net.ops[::2]) and net.ops[1].L.is_cuda
    got = tensor_inner(ga, gb, **kw)
    assert got.similarity == pytest.approx(want.similarity, rel=1e-9)
    assert got.block_similarity == pytest.approx(want.block_similarity, rel=1e-9)
    np.testing.assert_allclose(got.per_class, want.per_class, rtol=1e-9)


def _no_host_copies(monkeypatch) -> list[str]:
    """Record every ``Tensor.cpu()`` / ``Tensor.numpy()`` call made from here on."""
    calls: list[str] = []
    for name in ("cpu", "numpy"):
        original = getattr(torch.Tensor, name)

        def spy(self, *args, _name=name, _original=original, **kw):
            calls.append(_name)
            return _original(self, *args, **kw)

        monkeypatch.setattr(torch.Tensor, name, spy)
    return calls


@pytest.mark.parametrize("route", [None, "units", "squares", "tensor"])
def test_two_layer_forms_stay_on_the_device_of_their_inputs(monkeypatch, route):
    """The device code path run on the CPU: the exact two-layer forms and the layer recursion
    return float64 tensors on the inputs' device and never copy to the host or to numpy on
    the way (the public wrappers convert the small per-output results at the end)."""
    from mechequiv.tensorsim.fullsym import TwoLayerNet, full_pair_tensor
    from mechequiv.tensorsim.gaussian import gaussian_two_layer_tensor
    from mechequiv.tensorsim.gram import interaction_forms

    kw = dict(d_in=3, d_model=4, d_hidden=6, d_out=3, n_layers=2, residual=True, bias=True)
    a, b = to_tensor_net(random_mlp(3, **kw)), to_tensor_net(random_mlp(4, **kw))
    rank_deficient = to_tensor_net(random_mlp(5, **{**kw, "d_in": 6}))
    calls = _no_host_copies(monkeypatch)
    for x, y in ((a, b), (a, a), (rank_deficient, rank_deficient)):
        pa, pb = TwoLayerNet(x), TwoLayerNet(y)
        for out in (full_pair_tensor(pa, pb, route), gaussian_two_layer_tensor(pa, pb, route)):
            assert isinstance(out, torch.Tensor) and out.dtype == torch.float64
            assert out.device == x.device and out.shape == (3,)
    assert interaction_forms(a.ops[1], sym=True).device == a.device
    assert calls == []


@cuda
def test_the_two_layer_routes_run_on_the_gpu():
    from mechequiv.tensorsim.fullsym import TwoLayerNet, full_pair_tensor
    from mechequiv.tensorsim.gaussian import gaussian_two_layer_tensor

    kw = dict(d_in=5, d_model=5, d_hidden=16, d_out=4, n_layers=2, residual=True, bias=True)
    a, b = to_tensor_net(random_mlp(3, **kw)), to_tensor_net(random_mlp(4, **kw))
    ga, gb = TwoLayerNet(a.to("cuda")), TwoLayerNet(b.to("cuda"))
    ca, cb = TwoLayerNet(a), TwoLayerNet(b)
    for route in ("units", "squares", "tensor"):
        got = full_pair_tensor(ga, gb, route)
        assert got.is_cuda
        np.testing.assert_allclose(got.cpu().numpy(), full_pair_tensor(ca, cb, route).numpy(),
                                   rtol=1e-10)  # fmt: skip
        got = gaussian_two_layer_tensor(ga, gb, route)
        assert got.is_cuda
        want = gaussian_two_layer_tensor(ca, cb, route).numpy()
        np.testing.assert_allclose(got.cpu().numpy(), want, rtol=1e-10)


def test_deep_dense_forms_copy_only_their_results_to_the_host(monkeypatch):
    """Three bilinear layers (the monomial-coefficient engine): the expansion and the sums run
    on the nets' device; the one host copy is the final per-output values."""
    from mechequiv.tensorsim.dense import dense_full_inner, dense_gaussian_inner, reduce_inputs

    kw = dict(d_in=2, d_model=2, d_hidden=3, d_out=2, n_layers=3, residual=True, bias=True)
    a, b = to_tensor_net(random_mlp(6, **kw)), to_tensor_net(random_mlp(7, **kw))
    ra, rb = reduce_inputs(a, b)
    calls = _no_host_copies(monkeypatch)
    full = dense_full_inner(ra, rb)
    assert calls == ["cpu", "numpy"]
    gauss = dense_gaussian_inner(ra, rb)
    assert calls == ["cpu", "numpy"] * 2
    assert all(x.shape == (2,) and x.dtype == np.float64 for x in (*full, *gauss))


def test_sequence_nets_keep_torch_weights_and_copy_only_results(monkeypatch):
    """Polynomial-attention nets hold float64 tensors on the model's device; their recursion
    copies only its per-output results to the host."""
    from mechequiv.tensorsim.attention import to_seq_net
    from mechequiv.tensorsim.gram import self_gram
    from tests.tensorsim.test_attention import attn_model

    net = to_seq_net(attn_model(0), n_ctx=3)
    weights = [op.W if hasattr(op, "W") else op.V for op in net.ops]
    assert all(isinstance(w, torch.Tensor) and w.dtype == torch.float64 for w in weights)
    assert net.device == torch.device("cpu") and net.to("cpu").ops[1].V.device == net.device
    calls = _no_host_copies(monkeypatch)
    self_gram(net, "layer")
    assert calls == ["cpu", "numpy"]


@cuda
def test_sequence_nets_are_compared_on_the_gpu():
    from tests.tensorsim.test_attention import attn_model

    a, b = attn_model(0), attn_model(1)
    want = tensor_inner(a, b, symmetrize="layer", n_ctx=3)
    got = tensor_inner(a.cuda(), b.cuda(), symmetrize="layer", n_ctx=3)
    assert got.similarity == pytest.approx(want.similarity, rel=1e-9)
