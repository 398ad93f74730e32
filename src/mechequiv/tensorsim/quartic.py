"""Each output of a two-layer net as one symmetric quartic tensor, packed once per model.

An output written as signed squares of quadratic forms, ``f = sum_r sigma_r (x~^T E_r x~)^2``
(:func:`~mechequiv.tensorsim.fullsym.output_squares`), is the quartic form of the fully
symmetric tensor ``P = Sym(sum_r sigma_r E_r (x) E_r)``, whose entry at a sorted index
``a <= b <= c <= d`` is

    P[abcd] = (S[ab, cd] + S[ac, bd] + S[ad, bc]) / 3,    S[ab, cd] = sum_r sigma_r E_r[ab] E_r[cd]

(the three ways to pair four legs; ``S`` is symmetric in each pair and between the pairs).
Only the ``C(n + 3, 4)`` sorted entries are kept. The fully symmetrised inner product of two
outputs is then ``sum_alpha w(alpha) P_a[alpha] P_b[alpha]`` with ``w`` the number of distinct
orderings of the index ``alpha`` (``4! / prod of the multiplicities' factorials``), and the
Gaussian form's degree-4 and degree-3 Hermite components are the entries with no or one index
0 (the constant coordinate), see :mod:`~mechequiv.tensorsim.gaussian`.

Forming ``P`` is a matrix product per output over ``r`` (the output's rank, at most the stream
width + 1): the rows ``(a, b)`` of ``S`` whose first index lies in a chunk ``[a0, a1)`` times
the columns ``(c, d)`` with ``c >= a0`` (every index of a sorted quadruple is at least its
first), about ``r n^4 / 8`` multiply-adds per output in all, then three gathers. This costs
each model once; a pair costs ``C(n + 3, 4) ~ n^4 / 24`` per output, where the per-pair
sums over both models' squares cost ``r_a r_b n^3``. Exact: the same sums, regrouped.
"""

from __future__ import annotations

import functools
import math
import weakref
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch

__all__ = [
    "BLOCK_ENTRIES",
    "QuarticBudget",
    "QuarticPlan",
    "block_entries",
    "form_cost",
    "live_extent",
    "pack_pairs",
    "quartic_chunks",
    "quartic_count",
    "quartic_plan",
    "weighted_dot",
]

BLOCK_ENTRIES = 2**14  # entries of one output's block of S: sets the chunks of first indices
CHUNK_ENTRIES = 2**23  # entries of a batch of outputs' blocks (64 MiB)
DOT_ROWS = 4096  # rows of the packed quartics multiplied at once in a pair
CACHED_INDEX_ENTRIES = 2**21  # the gathers of plans with at most this many quadruples are kept
# A GPU wants fewer, larger launches and has the memory for them.
CUDA_SIZES = {"block": 2**20, "chunk": 2**27, "cached": 2**25, "dot": 2**20}


def _sizes(device: torch.device) -> dict[str, int]:
    if device.type == "cuda":
        return CUDA_SIZES
    return {"block": BLOCK_ENTRIES, "chunk": CHUNK_ENTRIES, "cached": CACHED_INDEX_ENTRIES,
            "dot": DOT_ROWS}  # fmt: skip


def quartic_count(n: int) -> int:
    """Sorted quadruples of ``n`` coordinates, ``C(n + 3, 4)``."""
    return math.comb(n + 3, 4)


def _offset(a: int, n: int) -> int:
    """Position of the pair ``(a, a)`` among the sorted pairs ``x <= y`` in row-major order."""
    return a * n - a * (a - 1) // 2


