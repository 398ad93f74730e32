"""The Gaussian-input form: expected output inner product under ``x ~ N(mu, Sigma)``.

``E_x[<f_a(x), f_b(x)>]`` per output coordinate (summed for the total); by default
``x ~ N(0, I)``. :func:`standardize` folds ``x = mu + C z`` (``C C^T = Sigma``) into the first
linear map, after which the input is ``z ~ N(0, I)``: the padded ``z~ = [1; z]`` has mean
``e_0`` and covariance ``P = diag(0, 1, ..., 1)``. Everything below is exact (float64); no
Monte Carlo in any default path.

* **No or one bilinear layer**: Isserlis with means in closed form (``_one_layer``). For a
  homogeneous layer ``E[f_a,k f_b,k] = tr(B~_a,k) tr(B~_b,k) + 2 <B~_a,k, B~_b,k>``.
* **Two bilinear layers**: three exact routes, the fastest chosen by its estimated time
  (:func:`~mechequiv.tensorsim.fullsym.choose_route`). *Units* (on the joint row space of
  the two first maps): each second-layer unit multiplies two quadratic forms
  ``p_u = x~^T M_u x~`` and ``q_u = x~^T N_u x~`` of the Gaussian ``x~ = W_1 z~ ~ N(m, S)``, so
  ``E[f_a,k f_b,k] = sum_{u,v} D_a[k,u] D_b[k,v] E[p_u q_u p'_v q'_v]``. The fourth moment of
  quadratic forms is the sum over the 15 set partitions of the product of joint cumulants,
  ``kappa(Q_1..Q_j) = 2^(j-1) [sum over the (j-1)! cycles tr(A_1 S A_2 S ... A_j S)
  + sum over the j! orderings m^T A_1 S A_2 S ... S A_j m]`` (the Wick pairings of the 8 legs
  grouped by the cycles they close, with the means as open chains); ``O(h_a h_b n^3)``.
  *Squares*: each output is a signed sum of squares ``f = sum_r sigma_r e_r^2`` of quadratic
  forms (:func:`~mechequiv.tensorsim.fullsym.output_squares`), whose Hermite (Wick-ordered)
  components of degrees 0..4 are written out in closed form, and
  ``E[f f'] = sum_j j! <H_j f, H_j f'>``; ``O(sum_k r_a,k r_b,k n^3)``, ``r <= d_model + 1``,
  independent of the hidden widths. *Tensor*: the degree-4 and degree-3 components read off
  each model's packed symmetric quartic (:mod:`~mechequiv.tensorsim.quartic`), formed once per
  model (``O(r n^4 / 8)`` per output), then ``O(n^4 / 24)`` per output and pair.
* **Three or more**: exact through the monomial coefficients in the reduced input coordinates
  (:mod:`mechequiv.tensorsim.dense`), for small models; refused with the size beyond.

Why no polynomial algorithm exists for general depth (proof and costs in
``docs/tensorsim_complexity.md``): the product of ``N = 2^k`` linear forms is a ``k``-layer
bilinear net of width ``N/2``. For ``f_a = prod_j (q_j . x)`` and ``f_b = x_1 ... x_N`` every
Wick pairing with a nonzero weight pairs each ``x_i`` with a distinct ``q_j`` (``e_i . e_j = 0``
for ``i != j``, and ``N`` of them use up all ``N`` factors of ``f_a``), so
``E[f_a f_b] = perm(Q)`` for *any* ``Q``; the fully symmetrised form of the same nets is
``perm(Q) / N!``. Permanents of 0/1 matrices are #P-complete (Valiant 1979), so both forms are
#P-hard at depth ``log2 N``; for a fixed depth both are polynomial in the width.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator

import numpy as np
import torch

from mechequiv.tensorsim._ops import linear_at
from mechequiv.tensorsim.dense import check_dense_fits, dense_gaussian_inner, reduce_inputs
from mechequiv.tensorsim.fullsym import (
    MAX_MULTIPLY_ADDS,
    ROUTES,
    TwoLayerNet,
    alternating_traces,
    choose_route,
    joint_basis,
    quartic_pair,
    square_forms,
    square_traces,
)
from mechequiv.tensorsim.network import BilinearOp, LinearOp, TensorNet
from mechequiv.tensorsim.quartic import quartic_plan

__all__ = [
    "MAX_MULTIPLY_ADDS",
    "gaussian_inner",
    "gaussian_inner_monte_carlo",
    "gaussian_pair",
    "gaussian_two_layer",
    "gaussian_two_layer_tensor",
    "standardize",
]


def standardize(
    net: TensorNet, mean: np.ndarray | None = None, cov: np.ndarray | None = None
) -> TensorNet:
    """``net`` rewritten so that its input is ``z ~ N(0, I)`` where it had ``x ~ N(mean, cov)``
    (``x = mean + C z``, ``C = U sqrt(lambda)`` from the eigendecomposition of ``cov``)."""
    if mean is None and cov is None:
        return net
    d = net.d_in
    mu = np.zeros(d) if mean is None else np.asarray(mean, dtype=np.float64)
    if mu.shape != (d,):
        raise ValueError(f"mean must have shape ({d},); got {mu.shape}")
    if cov is None:
        C = np.eye(d)
    else:
        S = np.asarray(cov, dtype=np.float64)
        if S.shape != (d, d) or not np.allclose(S, S.T, rtol=1e-10, atol=1e-12):
            raise ValueError(f"cov must be a symmetric ({d}, {d}) matrix; got shape {S.shape}")
        lam, U = np.linalg.eigh(S)
        if lam.min() < -1e-10 * max(1.0, lam.max()):
            raise ValueError(
                f"cov must be positive semi-definite; smallest eigenvalue {lam.min():.3g}"
            )
        C = U * np.sqrt(np.clip(lam, 0.0, None))
    T = np.zeros((d + 1, d + 1))
    T[0, 0] = 1.0
    T[1:, 0] = mu
    T[1:, 1:] = C
    W = linear_at(net, 0).W
    first = LinearOp(W @ torch.as_tensor(T, dtype=W.dtype, device=W.device))
    return TensorNet((first, *net.ops[1:]), d, net.d_out)


def gaussian_pair(a: TensorNet, b: TensorNet, route: str | None = None) -> np.ndarray:
    """Per-output ``E[f_a,k(z) f_b,k(z)]`` for ``z ~ N(0, I)`` (standardize first for other
    Gaussians); the nets must have the same number of bilinear layers. ``route`` (two layers
    only): "units" or "squares" (default: the cheaper, see :mod:`~mechequiv.tensorsim.fullsym`)."""
    if route not in (None, *ROUTES):
        raise ValueError(f"route must be one of {ROUTES}; got {route!r}")
    if a.n_bilinear != b.n_bilinear:
        raise ValueError(f"the nets have {a.n_bilinear} and {b.n_bilinear} bilinear layers")
    if a.d_in != b.d_in:
        raise ValueError(f"input widths differ: {a.d_in} and {b.d_in}")
    if a.n_bilinear <= 1:
        return _one_layer(_pieces(a), _pieces(b))
    if a.n_bilinear == 2:
        return gaussian_two_layer(TwoLayerNet(a), TwoLayerNet(b), route)
    ra, rb = reduce_inputs(a, b)
    check_dense_fits(ra, rb, "gaussian")
    return dense_gaussian_inner(ra, rb)[0]


def gaussian_inner(a: TensorNet, b: TensorNet) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-output ``E[f_a,k f_b,k]``, ``E[f_a,k^2]``, ``E[f_b,k^2]`` for ``x ~ N(0, I)``."""
    return gaussian_pair(a, b), gaussian_pair(a, a), gaussian_pair(b, b)


