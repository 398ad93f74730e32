"""The recipe of a zoo: task, architecture, seeds and optimiser settings."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

# Fields that change how long or how often we look, not what is trained: a run may be extended
# (more steps) or re-checkpointed under the same identity.
_NOT_IDENTITY = ("steps", "eval_every", "checkpoint_steps", "checkpoint_every")


@dataclass(frozen=True)
class ZooConfig:
    """Everything that determines a zoo's weights.

    AdamW with ``betas``, ``eps`` and decoupled ``weight_decay``; the learning rate warms up
    linearly as ``lr * min(1, (t + 1) / warmup_steps)`` at step t (0-based).
    ``batch_size=None`` is full-batch; otherwise each seed draws its own epoch permutations of the
    train rows (``numpy.random.default_rng([seed, epoch])``) and drops the last partial batch.
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
    format_version: int = field(default=1)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (tuples become lists)."""
        return json.loads(json.dumps(asdict(self)))

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
