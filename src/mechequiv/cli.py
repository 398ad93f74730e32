"""The ``mechequiv`` command line (typer + rich). It only parses arguments and calls the library.

Bad input (missing file, wrong shapes, unknown measure) prints one line and exits with code 2.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, cast

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text
from typer.core import TyperGroup

from mechequiv.errors import MechequivError

if TYPE_CHECKING:
    import numpy as np
    import torch

    from mechequiv.measures.registry import MeasureInfo
    from mechequiv.study import StudyConfig
    from mechequiv.tokens import TokenPolicy


class _OneLineErrors(TyperGroup):
    """The command group, with usage errors (a missing argument, an unknown option, a bad
    value) answered like every other error: one line on stderr and exit code 2."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False  # by keyword: ``args`` may hold click's positionals
        if not standalone_mode:
            return super().main(*args, **kwargs)
        try:
            code = super().main(*args, **kwargs)
        except typer.Abort:
            _print_error("aborted")
            sys.exit(1)
        except Exception as e:
            # Click's exceptions (vendored by typer, so matched by what they offer): a usage
            # error has exit code 2 and the context of the command it concerns.
            exit_code = getattr(e, "exit_code", None)
            if not (hasattr(e, "format_message") and isinstance(exit_code, int)):
                raise
            ctx = getattr(e, "ctx", None)
            hint = (
                f" (see '{ctx.command_path} --help')" if ctx is not None and exit_code == 2 else ""
            )
            _print_error(e.format_message() + hint)
            sys.exit(exit_code)
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    cls=_OneLineErrors,
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


def _fail(message: str) -> NoReturn:
    """Print ``message`` as one line on stderr and exit with code 2.

    The message is escaped: text from the user or the library (``acts[layer].npy``) must not be
    read as rich markup; newlines inside it are folded so that the error stays one line.
    """
    _print_error(message)
    raise typer.Exit(2)


def _print_error(message: str) -> None:
    one_line = " ".join(str(message).split())
    err.print(f"[bold red]error:[/] {escape(one_line)}", highlight=False, soft_wrap=True)


#: Exceptions that mean bad input (a file, a value, a config), answered with one line and exit
#: code 2. Anything else is a bug in mechequiv and keeps its traceback.
USER_ERRORS: tuple[type[Exception], ...] = (
    MechequivError,
    ValueError,
    TypeError,
    KeyError,
    OSError,
)


@contextmanager
def _user_errors() -> Iterator[None]:
    """Turn the :data:`USER_ERRORS` raised inside into :func:`_fail`."""
    try:
        yield
    except USER_ERRORS as e:
        # KeyError's str() is the repr of its argument; the registry's message is the argument.
        message = str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)
        _fail(message or type(e).__name__)


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
    name: Annotated[
        str | None, typer.Argument(help="Show one measure in full (options included).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the registry as JSON.")] = False,
) -> None:
    """List the registered measures, one line each; NAME shows one in full."""
    from mechequiv import measures

    with _user_errors():
        infos = [measures.get(n) for n in ([name] if name else measures.names())]
    if as_json:
        entries = [i.to_dict() | {"options": _measure_options(i)} for i in infos]
        typer.echo(json.dumps(entries[0] if name else entries, indent=2, default=repr))
        return
    if name:
        _measure_detail(infos[0])
        return
    # One line per measure, cut to the terminal's width: the convention is shortened with an
    # ellipsis (`mechequiv measures NAME` shows it in full); names are never cut.
    kinds = {"similarity": "sim", "distance": "dist"}
    rows = [("name", "kind", "range", "on", "convention")] + [
        (i.name, kinds.get(i.kind, i.kind), _range(i.range),
         "logits" if i.functional else "reprs", _first_clause(i.convention))
        for i in infos
    ]  # fmt: skip
    widths = [max(len(r[c]) for r in rows) for c in range(4)]
    width = shutil.get_terminal_size(fallback=(80, 24)).columns
    for r in rows:
        line = "  ".join(v.ljust(w) for v, w in zip(r[:4], widths, strict=True))
        room = width - len(line) - 2
        if room >= 12:  # too little room for a useful convention: leave it out
            line += "  " + (r[4] if len(r[4]) <= room else r[4][: room - 1] + "…")
        typer.echo(line.rstrip())
    typer.echo("sim: higher = more similar; dist: lower = more similar.")
    typer.echo("mechequiv measures NAME: full convention and options.")


def _first_clause(text: str) -> str:
    """A convention's headline: up to its first ';' or parenthesis (the full text is one
    ``mechequiv measures NAME`` away)."""
    import re

    return re.split(r";| \(", text, maxsplit=1)[0].strip()


