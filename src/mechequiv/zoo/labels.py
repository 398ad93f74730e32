"""Mechanism labels for modular addition: Clock or Pizza, and which Fourier frequencies.

Definitions follow Zhong et al. (2023, "The Clock and the Pizza", their evaluation code) and
Nanda et al. (2023, "Progress measures for grokking via mechanistic interpretability").

- **Gradient symmetricity**: for an input pair (a, b) and an output class c, let Q_c be the
  logit of c at the final position and E_a, E_b the token embeddings at positions 0 and 1 (the
  output of ``embed``, before positional embeddings). Symmetricity is the mean, over triples
  (a, b, c), of ``cos(dQ_c/dE_a, dQ_c/dE_b)``. A Pizza model's logits depend on E_a + E_b and
  score near 1 (Zhong et al. report ~0.99); a Clock model multiplies embeddings and scores much
  lower (~0.3-0.5 typical). Zhong et al. estimate it from 100 random triples; we average over
  all p³ triples unless ``n_triples`` asks for a seeded sample.
- **Distance irrelevance**: with ``Q(a, b)`` the correct-class logit, group all pairs by their
  distance ``d = (a - b) mod p``; distance irrelevance is the mean over d of the standard
  deviation of Q within the group, divided by the standard deviation of Q over all pairs
  (population standard deviations, as in their code). A Clock's correct logit does not depend
  on a - b (near 1); a Pizza's varies with |cos(w (a - b) / 2)| (small).
- **Key frequencies**: the discrete Fourier transform of the number-token embeddings along the
  token axis; the power of frequency k (1 <= k <= p // 2, k and p - k together, the constant
  k = 0 left out) summed over embedding dimensions, as a fraction of the total. Key frequencies
  are the fewest frequencies, strongest first, that hold ``coverage`` of the power (Nanda et al.
  find a handful in a trained model; a random embedding spreads its power over all).

Models that are not the zoo's (TransformerLens models, plain torch modules with separate a / b
vocabularies, MLPs on summed embeddings, models with LayerNorm): pass the modulus ``p`` instead of
a zoo task, ``encode(a, b) -> inputs`` (the model's inputs for the operand tensors, rows in the
order ``a * p + b``) and, for gradient symmetricity and key frequencies, ``embeddings``: one hook
point whose output holds E_a and E_b at sequence ``positions`` (``"hook_embed"`` of a
TransformerLens model, the default there), or two hook points, the a- and the b-embedding. Hook
points are module names, or TransformerLens hook names for models with ``hook_dict``. The gradient
is taken with respect to the hook point's output, through plain autograd in float64. For an MLP
on ``E_a + E_b`` the two gradients are equal, so its symmetricity is 1 by construction: the
measure cannot call such a model a Clock (distance irrelevance can).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from mechequiv._fourier import strongest_covering
from mechequiv.errors import MechequivError
from mechequiv.zoo.models import MLP, BilinearMLP, TokenTransformer
from mechequiv.zoo.tasks import Task
from mechequiv.zoo.tasks.modular import operands

Encode = Callable[[torch.Tensor, torch.Tensor], Any]
Output = Callable[[Any], torch.Tensor]
Embeddings = str | tuple[str, str]


def _check_modular(task: object) -> int:
    if not isinstance(task, Task):
        raise TypeError(f"expected a Task, got {type(task).__name__}")
    if task.name != "modular_addition":
        raise ValueError(f"mechanism labels need a modular_addition task, got {task.name!r}")
    return task.n_outputs


def _grid(task: Task | int, encode: Encode | None) -> tuple[int, Any, torch.Tensor, torch.Tensor]:
    """(p, model inputs, a, b) of the full grid, from a zoo task or from ``p`` and ``encode``."""
    if isinstance(task, Task):
        p = _check_modular(task)
        a, b = operands(task)
        return p, (task.inputs if encode is None else encode(a, b)), a, b
    if isinstance(task, bool) or not isinstance(task, int) or task < 3:
        raise TypeError(f"expected a modular_addition Task or a modulus p >= 3, got {task!r}")
    if encode is None:
        raise ValueError("with a modulus p instead of a zoo task, pass encode(a, b) -> inputs")
    p = task
    a, b = torch.arange(p).repeat_interleave(p), torch.arange(p).repeat(p)
    return p, encode(a, b), a, b


def _answer(out: Any, p: int, output: Output | None) -> torch.Tensor:
    if output is not None:
        logits = output(out)
    else:
        logits = getattr(out, "logits", out)
        logits = logits[:, -1] if isinstance(logits, torch.Tensor) and logits.ndim == 3 else logits
    if not isinstance(logits, torch.Tensor) or logits.ndim != 2 or logits.shape[1] != p:
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ValueError(
            f"expected (n, p = {p}) answer logits from the model (pass output=), got {shape}"
        )
    return logits


def _hook_modules(model: nn.Module) -> dict[str, nn.Module]:
    hooks = getattr(model, "hook_dict", None)
    return dict(hooks) if isinstance(hooks, dict) else dict(model.named_modules())


def _default_embeddings(model: nn.Module) -> Embeddings:
    if isinstance(model, TokenTransformer):
        return "embed"
    if "hook_embed" in _hook_modules(model):
        return "hook_embed"
    raise TypeError(
        "gradient symmetricity needs the token embeddings: the zoo's TokenTransformer, a "
        f"TransformerLens model, or embeddings= (hook point names) for {type(model).__name__}"
    )


def _embedding_grads(
    model: nn.Module, inputs: Any, p: int, embeddings: Embeddings, positions: tuple[int, int],
    output: Output | None,
) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """Gradients of every logit with respect to E_a and E_b: two (rows, p, d) float64 tensors."""
    names = [embeddings] if isinstance(embeddings, str) else list(embeddings)
    if len(names) not in (1, 2):
        raise ValueError(f"embeddings must be one hook point or two (a, b); got {embeddings!r}")
    model64 = copy.deepcopy(model).to(torch.float64).eval()
    modules = _hook_modules(model64)
    missing = [n for n in names if n not in modules]
    if missing:
        raise ValueError(f"no hook point {missing} in the model (embeddings=)")
    leaves: dict[str, torch.Tensor] = {}

    def make_hook(name: str) -> Callable[[nn.Module, Any, torch.Tensor], torch.Tensor]:
        def hook(_module: nn.Module, _args: Any, out: torch.Tensor) -> torch.Tensor:
            leaf = out.detach().requires_grad_(True)
            leaves[name] = leaf
            return leaf

        return hook

    handles = [modules[n].register_forward_hook(make_hook(n)) for n in names]
    try:
        with torch.enable_grad():
            cast = _float_inputs(inputs)
            out = model64(*cast) if isinstance(cast, tuple) else model64(cast)
            logits = _answer(out, p, output)
            if set(leaves) != set(names):
                raise MechequivError(f"the embedding hook points {names} did not run")
            grads = [
                torch.autograd.grad(
                    logits[:, c].sum(), [leaves[n] for n in names], retain_graph=True
                )
                for c in range(p)
            ]
    finally:
        for h in handles:
            h.remove()
    if len(names) == 1:
        g = torch.stack([gr[0] for gr in grads], 1)  # (rows, p, t, d)
        if g.ndim != 4:
            raise ValueError(
                f"hook point {names[0]!r} gives {g.ndim - 1}-D activations; one point needs "
                "(rows, positions, d): pass two points (a, b) otherwise"
            )
        return g[:, :, positions[0]], g[:, :, positions[1]]
    ga, gb = (torch.stack([gr[i] for gr in grads], 1) for i in (0, 1))
    return ga.flatten(2), gb.flatten(2)


def _float_inputs(inputs: Any) -> Any:
    def cast(v: Any) -> Any:
        return v.to(torch.float64) if isinstance(v, torch.Tensor) and v.is_floating_point() else v

    return tuple(cast(v) for v in inputs) if isinstance(inputs, tuple) else cast(inputs)


def gradient_symmetricity(
    model: nn.Module,
    task: Task | int,
    n_triples: int | None = None,
    seed: int = 0,
    *,
    encode: Encode | None = None,
    embeddings: Embeddings | None = None,
    positions: tuple[int, int] = (0, 1),
    output: Output | None = None,
) -> float:
    """Mean cosine between the gradients of a logit with respect to E_a and E_b (see module doc).

    Parameters
    ----------
    model : nn.Module
        The zoo's TokenTransformer, a TransformerLens model, or any module given ``embeddings``.
    task : Task or int
        The zoo's ``modular_addition`` task (token encoding), or the modulus p (with ``encode``).
    n_triples : int or None
        ``None``: exact mean over all p³ triples (a, b, c). Otherwise a mean over that many
        distinct triples drawn with ``numpy.random.default_rng(seed)``.
    encode, embeddings, positions, output
        For models that are not the zoo's: see the module docstring. ``output(model(x))`` gives
        (n, p) answer logits (default: ``.logits`` if present, the last position of 3-D outputs).

    Triples whose gradient vanishes at either position are left out of the mean.
    """
    if isinstance(task, Task):
        _check_modular(task)
    if embeddings is None:
        embeddings = _default_embeddings(model)
    if isinstance(task, Task) and encode is None and task.input_kind != "tokens":
        raise ValueError("gradient symmetricity needs the token encoding of modular_addition")
    p, inputs, _, _ = _grid(task, encode)
    if n_triples is not None and (
        isinstance(n_triples, bool) or not isinstance(n_triples, int) or n_triples < 1
    ):
        raise ValueError(f"n_triples must be a positive int or None, got {n_triples!r}")
    ga, gb = _embedding_grads(model, inputs, p, embeddings, positions, output)
    norms = ga.norm(dim=-1) * gb.norm(dim=-1)
    cos = ((ga * gb).sum(-1) / norms).reshape(-1).detach()  # triple (row, c) at row * p + c
    valid = (norms.reshape(-1) > 0).detach().numpy()
    if n_triples is not None:
        pick = np.random.default_rng(seed).choice(p**3, size=min(n_triples, p**3), replace=False)
        mask = np.zeros(p**3, dtype=bool)
        mask[pick] = True
        valid &= mask
    if not valid.any():
        raise MechequivError("every gradient with respect to the embeddings is zero")
    return float(cos.numpy()[valid].mean())


def correct_logits(
    model: nn.Module,
    task: Task | int,
    *,
    encode: Encode | None = None,
    output: Output | None = None,
) -> np.ndarray:
    """The logit of the correct class for every pair, float64 ``(p²,)`` in row order ``a*p + b``."""
    p, inputs, a, b = _grid(task, encode)
    with torch.no_grad():
        out = model(*inputs) if isinstance(inputs, tuple) else model(inputs)
    try:
        logits = _answer(out, p, output)
    except ValueError as e:
        raise ValueError(f"model(task.inputs) must give logits of shape {(p * p, p)}: {e}") from e
    if logits.shape[0] != p * p:
        raise ValueError(
            f"model(task.inputs) must give logits of shape {(p * p, p)}, got {tuple(logits.shape)}"
        )
    return logits[torch.arange(p * p), (a + b) % p].to(torch.float64).numpy()


def distance_irrelevance(
    model: nn.Module,
    task: Task | int,
    *,
    encode: Encode | None = None,
    output: Output | None = None,
) -> float:
    """Mean within-distance std of the correct logit over its overall std (see module doc)."""
    p, _, a, b = _grid(task, encode)
    q = correct_logits(model, task, encode=encode, output=output)
    d = ((a - b) % p).numpy()
    total = q.std()
    if total == 0:
        raise MechequivError("the correct logit is constant over all pairs; ratio undefined")
    return float(np.mean([q[d == k].std() for k in range(p)]) / total)


def number_embeddings(
    model: nn.Module,
    task: Task | int,
    *,
    encode: Encode | None = None,
    embeddings: Embeddings | None = None,
    positions: tuple[int, int] = (0, 1),
) -> np.ndarray:
    """``(p, D)`` float64: each number's embedding, a- and b-embeddings side by side.

    TokenTransformer: rows of ``embed.weight`` for the number tokens (the b-tokens ``p..2p-1``
    are appended as columns when distinct). MLP and BilinearMLP on one-hot ``[e_a; e_b]``: the
    columns of the first linear map belonging to ``e_a`` and to ``e_b``. Any other model with
    ``embeddings`` (and ``encode``, see the module docstring; TransformerLens: ``hook_embed`` by
    default): the embedding hook points' outputs for a = 0 .. p-1 (b = 0) and b = 0 .. p-1 (a = 0).
    """
    if embeddings is not None or not isinstance(model, TokenTransformer | MLP | BilinearMLP):
        if embeddings is None and "hook_embed" not in _hook_modules(model):
            raise TypeError(
                "expected a TokenTransformer, MLP or BilinearMLP, or embeddings= (hook points) for "
                f"{type(model).__name__}"
            )
        return _captured_embeddings(model, task, encode, embeddings or "hook_embed", positions)
    p = _check_modular(task)
    assert isinstance(task, Task)  # _check_modular refused anything else
    if isinstance(model, TokenTransformer):
        w = model.embed.weight.detach()
        blocks = [w[:p], w[p : 2 * p]] if task.kwargs.get("distinct_b_tokens") else [w[:p]]
    else:
        first = model[0] if isinstance(model, MLP) else model.embed
        w = cast(torch.Tensor, first.weight).detach()  # a Linear layer in both zoo models
        if w.shape[1] != 2 * p:
            raise ValueError(
                f"expected a first layer on 2p = {2 * p} one-hot inputs, got {w.shape[1]}"
            )
        blocks = [w[:, :p].T, w[:, p:].T]
    return torch.cat(blocks, dim=1).to(torch.float64).numpy()


def _captured_embeddings(
    model: nn.Module, task: Task | int, encode: Encode | None, embeddings: Embeddings,
    positions: tuple[int, int],
) -> np.ndarray:  # fmt: skip
    from mechequiv.capture import capture
    from mechequiv.capture.adapters import TransformerLensAdapter

    p, inputs, a, b = _grid(task, encode)
    names = [embeddings] if isinstance(embeddings, str) else list(embeddings)
    runner = TransformerLensAdapter(model) if hasattr(model, "hook_dict") else model
    acts = capture(runner, inputs, names, progress=False)
    rows_a, rows_b = (b == 0).numpy(), (a == 0).numpy()  # a = 0..p-1 in order, then b
    if len(names) == 1:
        e = acts[names[0]]
        blocks = [e[rows_a][:, positions[0]], e[rows_b][:, positions[1]]]
    else:
        blocks = [acts[names[0]][rows_a], acts[names[1]][rows_b]]
    return torch.cat([x.reshape(p, -1) for x in blocks], 1).to(torch.float64).numpy()


@dataclass(frozen=True)
class FourierSpectrum:
    """Power of each frequency ``k = 1 .. p // 2`` (fractions summing to 1) and the key ones."""

    p: int
    power: tuple[float, ...]
    key: tuple[int, ...]
    coverage: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "p": self.p,
            "power": list(self.power),
            "key": list(self.key),
            "coverage": self.coverage,
        }

    def __repr__(self) -> str:
        return f"FourierSpectrum(p={self.p}, key={list(self.key)}, coverage={self.coverage})"


