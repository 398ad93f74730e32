"""Independent reference implementations (plain numpy/scipy, textbook formulas, brute force).

They share no code with mechequiv.measures and are deliberately written the slow, obvious way.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy.linalg import orthogonal_procrustes
from scipy.spatial.distance import cdist, pdist


def centring_matrix(n):
    return np.eye(n) - np.ones((n, n)) / n


def hsic_biased(K, L):
    H = centring_matrix(K.shape[0])
    return np.trace(K @ H @ L @ H)


def hsic_unbiased_bruteforce(K, L):
    """Song et al.'s U-statistic by summing over all ordered quadruples of distinct indices."""
    n = K.shape[0]
    total = 0.0
    for i, j, q, r in itertools.permutations(range(n), 4):
        total += K[i, j] * L[i, j] + K[i, j] * L[q, r] - 2 * K[i, j] * L[i, q]
    return total / (n * (n - 1) * (n - 2) * (n - 3))


def cka_gram(K, L, hsic=hsic_biased):
    return hsic(K, L) / np.sqrt(hsic(K, K) * hsic(L, L))


def rbf(X, bandwidth):
    D2 = cdist(X, X, "sqeuclidean")
    return np.exp(-D2 / (2 * bandwidth**2 * np.median(D2)))


def canonical_correlations_qr(X, Y):
    Qx, _ = np.linalg.qr(X - X.mean(0))
    Qy, _ = np.linalg.qr(Y - Y.mean(0))
    return np.linalg.svd(Qx.T @ Qy, compute_uv=False)


def svcca_svd(X, Y, keep_fraction=0.99, k=None):
    def reduce(A):
        A = A - A.mean(0)
        U, s, _ = np.linalg.svd(A, full_matrices=False)
        var = s**2 / np.sum(s**2)
        kk = k if k is not None else int(np.argmax(np.cumsum(var) >= keep_fraction - 1e-12)) + 1
        return U[:, :kk] * s[:kk]

    return canonical_correlations_qr(reduce(X), reduce(Y)).mean()


def pwcca_paper(X, Y):
    """Morcos et al. (2018): weights from |<canonical variate, centred neuron>| on X's side."""
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    Qx, _Rx = np.linalg.qr(Xc)
    Qy, _ = np.linalg.qr(Yc)
    U, rho, _ = np.linalg.svd(Qx.T @ Qy)
    H = Qx @ U[:, : len(rho)]  # canonical variates of X (orthonormal)
    alpha = np.abs(H.T @ Xc).sum(1)
    return float((alpha / alpha.sum()) @ rho)


def procrustes_angle(X, Y):
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    Q, _ = orthogonal_procrustes(Xc, Yc)
    return np.arccos(np.sum((Xc @ Q) * Yc) / (np.linalg.norm(Xc) * np.linalg.norm(Yc)))


def permutation_angle_bruteforce(X, Y):
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    best = max(np.sum(Xc[:, list(p)] * Yc) for p in itertools.permutations(range(X.shape[1])))
    return np.arccos(best / (np.linalg.norm(Xc) * np.linalg.norm(Yc)))


def kendall_tau_a_bruteforce(a, b):
    s = 0
    for i, j in itertools.combinations(range(len(a)), 2):
        s += np.sign(a[i] - a[j]) * np.sign(b[i] - b[j])
    return s / (len(a) * (len(a) - 1) / 2)


def rsa_correlation_pearson(X, Y):
    return np.corrcoef(pdist(X, "correlation"), pdist(Y, "correlation"))[0, 1]


def knn_sets(X, k, metric):
    D = cdist(X, X, metric)
    np.fill_diagonal(D, np.inf)
    return [set(np.argsort(row, kind="stable")[:k]) for row in D]


def ridge_r2_bruteforce(X, Y, alphas, folds):
    """Nested CV: explicit leave-one-out refits for the penalty, then refit and predict."""

    def fit(Xt, Yt, lam):
        mx, my = Xt.mean(0), Yt.mean(0)
        W = np.linalg.solve(
            (Xt - mx).T @ (Xt - mx) + lam * np.eye(Xt.shape[1]), (Xt - mx).T @ (Yt - my)
        )
        return lambda Z: (Z - mx) @ W + my

    sse = 0.0
    for test in folds:
        train = np.setdiff1d(np.arange(len(X)), test)
        Xt, Yt = X[train], Y[train]
        Xc = Xt - Xt.mean(0)
        scale = np.trace(Xc.T @ Xc) / Xt.shape[1]
        errs = []
        for a in alphas:
            e = 0.0
            for i in range(len(Xt)):
                keep = np.arange(len(Xt)) != i
                e += np.sum((fit(Xt[keep], Yt[keep], a * scale)(Xt[i : i + 1]) - Yt[i]) ** 2)
            errs.append(e)
        best = alphas[int(np.argmin(errs))]
        sse += np.sum((fit(Xt, Yt, best * scale)(X[test]) - Y[test]) ** 2)
    return 1 - sse / np.sum((Y - Y.mean(0)) ** 2)


def partial_whitened_svd(X, alpha, rtol=1e-10):
    """netrep-style partial whitening of centred X from a full SVD: the null space of a wide X
    gets exactly zero variance (floored at rtol times the largest), never rounding noise."""
    Xc = X - X.mean(0)
    U, S, Vt = np.linalg.svd(Xc, full_matrices=True)
    lam = np.zeros(X.shape[1])
    lam[: len(S)] = S**2
    lam = np.maximum(lam, rtol * lam.max())
    d = alpha + (1 - alpha) / np.sqrt(lam)
    new_var = np.sum(alpha**2 * lam + 2 * alpha * (1 - alpha) * np.sqrt(lam) + (1 - alpha) ** 2)
    d = d * np.sqrt(lam.sum() / new_var)
    return (U * (S * d[: len(S)])) @ Vt[: len(S)]


def procrustes_angle_whitened(X, Y, alpha):
    A, B = partial_whitened_svd(X, alpha), partial_whitened_svd(Y, alpha)
    nuc = np.linalg.svd(A.T @ B, compute_uv=False).sum()
    return np.arccos(min(1.0, nuc / (np.linalg.norm(A) * np.linalg.norm(B))))
