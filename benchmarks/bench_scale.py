"""Scaling: out-of-core linear CKA, Congruity on 1 vs 2 Ray workers, Ray's overhead on small jobs.

1. Out-of-core: write two float32 arrays (rows x width each) into a zarr activation store
   (``StoreWriter``), then, in a child process whose address space is capped with
   ``resource.setrlimit(RLIMIT_AS)`` at what its imports reserved plus ``--cap-mb`` (and
   ``MALLOC_ARENA_MAX=2``, so that glibc's per-thread arenas do not eat the cap), stream
   linear CKA with ``StreamingCKA`` over ``paired_batches``. The child first checks that one
   array cannot even be loaded (MemoryError), and reports its peak RSS. The value is checked
   against an independent float64 computation in this process from the same generator
   (centred cross-products summed over the generated chunks, never reading the store).
2. ``congruity_matrix`` over a small zoo of MLPs: local (in-process; pairs share cached
   representations and distances) against the Ray backend on a local instance with 1 and with
   2 CPUs (Ray tasks share nothing). Medians over repeats after a warm-up run; Ray start-up
   is timed separately.
3. Ray's overhead for small jobs: ``pairwise`` linear CKA on small representations and a map of
   trivial tasks, local against a warm Ray instance (2 CPUs): per-task overhead in ms.

Usage: python benchmarks/bench_scale.py [--quick] [--store-gb 3] [--cap-mb 768] [--repeats 3]
Prints tables of medians and ratios; writes benchmarks/results/scale.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from _timing import interleaved_medians, median_time
from mechequiv._io import atomic_write_json

WIDTH = 128  # features per array: streaming costs O(rows * width^2), bytes are rows * width
CHUNK_ROWS = 65536


def _chunks(rows: int, seed: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The benchmark's data, chunk by chunk: Y is a noisy linear map of X's first half."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((WIDTH // 2, WIDTH)).astype(np.float32)
    for lo in range(0, rows, CHUNK_ROWS):
        x = rng.standard_normal((min(CHUNK_ROWS, rows - lo), WIDTH), dtype=np.float32)
        y = x[:, : WIDTH // 2] @ w + rng.standard_normal(x.shape, dtype=np.float32)
        yield x, y


def _write_store(path: Path, rows: int, seed: int) -> float:
    from mechequiv.capture import StoreWriter

    t0 = time.perf_counter()
    with StoreWriter(path, {"bench": "scale", "rows": rows, "seed": seed}, CHUNK_ROWS) as w:
        done = 0
        for x, y in _chunks(rows, seed):
            done += len(x)
            w.append({"x": x, "y": y}, done)
    return time.perf_counter() - t0


def _reference_cka(rows: int, seed: int) -> float:
    """Linear CKA from float64 cross-products of the generated data (not the store)."""
    sx, sy = np.zeros(WIDTH), np.zeros(WIDTH)
    xx, yy, xy = (np.zeros((WIDTH, WIDTH)) for _ in range(3))
    for x32, y32 in _chunks(rows, seed):
        x, y = x32.astype(np.float64), y32.astype(np.float64)
        sx += x.sum(0)
        sy += y.sum(0)
        xx += x.T @ x
        yy += y.T @ y
        xy += x.T @ y
    cxx = xx - np.outer(sx, sx) / rows
    cyy = yy - np.outer(sy, sy) / rows
    cxy = xy - np.outer(sx, sy) / rows
    return float(np.sum(cxy**2) / (np.linalg.norm(cxx) * np.linalg.norm(cyy)))


def _vm(field: str) -> int:
    """A /proc/self/status field in bytes (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def _stream_child(path: str, cap_mb: int, batch_rows: int) -> None:
    """Runs in the capped child: prints one JSON line with the result and memory figures."""
    from mechequiv.capture import open_store, paired_batches
    from mechequiv.measures import StreamingCKA

    store = open_store(path)
    x, y = store["x"], store["y"]
    base_vm, base_rss = _vm("VmSize"), _vm("VmRSS")
    limit = base_vm + cap_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        x.read()
        loads = True
    except MemoryError:
        loads = False
    t0 = time.perf_counter()
    s = StreamingCKA().update_all(paired_batches(x, y, batch_rows))
    value = s.compute()
    seconds = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "cka": value,
                "rows": s.n,
                "seconds": seconds,
                "address_space_limit_bytes": limit,
                "address_space_at_start_bytes": base_vm,
                "rss_at_start_bytes": base_rss,
                "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                "peak_address_space_bytes": _vm("VmPeak"),
                "one_array_loads_under_cap": loads,
            }
        )
    )


