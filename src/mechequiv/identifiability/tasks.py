"""Boolean tasks: every input row of a (partial) truth table and its 0/1 targets."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

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
        return self.inputs.shape[1]

    @property
    def n_outputs(self) -> int:
        return self.targets.shape[1]

    def to_dict(self) -> dict:
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
        return BooleanTask(rows, table, name or getattr(target, "__name__", "task"))
    table = np.asarray(target)
    if table.shape[0] != rows.shape[0]:
        raise ValueError(f"truth table needs {rows.shape[0]} rows, got {table.shape[0]}")
    return BooleanTask(rows, table, name or "task")


def as_task(task: BooleanTask | str | Sequence[str]) -> BooleanTask:
    """A :class:`BooleanTask` from a task or a (list of) two-input gate name(s)."""
    if isinstance(task, BooleanTask):
        return task
    if isinstance(task, str) or (isinstance(task, list | tuple) and task
                                 and all(isinstance(t, str) for t in task)):
        return boolean_task(task)
    raise TypeError(f"task must be a BooleanTask or gate name(s), got {type(task).__name__}")
