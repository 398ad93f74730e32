"""Transformers compiled from RASP programs (Tracr), as torch modules with a known circuit.

Tracr (Lindner et al. 2023) compiles a RASP program into the weights of a transformer, so which
attention heads and MLPs compute the program's output is known by construction. This module
compiles a program with Tracr, converts the haiku parameters into a torch :class:`TracrTransformer`
(checked output-for-output against Tracr in the tests) and reads the ground-truth circuit off the
program's computation graph: the heads and MLP layers compiled from the RASP operations that the
output depends on. Compiled padding (heads added to fill a layer, empty MLP layers) is never in it.

>>> from mechequiv.zoo.rasp_programs import PROGRAMS
>>> compiled = compile_program(PROGRAMS["histogram"])
>>> x = compiled.model.encode([["a", "b", "a"]])
>>> compiled.model.decode(compiled.model(x))
[[2, 1, 2]]
>>> compiled.ground_truth.heads, compiled.ground_truth.mlps
(((0, 0),), (0,))

Hook points (module names, as TransformerLens names them, so the same circuit code runs on both):
``hook_embed`` (token + position embedding), ``blocks.{l}.hook_resid_pre``,
``blocks.{l}.attn.hook_q`` / ``hook_k`` / ``hook_v`` (each head's query, key and value vectors,
``(n, t, heads, key_size)``: what edge discovery patches to cut one path into a head),
``blocks.{l}.attn.hook_result`` (each head's write to the residual stream, ``(n, t, heads, d)``),
``blocks.{l}.attn.hook_pattern`` (``(n, heads, query, key)``), ``blocks.{l}.attn.hook_z``
(each head's attention-weighted values, ``(n, t, heads, key_size)``), ``blocks.{l}.hook_attn_out``,
``blocks.{l}.hook_resid_mid``, ``blocks.{l}.mlp.hook_post`` (MLP neurons after the ReLU),
``blocks.{l}.hook_mlp_out``, ``blocks.{l}.hook_resid_post``.

Tracr is imported lazily (``pip install tracr-pypi``, the ``dev`` extra); nothing here needs it
once a model is converted.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch
from torch import nn

BOS = "BOS"
PAD = "compiler_pad"


_TRACR_MODULES = {
    "basis_inference": "tracr.compiler.basis_inference",
    "craft_graph_to_model": "tracr.compiler.craft_graph_to_model",
    "craft_model_to_transformer": "tracr.compiler.craft_model_to_transformer",
    "expr_to_craft_graph": "tracr.compiler.expr_to_craft_graph",
    "nodes": "tracr.compiler.nodes",
    "rasp_to_graph": "tracr.compiler.rasp_to_graph",
    "validating": "tracr.compiler.validating",
    "bases": "tracr.craft.bases",
    "transformers": "tracr.craft.transformers",
    "vectorspace_fns": "tracr.craft.vectorspace_fns",
    "rasp": "tracr.rasp.rasp",
}


def _tracr() -> SimpleNamespace:
    """Tracr's modules, imported on first use (Tracr pulls in jax and haiku)."""
    try:
        return SimpleNamespace(**{k: importlib.import_module(v) for k, v in _TRACR_MODULES.items()})
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "compiling RASP programs needs Tracr: pip install tracr-pypi (with jax and "
            "dm-haiku), or the mechequiv 'dev' extra"
        ) from e


def rasp_language() -> Any:
    """Tracr's ``rasp`` module (the RASP language programs are written in), imported on first
    use with the same clear error as compiling when Tracr is missing."""
    return _tracr().rasp


# ----------------------------------------------------------------------------------------------
# The torch model


class HookPoint(nn.Identity):
    """An identity module whose name is a hook point (capture and patching attach here)."""


