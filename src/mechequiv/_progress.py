"""One progress helper for every long job (rich), silent when asked or when not interactive.

Every bar shows its counts (``3/10``), the elapsed time and an ETA, and fits the terminal's
width: the bar itself takes the room that is left, and a long description or status is cut
with an ellipsis rather than wrapped onto a second line (which would break the live display).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Column

T = TypeVar("T")

_DESCRIPTION_WIDTH = 32  # at most; shorter terminals get less


def make_progress(disable: bool | None = None, *, console: Console | None = None) -> Progress:
    """A rich ``Progress``; ``disable=None`` means: show only on an interactive terminal.

    ``console`` defaults to rich's console on stderr (pass one to render elsewhere, e.g. tests).
    """
    if disable is None:
        disable = not sys.stderr.isatty()
    description = _Description()
    progress = Progress(
        description,
        BarColumn(bar_width=None, table_column=Column(ratio=1, min_width=4)),
        MofNCompleteColumn(table_column=Column(no_wrap=True)),
        TimeElapsedColumn(table_column=Column(no_wrap=True)),
        TimeRemainingColumn(table_column=Column(no_wrap=True)),
        TextColumn(
            "{task.fields[status]}",
            markup=False,
            table_column=Column(ratio=2, no_wrap=True, overflow="ellipsis"),
        ),
        disable=disable,
        transient=False,
        expand=True,
        console=console,
    )
    description.console = progress.console
    return progress


class _Description(TextColumn):
    """The task's description, as wide as the terminal leaves after the counts and times (so
    that those never get cut), at most :data:`_DESCRIPTION_WIDTH`, shortened with an ellipsis."""

    def __init__(self) -> None:
        super().__init__("[bold]{task.description}")
        self.console: Console | None = None

    def get_table_column(self) -> Column:
        width = self.console.width if self.console is not None else 80
        # counts "1000/1000" + elapsed + remaining "0:00:00" + a 4-cell bar + 5 separators
        room = width - (9 + 7 + 7 + 4 + 5)
        return Column(
            no_wrap=True, overflow="ellipsis", width=max(6, min(_DESCRIPTION_WIDTH, room))
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
