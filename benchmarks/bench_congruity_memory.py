"""Peak memory of congruity_matrix: the bounded representation cache against the per-object
cache it replaced (reproduced here as the peer), in the same run.

The per-object cache kept every sampled implementation and its float64 representation alive
for the whole run (2 n draws per pair, for every pair); the bounded cache keeps the
representations of models that outlive a pair (the anchors, pool members) and drops a fresh
implementation as soon as its representation is taken. Each variant runs in a fresh
subprocess (benchmarks/_memory.py); the scores must agree exactly.

    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python benchmarks/bench_congruity_memory.py
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from _memory import added_peak_rss
from _timing import machine

SETUP = """
import importlib, sys, time
import numpy as np, torch
from torch import nn
# the module, not the function the package exports under the same name
congruity_module = importlib.import_module("mechequiv.equivalence._congruity")
from mechequiv.equivalence import SymmetryTransform, congruity_matrix

m, n, rows, width = (int(v) for v in sys.argv[1:5])
variant = sys.argv[5]


class PerObjectCache(congruity_module._Cache):
    '''The replaced cache: every model seen and its representation, for the whole run.'''

    def __init__(self, reprs, inputs, dist):
        super().__init__(reprs, inputs, dist)
        self._strong = {}

    def rep(self, model):
        hit = self._strong.get(id(model))
        if hit is None or hit[0] is not model:
            hit = (model, congruity_module._Rep(self.reprs(model, self.inputs), id(model)))
            self._strong[id(model)] = hit
        return hit[1]

    def distance(self, a, b):
        if (a.key, b.key) not in self._dists:
            self._dists[(a.key, b.key)] = self.dist(a.value, b.value)
        return self._dists[(a.key, b.key)]


if variant == "per-object":
    congruity_module._Cache = PerObjectCache
torch.manual_seed(0)
models = [nn.Sequential(nn.Linear(16, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
                        nn.Linear(width, 4)).double() for _ in range(m)]
inputs = torch.randn(rows, 16, dtype=torch.double)


def mse(a, b):  # a cheap distance: the benchmark is about what stays alive, not the metric
    return float(((a - b) ** 2).mean())
"""

MEASURE = """
w0, c0 = time.perf_counter(), time.process_time()
out = congruity_matrix(models, inputs, n=n, sampler=SymmetryTransform(), distance=mse,
                       progress=False, n_boot=200)
print(json.dumps({"wall_s": time.perf_counter() - w0, "cpu_s": time.process_time() - c0,
                  "scores": out.scores.tolist()}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--models", type=int, default=5)
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--rows", type=int, default=1000)
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results/congruity_memory.json"))
    args = ap.parse_args()
    argv = [str(v) for v in (args.models, args.n, args.rows, args.width)]
    rep_mb = args.rows * 2 * args.width * 8 / 2**20
    pairs = args.models * (args.models + 1) // 2
    rows, scores = [], {}
    for variant in ("per-object", "bounded"):
        peak, printed = added_peak_rss(SETUP, "import json\n" + MEASURE, [*argv, variant])
        got = json.loads(printed.splitlines()[-1])
        scores[variant] = got.pop("scores")
        rows.append({"cache": variant, "peak_rss_added_mb": peak / 2**20, **got})
        print(f"{variant:>10}: peak RSS added {peak / 2**20:8.1f} MiB, "
              f"{got['wall_s']:.1f} s wall, {got['cpu_s']:.1f} s CPU")  # fmt: skip
    if scores["per-object"] != scores["bounded"]:
        raise SystemExit("the two caches gave different scores")
    result = {
        "claim": "the bounded cache keeps one pair's draws, not every pair's",
        "settings": {"models": args.models, "n": args.n, "pairs": pairs, "rows": args.rows,
                     "features": 2 * args.width, "representation_mb": rep_mb,
                     "sampler": "SymmetryTransform", "distance": "mean squared difference"},
        "expected_representations_alive": {"per-object": args.models + 2 * args.n * pairs,
                                           "bounded_at_most": args.models + 2 * args.n},
        "rows": rows,
        "ratio_per_object_to_bounded": rows[0]["peak_rss_added_mb"] / rows[1]["peak_rss_added_mb"],
        "scores_identical": True,
        "machine": machine(),
    }  # fmt: skip
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
