"""What a study section is: one experiment, everything about it in one module.

A section module defines

- a frozen **settings** dataclass whose fields each name their check (:func:`checked`, the
  vocabulary of :mod:`mechequiv.study.checks`); the study TOML table ``[<name>]`` is checked
  against it as a whole before anything runs, and :meth:`Section.parse` turns the table into it;
- a frozen **result** dataclass with ``to_dict()`` (the JSON-safe entry of ``results.json``)
  and ``from_dict(d, where)`` (which validates, naming the offending entry: this replaces a
  hand-written schema);
- ``run(ctx, settings) -> result``, ``summary(result) -> sentences`` (from the result's
  structured fields, never from strings it built) and ``report(page, result) -> parts`` built
  from the generic blocks of :mod:`mechequiv.report.html` and :mod:`mechequiv.report.figures`;
- its default TOML table (comments included) and ``[quick.<name>]`` overrides;
- a ``VERSION``, raised by hand when the meaning of the result changes in a way the code
  fingerprint cannot see; it enters the cache key with
  :func:`mechequiv.study.fingerprint.code_fingerprint` of ``run``.

and one :class:`Section` instance, listed in :mod:`mechequiv.study.registry`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, Self, TypeVar

from mechequiv.errors import MechequivError
from mechequiv.report.html import Page
from mechequiv.study.checks import Check, boolean
from mechequiv.study.context import StudyContext

#: One page section of the report: (anchor, heading, HTML body). A section may give several.
Part = tuple[str, str, str]


class Result(Protocol):
    """What a section's run returns: a frozen dataclass that writes itself as JSON-safe data
    and reads (and validates) such data back, naming the offending entry by ``where``."""

    def to_dict(self) -> dict[str, Any]: ...

    @classmethod
    def from_dict(cls, d: Any, where: str) -> Self: ...


S = TypeVar("S")
R = TypeVar("R", bound=Result)


def checked(check: Check) -> dict[str, Check]:
    """The metadata of a settings field checked by ``check``:
    ``n: int = field(metadata=checked(POSITIVE))`` (its default lives in the section's TOML)."""
    return {"check": check}


def settings_schema(cls: type) -> dict[str, Check]:
    """The checks of a settings dataclass's fields, with ``enabled`` first."""
    return {"enabled": boolean, **{f.name: f.metadata["check"] for f in dataclasses.fields(cls)}}


class SettingsError(MechequivError):
    """A section's settings table that does not fit its dataclass."""


@dataclass(frozen=True)
class Section(Generic[S, R]):
    """One experiment of the study (see the module docstring).

    ``depends`` names the sections whose settings and code the result also depends on (the
    models the zoo section trained). ``method`` is how the report's introduction names the
    method (None: not a method, e.g. the zoo); ``measures`` says the section shows
    representational measures. ``title`` gives the phrases of the study's default title from
    the section's settings table. ``cross_check`` checks rules across sections on the
    resolved tables.
    """

    name: str
    settings: type[S]
    result: type[R]
    run: Callable[[StudyContext, S], R]
    summary: Callable[[R], list[str]]
    report: Callable[[Page, R], list[Part]]
    defaults: str
    quick: str = ""
    version: int = 1
    depends: tuple[str, ...] = ()
    method: str | None = None
    measures: bool = False
    title: Callable[[Mapping[str, Any]], Sequence[str]] = lambda table: ()
    cross_check: Callable[[Mapping[str, Mapping[str, Any]]], list[str]] | None = None

    def schema(self) -> dict[str, Check]:
        return settings_schema(self.settings)

    def parse(self, table: Mapping[str, Any]) -> S:
        """The settings dataclass of a resolved ``[name]`` table, every value checked."""
        schema = self.schema()
        problems = [
            p for k, v in table.items() if k in schema for p in schema[k](v, f"{self.name}.{k}")
        ]
        unknown = sorted(set(table) - set(schema))
        missing = [k for k in schema if k != "enabled" and k not in table]
        problems += [f"unknown key {self.name}.{k}" for k in unknown]
        problems += [f"missing key {self.name}.{k}" for k in missing]
        if problems:
            raise SettingsError(f"[{self.name}]: " + "; ".join(problems))
        return self.settings(**{k: v for k, v in table.items() if k != "enabled"})

    def load(self, d: Any) -> R:
        """The result of a ``results.json`` entry, validated (see the result's ``from_dict``)."""
        return self.result.from_dict(d, f"results[{self.name!r}]")
