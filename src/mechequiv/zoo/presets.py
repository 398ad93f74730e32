"""A ready recipe: Pizza and Clock transformers on modular addition (Zhong et al. 2023).

The attention rate alone decides the mechanism: ``alpha = 0`` (constant attention) gives the
Pizza, ``alpha = 1`` (softmax attention) the Clock. The recipe is a CPU-sized version of Zhong et
al.'s (they use p = 59, d_model = 128, lr 1e-3, weight decay 2, 20000 full-batch epochs).

How this recipe trains (test accuracy, the first step at 100%, gradient symmetricity and key
frequencies of seeds 0-3) is measured by ``benchmarks/bench_zoo.py`` and kept in
``benchmarks/results/zoo.json`` (``generalisation``), not here, where figures would go stale.
In short: every Clock generalises fully; a Pizza can stop short of 100%, missing pairs where
``cos(w (a - b) / 2)`` is near 0; gradient symmetricity separates every Pizza from every Clock.
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

#: p = 23, 80% of pairs for training, d_model = 32 (4 heads, d_mlp = 128, one layer, no
#: LayerNorm), full batch, AdamW lr 1e-2 (10 warm-up steps), weight decay 1, 1000 steps.
RECIPE: dict[str, Any] = {
    "p": 23,
    "train_fraction": 0.8,
    "d_model": 32,
    "n_heads": 4,
    "lr": 1e-2,
    "weight_decay": 1.0,
    "steps": 1000,
}


def pizza_clock_recipe(kind: str) -> tuple[Task, Architecture, dict[str, Any]]:
    """``(task, architecture, train_zoo keyword arguments)`` of the Pizza or Clock recipe."""
    if kind not in ALPHAS:
        raise ValueError(f"kind must be one of {sorted(ALPHAS)}, got {kind!r}")
    task = modular_addition(RECIPE["p"], train_fraction=RECIPE["train_fraction"])
    arch = transformer(alpha=ALPHAS[kind], d_model=RECIPE["d_model"], n_heads=RECIPE["n_heads"])
    return task, arch, {k: RECIPE[k] for k in ("lr", "weight_decay", "steps")}


def pizza_clock(
    seeds: Iterable[int] = range(4),
    out_dir: str | os.PathLike[str] | None = None,
    progress: bool | None = None,
    **train_kwargs: Any,
) -> dict[str, Zoo]:
    """Train Pizza (alpha = 0) and Clock (alpha = 1) transformers, ``seeds`` of each.

    Returns ``{"pizza": Zoo, "clock": Zoo}``. With ``out_dir`` the zoos live (resumably) in
    ``out_dir/pizza`` and ``out_dir/clock``. ``train_kwargs`` override the recipe's
    :func:`train_zoo` arguments (e.g. ``steps=3000``, ``eval_every``, ``checkpoint_steps``).
    """
    seeds = tuple(seeds)
    zoos = {}
    for kind in ALPHAS:
        task, arch, kw = pizza_clock_recipe(kind)
        zoos[kind] = train_zoo(
            task,
            arch,
            seeds,
            out_dir=None if out_dir is None else Path(out_dir) / kind,
            progress=progress,
            **{**kw, **train_kwargs},
        )
    return zoos
