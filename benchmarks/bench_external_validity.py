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
  of the same architecture, 600 Adam steps on the model's own centred logits over the p² inputs,
  accepted only within KL 0.05 nats and 99% argmax agreement), ``--pool`` draws per model made
  once and cached; each Congruity round draws one of them (the pool is formed from the model
  alone: no recipe, no label);
- GetReprs: :class:`~mechequiv.equivalence.FourierModuleReprs` (J = 1, coverage 0.9) at each
  model's attention outputs and MLP neurons (hook names), last position;
- distance: ``repr_distance``; n = ``--n`` rounds; cross = implementation; ties = half.

Baselines on the same pairs: linear CKA, Procrustes and ``repr_distance`` on the raw residual
stream after the last block (last position; the hidden layer of the attention-free MLP) and on
the Fourier quotient. AUC is the
probability that a same-mechanism pair ranks as more similar than a different-mechanism pair
(ties count 1/2). Nulls beside each AUC: the mean and 95th percentile of the AUC under random
permutations of the mechanism labels over models, and, for Congruity, the AUC when each model's
pool is replaced by the pool of a random other model (shuffled pools).

With ``--circuit``, also the configuration fixed on the Tracr set
(``bench_tracr_validity.py``, ``circuit_reprs``), unchanged: GetImpl = resample ablation outside
the circuit :func:`~mechequiv.equivalence.discover_congruity_circuit` finds over every head and
MLP unit (plain-torch layouts: the attention output and every MLP unit; KL to the model's own
output, faithfulness >= 0.999; the one-point set when the circuit holds every component), GetReprs = :class:`~mechequiv.equivalence.CircuitReprs` (the circuit nodes'
outputs, last position). A model whose circuit cannot be found or whose resampling fails the
behaviour check is listed with the reason and its pairs are left out of that row's AUC.

Sets: all pairs, cross-architecture pairs (different layouts), within-layout pairs (same
layout, all layouts together) and each layout's own pairs.

Calibration (per Congruity configuration): the fraction of same-mechanism pairs it flags
distinguishable at the test's level (binomial p < 0.05), which should not exceed 0.05, beside
the fraction of different-mechanism pairs flagged; null when it scored no pair of the set.

Reductions for time: ``--no-distill`` forms no Distill pools (its row is left unscored),
``--circuit-layouts`` restricts the circuit configuration to some layouts (its other pairs are
left unscored); both are stated in ``pairs_scored`` and should be stated with ``--note``.

Usage: python benchmarks/bench_external_validity.py [--p 23] [--seeds 4] [--pool 2] [--n 12]
       [--no-distill] [--circuit [--circuit-layouts tl1,mlp]] [--tag NAME] [--note TEXT]
Writes benchmarks/results/external_validity[_p{p}][_{tag}].json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from external_models import LAYOUTS, Recipe, build, cached, grid_tokens, logits, recipes
from mechequiv import measures
from mechequiv._io import atomic_write_json
from mechequiv.capture import Point
from mechequiv.equivalence import (
    Circuit,
    CircuitReprs,
    Component,
    Distill,
    FourierModuleReprs,
    LayerReprs,
    PerturbRefit,
    Retrained,
    circuit_sampler,
    congruity_matrix,
    discover_congruity_circuit,
    neurons,
    transformer_components,
)
from mechequiv.equivalence.fourier import mechanism_points
from mechequiv.errors import MechequivError
from mechequiv.zoo.labels import MechanismLabels, mechanism_labels

RESULTS = Path(__file__).parent / "results"
CACHE = Path(__file__).parent / ".cache"
LEVEL_P = 0.05
GS_PIZZA = 0.9
# Facts about the cached p = 23 models (how some of them were made), not about other p.
P23_NOTES = [
    "tlgelu-rate0-seed0's two Distill draws were made with 400 steps (an earlier setting), "
    "under the same acceptance (KL <= 0.05, agreement >= 0.99)",
    "tl2 (2-layer) models: only 3 rate-0 seeds were trained in the time available; they are "
    "not part of this run",
]


