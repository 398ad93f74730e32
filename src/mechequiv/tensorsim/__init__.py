"""Tensor similarity: weight-based, data-free comparison of tensor-based (polynomial) models.

After Nissen Gonzalez, Albuquerque, Wroe, Cohen, Riggs Smith and Dooms (2026), "When Are Two
Networks the Same? Tensor Similarity for Mechanistic Interpretability". A model built only from
linear and bilinear layers (or polynomial attention) is one tensor; two models are compared by
the cosine of their tensors, from the weights alone. The default compares the fully
symmetrised tensors (1 exactly for the same function); ``symmetrize="layer"`` is the fast
layer-by-layer Gram recursion (not a same-function test from two bilinear layers on).

Modules: ``layers`` (the bilinear layer protocol), ``network`` (reading models into padded op
chains), ``gram`` (the recursion), ``fullsym`` (the fully symmetrised form of two layers),
``gaussian`` (exact expected output inner product under Gaussian input, and why no
polynomial algorithm exists for general depth), ``dense`` (exact forms from the polynomial's
coefficients, small models), ``expand`` (brute-force dense tensors), ``attention``
(polynomial attention, sequence models), ``similarity`` (public entry points), ``baselines``,
``dynamics`` (checkpoint matrices, phases, plots), ``training`` and ``experiments`` (grokking
and backdoor reproductions).
"""

import warnings
from typing import Any

from mechequiv.tensorsim.attention import PolynomialAttention, SeqNet, to_seq_net
from mechequiv.tensorsim.baselines import baseline_matrices, output_baselines, weight_cosine
from mechequiv.tensorsim.dynamics import (
    TrainingSimilarity,
    block_means,
    plot_matrix,
    segment_phases,
    similarity_over_training,
)
from mechequiv.tensorsim.layers import (
    BilinearFactors,
    register_bilinear,
    register_tensor_layers,
)
from mechequiv.tensorsim.network import TensorNet, to_tensor_net
from mechequiv.tensorsim.similarity import TensorInner, tensor_inner, tensor_similarity

__all__ = [
    "BilinearFactors",
    "PolynomialAttention",
    "SeqNet",
    "TensorInner",
    "TensorNet",
    "TrainingSimilarity",
    "baseline_matrices",
    "block_means",
    "output_baselines",
    "plot_matrix",
    "register_bilinear",
    "register_tensor_layers",
    "segment_phases",
    "similarity_over_training",
    "tensor_inner",
    "tensor_similarity",
    "to_seq_net",
    "to_tensor_net",
    "weight_cosine",
]

# Names tensorsim used to re-export from the zoo and torch: tensorsim reads any model that
# follows its layer protocol and no longer imports the zoo; import them from where they live.
_MOVED = {
    "Bilinear": ("mechequiv.zoo.models._bilinear", "Bilinear"),
    "BilinearMLP": ("mechequiv.zoo.models._bilinear", "BilinearMLP"),
    "Linear": ("torch.nn", "Linear"),
    "Embedding": ("torch.nn", "Embedding"),
}


def __getattr__(name: str) -> Any:
    if name not in _MOVED:
        raise AttributeError(f"module 'mechequiv.tensorsim' has no attribute {name!r}")
    module, attr = _MOVED[name]
    warnings.warn(
        f"mechequiv.tensorsim.{name} is deprecated: import {attr} from {module}",
        DeprecationWarning,
        stacklevel=2,
    )
    import importlib

    return getattr(importlib.import_module(module), attr)
