"""The identifiability section: audits (Méloux et al.) of small MLPs trained on a Boolean gate,
per hidden width: circuits, interpretations and mappings per converged network; optionally
(``calibration``) the exact equivalence of every pair of those networks beside cheap label-free
predictors (linear CKA, Procrustes), scored as a calibration of the predictors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mechequiv._progress import make_progress
from mechequiv.errors import MechequivError
from mechequiv.identifiability import audit, paper_min_node_sparsity
from mechequiv.identifiability.calibration import roc_auc, shuffled_null
from mechequiv.identifiability.exact import ExplanationClasses, explanation_classes
from mechequiv.identifiability.network import MLPNet, as_mlp
from mechequiv.identifiability.pair_scores import (
    LABELS,
    PREDICTORS,
    PairScore,
    calibration_of,
    score_pairs,
)
from mechequiv.identifiability.tasks import GATES, as_task, train_mlp
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
from mechequiv.study.checks import POSITIVE, ListOf, boolean, did_you_mean
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
max_tries = 20
# Opt-in: exact interpretive equivalence (circuits, interpretations, algorithms and alignments
# modulo neuron relabelling) of every pair of the audited networks, same width and across widths
# audited with the same circuit filter, beside linear CKA and Procrustes of their hidden
# activations on the task rows: ROC AUC, shuffled-label null and reliability of each predictor.
# Re-audits each network once with interpretation lists kept (about the audit's cost again).
calibration = false"""

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
    calibration: bool = field(metadata=checked(boolean))


#: Fewer pairs than this in either class (equivalent / not): no AUC is reported.
MIN_PER_CLASS = 3
#: Permutations of the shuffled-label null (fixed generator: the report is deterministic).
N_PERMUTATIONS = 1000


@dataclass(frozen=True)
class PairCalibration:
    """Exact labels and predictor scores of every compared pair of the section's networks;
    ``skipped`` names the networks left out, with the reason (e.g. too many interpretation
    classes to enumerate)."""

    pairs: tuple[PairScore, ...]
    skipped: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"pairs": [p.to_dict() for p in self.pairs], "skipped": list(self.skipped)}

    @classmethod
    def from_dict(cls, d: Any, where: str) -> PairCalibration:
        d = as_mapping(d, where)
        check_keys(d, where, ("pairs", "skipped"), ())
        pairs = tuple(PairScore.from_dict(p, f"{where}['pairs'][{i}]")
                      for i, p in enumerate(as_list(d["pairs"], f"{where}['pairs']")))  # fmt: skip
        skipped = tuple(as_string(v, f"{where}['skipped'][{i}]")
                        for i, v in enumerate(as_list(d["skipped"], f"{where}['skipped']")))  # fmt: skip
        return cls(pairs, skipped)


@dataclass(frozen=True)
class IdentifiabilityResult:
    """One record per converged network: ``{"width", "seed", <count>: int, ...}``."""

    widths: list[int]
    per_seed: list[dict[str, int]]
    task: str | None = None
    calibration: PairCalibration | None = None

    @property
    def counts(self) -> list[str]:
        return count_keys(self.per_seed)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {} if self.task is None else {"task": self.task}
        out |= {"widths": self.widths, "per_seed": self.per_seed}
        if self.calibration is not None:
            out["calibration"] = self.calibration.to_dict()
        return out

    @classmethod
    def from_dict(cls, d: Any, where: str = "identifiability") -> IdentifiabilityResult:
        d = as_mapping(d, where)
        check_keys(d, where, ("widths", "per_seed"), ("task", "calibration"))
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
        calibration = (
            PairCalibration.from_dict(d["calibration"], f"{where}['calibration']")
            if "calibration" in d else None
        )  # fmt: skip
        return cls(widths, [dict(r) for r in rows], d.get("task"), calibration)


