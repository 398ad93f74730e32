"""The equivalence section: Congruity (Sun & Toneva) of every pair of zoo models, each model's
implementations drawn from the other seeds of its recipe, with baseline measures on the same
pairs; the report shows the Congruity heatmap and the measures side by side."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from mechequiv.equivalence import Retrained, congruity_matrix
from mechequiv.parallel.pairwise import pairwise
from mechequiv.report import figures
from mechequiv.report.html import (
    Page,
    describe_measures,
    esc,
    figure,
    kv_table,
    measure_header,
    measure_info_table,
    num,
    table,
)
from mechequiv.report.validate import (
    as_integer,
    as_mapping,
    as_matrix,
    as_names,
    as_number,
    as_string,
    check_keys,
    in_range,
    measure_known,
)
from mechequiv.study.checks import (
    POSITIVE,
    Choice,
    ListOf,
    congruity_distance,
    representational_measure,
)
from mechequiv.study.context import StudyContext
from mechequiv.study.sections.base import Part, Section, checked
from mechequiv.study.zoo_models import (
    REPRESENTATIONS,
    get_reprs,
    group_means,
    named_models,
    representations,
    task,
)  # fmt: skip

VERSION = 2  # 2: measure descriptors saved with the result

DEFAULTS = """\
# Interpretive equivalence (Sun & Toneva): Congruity of every pair of zoo models. Each model's
# implementations are the other seeds of its recipe.
# representation: "fourier" (each key frequency's module moved to frequency 1, so seeds that
# picked different frequencies are comparable) or "residual" (raw residual stream, last token).
# The baselines are plain measures on baseline_representation (the same choices; CCA needs more
# inputs than features, which the wide "fourier" representation does not have at p = 23).
[equivalence]
enabled = true
n = 30
distance = "repr_distance"
representation = "fourier"
baseline_representation = "residual"
baselines = ["linear_cka", "procrustes", "cca", "rsa"]"""

QUICK = """\
[quick.equivalence]
n = 10"""

TEXT = (
    "Two models are interpretively equivalent when the sets of implementations of their "
    "mechanistic interpretations coincide {cite:sun2026}. Congruity estimates this without "
    "writing an interpretation down: each round draws an implementation that shares each "
    "model's interpretation (for example by resampling what lies outside its circuit, or by a "
    "symmetry of its weights) and asks whether a model's own implementation is closer to it, in "
    "representation distance on the task, than the other model's. The score is 1 − |s/n − 1| "
    "for s indicators over n rounds: 1 when the two implementation sets cannot be told apart, 0 "
    "when they always can. Brackets give a bootstrap confidence interval over rounds."
)

BASELINES_TEXT = (
    "Representational similarity measures compare the models' activations on the same inputs, "
    "with no notion of an interpretation. They are shown beside Congruity on the same pairs: "
    "where they disagree, similar representations hide different mechanisms (or the reverse). "
    "In every panel darker means more similar; distances use the reversed colour scale."
)

SAMPLER = "Retrained: other seeds of the same recipe (attention rate)"


@dataclass(frozen=True)
class EquivalenceSettings:
    n: int = field(metadata=checked(POSITIVE))
    distance: str = field(metadata=checked(congruity_distance))
    representation: str = field(metadata=checked(Choice(tuple(REPRESENTATIONS))))
    baseline_representation: str = field(metadata=checked(Choice(tuple(REPRESENTATIONS))))
    baselines: list[str] = field(metadata=checked(ListOf(representational_measure, min_len=0)))


Matrix = list[list[float | None]]
_DESCRIPTIONS = ("task", "distance", "representation", "baseline_representation", "cross",
                 "sampler")  # fmt: skip


@dataclass(frozen=True)
class EquivalenceResult:
    """Congruity of m models: score and bootstrap interval (m x m, None where not computed),
    optional binomial p-values, the settings that produced them as descriptions, baseline
    measures on the same pairs, and each measure's descriptor as it was when computed."""

    names: list[str]
    score: Matrix
    ci_low: Matrix
    ci_high: Matrix
    groups: list[str] | None = None
    p_value: Matrix | None = None
    n: int | None = None
    level: float | None = None
    task: str | None = None
    distance: str | None = None
    representation: str | None = None
    baseline_representation: str | None = None
    cross: str | None = None
    sampler: str | None = None
    baselines: dict[str, Matrix] | None = None
    descriptors: dict[str, dict[str, Any]] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)
                if getattr(self, f.name) is not None}  # fmt: skip

    @classmethod
    def from_dict(cls, d: Any, where: str = "equivalence") -> EquivalenceResult:
        d = as_mapping(d, where)
        names = [f.name for f in fields(cls)]
        check_keys(d, where, names[:4], names[4:])
        m = len(as_names(d["names"], f"{where}['names']"))
        if m == 0:
            raise ValueError(f"{where}['names']: expected at least one model, found none")
        if "groups" in d:
            as_names(d["groups"], f"{where}['groups']", m)
        score, lo, hi = (
            as_matrix(d[k], f"{where}[{k!r}]", (m, m)) for k in ("score", "ci_low", "ci_high")
        )
        for k, mat in (("score", score), ("ci_low", lo), ("ci_high", hi)):
            in_range(mat, f"{where}[{k!r}]", 0.0, 1.0)
        if np.any(lo > score + 1e-12) or np.any(score > hi + 1e-12):
            i, j = np.argwhere((lo > score + 1e-12) | (score > hi + 1e-12))[0]
            raise ValueError(
                f"{where}: expected ci_low <= score <= ci_high, found {lo[i, j]:.4g} <= "
                f"{score[i, j]:.4g} <= {hi[i, j]:.4g} at ({i}, {j})"
            )
        if "p_value" in d:
            p = as_matrix(d["p_value"], f"{where}['p_value']", (m, m))
            in_range(p, f"{where}['p_value']", 0.0, 1.0)
        if "n" in d:
            as_integer(d["n"], f"{where}['n']", low=1)
        if "level" in d:
            level = as_number(d["level"], f"{where}['level']", low=0.0)
            if not level < 1.0:
                raise ValueError(f"{where}['level']: expected a value in (0, 1), found {level}")
        for k in _DESCRIPTIONS:
            if k in d:
                as_string(d[k], f"{where}[{k!r}]")
        described = as_mapping(d.get("descriptors", {}), f"{where}['descriptors']")
        for name, mat in as_mapping(d.get("baselines", {}), f"{where}['baselines']").items():
            measure_known(name, f"{where}['baselines']", described)
            as_matrix(mat, f"{where}['baselines'][{name!r}]", (m, m))
        return cls(**{k: d[k] for k in names if k in d})


