"""The ``mechequiv`` command line (typer + rich). It only parses arguments and calls the library.

Bad input (missing file, wrong shapes, unknown measure) prints one line and exits with code 2.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(
    help=(
        "mechequiv: do these two neural networks implement the same mechanism?\n\n"
        "Similarity measures with exact conventions, interpretive equivalence (Congruity), "
        "tensor similarity and identifiability audits."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err = Console(stderr=True)


def _fail(message: str) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def _parse_options(pairs: list[str]) -> dict[str, object]:
    out: dict[str, object] = {}
    for pair in pairs:
        if "=" not in pair:
            _fail(f"option {pair!r} is not of the form key=value")
        key, raw = pair.split("=", 1)
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw  # a bare string such as score=euclidean
    return out


@app.command("measures")
def list_measures(
    as_json: Annotated[bool, typer.Option("--json", help="Print the registry as JSON.")] = False,
) -> None:
    """List every registered measure with its properties and exact convention."""
    from mechequiv import measures

    infos = [measures.get(n) for n in measures.names()]
    if as_json:
        console.print_json(json.dumps([i.to_dict() for i in infos]))
        return
    table = Table(title="mechequiv measures", show_lines=True)
    table.add_column("name", no_wrap=True)
    for col in ("kind", "range", "metric", "symmetric", "invariant to", "convention"):
        table.add_column(col, overflow="fold")
    for i in infos:
        table.add_row(
            i.name + (" (functional)" if i.functional else ""),
            i.kind,
            f"[{i.range[0]:.4g}, {i.range[1]:.4g}]",
            "yes" if i.metric else "no",
            "yes" if i.symmetric else "no",
            ", ".join(sorted(i.invariances)) or "-",
            i.convention,
        )
    console.print(table)


@app.command("measure")
def measure_files(
    x_path: Annotated[Path, typer.Argument(help="First representation, .npy of shape (n, d1).")],
    y_path: Annotated[Path, typer.Argument(help="Second representation, .npy of shape (n, d2).")],
    measure: Annotated[
        list[str], typer.Option("--measure", "-m", help="Measure name; repeat for several.")
    ] = ["linear_cka"],  # noqa: B006 - typer needs a literal default
    option: Annotated[
        list[str],
        typer.Option(
            "--option", "-o", help="Option key=value (JSON value) passed to every chosen measure."
        ),
    ] = [],  # noqa: B006
    tokens: Annotated[
        str | None,
        typer.Option(help="Token policy for (n, t, d) arrays: last, mean, all, concat or an int."),
    ] = None,
) -> None:
    """Compare two activation arrays stored as .npy files."""
    import numpy as np

    from mechequiv import measures
    from mechequiv.tokens import pool_tokens

    arrays = []
    for p in (x_path, y_path):
        if not p.is_file():
            _fail(f"file not found: {p}")
        try:
            arrays.append(np.load(p, allow_pickle=False))
        except ValueError as e:
            _fail(f"cannot read {p} as a .npy array: {e}")
    X, Y = arrays
    opts = _parse_options(option)
    table = Table(title=f"{x_path.name} vs {y_path.name}")
    table.add_column("measure", no_wrap=True)
    table.add_column("value", justify="right")
    table.add_column("kind")
    try:
        if tokens is not None:
            policy: object = int(tokens) if tokens.lstrip("-").isdigit() else tokens
            X, Y = pool_tokens(X, policy), pool_tokens(Y, policy)
        for name in measure:
            info = measures.get(name)
            table.add_row(name, f"{info(X, Y, **opts):.6f}", info.kind)
    except KeyError as e:
        _fail(str(e.args[0]))
    except (ValueError, TypeError) as e:
        _fail(str(e))
    console.print(table)


@app.command("demo")
def demo(
    seed: Annotated[int, typer.Option(help="Seed for data and training.")] = 0,
) -> None:
    """Train three small networks and compare them with every measure (takes seconds)."""
    from mechequiv.demo import demo_table_rows, run_demo

    with console.status("training three small MLPs and comparing them ..."):
        result = run_demo(seed=seed)
    accs = ", ".join(f"{k} {v:.1%}" for k, v in result.accuracies.items())
    console.print(f"[bold]test accuracy:[/] {accs}")
    table = Table(
        title="rings/seed0 compared with rings/seed1 (same task) and sectors/seed0 (other task)"
    )
    table.add_column("measure", no_wrap=True)
    table.add_column("kind")
    for col in ("same task", "other task", "same task closer?"):
        table.add_column(col, justify="right")
    for row in demo_table_rows(result):
        table.add_row(*row)
    console.print(table)


def _task(spec: str) -> object:
    """``NAME[:key=value,...]`` (a zoo task) or a .npy / .pt file of stimuli."""
    import numpy as np
    import torch

    path = Path(spec)
    if path.suffix in (".npy", ".pt"):
        if not path.is_file():
            _fail(f"file not found: {path}")
        if path.suffix == ".npy":
            return torch.from_numpy(np.load(path, allow_pickle=False))
        return torch.load(path, map_location="cpu", weights_only=True)
    from mechequiv.zoo import get_task

    name, _, rest = spec.partition(":")
    kwargs = _parse_options([kv for kv in rest.split(",") if kv]) if rest else {}
    return get_task(name, **kwargs)


@app.command("compare")
def compare(
    model_a: Annotated[
        Path, typer.Argument(help="First model: .pt, .safetensors (zoo) or HF folder.")
    ],
    model_b: Annotated[Path, typer.Argument(help="Second model, same formats.")],
    task: Annotated[
        str,
        typer.Option(
            "--task",
            "-t",
            help="Zoo task NAME[:key=value,...] (e.g. modular_addition:p=31) or a .npy/.pt file of inputs.",
        ),
    ],
    n: Annotated[int, typer.Option(help="Congruity rounds.")] = 20,
    sampler: Annotated[
        str,
        typer.Option(
            help="Implementations: auto = distill (label-free re-fit to each model's outputs), "
            "circuit (resample ablation) or symmetry (positive control)."
        ),
    ] = "auto",
    seed: Annotated[int, typer.Option(help="Seed of the implementation draws.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
) -> None:
    """Compare two of your models: similarity measures and the Congruity score with its CI."""
    from mechequiv.errors import MechequivError
    from mechequiv.study.compare import compare_models, load_model

    try:
        stimuli = _task(task)
        a, b = load_model(model_a), load_model(model_b)
        with console.status("comparing ..."):
            result = compare_models(a, b, stimuli, n=n, sampler=sampler, seed=seed)
    except (FileNotFoundError, MechequivError, ValueError, TypeError) as e:
        _fail(str(e))
    if as_json:
        console.print_json(json.dumps(result.to_dict()))
        return
    table = Table(title=f"{model_a.name} vs {model_b.name}")
    for col in ("measure", "kind", "value"):
        table.add_column(col, justify="right" if col == "value" else "left")
    from mechequiv import measures

    for group in (result.representational, result.functional):
        for name, value in group.items():
            table.add_row(name, measures.get(name).kind, f"{value:.4f}")
    c = result.congruity
    table.add_row("Congruity", "similarity", f"{c.score:.3f} [{c.ci_low:.3f}, {c.ci_high:.3f}]")
    console.print(table)
    for name, why in result.skipped.items():
        console.print(f"[dim]{name} skipped: {why}[/]")


@app.command("study")
def study(
    config: Annotated[
        Path | None, typer.Argument(help="TOML file overriding the default study.")
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path(
        "mechequiv-study"
    ),
    quick: Annotated[bool, typer.Option(help="Small settings (minutes; what CI runs).")] = False,
    force: Annotated[
        bool, typer.Option(help="Recompute cached steps (trained models are kept).")
    ] = False,
    show_config: Annotated[
        bool, typer.Option("--show-config", help="Print the default config and exit.")
    ] = False,
) -> None:
    """Run the end-to-end study: train a zoo, compare it every way, write an HTML report."""
    from mechequiv.errors import MechequivError
    from mechequiv.report import write_report
    from mechequiv.study import default_config_text, load_config, run_study

    if show_config:
        console.print(default_config_text(), highlight=False, markup=False)
        return
    try:
        cfg = load_config(config, quick=quick)
        results = run_study(
            cfg, out, force=force, log=lambda m: console.print(f"[bold]study[/] {m}")
        )
        report = write_report(results, out / "report.html", title=cfg.title)
    except (FileNotFoundError, MechequivError, ValueError) as e:
        _fail(str(e))
    console.print(f"[bold green]report:[/] {report}   results: {out / 'results.json'}")


@app.callback()
def main() -> None:
    """Compare neural networks: do they implement the same mechanism?"""
