"""procrustes at d = 64 against scipy (issue 19 row 8), same run, CPU and wall time.

Peers, on the same float64 data:
- scipy.linalg.orthogonal_procrustes: centre, solve for the rotation, then the angle of the
  aligned data (how netrep-style code uses it);
- scipy.spatial.procrustes: its disparity d relates to our angle by cos^2(angle) = 1 - d
  (both centre and normalise to unit Frobenius norm).
Values are checked to agree (1e-12) before timing.

Usage: OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python benchmarks/bench_procrustes.py
       [--n 100 1000 5000 20000] [--d 64] [--repeats 15]
Writes benchmarks/results/procrustes.json.
"""

from __future__ import annotations

import argparse
import json
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, nargs="+", default=[100, 1000, 5000, 20_000])
    ap.add_argument("--d", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "procrustes.json"))
    args = ap.parse_args()
    rows = []
    for n in args.n:
        rng = np.random.default_rng(0)
        X = rng.standard_normal((n, args.d))
        Y = np.tanh(X) + 0.3 * rng.standard_normal((n, args.d))
        ours = M.procrustes(X, Y)
        if abs(ours - orthogonal_procrustes_angle(X, Y)) > 1e-12:
            raise AssertionError("orthogonal_procrustes angle differs")
        if abs(np.cos(ours) ** 2 - (1.0 - spatial_procrustes(X, Y)[2])) > 1e-12:
            raise AssertionError("scipy.spatial.procrustes disparity differs")
        t = interleaved_wall_cpu(
            {
                "ours": lambda: M.procrustes(X, Y),  # noqa: B023
                "orthogonal_procrustes": lambda: orthogonal_procrustes_angle(X, Y),  # noqa: B023
                "spatial.procrustes": lambda: spatial_procrustes(X, Y),  # noqa: B023
            },
            args.repeats,
        )
        row = {"n": n, "d": args.d, "value": ours}
        for name, v in t.items():
            row[f"{name} cpu_ms"] = round(1e3 * v["cpu_s"], 3)
            row[f"{name} wall_ms"] = round(1e3 * v["wall_s"], 3)
        for peer in ("orthogonal_procrustes", "spatial.procrustes"):
            row[f"ours/{peer} (cpu)"] = round(t["ours"]["cpu_s"] / t[peer]["cpu_s"], 3)
            row[f"ours/{peer} (wall)"] = round(t["ours"]["wall_s"] / t[peer]["wall_s"], 3)
        rows.append(row)
        print(json.dumps(row), flush=True)
    print_table(rows, list(rows[0]))
    atomic_write_json(args.out, {"rows": rows, **machine()})


if __name__ == "__main__":
    main()
