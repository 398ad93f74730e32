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

Usage: python benchmarks/bench_measures.py [--n 1000 10000 100000] [--d 128 1024] [--repeats 3]
Prints one table with medians and ratios; writes benchmarks/results/measures.json.
"""

from __future__ import annotations

import argparse
import platform
from pathlib import Path

import numpy as np
import torch
from scipy.linalg import orthogonal_procrustes

from _timing import median_time, print_table
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, nargs="+", default=[1000, 10_000, 100_000])
    ap.add_argument("--d", type=int, nargs="+", default=[128, 1024])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--max-gram-gib", type=float, default=4.0)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "measures.json"))
    args = ap.parse_args()
    rows = []
    for n in args.n:
        for d in args.d:
            rng = np.random.default_rng(0)
            X = rng.normal(size=(n, d))
            Y = np.tanh(X @ rng.normal(size=(d, d)) / np.sqrt(d)) + 0.5 * rng.normal(size=(n, d))
            gram_gib = 3 * n * n * 8 / 2**30
            for name, ours, products, peers in BENCHES:
                if name == "cca" and n <= d + 1:
                    rows.append({"measure": name, "n": n, "d": d, "ours_s": "n/a: CCA needs n > d"})
                    continue
                t_floor = median_time(floor(products, X, Y), args.repeats)
                t_ours = median_time(lambda: ours(X, Y), args.repeats)  # noqa: B023
                row = {"measure": name, "n": n, "d": d, "floor_s": f"{t_floor:.4f}",
                       "ours_s": f"{t_ours:.4f}", "ours/floor": f"{t_ours / t_floor:.2f}"}  # fmt: skip
                peer_cells = []
                for peer, fn, needs_gram in peers:
                    if needs_gram and gram_gib > args.max_gram_gib:
                        peer_cells.append(f"{peer}: skipped ({gram_gib:.0f} GiB of n x n)")
                        continue
                    value = fn(X, Y)
                    if abs(value - ours(X, Y)) > 1e-6:
                        raise AssertionError(f"{peer} disagrees on {name}: {value} vs {ours(X, Y)}")
                    t_peer = median_time(lambda: fn(X, Y), args.repeats)  # noqa: B023
                    peer_cells.append(f"{peer}: {t_peer:.4f}s ({t_peer / t_ours:.1f}x ours)")
                row["peers (time, peer/ours)"] = "; ".join(peer_cells)
                rows.append(row)
                print(row, flush=True)
    print()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor()}")
    print_table(
        rows, ["measure", "n", "d", "floor_s", "ours_s", "ours/floor", "peers (time, peer/ours)"]
    )
    atomic_write_json(args.out, {"rows": rows, "torch": torch.__version__,
                                 "threads": torch.get_num_threads()})  # fmt: skip


if __name__ == "__main__":
    main()
