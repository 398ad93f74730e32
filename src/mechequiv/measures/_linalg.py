"""Small float64 linear-algebra helpers shared by the CCA and Procrustes families."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from scipy.linalg.blas import dgemm, dsyrk
from scipy.spatial.distance import squareform

from mechequiv.measures._validate import centre

# Entries per block when a large input is centred or converted to float64 piece by piece
# (8 MB of float64: cache-sized, reused).
BLOCK_ELEMENTS = 1 << 20


def host_float64(t: torch.Tensor) -> bool:
    """Whether ``t`` is a float64 CPU tensor, for which numpy/scipy routines (BLAS syrk, C
    loops, selection) run on its memory directly; every other tensor takes the torch route on
    its own device (tests force that route on the CPU to check it gives the same values)."""
    return t.device.type == "cpu" and t.dtype == torch.float64


def self_product_into(acc: torch.Tensor, b: torch.Tensor, gram: bool = False) -> None:
    """acc += b^T b (or b b^T with ``gram``), exact on acc's lower triangle only; see
    :func:`symmetrised`. On the CPU this is a BLAS symmetric rank-k update (syrk): half the
    flops of the matrix product, written in place."""
    if not (host_float64(b) and host_float64(acc)):
        acc.addmm_(b, b.T) if gram else acc.addmm_(b.T, b)
        return
    # .numpy().T of a C-ordered tensor is a Fortran-ordered view of the same memory, so syrk
    # updates acc in place; the "upper" triangle of acc^T it writes is acc's lower triangle.
    a = b.contiguous().numpy().T
    out = dsyrk(1.0, a, beta=1.0, c=acc.numpy().T, trans=1 if gram else 0, overwrite_c=1)
    if not np.shares_memory(out, acc.numpy()):  # the wrapper copies only non-Fortran arrays
        acc.copy_(torch.from_numpy(np.ascontiguousarray(out.T)))


# Multiply-adds from which a float64 product goes to scipy's BLAS rather than torch's: below it
# the call overhead decides (Procrustes' cache-sized blocks at d = 64 were slower through scipy).
LARGE_PRODUCT = 1 << 25


def cross_product_into(acc: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> None:
    """acc += a^T b. For large float64 products on the CPU this is scipy's BLAS gemm writing
    into a contiguous acc in place (the BLAS of :func:`self_product_into`; torch's took 15-20%
    longer for these shapes on the AMD machine of benchmarks/results/linear_cka.json)."""
    large = a.shape[0] * a.shape[1] * b.shape[1] >= LARGE_PRODUCT
    if not (large and host_float64(a) and host_float64(b) and host_float64(acc)):
        acc.addmm_(a.T, b)
        return
    # As Fortran arrays, a.T and b.T are a^T and b^T without copies; acc^T (Fortran view of a
    # C-ordered acc) += b^T (a^T)^T = (a^T b)^T.
    at, bt = a.contiguous().numpy().T, b.contiguous().numpy().T
    out = dgemm(1.0, bt, at, beta=1.0, c=acc.numpy().T, trans_b=1, overwrite_c=1)
    if not np.shares_memory(out, acc.numpy()):  # the wrapper copies only non-Fortran arrays
        acc.copy_(torch.from_numpy(np.ascontiguousarray(out.T)))


def symmetrised(a: torch.Tensor) -> torch.Tensor:
    """The symmetric matrix whose lower triangle is that of ``a``."""
    return torch.tril(a) + torch.tril(a, -1).T


def symmetrise_(a: torch.Tensor, rows: int = 64) -> torch.Tensor:
    """:func:`symmetrised` in place: ``a``'s strict upper triangle becomes the transpose of its
    lower one, copied in bands of ``rows`` rows. The same values (exact copies) without its
    three matrix-sized temporaries, whose fresh pages made it 10x slower than this on an n x n
    Gram (62 ms against 6 ms at n = 2000). Off the CPU, where a band costs kernel launches
    and fresh memory is cheap, :func:`symmetrised`'s result is copied back instead."""
    if a.device.type != "cpu":
        return a.copy_(symmetrised(a))
    n = a.shape[0]
    for i in range(0, n, rows):
        j = min(i + rows, n)
        block = a[i:j, i:j]
        block.copy_(torch.tril(block) + torch.tril(block, -1).T)
        if j < n:
            a[i:j, j:].copy_(a[j:, i:j].T)
    return a


