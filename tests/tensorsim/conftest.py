"""Small random tensor-based models and the symmetry transforms the invariance tests apply."""

from __future__ import annotations

import copy

import torch

from mechequiv.zoo.models._bilinear import Bilinear, BilinearMLP


def random_mlp(
    seed: int,
    d_in: int = 3,
    d_model: int = 3,
    d_hidden: int = 4,
    d_out: int = 2,
    n_layers: int = 2,
    residual: bool = True,
    bias: bool = False,
) -> BilinearMLP:
    """A float64 BilinearMLP with N(0, 1/fan_in)-ish weights and nonzero biases."""
    torch.manual_seed(seed)
    m = BilinearMLP(d_in, d_model, d_hidden, d_out, n_layers, residual, bias).double()
    with torch.no_grad():
        for p in m.parameters():
            p.normal_(0.0, 1.0 / p.shape[-1] ** 0.5)
    return m


def blocks(m: BilinearMLP) -> list[Bilinear]:
    return list(m.blocks)


def permute_hidden(m: BilinearMLP, seed: int) -> BilinearMLP:
    """Permute the hidden units of every block (rows of L, R; columns of D)."""
    out = copy.deepcopy(m)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for b in out.blocks:
            perm = torch.randperm(b.L.out_features, generator=g)
            for lin in (b.L, b.R):
                lin.weight.copy_(lin.weight[perm])
                if lin.bias is not None:
                    lin.bias.copy_(lin.bias[perm])
            b.D.weight.copy_(b.D.weight[:, perm])
    return out


def move_scale(m: BilinearMLP, seed: int) -> BilinearMLP:
    """Unit a: L_a *= c1, R_a *= c2, D[:, a] /= c1 c2 (c of either sign)."""
    out = copy.deepcopy(m)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for b in out.blocks:
            h = b.L.out_features
            signs = torch.where(torch.rand(h, generator=g, dtype=torch.float64) < 0.5, -1.0, 1.0)
            c1 = signs * (0.3 + 3 * torch.rand(h, generator=g, dtype=torch.float64))
            c2 = 0.3 + 3 * torch.rand(h, generator=g, dtype=torch.float64)
            for lin, c in ((b.L, c1), (b.R, c2)):
                lin.weight.mul_(c[:, None])
                if lin.bias is not None:
                    lin.bias.mul_(c)
            b.D.weight.div_((c1 * c2)[None, :])
    return out


def swap_lr(m: BilinearMLP, seed: int) -> BilinearMLP:
    """Swap the L and R rows (and biases) of a random subset of each block's hidden units."""
    out = copy.deepcopy(m)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for b in out.blocks:
            sel = torch.rand(b.L.out_features, generator=g) < 0.5
            wl, wr = b.L.weight.clone(), b.R.weight.clone()
            b.L.weight[sel], b.R.weight[sel] = wr[sel], wl[sel]
            if b.L.bias is not None:
                bl, br = b.L.bias.clone(), b.R.bias.clone()
                b.L.bias[sel], b.R.bias[sel] = br[sel], bl[sel]
    return out


def change_basis(m: BilinearMLP, seed: int) -> BilinearMLP:
    """Residual-stream basis change M: embed -> M W_E, block reads L M^-1, R M^-1, writes M D
    (and M b_D), unembed reads U M^-1. The function is unchanged."""
    out = copy.deepcopy(m)
    d = m.embed.out_features
    g = torch.Generator().manual_seed(seed)
    M = torch.eye(d, dtype=torch.float64) + 0.5 * torch.randn(
        d, d, generator=g, dtype=torch.float64
    )
    Mi = torch.linalg.inv(M)
    with torch.no_grad():
        out.embed.weight.copy_(M @ out.embed.weight)
        for b in out.blocks:
            b.L.weight.copy_(b.L.weight @ Mi)
            b.R.weight.copy_(b.R.weight @ Mi)
            b.D.weight.copy_(M @ b.D.weight)
            if b.D.bias is not None:
                b.D.bias.copy_(M @ b.D.bias)
        out.unembed.weight.copy_(out.unembed.weight @ Mi)
    return out
