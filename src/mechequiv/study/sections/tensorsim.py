"""The tensorsim section: tensor similarity (Nissen Gonzalez et al.) between every pair of
training checkpoints of a bilinear layer grokking modular addition, and of one through a
backdoor insertion, with weight and output baselines."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal

import numpy as np

from mechequiv._progress import make_progress
from mechequiv.report import figures
from mechequiv.report.html import Page, cell, esc, figure, num, table
from mechequiv.report.validate import (
    as_curves,
    as_integer,
    as_mapping,
    as_matrix,
    as_number,
    as_string,
    as_vector,
    check_keys,
)
from mechequiv.study.checks import Integer, Number, did_you_mean, got
from mechequiv.study.context import StudyContext
from mechequiv.study.sections.base import Part, Section, checked
from mechequiv.tensorsim.experiments import (
    BACKDOOR_SETTINGS,
    GROKKING_SETTINGS,
    backdoor,
    grokking,
)  # fmt: skip

VERSION = 2  # 2: the backdoor's slice shifts as structured fields, not labels in ``delta``

DEFAULTS = """\
# Tensor similarity (Nissen Gonzalez et al.) over training: "quick", "full", or false.
[tensorsim]
enabled = true
grokking = "quick"
backdoor = "quick\""""

TEXT = (
    "A tensor-based model (linear and bilinear layers, no elementwise nonlinearity) computes a "
    "polynomial of its input: the whole network is one tensor. Tensor similarity is the cosine "
    "between two networks' symmetrised tensors, computed from the weights alone by a recursive "
    "contraction that never forms the tensor; it is invariant to weight-space symmetries and, for "
    "Gaussian inputs, equals a functional inner product {cite:nissen2026}. Comparing every "
    "checkpoint with every other shows phases of training as blocks, without any data."
)

BACKDOOR_TEXT = (
    "A backdoor is trained in part-way (dashed line: the first poisoned step). Weight-based "
    "similarity can reveal the change while behaviour on clean data hardly moves {cite:nissen2026}. "
    "Δ is the mean similarity among poisoned-phase checkpoints minus the mean similarity between "
    "clean-phase and poisoned-phase checkpoints."
)


@dataclass(frozen=True)
class ExperimentSetting:
    """``"quick"``, ``"full"``, a table overriding fields of the quick setting, or (when
    ``optional``) ``false`` to skip the experiment. Field types follow the quick setting's."""

    table: str  # "grokking" or "backdoor"
    optional: bool

    def _defaults(self) -> Mapping[str, dict[str, Any]]:
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
        return [f"{path} must be {names}, a table of settings{skip}; {got(value)}"]


@dataclass(frozen=True)
class TensorsimSettings:
    grokking: str | dict[str, Any] = field(
        metadata=checked(ExperimentSetting("grokking", optional=False))
    )
    backdoor: str | dict[str, Any] | Literal[False] = field(
        metadata=checked(ExperimentSetting("backdoor", optional=True))
    )


Matrix = list[list[float | None]]


@dataclass(frozen=True)
class SliceShift:
    """How far the backdoor moved the target class's tensor slice, and the largest shift of any
    other class's slice (1 - similarity of the slices before and after poisoning)."""

    target: int
    poisoned: float
    largest_other: float

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "poisoned": self.poisoned,
                "largest_other": self.largest_other}  # fmt: skip

    @classmethod
    def from_dict(cls, d: Any, where: str) -> SliceShift:
        d = as_mapping(d, where)
        check_keys(d, where, ("target", "poisoned", "largest_other"), ())
        return cls(as_integer(d["target"], f"{where}['target']", low=0),
                   as_number(d["poisoned"], f"{where}['poisoned']"),
                   as_number(d["largest_other"], f"{where}['largest_other']"))  # fmt: skip


