"""Does Congruity give the right answer on networks mechequiv did not train? (issue 14, point 4)

Models: Pizza/Clock candidates trained by ``external_models.py`` (TransformerLens bridge 1-layer,
2-layer, GeLU + LayerNorm; plain-torch separate-vocabulary attention; plain-torch MLP on summed
embeddings), ``--seeds`` seeds per recipe, cached under ``benchmarks/.cache``.

Labels (ground truth) are *measured*, not taken from the recipe: gradient symmetricity and
distance irrelevance (:func:`mechequiv.zoo.labels.mechanism_labels`, through each model's
embedding hook points), with the fixed rule in :func:`mechanism_of` (stated in the JSON). Models
below 0.95 accuracy on the full grid have no mechanism to name and are left out (listed).

One fixed, label-free Congruity configuration (documented in the JSON under ``configuration``):
- GetImpl: :class:`~mechequiv.equivalence.refit.Distill` (fresh moment-matched re-initialisation
  of the same architecture, 400 Adam steps on the model's own centred logits over the p² inputs,
  accepted only within KL 0.05 nats and 99% argmax agreement), ``--pool`` draws per model made
  once and cached; each Congruity round draws one of them (the pool is formed from the model
  alone: no recipe, no label);
- GetReprs: :class:`~mechequiv.equivalence.FourierModuleReprs` (J = 1, coverage 0.9) at each
  model's attention outputs and MLP neurons (hook names), last position;
- distance: ``repr_distance``; n = ``--n`` rounds; cross = implementation; ties = half.

Baselines on the same pairs: linear CKA, Procrustes and ``repr_distance`` on the raw
activations at the same hook points (last position) and on the Fourier quotient. AUC is the
probability that a same-mechanism pair ranks as more similar than a different-mechanism pair
(ties count 1/2). Nulls beside each AUC: the mean and 95th percentile of the AUC under random
permutations of the mechanism labels over models, and, for Congruity, the AUC when each model's
pool is replaced by the pool of a random other model (shuffled pools).

Calibration: the fraction of same-mechanism pairs that Congruity flags distinguishable at the
test's level (binomial p < 0.05), which should not exceed 0.05.

Usage: python benchmarks/bench_external_validity.py [--p 23] [--seeds 4] [--pool 3] [--n 12]
Writes benchmarks/results/external_validity.json.
"""

from __future__ import annotations

import argparse
import itertools
import platform
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from external_models import LAYOUTS, Recipe, build, cached, grid_tokens, logits, recipes
from mechequiv import measures
from mechequiv._io import atomic_write_json
from mechequiv.equivalence import (
    Distill,
    FourierModuleReprs,
    LayerReprs,
    Retrained,
    congruity_matrix,
)
from mechequiv.equivalence.fourier import mechanism_points
from mechequiv.zoo.labels import mechanism_labels

RESULTS = Path(__file__).parent / "results"
CACHE = Path(__file__).parent / ".cache"
LEVEL_P = 0.05
GS_PIZZA = 0.9


def points_of(model: nn.Module) -> list[str]:
    """Attention output and MLP neurons: hook names of TransformerLens, module names otherwise."""
    if hasattr(model, "hook_dict"):
        return mechanism_points(model)
    names = dict(model.named_modules())
    return [n for n in ("attn_out", "act") if n in names]


def embeddings_of(model: nn.Module) -> str | tuple[str, str]:
    return "hook_embed" if hasattr(model, "hook_dict") else ("emb_a", "emb_b")


def mechanism_of(gs: float, di: float) -> str:
    """The fixed labelling rule: Zhong et al.'s gradient symmetricity with the zoo's threshold
    (:class:`~mechequiv.zoo.labels.MechanismLabels`): ``pizza`` when >= 0.9 (the logits depend on
    E_a + E_b), ``clock`` below. Distance irrelevance is recorded but not used: at p = 23 the
    Pizzas' values (0.44-0.91) overlap the Clocks' (0.71-0.99), since several key frequencies
    average the |cos(w (a - b) / 2)| dependence out. An MLP on E_a + E_b has symmetricity 1 by
    construction, so it is labelled ``pizza`` (Zhong et al.'s non-circular family)."""
    del di
    return "pizza" if gs >= GS_PIZZA else "clock"


def distill_sampler(x: torch.Tensor) -> Distill:
    """The fixed GetImpl of this benchmark."""
    return Distill(x, steps=400, lr=1e-2, loss="logits", max_kl=0.05, min_agreement=0.99,
                   max_tries=2)  # fmt: skip


