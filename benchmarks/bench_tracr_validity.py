"""Validity on Tracr-compiled pairs: do the measures and Congruity tell same from different mechanism?

Models nobody here trained: RASP programs compiled by Tracr (mechequiv.zoo.tracr). Two input
sets, every sequence of 5 tokens (the compiled maximum length), shared by all programs of a set:
``letters`` (all 4^5 = 1024 sequences over a-d: length, histogram, histogram_alt, reverse,
reverse_alt, frac_prevs) and ``numbers`` (all 720 sequences of distinct tokens from 1-6: sort,
sort_alt, max, max_alt, above_first, count_smaller). Pairs, always within one set:

- ``compiled_twice`` (same mechanism): a program compiled twice (Tracr is deterministic, so
  these are identical weights: the floor every measure must pass);
- ``rotated`` (same mechanism): the program and an exact reparameterisation (Haar rotation of the
  residual stream, permuted heads and MLP units), ``--rotations`` seeds per program;
- ``distractor`` (same mechanism): the program and a model running it side by side with another
  program of the set whose output is never read (``with_distractor``: block-diagonal weights, the
  output circuit unchanged, extra components that vary with the input but are irrelevant);
  reported with and without these pairs (``exact_copies_vs_all`` / ``distractor_vs_all``);
- ``same_function`` (DIFFERENT mechanism): a program and another RASP program computing the same
  input-output map through a different computation graph (verified on every input). Sun &
  Toneva's interpretation is a causal abstraction of the circuit, which must hold under
  interventions on its intermediate variables; two programs with different intermediate
  variables are different interpretations even with the same input-output map (the trivial
  input->output abstraction is shared by every model, so function alone cannot be the criterion);
- ``other_function`` (different mechanism): two different functions.

Representation: the residual stream after every block, every position of every input its own row
(LayerReprs(tokens="all")); widths differ between programs. The measures are also reported with
all positions concatenated into features (``*_concat``, LayerReprs(tokens="concat")). Scores: linear CKA, Procrustes
(angular), repr_distance on all inputs; Congruity (repr_distance, cross="implementation", ties
"half") on a fixed random subset of ``--congruity-inputs`` inputs with each sampler of
``--samplers``. Each score gets the ROC AUC for same vs different mechanism, a null (the AUC
distribution under 1000 shuffles of the labels), and for Congruity the calibration: the fraction
of same-mechanism pairs flagged distinguishable at the test's level (0.05) and of different ones.

Label-free samplers: ``resample_discovered`` (circuit from
:func:`~mechequiv.equivalence.discovery.discover_circuit` on the model's own inputs, default
metric, derangement counterfactual, then :class:`ResampleAblation` outside it), ``distill``
(:class:`~mechequiv.equivalence.refit.Distill` with its defaults) and the older ``resample_scan``
(deprecated ``scan_components``). A sampler that cannot be built for a model (no faithful circuit,
a circuit holding every component, no distillation within the KL) is recorded as the error, and
the pair is counted as not scored.

Circuit-level configurations (label-free): ``discovered_onepoint`` is ``resample_discovered``
where a circuit that holds every component gives the one-point implementation set
(:class:`~mechequiv.equivalence.samplers.OnePointSet`: the model is its only implementation)
instead of an error, with the full residual stream; ``circuit_reprs_layers`` is the same GetImpl
with GetReprs :class:`~mechequiv.equivalence.reprs.CircuitReprs` (the outputs of each model's own
discovered circuit nodes, every position a row), so that components outside the circuit that
nothing reads do not enter the representation. ``circuit_reprs`` (the fixed configuration)
discovers the circuit over heads and MLP hidden units instead of whole MLP layers (a side
computation merged into the same MLP layer as the circuit is then outside it), scored by the KL
to the model's own output (:data:`~mechequiv.equivalence.CONGRUITY_DISCOVERY`: the quantity
ResampleAblation's behaviour check bounds, faithfulness >= 0.999; with the
default margin metric, ``circuit_reprs_margin``, removing some units raises the margin while
changing the output distribution, and resampling outside such a circuit fails the check),
GetImpl as above, GetReprs CircuitReprs; ``discovered_neurons`` is that GetImpl with the full
residual stream. Each pair records which models had the one-point set (``one_point``), and the
summaries give the AUC also over the pairs where neither model had it (``partial_circuits``).
Discovery tests the components of a hook point in a numbering-free order (``order="canonical"``
of discover_circuit: least effect alone first, exact copies together), so a ``rotated`` copy gets
the permuted circuit of the original; with the earlier index order
(benchmarks/results/tracr_validity_circuit_fixed.json) both rotated pairs of histogram_alt kept
different position-only MLP units and were flagged distinguishable
(tracr_validity_circuit_canonical.json: the same command with the canonical order;
tracr_validity_circuit_canonical_r4.json: ``--rotations 4 --samplers circuit_reprs``).

Samplers are named factories ``(model, inputs, truth) -> Sampler`` (see SAMPLERS); a label-free
sampler from elsewhere plugs in with ``--plugin NAME=package.module:factory`` where ``factory(model,
inputs) -> Sampler`` sees only the model and the task inputs.

Usage: python benchmarks/bench_tracr_validity.py [--rotations 4] [--n 10] [--congruity-inputs 256]
       [--samplers symmetry,tracr_symmetry,resample_truth,resample_scan] [--plugin NAME=mod:fn]
Writes benchmarks/results/tracr_validity.json.
"""

