"""A study's results as one self-contained HTML report.

The page has one part per registered section present in the results (in registry order),
each rendered by the section from its result (:meth:`Section.load` validates the entry first,
so a malformed file is refused before anything is written), between the key findings and the
run details. The sections render from what the results hold, measure descriptors included, not
from today's measure registry, so an old ``results.json`` shows the conventions it was computed
under.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mechequiv.report import texts
from mechequiv.report.html import Page, render_page, write_page
from mechequiv.report.validate import as_mapping, as_names, as_number, as_string, check_keys
from mechequiv.study.registry import SECTIONS

#: Keys of ``results.json`` besides the sections', all optional.
META = ("title", "created", "summary", "config", "versions", "timings", "cached", "wall_time")

#: The type of a results dictionary (the JSON-safe content of ``results.json``).
Results = dict[str, Any]


def validate_results(results: Any) -> None:
    """Check ``results``: the run's metadata, and each section's entry with its result's
    ``from_dict``. Unknown keys are refused, so that a typo cannot silently drop a section.

    Raises
    ------
    TypeError
        An entry has the wrong kind (e.g. a string where a matrix belongs).
    ValueError
        A required key is missing, a key is unknown, or a value is out of range or of the
        wrong shape.
    """
    _loaded(results)


def _loaded(results: Any) -> dict[str, Any]:
    results = as_mapping(results, "results")
    check_keys(results, "results", (), (*META, *SECTIONS))
    for key in ("title", "created"):
        if key in results:
            as_string(results[key], f"results[{key!r}]")
    for key in ("cached", "summary"):
        if key in results:
            as_names(results[key], f"results[{key!r}]")
    if "wall_time" in results:
        as_number(results["wall_time"], "results['wall_time']", low=0.0)
    if "config" in results:
        as_mapping(results["config"], "results['config']")
    if "versions" in results:
        for k, v in as_mapping(results["versions"], "results['versions']").items():
            as_string(v, f"results['versions'][{k!r}]")
    if "timings" in results:
        for k, v in as_mapping(results["timings"], "results['timings']").items():
            as_number(v, f"results['timings'][{k!r}]", low=0.0)
    return {name: s.load(results[name]) for name, s in SECTIONS.items() if name in results}


def summarise(results: Mapping[str, Any]) -> list[str]:
    """Key findings, a few sentences per section present, from each section's result."""
    return [line for name, r in _loaded(results).items() for line in SECTIONS[name].summary(r)]


def render_report(results: Mapping[str, Any], *, title: str | None = None) -> str:
    """The report for ``results`` as one HTML string; sections absent from ``results`` are
    skipped. ``title`` defaults to ``results["title"]``, else "mechequiv report"."""
    loaded = _loaded(results)
    if title is None:
        title = results.get("title", "mechequiv report")
    page = Page()
    methods = [m for name in loaded if (m := SECTIONS[name].method) is not None]
    intro = page.prose(texts.intro(methods, any(SECTIONS[n].measures for n in loaded)))
    parts = [part for name, r in loaded.items() for part in SECTIONS[name].report(page, r)]
    return render_page(title, results, intro, parts, page)


def write_report(
    results: Mapping[str, Any], path: str | os.PathLike[str], *, title: str | None = None
) -> Path:
    """Render ``results`` (see :func:`render_report`) and write the HTML file atomically.

    Returns the path written. Raises ``TypeError``/``ValueError`` for results that do not
    validate (:func:`validate_results`), before anything is written.
    """
    return write_page(path, render_report(results, title=title))