def pool_of(
    model: nn.Module, recipe: Recipe, seed: int, k: int, x: torch.Tensor
) -> list[nn.Module]:
    """``k`` Distill draws of one model, cached as safetensors (deterministic per model)."""
    sampler = distill_sampler(x)
    out = []
    for i in range(k):
        path = CACHE / f"p{recipe.p}" / "pools" / f"{recipe.name}-seed{seed}-draw{i}.safetensors"
        m = build(recipe, seed)
        if path.exists():
            m.load_state_dict(load_file(str(path)))
        else:
            key = [seed, i, LAYOUTS.index(recipe.layout), int(recipe.rate * 10)]
            rng = np.random.default_rng(np.random.SeedSequence(key))
            m = sampler.draw(model, rng).model
            path.parent.mkdir(parents=True, exist_ok=True)
            save_file({a: v.contiguous() for a, v in m.state_dict().items()}, str(path))
        out.append(m.eval())
    return out


def auc(scores: np.ndarray, same: np.ndarray) -> float:
    """P(score of a same-mechanism pair > score of a different one), ties 1/2."""
    pos, neg = scores[same], scores[~same]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    diff = pos[:, None] - neg[None, :]
    return float(((diff > 0) + 0.5 * (diff == 0)).mean())


def permutation_null(scores, pairs, kinds, mask, rng, n_perm=1000) -> dict[str, float]:
    vals = []
    kinds = np.array(kinds)
    for _ in range(n_perm):
        k = rng.permutation(kinds)
        same = np.array([k[i] == k[j] for i, j in pairs])
        vals.append(auc(scores[mask], same[mask]))
    vals = np.array([v for v in vals if np.isfinite(v)])
    return {"mean": float(vals.mean()), "q95": float(np.quantile(vals, 0.95))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--p", type=int, default=23)
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--pool", type=int, default=3)
    ap.add_argument("--n", type=int, default=12)
    ap.add_argument("--layouts", default=",".join(LAYOUTS))
    ap.add_argument("--labels-only", action="store_true")
    ap.add_argument("--pools-only", action="store_true")
    args = ap.parse_args()
    t_start, c_start = time.perf_counter(), time.process_time()
    p = args.p
    x = grid_tokens(p)
    y = (x[:, 0] + x[:, 1]) % p
    layouts = args.layouts.split(",")

    models, names, layout_of, kinds, rows, excluded, meta = [], [], [], [], [], [], []
    for r in recipes(p):
        if r.layout not in layouts:
            continue
        for s in range(args.seeds):
            stem = CACHE / f"p{p}" / f"{r.name}-seed{s}.safetensors"
            if not stem.exists():
                excluded.append({"model": f"{r.name}-seed{s}", "reason": "not trained"})
                continue
            m, acc = cached(r, s, CACHE)
            with torch.no_grad():
                grid_acc = float((logits(m, x).argmax(-1) == y).double().mean())
            lab = mechanism_labels(m, p, encode=lambda a, b: grid_tokens(p)[a * p + b],
                                   embeddings=embeddings_of(m))  # fmt: skip
            kind = mechanism_of(lab.gradient_symmetricity, lab.distance_irrelevance)
            row = {"model": f"{r.name}-seed{s}", "layout": r.layout, "rate": r.rate,
                   "grid_accuracy": grid_acc, **acc, **lab.to_dict(), "mechanism": kind}  # fmt: skip
            print(row, flush=True)
            if grid_acc < 0.95:
                excluded.append({"model": row["model"], "reason": f"grid accuracy {grid_acc:.3f}"})
                rows.append(row)
                continue
            rows.append(row)
            models.append(m)
            names.append(row["model"])
            layout_of.append(r.layout)
            kinds.append(kind)
            meta.append((r, s))
    if args.labels_only:
        return

    pools = []
    for m, (r, s) in zip(models, meta, strict=True):
        t0 = time.perf_counter()
        pools.append(pool_of(m, r, s, args.pool, x))
        print(f"pool {r.name}-seed{s}: {time.perf_counter() - t0:.1f}s", flush=True)
    if args.pools_only:
        return

    fourier = FourierModuleReprs(p, points=points_of)
    raw = {i: LayerReprs(points_of(m))(m, x) for i, m in enumerate(models)}
    quot = {i: fourier(m, x) for i, m in enumerate(models)}
    pairs = list(itertools.combinations(range(len(models)), 2))
    same = np.array([kinds[i] == kinds[j] for i, j in pairs])

    def congruity_scores(assign: list[int]) -> tuple[np.ndarray, np.ndarray, dict]:
        samplers = [Retrained([m, *pools[assign[i]]]) for i, m in enumerate(models)]
        mat = congruity_matrix(models, x, names=names, n=args.n, sampler=samplers,
                               distance="repr_distance", reprs=fourier, diagonal=False,
                               seed=0, progress=False)  # fmt: skip
        score = np.array([mat.results[ij].score for ij in pairs])
        pval = np.array([mat.results[ij].p_value for ij in pairs])
        return score, pval, mat

    t0 = time.perf_counter()
    c_score, c_p, _ = congruity_scores(list(range(len(models))))
    t_congruity = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    shuffled = rng.permutation(len(models))
    while np.any(shuffled == np.arange(len(models))):
        shuffled = rng.permutation(len(models))
    s_score, _, _ = congruity_scores(list(shuffled))

    similarity = {
        "congruity (Distill pools, Fourier modules)": c_score,
        "linear CKA (raw)": np.array([measures.linear_cka(raw[i], raw[j]) for i, j in pairs]),
        "Procrustes (raw)": -np.array([measures.procrustes(raw[i], raw[j]) for i, j in pairs]),
        "repr_distance (raw)": -np.array([measures.repr_distance(raw[i], raw[j]) for i, j in pairs]),
        "linear CKA (Fourier modules)": np.array(
            [measures.linear_cka(quot[i], quot[j]) for i, j in pairs]),
        "Procrustes (Fourier modules)": -np.array(
            [measures.procrustes(quot[i], quot[j]) for i, j in pairs]),
        "repr_distance (Fourier modules)": -np.array(
            [measures.repr_distance(quot[i], quot[j]) for i, j in pairs]),
    }  # fmt: skip
    sets = {
        "all": np.ones(len(pairs), bool),
        "cross-architecture": np.array([layout_of[i] != layout_of[j] for i, j in pairs]),
    }
    for lay in layouts:
        sets[f"within {lay}"] = np.array([layout_of[i] == layout_of[j] == lay for i, j in pairs])

    table = {}
    for set_name, mask in sets.items():
        n_same, n_diff = int((same & mask).sum()), int((~same & mask).sum())
        entry = {"pairs_same": n_same, "pairs_different": n_diff, "auc": {}}
        for meas, sc in similarity.items():
            null = permutation_null(sc, pairs, kinds, mask, np.random.default_rng(1))
            entry["auc"][meas] = {"auc": auc(sc[mask], same[mask]), "null_permuted_labels": null}
        entry["auc"]["congruity (Distill pools, Fourier modules)"]["null_shuffled_pools"] = auc(
            s_score[mask], same[mask]
        )
        entry["auc"]["random distance"] = {
            "auc": auc(np.random.default_rng(2).random(len(pairs))[mask], same[mask])
        }
        flagged = (c_p < LEVEL_P) & same & mask
        entry["calibration"] = {
            "same_mechanism_flagged_rate": float(flagged.sum() / max(n_same, 1)),
            "different_mechanism_flagged_rate": float(
                ((c_p < LEVEL_P) & ~same & mask).sum() / max(n_diff, 1)),
            "level": LEVEL_P,
        }  # fmt: skip
        table[set_name] = entry
        print(set_name, {k: round(v["auc"], 3) for k, v in entry["auc"].items()},
              entry["calibration"], flush=True)  # fmt: skip

    out = {
        "configuration": {
            "GetImpl": repr(distill_sampler(x)) + f", {args.pool} draws per model",
            "GetReprs": repr(fourier) + " at attention outputs + MLP neurons (hook names)",
            "distance": "repr_distance", "n": args.n, "cross": "implementation",
            "ties": "half", "test": "binomial, one-sided, p < 0.05",
        },
        "labelling_rule": mechanism_of.__doc__,
        "p": p, "seeds": args.seeds, "models": rows, "excluded": excluded,
        "results": table,
        "pairs": [{"a": names[i], "b": names[j], "same": bool(same[k]),
                   "congruity": float(c_score[k]), "p_value": float(c_p[k]),
                   "congruity_shuffled_pools": float(s_score[k]),
                   **{m: float(v[k]) for m, v in similarity.items() if "congruity" not in m}}
                  for k, (i, j) in enumerate(pairs)],
        "timing": {"congruity_matrix_wall_s": t_congruity,
                   "total_wall_s": time.perf_counter() - t_start,
                   "total_cpu_s": time.process_time() - c_start},
        "machine": {"platform": platform.platform(), "torch": torch.__version__,
                    "threads": torch.get_num_threads()},
    }  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    atomic_write_json(RESULTS / f"external_validity{'' if p == 23 else f'_p{p}'}.json", out)


if __name__ == "__main__":
    main()