def _rows(a: np.ndarray) -> Matrix:
    return [[None if np.isnan(v) else float(v) for v in row] for row in a]


def run(ctx: StudyContext, s: EquivalenceSettings) -> EquivalenceResult:
    """Congruity of every pair of zoo models (implementations: other seeds of the same recipe),
    and the baseline measures on the same pairs (on ``baseline_representation``)."""
    names, groups, models = named_models(ctx)
    t = task(ctx)
    recipes = [[m for m, g in zip(models, groups, strict=True) if g == k]
               for k in dict.fromkeys(groups)]  # fmt: skip
    mat = congruity_matrix(
        models, t, names=names, n=s.n, sampler=Retrained(*recipes), distance=s.distance,
        reprs=get_reprs(s.representation, t), seed=ctx.config.seed,
        results_path=str(ctx.partial_path("congruity-pairs")), progress=ctx.progress,
    )  # fmt: skip
    reps = representations(ctx, s.baseline_representation)
    baselines = {name: pairwise(reps, name, progress=ctx.progress).values for name in s.baselines}
    p = np.full_like(mat.scores, np.nan)
    for (i, j), r in mat.results.items():
        p[i, j] = p[j, i] = r.p_value
    return EquivalenceResult(
        names=names, groups=groups, score=_rows(mat.scores), ci_low=_rows(mat.ci_low),
        ci_high=_rows(mat.ci_high), p_value=_rows(p), n=s.n, level=0.95, task=t.name,
        distance=s.distance, representation=REPRESENTATIONS[s.representation],
        baseline_representation=REPRESENTATIONS[s.baseline_representation],
        cross="implementation", sampler=SAMPLER,
        baselines={k: _rows(v) for k, v in baselines.items()},
        descriptors=describe_measures(list(baselines)),
    )  # fmt: skip


def _means(matrix: Matrix, groups: list[str]) -> str:
    a = np.array([[np.nan if v is None else v for v in row] for row in matrix], dtype=float)
    return ", ".join(f"{k} {v:.2f}" for k, v in group_means(a, groups).items())


