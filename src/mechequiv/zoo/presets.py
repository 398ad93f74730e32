"""Ready recipes: Pizza and Clock transformers on modular addition (Zhong et al. 2023).

The attention rate alone decides the mechanism: ``alpha = 0`` (constant attention) gives the
Pizza, ``alpha = 1`` (softmax attention) the Clock. The quick recipe is tuned to generalise in
about a thousand full-batch steps on one CPU core (see benchmarks/bench_zoo.py for timings).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mechequiv.zoo.models import Architecture, transformer
from mechequiv.zoo.result import Zoo
from mechequiv.zoo.tasks import Task, modular_addition
from mechequiv.zoo.train import train_zoo

ALPHAS = {"pizza": 0.0, "clock": 1.0}

#: Small and fast: p = 23, d_model = 32, full batch, AdamW lr 1e-2, weight decay 1.
QUICK: dict[str, Any] = {
    "p": 23,
    "train_fraction": 0.8,
    "d_model": 32,
    "n_heads": 4,
    "lr": 1e-2,
    "weight_decay": 1.0,
    "steps": 1000,
}
#: Closer to Zhong et al. (p = 59, d_model = 128, lr 1e-3, weight decay 2, 20000 epochs), scaled
#: to CPU: p = 31, d_model = 64.
FULL: dict[str, Any] = {
    "p": 31,
    "train_fraction": 0.8,
    "d_model": 64,
    "n_heads": 4,
    "lr": 3e-3,
    "weight_decay": 1.0,
    "steps": 3000,
}


def pizza_clock_recipe(kind: str, quick: bool = True) -> tuple[Task, Architecture, dict[str, Any]]:
    """``(task, architecture, train_zoo keyword arguments)`` of the Pizza or Clock recipe."""
    if kind not in ALPHAS:
        raise ValueError(f"kind must be one of {sorted(ALPHAS)}, got {kind!r}")
    r = QUICK if quick else FULL
    task = modular_addition(r["p"], train_fraction=r["train_fraction"])
    arch = transformer(alpha=ALPHAS[kind], d_model=r["d_model"], n_heads=r["n_heads"])
    return task, arch, {k: r[k] for k in ("lr", "weight_decay", "steps")}


def pizza_clock(
    seeds: Iterable[int] = range(4),
    quick: bool = True,
    out_dir: str | os.PathLike | None = None,
    progress: bool | None = None,
    **train_kwargs: Any,
) -> dict[str, Zoo]:
    """Train Pizza (alpha = 0) and Clock (alpha = 1) transformers, ``seeds`` of each.

    Returns ``{"pizza": Zoo, "clock": Zoo}``. With ``out_dir`` the zoos live (resumably) in
    ``out_dir/pizza`` and ``out_dir/clock``. ``train_kwargs`` override the recipe's
    :func:`train_zoo` arguments (e.g. ``steps``, ``eval_every``, ``checkpoint_steps``).
    """
    seeds = tuple(seeds)
    zoos = {}
    for kind in ALPHAS:
        task, arch, kw = pizza_clock_recipe(kind, quick)
        zoos[kind] = train_zoo(
            task,
            arch,
            seeds,
            out_dir=None if out_dir is None else Path(out_dir) / kind,
            progress=progress,
            **{**kw, **train_kwargs},
        )
    return zoos