class TracrAttention(nn.Module):
    """Multi-head attention as Tracr computes it: logits ``q.k / sqrt(key_size)``, softmax over
    keys (a causal mask when compiled causal), per-head value and output maps, biases kept."""

    def __init__(
        self,
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        o: torch.Tensor,
        bq: torch.Tensor,
        bk: torch.Tensor,
        bv: torch.Tensor,
        bo: torch.Tensor,
        causal: bool,
    ) -> None:
        super().__init__()
        self.W_Q, self.W_K, self.W_V, self.W_O = (nn.Parameter(w) for w in (q, k, v, o))
        self.b_Q, self.b_K, self.b_V, self.b_O = (nn.Parameter(b) for b in (bq, bk, bv, bo))
        self.causal = causal
        self.hook_q, self.hook_k, self.hook_v = HookPoint(), HookPoint(), HookPoint()
        self.hook_pattern = HookPoint()
        self.hook_z = HookPoint()
        self.hook_result = HookPoint()

    @property
    def n_heads(self) -> int:
        return self.W_Q.shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = self.hook_q(torch.einsum("ntd,hdk->nthk", x, self.W_Q) + self.b_Q)
        k = self.hook_k(torch.einsum("ntd,hdk->nthk", x, self.W_K) + self.b_K)
        v = self.hook_v(torch.einsum("ntd,hdk->nthk", x, self.W_V) + self.b_V)
        logits = torch.einsum("nqhk,nshk->nhqs", q, k) / math.sqrt(self.W_Q.shape[-1])
        if self.causal:
            t = x.shape[1]
            mask = torch.ones(t, t, dtype=torch.bool, device=x.device).tril()
            logits = logits.masked_fill(~mask, -1e30)
        pattern = self.hook_pattern(torch.softmax(logits, dim=-1))
        z = self.hook_z(torch.einsum("nhqs,nshk->nqhk", pattern, v))
        result = self.hook_result(torch.einsum("nqhk,hkd->nqhd", z, self.W_O))
        value: torch.Tensor = result.sum(2) + self.b_O
        return value


class TracrMLP(nn.Module):
    """``relu(x W_in + b_in) W_out + b_out``; ``hook_post`` sees the hidden units."""

    def __init__(
        self, w_in: torch.Tensor, b_in: torch.Tensor, w_out: torch.Tensor, b_out: torch.Tensor
    ) -> None:
        super().__init__()
        self.W_in, self.b_in = nn.Parameter(w_in), nn.Parameter(b_in)
        self.W_out, self.b_out = nn.Parameter(w_out), nn.Parameter(b_out)
        self.hook_post = HookPoint()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        result: torch.Tensor = (
            self.hook_post(torch.relu(x @ self.W_in + self.b_in)) @ self.W_out + self.b_out
        )
        return result


class TracrBlock(nn.Module):
    """``resid_mid = resid_pre + attn(resid_pre)``; ``resid_post = resid_mid + mlp(resid_mid)``
    (Tracr compiles without LayerNorm)."""

    # set by name in __init__; declared for the type checker
    hook_resid_pre: HookPoint
    hook_attn_out: HookPoint
    hook_resid_mid: HookPoint
    hook_mlp_out: HookPoint
    hook_resid_post: HookPoint

    def __init__(self, attn: TracrAttention, mlp: TracrMLP) -> None:
        super().__init__()
        self.attn, self.mlp = attn, mlp
        for name in ("resid_pre", "attn_out", "resid_mid", "mlp_out", "resid_post"):
            setattr(self, f"hook_{name}", HookPoint())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.hook_resid_pre(x)
        x = self.hook_resid_mid(x + self.hook_attn_out(self.attn(x)))
        result: torch.Tensor = self.hook_resid_post(x + self.hook_mlp_out(self.mlp(x)))
        return result