_Pieces = tuple[torch.Tensor, BilinearOp | None, torch.Tensor | None]


def _pieces(net: TensorNet) -> _Pieces:
    """(pre, op, post): one bilinear op between two composed linear maps, or (W, None, None)."""
    pre = linear_at(net, 0).W
    op: BilinearOp | None = None
    post: torch.Tensor | None = None
    for x in net.ops[1:]:
        if isinstance(x, BilinearOp):
            op, post = x, torch.eye(x.d_out + 1, dtype=pre.dtype, device=pre.device)
        elif op is None:
            pre = x.W @ pre
        else:
            assert post is not None  # set with op
            post = x.W @ post
    return pre, op, post


def _one_layer(pa: _Pieces, pb: _Pieces) -> np.ndarray:
    if pa[1] is None:
        Wa, Wb = pa[0][1:], pb[0][1:]
        # mean part W[:,0] W'[:,0] plus covariance part: together the plain row inner product.
        result: np.ndarray = (Wa * Wb).sum(1).cpu().numpy()
        return result
    (pre_a, op_a, post_a), (pre_b, op_b, post_b) = pa, pb
    # one bilinear layer in each (gaussian_pair checked equal depths)
    assert op_a is not None and op_b is not None and post_a is not None and post_b is not None
    P = torch.eye(pre_a.shape[1], dtype=pre_a.dtype, device=pre_a.device)
    P[0, 0] = 0.0
    l1, r2 = op_a.L @ pre_a, op_a.R @ pre_a  # legs 1, 2 (units of a)
    l3, r4 = op_b.L @ pre_b, op_b.R @ pre_b  # legs 3, 4 (units of b)
    m1, m2, m3, m4 = l1[:, 0], r2[:, 0], l3[:, 0], r4[:, 0]
    c12 = torch.einsum("ui,ij,uj->u", l1, P, r2)
    c34 = torch.einsum("vi,ij,vj->v", l3, P, r4)
    c13, c14 = l1 @ P @ l3.T, l1 @ P @ r4.T
    c23, c24 = r2 @ P @ l3.T, r2 @ P @ r4.T
    outer = torch.outer
    # Isserlis with means: all ways to split 4 legs into pairs (covariances) and singletons (means).
    E = (
        outer(m1 * m2 + c12, m3 * m4 + c34)
        + c13 * outer(m2, m4)
        + c14 * outer(m2, m3)
        + c23 * outer(m1, m4)
        + c24 * outer(m1, m3)
        + c13 * c24
        + c14 * c23
    )
    Aa, Ab = (post_a @ op_a.D)[1:], (post_b @ op_b.D)[1:]
    return torch.einsum("ku,uv,kv->k", Aa, E, Ab).cpu().numpy()


