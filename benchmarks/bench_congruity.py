"""Congruity on the zoo's Pizza and Clock transformers, against plain CKA and Procrustes.

Trains ``--seeds`` Pizza (attention rate 0) and Clock (attention rate 1) transformers with the
zoo's recipe (cached in ``--zoo-dir``), then
1. the Congruity matrix over all of them (implementations: other seeds of the same recipe,
   distance: the two-way norm-bounded linear distance on the residual stream, last token),
   with 95% bootstrap intervals, as a table and a heatmap PNG;
2. how the interval narrows with n for one within-recipe and one across-recipe pair;
3. wall time per pair;
4. linear CKA and angular Procrustes on the same representations and pairs (the baselines).
Writes benchmarks/results/congruity.json and benchmarks/results/congruity_heatmap.png.

Usage: python benchmarks/bench_congruity.py [--seeds 4] [--n 40] [--threads 1]
"""

from __future__ import annotations

import argparse
import itertools
import platform
import time
from pathlib import Path

import torch

from _timing import print_table
from mechequiv import measures
from mechequiv._io import atomic_write_json
from mechequiv.equivalence import Retrained, congruity, congruity_matrix, hidden_representations
from mechequiv.report.figures import congruity_heatmap
from mechequiv.study.steps import group_means
from mechequiv.zoo.presets import pizza_clock

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=4, help="models per recipe (>= 3)")
    ap.add_argument("--n", type=int, default=40, help="Congruity rounds per pair")
    ap.add_argument("--ns", type=int, nargs="+", default=[5, 10, 20, 40, 80])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--zoo-dir", default=str(RESULTS.parent / ".cache" / "pizza_clock"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    t0 = time.perf_counter()
    zoos = pizza_clock(seeds=range(args.seeds), out_dir=args.zoo_dir, progress=False)
    train_s = time.perf_counter() - t0
    groups = {k: z.models() for k, z in zoos.items()}
    labels = {k: [lab.gradient_symmetricity for lab in z.labels()] for k, z in zoos.items()}
    acc = {k: [float(a) for a in z.history.test_acc[-1]] for k, z in zoos.items()}
    models = groups["pizza"] + groups["clock"]
    names = [f"{k}-{s}" for k in groups for s in range(args.seeds)]
    kinds = [k for k in groups for _ in range(args.seeds)]
    task = zoos["pizza"].task
    sampler = Retrained(groups["pizza"], groups["clock"])

    t0 = time.perf_counter()
    mat = congruity_matrix(models, task, names=names, n=args.n, sampler=sampler, progress=False)
    matrix_s = time.perf_counter() - t0
    m = len(models)
    per_pair_s = matrix_s / (m * (m + 1) // 2)

    reps = [hidden_representations(model, task.inputs) for model in models]
    base = {name: measures.pairwise(reps, name, progress=False).values
            for name in ("linear_cka", "procrustes")}  # fmt: skip

    ci_vs_n = []
    for label, (i, j) in {"pizza-pizza": (0, 1), "pizza-clock": (0, args.seeds)}.items():
        for n in args.ns:
            t = time.perf_counter()
            r = congruity(models[i], models[j], task, n=n, sampler=sampler, seed=1)
            ci_vs_n.append({"pair": label, "n": n, "score": f"{r.score:.3f}",
                            "ci": f"[{r.ci_low:.3f}, {r.ci_high:.3f}]",
                            "ci_width": f"{r.ci_high - r.ci_low:.3f}",
                            "seconds": f"{time.perf_counter() - t:.2f}"})  # fmt: skip

    RESULTS.mkdir(exist_ok=True)
    fig = congruity_heatmap(
        names, mat.scores, mat.ci_low, mat.ci_high, groups=[k.title() for k in kinds]
    )
    fig.savefig(RESULTS / "congruity_heatmap.png", dpi=120, bbox_inches="tight")

    print(f"zoo: {args.seeds} Pizza + {args.seeds} Clock, trained or loaded in {train_s:.1f} s")
    print("gradient symmetricity:", {k: [round(v, 3) for v in vs] for k, vs in labels.items()})
    print("test accuracy:", {k: [round(v, 3) for v in vs] for k, vs in acc.items()})
    print(mat)
    print("\nCongruity 95% intervals:")
    for i, j in itertools.combinations_with_replacement(range(m), 2):
        r = mat.results[(i, j)]
        print(f"  {names[i]:>8} {names[j]:>8}  {r.score:.3f} [{r.ci_low:.3f}, {r.ci_high:.3f}]")
    rows = [{"statistic": f"mean {k}", **{name: f"{v:.3f}" for name, v in vals.items()}}
            for k, vals in (("Congruity", group_means(mat.scores, kinds)),
                            ("linear CKA", group_means(base["linear_cka"], kinds)),
                            ("Procrustes distance", group_means(base["procrustes"], kinds)))]  # fmt: skip
    print()
    print_table(rows, ["statistic", "pizza vs pizza", "clock vs clock", "across"])
    print()
    print_table(ci_vs_n, ["pair", "n", "score", "ci", "ci_width", "seconds"])
    print(f"\nmatrix wall time {matrix_s:.1f} s for {m * (m + 1) // 2} pairs "
          f"({per_pair_s:.2f} s per pair, n={args.n}, {args.threads} thread(s))")  # fmt: skip
    atomic_write_json(
        RESULTS / "congruity.json",
        {
            "machine": platform.platform(), "threads": args.threads, "n": args.n,
            "seeds": args.seeds, "train_seconds": train_s, "matrix_seconds": matrix_s,
            "seconds_per_pair": per_pair_s, "gradient_symmetricity": labels,
            "test_accuracy": acc, "matrix": mat.to_dict(), "group_means": rows,
            "baselines": {k: v.tolist() for k, v in base.items()}, "ci_vs_n": ci_vs_n,
        },
    )  # fmt: skip


if __name__ == "__main__":
    main()
