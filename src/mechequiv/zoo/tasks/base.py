"""The task record shared by every task: data, a fixed train/test split, and what the model outputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch

from mechequiv.validation import check_int as check_int  # re-exported

InputKind = Literal["tokens", "features"]


@dataclass(frozen=True, eq=False)
class Task:
    """A supervised task with a fixed split.

    Attributes
    ----------
    name : str
        Registry name (see :func:`mechequiv.zoo.tasks.get_task`).
    inputs : torch.Tensor
        ``(N, T)`` int64 token ids when ``input_kind == "tokens"``, else ``(N, F)`` float32
        features: exactly what the zoo's models for this task take, ``model(task.inputs)``.
    labels : torch.Tensor
        Class ids (int64, ``(N,)`` or ``(N, T)`` for per-position labels) when
        ``loss == "cross_entropy"``; float32 ``(N, n_outputs)`` 0/1 targets when ``loss == "mse"``.
    train_idx, test_idx : torch.Tensor
        Disjoint sorted int64 row indices into ``inputs``/``labels`` (see also
        :attr:`train_mask`, :attr:`test_mask`).
    seed : int
        The seed of the split (and of any sampled data).
    n_outputs : int
        Number of classes (cross-entropy) or output units (MSE).
    loss : {"cross_entropy", "mse"}
    input_kind : {"tokens", "features"}
    vocab_size : int or None
        Token vocabulary (token tasks only).
    readout : {"last", "all"}
        For sequence models: predict from the last position only, or at every position.
    kwargs : dict
        The exact arguments that rebuild this task with ``get_task(name, **kwargs)``.
    """

    name: str
    inputs: torch.Tensor
    labels: torch.Tensor
    train_idx: torch.Tensor
    test_idx: torch.Tensor
    seed: int
    n_outputs: int
    loss: Literal["cross_entropy", "mse"]
    input_kind: InputKind
    vocab_size: int | None = None
    readout: Literal["last", "all"] = "last"
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def train_mask(self) -> torch.Tensor:
        """Boolean ``(N,)`` mask of the training rows."""
        return self._mask(self.train_idx)

    @property
    def test_mask(self) -> torch.Tensor:
        """Boolean ``(N,)`` mask of the test rows."""
        return self._mask(self.test_idx)

    def _mask(self, idx: torch.Tensor) -> torch.Tensor:
        mask = torch.zeros(len(self.inputs), dtype=torch.bool)
        mask[idx] = True
        return mask

    def __repr__(self) -> str:
        return (
            f"Task({self.name!r}, n={len(self.inputs)}, train={len(self.train_idx)}, "
            f"test={len(self.test_idx)}, n_outputs={self.n_outputs}, loss={self.loss!r}, "
            f"kwargs={self.kwargs})"
        )


def split_indices(n: int, train_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded random split of ``range(n)`` into sorted train and test indices.

    ``round(train_fraction * n)`` rows go to train; both parts must be non-empty.
    """
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction must lie in (0, 1), got {train_fraction!r}")
    n_train = round(train_fraction * n)
    if not 0 < n_train < n:
        raise ValueError(
            f"train_fraction={train_fraction} of {n} rows leaves an empty train or test set"
        )
    perm = np.random.default_rng(seed).permutation(n)
    train = torch.as_tensor(np.sort(perm[:n_train]), dtype=torch.int64)
    test = torch.as_tensor(np.sort(perm[n_train:]), dtype=torch.int64)
    return train, test
