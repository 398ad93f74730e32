"""The end-to-end study: a zoo trained here, compared by every method, written as results.json.

``mechequiv study`` (and ``make demo``) runs :func:`run_study` on :func:`load_config`'s default
study and renders the results with :func:`mechequiv.study.report.write_report`. The study's
experiments are sections (:mod:`mechequiv.study.sections`), listed in
:mod:`mechequiv.study.registry`.

The names below are imported on first use: importing one study module (a section, whose code
fingerprint counts the packages its import runs) does not import every other one.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mechequiv.study.compare import Comparison, compare_models, load_model
    from mechequiv.study.config import StudyConfig, default_config_text, load_config
    from mechequiv.study.context import StudyContext
    from mechequiv.study.run import run_study

_HOMES = {
    "Comparison": "mechequiv.study.compare",
    "compare_models": "mechequiv.study.compare",
    "load_model": "mechequiv.study.compare",
    "StudyConfig": "mechequiv.study.config",
    "default_config_text": "mechequiv.study.config",
    "load_config": "mechequiv.study.config",
    "StudyContext": "mechequiv.study.context",
    "run_study": "mechequiv.study.run",
}

__all__ = [
    "Comparison",
    "StudyConfig",
    "StudyContext",
    "compare_models",
    "default_config_text",
    "load_config",
    "load_model",
    "run_study",
]


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'mechequiv.study' has no attribute {name!r}")
