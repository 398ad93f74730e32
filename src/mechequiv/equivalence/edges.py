"""Edges of a circuit: which circuit node feeds which head's query, key or value, by path patching.

:func:`discover_edges` refines a node circuit (:func:`~mechequiv.equivalence.discovery.discover_circuit`)
into sender -> receiver edges, where a receiver is the query, key or value input of a circuit head
in a later layer (TransformerLens hook points ``blocks.{l}.attn.hook_q`` / ``hook_k`` /
``hook_v``, ``(n, t, heads, d_head)``: a head's Q/K/V vectors, so patching them is patching
what that head reads through that path).

Conventions
-----------
- *Removing the edge s -> r* (path patching, Wang et al. 2023; ACDC's edge ablation): only the
  direct path from ``s`` to ``r`` carries the sender's ablated (counterfactual) output; nothing
  else sees the change. Run 1 computes ``r`` with ``s`` ablated and every other circuit node
  frozen at its value in the circuit, so paths through intermediate nodes (a head -> an MLP ->
  ``r``) do not count; its change from the circuit's ``r`` is the edge's contribution.
  Components that are not candidates (MLPs when only heads were searched) are not frozen:
  a path through them is part of the edge, as if they were wiring. Run 2
  adds the contributions of the removed edges into ``r``'s live value, so edges removed upstream
  still reach ``r`` through the edges that remain. Where the query/key/value is a linear map of
  the residual stream (no LayerNorm before attention: Tracr models, attention-only models
  without normalisation) this is exactly ACDC's sum of sender outputs with the removed ones
  corrupted; with a LayerNorm in between, each removed sender's change is measured with the
  other senders at their circuit values and the changes are summed (the normalisation's
  scale is not re-solved jointly).
- The circuit is the node circuit's world: every candidate outside it is ablated as
  discovery ablated it (the :attr:`Circuit.ablation` kinds), and the metric is normalised with
  the node circuit's model and empty scores, so edge faithfulness compares with node
  faithfulness directly.
- Search: ACDC over edges, receivers in reverse forward order, an edge removed for good when
  that lowers faithfulness by less than ``threshold`` (and keeps it above
  ``min_faithfulness``). An edge's score is its drop when tested (removal), or, for kept edges,
  the drop from removing it alone from the final edge circuit.
- A sender's other paths (to the output directly, to later MLPs) are not edges here: they stay
  as the node circuit has them.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from mechequiv.capture import Adapter, capture, run_with_patches
from mechequiv.equivalence.components import (
    Component,
    component_patches,
    component_slice,
    model_adapter,
    through_conversion,
)
from mechequiv.equivalence.discovery import Circuit
from mechequiv.equivalence.metrics import BehaviourMetric
from mechequiv.errors import MechequivError

Edge = tuple[Component, Component]
PATHS = ("q", "k", "v")


def _layer(c: Component) -> int | None:
    parts = c.point.split(".")
    return int(parts[1]) if len(parts) > 1 and parts[0] == "blocks" and parts[1].isdigit() else None


def _stream_position(c: Component) -> int:
    """The layer of a component; -1 (before every block) for one outside the blocks."""
    layer = _layer(c)
    return -1 if layer is None else layer


def qkv_receivers(model: nn.Module | Adapter, circuit: Circuit) -> list[Component]:
    """The query, key and value inputs of every circuit head that some circuit node in an
    earlier layer could write to: ``Component("blocks.{l}.attn.hook_{q,k,v}", h, axis=2)``."""
    adapter = model_adapter(model)
    names = set(adapter.hook_modules())
    heads = [c for c in circuit.nodes if c.axis == 2 and ".attn." in c.point]
    first = min((x for x in map(_layer, circuit.nodes) if x is not None), default=None)
    out = []
    for c in heads:
        layer = _layer(c)
        if layer is None or first is None or layer <= first:
            continue
        for path in PATHS:
            point = f"blocks.{layer}.attn.hook_{path}"
            if point not in names:
                raise MechequivError(
                    f"the model ({type(adapter.module).__name__}) exposes no {point!r} hook: "
                    "edges to a head's query/key/value need TransformerLens-style hook_q, "
                    "hook_k and hook_v points ((n, t, heads, d_head))"
                )
            out.append(Component(point, c.index, axis=2))
    return out


class _EdgeRuns:
    """The node circuit's ablations, and runs with edges removed (path patching)."""

    def __init__(
        self,
        adapter: Adapter,
        inputs: Any,
        cf_inputs: Any,
        circuit: Circuit,
        receivers: Sequence[Component],
        metric: BehaviourMetric,
    ) -> None:
        self.adapter, self.inputs, self.metric = adapter, inputs, metric
        self.modules = adapter.hook_modules()
        points = sorted({c.point for c in circuit.candidates})
        clean = capture(adapter, inputs, points, batch_size=None, progress=False)
        cf = capture(adapter, cf_inputs, points, batch_size=None, progress=False)
        self.clean_out = run_with_patches(adapter, inputs, {}, batch_size=None, progress=False)
        self.passes = 3
        inside = set(circuit.nodes)
        self.outside: dict[Component, torch.Tensor] = {}
        self.cf: dict[Component, torch.Tensor] = {}
        for c in circuit.candidates:
            a, b = component_slice(clean[c.point], c), component_slice(cf[c.point], c)
            kind = circuit.ablation.get(c, "counterfactual")
            value = (
                torch.zeros_like(a)
                if kind == "zero"
                else a.mean(0, keepdim=True).expand_as(a)
                if kind == "mean"
                else b
            )
            if c in inside:
                self.cf[c] = value
            else:
                self.outside[c] = value
        self.receivers = list(receivers)
        # The circuit's own run: its nodes' values (frozen in run 1) and its receivers' values.
        circ_points = sorted({c.point for c in circuit.nodes} | {r.point for r in receivers})
        got = capture(adapter, inputs, circ_points, batch_size=None, progress=False,
                      patches=component_patches(self.outside, self.modules))  # fmt: skip
        self.passes += 1
        self.frozen = {c: component_slice(got[c.point], c) for c in circuit.nodes}
        self.receiver_circuit = {r: component_slice(got[r.point], r) for r in receivers}
        self.cache: dict[tuple[Component, frozenset[Component], Component | None], torch.Tensor]
        self.cache = {}

    def receiver_delta(
        self, r: Component, senders: frozenset[Component], zeroed: Component | None = None
    ) -> torch.Tensor:
        """Run 1: the change of ``r`` when ``senders`` write their ablated outputs (``zeroed``,
        one of them, writes zeros) and every other circuit node is frozen at its value in the
        circuit (the direct paths only)."""
        key = (r, senders, zeroed)
        if key not in self.cache:
            values = {**self.outside, **self.frozen, **{s: self.cf[s] for s in senders}}
            if zeroed is not None:
                values[zeroed] = torch.zeros_like(self.cf[zeroed])
            got = capture(self.adapter, self.inputs, [r.point], batch_size=None, progress=False,
                          patches=component_patches(values, self.modules))  # fmt: skip
            self.passes += 1
            self.cache[key] = component_slice(got[r.point], r) - self.receiver_circuit[r]
        return self.cache[key]

    def score(self, removed: set[Edge], zeroed: Edge | None = None) -> float:
        """Run 2: the metric of the circuit with ``removed`` edges path-patched: each receiver
        takes its live value plus the change its removed senders' direct paths make. The
        sender of edge ``zeroed`` (also removed) writes zeros along it instead."""
        by_receiver: dict[Component, set[Component]] = {}
        for s, r in removed | ({zeroed} if zeroed else set()):
            by_receiver.setdefault(r, set()).add(s)
        patches = component_patches(self.outside, self.modules)
        deltas = {
            r: self.receiver_delta(
                r, frozenset(ss), zeroed[0] if zeroed is not None and zeroed[1] == r else None
            )
            for r, ss in by_receiver.items()
        }
        for point, add in _adders(deltas, self.modules).items():
            write = patches.get(point)
            patches[point] = add if write is None else _then(write, add)
        out = run_with_patches(self.adapter, self.inputs, patches, batch_size=None,
                               progress=False)  # fmt: skip
        self.passes += 1
        return self.metric(out, self.clean_out)


