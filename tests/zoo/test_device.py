"""train_zoo(device=...): where training runs, checked up front; results come back on the CPU."""

from __future__ import annotations

import pytest
import torch

from mechequiv._device import resolve_device
from mechequiv.zoo import boolean, mlp, modular_addition, train_zoo, transformer
from mechequiv.zoo.ensemble import SeedEnsemble

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_resolve_device_reads_cpu_and_none_as_the_cpu():
    assert resolve_device(None) == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


@pytest.mark.parametrize(
    ("device", "message"),
    [
        ("gpu", "not a device torch can read"),
        ("cuda:x", "not a device torch can read"),
        ("meta", "holds no values"),
    ],
)
def test_resolve_device_refuses_in_one_line(device, message):
    with pytest.raises(ValueError, match=message) as err:
        resolve_device(device)
    assert "\n" not in str(err.value)


def test_resolve_device_refuses_a_non_device():
    with pytest.raises(TypeError, match=r"device must be a str or torch\.device, got int"):
        resolve_device(0)  # type: ignore[arg-type]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal where CUDA is absent")
def test_cuda_is_refused_up_front_where_there_is_none():
    with pytest.raises(ValueError, match="CUDA is not available"):
        train_zoo(boolean("XOR"), mlp(hidden=(4,)), seeds=[0], steps=1, device="cuda")


def test_an_explicit_cpu_device_changes_no_bit():
    task = modular_addition(11, train_fraction=0.8)
    arch = transformer(alpha=1.0, d_model=16, n_heads=2)
    kw = {"seeds": [0, 3], "steps": 6, "lr": 1e-2, "eval_every": 3, "progress": False}
    plain = train_zoo(task, arch, **kw)
    on_cpu = train_zoo(task, arch, device="cpu", **kw)
    assert _equal(plain.params, on_cpu.params)
    assert plain.history_record == on_cpu.history_record
    batched = train_zoo(task, arch, batch_size=16, chunks=2, device=torch.device("cpu"), **kw)
    assert _equal(batched.params, train_zoo(task, arch, batch_size=16, chunks=2, **kw).params)


def test_ensemble_moves_parameters_as_trainable_leaves():
    # The meta device stands in for an accelerator: the move must leave leaves an optimiser
    # can hold, with gradients required, and buffers moved beside them.
    models = [torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4)) for _ in range(2)]
    ens = SeedEnsemble(models, device=torch.device("meta"))
    for p in ens.params.values():
        assert p.device.type == "meta" and p.is_leaf and p.requires_grad and p.shape[0] == 2
    assert all(b.device.type == "meta" for b in ens.buffers.values())
    torch.optim.AdamW(list(ens.params.values()))  # refuses non-leaf tensors
    same = SeedEnsemble(models, device=torch.device("cpu"))
    assert all(p.is_leaf and p.device.type == "cpu" for p in same.params.values())


@needs_cuda
def test_cuda_training_matches_the_cpu_and_returns_cpu_tensors(tmp_path):
    task = modular_addition(11, train_fraction=0.8)
    arch = transformer(alpha=1.0, d_model=16, n_heads=2)
    kw = {"seeds": [0, 1, 2], "steps": 4, "lr": 1e-3, "eval_every": 2, "progress": False}
    cpu = train_zoo(task, arch, **kw)
    gpu = train_zoo(task, arch, device="cuda", out_dir=tmp_path / "z", checkpoint_every=2, **kw)
    for k, v in gpu.params.items():
        assert v.device.type == "cpu"
        torch.testing.assert_close(v, cpu.params[k], rtol=1e-4, atol=1e-5)
    # a run checkpointed on the GPU resumes on the CPU
    more = train_zoo(task, arch, out_dir=tmp_path / "z", checkpoint_every=2, **{**kw, "steps": 6})
    assert more.history_record["step"][-1] == 6
