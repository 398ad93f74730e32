"""Study configuration: a TOML file with one table per step and a ``[quick]`` table of overrides.

The default study is assembled from the registered sections' default tables
(:func:`default_config_text`). A user's file is merged over it,
so it only needs the keys it changes. The whole result is checked against
:data:`mechequiv.study.settings.SCHEMA` before anything runs: unknown tables and keys (with a
did-you-mean), wrong types and values, and rules across steps are all reported together, in one
:class:`ConfigError`, since a misspelt key that silently keeps its default, or a wrong type
found after an hour of training, would waste the run.

``--quick`` (``quick=True``) applies the default's ``[quick]`` tables, but never over the user's
own choices: a key the user's file sets to a value other than the default keeps the user's
value. (A key set *to* the default, as in a file written by ``--show-config``, counts as not
chosen.) The user's own ``[quick.<step>]`` tables are applied last and always win. The
:class:`StudyConfig` records which quick defaults were applied and which user values were kept.
"""

from __future__ import annotations

import copy
import json
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mechequiv.errors import MechequivError
from mechequiv.study.registry import SECTIONS
from mechequiv.study.settings import check_tables, cross_check


class ConfigError(MechequivError):
    """A study configuration that cannot run; the message lists every problem on one line."""


_STUDY_TABLE = """\
# The default mechequiv study (`mechequiv study`, `make demo`). A file given to `mechequiv study`
# overrides any of these keys (`enabled = false` skips a step). `--quick` applies the [quick]
# tables, except to keys your file sets to a value other than the default (yours win); your own
# [quick.<step>] tables always apply with `--quick`. `mechequiv study FILE --show-config` prints
# the configuration that would run.

[study]
# title: the report's title; "" names the enabled steps ("mechequiv study: Pizza vs Clock,
# grokking, backdoors and XOR circuits" when all run).
title = ""
seed = 0"""


def default_config_text() -> str:
    """The TOML text of the default study: the ``[study]`` table, then each registered
    section's default table and its ``[quick.<name>]`` overrides (comments included)."""
    tables = [s.defaults for s in SECTIONS.values()]
    quick = [s.quick for s in SECTIONS.values() if s.quick]
    return "\n\n".join([_STUDY_TABLE, *tables, *quick]) + "\n"


@dataclass(frozen=True)
class StudyConfig:
    """A resolved study configuration: ``steps[name]`` holds that step's settings.

    ``steps`` keeps the file's order; a step whose table has ``enabled = false`` is skipped.
    ``quick_tables`` are the ``[quick.<step>]`` overrides (default merged with the user's),
    ``quick_applied`` the ``"step.key"`` quick values this configuration took, and
    ``quick_kept`` the user's values that a quick default did not replace.
    """

    title: str
    seed: int
    steps: dict[str, dict[str, Any]]
    quick: bool = False
    quick_tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    quick_applied: dict[str, Any] = field(default_factory=dict)
    quick_kept: dict[str, Any] = field(default_factory=dict)

    def enabled(self) -> list[str]:
        """The steps that run, in order."""
        return [s for s, c in self.steps.items() if c.get("enabled", True)]

    def heading(self) -> str:
        """The report's title: ``title``, or when that is empty, one naming the enabled steps
        only (a disabled step is not announced)."""
        if self.title:
            return self.title
        parts: list[str] = []
        for name in self.enabled():
            if name in SECTIONS:
                parts += [p for p in SECTIONS[name].title(self.steps[name]) if p not in parts]
        if not parts:
            return "mechequiv study"
        listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
        return f"mechequiv study: {listed}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (what ``results.json`` records as the config used)."""
        out = {"title": self.title, "seed": self.seed, "quick": self.quick,
               "steps": copy.deepcopy(self.steps)}  # fmt: skip
        if self.quick:  # provenance: which values came from --quick, which the user kept
            out["quick_applied"] = copy.deepcopy(self.quick_applied)
            out["quick_kept"] = copy.deepcopy(self.quick_kept)
        return out

    def to_toml(self) -> str:
        """This configuration as a TOML file in the default's layout, comments included.

        Loading the text back (with the same ``quick``) gives the same configuration, and the
        text of that is byte-identical; for the unchanged default it is :func:`default_config_text`.
        """
        tree = {"study": {"title": self.title, "seed": self.seed}, **self.steps}
        return _render(default_config_text(), tree, self.quick_tables)


