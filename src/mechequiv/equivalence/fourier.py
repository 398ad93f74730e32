"""GetReprs for modular addition that quotients out which Fourier frequencies a model uses.

A network trained on (a + b) mod p computes with Fourier features (Nanda et al. 2023; Zhong et
al. 2023): it is a sum of *modules*, one per key frequency w, each a function of the phases
(w a, w b). Which frequencies a seed picks is arbitrary. Multiplying every number by a unit u of
Z_p (a -> u a) is an exact symmetry of the task that moves a module from frequency w to
u⁻¹ w and keeps a Pizza a Pizza and a Clock a Clock; but it permutes the inputs, so a linear
map between representations cannot undo it. On raw activations, two Pizzas with different
frequencies are therefore about as far apart as a Pizza and a Clock (on the zoo's Pizza/Clock
recipe, Congruity within 0.96-0.98, across 0.73; see benchmarks/bench_congruity.py).

:class:`FourierModuleReprs` captures activations over the full p x p grid, takes their 2-D
discrete Fourier transform over (a, b), finds the model's key frequencies, and moves each module
to frequency 1: module w keeps the modes (j1 w, j2 w) mod p with |j1|, |j2| <= ``harmonics``
(the constant mode left out), read as modes (j1, j2), i.e. the module re-indexed by
a -> w⁻¹ a. Since w and -w are the same frequency (and a -> -a is a symmetry too), each module
also enters re-indexed by a -> -w⁻¹ a. Modules and orientations are concatenated along
features, so the representation is (p², 2 K D) for K key frequencies and D captured features,
rows in the grid's order. Any distance then compares
*what each module computes* rather than *at which frequency*.

Every module lives on the same (2J + 1)² - 1 real Fourier modes of the canonical grid, so the
representation has rank at most 8 for J = 1, whatever its width: a distance compares how each
feature's module spreads its energy over those modes (a Pizza's attention output has energy
only on (±1, 0) and (0, ±1), since it adds E_a and E_b; a Clock's also on (±1, ±1), since it
multiplies them: measured on the zoo recipe, 0.000 of the Pizzas' and 7-11% of the Clocks'
attention-output energy sits on those diagonal modes). The norm-bounded distance, and CKA and Procrustes on wide inputs, use an
exact low-rank factor (:func:`mechequiv.measures._linalg.low_rank_factor`), so the width costs
little.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from math import gcd
from typing import Any

import numpy as np
import torch
from torch import nn

from mechequiv._fourier import strongest_covering
from mechequiv.equivalence.patched import PatchedModel
from mechequiv.equivalence.reprs import LayerReprs, default_points
from mechequiv.errors import MechequivError
from mechequiv.measures._validate import check_int

Frequencies = Sequence[int] | Callable[[nn.Module], Sequence[int]]


def mechanism_points(model: nn.Module) -> list[str]:
    """Where a transformer forms the sum: each block's attention output and MLP neurons.

    ``blocks.{i}.attn`` and ``blocks.{i}.mlp.act`` where the model has them (the zoo's
    transformers), else :func:`~mechequiv.equivalence.reprs.default_points`. The residual stream
    after a block is a poor place to tell Pizza from Clock: it must produce the same logits in
    both (measured on the zoo recipe: Congruity across 0.62 there, 0.00 at these points).
    """
    base = model.model if isinstance(model, PatchedModel) else model
    names = {name for name, _ in base.named_modules()}
    blocks = getattr(base, "blocks", None)
    if isinstance(blocks, nn.ModuleList) and all(
        {f"blocks.{i}.attn", f"blocks.{i}.mlp.act"} <= names for i in range(len(blocks))
    ):
        return [f"blocks.{i}.{part}" for i in range(len(blocks)) for part in ("attn", "mlp.act")]
    return default_points(base)


def module_power(grid_fft: np.ndarray) -> np.ndarray:
    """Power of each frequency's module, ``w = 1 .. p // 2``: the squared modes (k1, k2) with
    k1, k2 in {0, w, -w}, not both 0, summed over features. ``grid_fft``: (p, p, D) complex."""
    p = grid_fft.shape[0]
    power = (np.abs(grid_fft) ** 2).sum(axis=2)
    out = np.empty(p // 2)
    for w in range(1, p // 2 + 1):
        ks = np.unique([0, w, p - w])
        out[w - 1] = power[np.ix_(ks, ks)].sum() - power[0, 0]
    return out


def key_frequencies(power: np.ndarray, coverage: float) -> tuple[int, ...]:
    """The fewest frequencies, strongest first, whose module power holds ``coverage`` of the total."""
    if power.sum() <= 0:
        raise MechequivError("the representation is constant over the grid: no Fourier module")
    return tuple(i + 1 for i in strongest_covering(power, coverage))


class FourierModuleReprs:
    """GetReprs for (a + b) mod p: Fourier modules moved to frequency 1 (see module doc).

    Parameters
    ----------
    p : int
        The modulus. Inputs must be the full grid, ``p²`` rows in the order ``a * p + b`` (the
        zoo's ``modular_addition`` task).
    points : sequence of module names, optional
        Hook points, concatenated. Default: :func:`mechanism_points` of the model.
    harmonics : int
        J: modes (j1 w, j2 w) with |j1|, |j2| <= J are kept per module (J = 1: the module's
        fundamental, 8 modes; measured on the zoo recipe J = 1 separates Pizza from Clock,
        J = 2 already mixes in other modules' overtones).
    frequencies : sequence of int or callable(model) -> sequence of int, optional
        The key frequencies. Default: found per model from the captured representation, the
        fewest whose module power (:func:`module_power`) holds ``coverage`` of the total.
    coverage : float
        See ``frequencies``.
    tokens : token policy
        Passed to :class:`~mechequiv.equivalence.reprs.LayerReprs` (default: last token).

    Returns float64 (p², 2 K D) tensors; ``last_frequencies`` holds the key frequencies of the
    latest call. Every key frequency must be a unit mod p (always, for prime p).
    """

    def __init__(
        self,
        p: int,
        points: Sequence[Hashable] | None = None,
        harmonics: int = 1,
        frequencies: Frequencies | None = None,
        coverage: float = 0.9,
        tokens: str = "last",
    ) -> None:
        check_int(p, "p", 3)
        check_int(harmonics, "harmonics", 1)
        if 2 * harmonics + 1 > p:
            raise ValueError(f"harmonics={harmonics} needs 2 * harmonics + 1 <= p = {p}")
        if not 0.0 < coverage <= 1.0:
            raise ValueError(f"coverage must lie in (0, 1], got {coverage}")
        self.p, self.points, self.harmonics = p, points, harmonics
        self.frequencies, self.coverage, self.tokens = frequencies, coverage, tokens
        self.last_frequencies: tuple[int, ...] = ()

    def __call__(self, model: nn.Module, inputs: Any) -> torch.Tensor:
        p = self.p
        points = self.points if self.points is not None else mechanism_points(model)
        h = LayerReprs(points, self.tokens)(model, inputs).numpy()
        if h.shape[0] != p * p:
            raise ValueError(
                f"FourierModuleReprs needs the full grid of p² = {p * p} pairs (rows a * p + b), "
                f"got {h.shape[0]} rows"
            )
        f = np.fft.fft2(h.reshape(p, p, -1), axes=(0, 1))
        keys = self._keys(model, f)
        j = np.arange(-self.harmonics, self.harmonics + 1)
        j1, j2 = (g.ravel() for g in np.meshgrid(j, j, indexing="ij"))
        keep = (j1 != 0) | (j2 != 0)
        j1, j2 = j1[keep], j2[keep]
        # basis[m, a * p + b] = exp(2 pi i (j1 a + j2 b) / p) / p²: the inverse DFT of mode m
        a, b = np.repeat(np.arange(p), p), np.tile(np.arange(p), p)
        basis = np.exp(2j * np.pi * (np.outer(j1, a) + np.outer(j2, b)) / p) / (p * p)
        # w and -w are one frequency, and a -> -a is also a symmetry of the task: each module
        # enters in both orientations, so that relabelling by -1 permutes features.
        modules = [
            (basis.T @ f[(sign * j1 * w) % p, (sign * j2 * w) % p]).real
            for w in keys
            for sign in (1, -1)
        ]
        self.last_frequencies = keys
        return torch.from_numpy(np.concatenate(modules, axis=1))

    def _keys(self, model: nn.Module, f: np.ndarray) -> tuple[int, ...]:
        if self.frequencies is None:
            keys = key_frequencies(module_power(f), self.coverage)
        else:
            given = self.frequencies(model) if callable(self.frequencies) else self.frequencies
            keys = tuple(int(w) for w in given)
            if not keys:
                raise ValueError("no key frequencies given")
        for w in keys:
            if gcd(w, self.p) != 1:
                raise ValueError(
                    f"frequency {w} is not a unit mod p = {self.p}, so no relabelling a -> u a "
                    "moves it to frequency 1 (use a prime p)"
                )
        return keys

    def __repr__(self) -> str:
        return (
            f"FourierModuleReprs(p={self.p}, points={self.points}, harmonics={self.harmonics}, "
            f"coverage={self.coverage})"
        )