def fourier_spectrum(embeddings: Any, coverage: float = 0.9) -> FourierSpectrum:
    """Fourier power of ``(p, D)`` number embeddings along the number axis (see module doc)."""
    e = np.asarray(
        embeddings.detach() if isinstance(embeddings, torch.Tensor) else embeddings,
        dtype=np.float64,
    )
    if e.ndim != 2 or e.shape[0] < 3:
        raise ValueError(f"embeddings must be (p, D) with p >= 3, got shape {e.shape}")
    if not 0.0 < coverage <= 1.0:
        raise ValueError(f"coverage must lie in (0, 1], got {coverage}")
    p = e.shape[0]
    spec = np.abs(np.fft.fft(e, axis=0)) ** 2  # (p, D)
    per_k = spec.sum(axis=1)
    ks = np.arange(1, p // 2 + 1)
    power = per_k[ks] + np.where(ks != p - ks, per_k[p - ks], 0.0)
    total = power.sum()
    if total == 0:
        raise MechequivError("the embeddings are constant over numbers: no Fourier power")
    frac = power / total
    key = tuple(int(ks[i]) for i in strongest_covering(frac, coverage))
    return FourierSpectrum(p=p, power=tuple(frac.tolist()), key=key, coverage=coverage)


@dataclass(frozen=True)
class MechanismLabels:
    """Clock/Pizza diagnostics of one modular-addition model.

    ``kind`` is ``"pizza"`` when gradient symmetricity >= ``threshold`` (default 0.9: Zhong et
    al.'s Pizza models sit near 0.99, Clocks well below), ``"clock"`` below it, ``None`` without
    symmetricity (non-transformers) or when the model has not learned the task (test accuracy
    below ``min_accuracy``, default 0.95: a memorising model has no mechanism to name; a lone
    Pizza may stay a few pairs short of 100%, on pairs where ``cos(w (a - b) / 2)`` is near 0).
    """

    gradient_symmetricity: float | None
    distance_irrelevance: float
    key_frequencies: tuple[int, ...]
    test_accuracy: float
    kind: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "gradient_symmetricity": self.gradient_symmetricity,
            "distance_irrelevance": self.distance_irrelevance,
            "key_frequencies": list(self.key_frequencies),
            "test_accuracy": self.test_accuracy,
            "kind": self.kind,
        }


