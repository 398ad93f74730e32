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
   (random offsets and periods) for 4 seeds, as a TransformerLens 4 ``TransformerBridge``
   (attention only) and as the zoo's TokenTransformer (causal attention, MLPs, LayerNorm).
   ``discover_circuit`` on 512 inputs (counterfactual: fresh tokens in the same layout) at
   thresholds 0.01 and 0.05 (and the attribution first pass at 0.01): faithfulness, completeness,
   size, wall and CPU seconds; the null is the faithfulness of random circuits of the same size
   (one draw per seed; the attribution first pass on the first seed only, for time); the peer for time is
   ``scan_components`` on the same model and inputs. For the bridge, whether the heads with the
   highest previous-token (layer 0) and induction (layer 1) attention scores are in the circuit.

Usage: python benchmarks/bench_circuits.py [--part tracr|induction|all] [--quick]
       [--models bridge,zoo] [--steps 600]
Writes benchmarks/results/circuits_tracr.json and/or circuits_induction[_bridge|_zoo].json.
"""

from __future__ import annotations

import argparse
import platform
import time
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


def induction_part(
    seeds: list[int], n: int, steps: int, kinds: list[str], partial: Path | None = None
) -> dict[str, Any]:
    from mechequiv.zoo.induction import (
        head_scores,
        induction_accuracy,
        induction_batch,
        train_induction_bridge,
        train_induction_zoo,
    )

    half, vocab, heads = 10, 32, 8
    out: dict[str, Any] = {"config": {"n_layers": 2, "n_heads": heads, "d_model": 64, "half": half,
                                      "vocab": vocab, "steps": steps, "n_inputs": n}, "runs": []}  # fmt: skip
    trainers = {"bridge": train_induction_bridge, "zoo": train_induction_zoo}
    for kind in kinds:
        train = trainers[kind]
        for seed in seeds:
            model, train_s, _ = timed(train, seed=seed, n_heads=heads, d_model=64, half=half,
                                      vocab=vocab, steps=steps)  # fmt: skip
            rng = np.random.default_rng(1000 + seed)
            batch = induction_batch(n, half, vocab, rng)
            cf = induction_batch(n, half, vocab, rng, layout=batch).tokens
            metric = BehaviourMetric(positions=batch.mask)
            comps = transformer_components(model)
            row: dict[str, Any] = {"model": kind, "seed": seed, "train_s": train_s,
                                   "accuracy": induction_accuracy(model, batch), "n_candidates": len(comps)}  # fmt: skip
            configs = [(0.01, "acdc"), (0.05, "acdc")] + (
                [(0.01, "attribution")] if seed == seeds[0] else []
            )
            for thr, method in configs:
                circ, wall, cpu = timed(discover_circuit, model, batch.tokens, comps,
                                        counterfactual=cf, metric=metric, threshold=thr,
                                        method=method, seed=seed)  # fmt: skip
                nulls = []
                for r in range(1):
                    pick = np.random.default_rng(r).choice(
                        len(comps), len(circ.nodes), replace=False
                    )
                    nulls.append(evaluate_circuit(model, batch.tokens, [comps[i] for i in pick], comps,
                                                  counterfactual=cf, metric=metric).faithfulness)  # fmt: skip
                row[f"{method}@{thr}"] = {
                    "faithfulness": circ.faithfulness, "completeness": circ.completeness,
                    "minimality": circ.minimality, "size": len(circ.nodes),
                    "nodes": [str(c) for c in circ.nodes], "method": circ.method,
                    "null_random_same_size_faithfulness": float(np.mean(nulls)),
                    "wall_s": wall, "cpu_s": cpu, "forward_passes": circ.forward_passes,
                }  # fmt: skip
            scan, wall, cpu = timed(
                scan_components, model_adapter(model), batch.tokens, comps, seed=seed
            )
            row["scan_kl_peer"] = {"size": len(scan.circuit), "wall_s": wall, "cpu_s": cpu}
            if kind == "bridge":
                pts = ["blocks.0.attn.hook_pattern", "blocks.1.attn.hook_pattern"]
                pats = capture(model_adapter(model), batch.tokens, pts, progress=False)
                sc = head_scores({0: pats[pts[0]], 1: pats[pts[1]]}, batch)
                prev, ind = (
                    int(np.argmax(sc["previous_token"][0])),
                    int(np.argmax(sc["induction"][1])),
                )
                nodes = set(row["acdc@0.05"]["nodes"])
                row["pattern_heads"] = {
                    "previous_token_head": f"blocks.0.attn.hook_z[{prev}]",
                    "previous_token_score": float(sc["previous_token"][0, prev]),
                    "induction_head": f"blocks.1.attn.hook_z[{ind}]",
                    "induction_score": float(sc["induction"][1, ind]),
                    "both_in_circuit@0.05": f"blocks.0.attn.hook_z[{prev}]" in nodes
                    and f"blocks.1.attn.hook_z[{ind}]" in nodes,
                }  # fmt: skip
            out["runs"].append(row)
            if partial is not None:  # a long run keeps what it has measured so far
                atomic_write_json(partial, out)
            a = row["acdc@0.01"]
            print(f"{kind} seed {seed}: acc {row['accuracy']:.3f} train {train_s:.0f}s | "
                  f"acdc@0.01 F {a['faithfulness']:.3f} size {a['size']}/{len(comps)} "
                  f"null {a['null_random_same_size_faithfulness']:.3f} wall {a['wall_s']:.1f}s cpu {a['cpu_s']:.1f}s | "
                  f"acdc@0.05 F {row['acdc@0.05']['faithfulness']:.3f} size {row['acdc@0.05']['size']} | "
                  f"scan peer wall {wall:.1f}s", flush=True)  # fmt: skip
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", choices=["tracr", "induction", "all"], default="all")
    ap.add_argument("--quick", action="store_true", help="1 seed, fewer inputs and steps")
    ap.add_argument("--models", default="bridge,zoo", help="induction models: bridge,zoo")
    ap.add_argument("--steps", type=int, default=600, help="induction training steps")
    ap.add_argument("--seeds", type=int, default=4, help="seeds (induction models, data)")
    args = ap.parse_args()
    seeds = [0] if args.quick else list(range(args.seeds))
    n = 128 if args.quick else 512
    meta = {"python": platform.python_version(), "torch": torch.__version__,
            "threads": torch.get_num_threads(), "machine": platform.machine()}  # fmt: skip
    if args.part in ("tracr", "all"):
        res = tracr_part(seeds, n)
        atomic_write_json(RESULTS / "circuits_tracr.json", {**res, "meta": meta})
    if args.part in ("induction", "all"):
        kinds = args.models.split(",")
        name = "circuits_induction" + ("" if len(kinds) == 2 else f"_{kinds[0]}")
        path = RESULTS / f"{name}.json"
        res = induction_part(seeds, n, 300 if args.quick else args.steps, kinds, partial=path)
        atomic_write_json(path, {**res, "meta": meta, "complete": True})


if __name__ == "__main__":
    main()
