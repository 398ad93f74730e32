"""The fully symmetrised inner product of two-bilinear-layer models, in closed form.

A canonical net ``W1, (L1, R1, D1), W2, (L2, R2, D2), W3`` is, per output ``k``, a quadratic
form in the first layer's padded outputs, ``f_k = y^T Lambda_k y`` with ``y_c = x~^T Y_c x~``,
``Y_c = sym(sum_s D1[c, s] l_s r_s^T)`` (``l_s``, ``r_s``: rows of ``L1 W1``, ``R1 W1``) and
``Lambda_k = sym(sum_u D[k, u] lambda_u rho_u^T)`` (``lambda``, ``rho``: rows of ``L2 W2``,
``R2 W2``; ``D = W3 D2``). Two exact routes to ``<Sym T_a,k, Sym T_b,k>``:

* **units** — the second layer's units, ``M_u = sum_c lambda_u[c] Y_c``, ``N_u`` likewise:
  ``sum_{u, v} D_a[k, u] D_b[k, v] [(<M,M'><N,N'> + <M,N'><N,M'>) / 6 + 2/3 tr(M M' N N')]``
  (of the 24 leg permutations, the 8 that keep the pairing {1, 2}{3, 4} give the first term, the
  16 that split it the alternating trace; ``tr(M N' N M') = tr(M M' N N')`` for symmetric
  matrices). Cost ``2 h_a h_b n^3`` (``h``: second-layer units, ``n``: input coordinates).
* **squares** — the eigendecomposition ``Lambda_k = sum_r sigma_r e_r e_r^T`` writes each
  output as a signed sum of at most ``m`` (stream width + 1) squares of quadratic forms
  ``E_r = sum_c e_r[c] Y_c``, so ``<Sym T_a,k, Sym T_b,k> = sum_{r, r'} sigma_r sigma'_r'
  (<E_r, E'_r'>^2 / 3 + 2/3 tr((E_r E'_r')^2))``. Cost ``sum_k r_a,k r_b,k n^3``, independent
  of the hidden widths (``r``: the ranks of ``Lambda_k``, at most ``m``): the route for wide
  models. Eigenvalues below rounding (``m eps max|sigma|``) are zeros and are dropped.

* **tensor** — each output's squares summed into one fully symmetric quartic tensor ``P``,
  packed to its ``C(n + 3, 4)`` sorted entries once per model
  (:mod:`~mechequiv.tensorsim.quartic`, ``~r n^4 / 8`` per output), after which a pair is a
  weighted dot product, ``~n^4 / 24`` per output. A model's ``P`` is kept for its later pairs
  within a memory budget shared by the nets an engine prepares (:class:`QuarticBudget`): the
  route for comparing many models, and for one pair too wherever ``n / 8 < r``.

The fastest route is chosen from these counts, and a pair whose estimated time (the count at
a per-device rate, :func:`rate`) exceeds ``MAX_SECONDS`` is refused with the estimate before
any work. All run on ``n`` input coordinates: the inner product only sees the projection of
one model onto the other's input row space (the symmetrisation commutes with it), so the pair
is written in an orthonormal basis of the smaller row space of the two first maps
(``n <= min(d_in, d_model) + 1``), not the joint one; a first map of full rank uses the input
coordinates themselves, shared by all such models.

The dominant step is ``~n^5 / 8`` per output and model (``r ~ n``) or ``h^2 n^3`` per pair.
The symmetric quartic has ``~n^4 / 24`` entries per output, each a sum over the output's
``r`` squares; we found no cheaper exact contraction (the split terms' index graph over the
two models' units of both layers is ``K_{3,3}``; every elimination order leaves a four-index
intermediate), though this is not a proof of a lower bound.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from mechequiv.errors import MechequivError
from mechequiv.tensorsim._ops import bilinear_at, linear_at
from mechequiv.tensorsim.network import TensorNet
from mechequiv.tensorsim.quartic import (
    Keeper,
    QuarticBudget,
    form_cost,
    live_extent,
    pack_pairs,
    quartic_chunks,
    quartic_count,
    quartic_plan,
    weighted_dot,
)

__all__ = [
    "MAX_MULTIPLY_ADDS",
    "MAX_SECONDS",
    "ROUTES",
    "TwoLayerForms",
    "TwoLayerNet",
    "alternating_traces",
    "choose_route",
    "estimated_seconds",
    "full_pair",
    "full_pair_tensor",
    "joint_basis",
    "max_multiply_adds",
    "output_squares",
    "quartic_pair",
    "rate",
    "route_costs",
    "row_basis",
    "square_forms",
    "square_traces",
    "squares_cost",
    "tensor_cost",
    "two_layer_cost",
    "two_layer_forms",
    "two_layer_full_inner",
    "two_layer_full_pair",
]

MAX_SECONDS = 30.0  # refusal threshold: the estimated time of one pair
# Float64 multiply-adds per second of these routes' products (small inner dimensions, so
# well below peak): one CPU core (measured in benchmarks/bench_tensorsim_exact.py, scaled by
# the torch thread count) and a data-centre GPU (assumed, conservatively).
CPU_RATE = 4e9
CUDA_RATE = 2e12
MAX_MULTIPLY_ADDS = MAX_SECONDS * CPU_RATE  # one CPU thread
CHUNK_ENTRIES = 2**23  # float64 entries per intermediate (64 MiB)
QUARTIC_CACHE_ENTRIES = 2**24  # a lone net's budget for its packed quartics (128 MiB)


def rate(device: torch.device) -> float:
    """Estimated multiply-adds per second of the exact two-layer forms on ``device``."""
    if device.type == "cuda":
        return CUDA_RATE
    return CPU_RATE * max(1, torch.get_num_threads())


def max_multiply_adds(device: torch.device) -> float:
    """The refusal threshold for the exact two-layer forms on ``device`` (``MAX_SECONDS`` at
    :func:`rate`)."""
    return MAX_SECONDS * rate(device)


@dataclass(frozen=True, eq=False)
class TwoLayerForms:
    """A two-bilinear-layer net on chosen input coordinates ``z`` (``x~ = V z``).

    ``Y``: (m, n, n) symmetric forms of the first layer's padded outputs; ``lam``, ``rho``:
    (h2, m) the second layer's left and right reads of them; ``out``: (d_out, h2)."""

    Y: torch.Tensor
    lam: torch.Tensor
    rho: torch.Tensor
    out: torch.Tensor

    def units(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(M, N)``: each second-layer unit's two input forms, (h2, n, n) each."""
        n = self.Y.shape[1]
        Yf = self.Y.reshape(self.Y.shape[0], n * n)
        return (self.lam @ Yf).view(-1, n, n), (self.rho @ Yf).view(-1, n, n)


def two_layer_forms(net: TensorNet, V: torch.Tensor | None = None) -> TwoLayerForms:
    """The forms of ``net`` (exactly two bilinear layers) on coordinates ``z`` with padded input
    ``x~ = V z`` (``V=None``: the padded input itself)."""
    W1, W2, W3 = linear_at(net, 0), linear_at(net, 2), linear_at(net, 4)
    B1, B2 = bilinear_at(net, 1), bilinear_at(net, 3)
    first = W1.W if V is None else W1.W @ V
    lw, rw = B1.L @ first, B1.R @ first  # (h1, n)
    # Y_c = sym(lw^T diag(D1[c]) rw): one GEMM over the units, m n^2 outputs.
    h1, n = lw.shape
    Y = lw.new_zeros((B1.D.shape[0], n * n))
    step = max(1, CHUNK_ENTRIES // max(1, n * n))
    for lo in range(0, h1, step):
        sl = slice(lo, lo + step)
        Y += B1.D[:, sl] @ (lw[sl, :, None] * rw[sl, None, :]).reshape(-1, n * n)
    Y = Y.view(-1, n, n)
    Y = 0.5 * (Y + Y.transpose(1, 2))
    return TwoLayerForms(Y, B2.L @ W2.W, B2.R @ W2.W, (W3.W @ B2.D)[1:])


def output_squares(
    out: torch.Tensor, lam: torch.Tensor, rho: torch.Tensor
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per output ``k``: ``(sigma, e)`` with ``Lambda_k = sym(sum_u out[k, u] lam_u rho_u^T)
    = e diag(sigma) e^T``, rounding-level eigenvalues dropped (``e``: (m, r_k))."""
    Lam = torch.einsum("ku,uc,ud->kcd", out, lam, rho)
    Lam = 0.5 * (Lam + Lam.transpose(1, 2))
    w, vecs = torch.linalg.eigh(Lam)
    m = Lam.shape[1]
    top = w.abs().amax(1, keepdim=True) if m else w
    keep = (w.abs() > m * np.finfo(float).eps * top).tolist()  # one transfer for all outputs
    squares: list[tuple[torch.Tensor, torch.Tensor]] = []
    for k in range(Lam.shape[0]):
        idx = [i for i, x in enumerate(keep[k]) if x]
        squares.append((w[k, idx], vecs[k][:, idx]))
    return squares


def row_basis(W: torch.Tensor) -> torch.Tensor:
    """Orthonormal basis (d_in + 1, r + 1) of a space holding the row space of a padded first
    map ``W``: the constant coordinate, then a basis of the rows of ``W[1:, 1:]`` (so that the
    constant stays coordinate 0, as the Gaussian form needs)."""
    stacked = W[1:, 1:]
    _, s, vt = torch.linalg.svd(stacked, full_matrices=False)
    tol = max(stacked.shape) * np.finfo(float).eps * (float(s[0]) if s.numel() else 0.0)
    return _pad_basis(vt[: int((s > tol).sum())].T)


def _pad_basis(Qx: torch.Tensor) -> torch.Tensor:
    Q = Qx.new_zeros((Qx.shape[0] + 1, Qx.shape[1] + 1))
    Q[0, 0] = 1.0
    Q[1:, 1:] = Qx
    return Q


def joint_basis(Qa: torch.Tensor, Qb: torch.Tensor) -> torch.Tensor:
    """:func:`row_basis` of the union of two such bases."""
    if Qa is Qb or Qa.shape[0] == Qa.shape[1]:
        return Qa  # the same, or one spanning the whole padded input
    stacked = torch.cat([Qa[1:, 1:], Qb[1:, 1:]], dim=1).T
    _, s, vt = torch.linalg.svd(stacked, full_matrices=False)
    tol = max(stacked.shape) * np.finfo(float).eps * (float(s[0]) if s.numel() else 0.0)
    return _pad_basis(vt[: int((s > tol).sum())].T)


class TwoLayerNet(Keeper):
    """A net with exactly two bilinear layers, prepared once for any number of pairs: the
    basis ``Q`` of its input row space, its outputs' squares (basis-free), its forms on ``Q``
    and its packed quartics (built on first use; the quartics kept within ``budget``, by
    default one of its own)."""

    def __init__(self, net: TensorNet, budget: QuarticBudget | None = None) -> None:
        if net.n_bilinear != 2:
            raise ValueError(f"a net with {net.n_bilinear} bilinear layers; this form needs 2")
        self.net = net
        W = linear_at(net, 0).W
        Q = row_basis(W)
        # A first map of full rank: the padded input's own coordinates (one basis shared by
        # all such nets, so that their packed quartics pair without a change of basis).
        self.Q = (
            torch.eye(Q.shape[0], dtype=W.dtype, device=W.device) if Q.shape[1] == Q.shape[0] else Q
        )
        W2, W3, B2 = linear_at(net, 2), linear_at(net, 4), bilinear_at(net, 3)
        self.lam, self.rho, self.out = B2.L @ W2.W, B2.R @ W2.W, (W3.W @ B2.D)[1:]
        self.squares = output_squares(self.out, self.lam, self.rho)
        self._forms: TwoLayerForms | None = None
        self._quartics: torch.Tensor | None = None
        self.budget = QuarticBudget(QUARTIC_CACHE_ENTRIES) if budget is None else budget
        # Other per-net quantities the forms derive once (the Gaussian's Hermite parts).
        self.memo: dict[str, Any] = {}

    def same_basis(self, other: TwoLayerNet) -> bool:
        """Whether the two nets' forms are written in the same coordinates."""
        return self.Q is other.Q or (
            self.Q.shape == other.Q.shape and bool(torch.equal(self.Q, other.Q))
        )

    @property
    def quartics_cached(self) -> bool:
        return self._quartics is not None

    def drop_quartics(self) -> None:
        self._quartics = None

    def quartic_batches(
        self, basis: torch.Tensor, batch: int
    ) -> Iterator[tuple[slice, torch.Tensor]]:
        """This net's packed quartics (:mod:`~mechequiv.tensorsim.quartic`) on ``basis``, in
        batches of ``batch`` outputs. On its own basis they are kept after the first use where
        the budget admits them."""
        own = basis is self.Q or (basis.shape == self.Q.shape and bool(torch.equal(basis, self.Q)))
        if own and self._quartics is not None:
            self.budget.touch(self)
            P = self._quartics
            for lo in range(0, P.shape[1], batch):
                yield slice(lo, lo + batch), P[:, lo : lo + batch]
            return
        forms = self.forms() if own else self.forms_on(basis)
        n = forms.Y.shape[1]
        plan = quartic_plan(n, str(forms.Y.device))
        i0, i1 = pack_pairs(n, forms.Y.device)
        Yp = forms.Y[:, i0, i1]
        rows = live_extent(Yp, plan)[1]
        if own and self.budget.admit(self, rows * len(self.squares), Yp.device):
            kept = Yp.new_empty((rows, len(self.squares)))
            for ks, P in quartic_chunks(Yp, self.squares, plan):
                kept[:, ks] = P
            self._quartics = kept
            yield from self.quartic_batches(basis, batch)
            return
        yield from quartic_chunks(Yp, self.squares, plan, batch)

    @property
    def ranks(self) -> list[int]:
        return [s.numel() for s, _ in self.squares]

    @property
    def units(self) -> int:
        return self.out.shape[1]

    @property
    def width(self) -> int:
        """Padded width of the first layer's output (the number of forms ``Y_c``)."""
        return self.lam.shape[1]

    def forms_cost(self, n: int) -> float:
        """Multiply-adds of building the forms ``Y`` and mapping them to ``n`` coordinates."""
        return (
            bilinear_at(self.net, 1).L.shape[0] * self.width * self.Q.shape[1] ** 2
            + 2 * self.width * n**3
        )

    def forms(self) -> TwoLayerForms:
        if self._forms is None:
            self._forms = two_layer_forms(self.net, self.Q)
        return self._forms

    def forms_on(self, basis: torch.Tensor) -> TwoLayerForms:
        """The forms on another orthonormal ``basis``: the net restricted to its span."""
        if basis is self.Q:
            return self.forms()
        f = self.forms()
        C = basis.T @ self.Q
        return TwoLayerForms(torch.einsum("ia,cab,jb->cij", C, f.Y, C), f.lam, f.rho, f.out)


def alternating_traces(
    A: torch.Tensor, B: torch.Tensor, C: torch.Tensor, D: torch.Tensor
) -> torch.Tensor:
    """``tr(A_u B_v C_u D_v)`` for all (u, v): two large matrix products per chunk of u,
    ``2 h_a h_b n^3`` multiply-adds in all, memory bounded by chunking over u (one product
    when ``A is C`` and ``B is D``)."""
    if A is C and B is D:
        return square_traces(A, B)
    h_a, n, _ = A.shape
    h_b = B.shape[0]
    Bt, Dt = B.permute(1, 0, 2).reshape(n, h_b * n), D.permute(1, 0, 2).reshape(n, h_b * n)
    chunk = max(1, CHUNK_ENTRIES // max(1, n * h_b * n))
    out = []
    for lo in range(0, h_a, chunk):
        a, c = A[lo : lo + chunk], C[lo : lo + chunk]
        k = a.shape[0]
        P = (a.reshape(k * n, n) @ Bt).view(k, n, h_b, n)
        Q = (c.reshape(k * n, n) @ Dt).view(k, n, h_b, n)
        out.append((P * Q.permute(0, 3, 2, 1)).sum((1, 3)))
    return torch.cat(out)


def square_traces(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """``tr((A_u B_v)^2)`` for all (u, v): one matrix product, ``h_a h_b n^3`` (half that for
    ``A is B``, whose result is symmetric)."""
    h_a, n, _ = A.shape
    h_b = B.shape[0]
    same = A is B
    chunk = max(1, CHUNK_ENTRIES // max(1, n * h_b * n))
    out = A.new_empty((h_a, h_b))
    for lo in range(0, h_a, chunk):
        a = A[lo : lo + chunk]
        k = a.shape[0]
        first = lo if same else 0  # a symmetric result needs only the columns from lo on
        Bt = B[first:].permute(1, 0, 2).reshape(n, (h_b - first) * n)
        P = (a.reshape(k * n, n) @ Bt).view(k, n, h_b - first, n)
        out[lo : lo + k, first:] = (P * P.permute(0, 3, 2, 1)).sum((1, 3))
        if same:
            out[first:, lo : lo + k] = out[lo : lo + k, first:].T.clone()
    return out


def _frob(X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    return X.flatten(1) @ Y.flatten(1).T


def _units_pair(fa: TwoLayerForms, fb: TwoLayerForms) -> torch.Tensor:
    (Ma, Na), (Mb, Nb) = fa.units(), fb.units()
    layer = 0.5 * (_frob(Ma, Mb) * _frob(Na, Nb) + _frob(Ma, Nb) * _frob(Na, Mb))
    K = (layer + 2 * alternating_traces(Ma, Mb, Na, Nb)) / 3
    return torch.einsum("ku,uv,kv->k", fa.out, K, fb.out)


def square_forms(f: TwoLayerForms, e: torch.Tensor) -> torch.Tensor:
    """The forms ``E_r = sum_c e[c, r] Y_c`` (r, n, n) of one output's squares."""
    n = f.Y.shape[1]
    return (e.T @ f.Y.reshape(f.Y.shape[0], n * n)).view(-1, n, n)


def _squares_pair(
    fa: TwoLayerForms,
    fb: TwoLayerForms,
    sq_a: list[tuple[torch.Tensor, torch.Tensor]],
    sq_b: list[tuple[torch.Tensor, torch.Tensor]],
) -> torch.Tensor:
    out = fa.Y.new_zeros(len(sq_a))
    for k, ((sa, ea), (sb, eb)) in enumerate(zip(sq_a, sq_b, strict=True)):
        if not sa.numel() or not sb.numel():
            continue
        Ea = square_forms(fa, ea)
        Eb = Ea if fa is fb and ea is eb else square_forms(fb, eb)
        K = (_frob(Ea, Eb) ** 2 + 2 * square_traces(Ea, Eb)) / 3
        out[k] = sa @ K @ sb
    result: torch.Tensor = out
    return result


def two_layer_cost(h_a: int, h_b: int, n: int) -> float:
    """Multiply-adds of the dominant step of the units route, ``2 h_a h_b n^3``."""
    return 2.0 * h_a * h_b * n**3


def squares_cost(ranks_a: list[int], ranks_b: list[int], m: int, n: int) -> float:
    """Multiply-adds of the squares route: the products ``E_r E'_r'`` and building the ``E``."""
    return sum(
        ra * rb * n**3 + (ra + rb) * m * n**2 for ra, rb in zip(ranks_a, ranks_b, strict=True)
    )


def tensor_cost(pa: TwoLayerNet, pb: TwoLayerNet, n: int) -> float:
    """Multiply-adds of the tensor route for ``pb`` on ``pa``'s basis: forming each model's
    packed quartics unless kept from an earlier pair, and the pair's weighted dot products."""
    cost = 2.0 * quartic_count(n) * len(pa.ranks)
    if not pa.quartics_cached:
        cost += form_cost(n, pa.ranks, pa.width)
    if not (pb.quartics_cached and pa.same_basis(pb)):
        cost += form_cost(n, pb.ranks, pb.width)
    return cost


ROUTES = ("units", "squares", "tensor")


def route_costs(
    pa: TwoLayerNet, pb: TwoLayerNet, n: int, n_units: int | None = None
) -> dict[str, float]:
    """Estimated multiply-adds of each route for the pair on ``n`` coordinates (``n_units`` for
    the units route if it runs on other ones), the forms included."""
    forms = pa.forms_cost(n) + pb.forms_cost(n)
    return {
        "units": two_layer_cost(pa.units, pb.units, n if n_units is None else n_units) + forms,
        "squares": squares_cost(pa.ranks, pb.ranks, max(pa.width, pb.width), n) + forms,
        "tensor": tensor_cost(pa, pb, n) + forms,
    }


def estimated_seconds(madds: float, device: torch.device) -> float:
    """Estimated time of ``madds`` multiply-adds of these routes on ``device``."""
    return madds / rate(device)


def choose_route(
    pa: TwoLayerNet,
    pb: TwoLayerNet,
    n: int,
    what: str,
    route: str | None,
    n_units: int | None = None,
) -> str:
    """The fastest route for a pair on ``n`` coordinates (``n_units`` for the units route if it
    runs on other ones), or ``route``; refused where the estimated time exceeds
    ``MAX_SECONDS``."""
    if route not in (None, *ROUTES):
        raise ValueError(f"route must be one of {ROUTES}; got {route!r}")
    costs = route_costs(pa, pb, n, n_units)
    chosen = route or min(ROUTES, key=costs.__getitem__)
    device = pa.Q.device
    seconds = estimated_seconds(costs[chosen], device)
    if seconds > MAX_SECONDS:
        raise MechequivError(
            f"the {what} of two bilinear layers needs ~{costs[chosen]:.2g} multiply-adds here, "
            f"~{seconds:.0f} s on {device.type} by the {chosen!r} route (second-layer units "
            f"{pa.units} x {pb.units}, {len(pa.ranks)} outputs of rank <= "
            f"{max(pa.width, pb.width)}, {n} input coordinates; limit {MAX_SECONDS:.0f} s); use "
            "symmetrize='layer' (fast, but not a same-function test at this depth)"
        )
    return chosen


def quartic_pair(
    pa: TwoLayerNet, pb: TwoLayerNet, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Per output, ``sum_q weights[q] P_a[q] P_b[q]`` over the packed quartics of ``pa`` (on its
    basis) and ``pb`` (projected onto it); the orderings' weights by default, which gives the
    fully symmetrised inner product."""
    n = pa.Q.shape[1]
    plan = quartic_plan(n, str(pa.Q.device))
    w = plan.weights if weights is None else weights
    d_out = len(pa.ranks)
    kept = pa.quartics_cached and pb.quartics_cached and pa.same_basis(pb)
    batch = d_out if kept else plan.batch(max(pa.ranks + pb.ranks, default=0), d_out)
    out = pa.Q.new_zeros(d_out)
    for (ks, Pa), (_, Pb) in zip(
        pa.quartic_batches(pa.Q, batch), pb.quartic_batches(pa.Q, batch), strict=True
    ):
        out[ks] = weighted_dot(w, Pa, Pb)
    return out


def full_pair_tensor(pa: TwoLayerNet, pb: TwoLayerNet, route: str | None = None) -> torch.Tensor:
    """Per-output inner products of the fully symmetrised tensors of two prepared nets, on the
    nets' device."""
    if pb.Q.shape[1] < pa.Q.shape[1]:
        pa, pb = pb, pa  # the inner product is symmetric; project onto the smaller space
    n = pa.Q.shape[1]
    chosen = choose_route(pa, pb, n, "fully symmetrised form", route)
    if chosen == "tensor":
        return quartic_pair(pa, pb)
    fa, fb = pa.forms(), pb.forms_on(pa.Q)
    if chosen == "squares":
        return _squares_pair(fa, fb, pa.squares, pb.squares)
    return _units_pair(fa, fb)


def full_pair(pa: TwoLayerNet, pb: TwoLayerNet, route: str | None = None) -> np.ndarray:
    """Per-output inner products of the fully symmetrised tensors of two prepared nets
    (``route``: "units", "squares" or "tensor"; default: the fastest by estimate)."""
    return full_pair_tensor(pa, pb, route).cpu().numpy().copy()


def two_layer_full_pair(a: TensorNet, b: TensorNet, route: str | None = None) -> np.ndarray:
    """Per-output inner products of the fully symmetrised tensors of two nets with exactly two
    bilinear layers each (unscaled). ``route``: "units", "squares" or "tensor" (default: the
    fastest by estimate)."""
    return full_pair(TwoLayerNet(a), TwoLayerNet(b), route)


def two_layer_full_inner(a: TensorNet, b: TensorNet) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-output (ab, aa, bb) inner products of the fully symmetrised tensors of two nets with
    exactly two bilinear layers each (unscaled)."""
    pa, pb = TwoLayerNet(a), TwoLayerNet(b)
    return full_pair(pa, pb), full_pair(pa, pa), full_pair(pb, pb)
