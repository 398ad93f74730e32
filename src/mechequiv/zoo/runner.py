"""The zoo's vectorised run: every seed of one :class:`ZooConfig` on one :class:`SeedEnsemble`.

:func:`run_zoo` is what :func:`~mechequiv.zoo.train.train_zoo` runs in-process and what each
chunk of :mod:`mechequiv.zoo.distributed` runs as a task (below both, so neither imports the
other). It adds to :func:`~mechequiv.zoo.ensemble.train_step` the zoo's data order (full batch
or seeded mini-batches), evaluation every ``eval_every`` updates, checkpoints and resuming.

Speed: a training step has no per-seed Python work (one forward, one backward and one AdamW
step over the stacked tensors, whatever the number of seeds) and no host synchronisation
(metrics are read only at evaluations), so S seeds cost what S times the arithmetic costs: a
tiny model's step is mostly per-operation overhead, paid once for all seeds; a full-batch
transformer or bilinear model is compute-bound already at one seed, so its cost grows with the
seeds' arithmetic (batched matrix products, gathers, elementwise activations). The
transformer trains through its ``readout_only`` forward (only the positions the logits read);
bilinear models read one-hot rows as the positions of their ones (:func:`training_inputs`).
Beyond the matrix products and gathers, a step's time goes to elementwise work the trained
values depend on (attention mixing, activations, the float64 loss, AdamW), which stays as it
is: only arithmetic that changes no bit is left out (softmax attention's rate of 1, MSE targets
converted once per run: :func:`training_targets`). Part of that time can be the allocator's:
where a step's activations of a few MB are the largest blocks the process has freed (the
README's bilinear zoo trained in a fresh process), glibc's malloc gives them back to the
system at every step and faults them in again; process-wide settings (the
``MALLOC_MMAP_THRESHOLD_`` and ``MALLOC_TRIM_THRESHOLD_`` environment variables), which a
library must not change, remove that part (results/zoo.json, ``allocator_fresh_processes``).
benchmarks/bench_zoo.py measures the ratios against that arithmetic floor (results/zoo.json).
tests/zoo/test_fast_paths.py checks these paths against plain float64 loops (to 1e-12) and a
seed's independence from the seeds beside it (bit for bit); tests/zoo/test_elementwise_paths.py
checks that the skipped arithmetic changes no bit.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mechequiv._progress import make_progress
from mechequiv.zoo.checkpoints import Stacked, list_steps, load_stacked, prepare_dir, save_stacked
from mechequiv.zoo.config import ZooConfig
from mechequiv.zoo.ensemble import Optimiser, SeedEnsemble, train_step
from mechequiv.zoo.models import Architecture, BilinearMLP, TokenTransformer
from mechequiv.zoo.result import METRICS, Zoo
from mechequiv.zoo.tasks import Task


def task_loss(task: Task) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """``loss(outputs, labels) -> (S,)``: per-seed mean cross-entropy (log-softmax in float64,
    as Zhong et al., against float32 underflow on confident logits) or mean squared error, for
    outputs and labels with a leading seed axis of size S."""
    if task.loss == "cross_entropy":

        def cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
            logp = logits.to(torch.float64).log_softmax(-1)
            return -logp.gather(-1, labels.unsqueeze(-1)).flatten(1).mean(1)

        return cross_entropy

    def mse(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return (out.to(torch.float64) - target).square().flatten(1).mean(1)

    return mse


def task_accuracy(task: Task, outputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``(S,)`` fraction correct per seed (leading axis): argmax == label (cross-entropy), or
    output on the right side of 0.5 per 0/1 target unit (MSE)."""
    if task.loss == "cross_entropy":
        correct = outputs.argmax(-1) == labels
    else:
        correct = (outputs > 0.5) == (labels > 0.5)
    return correct.to(torch.float64).flatten(1).mean(1)


def check_seeds(seeds: Iterable[int]) -> tuple[int, ...]:
    """``seeds`` as a tuple of distinct non-negative ints; non-empty."""
    if isinstance(seeds, str | bytes) or not isinstance(seeds, Iterable):
        raise TypeError(f"seeds must be an iterable of ints, got {type(seeds).__name__}")
    out = tuple(seeds)
    if not out:
        raise ValueError("seeds is empty: give at least one seed")
    for s in out:
        if isinstance(s, bool) or not isinstance(s, int | np.integer):
            raise TypeError(f"seeds must be ints, got {type(s).__name__} ({s!r})")
        if s < 0:
            raise ValueError(f"seeds must be non-negative, got {s}")
    if len(set(out)) != len(out):
        raise ValueError(f"seeds must be distinct, got {out}")
    return tuple(int(s) for s in out)