def _then(
    first: Callable[[torch.Tensor], torch.Tensor], second: Callable[[torch.Tensor], torch.Tensor]
) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda live: second(first(live))


def _adders(
    deltas: dict[Component, torch.Tensor], hook_modules: Mapping[str, Any]
) -> dict[Hashable, Callable[[torch.Tensor], torch.Tensor]]:
    """Patch functions ``{point: fn}`` adding each component's delta to its live slice (in the
    converted layout where a TransformerLens 4 hook converts its tensor)."""
    by_point: dict[str, list[tuple[Component, torch.Tensor]]] = {}
    for c, d in deltas.items():
        by_point.setdefault(c.point, []).append((c, d))
    out: dict[Hashable, Callable[[torch.Tensor], torch.Tensor]] = {}
    for p, parts in by_point.items():

        def add(
            live: torch.Tensor, parts: list[tuple[Component, torch.Tensor]] = parts
        ) -> torch.Tensor:
            live = live.clone()
            for c, d in parts:
                target = live if c.index is None else live.movedim(c.axis, -1)[..., c.index]
                target += d.to(device=live.device, dtype=live.dtype)
            return live

        conv = getattr(hook_modules.get(p), "hook_conversion", None)
        out[p] = add if conv is None else through_conversion(add, conv)
    return out


