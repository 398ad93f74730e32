"""The study's steps: each ``(ctx, settings) -> dict`` in the report's results schema
(:mod:`mechequiv.report.schema`), registered in ``STEPS`` with a version and the steps whose
settings and code its cached result also depends on (the equivalence step compares the zoo
step's models).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from mechequiv._progress import make_progress, track
from mechequiv.errors import MechequivError
from mechequiv.study.run import StudyContext
from mechequiv.study.settings import REPRESENTATIONS

GROUP_NAMES = {"pizza": "Pizza", "clock": "Clock"}


def _zoos(ctx: StudyContext) -> dict[str, Any]:
    """The Pizza and Clock zoos of the ``zoo`` settings (trained once, resumable on disk)."""
    from mechequiv.zoo.presets import pizza_clock

    s = ctx.config.steps["zoo"]
    return ctx.shared(
        "zoos",
        lambda: pizza_clock(
            seeds=range(s["seeds"]), out_dir=ctx.out / "zoo", progress=ctx.progress,
            steps=s["steps"], eval_every=s["eval_every"],
        ),
    )  # fmt: skip


def _named_models(ctx: StudyContext) -> tuple[list[str], list[str], list[torch.nn.Module]]:
    names, groups, models = [], [], []
    for kind, zoo in _zoos(ctx).items():
        for seed, model in zip(zoo.seeds, zoo.models(), strict=True):
            names.append(f"{kind}-{seed}")
            groups.append(GROUP_NAMES[kind])
            models.append(model)
    return names, groups, models


def _get_reprs(kind: str, task: Any) -> Callable[[torch.nn.Module, Any], Any]:
    from mechequiv.equivalence import FourierModuleReprs, hidden_representations

    if kind == "fourier":
        return FourierModuleReprs(task.n_outputs)
    if kind == "residual":
        return hidden_representations
    raise MechequivError(f"representation must be one of {sorted(REPRESENTATIONS)}, got {kind!r}")


def _representations(ctx: StudyContext, kind: str) -> list[torch.Tensor]:
    """Every zoo model's ``kind`` representation of all task inputs (computed once per run)."""

    def build() -> list[torch.Tensor]:
        task = next(iter(_zoos(ctx).values())).task
        fn = _get_reprs(kind, task)
        models = _named_models(ctx)[2]
        return [torch.as_tensor(fn(m, task.inputs))
                for m in track(models, f"{kind} representations", disable=_quiet(ctx))]  # fmt: skip

    return ctx.shared(f"representations-{kind}", build)


def _quiet(ctx: StudyContext) -> bool | None:
    """``disable`` for a progress bar: None shows it only on a terminal."""
    return None if ctx.progress is None else not ctx.progress


def zoo_step(ctx: StudyContext, s: dict[str, Any]) -> dict[str, Any]:
    """Train Pizza (attention rate 0) and Clock (rate 1) transformers; label their mechanisms."""
    rows, curves = [], {}
    for kind, zoo in _zoos(ctx).items():
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
    return {"models": rows, "curves": curves}


def group_means(matrix: np.ndarray, groups: list[str]) -> dict[str, float]:
    """Mean off-diagonal value within each group (``"A vs A"``) and across groups (NaN-aware)."""
    g = np.array(groups)
    off = ~np.eye(len(g), dtype=bool)
    out = {f"{k} vs {k}": float(np.nanmean(matrix[(g[:, None] == k) & (g[None, :] == k) & off]))
           for k in dict.fromkeys(groups)}  # fmt: skip
    out["across"] = float(np.nanmean(matrix[g[:, None] != g[None, :]]))
    return out


def equivalence_step(ctx: StudyContext, s: dict[str, Any]) -> dict[str, Any]:
    """Congruity of every pair of zoo models (implementations: other seeds of the same recipe),
    and the baseline measures on the same pairs (on ``baseline_representation``)."""
    from mechequiv.equivalence import Retrained, congruity_matrix
    from mechequiv.parallel.pairwise import pairwise

    names, groups, models = _named_models(ctx)
    task = next(iter(_zoos(ctx).values())).task
    recipes = [[m for m, g in zip(models, groups, strict=True) if g == k]
               for k in dict.fromkeys(groups)]  # fmt: skip
    mat = congruity_matrix(
        models, task, names=names, n=s["n"], sampler=Retrained(*recipes), distance=s["distance"],
        reprs=_get_reprs(s["representation"], task), seed=ctx.config.seed,
        results_path=str(ctx.partial_path("congruity-pairs")), progress=ctx.progress,
    )  # fmt: skip
    reps = _representations(ctx, s["baseline_representation"])
    baselines = {name: pairwise(reps, name, progress=ctx.progress).values
                 for name in s["baselines"]}  # fmt: skip
    p = np.full_like(mat.scores, np.nan)
    for (i, j), r in mat.results.items():
        p[i, j] = p[j, i] = r.p_value

    def rows(a: np.ndarray) -> list[list[float | None]]:
        return [[None if np.isnan(v) else float(v) for v in row] for row in a]

    return {
        "names": names, "groups": groups, "score": rows(mat.scores),
        "ci_low": rows(mat.ci_low), "ci_high": rows(mat.ci_high), "p_value": rows(p),
        "n": s["n"], "level": 0.95, "task": task.name, "distance": s["distance"],
        "representation": REPRESENTATIONS[s["representation"]],
        "baseline_representation": REPRESENTATIONS[s["baseline_representation"]],
        "cross": "implementation",
        "sampler": "Retrained: other seeds of the same recipe (attention rate)",
        "baselines": {k: rows(v) for k, v in baselines.items()},
    }  # fmt: skip


