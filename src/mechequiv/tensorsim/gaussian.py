"""The Gaussian-input form: expected output inner product under ``x ~ N(0, I)``.

``E_x[<f_a(x), f_b(x)>]`` (per output coordinate, summed for the total), with the raw input
``x ~ N(0, I_d)`` and the padded coordinate fixed at 1, so ``x~ = [1; x]`` has mean ``e_0`` and
covariance ``P = diag(0, 1, ..., 1)``.

Exact relation to the weight inner product (tested):

* no bilinear layer: equal to the weight (Frobenius) inner product.
* one bilinear layer, homogeneous model (no biases, no residual): for each output ``k``,
  ``E[f_a,k f_b,k] = tr(B~_a,k) tr(B~_b,k) + 2 <B~_a,k, B~_b,k>``, with ``B~_k`` the symmetrised
  interaction matrix (Isserlis); the second term is twice the "layer" weight inner product.
* with biases/residuals the lower-degree parts enter with their own Wick weights; computed
  exactly here by the full mean/covariance expansion of ``E[x1 x2 x3 x4]``.

Exact closed forms exist here for models with at most one bilinear layer (degree <= 2); deeper
models are refused (their Gaussian moments need all Wick pairings of 2**k legs);
:func:`gaussian_inner_monte_carlo` estimates any model.
"""

from __future__ import annotations

import numpy as np

from mechequiv.errors import MechequivError
from mechequiv.tensorsim.network import BilinearOp, TensorNet

__all__ = ["gaussian_inner", "gaussian_inner_monte_carlo"]


def _pieces(net: TensorNet):
    """(pre, op, post): one bilinear op between two composed linear maps, or (W, None, None)."""
    if net.n_bilinear > 1:
        raise MechequivError(
            f"the exact Gaussian form is implemented for at most one bilinear layer; this model "
            f"has {net.n_bilinear} — use gaussian_inner_monte_carlo or form='weight'"
        )
    pre, op, post = net.ops[0].W, None, None
    for x in net.ops[1:]:
        if isinstance(x, BilinearOp):
            op, post = x, np.eye(x.d_out + 1)
        elif op is None:
            pre = x.W @ pre
        else:
            post = x.W @ post
    return pre, op, post


def gaussian_inner(a: TensorNet, b: TensorNet) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-output ``E[f_a,k f_b,k]``, ``E[f_a,k^2]``, ``E[f_b,k^2]`` for ``x ~ N(0, I)``."""
    pa, pb = _pieces(a), _pieces(b)
    if (pa[1] is None) != (pb[1] is None):
        raise ValueError("both models must have the same number of bilinear layers (0 or 1)")
    return _pair(pa, pb), _pair(pa, pa), _pair(pb, pb)


def _pair(pa, pb) -> np.ndarray:
    P = np.eye(pa[0].shape[1])
    P[0, 0] = 0.0
    if pa[1] is None:
        Wa, Wb = pa[0][1:], pb[0][1:]
        # mean part W[:,0] W'[:,0] plus covariance part: together the plain row inner product.
        return (Wa * Wb).sum(1)
    (pre_a, op_a, post_a), (pre_b, op_b, post_b) = pa, pb
    l1, r2 = op_a.L @ pre_a, op_a.R @ pre_a  # legs 1, 2 (units of a)
    l3, r4 = op_b.L @ pre_b, op_b.R @ pre_b  # legs 3, 4 (units of b)
    m1, m2, m3, m4 = l1[:, 0], r2[:, 0], l3[:, 0], r4[:, 0]
    c12 = np.einsum("ui,ij,uj->u", l1, P, r2)
    c34 = np.einsum("vi,ij,vj->v", l3, P, r4)
    c13, c14 = l1 @ P @ l3.T, l1 @ P @ r4.T
    c23, c24 = r2 @ P @ l3.T, r2 @ P @ r4.T
    # Isserlis with means: all ways to split 4 legs into pairs (covariances) and singletons (means).
    E = (
        np.outer(m1 * m2 + c12, m3 * m4 + c34)
        + c13 * np.outer(m2, m4)
        + c14 * np.outer(m2, m3)
        + c23 * np.outer(m1, m4)
        + c24 * np.outer(m1, m3)
        + c13 * c24
        + c14 * c23
    )
    Aa, Ab = (post_a @ op_a.D)[1:], (post_b @ op_b.D)[1:]
    return np.einsum("ku,uv,kv->k", Aa, E, Ab)


def gaussian_inner_monte_carlo(
    a: TensorNet, b: TensorNet, n_samples: int = 100_000, seed: int = 0, batch: int = 10_000
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Monte Carlo estimate of :func:`gaussian_inner` (any depth), from ``n_samples`` inputs."""
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
