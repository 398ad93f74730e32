"""Every registered measure on a CUDA device against the same call on the CPU (issue 19, GPU).

Run on a machine with a GPU, as one command:

    python benchmarks/bench_gpu.py [--n 20000] [--n-pairwise 4000] [--d 512] [--repeats 3]

For each measure it checks that the CUDA value equals the CPU value (1e-9) with the input left
on the device (a guard on ``Tensor.cpu`` refuses to copy anything bigger than a d x d matrix to
the host), then times both: CPU time and wall on the host, wall with ``cuda.synchronize`` on the
device. Moment measures use n samples; measures with n x n matrices (RBF CKA, RSA,
neighbours, Procrustes' wide route aside) use ``--n-pairwise``. float32 inputs are also timed
for linear CKA (converted block by block on the device). Writes benchmarks/results/gpu.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from _timing import print_table
from mechequiv import measures as M
from mechequiv._io import atomic_write_json

PAIRWISE = {"rbf_cka", "rsa", "knn_jaccard", "mutual_knn", "repr_distance"}
SLOW_ON_CPU = {"linear_regression_similarity", "repr_distance"}  # nested CV / iterative solver


def _timed(fn, device: str, repeats: int) -> dict[str, float]:
    fn()  # warm-up (CUDA context, kernels, allocator)
    walls, cpus = [], []
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        w, c = time.perf_counter(), time.process_time()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    walls.sort()
    cpus.sort()
    return {"wall_s": walls[len(walls) // 2], "cpu_s": cpus[len(cpus) // 2]}


def _inputs(n: int, d: int, functional: bool, dtype: torch.dtype) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(0)
    if functional:
        A = torch.randn(n, 10, generator=g, dtype=torch.float64)
        return A.to(dtype), (A + 0.5 * torch.randn(n, 10, generator=g, dtype=torch.float64)).to(
            dtype
        )
    X = torch.randn(n, d, generator=g, dtype=torch.float64)
    W = torch.randn(d, d // 2, generator=g, dtype=torch.float64) / d**0.5
    Y = torch.tanh(X @ W) + 0.3 * torch.randn(n, d // 2, generator=g, dtype=torch.float64)
    return X.to(dtype), Y.to(dtype)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--n-pairwise", type=int, default=4000)
    ap.add_argument("--d", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "gpu.json"))
    args = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device: run this script on a machine with a GPU")
    real_cpu = torch.Tensor.cpu

    def guarded_cpu(t: torch.Tensor, *a, **k) -> torch.Tensor:
        if t.is_cuda and t.numel() > args.d * args.d:
            raise AssertionError(f"a {tuple(t.shape)} tensor was copied to the host")
        return real_cpu(t, *a, **k)

    cases = [(name, torch.float64) for name in M.names()] + [("linear_cka", torch.float32)]
    rows = []
    for name, dtype in cases:
        info = M.get(name)
        n = args.n_pairwise if name in PAIRWISE else args.n
        if name in SLOW_ON_CPU:
            n = min(n, 2000)
        x, y = _inputs(n, args.d, info.functional, dtype)
        xg, yg = x.cuda(), y.cuda()
        row = {"measure": name, "dtype": str(dtype).removeprefix("torch."), "n": n}
        try:
            cpu_value = info(x, y)
            torch.Tensor.cpu = guarded_cpu
            try:
                gpu_value = info(xg, yg)
                t_gpu = _timed(lambda: info(xg, yg), "cuda", args.repeats)  # noqa: B023
            finally:
                torch.Tensor.cpu = real_cpu
            t_cpu = _timed(lambda: info(x, y), "cpu", args.repeats)  # noqa: B023
        except (ValueError, AssertionError) as err:
            row["error"] = f"{type(err).__name__}: {err}"[:120]
            rows.append(row)
            print(json.dumps(row), flush=True)
            continue
        tol = 1e-9 * max(1.0, abs(cpu_value))
        row.update(
            value=cpu_value,
            agrees=abs(gpu_value - cpu_value) <= tol,
            cpu_wall_s=round(t_cpu["wall_s"], 4),
            cpu_cpu_s=round(t_cpu["cpu_s"], 4),
            gpu_wall_s=round(t_gpu["wall_s"], 4),
            gpu_host_cpu_s=round(t_gpu["cpu_s"], 4),
            speedup_wall=round(t_cpu["wall_s"] / t_gpu["wall_s"], 2),
        )
        rows.append(row)
        print(json.dumps(row), flush=True)
    columns = ["measure", "dtype", "n", "value", "agrees", "cpu_wall_s", "cpu_cpu_s",
               "gpu_wall_s", "gpu_host_cpu_s", "speedup_wall", "error"]  # fmt: skip
    print_table(rows, columns)
    atomic_write_json(args.out, {"rows": rows, "d": args.d, "torch": torch.__version__,
                                 "device": torch.cuda.get_device_name(0),
                                 "cpu": platform.processor(), "threads": torch.get_num_threads()})  # fmt: skip
    if not all(r.get("agrees", False) for r in rows):
        raise SystemExit("some measure failed or disagreed between CPU and GPU (see above)")


if __name__ == "__main__":
    main()
