"""One progress helper for every long job (rich), silent when asked or when not interactive."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

T = TypeVar("T")


def make_progress(disable: bool | None = None) -> Progress:
    """A rich ``Progress``; ``disable=None`` means: show only on an interactive terminal."""
    if disable is None:
        disable = not sys.stderr.isatty()
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[status]}"),
        disable=disable,
        transient=False,
    )


def track(
    items: Iterable[T],
    description: str,
    total: int | None = None,
    disable: bool | None = None,
) -> Iterator[T]:
    """Iterate over ``items`` with a progress bar (see :func:`make_progress`)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with make_progress(disable) as progress:
        task = progress.add_task(description, total=total, status="")
        for item in items:
            yield item
            progress.advance(task)
