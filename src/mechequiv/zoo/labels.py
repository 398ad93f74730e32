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
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.func import jacrev, vmap

from mechequiv._fourier import strongest_covering
from mechequiv.errors import MechequivError
from mechequiv.zoo.models import MLP, BilinearMLP, TokenTransformer
from mechequiv.zoo.tasks import Task
from mechequiv.zoo.tasks.modular import operands


def _check_modular(task: Task) -> int:
    if not isinstance(task, Task):
        raise TypeError(f"expected a Task, got {type(task).__name__}")
    if task.name != "modular_addition":
        raise ValueError(f"mechanism labels need a modular_addition task, got {task.name!r}")
    return task.n_outputs


def gradient_symmetricity(
    model: nn.Module, task: Task, n_triples: int | None = None, seed: int = 0
) -> float:
    """Mean cosine between the gradients of a logit with respect to E_a and E_b (see module doc).

    Parameters
    ----------
    model : TokenTransformer
        A transformer of the zoo (it exposes the token embeddings through ``embed`` and
        ``forward_from_embeddings``).
    task : Task
        The ``modular_addition`` task (token encoding) it was trained on.
    n_triples : int or None
        ``None``: exact mean over all p³ triples (a, b, c). Otherwise a mean over that many
        distinct triples drawn with ``numpy.random.default_rng(seed)``.

    Triples whose gradient vanishes at either position are left out of the mean.
    """
    p = _check_modular(task)
    if not isinstance(model, TokenTransformer):
        raise TypeError(
            "gradient symmetricity needs the zoo's TokenTransformer (gradients with respect to "
            f"token embeddings), got {type(model).__name__}"
        )
    if task.input_kind != "tokens":
        raise ValueError("gradient symmetricity needs the token encoding of modular_addition")
    with torch.no_grad():
        emb = model.embed(task.inputs).to(torch.float64)
    model64 = _float64_copy(model)

    def logits_of(e: torch.Tensor) -> torch.Tensor:
        return model64.forward_from_embeddings(e.unsqueeze(0))[0]

    jac = vmap(jacrev(logits_of))(emb)  # (p², p, T, d)
    ga, gb = jac[:, :, 0, :], jac[:, :, 1, :]
    norms = ga.norm(dim=-1) * gb.norm(dim=-1)
    cos = ((ga * gb).sum(-1) / norms).reshape(-1).detach()  # triple (row, c) at row * p + c
    valid = (norms.reshape(-1) > 0).detach().numpy()
    if n_triples is not None:
        if isinstance(n_triples, bool) or not isinstance(n_triples, int) or n_triples < 1:
            raise ValueError(f"n_triples must be a positive int or None, got {n_triples!r}")
        pick = np.random.default_rng(seed).choice(p**3, size=min(n_triples, p**3), replace=False)
        mask = np.zeros(p**3, dtype=bool)
        mask[pick] = True
        valid &= mask
    if not valid.any():
        raise MechequivError("every gradient with respect to the embeddings is zero")
    return float(cos.numpy()[valid].mean())


def _float64_copy(model: nn.Module) -> nn.Module:
    return copy.deepcopy(model).to(torch.float64).eval()


def correct_logits(model: nn.Module, task: Task) -> np.ndarray:
    """The logit of the correct class for every pair, float64 ``(p²,)`` in row order ``a*p + b``."""
    _check_modular(task)
    with torch.no_grad():
        logits = model(task.inputs)
    if logits.shape != (len(task.inputs), task.n_outputs):
        raise ValueError(
            f"model(task.inputs) must give logits of shape {(len(task.inputs), task.n_outputs)}, "
            f"got {tuple(logits.shape)}"
        )
    rows = torch.arange(len(task.labels))
    return logits[rows, task.labels].to(torch.float64).numpy()


def distance_irrelevance(model: nn.Module, task: Task) -> float:
    """Mean within-distance std of the correct logit over its overall std (see module doc)."""
    p = _check_modular(task)
    q = correct_logits(model, task)
    a, b = operands(task)
    d = ((a - b) % p).numpy()
    total = q.std()
    if total == 0:
        raise MechequivError("the correct logit is constant over all pairs; ratio undefined")
    return float(np.mean([q[d == k].std() for k in range(p)]) / total)


def number_embeddings(model: nn.Module, task: Task) -> np.ndarray:
    """``(p, D)`` float64: each number's embedding, a- and b-embeddings side by side.

    TokenTransformer: rows of ``embed.weight`` for the number tokens (the b-tokens ``p..2p-1``
    are appended as columns when distinct). MLP and BilinearMLP on one-hot ``[e_a; e_b]``: the
    columns of the first linear map belonging to ``e_a`` and to ``e_b``.
    """
    p = _check_modular(task)
    if isinstance(model, TokenTransformer):
        w = model.embed.weight.detach()
        blocks = [w[:p], w[p : 2 * p]] if task.kwargs.get("distinct_b_tokens") else [w[:p]]
    elif isinstance(model, MLP | BilinearMLP):
        first = model[0] if isinstance(model, MLP) else model.embed
        w = first.weight.detach()
        if w.shape[1] != 2 * p:
            raise ValueError(
                f"expected a first layer on 2p = {2 * p} one-hot inputs, got {w.shape[1]}"
            )
        blocks = [w[:, :p].T, w[:, p:].T]
    else:
        raise TypeError(
            f"expected a TokenTransformer, MLP or BilinearMLP, got {type(model).__name__}"
        )
    return torch.cat(blocks, dim=1).to(torch.float64).numpy()


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
    model: nn.Module, task: Task, threshold: float = 0.9, min_accuracy: float = 0.95
) -> MechanismLabels:
    """Gradient symmetricity, distance irrelevance, key frequencies and a Clock/Pizza call
    (see :class:`MechanismLabels` for ``threshold`` and ``min_accuracy``)."""
    _check_modular(task)
    with torch.no_grad():
        pred = model(task.inputs).argmax(-1)
    acc = float((pred[task.test_idx] == task.labels[task.test_idx]).to(torch.float64).mean())
    gs = gradient_symmetricity(model, task) if isinstance(model, TokenTransformer) else None
    kind = None
    if gs is not None and acc >= min_accuracy:
        kind = "pizza" if gs >= threshold else "clock"
    return MechanismLabels(
        gradient_symmetricity=gs,
        distance_irrelevance=distance_irrelevance(model, task),
        key_frequencies=fourier_spectrum(number_embeddings(model, task)).key,
        test_accuracy=acc,
        kind=kind,
    )
