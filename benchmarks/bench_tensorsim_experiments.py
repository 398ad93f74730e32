"""The grokking and backdoor reproductions of mechequiv.tensorsim.experiments: headline numbers.

Usage: python benchmarks/bench_tensorsim_experiments.py [--setting quick|full] [--plots DIR]
Prints each run's summary; writes benchmarks/results/tensorsim_experiments_<setting>.json
(summaries only; the full matrices come from ``result.to_dict()``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from mechequiv._io import atomic_write_json
from mechequiv.tensorsim.experiments import backdoor, grokking


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--setting", choices=("quick", "full"), default="quick")
    p.add_argument("--plots", type=Path, default=None)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    torch.set_num_threads(1)
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
