"""Circuit discovery against ground truth: Tracr-compiled programs and trained induction models.

1. Tracr (``--part tracr``): every program of ``mechequiv.zoo.rasp_programs.PROGRAMS`` and four
   programs with a distractor program beside them (``with_distractor``: active components that
   never reach the output). Ground truth: the heads and MLP layers compiled from the RASP
   operations the output depends on. For 4 data seeds (512 inputs of length 4, a fresh sample of
   512 as row-paired counterfactual inputs), recall and precision of the recovered heads/MLPs for
   - ``discover_circuit`` (ACDC-style, margin / mse metric, threshold 0.01),
   - the same with ``zero_check=True``,
   - the peer this replaces: ``scan_components`` (one component at a time, KL, threshold 0.01,
     derangement of the inputs),
   - a null: a random circuit of the ground truth's size (expected precision = |truth| / |all|).
2. Induction (``--part induction``): 2-layer, 8-head transformers trained here on induction
   (random offsets and periods) until the held-out induction accuracy reaches 0.9 (at most
   ``--steps`` steps), for 4 seeds, as a TransformerLens 4 ``TransformerBridge`` (attention
   only) and as the zoo's TokenTransformer (causal attention, MLPs, LayerNorm). Ground truth,
   from attention patterns alone: the previous-token heads of layer 0 and the induction heads
   of layer 1 (``known_heads``: score >= 0.3, or the best of its kind). ``discover_circuit`` on
   512 inputs, counterfactual ``break_repeat`` (the first copy replaced, so only what reads it
   changes), thresholds 0.01 and 0.05:
   recall and precision of the circuit's heads against the known heads, faithfulness,
   completeness, size, wall and CPU seconds. Null: random circuits of the same size (3 draws per
   seed), their faithfulness, recall and precision. Beside it, the counterfactual the previous
   round used (fresh tokens in the same layout), which moves every head reading the current
   token. The peer for time is ``scan_components`` on the same model and inputs.

3. Known by construction (``--part known``, circuits_known.json): induction compiled by Tracr
   with two distractor programs (``tracr_induction``) and set by hand with distractor heads in
   a randomly rotated residual basis (``handset_induction``, one rotation per seed); 4 seeds
   of 512 inputs, counterfactual ``relabel``: node and edge recall/precision of
   ``discover_circuit`` + ``discover_edges`` (plain and ``zero_check``), faithfulness, null
   (random same-size circuits; random edge sets), the ``scan_components`` peer, and edges
   searched from every head as the node circuit. Then the edges of Tracr programs with
   head-input edges (sort, frac_prevs, max, above_first, reverse, and with distractors) against
   the RASP graph's edges.

Usage: python benchmarks/bench_circuits.py [--part tracr|induction|known|all] [--quick]
       [--models bridge,zoo] [--steps 600] [--heads 4 --d-model 32 --half 6 --vocab 16
       --target 0.9 --name circuits_induction_fewheads_acc90] [--seed-list 2 --tag _s2]
Each induction run records whether its model has the textbook heads by attention patterns
(``qualifies``, with the reason when not); the summary averages all seeds and, apart, the
qualified ones. ``--part merge --name STEM`` joins STEM_bridge*.json / STEM_zoo*.json.
Writes benchmarks/results/circuits_tracr.json and/or circuits_induction[_bridge|_zoo].json
(circuits_induction.json with both models).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from functools import partial as partial_fn
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mechequiv._io import atomic_write_json
from mechequiv.capture import capture
from mechequiv.equivalence import (
    BehaviourMetric,
    discover_circuit,
    evaluate_circuit,
    scan_components,
    transformer_components,
)
from mechequiv.equivalence.components import model_adapter

RESULTS = Path(__file__).parent / "results"
DISTRACTED = [("reverse", "histogram"), ("frac_prevs", "reverse"), ("max", "count_smaller"),
              ("sort", "above_first")]  # fmt: skip


def timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, float, float]:
    """``fn(*args, **kwargs)``, its wall seconds and the process's CPU seconds."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0, time.process_time() - c0


def recall_precision(found: set[str], truth: set[str]) -> tuple[float, float | None]:
    """Recall and precision; precision is undefined (None) for an empty circuit."""
    hit = len(found & truth)
    return hit / len(truth), (hit / len(found) if found else None)


def mean(values: list[Any]) -> float | None:
    vals = [v for v in values if v is not None]
    return float(np.mean(vals)) if vals else None


