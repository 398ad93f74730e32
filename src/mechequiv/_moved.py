"""Deprecation paths for names that moved: the old name warns once per call and delegates.

The figure functions moved from the methods to :mod:`mechequiv.report.figures` (one plotting
module, above the methods); the old entry points import it only when called, so a method
module never imports the report at import time.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any


def moved(old: str, new: str, stacklevel: int = 3) -> Any:
    """The object at dotted path ``new`` (``"package.module.name"``), after a
    DeprecationWarning saying that ``old`` moved there."""
    module, _, name = new.rpartition(".")
    warnings.warn(
        f"{old} moved to {new}; use that instead", DeprecationWarning, stacklevel=stacklevel
    )
    return getattr(importlib.import_module(module), name)


def moved_figure(old: str, name: str, path: Any, *args: Any, **kwargs: Any) -> Any:
    """``mechequiv.report.figures.<name>(*args, **kwargs)`` after a DeprecationWarning that
    ``old`` moved there; written as a PNG to ``path`` when it is not None (what the old
    plotting methods did)."""
    figure = moved(old, f"mechequiv.report.figures.{name}", stacklevel=4)
    fig = figure(*args, **kwargs)
    if path is not None:
        importlib.import_module("mechequiv.report.figures").save_figure(fig, path)
    return fig