def hot_positions(inputs: torch.Tensor) -> torch.Tensor | None:
    """``(N, k)`` int64 positions of the ones of k-hot float rows ``inputs`` ``(N, d)``, or
    None unless every entry is 0 or 1 and every row has the same number k >= 1 of ones."""
    if inputs.ndim != 2 or not inputs.is_floating_point() or not len(inputs):
        return None
    ones = inputs == 1
    if not bool((ones | (inputs == 0)).all()):
        return None
    counts = ones.sum(1)
    k = int(counts[0])
    if k == 0 or not bool((counts == k).all()):
        return None
    return ones.nonzero()[:, 1].reshape(len(inputs), k)


def training_inputs(task: Task, model: torch.nn.Module) -> torch.Tensor:
    """The inputs ``model`` trains and is evaluated on: ``task.inputs``, except that a
    :class:`BilinearMLP` takes k-hot rows as the positions of their ones (gathered tables: the
    same outputs and gradients up to rounding, without the products with one-hot rows) when
    the ones are few (4 k <= width: a gather per one is cheaper than a product with the row)."""
    hot = hot_positions(task.inputs) if isinstance(model, BilinearMLP) else None
    if hot is None or 4 * hot.shape[1] > task.inputs.shape[1]:
        return task.inputs
    return hot


def training_targets(task: Task) -> torch.Tensor:
    """The targets a zoo trains and is evaluated on: ``task.labels``, converted once to
    float64 for an MSE task (its loss subtracts them from float64 outputs: the same
    differences, exactly, without a conversion at every step)."""
    labels = task.labels
    if task.loss == "mse" and labels.is_floating_point():
        return labels.to(torch.float64)
    return labels


class SeedBatches:
    """Row indices of the training batch of every seed at a step (see :class:`ZooConfig`), on
    ``train_idx``'s device."""

    def __init__(self, train_idx: torch.Tensor, seeds: tuple[int, ...], batch_size: int) -> None:
        self.train_idx = train_idx
        self.seeds = seeds
        self.batch_size = batch_size
        self.per_epoch = len(train_idx) // batch_size
        self._epoch = -1
        self._perms = torch.empty(0)

    def at(self, step: int) -> torch.Tensor:
        epoch, k = divmod(step, self.per_epoch)
        if epoch != self._epoch:
            n = len(self.train_idx)
            perms = [np.random.default_rng([s, epoch]).permutation(n) for s in self.seeds]
            order = torch.as_tensor(np.stack(perms), device=self.train_idx.device)
            self._perms = self.train_idx[order]
            self._epoch = epoch
        return self._perms[:, k * self.batch_size : (k + 1) * self.batch_size]


def run_zoo(
    task: Task,
    arch: Architecture,
    config: ZooConfig,
    out_dir: str | os.PathLike[str] | None = None,
    progress: bool | None = False,
    device: torch.device | None = None,
) -> Zoo:
    """Train ``config.seeds`` of ``arch`` on ``task`` in this process, in one vectorised run.

    Arguments are already validated (:func:`~mechequiv.zoo.train.train_zoo` does it); with
    ``out_dir`` the run resumes from and writes resumable checkpoints there. ``device``: where
    training runs (default the CPU); the returned zoo and checkpoints hold CPU tensors.
    """
    return _ZooRun(task, arch, config, out_dir, device).run(progress)


def zoo_optimiser(config: ZooConfig) -> Optimiser:
    """The :class:`Optimiser` of a zoo recipe (AdamW with its warm-up)."""
    return Optimiser(
        "adamw",
        lr=config.lr,
        weight_decay=config.weight_decay,
        betas=config.betas,
        eps=config.eps,
        warmup_steps=config.warmup_steps,
    )