def pack_pairs(n: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Row and column indices of the sorted pairs ``x <= y`` (row-major), for packing
    symmetric ``n x n`` matrices."""
    iu = torch.triu_indices(n, n, device=device)
    return iu[0], iu[1]


@dataclass(frozen=True, eq=False)
class _Chunk:
    """First indices ``[a0, a1)``: rows ``[row0, row1)`` and columns ``[row0, n_pairs)`` of
    ``S``, quadruples ``[q0, q1)`` of the packed order."""

    a0: int
    a1: int
    row0: int
    row1: int
    q0: int
    q1: int


@dataclass(frozen=True, eq=False)
class QuarticPlan:
    """The chunks of first indices for ``n`` coordinates on ``device``, the orderings' weights
    and the gathers (both made on first use and kept where small)."""

    n: int
    device: torch.device
    chunks: tuple[_Chunk, ...]
    _kept: dict[object, torch.Tensor] = field(default_factory=dict, repr=False)

    @property
    def n_pairs(self) -> int:
        return self.n * (self.n + 1) // 2

    @property
    def weights(self) -> torch.Tensor:
        """``w[q]``: the distinct orderings of quadruple ``q`` (lexicographic order, so the
        ``n (n + 1) / 2`` quadruples starting ``(0, 0)`` come first)."""
        if "w" not in self._kept:
            self._kept["w"] = _weights(self.n, self.device)
        return self._kept["w"]

    def gathers(self, i: int) -> torch.Tensor:
        """(3, quadruples of chunk ``i``): flat positions in the chunk's block of
        ``S[ab, cd]``, ``S[ac, bd]``, ``S[ad, bc]``."""
        if i in self._kept:
            return self._kept[i]
        g = _gathers(self.n, self.device, self.chunks[i])
        if quartic_count(self.n) <= _sizes(self.device)["cached"]:
            self._kept[i] = g
        return g

    def batch(self, rank: int, d_out: int) -> int:
        """Outputs formed together at padded rank ``rank`` (within ``CHUNK_ENTRIES`` on the
        CPU, ``CUDA_SIZES["chunk"]`` on a GPU)."""
        widest = max((c.row1 - c.row0) * (self.n_pairs - c.row0) for c in self.chunks)
        per_output = max(widest, rank * self.n_pairs, quartic_count(self.n))
        return max(1, min(d_out, _sizes(self.device)["chunk"] // per_output))


@functools.lru_cache(maxsize=4)
def quartic_plan(n: int, device: str) -> QuarticPlan:
    """The plan for ``n`` coordinates on ``device`` (the last few are kept)."""
    dev = torch.device(device)
    return QuarticPlan(n, dev, _layout(n, _sizes(dev)["block"]))


@functools.lru_cache(maxsize=16)
def _layout(n: int, block: int = BLOCK_ENTRIES) -> tuple[_Chunk, ...]:
    """Chunks of first indices, each widened while its block of ``S`` fits ``block``."""
    n_pairs = n * (n + 1) // 2
    chunks: list[_Chunk] = []
    a0, q0 = 0, 0
    while a0 < n:
        a1 = a0 + 1
        cols = n_pairs - _offset(a0, n)
        while a1 < n and (_offset(a1 + 1, n) - _offset(a0, n)) * cols <= block:
            a1 += 1
        q1 = q0 + sum(math.comb(n - a + 2, 3) for a in range(a0, a1))
        chunks.append(_Chunk(a0, a1, _offset(a0, n), _offset(a1, n), q0, q1))
        a0, q0 = a1, q1
    return tuple(chunks)


def block_entries(n: int) -> int:
    """Entries of all the blocks of ``S`` for ``n`` coordinates (multiply-adds per unit of
    rank and output)."""
    n_pairs = n * (n + 1) // 2
    if n > 4096:  # the chunks approach single first indices: sum_a (n - a)^3 / 2
        return n**4 // 8
    return sum((c.row1 - c.row0) * (n_pairs - c.row0) for c in _layout(n))


def _weights(n: int, device: torch.device) -> torch.Tensor:
    """Distinct orderings ``4! / prod(multiplicity!)`` of every sorted quadruple, in order."""
    out = []
    for a in range(n):
        q = _quadruples(n, a, a + 1, device)
        run = torch.ones_like(q[0])
        prod = torch.ones_like(q[0])
        for j in range(1, 4):  # product of run lengths = product of multiplicities' factorials
            run = torch.where(q[j] == q[j - 1], run + 1, torch.ones_like(run))
            prod = prod * run
        out.append(24.0 / prod.to(torch.float64))
    return torch.cat(out)


def _quadruples(n: int, a0: int, a1: int, device: torch.device) -> torch.Tensor:
    """(4, count) sorted quadruples with first index in ``[a0, a1)``, lexicographic."""
    ra, rb = pack_pairs(n, device)
    row0, row1 = _offset(a0, n), _offset(a1, n)
    ra, rb = ra[row0:row1], rb[row0:row1]
    cc, cd = pack_pairs(n, device)
    cc, cd = cc[row0:], cd[row0:]
    ri, ci = (rb[:, None] <= cc[None, :]).nonzero(as_tuple=True)
    return torch.stack([ra[ri], rb[ri], cc[ci], cd[ci]])


def _gathers(n: int, device: torch.device, chunk: _Chunk) -> torch.Tensor:
    a, b, c, d = _quadruples(n, chunk.a0, chunk.a1, device)
    cols = n * (n + 1) // 2 - chunk.row0

    def at(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        # (x, y) with x <= y: its position among the sorted pairs, relative to the chunk
        return x * n - x * (x - 1) // 2 + (y - x) - chunk.row0

    return torch.stack([at(a, b) * cols + at(c, d), at(a, c) * cols + at(b, d),
                        at(a, d) * cols + at(b, c)])  # fmt: skip


def form_cost(n: int, ranks: list[int], m: int) -> float:
    """Multiply-adds of forming one model's packed quartics on ``n`` coordinates: the blocks
    of ``S`` at the padded rank, the packed forms ``E`` (from ``m`` forms) and the gathers."""
    r = max(ranks, default=0)
    per_output = r * (block_entries(n) + m * n * (n + 1) / 2) + 3 * quartic_count(n)
    return float(len(ranks) * per_output)


def quartic_chunks(
    Yp: torch.Tensor,
    squares: list[tuple[torch.Tensor, torch.Tensor]],
    plan: QuarticPlan,
    batch: int | None = None,
) -> Iterator[tuple[slice, torch.Tensor]]:
    """The packed quartics ``P`` (rows, outputs) of the outputs ``sum_r sigma_r (x~^T E_r
    x~)^2``, ``E_r = sum_c e[c, r] Y_c``, in batches of outputs: ``(outputs slice, P batch)``.

    ``Yp``: (m, n_pairs) the packed forms ``Y_c``; ``squares``: per output ``(sigma, e)`` as
    from :func:`~mechequiv.tensorsim.fullsym.output_squares` (ranks padded to the largest
    with zero weights); ``batch``: outputs per batch (default :meth:`QuarticPlan.batch`).
    ``P`` holds the first ``rows`` of the ``C(n + 3, 4)`` sorted quadruples: the ones after
    are zero (:func:`live_extent`)."""
    d_out, m = len(squares), Yp.shape[0]
    r = max((s.numel() for s, _ in squares), default=0)
    sigma = Yp.new_zeros((d_out, r))
    e = Yp.new_zeros((d_out, m, r))
    for k, (s, vecs) in enumerate(squares):
        sigma[k, : s.numel()], e[k, :, : s.numel()] = s, vecs
    batch = plan.batch(r, d_out) if batch is None else batch
    rows_live, q_live = live_extent(Yp, plan)
    for lo in range(0, d_out, batch):
        ks = slice(lo, min(d_out, lo + batch))
        # (r, n_pairs, k): the packed forms E_r with the outputs last, so that each block of S
        # comes out as (rows, columns, k) and a gather reads k contiguous values.
        E = torch.einsum("kmr,mp->rpk", e[ks], Yp)
        Es = E * (sigma[ks].T / 3)[:, None, :]  # the 1/3 of the three pairings folded in
        P = Yp.new_empty((q_live, E.shape[2]))
        for i, c in enumerate(plan.chunks):
            if c.q0 >= q_live:
                break
            if not rows_live[i]:
                P[c.q0 : c.q1] = 0.0
                continue
            block = torch.einsum("rpk,rqk->pqk", Es[:, c.row0 : c.row1], E[:, c.row0 :])
            flat = block.reshape(-1, block.shape[2])
            g = plan.gathers(i)
            part = P[c.q0 : c.q1]  # rows of P: contiguous, gathered into in place
            torch.index_select(flat, 0, g[0], out=part)
            part += flat.index_select(0, g[1])
            part += flat.index_select(0, g[2])
        yield ks, P


def live_extent(Yp: torch.Tensor, plan: QuarticPlan) -> tuple[list[bool], int]:
    """Which chunks can hold nonzero quartics, and the number of sorted quadruples up to the
    last of them. Every pair read in a chunk starts with one of its first indices, so a chunk
    whose rows of the packed forms ``Yp`` are all zero has zero quartics (a skip path's forms
    touch only the constant coordinate: its quartics end with the first chunk)."""
    if not plan.chunks:
        return [], 0
    live = (Yp != 0).any(0)
    flags = torch.stack([live[c.row0 : c.row1].any() for c in plan.chunks]).tolist()
    rows_live = [bool(x) for x in flags]
    q_live = max((c.q1 for c, x in zip(plan.chunks, rows_live, strict=True) if x), default=0)
    return rows_live, q_live


def weighted_dot(w: torch.Tensor, Pa: torch.Tensor, Pb: torch.Tensor) -> torch.Tensor:
    """``sum_q w[q] Pa[q, k] Pb[q, k]`` per column ``k``, in row chunks (small temporaries);
    rows beyond the shorter of ``Pa``, ``Pb`` are zero in it (:func:`quartic_chunks`)."""
    out = Pa.new_zeros(Pa.shape[1])
    rows = min(Pa.shape[0], Pb.shape[0])
    step = _sizes(Pa.device)["dot"]
    for lo in range(0, rows, step):
        sl = slice(lo, min(rows, lo + step))
        out += w[sl] @ (Pa[sl] * Pb[sl])
    return out


class QuarticBudget:
    """How many packed-quartic entries a group of nets may keep at once (one budget for all
    the nets an engine prepares, so that a long list of checkpoints does not keep one
    ``P`` per model): admitting a net's ``P`` drops the least recently used others'.

    ``entries=None``: ``CPU_BUDGET`` on the CPU, on a GPU ``CUDA_BUDGET`` or a quarter of its
    free memory if less."""

    CPU_BUDGET = 2**27  # 1 GiB of float64
    CUDA_BUDGET = 2**31  # 16 GiB, and at most a quarter of the GPU's free memory

    def __init__(self, entries: int | None = None) -> None:
        self.entries = entries
        self._held: OrderedDict[int, tuple[weakref.ref[Keeper], int]] = OrderedDict()

    def limit(self, device: torch.device) -> int:
        if self.entries is not None:
            return self.entries
        if device.type != "cuda":
            return self.CPU_BUDGET
        held = sum(s for _, s in self._held.values())  # already allocated: counted as free
        free = torch.cuda.mem_get_info(device)[0] // 8 + held
        return int(min(self.CUDA_BUDGET, free // 4))

    def admit(self, owner: Keeper, size: int, device: torch.device) -> bool:
        """Whether ``owner`` may keep ``size`` entries (others dropped to make room)."""
        limit = self.limit(device)
        if size > limit:
            return False
        self._held.pop(id(owner), None)
        used = sum(s for _, s in self._held.values())
        while self._held and used + size > limit:
            _, (ref, s) = self._held.popitem(last=False)
            used -= s
            victim = ref()
            if victim is not None:
                victim.drop_quartics()
        key = id(owner)

        def forget(_ref: weakref.ref[Keeper]) -> None:  # the owner is gone: free its share
            self._held.pop(key, None)

        self._held[key] = (weakref.ref(owner, forget), size)
        return True

    def touch(self, owner: Keeper) -> None:
        """Mark ``owner``'s kept quartics as just used."""
        if id(owner) in self._held:
            self._held.move_to_end(id(owner))


class Keeper:
    """Something whose kept quartics a :class:`QuarticBudget` can drop."""

    def drop_quartics(self) -> None:
        raise NotImplementedError