# ---- two bilinear layers: joint cumulants of quadratic forms --------------------------------


def _set_partitions(items: list[int]) -> Iterator[list[tuple[int, ...]]]:
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for part in _set_partitions(rest):
        yield [(first,), *part]
        for i in range(len(part)):
            yield [*part[:i], (first, *part[i]), *part[i + 1 :]]


def _distinct_cycles(block: tuple[int, ...]) -> list[tuple[tuple[int, ...], int]]:
    """Cyclic orders of ``block`` up to reversal, with how many directed cycles each stands for
    (a trace of symmetric matrices is unchanged by reversing the cycle)."""
    first, rest = block[0], block[1:]
    seen: dict[tuple[int, ...], int] = {}
    for p in itertools.permutations(rest):
        cyc = (first, *p)
        rev = (first, *reversed(p))
        key = min(cyc, rev)
        seen[key] = seen.get(key, 0) + 1
    return list(seen.items())


def _distinct_chains(block: tuple[int, ...]) -> list[tuple[tuple[int, ...], int]]:
    """Orderings of ``block`` up to reversal (``m^T A_1 S ... A_j m`` is a scalar and its
    transpose reverses the order), with multiplicities."""
    seen: dict[tuple[int, ...], int] = {}
    for p in itertools.permutations(block):
        key = min(p, tuple(reversed(p)))
        seen[key] = seen.get(key, 0) + 1
    return list(seen.items())


_OWNER = "uuvv"  # slots 0, 1: model a's M_u, N_u; slots 2, 3: model b's M'_v, N'_v


def _runs(slots: tuple[int, ...]) -> list[tuple[str, list[int]]]:
    out: list[tuple[str, list[int]]] = []
    for s in slots:
        if out and out[-1][0] == _OWNER[s]:
            out[-1][1].append(s)
        else:
            out.append((_OWNER[s], [s]))
    return out


