"""Counts against width over a zoo of seeds (the paper's width figure; drawn by
:func:`mechequiv.report.figures.counts_against_width` from :func:`count_records`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mechequiv._moved import moved_figure
from mechequiv.identifiability._audit import (
    IdentifiabilityReport,
    audit,
    paper_min_node_sparsity,
)
from mechequiv.identifiability.tasks import BooleanTask, as_task, train_mlp

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Medians read off the paper's width figure (project page), per hidden width k.
PAPER_MEDIANS = {
    "interpretations": {2: 35, 3: 7_000, 4: 200_000, 5: 900_000},
    "mappings": {2: 8, 3: 30, 4: 400, 5: 3_500},
}


@dataclass(frozen=True, eq=False)
class WidthStudy:
    """Audits of the converged networks of a seed zoo, per hidden width.

    ``tried[k]`` seeds were trained at width ``k``; ``reports`` holds one audit per converged
    network, and ``seeds`` the training seed of each (report names carry width and seed too).
    """

    task: str
    reports: tuple[IdentifiabilityReport, ...]
    tried: dict[int, int]
    seeds: tuple[int, ...] = ()

    def by_width(self) -> dict[int, list[IdentifiabilityReport]]:
        out: dict[int, list[IdentifiabilityReport]] = {k: [] for k in sorted(self.tried)}
        for r in self.reports:
            out.setdefault(r.hidden_width, []).append(r)
        return out

    def medians(self) -> dict[int, dict[str, float | int]]:
        """Per width: networks converged and median circuits, interpretations, algorithms,
        mappings and audit seconds (NaN where no network converged)."""
        out = {}
        for k, reps in self.by_width().items():

            def med(values: list[float]) -> float:
                return float(np.median(values)) if values else float("nan")

            out[k] = {
                "tried": self.tried.get(k, 0),
                "converged": len(reps),
                "circuits": med([r.n_circuits for r in reps if r.n_circuits is not None]),
                "interpretations": med(
                    [r.n_interpretations for r in reps if r.n_interpretations is not None]
                ),
                "algorithms": med([r.n_algorithms for r in reps if r.n_algorithms is not None]),
                "mappings": med([r.n_mappings for r in reps if r.n_mappings is not None]),
                "seconds": med([sum(r.seconds.values()) for r in reps]),
            }
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "tried": {str(k): v for k, v in self.tried.items()},
            "medians": {str(k): v for k, v in self.medians().items()},
            "seeds": list(self.seeds),
            "reports": [r.to_dict() for r in self.reports],
        }

    def summary(self) -> str:
        lines = [
            f"Width study on {self.task}: median counts per converged network",
            "  k  conv/tried  circuits  interpretations  algorithms  mappings  seconds",
        ]
        for k, m in self.medians().items():
            lines.append(
                f"  {k}  {m['converged']:>4}/{m['tried']:<5} {m['circuits']:>9.0f}  "
                f"{m['interpretations']:>15.3g}  {m['algorithms']:>10.1f}  {m['mappings']:>8.1f}"
                f"  {m['seconds']:>7.2f}"
            )
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"WidthStudy({self.task!r}, widths={sorted(self.tried)}, networks={len(self.reports)})"
        )

    def plot(self, paper: bool = True) -> Figure:
        """Deprecated: ``counts_against_width(count_records(study.reports),
        reference=PAPER_MEDIANS)`` of :mod:`mechequiv.report.figures`."""
        if not self.reports:
            raise ValueError("plot_counts needs at least one report")
        fig: Figure = moved_figure(
            "WidthStudy.plot", "counts_against_width", None, count_records(self.reports),
            reference=PAPER_MEDIANS if paper else None,
        )  # fmt: skip
        return fig


def study_widths(
    task: BooleanTask | str | Sequence[str] = "XOR",
    widths: Iterable[int] = (2, 3),
    seeds: Iterable[int] = range(4),
    *,
    depth: int = 2,
    paper_filter: bool = True,
    **audit_kwargs: Any,
) -> WidthStudy:
    """Train ``(n_in, k, ..., k, 1)`` MLPs (``depth`` hidden layers) for every width and seed with
    :func:`~.tasks.train_mlp`, audit the converged ones and collect the reports.

    ``paper_filter`` applies :func:`~.audit.paper_min_node_sparsity` (the reference script's
    circuit filter at k >= 4) unless ``min_node_sparsity`` is passed explicitly. A quick call
    (XOR, widths 2 and 3, four seeds) takes a few seconds.
    """
    task = as_task(task)
    seeds = list(seeds)
    reports, kept = [], []
    tried = {}
    for k in widths:
        tried[k] = len(seeds)
        kwargs = dict(audit_kwargs)
        if paper_filter:
            kwargs.setdefault("min_node_sparsity", paper_min_node_sparsity([k] * depth))
        for seed in seeds:
            trained = train_mlp(task, (k,) * depth, seed=seed)
            if trained.converged:
                reports.append(
                    audit(trained.model, task, name=f"{task.name} k={k} seed={seed}", **kwargs)
                )
                kept.append(seed)
    return WidthStudy(task.name, tuple(reports), tried, tuple(kept))


def count_records(reports: Sequence[IdentifiabilityReport]) -> list[dict[str, Any]]:
    """One record per report, ``{"width", "interpretations", "mappings"}`` (None where not
    counted): the data of :func:`mechequiv.report.figures.counts_against_width`."""
    return [
        {"width": r.hidden_width, "interpretations": r.n_interpretations, "mappings": r.n_mappings}
        for r in reports
    ]


def plot_counts(reports: Sequence[IdentifiabilityReport], *, paper: bool = True) -> Figure:
    """Deprecated: ``counts_against_width(count_records(reports), reference=PAPER_MEDIANS)`` of
    :mod:`mechequiv.report.figures`."""
    if not reports:
        raise ValueError("plot_counts needs at least one report")
    fig: Figure = moved_figure(
        "mechequiv.identifiability.plot_counts", "counts_against_width", None,
        count_records(reports), reference=PAPER_MEDIANS if paper else None,
    )  # fmt: skip
    return fig
