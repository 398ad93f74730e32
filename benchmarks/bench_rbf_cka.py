"""rbf_cka against Kornblith et al.'s reference formulation (issue 19 row 5), same run.

Peer: the published RBF CKA of Kornblith et al. (2019), written here in numpy from the paper's
equations as their demo notebook computes it: squared distances from the n x n dot-product
matrix, sigma^2 = bandwidth^2 * numpy median of all n^2 squared distances, K = exp(-D2 /
(2 sigma^2)), both kernels double-centred, CKA = <Kc, Lc>_F / (||Kc||_F ||Lc||_F).
Ours must give the same value to 1e-12 (checked here) and take less time.

Usage: OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python benchmarks/bench_rbf_cka.py
       [--n 2000] [--d 128 1024] [--repeats 5]
Writes benchmarks/results/rbf_cka.json.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

from _timing import interleaved_wall_cpu, machine, print_table
from mechequiv import measures as M
from mechequiv._io import atomic_write_json


def kornblith_rbf_cka(X: np.ndarray, Y: np.ndarray, bandwidth: float = 1.0) -> float:
    def kernel(Z: np.ndarray) -> np.ndarray:
        G = Z @ Z.T
        norms = np.diag(G)
        D2 = norms[:, None] + norms[None, :] - 2.0 * G
        sigma2 = bandwidth**2 * np.median(D2)
        return np.exp(-D2 / (2.0 * sigma2))

    def double_centred(K: np.ndarray) -> np.ndarray:
        row = K.mean(0)
        row = row - row.mean() / 2.0
        return K - row[:, None] - row[None, :]

    Kc, Lc = double_centred(kernel(X)), double_centred(kernel(Y))
    return float(Kc.ravel() @ Lc.ravel() / (np.linalg.norm(Kc) * np.linalg.norm(Lc)))


def load(before: tuple[float, float, float]) -> dict[str, object]:
    """The machine's 1/5/15-minute load averages before and after the run, and its cores."""
    return {
        "loadavg_1_5_15_before": before,
        "loadavg_1_5_15_after": os.getloadavg(),
        "cores": os.cpu_count(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--d", type=int, nargs="+", default=[128, 1024])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "rbf_cka.json"))
    args = ap.parse_args()
    load_before = os.getloadavg()
    rows = []
    for d in args.d:
        rng = np.random.default_rng(0)
        X = rng.standard_normal((args.n, d))
        Y = np.tanh(X @ rng.standard_normal((d, 64)) / np.sqrt(d)) + 0.3 * rng.standard_normal(
            (args.n, 64)
        )
        ours, peer = M.rbf_cka(X, Y), kornblith_rbf_cka(X, Y)
        if abs(ours - peer) > 1e-12:
            raise AssertionError(f"values differ: ours {ours!r}, Kornblith {peer!r}")
        t = interleaved_wall_cpu(
            {"ours": lambda: M.rbf_cka(X, Y), "kornblith": lambda: kornblith_rbf_cka(X, Y)},  # noqa: B023
            args.repeats,
        )
        row = {"n": args.n, "d": d, "value": ours, "|ours - peer|": abs(ours - peer)}
        for name in ("ours", "kornblith"):
            row[f"{name} cpu_s"] = round(t[name]["cpu_s"], 4)
            row[f"{name} wall_s"] = round(t[name]["wall_s"], 4)
        row["ours/peer (cpu)"] = round(t["ours"]["cpu_s"] / t["kornblith"]["cpu_s"], 3)
        row["ours/peer (wall)"] = round(t["ours"]["wall_s"] / t["kornblith"]["wall_s"], 3)
        rows.append(row)
        print(json.dumps(row), flush=True)
    print_table(rows, list(rows[0]))
    atomic_write_json(args.out, {"rows": rows, **machine(), **load(load_before)})


if __name__ == "__main__":
    main()