class _Slots:
    """The four slots' forms ``A`` and ``A S`` with a memo of the runs' products (each run
    ``A_1 S A_2 S ...`` occurs in many cycles and chains)."""

    def __init__(self, A: list[torch.Tensor], S: torch.Tensor) -> None:
        self.A = A
        by_id: dict[int, torch.Tensor] = {}
        self.AS = [by_id.setdefault(id(x), x @ S) for x in A]  # one product per distinct form
        self._memo: dict[tuple[tuple[int, ...], bool], torch.Tensor] = {}

    def product(self, run: list[int], plain_last: bool = False) -> torch.Tensor:
        """``A_1 S A_2 S ... A_j S`` over ``run`` (the last without ``S`` if ``plain_last``)."""
        key = (tuple(run), plain_last)
        if key not in self._memo:
            mats = [self.AS[s] for s in run]
            if plain_last:
                mats[-1] = self.A[run[-1]]
            out = mats[0]
            for m in mats[1:]:
                out = out @ m
            self._memo[key] = out
        return self._memo[key]


def _cycle(slots: tuple[int, ...], sl: _Slots) -> torch.Tensor:
    """``tr(A_1 S A_2 S ... A_j S)`` over the slots, as a (u, v)-broadcastable array."""
    owners = [_OWNER[s] for s in slots]
    if len(set(owners)) == 1:
        tr = sl.product(list(slots)).diagonal(dim1=-2, dim2=-1).sum(-1)
        return tr[:, None] if owners[0] == "u" else tr[None, :]
    # Rotate so that a run of one model's matrices starts the cycle, and it is model a's.
    k = next(i for i in range(len(slots)) if owners[i] != owners[i - 1] and owners[i] == "u")
    runs = _runs(slots[k:] + slots[:k])
    P = [sl.product(run) for _, run in runs]
    if len(runs) == 2:  # tr(P_u Q_v): one matrix product over the flattened n x n
        return P[0].flatten(1) @ P[1].transpose(1, 2).flatten(1).T
    result: torch.Tensor = alternating_traces(*P)
    return result


def _chain(slots: tuple[int, ...], sl: _Slots, m: torch.Tensor) -> torch.Tensor:
    """``m^T A_1 S A_2 S ... S A_j m`` over the slots, as a (u, v)-broadcastable array."""
    R, dims = m, ""  # a row vector; dims: which of u, v it carries so far
    for owner, run in _runs(slots):
        out = "".join(sorted(set(dims + owner)))
        R = torch.einsum(f"{dims}j,{owner}jk->{out}k", R, sl.product(run, run[-1] == slots[-1]))
        dims = out
    value = R @ m
    return value[:, None] if dims == "u" else value[None, :] if dims == "v" else value


def _cumulant(block: tuple[int, ...], sl: _Slots, m: torch.Tensor) -> torch.Tensor:
    """Joint cumulant of the quadratic forms in ``block`` as a (u, v)-broadcastable array."""
    total: torch.Tensor | float = 0.0  # a tensor after the first term (every block has one)
    for cyc, mult in _distinct_cycles(block):
        total = total + mult * _cycle(cyc, sl)
    for chain, mult in _distinct_chains(block):
        total = total + mult * _chain(chain, sl, m)
    assert isinstance(total, torch.Tensor)
    return 2.0 ** (len(block) - 1) * total


_PARTITIONS = list(_set_partitions([0, 1, 2, 3]))


def gaussian_two_layer(pa: TwoLayerNet, pb: TwoLayerNet, route: str | None = None) -> np.ndarray:
    """Per-output ``E[f_a,k(z) f_b,k(z)]``, ``z ~ N(0, I)``, for two prepared two-layer nets
    (``route``: "units", "squares" or "tensor"; default: the fastest by estimate)."""
    return gaussian_two_layer_tensor(pa, pb, route).cpu().numpy()