@dataclass(frozen=True)
class OverTraining:
    """k checkpoints: their steps, the k x k tensor similarity, baselines (k x k each) and
    curves (k values each); for a backdoor run also the first poisoned step, the detectors'
    Δ and the slice shifts."""

    steps: list[float]
    matrix: Matrix
    model: str | None = None
    baselines: dict[str, Matrix] | None = None
    curves: dict[str, list[float | None]] | None = None
    poison_step: float | None = None
    delta: dict[str, float] | None = None
    slice_shift: SliceShift | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)
               if getattr(self, f.name) is not None}  # fmt: skip
        if self.slice_shift is not None:
            out["slice_shift"] = self.slice_shift.to_dict()
        return out

    @classmethod
    def from_dict(cls, d: Any, where: str, *, backdoor: bool = False) -> OverTraining:
        d = as_mapping(d, where)
        optional = ["model", "baselines", "curves"]
        optional += ["poison_step", "delta", "slice_shift"] if backdoor else []
        check_keys(d, where, ("steps", "matrix"), optional)
        k = len(as_vector(d["steps"], f"{where}['steps']"))
        if k == 0:
            raise ValueError(f"{where}['steps']: expected at least one checkpoint, found none")
        as_matrix(d["matrix"], f"{where}['matrix']", (k, k))
        for name, mat in as_mapping(d.get("baselines", {}), f"{where}['baselines']").items():
            as_matrix(mat, f"{where}['baselines'][{name!r}]", (k, k))
        if "curves" in d:
            as_curves(d["curves"], f"{where}['curves']", length=k, need_steps=False)
        if "model" in d:
            as_string(d["model"], f"{where}['model']")
        if "poison_step" in d:
            as_number(d["poison_step"], f"{where}['poison_step']")
        for name, v in as_mapping(d.get("delta", {}), f"{where}['delta']").items():
            as_number(v, f"{where}['delta'][{name!r}]")
        shift = d.get("slice_shift")
        values = {f.name: d[f.name] for f in fields(cls) if f.name in d}
        if shift is not None:
            values["slice_shift"] = SliceShift.from_dict(shift, f"{where}['slice_shift']")
        return cls(**values)


@dataclass(frozen=True)
class TensorsimResult:
    """Grokking over training and, optionally, a backdoor insertion."""

    grokking: OverTraining
    backdoor: OverTraining | None = None

    def to_dict(self) -> dict[str, Any]:
        out = self.grokking.to_dict()
        if self.backdoor is not None:
            out["backdoor"] = self.backdoor.to_dict()
        return out

    @classmethod
    def from_dict(cls, d: Any, where: str = "tensorsim") -> TensorsimResult:
        d = dict(as_mapping(d, where))
        check_keys(d, where, ("steps", "matrix"), ("model", "baselines", "curves", "backdoor"))
        bd = d.pop("backdoor", None)
        if bd is not None:
            bd = OverTraining.from_dict(bd, f"{where}['backdoor']", backdoor=True)
        grok = OverTraining.from_dict(d, where)
        return cls(grok, bd)


def run(ctx: StudyContext, s: TensorsimSettings) -> TensorsimResult:
    """Tensor similarity over training: grokking of a bilinear layer, and a backdoor insertion."""
    # The experiments train without a bar of their own; this one counts them and shows the time.
    with make_progress(ctx.quiet()) as bar:
        job = bar.add_task("tensorsim experiments", total=1 + bool(s.backdoor),
                           status="grokking")  # fmt: skip
        g = grokking(s.grokking, progress=ctx.progress).to_dict()
        bar.update(job, advance=1, status="backdoor" if s.backdoor else "")
        b = backdoor(s.backdoor, progress=ctx.progress).to_dict() if s.backdoor else None
        bar.update(job, advance=1 if b is not None else 0, status="")
    grok = OverTraining(
        steps=g["steps"], matrix=g["tensor"]["matrix"], baselines=g["baselines"],
        model=f"one bilinear layer, modular addition p={g['setting']['p']}",
        curves={"train_accuracy": g["train_acc"], "test_accuracy": g["test_acc"]},
    )  # fmt: skip
    if b is None:
        return TensorsimResult(grok)
    target = b["setting"]["target"]
    shift = np.asarray(b["slice_shift"], dtype=float)
    bd = OverTraining(
        steps=b["steps"], matrix=b["tensor"]["matrix"], baselines=b["baselines"],
        model=f"one bilinear layer, blob images, a trigger relabelled to class {target}",
        curves={"clean_accuracy": b["clean_acc"], "attack_success": b["attack_success"]},
        poison_step=b["steps"][b["clean_index"]],
        delta={k: v for k, v in b["delta"].items() if np.isfinite(v)},  # NaN: too few checkpoints
        slice_shift=SliceShift(target, float(shift[target]),
                               float(np.nanmax(np.delete(shift, target)))),
    )  # fmt: skip
    return TensorsimResult(grok, bd)


