"""Congruity on the zoo's Pizza and Clock transformers, against plain CKA and Procrustes.

Trains ``--seeds`` Pizza (attention rate 0) and Clock (attention rate 1) transformers (cached in
``--zoo-dir``; ``--paper`` uses Zhong et al.'s size, p = 59 and d_model = 128, 1500 steps), then
1. the Congruity matrix over all of them (implementations: other seeds of the same recipe;
   distance: the two-way norm-bounded linear distance) on two representations: Fourier modules
   moved to frequency 1 (:class:`FourierModuleReprs`: attention outputs and MLP neurons), and
   the raw residual stream (last token), with 95% bootstrap intervals, as tables and a heatmap;
2. which part of the representation carries the separation (hook points, harmonics);
3. how the interval narrows with n (within- and across-recipe pairs, both representations);
4. wall time per pair;
5. linear CKA and angular Procrustes on the same representations and pairs (the baselines).
Writes benchmarks/results/congruity{_p59}.json and congruity{_p59}_heatmap.png.

Usage: python benchmarks/bench_congruity.py [--seeds 5] [--n 40] [--threads 1] [--paper]
"""

from __future__ import annotations

import argparse
import itertools
import platform
import time
from pathlib import Path

import torch

from _timing import print_table
from mechequiv._io import atomic_write_json
from mechequiv.equivalence import (
    FourierModuleReprs,
    Retrained,
    congruity,
    congruity_matrix,
    hidden_representations,
)
from mechequiv.parallel.pairwise import pairwise
from mechequiv.report.figures import congruity_heatmap
from mechequiv.study.zoo_models import group_means
from mechequiv.zoo import Zoo, modular_addition, train_zoo, transformer
from mechequiv.zoo.presets import ALPHAS, pizza_clock

RESULTS = Path(__file__).parent / "results"
GROUPS = ("pizza vs pizza", "clock vs clock", "across")


def paper_zoos(seeds: int, out_dir: Path) -> dict[str, Zoo]:
    """Zhong et al.'s model size: p = 59, d_model = 128 (4 heads, d_mlp = 512), 1500 steps."""
    task = modular_addition(59, train_fraction=0.8)
    return {kind: train_zoo(task, transformer(alpha=alpha, d_model=128, n_heads=4), range(seeds),
                            out_dir=out_dir / kind, lr=1e-2, weight_decay=1.0, steps=1500,
                            progress=False)
            for kind, alpha in ALPHAS.items()}  # fmt: skip


