"""A synthetic results dict with every section of the report's schema: the example a study follows.

``synthetic_results()`` is what the report tests and ``benchmarks/bench_report.py`` render.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def synthetic_results(seed: int = 0) -> dict[str, Any]:
    """Every section of the study sections (:mod:`mechequiv.study.sections`), filled with plausible synthetic numbers."""
    rng = np.random.default_rng(seed)
    names = [f"pizza-{i}" for i in range(3)] + [f"clock-{i}" for i in range(3)]
    groups = ["Pizza"] * 3 + ["Clock"] * 3
    m = len(names)
    same = np.equal.outer(groups, groups)
    score = np.where(same, 0.9, 0.15) + rng.uniform(-0.05, 0.05, (m, m))
    score = np.clip((score + score.T) / 2, 0, 1)
    ci_low, ci_high = np.clip(score - 0.1, 0, 1), np.clip(score + 0.08, 0, 1)
    cka = np.where(same, 0.95, 0.8) + rng.uniform(-0.03, 0.03, (m, m))
    cka = np.clip((cka + cka.T) / 2, 0, 1)
    np.fill_diagonal(cka, 1.0)
    procrustes = np.arccos(np.clip(cka, -1, 1))
    k = 12
    steps = np.unique(np.geomspace(1, 20000, k).round().astype(int)).tolist()
    k = len(steps)
    phase = np.linspace(0, 1, k)
    tsim = np.exp(-3 * np.abs(np.subtract.outer(phase, phase)))
    acc = 1 / (1 + np.exp(-12 * (phase - 0.6)))
    per_seed = [
        {
            "width": w,
            "seed": s,
            "circuits": int(rng.integers(0, 3 * w)),
            "interpretations": int(rng.integers(1, 40 * w)),
            "mappings": int(rng.integers(1, 5 * w)),
        }
        for w in (2, 3, 4)
        for s in range(5)
    ]
    curve_steps = list(range(0, 1000, 50))
    curves = {
        name: {
            "steps": curve_steps,
            "train_loss": np.exp(-np.arange(len(curve_steps)) / (4 + i)).tolist(),
            "test_accuracy": (1 - np.exp(-np.arange(len(curve_steps)) / (3 + i))).tolist(),
        }
        for i, name in enumerate(names)
    }
    return {
        "title": "synthetic study",
        "created": "2026-11-23T09:00:00Z",
        "summary": ["Pizza and Clock models have distinguishable interpretations."],
        "config": {"seeds": 3, "zoo": {"tasks": ["modular_addition"], "p": 59}, "quick": True},
        "versions": {"mechequiv": "0.1.0", "python": "3.11.2", "numpy": "2.1", "torch": "2.13"},
        "timings": {"zoo": 12.5, "equivalence": 30.25, "tensorsim": 4.0, "identifiability": 8.5},
        "cached": ["zoo"],
        "wall_time": 43.0,
        "zoo": {
            "models": [
                {"name": n, "group": g, "seed": i % 3, "test_accuracy": 1.0}
                for i, (n, g) in enumerate(zip(names, groups, strict=True))
            ],
            "curves": curves,
        },
        "equivalence": {
            "names": names,
            "groups": groups,
            "score": score.tolist(),
            "ci_low": ci_low.tolist(),
            "ci_high": ci_high.tolist(),
            "p_value": np.where(same, 0.6, 1e-4).tolist(),
            "n": 20,
            "level": 0.95,
            "task": "modular addition, p = 59",
            "distance": "repr_distance",
            "cross": "implementation",
            "baselines": {"linear_cka": cka.tolist(), "procrustes": procrustes.tolist()},
        },
        "tensorsim": {
            "model": "bilinear layer, modular addition",
            "steps": steps,
            "matrix": tsim.tolist(),
            "baselines": {"weight cosine": (0.5 + 0.5 * tsim).tolist()},
            "curves": {
                "test_accuracy": acc.tolist(),
                "train_accuracy": np.minimum(1, 3 * phase).tolist(),
            },
            "backdoor": {
                "steps": steps,
                "matrix": tsim.tolist(),
                "poison_step": steps[k // 2],
                "delta": {"tensor similarity": 0.24, "weight cosine": 0.15},
                "curves": {"attack_success_rate": (phase > 0.5).astype(float).tolist()},
            },
        },
        "identifiability": {"task": "XOR", "widths": [2, 3, 4], "per_seed": per_seed},
        "measures": {
            "description": "hidden layer, 256 task inputs",
            "pairs": [
                {
                    "a": "pizza-0",
                    "b": "pizza-1",
                    "values": {"linear_cka": 0.95, "procrustes": 0.3, "cca": None},
                },
                {
                    "a": "pizza-0",
                    "b": "clock-0",
                    "values": {"linear_cka": 0.81, "procrustes": 0.62},
                },
            ],
        },
    }
