"""One measure on every pair of many representations: a named matrix, each pair one task.

Above :mod:`mechequiv.measures` (it runs registered measures on a backend): the measures
themselves import neither the backends nor the progress bars. Formerly
``mechequiv.measures.pairwise``, which still resolves with a DeprecationWarning.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mechequiv.measures.registry import get
from mechequiv.parallel.backend import Backend
from mechequiv.parallel.pairs import map_pairs, pair_matrix
from mechequiv.parallel.store import JsonStore

ArrayLike = Any  # numpy arrays or torch tensors (checked by each measure)


@dataclass(frozen=True)
class PairwiseMatrix:
    """``values[i, j]`` = measure(representation i, representation j), rows/columns ``names``.

    Symmetric (computed for i <= j, then mirrored) when the measure is symmetric.
    """

    names: list[str]
    values: np.ndarray = field(repr=False)
    measure: str
    options: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary."""
        return {
            "names": list(self.names),
            "measure": self.measure,
            "options": dict(self.options),
            "values": self.values.tolist(),
        }

    def __repr__(self) -> str:
        width = max(len(s) for s in self.names)
        lines = [f"PairwiseMatrix {self.measure} ({len(self.names)} representations)"]
        for name, row in zip(self.names, self.values, strict=True):
            lines.append(f"  {name.ljust(width)}  " + " ".join(f"{v:6.3f}" for v in row))
        return "\n".join(lines)


@dataclass(frozen=True)
class _PairJob:
    """One pair as a task: ``job((i, j)) -> float``."""

    measure: str
    reprs: list[ArrayLike]
    options: dict[str, Any]

    def __call__(self, pair: tuple[int, int]) -> float:
        i, j = pair
        return float(get(self.measure)(self.reprs[i], self.reprs[j], **self.options))


def pairwise(
    reprs: Sequence[ArrayLike] | Mapping[str, ArrayLike],
    measure: str = "linear_cka",
    *,
    names: Sequence[str] | None = None,
    backend: str | Backend = "local",
    results_path: str | None = None,
    progress: bool | None = None,
    **options: Any,
) -> PairwiseMatrix:
    """A registered measure on every pair of representations (rows paired by stimulus).

    Parameters
    ----------
    reprs : sequence or mapping of arrays (n, d_k)
        The representations (numpy arrays or torch tensors, same n); a mapping names them.
    measure : str
        A registered measure (see :func:`mechequiv.measures.names`).
    names : sequence of str, optional
        Labels (default: the mapping's keys, or ``"repr 0"``, ``"repr 1"``...).
    backend : str or Backend
        ``"local"`` (default), ``"ray"``, or a :class:`~mechequiv.parallel.Backend`: each pair
        is one task.
    results_path : str, optional
        A JSON results store (keys ``"i,j"``): every finished pair is written atomically and
        a rerun with the same names, measure, options and shapes computes only the missing
        pairs.
    progress : bool, optional
        Show a progress bar (default: only on an interactive terminal).
    **options
        Options of the measure.

    Returns
    -------
    PairwiseMatrix
        For a symmetric measure, m (m + 1) / 2 evaluations (diagonal included); otherwise m^2.
    """
    if isinstance(reprs, Mapping):
        arrays = list(reprs.values())
        labels = [str(k) for k in reprs] if names is None else list(names)
    elif isinstance(reprs, Sequence) and not isinstance(reprs, (str, bytes)):
        arrays = list(reprs)
        labels = [f"repr {k}" for k in range(len(arrays))] if names is None else list(names)
    else:
        raise TypeError(
            f"reprs must be a sequence or a mapping of arrays; got {type(reprs).__name__}"
        )
    if not arrays:
        raise ValueError("pairwise needs at least one representation")
    if len(labels) != len(arrays):
        raise ValueError(f"{len(labels)} names for {len(arrays)} representations")
    shapes = [list(getattr(a, "shape", ())) for a in arrays]
    if any(not s for s in shapes) or len({s[0] for s in shapes}) != 1:
        raise ValueError(
            f"representations must be arrays with the same number of rows; got shapes {shapes}"
        )
    info = get(measure)
    m = len(arrays)
    settings = {"measure": info.name, "names": labels, "options": options, "shapes": shapes}
    store = None if results_path is None else JsonStore(results_path, settings)
    found = map_pairs(
        _PairJob(info.name, arrays, dict(options)), m, symmetric=info.symmetric, backend=backend,
        store=store, progress=progress, description=f"{info.name} pairs",
    )  # fmt: skip
    values = pair_matrix(found, m, symmetric=info.symmetric)
    return PairwiseMatrix(labels, values, info.name, dict(options))