def centred_gram(x: torch.Tensor) -> tuple[torch.Tensor, float, float]:
    """(K, ||Xc||_F^2, ||X||_F^2) with K = Xc Xc^T the n x n Gram of the column-centred x.

    Built from blocks of columns converted to float64 and centred one at a time, so neither a
    centred nor a float64 copy of a wide (or float32) x is ever whole.
    """
    n, d = x.shape
    cols = max(1, BLOCK_ELEMENTS // max(n, 1))
    K = torch.zeros(n, n, dtype=torch.float64, device=x.device)
    raw = 0.0
    buffers: dict[int, torch.Tensor] = {}  # one reused buffer per block width (at most two)
    for j in range(0, d, cols):
        w = min(cols, d - j)
        if w not in buffers:
            buffers[w] = torch.empty(n, w, dtype=torch.float64, device=x.device)
        b = buffers[w].copy_(x[:, j : j + w])
        raw += float(torch.linalg.vector_norm(b).square())
        b.sub_(b.mean(0, keepdim=True))
        self_product_into(K, b, gram=True)
    K = symmetrise_(K)
    return K, float(K.diagonal().sum()), raw


def upper_triangle(d: torch.Tensor) -> torch.Tensor:
    """The strict upper triangle (i < j) of a square matrix, row by row, as a new vector:
    the condensed form of scipy's ``pdist``, built without any n^2 index array (CPU: scipy's C
    ``squareform``; elsewhere a boolean mask of n^2 bytes on the device)."""
    n = d.shape[0]
    if host_float64(d):
        return torch.from_numpy(squareform(d.contiguous().numpy(), checks=False))
    mask = torch.ones(n, n, dtype=torch.bool, device=d.device).triu_(1)
    return d[mask]


def order_statistics(v: torch.Tensor, ks: list[int]) -> list[float]:
    """The values of rank ``ks`` (0-based) in ascending order of ``v``, by selection (linear
    time), not a sort. ``v`` is reordered in place (on the CPU)."""
    if host_float64(v):
        a = v.numpy()
        # One rank at a time, largest first, each on the prefix the previous one left: numpy's
        # partition with several ranks at once took 7x as long for two (16.6 ms against 2.5 on
        # 2e6 values). After a[:top].partition(k), a[k] is rank k and a[:k] the k smallest.
        top = len(a)
        for k in sorted(set(ks), reverse=True):
            a[:top].partition(k)
            top = k
        return [float(a[k]) for k in ks]
    return [float(torch.kthvalue(v, k + 1).values) for k in ks]


# Below this size a dense decomposition is faster on one thread: OpenMP start-up and spin-waits
# dominate, and on a loaded machine they cost 10-50x (measured: eigh of 32 x 32 took 46 ms on two
# threads beside other processes, 1 ms on one).
SMALL_DIM = 256


@contextmanager
def small_problem_threads(dim: int) -> Iterator[None]:
    """Run the block on one torch thread when the matrices involved are at most ``SMALL_DIM``,
    but only where nobody else can see it.

    torch's thread count is process-wide, so it is lowered only when the caller is the main
    thread and the only Python thread alive (no other thread can run torch code meanwhile), and
    it is restored on exit, also on an exception: afterwards, and to any other code, the setting
    is what it was. With other threads alive (a thread pool, a server) it is left alone and the
    block runs on the caller's threads; set ``OMP_NUM_THREADS=1`` (or call
    ``torch.set_num_threads(1)`` yourself) for many small problems on a loaded machine.
    """
    old = torch.get_num_threads()
    alone = threading.current_thread() is threading.main_thread() and threading.active_count() == 1
    if dim > SMALL_DIM or old == 1 or not alone:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)


