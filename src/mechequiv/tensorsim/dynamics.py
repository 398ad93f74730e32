"""Similarity across training checkpoints: the checkpoint-by-checkpoint matrix and its phases
(the figure is :func:`mechequiv.report.figures.checkpoint_matrix`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from mechequiv._moved import moved_figure
from mechequiv.parallel.backend import Backend
from mechequiv.parallel.pairs import map_pairs, pair_matrix
from mechequiv.tensorsim.network import TensorNet
from mechequiv.tensorsim.similarity import (
    FORMS,
    SYMMETRIZE,
    Engine,
    as_net,
    check_choice,
    check_dims,
    check_seq_options,
    json_floats,
    same_depth,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_T = TypeVar("_T")

__all__ = [
    "TrainingSimilarity",
    "block_means",
    "pairwise_matrix",
    "plot_matrix",
    "segment_phases",
    "similarity_over_training",
]


@dataclass(frozen=True)
class TrainingSimilarity:
    """``matrix[i, j]`` = similarity of checkpoints i and j; ``per_class[i, j, k]`` per output.

    ``block_matrix[i, j]``: the block-only similarity (skip path removed) and
    ``skip_share[i]``: checkpoint i's share of the squared tensor norm in the skip path (see
    :class:`~mechequiv.tensorsim.similarity.TensorInner`); None where not computed.
    """

    matrix: np.ndarray
    per_class: np.ndarray | None
    steps: tuple[int, ...]
    symmetrize: str
    form: str
    block_matrix: np.ndarray | None = None
    skip_share: np.ndarray | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "matrix": self.matrix.tolist(),
            "per_class": None if self.per_class is None else json_floats(self.per_class),
            "steps": list(self.steps),
            "symmetrize": self.symmetrize,
            "form": self.form,
            "block_matrix": None if self.block_matrix is None else json_floats(self.block_matrix),
            "skip_share": None if self.skip_share is None else json_floats(self.skip_share),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainingSimilarity:
        """Inverse of :meth:`to_dict`."""

        def arr(x: Any) -> np.ndarray | None:
            if x is None:
                return None
            # numpy's stubs do not take None (or an arbitrary nested list) here
            return np.array(np.where(np.equal(x, None), np.nan, x), float)  # type: ignore[call-overload]

        matrix = arr(d["matrix"])
        if matrix is None:
            raise ValueError("a TrainingSimilarity needs its matrix; got null")
        return cls(
            matrix, arr(d["per_class"]), tuple(int(s) for s in d["steps"]),
            str(d["symmetrize"]), str(d["form"]), arr(d.get("block_matrix")),
            arr(d.get("skip_share")),
        )  # fmt: skip

    def __repr__(self) -> str:
        return f"TrainingSimilarity(n={len(self.steps)}, symmetrize={self.symmetrize!r}, form={self.form!r})"

    def plot(
        self,
        path: str | Path | None = None,
        title: str = "tensor similarity",
        marks: Sequence[int] = (),
        curves: dict[str, Sequence[float]] | None = None,
    ) -> Figure:
        """Deprecated: ``checkpoint_matrix(r.matrix, r.steps, ...)`` of
        :mod:`mechequiv.report.figures`."""
        fig: Figure = moved_figure(
            "TrainingSimilarity.plot", "checkpoint_matrix", path, self.matrix, self.steps,
            title=title, marks=marks, curves=curves,
        )  # fmt: skip
        return fig


def pairwise_matrix(
    items: Sequence[_T],
    pair: Callable[[_T, _T], float],
    progress: bool | None = None,
    *,
    backend: str | Backend = "local",
) -> np.ndarray:
    """Symmetric matrix ``pair(items[i], items[j])`` (upper triangle computed, mirrored), run by
    the project's one pairwise engine (:func:`mechequiv.parallel.pairs.map_pairs`)."""
    found = map_pairs(
        lambda ij: pair(items[ij[0]], items[ij[1]]), len(items), backend=backend,
        progress=progress, description="pairs",
    )  # fmt: skip
    return pair_matrix(found, len(items))


