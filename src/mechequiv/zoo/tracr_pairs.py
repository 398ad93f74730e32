"""Pairs of Tracr-compiled transformers whose mechanisms are known to be the same or different.

A validation set for equivalence methods on networks this package did not train:

- :func:`transformed_copy`: an exactly function-preserving reparameterisation of a
  :class:`~mechequiv.zoo.tracr.TracrTransformer` (a Haar rotation of the residual stream, a
  permutation of each layer's heads and of each MLP's hidden units). Same mechanism.
- :data:`ALTERNATIVES`: RASP programs that compute the same input-output map as a program of
  :data:`~mechequiv.zoo.rasp_programs.PROGRAMS` through a different computation graph (other
  intermediate variables, other heads and MLPs). Same function, different algorithm.
- :class:`TracrSymmetry`: a GetImpl sampler drawing :func:`transformed_copy` of a model, the
  positive control of Congruity for Tracr models (the package's ``SymmetryTransform`` does not
  accept this layout; it knows the zoo's transformer and Sequential MLPs only).

The rotation acts as ``x -> x R`` on the residual stream: embeddings ``E R``, every reader of the
stream (queries, keys, values, MLP input, unembedding) ``R^T W``, every writer (head outputs, MLP
output, their biases) ``W R``. Without LayerNorm (Tracr compiles none) this preserves every
output exactly up to float rounding.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Hashable, Sequence
from typing import Any, cast

import numpy as np
import torch
from scipy.stats import ortho_group
from torch import nn

from mechequiv.zoo.rasp_programs import PROGRAMS
from mechequiv.zoo.tracr import (
    CompiledProgram,
    Program,
    TracrCircuit,
    TracrTransformer,
    rasp_language,
)

# ----------------------------------------------------------------------------------------------
# Exact reparameterisations


def _check_tracr(model: Any) -> None:
    if not isinstance(model, TracrTransformer):
        raise TypeError(
            f"expected a TracrTransformer (mechequiv.zoo.tracr); got {type(model).__name__}"
        )


def transformed_copy(
    model: TracrTransformer,
    rng: np.random.Generator,
    rotate: bool = True,
    permute: bool = True,
) -> tuple[TracrTransformer, list[np.ndarray], list[np.ndarray]]:
    """A deep copy of ``model`` rotated and permuted at random; outputs unchanged.

    Returns the copy, and per layer the head permutation and the MLP unit permutation applied
    (new head ``i`` is old head ``perm[i]``), so a ground-truth circuit can be carried over with
    :func:`permute_circuit`. Draws are Haar-uniform rotations and uniform permutations, so a
    model and any transformed copy of it have identically distributed transformed copies.
    """
    _check_tracr(model)
    new = copy.deepcopy(model)
    head_perms: list[np.ndarray] = []
    unit_perms: list[np.ndarray] = []
    d = new.token_embed.shape[1]
    R = torch.as_tensor(
        ortho_group.rvs(d, random_state=rng) if rotate and d > 1 else np.eye(d),
        dtype=torch.float64,
    )
    with torch.no_grad():
        for layer in range(new.n_layers):
            at, mlp = new.block(layer).attn, new.block(layer).mlp
            hp = rng.permutation(at.n_heads) if permute else np.arange(at.n_heads)
            up = rng.permutation(mlp.W_in.shape[1]) if permute else np.arange(mlp.W_in.shape[1])
            head_perms.append(hp)
            unit_perms.append(up)
            for w in (at.W_Q, at.W_K, at.W_V, at.W_O, at.b_Q, at.b_K, at.b_V):
                w.copy_(w[torch.as_tensor(hp)])
            mlp.W_in.copy_(mlp.W_in[:, torch.as_tensor(up)])
            mlp.b_in.copy_(mlp.b_in[torch.as_tensor(up)])
            mlp.W_out.copy_(mlp.W_out[torch.as_tensor(up)])
            for reader in (at.W_Q, at.W_K, at.W_V):  # (heads, d, k): x R R^T W = x W
                reader.copy_(_rot(R.T, reader, left=True))
            mlp.W_in.copy_(_rot(R.T, mlp.W_in, left=True))
            for writer in (at.W_O, at.b_O, mlp.W_out, mlp.b_out):  # (..., d): W R
                writer.copy_(_rot(R, writer, left=False))
        new.token_embed.copy_(_rot(R, new.token_embed, left=False))
        new.pos_embed.copy_(_rot(R, new.pos_embed, left=False))
        new.unembed.copy_(_rot(R.T, new.unembed, left=True))
    if rotate:  # the residual basis no longer has Tracr's named directions
        new.residual_labels = [f"rotated_{i}" for i in range(d)]
    return new, head_perms, unit_perms


def _rot(R: torch.Tensor, w: torch.Tensor, left: bool) -> torch.Tensor:
    """``R @ w`` over w's residual axis (second to last) if ``left`` else ``w @ R`` (last)."""
    out = R @ w.double() if left else w.double() @ R
    return out.to(w.dtype)


