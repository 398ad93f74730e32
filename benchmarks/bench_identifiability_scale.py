"""What-then-where at scale: candidate algorithms and minimal mappings versus width and depth.

For L = 1, 2, 3 hidden layers and widths k, XOR MLPs (2, k x L, 1) are trained (paper recipe,
seeds until ``--seeds`` converge, at most ``--max-tries``); each gets the what-then-where part
of ``audit`` (formulas up to AND/OR depth L + 1, one-directional pairs). Reported per (L, k):
candidate formula skeletons (counted by ``count_skeletons``, never listed beyond what the
search itself needs), formulas tested, median aligned formulas and minimal mappings, median
wall and CPU seconds (the one-off generation of the formula family is timed separately, it is
shared by every network of a depth).

Peer in the same run: the per-neuron-set test the audit used before (every variable's expected
interchange outcome computed by recursive numpy evaluation and compared with every neuron set
of every layer), on the first network of each depth; its counts must equal the audit's.

Also: the candidate-circuit counts (counted, never materialised) for the same shapes, and the
refusal the audit gives for depth 5 (58,576,060 skeletons).

Usage: python benchmarks/bench_identifiability_scale.py [--seeds 4] [--widths 2,3,4,6,8]
Writes benchmarks/results/identifiability_scale.json.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from _timing import print_table
from mechequiv._io import atomic_write_json
from mechequiv.errors import MechequivError
from mechequiv.identifiability import (
    as_mlp,
    audit,
    boolean_task,
    candidate_algorithms,
    count_skeletons,
    estimate_candidates,
    train_mlp,
)
from mechequiv.identifiability.alignment import count_mappings, input_pairs, patched_bits

XOR = boolean_task("XOR")


def per_set_peer(model: torch.nn.Module, depth: int) -> tuple[int, int]:
    """The former alignment test: (aligned formulas, minimal mappings)."""
    net = as_mlp(model)
    x = XOR.inputs.astype(np.float64)
    pairs = input_pairs(4, "forward")
    bits = patched_bits(net, x, pairs)
    src = np.array([s for s, _ in pairs])
    base = np.array([b for _, b in pairs])
    aligned = mappings = 0
    for alg in candidate_algorithms(XOR.targets[:, 0], depth):
        locations = []
        for path in alg.variables:
            value = alg.formula.node(path).table(XOR.inputs)
            tables = [alg.formula.table(XOR.inputs, {path: v}) for v in (0, 1)]
            expected = np.array(
                [(tables[(value >> s) & 1] >> b) & 1 for s, b in zip(src, base, strict=True)],
                dtype=bool,
            )
            locs = []
            for layer, layer_bits in enumerate(bits):
                passing = [
                    int(c) + 1 for c in np.nonzero((layer_bits == expected[None]).all(axis=1))[0]
                ]
                minimal: list[int] = []
                for c in sorted(passing, key=lambda c: (c.bit_count(), c)):
                    if not any(t & c == t for t in minimal):
                        minimal.append(c)
                locs.extend((layer, c) for c in minimal)
            locations.append(locs)
        n = count_mappings(locations)
        aligned += n > 0
        mappings += n
    return aligned, mappings


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", type=int, default=4)
    p.add_argument("--max-tries", type=int, default=12)
    p.add_argument("--widths", default="2,3,4,6,8")
    p.add_argument("--layers", default="1,2,3")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "identifiability_scale.json"
    )
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    widths = [int(k) for k in args.widths.split(",")]
    layers = [int(n) for n in args.layers.split(",")]

    family = {}
    for n_layers in layers:
        depth = n_layers + 1
        t0, c0 = time.perf_counter(), time.process_time()
        algs = candidate_algorithms(XOR.targets[:, 0], depth)
        family[depth] = {
            "skeletons": count_skeletons(depth),
            "formulas_for_xor": len(algs),
            "generation_wall_s": round(time.perf_counter() - t0, 3),
            "generation_cpu_s": round(time.process_time() - c0, 3),
        }
    print("formula family:", family, flush=True)

    rows, peers = [], []
    env = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "machine": platform.machine(),
        "threads": args.threads,
        "note": "shared 2-core machine; CPU seconds are the comparable figure",
    }

    def write(refusal: str | None, complete: bool) -> None:
        atomic_write_json(
            args.out,
            {
                "benchmark": "identifiability_scale",
                "complete": complete,
                "env": env,
                "settings": {"task": "XOR", "pairs": "forward", "seeds": args.seeds},
                "formula_family": {str(d): v for d, v in family.items()},
                "skeleton_counts": {
                    f"{n} inputs": {str(d): _count_or_message(d, n) for d in range(6)}
                    for n in (2, 3)
                },
                "rows": rows,
                "peer_per_set_test": peers,
                "depth5_refusal": refusal,
            },
        )

    for n_layers in layers:
        depth = n_layers + 1
        for k in widths:
            nets = []
            for seed in range(args.max_tries):
                trained = train_mlp("XOR", (k,) * n_layers, seed=seed)
                if trained.converged:
                    nets.append(trained.model)
                if len(nets) == args.seeds:
                    break
            walls, cpus, aligned, mappings = [], [], [], []
            for model in nets:
                t0, c0 = time.perf_counter(), time.process_time()
                r = audit(model, "XOR", where_then_what=False)
                walls.append(time.perf_counter() - t0)
                cpus.append(time.process_time() - c0)
                aligned.append(r.n_algorithms)
                mappings.append(r.n_mappings)
            widths_full = (2, *(k,) * n_layers, 1)
            row = {
                "hidden_layers": n_layers,
                "k": k,
                "networks": f"{len(nets)}/{args.seeds}",
                "skeletons": family[depth]["skeletons"],
                "formulas_tested": family[depth]["formulas_for_xor"],
                "aligned_median": statistics.median(aligned) if nets else None,
                "mappings_median": statistics.median(mappings) if nets else None,
                "mappings_max": max(mappings) if nets else None,
                "wall_s_median": round(statistics.median(walls), 3) if nets else None,
                "cpu_s_median": round(statistics.median(cpus), 3) if nets else None,
                "candidate_circuits": estimate_candidates(widths_full),
            }
            rows.append(row)
            print(row, flush=True)
            write(None, False)  # partial results survive a time limit
            if nets and k == min(w for w in widths if w >= 3) and len(peers) < len(layers):
                t0, c0 = time.perf_counter(), time.process_time()
                peer = per_set_peer(nets[0], depth)
                peer_wall, peer_cpu = time.perf_counter() - t0, time.process_time() - c0
                assert peer == (aligned[0], mappings[0]), (peer, aligned[0], mappings[0])
                peers.append(
                    {
                        "hidden_layers": n_layers, "k": k,
                        "audit_wall_s": round(walls[0], 3), "audit_cpu_s": round(cpus[0], 3),
                        "per_set_wall_s": round(peer_wall, 3), "per_set_cpu_s": round(peer_cpu, 3),
                        "cpu_ratio": round(peer_cpu / max(cpus[0], 1e-9), 1),
                        "same_counts": True,
                    }
                )  # fmt: skip
                print(peers[-1], flush=True)
    print_table(rows, list(rows[0]))
    if peers:
        print_table(peers, list(peers[0]))
    try:
        audit(train_mlp("XOR", (3, 3), seed=0).model, "XOR", max_depth=5, where_then_what=False)
        refusal = None
    except MechequivError as err:
        refusal = str(err)
    print("depth 5:", refusal)
    write(refusal, True)
    print(f"wrote {args.out}")


def _count_or_message(depth: int, n_vars: int) -> int | str:
    try:
        return count_skeletons(depth, n_vars)
    except ValueError as err:
        return str(err)


if __name__ == "__main__":
    main()
