"""Circuit discovery by exact activation patching, ACDC-style, with an attribution first pass.

:func:`discover_circuit` finds the components (attention heads, MLP layers, neurons, ...) that a
model's behaviour on a task depends on, and returns a :class:`Circuit` with its faithfulness,
completeness and minimality.

Conventions
-----------
- *Ablating* a component replaces its activation by its value on a counterfactual input
  (row-paired: input i gets the activation of counterfactual row i). Components that keep the
  same value on every counterfactual row (a length computation on fixed-length inputs, a head
  that always attends to BOS) cannot be tested that way, so they are ablated to zero instead;
  their mean- and zero-ablation effects are reported (:attr:`Circuit.constant`).
- *The circuit alone* is the model with every candidate component outside the circuit ablated;
  circuit components are computed live from whatever reaches them.
- The metric (:class:`~mechequiv.equivalence.metrics.BehaviourMetric`) is normalised between the
  model (1) and the empty circuit, every candidate ablated (0):
  ``faithfulness = (m(circuit) - m(empty)) / (m(model) - m(empty))``.
- Search (Conmy et al. 2023's ACDC on nodes): start from every candidate and sweep them in
  reverse forward order, removing a component for good when that lowers the normalised metric
  by less than ``threshold``; sweeps repeat until nothing changes. Each decision is an exact
  patching run with all earlier removals in place, so effects that need several components
  together (saturated outputs, redundant heads) are seen, unlike one-at-a-time scans.
- The components of one hook point (a layer's heads, an MLP's units) are tested in an order
  that does not depend on their numbering (:mod:`~mechequiv.equivalence.search_order`): least
  effect alone first, ties broken by norms of their activations; exact copies (equal
  activations and effects) are tested and removed together, so both copies of a redundant
  unit stay when either alone would do. Of two components that can stand in for each other
  but are not copies, the one that matters less alone is removed. The circuit of a copy of the
  model with permuted heads or units and a rotated residual stream is then the image of the
  original's (``order="index"`` gives the earlier, numbering-dependent search).
- With many candidates, attribution patching (Nanda 2023; Syed et al. 2023) first estimates
  every component's effect by the first-order term ``(a_cf - a) . dm/da``, with the gradient
  averaged along the path from the clean to the ablated activations (integrated gradients, as
  in EAP-IG), from ``attribution_steps`` forward and backward passes; components estimated below ``threshold / 10`` are ablated before the
  exact search. That pruning is verified by exact patching: if it alone loses more than
  ``threshold`` faithfulness (first-order estimates fail where attention or MLPs saturate, as in
  compiled Tracr models) it is undone, the exact search runs on every candidate and the result's
  ``method`` says so. The final circuit is always evaluated by exact patching.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from mechequiv.capture import Adapter, capture, eval_mode, patching, run_with_patches
from mechequiv.capture.batches import Batches
from mechequiv.capture.interventions import derangement
from mechequiv.equivalence.components import (
    Component,
    component_patches,
    component_slice,
    model_adapter,
    through_conversion,
)
from mechequiv.equivalence.metrics import BehaviourMetric, output_logits
from mechequiv.equivalence.search_order import search_groups
from mechequiv.errors import MechequivError

Counterfactual = Any  # inputs (row-paired), a generator fn(inputs, rng) -> inputs, or None


# ----------------------------------------------------------------------------------------------
# Candidate components


def transformer_components(
    model: nn.Module | Adapter,
    heads: bool = True,
    mlps: bool = True,
    neurons: bool = False,
) -> list[Component]:
    """Attention heads and MLPs of a transformer with TransformerLens-style hook points.

    Heads are ``Component("blocks.{l}.attn.hook_z", h, axis=2)`` (patching a head's ``z`` is
    patching its write to the residual stream); MLPs are ``Component("blocks.{l}.hook_mlp_out")``
    or, with ``neurons=True``, every unit of ``blocks.{l}.mlp.hook_post``. Works on
    TransformerLens ``HookedTransformer`` models and :mod:`mechequiv.zoo.tracr` models.
    """
    adapter = model_adapter(model)
    names = set(adapter.hook_modules())
    layers = sorted(
        {
            int(n.split(".")[1])
            for n in names
            if n.startswith("blocks.") and n.split(".")[1].isdigit()
        }
    )
    comps: list[Component] = []
    for layer in layers:
        z, mlp_out, post = (f"blocks.{layer}.attn.hook_z", f"blocks.{layer}.hook_mlp_out",
                            f"blocks.{layer}.mlp.hook_post")  # fmt: skip
        zoo_heads, zoo_mlp = f"blocks.{layer}.attn.heads", f"blocks.{layer}.mlp"
        if heads and z in names:
            comps += [Component(z, h, axis=2) for h in range(_n_heads(adapter.module, layer))]
        elif heads and zoo_heads in names:  # the zoo's TokenTransformer with causal attention
            comps += [
                Component(zoo_heads, h, axis=2) for h in range(_n_heads(adapter.module, layer))
            ]
        if mlps and neurons and post in names:
            comps += [Component(post, i) for i in range(_d_mlp(adapter.module, layer))]
        elif mlps and mlp_out in names:
            comps.append(Component(mlp_out))
        elif mlps and zoo_mlp in names:
            comps.append(Component(zoo_mlp))
    if not comps:
        raise ValueError(
            f"the model ({type(adapter.module).__name__}) exposes no TransformerLens-style hook "
            "points (blocks.{l}.attn.hook_z, blocks.{l}.hook_mlp_out, blocks.{l}.mlp.hook_post); "
            "build the components from its module names, e.g. [Component('layers.0'), "
            "Component('layers.1', 3)]"
        )
    return comps


def _n_heads(module: nn.Module, layer: int) -> int:
    cfg = getattr(module, "cfg", None)
    if cfg is not None and hasattr(cfg, "n_heads"):
        return int(cfg.n_heads)
    return int(cast(Any, module).blocks[layer].attn.n_heads)  # zoo models: attribute names


def _d_mlp(module: nn.Module, layer: int) -> int:
    cfg = getattr(module, "cfg", None)
    if cfg is not None and getattr(cfg, "d_mlp", None):
        return int(cfg.d_mlp)
    mlp = cast(Any, module).blocks[layer].mlp
    return int(mlp.W_in.shape[-1]) if hasattr(mlp, "W_in") else int(mlp.fc_in.out_features)


# ----------------------------------------------------------------------------------------------
# The result


@dataclass(frozen=True)
class Circuit:
    """A circuit found by :func:`discover_circuit` (or given by hand and evaluated).

    Attributes
    ----------
    nodes : the circuit's components, in forward order
    candidates : every component considered (the circuit's complement is ablated)
    edges : (sender, receiver) pairs; empty for node-level discovery (every earlier circuit
        node may write to every later one through the residual stream); from
        :func:`~mechequiv.equivalence.edges.discover_edges` a receiver is a head's query, key or
        value input (``blocks.{l}.attn.hook_{q,k,v}``, the head's index)
    edge_scores : drop of faithfulness when each tested edge was removed (edge discovery)
    node_faithfulness : the node circuit's faithfulness, when ``faithfulness`` is the edge
        circuit's
    metric : what was scored (:meth:`BehaviourMetric.describe`)
    counterfactual : where ablation values came from (given inputs, a generator, or the
        derangement fallback)
    faithfulness : ``(m(circuit) - m(empty)) / (m(model) - m(empty))``
    model_score, circuit_score, empty_score : the raw metric of the model, the circuit alone
        and the empty circuit; ``counterfactual_score``: the model run on the counterfactual
        inputs themselves (the usual "corrupted baseline")
    accuracy : argmax agreement with the model for the circuit alone and the empty circuit
        (None for single-number outputs)
    completeness : ``1 - max_S |F(circuit - S) - F(model - S)|`` over single circuit components
        and random subsets S (Wang et al. 2023): the circuit responds to knock-outs as the
        model does
    minimality : share of circuit nodes whose removal alone lowers faithfulness by more than
        ``threshold``
    scores : normalised drop of the metric when each candidate was tested (removal in the
        sweep, of its whole group for exact copies tested together; for circuit nodes, removal
        of the node alone from the final circuit); attribution estimates for candidates pruned
        by the first pass
    ablation : per candidate, how it is ablated ("counterfactual", or "zero" when it never
        varies over the counterfactual rows)
    constant : per non-varying candidate, the normalised drop under mean- and zero-ablation
        from the full model
    """

    nodes: tuple[Component, ...]
    candidates: tuple[Component, ...]
    metric: str
    counterfactual: str
    faithfulness: float
    model_score: float
    circuit_score: float
    empty_score: float
    counterfactual_score: float | None
    completeness: float
    minimality: float
    threshold: float
    scores: dict[Component, float] = field(repr=False)
    ablation: dict[Component, str] = field(repr=False)
    constant: dict[Component, dict[str, float]] = field(repr=False)
    accuracy: dict[str, float] | None = None
    method: str = "acdc"
    edges: tuple[tuple[Component, Component], ...] = ()
    n_inputs: int = 0
    forward_passes: int = 0
    seconds: float = 0.0
    edge_scores: dict[tuple[Component, Component], float] = field(default_factory=dict, repr=False)
    node_faithfulness: float | None = None

    def __str__(self) -> str:
        lines = [
            f"Circuit: {len(self.nodes)} of {len(self.candidates)} components ({self.method}, "
            f"threshold {self.threshold:g}, {self.n_inputs} inputs)",
            f"  metric: {self.metric}; counterfactual: {self.counterfactual}",
            f"  faithfulness {self.faithfulness:.4f} (model {self.model_score:.4g}, circuit "
            f"{self.circuit_score:.4g}, empty {self.empty_score:.4g}"
            + (
                ""
                if self.counterfactual_score is None
                else f", counterfactual inputs {self.counterfactual_score:.4g}"
            )
            + f"); completeness {self.completeness:.4f}; minimality {self.minimality:.3f}",
        ]
        if self.node_faithfulness is not None:
            lines.append(f"  {len(self.edges)} edges (node circuit faithfulness "
                         f"{self.node_faithfulness:.4f}): "
                         + ", ".join(f"{a} -> {b}" for a, b in self.edges))  # fmt: skip
        for c in self.nodes:
            note = (
                ""
                if self.ablation.get(c) == "counterfactual"
                else f" [{self.ablation.get(c)}-ablated]"
            )
            lines.append(f"  {c}: {self.scores.get(c, float('nan')):.4g}{note}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        nodes = ", ".join(map(str, self.nodes[:8])) + (", ..." if len(self.nodes) > 8 else "")
        return (
            f"Circuit({len(self.nodes)}/{len(self.candidates)} components, faithfulness "
            f"{self.faithfulness:.3f}, {self.metric}: {nodes})"
        )

    def to_dict(self) -> dict[str, Any]:
        key = str
        return {
            "nodes": [_comp_dict(c) for c in self.nodes],
            "candidates": [_comp_dict(c) for c in self.candidates],
            "edges": [[_comp_dict(a), _comp_dict(b)] for a, b in self.edges],
            "metric": self.metric,
            "counterfactual": self.counterfactual,
            "faithfulness": self.faithfulness,
            "model_score": self.model_score,
            "circuit_score": self.circuit_score,
            "empty_score": self.empty_score,
            "counterfactual_score": self.counterfactual_score,
            "completeness": self.completeness,
            "minimality": self.minimality,
            "threshold": self.threshold,
            "scores": {key(c): s for c, s in self.scores.items()},
            "ablation": {key(c): s for c, s in self.ablation.items()},
            "constant": {key(c): dict(v) for c, v in self.constant.items()},
            "accuracy": self.accuracy,
            "method": self.method,
            "n_inputs": self.n_inputs,
            "forward_passes": self.forward_passes,
            "seconds": self.seconds,
            "edge_scores": [
                [_comp_dict(a), _comp_dict(b), v] for (a, b), v in self.edge_scores.items()
            ],
            "node_faithfulness": self.node_faithfulness,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Circuit:
        cands = tuple(_comp_from(c) for c in d["candidates"])
        by_name = {str(c): c for c in cands}
        return cls(
            nodes=tuple(_comp_from(c) for c in d["nodes"]),
            candidates=cands,
            edges=tuple((_comp_from(a), _comp_from(b)) for a, b in d.get("edges", [])),
            metric=d["metric"],
            counterfactual=d["counterfactual"],
            faithfulness=d["faithfulness"],
            model_score=d["model_score"],
            circuit_score=d["circuit_score"],
            empty_score=d["empty_score"],
            counterfactual_score=d["counterfactual_score"],
            completeness=d["completeness"],
            minimality=d["minimality"],
            threshold=d["threshold"],
            scores={by_name[k]: v for k, v in d["scores"].items()},
            ablation={by_name[k]: v for k, v in d["ablation"].items()},
            constant={by_name[k]: dict(v) for k, v in d["constant"].items()},
            accuracy=d.get("accuracy"),
            method=d.get("method", "acdc"),
            n_inputs=d.get("n_inputs", 0),
            forward_passes=d.get("forward_passes", 0),
            seconds=d.get("seconds", 0.0),
            edge_scores={(_comp_from(a), _comp_from(b)): v for a, b, v in d.get("edge_scores", [])},
            node_faithfulness=d.get("node_faithfulness"),
        )

    def graph(self) -> dict[str, Any]:
        """Drawable data: one node per candidate with its layer (from ``blocks.{l}``), kind,
        score and circuit membership, plus the edges (residual-stream edges between circuit
        nodes in different layers when discovery was node-level)."""
        inside = set(self.nodes)
        nodes = []
        for i, c in enumerate(self.candidates):
            parts = c.point.split(".")
            layer = (
                int(parts[1])
                if len(parts) > 1 and parts[0] == "blocks" and parts[1].isdigit()
                else i
            )
            kind = "head" if "attn" in c.point else "mlp" if "mlp" in c.point else "node"
            nodes.append({"id": str(c), "layer": layer, "kind": kind, "in_circuit": c in inside,
                          "score": self.scores.get(c), "ablation": self.ablation.get(c)})  # fmt: skip
        layer_of = {n["id"]: (n["layer"], n["kind"] == "mlp") for n in nodes}
        paths = None
        if self.edges:
            # an edge into a head's query/key/value is drawn into the head, its path named
            head = {(tuple(c.point.split(".")[:2]), c.index): str(c) for c in self.candidates
                    if c.axis == 2 and ".attn." in c.point}  # fmt: skip
            edges = [[str(a), head.get((tuple(b.point.split(".")[:2]), b.index), str(b))]
                     for a, b in self.edges]  # fmt: skip
            paths = [b.point.rsplit("hook_", 1)[-1] for _, b in self.edges]
        else:
            ids = [str(c) for c in self.nodes]
            edges = [[a, b] for a in ids for b in ids if layer_of[a] < layer_of[b]]
        out = {"nodes": nodes, "edges": edges, "edges_inferred": not self.edges}
        return out if paths is None else {**out, "edge_paths": paths}


def _comp_dict(c: Component) -> dict[str, Any]:
    return {"point": c.point, "index": c.index, "axis": c.axis}


def _comp_from(d: dict[str, Any]) -> Component:
    return Component(d["point"], d["index"], d["axis"])


# ----------------------------------------------------------------------------------------------
# Patching runs


class _Runs:
    """Clean and counterfactual activations, and runs of the model with components ablated."""

    def __init__(
        self,
        adapter: Adapter,
        inputs: Any,
        cf_inputs: Any,
        candidates: Sequence[Component],
        metric: BehaviourMetric,
        ablation: str,
    ) -> None:
        self.adapter, self.inputs, self.metric = adapter, inputs, metric
        self.modules = adapter.hook_modules()
        points = sorted({c.point for c in candidates})
        self.clean_out = run_with_patches(adapter, inputs, {}, batch_size=None, progress=False)
        self.passes = 1
        self.clean = capture(adapter, inputs, points, batch_size=None, progress=False)
        cf = capture(adapter, cf_inputs, points, batch_size=None, progress=False)
        n = next(iter(self.clean.values())).shape[0]
        for p in points:
            if cf[p].shape != self.clean[p].shape:
                raise ValueError(
                    f"counterfactual activations at {p!r} have shape {tuple(cf[p].shape)}; the "
                    f"inputs give {tuple(self.clean[p].shape)} (counterfactual inputs must be "
                    f"row-paired with the {n} inputs, of the same length)"
                )
        self.values: dict[Component, torch.Tensor] = {}
        self.kind: dict[Component, str] = {}
        self.constant: list[Component] = []
        for c in candidates:
            a, b = component_slice(self.clean[c.point], c), component_slice(cf[c.point], c)
            scale = float(a.abs().max()) if a.numel() else 0.0
            varies = bool((a - b).abs().max() > 1e-9 * max(scale, 1e-30)) if a.numel() else False
            if not varies:
                self.constant.append(c)
            if ablation == "zero" or (ablation == "counterfactual" and not varies):
                self.values[c], self.kind[c] = torch.zeros_like(a), "zero"
            elif ablation == "mean":
                self.values[c], self.kind[c] = a.mean(0, keepdim=True).expand_as(a), "mean"
            else:
                self.values[c], self.kind[c] = b, "counterfactual"

    def patches(
        self, ablate: Iterable[Component], values: dict[Component, torch.Tensor] | None = None
    ) -> dict[Hashable, Callable[..., Any]]:
        values = self.values if values is None else values
        return component_patches({c: values[c] for c in ablate}, self.modules)

    def output(
        self, ablate: Iterable[Component], values: dict[Component, torch.Tensor] | None = None
    ) -> Any:
        self.passes += 1
        return run_with_patches(self.adapter, self.inputs, self.patches(ablate, values),
                                batch_size=None, progress=False)  # fmt: skip

    def score(
        self, ablate: Iterable[Component], values: dict[Component, torch.Tensor] | None = None
    ) -> float:
        return self.metric(self.output(ablate, values), self.clean_out)


def _forward_order(adapter: Adapter, inputs: Any, points: Sequence[str]) -> dict[str, int]:
    """The order in which the points run in a forward pass."""
    seen: list[str] = []

    def note(p: str) -> Callable[[torch.Tensor], torch.Tensor]:
        def record(a: torch.Tensor) -> torch.Tensor:
            seen.append(p)
            return a

        return record

    run_with_patches(adapter, _first_rows(inputs, 2), {p: note(p) for p in points},
                     batch_size=None, progress=False)  # fmt: skip
    return {p: i for i, p in enumerate(dict.fromkeys(seen))}


def _first_rows(inputs: Any, k: int) -> Any:
    if isinstance(inputs, torch.Tensor):
        return inputs[:k]
    if isinstance(inputs, dict):
        return {n: v[:k] for n, v in inputs.items()}
    if isinstance(inputs, tuple):
        return tuple(v[:k] for v in inputs)
    return inputs


def _n_rows(inputs: Any) -> int:
    return Batches(inputs).n


def _single_effects(
    runs: _Runs,
    candidates: Sequence[Component],
    removed: set[Component],
    norm: Callable[[float], float],
) -> dict[Component, float]:
    """Each candidate's normalised drop when ablated alone on top of ``removed`` (the attribution
    pass's pruning, or nothing); only where the search order needs it (hook points with several
    candidates left to test), 0 elsewhere."""
    live = [c for c in candidates if c not in removed]
    per_point: dict[str, int] = {}
    for c in live:
        per_point[c.point] = per_point.get(c.point, 0) + 1
    current = norm(runs.score(removed)) if removed else 1.0
    effects = dict.fromkeys(candidates, 0.0)
    for c in live:
        if per_point[c.point] > 1:
            effects[c] = current - norm(runs.score(removed | {c}))
    return effects


# ----------------------------------------------------------------------------------------------
# Discovery


def discover_circuit(
    model: nn.Module | Adapter,
    inputs: Any,
    components: Sequence[Component] | None = None,
    *,
    counterfactual: Counterfactual = None,
    metric: BehaviourMetric | str | None = None,
    threshold: float = 0.01,
    method: str = "auto",
    ablation: str = "counterfactual",
    zero_check: bool = False,
    min_faithfulness: float | None = 0.9,
    attribution_steps: int = 5,
    max_sweeps: int = 3,
    completeness_subsets: int = 8,
    seed: int = 0,
    order: str = "canonical",
) -> Circuit:
    """Find the circuit of ``model`` for the behaviour on ``inputs``.

    Parameters
    ----------
    model : a torch module (module names as hook points) or a capture Adapter
    inputs : the task's inputs, one batch (a tensor, tuple or dict of tensors)
    components : candidate components; default :func:`transformer_components` (heads and MLPs)
    counterfactual : counterfactual inputs row-paired with ``inputs`` (e.g. IOI name swaps), or a
        generator ``fn(inputs, rng) -> inputs``; None falls back to a derangement of the inputs
        (each row gets another row's activations), which the result states
    metric : a :class:`BehaviourMetric` or its kind (``"margin"``, ``"logit_diff"``,
        ``"accuracy"``, ``"kl"``, ``"mse"``); default margin for classifiers, mse for numbers
    threshold : largest drop of normalised faithfulness for which a component is removed
    method : ``"acdc"`` (exact patching only), ``"attribution"`` (attribution patching first
        pass, then exact), ``"auto"`` (attribution above 200 candidates)
    ablation : ``"counterfactual"`` (zero for components that never vary), ``"mean"``, ``"zero"``
    min_faithfulness : never remove a component if that brings the circuit's faithfulness below
        this (the per-component ``threshold`` alone lets small losses add up); None: pure
        threshold search
    attribution_steps : forward/backward passes of the attribution first pass (integrated
        gradients between the clean and the ablated activations)
    zero_check : also require that zero-ablating a component (on top of the removals so far)
        stays within ``threshold`` before removing it. This catches a constant part inside a
        varying component (two computations in one MLP layer, one of them constant over the
        task, which resampling cannot move), at the price of keeping components whose mean
        output matters to the model (a bias-like contribution), which some definitions of a
        circuit exclude
    max_sweeps : ACDC sweeps over the candidates at most (stops early when nothing changes)
    completeness_subsets : random circuit subsets S knocked out for completeness, besides the
        single components
    seed : derangement / generator / subset randomness
    order : the order in which the sweep tests the components of one hook point.
        ``"canonical"``: by what each does, least effect first, with exactly interchangeable
        components tested and removed together
        (:func:`~mechequiv.equivalence.search_order.search_groups`), so that the circuit of a
        copy of the model with its heads or units permuted (and its residual stream rotated)
        is the image of this one; costs one patching run per component left to test at hook
        points with several of them (about one more sweep). ``"index"``:
        by decreasing index, as before (the kept member of a redundant pair depends on the
        numbering)
    """
    return _run(model, inputs, components, None, counterfactual, metric, threshold, method,
                ablation, zero_check, min_faithfulness, attribution_steps, max_sweeps,
                completeness_subsets, seed, order)  # fmt: skip


def evaluate_circuit(
    model: nn.Module | Adapter,
    inputs: Any,
    nodes: Sequence[Component],
    components: Sequence[Component] | None = None,
    *,
    counterfactual: Counterfactual = None,
    metric: BehaviourMetric | str | None = None,
    threshold: float = 0.01,
    ablation: str = "counterfactual",
    zero_check: bool = False,
    completeness_subsets: int = 8,
    seed: int = 0,
) -> Circuit:
    """Evaluate a given circuit (``nodes`` among the candidate ``components``) exactly as
    :func:`discover_circuit` evaluates the one it finds: faithfulness, completeness, minimality
    (``method="given"``). Use it for hand-written circuits and for null baselines (random
    circuits of the same size)."""
    return _run(model, inputs, components, list(nodes), counterfactual, metric, threshold, "acdc",
                ablation, zero_check, None, 1, 0, completeness_subsets, seed, "index")  # fmt: skip


def _run(
    model: nn.Module | Adapter,
    inputs: Any,
    components: Sequence[Component] | None,
    fixed: Sequence[Component] | None,
    counterfactual: Counterfactual,
    metric: BehaviourMetric | str | None,
    threshold: float,
    method: str,
    ablation: str,
    zero_check: bool,
    min_faithfulness: float | None,
    attribution_steps: int,
    max_sweeps: int,
    completeness_subsets: int,
    seed: int,
    order: str,
) -> Circuit:
    t0 = time.perf_counter()
    adapter = model_adapter(model)
    if method not in ("auto", "acdc", "attribution"):
        raise ValueError(f"method must be 'auto', 'acdc' or 'attribution'; got {method!r}")
    if order not in ("canonical", "index"):
        raise ValueError(f"order must be 'canonical' or 'index'; got {order!r}")
    if ablation not in ("counterfactual", "mean", "zero"):
        raise ValueError(f"ablation must be 'counterfactual', 'mean' or 'zero'; got {ablation!r}")
    if not 0 <= threshold < 1:
        raise ValueError(f"threshold must lie in [0, 1); got {threshold}")
    metric = metric if isinstance(metric, BehaviourMetric) else BehaviourMetric(metric)
    candidates = list(transformer_components(adapter) if components is None else components)
    _check_components(adapter, candidates)
    rng = np.random.default_rng(seed)
    n = _n_rows(inputs)
    cf_inputs, cf_label = _counterfactual(inputs, counterfactual, n, rng)
    runs = _Runs(adapter, inputs, cf_inputs, candidates, metric, ablation)
    order_of_points = _forward_order(adapter, inputs, sorted({c.point for c in candidates}))
    candidates.sort(
        key=lambda c: (order_of_points[c.point], c.index if c.index is not None else -1)
    )

    m_full = runs.metric(runs.clean_out, runs.clean_out)
    m_empty = runs.score(candidates)
    span = m_full - m_empty
    described = metric.describe(output_logits(runs.clean_out))
    if not span > 1e-9 * max(1.0, abs(m_full)):
        raise MechequivError(
            f"the metric ({described}) does not move when every candidate component is ablated "
            f"(model {m_full:.6g}, all ablated {m_empty:.6g}) with {cf_label}: nothing to "
            "attribute. Use counterfactual inputs that change the answer, a metric that the "
            "behaviour moves (e.g. margin instead of a saturated KL), or more components"
        )

    def norm(m: float) -> float:
        return (m - m_empty) / span

    scores: dict[Component, float] = {}
    use_attr = fixed is None and (
        method == "attribution" or (method == "auto" and len(candidates) > 200)
    )
    removed: set[Component] = set()
    if use_attr:
        estimates = _attribution(adapter, inputs, runs, candidates, span, attribution_steps)
        for c, e in estimates.items():
            if abs(e) < threshold / 10:
                removed.add(c)
                scores[c] = e
    current = norm(runs.score(removed))
    attribution_note = ""
    if use_attr and 1.0 - current > threshold:
        # Verification of the first pass failed: the first-order estimates missed components
        # (saturated attention or discretising MLPs have near-zero gradients). Search exactly.
        attribution_note = (
            f" (attribution pass rejected: its pruning lost {1.0 - current:.3g} faithfulness)"
        )
        for c in removed:
            scores.pop(c, None)
        removed = set()
        current = 1.0
    if fixed is not None:
        unknown = set(fixed) - set(candidates)
        if unknown:
            raise ValueError(
                f"circuit components not among the candidates: {sorted(map(str, unknown))}"
            )
        removed = set(candidates) - set(fixed)
    visit = [[c] for c in reversed(candidates)]  # order="index", and evaluate_circuit
    if fixed is None and order == "canonical":  # not for evaluate_circuit: no search
        effects = _single_effects(runs, candidates, removed, norm)
        ablated = {c: runs.values[c] for c in candidates}
        clean = {c: component_slice(runs.clean[c.point], c) for c in candidates}
        visit = search_groups(candidates, order_of_points, effects, clean, ablated)
    for _ in range(max_sweeps if fixed is None else 0):
        changed = False
        for group in visit:
            live = [c for c in group if c not in removed]
            if not live:
                continue
            trial = norm(runs.score(removed | set(live)))
            drop = current - trial
            zeroable = [c for c in live if runs.kind[c] != "zero"]
            if zero_check and drop < threshold and zeroable:
                zeroed = dict(runs.values)
                zeroed.update({c: torch.zeros_like(runs.values[c]) for c in zeroable})
                drop = max(drop, current - norm(runs.score(removed | set(live), zeroed)))
            scores.update(dict.fromkeys(live, drop))
            if drop < threshold and (min_faithfulness is None or trial >= min_faithfulness):
                removed.update(live)
                current, changed = trial, True
        if not changed:
            break
    nodes = [c for c in candidates if c not in removed]
    m_circ = runs.score(removed)
    faith = norm(m_circ)

    # Necessity of each node inside the final circuit, and completeness.
    necessity = {}
    for c in nodes:
        necessity[c] = faith - norm(runs.score(removed | {c}))
        if zero_check and runs.kind[c] != "zero":
            zeroed = dict(runs.values)
            zeroed[c] = torch.zeros_like(runs.values[c])
            necessity[c] = max(necessity[c], faith - norm(runs.score(removed | {c}, zeroed)))
    scores.update(necessity)
    minimality = float(np.mean([d > threshold for d in necessity.values()])) if nodes else 1.0
    subsets = [[c] for c in nodes]
    # drawn from the nodes in search order, so that a permuted copy draws the same subsets
    canonical = fixed is None and order == "canonical"
    searched = [c for g in visit for c in g if c not in removed] if canonical else nodes
    for _ in range(completeness_subsets if len(nodes) > 1 else 0):
        k = int(rng.integers(1, len(nodes)))
        subsets.append([searched[i] for i in rng.choice(len(nodes), k, replace=False)])
    gaps = [0.0]
    for s in subsets:
        in_circuit = norm(runs.score(removed | set(s)))
        in_model = norm(runs.score(s))
        gaps.append(abs(in_circuit - in_model))
    completeness = 1.0 - max(gaps)

    constant = {}
    for c in runs.constant:
        mean = (
            runs.values[c]
            if runs.kind[c] == "mean"
            else component_slice(runs.clean[c.point], c)
            .mean(0, keepdim=True)
            .expand_as(runs.values[c])
        )
        constant[c] = {
            "mean": 1.0 - norm(runs.score([c], {c: mean})),
            "zero": 1.0 - norm(runs.score([c], {c: torch.zeros_like(runs.values[c])})),
        }
    cf_score = None
    if cf_inputs is not inputs:
        cf_out = run_with_patches(adapter, cf_inputs, {}, batch_size=None, progress=False)
        runs.passes += 1
        cf_score = runs.metric(cf_out, runs.clean_out)
    accuracy = None
    if output_logits(runs.clean_out).shape[-1] > 1:
        acc = BehaviourMetric("accuracy", metric.positions, metric.labels)
        accuracy = {
            "model": acc(runs.clean_out, runs.clean_out),
            "circuit": acc(runs.output(removed), runs.clean_out),
            "empty": acc(runs.output(candidates), runs.clean_out),
        }
    return Circuit(
        nodes=tuple(nodes),
        candidates=tuple(candidates),
        metric=described,
        counterfactual=cf_label,
        faithfulness=float(faith),
        model_score=float(m_full),
        circuit_score=float(m_circ),
        empty_score=float(m_empty),
        counterfactual_score=cf_score,
        completeness=float(completeness),
        minimality=minimality,
        threshold=threshold,
        scores={c: float(scores[c]) for c in candidates if c in scores},
        ablation=dict(runs.kind),
        constant=constant,
        accuracy=accuracy,
        method=("given" if fixed is not None else "attribution+acdc" if use_attr else "acdc")
        + ("+zero_check" if zero_check else "")
        + attribution_note,
        n_inputs=n,
        forward_passes=runs.passes,
        seconds=time.perf_counter() - t0,
    )


def _check_components(adapter: Adapter, components: Sequence[Component]) -> None:
    if not components:
        raise ValueError("no candidate components to search")
    if len(set(components)) != len(components):
        raise ValueError("candidate components must be distinct")
    for c in components:
        if not isinstance(c, Component):
            raise TypeError(f"components must be Component objects; got {c!r}")
    names = adapter.hook_modules()
    missing = sorted({c.point for c in components} - set(names))
    if missing:
        from mechequiv.capture.points import nearest_names

        raise ValueError(
            f"components name hook points the model does not have: {missing}; nearest names: "
            f"{nearest_names(missing[0], list(names))}"
        )


def _counterfactual(
    inputs: Any, counterfactual: Counterfactual, n: int, rng: np.random.Generator
) -> tuple[Any, str]:
    if counterfactual is None:
        if not isinstance(inputs, torch.Tensor):
            raise TypeError(
                "the derangement fallback needs tensor inputs; pass counterfactual inputs"
            )
        rows = derangement(n, int(rng.integers(2**31)))
        return inputs[rows], "derangement of the inputs (fallback: no counterfactual given)"
    if callable(counterfactual) and not isinstance(counterfactual, (torch.Tensor, dict, tuple)):
        cf = counterfactual(inputs, rng)
        label = f"generator {getattr(counterfactual, '__name__', type(counterfactual).__name__)}"
    else:
        cf, label = counterfactual, "counterfactual inputs (given)"
    if _n_rows(cf) != n:
        raise ValueError(
            f"counterfactual inputs must be row-paired with the {n} inputs; got {_n_rows(cf)} rows"
        )
    return cf, label


def _attribution(
    adapter: Adapter,
    inputs: Any,
    runs: _Runs,
    candidates: Sequence[Component],
    span: float,
    steps: int,
) -> dict[Component, float]:
    """Estimate each component's normalised effect ``-(a_abl - a) . mean_alpha dm/da`` from
    ``steps`` forward and backward passes (attribution patching with integrated gradients).

    Pass k sets every candidate to ``a + alpha_k (a_abl - a)``, ``alpha_k = (k + 1/2) / steps``,
    and records the metric's gradient there. Gradients at the clean point alone (``alpha = 0``,
    plain attribution patching) can be ~100x too small on trained models whose margin is flat
    around the clean run; averaging along the path to the ablated values follows the curvature
    (Sundararajan et al. 2017; Marks et al. 2024; Hanna et al. 2024).
    """
    grads: dict[str, torch.Tensor] = {}
    clean = {c: component_slice(runs.clean[c.point], c) for c in candidates}
    by_point: dict[str, list[Component]] = {}
    for c in candidates:
        by_point.setdefault(c.point, []).append(c)
    module = adapter.module

    def interpolate(p: str, alpha: float) -> Callable[[torch.Tensor], torch.Tensor]:
        write = component_patches(
            {c: clean[c] + alpha * (runs.values[c] - clean[c]) for c in by_point[p]}
        )[p]

        def fn(live: torch.Tensor) -> torch.Tensor:
            a = write(live).detach().requires_grad_(True)
            a.register_hook(lambda g: grads.__setitem__(p, grads.get(p, 0) + g / steps))
            return a

        return fn

    for k in range(steps):
        alpha = (k + 0.5) / steps
        fns: dict[Hashable, Callable[[torch.Tensor], torch.Tensor]] = {}
        for p in by_point:
            conv = getattr(runs.modules.get(p), "hook_conversion", None)  # TL 4 layouts
            fn = interpolate(p, alpha)
            fns[p] = fn if conv is None else through_conversion(fn, conv)
        with eval_mode(module), torch.enable_grad(), patching(module, fns, runs.modules):
            out = adapter.forward(inputs)
            runs.passes += 1
            runs.metric.scores(out, runs.clean_out).mean().backward()
    est = {}
    for c in candidates:
        g = grads.get(c.point)
        if g is None:
            est[c] = 0.0
            continue
        delta = (runs.values[c] - clean[c]).to(g.dtype)
        est[c] = float(-(delta * component_slice(g, c)).sum()) / span
    return est
