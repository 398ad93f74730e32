"""Boolean tasks (every input row of a truth table and its 0/1 targets) and the paper's recipe.

:func:`train_mlp` reproduces the paper's training recipe on mechequiv's one training loop
(:func:`mechequiv.zoo.ensemble.fit_ensemble`); the gates are the zoo's table
(:data:`mechequiv.zoo.tasks.GATES`) and :func:`make_mlp` builds the zoo's
:class:`~mechequiv.zoo.models.MLP`. :func:`~mechequiv.identifiability._audit` accepts any
``nn.Sequential`` of ``nn.Linear`` and activation layers, so networks from ``train_zoo`` work too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from mechequiv.zoo.ensemble import Optimiser, fit_ensemble
from mechequiv.zoo.models import MLP
from mechequiv.zoo.tasks import GATES as ZOO_GATES
from mechequiv.zoo.tasks import gate_table, truth_table

#: Two-input gates as outputs on the rows (0,0), (0,1), (1,0), (1,1) (A, B): the truth-table view
#: of the one gate table, :data:`mechequiv.zoo.tasks.GATES` (the paper's AND, OR, XOR, IMP,
#: NAND, NOR, NIMP, and XNOR).
GATES: dict[str, tuple[int, ...]] = {name: gate_table(name, 2) for name in ZOO_GATES}


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
    rows = truth_table(n_inputs).astype(np.int8)
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
    """A float64 :class:`~mechequiv.zoo.models.MLP` (an ``nn.Sequential``) with a LeakyReLU
    after *every* ``nn.Linear``, output included (the paper's architecture); PyTorch's default
    initialisation drawn from ``seed`` (the global RNG is left untouched)."""
    widths = [int(w) for w in widths]
    if len(widths) < 2 or min(widths) < 1:
        raise ValueError(f"widths must hold >= 2 positive sizes, got {widths}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return MLP(
            widths[0],
            widths[1:-1],
            widths[-1],
            activation="leaky_relu",
            negative_slope=slope,
            output_activation=True,
            dtype=torch.float64,
        )


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
    per_epoch = -(-len(rows) // batch_size)  # the last batch of an epoch may be partial
    epoch_order: list[torch.Tensor] = []

    def batch(step: int) -> tuple[torch.Tensor, torch.Tensor]:
        # A batch is the full truth table with each row weighted by its multiplicity in the
        # batch; the weights travel as an extra target column. The epoch's order is drawn when
        # the epoch starts, so the generator is consumed as in a plain epoch loop.
        k = step % per_epoch
        if k == 0:
            epoch_order[:] = [rows[torch.randperm(len(rows), generator=gen)]]
        rows_k = epoch_order[0][k * batch_size : (k + 1) * batch_size]
        weight = torch.bincount(rows_k, minlength=m).to(torch.float64) / len(rows_k)
        return x.unsqueeze(0), torch.cat([y, weight[:, None]], dim=1).unsqueeze(0)

    def weighted_mse(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        y_, weight = target[..., :-1], target[..., -1:]
        return (weight * (out - y_) ** 2).sum((1, 2)) / y_.shape[-1]

    state = {"epoch": 0, "best": float("inf"), "bad": 0, "loss": float("inf")}
    epoch_losses: list[float] = []

    def stop(done: int, losses: torch.Tensor) -> bool:
        epoch_losses.append(float(losses[0]))
        if done % per_epoch:
            return False
        state["epoch"] += 1
        state["loss"] = loss_value = float(np.mean(epoch_losses))
        epoch_losses.clear()
        if loss_value < state["best"]:
            state["best"], state["bad"] = loss_value, 0
        else:
            state["bad"] += 1
        return loss_value < loss_target or state["bad"] >= patience

    # AdamW with PyTorch's defaults (betas 0.9/0.999, weight decay 0.01), as the paper.
    fit = fit_ensemble(
        [model],
        batch,
        weighted_mse,
        steps=max_epochs * per_epoch,
        optimiser=Optimiser("adamw", lr=learning_rate, weight_decay=0.01),
        stop=stop,
    )
    fit.load_into([model])
    loss_value, epoch = float(state["loss"]), int(state["epoch"])
    with torch.no_grad():
        correct = bool((torch.round(model(x)) == y).all())
    return TrainedMLP(model, loss_value, epoch, correct and loss_value <= loss_target, seed)