def _range(bounds: tuple[float, float]) -> str:
    import math

    def one(v: float) -> str:
        return ("-inf" if v < 0 else "inf") if math.isinf(v) else f"{v:.4g}"

    return f"[{one(bounds[0])}, {one(bounds[1])}]"


def _measure_options(info: MeasureInfo) -> dict[str, object]:
    """The keyword options of a measure with their defaults (its signature after X and Y)."""
    import inspect

    params = list(inspect.signature(info.fn).parameters.values())[2:]
    return {
        p.name: (None if p.default is inspect.Parameter.empty else p.default)
        for p in params
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }


def _measure_detail(info: MeasureInfo) -> None:
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    options = _measure_options(info)
    rows = [
        ("name", info.name),
        ("kind", info.kind + (" (higher = more similar)" if info.kind == "similarity"
                              else " (lower = more similar)")),
        ("range", _range(info.range)),
        ("compares", "model outputs (logits)" if info.functional else "representations"),
        ("metric", "yes" if info.metric else "no"),
        ("symmetric", "yes" if info.symmetric else "no"),
        ("invariant to", ", ".join(sorted(info.invariances)) or "none"),
        ("family", info.family),
        ("convention", info.convention),
        ("options", ", ".join(f"{k}={v!r}" for k, v in options.items()) or "none"),
    ]  # fmt: skip
    for key, value in rows:
        table.add_row(key, escape(value))
    console.print(table, highlight=False)
    if options:
        example = next(iter(options))
        console.print(
            escape(
                f"set one with: mechequiv measure X.npy Y.npy -m {info.name} "
                f"-o {info.name}.{example}=VALUE"
            ),
            highlight=False,
            soft_wrap=True,
        )


def _options_per_measure(
    pairs: list[str], chosen: list[str], infos: dict[str, MeasureInfo]
) -> dict[str, dict[str, object]]:
    """``-o MEASURE.key=value`` for one measure, or ``-o key=value`` for the one chosen measure
    that takes ``key`` (refused when several do: the option would be ambiguous)."""
    out: dict[str, dict[str, object]] = {m: {} for m in chosen}
    takes = {m: _measure_options(infos[m]) for m in chosen}
    for key, value in _parse_options(pairs).items():
        target, dot, option = key.partition(".")
        if dot:
            if target not in out:
                _fail(f"option {key!r} is for measure {target!r}, which is not chosen "
                      f"(chosen: {', '.join(chosen)}; add -m {target})")  # fmt: skip
            targets = [target]
        else:
            option = key
            targets = [m for m in chosen if option in takes[m]]
            if not targets:
                listed = "; ".join(f"{m}: {', '.join(takes[m]) or 'none'}" for m in chosen)
                _fail(f"no chosen measure takes option {option!r} ({listed})")
            if len(targets) > 1:
                _fail(f"option {option!r} is taken by {', '.join(targets)}: write "
                      f"{' or '.join(f'{m}.{option}=...' for m in targets)}")  # fmt: skip
        for m in targets:
            if option not in takes[m]:
                _fail(f"{m} has no option {option!r}; its options: "
                      f"{', '.join(takes[m]) or 'none'}")  # fmt: skip
            out[m][option] = value
    return out