from __future__ import annotations

import argparse
import importlib
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.stats import rankdata
from sklearn.metrics import roc_auc_score

from mechequiv import measures
from mechequiv._io import atomic_write_json
from mechequiv.equivalence import (
    CircuitReprs,
    Component,
    LayerReprs,
    OnePointSet,
    ResampleAblation,
    Sampler,
    SymmetryTransform,
    circuit_sampler,
    congruity,
    discover_congruity_circuit,
    scan_components,
)
from mechequiv.equivalence.discovery import discover_circuit, transformer_components
from mechequiv.equivalence.refit import Distill
from mechequiv.zoo.rasp_programs import PROGRAMS
from mechequiv.zoo.tracr import CompiledProgram, TracrCircuit, compile_program, with_distractor
from mechequiv.zoo.tracr_pairs import (
    ALTERNATIVES,
    SAME_FUNCTION,
    TracrSymmetry,
    all_sequences,
    decoded_outputs,
    program,
    transformed_program,
)

OUT = Path(__file__).parent / "results" / "tracr_validity.json"
SETS = {
    "letters": (["length", "histogram", "histogram_alt", "reverse", "reverse_alt", "frac_prevs"], False),
    "numbers": (["sort", "sort_alt", "max", "max_alt", "above_first", "count_smaller"], True),
}  # fmt: skip
SAME = ("compiled_twice", "rotated", "distractor")
# Every position its own row: with all positions concatenated into features instead, any
# program that only moves tokens between positions (reverse) is a linear map of the input and
# looks identical to the input itself (measured: "concat" rows of the results).
REPRS = LayerReprs(tokens="all")
CONCAT = LayerReprs(tokens="concat")
MEASURES = {  # name -> (function, higher means more similar)
    "linear_cka": (measures.get("linear_cka").fn, True),
    "procrustes": (measures.get("procrustes").fn, False),
    "repr_distance": (measures.get("repr_distance").fn, False),
}

Factory = Callable[[torch.nn.Module, torch.Tensor, TracrCircuit], Sampler]
# configurations whose GetReprs reads each model's discovered circuit instead of REPRS
# name -> (neurons, discovery metric) of the circuit CircuitReprs reads
CIRCUIT_REPRS = {"circuit_reprs": (True, "fixed"), "circuit_reprs_margin": (True, None),
                 "circuit_reprs_layers": (False, None)}  # fmt: skip