def summary(r: TensorsimResult) -> list[str]:
    g = r.grokking
    acc = (g.curves or {}).get("test_accuracy")
    jump = None
    if acc is not None:
        jump = next((st for st, a in zip(g.steps, acc, strict=True)
                     if a is not None and a >= 0.5), None)  # fmt: skip
    sim = np.asarray([[np.nan if v is None else v for v in row] for row in g.matrix], float)
    out = [f"Tensor similarity: test accuracy passes 50% at step {_step(jump)}; the first and "
           f"last checkpoints have similarity {sim[0, -1]:.2f}."]  # fmt: skip
    if r.backdoor is not None:
        line = "Backdoor:"
        if r.backdoor.slice_shift is not None:
            s = r.backdoor.slice_shift
            line += (f" the poisoned class's tensor slice moved {s.poisoned:.3f}, every other "
                     f"class at most {s.largest_other:.3f};")  # fmt: skip
        whole = ", ".join(f"{k} {v:.3g}" for k, v in (r.backdoor.delta or {}).items())
        out.append(f"{line} whole-model change detectors: {whole}.")
    return out


def _step(step: float | None) -> str:
    return str(int(step)) if step is not None and float(step).is_integer() else str(step)


def report(page: Page, r: TensorsimResult) -> list[Part]:
    out = [f"<p>{page.prose(TEXT)}</p>",
           _over_training(r.grokking, "tensor similarity over training")]  # fmt: skip
    bd = r.backdoor
    if bd is not None:
        out += ["<h3>Backdoor insertion</h3>", f"<p>{page.prose(BACKDOOR_TEXT)}</p>",
                _over_training(bd, "similarity over training with a backdoor")]  # fmt: skip
        rows = [[esc(k), num(v)] for k, v in (bd.delta or {}).items()]
        if bd.slice_shift is not None:
            s = bd.slice_shift
            rows += [[esc(f"slice shift, class {s.target} (poisoned)"), num(s.poisoned)],
                     [esc("slice shift, largest other class"), num(s.largest_other)]]  # fmt: skip
        if rows:
            out.append(table(["similarity", "Δ (detector)"], rows))
    return [("tensorsim", "Tensor similarity over training", "".join(out))]


def _over_training(sec: OverTraining, what: str) -> str:
    steps = as_vector(sec.steps, "steps")
    mats = {"tensor similarity": sec.matrix, **(sec.baselines or {})}
    curves = sec.curves or {}
    fig = figures.similarity_over_training(sec.steps, mats, curves=curves,
                                           marker_step=sec.poison_step)  # fmt: skip
    model = f" Model: {sec.model}." if sec.model is not None else ""
    caption = f"Every checkpoint against every other ({len(steps)} checkpoints).{model}"
    # Similarity to the final checkpoint at a few checkpoints, next to the curves.
    k = len(steps)
    picks = sorted(set(np.linspace(0, k - 1, min(k, 8)).round().astype(int).tolist()))
    last = {lab: as_matrix(v, lab, (k, k))[-1] for lab, v in mats.items()}
    cols = {lab: as_vector(v, lab, k) for lab, v in curves.items()}
    header = ["step"] + [esc(f"{lab} to final") for lab in last] + [esc(c) for c in cols]
    rows = [[cell(sec.steps[t])] + [num(v[t]) for v in last.values()]
            + [num(v[t]) for v in cols.values()] for t in picks]  # fmt: skip
    return figure(fig, what, caption) + table(
        header, rows, caption="Similarity to the final checkpoint"
    )


def _title(table: Mapping[str, Any]) -> list[str]:
    return ["grokking"] + (["backdoors"] if table.get("backdoor") is not False else [])


SECTION = Section(
    "tensorsim", TensorsimSettings, TensorsimResult, run, summary, report, DEFAULTS, "", VERSION,
    method="tensor similarity", title=_title,
)  # fmt: skip