def run(ctx: StudyContext, s: IdentifiabilitySettings) -> IdentifiabilityResult:
    """Audit ``seeds`` converged MLPs per hidden width (seeds tried in order, at most
    ``max_tries`` per width): circuits, interpretations, mappings; with ``calibration``, the
    exact equivalence and predictor scores of every comparable pair of them."""
    task = as_task(s.task)
    rows = []
    kept: list[tuple[str, MLPNet, int]] = []
    with make_progress(ctx.quiet()) as bar:
        # counts converged networks: the ETA holds while the convergence rate does
        job = bar.add_task(f"identifiability {s.task}", total=s.seeds * len(s.widths),
                           status="")  # fmt: skip
        for k in s.widths:
            found, seed = 0, 0
            while found < s.seeds and seed < s.max_tries:
                bar.update(job, status=f"width {k}, seed {seed} ({seed - found} not converged)")
                trained = train_mlp(task, (k, k), seed=seed)
                if trained.converged:
                    # the paper's circuit filter at k >= 4, as study_widths applies it
                    r = audit(trained.model, task, name=f"{task.name} k={k} seed={seed}",
                              min_node_sparsity=paper_min_node_sparsity([k, k]))  # fmt: skip
                    rows.append({"width": k, "seed": seed, "circuits": _count(r.n_circuits),
                                 "interpretations": _count(r.n_interpretations),
                                 "mappings": _count(r.n_mappings)})  # fmt: skip
                    kept.append((f"k={k} seed {seed}", as_mlp(trained.model), k))
                    found += 1
                    bar.advance(job)
                seed += 1
            bar.advance(job, s.seeds - found)  # this width gave up: its share is done
        if not rows:
            raise MechequivError(
                f"no {s.task} network converged in {s.max_tries} seeds per width; "
                "raise identifiability.max_tries"
            )
        calibration = None
        if s.calibration:
            job = bar.add_task("exact equivalence", total=len(kept), status="")
            classes: list[tuple[str, MLPNet, ExplanationClasses]] = []
            skipped = []
            for name, net, k in kept:
                bar.update(job, status=name)
                try:
                    c = explanation_classes(net, task, name=name,
                                            min_node_sparsity=paper_min_node_sparsity([k, k]))  # fmt: skip
                    classes.append((name, net, c))
                except MechequivError as e:  # refused before enumerating: say which and why
                    skipped.append(f"{name}: {e}")
                bar.advance(job)
            calibration = PairCalibration(tuple(score_pairs(classes, task)), tuple(skipped))
    name = s.task if isinstance(s.task, str) else "+".join(s.task)
    return IdentifiabilityResult(list(s.widths), rows, name, calibration)


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
    out = [f"Identifiability{task}: " + "; ".join(parts) + "."]
    if r.calibration is not None:
        out.append(_calibration_sentence(r.calibration))
    return out


def _subsets(c: PairCalibration) -> dict[str, list[PairScore]]:
    seed = [p for p in c.pairs if p.widths[0] == p.widths[1]]
    return {"seed pairs": seed, "all pairs": list(c.pairs)} if len(seed) < len(c.pairs) else {
        "seed pairs": seed}  # fmt: skip


@dataclass(frozen=True)
class AucEntry:
    """One predictor against one label over one subset of pairs: ``auc`` None when either
    class has fewer than :data:`MIN_PER_CLASS` pairs; ``null``: the 2.5 and 97.5 percentiles of
    the AUC with the labels shuffled across pairs."""

    n: int
    positives: int
    auc: float | None
    null: tuple[float, float] | None


def auc_entry(pairs: list[PairScore], predictor: str, label: str) -> AucEntry:
    have = [p for p in pairs if p.scores.get(predictor) is not None]
    scores = np.array([p.scores[predictor] for p in have], dtype=np.float64)
    labels = np.array([p.label(label) for p in have], dtype=bool)
    pos = int(labels.sum())
    if min(pos, len(have) - pos) < MIN_PER_CLASS:
        return AucEntry(len(have), pos, None, None)
    null = shuffled_null(scores, labels, np.random.default_rng(0), N_PERMUTATIONS)
    lo, hi = np.quantile(null, [0.025, 0.975])
    return AucEntry(len(have), pos, roc_auc(scores, labels), (float(lo), float(hi)))


