"""Progress bars: counts and an ETA on every line, fitted to the terminal's width."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from mechequiv._progress import make_progress


@pytest.mark.parametrize("width", [40, 60, 80, 160])
def test_bars_fit_the_width_and_keep_counts_and_eta(width):
    console = Console(file=io.StringIO(), width=width, color_system=None)
    progress = make_progress(False, console=console)
    long = progress.add_task("identifiability XOR, every width and a long tail of words",
                             total=1000, status="width 3, seed 4 (2 not converged) " * 3)  # fmt: skip
    short = progress.add_task("zoo", total=10, status="")
    progress.update(long, completed=250)
    progress.update(short, completed=3)
    console.print(progress.get_renderable())
    lines = console.file.getvalue().splitlines()
    assert len(lines) == 2  # one line per task, never wrapped
    assert all(len(line) <= width for line in lines)
    assert "250/1000" in lines[0] and "3/10" in lines[1]
    assert all(line.count(":") >= 4 for line in lines)  # elapsed h:mm:ss and the ETA
    if width >= 80:
        assert "identifiability XOR" in lines[0] and "width 3" in lines[0]
    else:
        assert "…" in lines[0]  # the description is shortened, the counts kept
