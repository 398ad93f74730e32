"""The zoo section: Pizza (attention rate 0) and Clock (rate 1) transformers on modular
addition, trained all seeds at once, with their mechanism labels and training curves."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mechequiv.report import figures
from mechequiv.report.html import Page, figure, records_table
from mechequiv.report.validate import as_curves, as_mapping, as_records, check_keys
from mechequiv.study.checks import POSITIVE
from mechequiv.study.context import StudyContext
from mechequiv.study.sections.base import Part, Section, checked
from mechequiv.study.zoo_models import GROUP_NAMES, zoos

VERSION = 1

DEFAULTS = """\
# Pizza (attention rate 0) and Clock (attention rate 1) transformers on (a + b) mod 23,
# trained all seeds at once (the zoo's measured recipe).
[zoo]
enabled = true
seeds = 6
steps = 1000
eval_every = 50"""

QUICK = """\
# four seeds per recipe at least: a within-recipe pair must leave two others to draw from
[quick.zoo]
seeds = 4
steps = 800"""

TEXT = (
    "The models compared below. Modular-addition transformers can learn the 'Pizza' or the "
    "'Clock' algorithm {cite:zhong2023}, two different mechanisms with the same behaviour; "
    "bilinear models grok modular addition {cite:nanda2023}; small MLPs learn Boolean gates."
)


@dataclass(frozen=True)
class ZooSettings:
    seeds: int = field(metadata=checked(POSITIVE))
    steps: int = field(metadata=checked(POSITIVE))
    eval_every: int = field(metadata=checked(POSITIVE))


@dataclass(frozen=True)
class ZooResult:
    """One record per model (name, group, seed, accuracy, mechanism labels) and its curves."""

    models: list[dict[str, Any]]
    curves: dict[str, dict[str, list[float | None]]]

    def to_dict(self) -> dict[str, Any]:
        return {"models": self.models, "curves": self.curves}

    @classmethod
    def from_dict(cls, d: Any, where: str = "zoo") -> ZooResult:
        d = as_mapping(d, where)
        check_keys(d, where, ("models",), ("curves",))
        rows = as_records(d["models"], f"{where}['models']")
        for i, row in enumerate(rows):
            if "name" not in row:
                raise ValueError(f"{where}['models'][{i}]: missing required key 'name'")
        curves = {}
        for name, curve in as_mapping(d.get("curves", {}), f"{where}['curves']").items():
            curves[name] = as_curves(curve, f"{where}['curves'][{name!r}]", length=None,
                                     need_steps=True)  # fmt: skip
        return cls([dict(r) for r in rows], curves)


def run(ctx: StudyContext, s: ZooSettings) -> ZooResult:
    """Train Pizza (attention rate 0) and Clock (rate 1) transformers; label their mechanisms."""
    rows, curves = [], {}
    for kind, zoo in zoos(ctx).items():
        history = zoo.history
        for i, (seed, lab) in enumerate(zip(zoo.seeds, zoo.labels(), strict=True)):
            name = f"{kind}-{seed}"
            rows.append({"name": name, "group": GROUP_NAMES[kind], "seed": seed,
                         "test_accuracy": lab.test_accuracy,
                         "gradient_symmetricity": lab.gradient_symmetricity,
                         "distance_irrelevance": lab.distance_irrelevance,
                         "mechanism": lab.kind})  # fmt: skip
            curves[name] = {"steps": history.steps.tolist(),
                            "train_loss": history.train_loss[:, i].tolist(),
                            "test_accuracy": history.test_acc[:, i].tolist()}  # fmt: skip
    return ZooResult(rows, curves)


def summary(r: ZooResult) -> list[str]:
    by: dict[str, list[dict[str, Any]]] = {}
    for row in r.models:
        if "group" in row and "gradient_symmetricity" in row and "test_accuracy" in row:
            by.setdefault(row["group"], []).append(row)
    parts = []
    for group, rows in by.items():
        gs = [row["gradient_symmetricity"] for row in rows]
        acc = min(row["test_accuracy"] for row in rows)
        parts.append(f"{group}: gradient symmetricity {min(gs):.2f}-{max(gs):.2f}, "
                     f"test accuracy >= {acc:.1%}")  # fmt: skip
    return ["Zoo. " + "; ".join(parts) + "."] if parts else []


def report(page: Page, r: ZooResult) -> list[Part]:
    out = [f"<p>{page.prose(TEXT)}</p>", records_table(r.models, caption="Models")]
    if r.curves:
        groups = {str(m["name"]): str(m["group"]) for m in r.models if "group" in m}
        fig = figures.training_curves(r.curves, groups=groups)
        out.append(figure(fig, "Training curves of the zoo models",
                          "Training curves, one line per model."))  # fmt: skip
    return [("zoo", "Models", "".join(out))]


def _title(table: Mapping[str, Any]) -> list[str]:
    return ["Pizza vs Clock"]


SECTION = Section(
    "zoo", ZooSettings, ZooResult, run, summary, report, DEFAULTS, QUICK, VERSION,
    title=_title,
)  # fmt: skip