def summary(r: EquivalenceResult) -> list[str]:
    groups = r.groups if r.groups is not None else list(r.names)
    rounds = f" (n={r.n} rounds per pair)" if r.n is not None else ""
    line = f"Congruity{rounds}, mean within and across recipes: {_means(r.score, groups)}."
    for name, m in (r.baselines or {}).items():
        line += f" {name}: {_means(m, groups)}."
    return [line]


def report(page: Page, r: EquivalenceResult) -> list[Part]:
    return [
        ("equivalence", "Interpretive equivalence (Congruity)", _congruity(page, r)),
        ("baselines", "Similarity measures side by side", _baselines(page, r)),
    ]


def _congruity(page: Page, r: EquivalenceResult) -> str:
    names, groups = r.names, r.groups
    m = len(names)
    score, lo, hi = (as_matrix(v, k, (m, m)) for k, v in
                     (("score", r.score), ("ci_low", r.ci_low), ("ci_high", r.ci_high)))  # fmt: skip
    settings = [
        ("task", r.task), ("models", m), ("rounds per pair (n)", r.n),
        ("confidence level", f"{r.level:.0%}" if r.level is not None else None),
        ("representation", r.representation), ("representation distance", r.distance),
        ("baselines compare", r.baseline_representation), ("comparison", r.cross),
        ("implementation sampler", r.sampler),
    ]  # fmt: skip
    fig = figures.congruity_heatmap(names, score, lo, hi, groups=groups, level=r.level)
    level = f"{r.level:.0%} " if r.level is not None else ""
    caption = f"Congruity of every pair of models, with its {level}bootstrap confidence interval."
    baselines = {k: as_matrix(v, k, (m, m)) for k, v in (r.baselines or {}).items()}
    p = as_matrix(r.p_value, "p_value", (m, m)) if r.p_value is not None else None
    header = ["model A", "model B"] + (["same group"] if groups else []) + ["Congruity", "CI"]
    header += ["p (binomial)"] if p is not None else []
    header_html = [esc(h) for h in header]
    header_html += [measure_header(b, r.descriptors) for b in baselines]
    rows = []
    for i in range(m):
        for j in range(i + 1, m):
            row = [esc(names[i]), esc(names[j])]
            if groups:
                row.append("yes" if groups[i] == groups[j] else "no")
            ci = "—" if np.isnan(lo[i, j]) else f"[{lo[i, j]:.2f}, {hi[i, j]:.2f}]"
            row += [num(score[i, j]), ci] + ([num(p[i, j])] if p is not None else [])
            row += [num(b[i, j]) for b in baselines.values()]
            rows.append(row)
    return "".join([
        f"<p>{page.prose(TEXT)}</p>",
        kv_table(settings),
        figure(fig, "Congruity heatmap with confidence intervals", caption),
        table(header_html, rows, caption="Every pair of models"),
    ])  # fmt: skip


def _baselines(page: Page, r: EquivalenceResult) -> str:
    if not r.baselines:
        return ""
    mats = {"Congruity": r.score, **r.baselines}
    kinds: dict[str, Any] = {"Congruity": "similarity"}
    ranges = {"Congruity": (0.0, 1.0)}
    for name, info in (r.descriptors or {}).items():  # as computed, not as registered today
        kinds[name] = info["kind"]
        low, high = info["range"]
        if low is not None and high is not None:
            ranges[name] = (low, high)
    fig = figures.measure_heatmaps(r.names, mats, groups=r.groups, kinds=kinds, ranges=ranges)
    return "".join([
        f"<p>{page.prose(BASELINES_TEXT)}</p>",
        figure(fig, "Congruity and baseline measures side by side",
               "Congruity and representational measures on the same pairs of models."),
        measure_info_table(page, list(r.baselines), r.descriptors),
    ])  # fmt: skip


def _title(table: Mapping[str, Any]) -> list[str]:
    return ["Pizza vs Clock"]


def cross_check(steps: Mapping[str, Mapping[str, Any]]) -> list[str]:
    seeds = steps["zoo"]["seeds"] if "zoo" in steps else None
    if seeds is not None and seeds < 3:
        return [f"zoo.seeds must be >= 3 when [equivalence] is enabled (a within-recipe pair "
                f"needs a third seed to draw implementations from), got {seeds}"]  # fmt: skip
    return []


SECTION = Section(
    "equivalence", EquivalenceSettings, EquivalenceResult, run, summary, report, DEFAULTS, QUICK,
    VERSION, depends=("zoo",), method="interpretive equivalence (Congruity)", measures=True,
    title=_title, cross_check=cross_check,
)  # fmt: skip