def _parse(text: str, where: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{where} is not valid TOML: {e}") from e


def load_config(path: str | Path | None = None, quick: bool = False) -> StudyConfig:
    """The default study, overridden by the TOML file at ``path`` and, with ``quick``, by the
    ``[quick]`` tables (see the module docstring for which value wins).

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ConfigError
        The file is not valid TOML, or has unknown tables or keys, values of the wrong type or
        out of range, or settings that contradict each other (all listed in one message).
    """
    base = _parse(default_config_text(), "the default study")
    quick_over = base.pop("quick", {})
    user: dict[str, Any] = {}
    user_quick: Any = {}
    where = "study config"
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"study config not found: {path}")
        where = f"study config {path}"
        user = _parse(path.read_text(), str(path))
        user_quick = user.pop("quick", {})
    problems = check_tables(user) + check_tables(user_quick, "quick.")
    if problems:
        raise ConfigError(f"{where}: " + "; ".join(problems))
    resolved = _merge(base, user)
    # What --quick would take for each key: the default's [quick] value unless the user's file
    # chose another value for that key, and the user's own [quick] values always.
    quick_values: dict[str, dict[str, Any]] = {}
    kept: dict[str, Any] = {}  # the user's values that differ from the quick default
    own: set[str] = set()  # keys whose quick-mode value is the user's main-table value
    for table, keys in quick_over.items():
        for key, value in keys.items():
            mine = resolved[table][key]
            if not _same(mine, base[table][key]):
                own.add(f"{table}.{key}")
                if not _same(mine, value):
                    kept[f"{table}.{key}"] = mine
                value = mine
            quick_values.setdefault(table, {})[key] = value
    for table, keys in user_quick.items():
        for key, value in keys.items():
            own.discard(f"{table}.{key}")
            kept.pop(f"{table}.{key}", None)
            quick_values.setdefault(table, {})[key] = value
    applied: dict[str, Any] = {}
    if quick:
        for table, keys in quick_values.items():
            for key, value in keys.items():
                if f"{table}.{key}" not in own:
                    resolved[table][key] = copy.deepcopy(value)
                    applied[f"{table}.{key}"] = value
    else:
        kept = {}
    # The [quick] tables a file needs to reproduce this: with the kept values written in, a
    # file printed by --show-config resolves the same with and without --quick.
    quick_tables = copy.deepcopy(quick_values)
    study = resolved.pop("study")
    problems = cross_check(resolved)
    if problems:
        raise ConfigError(f"{where}: " + "; ".join(problems))
    return StudyConfig(title=study["title"], seed=study["seed"], steps=resolved, quick=quick,
                       quick_tables=quick_tables, quick_applied=applied, quick_kept=kept)  # fmt: skip


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over``'s tables merged key by key into a copy of ``base`` (both already checked)."""
    out = copy.deepcopy(base)
    for table, keys in over.items():
        out.setdefault(table, {}).update(copy.deepcopy(keys))
    return out


# ---------------------------------------------------------------- TOML output

_HEADER = re.compile(r"^\[([A-Za-z0-9_.-]+)\]\s*(#.*)?$")
_KEY = re.compile(r"^([A-Za-z0-9_-]+)\s*=")
_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def _render(
    template: str, tree: dict[str, dict[str, Any]], quick: dict[str, dict[str, Any]]
) -> str:
    """``template`` (the default TOML) with each value replaced by ``tree``'s (or ``quick``'s
    for ``[quick.*]`` tables) where it differs, keys the template lacks added after the last key
    of their table, and tables it lacks appended. Lines whose value is unchanged are kept
    verbatim, comments included."""
    defaults = tomllib.loads(template)
    wanted = {**tree, **{f"quick.{t}": keys for t, keys in quick.items()}}
    lines = template.splitlines()
    out: list[str] = []
    done: set[str] = set()
    table: str | None = None
    last_key_at: dict[str, int] = {}
    for line in lines:
        if m := _HEADER.match(line):
            table = m.group(1)
            done.add(table)
            last_key_at[table] = len(out)
            out.append(line)
            continue
        if table is not None and (m := _KEY.match(line)):
            key = m.group(1)
            old = _lookup(defaults, table).get(key)
            new = wanted.get(table, {}).get(key, old)
            out.append(line if _same(new, old) else f"{key} = {_toml_value(new)}")
            last_key_at[table] = len(out) - 1
            continue
        out.append(line)
    # Keys the template lacks, inserted bottom-up so earlier positions stay valid.
    for t in sorted(last_key_at, key=last_key_at.__getitem__, reverse=True):
        have = _lookup(defaults, t)
        extra = [f"{k} = {_toml_value(v)}" for k, v in wanted.get(t, {}).items() if k not in have]
        out[last_key_at[t] + 1 : last_key_at[t] + 1] = extra
    for t, keys in wanted.items():
        if t not in done and keys:
            out += ["", f"[{t}]"] + [f"{k} = {_toml_value(v)}" for k, v in keys.items()]
    return "\n".join(out) + "\n"


def _lookup(tree: dict[str, Any], dotted: str) -> dict[str, Any]:
    node: Any = tree
    for part in dotted.split("."):
        node = node.get(part, {}) if isinstance(node, dict) else {}
    return node if isinstance(node, dict) else {}


def _same(a: Any, b: Any) -> bool:
    """Equal values of the same TOML type (``1`` and ``1.0``, ``1`` and ``true`` differ)."""
    return type(a) is type(b) and json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _toml_value(v: Any) -> str:
    """One TOML value on one line (inline arrays and tables)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)  # a TOML basic string
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        items = (
            f"{k if _BARE.match(k) else json.dumps(k)} = {_toml_value(x)}" for k, x in v.items()
        )
        return "{" + ", ".join(items) + "}"
    raise TypeError(f"cannot write {type(v).__name__} as a TOML value")