def tracr_part(seeds: list[int], n: int) -> dict[str, Any]:
    from mechequiv.zoo.rasp_programs import PROGRAMS
    from mechequiv.zoo.tracr import compile_program, with_distractor

    compiled = {name: compile_program(p) for name, p in PROGRAMS.items()}
    cases = dict(compiled)
    for a, b in DISTRACTED:
        cases[f"{a}+{b}"] = with_distractor(compiled[a], compiled[b])
    metric = BehaviourMetric(positions=slice(1, None))  # position 0 is BOS, no output there
    rows = {}
    for name, c in cases.items():
        prog = PROGRAMS[name.split("+")[0]]
        gt = c.ground_truth
        truth = {f"blocks.{layer}.attn.hook_z[{h}]" for layer, h in gt.heads}
        truth |= {f"blocks.{layer}.hook_mlp_out" for layer in gt.mlps}
        comps = transformer_components(c.model)
        per: dict[str, list[dict[str, float]]] = {k: [] for k in ("acdc", "acdc_zero_check", "scan_kl", "random")}  # fmt: skip
        for seed in seeds:
            rng = np.random.default_rng(seed)
            x = c.model.encode(prog.sample(rng, n, 4))
            cf = c.model.encode(prog.sample(rng, n, 4))
            for key, kw in (("acdc", {}), ("acdc_zero_check", {"zero_check": True})):
                circ, wall, cpu = timed(discover_circuit, c.model, x, comps, counterfactual=cf,
                                        metric=metric, seed=seed, **kw)  # fmt: skip
                r, p = recall_precision({str(k) for k in circ.nodes}, truth)
                per[key].append({"recall": r, "precision": p, "faithfulness": circ.faithfulness,
                                 "completeness": circ.completeness, "size": len(circ.nodes),
                                 "wall_s": wall, "cpu_s": cpu})  # fmt: skip
            scan, wall, cpu = timed(scan_components, c.model, x, comps, threshold=0.01, seed=seed)
            r, p = recall_precision({str(k) for k in scan.circuit}, truth)
            per["scan_kl"].append({"recall": r, "precision": p, "size": len(scan.circuit),
                                   "wall_s": wall, "cpu_s": cpu})  # fmt: skip
            pick = rng.choice(len(comps), len(truth), replace=False)
            r, p = recall_precision({str(comps[i]) for i in pick}, truth)
            per["random"].append({"recall": r, "precision": p, "size": len(truth)})
        summary = {k: {m: mean([d[m] for d in v]) for m in v[0]} for k, v in per.items()}
        rows[name] = {
            "truth": sorted(truth),
            "n_candidates": len(comps),
            "summary": summary,
            "per_seed": per,
        }
        print(f"{name:24s} |truth| {len(truth)}/{len(comps)}  " + "  ".join(
            f"{k}: R {s['recall']:.2f} P {s['precision'] if s['precision'] is None else round(s['precision'], 2)}"
            for k, s in summary.items()))  # fmt: skip
    overall = {k: {m: mean([r["summary"][k][m] for r in rows.values()])
                   for m in ("recall", "precision")}
               for k in ("acdc", "acdc_zero_check", "scan_kl", "random")}  # fmt: skip
    print("mean over programs:", overall)
    return {"programs": rows, "mean": overall, "seeds": seeds, "n_inputs": n}


def _edge_rp(found: set[str], truth: set[str]) -> dict[str, Any]:
    if not truth:
        return {"recall": None, "precision": None if found else 1.0, "n_found": len(found)}
    r, p = recall_precision(found, truth)
    return {"recall": r, "precision": p, "n_found": len(found)}


def _discover_both(model: Any, x: Any, cf: Any, metric: Any, truth_nodes: set[str],
                   truth_edges: set[str], zero_check: bool) -> dict[str, Any]:  # fmt: skip
    """Nodes then edges, with recall/precision against the truth, faithfulness and time."""
    from mechequiv.equivalence.edges import discover_edges, edge_label

    circ, wall, cpu = timed(discover_circuit, model, x, counterfactual=cf, metric=metric,
                            zero_check=zero_check)  # fmt: skip
    nodes = {str(c) for c in circ.nodes}
    r, p = recall_precision(nodes, truth_nodes)
    got, e_wall, e_cpu = timed(discover_edges, model, x, circ, counterfactual=cf, metric=metric,
                               zero_check=zero_check)  # fmt: skip
    edges = {edge_label(e) for e in got.edges}
    return {
        "nodes": sorted(nodes), "recall": r, "precision": p, "size": len(nodes),
        "n_candidates": len(circ.candidates), "faithfulness": circ.faithfulness,
        "completeness": circ.completeness, "minimality": circ.minimality,
        "wall_s": wall, "cpu_s": cpu,
        "edges": sorted(edges), "edges_tested": len(got.edge_scores),
        "edge_faithfulness": got.faithfulness, **{f"edge_{k}": v for k, v in
                                                   _edge_rp(edges, truth_edges).items()},
        "edge_wall_s": e_wall, "edge_cpu_s": e_cpu,
    }  # fmt: skip


