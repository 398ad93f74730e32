"""Shared timing helpers for the benchmark scripts: medians over repeats, ratios, a table."""

from __future__ import annotations

import gc
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch


def median_time(fn: Callable[[], object], repeats: int = 3, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` in seconds over ``repeats`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def interleaved_medians(cases: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median wall time of each case over ``repeats`` rounds after one warm-up round.

    Each round runs every case once, so load from other processes on a shared machine hits
    all cases alike instead of whichever case happened to run during it.
    """
    times: dict[str, list[float]] = {name: [] for name in cases}
    for r in range(repeats + 1):
        for name, fn in cases.items():
            gc.collect()
            t0 = time.perf_counter()
            fn()
            if r:
                times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) for name, t in times.items()}


def print_table(rows: list[dict], columns: list[str]) -> None:
    """A plain fixed-width table (markdown-compatible) on stdout."""
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns}
    print("| " + " | ".join(c.ljust(widths[c]) for c in columns) + " |")
    print("|" + "|".join("-" * (widths[c] + 2) for c in columns) + "|")
    for r in rows:
        print("| " + " | ".join(str(r.get(c, "")).ljust(widths[c]) for c in columns) + " |")


def interleaved_wall_cpu(
    cases: dict[str, Callable[[], object]], repeats: int
) -> dict[str, dict[str, float]]:
    """Median wall and process-CPU seconds of each case, interleaved as
    :func:`interleaved_medians` (CPU time is what a loaded, shared machine does not inflate)."""
    wall: dict[str, list[float]] = {name: [] for name in cases}
    cpu: dict[str, list[float]] = {name: [] for name in cases}
    for r in range(repeats + 1):
        for name, fn in cases.items():
            gc.collect()
            w0, c0 = time.perf_counter(), time.process_time()
            fn()
            if r:
                wall[name].append(time.perf_counter() - w0)
                cpu[name].append(time.process_time() - c0)
    return {
        name: {"wall_s": statistics.median(wall[name]), "cpu_s": statistics.median(cpu[name])}
        for name in cases
    }


def machine() -> dict[str, Any]:
    """What a results file records beside its rows: library versions, threads, processor."""
    return {
        "torch": torch.__version__,
        "numpy": np.__version__,
        "threads": torch.get_num_threads(),
        "cpu": platform.processor(),
    }