class TracrTransformer(nn.Module):
    """A Tracr-compiled transformer in torch.

    ``forward(tokens)`` takes token ids ``(n, t)`` (position 0 the BOS token, see :meth:`encode`)
    and returns the residual stream projected onto the program's output space, ``(n, t, k)``:
    for a categorical program one score per output value (Tracr decodes by argmax, so these are
    the logits of a classifier over ``output_values``), for a numerical program ``k = 1`` and the
    score is the value. Position 0 (BOS) carries no output.
    """

    def __init__(
        self,
        token_embed: torch.Tensor,
        pos_embed: torch.Tensor,
        blocks: Sequence[TracrBlock],
        unembed: torch.Tensor,
        vocab: dict[Hashable, int],
        output_values: Sequence[Hashable] | None,
        residual_labels: Sequence[str],
    ) -> None:
        super().__init__()
        self.token_embed = nn.Parameter(token_embed)
        self.pos_embed = nn.Parameter(pos_embed)
        self.hook_embed = HookPoint()
        self.blocks = nn.ModuleList(blocks)
        self.unembed = nn.Parameter(unembed)
        self.vocab = dict(vocab)
        self.output_values = None if output_values is None else list(output_values)
        self.residual_labels = list(residual_labels)

    @property
    def categorical(self) -> bool:
        return self.output_values is not None

    @property
    def n_layers(self) -> int:
        return len(self.blocks)

    @property
    def n_heads(self) -> int:
        return self.block(0).attn.n_heads

    def block(self, layer: int) -> TracrBlock:
        """Block ``layer``, typed (``blocks`` is a plain ``nn.ModuleList``)."""
        block = self.blocks[layer]
        assert isinstance(block, TracrBlock)  # the constructor takes TracrBlocks only
        return block

    @property
    def max_len(self) -> int:
        """Longest input including the BOS token."""
        return self.pos_embed.shape[0]

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        if tokens.ndim != 2 or tokens.dtype not in (torch.int64, torch.int32):
            raise TypeError(
                f"expected token ids of shape (n, t) (see encode()); got {tuple(tokens.shape)} "
                f"{tokens.dtype}"
            )
        if tokens.shape[1] > self.max_len:
            raise ValueError(
                f"inputs of {tokens.shape[1]} positions (BOS included) exceed the compiled "
                f"maximum of {self.max_len}"
            )
        x = self.token_embed[tokens] + self.pos_embed[: tokens.shape[1]]
        x = self.hook_embed(x)
        for block in self.blocks:
            x = block(x)
        result: torch.Tensor = x @ self.unembed
        return result

    def encode(self, sequences: Sequence[Sequence[Hashable]]) -> torch.Tensor:
        """Token ids ``(n, 1 + length)`` with BOS prepended; all sequences of one length."""
        lengths = {len(s) for s in sequences}
        if len(lengths) != 1:
            raise ValueError(
                f"encode() needs sequences of one length; got lengths {sorted(lengths)}"
            )
        unknown = {t for s in sequences for t in s if t not in self.vocab or t == BOS}
        if unknown:
            raise ValueError(
                f"tokens {sorted(map(repr, unknown))} are not in the compiled vocabulary "
                f"{sorted(map(repr, set(self.vocab) - {BOS}))}"
            )
        ids = [[self.vocab[BOS], *(self.vocab[t] for t in s)] for s in sequences]
        return torch.tensor(ids, dtype=torch.int64)

    def decode(self, out: torch.Tensor) -> list[list[Any]]:
        """Program outputs at positions 1.. (BOS dropped): values, or floats if numerical."""
        out = out[:, 1:]
        if self.output_values is None:
            return out[..., 0].tolist()
        return [[self.output_values[i] for i in row] for row in out.argmax(-1).tolist()]


# ----------------------------------------------------------------------------------------------
# Ground truth