def known_part(seeds: list[int], n: int) -> dict[str, Any]:
    """Induction whose circuit is known by construction (Tracr-compiled with two distractor
    programs; set by hand with four distractor heads, its residual basis rotated per seed), and
    the edges of Tracr-compiled RASP programs (true edges from the RASP graph)."""
    from mechequiv.equivalence.edges import discover_edges, edge_label
    from mechequiv.zoo.induction import (
        handset_induction,
        relabel,
        repeated_positions,
        tracr_induction,
    )
    from mechequiv.zoo.rasp_programs import PROGRAMS
    from mechequiv.zoo.tracr import compile_program, with_distractor

    vocab = 8
    out: dict[str, Any] = {
        "induction": {}, "tracr_edges": {},
        "protocol": {
            "inputs": f"{n} rows of repeat_sample (m distinct tokens then a copy of a run of "
                      "them), scored at the repeated positions (margin of the model's argmax)",
            "counterfactual": "relabel: each row's tokens renamed by a random fixed-point-free "
                              "permutation (same layout, every answer changes)",
            "null": "random node sets of the circuit's size (3 draws), evaluated exactly; for "
                    "edges, the precision of a random edge set is |true edges| / |edges tested|",
            "peer": "scan_components (one component at a time, KL, derangement of the inputs)",
        },
    }  # fmt: skip
    builders = {"tracr_induction": lambda s: tracr_induction(vocab),
                "handset_induction": lambda s: handset_induction(vocab, seed=s)}  # fmt: skip
    for name, build in builders.items():
        runs = []
        for seed in seeds:
            c = build(seed)
            gt = c.ground_truth
            truth = {f"blocks.{layer}.attn.hook_z[{h}]" for layer, h in gt.heads}
            rng = np.random.default_rng(seed)
            length = 8 if name == "tracr_induction" else 12
            x = c.model.encode(c.inputs(rng, n, length))
            cf = relabel(x, vocab, rng)
            metric = BehaviourMetric(positions=repeated_positions(x))
            row: dict[str, Any] = {"seed": seed, "length": length}
            for key, zc in (("acdc", False), ("acdc_zero_check", True)):
                row[key] = _discover_both(c.model, x, cf, metric, truth, gt.edge_names(), zc)
            comps = transformer_components(c.model)
            nulls = []
            for r in range(3):
                pick = np.random.default_rng([seed, r]).choice(
                    len(comps), len(truth), replace=False
                )
                rand = [comps[i] for i in pick]
                ev = evaluate_circuit(c.model, x, rand, comps, counterfactual=cf, metric=metric)
                rr, pp = recall_precision({str(k) for k in rand}, truth)
                nulls.append({"faithfulness": ev.faithfulness, "recall": rr, "precision": pp})
            row["null_random_same_size"] = {k: mean([d[k] for d in nulls]) for k in nulls[0]}
            row["null_edge_precision"] = len(gt.edge_names()) / row["acdc"]["edges_tested"]
            scan, wall, cpu = timed(scan_components, c.model, x, comps, threshold=0.01, seed=seed)
            rr, pp = recall_precision({str(k) for k in scan.circuit}, truth)
            row["scan_kl_peer"] = {"recall": rr, "precision": pp, "size": len(scan.circuit),
                                   "wall_s": wall, "cpu_s": cpu}  # fmt: skip
            heads = [k for k in comps if ".attn." in k.point]
            full = evaluate_circuit(c.model, x, heads, comps, counterfactual=cf, metric=metric)
            got, wall, cpu = timed(
                discover_edges, c.model, x, full, counterfactual=cf, metric=metric
            )
            found = {edge_label(e) for e in got.edges}
            row["edges_from_all_heads"] = {"tested": len(got.edge_scores), "edges": sorted(found),
                                           **_edge_rp(found, gt.edge_names()),
                                           "faithfulness": got.faithfulness, "cpu_s": cpu}  # fmt: skip
            runs.append(row)
            a = row["acdc"]
            print(f"{name} seed {seed}: nodes R {a['recall']:.2f} P {a['precision']} F "
                  f"{a['faithfulness']:.4f} | edges R {a['edge_recall']} P {a['edge_precision']} "
                  f"F {a['edge_faithfulness']:.4f} | null F {row['null_random_same_size']['faithfulness']:.3f} "
                  f"| all-heads edges P {row['edges_from_all_heads']['precision']} | scan R {rr:.2f} P {pp}",
                  flush=True)  # fmt: skip
        summary = {}
        for key in ("acdc", "acdc_zero_check"):
            summary[key] = {m: mean([r[key][m] for r in runs]) for m in
                            ("recall", "precision", "faithfulness", "completeness", "edge_recall",
                             "edge_precision", "edge_faithfulness", "cpu_s", "edge_cpu_s")}  # fmt: skip
        summary["null_random_same_size"] = {m: mean([r["null_random_same_size"][m] for r in runs])
                                            for m in ("faithfulness", "recall", "precision")}  # fmt: skip
        summary["null_edge_precision"] = mean([r["null_edge_precision"] for r in runs])
        summary["edges_from_all_heads"] = {m: mean([r["edges_from_all_heads"][m] for r in runs])
                                           for m in ("recall", "precision", "tested")}  # fmt: skip
        summary["scan_kl_peer"] = {m: mean([r["scan_kl_peer"][m] for r in runs])
                                   for m in ("recall", "precision", "cpu_s")}  # fmt: skip
        out["induction"][name] = {"truth_nodes": sorted(truth), "truth_edges":
                                  sorted(gt.edge_names()), "summary": summary, "runs": runs}  # fmt: skip
    edge_programs = ["sort", "frac_prevs", "max", "above_first", "reverse"]
    compiled = {
        k: compile_program(PROGRAMS[k]) for k in {*edge_programs, *(b for _, b in DISTRACTED)}
    }
    cases = {k: compiled[k] for k in edge_programs}
    for a, b in DISTRACTED:
        if a in edge_programs:
            cases[f"{a}+{b}"] = with_distractor(compiled[a], compiled[b])
    metric = BehaviourMetric(positions=slice(1, None))
    for name, c in cases.items():
        prog = PROGRAMS[name.split("+")[0]]
        gt = c.ground_truth
        truth = {f"blocks.{layer}.attn.hook_z[{h}]" for layer, h in gt.heads}
        truth |= {f"blocks.{layer}.hook_mlp_out" for layer in gt.mlps}
        runs = []
        for seed in seeds:
            rng = np.random.default_rng(seed)
            x = c.model.encode(prog.sample(rng, n, 4))
            cf = c.model.encode(prog.sample(rng, n, 4))
            row = {"seed": seed}
            for key, zc in (("acdc", False), ("acdc_zero_check", True)):
                row[key] = _discover_both(c.model, x, cf, metric, truth, gt.edge_names(), zc)
            row["null_edge_precision"] = len(gt.edge_names()) / max(1, row["acdc"]["edges_tested"])
            runs.append(row)
        summary = {key: {m: mean([r[key][m] for r in runs]) for m in
                         ("recall", "precision", "edge_recall", "edge_precision",
                          "edge_faithfulness", "edges_tested", "edge_cpu_s")}
                   for key in ("acdc", "acdc_zero_check")}  # fmt: skip
        summary["null_edge_precision"] = mean([r["null_edge_precision"] for r in runs])
        out["tracr_edges"][name] = {"truth_edges": sorted(gt.edge_names()), "summary": summary,
                                    "runs": runs}  # fmt: skip
        print(f"{name:22s} edges {sorted(gt.edge_names())}: " + "  ".join(
            f"{k}: R {summary[k]['edge_recall']:.2f} P {summary[k]['edge_precision']:.2f}"
            for k in ("acdc", "acdc_zero_check")) + f"  null P {summary['null_edge_precision']:.2f}",
            flush=True)  # fmt: skip
    out["tracr_edges_mean"] = {
        key: {m: mean([v["summary"][key][m] for v in out["tracr_edges"].values()])
              for m in ("edge_recall", "edge_precision")}
        for key in ("acdc", "acdc_zero_check")
    }  # fmt: skip
    print("tracr edges, mean over programs:", out["tracr_edges_mean"])
    return out


