"""Exact equivalence as ground truth: how well do Congruity and baselines predict it?

Two zoos, run separately (``--zoo``) and merged (``--merge``) so that each run stays short:

* ``trained``: Boolean MLPs (2, k, k, 1) trained with the paper's recipe (``train_mlp``) on the
  gates ``--tasks`` at hidden widths ``--widths``, seeds 0, 1, ... until ``--seeds`` converge
  per (task, width) group (at most ``--max-tries`` seeds). Networks at k >= 4 use the reference
  script's circuit filter (``paper_min_node_sparsity``); a network with more interpretation
  classes than ``--max-interpretations`` is left out (listed in the json). Audit settings: the
  paper's (the full network is not a circuit). Pairs: ``seeds`` (every pair of converged seeds
  of one (task, width) group), ``cross-width`` with ``--cross-width`` (every pair of one task
  across two widths), and ``symmetry copy`` (each network of ``--copy-widths`` with a random
  hidden-unit permutation and positive rescaling of itself, ``SymmetryTransform``, its classes
  computed from its own weights: the positive control for ``equivalent``).
* ``hand-built``: every design of ``--tasks`` in every realisation
  (``identifiability.hand_built_zoo``: designed gate decompositions; reparametrised, biased,
  redundant, idle and mixed realisations); pairs: every pair of one task (kind ``hand-built``).
  Audited with ``include_full=True``: most designs are minimal, so without the full network
  they have no circuit at all and the circuit and interpretation overlaps would be vacuous.

Ground truth per pair (``exact_equivalence`` definitions, computed exactly):
``equivalent`` (identical circuit, interpretation, algorithm and alignment classes) and
``same_algorithms`` (identical non-empty sets of aligned algorithms: the same gate
decompositions in the what-then-where sense), plus the four Jaccard indices; hand-built pairs
also carry ``same_decomposition``, the design's label (the same decomposition string), which
the audit need not agree with.

Predictors (higher = predicted more equivalent): Congruity with the label-free samplers
``distill`` (``Distill``) and ``perturb`` (``PerturbRefit``), ``symmetry``
(``SymmetryTransform``, the positive control), optionally ``retrained`` (trained zoo only) and
``circuit-reprs``, the project's fixed label-free configuration (``circuit_reprs``: per network
``discover_congruity_circuit`` over the units of its hidden layers, then
``circuit_congruity_setup``: ResampleAblation outside the circuit, or OnePointSet when the
circuit is every unit, and one ``CircuitReprs``; its networks read the same two logits as the
label-free samplers, so discovery scores KL and the behaviour check bounds KL <= 0.05);
linear CKA, minus Procrustes angular distance, minus ``repr_distance`` on the hidden
representations of the task rows (hidden layers concatenated). The single output unit is read
as two logits ``(0, 10 (y - 0.5))`` by the label-free samplers, so their KL and agreement
checks see the rounded Boolean behaviour. Each network's label-free pool (``--pool`` draws) is
drawn once, seeded by the network's name, and Congruity rounds draw from it with replacement
(the pool design of ``Retrained``), which makes the per-pair cost independent of the sampler's.

Reported per subset (trained pairs = seeds + cross-width; hand-built pairs; all pairs): ROC AUC
of each predictor for each label with a 95 % bootstrap interval over networks (pairs sharing a
network are dependent) and the shuffled-label null (2.5-97.5 % and one-sided p); Spearman with
each Jaccard; reliability bins of each Congruity; and, for samplers whose test was recorded
(``distinguishable[...]``), calibration: the pairs flagged distinguishable (Holm p < 0.05)
among the pairs with and without each label.

Usage: python benchmarks/bench_exact_equivalence.py --zoo trained [--tasks XOR,AND,OR]
       [--widths 2,3] [--seeds 10] [--sampler distill ...] [--n 6] --out PART.json
       python benchmarks/bench_exact_equivalence.py --zoo hand-built --out PART.json
       python benchmarks/bench_exact_equivalence.py --merge PART1.json PART2.json ...
Writes benchmarks/results/exact_equivalence.json (and its calibration figure) by default.
benchmarks/results/exact_equivalence_circuit_reprs.json holds the same networks and pairs scored
with ``--sampler circuit-reprs`` alone (runs ``--zoo hand-built --tasks XOR,AND,OR``,
``--zoo trained --tasks AND,OR,XOR,IMP --widths 2,3 --seeds 10`` and ``--widths 4 --seeds 6
--copy-widths "" --max-interpretations 1000000``, merged with ``--out`` that file); its
``circuit_reprs`` entry counts the networks that got OnePointSet.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import statistics
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.stats import spearmanr

from _timing import machine, print_table
from mechequiv import measures
from mechequiv._io import atomic_write_json
from mechequiv.equivalence import (
    Retrained,
    SymmetryTransform,
    circuit_congruity_setup,
    congruity,
    default_points,
    discover_congruity_circuit,
    neurons,
)
from mechequiv.equivalence.refit import Distill, PerturbRefit
from mechequiv.equivalence.reprs import hidden_representations
from mechequiv.errors import MechequivError
from mechequiv.identifiability import (
    boolean_task,
    compare_classes,
    estimate_audit,
    explanation_classes,
    hand_built_zoo,
    paper_min_node_sparsity,
    train_mlp,
)
from mechequiv.identifiability.calibration import (
    SUBSETS,
    CalibrationData,
    calibration_data,
    network_bootstrap_auc,
    roc_auc,
    shuffled_null,
)

LABELS = ("equivalent", "same_algorithms", "same_decomposition")
JACCARDS = ("circuits", "interpretations", "algorithms", "alignments")
RESULTS = Path(__file__).parent / "results" / "exact_equivalence.json"
SAMPLERS = ("distill", "perturb", "symmetry", "retrained", "circuit-reprs")

# network entry: (module, explanation classes, task, hidden widths, design decomposition or None)
Network = tuple[torch.nn.Module, Any, str, tuple[int, ...], str | None]


def two_logits(out: torch.Tensor) -> torch.Tensor:
    """The single output read as two logits: softmax = (1 - p, p) with p = sigmoid(10 (y - .5))."""
    return torch.cat([torch.zeros_like(out), 10.0 * (out - 0.5)], dim=1)


class TwoLogits(torch.nn.Module):
    """:func:`two_logits` as the last layer, so that circuit discovery and the behaviour check
    of ``circuit-reprs`` see the output the label-free samplers see."""

    def forward(self, out: torch.Tensor) -> torch.Tensor:
        return two_logits(out)


class CircuitReprsSetup:
    """The fixed configuration (``circuit-reprs``) for every network: each network with
    :class:`TwoLogits` appended (its hidden layers keep their names), its circuit over the units
    of its hidden layers (``discover_congruity_circuit``; the ``neurons`` of
    ``default_points``, as ``study.compare`` does for models without transformer hook points),
    its sampler and one ``CircuitReprs`` over all of them."""

    def __init__(self, networks: dict[str, Network]) -> None:
        self.models: dict[str, torch.nn.Module] = {}
        circuits, self.circuit_sizes, self.discovery_failures = {}, {}, {}
        for name, (m, _, task, _, _) in sorted(networks.items()):
            x = torch.as_tensor(boolean_task(task).inputs, dtype=torch.float64)
            wrapped = torch.nn.Sequential(
                OrderedDict([*m.named_children(), ("two_logits", TwoLogits())])
            )
            comps = [c for p in default_points(m) for c in neurons(wrapped, x, p)]
            try:
                circuits[name] = discover_congruity_circuit(wrapped, x, comps)
            except (MechequivError, ValueError) as err:
                self.discovery_failures[name] = str(err)
                continue
            self.models[name] = wrapped
            c = circuits[name]
            self.circuit_sizes[name] = [len(c.nodes), len(c.candidates)]
        # one setup for all networks: every task's inputs are the same 4 truth-table rows in
        # the same order, so one x serves every sampler (checked, not assumed)
        x = torch.as_tensor(boolean_task("AND").inputs, dtype=torch.float64)
        for task in {t for _, _, t, _, _ in networks.values()}:
            if not np.array_equal(boolean_task(task).inputs, x.numpy()):
                raise SystemExit(f"task {task} has other input rows than AND: one setup per task")
        names = list(self.models)
        samplers, self.reprs = circuit_congruity_setup(
            [self.models[n] for n in names], [circuits[n] for n in names], x
        )
        self.samplers = dict(zip(names, samplers, strict=True))
        self.one_point_set = sorted(
            n for n, s in self.samplers.items() if type(s).__name__ == "OnePointSet"
        )

    def summary(self) -> dict[str, Any]:
        return {
            "networks": len(self.circuit_sizes),
            "one_point_set": len(self.one_point_set),
            "one_point_set_networks": self.one_point_set,
            "circuit_nodes_of_candidates": self.circuit_sizes,
            "discovery_failures": self.discovery_failures,
        }


def label_free(name: str, x: torch.Tensor) -> Distill | PerturbRefit:
    if name == "distill":
        return Distill(x, steps=600, lr=1e-2, max_kl=0.05, max_tries=8, output=two_logits)
    return PerturbRefit(
        x, noise=0.1, steps=50, lr=1e-3, loss="logits", max_kl=0.05, max_tries=5,
        output=two_logits,
    )  # fmt: skip


def name_seed(name: str, sampler: str) -> list[int]:
    """A seed from a network's name (a draw does not depend on which other networks exist)."""
    return [int.from_bytes(hashlib.sha256(f"{name}|{sampler}".encode()).digest()[:8], "little")]


