"""Sufficient statistics for the linear measures, accumulated exactly over batches.

Every linear measure (CKA biased and debiased, CCA family, Procrustes, regression) is a function
of a few cross-product matrices of the *centred* data, plus, for the debiased HSIC, sums of
squared row norms. Rows are shifted by a pivot (the mean of the first batch's first rows) before
accumulating so that the final exact centring subtracts only a small residual mean: no
catastrophic cancellation when features carry a large offset, and no separate pass over the
data for its mean. Streaming and in-memory results are the same formula.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from mechequiv.measures._linalg import BLOCK_ELEMENTS as _BLOCK_ELEMENTS
from mechequiv.measures._linalg import (
    cross_product_into,
    host_float64,
    self_product_into,
    symmetrised,
)
from mechequiv.measures._validate import ArrayLike, check_pair

# Entries per block when only X^T Y and the total variances are accumulated (Procrustes): the
# work is a few passes over memory, fastest on blocks that stay in cache (0.5 MB).
CACHE_BLOCK_ELEMENTS = _BLOCK_ELEMENTS // 16


@dataclass
class _Sums:
    n: int
    sx: torch.Tensor
    sy: torch.Tensor
    sxx: torch.Tensor
    sxy: torch.Tensor
    syy: torch.Tensor
    # Fourth-order terms for the debiased HSIC (None when not requested).
    quartic: dict[str, torch.Tensor] | None


class CrossMoments:
    """Accumulate n, sums and cross-products of paired batches (X_b, Y_b) in float64.

    Parameters
    ----------
    quartic : bool
        Also accumulate the row-norm terms the debiased (Song) HSIC needs.
    auto : bool
        Accumulate the full X^T X and Y^T Y (default). ``False`` keeps only their diagonals,
        enough for measures that need total variances and X^T Y alone (Procrustes): it saves
        two of the three d x d products.
    """

    def __init__(self, quartic: bool = False, auto: bool = True) -> None:
        if quartic and not auto:
            raise ValueError("quartic terms need the full auto-products")
        self.quartic = quartic
        self.auto = auto
        self._sums: _Sums | None = None
        self._cx: torch.Tensor | None = None
        self._cy: torch.Tensor | None = None

    @property
    def n(self) -> int:
        return 0 if self._sums is None else self._sums.n

    def update(self, X: ArrayLike, Y: ArrayLike) -> CrossMoments:
        """Add a batch of paired rows; returns ``self`` so calls can chain."""
        return self.add_validated(*check_pair(X, Y, min_samples=1, keep_float=True))

    def add_validated(self, x: torch.Tensor, y: torch.Tensor) -> CrossMoments:
        """:meth:`update` for tensors that already passed ``check_pair`` (float64, or float32
        converted here block by block: no float64 copy of the whole input is made)."""
        if self._sums is None:
            # The pivot is the mean of the first rows only (a pass over the whole input saved):
            # it removes any offset, and the exact mean is restored from the column sums.
            head = max(1, min(x.shape[0], _BLOCK_ELEMENTS // max(x.shape[1], y.shape[1], 1)))
            self._cx, self._cy = _pivot(x[:head]), _pivot(y[:head])
            self._sums = _zero_sums(x.shape[1], y.shape[1], self.quartic, self.auto, x.device)
        elif x.shape[1] != self._sums.sx.shape[0] or y.shape[1] != self._sums.sy.shape[0]:
            raise ValueError(
                f"batch feature sizes {x.shape[1]}, {y.shape[1]} differ from earlier batches "
                f"({self._sums.sx.shape[0]}, {self._sums.sy.shape[0]})"
            )
        assert self._cx is not None and self._cy is not None  # set with the first batch's sums
        cx, cy = self._cx.to(x.device), self._cy.to(x.device)
        # Centre block by block into two reused buffers: a centred copy of a large input costs
        # more than the products (fresh pages: 0.28 s for 1e5 x 128 against 0.04 s for X^T Y).
        width = max(x.shape[1], y.shape[1], 1)
        # Self-products are BLAS-bound and want long blocks; without them (Procrustes) the work
        # is a few passes over memory, fastest on blocks that stay in cache (0.5 MB; see
        # benchmarks/bench_procrustes.py).
        block = _BLOCK_ELEMENTS if self.auto else CACHE_BLOCK_ELEMENTS
        rows = x.shape[0] if x.is_cuda else max(1, block // width)
        rows = max(1, min(rows, x.shape[0]))
        bx = torch.empty(rows, x.shape[1], dtype=torch.float64, device=x.device)
        by = torch.empty(rows, y.shape[1], dtype=torch.float64, device=x.device)
        ones = torch.ones(rows, dtype=torch.float64, device=x.device)
        for i in range(0, x.shape[0], rows):
            r = min(rows, x.shape[0] - i)
            # written into the reused buffers: no temporaries, whose freed pages the allocator
            # would keep (RSS grew by 1.3x the input with them)
            _accumulate(
                self._sums,
                _centred_block(bx[:r], x[i : i + r], cx),
                _centred_block(by[:r], y[i : i + r], cy),
                ones[:r],
            )
        return self

    def sums(self) -> _Sums:
        """The accumulated sums, self-products made whole (only their lower triangles are
        accumulated: a symmetric rank-k update does half the work of a matrix product)."""
        if self._sums is None or self._sums.n == 0:
            raise ValueError("no data: call update() with at least one batch first")
        s = self._sums
        if not self.auto:
            return s
        return _Sums(s.n, s.sx, s.sy, symmetrised(s.sxx), s.sxy, symmetrised(s.syy), s.quartic)

    def certifies_window(self, exponent: int) -> bool:
        """Whether the accumulated data were certainly finite, with each side's largest |entry|
        M inside [2^-exponent, 2^exponent]: read off the pivots c and the diagonals
        D_j = sum_i (x_ij - c_j)^2 of the self-products, so no separate pass over the input.

        NaN or infinity in any entry reaches the diagonal (a square is never negative, so no
        inf - inf cancels there, and NaN propagates through every sum; even a BLAS that skips
        zero factors multiplies a NaN entry by itself). With everything finite,
        M <= max_j |c_j| + sqrt(D_j), and M >= |c_j| (a mean of entries) and
        M >= sqrt(D_j / n) / 2 (each |x_ij - c_j| <= 2M). The bounds are checked with a factor
        of 4 to spare for rounding; ``False`` means "not certified", not "outside"."""
        s = self._sums
        if s is None or s.n == 0:
            return False
        top, bottom = 2.0 ** (exponent - 2), 2.0 ** (2 - exponent)
        for pivot, acc in ((self._cx, s.sxx), (self._cy, s.syy)):
            assert pivot is not None  # set with the sums
            diag = acc.diagonal() if acc.ndim == 2 else acc
            if not bool(torch.isfinite(pivot).all() and torch.isfinite(diag).all()):
                return False
            root, centre_abs = diag.sqrt(), pivot.abs()
            if float((centre_abs + root).max()) > top:
                return False
            low = max(float(centre_abs.max()), float(root.max()) / s.n**0.5)
            if low < bottom:
                return False
        return True

    def centred(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Centred cross-products (Xc^T Xc, Xc^T Y_c, Yc^T Yc), each summed (not divided by n)."""
        if not self.auto:
            raise ValueError("accumulator was created with auto=False (diagonals only)")
        s = self.sums()
        mx, my = s.sx / s.n, s.sy / s.n
        cxx = s.sxx - s.n * torch.outer(mx, mx)
        cxy = s.sxy - s.n * torch.outer(mx, my)
        cyy = s.syy - s.n * torch.outer(my, my)
        return cxx, cxy, cyy

    def centred_frobenius(self) -> tuple[float, float, float]:
        """(||Xc^T Xc||_F^2, ||Xc^T Yc||_F^2, ||Yc^T Yc||_F^2), the linear HSIC terms.

        Read off the lower triangles the self-products are accumulated in: no symmetrised
        copies, one d x d temporary each (||C||_F^2 = 2 ||tril C||_F^2 - ||diag C||^2)."""
        if not self.auto:
            raise ValueError("accumulator was created with auto=False (diagonals only)")
        if self.n == 0:
            raise ValueError("no data: call update() with at least one batch first")
        s = self._sums
        assert s is not None  # n > 0: update() has accumulated at least one batch
        mx, my = s.sx / s.n, s.sy / s.n

        def self_term(acc: torch.Tensor, m: torch.Tensor) -> float:
            low = acc.clone().addr_(m, m, alpha=-s.n).tril_()
            diag = low.diagonal()
            flat = low.reshape(-1)
            return float(2.0 * torch.dot(flat, flat) - torch.dot(diag, diag))

        cross = s.sxy.clone().addr_(mx, my, alpha=-s.n).reshape(-1)
        return self_term(s.sxx, mx), float(torch.dot(cross, cross)), self_term(s.syy, my)

    def centred_traces(self) -> tuple[float, torch.Tensor, float]:
        """(||Xc||_F^2, Xc^T Yc, ||Yc||_F^2): total variances and the centred cross-product."""
        s = self.sums()
        mx, my = s.sx / s.n, s.sy / s.n
        diag_x = s.sxx.diagonal() if self.auto else s.sxx
        diag_y = s.syy.diagonal() if self.auto else s.syy
        return (
            float(diag_x.sum() - s.n * (mx @ mx)),
            s.sxy - s.n * torch.outer(mx, my),
            float(diag_y.sum() - s.n * (my @ my)),
        )

    def uncentred(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Raw cross-products (X^T X, X^T Y, Y^T Y), undoing the pivot shift."""
        if not self.auto:
            raise ValueError("accumulator was created with auto=False (diagonals only)")
        s = self.sums()
        cx, cy = self._cx, self._cy
        assert cx is not None and cy is not None  # set with the sums, which sums() checked

        def raw(
            sab: torch.Tensor,
            sa: torch.Tensor,
            sb: torch.Tensor,
            ca: torch.Tensor,
            cb: torch.Tensor,
        ) -> torch.Tensor:
            return sab + torch.outer(sa, cb) + torch.outer(ca, sb) + s.n * torch.outer(ca, cb)

        return (
            raw(s.sxx, s.sx, s.sx, cx, cx),
            raw(s.sxy, s.sx, s.sy, cx, cy),
            raw(s.syy, s.sy, s.sy, cy, cy),
        )

    def centred_row_norm_terms(self) -> tuple[float, float, float, float, float, float]:
        """Sums over rows of a_i = ||x_i - mean||^2 and b_i = ||y_i - mean||^2.

        Returns (sum a, sum b, sum a*b, sum a^2, sum b^2) as Python floats, plus n.
        """
        s = self.sums()
        if s.quartic is None:
            raise ValueError("accumulator was created without quartic=True")
        q = s.quartic
        n = s.n
        mx, my = s.sx / n, s.sy / n
        # a_i = qx_i - 2 x_i.mx + |mx|^2 with x_i pivot-shifted; the products expand exactly.
        nx, ny = float(mx @ mx), float(my @ my)
        sum_a = float(q["qx"]) - 2 * float(s.sx @ mx) + n * nx
        sum_b = float(q["qy"]) - 2 * float(s.sy @ my) + n * ny

        sum_ab = _expand_product_sum(
            q["qxqy"], q["qx_y"], q["qy_x"], s.sxy, s.sx, s.sy, q["qx"], q["qy"], mx, my, nx, ny, n
        )
        sum_aa = _expand_product_sum(
            q["qxqx"], q["qx_x"], q["qx_x"], s.sxx, s.sx, s.sx, q["qx"], q["qx"], mx, mx, nx, nx, n
        )
        sum_bb = _expand_product_sum(
            q["qyqy"], q["qy_y"], q["qy_y"], s.syy, s.sy, s.sy, q["qy"], q["qy"], my, my, ny, ny, n
        )
        return sum_a, sum_b, sum_ab, sum_aa, sum_bb, float(n)


def _expand_product_sum(
    qq: torch.Tensor,
    qa_vb: torch.Tensor,
    qb_va: torch.Tensor,
    sab: torch.Tensor,
    sa: torch.Tensor,
    sb: torch.Tensor,
    sqa: torch.Tensor,
    sqb: torch.Tensor,
    mu_a: torch.Tensor,
    mu_b: torch.Tensor,
    na: float,
    nb: float,
    n: int,
) -> float:
    """sum_i a_i b_i for a_i = |u_i - mu_a|^2, b_i = |v_i - mu_b|^2, from pivot-shifted power sums.

    ``qa_vb`` is sum_i |u_i|^2 v_i, ``qb_va`` is sum_i |v_i|^2 u_i, ``sab`` is sum_i u_i v_i^T,
    ``na``/``nb`` are |mu_a|^2 and |mu_b|^2.
    """
    return (
        float(qq)
        - 2 * float(mu_b @ qa_vb)
        + nb * float(sqa)
        - 2 * float(mu_a @ qb_va)
        + 4 * float(mu_a @ sab @ mu_b)
        - 2 * nb * float(mu_a @ sa)
        + na * float(sqb)
        - 2 * na * float(mu_b @ sb)
        + n * na * nb
    )


def _pivot(head: torch.Tensor) -> torch.Tensor:
    """The shift subtracted from every row before accumulating: the head's column means, or
    exactly zero for a float64 head whose means are all within one standard deviation of 0.

    A zero pivot lets float64 blocks go to BLAS as they are, without a centring pass. It costs
    no accuracy: the final centring cancels about eps * (1 + m_j^2 / var_j) of each moment, m
    the mean left after the shift, and with |c_j| <= sd_j of the head the zero pivot's m = c + r
    is at most one head sd larger than the residual r the head-mean pivot leaves, so the loss is
    within a factor of about two of the head-mean pivot's (both degrade alike when the head is
    unrepresentative). Offsets, near-constant columns and float32 input keep the head-mean pivot.
    """
    if head.dtype != torch.float64:
        return _column_mean(head)
    # |mean| <= sd  <=>  2 mean^2 <= mean of squares (no cancellation); products with ones
    # run in BLAS (a torch.std_mean over rows took 6 ms for 2048 x 512, this 0.5 ms).
    ones = torch.ones(head.shape[0], dtype=head.dtype, device=head.device)
    mean = torch.mv(head.T, ones).div_(head.shape[0])
    mean_square = torch.mv(head.square().T, ones).div_(head.shape[0])
    if bool((2.0 * mean.square() <= mean_square).all()):
        return torch.zeros_like(mean)
    return mean


def _centred_block(buffer: torch.Tensor, block: torch.Tensor, pivot: torch.Tensor) -> torch.Tensor:
    """``block - pivot`` as a contiguous float64 block: ``block`` itself when that is already so
    and the pivot is zero, else centred into ``buffer``."""
    if block.dtype == torch.float64 and block.is_contiguous() and not bool(pivot.any()):
        return block
    _centre_into(buffer, block, pivot)
    return buffer


def _column_mean(x: torch.Tensor) -> torch.Tensor:
    """Float64 column means; a float32 input is summed block by block (no float64 copy)."""
    if x.dtype == torch.float64:
        return x.mean(0)
    rows = max(1, min(x.shape[0], _BLOCK_ELEMENTS // max(x.shape[1], 1)))
    total = torch.zeros(x.shape[1], dtype=torch.float64, device=x.device)
    block = torch.empty(rows, x.shape[1], dtype=torch.float64, device=x.device)
    for i in range(0, x.shape[0], rows):
        r = min(rows, x.shape[0] - i)
        total += block[:r].copy_(x[i : i + r]).sum(0)
    return total / x.shape[0]


def _zero_sums(d1: int, d2: int, quartic: bool, auto: bool, device: torch.device) -> _Sums:
    def z(*shape: int) -> torch.Tensor:
        return torch.zeros(shape, dtype=torch.float64, device=device)

    q = None
    if quartic:
        q = {k: z() for k in ("qx", "qy", "qxqy", "qxqx", "qyqy")}
        q.update(qy_x=z(d1), qx_y=z(d2), qx_x=z(d1), qy_y=z(d2))
    sxx, syy = (z(d1, d1), z(d2, d2)) if auto else (z(d1), z(d2))
    return _Sums(0, z(d1), z(d2), sxx, z(d1, d2), syy, q)


def _centre_into(buffer: torch.Tensor, block: torch.Tensor, pivot: torch.Tensor) -> None:
    """buffer = block - pivot in float64. A float64 block is centred in one pass; float32 is
    converted by copy_ first (a mixed-dtype subtraction allocates per-block temporaries, whose
    pages raised the peak RSS by 0.07x the input)."""
    if block.dtype == buffer.dtype:
        torch.sub(block, pivot, out=buffer)
    else:
        buffer.copy_(block).sub_(pivot)


def _accumulate(s: _Sums, x: torch.Tensor, y: torch.Tensor, ones: torch.Tensor) -> None:
    """Add a centred float64 block to the sums, in place. Column sums are taken while the block
    is in cache, as products with ``ones`` (BLAS: 2x faster than a reduction over rows)."""
    s.n += x.shape[0]
    s.sx.addmv_(x.T, ones)
    s.sy.addmv_(y.T, ones)
    cross_product_into(s.sxy, x, y)
    if s.sxx.ndim == 2:
        self_product_into(s.sxx, x)
        self_product_into(s.syy, y)
    else:
        s.sxx += (x * x).sum(0)  # a block-sized temporary: 4x faster than a strided norm
        s.syy += (y * y).sum(0)
    if s.quartic is not None:
        q = s.quartic
        qx = torch.linalg.vector_norm(x, dim=1).square()
        qy = torch.linalg.vector_norm(y, dim=1).square()
        q["qx"] += qx.sum()
        q["qy"] += qy.sum()
        q["qxqy"] += qx @ qy
        q["qxqx"] += qx @ qx
        q["qyqy"] += qy @ qy
        q["qy_x"] += qy @ x  # sum_i qy_i x_i
        q["qx_y"] += qx @ y
        q["qx_x"] += qx @ x
        q["qy_y"] += qy @ y


def moments_of(
    x: torch.Tensor, y: torch.Tensor, quartic: bool = False, auto: bool = True
) -> CrossMoments:
    """One-shot moments of a pair already validated by ``check_pair``."""
    return CrossMoments(quartic=quartic, auto=auto).add_validated(x, y)


def centred_traces_of(x: torch.Tensor, y: torch.Tensor) -> tuple[float, torch.Tensor, float]:
    """(||Xc||_F^2, Xc^T Yc, ||Yc||_F^2) of a pair already validated by ``check_pair``: the
    values of ``moments_of(x, y, auto=False).centred_traces()``.

    A float64 host pair of at most one cache block a side (``CACHE_BLOCK_ELEMENTS``) is centred
    whole with numpy instead: the block accumulator's dozen small torch calls (pivot test,
    buffers, sums, rank-one corrections) cost more than the arithmetic at that size, and the
    centred copies are no larger than the accumulator's own buffers.
    """
    whole = max(x.numel(), y.numel()) <= CACHE_BLOCK_ELEMENTS
    if whole and host_float64(x) and host_float64(y):
        return _centred_traces_whole(x.numpy(), y.numpy())
    return moments_of(x, y, auto=False).centred_traces()


def _centred_traces_whole(a: np.ndarray, b: np.ndarray) -> tuple[float, torch.Tensor, float]:
    """:func:`centred_traces_of` by two-pass centring, applied twice: the second pass removes
    what rounding left of the first mean (the corrected two-pass algorithm; it is what the
    accumulator's final rank-one correction does), and it leaves a constant column exactly 0,
    so a constant input is refused as such rather than scored on rounding residue."""
    ac, bc = a - a.mean(0), b - b.mean(0)
    ac -= ac.mean(0)
    bc -= bc.mean(0)
    fx, fy = ac.reshape(-1), bc.reshape(-1)  # views (a copy only of column-major input)
    return float(fx @ fx), torch.from_numpy(ac.T @ bc), float(fy @ fy)
