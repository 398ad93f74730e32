"""The vocabulary of setting checks: each ``check(value, path) -> list of problems``.

A section's settings dataclass names one check per field (:func:`mechequiv.study.sections.base.
setting`); :mod:`mechequiv.study.settings` runs them over a whole TOML file. Each problem is one
short phrase naming the key path (``zoo.seeds``) and what was expected. TOML booleans are Python
``bool``, a subclass of ``int``: integer keys refuse them explicitly, and boolean keys accept
nothing else (``enabled = "no"`` is refused, not read as true).

Checks that belong to one experiment live in its section (``gate_task`` in the identifiability
section, ``ExperimentSetting`` in the tensorsim section) or beside the zoo models
(``model_pair``); the measure checks import the measure registry when they run.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

Check = Callable[[Any, str], list[str]]


def _type_name(value: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a float", str: "a string",
             list: "an array", dict: "a table"}  # fmt: skip
    return names.get(type(value), type(value).__name__)


def got(value: Any) -> str:
    return f"got {value!r} ({_type_name(value)})"


def did_you_mean(word: str, options: Sequence[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest option, or ``""``."""
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


@dataclass(frozen=True)
class Integer:
    minimum: int | None = None

    def __call__(self, value: Any, path: str) -> list[str]:
        if not isinstance(value, int) or isinstance(value, bool):
            return [f"{path} must be an integer, {got(value)}"]
        if self.minimum is not None and value < self.minimum:
            return [f"{path} must be >= {self.minimum}, got {value}"]
        return []


@dataclass(frozen=True)
class Number:
    minimum: float | None = None
    maximum: float | None = None

    def __call__(self, value: Any, path: str) -> list[str]:
        if not isinstance(value, int | float) or isinstance(value, bool):
            return [f"{path} must be a number, {got(value)}"]
        low = self.minimum if self.minimum is not None else -float("inf")
        high = self.maximum if self.maximum is not None else float("inf")
        if not low <= value <= high:
            return [f"{path} must be in [{low:g}, {high:g}], got {value}"]
        return []


def boolean(value: Any, path: str) -> list[str]:
    if not isinstance(value, bool):
        return [f"{path} must be true or false, {got(value)}"]
    return []


def text(value: Any, path: str) -> list[str]:
    return [] if isinstance(value, str) else [f"{path} must be a string, {got(value)}"]


@dataclass(frozen=True)
class Choice:
    choices: tuple[str, ...]

    def __call__(self, value: Any, path: str) -> list[str]:
        if isinstance(value, str) and value in self.choices:
            return []
        hint = did_you_mean(value, self.choices) if isinstance(value, str) else ""
        return [f"{path} must be one of {list(self.choices)}, {got(value)}{hint}"]


@dataclass(frozen=True)
class ListOf:
    item: Check
    min_len: int = 1

    def __call__(self, value: Any, path: str) -> list[str]:
        if not isinstance(value, list):
            return [f"{path} must be an array, {got(value)}"]
        if len(value) < self.min_len:
            return [f"{path} must hold at least {self.min_len} entries, got {len(value)}"]
        return [p for i, v in enumerate(value) for p in self.item(v, f"{path}[{i}]")]


def representational_measure(value: Any, path: str) -> list[str]:
    """A registered measure that compares representations (not outputs)."""
    from mechequiv import measures

    known = measures.names(functional=False)
    if isinstance(value, str) and value in known:
        return []
    hint = did_you_mean(value, known) if isinstance(value, str) else ""
    return [f"{path}: unknown measure {value!r}{hint} (registered: {', '.join(known)})"]


def congruity_distance(value: Any, path: str) -> list[str]:
    """``repr_distance``, ``ridge`` or a registered representational measure."""
    if value in ("repr_distance", "ridge"):
        return []
    problems = representational_measure(value, path)
    return [p.replace(" (registered:", " (repr_distance, ridge or") for p in problems]


POSITIVE = Integer(minimum=1)