def _head(kind: str, layer: int, h: int) -> str:
    return f"blocks.{layer}.attn.{'heads' if kind == 'zoo' else 'hook_z'}[{h}]"


def _recall_precision_heads(nodes: list[str], truth: set[str]) -> dict[str, Any]:
    heads = {c for c in nodes if ".attn." in c}
    r, p = recall_precision(heads, truth)
    return {"recall": r, "precision": p, "heads": len(heads), "mlps": len(nodes) - len(heads)}


def induction_part(
    seeds: list[int],
    n: int,
    steps: int,
    kinds: list[str],
    partial: Path | None = None,
    size: dict[str, Any] | None = None,
) -> dict[str, Any]:
    from mechequiv.zoo.induction import (
        break_repeat,
        head_scores,
        induction_accuracy,
        induction_batch,
        known_heads,
        repeat_losses,
        train_induction_bridge,
        train_induction_zoo,
    )

    size = {"n_heads": 8, "d_model": 64, "half": 10, "vocab": 32, "lr": 3e-3} | (size or {})
    half, vocab, heads, d_model, lr = (
        size[k] for k in ("half", "vocab", "n_heads", "d_model", "lr")
    )
    target, min_score = size.get("target", 0.9), 0.3
    no_bos = bool(size.get("exclude_bos", False))
    out: dict[str, Any] = {
        "config": {"n_layers": 2, "n_heads": heads, "d_model": d_model, "half": half, "vocab": vocab,
                   "max_steps": steps, "lr": lr, "target_accuracy": target, "n_inputs": n,
                   "known_heads_min_score": min_score, "scores_exclude_bos": no_bos,
                   "bridge_normalization": size.get("normalization", "LN"),
                   "qualify_score": size.get("qualify_score", min_score),
                   "qualify_accuracy": size.get("qualify_accuracy", target)},
        "counterfactual": "break_repeat: the first copy of A replaced by other tokens (the "
                          "'fresh_tokens' rows: every token fresh, same layout)",
        "runs": [],
    }  # fmt: skip
    norm = size.get("normalization", "LN")
    trainers = {"bridge": partial_fn(train_induction_bridge, normalization=norm),
                "zoo": partial_fn(train_induction_zoo, layer_norm=norm is not None),
                "bridge_mlp": partial_fn(train_induction_bridge, attn_only=False,
                                         normalization=norm)}  # fmt: skip
    for kind in kinds:
        for seed in seeds:
            model, train_s, train_cpu = timed(trainers[kind], seed=seed, n_heads=heads,
                                              d_model=d_model, half=half, vocab=vocab, steps=steps,
                                              lr=lr, target_accuracy=target)  # fmt: skip
            rng = np.random.default_rng(1000 + seed)
            batch = induction_batch(n, half, vocab, rng)
            cf = break_repeat(batch, vocab, rng)
            fresh = induction_batch(n, half, vocab, rng, layout=batch).tokens
            metric = BehaviourMetric(positions=batch.mask)
            comps = transformer_components(model)
            adapter = model_adapter(model)
            pts = [f"blocks.{layer}.attn.hook_pattern" for layer in (0, 1)]
            pats = capture(adapter, batch.tokens, pts, progress=False)
            sc = head_scores({0: pats[pts[0]], 1: pats[pts[1]]}, batch, exclude_bos=no_bos)
            raw = head_scores({0: pats[pts[0]], 1: pats[pts[1]]}, batch)
            known = known_heads(sc)
            truth = {_head(kind, layer, h) for v in known.values() for layer, h in v}
            row: dict[str, Any] = {
                "model": kind, "seed": seed, "train_s": train_s, "train_cpu_s": train_cpu,
                "accuracy": induction_accuracy(model, batch),
                "repeat_loss": repeat_losses(model, batch), "n_candidates": len(comps),
                "head_scores": {k: np.round(v, 4).tolist() for k, v in sc.items()},
                "head_scores_raw": {k: np.round(v, 4).tolist() for k, v in raw.items()},
                "bos_attention": {str(i): np.round(pats[pts[i]][..., 0].double().mean((0, 2)).numpy(), 4).tolist() for i in (0, 1)},
                "known_heads": sorted(truth),
                **_qualification(sc, induction_accuracy(model, batch),
                                 size.get("qualify_accuracy", target),
                                 size.get("qualify_score", min_score)),
            }  # fmt: skip
            configs = [("acdc@0.01", cf, 0.01, "acdc"), ("acdc@0.05", cf, 0.05, "acdc"),
                       ("fresh_tokens@0.05", fresh, 0.05, "acdc")]  # fmt: skip
            for name, source, thr, method in configs:
                circ, wall, cpu = timed(discover_circuit, model, batch.tokens, comps,
                                        counterfactual=source, metric=metric, threshold=thr,
                                        method=method, seed=seed)  # fmt: skip
                nodes = [str(c) for c in circ.nodes]
                null_f, null_r, null_p = [], [], []
                for r in range(2):  # random circuits of the same size
                    pick = np.random.default_rng([seed, r]).choice(
                        len(comps), len(nodes), replace=False
                    )
                    rand = [comps[i] for i in pick]
                    null_f.append(evaluate_circuit(model, batch.tokens, rand, comps,
                                                   counterfactual=source, metric=metric).faithfulness)  # fmt: skip
                    rp = _recall_precision_heads([str(c) for c in rand], truth)
                    null_r.append(rp["recall"])
                    null_p.append(rp["precision"])
                if name == "acdc@0.01":
                    node_circuit = circ
                row[name] = {
                    "faithfulness": circ.faithfulness, "completeness": circ.completeness,
                    "minimality": circ.minimality, "size": len(nodes), "nodes": nodes,
                    **_recall_precision_heads(nodes, truth), "method": circ.method,
                    "model_score": circ.model_score, "empty_score": circ.empty_score,
                    "null_random_same_size": {"faithfulness": mean(null_f), "recall": mean(null_r),
                                              "precision": mean(null_p)},
                    "wall_s": wall, "cpu_s": cpu, "forward_passes": circ.forward_passes,
                }  # fmt: skip
            row["edges@0.01"] = _edges(model, kind, batch, cf, metric, known, node_circuit)
            scan, wall, cpu = timed(scan_components, adapter, batch.tokens, comps, seed=seed)
            row["scan_kl_peer"] = {"size": len(scan.circuit), "wall_s": wall, "cpu_s": cpu}
            out["runs"].append(row)
            if partial is not None:  # a long run keeps what it has measured so far
                atomic_write_json(partial, out)
            a, lo = row["acdc@0.01"], row["repeat_loss"]
            print(f"{kind} seed {seed}: acc {row['accuracy']:.3f} loss {lo['first_copy']:.2f}->"
                  f"{lo['second_copy']:.2f} train {train_cpu:.0f}s cpu | known {sorted(truth)} | "
                  f"acdc@0.01 F {a['faithfulness']:.3f} R {a['recall']:.2f} P {a['precision']} "
                  f"size {a['size']}/{len(comps)} null F {a['null_random_same_size']['faithfulness']:.3f} "
                  f"cpu {a['cpu_s']:.1f}s | acdc@0.05 R {row['acdc@0.05']['recall']:.2f} "
                  f"P {row['acdc@0.05']['precision']} size {row['acdc@0.05']['size']} | "
                  f"fresh@0.05 size {row['fresh_tokens@0.05']['size']} | scan peer cpu {cpu:.1f}s",
                  flush=True)  # fmt: skip
    out["summary"] = _induction_summary(out["runs"])
    return out