def similarity_over_training(
    checkpoints: Sequence[Any],
    *,
    steps: Sequence[int] | None = None,
    per_class: bool = False,
    symmetrize: str = "full",
    form: str = "weight",
    residual: bool | None = None,
    n_ctx: int | None = None,
    progress: bool | None = None,
) -> TrainingSimilarity:
    """Tensor similarity between every pair of checkpoints (models, state dicts, TensorNets).

    ``steps`` labels the checkpoints (default 0..n-1); objects with ``.step`` and ``.state``
    (:class:`~mechequiv.tensorsim.training.Checkpoint`) are unpacked automatically. Options as
    in :func:`~mechequiv.tensorsim.similarity.tensor_inner` (``n_ctx`` for sequence models:
    modules, not state dicts). Self-recursions run once per checkpoint.
    """
    if len(checkpoints) == 0:
        raise ValueError("no checkpoints")
    if steps is None:
        steps = [getattr(c, "step", i) for i, c in enumerate(checkpoints)]
    if len(steps) != len(checkpoints):
        raise ValueError(f"{len(steps)} step labels for {len(checkpoints)} checkpoints")
    check_choice(symmetrize, "symmetrize", SYMMETRIZE)
    check_choice(form, "form", FORMS)
    nets = [as_net(getattr(c, "state", c), residual, n_ctx) for c in checkpoints]
    if isinstance(nets[0], TensorNet):  # all on the first checkpoint's device
        nets = [net.to(nets[0].device) if isinstance(net, TensorNet) else net for net in nets]
    check_seq_options(nets[0], symmetrize, form)
    for net in nets[1:]:
        check_dims(nets[0], net)
    nets = same_depth(nets, symmetrize, form)
    engine = Engine(symmetrize, form)
    # Each checkpoint is prepared once (self inner products, skip path); one cross per pair.
    prepared = [engine.prepare(net) for net in nets]
    n = len(nets)
    found = map_pairs(
        lambda ij: engine.result(prepared[ij[0]], prepared[ij[1]]), n, progress=progress,
        description="checkpoint pairs",
    )  # fmt: skip
    matrix = pair_matrix(found, n, value=lambda r: r.similarity)
    np.fill_diagonal(matrix, 1.0)
    # The diagonal of the block matrix is nan where a checkpoint's blocks are zero.
    block = pair_matrix(found, n, value=lambda r: r.block_similarity)
    pc = None
    if per_class:
        # A slice that is zero in a checkpoint has no cosine, not even with itself.
        pc = np.ones((n, n, nets[0].d_out))
        for (i, j), r in found.items():
            pc[i, j] = pc[j, i] = r.per_class
    skip = np.array([float(p.ss.sum() / p.tt.sum()) for p in prepared])
    steps_t = tuple(int(s) for s in steps)
    return TrainingSimilarity(matrix, pc, steps_t, symmetrize, form, block, skip)


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


def segment_phases(matrix: np.ndarray, n_phases: int) -> tuple[int, ...]:
    """Optimal split of checkpoints ``0..n-1`` into ``n_phases`` contiguous phases.

    Minimises ``sum over phases P of sum_{i, j in P} (1 - matrix[i, j]) / |P|`` (the within-phase
    scatter of the dissimilarity ``1 - matrix``) by dynamic programming, O(n_phases n^2).
    Returns the start indices of phases 2..n_phases (the ``boundaries`` of :func:`block_means`).
    """
    m = np.asarray(matrix, dtype=np.float64)
    n = m.shape[0]
    if m.ndim != 2 or m.shape[1] != n:
        raise ValueError(f"matrix must be square; got shape {m.shape}")
    if not 1 <= n_phases <= n:
        raise ValueError(f"n_phases must be in [1, {n}]; got {n_phases}")
    c = np.zeros((n + 1, n + 1))
    c[1:, 1:] = np.cumsum(np.cumsum(1.0 - m, 0), 1)

    def cost(i: int, j: int) -> float:  # phase = checkpoints i..j-1
        result: float = (c[j, j] - c[i, j] - c[j, i] + c[i, i]) / (j - i)
        return result

    best = np.full((n_phases + 1, n + 1), np.inf)
    arg = np.zeros((n_phases + 1, n + 1), dtype=int)
    best[0, 0] = 0.0
    for k in range(1, n_phases + 1):
        for j in range(k, n + 1):
            options = [best[k - 1, i] + cost(i, j) for i in range(k - 1, j)]
            arg[k, j] = k - 1 + int(np.argmin(options))
            best[k, j] = min(options)
    cuts, j = [], n
    for k in range(n_phases, 1, -1):
        j = arg[k, j]
        cuts.append(int(j))
    return tuple(reversed(cuts))


def plot_matrix(
    matrix: np.ndarray,
    steps: Sequence[int],
    path: str | Path | None = None,
    title: str = "",
    marks: Sequence[int] = (),
    curves: dict[str, Sequence[float]] | None = None,
) -> Figure:
    """Deprecated: :func:`mechequiv.report.figures.checkpoint_matrix` (and
    :func:`~mechequiv.report.figures.save_figure` for ``path``)."""
    fig: Figure = moved_figure(
        "mechequiv.tensorsim.plot_matrix", "checkpoint_matrix", path, matrix, steps,
        title=title, marks=marks, curves=curves,
    )  # fmt: skip
    return fig
