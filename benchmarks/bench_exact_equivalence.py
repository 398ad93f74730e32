"""Exact interpretive equivalence as ground truth: how well do Congruity and baselines predict it?

Zoo: Boolean MLPs (2, k, k, 1) trained with the paper's recipe (``train_mlp``) on the gates
``--tasks`` at hidden widths ``--widths``, seeds 0, 1, ... until ``--seeds`` converge per
(task, width) group (at most ``--max-tries`` seeds). Networks at k >= 4 use the reference
script's circuit filter (``paper_min_node_sparsity``); a network with more interpretation
classes than ``--max-interpretations`` is left out (listed in the json).

Pairs, designed so that the informative label has enough positives:

* ``seeds``: every pair of converged seeds of one (task, width) group;
* ``cross-width``: every pair of one task across two widths (the aligned algorithms of a
  width-2 and a width-3 network can coincide; circuits cannot);
* ``symmetry copy``: each network of ``--copy-widths`` with a random hidden-unit permutation and
  positive rescaling of itself (``SymmetryTransform``), its classes computed from its own
  weights like any other network's (the positive control for ``equivalent``).

Ground truth per pair (``exact_equivalence`` definitions, computed exactly):
``equivalent`` (identical circuit, interpretation, algorithm and alignment classes) and
``same_algorithms`` (identical non-empty sets of aligned algorithms: the same gate
decompositions in the what-then-where sense, the label that matters among independently
trained networks, where ``equivalent`` never holds), plus the four Jaccard indices.

Predictors (higher = predicted more equivalent): Congruity with the label-free samplers
``distill`` (``Distill``) and ``perturb`` (``PerturbRefit``), ``symmetry``
(``SymmetryTransform``, the positive control) and optionally ``retrained``; linear CKA, minus
Procrustes angular distance, minus ``repr_distance`` on the hidden representations of the
task rows (hidden layers concatenated). The single output unit is read as two logits
``(0, 10 (y - 0.5))`` by the label-free samplers, so their KL and agreement checks see the
rounded Boolean behaviour. Each network's label-free pool (``--pool`` draws) is drawn once,
seeded by the network, and Congruity rounds draw from it with replacement (the pool design of
``Retrained``), which makes the per-pair cost independent of the sampler's.

Reported per subset (all pairs; trained pairs = seeds + cross-width): ROC AUC of each
predictor for each label with a 95 % bootstrap interval over networks (pairs sharing a network
are dependent) and the shuffled-label null (2.5-97.5 % and one-sided p); Spearman with each
Jaccard; reliability bins of each Congruity.

Usage: python benchmarks/bench_exact_equivalence.py [--tasks XOR,AND,OR,IMP] [--widths 2,3]
       [--seeds 10] [--sampler distill --sampler perturb --sampler symmetry] [--n 10]
Writes benchmarks/results/exact_equivalence.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.stats import spearmanr

from _timing import machine, print_table
from mechequiv import measures
from mechequiv._io import atomic_write_json
from mechequiv.equivalence import Retrained, SymmetryTransform, congruity
from mechequiv.equivalence.refit import Distill, PerturbRefit
from mechequiv.equivalence.reprs import hidden_representations
from mechequiv.errors import MechequivError
from mechequiv.identifiability import (
    boolean_task,
    compare_classes,
    explanation_classes,
    paper_min_node_sparsity,
    train_mlp,
)
from mechequiv.identifiability.calibration import (
    CalibrationData,
    calibration_data,
    network_bootstrap_auc,
    roc_auc,
    shuffled_null,
)

LABELS = ("equivalent", "same_algorithms")
JACCARDS = ("circuits", "interpretations", "algorithms", "alignments")
TRAINED = ("seeds", "cross-width")


def two_logits(out: torch.Tensor) -> torch.Tensor:
    """The single output read as two logits: softmax = (1 - p, p) with p = sigmoid(10 (y - .5))."""
    return torch.cat([torch.zeros_like(out), 10.0 * (out - 0.5)], dim=1)


def label_free(name: str, x: torch.Tensor) -> Distill | PerturbRefit:
    if name == "distill":
        return Distill(x, steps=600, lr=1e-2, max_kl=0.05, max_tries=8, output=two_logits)
    return PerturbRefit(
        x, noise=0.1, steps=50, lr=1e-3, loss="logits", max_kl=0.05, max_tries=5,
        output=two_logits,
    )  # fmt: skip


def train_group(task: str, k: int, want: int, max_tries: int) -> list[tuple[int, torch.nn.Module]]:
    out = []
    for seed in range(max_tries):
        trained = train_mlp(task, (k, k), seed=seed)
        if trained.converged:
            out.append((seed, trained.model))
        if len(out) == want:
            break
    return out


def score_entry(
    rows: list[dict[str, Any]], pred: str, label: str, rng: np.random.Generator, n_perm: int
) -> dict[str, Any]:
    have = [r for r in rows if r[pred] is not None]
    s = np.array([r[pred] for r in have], dtype=float)
    y = np.array([r[label] for r in have], dtype=bool)
    out: dict[str, Any] = {"n_pos": int(y.sum()), "n_neg": int((~y).sum())}
    value = roc_auc(s, y) if len(have) else float("nan")
    if np.isnan(value):
        return {**out, "auc": None}
    lo, hi = network_bootstrap_auc(s, y, [(r["a"], r["b"]) for r in have], rng, n_boot=1000)
    null = shuffled_null(s, y, rng, n_perm)
    return {
        **out,
        "auc": round(value, 4),
        "ci95_networks": None if np.isnan(lo) else [round(lo, 4), round(hi, 4)],
        "shuffled_2.5": round(float(np.quantile(null, 0.025)), 4),
        "shuffled_97.5": round(float(np.quantile(null, 0.975)), 4),
        "p_one_sided": float((1 + (null >= value).sum()) / (1 + n_perm)),
    }


def write_figure(results_path: Path) -> Path:
    """The report's calibration figure (reliability + ROC) for every Congruity and the best
    baseline on trained pairs, label ``same_algorithms``, as a PNG beside the results."""
    from mechequiv.report.figures import exact_equivalence_calibration

    results = json.loads(results_path.read_text())
    keys = [k for k in results["pairs"][0] if k.startswith("congruity[")] + ["-procrustes"]
    data = [calibration_data(results, k, "same_algorithms", "seed pairs") for k in keys]
    fig = exact_equivalence_calibration(
        data, title="Predicting identical aligned algorithms (trained pairs)"
    )
    png = results_path.with_name(results_path.stem + "_calibration.png")
    fig.savefig(png, dpi=110, bbox_inches="tight", facecolor="white")
    return png


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--tasks", default="XOR,AND,OR,IMP")
    p.add_argument("--widths", default="2,3")
    p.add_argument("--copy-widths", default="2,3")
    p.add_argument("--seeds", type=int, default=10, help="converged seeds per (task, width)")
    p.add_argument("--max-tries", type=int, default=30)
    p.add_argument("--sampler", action="append", default=None)
    p.add_argument("--n", type=int, default=10, help="Congruity rounds per pair")
    p.add_argument("--pool", type=int, default=6, help="label-free draws per network")
    p.add_argument("--max-interpretations", type=int, default=150_000)
    p.add_argument("--perm", type=int, default=1000, help="permutations for the null")
    p.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "exact_equivalence.json"
    )
    p.add_argument("--figure-only", action="store_true", help="redraw the PNG from --out")
    args = p.parse_args()
    if args.figure_only:
        print(f"wrote {write_figure(args.out)}")
        return
    samplers = args.sampler or ["distill", "perturb", "symmetry"]
    tasks = args.tasks.split(",")
    widths = [int(w) for w in args.widths.split(",")]
    copy_widths = {int(w) for w in args.copy_widths.split(",") if w}
    rng = np.random.default_rng(0)
    t_start, c_start = time.perf_counter(), time.process_time()

    # 1. zoo and exact explanation classes
    networks: dict[str, tuple[torch.nn.Module, Any, str, int]] = {}
    groups: dict[tuple[str, int], list[str]] = {}
    left_out, seconds_classes = [], []
    for task, k in itertools.product(tasks, widths):
        sparsity = paper_min_node_sparsity((k, k))
        members = []
        for seed, model in train_group(task, k, args.seeds, args.max_tries):
            items = [("", model)]
            if k in copy_widths:
                items.append(("*", SymmetryTransform().sample(model, np.random.default_rng(seed))))
            try:
                for tag, m in items:
                    name = f"{task} k={k} seed {seed}{tag}"
                    t0 = time.perf_counter()
                    cls = explanation_classes(
                        m, task, min_node_sparsity=sparsity, name=name,
                        max_interpretations=args.max_interpretations,
                    )  # fmt: skip
                    seconds_classes.append(time.perf_counter() - t0)
                    networks[name] = (m, cls, task, k)
            except MechequivError as err:
                left_out.append({"task": task, "k": k, "seed": seed, "why": str(err)})
                networks.pop(f"{task} k={k} seed {seed}", None)
                continue
            members.append(f"{task} k={k} seed {seed}")
        groups[(task, k)] = members
        print(f"{task} k={k}: {len(members)} networks", flush=True)

    # 2. pairs
    pairs = []
    for members in groups.values():
        pairs += [(a, b, "seeds") for a, b in itertools.combinations(members, 2)]
        pairs += [(a, a + "*", "symmetry copy") for a in members if a + "*" in networks]
    for task in tasks:
        for k1, k2 in itertools.combinations(widths, 2):
            pairs += [
                (a, b, "cross-width")
                for a in groups[(task, k1)] for b in groups[(task, k2)]
            ]  # fmt: skip
    print(f"{len(pairs)} pairs over {len(networks)} networks", flush=True)

    # 3. samplers: label-free pools drawn once per network
    t_pool: dict[str, float] = {}
    pool_failures: dict[str, list[str]] = {}
    sampler_objs: dict[str, Any] = {}
    for s in samplers:
        if s == "symmetry":
            sampler_objs[s] = SymmetryTransform()
        elif s == "retrained":
            sampler_objs[s] = Retrained(*[[networks[n][0] for n in m] for m in groups.values()])
        elif s in ("distill", "perturb"):
            c0 = time.process_time()
            pools = []
            for i, (name, (m, _, task, _)) in enumerate(sorted(networks.items())):
                x = torch.as_tensor(boolean_task(task).inputs, dtype=torch.float64)
                sampler = label_free(s, x)
                draw_rng = np.random.default_rng([i, len(s)])
                try:
                    pools.append([m, *(sampler.sample(m, draw_rng) for _ in range(args.pool))])
                except MechequivError:  # no behaviour-preserving draw: no Congruity for it
                    pool_failures.setdefault(s, []).append(name)
            sampler_objs[s] = Retrained(*pools)
            t_pool[s] = time.process_time() - c0
            print(f"{s} pools: {t_pool[s]:.1f} s CPU", flush=True)
        else:
            raise SystemExit(f"unknown sampler {s!r}: distill, perturb, symmetry or retrained")

    rows = []
    t_congruity: dict[str, list[float]] = {s: [] for s in samplers}
    for a, b, kind in pairs:
        ma, ca, task, k = networks[a]
        mb, cb, _, kb = networks[b]
        r = compare_classes(ca, cb)
        x = torch.as_tensor(boolean_task(task).inputs, dtype=torch.float64)
        ra, rb = hidden_representations(ma, x), hidden_representations(mb, x)
        row = {
            "a": a, "b": b, "kind": kind, "task": task, "k": [k, kb],
            "equivalent": r.equivalent,
            "same_algorithms": bool(r.algorithms.jaccard == 1.0 and r.algorithms.n_a > 0),
            **{f"J_{j}": getattr(r, j).jaccard for j in JACCARDS},
            "linear_cka": measures.linear_cka(ra, rb),
            "-procrustes": -measures.procrustes(ra, rb),
            "-repr_distance": -measures.repr_distance(ra, rb),
        }  # fmt: skip
        for s, obj in sampler_objs.items():
            c0 = time.process_time()
            try:
                c = congruity(ma, mb, x, n=args.n, sampler=obj, seed=0, progress=False)
                row[f"congruity[{s}]"] = c.score
            except (ValueError, TypeError):  # e.g. Retrained: a copy is in no group
                row[f"congruity[{s}]"] = None
            t_congruity[s].append(time.process_time() - c0)
        rows.append(row)
    print(f"{len(rows)} pairs scored", flush=True)

    # 4. AUCs with network-bootstrap intervals and shuffled nulls, correlations, reliability
    predictors = [
        *(f"congruity[{s}]" for s in samplers), "linear_cka", "-procrustes", "-repr_distance"
    ]  # fmt: skip
    results, table = [], []
    for subset in ("all pairs", "trained pairs"):
        sub = [r for r in rows if subset == "all pairs" or r["kind"] in TRAINED]
        for pred in predictors:
            have = [r for r in sub if r[pred] is not None]
            if not have:
                continue
            entry: dict[str, Any] = {"subset": subset, "predictor": pred, "n_pairs": len(have)}
            for label in LABELS:
                entry[label] = score_entry(have, pred, label, rng, args.perm)
            scores = np.array([r[pred] for r in have], dtype=float)
            for j in JACCARDS:
                vals = np.array([r[f"J_{j}"] for r in have])
                rho = spearmanr(scores, vals).statistic if np.ptp(vals) > 0 else float("nan")
                entry[f"spearman_J_{j}"] = None if np.isnan(rho) else round(float(rho), 4)
            results.append(entry)
            cells = {}
            for lab in LABELS:
                e = entry[lab]
                cells[f"AUC {lab}"] = "n/a" if e["auc"] is None else (
                    f"{e['auc']:.2f} {e['ci95_networks'] or '[n/a]'}"
                    f" null {e['shuffled_2.5']:.2f}-{e['shuffled_97.5']:.2f} p={e['p_one_sided']:.2g}"
                    f" ({e['n_pos']}+)"
                )  # fmt: skip
            table.append({"subset": subset, "predictor": pred, "pairs": len(have), **cells})
    print_table(table, list(table[0]))
    reliability = {}
    for s in samplers:
        key = f"congruity[{s}]"
        for subset, name in (("seed pairs", "trained pairs"), ("all pairs", "all pairs")):
            have = [r for r in rows if r[key] is not None
                    and (subset == "all pairs" or r["kind"] in TRAINED)]  # fmt: skip
            for label in LABELS:
                data = CalibrationData(
                    key, label, subset, tuple(r[key] for r in have),
                    tuple(bool(r[label]) for r in have),
                )  # fmt: skip
                reliability[f"{key} | {label} | {name}"] = [
                    {"bin": [round(b.lo, 2), round(b.hi, 2)], "n": b.n,
                     "observed_rate": b.observed_rate, "mean_score": b.mean_score}
                    for b in data.reliability()
                ]  # fmt: skip
    counts = {
        "networks": len(networks),
        "pairs": len(rows),
        **{
            f"{kind} pairs": sum(r["kind"] == kind for r in rows)
            for kind in ("seeds", "cross-width", "symmetry copy")
        },
        **{
            f"same_algorithms among {kind}": sum(r["same_algorithms"] for r in rows if r["kind"] == kind)
            for kind in TRAINED
        },
        "equivalent among trained pairs": sum(r["equivalent"] for r in rows if r["kind"] in TRAINED),
        "copies equivalent": sum(r["equivalent"] for r in rows if r["kind"] == "symmetry copy"),
    }  # fmt: skip
    print(counts)
    atomic_write_json(
        args.out,
        {
            "benchmark": "exact_equivalence",
            "env": machine(),
            "settings": {
                "tasks": tasks,
                "widths": widths,
                "copy_widths": sorted(copy_widths),
                "seeds": args.seeds,
                "max_tries": args.max_tries,
                "samplers": samplers,
                "congruity_rounds": args.n,
                "label_free_pool": args.pool,
                "label_free_output": "two logits (0, 10 (y - 0.5))",
                "max_interpretations": args.max_interpretations,
                "permutations": args.perm,
                "bootstrap": "1000 replicates over networks, pair weight = product of the two "
                "networks' multiplicities, percentile 95 %",
                "circuit_filter": {str(k): paper_min_node_sparsity((k, k)) for k in widths},
                "representations": "hidden layers concatenated, on the 4 truth-table rows",
            },
            "counts": counts,
            "auc": results,
            "reliability": reliability,
            "seconds": {
                "total_wall": round(time.perf_counter() - t_start, 1),
                "total_cpu": round(time.process_time() - c_start, 1),
                "classes_per_network_median": round(statistics.median(seconds_classes), 3),
                "classes_per_network_max": round(max(seconds_classes), 3),
                **{f"{s}_pools_cpu": round(v, 1) for s, v in t_pool.items()},
                **{
                    f"congruity[{s}]_per_pair_cpu_median": round(statistics.median(t), 3)
                    for s, t in t_congruity.items()
                    if t
                },
            },
            "groups": {f"{t} k={k}": m for (t, k), m in groups.items()},
            "left_out": left_out,
            "label_free_pool_failures": pool_failures,
            "pairs": rows,
        },
    )
    print(f"wrote {args.out} and {write_figure(args.out)}")


if __name__ == "__main__":
    main()
