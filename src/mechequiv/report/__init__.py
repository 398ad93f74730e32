"""The report's toolkit: figures (:mod:`mechequiv.report.figures`, data in, matplotlib
``Figure`` out) and the blocks of a self-contained HTML page (:mod:`mechequiv.report.html`).

Nothing here knows a particular experiment: each study section builds its part of the page from
these blocks, and :func:`mechequiv.study.report.write_report` assembles a study's
``results.json`` into the page::

    from mechequiv.study.report import write_report
    write_report(results, "out/report.html", title="mechequiv study")

``render_report``, ``write_report``, ``validate_results`` and ``Results`` moved there; they
still resolve here, with a DeprecationWarning.
"""

from typing import Any

from mechequiv.report.figures import (
    congruity_heatmap,
    identifiability_counts,
    measure_heatmaps,
    similarity_over_training,
    training_curves,
)

__all__ = [
    "congruity_heatmap",
    "identifiability_counts",
    "measure_heatmaps",
    "similarity_over_training",
    "training_curves",
]

_MOVED = {name: "mechequiv.study.report" for name in
          ("render_report", "write_report", "validate_results", "Results")}  # fmt: skip


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        from mechequiv._moved import moved

        return moved(f"mechequiv.report.{name}", f"{_MOVED[name]}.{name}")
    raise AttributeError(f"module 'mechequiv.report' has no attribute {name!r}")
