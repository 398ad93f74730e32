"""How long the HTML report takes to render, and how large it is.

The synthetic results of the report tests (tests/report/example.py; every section: 6 models,
12 checkpoints, 15 audited networks, 6 training runs) at scale 1, and the same scaled up at
scale 2 (12 models, 90 checkpoints). Median wall time of ``render_report`` (all figures drawn
and PNG-encoded), each figure function alone (drawn and encoded), and the size of the HTML file.

Usage: python benchmarks/bench_report.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.report.example import synthetic_results

from _timing import median_time, print_table
from mechequiv.report import figures
from mechequiv.study.report import render_report


def scaled(scale: int) -> dict:
    """The synthetic results with 6*scale models and ~(12 or 90) checkpoints."""
    r = synthetic_results()
    if scale == 1:
        return r
    rng = np.random.default_rng(1)
    m = 6 * scale
    eq = r["equivalence"]
    eq["names"] = [f"{g.lower()}-{i}" for g in ("Pizza", "Clock") for i in range(m // 2)]
    eq["groups"] = ["Pizza"] * (m // 2) + ["Clock"] * (m // 2)
    S = rng.uniform(0.1, 0.9, (m, m))
    S = (S + S.T) / 2
    eq.update(score=S.tolist(), ci_low=(S - 0.1).tolist(), ci_high=(S + 0.1).tolist())
    eq["p_value"] = np.full((m, m), 0.5).tolist()
    eq["baselines"] = {"linear_cka": S.tolist(), "procrustes": (1 - S).tolist()}
    k = 90
    ph = np.linspace(0, 1, k)
    T = np.exp(-3 * np.abs(np.subtract.outer(ph, ph)))
    ts = r["tensorsim"]
    ts.update(steps=list(range(0, 100 * k, 100)), matrix=T.tolist())
    ts["baselines"] = {"weight cosine": np.sqrt(T).tolist()}
    ts["curves"] = {"test_accuracy": ph.tolist()}
    del ts["backdoor"]
    return r


def _encode(fig) -> None:
    fig.savefig(io.BytesIO(), format="png", dpi=110, bbox_inches="tight")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows = []
    for scale in (1, 2):
        r = scaled(scale)
        eq, ts = r["equivalence"], r["tensorsim"]
        parts = {
            "congruity_heatmap": lambda eq=eq: figures.congruity_heatmap(
                eq["names"], eq["score"], eq["ci_low"], eq["ci_high"], groups=eq["groups"]
            ),
            "measure_heatmaps": lambda eq=eq: figures.measure_heatmaps(
                eq["names"], {"Congruity": eq["score"], **eq["baselines"]}, groups=eq["groups"]
            ),
            "similarity_over_training": lambda ts=ts: figures.similarity_over_training(
                ts["steps"],
                {"tensor similarity": ts["matrix"], **ts["baselines"]},
                curves=ts["curves"],
            ),
            "identifiability_counts": lambda r=r: figures.identifiability_counts(
                r["identifiability"]["per_seed"]
            ),
            "training_curves": lambda r=r: figures.training_curves(r["zoo"]["curves"]),
        }
        for name, make in parts.items():
            t = median_time(lambda make=make: _encode(make()), repeats=args.repeats)
            rows.append({"scale": scale, "what": name, "median s": f"{t:.3f}", "size": ""})
        t = median_time(lambda r=r: render_report(r), repeats=args.repeats)
        size = len(render_report(r).encode()) / 1e3
        rows.append({"scale": scale, "what": "render_report (all)", "median s": f"{t:.3f}",
                     "size": f"{size:.0f} kB"})  # fmt: skip
    print_table(rows, ["scale", "what", "median s", "size"])


if __name__ == "__main__":
    main()
