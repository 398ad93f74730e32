"""linear_cka against its floors (issue 19 rows 3-4): memory on float32 input, time at d >= 512.

Memory: a fresh subprocess per case builds float32 (or float64) X, Y of shape (n, d), resets
the kernel's peak-RSS counter (/proc/self/clear_refs; ru_maxrss where that is refused), runs the
measure and reports the peak RSS it added as a multiple of the input's bytes.
"previous" converts to float64 whole first, as the replaced implementation did.

Time (float64, one thread): three floors measured in the same run, interleaved, CPU and wall:
- gemm floor: torch X^T X, X^T Y, Y^T Y (three matrix products, same BLAS as torch);
- syrk floor: scipy.linalg.blas.dsyrk for X^T X and Y^T Y (half the flops) + torch X^T Y;
- syrk+openblas floor: the same with numpy's X^T Y (OpenBLAS, as the measure now uses): the
  strictest floor on a machine where that BLAS is the faster one;
- ours: mechequiv.measures.linear_cka (validation, moments, the d x d finish);
- before: the same with the moment accumulator of git revision ``--before`` (loaded from git,
  so the previous implementation runs in the same process, interleaved with the rest).
Each repeat runs every case once; a ratio is reported as the median over repeats of the
per-repeat ratio (load on a shared machine hits both sides of a repeat alike) and as the
ratio of the best times.

Usage: OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python benchmarks/bench_linear_cka.py
       [--mem-n 100000] [--mem-d 1024] [--n 20000] [--d 512 1024] [--repeats 3]
       [--before REV] [--no-memory]
Writes benchmarks/results/linear_cka.json.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from scipy.linalg.blas import dsyrk

from _memory import added_peak_rss
from _timing import machine, print_table
from mechequiv import measures as M
from mechequiv._io import atomic_write_json
from mechequiv.measures._validate import check_pair

# The commit before the zero-pivot accumulator (blocks centred on the head's mean).
DEFAULT_BEFORE = "a3865f50a2a4e715bdd33c846b222808f1031d11"

_SETUP = """
import sys, torch
from mechequiv import measures as M
n, d, dtype, how = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
g = torch.Generator().manual_seed(0)
X = torch.empty(n, d, dtype=getattr(torch, dtype))
Y = torch.empty(n, d, dtype=X.dtype)
X.normal_(generator=g)
Y.normal_(generator=g)
for i in range(0, n, 4096):  # Y depends on X, filled in blocks: no input-sized temporary
    Y[i : i + 4096, : d // 2].add_(X[i : i + 4096, : d // 2].tanh())
"""
_MEASURE = """
value = M.linear_cka(X.double(), Y.double()) if how == "previous" else M.linear_cka(X, Y)
print(X.numel() * X.element_size() + Y.numel() * Y.element_size(), repr(value))
"""


def memory_row(n: int, d: int, dtype: str, how: str) -> dict:
    added, out = added_peak_rss(_SETUP, _MEASURE, [str(n), str(d), dtype, how])
    inputs, value = int(out.split()[0]), float(out.split()[1])
    return {"input": f"{dtype} {n}x{d} (X and Y)", "route": how, "input_MB": inputs / 1e6,
            "added_peak_RSS_MB": added / 1e6, "added/input": added / inputs, "value": value}  # fmt: skip


def previous_moments(rev: str) -> types.ModuleType | None:
    """mechequiv.measures._moments as of git revision ``rev`` (None where git cannot show it)."""
    root = Path(__file__).resolve().parent.parent
    shown = subprocess.run(
        ["git", "-C", str(root), "show", f"{rev}:src/mechequiv/measures/_moments.py"],
        capture_output=True,
        text=True,
    )
    if shown.returncode:
        return None
    module = types.ModuleType("_moments_before")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(shown.stdout, f"{rev[:8]}:_moments.py", "exec"), module.__dict__)
    return module


def interleaved_runs(
    cases: dict[str, Callable[[], object]], repeats: int
) -> dict[str, dict[str, list[float]]]:
    """Per-case lists of wall and process-CPU seconds; each repeat runs every case once, after
    one warm-up round."""
    runs = {name: {"wall_s": [], "cpu_s": []} for name in cases}
    for r in range(repeats + 1):
        for name, fn in cases.items():
            gc.collect()
            w0, c0 = time.perf_counter(), time.process_time()
            fn()
            wall, cpu = time.perf_counter() - w0, time.process_time() - c0
            if r:
                runs[name]["wall_s"].append(wall)
                runs[name]["cpu_s"].append(cpu)
    return runs


def time_rows(n: int, d: int, repeats: int, before: types.ModuleType | None) -> dict:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, d))
    Y = np.tanh(X @ rng.standard_normal((d, d)) / np.sqrt(d)) + 0.5 * rng.standard_normal((n, d))
    x, y = torch.from_numpy(X), torch.from_numpy(Y)
    cases = {
        "gemm floor": lambda: (x.T @ x, x.T @ y, y.T @ y),
        "syrk floor": lambda: (dsyrk(1.0, X.T, trans=0), x.T @ y, dsyrk(1.0, Y.T, trans=0)),
        # the same with numpy's BLAS for X^T Y (OpenBLAS; faster than torch's MKL on AMD)
        "syrk+openblas floor": lambda: (
            dsyrk(1.0, X.T, trans=0),
            X.T @ Y,
            dsyrk(1.0, Y.T, trans=0),
        ),
        "ours": lambda: M.linear_cka(x, y),
    }
    if before is not None:  # linear_cka's feature route (d < 2048), old accumulator

        def previous() -> float:
            xv, yv = check_pair(x, y, min_samples=2, rescale=True, keep_float=True)
            # the finish as it was then (full centred matrices), since the old accumulator
            # predates CrossMoments.centred_frobenius
            cxx, cxy, cyy = before.moments_of(xv, yv).centred()
            hxy = float((cxy * cxy).sum())
            return hxy / (float((cxx * cxx).sum()) * float((cyy * cyy).sum())) ** 0.5

        cases["before"] = previous
    values = {name: float(cases[name]()) for name in ("ours", "before") if name in cases}
    runs = interleaved_runs(cases, repeats)
    row: dict = {"n": n, "d": d, "repeats": repeats, **{f"{k} value": v for k, v in values.items()}}
    for name in cases:
        for clock in ("cpu_s", "wall_s"):
            row[f"{name} {clock}"] = round(statistics.median(runs[name][clock]), 4)
    for top in [c for c in ("ours", "before") if c in cases]:
        for floor in ("gemm floor", "syrk floor", "syrk+openblas floor"):
            for clock, tag in (("cpu_s", "cpu"), ("wall_s", "wall")):
                a, b = runs[top][clock], runs[floor][clock]
                per_repeat = statistics.median(p / q for p, q in zip(a, b, strict=True))
                row[f"{top}/{floor} ({tag})"] = round(per_repeat, 3)
                row[f"{top}/{floor} ({tag}, best)"] = round(min(a) / min(b), 3)
    if "before" in cases:
        a, b = runs["ours"]["cpu_s"], runs["before"]["cpu_s"]
        row["ours/before (cpu)"] = round(
            statistics.median(p / q for p, q in zip(a, b, strict=True)), 3
        )
    return row


def load(before: tuple[float, float, float]) -> dict[str, object]:
    """The machine's 1/5/15-minute load averages before and after the run, and its cores."""
    return {
        "loadavg_1_5_15_before": before,
        "loadavg_1_5_15_after": os.getloadavg(),
        "cores": os.cpu_count(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mem-n", type=int, default=100_000)
    ap.add_argument("--mem-d", type=int, default=1024)
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--d", type=int, nargs="+", default=[512, 1024])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--before", default=DEFAULT_BEFORE, help="git revision to compare against")
    ap.add_argument("--no-memory", action="store_true", help="skip the memory rows")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "linear_cka.json"))
    args = ap.parse_args()
    load_before = os.getloadavg()
    memory = []
    if not args.no_memory:
        memory = [
            memory_row(args.mem_n, args.mem_d, dtype, how)
            for dtype, how in (("float32", "ours"), ("float32", "previous"), ("float64", "ours"))
        ]
        print_table(memory, list(memory[0]))
    before = previous_moments(args.before)
    if before is None:
        print(f"git revision {args.before} not available: no 'before' column", flush=True)
    timing = []
    for d in args.d:
        timing.append(time_rows(args.n, d, args.repeats, before))
        print(json.dumps(timing[-1]), flush=True)
    print_table(timing, list(timing[0]))
    record = {"memory": memory, "time": timing, "before": args.before if before else None}
    atomic_write_json(args.out, {**record, **machine(), **load(load_before)})


if __name__ == "__main__":
    main()
