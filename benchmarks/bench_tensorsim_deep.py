"""Exact same-function forms beyond two bilinear layers: graded products vs the tree tensor.

The monomial coefficients of a net with three or more bilinear layers are built by multiplying
the units' polynomials degree by degree (mechequiv.tensorsim.graded, now the library's route);
the peer is the previous route, the dense tree tensor (``expand_tensor``, ``units * n^N``
entries) grouped by monomial, run here on the same models in the same process. Per case: the
fully symmetrised inner products of a random pair by both routes, their largest relative
difference, CPU and wall medians and the ratio; the CPU time of the Gaussian form (the same
coefficients in the Hermite basis). Then the reduction of
docs/tensorsim_complexity.md: ``perm(A) / n!`` and ``perm(A)`` for the product networks of an
n x n integer matrix, the library's values beside brute force (itertools), n = 4 and 8.

Usage: python benchmarks/bench_tensorsim_deep.py [--repeats 3]
Writes benchmarks/results/tensorsim_deep.json.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import math
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.tensorsim.conftest import random_mlp
from tests.tensorsim.test_complexity_reduction import integer_matrix, permanent, product_net

from mechequiv._io import atomic_write_json
from mechequiv.tensorsim import tensor_inner, to_tensor_net
from mechequiv.tensorsim.dense import dense_full_inner, dense_gaussian_inner, reduce_inputs
from mechequiv.tensorsim.expand import MAX_ENTRIES, MAX_LEGS, expand_tensor
from mechequiv.tensorsim.graded import graded_monomials, product_terms
from mechequiv.tensorsim.network import TensorNet


@functools.lru_cache(maxsize=8)
def tree_index(n: int, N: int) -> tuple[torch.Tensor, torch.Tensor]:
    """For every entry of the tree tensor (row-major) its monomial, and the Bombieri weights
    ``alpha! / N!`` (bookkeeping cached, as the previous route cached it)."""
    alpha = graded_monomials(n, N)
    legs = np.array(list(itertools.product(range(n), repeat=N)))
    counts = np.zeros((len(legs), n), dtype=np.int64)
    for k in range(N):
        counts[np.arange(len(legs)), legs[:, k]] += 1
    base = (N + 1) ** np.arange(n, dtype=np.int64)
    codes = alpha @ base
    order = np.argsort(codes)
    index = order[np.searchsorted(codes[order], counts @ base)]
    weights = [math.prod(math.factorial(int(k)) for k in x) / math.factorial(N) for x in alpha]
    return torch.as_tensor(index), torch.as_tensor(weights, dtype=torch.float64)


def tree_full_inner(a: TensorNet, b: TensorNet) -> np.ndarray:
    """The previous route: the dense tree tensor grouped by monomial, Bombieri weights."""
    index, weights = tree_index(a.d_in + 1, a.degree)

    def coefficients(net: TensorNet) -> torch.Tensor:
        T = expand_tensor(net, "none").reshape(net.d_out + 1, -1)[1:]
        return T.new_zeros((T.shape[0], len(weights))).index_add_(1, index, T)

    ca, cb = coefficients(a), coefficients(b)
    return (ca * cb * weights).sum(1).numpy()


def medians(fn, repeats: int) -> tuple[float, float]:
    cpu, wall = [], []
    for _ in range(repeats):
        c0, w0 = time.process_time(), time.perf_counter()
        fn()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return statistics.median(cpu), statistics.median(wall)


def bench_routes(repeats: int) -> list[dict]:
    rows = []
    for layers, d, hidden in [(3, 3, 4), (3, 4, 8), (3, 5, 8), (4, 1, 4), (3, 8, 16), (3, 10, 32)]:
        kw = dict(d_in=d, d_model=d, d_hidden=hidden, d_out=2, n_layers=layers, bias=True)
        a, b = reduce_inputs(*(to_tensor_net(random_mlp(s, **kw)) for s in (0, 1)))
        n = a.d_in + 1
        graded = dense_full_inner(a, b)[0]
        cpu, wall = medians(lambda a=a, b=b: dense_full_inner(a, b), repeats)
        gcpu, _ = medians(lambda a=a, b=b: dense_gaussian_inner(a, b), repeats)
        row = {
            "case": f"{layers} layers, stream {d}, hidden {hidden}", "padded_inputs": n,
            "degree": a.degree, "graded_products": product_terms(a) + product_terms(b),
            "tree_entries": 2 * (a.d_out + 1) * n**a.degree,
            "graded_cpu_s": round(cpu, 4), "graded_wall_s": round(wall, 4),
            "gaussian_hermite_cpu_s": round(gcpu, 4),
        }  # fmt: skip
        if (a.d_out + 1) * n**a.degree > MAX_ENTRIES or a.degree > MAX_LEGS:
            row["tree"] = "refused by the previous route's limits"
        else:
            tree = tree_full_inner(a, b)
            tcpu, twall = medians(lambda a=a, b=b: tree_full_inner(a, b), repeats)
            row |= {
                "tree_cpu_s": round(tcpu, 4), "tree_wall_s": round(twall, 4),
                "tree_over_graded_cpu": round(tcpu / cpu, 1),
                "max_rel_diff": float(np.abs(graded - tree).max() / np.abs(tree).max()),
            }  # fmt: skip
        rows.append(row)
        print(row, flush=True)
    return rows


def bench_reduction(repeats: int) -> list[dict]:
    rows = []
    for n in (4, 8):
        A = integer_matrix(n, (n, n))
        f, g = product_net(A), product_net(np.eye(n))
        perm = permanent(A)
        full = float(tensor_inner(f, g).ab[0])
        cpu, _ = medians(lambda f=f, g=g: tensor_inner(f, g), repeats)
        row = {
            "n": n, "bilinear_layers": int(math.log2(n)), "perm": perm,
            "full_times_n_factorial": full * math.factorial(n), "full_cpu_s": round(cpu, 4),
        }  # fmt: skip
        row["gaussian"] = float(tensor_inner(f, g, form="gaussian").ab[0])
        rows.append(row)
        print(row, flush=True)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "tensorsim_deep.json"
    )
    args = p.parse_args()
    result = {
        "routes": bench_routes(args.repeats),
        "reduction": bench_reduction(args.repeats),
        "threads": torch.get_num_threads(), "torch": torch.__version__,
        "python": platform.python_version(), "machine": platform.machine(),
    }  # fmt: skip
    atomic_write_json(args.out, result)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
