"""Zoo training spread over a backend (:mod:`mechequiv.parallel`): chunks of seeds as tasks.

Each chunk is an ordinary vectorised :func:`~mechequiv.zoo.runner.run_zoo` run (the config
with the chunk's seeds). With
``out_dir`` every chunk keeps its own resumable zoo folder (``out_dir/seeds-<first>-<last>``),
so a run interrupted anywhere resumes chunk by chunk; the driver then stacks the chunks into one
:class:`~mechequiv.zoo.result.Zoo` with every seed's weights, history and checkpoints.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from mechequiv.zoo.checkpoints import Stacked
from mechequiv.zoo.config import ZooConfig
from mechequiv.zoo.result import Zoo
from mechequiv.zoo.runner import run_zoo


class _Chunk:
    """A picklable task: train one chunk of seeds, return its stacked final and checkpoint states."""

    def __init__(
        self,
        task: Any,
        arch: Any,
        out_dir: Path | None,
        config: ZooConfig,
        device: torch.device | None = None,
    ) -> None:
        self.task, self.arch, self.out_dir, self.config = task, arch, out_dir, config
        self.device = device

    def __call__(self, seeds: tuple[int, ...]) -> dict[str, Any]:
        folder = None if self.out_dir is None else self.out_dir / f"seeds-{seeds[0]}-{seeds[-1]}"
        config = replace(self.config, seeds=seeds)
        zoo = run_zoo(self.task, self.arch, config, folder, False, self.device)
        states = {step: zoo._state(step) for step in zoo.checkpoint_steps}
        return {"params": zoo.params, "buffers": zoo.buffers, "history": zoo.history_record,
                "states": {s: (st.params, st.buffers, st.history) for s, st in states.items()}}  # fmt: skip


def _cat(parts: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}


def _join_history(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-seed columns side by side; every chunk evaluated at the same steps."""
    out = {"step": parts[0]["step"]}
    for key in parts[0]:
        if key != "step":
            out[key] = [[v for p in parts for v in p[key][e]] for e in range(len(out["step"]))]
    return out


def train_zoo_on(
    backend: Any,
    task: Any,
    arch: Any,
    config: ZooConfig,
    chunks: int | None,
    out_dir: str | os.PathLike[str] | None,
    kwargs: dict[str, Any] | None = None,
    device: torch.device | None = None,
) -> Zoo:
    """Train ``config.seeds`` in ``chunks`` groups on ``backend`` and stack the results.

    ``kwargs`` is ignored (kept for callers of the former signature): ``config`` carries every
    setting, and each chunk trains ``config`` with its own seeds, on ``device`` (default CPU).
    """
    from mechequiv.parallel import get_backend

    backend = get_backend(backend)
    seeds = config.seeds
    n_chunks = min(len(seeds), chunks or getattr(backend, "num_cpus", None) or 2)
    size = -(-len(seeds) // n_chunks)
    groups: Sequence[tuple[int, ...]] = [seeds[i : i + size] for i in range(0, len(seeds), size)]
    fn = _Chunk(task, arch, None if out_dir is None else Path(out_dir), config, device)
    parts = backend.map(fn, groups, description="zoo seed chunks")
    steps = sorted(set.intersection(*(set(p["states"]) for p in parts)))
    snapshots = {
        s: Stacked(
            step=s, params=_cat([p["states"][s][0] for p in parts]),
            buffers=_cat([p["states"][s][1] for p in parts]), moments={},
            history=_join_history([p["states"][s][2] for p in parts]),
        )
        for s in steps
    }  # fmt: skip
    return Zoo(
        config=config, task=task, architecture=arch, params=_cat([p["params"] for p in parts]),
        buffers=_cat([p["buffers"] for p in parts]),
        history_record=_join_history([p["history"] for p in parts]), snapshots=snapshots,
    )  # fmt: skip