def components(model: Any) -> list[Component]:
    """Every head (axis 2 of hook_result) and every MLP output of a Tracr model."""
    # per layer: a model with a distractor has layers with different numbers of heads
    heads = [Component(f"blocks.{layer}.attn.hook_result", h, axis=2)
             for layer, block in enumerate(model.blocks) for h in range(block.attn.n_heads)]  # fmt: skip
    return heads + [Component(f"blocks.{layer}.hook_mlp_out") for layer in range(model.n_layers)]


def truth_components(truth: TracrCircuit) -> list[Component]:
    return [
        Component(f"blocks.{layer}.attn.hook_result", h, axis=2) for layer, h in truth.heads
    ] + [Component(f"blocks.{layer}.hook_mlp_out") for layer in truth.mlps]


def _resample_scan(model: Any, inputs: torch.Tensor, truth: TracrCircuit) -> Sampler:
    comps = components(model)
    circuit = scan_components(model, inputs, comps).circuit
    return ResampleAblation(circuit, comps, inputs)


_CIRCUITS: dict[tuple[int, bool, str | None], Any] = {}  # (id(model), neurons, metric) -> Circuit


def discovered(
    model: Any, inputs: torch.Tensor, neurons: bool = False, metric: str | None = None
) -> Any:
    """The circuit discover_circuit finds on the model's own inputs (derangement counterfactual
    fallback; ``metric`` None: its default, the margin of the model's argmax); found once per
    model and setting. Candidates: every head (``hook_result``) and every MLP output
    (``hook_mlp_out``), or with ``neurons`` every head and every MLP hidden unit
    (:func:`transformer_components` with ``neurons=True``: ``hook_z`` heads, ``mlp.hook_post``
    units), the finest the hook points offer: a side computation that shares an MLP layer with
    the circuit (``with_distractor`` merges the two programs' MLPs of a layer into one
    block-diagonal MLP) is then outside the circuit."""
    key = (id(model), neurons, metric)  # the models live for the whole run
    if key not in _CIRCUITS:
        if metric == "fixed":  # the fixed configuration: CONGRUITY_DISCOVERY, heads + units
            _CIRCUITS[key] = discover_congruity_circuit(model, inputs)
        else:
            comps = transformer_components(model, neurons=True) if neurons else components(model)
            _CIRCUITS[key] = discover_circuit(model, inputs, comps, metric=metric)
    return _CIRCUITS[key]


def _resample_discovered(model: Any, inputs: torch.Tensor, truth: TracrCircuit) -> Sampler:
    """Label-free: resample ablation outside the discovered circuit. The ground truth is not
    read. Refuses (an error, the pair unscored) a circuit that holds every component."""
    return ResampleAblation(discovered(model, inputs), inputs=inputs)


def _discovered_onepoint(model: Any, inputs: torch.Tensor, truth: TracrCircuit) -> Sampler:
    return circuit_sampler(discovered(model, inputs), inputs)


def _discovered_neurons(model: Any, inputs: torch.Tensor, truth: TracrCircuit) -> Sampler:
    """The fixed configuration's GetImpl: circuit over heads and MLP units, scored by the KL to
    the model's own output distribution (what ResampleAblation's behaviour check bounds), the
    settings of :data:`~mechequiv.equivalence.CONGRUITY_DISCOVERY`."""
    return circuit_sampler(discovered(model, inputs, True, "fixed"), inputs)


def _discovered_neurons_margin(model: Any, inputs: torch.Tensor, truth: TracrCircuit) -> Sampler:
    """The same with discover_circuit's default metric (the margin of the model's argmax)."""
    return circuit_sampler(discovered(model, inputs, True), inputs)


def _distill(model: Any, inputs: torch.Tensor, truth: TracrCircuit) -> Sampler:
    """Label-free: functional distillation to the model's own outputs (Distill defaults)."""
    return Distill(inputs)


