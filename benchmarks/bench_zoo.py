"""Zoo training speed: many seeds in one vectorised run, and time for Pizza/Clock to generalise.

1. Seeds at once. For each setting, the median CPU and wall time of ``steps`` full-batch AdamW
   updates of: one seed (``train_zoo(seeds=[0])``), 16 seeds in one vectorised run
   (``train_zoo(seeds=range(16))``) and 16 sequential single-seed runs (16 calls with
   ``seeds=[s]``: what one would do without the zoo). Ratios are against one seed. Settings:
   the Pizza/Clock transformer recipe on modular addition, the README's bilinear zoo and a
   Méloux-style
   LeakyReLU MLP on two Boolean gates (tiny models, where per-step overhead dominates).
   Beside them, in the same interleaved rounds: one seed in a plain PyTorch loop (is the
   1-seed zoo run itself efficient?), the batched matrix products and table gathers alone
   (the arithmetic floor, for 1 and 16 seeds) and the machine's float32 GEMM rate, so that
   each run's achieved GFLOPS and the arithmetic lower bound on the 16-vs-1 ratio are stated
   (``FLOOR``).
2. Generalisation. The Pizza and Clock recipes (:func:`mechequiv.zoo.pizza_clock_recipe`),
   4 seeds each in one run, evaluated every 25 steps: the first evaluated step at 100% test
   accuracy, the wall time to get there (that step times the run's seconds per step, for 4
   seeds at once), and each final model's mechanism labels.
3. Before/after (``--against OTHER_CHECKOUT/src``): 1 and 16 seeds of every setting trained
   by this checkout and by another one, in two worker processes taking turns run by run, so
   that a change smaller than the drift of a shared machine's load between two separate runs
   of this script still shows (``paired_against``; both with glibc's malloc keeping freed
   memory, see 4).
4. Allocator (``--allocator ROUNDS``): each setting's 16-seed zoo alone in a fresh process,
   with glibc's default malloc and with one that keeps freed memory in the process
   (``MALLOC_KEEP``): what giving activations back to the system and faulting them in again
   at every step costs (``allocator_fresh_processes``).

Usage: python benchmarks/bench_zoo.py [--threads 2] [--repeats 3] [--steps 50] [--sequential]
       [--no-generalisation] [--label NAME] [--note TEXT]
       [--against SRC [--rounds 9] [--other-env KEY=VALUE ...]] [--allocator ROUNDS]
(On a 2-core machine under heavy load from other processes, two intra-op threads made every
case erratically slower; use --threads 1 there.) glibc's malloc settings from the environment
(``MALLOC_*``, e.g. ``MALLOC_TRIM_THRESHOLD_``: whether freed activations go back to the system
and are faulted in again at every step) are stored with the run as ``malloc_env``.
Prints tables; writes benchmarks/results/zoo.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from _timing import interleaved_wall_cpu
from mechequiv._io import atomic_write_json
from mechequiv.zoo import bilinear, boolean, mlp, modular_addition, train_zoo, transformer
from mechequiv.zoo.presets import RECIPE, pizza_clock_recipe


def training_products(
    task, arch
) -> tuple[list[tuple[int, int, int, bool]], list[tuple[int, int, int]]]:
    """What one seed's training forward computes beyond elementwise work, recorded through the
    seed-batched forward of two seeds on the inputs training uses (one-hot rows as positions
    for bilinear models, as the zoo's runner feeds them): every linear layer as (rows, d_in,
    d_out, input needs a gradient), and every gather from a table as (table rows, gathered
    rows, width, rows summed per gathered row) per seed."""
    from torch.func import functional_call, stack_module_state

    from mechequiv.zoo.batched import SeedBatched
    from mechequiv.zoo.runner import training_inputs

    products: list[tuple[int, int, int, bool]] = []
    gathers: list[tuple[int, int, int, int]] = []
    n_seeds = 2

    class Record(SeedBatched):
        def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[override]
            if func is torch.nn.functional.linear and args[1].ndim == 3:
                xs, (_, d_out, d_in) = args[0].shape, args[1].shape
                rows = int(np.prod(xs[1:-1]))
                products.append((rows, d_in, d_out, bool(args[0].requires_grad)))
            if func in (torch.index_select, torch.Tensor.index_select):
                table, index = args[0], args[2]
                rows = len(index) // n_seeds
                gathers.append((table.shape[0] // n_seeds, rows, table.shape[1], 1))
            if func is torch.nn.functional.embedding_bag:  # sums of k gathered rows
                bags, table = args[0], args[1]
                rows = len(bags) // n_seeds
                gathers.append((table.shape[0] // n_seeds, rows, table.shape[1], bags.shape[1]))
            return super().__torch_function__(func, types, args, kwargs)

    models = [arch.build(task, s) for s in range(n_seeds)]
    params, buffers = stack_module_state(models)
    x = training_inputs(task, models[0])[task.train_idx]
    x = x.expand(n_seeds, *x.shape)
    kwargs = {"readout_only": True} if arch.name == "transformer" else {}
    with Record():
        functional_call(models[0], (params, buffers), (x,), kwargs)
    return products, gathers


def matmul_flops(products: list[tuple[int, int, int, bool]]) -> int:
    """Flops of one seed's training step in its matrix products: forward, weight gradient, and
    input gradient where the input needs one (2 flops per multiply-add)."""
    return sum(2 * r * i * o * (3 if grad else 2) for r, i, o, grad in products)


def arithmetic_floor(products, gathers, n_seeds: int, steps: int) -> Callable[[], None]:
    """``steps`` times the batched matrix products and table gathers of one training step of
    ``n_seeds`` seeds, nothing else: each seed-batched linear layer's forward product and its
    backward products, and each gather's forward (``index_select``; a sum of k rows, as for the
    bilinear model's k-hot inputs, one ``embedding_bag``) and backward (one ``index_add`` per
    summed row into a zeroed table). What a step would cost if per-operation overhead and the
    elementwise work (activations, products of the bilinear layer, loss, optimiser) were
    free."""
    operands = []
    for rows, d_in, d_out, grad in products:
        a = torch.randn(n_seeds, rows, d_in)
        w = torch.randn(n_seeds, d_out, d_in)
        g = torch.randn(n_seeds, rows, d_out)
        operands.append((a, w, g, grad))
    tables = []
    for n_table, n_rows, width, k in gathers:
        table = torch.randn(n_seeds * n_table, width)
        index = torch.randint(0, n_table, (n_seeds, n_rows, k))
        index = (index + n_table * torch.arange(n_seeds).reshape(-1, 1, 1)).reshape(-1, k)
        tables.append((table, index, torch.randn(n_seeds * n_rows, width)))

    def run() -> None:
        for _ in range(steps):
            for a, w, g, grad in operands:
                torch.bmm(a, w.transpose(1, 2))  # forward
                if grad:
                    torch.bmm(g, w)  # gradient of the input
                torch.bmm(g.transpose(1, 2), a)  # gradient of the weight
            for table, index, g in tables:
                if index.shape[1] == 1:
                    table.index_select(0, index[:, 0])  # forward
                else:
                    torch.nn.functional.embedding_bag(index, table, mode="sum")
                grad = torch.zeros_like(table)  # backward
                for j in range(index.shape[1]):
                    grad.index_add_(0, index[:, j], g)

    return run


def plain_loop(task, arch, steps: int) -> Callable[[], None]:
    """One seed trained as one would without the zoo, the baseline the 1-seed zoo run should
    not lose to: the module's own forward (the transformer's readout-only one), torch's AdamW
    with its defaults on the CPU (a loop over parameters) and the zoo's recipe (loss, warm-up,
    hyperparameters); model built as train_zoo builds it, no evaluations."""
    from mechequiv.zoo.config import ZooConfig
    from mechequiv.zoo.runner import task_loss

    default = {f.name: f.default for f in dataclasses.fields(ZooConfig)}
    loss = task_loss(task)
    x, y = task.inputs[task.train_idx], task.labels[task.train_idx]
    kwargs = {"readout_only": True} if arch.name == "transformer" else {}

    def run() -> None:
        model = arch.build(task, 0)
        opt = torch.optim.AdamW(model.parameters(), lr=default["lr"], betas=default["betas"],
                                eps=default["eps"], weight_decay=default["weight_decay"])  # fmt: skip
        for step in range(steps):
            for group in opt.param_groups:
                group["lr"] = default["lr"] * min(1.0, (step + 1) / default["warmup_steps"])
            value = loss(model(x, **kwargs).unsqueeze(0), y.unsqueeze(0)).sum()
            opt.zero_grad(set_to_none=True)
            value.backward()
            opt.step()

    return run


PEAK_SIZE = 1024

FLOOR = (
    "The floor is the arithmetic of the formulation training uses: the transformer's "
    "readout-only forward (token embeddings gathered), the bilinear model's one-hot inputs "
    "read as positions (L, R and the unembedding of the embedding gathered from per-position "
    "tables, U @ D merged). matmul_flops_per_step_per_seed: 2 flops per multiply-add of one seed's "
    "training step in its linear products (forward, weight gradient, and input gradient where "
    "the input needs one; attention mixing and the bilinear product are elementwise and not "
    "counted); gathered_floats_per_step_per_seed: floats gathered from tables in one forward. "
    "'arithmetic floor, S seeds' runs exactly those batched products (bmm, S seeds) and those "
    "gathers (index_select forward, index_add backward) and nothing else: no per-operation "
    "overhead, activation, loss or optimiser. matmul_gflops_achieved is the matmul flops of a "
    "case's training steps over its CPU time. peak_float32_gemm_gflops: 1024^3 float32 GEMMs "
    "on one thread, interleaved with the runs. 16_seed_arithmetic_at_peak_vs_1_seed_run: the 16 "
    "seeds' matmul flops at that peak rate over the whole 1-seed run's CPU time; "
    "16_seed_arithmetic_floor_vs_1_seed_run: the measured 16-seed floor over the 1-seed run: "
    "where it exceeds 3, a 16-vs-1 ratio of 3 is below the arithmetic (the small matrices of "
    "these models run far below the GEMM peak, and gathers are memory-bound). A 1-seed run "
    "dominated by overhead makes cpu_ratio_vs_1_seed smaller, not larger (its overhead is paid "
    "once for all 16 seeds)."
)


def peak_gemm(calls: int) -> Callable[[], None]:
    """``calls`` float32 GEMMs of PEAK_SIZE^3: the machine's matrix-product rate on one thread,
    measured beside the runs (a shared machine's rate moves with its load)."""
    a, b = torch.randn(PEAK_SIZE, PEAK_SIZE), torch.randn(PEAK_SIZE, PEAK_SIZE)

    def run() -> None:
        for _ in range(calls):
            torch.mm(a, b)

    return run


def zoo_settings() -> dict[str, tuple]:
    """The timed settings: name -> (task, architecture)."""
    return {
        f"transformer p={RECIPE['p']} d_model={RECIPE['d_model']}": (
            modular_addition(RECIPE["p"], train_fraction=RECIPE["train_fraction"]),
            transformer(alpha=1.0, d_model=RECIPE["d_model"], n_heads=RECIPE["n_heads"]),
        ),
        "bilinear() on modular_addition(23, one_hot) (README)": (
            modular_addition(23, encoding="one_hot"),
            bilinear(),
        ),
        "mlp (8, 8) leaky_relu, XOR+AND": (
            boolean(["XOR", "AND"], n_inputs=2, n_repeats=250),
            mlp(hidden=(8, 8), activation="leaky_relu"),
        ),
    }


def seeds_at_once(steps: int, repeats: int, sequential: bool) -> list[dict]:
    settings = zoo_settings()
    rows = []
    for name, (task, arch) in settings.items():

        def run(seeds, task=task, arch=arch):
            return train_zoo(task, arch, seeds=seeds, steps=steps, eval_every=steps, progress=False)

        products, gathers = training_products(task, arch)
        flops = matmul_flops(products)  # one seed, one step
        peak_calls = 8
        cases = {
            "1 seed": lambda run=run: run([0]),
            "1 seed, plain PyTorch loop": plain_loop(task, arch, steps),
            "16 seeds vectorised": lambda run=run: run(range(16)),
            "arithmetic floor, 1 seed": arithmetic_floor(products, gathers, 1, steps),
            "arithmetic floor, 16 seeds": arithmetic_floor(products, gathers, 16, steps),
            "peak float32 GEMM": peak_gemm(peak_calls),
        }
        seeds_of = {"1 seed": 1, "1 seed, plain PyTorch loop": 1, "16 seeds vectorised": 16,
                    "arithmetic floor, 1 seed": 1, "arithmetic floor, 16 seeds": 16,
                    "16 seeds sequential": 16}  # fmt: skip
        if sequential:
            cases["16 seeds sequential"] = lambda run=run: [run([s]) for s in range(16)]
        medians = interleaved_wall_cpu(cases, repeats)
        peak = medians.pop("peak float32 GEMM")
        peak_gflops = peak_calls * 2 * PEAK_SIZE**3 / peak["cpu_s"] / 1e9
        one = medians["1 seed"]
        floor = medians["arithmetic floor, 16 seeds"]
        # The arithmetic of 16 seeds at the machine's GEMM rate: a lower bound on the 16-seed
        # run that no removal of overhead can beat, stated as a multiple of the 1-seed run.
        arithmetic_16_s = 16 * flops * steps / (peak_gflops * 1e9)
        for case, t in medians.items():
            rows.append(
                {
                    "setting": name,
                    "case": case,
                    "steps": steps,
                    "cpu_s": round(t["cpu_s"], 3),
                    "wall_s": round(t["wall_s"], 3),
                    "cpu_ratio_vs_1_seed": round(t["cpu_s"] / one["cpu_s"], 2),
                    "wall_ratio_vs_1_seed": round(t["wall_s"] / one["wall_s"], 2),
                    # what the 16 seeds' arithmetic alone costs: the part of a 16-seed run that
                    # no removal of per-seed overhead can take away
                    "cpu_ratio_vs_16_seed_arithmetic_floor": round(t["cpu_s"] / floor["cpu_s"], 2),
                    "16_seed_arithmetic_floor_vs_1_seed_run": round(
                        floor["cpu_s"] / one["cpu_s"], 2
                    ),
                    "matmul_flops_per_step_per_seed": flops,
                    "gathered_floats_per_step_per_seed": sum(r * w * k for _, r, w, k in gathers),
                    # matrix-product flops of the case over its CPU time (training steps only:
                    # the two evaluations of a run are left out of the count)
                    "matmul_gflops_achieved": round(
                        seeds_of[case] * flops * steps / t["cpu_s"] / 1e9, 1
                    ),
                    "peak_float32_gemm_gflops": round(peak_gflops, 1),
                    "16_seed_arithmetic_at_peak_vs_1_seed_run": round(
                        arithmetic_16_s / one["cpu_s"], 2
                    ),
                }
            )
    return rows


def worker(steps: int) -> None:
    """``--worker``: for each line ``setting<TAB>seeds`` on stdin, train that setting's zoo
    with that many seeds and print the run's process CPU seconds and minor page faults."""
    settings = zoo_settings()
    for line in sys.stdin:
        name, n_seeds = line.rstrip("\n").split("\t")
        task, arch = settings[name]
        faults, c0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.process_time()
        train_zoo(task, arch, seeds=range(int(n_seeds)), steps=steps, eval_every=steps,
                  progress=False)  # fmt: skip
        cpu_s = time.process_time() - c0
        print(cpu_s, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults, flush=True)


def _worker_process(src: Path, threads: int, steps: int, env: dict[str, str]) -> subprocess.Popen:
    """A ``--worker`` importing mechequiv from ``src``; ``env`` sets (or, empty, removes)
    environment variables."""
    here = Path(__file__).parent
    full = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
            "PYTHONPATH": os.pathsep.join([str(src), str(here)]), **env}  # fmt: skip
    return subprocess.Popen(
        [sys.executable, __file__, "--worker", "--steps", str(steps)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={k: v for k, v in full.items() if v},
    )  # fmt: skip


def _worker_run(proc: subprocess.Popen, name: str, n_seeds: int) -> tuple[float, int]:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(f"{name}\t{n_seeds}\n")
    proc.stdin.flush()
    cpu_s, faults = proc.stdout.readline().split()
    return float(cpu_s), int(faults)


def _close(proc: subprocess.Popen) -> None:
    assert proc.stdin is not None
    proc.stdin.close()
    proc.wait()


#: glibc's malloc keeping freed memory in the process (no trimming, no mmap for blocks < 1 GiB)
MALLOC_KEEP = {"MALLOC_MMAP_THRESHOLD_": "1073741824", "MALLOC_TRIM_THRESHOLD_": "1073741824"}


def allocator_fresh_processes(steps: int, rounds: int, threads: int) -> list[dict]:
    """Each setting's 16-seed zoo trained twice in a fresh process (the second run timed), with
    glibc's default malloc and with ``MALLOC_KEEP``, in turn for ``rounds`` rounds: median CPU
    seconds, minor page faults per step and the median per-round ratio keep / default. A fresh
    process per setting, because
    glibc's thresholds adapt to the largest block freed so far: after a larger model has trained
    in the same process (as in the other parts of this script), the faults are mostly gone."""
    src = Path(mechequiv_file()).parents[1]
    rows = []
    for name in zoo_settings():
        cpu: dict[str, list[float]] = {"default": [], "keep": []}
        faults: dict[str, list[float]] = {"default": [], "keep": []}
        for r in range(rounds):
            for variant in ("default", "keep") if r % 2 else ("keep", "default"):
                env = MALLOC_KEEP if variant == "keep" else dict.fromkeys(MALLOC_KEEP, "")
                proc = _worker_process(src, threads, steps, env)
                _worker_run(proc, name, 16)  # warm-up: first calls, thresholds adapted
                cpu_s, n_faults = _worker_run(proc, name, 16)
                _close(proc)
                cpu[variant].append(cpu_s)
                faults[variant].append(n_faults / steps)
        rows.append(
            {
                "setting": name,
                "seeds": 16,
                "steps": steps,
                "cpu_s_default": round(statistics.median(cpu["default"]), 4),
                "cpu_s_keep": round(statistics.median(cpu["keep"]), 4),
                "paired_cpu_ratio_keep_vs_default": round(
                    statistics.median(
                        k / d for k, d in zip(cpu["keep"], cpu["default"], strict=True)
                    ),
                    3,
                ),
                "minor_faults_per_step_default": round(statistics.median(faults["default"])),
                "minor_faults_per_step_keep": round(statistics.median(faults["keep"])),
            }
        )
    return rows


def mechequiv_file() -> str:
    import mechequiv

    return str(mechequiv.__file__)


def paired_against(
    other_src: Path, steps: int, rounds: int, threads: int, other_env: dict[str, str]
) -> list[dict]:
    """1 and 16 seeds of every setting trained by this checkout's mechequiv and by the one in
    ``other_src`` (another checkout's ``src``: the code before a change), each side in its own
    worker process, run by run in turn (which side goes first alternates between rounds), so
    that both see the same load on a shared machine: the median CPU seconds of each side and
    the median over rounds of the per-round ratio this / other, the before/after figure that
    separate runs of this script cannot give where the load moves by more than the change.
    Both sides run with ``MALLOC_KEEP``: with glibc's default malloc, whether a process faults
    its activations in again at every step depends on the largest block it has freed so far,
    which made two processes running the same code differ by up to a fifth.
    ``other_env`` sets (``KEY=VALUE``) or, with an empty value, removes environment variables of
    the other side only."""
    this_src = Path(mechequiv_file()).parents[1]
    sides = {
        "this": _worker_process(this_src, threads, steps, MALLOC_KEEP),
        "other": _worker_process(
            Path(other_src).resolve(), threads, steps, {**MALLOC_KEEP, **other_env}
        ),
    }

    cases = [(name, n) for name in zoo_settings() for n in (1, 16)]
    cpu: dict[tuple[str, str, int], list[float]] = {}
    for r in range(rounds + 1):  # round 0 warms both up
        order = ("this", "other") if r % 2 else ("other", "this")
        for name, n in cases:
            for side in order:
                t, _ = _worker_run(sides[side], name, n)
                if r:
                    cpu.setdefault((side, name, n), []).append(t)
    for proc in sides.values():
        _close(proc)
    rows = []
    for name, n in cases:
        this, other = cpu[("this", name, n)], cpu[("other", name, n)]
        row = {
            "setting": name,
            "seeds": n,
            "steps": steps,
            "cpu_s_this": round(statistics.median(this), 4),
            "cpu_s_other": round(statistics.median(other), 4),
            "paired_cpu_ratio_this_vs_other": round(
                statistics.median(a / b for a, b in zip(this, other, strict=True)), 3
            ),
        }
        if n > 1:  # the seeds-at-once ratio of each side, from these interleaved runs
            for side in ("this", "other"):
                one = statistics.median(cpu[(side, name, 1)])
                row[f"cpu_ratio_vs_1_seed_{side}"] = round(
                    statistics.median(cpu[(side, name, n)]) / one, 2
                )
        rows.append(row)
    return rows


def generalisation(eval_every: int = 25) -> list[dict]:
    rows = []
    for kind in ("pizza", "clock"):
        task, arch, kw = pizza_clock_recipe(kind)
        t0 = time.perf_counter()
        zoo = train_zoo(task, arch, seeds=range(4), eval_every=eval_every, progress=False, **kw)
        run_s = time.perf_counter() - t0
        per_step = run_s / zoo.config.steps
        reached = zoo.history.steps_to(1.0)
        labels = zoo.labels()
        rows.append(
            {
                "kind": kind,
                "recipe": {"p": task.n_outputs, **arch.kwargs, **kw},
                "seeds": list(zoo.seeds),
                "run_s (4 seeds at once)": round(run_s, 1),
                "final_test_acc": [round(lab.test_accuracy, 4) for lab in labels],
                "first_step_100pct_test": reached,
                "s_to_100pct_test": [
                    None if r is None else round(r * per_step, 1) for r in reached
                ],
                "gradient_symmetricity": [round(lab.gradient_symmetricity, 3) for lab in labels],
                "distance_irrelevance": [round(lab.distance_irrelevance, 3) for lab in labels],
                "key_frequencies": [list(lab.key_frequencies) for lab in labels],
            }
        )
    return rows


def print_rows(rows: list[dict]) -> None:
    for r in rows:
        print("  " + ", ".join(f"{k}={v}" for k, v in r.items()))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--sequential", action="store_true", help="also time 16 one-seed runs")
    ap.add_argument("--no-generalisation", action="store_true", help="skip part 2")
    ap.add_argument("--label", default="current", help="key of this run in the results file")
    ap.add_argument("--note", default="", help="a sentence stored with this run")
    ap.add_argument("--against", type=Path, help="another checkout's src: paired before/after")
    ap.add_argument("--rounds", type=int, default=9, help="rounds of the --against comparison")
    ap.add_argument(
        "--other-env",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="environment of the --against side only (KEY= removes KEY)",
    )
    ap.add_argument(
        "--allocator",
        type=int,
        default=0,
        metavar="ROUNDS",
        help="rounds of fresh-process runs with glibc's default malloc and MALLOC_KEEP",
    )
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.worker:
        worker(args.steps)
        return
    import mechequiv

    print(f"torch {torch.__version__}, {args.threads} threads, {platform.processor() or 'cpu'}")
    print(f"mechequiv from {Path(mechequiv.__file__).parent}")
    speed = seeds_at_once(args.steps, args.repeats, args.sequential)
    print("Seeds at once (median process CPU time and wall time):")
    print_rows(speed)
    paired = []
    if args.against is not None:
        other_env = dict(item.split("=", 1) for item in args.other_env)
        paired = paired_against(args.against, args.steps, args.rounds, args.threads, other_env)
        print(f"Paired, interleaved against {args.against} (process CPU time):")
        print_rows(paired)
    allocator = []
    if args.allocator:
        allocator = allocator_fresh_processes(args.steps, args.allocator, args.threads)
        print("16 seeds in fresh processes, glibc malloc default vs MALLOC_KEEP:")
        print_rows(allocator)
    gen = [] if args.no_generalisation else generalisation()
    print("Pizza / Clock generalisation (recipe of mechequiv.zoo.presets):")
    print_rows(gen)
    out = Path(__file__).parent / "results" / "zoo.json"
    data = json.loads(out.read_text()) if out.exists() else {}
    if "seeds_at_once" in data:  # the layout before runs were labelled
        data = {"previous": data}
    data[args.label] = {
        **({"note": args.note} if args.note else {}),
        "floor": FLOOR,
        "threads": args.threads,
        "malloc_env": {k: v for k, v in sorted(os.environ.items()) if k.startswith("MALLOC_")},
        "torch": torch.__version__,
        "repeats": args.repeats,
        "seeds_at_once": speed,
        **(
            {
                "paired_against": {
                    "src": str(args.against),
                    "env_both": MALLOC_KEEP,
                    "other_env": args.other_env,
                    "rounds": args.rounds,
                    "rows": paired,
                }
            }
            if paired
            else {}
        ),
        **(
            {"allocator_fresh_processes": {"keep_env": MALLOC_KEEP, "rows": allocator}}
            if allocator
            else {}
        ),
        **({"generalisation": gen} if gen else {}),
    }
    atomic_write_json(out, data)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
