"""rsa memory and time (issue 19 row 6): condensed RDMs against the previous index arrays.

"previous" reproduces the replaced code path: both n x n RDMs alive at once (each built as
1 - u u^T), their upper triangles gathered with torch.triu_indices (two int64 index arrays of
n (n - 1) / 2 each) and compared by scipy.stats.spearmanr;
"ours" is mechequiv.measures._rsa. Both must agree exactly. Peak RSS added is measured in a
fresh subprocess each (benchmarks/_memory.py); time is interleaved, CPU and wall.

Usage: OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python benchmarks/bench_rsa.py [--n 2000 5000]
Writes benchmarks/results/rsa.json.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import torch
from scipy import stats

from _memory import added_peak_rss
from _timing import interleaved_wall_cpu, machine, print_table
from mechequiv import measures as M
from mechequiv._io import atomic_write_json


def previous_rdm(X: np.ndarray) -> torch.Tensor:
    """The correlation RDM as the replaced code built it (1 - u u^T: a second n x n)."""
    x = torch.from_numpy(X)
    x = x - x.mean(1, keepdim=True)
    u = x / x.norm(dim=1)[:, None]
    return 1.0 - u @ u.T


def previous_rsa(X: np.ndarray, Y: np.ndarray) -> float:
    a, b = previous_rdm(X), previous_rdm(Y)
    i, j = torch.triu_indices(a.shape[0], a.shape[0], offset=1)
    return float(stats.spearmanr(a[i, j].numpy(), b[i, j].numpy()).statistic)


_SETUP = """
import sys, numpy as np
from mechequiv import measures as M
sys.path.insert(0, {here!r})
from bench_rsa import previous_rsa
n, how = int(sys.argv[1]), sys.argv[2]
rng = np.random.default_rng(0)
X = rng.standard_normal((n, 64))
Y = np.tanh(X @ rng.standard_normal((64, 32))) + 0.3 * rng.standard_normal((n, 32))
"""
_MEASURE = """
print(repr(M.rsa(X, Y) if how == "ours" else previous_rsa(X, Y)))
"""


def load(before: tuple[float, float, float]) -> dict[str, object]:
    """The machine's 1/5/15-minute load averages before and after the run, and its cores."""
    return {
        "loadavg_1_5_15_before": before,
        "loadavg_1_5_15_after": os.getloadavg(),
        "cores": os.cpu_count(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, nargs="+", default=[2000, 5000])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "rsa.json"))
    args = ap.parse_args()
    load_before = os.getloadavg()
    setup = _SETUP.format(here=str(Path(__file__).parent))
    rows = []
    for n in args.n:
        mem = {how: added_peak_rss(setup, _MEASURE, [str(n), how]) for how in ("ours", "previous")}
        if float(mem["ours"][1]) != float(mem["previous"][1]):
            raise AssertionError(f"values differ: {mem}")
        rng = np.random.default_rng(0)
        X = rng.standard_normal((n, 64))
        Y = np.tanh(X @ rng.standard_normal((64, 32))) + 0.3 * rng.standard_normal((n, 32))
        t = interleaved_wall_cpu(
            {"ours": lambda: M.rsa(X, Y), "previous": lambda: previous_rsa(X, Y)},  # noqa: B023
            args.repeats,
        )
        row = {"n": n, "value": float(mem["ours"][1]), "8 n^2 MB": 8 * n * n / 1e6}
        for how in ("ours", "previous"):
            row[f"{how} added_peak_MB"] = round(mem[how][0] / 1e6, 1)
            row[f"{how} cpu_s"] = round(t[how]["cpu_s"], 3)
            row[f"{how} wall_s"] = round(t[how]["wall_s"], 3)
        row["memory ours/previous"] = round(mem["ours"][0] / mem["previous"][0], 3)
        row["time ours/previous (cpu)"] = round(t["ours"]["cpu_s"] / t["previous"]["cpu_s"], 3)
        rows.append(row)
        print(json.dumps(row), flush=True)
    print_table(rows, list(rows[0]))
    atomic_write_json(args.out, {"rows": rows, **machine(), **load(load_before)})


if __name__ == "__main__":
    main()