def gaussian_two_layer_tensor(
    pa: TwoLayerNet, pb: TwoLayerNet, route: str | None = None
) -> torch.Tensor:
    """:func:`gaussian_two_layer` on the nets' device.

    Both models read the same ``z`` through different first maps. The units route writes the
    forms on ``z~`` restricted to the joint row space of the two first maps (an orthonormal basis
    with the constant kept as coordinate 0, so ``z~`` there has mean ``e0`` and covariance
    ``P``). The squares and tensor routes (each output a signed sum of squares of quadratic
    forms, :func:`~mechequiv.tensorsim.fullsym.output_squares`) use ``E[f f'] = sum_j j!
    <H_j f, H_j f'>`` over the Hermite components, which lets them run on the smaller of the
    two row spaces, as the weight form does: the squares route pairs the squares, the tensor
    route reads the degree-4 and degree-3 components off each model's packed quartic
    (:mod:`~mechequiv.tensorsim.quartic`)."""
    J = joint_basis(pa.Q, pb.Q)
    if pb.Q.shape[1] < pa.Q.shape[1]:
        pa, pb = pb, pa  # E[f_a f_b] is symmetric; the squares run on the smaller row space
    n = pa.Q.shape[1]
    chosen = choose_route(pa, pb, n, "exact Gaussian form", route, n_units=J.shape[1])
    if chosen == "units":
        fa, fb = pa.forms_on(J), pb.forms_on(J)
        (Ma, Na), (Mb, Nb) = fa.units(), fb.units()
        return _expected_products(Ma, Na, fa.out, Mb, Nb, fb.out)
    # Each model's low Hermite components are formed on its own row space (their contractions
    # run over all of it), then b's are projected onto a's row space, which is all that the
    # inner products <H_j f_a, H_j f_b> see.
    C = None if pa.same_basis(pb) else pa.Q[1:, 1:].T @ pb.Q[1:, 1:]
    if chosen == "tensor":
        return _tensor_route(pa, pb, C)
    fa, fb = pa.forms(), pb.forms()
    out = fa.Y.new_zeros(fa.out.shape[0])
    for k, ((sa, ea), (sb, eb)) in enumerate(zip(pa.squares, pb.squares, strict=True)):
        if sa.numel() and sb.numel():
            x = _SquareParts(square_forms(fa, ea), sa)
            y = x if fa is fb and ea is eb else _SquareParts(square_forms(fb, eb), sb)
            out[k] = _hermite_inner(x, y if C is None else y.projected(C))
    return out


def _tensor_route(pa: TwoLayerNet, pb: TwoLayerNet, C: torch.Tensor | None) -> torch.Tensor:
    """``24 <H_4 f_a, H_4 f_b> + 6 <H_3 f_a, H_3 f_b>`` from the packed quartics ``P`` (``H_4``:
    the entries without index 0; ``H_3 = 4 P[0, ...]``, and a quadruple with one 0 has 4 times
    the orderings of its triple, so both are ``24 w P_a P_b`` over the quadruples not starting
    ``(0, 0)``), then the low components."""
    plan = quartic_plan(pa.Q.shape[1], str(pa.Q.device))
    w = 24.0 * plan.weights
    w[: plan.n_pairs] = 0.0  # the quadruples starting (0, 0) come first
    T2a, T1a, T0a = _low_parts(pa)
    T2b, T1b, T0b = _low_parts(pb)
    if C is not None:
        T2b, T1b = C @ T2b @ C.T, T1b @ C.T
    low = 2 * (T2a * T2b).sum((1, 2)) + (T1a * T1b).sum(1) + T0a * T0b
    return quartic_pair(pa, pb, w) + low


