"""A model with some activations replaced: the implementations that patching samplers return."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import torch
from torch import nn

from mechequiv.capture import run_with_patches
from mechequiv.equivalence.components import model_adapter


class PatchedModel(nn.Module):
    """``model`` run with fixed replacement activations at some points.

    The replacements have one row per stimulus of the task the implementation was drawn for, so
    the patched model is defined on those stimuli only (other inputs raise a shape error). It
    shares parameters with ``model`` and never changes them.
    """

    def __init__(self, model: nn.Module, patches: Mapping[Hashable, Any]) -> None:
        super().__init__()
        self.model = model
        self.patches = dict(patches)

    def forward(self, inputs: Any) -> Any:
        # TransformerLens models are patched by hook name (their adapter), others by module name.
        return run_with_patches(model_adapter(self.model), inputs, self.patches, progress=False)

    def extra_repr(self) -> str:
        return f"patched points: {', '.join(map(str, self.patches))}"


def output_distribution(out: Any) -> torch.Tensor:
    """Softmax over the last dimension of a model output (logits), in float64."""
    logits = out.logits if hasattr(out, "logits") else out
    if isinstance(logits, (tuple, list)):
        logits = logits[0]
    return torch.softmax(torch.as_tensor(logits).double(), dim=-1)