# Eigen-directions with variance below this fraction of the largest are treated as absent.
RANK_RTOL = 1e-10


def inv_sqrt_psd(C: torch.Tensor, rtol: float = RANK_RTOL) -> tuple[torch.Tensor, int]:
    """Pseudo-inverse square root of a PSD matrix and its numerical rank.

    Eigenvalues below ``rtol * max eigenvalue`` are dropped (their directions carry no variance).
    """
    lam, V = torch.linalg.eigh(C)
    keep = lam > rtol * lam.max().clamp_min(0.0)
    if not bool(keep.any()):
        raise ValueError("a representation has zero variance across samples")
    Vk = V[:, keep]
    return Vk * lam[keep].rsqrt(), int(keep.sum())


def canonical_correlations(
    cxx: torch.Tensor, cxy: torch.Tensor, cyy: torch.Tensor, rtol: float = RANK_RTOL
) -> torch.Tensor:
    """Canonical correlations (descending) from (co)variance matrices, min(rank X, rank Y) of them."""
    wx, _ = inv_sqrt_psd(cxx, rtol)
    wy, _ = inv_sqrt_psd(cyy, rtol)
    rho = torch.linalg.svdvals(wx.T @ cxy @ wy)
    if float(rho.max()) > 1.0 + 1e-6:
        raise ValueError(
            f"canonical correlation {float(rho.max()):.6g} > 1: the covariance is too "
            "ill-conditioned for CCA (use more samples or fewer features)"
        )
    result: torch.Tensor = rho.clamp_max(1.0)  # rounding only (checked above)
    return result


def nuclear_norm(A: torch.Tensor) -> float:
    """Sum of singular values. On the host in float64 through numpy's LAPACK (gesdd without
    vectors, like torch's, with less call overhead: the SVD is most of a small Procrustes)."""
    if host_float64(A):
        return float(np.linalg.svd(A.numpy(), compute_uv=False).sum())
    return float(torch.linalg.svdvals(A).sum())


# Below this (smaller side) a sketch is not tried; the Gram is cheap enough.
LOW_RANK_MIN_DIM = 512
# Directions a sketched low-rank factor may have, and the relative error it must reproduce x to.
LOW_RANK_MAX = 64
LOW_RANK_RTOL = 1e-12


def row_space_factor(x: torch.Tensor) -> torch.Tensor:
    """The (n, n) matrix R^T = x @ Q where x^T = Q R (thin QR, Q (d, n) with orthonormal columns).

    For a wide x (d > n) it is an exact orthogonal change of feature coordinates onto x's row
    space: every quantity invariant to orthogonal maps of features (Grams, nuclear norms,
    canonical correlations, ridge fits) is the same on it, at O(n^2 d) time and one copy of x
    instead of d x d moments. Householder QR is backward stable, so unlike a factor taken from
    the n x n Gram it does not square the condition number. Centred x gives a centred factor.
    """
    result: torch.Tensor = torch.linalg.qr(x.T, mode="r").R.T
    return result


