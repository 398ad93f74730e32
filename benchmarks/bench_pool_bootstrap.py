"""Coverage of Congruity's rate intervals when implementations come from a small pool.

Simulated pairs with member-level effects: each pool member m makes its anchor's own
implementation closer with probability p_m ~ Beta(2, 2), so the implementation set's true rate
is 1/2 and a pool of k members is a sample of it. For each pool size, the fraction of simulated
pairs whose 95% interval for rate_1 covers 1/2: resampling rounds only (the previous bootstrap)
against the hierarchical bootstrap (members, then rounds). Writes
benchmarks/results/pool_bootstrap.json.

Usage: python benchmarks/bench_pool_bootstrap.py [--sims 300] [--n 40]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from mechequiv._io import atomic_write_json
from mechequiv.equivalence.stats import bootstrap_intervals

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sims", type=int, default=300)
    ap.add_argument("--n", type=int, default=40)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    out = {"sims": args.sims, "n": args.n, "level": 0.95, "pools": {}}
    for members in (3, 5, 10, 40):
        covered = {"rounds": 0, "hierarchical": 0}
        width = {"rounds": 0.0, "hierarchical": 0.0}
        for _ in range(args.sims):
            p1, p2 = rng.beta(2, 2, members), rng.beta(2, 2, members)
            src = rng.integers(0, members, size=(args.n, 2))
            prob = np.stack([(p1[src[:, 0]] + p2[src[:, 1]]) / 2] * 2, axis=1)
            ind = (rng.random((args.n, 2)) < prob).astype(float)
            for name, sources in (("rounds", None), ("hierarchical", src)):
                lo, hi = bootstrap_intervals(ind, rng, 400, 0.95, sources)["rate_1"]
                covered[name] += lo <= 0.5 <= hi
                width[name] += hi - lo
        row = {k: {"coverage": covered[k] / args.sims, "mean_width": width[k] / args.sims}
               for k in covered}  # fmt: skip
        out["pools"][str(members)] = row
        print(members, row, flush=True)
    RESULTS.mkdir(exist_ok=True)
    atomic_write_json(RESULTS / "pool_bootstrap.json", out)


if __name__ == "__main__":
    main()
