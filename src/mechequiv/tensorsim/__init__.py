"""Tensor similarity: weight-based, data-free comparison of tensor-based (polynomial) models.

After Nissen Gonzalez, Albuquerque, Wroe, Cohen, Riggs Smith and Dooms (2026), "When Are Two
Networks the Same? Tensor Similarity for Mechanistic Interpretability". A model built only from
linear and bilinear layers is one tensor; two models are compared by the cosine of their
tensors, computed layer by layer by a Gram recursion without ever building the tensor.
"""

from torch.nn import Embedding, Linear

from mechequiv.tensorsim.network import TensorNet, to_tensor_net
from mechequiv.tensorsim.similarity import TensorInner, tensor_inner, tensor_similarity
from mechequiv.zoo.models.bilinear import Bilinear, BilinearMLP

__all__ = [
    "Bilinear",
    "BilinearMLP",
    "Embedding",
    "Linear",
    "TensorInner",
    "TensorNet",
    "tensor_inner",
    "tensor_similarity",
    "to_tensor_net",
]