def points_of(model: nn.Module) -> list[str]:
    """Attention output and MLP neurons: hook names of TransformerLens, module names otherwise."""
    if hasattr(model, "hook_dict"):
        return mechanism_points(model)
    names = dict(model.named_modules())
    return [n for n in ("attn_out", "act") if n in names]


def residual_point(model: nn.Module) -> str | Point:
    """The raw baseline representation: the residual stream after the last block (the MLP's
    hidden layer for the attention-free model)."""
    if hasattr(model, "hook_dict"):
        return f"blocks.{len(model.blocks) - 1}.hook_resid_post"
    return Point("readout", output="input") if hasattr(model, "readout") else "act"


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
    return Distill(x, steps=600, lr=1e-2, loss="logits", max_kl=0.05, min_agreement=0.99,
                   max_tries=2)  # fmt: skip


def perturb_sampler(x: torch.Tensor) -> PerturbRefit:
    """The local label-free GetImpl measured beside it (not the headline configuration)."""
    return PerturbRefit(x, noise=0.1, steps=50, lr=1e-3, loss="logits", max_kl=0.05,
                        min_agreement=0.99, max_tries=2)  # fmt: skip


def pool_of(
    model: nn.Module,
    recipe: Recipe,
    seed: int,
    k: int,
    x: torch.Tensor,
    kind: str = "distill",
    cached_only: bool = False,
) -> list[nn.Module]:
    """``k`` draws of one model (``kind``: distill or perturb), cached as safetensors
    (deterministic per model)."""
    sampler = distill_sampler(x) if kind == "distill" else perturb_sampler(x)
    suffix = "" if kind == "distill" else f"-{kind}"
    out = []
    for i in range(k):
        name = f"{recipe.name}-seed{seed}-draw{i}{suffix}.safetensors"
        path = CACHE / f"p{recipe.p}" / "pools" / name
        m = build(recipe, seed)
        failed = path.with_suffix(".failed.txt")  # a deterministic failure, recorded once
        if path.exists():
            m.load_state_dict(load_file(str(path)))
        elif failed.exists():
            raise MechequivError(failed.read_text())
        elif cached_only:
            raise MechequivError(f"{kind} draw {i} was not made in the time available")
        else:
            key = [seed, i, LAYOUTS.index(recipe.layout), int(recipe.rate * 10)]
            key += [1] if suffix else []
            rng = np.random.default_rng(np.random.SeedSequence(key))
            try:
                m = sampler.draw(model, rng).model
            except MechequivError as e:
                failed.parent.mkdir(parents=True, exist_ok=True)
                failed.write_text(str(e))
                raise
            path.parent.mkdir(parents=True, exist_ok=True)
            save_file({a: v.contiguous() for a, v in m.state_dict().items()}, str(path))
        out.append(m.eval())
    return out


def circuit_setup(
    models: list[nn.Module], names: list[str], x: torch.Tensor, p: int
) -> tuple[dict, dict]:
    """Per model: the Tracr-fixed circuit configuration's sampler and circuit, or why not.
    Circuits are cached as JSON (deterministic per model); one implementation is drawn up front
    so that a failing behaviour check is found here."""
    ok, why = {}, {}
    for i, m in enumerate(models):
        t0 = time.perf_counter()
        # the directory names the search order: circuits found before discover_circuit's
        # numbering-free order (the index order) are not reused for the canonical one
        path = CACHE / f"p{p}" / "circuits-canonical" / f"{names[i]}.json"
        failed = path.with_suffix(".failed.txt")  # the check draws with rng(0): deterministic
        if failed.exists():
            why[names[i]] = failed.read_text()
            print(f"circuit {names[i]} (cached): {why[names[i]][:160]}", flush=True)
            continue
        try:
            if path.exists():
                circ = Circuit.from_dict(json.loads(path.read_text()))
                sampler = circuit_sampler(circ, x)
                sampler.sample(m, np.random.default_rng(0))
                ok[i] = (sampler, circ)
                continue
            if hasattr(m, "hook_dict"):
                comps = transformer_components(m, neurons=True)
            else:  # plain torch: the (fused) attention output and every MLP unit, by name
                names_m = dict(m.named_modules())
                comps = [Component("attn_out")] * ("attn_out" in names_m) + neurons(m, x, "act")
            circ = discover_congruity_circuit(m, x, comps)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(circ.to_dict()))
            sampler = circuit_sampler(circ, x)
            sampler.sample(m, np.random.default_rng(0))
            ok[i] = (sampler, circ)
            print(f"circuit {names[i]}: {len(circ.nodes)}/{len(circ.candidates)} "
                  f"({time.perf_counter() - t0:.1f}s)", flush=True)  # fmt: skip
        except (MechequivError, ValueError) as e:
            why[names[i]] = f"{type(e).__name__}: {e}"
            failed.parent.mkdir(parents=True, exist_ok=True)
            failed.write_text(why[names[i]])
            print(f"circuit {names[i]}: {why[names[i]][:160]} "
                  f"({time.perf_counter() - t0:.1f}s)", flush=True)  # fmt: skip
    return ok, why


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
    first, second = np.array(pairs, dtype=int).reshape(-1, 2).T
    for _ in range(n_perm):
        k = rng.permutation(kinds)
        same = k[first] == k[second]
        vals.append(auc(scores[mask], same[mask]))
    vals = np.array([v for v in vals if np.isfinite(v)])
    if len(vals) == 0:  # one mechanism only in this set: no AUC to compare
        return {"mean": float("nan"), "q95": float("nan")}
    return {"mean": float(vals.mean()), "q95": float(np.quantile(vals, 0.95))}


