"""GetReprs: the representation Congruity compares.

By default every hidden layer (MLPs) or the residual stream after every block (models with a
``blocks`` list, such as the zoo's transformers and bilinear networks), concatenated along
features, with sequence outputs reduced by an explicit token policy ("last" by default).
:class:`CircuitReprs` instead reads only what each model's circuit computes (the outputs of its
nodes): the representation of the interpretation rather than of the whole network.
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from mechequiv.capture import Adapter, capture
from mechequiv.capture.adapters import TransformerLensAdapter
from mechequiv.capture.blocks import block_points
from mechequiv.equivalence.components import Component, component_slice
from mechequiv.equivalence.discovery import Circuit
from mechequiv.equivalence.fingerprint import model_fingerprint
from mechequiv.equivalence.patched import PatchedModel
from mechequiv.tokens import TokenPolicy, pool_tokens


def default_points(model: nn.Module) -> list[str]:
    """Hidden layers of a Sequential MLP, else the blocks of
    :func:`mechequiv.capture.blocks.block_points` (zoo ``blocks.{i}``, TransformerLens,
    Hugging Face, ``nn.TransformerEncoder``, activation modules of other MLPs).

    A Sequential MLP's hidden layer is what the next Linear reads: of the modules between two
    Linears (a norm, an activation, dropout), the last one that is not dropout, so that a layer
    is read once, not once per module that transforms it; modules before the first Linear
    (a flatten) transform the input, not a hidden layer."""
    if isinstance(model, nn.Sequential):
        points: list[str] = []
        run: list[tuple[str, nn.Module]] | None = None  # None until the first Linear: the input
        for name, m in model.named_children():
            if not isinstance(m, nn.Linear):
                if run is not None:
                    run.append((name, m))
                continue
            if run:
                kept = [n for n, layer in run if not isinstance(layer, nn.Dropout)]
                points.append(kept[-1] if kept else run[-1][0])
            run = []
        if not points:
            raise ValueError("the MLP has no hidden layer")
        return points
    return block_points(model)


class LayerReprs:
    """GetReprs through :func:`mechequiv.capture.capture`: activations at ``points``, concatenated.

    Parameters
    ----------
    points : sequence of module names / capture Points, optional
        Default: :func:`default_points` of the model.
    tokens : token policy
        Applied to (n, t, ...) activations such as (n, t, d) or head activations
        (n, t, heads, d_head) (see :func:`mechequiv.tokens.pool_tokens`); 2-D activations are
        used as they are.

    Returns float64 CPU tensors (n, total features). A :class:`PatchedModel` is captured with
    its patches applied, so implementations made by patching are read at the same points. A
    TransformerLens model (one with ``hook_dict`` and ``run_with_cache``) is captured through
    :class:`~mechequiv.capture.adapters.TransformerLensAdapter`, so points are its hook names
    (``blocks.0.hook_attn_out``, ``blocks.0.mlp.hook_post``, ``hook_embed`` ...).
    """

    def __init__(
        self, points: Sequence[Hashable] | None = None, tokens: TokenPolicy = "last"
    ) -> None:
        self.points = None if points is None else list(points)
        self.tokens = tokens

    def __call__(self, model: nn.Module, inputs: Any) -> torch.Tensor:
        base, patches = (
            (model.model, model.patches) if isinstance(model, PatchedModel) else (model, None)
        )
        points = self.points if self.points is not None else default_points(base)
        acts = capture(model_adapter(base), inputs, points, patches=patches, progress=False)
        feats = []
        for p in points:
            a = acts[p]
            if a.ndim >= 3:  # (n, t, d) or (n, t, heads, d_head)
                a = pool_tokens(a, self.tokens)
            feats.append(a.reshape(a.shape[0], -1))
        return torch.cat(feats, dim=1).double()

    def __repr__(self) -> str:
        return f"LayerReprs(points={self.points}, tokens={self.tokens!r})"


def model_adapter(model: nn.Module) -> nn.Module | Adapter:
    """The capture adapter for ``model``: TransformerLens models by hook name, else the module."""
    if hasattr(model, "hook_dict") and callable(getattr(model, "run_with_cache", None)):
        return TransformerLensAdapter(model)
    return model


def hidden_representations(model: nn.Module, inputs: Any) -> torch.Tensor:
    """The default GetReprs: :class:`LayerReprs` with default points and the last token."""
    return LayerReprs()(model, inputs)


class CircuitReprs:
    """GetReprs of the circuit: the outputs of each model's circuit nodes, concatenated.

    Sun & Toneva compare *representations of circuits*: a representation of a circuit k is an
    abstraction of k whose states the circuit's hidden variables map into without loss (their
    signal condition) and which map back to those variables (their noise condition). The whole
    residual stream fails the second condition as soon as the model has components outside the
    circuit: it also carries what those components write, which the circuit never reads. A
    resample-ablation implementation (:class:`~mechequiv.equivalence.circuits.ResampleAblation`)
    changes exactly those components, so with the whole stream a model that runs an unread
    side computation next to its circuit moves away from its own implementations in one
    direction only and is flagged distinguishable from the same circuit without it
    (``benchmarks/bench_tracr_validity.py``, "distractor" pairs). The circuit's own variables -
    the activation slice each node names, live, so they respond to whatever the ablation of
    upstream non-circuit components feeds them - satisfy both conditions by construction:
    resampling a component that no circuit node reads leaves them unchanged, and anything that
    does reach the circuit moves them.

    Why node outputs and not the stream projected onto what the circuit reads: that subspace
    needs the readers' weights (queries, keys, values, MLP inputs, unembedding) and is not even
    defined through LayerNorm or MLP non-linearities, while node outputs are reached through the
    capture protocol alone. Circuits of different sizes stay comparable because the distance
    compares linear predictability between the two feature sets (``repr_distance``), so the
    number of nodes that carry a variable, their order and their widths do not matter, only
    which variables the two circuits compute.

    Parameters
    ----------
    circuits : mapping model -> :class:`~mechequiv.equivalence.discovery.Circuit` or sequence
        of :class:`~mechequiv.equivalence.components.Component`
        The circuit of every model to be compared. A model is recognised by identity, else by
        its :func:`model_fingerprint` (structure and weights) as it was when the CircuitReprs
        was made: so a copy made by serialisation (a Ray task's arguments, pickle, deepcopy)
        is read at its original's circuit, never by ``id()``. Weights changed in place since
        make a copy unknown; two models with equal weights but different circuits make a copy
        of either ambiguous (both refused, naming the problem). An implementation drawn by
        patching (:class:`PatchedModel`) is read at its base model's circuit nodes with its
        patches applied. A circuit that holds every component gives every component's output.
    tokens : token policy
        Applied to each node's (n, t, ...) slice (see :func:`mechequiv.tokens.pool_tokens`);
        slices without a token axis are used as they are.
    scale : ``"none"`` (default) or ``"node"``
        ``"none"``: the raw outputs. ``"node"`` divides each node's features by their root mean
        square (centred, over the inputs, tokens and features) *on the base model's own run*,
        and an implementation drawn from the model by patching by the same number (so a change
        of magnitude that resampling causes stays visible; a node constant on the inputs keeps
        scale 1). Rescaling one ReLU unit by c > 0 and its readout by 1/c, or a head's values
        and output map the same way, is an exact symmetry that ``repr_distance`` does not
        quotient out (it is invariant to one overall scale and to rotations, not to a scale
        per feature), so with raw outputs such a copy can read as another mechanism; ``"node"``
        removes that, but gives every node equal weight, so a node with a small output that
        the circuit barely uses weighs as much as the main ones. Measured both ways
        (``tracr_validity_circuit_scaled.json``, ``exact_equivalence_circuit_reprs*.json``):
        on Tracr pairs ``"node"`` flags 3 of 12 distractor pairs that ``"none"`` does not
        (AUC 0.935 against 1.000); on Boolean MLPs it flags fewer exactly equivalent pairs.
        The fixed configuration keeps ``"none"``.

    Returns float64 CPU tensors (rows, total node features), nodes in the circuit's order.
    """

    def __init__(
        self,
        circuits: Mapping[nn.Module, Circuit | Sequence[Component]],
        tokens: TokenPolicy = "last",
        scale: str = "none",
    ) -> None:
        if not isinstance(circuits, Mapping) or not circuits:
            raise ValueError("circuits must be a non-empty mapping {model: circuit}")
        if scale not in ("node", "none"):
            raise ValueError(f"scale must be 'node' or 'none', got {scale!r}")
        self.scale = scale
        # (model, its fingerprint, its nodes); the model for the identity lookup, the
        # fingerprint for copies of it
        self._circuits: list[tuple[nn.Module, str, tuple[Component, ...]]] = []
        for model, circuit in circuits.items():
            if not isinstance(model, nn.Module):
                raise TypeError(
                    f"circuits' keys must be torch modules (the models); got {type(model).__name__}"
                )
            nodes = tuple(circuit.nodes if isinstance(circuit, Circuit) else circuit)
            if not nodes:
                raise ValueError(
                    f"the circuit of {type(model).__name__} has no node: there is nothing it "
                    "computes to compare"
                )
            bad = [c for c in nodes if not isinstance(c, Component)]
            if bad:
                raise TypeError(f"circuit nodes must be Components; got {bad[0]!r}")
            self._circuits.append((model, model_fingerprint(model), nodes))
        self.tokens = tokens

    def nodes(self, model: nn.Module) -> tuple[Component, ...]:
        """The circuit nodes read for ``model`` (a :class:`PatchedModel`: its base model's)."""
        base = model.model if isinstance(model, PatchedModel) else model
        for m, _, nodes in self._circuits:
            if m is base:
                return nodes
        # a copy (deserialised on a worker, deep-copied): the model it was copied from
        key = model_fingerprint(base)
        found = {nodes for _, k, nodes in self._circuits if k == key}
        if len(found) == 1:
            return found.pop()
        if found:
            raise ValueError(
                f"this {type(base).__name__} has the structure and weights of {len(found)} "
                "models of the CircuitReprs that have different circuits, so which one it "
                "copies is ambiguous: pass the model objects the CircuitReprs was made with"
            )
        raise ValueError(
            f"CircuitReprs has no circuit for this {type(base).__name__} (models are matched by "
            "identity, else by structure and weights as they were when the CircuitReprs was "
            "made): pass {model: circuit} for every model compared"
        )

    def __call__(self, model: nn.Module, inputs: Any) -> torch.Tensor:
        base, patches = (
            (model.model, model.patches) if isinstance(model, PatchedModel) else (model, None)
        )
        nodes = self.nodes(base)
        points = sorted({c.point for c in nodes})
        adapter = model_adapter(base)
        acts = capture(adapter, inputs, points, patches=patches, progress=False)
        feats = [self._node_features(acts[c.point], c).double() for c in nodes]
        if self.scale == "node":
            own = feats
            if patches:  # an implementation: the base model's own scale, from its clean run
                clean = capture(adapter, inputs, points, progress=False)
                own = [self._node_features(clean[c.point], c).double() for c in nodes]
            feats = [f / _rms(o) for f, o in zip(feats, own, strict=True)]
        return torch.cat(feats, dim=1)

    def _node_features(self, full: torch.Tensor, c: Component) -> torch.Tensor:
        a = component_slice(full, c)
        # a slice of a sequence activation keeps its token axis (axis 1) unless the component
        # indexes that axis itself; one unit of a (n, t, d) activation is (n, t): one feature
        keeps_tokens = full.ndim >= 3 and not (c.index is not None and c.axis % full.ndim == 1)
        if keeps_tokens:
            a = pool_tokens(a.unsqueeze(-1) if a.ndim == 2 else a, self.tokens)
        return a.reshape(a.shape[0], -1)

    def __repr__(self) -> str:
        # the key names which circuits of which models are read (resume checks compare
        # descriptions): the same in every process, whatever the order of the mapping
        sizes = [len(nodes) for _, _, nodes in self._circuits]
        entries = sorted(f"{k} {[repr(c) for c in nodes]}" for _, k, nodes in self._circuits)
        key = hashlib.blake2b("\n".join(entries).encode(), digest_size=8).hexdigest()
        return (
            f"CircuitReprs(nodes per model={sizes}, key={key}, tokens={self.tokens!r}, "
            f"scale={self.scale!r})"
        )


def _rms(features: torch.Tensor) -> float:
    """Root mean square of the centred features (float64); 1 for a node that is constant up to
    rounding (dividing rounding noise by its own size would blow it up to unit scale)."""
    centred = features - features.mean(dim=0, keepdim=True)
    rms = float(centred.square().mean().sqrt())
    peak = float(features.abs().max()) if features.numel() else 0.0
    return rms if rms > 1e-12 * peak and rms > 0 else 1.0
