"""Every representational measure on wide inputs (issue 15): n = 300 samples, 50,000 and
30,000 features (192 MB of float64 input).

Each measure runs in a fresh subprocess (benchmarks/_memory.py) that reports the peak RSS it
added, its CPU time and wall time, and its value or its refusal. The floor is the n x n Gram of
both inputs (X X^T and Y Y^T), the least any measure that looks at all features must compute;
before this round Procrustes was killed at 16 GB here and CCA/PWCCA formed 20 GB of moments
before refusing.

Usage: OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python benchmarks/bench_wide.py [--n 300]
       [--d1 50000] [--d2 30000]
Writes benchmarks/results/wide.json.
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import torch

from _memory import added_peak_rss
from _timing import print_table
from mechequiv import measures as M
from mechequiv._io import atomic_write_json

_SETUP = """
import sys, time, numpy as np, torch
from mechequiv import measures as M
name, n, d1, d2 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rng = np.random.default_rng(0)
X = rng.standard_normal((n, d1))
Y = np.concatenate([X[:, : d2 // 2] * 0.5, rng.standard_normal((n, d2 - d2 // 2))], axis=1)
"""
_MEASURE = """
w, c = time.perf_counter(), time.process_time()
if name == "floor":
    x, y = torch.from_numpy(X), torch.from_numpy(Y)
    x @ x.T, y @ y.T
    value = "n x n Grams"
else:
    try:
        value = repr(M.get(name)(X, Y))
    except ValueError as err:
        value = "refused: " + str(err)
print(time.process_time() - c, time.perf_counter() - w)
print(value)
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--d1", type=int, default=50_000)
    ap.add_argument("--d2", type=int, default=30_000)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "wide.json"))
    args = ap.parse_args()
    rows = []
    for name in ["floor", *M.names(functional=False)]:
        argv = [name, str(args.n), str(args.d1), str(args.d2)]
        added, out = added_peak_rss(_SETUP, _MEASURE, argv)
        times, value = out.split("\n", 1)
        cpu, wall = (float(t) for t in times.split())
        rows.append({"measure": name, "result": value[:70], "cpu_s": cpu, "wall_s": wall,
                     "added_peak_MB": round(added / 1e6)})  # fmt: skip
        print(json.dumps(rows[-1]), flush=True)
    floor = next(r for r in rows if r["measure"] == "floor")
    for r in rows:
        r["cpu/floor"] = round(r["cpu_s"] / max(floor["cpu_s"], 1e-9), 2)
        r["cpu_s"], r["wall_s"] = round(r["cpu_s"], 3), round(r["wall_s"], 3)
    print_table(rows, ["measure", "result", "cpu_s", "wall_s", "cpu/floor", "added_peak_MB"])
    atomic_write_json(args.out, {"rows": rows, "n": args.n, "d1": args.d1, "d2": args.d2,
                                 "input_MB": 8 * args.n * (args.d1 + args.d2) / 1e6,
                                 "torch": torch.__version__, "threads": torch.get_num_threads(),
                                 "cpu": platform.processor()})  # fmt: skip


if __name__ == "__main__":
    main()