def calibration(pval: np.ndarray, same: np.ndarray, mask: np.ndarray) -> dict[str, Any]:
    """How often a Congruity configuration flags pairs distinguishable (p < LEVEL_P) among the
    pairs of ``mask`` it scored (a NaN p-value: not scored), same- and different-mechanism apart;
    a rate over no scored pair is NaN (null in the JSON), not 0."""
    scored = mask & np.isfinite(pval)
    flagged = scored & (np.nan_to_num(pval, nan=1.0) < LEVEL_P)
    out: dict[str, Any] = {}
    for name, sel in (("same", same), ("different", ~same)):
        n_scored, n_flagged = int((scored & sel).sum()), int((flagged & sel).sum())
        out[f"{name}_mechanism_flagged"] = n_flagged
        out[f"{name}_mechanism_scored"] = n_scored
        out[f"{name}_mechanism_flagged_rate"] = n_flagged / n_scored if n_scored else float("nan")
    out["level"] = LEVEL_P
    return out


def json_safe(v: Any) -> Any:
    """NaN (an AUC over a set with one mechanism only) becomes None."""
    if isinstance(v, dict):
        return {k: json_safe(x) for k, x in v.items()}
    if isinstance(v, list):
        return [json_safe(x) for x in v]
    return None if isinstance(v, float) and not np.isfinite(v) else v


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--p", type=int, default=23)
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--pool", type=int, default=2)
    ap.add_argument("--n", type=int, default=12)
    ap.add_argument("--layouts", default=",".join(LAYOUTS))
    ap.add_argument("--labels-only", action="store_true")
    ap.add_argument("--pools-only", action="store_true")
    ap.add_argument("--perturb", action="store_true", help="also PerturbRefit pools")
    ap.add_argument("--cached-pools-only", action="store_true",
                    help="make no new draws: a draw not in the cache counts as a failed pool")  # fmt: skip
    ap.add_argument("--keep-unpooled", action="store_true",
                    help="keep models whose pool failed in the baselines (Congruity skips them)")  # fmt: skip
    ap.add_argument("--no-distill", action="store_true",
                    help="form no Distill pools (the slowest part): the Distill Congruity row is "
                         "left unscored (null), the baselines and --circuit cover every model")  # fmt: skip
    ap.add_argument("--shuffled-pools", action="store_true", help="the shuffled-pools null")
    ap.add_argument("--tag", default="", help="suffix of the results file")
    ap.add_argument("--note", action="append", default=[],
                    help="a note stored in the JSON (e.g. every reduction of a run); repeatable")  # fmt: skip
    ap.add_argument("--circuit", action="store_true",
                    help="also the Tracr-fixed circuit configuration (CircuitReprs)")  # fmt: skip
    ap.add_argument("--circuit-layouts", default=None,
                    help="comma-separated layouts the circuit configuration covers (default: "
                         "all); its pairs with other models are left unscored (time)")  # fmt: skip
    ap.add_argument("--only", default=None,
                    help="comma-separated model names (e.g. tl2-rate1-seed0): with --pools-only, "
                         "fills the caches of these models only (to run several in parallel)")  # fmt: skip
    args = ap.parse_args()
    t_start, c_start = time.perf_counter(), time.process_time()
    p = args.p
    x = grid_tokens(p)
    y = (x[:, 0] + x[:, 1]) % p
    layouts = args.layouts.split(",")
    tag = ("" if p == 23 else f"_p{p}") + (f"_{args.tag}" if args.tag else "")

    models, names, layout_of, kinds, rows, excluded, meta = [], [], [], [], [], [], []
    training: set[str] = set()  # the recipes the cached models were trained with
    for r in recipes(p):
        if r.layout not in layouts:
            continue
        for s in range(args.seeds):
            if args.only and f"{r.name}-seed{s}" not in args.only.split(","):
                continue
            stem = CACHE / f"p{p}" / f"{r.name}-seed{s}.safetensors"
            if not stem.exists():
                excluded.append({"model": f"{r.name}-seed{s}", "reason": "not trained"})
                continue
            m, acc = cached(r, s, CACHE)
            trained_by = json.loads(stem.with_suffix(".json").read_text())["recipe"]
            training.add(json.dumps(trained_by, sort_keys=True))
            with torch.no_grad():
                grid_acc = float((logits(m, x).argmax(-1) == y).double().mean())
            lab_path = CACHE / f"p{p}" / f"{r.name}-seed{s}.labels.json"
            if lab_path.exists():  # the labels are deterministic: measured once per model
                lab = MechanismLabels(**json.loads(lab_path.read_text()))
            else:
                lab = mechanism_labels(m, p, encode=lambda a, b: grid_tokens(p)[a * p + b],
                                       embeddings=embeddings_of(m))  # fmt: skip
                lab_path.write_text(json.dumps(lab.to_dict()))
            kind = mechanism_of(lab.gradient_symmetricity, lab.distance_irrelevance)
            # the labels' own accuracy is over the full grid (grid_accuracy): left out, so that
            # it does not overwrite the training's held-out test_accuracy
            labels = {k: v for k, v in lab.to_dict().items() if k != "test_accuracy"}
            row = {"model": f"{r.name}-seed{s}", "layout": r.layout, "rate": r.rate,
                   "grid_accuracy": grid_acc, **acc, **labels, "mechanism": kind}  # fmt: skip
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

    pools: dict[int, list[nn.Module]] = {}
    local: dict[int, list[nn.Module]] = {}
    keep = []
    for i, (m, (r, s)) in enumerate(zip(models, meta, strict=True)):
        if args.no_distill:  # no pools at all: nothing to exclude, every model stays
            keep.append(i)
            continue
        t0 = time.perf_counter()
        try:
            pools[i] = pool_of(m, r, s, args.pool, x, cached_only=args.cached_pools_only)
            local[i] = (pool_of(m, r, s, args.pool, x, "perturb", args.cached_pools_only)
                        if args.perturb else [])  # fmt: skip
            keep.append(i)
        except MechequivError as e:  # no implementation within the stated KL: reported
            excluded.append({"model": names[i], "reason": str(e)})
            print(f"pool {r.name}-seed{s} failed: {e}", flush=True)
        print(f"pool {r.name}-seed{s}: {time.perf_counter() - t0:.1f}s", flush=True)
    if args.keep_unpooled or args.no_distill:  # baselines on every model; Congruity (Distill)
        keep = list(range(len(models)))  # on the pooled ones only (none with --no-distill)
    else:
        pools = {k: pools[i] for k, i in enumerate(keep)}
        local = {k: local[i] for k, i in enumerate(keep)}
    models, names = [models[i] for i in keep], [names[i] for i in keep]
    layout_of, kinds = [layout_of[i] for i in keep], [kinds[i] for i in keep]
    pooled = sorted(pools)
    # the models the circuit configuration covers (--circuit-layouts; default: every model)
    circ_layouts = args.circuit_layouts.split(",") if args.circuit_layouts else layouts
    circ_keep = [i for i, lay in enumerate(layout_of) if lay in circ_layouts]
    if args.pools_only:
        if args.circuit:  # fill the circuit cache too
            circuit_setup([models[i] for i in circ_keep], [names[i] for i in circ_keep], x, p)
        return

    fourier = FourierModuleReprs(p, points=points_of)
    raw = {i: LayerReprs([residual_point(m)])(m, x) for i, m in enumerate(models)}
    quot = {i: fourier(m, x) for i, m in enumerate(models)}
    pairs = list(itertools.combinations(range(len(models)), 2))
    same = np.array([kinds[i] == kinds[j] for i, j in pairs])

    def congruity_scores(assign: list[int], source=pools) -> tuple[np.ndarray, np.ndarray]:
        """Over the pooled models (``assign[k]``: whose pool the k-th pooled model uses);
        NaN for a pair with a model that has no pool."""
        if len(pooled) < 2:
            return np.full(len(pairs), np.nan), np.full(len(pairs), np.nan)
        sub = [models[i] for i in pooled]
        samplers = [Retrained([models[i], *source[assign[k]]]) for k, i in enumerate(pooled)]
        mat = congruity_matrix(sub, x, names=[names[i] for i in pooled], n=args.n,
                               sampler=samplers, distance="repr_distance", reprs=fourier,
                               diagonal=False, seed=0, progress=False)  # fmt: skip
        pos = {i: k for k, i in enumerate(pooled)}
        score, pval = np.full(len(pairs), np.nan), np.full(len(pairs), np.nan)
        for k, (i, j) in enumerate(pairs):
            if i in pos and j in pos:
                res = mat.results[(pos[i], pos[j])]
                score[k], pval[k] = res.score, res.p_value
        return score, pval

    t0 = time.perf_counter()
    c_score, c_p = congruity_scores(pooled)
    t_congruity = time.perf_counter() - t0
    s_score = None
    if args.shuffled_pools:
        rng = np.random.default_rng(0)
        shuffled = rng.permutation(len(pooled))
        while np.any(shuffled == np.arange(len(pooled))):
            shuffled = rng.permutation(len(pooled))
        s_score, _ = congruity_scores([pooled[k] for k in shuffled])
    if args.perturb:
        l_score, l_p = congruity_scores(pooled, local)

    circuit_info: dict[str, Any] = {}
    if args.circuit:
        t0 = time.perf_counter()
        ok_sub, why = circuit_setup(
            [models[i] for i in circ_keep], [names[i] for i in circ_keep], x, p
        )
        ok = {circ_keep[k]: v for k, v in ok_sub.items()}
        idx = sorted(ok)
        k_score = np.full(len(pairs), np.nan)
        k_p = np.full(len(pairs), np.nan)
        if len(idx) >= 2:
            sub = [models[i] for i in idx]
            reprs = CircuitReprs({models[i]: ok[i][1] for i in idx}, tokens="last")
            # finished pairs are stored, so that a run stopped for time resumes
            store = CACHE / f"p{p}" / f"circuit_pairs{tag}_{'-'.join(circ_layouts)}.json"
            mat = congruity_matrix(sub, x, names=[names[i] for i in idx], n=args.n,
                                   sampler=[ok[i][0] for i in idx], distance="repr_distance",
                                   reprs=reprs, diagonal=False, seed=0, progress=False,
                                   results_path=str(store))  # fmt: skip
            pos = {i: k for k, i in enumerate(idx)}
            for k, (i, j) in enumerate(pairs):
                if i in pos and j in pos:
                    r = mat.results[(pos[i], pos[j])]
                    k_score[k], k_p[k] = r.score, r.p_value
        circuit_info = {
            "layouts": circ_layouts, "models_attempted": [names[i] for i in circ_keep],
            "failed": why, "wall_s": time.perf_counter() - t0,
            "circuits": {names[i]: {"nodes": len(ok[i][1].nodes),
                                    "candidates": len(ok[i][1].candidates),
                                    "faithfulness": ok[i][1].faithfulness,
                                    "one_point": type(ok[i][0]).__name__ == "OnePointSet"}
                         for i in idx},
        }  # fmt: skip

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
    if args.circuit:
        similarity["congruity (circuit, CircuitReprs)"] = k_score
    sets = {
        "all": np.ones(len(pairs), bool),
        "cross-architecture": np.array([layout_of[i] != layout_of[j] for i, j in pairs]),
        "within-layout": np.array([layout_of[i] == layout_of[j] for i, j in pairs]),
    }
    for lay in layouts:
        sets[f"within {lay}"] = np.array([layout_of[i] == layout_of[j] == lay for i, j in pairs])

    table = {}
    for set_name, mask in sets.items():
        n_same, n_diff = int((same & mask).sum()), int((~same & mask).sum())
        entry = {"pairs_same": n_same, "pairs_different": n_diff, "auc": {}}
        for meas, sc in similarity.items():
            scored = mask & np.isfinite(sc)  # a configuration that could not score a pair
            null = permutation_null(sc, pairs, kinds, scored, np.random.default_rng(1))
            entry["auc"][meas] = {"auc": auc(sc[scored], same[scored]),
                                  "null_permuted_labels": null,
                                  "pairs_scored": int(scored.sum())}  # fmt: skip
        if s_score is not None:
            ok = mask & np.isfinite(s_score)
            entry["auc"]["congruity (Distill pools, Fourier modules)"]["null_shuffled_pools"] = auc(
                s_score[ok], same[ok]
            )
        entry["auc"]["random distance"] = {
            "auc": auc(np.random.default_rng(2).random(len(pairs))[mask], same[mask])
        }
        if args.perturb:  # the local sampler, same pairs, same representation
            entry["perturb_refit_congruity"] = {
                "auc": auc(l_score[mask], same[mask]),
                "same_mechanism_flagged_rate": float(((l_p < LEVEL_P) & same & mask).sum()
                                                     / max(n_same, 1)),
            }  # fmt: skip
        entry["calibration"] = calibration(c_p, same, mask)
        if args.circuit:
            entry["calibration_circuit"] = calibration(k_p, same, mask)
        table[set_name] = entry
        print(set_name, {k: round(v["auc"], 3) for k, v in entry["auc"].items()},
              entry["calibration"], entry.get("calibration_circuit"), flush=True)  # fmt: skip

    out = {
        "configuration": {
            "GetImpl": repr(distill_sampler(x)) + f", {args.pool} draws per model",
            "secondary GetImpl (perturb_refit_congruity)": repr(perturb_sampler(x)),
            "GetReprs": repr(fourier) + " at attention outputs + MLP neurons (hook names)",
            "distance": "repr_distance", "n": args.n, "cross": "implementation",
            "ties": "half", "test": "binomial, one-sided, p < 0.05",
        },
        "notes": [
            *(P23_NOTES if p == 23 else []),
            *([] if args.no_distill else [
                f"pools hold {args.pool} draws per model and each Congruity round draws one with "
                "replacement, so the binomial test treats correlated indicators as independent "
                "(anti-conservative)"]),
            *args.note,
        ],
        "training_recipes": [json.loads(t) for t in sorted(training)],
        "labelling_rule": mechanism_of.__doc__,
        "p": p, "seeds": args.seeds, "models": rows, "excluded": excluded,
        "results": table, "circuit_configuration": circuit_info,
        "pairs": [{"a": names[i], "b": names[j], "same": bool(same[k]),
                   "congruity": float(c_score[k]), "p_value": float(c_p[k]),
                   **({} if s_score is None else {"congruity_shuffled_pools": float(s_score[k])}),
                   **({} if not args.circuit else {"congruity_circuit": float(k_score[k]),
                                                   "p_value_circuit": float(k_p[k])}),
                   **{m: float(v[k]) for m, v in similarity.items() if "congruity" not in m}}
                  for k, (i, j) in enumerate(pairs)],
        "timing": {"congruity_matrix_wall_s": t_congruity,
                   "total_wall_s": time.perf_counter() - t_start,
                   "total_cpu_s": time.process_time() - c_start},
        "machine": {"platform": platform.platform(), "torch": torch.__version__,
                    "threads": torch.get_num_threads()},
    }  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    out = json_safe(out)
    atomic_write_json(RESULTS / f"external_validity{tag}.json", out)


if __name__ == "__main__":
    main()
