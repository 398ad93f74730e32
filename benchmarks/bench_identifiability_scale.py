"""The audit at scale: counts and CPU time versus width and depth, with refusals and estimates.

Grid: XOR MLPs (2, k x L, 1) for L = ``--layers`` hidden layers and widths k = ``--widths``,
trained with the paper's recipe (seeds until ``--seeds`` converge, at most ``--max-tries``).
For every cell, first the estimate (``estimate_audit``: candidate circuits, formula
skeletons and neuron sets counted, never materialised, times measured unit costs). Each
strategy then runs on each network only when its estimate fits ``--budget`` seconds; otherwise
the cell records the refusal ``audit(..., budget_s=--budget)`` gives (its message holds the
counts and the estimate). Formulas go up to AND/OR depth L + 1 (the paper) but at most
``--max-depth``; a cell whose default depth is larger also records that refusal.

Per cell: candidate circuits, accepted circuits, interpretations (exact integers, as strings
when huge), formulas tested, aligned formulas, minimal mappings (medians over networks), CPU
and wall seconds per strategy, and the estimate beside them (so the estimator is checked
where it can be).

Peer in the same run: the former joint count of minimal mappings (``method="joint"``, a
memoised search over the neurons used in every layer at once), beside the per-layer count and
``"auto"`` (joint until 50,000 states, then per layer; what ``audit`` uses), on the first
network of each cell with L >= 2, the joint one under ``--peer-limit`` seconds of CPU: all
counts must agree, and where the joint one does not finish the limit is recorded.

Usage: python benchmarks/bench_identifiability_scale.py [--seeds 2] [--widths 2,3,4,5,6,8,10,12]
       [--layers 1,2,3,4] [--budget 120] [--merge]
Writes benchmarks/results/identifiability_scale.json.
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from _timing import machine, print_table
from mechequiv._io import atomic_write_json
from mechequiv.errors import MechequivError
from mechequiv.identifiability import (
    as_mlp,
    audit,
    boolean_task,
    candidate_algorithms,
    estimate_audit,
    train_mlp,
)
from mechequiv.identifiability.alignment import (
    count_mappings,
    input_pairs,
    passing_index,
    patched_bits,
    variable_locations,
)

XOR = boolean_task("XOR")


class _CpuLimitError(Exception):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise _CpuLimitError


def peer_mappings(model: torch.nn.Module, depth: int, limit: float) -> dict[str, Any]:
    """The three counts of minimal mappings over every aligned formula, with their CPU seconds."""
    net = as_mlp(model)
    pairs = input_pairs(4, "forward")
    bits = patched_bits(net, XOR.inputs.astype(np.float64), pairs)
    index = passing_index(bits)
    locations = [
        variable_locations(a, XOR.inputs, pairs, bits, index)
        for a in candidate_algorithms(XOR.targets[:, 0], depth)
    ]
    c0 = time.process_time()
    new = sum(count_mappings(locs, "per_layer") for locs in locations)
    new_cpu = time.process_time() - c0
    c0 = time.process_time()
    auto = sum(count_mappings(locs) for locs in locations)
    auto_cpu = time.process_time() - c0
    assert auto == new, (auto, new)
    signal.setitimer(signal.ITIMER_PROF, limit)  # CPU-time limit on this process
    signal.signal(signal.SIGPROF, _alarm)
    c0 = time.process_time()
    try:
        old: int | None = sum(count_mappings(locs, "joint") for locs in locations)
    except (_CpuLimitError, RecursionError, MemoryError):
        old = None
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
    old_cpu = time.process_time() - c0
    if old is not None:
        assert old == new, (old, new)
    return {
        "mappings": new,
        "per_layer_cpu_s": round(new_cpu, 4),
        "auto_cpu_s": round(auto_cpu, 4),
        "joint_cpu_s": round(old_cpu, 3) if old is not None else f"> {limit:g} (did not finish)",
        "same_counts": None if old is None else True,
        "cpu_ratio": round(old_cpu / max(new_cpu, 1e-6), 1) if old is not None else None,
    }


def _big(n: float | int | None) -> Any:
    """JSON-safe count: exact integers above 2**53 as strings."""
    if n is None:
        return None
    if isinstance(n, int) and n > 2**53:
        return str(n)
    return n


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--max-tries", type=int, default=12)
    p.add_argument("--widths", default="2,3,4,5,6,8,10,12")
    p.add_argument("--layers", default="1,2,3,4")
    p.add_argument("--budget", type=float, default=120.0, help="seconds per strategy and network")
    p.add_argument("--max-depth", type=int, default=4)
    p.add_argument("--peer-limit", type=float, default=60.0)
    p.add_argument(
        "--merge", action="store_true",
        help="keep the rows of an existing results file for the cells not re-run",
    )  # fmt: skip
    p.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "identifiability_scale.json"
    )
    args = p.parse_args()
    widths = [int(k) for k in args.widths.split(",")]
    layers = [int(n) for n in args.layers.split(",")]
    rows: list[dict[str, Any]] = []
    peers: list[dict[str, Any]] = []
    if args.merge and args.out.exists():
        old = json.loads(args.out.read_text())
        rerun = {(n, k) for n in layers for k in widths}
        rows = [r for r in old["rows"] if (r["hidden_layers"], r["k"]) not in rerun]
        peers = [r for r in old["peer_joint_mapping_count"]
                 if (r["hidden_layers"], r["k"]) not in rerun]  # fmt: skip

    def write(complete: bool) -> None:
        atomic_write_json(
            args.out,
            {
                "benchmark": "identifiability_scale",
                "complete": complete,
                "env": {**machine(), "note": "shared 2-core machine; CPU seconds comparable"},
                "settings": {
                    "task": "XOR",
                    "pairs": "forward",
                    "seeds": args.seeds,
                    "budget_s_per_strategy_and_network": args.budget,
                    "max_depth_cap": args.max_depth,
                    "ablation": "zero",
                    "min_node_sparsity": None,
                    "completions": "all",
                },
                "rows": rows,
                "peer_joint_mapping_count": peers,
            },
        )

    for n_layers in layers:
        depth = min(n_layers + 1, args.max_depth)
        for k in widths:
            shape = (2, *(k,) * n_layers, 1)
            est_where = estimate_audit(shape, what_then_where=False)
            est_what = estimate_audit(shape, where_then_what=False, max_depth=depth)
            row: dict[str, Any] = {
                "hidden_layers": n_layers,
                "k": k,
                "formula_depth": depth,
                "candidate_circuits": _big(est_where.n_candidates),
                "skeletons": est_what.n_skeletons,
                "estimate_where_s": round(est_where.seconds, 3),
                "estimate_what_s": round(est_what.seconds, 3),
            }
            if depth < n_layers + 1:
                row["default_depth_refusal"] = str(
                    estimate_audit(shape, where_then_what=False).describe()
                )
            run_where = est_where.seconds <= args.budget
            run_what = est_what.seconds <= args.budget
            nets = []
            if run_where or run_what:
                for seed in range(args.max_tries):
                    trained = train_mlp("XOR", (k,) * n_layers, seed=seed)
                    if trained.converged:
                        nets.append(trained.model)
                    if len(nets) == args.seeds:
                        break
            row["networks"] = f"{len(nets)}/{args.seeds}"
            for strategy, run, _est in (
                ("where", run_where, est_where),
                ("what", run_what, est_what),
            ):
                if not run:
                    try:  # the refusal a user gets, with its counts and estimate
                        audit(
                            train_mlp("XOR", (k,) * n_layers, seed=0).model, "XOR",
                            where_then_what=strategy == "where",
                            what_then_where=strategy == "what",
                            max_depth=depth, budget_s=args.budget, force=True,
                        )  # fmt: skip
                        row[f"{strategy}_refusal"] = None
                    except MechequivError as err:
                        row[f"{strategy}_refusal"] = str(err)
                    continue
                cpus, walls, counts = [], [], []
                for model in nets:
                    t0, c0 = time.perf_counter(), time.process_time()
                    r = audit(
                        model, "XOR", where_then_what=strategy == "where",
                        what_then_where=strategy == "what", max_depth=depth, force=True,
                    )  # fmt: skip
                    walls.append(time.perf_counter() - t0)
                    cpus.append(time.process_time() - c0)
                    counts.append(r)
                if not nets:
                    continue
                row[f"{strategy}_cpu_s_median"] = round(statistics.median(cpus), 3)
                row[f"{strategy}_wall_s_median"] = round(statistics.median(walls), 3)
                if strategy == "where":
                    row["circuits_median"] = statistics.median(r.n_circuits for r in counts)
                    interp = sorted(r.n_interpretations for r in counts)
                    row["interpretations"] = [_big(n) for n in interp]
                else:
                    row["formulas_tested"] = counts[0].n_algorithms_tested
                    row["aligned_median"] = statistics.median(r.n_algorithms for r in counts)
                    row["mappings"] = [_big(r.n_mappings) for r in counts]
            rows.append(row)
            print(row, flush=True)
            if nets and run_what and n_layers >= 2 and k in (3, 4, 6, 8, 12):
                peer = {"hidden_layers": n_layers, "k": k}
                peer.update(peer_mappings(nets[0], depth, args.peer_limit))
                peers.append(peer)
                print(peer, flush=True)
            write(False)  # partial results survive a time limit
    columns = [
        "hidden_layers", "k", "candidate_circuits", "estimate_where_s", "where_cpu_s_median",
        "circuits_median", "skeletons", "estimate_what_s", "what_cpu_s_median", "aligned_median",
    ]  # fmt: skip
    print_table([{c: r.get(c, "refused") for c in columns} for r in rows], columns)
    if peers:
        print_table(peers, list(peers[0]))
    write(True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
