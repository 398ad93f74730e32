"""The ``mechequiv`` command line (typer + rich). It only parses arguments and calls the library."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="mechequiv: do these two neural networks implement the same mechanism?",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def main() -> None:
    """Compare neural networks: similarity measures, interpretive equivalence, tensor similarity
    and identifiability audits."""
