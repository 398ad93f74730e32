"""The norm-bounded solver as it was before the speed-ups, kept verbatim as the references that
the current solver is checked and benchmarked against: the original (FISTA with a KKT-estimated
dual) and the previous one (FISTA with exact secular dual bounds and a Procrustes candidate)."""

from __future__ import annotations

import numpy as np
import torch

from mechequiv.errors import MechequivError
from mechequiv.measures.regression import BoundedMapFit


def adversarial_inputs(kind: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A regression pair (x, y) of one adversarial ``kind`` for the solver tests: "random",
    "rank_deficient", "n_below_d", "near_constant_columns", "huge_offsets" or "steep_spectrum"
    (condition number 1e8, FISTA's slow case)."""
    x = rng.normal(size=(150, 12)) * np.logspace(0, -2, 12)
    y = x @ rng.normal(size=(12, 10)) * 1.5 + 0.1 * rng.normal(size=(150, 10))
    if kind == "rank_deficient":
        x = x[:, :4] @ rng.normal(size=(4, 12))
    elif kind == "n_below_d":
        x, y = rng.normal(size=(20, 40)), rng.normal(size=(20, 30)) * 3
    elif kind == "near_constant_columns":
        x[:, :3] = 1.0 + 1e-9 * rng.normal(size=(150, 3))
    elif kind == "huge_offsets":
        x, y = x + 1e3, y - 1e4
    elif kind == "steep_spectrum":
        x = rng.normal(size=(150, 12)) * np.logspace(0, -4, 12)
        y = x @ rng.normal(size=(12, 12)) * 3
    return x, y


def old_solve_bounded(
    gram: torch.Tensor, cross: torch.Tensor, c0: float, tol: float, max_iter: int
) -> BoundedMapFit:
    return _solve_bounded(gram, cross, c0, tol, max_iter)


def _solve_bounded(
    gram: torch.Tensor, cross: torch.Tensor, c0: float, tol: float, max_iter: int
) -> BoundedMapFit:
    """FISTA on min ||X W - Y||^2 s.t. ||W||_op <= 1 given X^T X, X^T Y and ||Y||^2."""
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
        return 2.0 * (lam[:, None] * N - US)

    def gap(N: torch.Tensor) -> float:
        # Lagrangian dual bound with multiplier M >= 0 for N^T N <= I, estimated from the KKT
        # condition Lam N + N M = G at N; any such M certifies f(N) - optimum <= f(N) - g(M).
        M = N.T @ (US - lam[:, None] * N)
        mu, P = torch.linalg.eigh(0.5 * (M + M.T))
        mu = mu.clamp_min(0.0)
        Gp = US @ P
        dual = c0 - float((Gp * Gp / (lam[:, None] + mu[None, :])).sum()) - float(mu.sum())
        return f(N) - dual

    def result(N: torch.Tensor, it: int) -> BoundedMapFit:
        opn = float(torch.linalg.matrix_norm(N, 2)) if N.numel() else 0.0
        return BoundedMapFit(max(f(N), 0.0) ** 0.5, opn, max(gap(N), 0.0), it)

    if US.shape[1] == 0:  # X and Y are orthogonal: W = 0 is optimal
        return result(US, 0)
    N = US / lam[:, None]  # unconstrained optimum (minimum norm)
    if float(torch.linalg.matrix_norm(N, 2)) <= 1.0:
        return result(N, 0)
    step = 1.0 / (2.0 * float(lam.max()))
    N = _project(N)  # often already optimal (e.g. an exact rotation, rounded just above 1)
    if gap(N) <= tol * c0:
        return result(N, 0)
    Z, t, prev = N.clone(), 1.0, f(N)
    for it in range(1, max_iter + 1):
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


def _project(N: torch.Tensor) -> torch.Tensor:
    """Euclidean projection onto the spectral-norm unit ball: clip singular values at 1."""
    U, S, Vh = torch.linalg.svd(N, full_matrices=False)
    return (U * S.clamp_max(1.0)) @ Vh


def previous_solve_bounded(
    gram: torch.Tensor, cross: torch.Tensor, c0: float, tol: float, max_iter: int
) -> BoundedMapFit:
    """FISTA on min ||X W - Y||^2 s.t. ||W||_op <= 1 given X^T X, X^T Y and ||Y||^2 (the solver
    before the interior point: exact secular dual bounds, Procrustes candidate)."""
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
        return 2.0 * (lam[:, None] * N - US)

    def gap(N: torch.Tensor) -> float:
        # Lagrangian dual bound with multiplier M >= 0 for N^T N <= I, estimated from the KKT
        # condition Lam N + N M = G at N; any such M certifies f(N) - optimum <= f(N) - g(M).
        M = N.T @ (US - lam[:, None] * N)
        mu, P = torch.linalg.eigh(0.5 * (M + M.T))
        Gp = US @ P
        best = 0.0  # the optimum is a squared norm: 0 is a lower bound too
        # With the eigenbasis P fixed, the dual separates over its eigenvalues: besides the KKT
        # estimate, take each one's exact maximiser (a secular equation); both are valid bounds.
        for m in (mu.clamp_min(0.0), _secular_multipliers(Gp, lam)):
            dual = c0 - float((Gp * Gp / (lam[:, None] + m[None, :])).sum()) - float(m.sum())
            if dual == dual:  # not NaN
                best = max(best, dual)
        return f(N) - best

    def result(N: torch.Tensor, it: int) -> BoundedMapFit:
        opn = float(torch.linalg.matrix_norm(N, 2)) if N.numel() else 0.0
        return BoundedMapFit(max(f(N), 0.0) ** 0.5, opn, max(gap(N), 0.0), it)

    if US.shape[1] == 0:  # X and Y are orthogonal: W = 0 is optimal
        return result(US, 0)
    N = US / lam[:, None]  # unconstrained optimum (minimum norm)
    if float(torch.linalg.matrix_norm(N, 2)) <= 1.0:
        return result(N, 0)
    step = 1.0 / (2.0 * float(lam.max()))
    N = _project(N)  # often already optimal (e.g. an exact rotation, rounded just above 1)
    # The orthogonal Procrustes map (polar factor of X^T Y; U in the reduced basis) is feasible
    # and, for copies up to rotation or permutation, optimal to rounding even where tiny
    # eigenvalues of X^T X make the least-squares map noisy: it pins such distances near 0.
    # It is only a candidate: as a start for the iterations it is worse than the projection.
    procrustes = U[:, s_keep]
    for start in sorted((N, procrustes), key=f):
        if gap(start) <= tol * c0:
            return result(start, 0)
    Z, t, prev = N.clone(), 1.0, f(N)
    for it in range(1, max_iter + 1):
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
