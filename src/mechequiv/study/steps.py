"""Deprecated: the study's steps are sections now (:mod:`mechequiv.study.sections`, listed in
:mod:`mechequiv.study.registry`). The old names resolve here with a DeprecationWarning."""

from __future__ import annotations

from typing import Any

_MOVED = {
    "STEPS": "mechequiv.study.registry.SECTIONS",
    "group_means": "mechequiv.study.zoo_models.group_means",
    "GROUP_NAMES": "mechequiv.study.zoo_models.GROUP_NAMES",
    "summarise": "mechequiv.study.report.summarise",
    "zoo_step": "mechequiv.study.sections.zoo.run",
    "equivalence_step": "mechequiv.study.sections.equivalence.run",
    "tensorsim_step": "mechequiv.study.sections.tensorsim.run",
    "identifiability_step": "mechequiv.study.sections.identifiability.run",
    "measures_step": "mechequiv.study.sections.measures.run",
}


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        from mechequiv._moved import moved

        return moved(f"mechequiv.study.steps.{name}", _MOVED[name])
    raise AttributeError(f"module 'mechequiv.study.steps' has no attribute {name!r}")
