"""linear_cka against its floors (issue 19 rows 3-4): memory on float32 input, time at d >= 512.

Memory: a fresh subprocess per case builds float32 (or float64) X, Y of shape (n, d), resets
the kernel's peak-RSS counter (/proc/self/clear_refs; ru_maxrss where that is refused), runs the
measure and reports the peak RSS it added as a multiple of the input's bytes.
"previous" converts to float64 whole first, as the replaced implementation did.

Time (float64, one thread): three floors measured in the same run, interleaved, CPU and wall:
- gemm floor: torch X^T X, X^T Y, Y^T Y (three matrix products, same BLAS as torch);
- syrk floor: scipy.linalg.blas.dsyrk for X^T X and Y^T Y (half the flops) + torch X^T Y;
- ours: mechequiv.measures.linear_cka (centring, moments, the d x d finish).

Usage: OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python benchmarks/bench_linear_cka.py
       [--mem-n 100000] [--mem-d 1024] [--n 20000] [--d 512 1024] [--repeats 3]
Writes benchmarks/results/linear_cka.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from scipy.linalg.blas import dsyrk

from _memory import added_peak_rss
from _timing import interleaved_wall_cpu, machine, print_table
from mechequiv import measures as M
from mechequiv._io import atomic_write_json

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


def time_rows(n: int, d: int, repeats: int) -> dict:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, d))
    Y = np.tanh(X @ rng.standard_normal((d, d)) / np.sqrt(d)) + 0.5 * rng.standard_normal((n, d))
    x, y = torch.from_numpy(X), torch.from_numpy(Y)
    cases = {
        "gemm floor": lambda: (x.T @ x, x.T @ y, y.T @ y),
        "syrk floor": lambda: (dsyrk(1.0, X.T, trans=0), x.T @ y, dsyrk(1.0, Y.T, trans=0)),
        "ours": lambda: M.linear_cka(x, y),
    }
    t = interleaved_wall_cpu(cases, repeats)
    row = {"n": n, "d": d}
    for name in cases:
        row[f"{name} cpu_s"] = round(t[name]["cpu_s"], 4)
        row[f"{name} wall_s"] = round(t[name]["wall_s"], 4)
    for floor in ("gemm floor", "syrk floor"):
        row[f"ours/{floor} (cpu)"] = round(t["ours"]["cpu_s"] / t[floor]["cpu_s"], 3)
        row[f"ours/{floor} (wall)"] = round(t["ours"]["wall_s"] / t[floor]["wall_s"], 3)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mem-n", type=int, default=100_000)
    ap.add_argument("--mem-d", type=int, default=1024)
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--d", type=int, nargs="+", default=[512, 1024])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "linear_cka.json"))
    args = ap.parse_args()
    memory = [
        memory_row(args.mem_n, args.mem_d, dtype, how)
        for dtype, how in (("float32", "ours"), ("float32", "previous"), ("float64", "ours"))
    ]
    print_table(memory, list(memory[0]))
    timing = []
    for d in args.d:
        timing.append(time_rows(args.n, d, args.repeats))
        print(json.dumps(timing[-1]), flush=True)
    print_table(timing, list(timing[0]))
    atomic_write_json(args.out, {"memory": memory, "time": timing, **machine()})


if __name__ == "__main__":
    main()
