"""Positive-control false-flag rate of Congruity across seeds (issue 14, calibration).

Equivalent pairs: a model and an exactly function-preserving copy (SymmetryTransform), with
SymmetryTransform as GetImpl. A calibrated test flags such a pair (distinguishable, or with the
per-direction statistics also discordant) in at most 1 - level of the seeds. Three settings:
a zoo MLP with rescaled units (distances genuinely nonzero), the same MLP with permuted units
only (distances zero up to rounding), and a float32 zoo transformer with a rotated residual
stream. Runs against whichever mechequiv is on the path, so the same command measures the code
before the change (PYTHONPATH=/work/main/src) and after; writes
benchmarks/results/congruity_calibration{_<tag>}.json.

Usage: python benchmarks/bench_congruity_calibration.py [--seeds 24] [--n 10] [--tag after]
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
import torch

import mechequiv
from mechequiv._io import atomic_write_json
from mechequiv.demo import toy_task, train_toy_mlp
from mechequiv.equivalence import SymmetryTransform, congruity
from mechequiv.zoo.models._transformer import TokenTransformer

RESULTS = Path(__file__).parent / "results"


def settings() -> dict[str, tuple]:
    x, y = toy_task(800, 0, "rings")
    mlp = train_toy_mlp(x, y, 0, hidden=32, steps=400, lr=2e-2)
    stimuli, _ = toy_task(80, 1, "rings")
    torch.manual_seed(0)
    tf = TokenTransformer(13, 2, 13, d_model=32, n_heads=4, n_layers=1).eval()  # float32
    tokens = torch.randint(0, 13, (120, 2), generator=torch.Generator().manual_seed(1))
    return {  # cheapest first; the results file is rewritten after each setting
        "mlp_permuted": (mlp, stimuli, {"rescale": False}),
        "transformer_rotated": (tf, tokens, {}),
        "mlp_rescaled": (mlp, stimuli, {}),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=24)
    ap.add_argument("--n", type=int, default=10)
    ap.add_argument("--tag", default="after")
    args = ap.parse_args()
    torch.set_num_threads(1)
    out: dict = {"seeds": args.seeds, "n": args.n, "level": 0.95, "mechequiv": mechequiv.__file__,
                 "machine": platform.platform(), "settings": {}}  # fmt: skip
    for name, (model, stim, kw) in settings().items():
        rows, t0, c0 = [], time.perf_counter(), time.process_time()
        for seed in range(args.seeds):
            copy = SymmetryTransform(**kw).sample(model, np.random.default_rng(1000 + seed))
            r = congruity(model, copy, stim, n=args.n, sampler=SymmetryTransform(**kw), seed=seed)
            discordant = bool(getattr(r, "discordant", False))
            rows.append({"seed": seed, "score": r.score, "ci": [r.ci_low, r.ci_high],
                         "rate_1": r.rate_1, "rate_2": r.rate_2, "p_value": r.p_value,
                         "distinguishable": r.distinguishable, "discordant": discordant,
                         "flagged": bool(r.distinguishable or discordant),
                         "max_own_distance": float(max(r.distances["d11"] + r.distances["d22"]))})  # fmt: skip
        flagged = sum(row["flagged"] for row in rows)
        out["settings"][name] = {"flagged": flagged, "rate": flagged / args.seeds,
                                 "wall_s": time.perf_counter() - t0,
                                 "cpu_s": time.process_time() - c0, "runs": rows}  # fmt: skip
        print(f"{name:22s} flagged {flagged}/{args.seeds} ({flagged / args.seeds:.3f})", flush=True)
        RESULTS.mkdir(exist_ok=True)
        atomic_write_json(RESULTS / f"congruity_calibration_{args.tag}.json", out)


if __name__ == "__main__":
    main()
