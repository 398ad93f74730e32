"""Hugging Face ``transformers`` models: hidden states by layer."""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Sequence
from contextlib import contextmanager

import torch

from mechequiv.capture.batches import Batch, call
from mechequiv.capture.engine import Adapter, Step
from mechequiv.capture.hooks import mark_own
from mechequiv.errors import MechequivError


class HiddenStatesAdapter(Adapter):
    """Capture ``output_hidden_states`` of a Hugging Face model; points are layer indices.

    Point ``i`` is ``outputs.hidden_states[i]`` exactly as ``transformers`` returns it: ``0`` is
    the embedding output and ``i`` the output of block ``i`` (negative indices count from the
    end). For GPT-2-style models the *last* entry already has the final layer norm applied. Dict
    inputs (``{"input_ids", "attention_mask"}``) give the padding mask for token policies.

    Patching through this adapter uses module names (``"transformer.h.0"``; blocks that return
    tuples need ``Point(name, select=0)``), as for any module.
    """

    @contextmanager
    def session(self, points: Sequence[Hashable]) -> Iterator[Step]:
        for p in points:
            if isinstance(p, bool) or not isinstance(p, int):
                raise TypeError(f"hidden-state points are layer indices (int); got {p!r}")
        layers = [p for p in points if isinstance(p, int)]  # all of them, checked just above

        def step(batch: Batch) -> dict[Hashable, torch.Tensor]:
            out = call(self.module, batch, output_hidden_states=True)
            states = getattr(out, "hidden_states", None)
            if states is None:
                raise MechequivError(
                    f"{type(self.module).__name__} returned no hidden_states for "
                    "output_hidden_states=True"
                )
            bad = [p for p in layers if not -len(states) <= p < len(states)]
            if bad:
                raise mark_own(
                    ValueError(
                        f"layer indices {bad} out of range: the model returns {len(states)} hidden "
                        f"states (0 = embeddings .. {len(states) - 1})"
                    )
                )
            return {p: states[p] for p in layers}

        yield step
