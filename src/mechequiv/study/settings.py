"""The study's settings schema: the type and the allowed values of every key of the study TOML.

:func:`mechequiv.study.load_config` checks a whole configuration against :data:`SCHEMA` (and
the cross-step rules of :func:`cross_check`) before any step runs, so a wrong type or value in
the last table is reported before the first step trains anything. Each check returns a list of
problems, one short phrase each, naming the key path (``zoo.seeds``) and what was expected.
TOML booleans are Python ``bool``, a subclass of ``int``: integer keys refuse them explicitly,
and boolean keys accept nothing else (``enabled = "no"`` is refused, not read as true).

The registries the checks consult (measures, gates, tensorsim settings) are imported inside the
checks: they pull in torch and the methods, which ``--show-config`` and a refused file should not
wait for (the tests run every check on the default study, so these imports are exercised).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: The representations the study can compare (``representation`` keys), with what they mean.
REPRESENTATIONS: dict[str, str] = {
    "fourier": "Fourier modules of each block's attention output and MLP neurons, moved to "
    "frequency 1 (FourierModuleReprs)",
    "residual": "residual stream after each block, last token",
}

#: Model groups of the zoo step, in order: ``pizza-0``, ... and ``clock-0``, ...
ZOO_GROUPS = ("pizza", "clock")

Check = Callable[[Any, str], list[str]]


def _type_name(value: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a float", str: "a string",
             list: "an array", dict: "a table"}  # fmt: skip
    return names.get(type(value), type(value).__name__)


def _got(value: Any) -> str:
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
            return [f"{path} must be an integer, {_got(value)}"]
        if self.minimum is not None and value < self.minimum:
            return [f"{path} must be >= {self.minimum}, got {value}"]
        return []


@dataclass(frozen=True)
class Number:
    minimum: float | None = None
    maximum: float | None = None

    def __call__(self, value: Any, path: str) -> list[str]:
        if not isinstance(value, int | float) or isinstance(value, bool):
            return [f"{path} must be a number, {_got(value)}"]
        low = self.minimum if self.minimum is not None else -float("inf")
        high = self.maximum if self.maximum is not None else float("inf")
        if not low <= value <= high:
            return [f"{path} must be in [{low:g}, {high:g}], got {value}"]
        return []


def boolean(value: Any, path: str) -> list[str]:
    if not isinstance(value, bool):
        return [f"{path} must be true or false, {_got(value)}"]
    return []


def text(value: Any, path: str) -> list[str]:
    return [] if isinstance(value, str) else [f"{path} must be a string, {_got(value)}"]


@dataclass(frozen=True)
class Choice:
    choices: tuple[str, ...]

    def __call__(self, value: Any, path: str) -> list[str]:
        if isinstance(value, str) and value in self.choices:
            return []
        hint = did_you_mean(value, self.choices) if isinstance(value, str) else ""
        return [f"{path} must be one of {list(self.choices)}, {_got(value)}{hint}"]


@dataclass(frozen=True)
class ListOf:
    item: Check
    min_len: int = 1

    def __call__(self, value: Any, path: str) -> list[str]:
        if not isinstance(value, list):
            return [f"{path} must be an array, {_got(value)}"]
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


def gate_task(value: Any, path: str) -> list[str]:
    """A two-input gate name (or a list of them) of the identifiability task table."""
    from mechequiv.identifiability.tasks import GATES

    names = value if isinstance(value, list) and value else [value]
    bad = [v for v in names if not isinstance(v, str) or v.upper() not in GATES]
    if bad:
        return [f"{path} must name gates among {sorted(GATES)} (or a list of them), "
                f"got {value!r}{did_you_mean(str(bad[0]).upper(), sorted(GATES))}"]  # fmt: skip
    return []


def model_pair(value: Any, path: str) -> list[str]:
    """``["pizza-0", "clock-1"]``; whether the names exist is checked by :func:`cross_check`."""
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)):
        return [f"{path} must be a pair of model names such as [\"pizza-0\", \"clock-0\"], "
                f"{_got(value)}"]  # fmt: skip
    return []


@dataclass(frozen=True)
class ExperimentSetting:
    """``"quick"``, ``"full"``, a table overriding fields of the quick setting, or (when
    ``optional``) ``false`` to skip the experiment. Field types follow the quick setting's."""

    table: str  # "grokking" or "backdoor"
    optional: bool

    def _defaults(self) -> Mapping[str, dict[str, Any]]:
        from mechequiv.tensorsim.experiments import BACKDOOR_SETTINGS, GROKKING_SETTINGS

        return GROKKING_SETTINGS if self.table == "grokking" else BACKDOOR_SETTINGS

    def __call__(self, value: Any, path: str) -> list[str]:
        defaults = self._defaults()
        names = " or ".join(f"{k!r}" for k in defaults)
        if value is False and self.optional:
            return []
        if isinstance(value, str) and value in defaults:
            return []
        if isinstance(value, dict):
            quick = defaults["quick"]
            out = []
            for key, v in value.items():
                if key not in quick:
                    out.append(f"unknown key {path}.{key}{did_you_mean(key, list(quick))} "
                               f"(known: {', '.join(quick)})")  # fmt: skip
                elif isinstance(quick[key], float):
                    out += Number(minimum=0.0)(v, f"{path}.{key}")
                else:
                    out += Integer(minimum=0)(v, f"{path}.{key}")
            return out
        skip = ", false to skip it" if self.optional else ""
        return [f"{path} must be {names}, a table of settings{skip}; {_got(value)}"]


