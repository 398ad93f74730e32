"""Exact interpretive equivalence as ground truth: how well do Congruity and baselines predict it?

Zoo: Boolean MLPs (2, k, k, 1) trained with the paper's recipe (``train_mlp``) on the gates
``--tasks`` at hidden widths ``--widths``, seeds 0, 1, ... until ``--seeds`` converge per
(task, width) group (at most ``--max-tries`` seeds). Networks at k >= 4 use the reference
script's circuit filter (``paper_min_node_sparsity``); a network with more interpretation
classes than ``--max-interpretations`` is left out (listed in the json).

Pairs (all within one task and width): every pair of converged seeds, and every network with a
random hidden-unit permutation and positive rescaling of itself (``SymmetryTransform``), whose
explanation classes are computed from its own weights like any other network's.

Ground truth per pair (``exact_equivalence`` definitions, computed exactly):

* ``equivalent``: identical circuit, interpretation, algorithm and alignment classes;
* ``same_algorithms``: identical non-empty sets of aligned algorithms (the same gate
  decompositions in the what-then-where sense), the label that matters among independently
  trained seeds (where ``equivalent`` never holds in practice);
* the four Jaccard indices (continuous).

Predictors (higher = predicted more equivalent): Congruity score with each sampler named by
``--sampler`` (``symmetry`` = SymmetryTransform, ``retrained`` = Retrained over the zoo's
(task, width) groups, or ``package.module:Factory``, instantiated without arguments, for a
sampler built elsewhere), and linear CKA, minus Procrustes angular distance and minus
``repr_distance`` on the hidden representations of the task rows (every hidden layer,
concatenated). Representations use the 4 truth-table rows, the stimuli the audit sees.

Reported: ROC AUC of each predictor for each binary label, on all pairs and on seed pairs
only, with a null beside each: the AUC's permutation distribution under shuffled labels (mean,
2.5 and 97.5 percentiles, one-sided p) and the AUC of a random score; Spearman correlation
with each Jaccard index; calibration data (score bins -> fraction equivalent) for Congruity.

Usage: python benchmarks/bench_exact_equivalence.py [--tasks XOR,AND,OR,IMP] [--widths 2,3,4]
       [--seeds 5] [--sampler symmetry --sampler retrained] [--n 10] [--out PATH]
Writes benchmarks/results/exact_equivalence.json.
"""

from __future__ import annotations

import argparse
import importlib
import itertools
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.stats import rankdata, spearmanr

from _timing import print_table
from mechequiv import measures
from mechequiv._io import atomic_write_json
from mechequiv.equivalence import Retrained, SymmetryTransform, congruity
from mechequiv.equivalence.reprs import hidden_representations
from mechequiv.errors import MechequivError
from mechequiv.identifiability import (
    boolean_task,
    compare_classes,
    explanation_classes,
    paper_min_node_sparsity,
    train_mlp,
)

LABELS = ("equivalent", "same_algorithms")
JACCARDS = ("circuits", "interpretations", "algorithms", "alignments")


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """ROC AUC by the Mann-Whitney rank statistic (ties count 1/2); NaN with one class only."""
    pos = labels.astype(bool)
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def auc_with_nulls(
    scores: np.ndarray, labels: np.ndarray, rng: np.random.Generator, n_perm: int
) -> dict[str, Any]:
    observed = auc(scores, labels)
    if np.isnan(observed):
        return {"auc": None, "n_pos": int(labels.sum()), "n_neg": int((1 - labels).sum())}
    null = np.array([auc(scores, rng.permutation(labels)) for _ in range(n_perm)])
    random_score = np.array([auc(rng.random(len(scores)), labels) for _ in range(n_perm)])
    return {
        "auc": round(observed, 4),
        "n_pos": int(labels.sum()),
        "n_neg": int((1 - labels).sum()),
        "shuffled_mean": round(float(null.mean()), 4),
        "shuffled_2.5": round(float(np.quantile(null, 0.025)), 4),
        "shuffled_97.5": round(float(np.quantile(null, 0.975)), 4),
        "p_one_sided": float((1 + (null >= observed).sum()) / (1 + n_perm)),
        "random_score_mean": round(float(random_score.mean()), 4),
    }


def make_sampler(name: str, groups: list[list[torch.nn.Module]]) -> Any:
    if name == "symmetry":
        return SymmetryTransform()
    if name == "retrained":
        return Retrained(*groups)
    if ":" in name:
        module, attr = name.split(":", 1)
        return getattr(importlib.import_module(module), attr)()
    raise ValueError(f"unknown sampler {name!r}: use symmetry, retrained or package.module:Factory")


