"""The identifiability section: audits (Méloux et al.) of small MLPs trained on a Boolean gate,
per hidden width: circuits, interpretations and mappings per converged network."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mechequiv._progress import make_progress
from mechequiv.errors import MechequivError
from mechequiv.identifiability.study import study_widths
from mechequiv.identifiability.tasks import GATES
from mechequiv.report import figures
from mechequiv.report.html import Page, esc, figure, table
from mechequiv.report.validate import (
    as_integer,
    as_list,
    as_mapping,
    as_records,
    as_string,
    check_keys,
    count_keys,
)
from mechequiv.study.checks import POSITIVE, ListOf, did_you_mean
from mechequiv.study.context import StudyContext
from mechequiv.study.sections.base import Part, Section, checked

VERSION = 1

DEFAULTS = """\
# Identifiability audit (Méloux et al.): `seeds` converged MLPs with two hidden layers of each
# width (trained from seeds 0, 1, ... until that many converge, at most max_tries).
[identifiability]
enabled = true
task = "XOR"
widths = [2, 3, 4]
seeds = 5
max_tries = 20"""

QUICK = """\
[quick.identifiability]
widths = [2, 3]
seeds = 3"""

TEXT = (
    "Is a mechanistic explanation unique? For small MLPs on Boolean tasks every candidate is "
    "enumerated: circuits (subnetworks that reproduce the behaviour), interpretations (algorithms "
    "consistent with a circuit) and mappings between an algorithm and the network's units that "
    "pass causal-abstraction tests {cite:meloux2025}. A count above 1 means the explanation is not "
    "identified by these criteria; each point is one trained network, the line the median."
)


def gate_task(value: Any, path: str) -> list[str]:
    """A two-input gate name (or a list of them) of the identifiability task table."""
    names = value if isinstance(value, list) and value else [value]
    bad = [v for v in names if not isinstance(v, str) or v.upper() not in GATES]
    if bad:
        return [f"{path} must name gates among {sorted(GATES)} (or a list of them), "
                f"got {value!r}{did_you_mean(str(bad[0]).upper(), sorted(GATES))}"]  # fmt: skip
    return []


@dataclass(frozen=True)
class IdentifiabilitySettings:
    task: str | list[str] = field(metadata=checked(gate_task))
    widths: list[int] = field(metadata=checked(ListOf(POSITIVE)))
    seeds: int = field(metadata=checked(POSITIVE))
    max_tries: int = field(metadata=checked(POSITIVE))


@dataclass(frozen=True)
class IdentifiabilityResult:
    """One record per converged network: ``{"width", "seed", <count>: int, ...}``."""

    widths: list[int]
    per_seed: list[dict[str, int]]
    task: str | None = None

    @property
    def counts(self) -> list[str]:
        return count_keys(self.per_seed)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {} if self.task is None else {"task": self.task}
        return out | {"widths": self.widths, "per_seed": self.per_seed}

    @classmethod
    def from_dict(cls, d: Any, where: str = "identifiability") -> IdentifiabilityResult:
        d = as_mapping(d, where)
        check_keys(d, where, ("widths", "per_seed"), ("task",))
        if "task" in d:
            as_string(d["task"], f"{where}['task']")
        widths = [as_integer(w, f"{where}['widths']", low=1)
                  for w in as_list(d["widths"], f"{where}['widths']")]  # fmt: skip
        rows = as_records(d["per_seed"], f"{where}['per_seed']")
        counts = count_keys(rows)
        if not counts:
            raise ValueError(
                f"{where}['per_seed']: expected count columns besides ('width', 'seed'), found none"
            )
        for i, row in enumerate(rows):
            at = f"{where}['per_seed'][{i}]"
            check_keys(row, at, ("width", *counts), ("seed",))
            if as_integer(row["width"], f"{at}['width']", low=1) not in widths:
                raise ValueError(f"{at}['width']: {row['width']} is not one of the widths {widths}")
            for c in (*counts, "seed"):
                if c in row:
                    as_integer(row[c], f"{at}[{c!r}]", low=0)
        return cls(widths, [dict(r) for r in rows], d.get("task"))


def run(ctx: StudyContext, s: IdentifiabilitySettings) -> IdentifiabilityResult:
    """Audit ``seeds`` converged MLPs per hidden width (seeds tried in order, at most
    ``max_tries`` per width): circuits, interpretations, mappings."""
    rows = []
    with make_progress(ctx.quiet()) as bar:
        # counts converged networks: the ETA holds while the convergence rate does
        job = bar.add_task(f"identifiability {s.task}", total=s.seeds * len(s.widths),
                           status="")  # fmt: skip
        for k in s.widths:
            found, seed = 0, 0
            while found < s.seeds and seed < s.max_tries:
                bar.update(job, status=f"width {k}, seed {seed} ({seed - found} not converged)")
                study = study_widths(s.task, widths=[k], seeds=[seed])
                for r in study.reports:
                    rows.append({"width": k, "seed": seed, "circuits": _count(r.n_circuits),
                                 "interpretations": _count(r.n_interpretations),
                                 "mappings": _count(r.n_mappings)})  # fmt: skip
                    found += 1
                    bar.advance(job)
                seed += 1
            bar.advance(job, s.seeds - found)  # this width gave up: its share is done
    if not rows:
        raise MechequivError(
            f"no {s.task} network converged in {s.max_tries} seeds per width; "
            "raise identifiability.max_tries"
        )
    task = s.task if isinstance(s.task, str) else "+".join(s.task)
    return IdentifiabilityResult(list(s.widths), rows, task)


def _count(value: int | None) -> int:
    """An audit count (the study's audits compute every count; None would mean a stage was
    skipped, which a report of counts cannot show)."""
    if value is None:
        raise MechequivError("the audit skipped a stage whose count the study reports")
    return int(value)


def summary(r: IdentifiabilityResult) -> list[str]:
    parts = []
    for k in r.widths:
        at = [row for row in r.per_seed if row["width"] == k]
        if at:
            med = {c: float(np.median([row[c] for row in at if c in row])) for c in r.counts}
            parts.append(f"k={k}: " + ", ".join(f"{v:.0f} {c}" for c, v in med.items()))
    task = f" ({r.task}, median per network)" if r.task else " (median per network)"
    return [f"Identifiability{task}: " + "; ".join(parts) + "."]


def report(page: Page, r: IdentifiabilityResult) -> list[Part]:
    counts = r.counts
    fig = figures.identifiability_counts(r.per_seed, widths=r.widths, counts=counts)
    task = f" Task: {r.task}." if r.task is not None else ""
    header = ["hidden width", "networks"]
    header += [f"{c}: median [min, max] (share with exactly 1)" for c in counts]
    rows = []
    for w in r.widths:
        at = [row for row in r.per_seed if row["width"] == w]
        line = [str(w), str(len(at))]
        for c in counts:
            vals = np.asarray([row[c] for row in at if c in row], dtype=float)
            line.append(f"{np.median(vals):g} [{vals.min():g}, {vals.max():g}] "
                        f"({np.mean(vals == 1):.0%})" if vals.size else "—")  # fmt: skip
        rows.append(line)
    body = "".join([
        f"<p>{page.prose(TEXT)}</p>",
        figure(fig, "Identifiability counts against hidden width",
               f"Counts per trained network against hidden width (symmetric-log axis).{task}"),
        table([esc(h) for h in header], rows, caption="Counts per hidden width"),
    ])  # fmt: skip
    return [("identifiability", "Identifiability audit", body)]


def _title(table: Mapping[str, Any]) -> list[str]:
    task = table["task"]
    return [f"{'+'.join(task) if isinstance(task, list) else task} circuits"]


SECTION = Section(
    "identifiability", IdentifiabilitySettings, IdentifiabilityResult, run, summary, report,
    DEFAULTS, QUICK, VERSION, method="an identifiability audit", title=_title,
)  # fmt: skip
