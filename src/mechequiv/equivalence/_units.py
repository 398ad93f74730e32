"""Hidden-unit helpers shared by the symmetry samplers (MLPs and residual models)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

# Activations that commute with a positive rescaling: f(c x) = c f(x) for c > 0.
HOMOGENEOUS = (nn.ReLU, nn.LeakyReLU, nn.Identity)
# Activations that commute with a sign flip: f(-x) = -f(x).
ODD = (nn.Tanh, nn.Identity, nn.Hardtanh, nn.Softsign)
ELEMENTWISE = (*HOMOGENEOUS, *ODD, nn.GELU, nn.SiLU, nn.Sigmoid, nn.ELU, nn.Softplus)


def incoming(lin: nn.Linear) -> np.ndarray:
    w = lin.weight.detach().double().cpu().numpy()
    if lin.bias is not None:
        w = np.hstack([w, lin.bias.detach().double().cpu().numpy()[:, None]])
    return w


def incoming_norms(lin: nn.Linear) -> np.ndarray:
    norms = np.linalg.norm(incoming(lin), axis=1)
    return np.where(norms > 0, norms, 1.0)  # a dead unit keeps its (zero) weights


def canonical_signs(lin: nn.Linear) -> np.ndarray:
    w = incoming(lin)
    lead = w[np.arange(len(w)), np.abs(w).argmax(1)]
    return np.where(lead < 0, -1.0, 1.0)


def log_uniform(
    rng: np.random.Generator, scale_range: tuple[float, float], size: int
) -> np.ndarray:
    """Positive factors drawn log-uniformly from ``scale_range``."""
    low, high = np.log(scale_range)
    result: np.ndarray = np.exp(rng.uniform(low, high, size=size))
    return result


def transform_units(lin: nn.Linear, nxt: nn.Linear, perm: np.ndarray, factor: np.ndarray) -> None:
    """Permute ``lin``'s units by ``perm`` and scale unit j's incoming weights and bias by
    ``factor[perm[j]]``, dividing its outgoing weights in ``nxt``: the function is unchanged
    across a homogeneous (or, for signs, odd) activation."""
    p = torch.as_tensor(perm, device=lin.weight.device)
    c = torch.as_tensor(factor[perm], dtype=lin.weight.dtype, device=lin.weight.device)
    lin.weight.copy_(lin.weight[p] * c[:, None])
    if lin.bias is not None:
        lin.bias.copy_(lin.bias[p] * c)
    nxt.weight.copy_(nxt.weight[:, p] / c[None, :])
