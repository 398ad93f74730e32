"""procrustes at d = 64 against scipy (issue 19 row 8), same run, CPU and wall time.

Peers, on the same float64 data:
- scipy.linalg.orthogonal_procrustes: centre, solve for the rotation, then the angle of the
  aligned data (how netrep-style code uses it);
- scipy.spatial.procrustes: its disparity d relates to our angle by cos^2(angle) = 1 - d
  (both centre and normalise to unit Frobenius norm).
Values are checked to agree (1e-12) before timing.

Two timings, interleaved round by round (every case once per round, so load from other processes
hits all alike), each with process CPU time beside wall time:
- "cold": one call right after ``gc.collect()``, whose walk over every Python object leaves the
  caches cold: what a single call in a larger program pays;
- "warm": the mean of ``--loop`` back-to-back calls (after one ``gc.collect()``), as when many
  pairs are compared in a loop; it matters at small n, where a call takes well under 1 ms.
The load average of the machine is recorded before and after.

Usage: OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python benchmarks/bench_procrustes.py
       [--n 100 1000 5000 20000] [--d 64 256] [--repeats 31] [--loop 20]
Writes benchmarks/results/procrustes.json.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy.linalg import orthogonal_procrustes
from scipy.spatial import procrustes as spatial_procrustes

from _timing import interleaved_wall_cpu, machine, print_table
from mechequiv import measures as M
from mechequiv._io import atomic_write_json


def orthogonal_procrustes_angle(X: np.ndarray, Y: np.ndarray) -> float:
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    Q, _ = orthogonal_procrustes(Xc, Yc)
    return float(np.arccos(np.sum((Xc @ Q) * Yc) / (np.linalg.norm(Xc) * np.linalg.norm(Yc))))


def looped(fn: Callable[[], object], k: int) -> Callable[[], None]:
    def run() -> None:
        for _ in range(k):
            fn()

    return run


def check_values(X: np.ndarray, Y: np.ndarray) -> float:
    ours = M.procrustes(X, Y)
    if abs(ours - orthogonal_procrustes_angle(X, Y)) > 1e-12:
        raise AssertionError("orthogonal_procrustes angle differs")
    if abs(np.cos(ours) ** 2 - (1.0 - spatial_procrustes(X, Y)[2])) > 1e-12:
        raise AssertionError("scipy.spatial.procrustes disparity differs")
    return ours


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, nargs="+", default=[100, 1000, 5000, 20_000])
    ap.add_argument("--d", type=int, nargs="+", default=[64, 256])
    ap.add_argument("--repeats", type=int, default=31)
    ap.add_argument("--loop", type=int, default=20, help="calls per round in the warm timing")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "procrustes.json"))
    args = ap.parse_args()
    load_before = os.getloadavg()
    rows = []
    for d in args.d:
        for n in args.n:
            rng = np.random.default_rng(0)
            X = rng.standard_normal((n, d))
            Y = np.tanh(X) + 0.3 * rng.standard_normal((n, d))
            cases = {
                "ours": lambda: M.procrustes(X, Y),  # noqa: B023
                "orthogonal_procrustes": lambda: orthogonal_procrustes_angle(X, Y),  # noqa: B023
                "spatial.procrustes": lambda: spatial_procrustes(X, Y),  # noqa: B023
            }
            row: dict[str, float | int] = {"n": n, "d": d, "value": check_values(X, Y)}
            # the warm loop only where one call is short enough for call overhead to matter
            k = args.loop if n * d <= 1 << 17 else 1
            timings = {"cold": interleaved_wall_cpu(cases, args.repeats)}
            if k > 1:
                warm = {name: looped(fn, k) for name, fn in cases.items()}
                timings["warm"] = {
                    name: {key: v / k for key, v in t.items()}
                    for name, t in interleaved_wall_cpu(warm, args.repeats).items()
                }
            for mode, t in timings.items():
                for name, v in t.items():
                    row[f"{mode} {name} cpu_ms"] = round(1e3 * v["cpu_s"], 3)
                    row[f"{mode} {name} wall_ms"] = round(1e3 * v["wall_s"], 3)
                for peer in ("orthogonal_procrustes", "spatial.procrustes"):
                    for clock in ("cpu", "wall"):
                        ratio = t["ours"][f"{clock}_s"] / t[peer][f"{clock}_s"]
                        row[f"{mode} ours/{peer} ({clock})"] = round(ratio, 3)
            rows.append(row)
            print(json.dumps(row), flush=True)
    columns = ["n", "d"] + [c for c in rows[0] if "ours/" in c]
    print_table(rows, columns)
    load = {"loadavg_1_5_15_before": load_before, "loadavg_1_5_15_after": os.getloadavg()}
    atomic_write_json(args.out, {"rows": rows, **machine(), **load, "cores": os.cpu_count()})


if __name__ == "__main__":
    main()
