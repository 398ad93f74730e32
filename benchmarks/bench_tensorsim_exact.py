"""The exact same-function forms of two-layer bilinear models (the default "full" form and the
Gaussian form) against the brute-force polynomial coefficients, Gauss-Hermite cubature, the
previous routes and the layer-wise recursion, in one run.

* brute_force: tiny models, every route (units, squares, tensor) and the Gaussian against
  :mod:`mechequiv.tensorsim.dense` (and cubature), values, largest differences, time ratios;
* routes: one model pair (the a-b inner product only, fresh nets: nothing kept) by each route
  where its estimate fits: "units" (~2 h^2 n^3 multiply-adds), "squares" (the previous
  default, ~d_out r^2 n^3, r <= stream width + 1) and "tensor" (each model's packed symmetric
  quartic, ~d_out r n^4 / 8 per model, then ~d_out n^4 / 24 per pair); the time estimate that
  picks the route and refuses beside the measured time;
* same_function: ``tensor_inner`` on the modules (read afresh each call, so nothing is kept
  between calls; ab, aa, bb and the skip-path parts) with the default form, the Gaussian form
  and the layer form, d_in = d_model, d_out 64, hidden width 256 / 1024 / 4096, CPU and wall
  time medians, each beside the previous route measured in the same run (full and Gaussian:
  the same ten pairs by the "squares" route; layer: the recursion summed over hidden units);
  shapes beyond the limit are recorded with the refusal's estimate.

Usage: python benchmarks/bench_tensorsim_exact.py [--repeats 3] [--threads 1] [--device cuda]
Writes benchmarks/results/tensorsim_exact.json (tensorsim_exact_cuda.json with --device cuda:
the same-function section on d_model 32 / 64 / 128 at hidden width 1024 / 4096, and a line
saying whether the width-4096 models take under a second, the issue's GPU target).
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
from mechequiv.tensorsim import gram, tensor_inner, to_tensor_net
from mechequiv.tensorsim.dense import dense_full_inner, dense_gaussian_inner, reduce_inputs
from mechequiv.tensorsim.fullsym import (
    ROUTES,
    TwoLayerNet,
    estimated_seconds,
    full_pair,
    route_costs,
)
from mechequiv.tensorsim.gaussian import gaussian_pair, gaussian_two_layer
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
        (10, 16, True),  # brute force (coefficients) kept to small inputs: it is the reference
    ]:
        kw = dict(d_in=d, d_model=d, d_hidden=h, d_out=3, n_layers=2, residual=residual,
                  bias=True)  # fmt: skip
        a, b = (to_tensor_net(model(s, **kw).double()) for s in (0, 1))
        row = dict(case="brute_force", d=d, d_hidden=h, residual=residual)
        dense = dense_full_inner(*reduce_inputs(a, b))[0]
        row["dense_full_s"] = cpu_wall(
            lambda a=a, b=b: dense_full_inner(*reduce_inputs(a, b)), repeats
        )[0]
        for route in ROUTES:
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
        for route in ROUTES:
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
    """The a-b pair by each route (fresh nets each call), on the zoo-like shapes of the earlier
    benchmark (d_in 64, d_out 10) and on d_in = d_model, d_out 64; the estimate beside."""
    rows = []
    grid = [(64, 16, 128, 10), (64, 32, 256, 10), (16, 16, 1024, 64), (32, 32, 256, 64),
            (32, 32, 1024, 64), (48, 48, 1024, 64), (64, 64, 1024, 64)]  # fmt: skip
    for d_in, d_model, h, d_out in grid:
        kw = dict(d_in=d_in, d_model=d_model, d_hidden=h, d_out=d_out, n_layers=2)
        a, b = (to_tensor_net(model(s, **kw)) for s in (0, 1))
        pa, pb = TwoLayerNet(a), TwoLayerNet(b)
        n = min(pa.Q.shape[1], pb.Q.shape[1])
        costs = route_costs(pa, pb, n)
        row = dict(case="routes", d_in=d_in, d_model=d_model, d_hidden=h, d_out=d_out,
                   input_coordinates=n, chosen=min(ROUTES, key=costs.__getitem__))  # fmt: skip
        values = {}
        for route in ROUTES:
            est = estimated_seconds(costs[route], pa.Q.device)
            row[f"{route}_madds"] = float(f"{costs[route]:.3g}")
            row[f"{route}_estimate_s"] = round(est, 4)
            if est > 15:
                row[f"{route}_cpu_s"] = row[f"{route}_wall_s"] = None
                continue
            cpu, wall, values[route] = cpu_wall(
                lambda r=route, a=a, b=b: full_pair(TwoLayerNet(a), TwoLayerNet(b), r),
                repeats if est < 3 else 1,
            )
            row[f"{route}_cpu_s"], row[f"{route}_wall_s"] = round(cpu, 4), round(wall, 4)
            row[f"{route}_estimate_over_cpu"] = round(est / cpu, 2)
        ref = values.get("squares", values.get("units"))
        if ref is not None:
            row["max_rel_diff"] = float(
                max(np.abs(v - ref).max() for v in values.values()) / np.abs(ref).max()
            )
        if row["squares_cpu_s"] and row["tensor_cpu_s"]:
            row["squares_over_tensor_cpu"] = round(row["squares_cpu_s"] / row["tensor_cpu_s"], 1)
        rows.append(row)
        print(row, flush=True)
    return rows


CPU_GRID = [(16, 1024, True, 64), (16, 4096, True, 64), (32, 256, True, 64),
            (32, 1024, True, 64), (32, 4096, True, 64), (32, 1024, False, 64),
            (40, 1024, True, 64), (48, 1024, True, 64), (64, 1024, True, 64),
            (128, 1024, True, 64)]  # fmt: skip
GPU_GRID = [(32, 4096, True, 64), (64, 4096, True, 64), (128, 1024, True, 64),
            (128, 4096, True, 64), (128, 4096, False, 128)]  # fmt: skip


def previous_pairs(ma: BilinearMLP, mb: BilinearMLP, form: str) -> np.ndarray:
    """The ten pairs ``tensor_inner`` takes (whole nets and skip paths), by the previous
    default route ("squares"), each net prepared once as the engine does."""
    a, b = to_tensor_net(ma), to_tensor_net(mb)
    p = {k: TwoLayerNet(n) for k, n in
         (("a", a), ("b", b), ("sa", a.skip_net()), ("sb", b.skip_net()))}  # fmt: skip
    pair = full_pair if form == "full" else gaussian_two_layer
    todo = [("a", "a"), ("a", "sa"), ("sa", "sa"), ("b", "b"), ("b", "sb"), ("sb", "sb"),
            ("a", "b"), ("a", "sb"), ("b", "sa"), ("sa", "sb")]  # fmt: skip
    return np.stack([pair(p[x], p[y], "squares") for x, y in todo])


def units_layer_form(ma: BilinearMLP, mb: BilinearMLP) -> object:
    """The layer form by the previous grouping (sums over both layers' hidden units)."""
    chooser = gram._forms_cheaper
    gram._forms_cheaper = lambda *args: False
    try:
        return tensor_inner(ma, mb, symmetrize="layer")
    finally:
        gram._forms_cheaper = chooser


def bench_same_function(repeats: int, device: str = "cpu") -> list[dict]:
    rows = []
    for d_model, h, residual, d_out in CPU_GRID if device == "cpu" else GPU_GRID:
        kw = dict(d_in=d_model, d_model=d_model, d_hidden=h, d_out=d_out, n_layers=2,
                  residual=residual)  # fmt: skip
        ma, mb = (model(s, **kw).to(device) for s in (0, 1))
        row = dict(case="same_function", device=device, d_in=d_model, d_model=d_model,
                   d_hidden=h, d_out=d_out, residual=residual)  # fmt: skip
        for name, opts in (("layer", dict(symmetrize="layer")), ("full", {}),
                           ("gaussian", dict(form="gaussian"))):  # fmt: skip
            try:
                cpu, wall, r = cpu_wall(
                    lambda o=opts, ma=ma, mb=mb: tensor_inner(ma, mb, **o), repeats
                )
            except MechequivError as e:  # beyond the limit: the estimate
                row[f"{name}_refused"] = str(e).split(" here")[0].split("needs ")[-1] + (
                    ", " + str(e).split("here, ")[1].split(" by")[0] if "here, " in str(e)
                    else "")  # fmt: skip
                row[f"{name}_cpu_s"] = row[f"{name}_wall_s"] = row[f"{name}_similarity"] = None
                continue
            row[f"{name}_cpu_s"], row[f"{name}_wall_s"] = round(cpu, 4), round(wall, 4)
            row[f"{name}_similarity"] = round(r.similarity, 6)
            row[f"{name}_block_similarity"] = round(r.block_similarity, 6)
        # The previous routes in the same run, where they take less than ~20 s a call.
        a, b = TwoLayerNet(to_tensor_net(ma)), TwoLayerNet(to_tensor_net(mb))
        n = a.Q.shape[1]
        squares_s = estimated_seconds(route_costs(a, b, n)["squares"], a.Q.device)
        previous = {"layer": lambda ma=ma, mb=mb: units_layer_form(ma, mb)}
        if squares_s * 10 < 20:
            previous["full"] = lambda ma=ma, mb=mb: previous_pairs(ma, mb, "full")
            previous["gaussian"] = lambda ma=ma, mb=mb: previous_pairs(ma, mb, "gaussian")
        for name, fn in previous.items():
            if row[f"{name}_cpu_s"] is None:
                continue
            cpu, wall, _ = cpu_wall(fn, 1 if squares_s > 1 else repeats)
            row[f"{name}_previous_cpu_s"], row[f"{name}_previous_wall_s"] = (
                round(cpu, 4), round(wall, 4))  # fmt: skip
            row[f"{name}_previous_over_new_cpu"] = round(cpu / row[f"{name}_cpu_s"], 1)
        rows.append(row)
        print_table([row], list(row))
    return rows


def gpu_verdict(rows: list[dict]) -> dict:
    """The issue's GPU target: every width-4096 model's default and Gaussian forms < 1 s."""
    wide = [r for r in rows if r["d_hidden"] == 4096]
    worst = max((r[f"{k}_wall_s"] or float("inf") for r in wide for k in ("full", "gaussian")),
                default=float("nan"))  # fmt: skip
    verdict = dict(case="gpu_target", width=4096, worst_wall_s=worst, under_1s=worst < 1.0)
    print(f"width-4096 two-layer models on the GPU: slowest {worst:.3f} s wall "
          f"({'PASS' if worst < 1.0 else 'FAIL'}: target < 1 s)")  # fmt: skip
    return verdict


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu",
                   help="'cuda': only the same-function section, d_model 32/64/128, width "
                   "1024/4096, and the width-4096 < 1 s verdict (writes "
                   "tensorsim_exact_cuda.json)")  # fmt: skip
    p.add_argument("--out", type=Path,
                   default=Path(__file__).parent / "results" / "tensorsim_exact.json")  # fmt: skip
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    sections = {}
    todo = [("brute_force", bench_brute_force), ("routes", bench_routes),
            ("same_function", bench_same_function)]  # fmt: skip
    if args.device != "cpu":
        todo = [("same_function", lambda r: bench_same_function(r, args.device)),
                ("gpu_target", lambda r: [gpu_verdict(sections["same_function"])])]  # fmt: skip
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
