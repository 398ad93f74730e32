"""Similarity across training checkpoints: the checkpoint-by-checkpoint matrix and its plot."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mechequiv._io import atomic_write
from mechequiv._progress import track
from mechequiv.tensorsim.network import to_tensor_net
from mechequiv.tensorsim.similarity import tensor_inner

__all__ = ["TrainingSimilarity", "block_means", "pairwise_matrix", "similarity_over_training"]


@dataclass(frozen=True)
class TrainingSimilarity:
    """``matrix[i, j]`` = similarity of checkpoints i and j; ``per_class[i, j, k]`` per output."""

    matrix: np.ndarray
    per_class: np.ndarray | None
    steps: tuple[int, ...]
    symmetrize: str
    form: str

    def to_dict(self) -> dict:
        return {
            "matrix": self.matrix.tolist(),
            "per_class": None if self.per_class is None else np.nan_to_num(self.per_class).tolist(),
            "steps": list(self.steps),
            "symmetrize": self.symmetrize,
            "form": self.form,
        }

    def __repr__(self) -> str:
        return f"TrainingSimilarity(n={len(self.steps)}, symmetrize={self.symmetrize!r}, form={self.form!r})"

    def plot(self, path: str | Path | None = None, title: str = "tensor similarity", marks=()):
        """Heatmap of the matrix (a matplotlib Figure, Agg); saved as PNG when ``path`` is given.

        ``marks``: checkpoint indices at which to draw a separating line (e.g. phase changes).
        """
        return plot_matrix(self.matrix, self.steps, path=path, title=title, marks=marks)


def pairwise_matrix(
    items: Sequence, pair: Callable[[object, object], float], progress: bool | None = None
) -> np.ndarray:
    """Symmetric matrix ``pair(items[i], items[j])`` (upper triangle computed, mirrored)."""
    n = len(items)
    out = np.empty((n, n))
    for i in track(range(n), "pairs", total=n, disable=None if progress is None else not progress):
        for j in range(i, n):
            out[i, j] = out[j, i] = pair(items[i], items[j])
    return out


def similarity_over_training(
    checkpoints: Sequence,
    *,
    steps: Sequence[int] | None = None,
    per_class: bool = False,
    symmetrize: str = "layer",
    form: str = "weight",
    residual: bool = True,
    progress: bool | None = None,
) -> TrainingSimilarity:
    """Tensor similarity between every pair of checkpoints (models, state dicts, TensorNets).

    ``steps`` labels the checkpoints (default 0..n-1); objects with ``.step`` and ``.state``
    (:class:`~mechequiv.tensorsim.training.Checkpoint`) are unpacked automatically.
    """
    if len(checkpoints) == 0:
        raise ValueError("no checkpoints")
    if steps is None:
        steps = [getattr(c, "step", i) for i, c in enumerate(checkpoints)]
    if len(steps) != len(checkpoints):
        raise ValueError(f"{len(steps)} step labels for {len(checkpoints)} checkpoints")
    nets = [to_tensor_net(getattr(c, "state", c), residual) for c in checkpoints]
    n = len(nets)
    matrix = np.eye(n)
    pc = np.ones((n, n, nets[0].d_out)) if per_class else None
    for i in track(
        range(n), "checkpoint pairs", total=n, disable=None if progress is None else not progress
    ):
        for j in range(i + 1, n):
            r = tensor_inner(nets[i], nets[j], symmetrize=symmetrize, form=form)
            matrix[i, j] = matrix[j, i] = r.similarity
            if pc is not None:
                pc[i, j] = pc[j, i] = r.per_class
    return TrainingSimilarity(matrix, pc, tuple(int(s) for s in steps), symmetrize, form)


def block_means(matrix: np.ndarray, boundaries: Sequence[int]) -> np.ndarray:
    """Mean of ``matrix`` over blocks cut at ``boundaries`` (start indices of blocks 2..);
    diagonal entries are left out of the within-block means."""
    cuts = [0, *boundaries, matrix.shape[0]]
    k = len(cuts) - 1
    out = np.empty((k, k))
    for a in range(k):
        for b in range(k):
            blk = matrix[cuts[a] : cuts[a + 1], cuts[b] : cuts[b + 1]]
            if a == b:
                m = blk.shape[0]
                out[a, b] = (blk.sum() - np.trace(blk)) / max(m * m - m, 1) if m > 1 else np.nan
            else:
                out[a, b] = blk.mean()
    return out


def plot_matrix(matrix, steps, path=None, title="", marks=()):
    """Heatmap of a checkpoint-by-checkpoint matrix, tick labels = steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.2, 4.4))
    im = ax.imshow(matrix, vmin=min(0.0, float(np.nanmin(matrix))), vmax=1.0, cmap="viridis")
    ticks = np.linspace(0, len(steps) - 1, min(len(steps), 8)).round().astype(int)
    ax.set_xticks(ticks, [str(steps[t]) for t in ticks], rotation=45, fontsize=7)
    ax.set_yticks(ticks, [str(steps[t]) for t in ticks], fontsize=7)
    for m in marks:
        ax.axhline(m - 0.5, color="w", lw=0.8)
        ax.axvline(m - 0.5, color="w", lw=0.8)
    ax.set_xlabel("checkpoint (step)")
    ax.set_title(title)
    fig.colorbar(im, ax=ax)
    fig.tight_layout()
    if path is not None:
        atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=120))
    return fig