SAMPLERS: dict[str, Factory] = {
    # the package's positive control (refuses Tracr's layout: recorded as the error it raises)
    "symmetry": lambda model, inputs, truth: SymmetryTransform(),
    # the positive control for this layout (mechequiv.zoo.tracr_pairs, not equivalence/)
    "tracr_symmetry": lambda model, inputs, truth: TracrSymmetry(),
    # oracle: resample-ablation outside the compiled ground-truth circuit (not label-free)
    "resample_truth": lambda model, inputs, truth: ResampleAblation(
        truth_components(truth), components(model), inputs
    ),
    # label-free: circuit by the existing one-at-a-time patching scan, then resample-ablation
    "resample_scan": _resample_scan,
    # label-free: circuit by discover_circuit (equivalence/discovery.py), then resample-ablation
    "resample_discovered": _resample_discovered,
    # label-free: the same, with the one-point set for whole-model circuits (full residual)
    "discovered_onepoint": _discovered_onepoint,
    # label-free: the same GetImpl, GetReprs = the discovered circuit's node outputs
    "circuit_reprs_layers": _discovered_onepoint,
    # label-free, the fixed configuration: circuit over heads and MLP neurons (KL metric),
    # its node outputs as GetReprs
    "circuit_reprs": _discovered_neurons,
    # the same with the default margin metric for discovery
    "circuit_reprs_margin": _discovered_neurons_margin,
    # the same GetImpl with the full residual stream (isolates what CircuitReprs changes)
    "discovered_neurons": _discovered_neurons,
    # label-free: functional distillation pools (equivalence/refit.py)
    "distill": _distill,
}


def plugin(spec: str) -> tuple[str, Factory]:
    """``NAME=package.module:factory`` with ``factory(model, inputs) -> Sampler``."""
    name, _, target = spec.partition("=")
    mod, _, attr = target.partition(":")
    if not name or not mod or not attr:
        raise SystemExit(f"--plugin expects NAME=package.module:factory; got {spec!r}")
    fn = getattr(importlib.import_module(mod), attr)
    return name, lambda model, inputs, truth: fn(model, inputs)


def build_pairs(rotations: int, distractors: bool) -> tuple[list[dict], dict[str, torch.Tensor]]:
    """Pairs (dicts with models, kind, same) and each set's inputs; function checks asserted."""
    pairs, inputs = [], {}
    for set_name, (names, distinct) in SETS.items():
        seqs = all_sequences(program(names[0]).vocab, 5, distinct)
        compiled = {n: compile_program(program(n)) for n in names}
        inputs[set_name] = compiled[names[0]].model.encode(seqs)
        outs = {n: decoded_outputs(c.model, seqs) for n, c in compiled.items()}
        for n, c in compiled.items():
            twice = compile_program(program(n))
            pairs.append(dict(set=set_name, kind="compiled_twice", a=c, b=twice))
            for s in range(rotations):
                rot = transformed_program(c, np.random.default_rng([s, len(pairs)]))
                assert decoded_outputs(rot.model, seqs) == outs[n], f"{n}: rotation changed outputs"
                pairs.append(dict(set=set_name, kind="rotated", a=c, b=rot, seed=s))
        for i, n in enumerate(names) if distractors else ():
            other = names[(i + 2) % len(names)]  # never its same-function partner (adjacent)
            both = with_distractor(compiled[n], compiled[other])
            assert decoded_outputs(both.model, seqs) == outs[n], f"{both.name}: outputs changed"
            pairs.append(dict(set=set_name, kind="distractor", a=compiled[n], b=both))
        for i, n in enumerate(names):
            for m in names[i + 1 :]:
                same_fn = SAME_FUNCTION.get(m) == n or SAME_FUNCTION.get(n) == m
                if same_fn:
                    assert outs[n] == outs[m], f"{n} and {m} differ on some input"
                kind = "same_function" if same_fn else "other_function"
                pairs.append(dict(set=set_name, kind=kind, a=compiled[n], b=compiled[m]))
    for p in pairs:
        p["same"] = p["kind"] in SAME
    return pairs, inputs


