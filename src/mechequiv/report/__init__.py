"""The study report: one self-contained HTML file with figures, tables and the methods' papers.

The report reads a plain results dictionary (the JSON-safe content of a study's
``results.json``; schema in :mod:`mechequiv.report.schema`) and imports nothing from the study
or the CLI::

    from mechequiv.report import write_report
    write_report(results, "out/report.html", title="mechequiv study")
"""

from mechequiv.report.figures import (
    congruity_heatmap,
    identifiability_counts,
    measure_heatmaps,
    similarity_over_training,
    training_curves,
)
from mechequiv.report.html import render_report, write_report
from mechequiv.report.schema import Results, validate_results

__all__ = [
    "Results",
    "congruity_heatmap",
    "identifiability_counts",
    "measure_heatmaps",
    "render_report",
    "similarity_over_training",
    "training_curves",
    "validate_results",
    "write_report",
]