def bench_out_of_core(store_gb: float, cap_mb: int, store_dir: str | None) -> dict:
    rows = int(store_gb * 1e9 / (2 * WIDTH * 4))
    root = Path(store_dir or tempfile.mkdtemp(prefix="mechequiv-scale-"))
    path = root / "acts"
    try:
        write_s = _write_store(path, rows, seed=0)
        store_bytes = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
        child = subprocess.run(
            [sys.executable, __file__, "--stream-child", str(path), str(cap_mb)],
            capture_output=True, text=True, env={**os.environ, "MALLOC_ARENA_MAX": "2"},
        )  # fmt: skip
        if child.returncode:
            raise RuntimeError(f"the capped child failed:\n{child.stderr}")
        got = json.loads(child.stdout.strip().splitlines()[-1])
        t0 = time.perf_counter()
        ref = _reference_cka(rows, seed=0)
        ref_s = time.perf_counter() - t0
    finally:
        shutil.rmtree(path, ignore_errors=True)
        if store_dir is None:
            shutil.rmtree(root, ignore_errors=True)
    gb = 1e9
    out = {
        "rows": rows, "width": WIDTH, "arrays": 2, "store_gb": store_bytes / gb,
        "write_seconds": write_s, "cap_mb_above_imports": cap_mb,
        **got, "reference_cka": ref, "reference_seconds": ref_s,
        "abs_error": abs(got["cka"] - ref), "stream_mb_per_s": store_bytes / 1e6 / got["seconds"],
    }  # fmt: skip
    print(
        f"\nOut-of-core linear CKA: store {out['store_gb']:.2f} GB ({rows} rows x {WIDTH} x 2 "
        f"arrays, float32), written in {write_s:.1f} s"
    )
    print(
        f"  child address-space limit {got['address_space_limit_bytes'] / gb:.2f} GB "
        f"(imports had reserved {got['address_space_at_start_bytes'] / gb:.2f} GB; "
        f"+{cap_mb} MB); one array loads under the cap: {got['one_array_loads_under_cap']}"
    )
    print(
        f"  streamed CKA = {got['cka']:.12f} in {got['seconds']:.1f} s "
        f"({out['stream_mb_per_s']:.0f} MB/s); peak RSS {got['peak_rss_bytes'] / 2**20:.0f} MiB "
        f"(at start {got['rss_at_start_bytes'] / 2**20:.0f} MiB)"
    )
    print(f"  independent float64 reference {ref:.12f}; |difference| {out['abs_error']:.2e}")
    return out


def _zoo(quick: bool) -> tuple[list[torch.nn.Module], list[torch.nn.Module], torch.Tensor]:
    from mechequiv.demo import toy_task, train_toy_mlp

    steps = 100 if quick else 300
    x, y = toy_task(600, 0, "rings")
    _, z = toy_task(600, 0, "sectors")
    rings = [train_toy_mlp(x, y, s, hidden=32, steps=steps, lr=2e-2) for s in range(4)]
    sectors = [train_toy_mlp(x, z, s, hidden=32, steps=steps, lr=2e-2) for s in range(4)]
    return rings, sectors, toy_task(200, 1, "rings")[0]


def _overhead(backend, repeats: int) -> dict:
    from mechequiv.parallel import LocalBackend
    from mechequiv.parallel.pairwise import pairwise

    rng = np.random.default_rng(0)
    small = [rng.normal(size=(200, 16)) for _ in range(8)]
    trivial = list(range(200))
    return {
        "trivial_tasks": len(trivial),
        "trivial_local_s": median_time(lambda: LocalBackend().map(abs, trivial), repeats),
        "trivial_ray_s": median_time(lambda: backend.map(abs, trivial), repeats),
        "pairwise_tasks": len(small) * (len(small) + 1) // 2,
        "pairwise_local_s": median_time(lambda: pairwise(small), repeats),
        "pairwise_ray_s": median_time(lambda: pairwise(small, backend=backend), repeats),
    }


