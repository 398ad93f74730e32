"""GetReprs: the representation Congruity compares (every hidden layer, concatenated)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def hidden_representations(model: nn.Module, inputs: Any) -> torch.Tensor:
    """Every hidden layer of a Sequential MLP on ``inputs``, concatenated along features.

    The hidden layers are the outputs of the elementwise activations (after each non-final
    Linear). Runs under ``torch.no_grad()`` in eval mode and returns a float64 CPU tensor.
    """
    if not isinstance(model, nn.Sequential):
        raise TypeError(
            f"hidden_representations reads nn.Sequential MLPs; got {type(model).__name__}: "
            "pass reprs=... (e.g. built with mechequiv.capture)"
        )
    x = torch.as_tensor(inputs)
    feats = []
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            h = x.to(next(model.parameters()).dtype)
            for k, layer in enumerate(model):
                h = layer(h)
                if not isinstance(layer, nn.Linear) and k != len(model) - 1:
                    feats.append(h)
    finally:
        model.train(was_training)
    if not feats:
        raise ValueError("the model has no hidden layer")
    return torch.cat(feats, dim=1).double().cpu()