def _qualification(
    scores: dict[str, np.ndarray], accuracy: float, target: float, min_score: float
) -> dict[str, Any]:
    """Whether a model has the textbook ground truth the recall is measured against: accuracy
    >= ``target``, a layer-0 head with previous-token score >= ``min_score`` and a layer-1 head
    with induction score >= ``min_score`` (``known_heads`` alone always names the best head of
    each kind, however low its score). Every seed is reported; the summary gives both sets."""
    prev, ind = float(scores["previous_token"][0].max()), float(scores["induction"][1].max())
    why = [f"accuracy {accuracy:.3f} < {target}"] if accuracy < target else []
    if prev < min_score:
        why.append(f"best layer-0 previous-token score {prev:.3f} < {min_score}")
    if ind < min_score:
        why.append(f"best layer-1 induction score {ind:.3f} < {min_score}")
    return {"qualifies": not why, "not_qualified_because": why,
            "best_prev_token_score_l0": prev, "best_induction_score_l1": ind}  # fmt: skip


def _edges(
    model: Any, kind: str, batch: Any, cf: Any, metric: Any, known: Any, circuit: Any
) -> dict[str, Any]:
    """Edges of the node circuit into heads' Q/K/V (path patching); the known edge is the
    previous-token head -> the K input of the induction head (K-composition)."""
    from mechequiv.equivalence.edges import discover_edges

    names = set(model_adapter(model).hook_modules())
    if "blocks.1.attn.hook_k" not in names:
        return {"error": "the model exposes no hook_q/hook_k/hook_v"}
    got, wall, cpu = timed(discover_edges, model, batch.tokens, circuit, counterfactual=cf,
                           metric=metric, threshold=0.01)  # fmt: skip
    edges = {f"{a} -> {b}" for a, b in got.edges}
    known_edges = {f"{_head(kind, 0, p)} -> blocks.1.attn.hook_{path}[{i}]"
                   for _, p in known["previous_token"] for _, i in known["induction"]
                   for path in "qkv"}  # fmt: skip
    k_edges = {e for e in known_edges if "hook_k" in e}
    return {
        "n_edges": len(got.edges), "n_tested": len(got.edge_scores), "edges": sorted(edges),
        "faithfulness": got.faithfulness, "node_faithfulness": got.node_faithfulness,
        "known_k_edges": sorted(k_edges), "known_k_edges_kept": len(k_edges & edges),
        "known_q_or_v_edges_kept": len((known_edges - k_edges) & edges),
        "scores": {f"{a} -> {b}": v for (a, b), v in got.edge_scores.items()},
        "wall_s": wall, "cpu_s": cpu,
    }  # fmt: skip


