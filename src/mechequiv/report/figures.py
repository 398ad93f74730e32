"""Figures for the report: each function takes plain arrays and returns a matplotlib ``Figure``.

The figures are built on :class:`matplotlib.figure.Figure` directly (no pyplot state, no GUI
backend); ``fig.savefig(...)`` renders them with Agg. Inputs may be lists (``None`` for a value
that was not computed), numpy arrays or torch tensors. Colour conventions: in every heatmap the
darker colour means *more similar*, so distance measures use the reversed colour map; a series
(a model group, a curve) gets its colour from its name (:func:`colours`), not its position.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, NullLocator

from mechequiv._io import atomic_write
from mechequiv.report.validate import as_mapping, as_matrix, as_names, as_vector, count_keys

_CMAP = "YlGnBu"
_PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
_MAX_TICKS = 7
_MAX_PANELS = 3  # heatmaps per row, so that each stays readable at page width


def congruity_heatmap(
    names: Sequence[str],
    score: Any,
    ci_low: Any,
    ci_high: Any,
    *,
    groups: Sequence[str] | None = None,
    level: float | None = None,
    title: str = "Congruity (1 = indistinguishable interpretations)",
) -> Figure:
    """Pairwise Congruity with each cell annotated by its score and ``[ci_low, ci_high]``.

    Parameters
    ----------
    names : m model names, in matrix order.
    score, ci_low, ci_high : (m, m) matrices in [0, 1]; NaN/None cells are left blank.
    groups : optional m group labels (e.g. "Pizza", "Clock"); group boundaries are drawn and
        tick labels coloured by group.
    level : the confidence level of the intervals, for the colour-bar label.
    """
    names = as_names(names, "names")
    m = len(names)
    S = as_matrix(score, "score", (m, m))
    lo = as_matrix(ci_low, "ci_low", (m, m))
    hi = as_matrix(ci_high, "ci_high", (m, m))
    side = min(1.0 + 0.95 * m, 14.0)
    fig = Figure(figsize=(side + 1.4, side))
    ax = fig.add_subplot()
    im = ax.imshow(S, cmap=_CMAP, vmin=0.0, vmax=1.0)
    small = m <= 12
    for i, j in np.ndindex(m, m):
        if np.isnan(S[i, j]) or m > 24:
            continue
        text = f"{S[i, j]:.2f}"
        if small and not (np.isnan(lo[i, j]) or np.isnan(hi[i, j])):
            text += f"\n[{lo[i, j]:.2f}, {hi[i, j]:.2f}]"
        ax.text(j, i, text, ha="center", va="center", fontsize=8 if small else 6,
                color=_ink(float(S[i, j])))  # fmt: skip
    _label_matrix(ax, names, groups)
    cb = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    cb.set_label("Congruity" + (f" ({level:.0%} CI in brackets)" if level is not None else ""))
    ax.set_title(_plain(title))
    return fig


def measure_heatmaps(
    names: Sequence[str],
    matrices: Mapping[str, Any],
    *,
    groups: Sequence[str] | None = None,
    kinds: Mapping[str, Literal["similarity", "distance"]] | None = None,
    ranges: Mapping[str, tuple[float, float]] | None = None,
) -> Figure:
    """Several pairwise measures over the same models, side by side as small heatmaps
    (three per row).

    Parameters
    ----------
    names : m model names.
    matrices : label -> (m, m) matrix, one panel each, in the given order.
    kinds : label -> "similarity" or "distance"; a distance panel uses the reversed colour map
        so that darker still means more similar. Labels of registered measures default to the
        registry's kind; other labels default to "similarity".
    ranges : label -> (low, high) colour limits; default: the registry's range where finite,
        else the finite data range.
    """
    names = as_names(names, "names")
    m = len(names)
    matrices = as_mapping(matrices, "matrices")
    if not matrices:
        raise ValueError("matrices: expected at least one measure, found none")
    kinds = dict(kinds or {})
    ranges = dict(ranges or {})
    k = len(matrices)
    cell = min(0.55, 4.2 / max(m, 1))
    side = 1.4 + cell * m
    ncol = min(k, _MAX_PANELS)
    nrow = -(-k // ncol)
    fig = Figure(figsize=(ncol * (side + 0.9), nrow * (side + 0.6)))
    axes = fig.subplots(nrow, ncol, squeeze=False).ravel()
    for ax in axes[k:]:
        ax.set_visible(False)
    for ax, (label, mat) in zip(axes, matrices.items(), strict=False):
        M = as_matrix(mat, f"matrices[{label!r}]", (m, m))
        info = _registry_info(label)
        kind = kinds.get(label, info.kind if info else "similarity")
        if kind not in ("similarity", "distance"):
            raise ValueError(
                f"kinds[{label!r}]: expected 'similarity' or 'distance', found {kind!r}"
            )
        vmin, vmax = ranges.get(label, _colour_range(M, info.range if info else None))
        cmap = _CMAP if kind == "similarity" else _CMAP + "_r"
        im = ax.imshow(M, cmap=cmap, vmin=vmin, vmax=vmax)
        if m <= 10:
            for i, j in np.ndindex(m, m):
                if not np.isnan(M[i, j]):
                    shade = (M[i, j] - vmin) / (vmax - vmin) if vmax > vmin else 0.5
                    ax.text(j, i, f"{M[i, j]:.2f}", ha="center", va="center", fontsize=6.5,
                            color=_ink(float(shade if kind == "similarity" else 1 - shade)))  # fmt: skip
        _label_matrix(ax, names, groups, fontsize=7)
        arrow = "higher = more similar" if kind == "similarity" else "lower = more similar"
        ax.set_title(f"{_plain(label)}\n({arrow})", fontsize=9)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04).ax.tick_params(labelsize=7)
    fig.subplots_adjust(wspace=0.45, hspace=0.45)
    return fig


def similarity_over_training(
    steps: Sequence[float] | np.ndarray,
    matrices: Mapping[str, Any],
    *,
    curves: Mapping[str, Any] | None = None,
    marker_step: float | None = None,
    title: str | None = None,
) -> Figure:
    """Checkpoint-by-checkpoint similarity heatmaps, with training curves aligned underneath.

    Parameters
    ----------
    steps : the k training steps of the checkpoints (axes are in checkpoint order, labelled by
        step, so unevenly spaced checkpoints keep square cells).
    matrices : label -> (k, k) similarity matrix, one column each (e.g. tensor similarity, then
        baselines). All panels share one colour scale; darker = more similar.
    curves : optional label -> k values (e.g. test accuracy) drawn under every heatmap on the
        same checkpoint axis.
    marker_step : optional step (e.g. where poisoned training starts) marked by dashed lines.
    """
    steps_arr = as_vector(steps, "steps")
    k = steps_arr.shape[0]
    matrices = as_mapping(matrices, "matrices")
    if not matrices:
        raise ValueError("matrices: expected at least one matrix, found none")
    mats = {lab: as_matrix(v, f"matrices[{lab!r}]", (k, k)) for lab, v in matrices.items()}
    lines = {
        lab: as_vector(v, f"curves[{lab!r}]", k)
        for lab, v in as_mapping(curves or {}, "curves").items()
    }
    finite = np.concatenate([M[np.isfinite(M)] for M in mats.values()] + [np.zeros(1)])
    vmin, vmax = min(0.0, float(finite.min())), max(1.0, float(finite.max()))
    ncol = len(mats)
    rows = 2 if lines else 1
    fig = Figure(figsize=(3.9 * ncol + 0.8, 3.6 + (1.5 if lines else 0.0)))
    axes = fig.subplots(rows, ncol, squeeze=False, sharex="col",
                        gridspec_kw={"height_ratios": [3.4, 1.2][:rows]})  # fmt: skip
    ticks = _step_ticks(k)
    tick_labels = [_fmt_step(steps_arr[t]) for t in ticks]
    mark = None if marker_step is None else int(np.searchsorted(steps_arr, marker_step)) - 0.5
    im = None
    for col, (label, M) in enumerate(mats.items()):
        ax = axes[0, col]
        im = ax.imshow(M, cmap=_CMAP, vmin=vmin, vmax=vmax, aspect="auto", interpolation="nearest")
        ax.set_title(_plain(label), fontsize=10)
        ax.set_yticks(ticks, tick_labels, fontsize=7)
        ax.set_ylabel("step" if col == 0 else "")
        if mark is not None:
            ax.axvline(mark, color="#d62728", ls="--", lw=1)
            ax.axhline(mark, color="#d62728", ls="--", lw=1)
        bottom = axes[rows - 1, col]
        line_colour = colours(lines)
        for name, y in lines.items():
            bottom.plot(np.arange(k), y, color=line_colour[name], lw=1.5, label=_plain(name))
        if lines:
            bottom.set_ylabel("value" if col == 0 else "")
            bottom.grid(alpha=0.3)
            if mark is not None:
                bottom.axvline(mark, color="#d62728", ls="--", lw=1)
            if col == 0:
                bottom.legend(fontsize=7, loc="best")
        bottom.set_xticks(ticks, tick_labels, fontsize=7, rotation=45, ha="right")
        bottom.set_xlabel("step")
        bottom.set_xlim(-0.5, k - 0.5)
    cax = axes[0, -1].inset_axes((1.04, 0.0, 0.05, 1.0))
    assert im is not None  # matrices is not empty (checked above)
    fig.colorbar(im, cax=cax).set_label("similarity", fontsize=8)
    fig.subplots_adjust(wspace=0.3, hspace=0.08)
    if title:
        fig.suptitle(_plain(title))
    return fig


def identifiability_counts(
    per_seed: Sequence[Mapping[str, Any]],
    *,
    widths: Sequence[int] | None = None,
    counts: Sequence[str] | None = None,
    title: str | None = None,
) -> Figure:
    """Counts (circuits, interpretations, mappings, ...) against hidden width, one panel each.

    Every network is a point (spread horizontally by rank, no randomness); the median per
    width is the black line. The y axis is symmetric-log (linear below 1), so a count of zero
    is shown rather than dropped.

    Parameters
    ----------
    per_seed : one record per trained network: ``{"width": int, "seed": int, <count>: int}``.
    widths : the widths to place on the x axis (default: those in ``per_seed``, sorted).
    counts : the count columns to plot (default: every key except width and seed).
    """
    rows = [as_mapping(r, f"per_seed[{i}]") for i, r in enumerate(per_seed)]
    if not rows:
        raise ValueError("per_seed: expected at least one network, found none")
    if any("width" not in r for r in rows):
        raise ValueError("per_seed: every record needs a 'width'")
    widths = sorted({int(r["width"]) for r in rows}) if widths is None else [int(w) for w in widths]
    counts = count_keys(rows) if counts is None else list(counts)
    if not counts:
        raise ValueError("per_seed: expected count columns besides width and seed, found none")
    fig = Figure(figsize=(3.4 * len(counts) + 0.4, 3.4))
    axes = fig.subplots(1, len(counts), squeeze=False)[0]
    n_per = [sum(int(r["width"]) == w for r in rows) for w in widths]
    count_colour = colours(counts)
    for c, (ax, key) in enumerate(zip(axes, counts, strict=True)):
        medians = []
        for x, w in enumerate(widths):
            vals = np.sort(
                np.asarray([r[key] for r in rows if int(r["width"]) == w and key in r], float)
            )
            if vals.size:
                spread = np.linspace(-0.18, 0.18, vals.size) if vals.size > 1 else np.zeros(1)
                ax.scatter(x + spread, vals, s=14, alpha=0.6, color=count_colour[key],
                           edgecolors="none")  # fmt: skip
            medians.append(float(np.median(vals)) if vals.size else np.nan)
        ax.plot(range(len(widths)), medians, "D-", color="black", ms=5, lw=1.5, label="median")
        ax.set_yscale("symlog", linthresh=1.0)
        ax.set_ylim(bottom=0)
        ax.set_xticks(
            range(len(widths)), [f"{w}\n(n={n})" for w, n in zip(widths, n_per, strict=True)]
        )
        ax.set_xlim(-0.5, len(widths) - 0.5)
        ax.set_xlabel("hidden width")
        ax.set_title(_plain(key.replace("_", " ")))
        ax.grid(axis="y", alpha=0.3)
        if c == 0:
            ax.set_ylabel("count per network")
            ax.legend(fontsize=8, loc="upper left")
    fig.subplots_adjust(wspace=0.35, bottom=0.22)
    if title:
        fig.suptitle(_plain(title))
    return fig


def training_curves(
    curves: Mapping[str, Mapping[str, Any]],
    *,
    groups: Mapping[str, str] | None = None,
    metrics: Sequence[str] | None = None,
    title: str | None = None,
) -> Figure:
    """Training curves (loss, accuracy, ...) per run, one panel per metric.

    Parameters
    ----------
    curves : run name -> ``{"steps": [...], <metric>: [...], ...}``, each metric as long as steps.
    groups : optional run name -> group; runs of a group share a colour and one legend entry.
    metrics : the metrics to plot (default: every key except "steps", in order of first
        appearance). Metrics whose name contains "loss" use a log y axis.
    """
    curves = as_mapping(curves, "curves")
    if not curves:
        raise ValueError("curves: expected at least one run, found none")
    data: dict[str, dict[str, np.ndarray]] = {}
    for run, curve in curves.items():
        curve = as_mapping(curve, f"curves[{run!r}]")
        if "steps" not in curve:
            raise ValueError(f"curves[{run!r}]: missing required key 'steps'")
        n = as_vector(curve["steps"], f"curves[{run!r}]['steps']").shape[0]
        data[run] = {k: as_vector(v, f"curves[{run!r}][{k!r}]", n) for k, v in curve.items()}
    if metrics is None:
        metrics = list(dict.fromkeys(k for d in data.values() for k in d if k != "steps"))
    if not metrics:
        raise ValueError("curves: expected at least one metric besides 'steps', found none")
    groups = dict(groups or {})
    labels = list(dict.fromkeys(groups.get(run, run) for run in data))
    colour = colours(labels)
    fig = Figure(figsize=(3.8 * len(metrics) + 0.4, 3.2))
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    for ax, metric in zip(axes, metrics, strict=True):
        seen: set[str] = set()
        for run, d in data.items():
            if metric not in d:
                continue
            g = groups.get(run, run)
            y = d[metric]
            if "loss" in metric:
                y = np.where(y > 0, y, np.nan)  # a log axis cannot show 0
            ax.plot(
                d["steps"],
                y,
                color=colour[g],
                lw=1.2,
                alpha=0.8,
                label=None if g in seen else _plain(g),
            )
            seen.add(g)
        if "loss" in metric:
            ax.set_yscale("log")
        ax.set_title(_plain(metric.replace("_", " ")))
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    if len(labels) <= 12:
        axes[0].legend(fontsize=7, loc="best")
    fig.subplots_adjust(wspace=0.3, bottom=0.17)
    if title:
        fig.suptitle(_plain(title))
    return fig


def checkpoint_matrix(
    matrix: Any,
    steps: Sequence[float],
    *,
    title: str = "",
    marks: Sequence[int] = (),
    curves: Mapping[str, Any] | None = None,
) -> Figure:
    """One checkpoint-by-checkpoint similarity matrix (tick labels = steps), with optional
    curves per checkpoint in a panel below (formerly ``mechequiv.tensorsim.plot_matrix``).

    Parameters
    ----------
    matrix : (k, k) similarities of k checkpoints.
    steps : the k training steps (tick labels).
    marks : checkpoint indices where a phase starts; lines are drawn before them.
    curves : optional label -> k values (e.g. test accuracy).
    """
    steps_arr = as_vector(steps, "steps")
    k = steps_arr.shape[0]
    M = as_matrix(matrix, "matrix", (k, k))
    lines = {
        lab: as_vector(v, f"curves[{lab!r}]", k)
        for lab, v in as_mapping(curves or {}, "curves").items()
    }
    bad = [m for m in marks if not 0 <= int(m) <= k]
    if bad:
        raise ValueError(f"marks: expected checkpoint indices in [0, {k}], found {bad}")
    if lines:
        fig = Figure(figsize=(5.2, 6.2))
        ax, below = fig.subplots(2, 1, gridspec_kw={"height_ratios": [3, 1]})
        line_colour = colours(lines)
        for label, values in lines.items():
            below.plot(np.arange(k), values, color=line_colour[label], label=_plain(label))
        for m in marks:
            below.axvline(m - 0.5, color="k", lw=0.6, ls=":")
        below.set_xlim(-0.5, k - 0.5)
        below.set_xlabel("checkpoint index")
        below.legend(fontsize=7)
    else:
        fig = Figure(figsize=(5.2, 4.4))
        ax = fig.subplots()
    finite = M[np.isfinite(M)]
    low = min(0.0, float(finite.min())) if finite.size else 0.0
    im = ax.imshow(M, vmin=low, vmax=1.0, cmap=_CMAP)
    ticks = _step_ticks(k)
    ax.set_xticks(ticks, [_fmt_step(steps_arr[t]) for t in ticks], rotation=45, fontsize=7)
    ax.set_yticks(ticks, [_fmt_step(steps_arr[t]) for t in ticks], fontsize=7)
    for m in marks:
        ax.axhline(m - 0.5, color="#d62728", lw=0.8)
        ax.axvline(m - 0.5, color="#d62728", lw=0.8)
    ax.set_xlabel("checkpoint (step)")
    ax.set_title(_plain(title))
    fig.colorbar(im, ax=ax)
    fig.tight_layout()
    return fig


def counts_against_width(
    per_seed: Sequence[Mapping[str, Any]],
    *,
    counts: Sequence[str] = ("interpretations", "mappings"),
    reference: Mapping[str, Mapping[int, float]] | None = None,
    reference_label: str = "paper figure (read by eye)",
) -> Figure:
    """Counts per network against hidden width on a log axis, with a reference curve per count
    (formerly ``mechequiv.identifiability.plot_counts``; the symmetric-log view of the same
    records is :func:`identifiability_counts`).

    Parameters
    ----------
    per_seed : one record per network: ``{"width": int, <count>: int or None}``.
    counts : the count columns, one panel each. Zero counts are drawn at a floor line (a log
        axis cannot show 0) and their number is written beside it.
    reference : optional count -> {width: median} drawn as crosses (e.g. a paper's figure).
    """
    rows = [as_mapping(r, f"per_seed[{i}]") for i, r in enumerate(per_seed)]
    if not rows:
        raise ValueError("per_seed: expected at least one network, found none")
    if any("width" not in r for r in rows):
        raise ValueError("per_seed: every record needs a 'width'")
    reference = dict(reference or {})
    fig = Figure(figsize=(4.5 * len(counts), 3.6))
    axes = fig.subplots(1, len(counts), squeeze=False)[0]
    for ax, key in zip(axes, counts, strict=True):
        points = [(int(r["width"]), float(r[key])) for r in rows if r.get(key) is not None]
        if points:
            ks = sorted({k for k, _ in points})
            values = [v for _, v in points]
            floor = max(min([v for v in values if v > 0], default=1.0) / 10, 0.5)
            # spread by rank within a width (deterministic), not by random jitter
            xs = []
            for i, (k, _) in enumerate(points):
                same = [p for p, (kk, _) in enumerate(points) if kk == k]
                offsets = np.linspace(-0.12, 0.12, len(same)) if len(same) > 1 else np.zeros(1)
                xs.append(k + float(offsets[same.index(i)]))
            ax.scatter(xs, [max(v, floor) for v in values], s=14, alpha=0.6, label="networks")
            med = [float(np.median([v for kk, v in points if kk == k])) for k in ks]
            ax.plot(ks, [max(m, floor) for m in med], "-o", color="k", label="median")
            n_zero = sum(v == 0 for v in values)
            if n_zero:
                ax.axhline(floor, color="grey", lw=0.5, ls=":")
                ax.text(min(ks), floor, f" {n_zero} network(s) with 0", va="bottom", fontsize=7)
        ref = {int(k): float(v) for k, v in reference.get(key, {}).items()}
        if ref:
            pk = sorted(ref)
            ax.plot(pk, [ref[k] for k in pk], "x--", color="#d62728", label=_plain(reference_label))
        ax.set_yscale("log")
        ax.set_xticks(sorted({int(r["width"]) for r in rows} | set(ref)))
        ax.set_xlabel("hidden width k")
        ax.set_ylabel(f"{_plain(key)} per network")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def save_figure(fig: Figure, path: str | os.PathLike[str], *, dpi: int = 120) -> Path:
    """Write ``fig`` as a PNG atomically (a reader never sees half a file); returns the path."""
    return atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=dpi))


def colours(labels: Iterable[str]) -> dict[str, str]:
    """A colour per series label, from the labels' sorted order: the same series gets the same
    colour in every figure, whatever order a results file lists them in."""
    present = sorted(set(labels))
    return {g: _PALETTE[i % len(_PALETTE)] for i, g in enumerate(present)}


def _label_matrix(
    ax: Axes, names: list[str], groups: Sequence[str] | None, fontsize: float = 8
) -> None:
    """Tick labels (coloured by group), and lines and a top axis marking group boundaries."""
    m = len(names)
    labels = [_plain(n) for n in names]
    ax.set_xticks(range(m), labels, rotation=45, ha="right", fontsize=fontsize)
    ax.set_yticks(range(m), labels, fontsize=fontsize)
    if groups is None:
        return
    groups = as_names(groups, "groups", m)
    order = list(dict.fromkeys(groups))
    colour = colours(order)
    for tick_set in (ax.get_xticklabels(), ax.get_yticklabels()):
        for tick, g in zip(tick_set, groups, strict=True):
            tick.set_color(colour[g])
    starts = [0] + [i for i in range(1, m) if groups[i] != groups[i - 1]]
    for s in starts[1:]:
        ax.axhline(s - 0.5, color="black", lw=1.5)
        ax.axvline(s - 0.5, color="black", lw=1.5)
    ends = [*starts[1:], m]
    top = ax.secondary_xaxis("top")
    top.xaxis.set_major_locator(
        FixedLocator([(s + e - 1) / 2 for s, e in zip(starts, ends, strict=True)])
    )
    top.set_xticklabels(
        [_plain(groups[s]) for s in starts], fontsize=fontsize + 1, fontweight="bold"
    )
    top.xaxis.set_minor_locator(NullLocator())
    top.tick_params(length=0)
    for label, s in zip(top.get_xticklabels(), starts, strict=True):
        label.set_color(colour[groups[s]])


def _registry_info(label: str) -> Any:
    from mechequiv import measures

    return measures.get(label) if label in measures.names() else None


def _colour_range(M: np.ndarray, declared: tuple[float, float] | None) -> tuple[float, float]:
    finite = M[np.isfinite(M)]
    lo = float(finite.min()) if finite.size else 0.0
    hi = float(finite.max()) if finite.size else 1.0
    if declared is not None:
        lo = declared[0] if np.isfinite(declared[0]) else lo
        hi = declared[1] if np.isfinite(declared[1]) else hi
    return (lo, hi) if hi > lo else (lo - 0.5, lo + 0.5)


def _plain(text: str) -> str:
    """``text`` shown literally: a ``$`` would otherwise start matplotlib's math mode."""
    return text.replace("$", r"\$")


def _ink(shade: float) -> str:
    """Text colour readable on a YlGnBu cell of relative darkness ``shade`` in [0, 1]."""
    return "white" if shade > 0.6 else "black"


def _step_ticks(k: int) -> list[int]:
    return sorted(set(np.linspace(0, k - 1, min(k, _MAX_TICKS)).round().astype(int).tolist()))


def _fmt_step(step: float) -> str:
    return f"{step:.0f}" if float(step).is_integer() or abs(step) >= 100 else f"{step:.3g}"


def circuit_graph(graph: Mapping[str, Any], title: str = "Circuit") -> Figure:
    """A circuit as a layered graph: the data of ``Circuit.graph()`` (plain dicts).

    Columns are layers (MLPs half a column after their layer's heads), one marker per candidate
    component, filled for circuit nodes (labelled with their score: the drop in faithfulness
    when removed) and hollow for the rest; edges between circuit nodes are drawn dashed when they
    are inferred (node-level discovery: every earlier node can write to every later one through
    the residual stream).
    """
    nodes = list(graph.get("nodes", []))
    if not nodes:
        raise ValueError("the circuit graph has no nodes")
    slots = sorted({float(n["layer"]) + (0.5 if n["kind"] == "mlp" else 0.0) for n in nodes})
    column = {x: i for i, x in enumerate(slots)}  # evenly spaced columns
    height: dict[int, int] = {}
    where: dict[str, tuple[int, int]] = {}
    for n in nodes:
        x = column[float(n["layer"]) + (0.5 if n["kind"] == "mlp" else 0.0)]
        where[n["id"]] = (x, height.get(x, 0))
        height[x] = height.get(x, 0) + 1
    fig = Figure(figsize=(1.5 + 1.3 * len(slots), 1.2 + 0.5 * max(height.values())))
    ax = fig.add_subplot()
    dashed = bool(graph.get("edges_inferred", False))
    for a, b in graph.get("edges", []):
        (x0, y0), (x1, y1) = where[a], where[b]
        ax.plot([x0, x1], [y0, y1], color="0.6", lw=0.8, ls="--" if dashed else "-", zorder=1)
    for n in nodes:
        x, y = where[n["id"]]
        inside = bool(n["in_circuit"])
        ax.scatter([x], [y], s=140, marker="s" if n["kind"] == "mlp" else "o", zorder=2,
                   facecolor="C0" if inside else "white", edgecolor="C0")  # fmt: skip
        label = _short_component(n["id"], n["kind"])
        if inside and n.get("score") is not None:
            label += f" {n['score']:.2f}"
        ax.text(x + 0.12, y, _plain(label), fontsize=7, va="center",
                color="black" if inside else "0.5")  # fmt: skip
    ax.set_xticks(range(len(slots)))
    ax.set_xticklabels([f"L{int(x)} {'MLP' if x % 1 else 'attn'}" for x in slots])
    ax.yaxis.set_major_locator(NullLocator())
    ax.set_xlim(-0.4, len(slots) - 0.2)
    ax.set_ylim(-0.7, max(height.values()) - 0.3)
    ax.invert_yaxis()
    ax.set_title(_plain(title))
    return fig


def _short_component(name: str, kind: str) -> str:
    """``blocks.0.attn.hook_z[3]`` -> ``H3``; an MLP -> ``MLP``; anything else unchanged."""
    if kind == "mlp":
        return "MLP" if "[" not in name else "N" + name.rsplit("[", 1)[1].rstrip("]")
    if kind == "head" and name.endswith("]"):
        return "H" + name.rsplit("[", 1)[1].rstrip("]")
    return name


def exact_equivalence_calibration(
    data: Sequence[Any],
    *,
    title: str | None = None,
    bins: int | None = None,
    min_per_class: int = 1,
) -> Figure:
    """Reliability diagram and ROC of scores against exact equivalence, one row per predictor.

    ``data``: :class:`~mechequiv.identifiability.calibration.CalibrationData` objects or their
    ``to_dict()`` (predictor, label, subset, scores, labels, bins). Left: equal-width score
    bins against the observed rate of the exact label in each bin, each bin's pair count
    written above it, the diagonal marking perfect calibration (meaningful for a score meant as
    a probability, such as Congruity). Right: the ROC curve with its AUC and the chance line;
    with fewer than ``min_per_class`` positive or negative pairs the curve is drawn but its
    title says the pairs are too few for an AUC instead of printing one.
    """
    from mechequiv.identifiability.calibration import CalibrationData

    items = [d if isinstance(d, CalibrationData) else CalibrationData.from_dict(d) for d in data]
    if not items:
        raise ValueError("data: expected at least one predictor's calibration data, found none")
    if bins is not None:
        items = [CalibrationData(d.predictor, d.label, d.subset, d.scores, d.labels, bins)
                 for d in items]  # fmt: skip
    fig = Figure(figsize=(8.0, 3.2 * len(items)))
    axes = fig.subplots(len(items), 2, squeeze=False)
    for (left, right), d in zip(axes, items, strict=True):
        rel = d.reliability()
        centres = [(b.lo + b.hi) / 2 for b in rel]
        width = (rel[0].hi - rel[0].lo) * 0.9
        rates = [b.observed_rate if b.observed_rate is not None else 0.0 for b in rel]
        left.bar(centres, rates, width=width, color="C0", alpha=0.7, edgecolor="C0")
        lo, hi = rel[0].lo, rel[-1].hi
        probability = (lo, hi) == (0.0, 1.0)  # a diagonal only means something for [0, 1] scores
        if probability:
            left.plot([0, 1], [0, 1], color="0.5", ls="--", lw=0.8)
        for x, b in zip(centres, rel, strict=True):
            if b.n:
                y = b.observed_rate or 0.0
                left.text(x, min(y + 0.03, 0.95), f"n={b.n}", ha="center", fontsize=6)
        left.set_xlim(lo, hi)
        left.set_ylim(0, 1.05)
        left.set_xlabel(_plain(f"{d.predictor} (binned)"))
        left.set_ylabel(_plain(f"observed rate: {d.label}"))
        left.set_title(
            _plain(f"Reliability, {d.subset}" + ("" if probability else " (score not in [0, 1])")),
            fontsize=9,
        )
        fpr, tpr = d.roc_curve()
        auc = d.auc
        right.plot(fpr, tpr, color="C1", lw=1.5)  # straight segments: tied scores
        right.plot([0, 1], [0, 1], color="0.5", ls="--", lw=0.8)
        n_pos = sum(d.labels)
        if np.isnan(auc):
            heading = f"ROC undefined (one class, {len(d.labels)} pairs)"
        elif min(n_pos, len(d.labels) - n_pos) < min_per_class:
            heading = f"ROC: {n_pos} positive of {len(d.labels)}, too few for an AUC"
        else:
            heading = f"ROC: AUC {auc:.2f} ({n_pos} positive of {len(d.labels)})"
        right.set_title(_plain(heading), fontsize=9)
        right.set_xlabel("false-positive rate")
        right.set_ylabel("true-positive rate")
        right.set_xlim(0, 1)
        right.set_ylim(0, 1.02)
    if title:
        fig.suptitle(_plain(title))
    fig.tight_layout()
    return fig
