"""Train many seeds of one recipe in a single vectorised run (:func:`train_zoo`).

All seeds' weights are stacked along a leading axis and trained by the one training loop of
mechequiv, :mod:`mechequiv.zoo.ensemble` (one functional forward on the stacked weights, one
backward of the summed per-seed losses, one AdamW step over the stacked tensors). AdamW is
elementwise and the seeds' losses share no parameters, so this is exactly N independent AdamW
runs (up to floating-point reassociation in batched matrix products). The zoo-specific run
(data order, evaluations, checkpoints, resuming) is :func:`mechequiv.zoo.runner.run_zoo`;
chunks of seeds on a backend are :mod:`mechequiv.zoo.distributed`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import torch

from mechequiv._device import resolve_device
from mechequiv.zoo.config import ZooConfig
from mechequiv.zoo.distributed import train_zoo_on
from mechequiv.zoo.models import Architecture, as_architecture
from mechequiv.zoo.result import Zoo

# Re-exported: they lived here before the loop moved to zoo.runner / zoo.ensemble.
from mechequiv.zoo.runner import check_seeds, run_zoo, task_accuracy, task_loss
from mechequiv.zoo.tasks import Task

__all__ = ["check_seeds", "task_accuracy", "task_loss", "train_zoo"]


def train_zoo(
    task: Task,
    architecture: Architecture | str,
    seeds: Iterable[int] = range(16),
    *,
    steps: int = 1000,
    lr: float = 1e-3,
    weight_decay: float = 1.0,
    betas: tuple[float, float] = (0.9, 0.98),
    eps: float = 1e-8,
    batch_size: int | None = None,
    warmup_steps: int = 10,
    eval_every: int = 100,
    checkpoint_steps: Iterable[int] = (),
    checkpoint_every: int | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    progress: bool | None = None,
    backend: Any = "local",
    chunks: int | None = None,
    device: str | torch.device | None = None,
) -> Zoo:
    """Train one model per seed on ``task``, all seeds at once.

    Parameters
    ----------
    task : Task
        From :mod:`mechequiv.zoo.tasks` (e.g. ``modular_addition(31)``).
    architecture : Architecture or str
        ``transformer(alpha=0.0)``, ``mlp(...)``, ``bilinear(...)`` or a name for the defaults.
    seeds : iterable of int
        Distinct non-negative seeds; seed s initialises its model with ``torch.manual_seed(s)``
        and (mini-batch) orders its batches (see :class:`ZooConfig`).
    steps, lr, weight_decay, betas, eps, warmup_steps : optimiser settings (AdamW).
    batch_size : int or None
        ``None`` trains full-batch on all training rows.
    eval_every : int
        Record train/test loss and accuracy of every seed after this many updates.
    checkpoint_steps, checkpoint_every : checkpoints after these updates / every so many updates
        (the final step is always kept). On disk with ``out_dir``, else in memory.
    out_dir : path or None
        Folder for ``config.json`` and safetensors checkpoints. Re-running with the same folder
        and config resumes from the latest checkpoint at or before ``steps`` (identical result
        to an uninterrupted run); a folder holding another config raises
        :class:`~mechequiv.zoo.checkpoints.CheckpointMismatchError`.
    progress : bool or None
        Progress bar with mean loss and accuracy over seeds; ``None``: only on a terminal.
    backend, chunks : str or Backend, int or None
        ``"local"`` (default) trains every seed in this process in one run. ``"ray"`` (or a
        :mod:`mechequiv.parallel` backend) or a ``chunks`` count splits the seeds into chunks,
        each a vectorised run and a task (see :mod:`mechequiv.zoo.distributed`); with
        ``out_dir`` each chunk resumes from its own folder ``out_dir/seeds-<first>-<last>``, and
        the returned zoo stacks all seeds (checkpoints in memory).
    device : str, torch.device or None
        Where training runs: ``"cuda"``, ``"cuda:1"``, ... (default: the CPU). Every model is
        initialised on the CPU from its seed, so the initial weights do not depend on the
        device; the updates do, by float rounding (GPU and CPU kernels sum in different
        orders), so a seed's weights after training agree across devices only up to rounding
        amplified by training. The returned zoo and checkpoints hold CPU tensors, and a run
        checkpointed on one device resumes on another. With a ``backend``, each chunk trains
        on ``device`` in its worker, which must have it.

    Returns
    -------
    Zoo
        Per-seed models (``zoo.models()``), the evaluation history, checkpoints (``zoo.load``).
    """
    if not isinstance(task, Task):
        raise TypeError(f"task must be a Task, got {type(task).__name__}")
    dev = resolve_device(device)
    arch = as_architecture(architecture)
    arch.check(task)
    seed_tuple = check_seeds(seeds)
    config = ZooConfig(
        task=task.name,
        task_kwargs=task.kwargs,
        architecture=arch.name,
        arch_kwargs=arch.to_dict()["kwargs"],
        seeds=seed_tuple,
        steps=steps,
        lr=lr,
        weight_decay=weight_decay,
        betas=tuple(betas),  # type: ignore[arg-type]
        eps=eps,
        batch_size=batch_size,
        warmup_steps=warmup_steps,
        eval_every=eval_every,
        checkpoint_steps=tuple(sorted(set(checkpoint_steps))),
        checkpoint_every=checkpoint_every,
    )
    if batch_size is not None and batch_size > len(task.train_idx):
        raise ValueError(f"batch_size={batch_size} exceeds the {len(task.train_idx)} training rows")
    if backend != "local" or chunks is not None:
        return train_zoo_on(backend, task, arch, config, chunks, out_dir, device=dev)
    return run_zoo(task, arch, config, out_dir, progress, dev)
