"""The exact same-function forms of two-layer bilinear models (the default "full" form and the
Gaussian form) against the brute-force polynomial coefficients, Gauss-Hermite cubature, the
previous route (sums over the second layer's units) and the layer-wise recursion, in one run.

* brute_force: tiny models, both routes and the Gaussian against
  :mod:`mechequiv.tensorsim.dense` (and cubature), values, largest differences, time ratios;
* routes: one model pair (the a-b inner product only) by the previous "units" route
  (~2 h^2 n^3 multiply-adds) and the "squares" route (~d_out r^2 n^3, r <= stream width + 1),
  where the units route fits in a few seconds;
* same_function: ``tensor_inner`` (ab, aa, bb and the skip-path parts) with the default form,
  the Gaussian form and the layer form, d_in = d_model, d_out 64, hidden width 256 / 1024 /
  4096, CPU and wall time medians; shapes still beyond the CPU limit are recorded with the
  refusal's estimate.

Usage: python benchmarks/bench_tensorsim_exact.py [--repeats 3] [--threads 1] [--device cuda]
Writes benchmarks/results/tensorsim_exact.json (tensorsim_exact_cuda.json with --device cuda:
d_model 128 / 256, hidden width 1024 / 4096, the issue's GPU target).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from _timing import machine, print_table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.tensorsim.reference import cubature

from mechequiv._io import atomic_write_json
from mechequiv.errors import MechequivError
from mechequiv.tensorsim import tensor_inner, to_tensor_net
from mechequiv.tensorsim.dense import dense_full_inner, dense_gaussian_inner, reduce_inputs
from mechequiv.tensorsim.fullsym import (
    TwoLayerNet,
    full_pair,
    squares_cost,
    two_layer_cost,
)
from mechequiv.tensorsim.gaussian import gaussian_pair
from mechequiv.zoo.models._bilinear import BilinearMLP


def model(seed: int, **kw) -> BilinearMLP:
    torch.manual_seed(seed)
    return BilinearMLP(**kw)


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def cpu_wall(fn, repeats: int) -> tuple[float, float, object]:
    """Median process CPU time and wall time of ``fn()`` over ``repeats`` calls after one
    warm-up call (the shared machine's wall times include waiting for a core), and its value."""
    value = fn()
    cpu, wall = [], []
    for _ in range(repeats):
        _sync()
        c0, w0 = time.process_time(), time.perf_counter()
        fn()
        _sync()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return statistics.median(cpu), statistics.median(wall), value


def bench_brute_force(repeats: int) -> list[dict]:
    rows = []
    for d, h, residual in [
        (3, 6, True),
        (4, 8, False),
        (6, 8, True),
        (8, 32, False),
        (10, 16, True),  # beyond d ~ 12 the dense Gaussian's moment matrix needs gigabytes
    ]:
        kw = dict(d_in=d, d_model=d, d_hidden=h, d_out=3, n_layers=2, residual=residual,
                  bias=True)  # fmt: skip
        a, b = (to_tensor_net(model(s, **kw).double()) for s in (0, 1))
        row = dict(case="brute_force", d=d, d_hidden=h, residual=residual)
        dense = dense_full_inner(*reduce_inputs(a, b))[0]
        row["dense_full_s"] = cpu_wall(
            lambda a=a, b=b: dense_full_inner(*reduce_inputs(a, b)), repeats
        )[0]
        for route in ("units", "squares"):
            cpu, _, got = cpu_wall(lambda r=route, a=a, b=b: full_pair(TwoLayerNet(a), TwoLayerNet(b), r),
                                   repeats)  # fmt: skip
            row[f"full_{route}_s"] = cpu
            row[f"full_{route}_max_rel_diff"] = float(
                np.abs(got - dense).max() / np.abs(dense).max()
            )
            row[f"dense_vs_{route}"] = round(row["dense_full_s"] / cpu, 2)
        gd = dense_gaussian_inner(*reduce_inputs(a, b))[0]
        row["dense_gaussian_s"] = cpu_wall(lambda a=a, b=b: dense_gaussian_inner(*reduce_inputs(a, b)),
                                           repeats)[0]  # fmt: skip
        # Gauss-Hermite with 5 nodes a coordinate (exact at degree 8) where 5^d nodes fit.
        cub = cubature(a, b, np.zeros(d), np.eye(d), points=5) if 5**d <= 200_000 else gd
        for route in ("units", "squares"):
            cpu, _, got = cpu_wall(lambda r=route, a=a, b=b: gaussian_pair(a, b, r), repeats)
            row[f"gaussian_{route}_s"] = cpu
            ref = max(np.abs(gd).max(), 1e-300)
            row[f"gaussian_{route}_max_rel_diff"] = float(
                max(np.abs(got - gd).max(), np.abs(got - cub).max()) / ref
            )
        assert max(v for k, v in row.items() if k.endswith("max_rel_diff")) < 1e-12
        rows.append(row)
        print(row, flush=True)
    return rows


def bench_routes(repeats: int) -> list[dict]:
    """The a-b pair by each route, on the zoo-like shapes of the previous benchmark (d_in 64,
    d_out 10) and on d_in = d_model, d_out 64."""
    rows = []
    grid = [(64, 16, 128, 10), (64, 32, 96, 10), (64, 32, 256, 10), (16, 16, 256, 64),
            (16, 16, 1024, 64), (32, 32, 256, 64)]  # fmt: skip
    for d_in, d_model, h, d_out in grid:
        kw = dict(d_in=d_in, d_model=d_model, d_hidden=h, d_out=d_out, n_layers=2)
        pa, pb = (TwoLayerNet(to_tensor_net(model(s, **kw))) for s in (0, 1))
        n = min(pa.Q.shape[1], pb.Q.shape[1])
        row = dict(case="routes", d_in=d_in, d_model=d_model, d_hidden=h, d_out=d_out,
                   input_coordinates=n, units_madds=two_layer_cost(pa.units, pb.units, n),
                   squares_madds=squares_cost(pa.ranks, pb.ranks, pa.width, n))  # fmt: skip
        values = {}
        for route in ("units", "squares"):
            if row[f"{route}_madds"] > 2e10:
                row[f"{route}_cpu_s"] = row[f"{route}_wall_s"] = None
                continue
            cpu, wall, values[route] = cpu_wall(
                lambda r=route, pa=pa, pb=pb: full_pair(pa, pb, r), repeats
            )
            row[f"{route}_cpu_s"], row[f"{route}_wall_s"] = round(cpu, 4), round(wall, 4)
        if len(values) == 2:
            diff = np.abs(values["units"] - values["squares"]).max()
            row["max_rel_diff"] = float(diff / np.abs(values["units"]).max())
            row["units_vs_squares_cpu"] = round(row["units_cpu_s"] / row["squares_cpu_s"], 1)
        rows.append(row)
        print(row, flush=True)
    return rows


CPU_GRID = [(16, 256, True, 64), (16, 1024, True, 64), (16, 4096, True, 64),
            (16, 1024, False, 64), (32, 256, True, 64), (32, 1024, True, 64),
            (32, 4096, True, 64), (32, 1024, False, 64), (128, 1024, True, 64)]  # fmt: skip
GPU_GRID = [(128, 1024, True, 64), (128, 4096, True, 64), (128, 4096, False, 128),
            (256, 1024, True, 64), (256, 4096, True, 64)]  # fmt: skip


def bench_same_function(repeats: int, device: str = "cpu") -> list[dict]:
    rows = []
    for d_model, h, residual, d_out in CPU_GRID if device == "cpu" else GPU_GRID:
        kw = dict(d_in=d_model, d_model=d_model, d_hidden=h, d_out=d_out, n_layers=2,
                  residual=residual)  # fmt: skip
        a, b = (to_tensor_net(model(s, **kw).to(device)) for s in (0, 1))
        row = dict(case="same_function", device=device, d_in=d_model, d_model=d_model,
                   d_hidden=h, d_out=d_out, residual=residual)  # fmt: skip
        for name, opts in (("layer", dict(symmetrize="layer")), ("full", {}),
                           ("gaussian", dict(form="gaussian"))):  # fmt: skip
            try:
                cpu, wall, r = cpu_wall(lambda o=opts, a=a, b=b: tensor_inner(a, b, **o),
                                        repeats if name != "gaussian" else 1)  # fmt: skip
            except MechequivError as e:  # beyond the CPU limit: the estimate
                row[f"{name}_refused"] = str(e).split(" here")[0].split("needs ")[-1]
                row[f"{name}_cpu_s"] = row[f"{name}_wall_s"] = row[f"{name}_similarity"] = None
                continue
            row[f"{name}_cpu_s"], row[f"{name}_wall_s"] = round(cpu, 4), round(wall, 4)
            row[f"{name}_similarity"] = round(r.similarity, 6)
            row[f"{name}_block_similarity"] = round(r.block_similarity, 6)
        for name in ("full", "gaussian"):
            cpu = row[f"{name}_cpu_s"]
            row[f"{name}_vs_layer_cpu"] = (
                None if cpu is None else round(cpu / row["layer_cpu_s"], 1)
            )
        rows.append(row)
        print_table([row], list(row))
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu",
                   help="'cuda': only the same-function section, d_model 128/256, width "
                   "1024/4096 (writes tensorsim_exact_cuda.json)")  # fmt: skip
    p.add_argument("--out", type=Path,
                   default=Path(__file__).parent / "results" / "tensorsim_exact.json")  # fmt: skip
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    sections = {}
    todo = [("brute_force", bench_brute_force), ("routes", bench_routes),
            ("same_function", bench_same_function)]  # fmt: skip
    if args.device != "cpu":
        todo = [("same_function", lambda r: bench_same_function(r, args.device))]
        if args.out.name == "tensorsim_exact.json":
            args.out = args.out.with_name(f"tensorsim_exact_{args.device}.json")
    for name, fn in todo:
        rows = fn(args.repeats)
        print_table(rows, list(rows[0]))
        sections[name] = rows
        device = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
        atomic_write_json(args.out, {"sections": sections, "machine": machine(), "device": device})


if __name__ == "__main__":
    main()