def tensorsim_step(ctx: StudyContext, s: dict[str, Any]) -> dict[str, Any]:
    """Tensor similarity over training: grokking of a bilinear layer, and a backdoor insertion."""
    from mechequiv.tensorsim.experiments import backdoor, grokking

    # The experiments train without a bar of their own; this one counts them and shows the time.
    with make_progress(_quiet(ctx)) as bar:
        job = bar.add_task("tensorsim experiments", total=1 + bool(s["backdoor"]),
                           status="grokking")  # fmt: skip
        g = grokking(s["grokking"], progress=ctx.progress).to_dict()
        bar.update(job, advance=1, status="backdoor" if s["backdoor"] else "")
        b = backdoor(s["backdoor"], progress=ctx.progress).to_dict() if s["backdoor"] else None
        bar.update(job, advance=1 if b is not None else 0, status="")
    out = {
        "model": f"one bilinear layer, modular addition p={g['setting']['p']}",
        "steps": g["steps"], "matrix": g["tensor"]["matrix"], "baselines": g["baselines"],
        "curves": {"train_accuracy": g["train_acc"], "test_accuracy": g["test_acc"]},
    }  # fmt: skip
    if b is not None:
        target = b["setting"]["target"]
        shift = np.asarray(b["slice_shift"], dtype=float)
        delta = {
            **b["delta"],
            f"slice shift, class {target} (poisoned)": float(shift[target]),
            "slice shift, largest other class": float(np.nanmax(np.delete(shift, target))),
        }
        out["backdoor"] = {
            "model": f"one bilinear layer, blob images, a trigger relabelled to class {target}",
            "steps": b["steps"], "matrix": b["tensor"]["matrix"], "baselines": b["baselines"],
            "curves": {"clean_accuracy": b["clean_acc"], "attack_success": b["attack_success"]},
            "poison_step": b["steps"][b["clean_index"]],
            "delta": {k: v for k, v in delta.items() if np.isfinite(v)},  # NaN: too few checkpoints
        }  # fmt: skip
    return out


def identifiability_step(ctx: StudyContext, s: dict[str, Any]) -> dict[str, Any]:
    """Audit ``seeds`` converged MLPs per hidden width (seeds tried in order, at most
    ``max_tries`` per width): circuits, interpretations, mappings."""
    from mechequiv.identifiability.study import study_widths

    rows, tried = [], {}
    with make_progress(_quiet(ctx)) as bar:
        # counts converged networks: the ETA holds while the convergence rate does
        job = bar.add_task(f"identifiability {s['task']}", total=s["seeds"] * len(s["widths"]),
                           status="")  # fmt: skip
        for k in s["widths"]:
            found, seed = 0, 0
            while found < s["seeds"] and seed < s["max_tries"]:
                bar.update(job, status=f"width {k}, seed {seed} ({seed - found} not converged)")
                study = study_widths(s["task"], widths=[k], seeds=[seed])
                for r in study.reports:
                    rows.append({"width": k, "seed": seed, "circuits": int(r.n_circuits),
                                 "interpretations": int(r.n_interpretations),
                                 "mappings": int(r.n_mappings)})  # fmt: skip
                    found += 1
                    bar.advance(job)
                seed += 1
            bar.advance(job, s["seeds"] - found)  # this width gave up: its share is done
            tried[k] = seed
    if not rows:
        raise MechequivError(
            f"no {s['task']} network converged in {s['max_tries']} seeds per width; "
            "raise identifiability.max_tries"
        )
    return {"task": s["task"], "widths": list(s["widths"]), "per_seed": rows}


