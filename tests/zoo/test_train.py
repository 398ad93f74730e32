"""train_zoo: equals independent sequential training, resumes exactly, refuses bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mechequiv.zoo import (
    CheckpointMismatchError,
    bilinear,
    boolean,
    histogram,
    load_checkpoint,
    load_zoo,
    mlp,
    modular_addition,
    train_zoo,
    transformer,
)
from mechequiv.zoo.checkpoints import checkpoint_path, list_steps

KW = {"lr": 3e-3, "weight_decay": 0.5, "warmup_steps": 3}


def reference_training(task, arch, seed, steps, batch_size=None):
    """Plain single-model PyTorch loop, written independently of the zoo's trainer."""
    model = arch.build(task, seed)
    opt = torch.optim.AdamW(
        model.parameters(), lr=KW["lr"], betas=(0.9, 0.98), weight_decay=KW["weight_decay"]
    )
    train = task.train_idx
    for t in range(steps):
        for g in opt.param_groups:
            g["lr"] = KW["lr"] * min(1.0, (t + 1) / KW["warmup_steps"])
        if batch_size is None:
            idx = train
        else:
            per_epoch = len(train) // batch_size
            epoch, k = divmod(t, per_epoch)
            perm = np.random.default_rng([seed, epoch]).permutation(len(train))
            idx = train[torch.as_tensor(perm[k * batch_size : (k + 1) * batch_size])]
        out = model(task.inputs[idx])
        if task.loss == "cross_entropy":
            loss = torch.nn.functional.cross_entropy(
                out.double().reshape(-1, out.shape[-1]), task.labels[idx].reshape(-1)
            )
        else:
            loss = ((out.double() - task.labels[idx]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model


CASES = [
    (lambda: modular_addition(7), transformer(alpha=0.3, d_model=16, n_heads=2), 16),
    (
        lambda: histogram(seq_len=4, vocab_size=3, n_samples=60),
        transformer(d_model=8, n_heads=2),
        16,
    ),
    (
        lambda: modular_addition(7, encoding="one_hot"),
        mlp(hidden=(16,), activation="leaky_relu"),
        8,
    ),
    (lambda: boolean(["XOR", "OR"], n_repeats=20), mlp(hidden=(6,)), 16),
    (lambda: modular_addition(7, encoding="one_hot"), bilinear(d_model=8, d_hidden=8), 16),
]


@pytest.mark.parametrize(("make_task", "arch", "batch_size"), CASES)
@pytest.mark.parametrize("full_batch", [True, False])
def test_vectorised_equals_sequential_training(make_task, arch, batch_size, full_batch):
    task = make_task()
    bs = None if full_batch else batch_size
    zoo = train_zoo(task, arch, seeds=[4, 0, 11], steps=12, batch_size=bs, progress=False, **KW)
    for seed, model in zip(zoo.seeds, zoo.models(), strict=True):
        ref = reference_training(task, arch, seed, 12, bs).state_dict()
        for name, value in model.state_dict().items():
            torch.testing.assert_close(value, ref[name], rtol=2e-4, atol=2e-5, msg=name)


def test_history_matches_the_models():
    task = modular_addition(7)
    zoo = train_zoo(
        task,
        transformer(d_model=8, n_heads=2),
        seeds=[1, 2],
        steps=10,
        eval_every=4,
        progress=False,
    )
    h = zoo.history
    assert h.steps.tolist() == [0, 4, 8, 10]
    assert h.test_acc.shape == (4, 2)
    for i, model in enumerate(zoo.models()):
        with torch.no_grad():
            pred = model(task.inputs).argmax(-1)
        acc = (pred[task.test_idx] == task.labels[task.test_idx]).double().mean().item()
        assert h.test_acc[-1, i] == pytest.approx(acc)
    assert h.steps_to(0.0) == [0, 0]
    assert json.loads(json.dumps(zoo.to_dict()))["history"]["steps"] == [0, 4, 8, 10]
    assert "test_acc" in repr(zoo)


def _same(zoo_a, zoo_b, history=True):
    for a, b in zip(zoo_a.models(), zoo_b.models(), strict=True):
        for name, value in a.state_dict().items():
            assert torch.equal(value, b.state_dict()[name]), name
    if history:
        assert zoo_a.history.to_dict() == zoo_b.history.to_dict()


@pytest.mark.parametrize("batch_size", [None, 32])
def test_resume_after_interrupt_is_identical(tmp_path, batch_size):
    task = modular_addition(7)
    arch = transformer(alpha=1.0, d_model=8, n_heads=2)
    kw = dict(seeds=[0, 3], batch_size=batch_size, eval_every=3, checkpoint_every=5, progress=False)
    whole = train_zoo(task, arch, steps=20, **kw)
    # An interrupted run: it stopped after its step-10 checkpoint (steps 15 and 20 never written).
    train_zoo(task, arch, steps=20, out_dir=tmp_path, **kw)
    for step in (15, 20):
        checkpoint_path(tmp_path, step).unlink()
    assert list_steps(tmp_path) == [5, 10]
    resumed = train_zoo(task, arch, steps=20, out_dir=tmp_path, **kw)
    _same(whole, resumed)
    # Extending a finished run continues from its last checkpoint (its history keeps the extra
    # evaluation at the old final step 20).
    longer = train_zoo(task, arch, steps=25, out_dir=tmp_path, **kw)
    _same(train_zoo(task, arch, steps=25, **kw), longer, history=False)
    assert longer.history.steps.tolist() == [0, 3, 6, 9, 12, 15, 18, 20, 21, 24, 25]


def test_checkpoints_load_by_seed_and_step(tmp_path):
    task = modular_addition(5, encoding="one_hot")
    kw = dict(seeds=[2, 7], steps=6, checkpoint_steps=[0, 3], eval_every=3, progress=False)
    disk = train_zoo(task, mlp(hidden=(8,)), out_dir=tmp_path, **kw)
    memory = train_zoo(task, mlp(hidden=(8,)), **kw)
    assert disk.checkpoint_steps == memory.checkpoint_steps == [0, 3, 6]
    initial = mlp(hidden=(8,)).build(task, 7)
    loaded = load_checkpoint(tmp_path, seed=7, step=0)
    assert torch.equal(loaded[0].weight, initial[0].weight)
    for step in (3, 6):
        a = load_checkpoint(tmp_path, 2, step).state_dict()
        b = memory.load(step, 2).state_dict()
        for name, value in a.items():
            assert torch.equal(value, b[name])
    assert torch.equal(load_checkpoint(tmp_path, 2)[0].weight, disk.model(2)[0].weight)
    reloaded = load_zoo(tmp_path, step=3)
    assert reloaded.history.steps[-1] == 3 and len(reloaded.load_all(6)) == 2
    with pytest.raises(ValueError, match="not in this zoo"):
        disk.model(5)
    with pytest.raises(ValueError, match="no checkpoint at step 4"):
        memory.load(4, 2)
    with pytest.raises(FileNotFoundError, match="no checkpoint for step 4"):
        disk.load(4, 2)


def test_foreign_checkpoint_is_refused(tmp_path):
    task = modular_addition(5)
    arch = transformer(d_model=8, n_heads=2)
    train_zoo(task, arch, seeds=[0], steps=2, out_dir=tmp_path, progress=False)
    with pytest.raises(CheckpointMismatchError, match=r"different config .*lr"):
        train_zoo(task, arch, seeds=[0], steps=2, lr=5e-3, out_dir=tmp_path, progress=False)
    with pytest.raises(CheckpointMismatchError, match="arch_kwargs"):
        train_zoo(
            task,
            transformer(alpha=0.0, d_model=8, n_heads=2),
            seeds=[0],
            steps=2,
            out_dir=tmp_path,
            progress=False,
        )
    # A checkpoint file copied in from another zoo's folder.
    other = tmp_path / "other"
    train_zoo(task, arch, seeds=[1], steps=2, out_dir=other, progress=False)
    checkpoint_path(tmp_path, 2).write_bytes(checkpoint_path(other, 2).read_bytes())
    with pytest.raises(CheckpointMismatchError, match="saved under a different zoo config"):
        load_checkpoint(tmp_path, 0)
    with pytest.raises(FileNotFoundError, match="not a zoo folder"):
        load_zoo(tmp_path / "nothing")


def test_bad_input_errors():
    task = modular_addition(5)
    arch = transformer(d_model=8, n_heads=2)
    with pytest.raises(ValueError, match="seeds is empty"):
        train_zoo(task, arch, seeds=[])
    with pytest.raises(ValueError, match="distinct"):
        train_zoo(task, arch, seeds=[1, 1])
    with pytest.raises(ValueError, match="non-negative"):
        train_zoo(task, arch, seeds=[-1])
    with pytest.raises(TypeError, match="seeds must be ints"):
        train_zoo(task, arch, seeds=[0.5])
    with pytest.raises(TypeError, match="iterable"):
        train_zoo(task, arch, seeds=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown architecture"):
        train_zoo(task, "resnet")
    with pytest.raises(TypeError, match="task must be a Task"):
        train_zoo("modular_addition", arch)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="exceeds the 20 training rows"):
        train_zoo(task, arch, seeds=[0], batch_size=21)
    with pytest.raises(ValueError, match="outside"):
        train_zoo(task, arch, seeds=[0], steps=5, checkpoint_steps=[6])
    with pytest.raises(ValueError, match="lr must be finite and positive"):
        train_zoo(task, arch, seeds=[0], lr=0.0)
    with pytest.raises(ValueError, match="steps must be >= 0"):
        train_zoo(task, arch, seeds=[0], steps=-1)
    with pytest.raises(ValueError, match="p must be >= 2"):
        train_zoo(modular_addition(1), arch)


def test_progress_bar_runs():
    zoo = train_zoo(
        modular_addition(5), transformer(d_model=8, n_heads=2), seeds=[0], steps=3, progress=True
    )
    assert zoo.history.steps[-1] == 3