def train_group(task: str, k: int, want: int, max_tries: int) -> list[tuple[int, torch.nn.Module]]:
    out = []
    for seed in range(max_tries):
        trained = train_mlp(task, (k, k), seed=seed)
        if trained.converged:
            out.append((seed, trained.model))
        if len(out) == want:
            break
    return out


def calibration(scores: np.ndarray, labels: np.ndarray, bins: int = 10) -> list[dict[str, Any]]:
    edges = np.linspace(0.0, 1.0, bins + 1)
    out = []
    for lo, hi in itertools.pairwise(edges):
        sel = (scores >= lo) & ((scores < hi) if hi < 1.0 else (scores <= hi))
        out.append(
            {
                "bin": [round(float(lo), 2), round(float(hi), 2)],
                "n": int(sel.sum()),
                "fraction_positive": None if not sel.any() else round(float(labels[sel].mean()), 4),
                "mean_score": None if not sel.any() else round(float(scores[sel].mean()), 4),
            }
        )
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--tasks", default="XOR,AND,OR,IMP")
    p.add_argument("--widths", default="2,3,4")
    p.add_argument("--seeds", type=int, default=5, help="converged seeds per (task, width)")
    p.add_argument("--max-tries", type=int, default=16)
    p.add_argument("--sampler", action="append", default=None)
    p.add_argument("--n", type=int, default=10, help="Congruity rounds per pair")
    p.add_argument("--max-interpretations", type=int, default=150_000)
    p.add_argument("--perm", type=int, default=2000, help="permutations for the null")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "exact_equivalence.json"
    )
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    samplers = args.sampler or ["symmetry", "retrained"]
    tasks = args.tasks.split(",")
    widths = [int(w) for w in args.widths.split(",")]
    rng = np.random.default_rng(0)

    # 1. zoo and exact explanation classes
    networks, groups, left_out = {}, {}, []
    seconds_classes = []
    for task, k in itertools.product(tasks, widths):
        group = train_group(task, k, args.seeds, args.max_tries)
        sparsity = paper_min_node_sparsity((k, k))
        members = []
        for seed, model in group:
            copy = SymmetryTransform().sample(model, np.random.default_rng(1000 + seed))
            try:
                for tag, m in (("", model), ("*", copy)):
                    name = f"{task} k={k} seed {seed}{tag}"
                    t0 = time.perf_counter()
                    cls = explanation_classes(
                        m, task, min_node_sparsity=sparsity, name=name,
                        max_interpretations=args.max_interpretations,
                    )  # fmt: skip
                    seconds_classes.append(time.perf_counter() - t0)
                    networks[name] = (m, cls, task, k, seed)
            except MechequivError as err:
                left_out.append({"task": task, "k": k, "seed": seed, "why": str(err)})
                networks.pop(f"{task} k={k} seed {seed}", None)
                continue
            members.append(f"{task} k={k} seed {seed}")
        groups[(task, k)] = members
        print(f"{task} k={k}: {len(members)} networks ({len(group)} converged)", flush=True)

    # 2. pairs
    pairs = []
    for (task, k), members in groups.items():
        if len(members) < 4:
            print(f"  {task} k={k}: fewer than 4 networks, no claims from this group")
        pairs += [(a, b, "seeds") for a, b in itertools.combinations(members, 2)]
        pairs += [(a, a + "*", "symmetry copy") for a in members]
    zoo_groups = [[networks[n][0] for n in members] for members in groups.values() if members]
    sampler_objs = {s: make_sampler(s, zoo_groups) for s in samplers}
    rows = []
    t_congruity = {s: [] for s in samplers}
    for a, b, kind in pairs:
        ma, ca, task, k, _ = networks[a]
        mb, cb, *_ = networks[b]
        r = compare_classes(ca, cb)
        x = torch.as_tensor(boolean_task(task).inputs, dtype=torch.float64)
        ra, rb = hidden_representations(ma, x), hidden_representations(mb, x)
        row = {
            "a": a, "b": b, "kind": kind, "task": task, "k": k,
            "equivalent": r.equivalent,
            "same_algorithms": bool(r.algorithms.jaccard == 1.0 and r.algorithms.n_a > 0),
            **{f"J_{j}": getattr(r, j).jaccard for j in JACCARDS},
            "linear_cka": measures.linear_cka(ra, rb),
            "-procrustes": -measures.procrustes(ra, rb),
            "-repr_distance": -measures.repr_distance(ra, rb),
        }  # fmt: skip
        for s, obj in sampler_objs.items():
            t0 = time.perf_counter()
            try:
                c = congruity(ma, mb, x, n=args.n, sampler=obj, seed=0, progress=False)
                row[f"congruity[{s}]"] = c.score
            except (ValueError, TypeError):  # e.g. Retrained: a symmetry copy is in no group
                row[f"congruity[{s}]"] = None
            t_congruity[s].append(time.perf_counter() - t0)
        rows.append(row)
    print(f"{len(rows)} pairs", flush=True)

    # 3. AUCs with nulls, correlations, calibration
    predictors = [
        *(f"congruity[{s}]" for s in samplers),
        "linear_cka",
        "-procrustes",
        "-repr_distance",
    ]
    results, table = [], []
    for subset in ("all pairs", "seed pairs"):
        sub = [r for r in rows if subset == "all pairs" or r["kind"] == "seeds"]
        for pred in predictors:
            have = [r for r in sub if r[pred] is not None]
            if not have:
                continue
            scores = np.array([r[pred] for r in have], dtype=float)
            entry = {"subset": subset, "predictor": pred, "n_pairs": len(have)}
            for label in LABELS:
                y = np.array([r[label] for r in have], dtype=int)
                entry[label] = auc_with_nulls(scores, y, rng, args.perm)
            for j in JACCARDS:
                vals = np.array([r[f"J_{j}"] for r in have])
                rho = spearmanr(scores, vals).statistic if np.ptp(vals) > 0 else float("nan")
                entry[f"spearman_J_{j}"] = None if np.isnan(rho) else round(float(rho), 4)
            results.append(entry)
            table.append(
                {
                    "subset": subset, "predictor": pred, "pairs": len(have),
                    **{
                        f"AUC {lab}": "n/a" if entry[lab]["auc"] is None else
                        f"{entry[lab]['auc']:.3f} (null {entry[lab]['shuffled_2.5']:.2f}-"
                        f"{entry[lab]['shuffled_97.5']:.2f}, p={entry[lab]['p_one_sided']:.3g})"
                        for lab in LABELS
                    },
                    "rho J_interp": entry["spearman_J_interpretations"],
                    "rho J_alg": entry["spearman_J_algorithms"],
                }
            )  # fmt: skip
    print_table(table, list(table[0]))
    calib = {}
    for s in samplers:
        key = f"congruity[{s}]"
        have = [r for r in rows if r[key] is not None]
        scores = np.array([r[key] for r in have], dtype=float)
        calib[key] = {
            label: calibration(scores, np.array([r[label] for r in have], dtype=float))
            for label in LABELS
        }
    counts = {
        "pairs": len(rows),
        "seed_pairs": sum(r["kind"] == "seeds" for r in rows),
        "copy_pairs": sum(r["kind"] != "seeds" for r in rows),
        "equivalent_seed_pairs": sum(r["equivalent"] and r["kind"] == "seeds" for r in rows),
        "same_algorithms_seed_pairs": sum(
            r["same_algorithms"] and r["kind"] == "seeds" for r in rows
        ),
        "copies_equivalent": sum(r["equivalent"] for r in rows if r["kind"] != "seeds"),
    }
    print(counts)
    env = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "machine": platform.machine(),
        "threads": args.threads,
    }
    atomic_write_json(
        args.out,
        {
            "benchmark": "exact_equivalence",
            "env": env,
            "settings": {
                "tasks": tasks,
                "widths": widths,
                "seeds": args.seeds,
                "max_tries": args.max_tries,
                "samplers": samplers,
                "congruity_rounds": args.n,
                "max_interpretations": args.max_interpretations,
                "permutations": args.perm,
                "circuit_filter": {str(k): paper_min_node_sparsity((k, k)) for k in widths},
                "representations": "hidden layers concatenated, on the 4 truth-table rows",
            },
            "counts": counts,
            "auc": results,
            "calibration": calib,
            "seconds": {
                "classes_per_network_median": round(statistics.median(seconds_classes), 3),
                "classes_per_network_max": round(max(seconds_classes), 3),
                **{
                    f"congruity[{s}]_per_pair_median": round(statistics.median(t), 3)
                    for s, t in t_congruity.items()
                    if t
                },
            },
            "groups": {f"{t} k={k}": m for (t, k), m in groups.items()},
            "left_out": left_out,
            "pairs": rows,
        },
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
