"""The grokking and backdoor reproductions of mechequiv.tensorsim.experiments: headline numbers.

Usage: python benchmarks/bench_tensorsim_experiments.py [--setting quick|full] [--plots DIR]
Prints each run's summary; writes benchmarks/results/tensorsim_experiments_<setting>.json
(summaries only; the full matrices come from ``result.to_dict()``).

``--seeds 0 1 2 3``: the claims across seeds instead (the quick setting with each seed):
grokking — distance in checkpoints from the test-accuracy jump to the nearest phase boundary
(``jump_offset``); backdoor — the poisoned class's rank by tensor-slice movement
(``target_rank``) and its shift against the largest other class. Writes
benchmarks/results/tensorsim_experiments_seeds.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from mechequiv._io import atomic_write_json
from mechequiv.tensorsim.experiments import backdoor, grokking, jump_offset, target_rank


def across_seeds(setting: str, seeds: list[int]) -> dict:
    rows = []
    for seed in seeds:
        g = grokking({**_quick_or_full(setting), "seed": seed}, progress=False)
        b = backdoor({**_quick_or_full(setting, backdoor=True), "seed": seed}, progress=False)
        t = b.setting["target"]
        others = [float(v) for i, v in enumerate(b.slice_shift) if i != t]
        row = {
            "seed": seed,
            "grokking_jump_step": None if g.jump_index is None else g.steps[g.jump_index],
            "grokking_phase_start_steps": [g.steps[i] for i in g.boundaries],
            "grokking_jump_to_nearest_boundary": jump_offset(g.boundaries, g.jump_index),
            "grokking_final_test_acc": round(float(g.test_acc[-1]), 3),
            "backdoor_target_rank_by_shift": target_rank(b.slice_shift, t),
            "backdoor_target_shift": round(float(b.slice_shift[t]), 4),
            "backdoor_largest_other_shift": round(max(others), 4),
            "backdoor_attack_success": round(float(b.attack_success[-1]), 3),
            "seconds": round(g.seconds + b.seconds, 1),
        }
        print(json.dumps(row))
        rows.append(row)
    offsets = [r["grokking_jump_to_nearest_boundary"] for r in rows]
    return {
        "setting": setting,
        "seeds": seeds,
        "rows": rows,
        "grokking_boundary_at_jump_in_all_seeds": all(o == 0 for o in offsets),
        "grokking_abs_offsets": [None if o is None else abs(o) for o in offsets],
        "backdoor_target_moves_most_in_all_seeds": all(
            r["backdoor_target_rank_by_shift"] == 1 for r in rows
        ),
    }


def _quick_or_full(setting: str, backdoor: bool = False) -> dict:
    from mechequiv.tensorsim.experiments import BACKDOOR_SETTINGS, GROKKING_SETTINGS

    return dict((BACKDOOR_SETTINGS if backdoor else GROKKING_SETTINGS)[setting])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--setting", choices=("quick", "full"), default="quick")
    p.add_argument("--plots", type=Path, default=None)
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--seeds", type=int, nargs="+", default=None)
    args = p.parse_args()
    torch.set_num_threads(1)
    if args.seeds is not None:
        out = args.out or Path(__file__).parent / "results" / "tensorsim_experiments_seeds.json"
        atomic_write_json(out, across_seeds(args.setting, args.seeds))
        return
    out = (
        args.out or Path(__file__).parent / "results" / f"tensorsim_experiments_{args.setting}.json"
    )
    summaries = {}
    for name, run in (("grokking", grokking), ("backdoor", backdoor)):
        result = run(args.setting)
        summaries[name] = {"setting": result.setting, **result.summary()}
        print(name, json.dumps(summaries[name]["setting"]))
        print(json.dumps(result.summary(), indent=1))
        if args.plots is not None:
            result.plot(args.plots / f"tensorsim_{name}_{args.setting}.png")
    atomic_write_json(out, summaries)


if __name__ == "__main__":
    main()