def train_group(task: str, k: int, want: int, max_tries: int) -> list[tuple[int, torch.nn.Module]]:
    out = []
    for seed in range(max_tries):
        trained = train_mlp(task, (k, k), seed=seed)
        if trained.converged:
            out.append((seed, trained.model))
        if len(out) == want:
            break
    return out


def trained_zoo(args: argparse.Namespace) -> tuple[dict[str, Network], list[tuple[str, str, str]], dict[str, Any]]:  # fmt: skip
    tasks, widths = args.tasks.split(","), [int(w) for w in args.widths.split(",")]
    copy_widths = {int(w) for w in args.copy_widths.split(",") if w}
    networks: dict[str, Network] = {}
    groups: dict[tuple[str, int], list[str]] = {}
    left_out, seconds = [], []
    by_width: dict[str, list[float]] = {}
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
                    t0 = time.process_time()
                    cls = explanation_classes(
                        m, task, min_node_sparsity=sparsity, name=name,
                        max_interpretations=args.max_interpretations,
                    )  # fmt: skip
                    seconds.append(time.process_time() - t0)
                    by_width.setdefault(str(k), []).append(seconds[-1])
                    networks[name] = (m, cls, task, (k, k), None)
            except MechequivError as err:
                left_out.append({"task": task, "k": k, "seed": seed, "why": str(err)})
                networks.pop(f"{task} k={k} seed {seed}", None)
                continue
            members.append(f"{task} k={k} seed {seed}")
        groups[(task, k)] = members
        print(f"{task} k={k}: {len(members)} networks", flush=True)
    pairs = []
    for members in groups.values():
        pairs += [(a, b, "seeds") for a, b in itertools.combinations(members, 2)]
        pairs += [(a, a + "*", "symmetry copy") for a in members if a + "*" in networks]
    if args.cross_width:
        for task in tasks:
            for k1, k2 in itertools.combinations(widths, 2):
                pairs += [
                    (a, b, "cross-width")
                    for a in groups[(task, k1)] for b in groups[(task, k2)]
                ]  # fmt: skip
    info = {
        "zoo": "trained",
        "settings": {
            "tasks": tasks,
            "widths": widths,
            "copy_widths": sorted(copy_widths),
            "seeds": args.seeds,
            "max_tries": args.max_tries,
            "cross_width": args.cross_width,
            "max_interpretations": args.max_interpretations,
            "audit": "paper settings (include_full=False), zero ablation, pairs='forward'",
            "circuit_filter": {str(k): paper_min_node_sparsity((k, k)) for k in widths},
            # the audit's own up-front estimate (counts only); enumerating interpretation
            # classes comes on top and is guarded by max_interpretations, counted exactly first
            "estimate_audit_cpu_s": {
                str(k): round(
                    estimate_audit(
                        (2, k, k, 1), min_node_sparsity=paper_min_node_sparsity((k, k))
                    ).seconds,
                    2,
                )
                for k in widths
            },
        },
        "classes_cpu_s_median_by_width": {
            k: round(statistics.median(v), 2) for k, v in by_width.items()
        },
        "groups": {f"{t} k={k}": m for (t, k), m in groups.items()},
        "left_out": left_out,
        "classes_cpu_s": seconds,
    }
    return networks, pairs, info


