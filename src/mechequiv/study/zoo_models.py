"""The study's trained models, shared by the sections that compare them (zoo, equivalence,
measures): trained once per run (resumable on disk under ``out/zoo``), named ``pizza-0``, ...,
``clock-0``, ..., and their representations computed once per run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from mechequiv._progress import track
from mechequiv.equivalence import FourierModuleReprs, hidden_representations
from mechequiv.errors import MechequivError
from mechequiv.study.checks import got
from mechequiv.study.context import StudyContext
from mechequiv.zoo.presets import pizza_clock

#: The representations the study can compare (``representation`` keys), with what they mean.
REPRESENTATIONS: dict[str, str] = {
    "fourier": "Fourier modules of each block's attention output and MLP neurons, moved to "
    "frequency 1 (FourierModuleReprs)",
    "residual": "residual stream after each block, last token",
}

#: Model groups of the zoo step, in order: ``pizza-0``, ... and ``clock-0``, ...
ZOO_GROUPS = ("pizza", "clock")

GROUP_NAMES = {"pizza": "Pizza", "clock": "Clock"}


def model_names(seeds: int) -> list[str]:
    """The zoo step's model names for ``seeds`` seeds per group."""
    return [f"{g}-{s}" for g in ZOO_GROUPS for s in range(seeds)]


def model_pair(value: Any, path: str) -> list[str]:
    """``["pizza-0", "clock-1"]``; whether the names exist is checked by the measures section's ``cross_check``."""
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)):
        return [f"{path} must be a pair of model names such as [\"pizza-0\", \"clock-0\"], "
                f"{got(value)}"]  # fmt: skip
    return []


def zoos(ctx: StudyContext) -> dict[str, Any]:
    """The Pizza and Clock zoos of the ``zoo`` settings (trained once, resumable on disk)."""
    s = ctx.config.steps["zoo"]
    built: dict[str, Any] = ctx.shared(
        "zoos",
        lambda: pizza_clock(
            seeds=range(s["seeds"]), out_dir=ctx.out / "zoo", progress=ctx.progress,
            steps=s["steps"], eval_every=s["eval_every"],
        ),
    )  # fmt: skip
    return built


def task(ctx: StudyContext) -> Any:
    """The task the zoo models solve (the same for every group)."""
    return next(iter(zoos(ctx).values())).task


def named_models(ctx: StudyContext) -> tuple[list[str], list[str], list[torch.nn.Module]]:
    """Names (``pizza-0``, ...), groups (``Pizza``, ...) and models, in the zoo's order."""
    names, groups, models = [], [], []
    for kind, zoo in zoos(ctx).items():
        for seed, model in zip(zoo.seeds, zoo.models(), strict=True):
            names.append(f"{kind}-{seed}")
            groups.append(GROUP_NAMES[kind])
            models.append(model)
    return names, groups, models


def get_reprs(kind: str, task: Any) -> Callable[[torch.nn.Module, Any], Any]:
    """The GetReprs function of a ``representation`` setting."""
    if kind == "fourier":
        return FourierModuleReprs(task.n_outputs)
    if kind == "residual":
        return hidden_representations
    raise MechequivError(f"representation must be 'fourier' or 'residual', got {kind!r}")


def representations(ctx: StudyContext, kind: str) -> list[torch.Tensor]:
    """Every zoo model's ``kind`` representation of all task inputs (computed once per run)."""

    def build() -> list[torch.Tensor]:
        t = task(ctx)
        fn = get_reprs(kind, t)
        models = named_models(ctx)[2]
        return [torch.as_tensor(fn(m, t.inputs))
                for m in track(models, f"{kind} representations", disable=ctx.quiet())]  # fmt: skip

    reps: list[torch.Tensor] = ctx.shared(f"representations-{kind}", build)
    return reps


def group_means(matrix: np.ndarray, groups: list[str]) -> dict[str, float]:
    """Mean off-diagonal value within each group (``"A vs A"``) and across groups (NaN-aware)."""
    g = np.array(groups)
    off = ~np.eye(len(g), dtype=bool)
    out = {f"{k} vs {k}": float(np.nanmean(matrix[(g[:, None] == k) & (g[None, :] == k) & off]))
           for k in dict.fromkeys(groups)}  # fmt: skip
    out["across"] = float(np.nanmean(matrix[g[:, None] != g[None, :]]))
    return out
