"""GetReprs for modular addition (or any finite abelian group operation) that quotients out which
Fourier frequencies (characters) a model uses.

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

Other groups. For a finite abelian group G = Z_{n_1} x ... x Z_{n_k}
(:class:`~mechequiv._fourier.CyclicProduct`; conventions there) the same construction runs over
characters: module k keeps the modes (j1 k, j2 k) of the 2-D transform over G x G and reads them
as modes (j1, j2) of the canonical grid Z_M x Z_M (M the exponent of G; a character of order m
becomes the frequency M/m there). An automorphism phi of G maps characters to characters of the
same order (k -> k o phi^-1) and multiples to multiples, so a model relabelled by phi has the same
modules with the same coefficients, only listed under other characters: its representation equals
the original's up to a permutation of module blocks. For Z_p, M = p and the canonical grid is the
stimulus grid. Rows are the M² canonical pairs (x, y) in the order x * M + y.

Models that are not the zoo's. ``points`` names hook points (module names, or TransformerLens hook
names such as ``blocks.0.hook_attn_out``: models with ``hook_dict`` are captured through
:class:`~mechequiv.capture.adapters.TransformerLensAdapter`) or is a function of the model;
``encode(a, b)`` turns the grid's operands (flat element indices, see
:meth:`~mechequiv._fourier.CyclicProduct.grid`) into the model's inputs, so models with other
tokenisations (separate vocabularies, one-hot features, an ``=`` token) are read on the same grid.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from mechequiv._fourier import CyclicProduct, strongest_covering
from mechequiv.capture.protocol import named_points
from mechequiv.equivalence.patched import PatchedModel
from mechequiv.equivalence.reprs import LayerReprs, default_points
from mechequiv.errors import MechequivError
from mechequiv.tokens import TokenPolicy
from mechequiv.validation import check_fraction, check_int

Frequency = int | tuple[int, ...]
Frequencies = Sequence[Frequency] | Callable[[nn.Module], Sequence[Frequency]]
Points = Sequence[Hashable] | Callable[[nn.Module], Sequence[Hashable]]
Encode = Callable[[torch.Tensor, torch.Tensor], Any]
Group = int | tuple[int, ...] | CyclicProduct


def mechanism_points(model: nn.Module) -> list[str]:
    """Where a transformer forms the sum: each block's attention output and MLP neurons.

    The model's ``"attention"`` and ``"mlp"`` hook points (:func:`mechequiv.capture.protocol.
    hook_points`: declared by the model, or by an adapter: ``blocks.{i}.attn`` and
    ``blocks.{i}.mlp.act`` of the zoo's transformers, ``blocks.{i}.hook_attn_out`` and
    ``blocks.{i}.mlp.hook_post`` of a TransformerLens model), block by block, those it has
    (attention-only models have no MLP); a model with neither gets
    :func:`~mechequiv.equivalence.reprs.default_points`. The residual stream after a block is a
    poor place to tell Pizza from Clock: it must produce the same logits in both (measured on the
    zoo recipe: Congruity across 0.62 there, 0.00 at these points).
    """
    base = model.model if isinstance(model, PatchedModel) else model
    roles = named_points(base)
    attention, mlp = roles.get("attention", []), roles.get("mlp", [])
    if not attention and not mlp:
        return default_points(base)
    mlp_of = {_block_of(p): p for p in mlp}
    out: list[str] = []
    for p in attention:
        out += [p, *([mlp_of.pop(_block_of(p))] if _block_of(p) in mlp_of else [])]
    return out + list(mlp_of.values())


def _block_of(point: str) -> str:
    """``blocks.3`` of ``blocks.3.mlp.act``: the point's block prefix (up to its first index)."""
    parts = point.split(".")
    for i, part in enumerate(parts):
        if part.isdigit():
            return ".".join(parts[: i + 1])
    return point


def module_power(grid_fft: np.ndarray, group: Group | None = None) -> np.ndarray:
    """Power of each frequency's module: for Z_p (``group`` None or p) ``w = 1 .. p // 2``, the
    squared modes (k1, k2) with k1, k2 in {0, w, -w}, not both 0, summed over features; for
    another group one entry per :meth:`~mechequiv._fourier.CyclicProduct.module_classes`.
    ``grid_fft``: (|G|, |G|, D) complex."""
    g = CyclicProduct.of(grid_fft.shape[0] if group is None else group)
    return g.module_power(grid_fft)


def key_frequencies(power: np.ndarray, coverage: float) -> tuple[int, ...]:
    """The fewest frequencies, strongest first, whose module power holds ``coverage`` of the total
    (1-based positions in ``power``: for Z_p, the frequencies themselves)."""
    if power.sum() <= 0:
        raise MechequivError("the representation is constant over the grid: no Fourier module")
    return tuple(i + 1 for i in strongest_covering(power, coverage))


@dataclass(frozen=True, eq=False)
class FourierModules:
    """A Fourier-module representation and the key frequencies it holds, in its column order
    (module k's columns: both orientations, 2 (2J+1)² - 2 modes per captured feature)."""

    values: torch.Tensor
    frequencies: tuple[Frequency, ...]

    def to_dict(self) -> dict[str, Any]:
        """The frequencies and the shape, JSON-safe (the values stay a tensor)."""
        return {
            "frequencies": [list(f) if isinstance(f, tuple) else f for f in self.frequencies],
            "shape": list(self.values.shape),
        }


class FourierModuleReprs:
    """GetReprs for a group operation on G x G: Fourier modules moved to frequency 1 (module doc).

    Parameters
    ----------
    p : int, tuple of ints or CyclicProduct
        The group: ``p`` for (a + b) mod p, or the cyclic orders of G = Z_{n_1} x ... x Z_{n_k}.
        Without ``encode`` the inputs must be the full grid, ``|G|²`` rows in the order
        ``a * |G| + b`` (the zoo's ``modular_addition`` task for Z_p).
    points : sequence of hook points, or callable(model) -> sequence, optional
        Where to read, concatenated. Default: :func:`mechanism_points` of the model.
    harmonics : int
        J: modes (j1 w, j2 w) with |j1|, |j2| <= J are kept per module (J = 1: the module's
        fundamental, 8 modes; measured on the zoo recipe J = 1 separates Pizza from Clock,
        J = 2 already mixes in other modules' overtones).
    frequencies : sequence or callable(model) -> sequence, optional
        The key frequencies: ints for Z_p (1 .. p - 1), coordinate tuples (or flat indices) of
        characters otherwise. Default: found per model from the captured representation, the
        fewest whose module power (:func:`module_power`) holds ``coverage`` of the total.
    coverage : float
        See ``frequencies``.
    tokens : token policy
        Passed to :class:`~mechequiv.equivalence.reprs.LayerReprs` (default: last token).
    encode : callable(a, b) -> inputs, optional
        Builds the model's inputs from the grid's operands (two int64 tensors of flat element
        indices, ``|G|²`` each, in grid order); the ``inputs`` given to the call are then ignored.

    Calling it returns float64 (M², 2 K D) tensors (M² = p² for Z_p), the GetReprs contract;
    :meth:`modules` returns the same values together with the key frequencies found
    (:class:`FourierModules`). Nothing is recorded on the object, so results do not depend on
    the order of calls and survive Ray (``last_frequencies`` is deprecated).
    """

    def __init__(
        self,
        p: Group,
        points: Points | None = None,
        harmonics: int = 1,
        frequencies: Frequencies | None = None,
        coverage: float = 0.9,
        tokens: TokenPolicy = "last",
        encode: Encode | None = None,
    ) -> None:
        self.group = CyclicProduct.of(p)
        check_int(self.group.size, "the group's size", 3)
        check_int(harmonics, "harmonics", 1)
        if len(self.group.orders) == 1 and 2 * harmonics + 1 > self.group.size:
            raise ValueError(
                f"harmonics={harmonics} needs 2 * harmonics + 1 <= p = {self.group.size}"
            )
        check_fraction(coverage, "coverage")
        if encode is not None and not callable(encode):
            raise TypeError(f"encode must be a callable (a, b) -> inputs, got {encode!r}")
        self.p = self.group.size if len(self.group.orders) == 1 else self.group.orders
        self.points, self.harmonics, self.encode = points, harmonics, encode
        self.frequencies, self.coverage, self.tokens = frequencies, coverage, tokens
        self._last: tuple[Frequency, ...] = ()  # only for the deprecated last_frequencies

    @property
    def last_frequencies(self) -> tuple[Frequency, ...]:
        """Deprecated: the key frequencies of the latest call on this object (lost under Ray
        and order-dependent); use :meth:`modules` and its ``frequencies``."""
        warnings.warn(
            "FourierModuleReprs.last_frequencies is deprecated: use reprs.modules(model, inputs)"
            ".frequencies (or quotient_modules) instead",
            DeprecationWarning,
            stacklevel=2,
        )
        return self._last

    def grid_inputs(self) -> Any:
        """The model inputs of the full grid (``encode`` applied to the grid's operands)."""
        if self.encode is None:
            raise ValueError("grid_inputs needs encode=")
        a, b = (torch.from_numpy(v) for v in self.group.grid())
        return self.encode(a, b)

    def __call__(self, model: nn.Module, inputs: Any = None) -> torch.Tensor:
        return self.modules(model, inputs).values

    def modules(self, model: nn.Module, inputs: Any = None) -> FourierModules:
        """The representation and the key frequencies it was built from."""
        if self.encode is not None:
            inputs = self.grid_inputs()
        points = self.points(model) if callable(self.points) else self.points
        points = points if points is not None else mechanism_points(model)
        h = LayerReprs(points, self.tokens)(model, inputs).numpy()
        return self.quotient_modules(h, model)

    def quotient(self, h: Any, model: nn.Module | None = None) -> torch.Tensor:
        """The quotient of grid activations ``h`` (|G|² rows in grid order, any width) that
        :meth:`__call__` returns after capturing them; ``model`` is passed to a callable
        ``frequencies``."""
        return self.quotient_modules(h, model).values

    def quotient_modules(self, h: Any, model: nn.Module | None = None) -> FourierModules:
        """:meth:`quotient` with the key frequencies it used."""
        g, n = self.group, self.group.size
        h = np.asarray(h.detach().cpu() if isinstance(h, torch.Tensor) else h, dtype=np.float64)
        h = h.reshape(h.shape[0], -1)
        if h.shape[0] != n * n:
            raise ValueError(
                f"FourierModuleReprs needs the full grid of |G|² = {n * n} pairs "
                f"(rows a * |G| + b), got {h.shape[0]} rows"
            )
        f = g.dft2(h)
        keys = self._keys(model, f)
        m_exp = g.exponent
        x, y = np.repeat(np.arange(m_exp), m_exp), np.tile(np.arange(m_exp), m_exp)
        modules = []
        for k in keys:
            order = g.order(k)
            j = g.harmonics(k, self.harmonics)
            j1, j2 = (v.ravel() for v in np.meshgrid(j, j, indexing="ij"))
            keep = (j1 != 0) | (j2 != 0)
            j1, j2 = j1[keep], j2[keep]
            # basis[m, x * M + y] = exp(2 pi i (j1 x + j2 y) / order) / |G|²: mode m of the module
            # on the canonical grid Z_M² (a character of order m is the frequency M / m there)
            basis = np.exp(2j * np.pi * (np.outer(j1, x) + np.outer(j2, y)) / order) / (n * n)
            # k and -k are one module, and a -> -a is a symmetry of the task too: each module
            # enters in both orientations, so that relabelling by -1 permutes features.
            for sign in (1, -1):
                rows = [g.multiple(k, sign * v) for v in j1]
                cols = [g.multiple(k, sign * v) for v in j2]
                modules.append((basis.T @ f[rows, cols]).real)
        frequencies = tuple(self._public(k) for k in keys)
        self._last = frequencies
        return FourierModules(torch.from_numpy(np.concatenate(modules, axis=1)), frequencies)

    def _public(self, k: int) -> Frequency:
        return (
            k if len(self.group.orders) == 1 else tuple(int(c) for c in self.group.coordinates(k))
        )

    def _flat(self, w: Any) -> int:
        g = self.group
        if isinstance(w, (tuple, list, np.ndarray)):
            if len(w) != len(g.orders):
                raise ValueError(f"frequency {tuple(w)} needs {len(g.orders)} coordinates")
            return int(g.index(np.array(w)))
        k = int(w)
        if not 0 < k < g.size:
            raise ValueError(f"frequency {w} must be a non-trivial character, 1 .. {g.size - 1}")
        return k

    def _keys(self, model: nn.Module | None, f: np.ndarray) -> tuple[int, ...]:
        if self.frequencies is None:
            classes = self.group.module_classes()
            picks = key_frequencies(self.group.module_power(f), self.coverage)
            return tuple(classes[i - 1] for i in picks)
        if callable(self.frequencies):
            if model is None:
                raise ValueError(
                    "frequencies is a function of the model: pass the model to quotient(h, model)"
                )
            given = self.frequencies(model)
        else:
            given = self.frequencies
        keys = tuple(self._flat(w) for w in given)
        if not keys:
            raise ValueError("no key frequencies given")
        if any(k == 0 for k in keys):
            raise ValueError("the trivial character (frequency 0) is not a module")
        return keys

    def __repr__(self) -> str:
        return (
            f"FourierModuleReprs(p={self.p}, points={self.points}, harmonics={self.harmonics}, "
            f"coverage={self.coverage})"
        )
