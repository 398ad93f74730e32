"""Function-preserving reparameterisations of residual-stream models without LayerNorm.

Two layouts are supported, both from :mod:`mechequiv.zoo`: the token transformer (``embed``,
``pos_embed``, ``blocks[i].attn.W_Q/W_K/W_V/W_O``, ``blocks[i].mlp.fc_in/act/fc_out``,
``unembed``, Identity norms) and the residual bilinear network (``embed``, ``blocks[i].L/R/D``,
``unembed``). Symmetries, drawn at random so that a model and any transformed copy of it give identically
distributed implementations (Haar rotations and uniform permutations, swaps and signs are
invariant under composition; rescalings act on factors first scaled to unit norm):

- a rotation R of the residual stream (x -> x R, R Haar-orthogonal): every layer that reads the
  stream gets W R, every layer that writes it R^T W (and its bias b R), embeddings E R;
- transformer MLP neurons: permutation and positive rescaling across the (homogeneous) activation;
- attention heads: permutation of whole heads (W_Q, W_K, W_V rows and W_O columns together);
- bilinear hidden units: permutation, swapping L and R, and scale a on L_j, b on R_j, 1/(ab) on
  D's column j (any nonzero a, b: the product L x * R x absorbs signs too).
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import torch
from scipy.stats import ortho_group
from torch import nn

from mechequiv.equivalence._units import (
    HOMOGENEOUS,
    incoming_norms,
    log_uniform,
    transform_units,
)


def is_residual_model(model: nn.Module) -> bool:
    """True for the layouts this module transforms (checked loosely; :func:`transform` checks
    fully and explains what is missing)."""
    return isinstance(getattr(model, "blocks", None), nn.ModuleList) and hasattr(model, "embed")


def _norms_are_identity(model: nn.Module) -> None:
    for name, m in model.named_modules():
        if isinstance(m, nn.LayerNorm | nn.RMSNorm):
            raise TypeError(
                f"{name} is a {type(m).__name__}: a residual rotation preserves the function only "
                "without normalisation layers (train with layer_norm=False)"
            )


# The helpers below read the zoo's layouts by attribute name (duck-typed: ``Any``), after
# _stream_layers has checked that the names are there.
def _stream_layers(model: Any) -> tuple[list[torch.Tensor], list[nn.Linear], list[nn.Linear]]:
    """(embedding matrices (rows, d), linear readers of the stream, linear writers to it)."""
    embeds: list[torch.Tensor]
    readers: list[nn.Linear]
    writers: list[nn.Linear]
    missing = "the zoo's TokenTransformer or BilinearMLP layout"
    if isinstance(model.embed, nn.Embedding):  # token transformer
        embeds, readers, writers = [model.embed.weight, model.pos_embed], [], []
        for i, block in enumerate(model.blocks):
            attn: Any = getattr(block, "attn", None)  # checked just below
            mlp: Any = getattr(block, "mlp", None)
            if not all(hasattr(attn, w) for w in ("W_Q", "W_K", "W_V", "W_O")) or not all(
                hasattr(mlp, w) for w in ("fc_in", "fc_out")
            ):
                raise TypeError(f"blocks.{i} does not have {missing} (attn.W_Q.., mlp.fc_in..)")
            readers += [attn.W_Q, attn.W_K, attn.W_V, mlp.fc_in]
            writers += [attn.W_O, mlp.fc_out]
    elif isinstance(model.embed, nn.Linear):  # bilinear network
        if not getattr(model, "residual", False):
            raise TypeError("a bilinear network without residual connections has no stream")
        embeds, readers, writers = [], [], [model.embed]
        for i, block in enumerate(model.blocks):
            if not all(hasattr(block, w) for w in ("L", "R", "D")):
                raise TypeError(f"blocks.{i} does not have {missing} (L, R, D)")
            readers += [block.L, block.R]
            writers.append(block.D)
    else:
        raise TypeError(f"{type(model).__name__} does not have {missing}")
    return embeds, [*readers, model.unembed], writers


def _rotate(model: Any, rng: np.random.Generator) -> None:
    embeds, readers, writers = _stream_layers(model)
    d = readers[0].weight.shape[1]
    R = torch.as_tensor(ortho_group.rvs(d, random_state=rng) if d > 1 else np.ones((1, 1)))
    for e in embeds:
        e.copy_((e.double() @ R).to(e.dtype))
    for lin in readers:
        lin.weight.copy_((lin.weight.double() @ R).to(lin.weight.dtype))
    for lin in writers:
        lin.weight.copy_((R.T @ lin.weight.double()).to(lin.weight.dtype))
        if lin.bias is not None:
            lin.bias.copy_((lin.bias.double() @ R).to(lin.bias.dtype))


def _mlp_neurons(mlp: Any, rng: np.random.Generator, scale_range: tuple[float, float]) -> None:
    width = mlp.fc_in.out_features
    factor = np.ones(width)
    if isinstance(mlp.act, HOMOGENEOUS):
        factor = log_uniform(rng, scale_range, width) / incoming_norms(mlp.fc_in)
    transform_units(mlp.fc_in, mlp.fc_out, rng.permutation(width), factor)


def _heads(attn: Any, rng: np.random.Generator) -> None:
    h, dh = attn.n_heads, attn.d_head
    order = torch.as_tensor(rng.permutation(h))
    rows = (order[:, None] * dh + torch.arange(dh)[None, :]).reshape(-1)
    for w in (attn.W_Q, attn.W_K, attn.W_V):
        w.weight.copy_(w.weight[rows])
    attn.W_O.weight.copy_(attn.W_O.weight[:, rows])


def _bilinear_units(block: Any, rng: np.random.Generator, scale_range: tuple[float, float]) -> None:
    L, R, D = block.L, block.R, block.D
    width = L.out_features
    nl, nr = incoming_norms(L), incoming_norms(R)
    swap = rng.random(width) < 0.5
    a = log_uniform(rng, scale_range, width) * rng.choice([-1.0, 1.0], width) / nl
    b = log_uniform(rng, scale_range, width) * rng.choice([-1.0, 1.0], width) / nr
    p = torch.as_tensor(rng.permutation(width))
    swapped = torch.as_tensor(swap)[p]
    a_t, b_t = torch.as_tensor(a)[p], torch.as_tensor(b)[p]
    for attr in ("weight", "bias"):  # biases: all of L, R, D or none
        left, right = getattr(L, attr), getattr(R, attr)
        if left is None:
            continue
        shape = (-1,) + (1,) * (left.ndim - 1)
        new_l, new_r = left.double()[p] * a_t.view(shape), right.double()[p] * b_t.view(shape)
        mask = swapped.view(shape)
        left.copy_(torch.where(mask, new_r, new_l).to(left.dtype))
        right.copy_(torch.where(mask, new_l, new_r).to(right.dtype))
    # the product scales by a_j b_j whichever factor holds which; D's column undoes it
    D.weight.copy_((D.weight.double()[:, p] / (a_t * b_t)[None, :]).to(D.weight.dtype))


def transform(model: nn.Module, rng: np.random.Generator, scale_range: tuple[float, float]) -> None:
    """Apply a random symmetry of the module docstring to ``model`` in place."""
    _norms_are_identity(model)
    _stream_layers(model)  # validate the layout before changing anything
    with torch.no_grad():
        for block in cast(Any, model).blocks:
            if hasattr(block, "attn"):
                _mlp_neurons(block.mlp, rng, scale_range)
                _heads(block.attn, rng)
            else:
                _bilinear_units(block, rng, scale_range)
        _rotate(model, rng)