def bench_ray(quick: bool, repeats: int) -> dict:
    import ray

    from mechequiv.equivalence import Retrained, congruity_matrix
    from mechequiv.parallel import LocalBackend, RayBackend

    rings, sectors, stimuli = _zoo(quick)
    models = [rings[0], rings[1], sectors[0]]
    kw = {"n": 2 if quick else 4, "n_boot": 500, "sampler": Retrained(rings, sectors)}
    n_pairs = len(models) * (len(models) + 1) // 2

    def matrix(backend):
        return congruity_matrix(models, stimuli, backend=backend, **kw)

    t0 = time.perf_counter()
    two = RayBackend(num_cpus=2, init_options={"object_store_memory": 200 * 2**20})
    two.map(abs, [1])
    out: dict = {"ray_start_s": time.perf_counter() - t0}
    one = RayBackend(max_in_flight=1)  # the same instance, one task at a time
    local = matrix(LocalBackend())
    assert matrix(two).to_dict() == local.to_dict()  # the same numbers (and a warm-up)
    times = interleaved_medians(
        {"local_s": lambda: matrix(LocalBackend()), "ray_1_workers_s": lambda: matrix(one),
         "ray_2_workers_s": lambda: matrix(two)},
        repeats,
    )  # fmt: skip
    out["congruity"] = {"pairs": n_pairs, "rounds": kw["n"], "models": len(models), **times}
    # Tasks that wait instead of compute: what the backend's concurrency gives when CPU time
    # is not the bottleneck (on a shared machine, CPU-bound tasks compete with everything else).
    naps = [0.25] * 8
    out["sleep_tasks"] = {
        "tasks": len(naps), "seconds_each": naps[0],
        **interleaved_medians(
            {"ray_1_workers_s": lambda: one.map(time.sleep, naps),
             "ray_2_workers_s": lambda: two.map(time.sleep, naps)},
            repeats,
        ),
    }  # fmt: skip
    out["overhead"] = _overhead(two, repeats)
    two.shutdown()
    assert not ray.is_initialized()
    c, o, z = out["congruity"], out["overhead"], out["sleep_tasks"]
    z["speedup_2_vs_1_workers"] = z["ray_1_workers_s"] / z["ray_2_workers_s"]
    c["speedup_2_vs_1_workers"] = c["ray_1_workers_s"] / c["ray_2_workers_s"]
    c["ray_2_workers_vs_local"] = c["ray_2_workers_s"] / c["local_s"]
    o["trivial_overhead_ms_per_task"] = 1e3 * (o["trivial_ray_s"] - o["trivial_local_s"]) / 200
    o["pairwise_ratio_ray_vs_local"] = o["pairwise_ray_s"] / o["pairwise_local_s"]
    print(
        f"\nCongruity matrix ({len(models)} models, {n_pairs} pairs incl. diagonal, "
        f"n={kw['n']} rounds, d_repr, Retrained pool of 8), median of {repeats} interleaved:"
    )
    print(f"  local (in-process)   {c['local_s']:.2f} s")
    print(
        f"  Ray, 1 worker        {c['ray_1_workers_s']:.2f} s  (2-CPU instance, 1 task at a time)"
    )
    print(
        f"  Ray, 2 workers       {c['ray_2_workers_s']:.2f} s  "
        f"(speed-up 2 vs 1 workers {c['speedup_2_vs_1_workers']:.2f}x; "
        f"vs local {c['ray_2_workers_vs_local']:.2f}x the time)"
    )
    print(f"  Ray start-up (ray.init + first task): {out['ray_start_s']:.1f} s")
    print(
        f"  8 tasks sleeping 0.25 s: 1 worker {z['ray_1_workers_s']:.2f} s, 2 workers "
        f"{z['ray_2_workers_s']:.2f} s (speed-up {z['speedup_2_vs_1_workers']:.2f}x)"
    )
    print("\nRay overhead on small jobs (warm instance, 2 CPUs), median of", repeats)
    print(
        f"  200 trivial tasks: local {o['trivial_local_s'] * 1e3:.1f} ms, "
        f"Ray {o['trivial_ray_s'] * 1e3:.1f} ms -> {o['trivial_overhead_ms_per_task']:.2f} ms/task"
    )
    print(
        f"  pairwise linear CKA, 8 reprs (200 x 16), {o['pairwise_tasks']} tasks: "
        f"local {o['pairwise_local_s'] * 1e3:.1f} ms, Ray {o['pairwise_ray_s'] * 1e3:.1f} ms "
        f"({o['pairwise_ratio_ray_vs_local']:.1f}x)"
    )
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    p.add_argument("--store-gb", type=float, default=3.0, help="activation store size (GB)")
    p.add_argument("--cap-mb", type=int, default=768, help="address space allowed beyond imports")
    p.add_argument(
        "--store-dir", default=None, help="where to write the store (default: a temp dir)"
    )
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--stream-child", nargs=2, metavar=("PATH", "CAP_MB"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.stream_child:
        _stream_child(args.stream_child[0], int(args.stream_child[1]), CHUNK_ROWS)
        return
    torch.set_num_threads(1)
    store_gb = 0.2 if args.quick else args.store_gb
    results = {
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average_at_start": os.getloadavg(),
            "torch": torch.__version__,
            "ray": __import__("ray").__version__,
        },
        "out_of_core": bench_out_of_core(store_gb, args.cap_mb, args.store_dir),
        **bench_ray(args.quick, args.repeats),
    }
    results["machine"]["load_average_at_end"] = os.getloadavg()
    if not args.quick:
        out = Path(__file__).parent / "results" / "scale.json"
        atomic_write_json(out, results)
        print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