def means_row(label: str, matrix, kinds: list[str]) -> dict[str, str]:
    return {"statistic": label, **{k: f"{v:.3f}" for k, v in group_means(matrix, kinds).items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5, help="models per recipe (>= 3)")
    ap.add_argument("--n", type=int, default=40, help="Congruity rounds per pair")
    ap.add_argument("--ns", type=int, nargs="+", default=[5, 10, 20, 40, 80])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--paper", action="store_true", help="p = 59, d_model = 128, 1500 steps")
    ap.add_argument("--zoo-dir", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    suffix = "_p59" if args.paper else ""
    cache = Path(args.zoo_dir or RESULTS.parent / ".cache" / f"pizza_clock{suffix}")

    t0 = time.perf_counter()
    zoos = (paper_zoos(args.seeds, cache) if args.paper
            else pizza_clock(seeds=range(args.seeds), out_dir=cache, progress=False))  # fmt: skip
    train_s = time.perf_counter() - t0
    groups = {k: z.models() for k, z in zoos.items()}
    labels = {k: [lab.gradient_symmetricity for lab in z.labels()] for k, z in zoos.items()}
    acc = {k: [float(a) for a in z.history.test_acc[-1]] for k, z in zoos.items()}
    models = groups["pizza"] + groups["clock"]
    names = [f"{k}-{s}" for k in groups for s in range(args.seeds)]
    kinds = [k for k in groups for _ in range(args.seeds)]
    task = zoos["pizza"].task
    p = task.n_outputs
    sampler = Retrained(groups["pizza"], groups["clock"])
    reprs = {"Fourier modules": FourierModuleReprs(p), "residual stream": hidden_representations}

    mats, seconds = {}, {}
    for label, fn in reprs.items():
        t0 = time.perf_counter()
        mats[label] = congruity_matrix(models, task, names=names, n=args.n, sampler=sampler,
                                       reprs=fn, progress=False)  # fmt: skip
        seconds[label] = time.perf_counter() - t0
    m = len(models)
    n_pairs = m * (m + 1) // 2

    ablation = []
    variants = {
        "attention output, J=1": FourierModuleReprs(p, points=["blocks.0.attn"]),
        "MLP neurons, J=1": FourierModuleReprs(p, points=["blocks.0.mlp.act"]),
        "residual stream, J=1": FourierModuleReprs(p, points=["blocks.0"]),
        "attention + neurons, J=2": FourierModuleReprs(p, harmonics=2),
    }
    for label, fn in variants.items():
        mat = congruity_matrix(models, task, n=args.n, sampler=sampler, reprs=fn,
                               diagonal=False, progress=False)  # fmt: skip
        ablation.append(means_row(label, mat.scores, kinds))

    reps, frequencies = {label: [] for label in reprs}, []
    for model in models:
        for label, fn in reprs.items():
            reps[label].append(torch.as_tensor(fn(model, task.inputs)))
        frequencies.append(reprs["Fourier modules"].modules(model, task.inputs).frequencies)
    base = {f"{name} ({label})": pairwise(reps[label], name, progress=False).values
            for label in reprs for name in ("linear_cka", "procrustes")}  # fmt: skip

    # Within a recipe, both anchors usually rank the shared pool alike, so each round's two
    # indicators sum to exactly 1 and the interval has width 0 at any n; the paper's literal
    # indicator (cross="model") and the residual stream's across pair show the narrowing.
    ci_vs_n = []
    cases = {"pizza-pizza, Fourier modules": (1, "Fourier modules", "implementation"),
             "pizza-pizza, Fourier modules, cross=model": (1, "Fourier modules", "model"),
             "pizza-clock, Fourier modules": (args.seeds, "Fourier modules", "implementation"),
             "pizza-clock, residual stream": (args.seeds, "residual stream", "implementation")}  # fmt: skip
    for label, (j, rep, cross) in cases.items():
        for n in args.ns:
            t = time.perf_counter()
            r = congruity(models[0], models[j], task, n=n, sampler=sampler, reprs=reprs[rep],
                          cross=cross, seed=1)  # fmt: skip
            ci_vs_n.append({"pair": label, "n": n, "score": f"{r.score:.3f}",
                            "ci": f"[{r.ci_low:.3f}, {r.ci_high:.3f}]",
                            "ci_width": f"{r.ci_high - r.ci_low:.3f}",
                            "seconds": f"{time.perf_counter() - t:.2f}"})  # fmt: skip

    RESULTS.mkdir(exist_ok=True)
    head = mats["Fourier modules"]
    fig = congruity_heatmap(names, head.scores, head.ci_low, head.ci_high,
                            groups=[k.title() for k in kinds],
                            title="Congruity on Fourier modules (1 = indistinguishable)")  # fmt: skip
    fig.savefig(RESULTS / f"congruity{suffix}_heatmap.png", dpi=120, bbox_inches="tight")

    print(f"zoo: {args.seeds} Pizza + {args.seeds} Clock, p={p}, ready in {train_s:.1f} s")
    print("gradient symmetricity:", {k: [round(v, 3) for v in vs] for k, vs in labels.items()})
    print("test accuracy:", {k: [round(v, 3) for v in vs] for k, vs in acc.items()})
    print("key frequencies found:", dict(zip(names, frequencies, strict=True)))
    for label, mat in mats.items():
        print(f"\n{label}: {mat}")
    print("\nCongruity on Fourier modules, 95% intervals:")
    for i, j in itertools.combinations_with_replacement(range(m), 2):
        r = head.results[(i, j)]
        print(f"  {names[i]:>8} {names[j]:>8}  {r.score:.3f} [{r.ci_low:.3f}, {r.ci_high:.3f}]")
    rows = [means_row(f"Congruity ({label})", mat.scores, kinds) for label, mat in mats.items()]
    rows += [means_row(label, mat, kinds) for label, mat in base.items()]
    print()
    print_table(rows, ["statistic", *GROUPS])
    print("\nWhich representation carries the separation (mean Congruity):")
    print_table(ablation, ["statistic", *GROUPS])
    print()
    print_table(ci_vs_n, ["pair", "n", "score", "ci", "ci_width", "seconds"])
    for label, s in seconds.items():
        print(f"{label}: matrix wall time {s:.1f} s for {n_pairs} pairs ({s / n_pairs:.2f} s "
              f"per pair, n={args.n}, {args.threads} thread(s))")  # fmt: skip
    atomic_write_json(
        RESULTS / f"congruity{suffix}.json",
        {
            "machine": platform.platform(), "threads": args.threads, "n": args.n, "p": p,
            "seeds": args.seeds, "train_seconds": train_s,
            "seconds_per_pair": {k: s / n_pairs for k, s in seconds.items()},
            "gradient_symmetricity": labels, "test_accuracy": acc,
            "key_frequencies": dict(zip(names, frequencies, strict=True)),
            "matrices": {k: mat.to_dict() for k, mat in mats.items()}, "group_means": rows,
            "ablation": ablation, "baselines": {k: v.tolist() for k, v in base.items()},
            "ci_vs_n": ci_vs_n,
        },
    )  # fmt: skip


if __name__ == "__main__":
    main()