_POSITIVE = Integer(minimum=1)

#: Every table and key of the study TOML with its check (``[quick.<step>]`` tables reuse them).
SCHEMA: dict[str, dict[str, Check]] = {
    "study": {"title": text, "seed": Integer(minimum=0)},
    "zoo": {"enabled": boolean, "seeds": _POSITIVE, "steps": _POSITIVE, "eval_every": _POSITIVE},
    "equivalence": {
        "enabled": boolean,
        "n": _POSITIVE,
        "distance": congruity_distance,
        "representation": Choice(tuple(REPRESENTATIONS)),
        "baseline_representation": Choice(tuple(REPRESENTATIONS)),
        "baselines": ListOf(representational_measure, min_len=0),
    },
    "tensorsim": {
        "enabled": boolean,
        "grokking": ExperimentSetting("grokking", optional=False),
        "backdoor": ExperimentSetting("backdoor", optional=True),
    },
    "identifiability": {
        "enabled": boolean,
        "task": gate_task,
        "widths": ListOf(_POSITIVE),
        "seeds": _POSITIVE,
        "max_tries": _POSITIVE,
    },
    "measures": {
        "enabled": boolean,
        "representation": Choice(tuple(REPRESENTATIONS)),
        "pairs": ListOf(model_pair),
    },
}


def check_tables(tree: Any, where: str = "") -> list[str]:
    """Problems of a parsed TOML tree (user file or ``[quick]`` table): unknown tables and keys
    (with a did-you-mean), non-tables, and every value's type and range."""
    if not isinstance(tree, dict):
        return [f"{where.rstrip('.') or 'the file'} must be a table, {_got(tree)}"]
    out = []
    for table, keys in tree.items():
        path = f"{where}{table}"
        if table not in SCHEMA:
            out.append(f"unknown table [{path}]{did_you_mean(table, list(SCHEMA))} "
                       f"(known: {', '.join(SCHEMA)})")  # fmt: skip
            continue
        if not isinstance(keys, dict):
            out.append(f"{path} must be a table, {_got(keys)}")
            continue
        schema = SCHEMA[table]
        for key, value in keys.items():
            if key not in schema:
                out.append(f"unknown key {path}.{key}{did_you_mean(key, list(schema))} "
                           f"(known in [{table}]: {', '.join(schema)})")  # fmt: skip
            else:
                out += schema[key](value, f"{path}.{key}")
    return out


def model_names(seeds: int) -> list[str]:
    """The zoo step's model names for ``seeds`` seeds per group."""
    return [f"{g}-{s}" for g in ZOO_GROUPS for s in range(seeds)]


def cross_check(steps: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Rules across tables of a resolved configuration (types already checked)."""
    out = []
    seeds = steps["zoo"]["seeds"]
    on = {name for name, s in steps.items() if s.get("enabled", True)}
    if "equivalence" in on and seeds < 3:
        out.append(f"zoo.seeds must be >= 3 when [equivalence] is enabled (a within-recipe pair "
                   f"needs a third seed to draw implementations from), got {seeds}")  # fmt: skip
    if "measures" in on:
        known = model_names(seeds)
        for i, pair in enumerate(steps["measures"]["pairs"]):
            for name in pair:
                if name not in known:
                    out.append(f"measures.pairs[{i}]: unknown model {name!r}"
                               f"{did_you_mean(name, known)} (zoo.seeds = {seeds} gives "
                               f"{known[0]} .. {ZOO_GROUPS[0]}-{seeds - 1}, "
                               f"{ZOO_GROUPS[1]}-0 .. {known[-1]})")  # fmt: skip
    return out