def _low_parts(p: TwoLayerNet) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per output, the Hermite components of degrees 2, 1, 0 (as in :class:`_SquareParts`) on
    the net's own basis, (d_out, d, d), (d_out, d), (d_out,), batched over outputs (ranks
    padded with zero weights); kept on the net."""
    if "hermite_low" not in p.memo:
        f = p.forms()
        m, n = f.Y.shape[0], f.Y.shape[1]
        d_out, r = len(p.squares), max(p.ranks, default=0)
        sigma = f.Y.new_zeros((d_out, r))
        e = f.Y.new_zeros((d_out, m, r))
        for k, (s, vecs) in enumerate(p.squares):
            sigma[k, : s.numel()], e[k, :, : s.numel()] = s, vecs
        T2 = f.Y.new_zeros((d_out, n - 1, n - 1))
        T1 = f.Y.new_zeros((d_out, n - 1))
        T0 = f.Y.new_zeros(d_out)
        batch = max(1, 2**23 // max(1, 2 * r * n * n))
        for lo in range(0, d_out, batch):
            ks = slice(lo, lo + batch)
            E = torch.einsum("kmr,mij->krij", e[ks], f.Y)
            A, a = E[:, :, 1:, 1:], E[:, :, 1:, 0]
            c = E[:, :, 0, 0] + A.diagonal(dim1=2, dim2=3).sum(-1)
            AA = A @ A
            w = sigma[ks]
            T2[ks] = torch.einsum(
                "kr,krij->kij", w, 4 * AA + 4 * a[..., :, None] * a[..., None, :]
                + 2 * c[..., None, None] * A,
            )  # fmt: skip
            Aa = (A @ a[..., None])[..., 0]
            T1[ks] = torch.einsum("kr,kri->ki", w, 8 * Aa + 4 * c[..., None] * a)
            tr_AA = AA.diagonal(dim1=2, dim2=3).sum(-1)
            T0[ks] = (w * (2 * tr_AA + 4 * (a * a).sum(-1) + c * c)).sum(-1)
        p.memo["hermite_low"] = (T2, T1, T0)
    low: tuple[torch.Tensor, torch.Tensor, torch.Tensor] = p.memo["hermite_low"]
    return low


class _SquareParts:
    """One output ``f = sum_r sigma_r e_r^2`` with ``e_r = z~^T E_r z~ = z^T A_r z + 2 a_r . z
    + alpha_r`` (``z ~ N(0, I)``, coordinate 0 of ``z~`` the constant), and the Hermite
    (Wick-ordered) components of ``f`` of degrees 0, 1, 2 (the small ones; degrees 3 and 4
    stay factored). With ``c = alpha + tr A``:

        e^2 = :(zAz)^2: + 4 :(zAz)(a.z): + [4 A^2 + 4 a a^T + 2 c A]_2 + [8 A a + 4 c a]_1
              + 2 tr(A^2) + 4 |a|^2 + c^2

    (Wick products: each contraction of a factor of one form with one of the other gives the
    ``A^2``, ``A a`` and trace terms)."""

    def __init__(self, E: torch.Tensor, sigma: torch.Tensor) -> None:
        self.sigma = sigma
        self.A = E[:, 1:, 1:].contiguous()
        self.a = E[:, 1:, 0]
        c = E[:, 0, 0] + self.A.diagonal(dim1=1, dim2=2).sum(-1)
        AA = self.A @ self.A
        Aa = (self.A @ self.a[:, :, None])[:, :, 0]
        w = sigma[:, None, None]
        self.T2 = (w * (4 * AA + 4 * self.a[:, :, None] * self.a[:, None, :]
                        + 2 * c[:, None, None] * self.A)).sum(0)  # fmt: skip
        self.T1 = (sigma[:, None] * (8 * Aa + 4 * c[:, None] * self.a)).sum(0)
        tr_AA = AA.diagonal(dim1=1, dim2=2).sum(-1)
        self.T0 = (sigma * (2 * tr_AA + 4 * (self.a * self.a).sum(-1) + c * c)).sum()

    def projected(self, C: torch.Tensor) -> _SquareParts:
        """The Hermite components mapped by ``C`` (another basis's coordinates of this one's
        vectors): ``A -> C A C^T``, ``a -> C a``, likewise ``T2``, ``T1``; ``T0`` unchanged."""
        out = object.__new__(_SquareParts)
        out.sigma, out.T0 = self.sigma, self.T0
        out.A = C @ self.A @ C.T
        out.a = self.a @ C.T
        out.T2, out.T1 = C @ self.T2 @ C.T, C @ self.T1
        return out


def _hermite_inner(x: _SquareParts, y: _SquareParts) -> torch.Tensor:
    """``E[f_x f_y] = sum_j j! <H_j(f_x), H_j(f_y)>`` over the Hermite components: degree 4
    ``Sym(A (x) A)``, degree 3 ``4 Sym(A (x) a)`` per square (the cross terms of the
    symmetrisation: ``<Sym(A(x)A), Sym(B(x)B)> = <A,B>^2 / 3 + 2/3 tr(ABAB)``,
    ``<Sym(A(x)a), Sym(B(x)b)> = <A,B> a.b / 3 + 2/3 a^T B A b``), then the small ones."""
    G = x.A.flatten(1) @ y.A.flatten(1).T
    four = (G**2 + 2 * square_traces(x.A, y.A)) / 3
    ab = x.a @ y.a.T
    Ba = torch.einsum("sij,rj->rsi", y.A, x.a)
    Ab = torch.einsum("rij,sj->rsi", x.A, y.a)
    three = (G * ab + 2 * (Ba * Ab).sum(-1)) / 3
    K = 24 * four + 6 * 16 * three
    small = 2 * (x.T2 * y.T2).sum() + x.T1 @ y.T1 + x.T0 * y.T0
    return x.sigma @ K @ y.sigma + small


def _expected_products(
    Ma: torch.Tensor,
    Na: torch.Tensor,
    Da: torch.Tensor,
    Mb: torch.Tensor,
    Nb: torch.Tensor,
    Db: torch.Tensor,
) -> torch.Tensor:
    """``sum_{u,v} D_a[k,u] D_b[k,v] E[p_u q_u p'_v q'_v]`` for the forms ``p_u = z~^T M_u z~``
    (``q``: ``N``), ``z ~ N(0, I)``. Pass ``Na is Ma`` for squares (one product then)."""
    d = Ma.shape[1]
    S = torch.eye(d, dtype=Ma.dtype, device=Ma.device)
    S[0, 0] = 0.0
    m = torch.zeros_like(S[0])
    m[0] = 1.0
    h_a, h_b = Ma.shape[0], Mb.shape[0]
    out = torch.zeros(Da.shape[0], dtype=Ma.dtype, device=Ma.device)
    # Chains hold (u, v, n) intermediates; the alternating traces chunk themselves.
    chunk = max(1, int(2**23 // max(1, h_b * d)))
    for lo in range(0, h_a, chunk):
        sl = slice(lo, lo + chunk)
        whole = lo == 0 and chunk >= h_a  # keep the forms' identity (symmetric shortcuts)
        ma = Ma if whole else Ma[sl]
        na = ma if Na is Ma else Na if whole else Na[sl]
        slots = _Slots([ma, na, Mb, Nb], S)
        kappa = {
            blk: _cumulant(blk, slots, m)
            for blk in {tuple(sorted(b)) for part in _PARTITIONS for b in part}
        }
        E = sum(math.prod(kappa[tuple(sorted(b))] for b in part) for part in _PARTITIONS)
        E = torch.broadcast_to(torch.as_tensor(E, device=out.device), (ma.shape[0], h_b))
        out += torch.einsum("ku,uv,kv->k", Da[:, sl], E, Db)
    return out


def gaussian_inner_monte_carlo(
    a: TensorNet, b: TensorNet, n_samples: int = 100_000, seed: int = 0, batch: int = 10_000
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Monte Carlo estimate of :func:`gaussian_inner` (any depth), from ``n_samples`` inputs;
    a check, not used by any default path."""
    if a.d_in != b.d_in:
        raise ValueError(f"input widths differ: {a.d_in} and {b.d_in}")
    rng = np.random.default_rng(seed)
    sums = np.zeros((3, a.d_out))
    done = 0
    while done < n_samples:
        x = rng.standard_normal((min(batch, n_samples - done), a.d_in))
        ya, yb = a.forward(x), b.forward(x)
        sums += np.stack([(ya * yb).sum(0), (ya * ya).sum(0), (yb * yb).sum(0)])
        done += x.shape[0]
    return tuple(sums / n_samples)
