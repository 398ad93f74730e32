"""Measures run on the input's device: CUDA tensors are never copied to the host.

The CUDA test skips without a GPU (run it, and benchmarks/bench_gpu.py, on a machine with one);
the device-side code that has a CPU twin (rank correlation) is checked here on the CPU.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch
from scipy import stats

from mechequiv import measures as M
from mechequiv.measures._rsa import _compare_on_device, average_ranks, compare_rdms
from tests.measures.test_properties import data


def test_average_ranks_match_scipy_with_ties():
    v = np.random.default_rng(0).integers(0, 30, size=700).astype(float)
    np.testing.assert_array_equal(average_ranks(torch.from_numpy(v)).numpy(), stats.rankdata(v))


@pytest.mark.parametrize("comparison", ["spearman", "pearson", "kendall_tau_a"])
def test_device_rdm_comparison_matches_scipy(comparison):
    rng = np.random.default_rng(1)
    a = rng.integers(0, 40, size=900).astype(float)
    b = a + rng.normal(scale=5.0, size=900)
    expected = compare_rdms(a, b, comparison)
    got = _compare_on_device(torch.from_numpy(a), torch.from_numpy(b), comparison)
    assert got == pytest.approx(expected, abs=1e-14)
    with pytest.raises(ValueError, match="all off-diagonal entries equal"):
        _compare_on_device(
            torch.ones(10, dtype=torch.float64), torch.from_numpy(b[:10]), comparison
        )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", M.names())
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_every_measure_runs_on_cuda_without_host_copies(name, dtype, monkeypatch):
    info = M.get(name)
    X, Y = data(3, functional=info.functional)
    expected = info(torch.from_numpy(X).to(dtype), torch.from_numpy(Y).to(dtype))
    x, y = (torch.from_numpy(a).to(dtype).cuda() for a in (X, Y))
    real_cpu = torch.Tensor.cpu

    def guarded_cpu(t: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        # Only small results (scalars, a d x d matrix for the Hungarian matching) may leave.
        if t.is_cuda and t.numel() > 4096:
            raise AssertionError(f"{name} copied a {tuple(t.shape)} tensor to the host")
        return real_cpu(t, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "cpu", guarded_cpu)
    assert info(x, y) == pytest.approx(expected, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("name", M.names())
def test_the_device_route_gives_the_host_route_values(name, monkeypatch):
    # Every measure with the numpy/scipy fast paths switched off computes what a GPU would.
    from mechequiv.measures import _linalg

    info = M.get(name)
    X, Y = data(6, functional=info.functional)
    expected = info(X, Y)
    for module in (
        "mechequiv.measures._linalg",
        "mechequiv.measures._moments",
        "mechequiv.measures._rsa",
    ):
        monkeypatch.setattr(importlib.import_module(module), "host_float64", lambda t: False)
    assert not _linalg.host_float64(torch.zeros(1, dtype=torch.float64))
    assert info(X, Y) == pytest.approx(expected, rel=1e-12, abs=1e-12)
