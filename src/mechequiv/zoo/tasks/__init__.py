"""Tasks with known mechanisms and a registry ``get_task(name, **kwargs)``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mechequiv.zoo.tasks._boolean import GATES, TWO_INPUT_GATES, boolean, gate_table, truth_table
from mechequiv.zoo.tasks.base import Task, split_indices
from mechequiv.zoo.tasks.modular import ENCODINGS, modular_addition, operands
from mechequiv.zoo.tasks.sequence import histogram

TASKS: dict[str, Callable[..., Task]] = {
    "modular_addition": modular_addition,
    "boolean": boolean,
    "histogram": histogram,
}


def get_task(name: str, **kwargs: Any) -> Task:
    """Build the registered task ``name`` (one of :data:`TASKS`) with ``kwargs``."""
    if not isinstance(name, str):
        raise TypeError(f"task name must be a str, got {type(name).__name__}")
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; expected one of {sorted(TASKS)}")
    return TASKS[name](**kwargs)


__all__ = [
    "ENCODINGS",
    "GATES",
    "TASKS",
    "TWO_INPUT_GATES",
    "Task",
    "boolean",
    "gate_table",
    "get_task",
    "histogram",
    "modular_addition",
    "operands",
    "split_indices",
    "truth_table",
]