def _host_copy(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Detached CPU copies (a plain clone for CPU tensors): what results and checkpoints hold."""
    return {k: v.detach().to("cpu", copy=True) for k, v in tensors.items()}


class _ZooRun:
    def __init__(
        self,
        task: Task,
        arch: Architecture,
        config: ZooConfig,
        out_dir: str | os.PathLike[str] | None,
        device: torch.device | None = None,
    ) -> None:
        self.task, self.arch, self.config = task, arch, config
        self.out_dir = None if out_dir is None else Path(out_dir)
        # Built on the CPU (seeded initialisation is the same whatever the device), then moved.
        self.device = torch.device("cpu") if device is None else device
        models = [arch.build(task, s) for s in config.seeds]
        self.ensemble = SeedEnsemble(models, device=self.device)
        self.params = self.ensemble.params
        self.buffers = self.ensemble.buffers
        self.optimiser = zoo_optimiser(config)
        self.optimizer = self.optimiser.build(list(self.params.values()))
        self.loss = task_loss(task)
        # The transformer computes only the positions its readout uses (same logits and
        # gradients, about half the work); hooks do not matter here.
        is_transformer = isinstance(self.ensemble.base, TokenTransformer)
        self.forward_kwargs = {"readout_only": True} if is_transformer else {}
        self.inputs = training_inputs(task, self.ensemble.base).to(self.device)
        self.targets = training_targets(task).to(self.device)
        self.split = {
            "train": task.train_idx.to(self.device),
            "test": task.test_idx.to(self.device),
        }
        self.history: dict[str, Any] = {"step": [], **{m: [] for m in METRICS}}
        self.snapshots: dict[int, Stacked] = {}
        self.start = 0

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        """Outputs ``(S, n, ...)`` of every seed; ``x`` is ``(n, ...)`` shared or ``(S, n, ...)``."""
        if x.ndim == self.task.inputs.ndim:
            x = x.expand(len(self.config.seeds), *x.shape)
        return self.ensemble.forward(x, **self.forward_kwargs)

    def _per_seed(self, y: torch.Tensor) -> torch.Tensor:
        n_seeds = len(self.config.seeds)
        return y if y.ndim > self.targets.ndim else y.expand(n_seeds, *y.shape)

    def _resume(self) -> None:
        assert self.out_dir is not None
        prepare_dir(self.out_dir, self.config)
        done = [s for s in list_steps(self.out_dir) if s <= self.config.steps]
        if not done:
            return
        state = load_stacked(self.out_dir, self.config, done[-1])
        with torch.no_grad():
            for name, p in self.params.items():
                p.copy_(state.params[name])
            for name, b in self.buffers.items():
                b.copy_(state.buffers[name])
        for name, p in self.params.items():
            if name in state.moments:
                self.optimizer.state[p] = {
                    "step": torch.tensor(float(state.step)),  # on the CPU, as AdamW keeps it
                    **{k: v.to(p.device, copy=True) for k, v in state.moments[name].items()},
                }
        self.history = state.history
        self.start = state.step

    def _evaluate(self, step: int) -> None:
        with torch.no_grad():
            out = self._forward(self.inputs)
            for part, idx in self.split.items():
                y = self._per_seed(self.targets[idx])
                self.history[f"{part}_loss"].append(self.loss(out[:, idx], y).tolist())
                acc = task_accuracy(self.task, out[:, idx], y)
                self.history[f"{part}_acc"].append(acc.tolist())
        self.history["step"].append(step)

    def _checkpoint(self, step: int) -> None:
        # Optimiser moments only matter for resuming, which needs a folder.
        on_disk = self.out_dir is not None
        state = Stacked(
            step=step,
            params=_host_copy(self.params),
            buffers=_host_copy(self.buffers),
            moments={
                # written to disk at once: moved to the host, not copied when already there
                name: {k: self.optimizer.state[p][k].to("cpu") for k in ("exp_avg", "exp_avg_sq")}
                for name, p in self.params.items()
                if on_disk and self.optimizer.state.get(p)
            },
            history=copy.deepcopy(self.history),
        )
        if self.out_dir is None:
            self.snapshots[step] = state
        else:
            save_stacked(self.out_dir, self.config, state)

    def run(self, progress: bool | None) -> Zoo:
        cfg, task = self.config, self.task
        if self.out_dir is not None:
            self._resume()
        if not self.history["step"]:
            self._evaluate(0)
            if cfg.checkpoint_at(0):
                self._checkpoint(0)
        train_idx = self.split["train"]
        batches = (
            None if cfg.batch_size is None else SeedBatches(train_idx, cfg.seeds, cfg.batch_size)
        )
        x_train = self.inputs[train_idx]
        y_train = self._per_seed(self.targets[train_idx])
        n_seeds = len(cfg.seeds)
        with make_progress(None if progress is None else not progress) as bar:
            bar_task = bar.add_task(
                f"zoo {task.name}/{self.arch.name} x{n_seeds}",
                total=cfg.steps,
                completed=self.start,
                status=self._status(),
            )
            for step in range(self.start, cfg.steps):
                if batches is None:
                    x, y = x_train, y_train
                else:
                    idx = batches.at(step)
                    x, y = self.inputs[idx], self.targets[idx]
                if x.ndim == task.inputs.ndim:
                    x = x.expand(n_seeds, *x.shape)
                train_step(
                    self.ensemble, self.optimizer, cfg.lr_at(step), x, y, self.loss,
                    self.forward_kwargs,
                )  # fmt: skip
                done = step + 1
                if cfg.evaluate_at(done):
                    self._evaluate(done)
                    bar.update(bar_task, status=self._status())
                if cfg.checkpoint_at(done):
                    self._checkpoint(done)
                bar.update(bar_task, completed=done)
        return Zoo(
            config=cfg,
            task=task,
            architecture=self.arch,
            params=_host_copy(self.params),
            buffers=_host_copy(self.buffers),
            history_record=self.history,
            out_dir=self.out_dir,
            snapshots=self.snapshots,
        )

    def _status(self) -> str:
        h = self.history
        if not h["step"]:
            return ""
        mean = {m: float(np.mean(h[m][-1])) for m in METRICS}
        return (
            f"train loss {mean['train_loss']:.3g} acc {mean['train_acc']:.1%} | "
            f"test loss {mean['test_loss']:.3g} acc {mean['test_acc']:.1%}"
        )
