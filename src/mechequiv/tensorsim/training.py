"""Minimal data generators and a plain training loop for the CPU-scale reproductions.

The data are small and self-contained; :func:`train` (AdamW, cross-entropy, checkpoints as
state-dict copies) runs on mechequiv's one training loop, :mod:`mechequiv.zoo.ensemble`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from mechequiv.zoo.ensemble import (
    Optimiser,
    SeedEnsemble,
    adopt_optimizer,
    mean_cross_entropy,
    train_step,
)
from mechequiv.zoo.tasks import modular_addition as zoo_modular_addition

__all__ = [
    "BlobImages",
    "Checkpoint",
    "blob_images",
    "modular_addition",
    "stamp_trigger",
    "train",
]


@dataclass(frozen=True)
class Checkpoint:
    """A state-dict copy taken after ``step`` optimiser steps."""

    step: int
    state: dict[str, torch.Tensor]


def modular_addition(
    p: int, train_fraction: float, seed: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """All pairs ``(a, b)`` with label ``(a + b) mod p``; inputs are concatenated one-hots (2p).

    Returns ``x (p*p, 2p)``, ``y (p*p,)``, and the train and test index tensors (a random split
    with ``round(train_fraction * p*p)`` training pairs, drawn with ``seed``). ``x`` and ``y``
    are the rows of the one modular-addition task, :func:`mechequiv.zoo.modular_addition`
    (``encoding="one_hot"``, row ``a * p + b``); only the split is this function's own (a torch
    permutation, unsorted, kept so that seeds reproduce earlier results).
    """
    if not 0 < train_fraction < 1:
        raise ValueError(f"train_fraction must be in (0, 1); got {train_fraction}")
    task = zoo_modular_addition(p, encoding="one_hot")
    perm = torch.randperm(p * p, generator=torch.Generator().manual_seed(seed))
    n_train = round(train_fraction * p * p)
    return task.inputs, task.labels, perm[:n_train], perm[n_train:]


@dataclass(frozen=True)
class BlobImages:
    """Synthetic grey-scale ``side x side`` images, flattened, with class labels."""

    x: torch.Tensor
    y: torch.Tensor
    side: int


def blob_images(
    n: int,
    n_classes: int = 10,
    side: int = 12,
    noise: float = 0.35,
    seed: int = 0,
    split: int = 0,
) -> BlobImages:
    """Each class is a fixed sum of three Gaussian blobs (the class prototype, drawn with
    ``seed`` alone, so that every ``split`` shares them); a sample is its class prototype,
    randomly shifted by up to one pixel, times a random contrast in [0.6, 1.2], plus pixel noise
    ``noise``, clipped to [0, 1]. Samples are drawn from ``(seed, split)``: use different splits
    for train and test sets."""
    proto_rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:side, 0:side]
    protos = np.zeros((n_classes, side, side))
    for c in range(n_classes):
        for _ in range(3):
            cy, cx = proto_rng.uniform(1.5, side - 2.5, size=2)
            width = proto_rng.uniform(1.0, 2.2)
            protos[c] += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * width**2))
        protos[c] /= protos[c].max()
    rng = np.random.default_rng([seed, 1 + split])
    y = rng.integers(0, n_classes, size=n)
    shifts = rng.integers(-1, 2, size=(n, 2))
    imgs = np.stack(
        [np.roll(protos[c], tuple(s), axis=(0, 1)) for c, s in zip(y, shifts, strict=True)]
    )
    imgs = imgs * rng.uniform(0.6, 1.2, size=(n, 1, 1)) + noise * rng.standard_normal(imgs.shape)
    x = np.clip(imgs, 0.0, 1.0).reshape(n, side * side)
    return BlobImages(torch.tensor(x, dtype=torch.float32), torch.tensor(y), side)


def stamp_trigger(x: torch.Tensor, side: int, size: int = 3) -> torch.Tensor:
    """Copy of ``x`` with a ``size x size`` checkerboard patch in the top-right corner."""
    imgs = x.reshape(-1, side, side).clone()
    patch = (torch.arange(size)[:, None] + torch.arange(size)[None, :]) % 2
    imgs[:, :size, side - size :] = patch.to(imgs.dtype)
    return imgs.reshape(x.shape)


def train(
    model: nn.Module,
    sample: Callable[[torch.Generator], tuple[torch.Tensor, torch.Tensor]],
    steps: int,
    checkpoint_steps: Sequence[int],
    *,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    seed: int = 0,
    optimizer: torch.optim.Optimizer | None = None,
    start_step: int = 0,
) -> tuple[list[Checkpoint], torch.optim.Optimizer]:
    """Train ``model`` in place with AdamW and cross-entropy on batches from ``sample(gen)``.

    Checkpoints are taken at every step in ``checkpoint_steps`` (counted from 0 =
    before training, offset by ``start_step`` so that a second phase continues the count).
    Returns the checkpoints and the optimiser (pass it back in to continue training; an
    optimiser built over ``model.parameters()`` works too). Runs on the one training loop
    (:func:`mechequiv.zoo.ensemble.train_step` on a one-model ensemble).
    """
    gen = torch.Generator().manual_seed(seed)
    ensemble = SeedEnsemble([model], single_as_plain=True)
    if optimizer is None:
        optimizer = Optimiser("adamw", lr=lr, weight_decay=weight_decay).build(
            list(ensemble.params.values())
        )
    else:
        adopt_optimizer(optimizer, ensemble)
    wanted = set(checkpoint_steps)
    out: list[Checkpoint] = []

    def snap(step: int) -> None:
        if step in wanted:
            out.append(Checkpoint(step, ensemble.state_dicts()[0]))

    snap(start_step)
    for step in range(start_step + 1, start_step + steps + 1):
        x, y = sample(gen)
        train_step(ensemble, optimizer, None, x.unsqueeze(0), y.unsqueeze(0), mean_cross_entropy)
        snap(step)
    model.load_state_dict(ensemble.state_dicts()[0])
    return out, optimizer