def discover_edges(
    model: nn.Module | Adapter,
    inputs: Any,
    circuit: Circuit,
    *,
    counterfactual: Any,
    metric: BehaviourMetric | str | None = None,
    threshold: float = 0.01,
    min_faithfulness: float | None = 0.9,
    max_sweeps: int = 2,
    zero_check: bool = False,
) -> Circuit:
    """Edges of ``circuit`` (a node circuit of ``model`` on ``inputs``) by path patching.

    Parameters
    ----------
    circuit : from :func:`~mechequiv.equivalence.discovery.discover_circuit` on the same
        ``inputs`` (its ablation kinds and normalisation are reused)
    counterfactual : the counterfactual inputs that discovery used, row-paired with ``inputs``
        (edges need the sender's counterfactual output; a generator is not accepted here so that
        the rows are the ones the node circuit saw)
    metric : the discovery metric (default: the behaviour metric's default kind)
    threshold, min_faithfulness, max_sweeps : as in ``discover_circuit``, for edges
    zero_check : as in ``discover_circuit``: also require that zeroing the sender along the edge
        stays within ``threshold`` before removing it (catches a constant part of a sender that
        resampling cannot move, e.g. a Tracr MLP layer that also computes a constant map)

    Returns the circuit with the kept ``edges`` (sender, receiver); its ``faithfulness`` and
    ``circuit_score`` are the edge circuit's (``node_faithfulness`` keeps the node circuit's),
    ``edge_scores`` holds every tested edge's drop and ``method`` ends in ``+edges``.
    """
    t0 = time.perf_counter()
    adapter = model_adapter(model)
    if not isinstance(circuit, Circuit):
        raise TypeError(f"circuit must be a Circuit; got {type(circuit).__name__}")
    if not 0 <= threshold < 1:
        raise ValueError(f"threshold must lie in [0, 1); got {threshold}")
    if callable(counterfactual) and not isinstance(counterfactual, (torch.Tensor, dict, tuple)):
        raise TypeError("counterfactual must be the inputs discovery used, not a generator")
    if counterfactual is None:
        raise ValueError("counterfactual inputs are needed (the ones discovery used)")
    metric = metric if isinstance(metric, BehaviourMetric) else BehaviourMetric(metric)
    receivers = qkv_receivers(adapter, circuit)
    runs = _EdgeRuns(adapter, inputs, counterfactual, circuit, receivers, metric)
    span = circuit.model_score - circuit.empty_score

    def norm(m: float) -> float:
        return (m - circuit.empty_score) / span

    node_faith = norm(runs.score(set()))
    if abs(node_faith - circuit.faithfulness) > 1e-6 + 1e-3 * abs(circuit.faithfulness):
        raise ValueError(
            f"the circuit does not match the model, inputs and counterfactual: its "
            f"faithfulness here is {node_faith:.6g}, the circuit says {circuit.faithfulness:.6g}"
        )
    order = {c: i for i, c in enumerate(circuit.candidates)}
    edges = [(s, r) for r in receivers for s in circuit.nodes
             if _stream_position(s) < _stream_position(r)]  # fmt: skip
    # receivers in reverse forward order, later senders first (ACDC's sweep)
    edges.sort(key=lambda e: (-(_layer(e[1]) or 0), -order[e[0]], str(e[1])))
    removed: set[Edge] = set()
    current = node_faith
    scores: dict[Edge, float] = {}
    for _ in range(max_sweeps):
        changed = False
        for e in edges:
            if e in removed:
                continue
            trial = norm(runs.score(removed | {e}))
            scores[e] = current - trial
            if zero_check and scores[e] < threshold:
                scores[e] = max(scores[e], current - norm(runs.score(removed, zeroed=e)))
            if scores[e] < threshold and (min_faithfulness is None or trial >= min_faithfulness):
                removed.add(e)
                current, changed = trial, True
        if not changed:
            break
    kept = [e for e in edges if e not in removed]
    final = norm(runs.score(removed))
    for e in kept:
        scores[e] = final - norm(runs.score(removed | {e}))
        if zero_check:
            scores[e] = max(scores[e], final - norm(runs.score(removed, zeroed=e)))
    return dataclasses.replace(
        circuit,
        edges=tuple(kept),
        edge_scores={e: float(scores[e]) for e in edges},
        faithfulness=float(final),
        circuit_score=float(final * span + circuit.empty_score),
        method=circuit.method + ("+edges+zero_check" if zero_check else "+edges"),
        forward_passes=circuit.forward_passes + runs.passes,
        seconds=circuit.seconds + time.perf_counter() - t0,
        node_faithfulness=float(node_faith),
    )


def edge_label(edge: Edge) -> str:
    """``"blocks.0.attn.hook_z[3] -> blocks.1.attn.hook_k[6]"``."""
    return f"{edge[0]} -> {edge[1]}"
