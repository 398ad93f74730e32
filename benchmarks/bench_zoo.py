"""Zoo training speed: many seeds in one vectorised run, and time for Pizza/Clock to generalise.

1. Seeds at once. For each setting, the median wall time of ``steps`` full-batch AdamW updates
   of: one seed (``train_zoo(seeds=[0])``), 16 seeds in one vectorised run
   (``train_zoo(seeds=range(16))``) and 16 sequential single-seed runs (16 calls with
   ``seeds=[s]``: what one would do without the zoo). Ratios are against one seed. Settings:
   the Pizza/Clock transformer recipe on modular addition, and a Méloux-style
   LeakyReLU MLP on two Boolean gates (tiny models, where per-step overhead dominates).
2. Generalisation. The Pizza and Clock recipes (:func:`mechequiv.zoo.pizza_clock_recipe`),
   4 seeds each in one run, evaluated every 25 steps: the first evaluated step at 100% test
   accuracy, the wall time to get there (that step times the run's seconds per step, for 4
   seeds at once), and each final model's mechanism labels.

Usage: python benchmarks/bench_zoo.py [--threads 2] [--repeats 3] [--steps 50]
(On a 2-core machine under heavy load from other processes, two intra-op threads made every
case erratically slower; use --threads 1 there.)
Prints tables; writes benchmarks/results/zoo.json.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch

from _timing import interleaved_medians
from mechequiv._io import atomic_write_json
from mechequiv.zoo import boolean, mlp, modular_addition, train_zoo, transformer
from mechequiv.zoo.presets import RECIPE, pizza_clock_recipe


def seeds_at_once(steps: int, repeats: int) -> list[dict]:
    settings = {
        f"transformer p={RECIPE['p']} d_model={RECIPE['d_model']}": (
            modular_addition(RECIPE["p"], train_fraction=RECIPE["train_fraction"]),
            transformer(alpha=1.0, d_model=RECIPE["d_model"], n_heads=RECIPE["n_heads"]),
        ),
        "mlp (8, 8) leaky_relu, XOR+AND": (
            boolean(["XOR", "AND"], n_inputs=2, n_repeats=250),
            mlp(hidden=(8, 8), activation="leaky_relu"),
        ),
    }
    rows = []
    for name, (task, arch) in settings.items():

        def run(seeds, task=task, arch=arch):
            return train_zoo(task, arch, seeds=seeds, steps=steps, eval_every=steps, progress=False)

        cases = {
            "1 seed": lambda run=run: run([0]),
            "16 seeds vectorised": lambda run=run: run(range(16)),
            "16 seeds sequential": lambda run=run: [run([s]) for s in range(16)],
        }
        medians = interleaved_medians(cases, repeats)
        for case, t in medians.items():
            rows.append(
                {
                    "setting": name,
                    "case": case,
                    "steps": steps,
                    "median_s": round(t, 3),
                    "ratio_vs_1_seed": round(t / medians["1 seed"], 2),
                }
            )
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
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=50)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, {platform.processor() or 'cpu'}")
    speed = seeds_at_once(args.steps, args.repeats)
    print("Seeds at once (median wall time):")
    print_rows(speed)
    gen = generalisation()
    print("Pizza / Clock generalisation (recipe of mechequiv.zoo.presets):")
    print_rows(gen)
    out = Path(__file__).parent / "results" / "zoo.json"
    atomic_write_json(
        out,
        {
            "threads": args.threads,
            "torch": torch.__version__,
            "repeats": args.repeats,
            "seeds_at_once": speed,
            "generalisation": gen,
        },
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