@dataclass(frozen=True)
class TracrCircuit:
    """The components that compute a compiled program's output, read off the RASP graph.

    ``heads``: (layer, head) pairs; ``mlps``: MLP layers; ``neurons``: MLP layer -> hidden units
    compiled from the program's operations; ``labels``: component name (``"L0H1"``, ``"L0MLP"``)
    -> the RASP operations it computes. ``n_layers`` / ``n_heads``: the model's shape, so the
    complement (padding heads, empty MLPs) is known too.

    ``edges``: which circuit component feeds which head's query, key or value, from the RASP
    graph: a head compiled from ``Aggregate(Select(keys, queries, ...), sop)`` reads ``queries``
    through its query, ``keys`` through its key and ``sop`` through its value (a
    ``SelectorWidth`` head reads only queries and keys; its value is the BOS token). A sender is
    the component that writes that SOp (a head for an ``Aggregate``, the MLP for a ``Map``,
    ``SequenceMap`` or ``SelectorWidth``); SOps read straight from the embedding (tokens,
    indices) give no edge. Each edge is ``((layer, head or None for the MLP), (layer, head,
    "q" | "k" | "v"))``; :meth:`edge_names` spells them as edge discovery does.
    """

    heads: tuple[tuple[int, int], ...]
    mlps: tuple[int, ...]
    neurons: dict[int, tuple[int, ...]] = field(repr=False)
    labels: dict[str, tuple[str, ...]]
    n_layers: int
    n_heads: int
    edges: tuple[tuple[tuple[int, int | None], tuple[int, int, str]], ...] = ()

    def edge_names(self) -> set[str]:
        """The edges as ``"blocks.0.attn.hook_z[1] -> blocks.1.attn.hook_k[0]"`` (MLP senders
        ``blocks.{l}.hook_mlp_out``), the names :func:`~mechequiv.equivalence.edges.edge_label`
        gives edges found on this model."""
        out = set()
        for (sl, sh), (rl, rh, path) in self.edges:
            sender = f"blocks.{sl}.hook_mlp_out" if sh is None else f"blocks.{sl}.attn.hook_z[{sh}]"
            out.add(f"{sender} -> blocks.{rl}.attn.hook_{path}[{rh}]")
        return out

    def hook_components(self) -> list[tuple[str, int | None]]:
        """``(hook point, index)`` for every circuit component: heads index axis 2 of
        ``blocks.{l}.attn.hook_result``; MLPs are whole ``blocks.{l}.hook_mlp_out``."""
        return [(f"blocks.{layer}.attn.hook_result", h) for layer, h in self.heads] + [
            (f"blocks.{layer}.hook_mlp_out", None) for layer in self.mlps
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "heads": [list(h) for h in self.heads],
            "mlps": list(self.mlps),
            "neurons": {str(k): list(v) for k, v in self.neurons.items()},
            "labels": {k: list(v) for k, v in self.labels.items()},
            "n_layers": self.n_layers,
            "n_heads": self.n_heads,
            "edges": [[list(a), list(b)] for a, b in self.edges],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TracrCircuit:
        return cls(
            heads=tuple(tuple(h) for h in d["heads"]),
            mlps=tuple(d["mlps"]),
            neurons={int(k): tuple(v) for k, v in d["neurons"].items()},
            labels={k: tuple(v) for k, v in d["labels"].items()},
            n_layers=d["n_layers"],
            n_heads=d["n_heads"],
            edges=tuple((tuple(a), tuple(b)) for a, b in d.get("edges", [])),
        )


@dataclass
class CompiledProgram:
    """A compiled RASP program: the torch model, its ground-truth circuit, and Tracr's own model
    (``tracr_model``, for checking; ``run_tracr`` runs it)."""

    name: str
    model: TracrTransformer
    ground_truth: TracrCircuit
    tracr_model: Any = field(repr=False)
    inputs: Callable[[np.random.Generator, int, int], list[list[Hashable]]] = field(repr=False)

    def run_tracr(
        self, sequences: Sequence[Sequence[Hashable]]
    ) -> tuple[np.ndarray, list[list[Any]]]:
        """Tracr's own model on sequences of one length: the final residual stream
        ``(n, 1 + length, d)`` in Tracr's basis and the decoded outputs (BOS position dropped)."""
        if self.tracr_model is None:
            raise ValueError("compiled without Tracr's own model: pass with_tracr=True")
        tracr = self.tracr_model
        ids = np.array([tracr.input_encoder.encode([BOS, *s]) for s in sequences])
        out = tracr.forward(tracr.params, ids)
        decoded = [tracr.output_encoder.decode(row.tolist())[1:] for row in out.unembedded_output]
        return np.asarray(out.transformer_output.output, dtype=np.float64), decoded


# ----------------------------------------------------------------------------------------------
# Compilation and conversion


@dataclass(frozen=True)
class Program:
    """A RASP program with what compiling and testing it needs.

    ``make()`` builds the RASP expression (a fresh one each call: Tracr annotates expressions
    in place); ``vocab`` and ``max_seq_len`` are Tracr's; ``sample(rng, n, length)`` draws ``n``
    valid input sequences of ``length`` tokens (some programs need e.g. distinct tokens).
    """

    name: str
    make: Callable[[], Any]
    vocab: frozenset[Hashable]
    max_seq_len: int
    sample: Callable[[np.random.Generator, int, int], list[list[Hashable]]]
    description: str = ""


def compile_program(
    program: Program,
    *,
    causal: bool = False,
    dtype: torch.dtype = torch.float64,
    mlp_exactness: int = 100,
    with_tracr: bool = False,
) -> CompiledProgram:
    """Compile ``program`` with Tracr to torch weights and read its ground-truth circuit.

    Tracr compiles the program to a "craft" model (one block per RASP operation, allocated to
    layers); the weights are laid out here exactly as Tracr's ``assemble`` does, directly into
    torch, because assembling through haiku costs seconds of jax compilation per layer shape.
    ``with_tracr=True`` also builds Tracr's own model (``tracr_model``, ``run_tracr``) to check
    against.
    """
    t = _tracr()
    if BOS in program.vocab:
        raise ValueError(f"the vocabulary must not contain the BOS token {BOS!r}")
    expr = program.make()
    bad = t.validating.static_validate(expr)
    if bad:
        raise ValueError(
            f"Tracr cannot compile program {program.name!r}: "
            + "; ".join(f"{u.expr.label}: {u.reason}" for u in bad)
        )
    extracted = t.rasp_to_graph.extract_rasp_graph(expr)
    graph, sources, sink = extracted.graph, extracted.sources, extracted.sink
    t.basis_inference.infer_bases(graph, sink, set(program.vocab), program.max_seq_len)
    t.expr_to_craft_graph.add_craft_components_to_rasp_graph(
        graph,
        bos_dir=t.bases.BasisDirection(t.rasp.tokens.label, BOS),
        mlp_exactness=mlp_exactness,
    )
    # Remember which RASP node each craft block came from before they are merged into layers.
    node_blocks = {
        label: data[t.nodes.MODEL_BLOCK]
        for label, data in graph.nodes.items()
        if data.get(t.nodes.MODEL_BLOCK) is not None
    }
    needed = set(_ancestors(graph, sink[t.nodes.ID])) | {sink[t.nodes.ID]}
    craft_model = t.craft_graph_to_model.craft_graph_to_model(graph, sources)
    # The spaces Tracr's craft_model_to_transformer embeds into and reads out of.
    token_values = graph.nodes[t.rasp.tokens.label][t.nodes.VALUE_SET] | {BOS, PAD}
    tokens_space = t.bases.VectorSpaceWithBasis.from_values(t.rasp.tokens.label, token_values)
    indices_space = t.bases.VectorSpaceWithBasis.from_values(
        t.rasp.indices.label, range(program.max_seq_len)
    )
    output_space = t.bases.VectorSpaceWithBasis(sink[t.nodes.OUTPUT_BASIS])
    categorical = t.rasp.is_categorical(sink[t.nodes.EXPR])
    model = _assemble(
        t, craft_model, tokens_space, indices_space, output_space, categorical, causal, dtype
    )
    assembled = None
    if with_tracr:  # Tracr's own (haiku) model; slow: jax compiles every layer shape
        assembled = t.craft_model_to_transformer.craft_model_to_transformer(
            craft_model=craft_model,
            graph=graph,
            sink=sink,
            max_seq_len=program.max_seq_len,
            causal=causal,
            compiler_bos=BOS,
            compiler_pad=PAD,
        )
    truth = _ground_truth(t, graph, craft_model, node_blocks, needed, model)
    return CompiledProgram(program.name, model, truth, assembled, program.sample)


def _ancestors(graph: Any, node: Hashable) -> set[Hashable]:
    seen, todo = set(), [node]
    while todo:
        for parent in graph.predecessors(todo.pop()):
            if parent not in seen:
                seen.add(parent)
                todo.append(parent)
    return seen


def _layer_of_blocks(t: Any, craft_model: Any) -> list[int]:
    """The model layer of each craft block: Tracr fills attn, mlp, attn, mlp, ... slots in order,
    skipping a slot whose type does not match (that half-layer stays empty)."""
    out, slot = [], 0  # slot 2l is layer l's attention, 2l+1 its MLP
    for block in craft_model.blocks:
        is_mlp = isinstance(block, t.transformers.MLP)
        while slot % 2 != int(is_mlp):
            slot += 1
        out.append(slot // 2)
        slot += 1
    return out


def _ground_truth(
    t: Any,
    graph: Any,
    craft_model: Any,
    node_blocks: dict[str, Any],
    needed: set[Hashable],
    model: TracrTransformer,
) -> TracrCircuit:
    heads: dict[tuple[int, int], list[str]] = {}
    mlps: dict[int, list[str]] = {}
    neurons: dict[int, set[int]] = {}
    # where each RASP operation was compiled: its heads (layer, h) and MLP layers
    head_of: dict[Hashable, list[tuple[int, int]]] = {}
    mlp_of: dict[Hashable, list[int]] = {}
    for block, layer in zip(craft_model.blocks, _layer_of_blocks(t, craft_model), strict=True):
        if isinstance(block, t.transformers.MLP):
            hidden = list(block.fst.output_space.basis)
            for label, nb in node_blocks.items():
                for part in _mlp_parts(t, nb):
                    idx = [hidden.index(d) for d in part.fst.output_space.basis if d in hidden]
                    if idx:
                        mlp_of.setdefault(label, []).append(layer)
                    if idx and label in needed:
                        mlps.setdefault(layer, []).append(str(label))
                        neurons.setdefault(layer, set()).update(idx)
        else:
            for h, head in enumerate(block.as_multi().heads()):
                for label, nb in node_blocks.items():
                    if any(head is p for p in _head_parts(t, nb)):
                        head_of.setdefault(label, []).append((layer, h))
                    if label in needed and any(head is p for p in _head_parts(t, nb)):
                        heads.setdefault((layer, h), []).append(str(label))
    edges = _head_input_edges(t, graph, needed, head_of, mlp_of)
    labels = {f"L{layer}H{h}": tuple(v) for (layer, h), v in sorted(heads.items())}
    labels |= {f"L{layer}MLP": tuple(v) for layer, v in sorted(mlps.items())}
    return TracrCircuit(
        heads=tuple(sorted(heads)),
        mlps=tuple(sorted(mlps)),
        neurons={k: tuple(sorted(v)) for k, v in sorted(neurons.items())},
        labels=labels,
        n_layers=model.n_layers,
        n_heads=model.n_heads,
        edges=edges,
    )


def _head_input_edges(
    t: Any,
    graph: Any,
    needed: set[Hashable],
    head_of: dict[Hashable, list[tuple[int, int]]],
    mlp_of: dict[Hashable, list[int]],
) -> tuple[tuple[tuple[int, int | None], tuple[int, int, str]], ...]:
    """Edges into the query/key/value of the output's heads, read off the RASP expressions."""

    def writers(sop: Any) -> list[tuple[int, int | None]]:
        label = sop.label
        if label in mlp_of:  # Map, SequenceMap, SelectorWidth: the MLP writes the result
            return [(layer, None) for layer in sorted(set(mlp_of[label]))]
        return [(layer, h) for layer, h in head_of.get(label, [])]  # Aggregate; [] = embedding

    edges = set()
    for label in needed:
        expr = graph.nodes[label][t.nodes.EXPR]
        if isinstance(expr, t.rasp.Aggregate):
            reads = {"q": expr.selector.queries, "k": expr.selector.keys, "v": expr.sop}
        elif isinstance(expr, t.rasp.SelectorWidth):
            reads = {"q": expr.selector.queries, "k": expr.selector.keys}
        else:
            continue
        if not isinstance(expr.selector, t.rasp.Select):
            raise NotImplementedError(
                f"edges of {label}: only plain Select selectors are traced, got "
                f"{type(expr.selector).__name__}"
            )
        for layer, h in head_of.get(label, []):
            for path, sop in reads.items():
                # a writer in the same layer (a head beside it, the MLP after it) cannot feed it
                edges |= {(w, (layer, h, path)) for w in writers(sop) if w[0] < layer}
    return tuple(sorted(edges, key=lambda e: (e[1], e[0][0], -1 if e[0][1] is None else e[0][1])))


def _head_parts(t: Any, block: Any) -> list[Any]:
    if isinstance(block, t.transformers.SeriesWithResiduals):
        return [h for b in block.blocks for h in _head_parts(t, b)]
    if isinstance(block, (t.transformers.AttentionHead, t.transformers.MultiAttentionHead)):
        return list(block.as_multi().heads())
    return []


def _mlp_parts(t: Any, block: Any) -> list[Any]:
    if isinstance(block, t.transformers.SeriesWithResiduals):
        return [m for b in block.blocks for m in _mlp_parts(t, b)]
    return [block] if isinstance(block, t.transformers.MLP) else []


def _assemble(
    t: Any,
    craft_model: Any,
    tokens_space: Any,
    indices_space: Any,
    output_space: Any,
    categorical: bool,
    causal: bool,
    dtype: torch.dtype,
) -> TracrTransformer:
    """Lay out the craft model's weights as Tracr's ``assemble_craft_model`` does: one residual
    basis for everything, heads padded to the widest layer and the largest key size, MLPs padded
    to the widest hidden layer, a slot skipped where the half-layer type does not match."""
    residual = t.bases.join_vector_spaces(
        craft_model.residual_space, tokens_space, indices_space, output_space
    )
    labels = [str(d) for d in residual.basis]
    d = residual.num_dims

    def project(space: Any) -> np.ndarray:
        result: np.ndarray = t.vectorspace_fns.project(residual, space).matrix
        return result

    layers = _layer_of_blocks(t, craft_model)
    n_layers = layers[-1] + 1 if layers else 1
    attn_blocks = [
        b.as_multi() for b in craft_model.blocks if not isinstance(b, t.transformers.MLP)
    ]
    mlp_blocks = [b for b in craft_model.blocks if isinstance(b, t.transformers.MLP)]
    heads_all = [h for b in attn_blocks for h in b.heads()]
    n_heads = max((len(list(b.heads())) for b in attn_blocks), default=1)
    key = max((max(h.w_qk.matrix.shape) for h in heads_all), default=1)
    hidden = max((m.fst.output_space.num_dims for m in mlp_blocks), default=1)

    q, k, v = (np.zeros((n_layers, n_heads, d, key)) for _ in range(3))
    o = np.zeros((n_layers, n_heads, key, d))
    w_in, w_out = np.zeros((n_layers, d, hidden)), np.zeros((n_layers, hidden, d))
    for block, layer in zip(craft_model.blocks, layers, strict=True):
        if isinstance(block, t.transformers.MLP):
            width = block.fst.output_space.num_dims
            w_in[layer, :, :width] = project(block.fst.input_space) @ block.fst.matrix
            w_out[layer, :width, :] = block.snd.matrix @ project(block.snd.output_space).T
            continue
        for h, head in enumerate(block.as_multi().heads()):
            qk, ov = head.w_qk, head.w_ov
            q[layer, h, :, : qk.matrix.shape[1]] = project(qk.left_space) @ qk.matrix
            k[layer, h, :, : qk.matrix.shape[1]] = project(qk.right_space)
            v[layer, h, :, : ov.matrix.shape[1]] = project(ov.input_space) @ ov.matrix
            o[layer, h, : ov.matrix.shape[1], :] = project(ov.output_space).T

    def tensor(a: Any) -> torch.Tensor:
        return torch.as_tensor(np.asarray(a, dtype=np.float64), dtype=dtype)

    blocks = []
    for layer in range(n_layers):
        zeros_hk, zeros_d = np.zeros((n_heads, key)), np.zeros(d)
        attn = TracrAttention(
            tensor(q[layer]),
            tensor(k[layer]),
            tensor(v[layer]),
            tensor(o[layer]),
            tensor(zeros_hk),
            tensor(zeros_hk),
            tensor(zeros_hk),
            tensor(zeros_d),
            causal=causal,
        )
        mlp = TracrMLP(*map(tensor, (w_in[layer], np.zeros(hidden), w_out[layer], zeros_d)))
        blocks.append(TracrBlock(attn, mlp))

    token_embed = project(tokens_space).T.copy()  # (vocab, d): token i -> its direction
    one = t.bases.BasisDirection("one")
    if one in residual:  # every input writes 1 to the "one" direction
        token_embed[:, residual.index_by_direction[one]] += 1.0
    # Position 0 (BOS) has no position embedding; position p >= 1 is RASP index p - 1.
    pos_embed = np.concatenate([np.zeros((1, d)), project(indices_space).T])
    unembed = project(output_space)
    vocab = {dr.value: i for i, dr in enumerate(tokens_space.basis)}
    values = [dr.value for dr in output_space.basis] if categorical else None
    return TracrTransformer(
        tensor(token_embed), tensor(pos_embed), blocks, tensor(unembed), vocab, values, labels
    )


# ----------------------------------------------------------------------------------------------
# Distractors: two programs side by side, only one of them read out


def with_distractor(primary: CompiledProgram, distractor: CompiledProgram) -> CompiledProgram:
    """One model that runs both programs side by side but outputs only ``primary``'s.

    The residual streams are concatenated and every weight is block-diagonal, so the
    distractor's heads and MLPs compute their program on the same tokens (their activations
    vary with the input like any real component's) yet never reach the output. The ground truth
    is the primary program's circuit; the distractor's components are exactly irrelevant, which
    makes precision of a circuit-discovery method measurable. Heads of layer ``l`` are the
    primary's heads first, then the distractor's. Both programs need the same vocabulary and
    maximum length.
    """
    a, b = primary.model, distractor.model
    if a.vocab != b.vocab or a.max_len != b.max_len:
        raise ValueError(
            f"programs {primary.name!r} and {distractor.name!r} need the same vocabulary and "
            f"maximum length to share inputs; got {sorted(map(str, a.vocab))}/{a.max_len} and "
            f"{sorted(map(str, b.vocab))}/{b.max_len}"
        )
    n_layers = max(a.n_layers, b.n_layers)
    blocks = [_merge_blocks(_block(a, layer), _block(b, layer)) for layer in range(n_layers)]

    def cat(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, y], dim=-1).detach().clone()

    unembed = torch.cat([a.unembed, torch.zeros(b.unembed.shape[0], a.unembed.shape[1],
                                                 dtype=a.unembed.dtype)]).detach().clone()  # fmt: skip
    model = TracrTransformer(
        cat(a.token_embed, b.token_embed),
        cat(a.pos_embed, b.pos_embed),
        blocks,
        unembed,
        a.vocab,
        a.output_values,
        [f"{primary.name}/{x}" for x in a.residual_labels]
        + [f"{distractor.name}/{x}" for x in b.residual_labels],
    )
    gt = primary.ground_truth
    truth = TracrCircuit(
        gt.heads,
        gt.mlps,
        gt.neurons,
        gt.labels,
        n_layers=n_layers,
        n_heads=model.n_heads,
        edges=gt.edges,
    )
    return CompiledProgram(
        f"{primary.name}+{distractor.name}", model, truth, primary.tracr_model, primary.inputs
    )


def _block(model: TracrTransformer, layer: int) -> TracrBlock | int:
    """The model's block at ``layer``, or its residual width where the model has no such layer."""
    return model.block(layer) if layer < model.n_layers else model.unembed.shape[0]


def _merge_blocks(a: TracrBlock | int, b: TracrBlock | int) -> TracrBlock:
    ref = a if isinstance(a, TracrBlock) else b
    assert isinstance(ref, TracrBlock)  # at least one of the two models has this layer
    dtype = ref.attn.W_Q.dtype
    key = max(x.attn.W_Q.shape[-1] for x in (a, b) if isinstance(x, TracrBlock))

    def parts(x: TracrBlock | int) -> dict[str, torch.Tensor]:
        if isinstance(x, int):  # an absent layer: no heads, no MLP units

            def z(*s: int) -> torch.Tensor:
                return torch.zeros(*s, dtype=dtype)

            return {"q": z(0, x, key), "k": z(0, x, key), "v": z(0, x, key), "o": z(0, key, x),
                    "bq": z(0, key), "bk": z(0, key), "bv": z(0, key), "bo": z(x),
                    "w_in": z(x, 0), "b_in": z(0), "w_out": z(0, x), "b_out": z(x)}  # fmt: skip
        at, m = x.attn, x.mlp
        k0 = at.W_Q.shape[-1]

        def pad(w: torch.Tensor, dim: int) -> torch.Tensor:
            return torch.nn.functional.pad(w, [0, 0] * (w.ndim - 1 - dim) + [0, key - k0])

        # Tracr scales logits by 1/sqrt(key_size); padding keys changes that, so rescale queries.
        scale = math.sqrt(key / k0)
        return {"q": pad(at.W_Q * scale, 2), "k": pad(at.W_K, 2), "v": pad(at.W_V, 2),
                "o": pad(at.W_O, 1), "bq": pad(at.b_Q * scale, 1), "bk": pad(at.b_K, 1),
                "bv": pad(at.b_V, 1), "bo": at.b_O, "w_in": m.W_in, "b_in": m.b_in,
                "w_out": m.W_out, "b_out": m.b_out}  # fmt: skip

    pa, pb = parts(a), parts(b)
    da, db = pa["bo"].shape[0], pb["bo"].shape[0]

    def rows(x: torch.Tensor, y: torch.Tensor, dim: int) -> torch.Tensor:
        """Block-diagonal along ``dim`` (residual) and concatenated along dim 0 (heads)."""
        xs = list(x.shape)
        xs[dim] = db
        ys = list(y.shape)
        ys[dim] = da
        x = torch.cat([x, torch.zeros(xs, dtype=dtype)], dim=dim)
        y = torch.cat([torch.zeros(ys, dtype=dtype), y], dim=dim)
        return torch.cat([x, y], dim=0).detach().clone()

    heads = {n: rows(pa[n], pb[n], 1) for n in ("q", "k", "v")}
    o = rows(pa["o"], pb["o"], 2)
    bias = {n: torch.cat([pa[n], pb[n]]).detach().clone() for n in ("bq", "bk", "bv")}
    causal = ref.attn.causal
    attn = TracrAttention(heads["q"], heads["k"], heads["v"], o, bias["bq"], bias["bk"],
                          bias["bv"], torch.cat([pa["bo"], pb["bo"]]).detach().clone(), causal)  # fmt: skip
    w_in = torch.block_diag(pa["w_in"], pb["w_in"]).detach().clone()
    w_out = torch.block_diag(pa["w_out"], pb["w_out"]).detach().clone()
    mlp = TracrMLP(w_in, torch.cat([pa["b_in"], pb["b_in"]]).detach().clone(), w_out,
                   torch.cat([pa["b_out"], pb["b_out"]]).detach().clone())  # fmt: skip
    return TracrBlock(attn, mlp)
