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