def _load_npy(path: Path) -> np.ndarray:
    import numpy as np

    if not path.is_file():
        _fail(f"file not found: {path}")
    try:
        array: np.ndarray = np.load(path, allow_pickle=False)
        return array
    except (ValueError, OSError, EOFError) as e:
        _fail(f"cannot read {path} as a .npy array: {e}")


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
            "--option",
            "-o",
            help="MEASURE.key=value (JSON value) for one measure, e.g. rbf_cka.debiased=true; "
            "plain key=value when exactly one chosen measure takes that key.",
        ),
    ] = [],  # noqa: B006
    tokens: Annotated[
        str | None,
        typer.Option(help="Token policy for (n, t, d) arrays: last, mean, all, concat or an int."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
) -> None:
    """Compare two activation arrays stored as .npy files."""
    import math

    from mechequiv import measures
    from mechequiv.tokens import pool_tokens

    X: np.ndarray | torch.Tensor = _load_npy(x_path)
    Y: np.ndarray | torch.Tensor = _load_npy(y_path)
    chosen = list(dict.fromkeys(measure))
    with _user_errors():
        infos = {m: measures.get(m) for m in chosen}
    opts = _options_per_measure(option, chosen, infos)
    rows: list[dict[str, Any]] = []
    with _user_errors():
        policy: TokenPolicy | None = None
        if tokens is not None:
            policy = _token_policy(tokens)
            X, Y = pool_tokens(X, policy), pool_tokens(Y, policy)
        for name in chosen:
            value = float(infos[name](X, Y, **opts[name]))
            rows.append({"measure": name, "value": value if math.isfinite(value) else None,
                         "kind": infos[name].kind, "options": opts[name]})  # fmt: skip
    if as_json:
        shapes = [list(getattr(a, "shape", ())) for a in (X, Y)]
        out = {"x": str(x_path), "y": str(y_path), "tokens": policy, "shapes": shapes,
               "results": rows}  # fmt: skip
        typer.echo(json.dumps(out, indent=2, default=repr))
        return
    table = Table(title=escape(f"{x_path.name} vs {y_path.name}"))
    table.add_column("measure", no_wrap=True)
    table.add_column("value", justify="right")
    table.add_column("kind")
    table.add_column("options")
    for r in rows:
        shown_value = "nan" if r["value"] is None else f"{r['value']:.6f}"
        shown = ", ".join(f"{k}={v!r}" for k, v in r["options"].items())
        table.add_row(r["measure"], shown_value, r["kind"], escape(shown))
    console.print(table, highlight=False)


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
        try:
            if path.suffix == ".npy":
                return torch.from_numpy(np.load(path, allow_pickle=False))
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # numpy and torch raise many kinds for unreadable files
            _fail(f"cannot read the stimuli {path}: {str(e).strip().splitlines()[0]}")
    from mechequiv.zoo import get_task

    name, _, rest = spec.partition(":")
    kwargs = _parse_options([kv for kv in rest.split(",") if kv]) if rest else {}
    return get_task(name, **kwargs)


def _token_policy(raw: str) -> TokenPolicy:
    # an unknown name passes through: pool_tokens refuses it with the list of policies
    return int(raw) if raw.lstrip("-").isdigit() else cast("TokenPolicy", raw)


@app.command("compare")
def compare(
    model_a: Annotated[
        str,
        typer.Argument(
            help="First model: HF folder, weights + config .json, zoo PATH:seed=S, .pt."
        ),
    ],
    model_b: Annotated[str, typer.Argument(help="Second model, same formats.")],
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
            help="Implementations for Congruity: distill (label-free re-fit to each model's "
            "outputs), circuit (resample ablation outside a circuit found by discover_circuit), "
            "circuit-reprs (the same outside a circuit over every head and MLP unit, compared "
            "on the circuit's own outputs: calibrated on compiled Tracr pairs, not on trained "
            "seeds), symmetry (the positive control) or none (default: Congruity skipped; none "
            "is calibrated on trained seeds)."
        ),
    ] = "none",
    seed: Annotated[int, typer.Option(help="Seed of the implementation draws.")] = 0,
    points: Annotated[
        list[str] | None,
        typer.Option(
            "--points",
            "-p",
            help="Hook point of both models (repeat for several), e.g. blocks.0.attn.hook_z or "
            "transformer.h.1[0]. Default: the output of every block / hidden layer.",
        ),
    ] = None,
    points_b: Annotated[
        list[str] | None,
        typer.Option(
            "--points-b",
            help="Hook points of model b when its module names differ (default: --points).",
        ),
    ] = None,
    tokens: Annotated[
        str, typer.Option(help="Token policy for sequences: last, mean, all, concat or a position.")
    ] = "last",
    measure: Annotated[
        list[str] | None,
        typer.Option("--measure", "-m", help="Measure to run (repeat for several). Default: all."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
    trust_pickle: Annotated[
        bool,
        typer.Option(
            "--trust-pickle",
            help="Allow .pt files that pickle whole modules (unpickling runs code from the file).",
        ),
    ] = False,
    transformer_lens: Annotated[
        bool,
        typer.Option(
            "--transformer-lens",
            help="Wrap Hugging Face folders in TransformerLens 4's TransformerBridge.",
        ),
    ] = False,
    model_class: Annotated[
        str | None,
        typer.Option(
            "--model-class",
            help="Your own model class, MODULE:CLASS (module on PYTHONPATH) or FILE.py:CLASS, "
            "to build both models from state dicts (.safetensors or .pt) with the keyword "
            "arguments in the JSON beside each (<stem>.json or config.json).",
        ),
    ] = None,
    model_class_b: Annotated[
        str | None,
        typer.Option(
            "--model-class-b", help="Model b's class when it differs (default: --model-class)."
        ),
    ] = None,
) -> None:
    """Compare two of your models: similarity measures and the Congruity score with its CI.

    Models: a Hugging Face folder (save_pretrained), weights (.safetensors or a .pt state dict)
    beside their config .json (TransformerLens cfg, Hugging Face or zoo config), a zoo folder
    or checkpoint (PATH:seed=S), a state dict of your own class with --model-class, or with
    --trust-pickle a whole module saved with torch.save.
    Exit code 0 when every part ran, 1 when a part failed (its error is printed with the rest),
    2 for bad input (checked before any work).
    """
    from mechequiv import measures
    from mechequiv.study.compare import (
        CONGRUITY_MEANING,
        check_arguments,
        compare_models,
        load_model,
    )

    with _user_errors():
        check_arguments(measure or None, n, sampler, _token_policy(tokens))  # before any loading
        stimuli = _task(task)
        a, b = (
            load_model(
                m, trust_pickle=trust_pickle, transformer_lens=transformer_lens, model_class=cls
            )
            for m, cls in ((model_a, model_class), (model_b, model_class_b or model_class))
        )
        result = compare_models(
            a,
            b,
            stimuli,
            n=n,
            sampler=sampler,
            seed=seed,
            points=points or None,
            points_b=points_b or None,
            tokens=_token_policy(tokens),
            measures=measure or None,
            progress=None if not as_json else False,
        )
    if as_json:
        console.print_json(json.dumps(result.to_dict()))
        raise typer.Exit(1 if result.errors else 0)
    table = Table(title=f"{Path(model_a).name} vs {Path(model_b).name}")
    for col in ("measure", "kind", "value"):
        table.add_column(col, justify="right" if col == "value" else "left")
    for group in (result.representational, result.functional):
        for name, value in group.items():
            table.add_row(name, measures.get(name).kind, f"{value:.4f}")
    c = result.congruity
    if c is not None:
        table.add_row("Congruity", "similarity", f"{c.score:.3f} [{c.ci_low:.3f}, {c.ci_high:.3f}]")
    for part, why in result.errors.items():
        table.add_row(part, "error", Text(why, justify="left"))  # Text: brackets stay literal
    console.print(table)
    for name, why in result.skipped.items():
        console.print(f"{name} skipped: {why}", style="dim", markup=False, highlight=False)
    for label, used in result.points.items():
        console.print(f"model {label} read at: {', '.join(used)} (tokens={result.tokens})",
                      markup=False, highlight=False, soft_wrap=True)  # fmt: skip
    console.print(f"sampler: {result.sampler}", markup=False, highlight=False, soft_wrap=True)
    if result.verdict is not None:
        console.print(f"verdict: {result.verdict}", markup=False, highlight=False, soft_wrap=True)
    if result.sampler != "none":
        console.print(CONGRUITY_MEANING, style="dim", markup=False, highlight=False, soft_wrap=True)
    if result.errors:
        raise typer.Exit(1)


@app.command("study")
def study(
    config: Annotated[
        Path | None, typer.Argument(help="TOML file overriding the default study.")
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path(
        "mechequiv-study"
    ),
    quick: Annotated[
        bool,
        typer.Option(help="Small settings (minutes; what CI runs). Keys your file sets win."),
    ] = False,
    force: Annotated[
        bool, typer.Option(help="Recompute cached steps (trained models are kept).")
    ] = False,
    show_config: Annotated[
        bool,
        typer.Option(
            "--show-config",
            help="Print the configuration that would run (the default, or CONFIG resolved) as "
            "TOML and exit.",
        ),
    ] = False,
) -> None:
    """Run the end-to-end study: train a zoo, compare it every way, write an HTML report."""
    from mechequiv.study import load_config, run_study
    from mechequiv.study.report import write_report

    with _user_errors():
        cfg = load_config(config, quick=quick)
    if show_config:
        # Plain text, not rich: rich would wrap long lines and the TOML would no longer parse.
        typer.echo(cfg.to_toml(), nl=False)
        _quick_notice(cfg, err)
        return
    _quick_notice(cfg, console)
    with _user_errors():
        results = run_study(
            cfg,
            out,
            force=force,
            log=lambda m: console.print(f"[bold]study[/] {escape(m)}", highlight=False),
        )
        report = write_report(results, out / "report.html")
    console.print(
        f"[bold green]report:[/] {escape(str(report))}   "
        f"results: {escape(str(out / 'results.json'))}",
        highlight=False,
    )


def _quick_notice(cfg: StudyConfig, where: Console) -> None:
    """Say which ``--quick`` defaults a study took and which of the user's values it kept."""
    if not cfg.quick:
        return
    applied = ", ".join(f"{k} = {json.dumps(v)}" for k, v in cfg.quick_applied.items())
    line = f"quick: applied {applied or 'nothing'}"
    if cfg.quick_kept:
        kept = ", ".join(f"{k} = {json.dumps(v)}" for k, v in cfg.quick_kept.items())
        line += f"; kept your {kept} (set them in [quick.<step>] to change them with --quick)"
    where.print(escape(line), highlight=False, soft_wrap=True)


@app.callback()
def main() -> None:
    """Compare neural networks: do they implement the same mechanism?"""


if __name__ == "__main__":  # ``python -m mechequiv.cli`` runs the command line too
    app()
