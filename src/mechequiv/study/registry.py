"""The study's sections, in run and page order: adding an experiment is one module in
:mod:`mechequiv.study.sections` and one line here."""

from __future__ import annotations

from typing import Any

from mechequiv.study.sections import equivalence, identifiability, measures, tensorsim, zoo
from mechequiv.study.sections.base import Section

SECTIONS: dict[str, Section[Any, Any]] = {
    section.name: section
    for section in (
        zoo.SECTION,
        equivalence.SECTION,
        tensorsim.SECTION,
        identifiability.SECTION,
        measures.SECTION,
    )
}
