"""Linear CKA, debiased CKA, Procrustes and CCA: mechequiv against the peers a user would pick.

Peers, run in the same process on the same float64 data:
- rsatoolbox: linear CKA as ``compare(method="cosine_cov")`` on squared-Euclidean RDMs
  (identical to linear CKA of the raw data);
- pytorch-cka: ``cka_from_features`` (n x n Grams, unbiased HSIC = debiased CKA);
- "gram": a plain n x n Gram implementation with double centring, as netrep's LinearCKA and
  platonic-rep compute it;
- netrep-style Procrustes: scipy ``orthogonal_procrustes`` then the angle of the aligned data;
- Kornblith-demo CCA: QR of each centred matrix, then the SVD of Qx^T Qy.
The floor is the time of the float64 matrix products the measure needs (torch, same BLAS):
X^T X, X^T Y, Y^T Y for CKA and CCA, X^T Y for Procrustes. A peer is skipped where its n x n
matrices would exceed ``--max-gram-gib``.

Timing: for each measure and size, the floor, ours and every peer run once per round, in turn,
for ``--repeats`` rounds (interleaved, so load from other processes hits all alike); the medians
of process CPU time and of wall time are reported, with CPU-time ratios (what a shared, loaded
machine inflates least). The value check before timing is each case's warm-up call. The load
average is recorded before and after.

The peers are the ``bench`` extra (``make bench-setup``); run with one BLAS thread:
OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python benchmarks/bench_measures.py
    [--n 1000 10000 100000] [--d 128 1024] [--repeats 3]
Prints one table with medians and ratios; writes benchmarks/results/measures.json.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from scipy.linalg import orthogonal_procrustes

from _timing import machine, print_table
from mechequiv import measures as M
from mechequiv._io import atomic_write_json


def gram_linear_cka(X: np.ndarray, Y: np.ndarray) -> float:
    K, L = X @ X.T, Y @ Y.T

    def centre(G):
        G = G - G.mean(0, keepdims=True)
        return G - G.mean(1, keepdims=True)

    Kc, Lc = centre(K), centre(L)
    return float((Kc * Lc).sum() / np.sqrt((Kc * Kc).sum() * (Lc * Lc).sum()))


def rsatoolbox_linear_cka(X: np.ndarray, Y: np.ndarray) -> float:
    import rsatoolbox

    rdms = [rsatoolbox.rdm.calc_rdm(rsatoolbox.data.Dataset(Z), method="euclidean") for Z in (X, Y)]
    return float(rsatoolbox.rdm.compare(rdms[0], rdms[1], method="cosine_cov")[0, 0])


def pytorch_cka_debiased(X: np.ndarray, Y: np.ndarray) -> float:
    from cka import cka_from_features

    return float(cka_from_features(torch.from_numpy(X), torch.from_numpy(Y)))


def scipy_procrustes(X: np.ndarray, Y: np.ndarray) -> float:
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    Q, _ = orthogonal_procrustes(Xc, Yc)
    return float(np.arccos(np.sum((Xc @ Q) * Yc) / (np.linalg.norm(Xc) * np.linalg.norm(Yc))))


def qr_cca(X: np.ndarray, Y: np.ndarray) -> float:
    qx, _ = np.linalg.qr(X - X.mean(0))
    qy, _ = np.linalg.qr(Y - Y.mean(0))
    return float(np.linalg.svd(qx.T @ qy, compute_uv=False).mean())


def floor(products: str, X: np.ndarray, Y: np.ndarray):
    x, y = torch.from_numpy(X), torch.from_numpy(Y)
    if products == "cross":
        return lambda: x.T @ y
    return lambda: (x.T @ x, x.T @ y, y.T @ y)


BENCHES = [
    # measure, ours, floor products, [(peer name, fn, needs n x n)]
    ("linear_cka", M.linear_cka, "all", [("rsatoolbox", rsatoolbox_linear_cka, True),
                                        ("gram (netrep/platonic)", gram_linear_cka, True)]),
    ("debiased_cka", M.debiased_cka, "all", [("pytorch-cka", pytorch_cka_debiased, True)]),
    ("procrustes", M.procrustes, "cross", [("scipy orthogonal_procrustes", scipy_procrustes, False)]),
    ("cca", M.cca, "all", [("numpy QR (Kornblith demo)", qr_cca, False)]),
]  # fmt: skip


def interleaved(
    cases: dict[str, Callable[[], object]], repeats: int
) -> dict[str, dict[str, float]]:
    """Median process-CPU and wall seconds per case over ``repeats`` interleaved rounds (no
    warm-up round: each case was called once for the value check; a slow peer at n = 1e5
    would otherwise cost a minute more)."""
    cpu: dict[str, list[float]] = {name: [] for name in cases}
    wall: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeats):
        for name, fn in cases.items():
            gc.collect()
            w0, c0 = time.perf_counter(), time.process_time()
            fn()
            wall[name].append(time.perf_counter() - w0)
            cpu[name].append(time.process_time() - c0)
    return {
        n: {"cpu": statistics.median(cpu[n]), "wall": statistics.median(wall[n])} for n in cases
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, nargs="+", default=[1000, 10_000, 100_000])
    ap.add_argument("--d", type=int, nargs="+", default=[128, 1024])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--max-gram-gib", type=float, default=4.0)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "measures.json"))
    args = ap.parse_args()
    load_before = os.getloadavg()
    rows = []
    for n in args.n:
        for d in args.d:
            rng = np.random.default_rng(0)
            X = rng.normal(size=(n, d))
            Y = np.tanh(X @ rng.normal(size=(d, d)) / np.sqrt(d)) + 0.5 * rng.normal(size=(n, d))
            gram_gib = 3 * n * n * 8 / 2**30
            for name, ours, products, peers in BENCHES:
                if name == "cca" and n <= d + 1:
                    rows.append({"measure": name, "n": n, "d": d, "ours": "n/a: CCA needs n > d"})
                    continue
                value = ours(X, Y)
                fl = floor(products, X, Y)
                fl()
                cases: dict[str, Callable[[], object]] = {"floor": fl, "ours": lambda: ours(X, Y)}  # noqa: B023
                skipped = []
                for peer, fn, needs_gram in peers:
                    if needs_gram and gram_gib > args.max_gram_gib:
                        skipped.append(f"{peer}: skipped ({gram_gib:.0f} GiB of n x n)")
                        continue
                    if abs(fn(X, Y) - value) > 1e-6:
                        raise AssertionError(f"{peer} disagrees on {name}: {fn(X, Y)} vs {value}")
                    cases[peer] = lambda fn=fn: fn(X, Y)  # noqa: B023
                t = interleaved(cases, args.repeats)
                ours_t = t["ours"]
                row: dict[str, object] = {
                    "measure": name, "n": n, "d": d, "value": value,
                    "floor cpu_s": round(t["floor"]["cpu"], 4), "floor wall_s": round(t["floor"]["wall"], 4),
                    "ours cpu_s": round(ours_t["cpu"], 4), "ours wall_s": round(ours_t["wall"], 4),
                    "ours/floor (cpu)": round(ours_t["cpu"] / t["floor"]["cpu"], 2),
                    "ours/floor (wall)": round(ours_t["wall"] / t["floor"]["wall"], 2),
                }  # fmt: skip
                cells = [
                    f"{peer}: {v['cpu']:.4f}s cpu ({v['cpu'] / ours_t['cpu']:.1f}x ours), "
                    f"{v['wall']:.4f}s wall ({v['wall'] / ours_t['wall']:.1f}x ours)"
                    for peer, v in t.items()
                    if peer not in ("floor", "ours")
                ]
                row["peers (time, peer/ours)"] = "; ".join(cells + skipped)
                rows.append(row)
                print(row, flush=True)
    print()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print_table(
        rows,
        ["measure", "n", "d", "floor cpu_s", "ours cpu_s", "ours/floor (cpu)",
         "peers (time, peer/ours)"],
    )  # fmt: skip
    load = {"loadavg_1_5_15_before": load_before, "loadavg_1_5_15_after": os.getloadavg()}
    atomic_write_json(args.out, {"rows": rows, **machine(), **load, "cores": os.cpu_count()})


if __name__ == "__main__":
    main()