def measures_step(ctx: StudyContext, s: dict[str, Any]) -> dict[str, Any]:
    """Every representational measure on a within-Pizza, a within-Clock and a cross pair."""
    from mechequiv.study.compare import representational_measures

    names = _named_models(ctx)[0]
    task = next(iter(_zoos(ctx).values())).task
    reps = dict(zip(names, _representations(ctx, s["representation"]), strict=True))
    pairs = []
    for a, b in track(s["pairs"], "measures on model pairs", disable=_quiet(ctx)):
        values, skipped = representational_measures(reps[a], reps[b])
        pairs.append({"a": a, "b": b, "values": values | dict.fromkeys(skipped)})
    where = REPRESENTATIONS[s["representation"]]
    return {"description": f"{where}, all {len(task.inputs)} {task.name} inputs",
            "pairs": pairs}  # fmt: skip


def _fmt_means(matrix: Any, groups: list[str]) -> str:
    a = np.array([[np.nan if v is None else v for v in row] for row in matrix], dtype=float)
    return ", ".join(f"{k} {v:.2f}" for k, v in group_means(a, groups).items())


def summarise(results: dict[str, Any]) -> list[str]:
    """Key findings, one sentence per method, from the step results present."""
    out = []
    if "zoo" in results:
        by: dict[str, list[dict]] = {}
        for row in results["zoo"]["models"]:
            by.setdefault(row["group"], []).append(row)
        parts = []
        for group, rows in by.items():
            gs = [r["gradient_symmetricity"] for r in rows]
            acc = min(r["test_accuracy"] for r in rows)
            parts.append(f"{group}: gradient symmetricity {min(gs):.2f}-{max(gs):.2f}, "
                         f"test accuracy >= {acc:.1%}")  # fmt: skip
        out.append("Zoo. " + "; ".join(parts) + ".")
    if "equivalence" in results:
        e = results["equivalence"]
        line = (f"Congruity (n={e['n']} rounds per pair), mean within and across recipes: "
                f"{_fmt_means(e['score'], e['groups'])}.")  # fmt: skip
        for name, m in e.get("baselines", {}).items():
            line += f" {name}: {_fmt_means(m, e['groups'])}."
        out.append(line)
    if "tensorsim" in results:
        t = results["tensorsim"]
        acc = np.asarray(t["curves"]["test_accuracy"], dtype=float)
        jump = next((st for st, a in zip(t["steps"], acc, strict=True) if a >= 0.5), None)
        sim = np.asarray(t["matrix"], dtype=float)
        out.append(f"Tensor similarity: test accuracy passes 50% at step {jump}; the first and "
                   f"last checkpoints have similarity {sim[0, -1]:.2f}.")  # fmt: skip
        if "backdoor" in t:
            delta = dict(t["backdoor"].get("delta", {}))
            poisoned = next((k for k in delta if k.endswith("(poisoned)")), None)
            other = delta.pop("slice shift, largest other class", None)
            line = "Backdoor:"
            if poisoned is not None and other is not None:
                line += (f" the poisoned class's tensor slice moved {delta.pop(poisoned):.3f}, "
                         f"every other class at most {other:.3f};")  # fmt: skip
            whole = ", ".join(f"{k} {v:.3g}" for k, v in delta.items())
            out.append(f"{line} whole-model change detectors: {whole}.")
    if "identifiability" in results:
        rows = results["identifiability"]["per_seed"]
        parts = []
        for k in results["identifiability"]["widths"]:
            at = [r for r in rows if r["width"] == k]
            if at:
                med = {c: float(np.median([r[c] for r in at if c in r]))
                       for c in ("circuits", "interpretations", "mappings") if c in at[0]}  # fmt: skip
                parts.append(f"k={k}: " + ", ".join(f"{v:.0f} {c}" for c, v in med.items()))
        out.append(f"Identifiability ({results['identifiability']['task']}, median per network): "
                   + "; ".join(parts) + ".")  # fmt: skip
    return out


@dataclass(frozen=True)
class Step:
    """A study step: ``run(ctx, settings) -> dict`` in the results schema.

    ``version`` is raised by hand when the meaning of the result changes in a way the code
    fingerprint cannot see (a changed default elsewhere, data files); ``depends`` names the steps
    whose settings and code the result also depends on (the models the zoo step trained). Both
    enter the cache key with :func:`mechequiv.study.fingerprint.code_fingerprint` of ``run``.
    """

    run: Callable[[StudyContext, dict[str, Any]], dict[str, Any]]
    version: int = 1
    depends: tuple[str, ...] = ()

    def __call__(self, ctx: StudyContext, settings: dict[str, Any]) -> dict[str, Any]:
        return self.run(ctx, settings)


STEPS: dict[str, Step] = {
    "zoo": Step(zoo_step),
    "equivalence": Step(equivalence_step, depends=("zoo",)),
    "tensorsim": Step(tensorsim_step),
    "identifiability": Step(identifiability_step),
    "measures": Step(measures_step, depends=("zoo",)),
}
DEPENDS: dict[str, tuple[str, ...]] = {k: s.depends for k, s in STEPS.items() if s.depends}
