"""CPU-scale reproductions of the two headline uses of tensor similarity.

* :func:`grokking`: one bilinear layer on modular addition; the checkpoint-by-checkpoint tensor
  similarity matrix is split into phases (:func:`~mechequiv.tensorsim.dynamics.segment_phases`)
  and :func:`jump_offset` measures how far the test-accuracy jump lies from the nearest phase
  boundary. Whether a boundary sits at the jump is not claimed here: across seeds it does not
  hold exactly (``benchmarks/bench_tensorsim_experiments.py --seeds``, results in
  ``benchmarks/results/tensorsim_experiments_seeds.json``).
* :func:`backdoor`: one bilinear layer on locally generated blob images; after clean training
  a trigger patch relabelled to one class is inserted, and the poisoned class's tensor slice
  moves more than any other class's (:func:`target_rank`; it ranked first in every seed of the
  quick setting tested by the same benchmark).

Each takes ``setting="quick"`` (well under a minute on one CPU core) or ``"full"`` (minutes),
or a dict overriding fields of the quick setting. Results are frozen dataclasses with
``to_dict()`` and a ``plot()``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from mechequiv._moved import moved_figure
from mechequiv.tensorsim.baselines import baseline_matrices
from mechequiv.tensorsim.dynamics import (
    TrainingSimilarity,
    block_means,
    segment_phases,
    similarity_over_training,
)
from mechequiv.tensorsim.similarity import json_floats
from mechequiv.tensorsim.training import Checkpoint, blob_images, modular_addition, stamp_trigger
from mechequiv.tensorsim.training import train as train_loop
from mechequiv.zoo.models import Bilinear

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "BACKDOOR_SETTINGS",
    "GROKKING_SETTINGS",
    "BackdoorResult",
    "GrokkingResult",
    "backdoor",
    "grokking",
    "jump_offset",
    "target_rank",
]


def jump_offset(boundaries: tuple[int, ...] | list[int], jump_index: int | None) -> int | None:
    """Signed distance in checkpoints from the accuracy jump to the nearest phase boundary
    (``boundary - jump``; 0: a phase starts exactly at the jump). None without a jump or
    without boundaries; ties go to the earlier boundary."""
    if jump_index is None or len(boundaries) == 0:
        return None
    offsets = sorted((int(b) - int(jump_index) for b in boundaries), key=lambda o: (abs(o), o))
    return offsets[0]


def target_rank(shift: np.ndarray, target: int) -> int:
    """Rank of the poisoned class by slice movement, 1 = moved most (nan slices last)."""
    values = np.where(np.isnan(shift), -np.inf, np.asarray(shift, dtype=np.float64))
    return int(1 + (values > values[target]).sum())


GROKKING_SETTINGS: dict[str, dict[str, Any]] = {
    "quick": dict(
        p=47,
        train_fraction=0.4,
        d_hidden=64,
        lr=3e-3,
        weight_decay=1.0,
        steps=3000,
        n_checkpoints=30,
        n_phases=4,
        seed=0,
    ),
    "full": dict(
        p=113,
        train_fraction=0.3,
        d_hidden=64,
        lr=2e-3,
        weight_decay=1.0,
        steps=6000,
        n_checkpoints=50,
        n_phases=5,
        seed=0,
    ),
}

BACKDOOR_SETTINGS: dict[str, dict[str, Any]] = {
    "quick": dict(
        side=12,
        n_classes=10,
        n_train=4000,
        n_test=1000,
        d_hidden=64,
        lr=1e-3,
        weight_decay=1e-3,
        batch=256,
        clean_steps=1500,
        poison_steps=500,
        poison_fraction=0.1,
        target=9,
        checkpoint_every=100,
        seed=0,
    ),
    "full": dict(
        side=16,
        n_classes=10,
        n_train=20000,
        n_test=4000,
        d_hidden=64,
        lr=1e-3,
        weight_decay=1e-3,
        batch=512,
        clean_steps=8000,
        poison_steps=2000,
        poison_fraction=0.1,
        target=9,
        checkpoint_every=250,
        seed=0,
    ),
}


def _setting(table: dict[str, dict[str, Any]], setting: str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(setting, str):
        if setting not in table:
            raise ValueError(f"setting must be one of {sorted(table)} or a dict; got {setting!r}")
        return dict(table[setting])
    if not isinstance(setting, dict):
        raise TypeError(f"setting must be a name or a dict; got {type(setting)}")
    unknown = set(setting) - set(table["quick"])
    if unknown:
        raise ValueError(
            f"unknown setting fields {sorted(unknown)}; known: {sorted(table['quick'])}"
        )
    return {**table["quick"], **setting}


def _accuracy(model: Bilinear, state: dict[str, Any], x: torch.Tensor, y: torch.Tensor) -> float:
    model.load_state_dict(state)
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


@dataclass(frozen=True)
class GrokkingResult:
    """Grokking run: accuracies, tensor and baseline matrices, phases.

    ``boundaries``: start indices of phases 2.. from :func:`segment_phases` on the tensor
    matrix; ``jump_index``: first checkpoint with test accuracy >= 0.5; ``phase_means``: mean
    tensor similarity within/between phases; ``sim_to_final``: row of the last checkpoint.
    ``baselines``: checkpoint matrices of weight cosine and of logit cosine, CKA and agreement
    over all ``p^2`` inputs.
    """

    setting: dict[str, Any]
    steps: tuple[int, ...]
    train_acc: np.ndarray
    test_acc: np.ndarray
    tensor: TrainingSimilarity
    baselines: dict[str, np.ndarray]
    boundaries: tuple[int, ...]
    jump_index: int | None
    phase_means: np.ndarray
    seconds: float = field(compare=False)

    @property
    def sim_to_final(self) -> np.ndarray:
        result: np.ndarray = self.tensor.matrix[-1]
        return result

    def to_dict(self) -> dict[str, Any]:
        return {
            "setting": self.setting,
            "steps": list(self.steps),
            "train_acc": self.train_acc.tolist(),
            "test_acc": self.test_acc.tolist(),
            "tensor": self.tensor.to_dict(),
            "baselines": {k: v.tolist() for k, v in self.baselines.items()},
            "boundaries": list(self.boundaries),
            "phase_start_steps": [self.steps[b] for b in self.boundaries],
            "jump_index": self.jump_index,
            "jump_step": None if self.jump_index is None else self.steps[self.jump_index],
            "phase_means": json_floats(self.phase_means),
            "sim_to_final": self.sim_to_final.tolist(),
            "seconds": self.seconds,
        }

    def summary(self) -> dict[str, Any]:
        """Headline numbers: phase starts, accuracy jump, block means, similarity to the final
        checkpoint at the phase starts for the tensor and every baseline."""
        marks = [0, *self.boundaries]
        return {
            "p": self.setting["p"],
            "phase_start_steps": [self.steps[b] for b in marks],
            "train_acc_at_phase_starts": [round(float(self.train_acc[b]), 3) for b in marks],
            "test_acc_at_phase_starts": [round(float(self.test_acc[b]), 3) for b in marks],
            "jump_step": None if self.jump_index is None else self.steps[self.jump_index],
            "jump_to_nearest_boundary": jump_offset(self.boundaries, self.jump_index),
            "final_test_acc": round(float(self.test_acc[-1]), 3),
            "phase_means": json_floats(np.round(self.phase_means, 3)),
            "to_final_at_phase_starts": {
                name: [round(float(m[-1, b]), 3) for b in marks]
                for name, m in {"tensor": self.tensor.matrix, **self.baselines}.items()
            },
            "seconds": round(self.seconds, 1),
        }

    def __repr__(self) -> str:
        jump = None if self.jump_index is None else self.steps[self.jump_index]
        return (
            f"GrokkingResult(p={self.setting['p']}, checkpoints={len(self.steps)}, "
            f"phase_starts={[self.steps[b] for b in self.boundaries]}, jump_step={jump}, "
            f"final_test_acc={self.test_acc[-1]:.3f})"
        )

    def plot(self, path: str | Path | None = None) -> Figure:
        """Deprecated: :func:`mechequiv.report.figures.checkpoint_matrix` of ``tensor.matrix``
        with ``marks=boundaries`` and the accuracy curves (a Figure, saved when ``path``)."""
        fig: Figure = moved_figure(
            "GrokkingResult.plot", "checkpoint_matrix", path, self.tensor.matrix, self.steps,
            title=f"grokking, p={self.setting['p']}: tensor similarity", marks=self.boundaries,
            curves={"train acc": self.train_acc, "test acc": self.test_acc},
        )  # fmt: skip
        return fig


def grokking(
    setting: str | dict[str, Any] = "quick", *, progress: bool | None = None
) -> GrokkingResult:
    """Train ``Bilinear(2p, d_hidden, p)`` on ``(a + b) mod p`` (full batch, AdamW) and compare
    its checkpoints (dense early: step ``round(steps * (i / (n - 1))**2)``).

    ``setting``: "quick", "full" or a dict overriding fields of :data:`GROKKING_SETTINGS` quick.
    """
    import time

    cfg = _setting(GROKKING_SETTINGS, setting)
    t0 = time.perf_counter()
    torch.manual_seed(cfg["seed"])
    x, y, tr, te = modular_addition(cfg["p"], cfg["train_fraction"], cfg["seed"])
    model = Bilinear(2 * cfg["p"], cfg["d_hidden"], cfg["p"])
    grid = np.linspace(0.0, 1.0, cfg["n_checkpoints"]) ** 2 * cfg["steps"]
    wanted = sorted({round(float(s)) for s in grid})
    ckpts, _ = train_loop(
        model,
        lambda g: (x[tr], y[tr]),
        cfg["steps"],
        wanted,
        lr=cfg["lr"],
        weight_decay=cfg["weight_decay"],
        seed=cfg["seed"],
    )
    train_acc = np.array([_accuracy(model, c.state, x[tr], y[tr]) for c in ckpts])
    test_acc = np.array([_accuracy(model, c.state, x[te], y[te]) for c in ckpts])
    tensor = similarity_over_training(ckpts, residual=False, progress=progress)
    baselines = baseline_matrices(ckpts, x, residual=False)
    boundaries = segment_phases(tensor.matrix, cfg["n_phases"])
    jumped = np.flatnonzero(test_acc >= 0.5)
    return GrokkingResult(
        setting=cfg,
        steps=tensor.steps,
        train_acc=train_acc,
        test_acc=test_acc,
        tensor=tensor,
        baselines=baselines,
        boundaries=boundaries,
        jump_index=int(jumped[0]) if jumped.size else None,
        phase_means=block_means(tensor.matrix, boundaries),
        seconds=time.perf_counter() - t0,
    )


@dataclass(frozen=True)
class BackdoorResult:
    """Backdoor insertion run.

    ``clean_index``: the last clean checkpoint (poisoning starts after it). Per class ``c``:
    ``slice_shift[c]`` = 1 - tensor slice similarity between the last clean and the final
    checkpoint; ``slice_delta[c]`` = mean slice similarity among poisoned-phase checkpoints
    minus mean between clean-phase and poisoned-phase checkpoints (the paper's detector);
    ``head_row_shift[c]`` = 1 - cosine of the two ``D`` rows (weight baseline per class).
    ``delta``: the whole-model detector for the tensor similarity and every baseline
    (baselines on clean test inputs). ``clean_acc``/``attack_success`` per checkpoint
    (attack success: stamped test images of other classes predicted as ``target``).
    """

    setting: dict[str, Any]
    steps: tuple[int, ...]
    clean_index: int
    clean_acc: np.ndarray
    attack_success: np.ndarray
    tensor: TrainingSimilarity
    baselines: dict[str, np.ndarray]
    slice_shift: np.ndarray
    slice_delta: np.ndarray
    head_row_shift: np.ndarray
    delta: dict[str, float]
    seconds: float = field(compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "setting": self.setting,
            "steps": list(self.steps),
            "clean_index": self.clean_index,
            "clean_acc": self.clean_acc.tolist(),
            "attack_success": self.attack_success.tolist(),
            "tensor": self.tensor.to_dict(),
            "baselines": {k: v.tolist() for k, v in self.baselines.items()},
            "slice_shift": json_floats(self.slice_shift),
            "slice_delta": json_floats(self.slice_delta),
            "head_row_shift": self.head_row_shift.tolist(),
            "delta": dict(self.delta),
            "seconds": self.seconds,
        }

    def summary(self) -> dict[str, Any]:
        """Headline numbers: accuracies, per-class slice movement, whole-model detectors."""
        c, t = self.clean_index, self.setting["target"]
        return {
            "target": t,
            "clean_acc_before_after": [round(float(self.clean_acc[i]), 3) for i in (c, -1)],
            "attack_success_before_after": [
                round(float(self.attack_success[i]), 3) for i in (c, -1)
            ],
            "slice_shift": json_floats(np.round(self.slice_shift, 3)),
            "target_rank_by_shift": target_rank(self.slice_shift, t),
            "slice_delta": json_floats(np.round(self.slice_delta, 3)),
            "head_row_shift": json_floats(np.round(self.head_row_shift, 3)),
            "delta": {k: round(v, 3) for k, v in self.delta.items()},
            "clean_end_vs_final": {
                name: round(float(m[c, -1]), 3)
                for name, m in {"tensor": self.tensor.matrix, **self.baselines}.items()
            },
            "seconds": round(self.seconds, 1),
        }

    def __repr__(self) -> str:
        t = self.setting["target"]
        others = np.delete(self.slice_shift, t)
        return (
            f"BackdoorResult(target={t}, slice_shift[target]={self.slice_shift[t]:.3f}, "
            f"max other={np.nanmax(others):.3f}, attack_success={self.attack_success[-1]:.3f}, "
            f"clean_acc={self.clean_acc[-1]:.3f})"
        )

    def plot(self, path: str | Path | None = None) -> Figure:
        """Deprecated: :func:`mechequiv.report.figures.checkpoint_matrix` of the target class's
        tensor-slice matrix ``tensor.per_class[:, :, target]`` (saved when ``path``)."""
        t = self.setting["target"]
        assert self.tensor.per_class is not None  # computed with per_class=True
        fig: Figure = moved_figure(
            "BackdoorResult.plot", "checkpoint_matrix", path, self.tensor.per_class[:, :, t],
            self.steps, title=f"backdoor: tensor slice of class {t}",
            marks=(self.clean_index + 1,),
            curves={"clean acc": self.clean_acc, "attack success": self.attack_success},
        )  # fmt: skip
        return fig


def _detector(matrix: np.ndarray, first_poisoned: int) -> float:
    """Mean among poisoned checkpoints (off-diagonal) minus mean across clean x poisoned."""
    means = block_means(matrix, [first_poisoned])
    return float(means[1, 1] - means[0, 1])


def backdoor(
    setting: str | dict[str, Any] = "quick", *, progress: bool | None = None
) -> BackdoorResult:
    """Clean training of ``Bilinear(side^2, d_hidden, n_classes)`` on blob images, then training
    with ``poison_fraction`` of every batch stamped with a checkerboard trigger and relabelled
    ``target``; tensor similarity (with per-class slices) and baselines over the checkpoints.

    ``setting``: "quick", "full" or a dict overriding fields of :data:`BACKDOOR_SETTINGS` quick.
    """
    import time

    cfg = _setting(BACKDOOR_SETTINGS, setting)
    t0 = time.perf_counter()
    torch.manual_seed(cfg["seed"])
    side, k, target = cfg["side"], cfg["n_classes"], cfg["target"]
    data = blob_images(cfg["n_train"], k, side, seed=cfg["seed"], split=0)
    test = blob_images(cfg["n_test"], k, side, seed=cfg["seed"], split=1)
    model = Bilinear(side * side, cfg["d_hidden"], k)
    batch, n_poison = cfg["batch"], round(cfg["poison_fraction"] * cfg["batch"])

    def clean(g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.randint(0, data.x.shape[0], (batch,), generator=g)
        return data.x[idx], data.y[idx]

    def poisoned(g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = clean(g)
        x, y = x.clone(), y.clone()
        x[:n_poison] = stamp_trigger(x[:n_poison], side)
        y[:n_poison] = target
        return x, y

    every = cfg["checkpoint_every"]
    n_clean, n_poison_steps = cfg["clean_steps"], cfg["poison_steps"]
    ckpts, opt = train_loop(
        model,
        clean,
        n_clean,
        range(0, n_clean + 1, every),
        lr=cfg["lr"],
        weight_decay=cfg["weight_decay"],
        seed=cfg["seed"],
    )
    more, _ = train_loop(
        model,
        poisoned,
        n_poison_steps,
        range(n_clean + every, n_clean + n_poison_steps + 1, every),
        seed=cfg["seed"] + 1,
        optimizer=opt,
        start_step=n_clean,
    )
    ckpts = ckpts + more
    clean_index = len(ckpts) - len(more) - 1

    others = test.y != target
    stamped = stamp_trigger(test.x[others], side)
    target_y = torch.full((int(others.sum()),), target)
    clean_acc = np.array([_accuracy(model, c.state, test.x, test.y) for c in ckpts])
    asr = np.array([_accuracy(model, c.state, stamped, target_y) for c in ckpts])

    tensor = similarity_over_training(ckpts, per_class=True, residual=False, progress=progress)
    baselines = baseline_matrices(ckpts, test.x, residual=False)
    first = clean_index + 1
    pc = tensor.per_class
    assert pc is not None  # asked for with per_class=True
    slice_shift = 1.0 - pc[clean_index, -1]
    slice_delta = np.array([_detector(pc[:, :, c], first) for c in range(k)])
    head_row_shift = np.array([1.0 - _cosine(ckpts[clean_index], ckpts[-1], c) for c in range(k)])
    delta = {"tensor": _detector(tensor.matrix, first)}
    delta.update({name: _detector(m, first) for name, m in baselines.items()})
    return BackdoorResult(
        setting=cfg,
        steps=tensor.steps,
        clean_index=clean_index,
        clean_acc=clean_acc,
        attack_success=asr,
        tensor=tensor,
        baselines=baselines,
        slice_shift=slice_shift,
        slice_delta=slice_delta,
        head_row_shift=head_row_shift,
        delta=delta,
        seconds=time.perf_counter() - t0,
    )


def _cosine(a: Checkpoint, b: Checkpoint, row: int) -> float:
    u, v = a.state["D.weight"][row].double(), b.state["D.weight"][row].double()
    return float(u @ v / (u.norm() * v.norm()))