def auc_with_null(scores: list[float], same: list[bool], rng: np.random.Generator) -> dict:
    """ROC AUC of ``scores`` (higher: more likely same mechanism), and its label-shuffle null."""
    s, y = np.asarray(scores, dtype=np.float64), np.asarray(same, dtype=bool)
    ok = np.isfinite(s)
    s, y = s[ok], y[ok]
    if y.all() or not y.any():
        return {"auc": None, "n_pairs": int(ok.sum()), "reason": "one class only"}
    # The null by Mann-Whitney on midranks (the AUC with ties counted 1/2, as roc_auc_score):
    # one ranking, 1000 label shuffles, vectorised.
    ranks, n1 = rankdata(s), int(y.sum())
    shuffled = np.array([rng.permutation(y) for _ in range(1000)])
    null = ((shuffled * ranks).sum(1) - n1 * (n1 + 1) / 2) / (n1 * (len(y) - n1))
    return {"auc": float(roc_auc_score(y, s)), "null_mean": float(null.mean()),
            "null_q95": float(np.quantile(null, 0.95)), "n_pairs": int(ok.sum()),
            "n_same": int(y.sum()), "n_different": int((~y).sum())}  # fmt: skip


def summarise(
    rows: list[dict], key: str, higher: bool, rng: np.random.Generator, source: str | None = None
) -> dict:
    """AUCs with nulls on the pair subsets; ``source`` (a Congruity row key) adds the subset of
    pairs where neither model had the one-point implementation set."""
    sign = 1.0 if higher else -1.0
    out = {}
    subsets = {"all": lambda r: True,
               "exact_copies_vs_all": lambda r: r["kind"] != "distractor",
               "distractor_vs_all": lambda r: r["kind"] not in ("compiled_twice", "rotated"),
               "same_vs_same_function": lambda r: r["kind"] != "other_function",
               "same_vs_other_function": lambda r: r["kind"] != "same_function"}  # fmt: skip
    if source is not None:
        subsets["partial_circuits"] = lambda r: not r[source].get("one_point")
    for name, keep in subsets.items():
        sel = [r for r in rows if keep(r)]
        vals = [sign * r[key] if r.get(key) is not None else np.nan for r in sel]
        out[name] = auc_with_null(vals, [r["same"] for r in sel], rng)
        # pairs a sampler could not score are left out of the AUC: say how many were scored
        out[name]["n_total"] = len(sel)
    for kind in ("compiled_twice", "rotated", "distractor", "same_function", "other_function"):
        v = [r[key] for r in rows if r["kind"] == kind and r.get(key) is not None]
        out[f"mean_{kind}"] = float(np.mean(v)) if v else None
        out[f"range_{kind}"] = [float(np.min(v)), float(np.max(v))] if v else None
    return out


