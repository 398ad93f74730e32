"""A toy study section, registered by tests to see that one file and one registry line are
all an experiment needs (run, cache, resume, summary, report)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mechequiv.report.html import Page, esc, kv_table
from mechequiv.report.validate import as_mapping, as_number, check_keys
from mechequiv.study.checks import Integer
from mechequiv.study.context import StudyContext
from mechequiv.study.sections.base import Part, Section, checked


@dataclass(frozen=True)
class ToySettings:
    x: int = field(metadata=checked(Integer(minimum=0)))


@dataclass(frozen=True)
class ToyResult:
    value: int
    pooled: bool

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "pooled": self.pooled}

    @classmethod
    def from_dict(cls, d: Any, where: str = "toy") -> ToyResult:
        d = as_mapping(d, where)
        check_keys(d, where, ("value", "pooled"), ())
        return cls(int(as_number(d["value"], f"{where}['value']")), bool(d["pooled"]))


def run(ctx: StudyContext, s: ToySettings) -> ToyResult:
    return ToyResult(value=s.x, pooled=False)


def summary(r: ToyResult) -> list[str]:
    return [f"Toy: value {r.value}."]


def report(page: Page, r: ToyResult) -> list[Part]:
    return [("toy", "A toy experiment", esc("toy body ") + kv_table([("value", r.value)]))]


DEFAULTS = """\
# A toy experiment.
[toy]
enabled = true
x = 1"""


def toy_section(
    run: Callable[[StudyContext, ToySettings], ToyResult] = run, version: int = 1
) -> Section:
    return Section("toy", ToySettings, ToyResult, run, summary, report, DEFAULTS,
                   version=version, method="a toy method")  # fmt: skip