def low_rank_factor(x: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """A narrow matrix equal to ``x @ V`` for some V with orthonormal columns, or ``x`` itself.

    - rank r <= 64, or r <= min(n, d) / 8 as revealed by the Gram of a random row sample
      (tried when min(n, d) >= 512): the (n, r) factor from a sketch;
    - otherwise, when x is wide (d > n): the (n, n) :func:`row_space_factor`;
    - otherwise ``x``.

    Measures invariant to orthogonal maps of features give the same value on the factor, at
    O(n d r) or O(n^2 d) cost instead of O(n d^2): wide activations of low rank (e.g.
    :class:`~mechequiv.equivalence.FourierModuleReprs`, rank at most 8 whatever its width) and
    wide activations of few samples become cheap. A seeded randomized range finder proposes 64
    directions Q; four more random probes reject a full-rank x cheaply (about 7% of one Gram
    when d = 1000), and a proposal is accepted only if ``||x - Q Q^T x||_F <= 1e-12 ||x||_F``,
    so the factor is exact to rounding, never an approximation.
    """
    n, d = x.shape
    if min(n, d) >= LOW_RANK_MIN_DIM and bool(x.any()):
        factor = _sketched_factor(x, seed)
        if factor is not None:
            return factor
    return row_space_factor(x) if d > n else x


def _sketched_factor(x: torch.Tensor, seed: int) -> torch.Tensor | None:
    """An exact (n, r) factor of x when its rank r is at most 64, or at most min(n, d) / 8 as
    revealed by a row sample; None otherwise (see :func:`low_rank_factor`)."""
    factor = _verified_factor(x, LOW_RANK_MAX, seed)
    if factor is not None:
        return factor
    n, d = x.shape
    cap = min(n, d) // 8
    if cap <= LOW_RANK_MAX:
        return None
    # Rank revealed by the Gram of 2 * cap random rows: (2 cap)^2 d / 2 flops, at most 3% of
    # the d x d moments the factor would replace. It only proposes a size: the sketch below
    # accepts a factor on the exact residual test alone.
    gen = torch.Generator(device=x.device).manual_seed(seed + 1)
    rows = torch.randperm(n, generator=gen, device=x.device)[: 2 * cap]
    sample = x[rows]
    lam = torch.linalg.eigvalsh(sample @ sample.T)
    rank = int((lam > 1e-12 * float(lam[-1])).sum())
    if rank > cap:
        return None
    return _verified_factor(x, rank + 8, seed + 2)


def _verified_factor(x: torch.Tensor, size: int, seed: int) -> torch.Tensor | None:
    """A seeded range finder with ``size`` directions, accepted only if it reproduces x to
    1e-12 (four extra random probes reject a larger rank before the full residual is formed)."""
    d = x.shape[1]
    gen = torch.Generator(device=x.device).manual_seed(seed)
    omega = torch.randn(d, size + 4, generator=gen, dtype=x.dtype, device=x.device)
    sketch = x @ omega
    q, _ = torch.linalg.qr(sketch[:, :size])
    probe = sketch[:, size:]
    if float(torch.linalg.matrix_norm(probe - q @ (q.T @ probe))) > LOW_RANK_RTOL * float(
        torch.linalg.matrix_norm(probe)
    ):
        return None
    b = q.T @ x  # (size, d)
    if float(torch.linalg.matrix_norm(x - q @ b)) > LOW_RANK_RTOL * float(
        torch.linalg.matrix_norm(x)
    ):
        return None
    u, s, _ = torch.linalg.svd(b, full_matrices=False)
    keep = s > LOW_RANK_RTOL * s[0]
    result: torch.Tensor | None = q @ (u[:, keep] * s[keep])
    return result


# Feature count from which CKA and Procrustes look for a low-rank factor: the probe costs about
# 70 / d of the d x d moments they would otherwise form (under 4% here).
WIDE_DIM = 2048


def reduce_wide(x: torch.Tensor, row_space: bool = True) -> torch.Tensor:
    """``x``, or an exact narrow factor of its centred form, for measures invariant to
    translation and to orthogonal maps of features.

    With at least 2048 features and rank at most 64: the sketched factor of
    :func:`low_rank_factor`. Otherwise, when x is wide (d > n) and ``row_space``: the (n, n)
    :func:`row_space_factor` (a measure with a cheaper n x n Gram route of its own, like linear
    CKA, passes ``row_space=False``).
    """
    n, d = x.shape
    try_sketch = d >= WIDE_DIM and min(n, d) >= LOW_RANK_MIN_DIM
    use_rows = row_space and d > n
    if not (try_sketch or use_rows):  # no centred copy unless it will be used
        return x
    xc = centre(x)
    if try_sketch and bool(xc.any()):
        factor = _sketched_factor(xc, 0)
        if factor is not None:
            return factor
    return row_space_factor(xc) if use_rows else x