def run_congruity(
    pair: dict,
    x: torch.Tensor,
    factory: Factory,
    n: int,
    cache: dict,
    circuit_reprs: tuple[bool, str | None] | None = None,
) -> dict:
    """Congruity of one pair; ``circuit_reprs`` (None: the full stream REPRS) reads each model's
    discovered circuit ((neurons, metric) of :func:`discovered`) with CircuitReprs."""

    def sampler_for(c: CompiledProgram) -> Sampler:
        if id(c.model) not in cache:
            try:
                cache[id(c.model)] = factory(c.model, x, c.ground_truth)
            except Exception as e:  # recorded: a sampler that cannot be built is a result
                cache[id(c.model)] = e
        got = cache[id(c.model)]
        if isinstance(got, Exception):
            raise got
        return got

    t0, c0 = time.perf_counter(), time.process_time()
    try:
        samplers = (sampler_for(pair["a"]), sampler_for(pair["b"]))
        reprs: Any = REPRS
        if circuit_reprs is not None:
            ma, mb = pair["a"].model, pair["b"].model
            reprs = CircuitReprs({m: discovered(m, x, *circuit_reprs) for m in (ma, mb)},
                                 tokens="all")  # fmt: skip
        res = congruity(pair["a"].model, pair["b"].model, x, n=n, reprs=reprs, sampler=samplers,
                        progress=False)  # fmt: skip
    except Exception as e:
        return {"error": f"{type(e).__name__}: {e}"}
    one_point = [k for k, smp in zip("ab", samplers, strict=True) if isinstance(smp, OnePointSet)]
    return {"score": res.score, "p_value": res.p_value, "distinguishable": res.distinguishable,
            "discordant": res.discordant, "one_point": one_point,
            "rate_1": res.rate_1, "rate_2": res.rate_2, "ci": [res.ci_low, res.ci_high],
            "median_d11": float(np.median(res.distances["d11"])),
            "median_d12": float(np.median(res.distances["d12"])),
            "wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0}  # fmt: skip


def calibration(rows: list[dict], key: str, level: float = 0.05) -> dict:
    out = {"test_level": level}
    for label, same in (("same_mechanism", True), ("different_mechanism", False)):
        done = [r[key] for r in rows if r["same"] == same and "error" not in r[key]]
        flagged = sum(d["distinguishable"] for d in done)
        out[label] = {"flagged": flagged, "scored": len(done),
                      "errors": sum(1 for r in rows if r["same"] == same and "error" in r[key]),
                      "fraction_flagged": flagged / len(done) if done else None}  # fmt: skip
    by_kind: dict[str, list] = {}
    for r in rows:
        if "error" not in r[key]:
            by_kind.setdefault(r["kind"], []).append(r[key])
    out["fraction_flagged_by_kind"] = {
        k: float(np.mean([d["distinguishable"] for d in v])) for k, v in by_kind.items()
    }
    out["by_kind"] = {
        k: {"scored": len(v), "flagged": sum(d["distinguishable"] for d in v),
            "discordant": sum(bool(d.get("discordant")) for d in v),
            "one_point": sum(bool(d.get("one_point")) for d in v),
            "flagged_partial_circuits": sum(d["distinguishable"] for d in v if not d.get("one_point")),
            "scored_partial_circuits": sum(1 for d in v if not d.get("one_point"))}
        for k, v in by_kind.items()
    }  # fmt: skip
    return out


def _rep(cache: dict, reprs: LayerReprs, model: Any, x: torch.Tensor, key: int) -> torch.Tensor:
    if key not in cache:
        cache[key] = reprs(model, x)
    return cache[key]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rotations", type=int, default=4)
    ap.add_argument("--n", type=int, default=10, help="Congruity rounds per pair")
    ap.add_argument("--congruity-inputs", type=int, default=256)
    ap.add_argument("--samplers", default="symmetry,tracr_symmetry,resample_truth,resample_scan")
    ap.add_argument("--plugin", action="append", default=[], help="NAME=package.module:factory")
    ap.add_argument("--no-distractors", action="store_true", help="leave out the distractor pairs")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    factories = {k: SAMPLERS[k] for k in args.samplers.split(",") if k}
    factories |= dict(plugin(s) for s in args.plugin)
    rng = np.random.default_rng(0)

    t0 = time.perf_counter()
    pairs, inputs = build_pairs(args.rotations, not args.no_distractors)
    print(f"{len(pairs)} pairs built in {time.perf_counter() - t0:.1f}s")
    subset = {k: v[np.sort(np.random.default_rng(1).choice(len(v), min(args.congruity_inputs, len(v)), replace=False))]
              for k, v in inputs.items()}  # fmt: skip
    reps: dict[int, torch.Tensor] = {}
    rows = []
    for p in pairs:
        x = inputs[p["set"]]
        ra, rb = (_rep(reps, REPRS, p[k].model, x, id(p[k].model)) for k in "ab")
        row = {"set": p["set"], "kind": p["kind"], "same": p["same"], "a": p["a"].name,
               "b": p["b"].name, "seed": p.get("seed"), "width_a": ra.shape[1], "width_b": rb.shape[1]}  # fmt: skip
        ca, cb = (_rep(reps, CONCAT, p[k].model, x, -id(p[k].model)) for k in "ab")
        for m, (fn, _) in MEASURES.items():
            row[m] = float(fn(ra, rb))
            row[f"{m}_concat"] = float(fn(ca, cb))
        rows.append(row)
    print(f"measures done at {time.perf_counter() - t0:.1f}s")
    for s, factory in factories.items():
        cache: dict = {}
        for p, row in zip(pairs, rows, strict=True):
            row[f"congruity_{s}"] = run_congruity(
                p, subset[p["set"]], factory, args.n, cache, CIRCUIT_REPRS.get(s)
            )
        errs = sum("error" in r[f"congruity_{s}"] for r in rows)
        print(f"congruity {s} done at {time.perf_counter() - t0:.1f}s ({errs} errors)")

    summary = {m: summarise(rows, m, higher, rng) for m, (_, higher) in MEASURES.items()}
    summary |= {f"{m}_concat": summarise(rows, f"{m}_concat", higher, rng)
                for m, (_, higher) in MEASURES.items()}  # fmt: skip
    calib = {}
    for s in factories:
        key = f"congruity_{s}"
        for r in rows:
            r[f"{key}_score"] = r[key].get("score")
        summary[key] = summarise(rows, f"{key}_score", True, rng, source=key)
        calib[key] = calibration(rows, key)
        errors = sorted({r[key]["error"] for r in rows if "error" in r[key]})
        summary[key]["errors"] = errors[:10]
    for r in rows:
        for s in factories:
            r.pop(f"congruity_{s}_score", None)

    print(
        f"\n{'score':32s} {'AUC all':>8s} {'null q95':>9s} {'AUC c':>7s} {'AUC d':>7s}  calibration"
    )
    for k, v in summary.items():
        a = v["all"]
        fmt = lambda z: "   n/a" if z is None else f"{z:7.3f}"  # noqa: E731
        cal = calib.get(k)
        cal_s = "" if cal is None else (
            f"same flagged {cal['same_mechanism']['flagged']}/{cal['same_mechanism']['scored']} "
            f"(errors {cal['same_mechanism']['errors']}), different flagged "
            f"{cal['different_mechanism']['flagged']}/{cal['different_mechanism']['scored']} "
            f"(errors {cal['different_mechanism']['errors']})")  # fmt: skip
        print(f"{k:32s} {fmt(a.get('auc')):>8s} {fmt(a.get('null_q95')):>9s} "
              f"{fmt(v['same_vs_same_function'].get('auc'))} {fmt(v['same_vs_other_function'].get('auc'))}  {cal_s}")  # fmt: skip
    atomic_write_json(args.out, {
        "benchmark": "tracr_validity",
        "config": {"rotations": args.rotations, "distractors": not args.no_distractors, "n": args.n, "congruity_inputs": args.congruity_inputs,
                   "samplers": list(factories), "plugins": args.plugin, "reprs": repr(REPRS),
                   "circuit_reprs": {k: f"CircuitReprs({{model: discovered circuit (neurons, metric = {CIRCUIT_REPRS[k]})}}, tokens='all')"
                                     for k in factories if k in CIRCUIT_REPRS},
                   "distance": "repr_distance", "cross": "implementation", "ties": "half",
                   "sets": {k: v[0] for k, v in SETS.items()},
                   "same_function_pairs": SAME_FUNCTION, "alternatives": sorted(ALTERNATIVES),
                   "programs": sorted(PROGRAMS)},
        "labels": {"same_mechanism": list(SAME), "different_mechanism": ["same_function", "other_function"]},
        "summary": summary, "calibration": calib, "pairs": rows,
        "wall_s": time.perf_counter() - t0, "cpu_s": time.process_time(),
        "machine": platform.platform(), "threads": torch.get_num_threads(),
    })  # fmt: skip
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