def mechanism_labels(
    model: nn.Module,
    task: Task | int,
    threshold: float = 0.9,
    min_accuracy: float = 0.95,
    *,
    encode: Encode | None = None,
    embeddings: Embeddings | None = None,
    positions: tuple[int, int] = (0, 1),
    output: Output | None = None,
) -> MechanismLabels:
    """Gradient symmetricity, distance irrelevance, key frequencies and a Clock/Pizza call
    (see :class:`MechanismLabels` for ``threshold`` and ``min_accuracy``). With a zoo task the
    accuracy is on its test split; with a modulus p (and ``encode``, see the module docstring)
    on the whole grid. Symmetricity is computed where the model exposes its embeddings (zoo
    TokenTransformer, TransformerLens, or ``embeddings`` given), else it is None."""
    p, inputs, a, b = _grid(task, encode)
    with torch.no_grad():
        out = model(*inputs) if isinstance(inputs, tuple) else model(inputs)
    pred = _answer(out, p, output).argmax(-1)
    labels = (a + b) % p
    rows = task.test_idx if isinstance(task, Task) else torch.arange(p * p)
    acc = float((pred[rows] == labels[rows]).to(torch.float64).mean())
    generic = embeddings is not None or not isinstance(model, TokenTransformer | MLP | BilinearMLP)
    has_embeddings = (
        embeddings is not None
        or isinstance(model, TokenTransformer)
        or ("hook_embed" in _hook_modules(model))
    )
    kw: dict[str, Any] = {"encode": encode, "embeddings": embeddings, "positions": positions}
    gs = (
        gradient_symmetricity(model, task, output=output, **kw)
        if has_embeddings and (generic or isinstance(model, TokenTransformer))
        else None
    )
    spectrum = (
        number_embeddings(model, task, **kw)
        if (generic and has_embeddings) or not generic
        else None
    )
    kind = None
    if gs is not None and acc >= min_accuracy:
        kind = "pizza" if gs >= threshold else "clock"
    return MechanismLabels(
        gradient_symmetricity=gs,
        distance_irrelevance=distance_irrelevance(model, task, encode=encode, output=output),
        key_frequencies=() if spectrum is None else fourier_spectrum(spectrum).key,
        test_accuracy=acc,
        kind=kind,
    )