def permute_circuit(
    truth: TracrCircuit, head_perms: Sequence[np.ndarray], unit_perms: Sequence[np.ndarray]
) -> TracrCircuit:
    """The ground-truth circuit of a :func:`transformed_copy`: head and unit indices moved."""
    inv_h = [np.argsort(p) for p in head_perms]  # old index -> new index
    inv_u = [np.argsort(p) for p in unit_perms]
    heads = tuple(sorted((layer, int(inv_h[layer][h])) for layer, h in truth.heads))
    labels = {}
    for name, ops in truth.labels.items():
        if "H" in name and not name.endswith("MLP"):
            layer, h = (int(v) for v in name[1:].split("H"))
            name = f"L{layer}H{int(inv_h[layer][h])}"
        labels[name] = ops
    neurons = {
        layer: tuple(sorted(int(inv_u[layer][u]) for u in units))
        for layer, units in truth.neurons.items()
    }
    return TracrCircuit(heads, truth.mlps, neurons, labels, truth.n_layers, truth.n_heads)


def transformed_program(compiled: CompiledProgram, rng: np.random.Generator) -> CompiledProgram:
    """A :func:`transformed_copy` of a compiled program, with its ground truth carried over."""
    model, hp, up = transformed_copy(compiled.model, rng)
    truth = permute_circuit(compiled.ground_truth, hp, up)
    return CompiledProgram(f"{compiled.name}~rotated", model, truth, None, compiled.inputs)


class TracrSymmetry:
    """GetImpl by exact symmetries of a Tracr model: the positive control of Congruity.

    ``sample(model, rng)`` returns :func:`transformed_copy` of the model (always a new object,
    so ``exclude`` holds). Every implementation computes exactly the model's function with the
    model's own circuit, so two models score as equivalent only if they are the same network up
    to these symmetries.
    """

    def __init__(self, rotate: bool = True, permute: bool = True) -> None:
        self.rotate, self.permute = rotate, permute

    def sample(
        self, model: nn.Module, rng: np.random.Generator, exclude: Sequence[nn.Module] = ()
    ) -> nn.Module:
        # transformed_copy refuses anything but a TracrTransformer
        return transformed_copy(cast(TracrTransformer, model), rng, self.rotate, self.permute)[0]

    def __repr__(self) -> str:
        return f"TracrSymmetry(rotate={self.rotate}, permute={self.permute})"


# ----------------------------------------------------------------------------------------------
# Same function, different algorithm


def histogram_by_difference() -> Any:
    """Histogram as #(tokens <= mine) - #(tokens < mine): two selector widths and an MLP that
    subtracts, instead of one selector width on equality."""
    rasp = rasp_language()
    leq = rasp.SelectorWidth(rasp.Select(rasp.tokens, rasp.tokens, rasp.Comparison.LEQ))
    lt = rasp.SelectorWidth(rasp.Select(rasp.tokens, rasp.tokens, rasp.Comparison.LT))
    return rasp.SequenceMap(lambda a, b: a - b, leq, lt)


