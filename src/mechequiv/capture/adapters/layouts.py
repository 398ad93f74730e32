"""Built-in answers to the model protocol (:mod:`mechequiv.capture.protocol`) for model families
whose classes cannot carry the protocol's methods themselves.

- The zoo's ``TokenTransformer`` and ``BilinearMLP`` (recognised by class name and module, so
  that capture does not import the zoo, which sits above it): hook points and symmetries.
- TransformerLens: hook points by hook name for any model with a ``hook_dict`` (``blocks.{i}.
  hook_resid_post`` / ``hook_out``, ``hook_attn_out``, ``mlp.hook_post``); symmetries of a
  ``HookedTransformer`` without normalisation (standard positional embeddings, no gated MLP,
  no grouped-query attention).
- Hugging Face ``transformers`` models (a ``config`` and a list of blocks): hook points.
- ``nn.Sequential`` MLPs of ``nn.Linear``, elementwise activations, ``LayerNorm`` /
  ``BatchNorm1d`` over a layer's units and dropout: hook points (the activations) and symmetries
  (unit permutations; rescalings and sign flips where the activations allow and no norm sits
  in the layer).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from torch import nn

from mechequiv.capture.blocks import largest_block_list
from mechequiv.capture.protocol import (
    ELEMENTWISE,
    HOMOGENEOUS,
    ODD,
    Axis,
    BilinearUnits,
    Heads,
    Neurons,
    Stream,
    Symmetries,
    UnitGroup,
    UnsupportedModelError,
    builtin_adapter,
)

__all__: list[str] = []


def _is_zoo(model: nn.Module, name: str) -> bool:
    return any(
        c.__name__ == name and c.__module__.startswith("mechequiv.zoo.")
        for c in type(model).__mro__
    )


def _no_norms(model: nn.Module) -> None:
    for name, m in model.named_modules():
        if isinstance(m, nn.LayerNorm | nn.RMSNorm):
            raise UnsupportedModelError(
                f"{name} is a {type(m).__name__}: a residual rotation preserves the function only "
                "without normalisation layers (train with layer_norm=False)"
            )


def _linear(lin: nn.Linear, axis: int, bias: bool = True) -> list[Axis]:
    """``lin.weight`` at ``axis`` and, when ``bias`` and it has one, its bias (axis 0)."""
    out = [Axis(lin.weight, axis)]
    if bias and lin.bias is not None:
        out.append(Axis(lin.bias, 0))
    return out


# The readers below take ``Any``: they read a family's layout by its attribute names, which
# nn.Module's typing cannot know.

# ---- the zoo ---------------------------------------------------------------------------------


def _zoo_transformer_points(model: Any) -> Mapping[str, Sequence[str]]:
    n = len(model.blocks)
    return {
        "block": [f"blocks.{i}" for i in range(n)],
        "attention": [f"blocks.{i}.attn" for i in range(n)],
        "mlp": [f"blocks.{i}.mlp.act" for i in range(n)],
    }


def _zoo_transformer_symmetries(model: Any) -> Symmetries:
    _no_norms(model)
    stream = [Axis(model.embed.weight, 1), Axis(model.pos_embed, 1)]
    units: list[UnitGroup] = []
    for block in model.blocks:
        attn, mlp = block.attn, block.mlp
        stream += [Axis(w.weight, 1) for w in (attn.W_Q, attn.W_K, attn.W_V, mlp.fc_in)]
        stream += [*_linear(attn.W_O, 0), *_linear(mlp.fc_out, 0)]
        units.append(Neurons.across(_linear(mlp.fc_in, 0), [Axis(mlp.fc_out.weight, 1)], mlp.act))
        qkv = [a for w in (attn.W_Q, attn.W_K, attn.W_V) for a in _linear(w, 0)]
        units.append(Heads(attn.n_heads, (*qkv, Axis(attn.W_O.weight, 1))))
    stream += _linear(model.unembed, 1, bias=False)
    return Symmetries(tuple(units), Stream(tuple(stream)), "zoo TokenTransformer")


def _zoo_bilinear_points(model: Any) -> Mapping[str, Sequence[str]]:
    return {"block": [f"blocks.{i}" for i in range(len(model.blocks))]}


def _zoo_bilinear_symmetries(model: Any) -> Symmetries:
    if not model.residual:
        raise UnsupportedModelError("a bilinear network without residual connections has no stream")
    stream = _linear(model.embed, 0)
    units: list[UnitGroup] = []
    for block in model.blocks:
        stream += [Axis(block.L.weight, 1), Axis(block.R.weight, 1), *_linear(block.D, 0)]
        units.append(
            BilinearUnits(_linear(block.L, 0), _linear(block.R, 0), [Axis(block.D.weight, 1)])
        )
    stream.append(Axis(model.unembed.weight, 1))
    return Symmetries(tuple(units), Stream(tuple(stream)), "zoo BilinearMLP")


builtin_adapter(
    "the zoo's TokenTransformer",
    lambda m: _is_zoo(m, "TokenTransformer"),
    _zoo_transformer_points,
    _zoo_transformer_symmetries,
)
builtin_adapter(
    "the zoo's BilinearMLP",
    lambda m: _is_zoo(m, "BilinearMLP"),
    _zoo_bilinear_points,
    _zoo_bilinear_symmetries,
)


# ---- TransformerLens -------------------------------------------------------------------------


def _is_transformer_lens(model: nn.Module) -> bool:
    blocks = getattr(model, "blocks", None)
    return isinstance(getattr(model, "hook_dict", None), dict) and isinstance(blocks, nn.ModuleList)


def _transformer_lens_points(model: Any) -> Mapping[str, Sequence[str]]:
    hooks, n = model.hook_dict, len(model.blocks)
    roles = {
        "block": ("hook_resid_post", "hook_out"),
        "attention": ("hook_attn_out",),
        "mlp": ("mlp.hook_post",),
    }
    out: dict[str, list[str]] = {}
    for role, suffixes in roles.items():
        for suffix in suffixes:
            names = [f"blocks.{i}.{suffix}" for i in range(n)]
            present = [p for p in names if p in hooks]
            if present and (role == "mlp" or len(present) == n):
                out[role] = present  # attention-only models have no MLP in some blocks
                break
    return out


_TL_ACTIVATIONS = {"relu": nn.ReLU(), "gelu": nn.GELU(), "silu": nn.SiLU()}


def _transformer_lens_symmetries(model: Any) -> Symmetries:
    cfg = getattr(model, "cfg", None)
    embed = getattr(model, "embed", None)
    if cfg is None or not hasattr(embed, "W_E") or "Bridge" in type(model).__name__:
        raise UnsupportedModelError(
            f"{type(model).__name__}: only a HookedTransformer (weights W_E, W_Q, ...) declares "
            "symmetries; a TransformerBridge wraps a Hugging Face model with normalisation"
        )
    refusals = {
        "normalization_type": (cfg.normalization_type is not None, "a LayerNorm on the stream"),
        "positional_embedding_type": (
            cfg.positional_embedding_type != "standard",
            f"positional embeddings {cfg.positional_embedding_type!r}",
        ),
        "gated_mlp": (bool(getattr(cfg, "gated_mlp", False)), "a gated MLP"),
        "n_key_value_heads": (
            getattr(cfg, "n_key_value_heads", None) not in (None, cfg.n_heads),
            "grouped-query attention",
        ),
    }
    for key, (bad, what) in refusals.items():
        if bad:
            raise UnsupportedModelError(
                f"{type(model).__name__} has {what} (cfg.{key}): its symmetries are not declared; "
                "the stream rotation needs normalization_type=None"
            )
    stream = [Axis(model.embed.W_E, 1), Axis(model.pos_embed.W_pos, 1)]
    units: list[UnitGroup] = []
    for block in model.blocks:
        attn = block.attn
        stream += [Axis(attn.W_Q, 1), Axis(attn.W_K, 1), Axis(attn.W_V, 1)]
        stream += [Axis(attn.W_O, 2), Axis(attn.b_O, 0)]
        if not cfg.attn_only:
            act = _TL_ACTIVATIONS.get(cfg.act_fn)
            if act is None:
                raise UnsupportedModelError(
                    f"act_fn {cfg.act_fn!r} is not elementwise or not known: declare the "
                    "symmetries with register_model"
                )
            mlp = block.mlp
            stream += [Axis(mlp.W_in, 0), Axis(mlp.W_out, 1), Axis(mlp.b_out, 0)]
            incoming = [Axis(mlp.W_in, 1), Axis(mlp.b_in, 0)]
            units.append(Neurons.across(incoming, [Axis(mlp.W_out, 0)], act))
        per_head = [attn.W_Q, attn.W_K, attn.W_V, attn.b_Q, attn.b_K, attn.b_V, attn.W_O]
        units.append(Heads(cfg.n_heads, tuple(Axis(w, 0) for w in per_head)))
    stream.append(Axis(model.unembed.W_U, 0))
    return Symmetries(tuple(units), Stream(tuple(stream)), "TransformerLens HookedTransformer")


builtin_adapter(
    "TransformerLens (HookedTransformer, TransformerBridge)",
    _is_transformer_lens,
    _transformer_lens_points,
    _transformer_lens_symmetries,
)


# ---- Hugging Face ----------------------------------------------------------------------------

_HF_ATTENTION = ("attn", "self_attn", "attention")
_HF_MLP_ACT = ("mlp.act", "mlp.act_fn", "intermediate.intermediate_act_fn")


def _is_hugging_face(model: nn.Module) -> bool:
    return hasattr(model, "config") and callable(getattr(model, "save_pretrained", None))


def _hugging_face_points(model: nn.Module) -> Mapping[str, Sequence[str]]:
    found = largest_block_list(model)
    if found is None:
        return {}
    prefix, blocks = found
    names = {name for name, _ in model.named_modules()}
    n = len(blocks)
    # blocks and attention modules return (hidden_state, extras...): read element 0
    out: dict[str, list[str]] = {"block": [f"{prefix}.{i}[0]" for i in range(n)]}
    for role, candidates, suffix in (("attention", _HF_ATTENTION, "[0]"), ("mlp", _HF_MLP_ACT, "")):
        for c in candidates:
            if all(f"{prefix}.{i}.{c}" in names for i in range(n)):
                out[role] = [f"{prefix}.{i}.{c}{suffix}" for i in range(n)]
                break
    return out


builtin_adapter("Hugging Face transformers", _is_hugging_face, _hugging_face_points)


# ---- plain torch: nn.Sequential MLPs ---------------------------------------------------------


#: Per-unit normalisations: they commute with a permutation of the units they normalise (their
#: per-unit tensors permuted along), not with a rescaling or a sign flip of one unit.
UNIT_NORMS: tuple[type[nn.Module], ...] = (nn.LayerNorm, nn.BatchNorm1d)
#: Modules that leave units where they are (identity in eval; Dropout masks elementwise).
TRANSPARENT: tuple[type[nn.Module], ...] = (nn.Dropout, nn.Flatten)


def sequential_layers(model: nn.Sequential) -> list[tuple[nn.Linear, tuple[nn.Module, ...]]]:
    """Each Linear of a Sequential MLP with the modules between it and the next Linear
    (elementwise activations, per-unit norms, dropout); anything after the last Linear is free,
    since output units are never transformed. Anything else between Linears is refused."""
    out: list[tuple[nn.Linear, list[nn.Module]]] = []
    for i, m in enumerate(model):
        if isinstance(m, nn.Linear):
            out.append((m, []))
        elif isinstance(m, TRANSPARENT) and not out:
            continue
        elif out:
            out[-1][1].append(m)
        else:
            raise UnsupportedModelError(f"layer {i} ({type(m).__name__}) comes before any Linear")
    if len(out) < 2:
        raise ValueError("the MLP has no hidden layer to transform")
    for lin, between in out[:-1]:
        for m in between:
            if not isinstance(m, (*ELEMENTWISE, *UNIT_NORMS, *TRANSPARENT)):
                i = next(j for j, x in enumerate(model) if x is m)
                raise UnsupportedModelError(
                    f"layer {i} ({type(m).__name__}) is not a Linear, an elementwise activation, "
                    "a LayerNorm / BatchNorm1d over the units, or dropout"
                )
            if isinstance(m, UNIT_NORMS):
                _check_norm(m, lin.out_features, model)
    return [(lin, tuple(between)) for lin, between in out]


def _check_norm(norm: nn.Module, width: int, model: nn.Sequential) -> None:
    shape = tuple(norm.normalized_shape) if isinstance(norm, nn.LayerNorm) else (norm.num_features,)
    if shape != (width,):
        i = next(j for j, x in enumerate(model) if x is norm)
        raise UnsupportedModelError(
            f"layer {i} ({type(norm).__name__}) normalises shape {shape}, not the {width} units "
            "of the Linear before it"
        )


def _norm_axes(norm: nn.Module) -> list[Axis]:
    """The per-unit tensors of a LayerNorm / BatchNorm1d (affine weights, running statistics)."""
    names = ("weight", "bias", "running_mean", "running_var")
    tensors = [getattr(norm, n, None) for n in names]
    return [Axis(t, 0) for t in tensors if t is not None]


def _sequential_points(model: nn.Module) -> Mapping[str, Sequence[str]]:
    names = [n for n, m in model.named_children() if isinstance(m, ELEMENTWISE)]
    return {"mlp": names} if names else {}


def _sequential_symmetries(model: Any) -> Symmetries:
    layers = sequential_layers(model)
    units = []
    for (lin, between), (nxt, _) in itertools.pairwise(layers):
        outgoing = (Axis(nxt.weight, 1),)
        norms = [m for m in between if isinstance(m, UNIT_NORMS)]
        acts = [m for m in between if isinstance(m, ELEMENTWISE)]
        incoming = (*_linear(lin, 0), *(a for n in norms for a in _norm_axes(n)))
        # Between two linear maps with nothing else, units permute (the Neurons default).
        # A norm fixes each unit's scale and sign relative to the others: permutations only.
        units.append(
            Neurons(
                incoming,
                outgoing,
                scale=bool(acts) and not norms and all(isinstance(a, HOMOGENEOUS) for a in acts),
                sign=bool(acts) and not norms and all(isinstance(a, ODD) for a in acts),
            )
        )
    return Symmetries(tuple(units), None, "nn.Sequential MLP")


builtin_adapter(
    "nn.Sequential MLPs",
    lambda m: isinstance(m, nn.Sequential),
    _sequential_points,
    _sequential_symmetries,
)
