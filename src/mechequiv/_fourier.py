"""Fourier analysis on finite abelian groups, shared by the zoo's labels and the equivalence GetReprs.

A finite abelian group is given as a product of cyclic groups ``Z_{n_1} x ... x Z_{n_k}``
(:class:`CyclicProduct`). Elements and characters are both indexed by coordinates
``x = (x_1, ..., x_k)`` with ``0 <= x_i < n_i``, flattened in row-major (mixed-radix) order:
``index = ((x_1 n_2 + x_2) n_3 + x_3) ...``; for ``Z_p`` the index is the number itself. The
character ``k`` is ``chi_k(x) = exp(2 pi i sum_i k_i x_i / n_i)``, and a function's transform is
``F[k] = sum_x f(x) conj(chi_k(x))`` (numpy's FFT sign convention). For the binary operation
on ``G x G``, a grid of ``|G|²`` rows is ordered ``a_index * |G| + b_index``.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import gcd, lcm

import numpy as np


def strongest_covering(power: np.ndarray, coverage: float) -> tuple[int, ...]:
    """Indices (ascending) of the fewest entries, strongest first, whose sum holds ``coverage``
    of the total; ``power`` must be non-negative with a positive sum."""
    order = np.argsort(-power, kind="stable")
    n_key = int(np.searchsorted(np.cumsum(power[order]) / power.sum(), coverage - 1e-12) + 1)
    return tuple(sorted(int(i) for i in order[:n_key]))


@dataclass(frozen=True)
class CyclicProduct:
    """The group ``Z_{n_1} x ... x Z_{n_k}`` (see the module docstring for the conventions)."""

    orders: tuple[int, ...]

    def __post_init__(self) -> None:
        orders = tuple(self.orders)
        if not orders or any(
            isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2 for n in orders
        ):
            raise ValueError(f"a group needs cyclic orders that are ints >= 2; got {self.orders!r}")
        object.__setattr__(self, "orders", tuple(int(n) for n in orders))

    @classmethod
    def of(cls, group: int | tuple[int, ...] | CyclicProduct) -> CyclicProduct:
        """A group from ``p`` (``Z_p``), a tuple of orders, or a group (returned as it is)."""
        if isinstance(group, CyclicProduct):
            return group
        if isinstance(group, (int, np.integer)) and not isinstance(group, bool):
            return cls((int(group),))
        if isinstance(group, (tuple, list)):
            return cls(tuple(group))
        raise TypeError(
            f"a group is an int p, a tuple of cyclic orders or a CyclicProduct; got {group!r}"
        )

    @property
    def size(self) -> int:
        return int(np.prod(self.orders))

    @property
    def exponent(self) -> int:
        """The largest order of an element (lcm of the cyclic orders)."""
        return lcm(*self.orders)

    def coordinates(self, index: np.ndarray | int) -> np.ndarray:
        """``(..., k)`` coordinates of flat element (or character) indices."""
        coords: np.ndarray = np.stack(np.unravel_index(np.asarray(index), self.orders), axis=-1)
        return coords

    def index(self, coords: np.ndarray) -> np.ndarray:
        """Flat indices of ``(..., k)`` coordinates (reduced mod the orders)."""
        c = np.asarray(coords) % np.array(self.orders)
        result: np.ndarray = np.ravel_multi_index(tuple(np.moveaxis(c, -1, 0)), self.orders)
        return result

    def multiple(self, k: int, j: int) -> int:
        """The flat index of ``j * k`` (``k`` a flat character index)."""
        return int(self.index(j * self.coordinates(k)))

    def order(self, k: int) -> int:
        """The order of the character (or element) with flat index ``k``."""
        c = self.coordinates(k)
        return lcm(*(n // gcd(int(x), n) for x, n in zip(c, self.orders, strict=True)))

    def grid(self) -> tuple[np.ndarray, np.ndarray]:
        """Flat indices ``(a, b)`` of the ``|G|²`` pairs in the order ``a * |G| + b``."""
        n = self.size
        return np.repeat(np.arange(n), n), np.tile(np.arange(n), n)

    def dft2(self, h: np.ndarray) -> np.ndarray:
        """``(|G|, |G|, D)`` complex transform over (a, b) of grid rows ``h`` of shape (|G|², D)."""
        n, k = self.size, len(self.orders)
        if h.ndim != 2 or h.shape[0] != n * n:
            raise ValueError(
                f"expected the full grid of |G|² = {n * n} rows (a * |G| + b), got shape {h.shape}"
            )
        f = np.fft.fftn(h.reshape(*self.orders, *self.orders, -1), axes=tuple(range(2 * k)))
        return f.reshape(n, n, -1)

    def module_classes(self) -> list[int]:
        """One representative per class ``{k, -k}`` of non-trivial characters, ascending."""
        seen, reps = set(), []
        for k in range(1, self.size):
            if k not in seen:
                reps.append(k)
                seen.update({k, self.multiple(k, -1)})
        return reps

    def module_power(self, grid_fft: np.ndarray) -> np.ndarray:
        """Power of each character's module (one per :meth:`module_classes` entry): the squared
        modes ``(j1 k, j2 k)`` with ``j1, j2`` in {0, 1, -1}, not both 0, summed over features."""
        power = (np.abs(grid_fft) ** 2).sum(axis=2)
        out = []
        for k in self.module_classes():
            ks = np.unique([0, k, self.multiple(k, -1)])
            out.append(power[np.ix_(ks, ks)].sum() - power[0, 0])
        return np.array(out)

    def harmonics(self, k: int, J: int) -> np.ndarray:
        """The distinct multipliers ``j`` (smallest |j| first, ``-J <= j <= J``) of a character of
        order ``order(k)``: ``j`` and ``j + order`` give the same mode, so each residue once."""
        m = self.order(k)
        out: dict[int, int] = {}
        for j in sorted(range(-J, J + 1), key=lambda v: (abs(v), v)):
            out.setdefault(j % m, j)
        return np.array(sorted(out.values()))
