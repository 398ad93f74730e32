"""Linear predictivity: ridge regression R^2 and the norm-bounded linear distance of interpretive
equivalence (Sun & Toneva, ICLR 2026)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from mechequiv.errors import MechequivError
from mechequiv.measures._linalg import low_rank_factor, row_space_factor, small_problem_threads
from mechequiv.measures._validate import (
    ArrayLike,
    centre,
    check_choice,
    check_int,
    check_not_constant,
    check_pair,
)
from mechequiv.measures.registry import register

# Penalties are multiples of the mean eigenvalue of Xc^T Xc, so the grid is scale free.
DEFAULT_ALPHAS = tuple(10.0**k for k in range(-6, 7))


@dataclass(frozen=True)
class RidgeCVResult:
    """Out-of-fold R^2 of a ridge map from a source to a target representation."""

    r2: float
    alphas: tuple[float, ...]  # the relative penalty chosen in each outer fold

    def to_dict(self) -> dict[str, Any]:
        return {"r2": self.r2, "alphas": list(self.alphas)}


def _folds(n: int, folds: int, seed: int) -> list[np.ndarray]:
    perm = np.random.default_rng(seed).permutation(n)
    return [np.sort(f) for f in np.array_split(perm, folds)]


def ridge_cv(
    X: ArrayLike,
    Y: ArrayLike,
    alphas: tuple[float, ...] = DEFAULT_ALPHAS,
    folds: int = 5,
    seed: int = 0,
) -> RidgeCVResult:
    """Cross-validated R^2 of predicting Y from X with ridge regression (intercept unpenalised).

    Nested, so the R^2 is fully out of sample: the rows are split into ``folds`` outer folds
    (a permutation drawn with ``seed``); on each training part the penalty
    lambda = alpha * mean eigenvalue of Xc^T Xc is chosen from ``alphas`` by exact
    leave-one-out error (closed form), the map is fitted, and the held-out rows are predicted.
    R^2 = 1 - sum of squared out-of-fold errors / sum of squared deviations from the mean of Y,
    pooled over all target features (variance weighted). It can be negative.
    """
    x, y = check_pair(X, Y, names=("source", "target"), rescale=True)
    folds = check_int(folds, "folds", 2)
    n = x.shape[0]
    if n < 2 * folds:
        raise ValueError(f"{folds}-fold ridge needs at least {2 * folds} samples; got {n}")
    if not alphas or min(alphas) <= 0:
        raise ValueError("alphas must be a non-empty sequence of positive numbers")
    yc_all = centre(y)
    check_not_constant(yc_all, y, "target")
    xc_all = centre(x)
    check_not_constant(xc_all, x, "source")
    # Ridge with an isotropic penalty and pooled R^2 are invariant to orthogonal maps of either
    # side's features: a wide side (d > n) is replaced by its exact n x n row-space factor, so
    # no d x d eigendecomposition is formed. The penalty keeps the source's own width below.
    width = x.shape[1]
    if width > n:
        x = row_space_factor(xc_all)
    if y.shape[1] > n:
        y = yc_all = row_space_factor(yc_all)
    grid = torch.tensor(alphas, dtype=torch.float64, device=x.device)
    sse, chosen = 0.0, []
    for test in _folds(n, folds, seed):
        mask = torch.ones(n, dtype=torch.bool, device=x.device)
        mask[torch.as_tensor(test, device=x.device)] = False
        xtr, ytr = x[mask], y[mask]
        mx, my = xtr.mean(0), ytr.mean(0)
        lam, V = torch.linalg.eigh((xtr - mx).T @ (xtr - mx))
        lam = lam.clamp_min(0.0)
        z = (xtr - mx) @ V
        zy = V.T @ ((xtr - mx).T @ (ytr - my))
        pens = grid * (lam.sum() / width)  # the mean over all `width` eigenvalues
        inv = 1.0 / (lam[None, :] + pens[:, None])  # (n_alphas, d)
        # Exact leave-one-out residuals: r_i / (1 - h_ii), h including the intercept's 1/n.
        h = (z * z) @ inv.T + 1.0 / xtr.shape[0]  # (n_train, n_alphas)
        loo = torch.stack(
            [
                (((ytr - my) - z @ (inv[a, :, None] * zy)) / (1.0 - h[:, a : a + 1])).pow(2).sum()
                for a in range(len(alphas))
            ]
        )
        best = int(torch.argmin(loo))
        W = V @ (inv[best, :, None] * zy)
        pred = (x[~mask] - mx) @ W + my
        sse += float(((y[~mask] - pred) ** 2).sum())
        chosen.append(float(alphas[best]))
    return RidgeCVResult(1.0 - sse / float((yc_all**2).sum()), tuple(chosen))


@register(
    kind="similarity",
    range=(-np.inf, 1.0),
    metric=False,
    symmetric=True,
    invariances=("orthogonal", "isotropic_scaling", "permutation", "translation"),
    family="regression",
    convention=(
        "mean of the two directions' nested 5-fold out-of-fold ridge R^2 (penalty by exact "
        "LOO, variance-weighted over targets); can be negative"
    ),
)
def linear_regression_similarity(
    X: ArrayLike,
    Y: ArrayLike,
    direction: Literal["both", "x_to_y", "y_to_x"] = "both",
    alphas: tuple[float, ...] = DEFAULT_ALPHAS,
    folds: int = 5,
    seed: int = 0,
) -> float:
    """Linear predictivity: cross-validated ridge R^2 (see :func:`ridge_cv`).

    ``direction="both"`` (default) returns the symmetric value (R^2(X->Y) + R^2(Y->X)) / 2;
    ``"x_to_y"`` / ``"y_to_x"`` return one direction. Invariant to orthogonal maps, isotropic
    scaling, permutation and translation of either side (the penalty grid is relative to the
    source's variance), not to general invertible maps (ridge shrinks unevenly).
    """
    check_choice(direction, "direction", ("both", "x_to_y", "y_to_x"))

    def fwd() -> float:
        return ridge_cv(X, Y, alphas, folds, seed).r2

    def bwd() -> float:
        return ridge_cv(Y, X, alphas, folds, seed).r2

    if direction == "x_to_y":
        return fwd()
    if direction == "y_to_x":
        return bwd()
    return 0.5 * (fwd() + bwd())


@dataclass(frozen=True)
class BoundedMapFit:
    """Solution of min_{||W||_op <= 1} ||X W - Y||_F on normalised data.

    The optimal error lies in the certified bracket [``lower``, ``error``]: ``error`` is attained
    by a feasible map, and ``lower`` = sqrt(max(error^2 - gap, 0)) follows from the duality gap.
    """

    error: float  # ||X W - Y||_F at the solution
    op_norm: float  # spectral norm of the solution (<= 1)
    gap: float  # certified bound on error^2 - optimum (Lagrangian duality gap)
    iterations: int  # 0 when the unconstrained least-squares map was already feasible

    @property
    def lower(self) -> float:
        """Certified lower bound on the optimal error."""
        result: float = max(self.error**2 - self.gap, 0.0) ** 0.5
        return result


@dataclass(frozen=True)
class CertifiedDistance:
    """A distance known to lie in [``lower``, ``upper``]; ``value`` is the one reported."""

    value: float
    lower: float
    upper: float

    def to_dict(self) -> dict[str, float]:
        return {"value": self.value, "lower": self.lower, "upper": self.upper}


def _normalise(x: torch.Tensor, how: str, name: str) -> torch.Tensor:
    """Centred, scaled as ``how`` says, and reduced to its low-rank factor where it has one (the
    problem is invariant to orthogonal maps of either side's features)."""
    xc = centre(x)
    check_not_constant(xc, x, name)
    return low_rank_factor(xc / xc.norm() if how == "frobenius" else xc)


def _bounded(xh: torch.Tensor, yh: torch.Tensor, tol: float, max_iter: int) -> BoundedMapFit:
    gram, cross = xh.T @ xh, xh.T @ yh
    with small_problem_threads(max(gram.shape[0], cross.shape[1])):
        return _solve_bounded(gram, cross, float((yh * yh).sum()), tol, max_iter)


def bounded_map_error(
    X: ArrayLike,
    Y: ArrayLike,
    normalize: Literal["frobenius", "none"] = "frobenius",
    tol: float = 1e-5,
    max_iter: int = 50_000,
) -> BoundedMapFit:
    """Best approximation of Y by X W over linear maps with spectral norm ||W||_op <= 1.

    Columns are centred; with ``normalize="frobenius"`` each side is scaled to unit Frobenius
    norm, so the error lies in [0, 1] (W = 0 is feasible). The convex problem is solved to a certified tolerance:
    if the minimum-norm least-squares map already has ||W||_op <= 1 it is optimal; otherwise,
    in a reduced basis (rank of X by rank of the cross-products), a primal-dual interior-point
    method on the Lagrangian dual (multiplier M >= 0 for W^T W <= I; Newton steps by
    preconditioned conjugate gradients, see :func:`_interior_point`) runs until the duality
    gap, a certified bound on the suboptimality of the squared error, is below ``tol`` times
    ||Y||_F^2 (accelerated projected gradient finishes in the rare case it does not get there).

    Accuracy: the optimum lies in [``fit.lower``, ``fit.error``], a bracket of width at most
    gap / (2 optimum) away from 0 (about 5e-6 at error 1 and the default ``tol``) and at most
    sqrt(gap) <= sqrt(tol) (3e-3) near 0. Near 0 the start makes it much tighter where the map
    is an exact contraction: the orthogonal Procrustes map is tried first, so a copy of X up to
    rotation, permutation or scale (Y = c X Q) comes out at rounding level (tested: <= 1e-6 on
    float32 copies). Tight tolerances are cheap: Newton steps grow with log(1/tol), so
    ``tol=1e-12`` (a bracket of about 1e-6 even at 0) costs a few times the default.
    ``iterations`` counts Newton steps (plus FISTA iterations where that ran); raises
    :class:`MechequivError` if ``max_iter`` is reached first.
    """
    check_choice(normalize, "normalize", ("frobenius", "none"))
    x, y = check_pair(X, Y)
    return _bounded(_normalise(x, normalize, "X"), _normalise(y, normalize, "Y"), tol, max_iter)


def _solve_bounded(
    gram: torch.Tensor, cross: torch.Tensor, c0: float, tol: float, max_iter: int
) -> BoundedMapFit:
    """min ||X W - Y||^2 s.t. ||W||_op <= 1 given X^T X, X^T Y and ||Y||^2.

    In the eigenbasis of X^T X (eigenvalues lam) and the left singular basis of the cross
    product the problem reads min_N sum_i lam_i ||N_i||^2 - 2 <N, G> + c0 s.t. N^T N <= I,
    with G = U S (r x s). Candidates that are often exactly optimal are tried first (the
    unconstrained map, its projection, the orthogonal Procrustes map); otherwise the dual
    max_{M >= 0} c0 - <G, (Lam (x) I + I (x) M)^{-1} G> - tr M is solved by a primal-dual
    interior-point method (:func:`_interior_point`), whose central path keeps the primal map
    N(M) feasible; FISTA on the primal finishes only if that fails. ``iterations`` counts
    Newton steps plus any FISTA iterations.
    """
    lam, V = torch.linalg.eigh(gram)
    keep = lam > 1e-12 * float(lam.max())
    lam, V = lam[keep], V[:, keep]
    B = V.T @ cross  # (r, d2)
    U, S, _ = torch.linalg.svd(B, full_matrices=False)
    s_keep = S > 1e-12 * float(S.max()) if float(S.max()) > 0 else S > 0  # noqa: SIM300
    US = U[:, s_keep] * S[s_keep]  # (r, s): the problem restricted to W = V N Q^T

    def f(N: torch.Tensor) -> float:
        return float((lam[:, None] * N * N).sum() - 2.0 * (N * US).sum()) + c0

    def grad(N: torch.Tensor) -> torch.Tensor:
        result: torch.Tensor = 2.0 * (lam[:, None] * N - US)
        return result

    def gap(N: torch.Tensor, lower: float = 0.0) -> float:
        # Lagrangian dual bound with multiplier M >= 0 for N^T N <= I, estimated from the KKT
        # condition Lam N + N M = G at N; any such M certifies f(N) - optimum <= f(N) - g(M).
        M = N.T @ (US - lam[:, None] * N)
        mu, P = torch.linalg.eigh(0.5 * (M + M.T))
        Gp = US @ P
        best = lower  # a dual value known otherwise; 0 bounds a squared norm too
        # With the eigenbasis P fixed, the dual separates over its eigenvalues: besides the KKT
        # estimate, take each one's exact maximiser (a secular equation); both are valid bounds.
        for m in (mu.clamp_min(0.0), _secular_multipliers(Gp, lam)):
            best = max(best, _dual_value(Gp, lam, m, c0))
        return f(N) - best

    def result(N: torch.Tensor, it: int, lower: float = 0.0) -> BoundedMapFit:
        opn = float(torch.linalg.matrix_norm(N, 2)) if N.numel() else 0.0
        return BoundedMapFit(max(f(N), 0.0) ** 0.5, opn, max(gap(N, lower), 0.0), it)

    if US.shape[1] == 0:  # X and Y are orthogonal: W = 0 is optimal
        return result(US, 0)
    N = US / lam[:, None]  # unconstrained optimum (minimum norm)
    if float(torch.linalg.matrix_norm(N, 2)) <= 1.0:
        return result(N, 0)
    N = _project(N)  # often already optimal (e.g. an exact rotation, rounded just above 1)
    # The orthogonal Procrustes map (polar factor of X^T Y; U in the reduced basis) is feasible
    # and, for copies up to rotation or permutation, optimal to rounding even where tiny
    # eigenvalues of X^T X make the least-squares map noisy: it pins such distances near 0.
    # It is only a candidate: as a start for the iterations it is worse than the projection.
    procrustes = U[:, s_keep]
    N, other = sorted((N, procrustes), key=f)
    start_gap = gap(N)
    if start_gap <= tol * c0:
        return result(N, 0)
    if gap(other) <= tol * c0:
        return result(other, 0)
    # The interior point starts warm from the multiplier that the KKT conditions give at the
    # best candidate, with a barrier weight ten times the one that matches the candidate's gap
    # (closer starts were less robust); cold from a multiple of the identity if that fails.
    M = N.T @ (US - lam[:, None] * N)
    steps = 0
    for M0, gap0 in ((0.5 * (M + M.T), 10.0 * start_gap), (None, None)):
        found = _interior_point(lam, US, c0, tol, min(max_iter - steps, 100), M0, gap0)
        if isinstance(found, int):
            steps += found
            continue
        N_ip, lower, used = found
        steps += used
        if gap(N_ip, lower) <= tol * c0:
            return result(N_ip, steps, lower)
        if f(N_ip) < f(N):
            N = N_ip
    # Fallback (not met on the tests' and benchmark's inputs): FISTA with adaptive restart
    # from the best feasible point so far, step 1 / Lipschitz constant of the gradient.
    step = 1.0 / (2.0 * float(lam.max()))
    Z, t, prev = N.clone(), 1.0, f(N)
    for it in range(steps + 1, max_iter + 1):
        N_new = _project(Z - step * grad(Z))
        val = f(N_new)
        if val > prev:  # adaptive restart keeps FISTA monotone in practice
            t, Z = 1.0, N.clone()
        else:
            t_new = (1.0 + (1.0 + 4.0 * t * t) ** 0.5) / 2.0
            Z = N_new + ((t - 1.0) / t_new) * (N_new - N)
            N, t, prev = N_new, t_new, val
        # checked after restarts too: at the optimum rounding alone can trigger them every step
        if it % 10 == 0 and gap(N) <= tol * c0:
            return result(N, it)
    if gap(N) <= tol * c0:
        return result(N, max_iter)
    raise MechequivError(
        f"norm-bounded regression did not reach duality gap {tol:g} in {max_iter} iterations "
        f"(gap {gap(N) / c0:.3g}); raise max_iter or tol"
    )


def _dual_value(Gp: torch.Tensor, lam: torch.Tensor, mu: torch.Tensor, c0: float) -> float:
    """g(M) = c0 - sum_ij Gp_ij^2 / (lam_i + mu_j) - sum_j mu_j for M = P diag(mu) P^T >= 0,
    Gp = G P: a lower bound on the optimum (weak duality); NaN-safe (returns 0)."""
    dual = c0 - float((Gp * Gp / (lam[:, None] + mu[None, :])).sum()) - float(mu.sum())
    return dual if dual == dual else 0.0


def _interior_point(
    lam: torch.Tensor,
    G: torch.Tensor,
    c0: float,
    tol: float,
    max_steps: int,
    M0: torch.Tensor | None = None,
    gap0: float | None = None,
) -> tuple[torch.Tensor, float, int] | int:
    """Path-following interior point on the dual of min sum_i lam_i ||N_i||^2 - 2 <N, G> + c0
    s.t. N^T N <= I: maximise g(M) + tau log det M over M > 0 for decreasing tau.

    In the eigenbasis P of M = P diag(mu) P^T the primal map is explicit,
    N P = Gp / (lam_i + mu_j) with Gp = G P, the gradient is (NP)^T (NP) - I + tau diag(1/mu),
    and the (negated) Hessian applied to a symmetric E is 2 sym((NP)^T ((NP) E / D)) +
    tau E / (mu mu^T) with D_ij = lam_i + mu_j. It is nearly diagonal there (the barrier
    dominates inactive directions, and (NP)^T diag(1/D_j) (NP) is close to diagonal for active
    ones), so conjugate gradients with that diagonal as preconditioner solve each Newton system
    in a handful of products of (r x s) by (s x s) matrices: one s x s eigendecomposition per
    Newton step instead of one SVD per first-order iteration, and a step count that does not
    grow with the condition number of X^T X. On the central path N^T N = I - tau M^{-1} < I,
    so N is feasible and the duality gap is about tau s. Returns (N, dual lower bound, Newton
    steps) once the certified gap is below ``tol * c0``, else the number of steps spent (the
    caller falls back).
    """
    try:
        return _path_following(lam, G, c0, tol, max_steps, M0, gap0)
    # torch.linalg re-exports LinAlgError by an alias its stubs do not mark as exported
    except torch.linalg.LinAlgError:  # type: ignore[attr-defined]  # e.g. an eigensolver failure on a degenerate problem
        return max_steps


def _path_following(
    lam: torch.Tensor,
    G: torch.Tensor,
    c0: float,
    tol: float,
    max_steps: int,
    M0: torch.Tensor | None,
    gap0: float | None,
) -> tuple[torch.Tensor, float, int] | int:
    s = G.shape[1]
    eye = torch.eye(s, dtype=G.dtype, device=G.device)
    if M0 is None or gap0 is None:
        mu0 = float(torch.linalg.matrix_norm(G, 2))  # N(mu0 I) has norm <= 1: a feasible start
        M, tau = eye * mu0, c0 / s
    else:  # a warm start: the path point whose gap (about tau s) is gap0
        tau = max(gap0, tol * c0) / s
        mu, P = torch.linalg.eigh(M0)
        M = (P * mu.clamp_min(tau)) @ P.T
    target = 0.25 * tol * c0 / s  # tau s well below the tolerance leaves room for centring
    for step in range(1, max_steps + 1):
        if not bool(torch.isfinite(M).all()):
            return step - 1
        mu, P = torch.linalg.eigh(M)
        mu = mu.clamp_min(torch.finfo(G.dtype).tiny)
        Gp = G @ P
        D = lam[:, None] + mu[None, :]
        Nt = Gp / D
        NtN = Nt.T @ Nt
        if tau <= target:
            cert = _certify(Nt, NtN, Gp, lam, mu, c0, tol)
            if cert is not None:
                return cert[0] @ P.T, cert[1], step - 1
        inv_mm = 1.0 / (mu[:, None] * mu[None, :])
        rhs = NtN - eye + tau * torch.diag(1.0 / mu)
        Q = (Nt * Nt).T @ (1.0 / D)
        diag = Q + Q.T + tau * inv_mm

        def hess(
            E: torch.Tensor,
            Nt: torch.Tensor = Nt,
            D: torch.Tensor = D,
            tau: float = tau,
            inv_mm: torch.Tensor = inv_mm,
        ) -> torch.Tensor:
            Yh = Nt.T @ ((Nt @ E) / D)
            return Yh + Yh.T + tau * E * inv_mm

        E = _pcg(hess, rhs, diag, rtol=1e-3, max_iter=100)
        # fraction to the boundary of M > 0: the largest alpha with diag(mu) + alpha E > 0
        scaled = E / torch.sqrt(mu[:, None] * mu[None, :])
        alpha = 1.0  # a full step when diag(mu) + E / 0.95 > 0 (a Cholesky says so cheaply)
        if int(torch.linalg.cholesky_ex(eye + scaled / 0.95).info) != 0:
            alpha = min(1.0, 0.95 / max(-float(torch.linalg.eigvalsh(scaled)[0]), 0.95))
        M = P @ (torch.diag(mu) + alpha * E) @ P.T
        M = 0.5 * (M + M.T)
        if alpha == 1.0:  # centred enough: follow the path
            tau = max(0.1 * tau, 0.5 * target)
    return max_steps


def _certify(
    Nt: torch.Tensor,
    NtN: torch.Tensor,
    Gp: torch.Tensor,
    lam: torch.Tensor,
    mu: torch.Tensor,
    c0: float,
    tol: float,
) -> tuple[torch.Tensor, float] | None:
    """(feasible primal N P, dual lower bound) if their gap is within ``tol * c0``."""
    norm2 = float(torch.linalg.eigvalsh(NtN)[-1])
    if norm2 > 1.0:  # not quite centred: a rescaled map is feasible
        Nt = Nt / norm2**0.5
    primal = float((lam[:, None] * Nt * Nt).sum() - 2.0 * (Nt * Gp).sum()) + c0
    lower = max(
        _dual_value(Gp, lam, mu, c0), _dual_value(Gp, lam, _secular_multipliers(Gp, lam), c0)
    )
    if primal - lower <= tol * c0:
        return Nt, lower
    return None


def _pcg(
    op: Callable[[torch.Tensor], torch.Tensor],
    rhs: torch.Tensor,
    diag: torch.Tensor,
    rtol: float,
    max_iter: int,
) -> torch.Tensor:
    """Conjugate gradients for op(x) = rhs (op symmetric positive definite), preconditioned by
    the diagonal ``diag`` (entrywise), stopped at relative residual ``rtol``."""
    x = torch.zeros_like(rhs)
    r = rhs.clone()
    z = r / diag
    p = z.clone()
    rz = float((r * z).sum())
    stop = rtol * float(rhs.norm())
    for _ in range(max_iter):
        Ap = op(p)
        pAp = float((p * Ap).sum())
        if not pAp > 0.0:
            break
        a = rz / pAp
        x += a * p
        r -= a * Ap
        if float(r.norm()) <= stop:
            break
        z = r / diag
        rz_new = float((r * z).sum())
        p = z + (rz_new / rz) * p
        rz = rz_new
    return x


def _secular_multipliers(Gp: torch.Tensor, lam: torch.Tensor, steps: int = 60) -> torch.Tensor:
    """Per column j, mu_j >= 0 maximising -sum_i Gp_ij^2 / (lam_i + mu) - mu: 0 where
    sum_i Gp_ij^2 / lam_i^2 <= 1, else the root of sum_i Gp_ij^2 / (lam_i + mu)^2 = 1, found by
    Newton on its reciprocal square root (Moré-Sorensen) safeguarded by bisection."""
    g2 = Gp * Gp
    need = (g2 / lam[:, None] ** 2).sum(0) > 1.0
    lo = torch.zeros(Gp.shape[1], dtype=Gp.dtype, device=Gp.device)
    hi = g2.sum(0).sqrt()  # phi(hi) <= 1 there
    mu = lo.clone()
    for _ in range(steps):
        q = g2 / (lam[:, None] + mu) ** 2
        phi = q.sum(0)
        lo = torch.where(phi > 1.0, torch.maximum(lo, mu), lo)
        hi = torch.where(phi < 1.0, torch.minimum(hi, mu), hi)
        dphi = -2.0 * (q / (lam[:, None] + mu)).sum(0)
        new = mu - (phi.rsqrt() - 1.0) / (-0.5 * phi.pow(-1.5) * dphi)
        bad = ~torch.isfinite(new) | (new < lo) | (new > hi)
        new = torch.where(bad, 0.5 * (lo + hi), new)
        if float((new - mu).abs().max()) <= 1e-14 * (1.0 + float(mu.abs().max())):
            mu = new
            break
        mu = new
    return torch.where(need, mu, torch.zeros_like(mu))


def _project(N: torch.Tensor) -> torch.Tensor:
    """Euclidean projection onto the spectral-norm unit ball: clip singular values at 1."""
    U, S, Vh = torch.linalg.svd(N, full_matrices=False)
    result: torch.Tensor = (U * S.clamp_max(1.0)) @ Vh
    return result


@register(
    kind="distance",
    range=(0.0, 1.0),
    metric=False,
    symmetric=True,
    invariances=("orthogonal", "isotropic_scaling", "permutation", "translation"),
    family="regression",
    convention=(
        "max over both directions of min_{||W||_op<=1} ||Xh W - Yh||_F, Xh, Yh centred and "
        "scaled to unit Frobenius norm (Sun & Toneva's d_repr); in [0, 1]"
    ),
)
def repr_distance(
    X: ArrayLike,
    Y: ArrayLike,
    normalize: Literal["frobenius", "none"] = "frobenius",
    tol: float = 1e-5,
    max_iter: int = 50_000,
) -> float:
    """Two-way norm-bounded linear representation distance of interpretive equivalence.

    d(X, Y) = max( min_{||A||_op <= 1} ||Xh A - Yh||_F , min_{||B||_op <= 1} ||Yh B - Xh||_F )

    with rows as samples, ||.||_op the spectral norm and ||.||_F the Frobenius norm. With the
    default ``normalize="frobenius"``, Xh and Yh are the centred representations scaled to unit
    Frobenius norm, so each term is the square root of the fraction of the target's total
    variance that no contraction of the source explains: averaging is over samples and
    features jointly (sum of squares), and d lies in [0, 1] (0: each is a contraction of the
    other, e.g. equal up to rotation and scale). Each side is solved to a certified duality gap
    (:func:`bounded_map_error`, which states the accuracy); :func:`repr_distance_bounds` returns
    the certified bracket. Widths may differ.
    """
    return repr_distance_bounds(X, Y, normalize, tol, max_iter).value


def repr_distance_bounds(
    X: ArrayLike,
    Y: ArrayLike,
    normalize: Literal["frobenius", "none"] = "frobenius",
    tol: float = 1e-5,
    max_iter: int = 50_000,
) -> CertifiedDistance:
    """:func:`repr_distance` with its certified bracket: the exact distance lies in
    [``lower``, ``upper``] and ``value`` (= ``upper``) is what :func:`repr_distance` returns.

    Each direction's optimum lies in [lower, error] of its :class:`BoundedMapFit`, so the max
    over directions lies in [max of the lowers, max of the errors]. Two distances whose brackets
    do not overlap are ordered with certainty; Congruity counts overlapping ones as ties.
    """
    check_choice(normalize, "normalize", ("frobenius", "none"))
    x, y = check_pair(X, Y)
    xh, yh = _normalise(x, normalize, "X"), _normalise(y, normalize, "Y")
    a, b = _bounded(xh, yh, tol, max_iter), _bounded(yh, xh, tol, max_iter)
    upper = max(a.error, b.error)
    return CertifiedDistance(upper, max(a.lower, b.lower), upper)