def _induction_summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per model kind: over all seeds, and (``qualified``) over the seeds whose attention
    patterns show the textbook heads (:func:`_qualification`; older files lack the field)."""
    summary: dict[str, Any] = {}
    for kind in sorted({r["model"] for r in runs}):
        rs = [r for r in runs if r["model"] == kind]
        summary[kind] = _summary_of(rs)
        ok = [r for r in rs if r.get("qualifies")]
        summary[kind]["qualified_seeds"] = [r["seed"] for r in ok]
        summary[kind]["not_qualified"] = {str(r["seed"]): r["not_qualified_because"]
                                          for r in rs if r.get("qualifies") is False}  # fmt: skip
        if ok:
            summary[kind]["qualified"] = _summary_of(ok)
    return summary


def _summary_of(rs: list[dict[str, Any]]) -> dict[str, Any]:
    """Means over the runs ``rs`` of one model kind."""
    out: dict[str, Any] = {"seeds": len(rs), "accuracy": mean([r["accuracy"] for r in rs]),
                           "min_accuracy": min(r["accuracy"] for r in rs)}  # fmt: skip
    edge_rows = [r["edges@0.01"] for r in rs if "n_edges" in r.get("edges@0.01", {})]
    if edge_rows:
        out["edges@0.01"] = {
            "seeds": len(edge_rows),
            "faithfulness": mean([e["faithfulness"] for e in edge_rows]),
            "n_edges": mean([e["n_edges"] for e in edge_rows]),
            "n_tested": mean([e["n_tested"] for e in edge_rows]),
            "seeds_with_a_known_k_edge_kept": sum(e["known_k_edges_kept"] > 0 for e in edge_rows),
            # the textbook edges: every pattern-named previous-token head -> the key of every
            # pattern-named induction head; recall over them, precision over the edges kept
            "k_edge_recall": mean([len(set(e["edges"]) & set(e["known_k_edges"]))
                                   / len(e["known_k_edges"]) for e in edge_rows]),
            "k_edge_precision": mean([len(set(e["edges"]) & set(e["known_k_edges"]))
                                      / len(e["edges"]) if e["edges"] else None
                                      for e in edge_rows]),
            "null_k_edge_precision": mean([len(e["known_k_edges"]) / e["n_tested"]
                                           for e in edge_rows]),
            "cpu_s": mean([e["cpu_s"] for e in edge_rows]),
        }  # fmt: skip
    for name in ("acdc@0.01", "acdc@0.05", "fresh_tokens@0.05"):
        out[name] = {
            m: mean([r[name][m] for r in rs])
            for m in ("faithfulness", "recall", "precision", "size", "cpu_s", "wall_s")
        } | {"null_" + m: mean([r[name]["null_random_same_size"][m] for r in rs])
             for m in ("faithfulness", "recall", "precision")}  # fmt: skip
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", choices=["tracr", "induction", "all", "merge", "known"],
                    default="all",
                    help="merge: join circuits_induction_{bridge,bridge_mlp,zoo}.json (run apart) "
                         "into circuits_induction.json")  # fmt: skip
    ap.add_argument("--quick", action="store_true", help="1 seed, fewer inputs and steps")
    ap.add_argument(
        "--models", default="bridge,zoo", help="induction models: bridge,bridge_mlp,zoo"
    )
    ap.add_argument("--steps", type=int, default=4000, help="induction training steps at most")
    ap.add_argument("--seeds", type=int, default=4, help="seeds (induction models, data)")
    ap.add_argument("--seed-list", default=None, help="e.g. 2,3: these seeds only")
    ap.add_argument("--tag", default="", help="suffix of the induction results file")
    ap.add_argument("--name", default="circuits_induction",
                    help="stem of the induction results; e.g. circuits_induction_fewheads with "
                         "--heads 4 --d-model 32 --half 6 --vocab 16")  # fmt: skip
    ap.add_argument("--heads", type=int, default=8, help="induction models: heads per layer")
    ap.add_argument("--d-model", type=int, default=64)
    ap.add_argument("--half", type=int, default=10, help="longest repeated sequence")
    ap.add_argument("--vocab", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--qualify-score", type=float, default=0.3,
                    help="a seed has the textbook circuit when its best layer-0 previous-token "
                         "and layer-1 induction scores reach this")  # fmt: skip
    ap.add_argument("--qualify-accuracy", type=float, default=None,
                    help="... and its induction accuracy this (default --target)")  # fmt: skip
    ap.add_argument("--normalization", default="LN",
                    help="TransformerLens normalization_type of the bridge models ('none': no "
                         "LayerNorm, the attention-only recipe; the zoo model then has none "
                         "either)")  # fmt: skip
    ap.add_argument("--exclude-bos", action="store_true",
                    help="head scores (ground truth) with attention renormalised off BOS")  # fmt: skip
    ap.add_argument("--target", type=float, default=0.9,
                    help="training stops once held-out induction accuracy reaches this")  # fmt: skip
    args = ap.parse_args()
    seeds = [0] if args.quick else list(range(args.seeds))
    if args.seed_list:
        seeds = [int(v) for v in args.seed_list.split(",")]
    n = 128 if args.quick else 512
    meta = {"python": platform.python_version(), "torch": torch.__version__,
            "threads": torch.get_num_threads(), "machine": platform.machine()}  # fmt: skip
    if args.part in ("known", "all"):
        res = known_part(seeds, 256 if args.quick else n)
        atomic_write_json(RESULTS / "circuits_known.json", {**res, "meta": meta})
    if args.part in ("tracr", "all"):
        res = tracr_part(seeds, n)
        atomic_write_json(RESULTS / "circuits_tracr.json", {**res, "meta": meta})
    if args.part == "merge":
        # the per-model files of this stem only (not circuits_induction_fewheads_* for the default)
        files = sorted(f for k in ("bridge", "zoo") for f in RESULTS.glob(f"{args.name}_{k}*.json"))
        parts = [json.loads(f.read_text()) for f in files]
        by_key = {(r["model"], r["seed"]): r for p in parts for r in p["runs"]}
        runs = [by_key[k] for k in sorted(by_key)]
        merged = {**parts[0], "runs": runs, "summary": _induction_summary(runs),
                  "meta": [p.get("meta") for p in parts], "merged_from": [f.name for f in files]}  # fmt: skip
        merged.pop("complete", None)
        merged["complete"] = all(p.get("complete") for p in parts)
        atomic_write_json(RESULTS / f"{args.name}.json", merged)
    if args.part in ("induction", "all"):
        kinds = args.models.split(",")
        name = args.name + ("" if len(kinds) == 2 else f"_{kinds[0]}")
        path = RESULTS / f"{name}{args.tag}.json"
        size = {"n_heads": args.heads, "d_model": args.d_model, "half": args.half,
                "vocab": args.vocab, "lr": args.lr, "target": args.target,
                "exclude_bos": args.exclude_bos, "qualify_score": args.qualify_score,
                "qualify_accuracy": args.target if args.qualify_accuracy is None
                else args.qualify_accuracy,
                "normalization": None if args.normalization == "none" else args.normalization}  # fmt: skip
        res = induction_part(seeds, n, args.steps, kinds, partial=path, size=size)
        atomic_write_json(path, {**res, "meta": meta, "complete": True})


if __name__ == "__main__":
    main()
