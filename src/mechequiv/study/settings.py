"""The study's settings schema: the type and the allowed values of every key of the study TOML.

:func:`mechequiv.study.load_config` checks a whole configuration before any step runs, so a
wrong type or value in the last table is reported before the first step trains anything: every
table against its section's settings dataclass (:func:`schema`, from the registry
:data:`mechequiv.study.registry.SECTIONS`), then the rules across sections
(:func:`cross_check`). The checks themselves are the vocabulary of :mod:`mechequiv.study.checks`
and the sections' own (re-exported here).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mechequiv.study.checks import (
    POSITIVE,
    Check,
    Choice,
    Integer,
    ListOf,
    Number,
    boolean,
    congruity_distance,
    did_you_mean,
    got,
    representational_measure,
    text,
)
from mechequiv.study.registry import SECTIONS
from mechequiv.study.sections.identifiability import gate_task
from mechequiv.study.sections.tensorsim import ExperimentSetting
from mechequiv.study.zoo_models import REPRESENTATIONS, ZOO_GROUPS, model_names, model_pair

__all__ = [
    "POSITIVE", "REPRESENTATIONS", "ZOO_GROUPS", "Check", "Choice", "ExperimentSetting",
    "Integer", "ListOf", "Number", "boolean", "check_tables", "congruity_distance",
    "cross_check", "did_you_mean", "gate_task", "model_names", "model_pair",
    "representational_measure", "schema", "text",
]  # fmt: skip

STUDY: dict[str, Check] = {"title": text, "seed": Integer(minimum=0)}


def schema() -> dict[str, dict[str, Check]]:
    """Every table and key of the study TOML with its check (``[quick.<step>]`` tables reuse
    them): ``[study]``, then one table per registered section."""
    return {"study": STUDY, **{name: s.schema() for name, s in SECTIONS.items()}}


def __getattr__(name: str) -> Any:
    if name == "SCHEMA":  # computed: sections registered later (tests, plugins) are included
        return schema()
    raise AttributeError(f"module 'mechequiv.study.settings' has no attribute {name!r}")


def check_tables(tree: Any, where: str = "") -> list[str]:
    """Problems of a parsed TOML tree (user file or ``[quick]`` table): unknown tables and keys
    (with a did-you-mean), non-tables, and every value's type and range."""
    if not isinstance(tree, dict):
        return [f"{where.rstrip('.') or 'the file'} must be a table, {got(tree)}"]
    tables = schema()
    out = []
    for table, keys in tree.items():
        path = f"{where}{table}"
        if table not in tables:
            out.append(f"unknown table [{path}]{did_you_mean(table, list(tables))} "
                       f"(known: {', '.join(tables)})")  # fmt: skip
            continue
        if not isinstance(keys, dict):
            out.append(f"{path} must be a table, {got(keys)}")
            continue
        checks = tables[table]
        for key, value in keys.items():
            if key not in checks:
                out.append(f"unknown key {path}.{key}{did_you_mean(key, list(checks))} "
                           f"(known in [{table}]: {', '.join(checks)})")  # fmt: skip
            else:
                out += checks[key](value, f"{path}.{key}")
    return out


def cross_check(steps: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Rules across tables of a resolved configuration (types already checked): each enabled
    section's own ``cross_check``."""
    out = []
    for name, table in steps.items():
        section = SECTIONS.get(name)
        if section is not None and section.cross_check is not None and table.get("enabled", True):
            out += section.cross_check(steps)
    return out