def _calibration_sentence(c: PairCalibration) -> str:
    seed = _subsets(c)["seed pairs"]
    if not seed:
        return "Exact-equivalence calibration: no seed pair to compare."
    parts = []
    for label in LABELS:
        pos = sum(p.label(label) for p in seed)
        scored = []
        for pred in PREDICTORS:
            e = auc_entry(seed, pred, label)
            if e.auc is not None and e.null is not None:
                scored.append(f"{pred} AUC {e.auc:.2f} (shuffled {e.null[0]:.2f}-{e.null[1]:.2f})")
        verdict = ", ".join(scored) if scored else "too few for an AUC"
        parts.append(f"{label} in {pos} of {len(seed)} seed pairs: {verdict}")
    return "Exact-equivalence calibration: " + "; ".join(parts) + "."


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
    parts = [("identifiability", "Identifiability audit", body)]
    if r.calibration is not None:
        parts.append(("identifiability-calibration", "Exact equivalence as ground truth",
                      _calibration_body(page, r.calibration)))  # fmt: skip
    return parts


CALIBRATION_TEXT = (
    "For networks this small the audit enumerates every explanation, so whether two networks "
    "admit exactly the same circuits, interpretations, algorithms and alignments (modulo "
    "relabelling of hidden neurons) is known exactly. Each pair of the audited networks is a "
    "test case for label-free predictors of that equivalence: linear CKA and the negated "
    "Procrustes distance of their hidden activations on the task rows. The table gives each "
    "predictor's ROC AUC beside the AUC range under shuffled labels; seed pairs have the same "
    "width, all pairs add the cross-width pairs that share the audit's circuit filter."
)


def _calibration_body(page: Page, c: PairCalibration) -> str:
    subsets = _subsets(c)
    rows = []
    for subset, pairs in subsets.items():
        for label in LABELS:
            for pred in PREDICTORS:
                e = auc_entry(pairs, pred, label)
                auc = (f"{e.auc:.2f}" if e.auc is not None else
                       f"too few for an AUC (< {MIN_PER_CLASS} positive or negative pairs)")  # fmt: skip
                null = f"{e.null[0]:.2f}-{e.null[1]:.2f}" if e.null is not None else "—"
                rows.append([esc(subset), esc(label), esc(pred), str(e.n),
                             f"{e.positives}", esc(auc), null])  # fmt: skip
    html = [f"<p>{page.prose(CALIBRATION_TEXT)}</p>"]
    seed = subsets["seed pairs"]
    data = [d for pred in PREDICTORS
            if (d := calibration_of(seed, pred, "equivalent", "seed pairs")) is not None]  # fmt: skip
    if data:
        pos = sum(p.equivalent for p in seed)
        note = ("" if min(pos, len(seed) - pos) >= MIN_PER_CLASS else
                f" Only {pos} of {len(seed)} pairs are exactly equivalent: too few for an AUC;"
                " the curves are shown, not scored.")  # fmt: skip
        fig = figures.exact_equivalence_calibration(data, min_per_class=MIN_PER_CLASS)
        html.append(figure(fig, "Reliability and ROC of label-free predictors of exact equivalence",
                           f"Seed pairs: reliability (left; bins with their pair counts) and ROC "
                           f"(right) of each predictor against exact equivalence; {pos} of "
                           f"{len(seed)} pairs are positive.{note}"))  # fmt: skip
    else:
        html.append("<p>No seed pair has a predictor value: nothing to plot.</p>")
    html.append(table(["pairs", "label", "predictor", "n", "positives", "ROC AUC",
                       "shuffled-label AUC, 95% range"], rows,
                      caption="Label-free predictors against exact equivalence"))  # fmt: skip
    if c.skipped:
        html.append("<p>Networks left out: " + esc("; ".join(c.skipped)) + "</p>")
    return "".join(html)


def _title(table: Mapping[str, Any]) -> list[str]:
    task = table["task"]
    return [f"{'+'.join(task) if isinstance(task, list) else task} circuits"]


SECTION = Section(
    "identifiability", IdentifiabilitySettings, IdentifiabilityResult, run, summary, report,
    DEFAULTS, QUICK, VERSION, method="an identifiability audit", title=_title,
)  # fmt: skip
