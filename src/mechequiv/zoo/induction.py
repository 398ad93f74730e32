"""Induction: small transformers trained here on repeated random sequences, whose circuit is
known (Elhage et al. 2021; Olsson et al. 2022): a previous-token head in layer 0 writes "the token
before me" into each position, an induction head in layer 1 attends from a repeated token to the
position after its earlier occurrence (K-composition with the previous-token head) and copies
that token.

Inputs are ``[BOS, P, A, A, S]`` (:func:`induction_batch`) with ``A`` a random sequence of
``half`` tokens from ``1..vocab-1`` at a random offset (BOS is token 0); in the second copy the
next token is predictable only by induction, so those positions are scored (the batch's
``mask``). Attention-pattern scores (:func:`head_scores`) name the previous-token and induction
heads independently of patching.

Two models:

- :func:`train_induction_bridge`: a TransformerLens 4 ``TransformerBridge`` built natively
  (``boot_native``; TL 4 has no ``HookedTransformer``), causal, trained on next-token loss;
  hook names as in TransformerLens (``blocks.{l}.attn.hook_z``, ``hook_pattern``).
- :func:`train_induction_zoo`: the zoo's :class:`~mechequiv.zoo.models._transformer.TokenTransformer`
  trained the same way, its (bidirectional) attention replaced by :class:`CausalAttention`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from mechequiv.zoo.ensemble import Optimiser, SeedEnsemble, train_step
from mechequiv.zoo.models._transformer import Attention, TokenTransformer
from mechequiv.zoo.tracr import (
    BOS,
    CompiledProgram,
    Program,
    TracrAttention,
    TracrBlock,
    TracrCircuit,
    TracrMLP,
    TracrTransformer,
    compile_program,
    rasp_language,
    with_distractor,
)

BOS_TOKEN = 0


@dataclass(frozen=True)
class InductionBatch:
    """Token ids ``(n, t)`` and the positions ``mask`` ``(n, t)`` whose next token is
    predictable only by induction; each row's first copy starts at ``1 + offsets[i]`` and has
    ``lengths[i]`` tokens."""

    tokens: torch.Tensor
    mask: torch.Tensor
    offsets: np.ndarray
    lengths: np.ndarray


def induction_batch(
    n: int,
    half: int,
    vocab: int,
    rng: np.random.Generator,
    max_offset: int | None = None,
    layout: InductionBatch | None = None,
) -> InductionBatch:
    """Rows ``[BOS, P, A, A, S]`` of ``1 + 2 * half + max_offset`` tokens: ``A`` is a random
    sequence of ``L`` tokens from ``1..vocab-1``, ``L`` uniform in ``half // 2 .. half``, the
    random prefix ``P`` has a random length in ``0..max_offset`` (default ``half``) and the
    random suffix ``S`` fills the row.

    The random offset and length matter: with ``A`` at a fixed place or a fixed period, a head
    can copy the token ``L - 1`` positions back (position embeddings suffice) without any
    induction mechanism. ``layout``: reuse another batch's offsets and lengths with fresh tokens
    (a counterfactual batch whose scored positions line up with the other's).
    """
    pad = half if max_offset is None else max_offset
    if half < 2 or pad < 0:
        raise ValueError(f"need half >= 2 and max_offset >= 0; got {half}, {pad}")
    t = 1 + 2 * half + pad
    if layout is None:
        offs = rng.integers(0, pad + 1, n)
        lens = rng.integers(max(2, half // 2), half + 1, n)
    else:
        offs, lens = layout.offsets, layout.lengths
    tokens = rng.integers(1, vocab, size=(n, t))
    tokens[:, 0] = BOS_TOKEN
    mask = np.zeros((n, t), dtype=bool)
    for i, (r, length) in enumerate(zip(offs, lens, strict=True)):
        a = 1 + r
        tokens[i, a + length : a + 2 * length] = tokens[i, a : a + length]
        mask[i, a + length : a + 2 * length - 1] = True  # position p predicts token p + 1
    return InductionBatch(torch.as_tensor(tokens), torch.as_tensor(mask), offs, lens)


def induction_accuracy(model: nn.Module, batch: InductionBatch) -> float:
    """Share of induction positions where the model's argmax is the true next token."""
    with torch.no_grad():
        logits = _logits(model(batch.tokens))
    pred = logits[:, :-1].argmax(-1)
    right = pred == batch.tokens[:, 1:]
    return float(right[batch.mask[:, :-1]].double().mean())


def break_repeat(batch: InductionBatch, vocab: int, rng: np.random.Generator) -> torch.Tensor:
    """Counterfactual tokens for ``batch``: the first copy of ``A`` replaced by other tokens
    (each differs from the one it replaces), everything else unchanged.

    In these rows the scored positions have no earlier occurrence to copy from, so induction is
    impossible while the current token, its position and the rest of the row stay as they were:
    only components that carry information from the first copy to the scored positions (the
    previous-token and induction heads) see different inputs. Fresh tokens everywhere (the
    ``layout`` argument of :func:`induction_batch`) would also move every component that
    reads the current token.
    """
    tokens = batch.tokens.clone()
    for i, (r, length) in enumerate(zip(batch.offsets, batch.lengths, strict=True)):
        a = 1 + int(r)
        old = tokens[i, a : a + length]
        shift = torch.as_tensor(rng.integers(1, vocab - 1, int(length)))
        tokens[i, a : a + length] = (old - 1 + shift) % (vocab - 1) + 1  # never the old token
    return tokens


def repeat_losses(model: nn.Module, batch: InductionBatch) -> dict[str, float]:
    """Mean next-token cross-entropy (nats) inside the first copy of ``A`` (unpredictable: about
    ``log(vocab - 1)``) and at the induction positions of the second copy (``batch.mask``).
    Induction is there when the second is far below the first."""
    with torch.no_grad():
        logits = _logits(model(batch.tokens))[:, :-1].double()
    nll = nn.functional.cross_entropy(
        logits.flatten(0, 1), batch.tokens[:, 1:].flatten(), reduction="none"
    ).reshape(logits.shape[:2])
    first = torch.zeros_like(batch.mask)
    for i, (r, length) in enumerate(zip(batch.offsets, batch.lengths, strict=True)):
        first[i, 1 + int(r) : int(r) + int(length)] = True  # position p predicts p + 1 in A
    return {
        "first_copy": float(nll[first[:, :-1]].mean()),
        "second_copy": float(nll[batch.mask[:, :-1]].mean()),
    }


def known_heads(
    scores: dict[str, np.ndarray], min_score: float = 0.3
) -> dict[str, list[tuple[int, int]]]:
    """The heads that attention patterns alone single out (no patching): previous-token heads in
    layer 0 and induction heads in layer 1, as ``(layer, head)``. A head counts when its score
    (:func:`head_scores`) is at least ``min_score``; the best-scoring head of each kind always
    counts. A uniform head over ~15 keys scores ~0.07."""
    out: dict[str, list[tuple[int, int]]] = {}
    for kind, layer in (("previous_token", 0), ("induction", 1)):
        s = scores[kind][layer]
        best = int(np.argmax(s))
        out[kind] = [(layer, h) for h in range(len(s)) if s[h] >= min_score or h == best]
    return out


def head_scores(
    patterns: dict[int, torch.Tensor], batch: InductionBatch, exclude_bos: bool = False
) -> dict[str, np.ndarray]:
    """Previous-token and induction scores of every head from attention patterns.

    ``patterns[layer]`` is ``(n, heads, query, key)``. The previous-token score is the mean
    attention from position ``p >= 2`` to ``p - 1``; the induction score the mean attention from
    an induction position ``p`` to ``p - L + 1`` (the token after the earlier occurrence).
    ``exclude_bos``: each query's attention renormalised over the keys after BOS first; small
    LayerNorm models park most attention on BOS (a sink that writes little) and move
    information with the few percent left, which raw scores hide.
    Returns arrays ``(layers, heads)``.
    """
    prev, induct = [], []
    rows, q = torch.nonzero(batch.mask, as_tuple=True)
    key = q - torch.as_tensor(batch.lengths)[rows] + 1
    for layer in sorted(patterns):
        pat = patterns[layer].double()
        if exclude_bos:
            rest = pat[..., 1:]
            pat = torch.cat(
                [
                    torch.zeros_like(pat[..., :1]),
                    rest / rest.sum(-1, keepdim=True).clamp_min(1e-12),
                ],
                -1,
            )
        t = pat.shape[-1]
        p = torch.arange(2, t)
        prev.append(pat[:, :, p, p - 1].mean((0, 2)).numpy())
        induct.append(pat[rows, :, q, key].mean(0).numpy())
    return {"previous_token": np.stack(prev), "induction": np.stack(induct)}


def _logits(out: Any) -> torch.Tensor:
    result: torch.Tensor = out.logits if hasattr(out, "logits") else out
    return result


def _train(
    model: nn.Module,
    half: int,
    vocab: int,
    steps: int,
    batch: int,
    lr: float,
    seed: int,
    target_accuracy: float | None,
) -> None:
    """AdamW on fresh batches, on the one training loop (:func:`~mechequiv.zoo.ensemble.
    train_step` over a one-model :class:`~mechequiv.zoo.ensemble.SeedEnsemble`, which runs any
    module's own forward); with ``target_accuracy``, stops once the induction accuracy on a
    held-out batch (checked every 100 steps) reaches it."""
    rng = np.random.default_rng(seed)
    held_out = induction_batch(256, half, vocab, np.random.default_rng([seed, 1]))
    model.train()
    ensemble = SeedEnsemble([model], single_as_plain=True)
    optimizer = Optimiser("adamw", lr=lr, weight_decay=0.01).build(list(ensemble.params.values()))
    for step in range(1, steps + 1):
        data = induction_batch(batch, half, vocab, rng)
        targets = torch.stack([data.tokens, data.mask.long()]).unsqueeze(0)  # (1, 2, n, t)
        train_step(ensemble, optimizer, None, data.tokens.unsqueeze(0), targets, _induction_loss)
        if target_accuracy is not None and step % 100 == 0:
            ensemble.write_into([model])
            model.eval()
            if induction_accuracy(model, held_out) >= target_accuracy:
                break
            model.train()
    ensemble.write_into([model])
    model.eval()


def _induction_loss(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Next-token loss on the whole row plus, as much again, on the induction positions (the
    rest of the row is unpredictable noise that would otherwise dominate the loss); ``(1,)``."""
    logits = outputs[0][:, :-1]
    x, mask = targets[0, 0], targets[0, 1].bool()
    full = nn.functional.cross_entropy(logits.flatten(0, 1), x[:, 1:].flatten())
    m = mask[:, :-1]
    ind = nn.functional.cross_entropy(logits[m], x[:, 1:][m])
    return (full + ind).unsqueeze(0)


def train_induction_bridge(
    seed: int = 0,
    n_layers: int = 2,
    n_heads: int = 8,
    d_model: int = 64,
    half: int = 10,
    vocab: int = 32,
    steps: int = 1500,
    batch: int = 64,
    lr: float = 1e-3,
    target_accuracy: float | None = None,
    attn_only: bool = True,
    normalization: str | None = "LN",
    positional: str = "standard",
) -> nn.Module:
    """A TransformerLens ``TransformerBridge`` (attention-only unless ``attn_only=False``: then
    with ReLU MLPs of width ``4 * d_model``) trained on induction for at most ``steps`` steps
    (``target_accuracy``: stop early once reached, see :func:`_train`). ``normalization``:
    TransformerLens's ``normalization_type`` ("LN", None, ...); ``positional``: its
    ``positional_embedding_type`` ("standard" or "rotary", what TransformerLens's native
    bridge builds)."""
    try:
        import transformer_lens.model_bridge.sources  # noqa: F401  (registers boot_native)
        from transformer_lens.config import TransformerBridgeConfig
        from transformer_lens.model_bridge import TransformerBridge
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("train_induction_bridge needs transformer-lens >= 4") from e
    cfg = TransformerBridgeConfig(
        d_model=d_model,
        n_layers=n_layers,
        n_heads=n_heads,
        d_head=d_model // n_heads,
        n_ctx=1 + 3 * half,
        d_vocab=vocab,
        attn_only=attn_only,
        d_mlp=None if attn_only else 4 * d_model,
        act_fn="relu",
        normalization_type=normalization,
        positional_embedding_type=positional,
        seed=seed,
    )
    # TransformerLens attaches boot_native with setattr at import, out of its class body
    model = TransformerBridge.boot_native(cfg)  # type: ignore[attr-defined]
    _train(model, half, vocab, steps, batch, lr, seed, target_accuracy)
    result: nn.Module = model
    return result


class CausalAttention(Attention):
    """The zoo's softmax attention (alpha = 1) with a causal mask, and per-head outputs exposed
    at the identity module ``heads`` (``(n, t, heads, d_head)``) for head-level patching; each
    head's query, key and value at ``hook_q`` / ``hook_k`` / ``hook_v`` (``(n, t, heads,
    d_head)``, as TransformerLens names them) for edge discovery."""

    def __init__(self, d_model: int, n_heads: int) -> None:
        super().__init__(d_model, n_heads, alpha=1.0)
        self.heads = nn.Identity()
        self.hook_q, self.hook_k, self.hook_v = nn.Identity(), nn.Identity(), nn.Identity()
        self.hook_pattern = nn.Identity()  # (n, heads, query, key), as TransformerLens names it

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        split = (*x.shape[:-1], self.n_heads, self.d_head)
        q, k, v = (
            hook(w(x).reshape(split)).transpose(-2, -3)  # (n, heads, t, d_head)
            for w, hook in ((self.W_Q, self.hook_q), (self.W_K, self.hook_k),
                            (self.W_V, self.hook_v))
        )  # fmt: skip
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.d_head)
        t = x.shape[-2]
        mask = torch.ones(t, t, dtype=torch.bool, device=x.device).tril()
        pattern = self.hook_pattern(scores.masked_fill(~mask, float("-inf")).softmax(-1))
        z = self.heads((pattern @ v).transpose(-2, -3))  # (n, t, heads, d_head)
        result: torch.Tensor = self.W_O(z.reshape(*x.shape))
        return result


def train_induction_zoo(
    seed: int = 0,
    n_layers: int = 2,
    n_heads: int = 8,
    d_model: int = 64,
    half: int = 10,
    vocab: int = 32,
    steps: int = 1500,
    batch: int = 64,
    lr: float = 1e-3,
    target_accuracy: float | None = None,
    layer_norm: bool = True,
) -> TokenTransformer:
    """The zoo's TokenTransformer (LayerNorm unless ``layer_norm=False``, MLPs,
    ``readout="all"``) with causal attention
    (:class:`CausalAttention`), trained on induction as :func:`train_induction_bridge` is.
    Module names: ``blocks.{l}.attn.heads``
    (heads, axis 2), ``blocks.{l}.attn.hook_pattern``, ``blocks.{l}.attn``, ``blocks.{l}.mlp``, ``blocks.{l}``."""
    with torch.random.fork_rng(devices=[]):  # no global side effect on the caller's RNG
        torch.manual_seed(seed)
        model = TokenTransformer(vocab, 1 + 3 * half, vocab, d_model=d_model, n_heads=n_heads,
                                 n_layers=n_layers, layer_norm=layer_norm, readout="all")  # fmt: skip
        for block in model.blocks:
            block.attn = CausalAttention(d_model, n_heads)
    _train(model, half, vocab, steps, batch, lr, seed, target_accuracy)
    return model


# ----------------------------------------------------------------------------------------------
# Induction compiled by Tracr: the circuit known by construction


def induction_rasp() -> Any:
    """Induction in RASP: a previous-token head (``Select(indices, indices, k == q - 1)``
    aggregating the tokens) writes the token before each position; the induction head selects
    the keys whose previous token equals the query's token (K-composition: its key reads the
    previous-token head) and copies their token (its value reads the embedding).

    Compiled causal, at a position whose token occurred earlier exactly once (inputs of
    :func:`tracr_induction`) it outputs the token that followed that occurrence; elsewhere the
    selection is empty and the output is zero."""
    rasp = rasp_language()
    previous = rasp.Select(rasp.indices, rasp.indices, lambda k, q: k == q - 1)
    prev_token = rasp.Aggregate(previous, rasp.tokens)
    match = rasp.Select(prev_token, rasp.tokens, rasp.Comparison.EQ)
    return rasp.Aggregate(match, rasp.tokens)


def shifted_previous_token_rasp(vocab: int) -> Any:
    """A look-alike distractor: a head with the previous-token head's selector that copies the
    previous token shifted by one (an MLP maps ``t -> t + 1 mod vocab`` first)."""
    rasp = rasp_language()
    shifted = rasp.Map(lambda t: (t + 1) % vocab, rasp.tokens)
    previous = rasp.Select(rasp.indices, rasp.indices, lambda k, q: k == q - 1)
    return rasp.Aggregate(previous, shifted)


def histogram_rasp() -> Any:
    """A distractor: how often each token occurs so far (a head and an MLP)."""
    rasp = rasp_language()
    return rasp.SelectorWidth(rasp.Select(rasp.tokens, rasp.tokens, rasp.Comparison.EQ))


def repeat_sample(vocab: int) -> Any:
    """Sampler of :class:`~mechequiv.zoo.tracr.Program` inputs for :func:`induction_rasp`:
    ``m`` distinct tokens (``m`` uniform in ``ceil(length / 2) .. length - 1``), then a copy of
    ``length - m`` consecutive ones of them from a random start. Every token occurs at most
    twice, so each repeated token's earlier occurrence, and the token after it, is unique."""

    def sample(rng: np.random.Generator, n: int, length: int) -> list[list[int]]:
        if not 2 <= length <= 2 * vocab - 1:
            raise ValueError(f"length must lie in 2..{2 * vocab - 1} for {vocab} tokens")
        rows = []
        for _ in range(n):
            m = int(rng.integers((length + 1) // 2, length))
            m = min(m, vocab)
            first = [int(t) for t in rng.choice(vocab, m, replace=False)]
            k = length - m
            start = int(rng.integers(0, m - k + 1))
            rows.append(first + first[start : start + k])
        return rows

    return sample


def tracr_induction(vocab: int = 8, max_len: int = 8, distractors: bool = True) -> Any:
    """Induction compiled by Tracr (causal), as a :class:`~mechequiv.zoo.tracr.CompiledProgram`
    whose ground truth is known by construction: heads L0H0 (previous token) and L1H0
    (induction), no MLP, and the one edge L0H0 -> L1H0's key.

    ``distractors``: two programs run beside it on the same tokens and never reach the output
    (:func:`~mechequiv.zoo.tracr.with_distractor`): :func:`shifted_previous_token_rasp` (a
    previous-token head look-alike reading an MLP) and :func:`histogram_rasp` (a head and an
    MLP), so the model has 3 heads in layer 0, 3 in layer 1 and active MLPs in layer 0."""
    tokens = frozenset(range(vocab))
    sample = repeat_sample(vocab)
    main = compile_program(
        Program("induction", induction_rasp, tokens, max_len, sample), causal=True
    )
    if not distractors:
        return main
    look = Program("shifted_previous_token", lambda: shifted_previous_token_rasp(vocab), tokens,
                   max_len, sample)  # fmt: skip
    hist = Program("histogram", histogram_rasp, tokens, max_len, sample)
    out = with_distractor(main, compile_program(look, causal=True))
    return with_distractor(out, compile_program(hist, causal=True))


def repeated_positions(tokens: torch.Tensor) -> torch.Tensor:
    """``(n, t)`` mask of the positions whose token occurred earlier in the row (position 0, BOS,
    excluded): where induction predicts, the positions to score."""
    same = tokens[:, :, None] == tokens[:, None, :]  # (n, query, key)
    earlier = torch.ones(tokens.shape[1], tokens.shape[1], dtype=torch.bool).tril(-1)
    earlier[:, 0] = False
    return (same & earlier).any(-1)


def relabel(
    tokens: torch.Tensor, vocab: int, rng: np.random.Generator, skip: int = 1
) -> torch.Tensor:
    """Counterfactual rows: each row's tokens (from column ``skip`` on, leaving BOS) renamed by
    its own random permutation of ``0..vocab-1`` without fixed points, so the layout (which
    positions repeat which) is kept and every token, hence every induction answer, changes."""
    if vocab < 2:
        raise ValueError(f"relabelling needs at least 2 tokens; got vocab={vocab}")
    body = tokens[:, skip:]
    if body.numel() and not (int(body.min()) >= 0 and int(body.max()) < vocab):
        raise ValueError(
            f"tokens from column {skip} on must lie in 0..{vocab - 1}; got "
            f"{int(body.min())}..{int(body.max())}"
        )
    out = tokens.clone()
    for i in range(tokens.shape[0]):
        perm = np.arange(vocab)
        while np.any(perm == np.arange(vocab)):
            perm = rng.permutation(vocab)
        out[i, skip:] = torch.as_tensor(perm)[tokens[i, skip:]]
    return out


# ----------------------------------------------------------------------------------------------
# Induction set by hand: a TransformerLens-style attention-only model, distractors included


def handset_induction(vocab: int = 8, sharpness: float = 12.0, seed: int = 0) -> Any:
    """A 2-layer, 3-heads-per-layer attention-only transformer whose weights are set by hand
    to do induction, with distractor heads, as a :class:`~mechequiv.zoo.tracr.CompiledProgram`
    (model :class:`~mechequiv.zoo.tracr.TracrTransformer`: TransformerLens hook names, causal,
    no LayerNorm, no MLP weights) whose ground truth is known by construction.

    The residual stream is a sum of subspaces, rotated by a random orthogonal matrix (``seed``)
    so that no subspace is axis-aligned: tokens ``T`` (the vocabulary and BOS), positions
    ``P``, the previous token ``S``, the output ``O`` (the only one unembedded) and ``D1``,
    ``D2``, ``D3`` (distractor writes). Heads (attention logits ``sharpness`` on a match, 0
    otherwise):

    - L0H0, previous-token head: positional QK (query position ``i`` matches key ``i - 1``),
      OV copies ``T`` into ``S``;
    - L0H1, BOS head: every query matches BOS; OV copies ``T`` into ``D1`` (never varies,
      never read);
    - L0H2, current-token head: query ``i`` matches key ``i``; OV copies ``T`` into ``D2``;
    - L1H0, induction head: QK matches the query's token (``T``) with the key's previous token
      (``S``: K-composition with L0H0), OV copies ``T`` into ``O``;
    - L1H1, duplicate-token look-alike: query reads ``D2`` (from L0H2), key reads ``T``; OV
      writes positions into ``D3`` (never read);
    - L1H2: uniform attention, OV copies ``S`` (from L0H0) into ``D3`` (never read).

    The circuit: L0H0 and L1H0, and the edge L0H0 -> L1H0's key. The model also has the edges
    L0H2 -> L1H1's query and L0H0 -> L1H2's value, outside the circuit (their receivers never
    reach the output). Inputs: :func:`repeat_sample`, lengths up to ``2 * vocab - 1``.
    """
    n_tok, n_pos = vocab + 1, 2 * vocab  # tokens and BOS; BOS plus up to 2 * vocab - 1 tokens
    sizes = {"T": n_tok, "P": n_pos, "S": n_tok, "O": vocab, "D1": n_tok, "D2": n_tok, "D3": n_pos}
    start, d = {}, 0
    for name, size in sizes.items():
        start[name], d = d, d + size
    key = max(n_tok, n_pos)
    scale = sharpness * math.sqrt(key)  # TracrAttention divides logits by sqrt(key size)

    def read(space: str, pairs: list[tuple[int, int]], w: float = 1.0) -> torch.Tensor:
        """(d, key): residual direction ``space[i]`` -> key coordinate ``j``."""
        m = torch.zeros(d, key, dtype=torch.float64)
        for i, j in pairs:
            m[start[space] + i, j] = w
        return m

    def write(space: str, n: int) -> torch.Tensor:
        """(key, d): value coordinate ``i`` -> residual direction ``space[i]``."""
        m = torch.zeros(key, d, dtype=torch.float64)
        for i in range(n):
            m[i, start[space] + i] = 1.0
        return m

    ident_t = [(i, i) for i in range(n_tok)]
    ident_p = [(i, i) for i in range(n_pos)]
    zero = torch.zeros(d, key, dtype=torch.float64)
    bos = vocab  # token id of BOS
    layer0 = [  # (W_Q, W_K, W_V, W_O)
        (read("P", ident_p, scale), read("P", [(j, j + 1) for j in range(n_pos - 1)]),
         read("T", ident_t), write("S", n_tok)),
        (read("P", [(i, 0) for i in range(n_pos)], scale), read("T", [(bos, 0)]),
         read("T", ident_t), write("D1", n_tok)),
        (read("P", ident_p, scale), read("P", ident_p), read("T", ident_t), write("D2", n_tok)),
    ]  # fmt: skip
    layer1 = [
        (read("T", ident_t[:vocab], scale), read("S", ident_t[:vocab]), read("T", ident_t),
         write("O", vocab)),
        (read("D2", ident_t[:vocab], scale), read("T", ident_t[:vocab]), read("P", ident_p),
         write("D3", n_pos)),
        (zero, zero, read("S", ident_t), write("D3", n_tok)),
    ]  # fmt: skip
    # A random rotation of the residual stream: every read is R^T-rotated, every write R-rotated.
    gen = torch.Generator().manual_seed(seed)
    rot, _ = torch.linalg.qr(torch.randn(d, d, generator=gen, dtype=torch.float64))

    def block(heads: Sequence[tuple[torch.Tensor, ...]]) -> Any:
        q, k, v = (torch.stack([rot @ h[i] for h in heads]) for i in range(3))
        o = torch.stack([h[3] @ rot.T for h in heads])
        zk, zd = (
            torch.zeros(len(heads), key, dtype=torch.float64),
            torch.zeros(d, dtype=torch.float64),
        )
        attn = TracrAttention(q, k, v, o, zk, zk.clone(), zk.clone(), zd, causal=True)
        mlp = TracrMLP(torch.zeros(d, 1, dtype=torch.float64), torch.zeros(1, dtype=torch.float64),
                       torch.zeros(1, d, dtype=torch.float64), zd.clone())  # fmt: skip
        return TracrBlock(attn, mlp)

    token_embed = torch.zeros(n_tok, d, dtype=torch.float64)
    token_embed[torch.arange(n_tok), start["T"] + torch.arange(n_tok)] = 1.0
    pos_embed = torch.zeros(n_pos, d, dtype=torch.float64)
    pos_embed[torch.arange(n_pos), start["P"] + torch.arange(n_pos)] = 1.0
    unembed = torch.zeros(d, vocab, dtype=torch.float64)
    unembed[start["O"] + torch.arange(vocab), torch.arange(vocab)] = 1.0
    labels = [f"{name}:{i}" for name, size in sizes.items() for i in range(size)]
    model = TracrTransformer(token_embed @ rot.T, pos_embed @ rot.T, [block(layer0), block(layer1)],
                             rot @ unembed, {**{t: t for t in range(vocab)}, BOS: bos},
                             list(range(vocab)), labels)  # fmt: skip
    truth = TracrCircuit(
        heads=((0, 0), (1, 0)),
        mlps=(),
        neurons={},
        labels={"L0H0": ("previous token",), "L1H0": ("induction",)},
        n_layers=2,
        n_heads=3,
        edges=(((0, 0), (1, 0, "k")),),
    )
    return CompiledProgram("handset_induction", model, truth, None, repeat_sample(vocab))
