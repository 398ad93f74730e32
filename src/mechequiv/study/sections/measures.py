"""The measures section: every representational measure on chosen pairs of zoo models."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mechequiv._progress import track
from mechequiv.report.html import (
    Page,
    describe_measures,
    esc,
    measure_header,
    measure_info_table,
    num,
    table,
)
from mechequiv.report.validate import (
    as_list,
    as_mapping,
    as_number,
    as_string,
    check_keys,
    measure_known,
)
from mechequiv.study.checks import Choice, ListOf, did_you_mean
from mechequiv.study.compare import representational_measures
from mechequiv.study.context import StudyContext
from mechequiv.study.sections.base import Part, Section, checked
from mechequiv.study.zoo_models import (
    REPRESENTATIONS,
    ZOO_GROUPS,
    model_names,
    model_pair,
    named_models,
    representations,
    task,
)  # fmt: skip

VERSION = 2  # 2: measure descriptors saved with the result

DEFAULTS = """\
# Every representational measure on three model pairs ("residual" or "fourier" representation).
[measures]
enabled = true
representation = "residual"
pairs = [["pizza-0", "pizza-1"], ["clock-0", "clock-1"], ["pizza-0", "clock-0"]]"""

TEXT = (
    "Representational measures on selected pairs of models. ↑ marks a similarity (higher = more "
    "similar), ↓ a distance; the table below gives each measure's exact convention, range and "
    "invariances, as recorded when the values were computed."
)


@dataclass(frozen=True)
class MeasuresSettings:
    representation: str = field(metadata=checked(Choice(tuple(REPRESENTATIONS))))
    pairs: list[list[str]] = field(metadata=checked(ListOf(model_pair)))


@dataclass(frozen=True)
class MeasurePair:
    a: str
    b: str
    values: dict[str, float | None]  # None: not computed (e.g. CCA where n <= d)

    def to_dict(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "values": self.values}


@dataclass(frozen=True)
class MeasuresResult:
    pairs: list[MeasurePair]
    description: str | None = None
    descriptors: dict[str, dict[str, Any]] | None = None

    @property
    def names(self) -> list[str]:
        return list(dict.fromkeys(n for p in self.pairs for n in p.values))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {} if self.description is None else {"description": self.description}
        out["pairs"] = [p.to_dict() for p in self.pairs]
        if self.descriptors is not None:
            out["descriptors"] = self.descriptors
        return out

    @classmethod
    def from_dict(cls, d: Any, where: str = "measures") -> MeasuresResult:
        d = as_mapping(d, where)
        check_keys(d, where, ("pairs",), ("description", "descriptors"))
        if "description" in d:
            as_string(d["description"], f"{where}['description']")
        described = as_mapping(d.get("descriptors", {}), f"{where}['descriptors']")
        pairs = []
        for i, pair in enumerate(as_list(d["pairs"], f"{where}['pairs']")):
            at = f"{where}['pairs'][{i}]"
            check_keys(as_mapping(pair, at), at, ("a", "b", "values"), ())
            for name, v in as_mapping(pair["values"], f"{at}['values']").items():
                measure_known(name, f"{at}['values']", described)
                if v is not None:
                    as_number(v, f"{at}['values'][{name!r}]")
            pairs.append(MeasurePair(as_string(pair["a"], f"{at}['a']"),
                                     as_string(pair["b"], f"{at}['b']"), dict(pair["values"])))  # fmt: skip
        return cls(pairs, d.get("description"), d.get("descriptors"))


def run(ctx: StudyContext, s: MeasuresSettings) -> MeasuresResult:
    """Every representational measure on a within-Pizza, a within-Clock and a cross pair."""
    names = named_models(ctx)[0]
    t = task(ctx)
    reps = dict(zip(names, representations(ctx, s.representation), strict=True))
    pairs = []
    for a, b in track(s.pairs, "measures on model pairs", disable=ctx.quiet()):
        values, skipped = representational_measures(reps[a], reps[b])
        pairs.append(MeasurePair(a, b, values | dict.fromkeys(skipped)))
    where = REPRESENTATIONS[s.representation]
    measured = list(dict.fromkeys(n for p in pairs for n in p.values))
    description = f"{where}, all {len(t.inputs)} {t.name} inputs"
    return MeasuresResult(pairs, description, describe_measures(measured))


def summary(r: MeasuresResult) -> list[str]:
    return []  # the table is the finding; Congruity's summary names the baselines


def report(page: Page, r: MeasuresResult) -> list[Part]:
    names = r.names
    rows = [[esc(p.a), esc(p.b)] + [num(p.values.get(n)) for n in names] for p in r.pairs]
    desc = f"<p class='muted'>{esc(r.description)}</p>" if r.description is not None else ""
    header = ["model A", "model B"] + [measure_header(n, r.descriptors) for n in names]
    body = "".join([
        f"<p>{page.prose(TEXT)}</p>", desc, table(header, rows),
        measure_info_table(page, names, r.descriptors),
    ])  # fmt: skip
    return [("measures", "Representational measures", body)]


def _title(table: Mapping[str, Any]) -> list[str]:
    return ["Pizza vs Clock"]


def cross_check(steps: Mapping[str, Mapping[str, Any]]) -> list[str]:
    if "zoo" not in steps:
        return []
    seeds = steps["zoo"]["seeds"]
    known = model_names(seeds)
    out = []
    for i, pair in enumerate(steps["measures"]["pairs"]):
        for name in pair:
            if name not in known:
                out.append(f"measures.pairs[{i}]: unknown model {name!r}"
                           f"{did_you_mean(name, known)} (zoo.seeds = {seeds} gives "
                           f"{known[0]} .. {ZOO_GROUPS[0]}-{seeds - 1}, "
                           f"{ZOO_GROUPS[1]}-0 .. {known[-1]})")  # fmt: skip
    return out


SECTION = Section(
    "measures", MeasuresSettings, MeasuresResult, run, summary, report, DEFAULTS, "", VERSION,
    depends=("zoo",), measures=True, title=_title, cross_check=cross_check,
)  # fmt: skip