def reverse_by_positions_after() -> Any:
    """Reverse without the length: the mirrored index of position i is the number of positions
    after it (one selector width on indices), then the same fetching head."""
    rasp = rasp_language()
    after = rasp.SelectorWidth(rasp.Select(rasp.indices, rasp.indices, rasp.Comparison.GT))
    return rasp.Aggregate(rasp.Select(rasp.indices, after, rasp.Comparison.EQ), rasp.tokens)


def sort_by_greater_count() -> Any:
    """Sort distinct tokens by matching two counts: position i receives the token with as many
    larger tokens as there are positions after i (no rank, no comparison with indices)."""
    rasp = rasp_language()
    greater = rasp.SelectorWidth(rasp.Select(rasp.tokens, rasp.tokens, rasp.Comparison.GT))
    after = rasp.SelectorWidth(rasp.Select(rasp.indices, rasp.indices, rasp.Comparison.GT))
    return rasp.Aggregate(rasp.Select(greater, after, rasp.Comparison.EQ), rasp.tokens)


def max_by_full_count() -> Any:
    """The maximum as the token that is >= every token: #(tokens <= mine) compared with the
    length by an MLP, then the averaging head of the original."""
    rasp = rasp_language()
    leq = rasp.SelectorWidth(rasp.Select(rasp.tokens, rasp.tokens, rasp.Comparison.LEQ))
    n = rasp.SelectorWidth(rasp.Select(rasp.tokens, rasp.tokens, rasp.Comparison.TRUE))
    is_max = rasp.SequenceMap(lambda a, b: 1 if a == b else 0, leq, n)
    one = rasp.Map(lambda t: 1, rasp.tokens)
    return rasp.Aggregate(rasp.Select(is_max, one, rasp.Comparison.EQ), rasp.tokens)


def _alternative(name: str, original: str, make: Any) -> Program:
    """``make`` under ``name``, with the vocabulary, length and input sampler of ``original``
    (same function, so the same valid inputs)."""
    o = PROGRAMS[original]
    return Program(name, make, o.vocab, o.max_seq_len, o.sample, make.__doc__ or "")


ALTERNATIVES: dict[str, Program] = {
    p.name: p
    for p in [
        _alternative("histogram_alt", "histogram", histogram_by_difference),
        _alternative("reverse_alt", "reverse", reverse_by_positions_after),
        _alternative("sort_alt", "sort", sort_by_greater_count),
        _alternative("max_alt", "max", max_by_full_count),
    ]
}

#: Alternative program -> the program of ``PROGRAMS`` whose function it computes.
SAME_FUNCTION: dict[str, str] = {
    "histogram_alt": "histogram",
    "reverse_alt": "reverse",
    "sort_alt": "sort",
    "max_alt": "max",
}


def program(name: str) -> Program:
    """A program of ``PROGRAMS`` or ``ALTERNATIVES`` by name."""
    found = PROGRAMS.get(name) or ALTERNATIVES.get(name)
    if found is None:
        raise ValueError(
            f"unknown program {name!r}; known: {sorted(PROGRAMS) + sorted(ALTERNATIVES)}"
        )
    return found


def all_sequences(
    vocab: frozenset[Any], length: int, distinct: bool = False
) -> list[list[Hashable]]:
    """Every sequence of ``length`` tokens over ``vocab`` (sorted), optionally distinct tokens."""
    values = sorted(vocab)
    gen = itertools.permutations(values, length) if distinct else itertools.product(values, repeat=length)  # fmt: skip
    return [list(s) for s in gen]


def decoded_outputs(model: TracrTransformer, sequences: Sequence[Sequence[Hashable]]) -> list[Any]:
    """The program's outputs on ``sequences`` (one length), decoded; floats rounded to 1e-6."""
    _check_tracr(model)
    with torch.no_grad():
        out = model.decode(model(model.encode(sequences)))
    if model.categorical:
        return out
    return [[round(v, 6) for v in row] for row in out]