def hand_built_set(args: argparse.Namespace) -> tuple[dict[str, Network], list[tuple[str, str, str]], dict[str, Any]]:  # fmt: skip
    tasks = args.tasks.split(",")
    networks: dict[str, Network] = {}
    seconds = []
    for h in hand_built_zoo(tasks, seed=args.hand_built_seed):
        t0 = time.process_time()
        cls = explanation_classes(h.net, h.task, include_full=True, name=h.name)
        seconds.append(time.process_time() - t0)
        networks[h.name] = (h.model(), cls, h.task, h.hidden_widths, h.decomposition)
    pairs = [
        (a, b, "hand-built")
        for a, b in itertools.combinations(networks, 2) if networks[a][2] == networks[b][2]
    ]  # fmt: skip
    info = {
        "zoo": "hand-built",
        "settings": {
            "tasks": tasks,
            "seed": args.hand_built_seed,
            "audit": "include_full=True, zero ablation, pairs='forward', no circuit filter",
            "designs": {n: [networks[n][4], list(networks[n][3])] for n in networks},
        },
        "classes_cpu_s": seconds,
    }
    return networks, pairs, info


def score_pairs(
    networks: dict[str, Network], pairs: list[tuple[str, str, str]], args: argparse.Namespace
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Labels and predictor scores of every pair; timing and pool failures."""
    samplers = args.sampler or ["distill", "perturb", "symmetry"]
    t_pool: dict[str, float] = {}
    pool_failures: dict[str, list[str]] = {}
    sampler_objs: dict[str, Any] = {}
    for s in samplers:
        if s == "symmetry":
            sampler_objs[s] = SymmetryTransform()
        elif s == "retrained":
            by_group: dict[tuple[str, tuple[int, ...]], list[torch.nn.Module]] = {}
            for name, (m, _, task, k, _) in networks.items():
                if not name.endswith("*"):
                    by_group.setdefault((task, k), []).append(m)
            sampler_objs[s] = Retrained(*by_group.values())
        elif s in ("distill", "perturb"):
            c0 = time.process_time()
            pools = []
            for name, (m, _, task, _, _) in sorted(networks.items()):
                x = torch.as_tensor(boolean_task(task).inputs, dtype=torch.float64)
                sampler = label_free(s, x)
                draw_rng = np.random.default_rng(name_seed(name, s))
                try:
                    pools.append([m, *(sampler.sample(m, draw_rng) for _ in range(args.pool))])
                except MechequivError:  # no behaviour-preserving draw: no Congruity for it
                    pool_failures.setdefault(s, []).append(name)
            sampler_objs[s] = Retrained(*pools)
            t_pool[s] = time.process_time() - c0
            print(f"{s} pools: {t_pool[s]:.1f} s CPU", flush=True)
        elif s == "circuit-reprs":
            c0 = time.process_time()
            sampler_objs[s] = CircuitReprsSetup(networks)
            t_pool["circuit-reprs_discovery"] = time.process_time() - c0
            print(f"circuit-reprs: {sampler_objs[s].summary()['one_point_set']} OnePointSet of "
                  f"{len(sampler_objs[s].models)}, {t_pool['circuit-reprs_discovery']:.1f} s CPU",
                  flush=True)  # fmt: skip
        else:
            raise SystemExit(f"unknown sampler {s!r}: one of {', '.join(SAMPLERS)}")

    rows = []
    failures: dict[str, list[str]] = {}
    t_congruity: dict[str, list[float]] = {s: [] for s in samplers}
    for a, b, kind in pairs:
        ma, ca, task, ka, da = networks[a]
        mb, cb, _, kb, db = networks[b]
        r = compare_classes(ca, cb)
        x = torch.as_tensor(boolean_task(task).inputs, dtype=torch.float64)
        ra, rb = hidden_representations(ma, x), hidden_representations(mb, x)
        row = {
            "a": a, "b": b, "kind": kind, "task": task, "k": [list(ka), list(kb)],
            "equivalent": r.equivalent,
            "same_algorithms": bool(r.algorithms.jaccard == 1.0 and r.algorithms.n_a > 0),
            **({"same_decomposition": da == db} if da is not None else {}),
            **{f"J_{j}": getattr(r, j).jaccard for j in JACCARDS},
            "linear_cka": measures.linear_cka(ra, rb),
            "-procrustes": -measures.procrustes(ra, rb),
            "-repr_distance": -measures.repr_distance(ra, rb),
        }  # fmt: skip
        for s, obj in sampler_objs.items():
            c0 = time.process_time()
            try:
                if isinstance(obj, CircuitReprsSetup):
                    c = congruity(
                        obj.models[a], obj.models[b], x, n=args.n, seed=0, progress=False,
                        sampler=(obj.samplers[a], obj.samplers[b]), reprs=obj.reprs,
                    )  # fmt: skip
                else:
                    c = congruity(ma, mb, x, n=args.n, sampler=obj, seed=0, progress=False)
                row[f"congruity[{s}]"] = c.score
                row[f"distinguishable[{s}]"] = c.distinguishable
            except (ValueError, TypeError, KeyError, MechequivError) as err:
                # e.g. Retrained: a network in no pool; circuit-reprs: no circuit found, or no
                # resample ablation passing the behaviour check
                row[f"congruity[{s}]"] = None
                row[f"distinguishable[{s}]"] = None
                if s == "circuit-reprs":
                    failures.setdefault(s, []).append(f"{a} / {b}: {str(err)[:200]}")
            t_congruity[s].append(time.process_time() - c0)
        rows.append(row)
    print(f"{len(rows)} pairs scored", flush=True)
    timing = {
        # circuit-reprs has no pool: its setup time is the circuit discovery of every network
        **{
            f"{s}_cpu" if s == "circuit-reprs_discovery" else f"{s}_pools_cpu": round(v, 1)
            for s, v in t_pool.items()
        },
        **{
            f"congruity[{s}]_per_pair_cpu_median": round(statistics.median(t), 3)
            for s, t in t_congruity.items()
            if t
        },
    }
    extra: dict[str, Any] = {}
    if "circuit-reprs" in sampler_objs:
        extra["circuit_reprs"] = {
            **sampler_objs["circuit-reprs"].summary(),
            "congruity_failures": failures.get("circuit-reprs", []),
        }
    return rows, {"seconds": timing, "label_free_pool_failures": pool_failures, **extra}


def score_entry(
    rows: list[dict[str, Any]], pred: str, label: str, rng: np.random.Generator, n_perm: int
) -> dict[str, Any] | None:
    have = [r for r in rows if r.get(pred) is not None and label in r]
    if not have:
        return None
    s = np.array([r[pred] for r in have], dtype=float)
    y = np.array([r[label] for r in have], dtype=bool)
    out: dict[str, Any] = {"n_pos": int(y.sum()), "n_neg": int((~y).sum())}
    value = roc_auc(s, y)
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


def in_subset(row: dict[str, Any], subset: str) -> bool:
    kinds = SUBSETS[subset]
    return kinds is None or row["kind"] in kinds


def summarise(rows: list[dict[str, Any]], n_perm: int) -> dict[str, Any]:
    """AUC table, reliability bins and counts from the scored pairs."""
    rng = np.random.default_rng(0)
    predictors = [k for k in rows[0] if k.startswith("congruity[")]
    predictors += [p for p in ("linear_cka", "-procrustes", "-repr_distance") if p in rows[0]]
    results, table = [], []
    for subset in SUBSETS:
        sub = [r for r in rows if in_subset(r, subset)]
        if not sub:
            continue
        for pred in predictors:
            have = [r for r in sub if r.get(pred) is not None]
            if not have:
                continue
            entry: dict[str, Any] = {"subset": subset, "predictor": pred, "n_pairs": len(have)}
            for label in LABELS:
                e = score_entry(have, pred, label, rng, n_perm)
                if e is not None:
                    entry[label] = e
            scores = np.array([r[pred] for r in have], dtype=float)
            for j in JACCARDS:
                vals = np.array([r[f"J_{j}"] for r in have])
                defined = np.ptp(vals) > 0 and np.ptp(scores) > 0
                rho = spearmanr(scores, vals).statistic if defined else float("nan")
                entry[f"spearman_J_{j}"] = None if np.isnan(rho) else round(float(rho), 4)
            results.append(entry)
            cells = {}
            for lab in LABELS:
                e = entry.get(lab)
                cells[f"AUC {lab}"] = "-" if e is None else "n/a" if e["auc"] is None else (
                    f"{e['auc']:.2f} {e['ci95_networks'] or '[n/a]'}"
                    f" null {e['shuffled_2.5']:.2f}-{e['shuffled_97.5']:.2f} p={e['p_one_sided']:.2g}"
                    f" ({e['n_pos']}+/{e['n_neg']}-)"
                )  # fmt: skip
            table.append({"subset": subset, "predictor": pred, "pairs": len(have), **cells})
    print_table(table, list(table[0]))
    reliability = {}
    for key in (p for p in predictors if p.startswith("congruity[")):
        for subset in SUBSETS:
            have = [r for r in rows if r[key] is not None and in_subset(r, subset)]
            for label in LABELS:
                with_label = [r for r in have if label in r]
                if not with_label:
                    continue
                data = CalibrationData(
                    key, label, subset, tuple(r[key] for r in with_label),
                    tuple(bool(r[label]) for r in with_label),
                )  # fmt: skip
                reliability[f"{key} | {label} | {subset}"] = [
                    {"bin": [round(b.lo, 2), round(b.hi, 2)], "n": b.n,
                     "observed_rate": b.observed_rate, "mean_score": b.mean_score}
                    for b in data.reliability()
                ]  # fmt: skip
    calibration = flagged_counts(rows)
    if calibration:
        print_table(calibration, list(calibration[0]))
    kinds = sorted({r["kind"] for r in rows})
    counts: dict[str, Any] = {
        "networks": len({n for r in rows for n in (r["a"], r["b"])}),
        "pairs": len(rows),
    }
    for kind in kinds:
        of = [r for r in rows if r["kind"] == kind]
        counts[f"{kind} pairs"] = len(of)
        for label in LABELS:
            if label in of[0]:
                counts[f"{label} among {kind}"] = sum(bool(r[label]) for r in of)
        # equivalent but neither network aligns an algorithm (J = 1 of two empty sets): such a
        # pair agrees only on where-then-what (often: no circuit but the full network either)
        counts[f"equivalent without aligned algorithms among {kind}"] = sum(
            bool(r["equivalent"] and not r["same_algorithms"]) for r in of
        )
    print(counts)
    out = {"counts": counts, "auc": results, "reliability": reliability}
    return {**out, "calibration": calibration} if calibration else out


def flagged_counts(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per sampler with a recorded test, subset and label: pairs flagged distinguishable (Holm
    p < 1 - level, level 0.95) among the pairs with the label (calibration: at most 0.05 of the
    same-mechanism pairs should be flagged) and among those without it (power)."""
    keys = sorted({k for r in rows for k in r if k.startswith("distinguishable[")})
    out = []
    for key, subset in itertools.product(keys, SUBSETS):
        have = [r for r in rows if r.get(key) is not None and in_subset(r, subset)]
        for label in LABELS:
            with_label = [r for r in have if label in r]
            if not with_label:
                continue
            pos = [bool(r[key]) for r in with_label if r[label]]
            neg = [bool(r[key]) for r in with_label if not r[label]]
            out.append({
                "sampler": key[len("distinguishable["):-1], "subset": subset, "label": label,
                "flagged_same": f"{sum(pos)}/{len(pos)}",
                "flagged_same_fraction": round(sum(pos) / len(pos), 4) if pos else None,
                "flagged_different": f"{sum(neg)}/{len(neg)}",
                "flagged_different_fraction": round(sum(neg) / len(neg), 4) if neg else None,
            })  # fmt: skip
    return out


def by_one_point_set(rows: list[dict[str, Any]], one_point: set[str]) -> list[dict[str, Any]]:
    """``circuit-reprs`` pairs split by how many of the two networks got OnePointSet (circuit =
    every hidden unit: the network is its own only implementation): per label, the pairs
    flagged among those with and without it, and the AUC where both occur."""
    key = "distinguishable[circuit-reprs]"
    have = [r for r in rows if r.get(key) is not None]
    out = []
    for k, label in itertools.product((0, 1, 2), LABELS):
        group = [
            r for r in have if label in r and (r["a"] in one_point) + (r["b"] in one_point) == k
        ]
        if not group:
            continue
        pos = [r for r in group if r[label]]
        neg = [r for r in group if not r[label]]
        scores = np.array([r["congruity[circuit-reprs]"] for r in group], dtype=float)
        auc = roc_auc(scores, np.array([bool(r[label]) for r in group])) if pos and neg else None
        out.append({
            "one_point_set_networks_in_pair": k, "label": label,
            "flagged_same": f"{sum(bool(r[key]) for r in pos)}/{len(pos)}",
            "flagged_different": f"{sum(bool(r[key]) for r in neg)}/{len(neg)}",
            "auc": None if auc is None or np.isnan(auc) else round(float(auc), 4),
        })  # fmt: skip
    return out


def write_figure(results_path: Path) -> Path:
    """The report's calibration figure (reliability + ROC) for every Congruity and the best
    baseline, label ``same_algorithms``, on hand-built pairs where the results have them (the
    subset with designed positives), else on trained pairs, as a PNG beside the results."""
    from mechequiv.report.figures import exact_equivalence_calibration

    results = json.loads(results_path.read_text())
    keys = [k for k in results["pairs"][0] if k.startswith("congruity[")] + ["-procrustes"]
    panels = [
        (subset, [calibration_data(results, k, "same_algorithms", subset) for k in keys])
        for subset in ("trained pairs", "hand-built pairs")
        if any(in_subset(r, subset) for r in results["pairs"])
    ]
    figs = []
    for subset, data in panels:
        figs.append(
            exact_equivalence_calibration(
                data, title=f"Predicting identical aligned algorithms ({subset})"
            )
        )
    png = results_path.with_name(results_path.stem + "_calibration.png")
    figs[0].savefig(png, dpi=110, bbox_inches="tight", facecolor="white")
    for (subset, _), fig in zip(panels[1:], figs[1:], strict=True):
        tag = subset.split()[0].replace("-", "_")
        fig.savefig(
            results_path.with_name(f"{results_path.stem}_calibration_{tag}.png"),
            dpi=110, bbox_inches="tight", facecolor="white",
        )  # fmt: skip
    return png


def merge(parts: list[Path], out: Path, n_perm: int, note: str | None = None) -> None:
    """One results file from several runs: their pairs concatenated, the summary recomputed."""
    loaded = [json.loads(p.read_text()) for p in parts]
    rows = [r for d in loaded for r in d["pairs"]]
    for d in loaded:  # a network name must come from one run only
        own = {n for r in d["pairs"] for n in (r["a"], r["b"])}
        others = {n for e in loaded if e is not d for r in e["pairs"] for n in (r["a"], r["b"])}
        if own & others:
            raise SystemExit(f"runs share networks {sorted(own & others)[:3]}: not mergeable")
    summary = summarise(rows, n_perm)
    atomic_write_json(
        out,
        {
            "benchmark": "exact_equivalence",
            "env": loaded[0]["env"],
            **({"note": note} if note else {}),
            "merged_from": [
                {
                    "file": p.name,
                    "zoo": d["zoo"],
                    "settings": d["settings"],
                    "counts": d["counts"],
                    "seconds": d["seconds"],
                    **{k: d[k] for k in ("classes_cpu_s_median_by_width",) if k in d},
                }
                for p, d in zip(parts, loaded, strict=True)
            ],
            "settings": {k: v for k, v in loaded[0]["settings"].items() if k in _COMMON},
            **summary,
            "left_out": [x for d in loaded for x in d.get("left_out", [])],
            "label_free_pool_failures": {
                s: [n for d in loaded for n in d["label_free_pool_failures"].get(s, [])]
                for s in {s for d in loaded for s in d["label_free_pool_failures"]}
            },
            **circuit_reprs_part(parts, loaded, rows),
            "pairs": rows,
        },
    )
    print(f"wrote {out} and {write_figure(out)}")


def circuit_reprs_part(
    parts: list[Path], loaded: list[dict[str, Any]], rows: list[dict[str, Any]]
) -> dict[str, Any]:
    """The merged runs' ``circuit_reprs`` records, their OnePointSet total and the calibration
    split by OnePointSet (nothing when no run used ``circuit-reprs``)."""
    records = {
        p.name: d["circuit_reprs"]
        for p, d in zip(parts, loaded, strict=True)
        if "circuit_reprs" in d
    }
    if not records:
        return {}
    one_point = {n for r in records.values() for n in r["one_point_set_networks"]}
    split = by_one_point_set(rows, one_point)
    print_table(split, list(split[0]))
    return {
        "circuit_reprs": {
            "networks": sum(r["networks"] for r in records.values()),
            "one_point_set": len(one_point),
            "by_one_point_set": split,
            "runs": records,
        }
    }


_COMMON = (
    "samplers", "congruity_rounds", "label_free_pool", "label_free_output", "permutations",
    "bootstrap", "representations",
)  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--zoo", choices=("trained", "hand-built"), default="trained")
    p.add_argument("--tasks", default="XOR,AND,OR")
    p.add_argument("--widths", default="2,3")
    p.add_argument("--copy-widths", default="2")
    p.add_argument("--seeds", type=int, default=10, help="converged seeds per (task, width)")
    p.add_argument("--max-tries", type=int, default=40)
    p.add_argument("--cross-width", action="store_true", help="add cross-width trained pairs")
    p.add_argument("--hand-built-seed", type=int, default=0)
    p.add_argument("--sampler", action="append", default=None)
    p.add_argument("--n", type=int, default=6, help="Congruity rounds per pair")
    p.add_argument("--pool", type=int, default=3, help="label-free draws per network")
    p.add_argument("--max-interpretations", type=int, default=150_000)
    p.add_argument("--perm", type=int, default=1000, help="permutations for the null")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--merge", type=Path, nargs="+", help="merge these runs into --out")
    p.add_argument("--note", help="a note stored in the merged results (e.g. what it supersedes)")
    p.add_argument("--figure-only", action="store_true", help="redraw the PNG from --out")
    args = p.parse_args()
    if args.figure_only:
        print(f"wrote {write_figure(args.out)}")
        return
    if args.merge:
        merge(args.merge, args.out, args.perm, args.note)
        return
    t_start, c_start = time.perf_counter(), time.process_time()
    build = trained_zoo if args.zoo == "trained" else hand_built_set
    networks, pairs, info = build(args)
    print(f"{len(pairs)} pairs over {len(networks)} networks", flush=True)
    rows, scoring = score_pairs(networks, pairs, args)
    summary = summarise(rows, args.perm)
    classes_s = info.pop("classes_cpu_s")
    atomic_write_json(
        args.out,
        {
            "benchmark": "exact_equivalence",
            "env": machine(),
            "zoo": info.pop("zoo"),
            "settings": {
                **info.pop("settings"),
                "samplers": args.sampler or ["distill", "perturb", "symmetry"],
                "congruity_rounds": args.n,
                "label_free_pool": args.pool,
                "label_free_output": "two logits (0, 10 (y - 0.5))",
                **(
                    {
                        "circuit_reprs": "discover_congruity_circuit (KL on the two logits, "
                        "faithfulness >= 0.999, canonical order) over the hidden units; "
                        "circuit_congruity_setup (ResampleAblation, BehaviourCheck max_kl 0.05 on "
                        "the two logits, or OnePointSet); congruity repr_distance, "
                        "cross='implementation', ties='half', seed 0"
                    }
                    if "circuit-reprs" in (args.sampler or [])
                    else {}
                ),
                "permutations": args.perm,
                "bootstrap": "1000 replicates over networks, pair weight = product of the two "
                "networks' multiplicities, percentile 95 %",
                "representations": "hidden layers concatenated, on the 4 truth-table rows",
            },
            **summary,
            "seconds": {
                "total_wall": round(time.perf_counter() - t_start, 1),
                "total_cpu": round(time.process_time() - c_start, 1),
                "classes_per_network_cpu_median": round(statistics.median(classes_s), 3),
                "classes_per_network_cpu_max": round(max(classes_s), 3),
                **scoring["seconds"],
            },
            **info,
            "label_free_pool_failures": scoring["label_free_pool_failures"],
            **({"circuit_reprs": scoring["circuit_reprs"]} if "circuit_reprs" in scoring else {}),
            "pairs": rows,
        },
    )
    print(f"wrote {args.out}")
    if args.out == RESULTS:
        print(f"wrote {write_figure(args.out)}")


if __name__ == "__main__":
    main()
