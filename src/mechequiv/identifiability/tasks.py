"""Boolean tasks (every input row of a truth table and its 0/1 targets) and a minimal trainer.

The trainer reproduces the paper's recipe for tests and benchmarks; the zoo's vectorised trainer
(``mechequiv.zoo``) can replace it: :func:`~mechequiv.identifiability.audit` accepts any
``nn.Sequential`` of ``nn.Linear`` and activation layers.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

#: Two-input gates of the paper, as outputs on the rows (0,0), (0,1), (1,0), (1,1) (A, B).
GATES: dict[str, tuple[int, int, int, int]] = {
    "AND": (0, 0, 0, 1),
    "OR": (0, 1, 1, 1),
    "XOR": (0, 1, 1, 0),
    "IMP": (1, 1, 0, 1),
    "NAND": (1, 1, 1, 0),
    "NOR": (1, 0, 0, 0),
    "NIMP": (0, 0, 1, 0),
}


@dataclass(frozen=True, eq=False)
class BooleanTask:
    """Inputs ``(m, n_in)`` and targets ``(m, n_out)``, all 0/1, one row per input pattern.

    Row order matters only for the one-directional pair convention of the alignment search
    (source = earlier row, base = later row).
    """

    inputs: np.ndarray
    targets: np.ndarray
    name: str = "task"

    def __post_init__(self) -> None:
        x = _binary(self.inputs, "inputs")
        y = _binary(self.targets, "targets")
        if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
            raise ValueError(
                f"inputs must be (m, n_in) and targets (m, n_out) with the same m, got "
                f"{x.shape} and {y.shape}"
            )
        if len({tuple(r) for r in x}) != x.shape[0]:
            raise ValueError("inputs contain a repeated row; give each input pattern once")
        object.__setattr__(self, "inputs", x)
        object.__setattr__(self, "targets", y)

    @property
    def n_inputs(self) -> int:
        result: int = self.inputs.shape[1]
        return result

    @property
    def n_outputs(self) -> int:
        result: int = self.targets.shape[1]
        return result

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "inputs": self.inputs.tolist(),
            "targets": self.targets.tolist(),
        }


def _binary(a: object, what: str) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    if not isinstance(a, np.ndarray | list | tuple):
        raise TypeError(f"{what} must be an array or tensor, got {type(a).__name__}")
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if not np.all(np.isin(arr, (0.0, 1.0))):
        bad = arr[~np.isin(arr, (0.0, 1.0))].ravel()[:3].tolist()
        raise ValueError(f"{what} must be Boolean (0/1), found values such as {bad}")
    return arr.astype(np.int8)


def boolean_task(
    target: str | Sequence[str] | Callable[..., object] | np.ndarray | Sequence[int],
    n_inputs: int = 2,
    name: str | None = None,
) -> BooleanTask:
    """Build a full-truth-table task on ``{0,1}^n_inputs`` (rows in lexicographic order).

    Parameters
    ----------
    target
        A gate name from :data:`GATES` (two inputs), a list of names (multi-output), a callable
        taking ``n_inputs`` 0/1 ints and returning one bit or a tuple of bits, or a truth table
        of shape ``(2**n_inputs,)`` or ``(2**n_inputs, n_out)`` in row order.
    """
    rows = np.array(list(itertools.product((0, 1), repeat=n_inputs)), dtype=np.int8)
    if isinstance(target, str):
        target = [target]
    if isinstance(target, list | tuple) and target and all(isinstance(t, str) for t in target):
        unknown = [t for t in target if t.upper() not in GATES]
        if unknown:
            raise ValueError(f"unknown gate(s) {unknown}; known: {sorted(GATES)}")
        if n_inputs != 2:
            raise ValueError(f"named gates take 2 inputs, got n_inputs={n_inputs}")
        table = np.array([GATES[t.upper()] for t in target]).T
        return BooleanTask(rows, table, name or "+".join(t.upper() for t in target))
    if callable(target):
        table = np.array([np.atleast_1d(np.asarray(target(*r), dtype=np.float64)) for r in rows])
        label = name or str(getattr(target, "__name__", "task"))
        return BooleanTask(rows, table, label)
    table = np.asarray(target)
    if table.shape[0] != rows.shape[0]:
        raise ValueError(f"truth table needs {rows.shape[0]} rows, got {table.shape[0]}")
    return BooleanTask(rows, table, name or "task")


def as_task(task: BooleanTask | str | Sequence[str]) -> BooleanTask:
    """A :class:`BooleanTask` from a task or a (list of) two-input gate name(s)."""
    if isinstance(task, BooleanTask):
        return task
    if isinstance(task, str) or (
        isinstance(task, list | tuple) and task and all(isinstance(t, str) for t in task)
    ):
        return boolean_task(task)
    raise TypeError(f"task must be a BooleanTask or gate name(s), got {type(task).__name__}")


def make_mlp(widths: Sequence[int], *, slope: float = 0.01, seed: int = 0) -> nn.Sequential:
    """``nn.Sequential`` MLP with a LeakyReLU after *every* ``nn.Linear``, output included (the
    paper's architecture); PyTorch's default initialisation drawn from ``seed`` (the global
    RNG is left untouched)."""
    widths = [int(w) for w in widths]
    if len(widths) < 2 or min(widths) < 1:
        raise ValueError(f"widths must hold >= 2 positive sizes, got {widths}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layers: list[nn.Module] = []
        for n_in, n_out in itertools.pairwise(widths):
            layers += [nn.Linear(n_in, n_out, dtype=torch.float64), nn.LeakyReLU(slope)]
    return nn.Sequential(*layers)


@dataclass(frozen=True, eq=False)
class TrainedMLP:
    """A trained network; ``converged`` = final epoch loss <= the loss target and every task row
    correct after rounding the output (the paper keeps only such networks)."""

    model: nn.Sequential
    loss: float
    epochs: int
    converged: bool
    seed: int

    def __repr__(self) -> str:
        return (
            f"TrainedMLP(seed={self.seed}, loss={self.loss:.2e}, epochs={self.epochs}, "
            f"converged={self.converged})"
        )


def train_mlp(
    task: BooleanTask | str | Sequence[str],
    hidden: Sequence[int] = (3, 3),
    *,
    seed: int = 0,
    learning_rate: float = 1e-3,
    batch_size: int = 100,
    n_train: int = 1000,
    max_epochs: int = 1000,
    loss_target: float = 0.01,
    patience: int = 3,
) -> TrainedMLP:
    """Train ``make_mlp((n_in, *hidden, n_out))`` with the paper's recipe.

    MSE on the 0/1 targets, AdamW (default weight decay), ``n_train`` copies of each truth-table
    row drawn uniformly at random (``n_train * 2**n_in`` rows) and reshuffled every epoch into
    batches of ``batch_size``; stop when the epoch's mean batch loss falls below ``loss_target``
    or has not improved for ``patience`` epochs. A batch's loss is computed on the distinct rows
    weighted by their multiplicity, which equals the batch MSE. Deterministic given ``seed``.
    """
    task = as_task(task)
    x = torch.as_tensor(task.inputs, dtype=torch.float64)
    y = torch.as_tensor(task.targets, dtype=torch.float64)
    m = x.shape[0]
    model = make_mlp((task.n_inputs, *hidden, task.n_outputs), seed=seed)
    gen = torch.Generator().manual_seed(seed)
    rows = torch.randint(m, (n_train * m,), generator=gen)
    opt = torch.optim.AdamW(model.parameters(), lr=learning_rate)
    best, bad, loss_value, epoch = float("inf"), 0, float("inf"), 0
    for epoch in range(1, max_epochs + 1):  # noqa: B007 (epoch is reported)
        order = rows[torch.randperm(len(rows), generator=gen)]
        losses = []
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            weight = torch.bincount(batch, minlength=m).to(torch.float64) / len(batch)
            opt.zero_grad()
            loss = (weight[:, None] * (model(x) - y) ** 2).sum() / y.shape[1]
            loss.backward()
            opt.step()
            losses.append(loss.item())
        loss_value = float(np.mean(losses))
        if loss_value < best:
            best, bad = loss_value, 0
        else:
            bad += 1
        if loss_value < loss_target or bad >= patience:
            break
    with torch.no_grad():
        correct = bool((torch.round(model(x)) == y).all())
    return TrainedMLP(model, loss_value, epoch, correct and loss_value <= loss_target, seed)
