"""The recipe of a zoo: task, architecture, seeds and optimiser settings."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Any

from mechequiv.zoo.tasks.base import check_int

# Fields that change how long or how often we look, not what is trained: a run may be extended
# (more steps) or re-checkpointed under the same identity.
_NOT_IDENTITY = ("steps", "eval_every", "checkpoint_steps", "checkpoint_every")


@dataclass(frozen=True)
class ZooConfig:
    """Everything that determines a zoo's weights.

    AdamW (decoupled ``weight_decay`` on every parameter, ``betas``, ``eps``); the learning rate
    warms up linearly as ``lr * min(1, (t + 1) / warmup_steps)`` for the update at 0-based step t.
    ``batch_size=None`` is full-batch; otherwise seed s visits the train rows in the order of the
    permutations ``numpy.random.default_rng([s, epoch]).permutation(n_train)`` in consecutive
    batches, dropping each epoch's last partial batch. Evaluations happen after every
    ``eval_every`` updates (and at 0 and ``steps``); checkpoints after the updates listed in
    ``checkpoint_steps``, every ``checkpoint_every`` updates, and at ``steps``.
    """

    task: str
    task_kwargs: dict[str, Any]
    architecture: str
    arch_kwargs: dict[str, Any]
    seeds: tuple[int, ...]
    steps: int = 1000
    lr: float = 1e-3
    weight_decay: float = 1.0
    betas: tuple[float, float] = (0.9, 0.98)
    eps: float = 1e-8
    batch_size: int | None = None
    warmup_steps: int = 10
    eval_every: int = 100
    checkpoint_steps: tuple[int, ...] = ()
    checkpoint_every: int | None = None
    format_version: int = 1

    def __post_init__(self) -> None:
        check_int(self.steps, "steps", 0)
        check_int(self.warmup_steps, "warmup_steps", 0)
        check_int(self.eval_every, "eval_every", 1)
        if self.batch_size is not None:
            check_int(self.batch_size, "batch_size", 1)
        if self.checkpoint_every is not None:
            check_int(self.checkpoint_every, "checkpoint_every", 1)
        for name in ("lr", "weight_decay", "eps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"{name} must be a number, got {type(value).__name__}")
            if not math.isfinite(value) or value < 0 or (value == 0 and name != "weight_decay"):
                raise ValueError(f"{name} must be finite and positive, got {value}")
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {self.betas}")
        for step in self.checkpoint_steps:
            if not 0 <= check_int(step, "checkpoint step", 0) <= self.steps:
                raise ValueError(f"checkpoint step {step} lies outside [0, steps={self.steps}]")

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (tuples become lists)."""
        result: dict[str, Any] = json.loads(json.dumps(asdict(self)))
        return result

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ZooConfig:
        """Inverse of :meth:`to_dict`."""
        d = dict(d)
        for key in ("seeds", "betas", "checkpoint_steps"):
            d[key] = tuple(d[key])
        return cls(**d)

    def identity(self) -> dict[str, Any]:
        """The part of the config a checkpoint must match to be resumed or loaded."""
        d = self.to_dict()
        for key in _NOT_IDENTITY:
            d.pop(key)
        return d

    def lr_at(self, step: int) -> float:
        """Learning rate used for the update at 0-based ``step``."""
        return self.lr * min(1.0, (step + 1) / max(1, self.warmup_steps))

    def checkpoint_at(self, step: int) -> bool:
        """Whether a checkpoint is saved after ``step`` updates."""
        every = self.checkpoint_every
        return (
            step == self.steps
            or step in self.checkpoint_steps
            or bool(every and step % every == 0 and step > 0)
        )

    def evaluate_at(self, step: int) -> bool:
        """Whether train/test metrics are recorded after ``step`` updates."""
        return step % self.eval_every == 0 or step == self.steps
