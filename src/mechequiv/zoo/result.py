"""What a zoo run returns: per-seed models, the evaluation history and the checkpoints."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mechequiv.zoo.checkpoints import Stacked, list_steps, load_stacked, read_config
from mechequiv.zoo.config import ZooConfig
from mechequiv.zoo.labels import MechanismLabels, mechanism_labels
from mechequiv.zoo.models import Architecture
from mechequiv.zoo.tasks import Task, get_task

METRICS = ("train_loss", "train_acc", "test_loss", "test_acc")


@dataclass(frozen=True, eq=False)
class History:
    """Metrics after ``steps[e]`` updates: arrays of shape ``(n_evals, n_seeds)``."""

    seeds: tuple[int, ...]
    steps: np.ndarray
    train_loss: np.ndarray
    train_acc: np.ndarray
    test_loss: np.ndarray
    test_acc: np.ndarray

    @classmethod
    def from_record(cls, seeds: tuple[int, ...], record: dict[str, Any]) -> History:
        """From the trainer's JSON record ``{"step": [...], "<metric>": [[per seed], ...]}``."""
        n = len(seeds)
        arrays = {m: np.asarray(record[m], dtype=np.float64).reshape(-1, n) for m in METRICS}
        return cls(seeds=seeds, steps=np.asarray(record["step"], dtype=np.int64), **arrays)

    def steps_to(self, threshold: float = 1.0, metric: str = "test_acc") -> list[int | None]:
        """Per seed, the first evaluated step with ``metric >= threshold`` (None if never)."""
        if metric not in ("train_acc", "test_acc"):
            raise ValueError(f"metric must be 'train_acc' or 'test_acc', got {metric!r}")
        reached = getattr(self, metric) >= threshold
        return [int(self.steps[np.argmax(col)]) if col.any() else None for col in reached.T]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict of lists."""
        return {
            "seeds": list(self.seeds),
            "steps": self.steps.tolist(),
            **{m: getattr(self, m).tolist() for m in METRICS},
        }

    def __repr__(self) -> str:
        last = ", ".join(f"{m}={getattr(self, m)[-1].mean():.3g}" for m in METRICS)
        return f"History({len(self.steps)} evals to step {self.steps[-1]}, mean over seeds: {last})"


@dataclass(frozen=True, eq=False)
class Zoo:
    """Models of one recipe (:class:`ZooConfig`) trained from several seeds.

    ``params`` hold every seed's final weights stacked on a leading seed axis, in the order of
    ``config.seeds``. Use :meth:`models` / :meth:`model` for ordinary ``nn.Module`` copies and
    :meth:`load` for checkpoints.
    """

    config: ZooConfig
    task: Task
    architecture: Architecture
    params: dict[str, torch.Tensor]
    buffers: dict[str, torch.Tensor]
    history_record: dict[str, Any] = field(repr=False)
    out_dir: Path | None = None
    snapshots: dict[int, Stacked] = field(default_factory=dict, repr=False)

    @property
    def seeds(self) -> tuple[int, ...]:
        return self.config.seeds

    @property
    def history(self) -> History:
        """Train/test loss and accuracy per evaluation and seed."""
        return History.from_record(self.seeds, self.history_record)

    def _index(self, seed: int) -> int:
        if seed not in self.seeds:
            raise ValueError(f"seed {seed!r} is not in this zoo; its seeds are {self.seeds}")
        return self.seeds.index(seed)

    def _materialise(self, state: Stacked | None, seed: int) -> nn.Module:
        params = self.params if state is None else state.params
        buffers = self.buffers if state is None else state.buffers
        i = self._index(seed)
        model = self.architecture.build(self.task, seed)
        model.load_state_dict({k: v[i] for k, v in (params | buffers).items()})
        return model

    def model(self, seed: int) -> nn.Module:
        """The final model of ``seed`` (an independent copy, in eval mode)."""
        return self._materialise(None, seed)

    def models(self) -> list[nn.Module]:
        """The final model of every seed, in the order of :attr:`seeds`."""
        return [self.model(s) for s in self.seeds]

    @property
    def checkpoint_steps(self) -> list[int]:
        """Steps with a checkpoint (on disk with ``out_dir``, else kept in memory)."""
        if self.out_dir is None:
            return sorted(self.snapshots)
        return list_steps(self.out_dir)

    def _state(self, step: int) -> Stacked:
        if self.out_dir is not None:
            return load_stacked(self.out_dir, self.config, step)
        if step not in self.snapshots:
            raise ValueError(f"no checkpoint at step {step}; have {self.checkpoint_steps}")
        return self.snapshots[step]

    def load(self, step: int, seed: int) -> nn.Module:
        """The model of ``seed`` after ``step`` updates (a checkpointed step)."""
        self._index(seed)
        return self._materialise(self._state(step), seed)

    def load_all(self, step: int) -> list[nn.Module]:
        """Every seed's model after ``step`` updates, in the order of :attr:`seeds`."""
        state = self._state(step)
        return [self._materialise(state, s) for s in self.seeds]

    def labels(self, step: int | None = None) -> list[MechanismLabels]:
        """Mechanism labels (:func:`~mechequiv.zoo.labels.mechanism_labels`) of every seed's
        final model, or of its checkpoint at ``step``; modular addition only."""
        models = self.models() if step is None else self.load_all(step)
        return [mechanism_labels(m, self.task) for m in models]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary: config, history and checkpoint steps."""
        return {
            "config": self.config.to_dict(),
            "history": self.history.to_dict(),
            "checkpoint_steps": self.checkpoint_steps,
            "out_dir": None if self.out_dir is None else str(self.out_dir),
        }

    def __repr__(self) -> str:
        h = self.history
        return (
            f"Zoo({self.task.name}/{self.architecture.name} {self.architecture.kwargs}, "
            f"seeds={list(self.seeds)}, step={int(h.steps[-1])}, "
            f"train_acc={h.train_acc[-1].mean():.3f}, test_acc={h.test_acc[-1].mean():.3f})"
        )


def load_zoo(out_dir: str | os.PathLike[str], step: int | None = None) -> Zoo:
    """The zoo saved in ``out_dir`` as of checkpoint ``step`` (default: the latest)."""
    config = read_config(out_dir)
    steps = list_steps(out_dir)
    if not steps:
        raise FileNotFoundError(f"{out_dir} holds no checkpoint yet")
    state = load_stacked(out_dir, config, steps[-1] if step is None else step)
    return Zoo(
        config=config,
        task=get_task(config.task, **config.task_kwargs),
        architecture=Architecture(config.architecture, config.arch_kwargs),
        params=state.params,
        buffers=state.buffers,
        history_record=state.history,
        out_dir=Path(out_dir),
    )


def load_checkpoint(
    out_dir: str | os.PathLike[str], seed: int, step: int | None = None
) -> nn.Module:
    """The model of ``seed`` saved in ``out_dir`` after ``step`` updates (default: the latest)."""
    return load_zoo(out_dir, step).model(seed)
