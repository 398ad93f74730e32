"""Activations out of models: hook capture, patching, adapters and a disk-backed store.

- :func:`capture` / :func:`iter_capture`: batched, hook-based capture at named points of any
  ``torch.nn.Module`` (or an adapter), with token policies and padding masks.
- :func:`run_with_patches`, :func:`run_with_resample`, :func:`patching`: interventions
  (activation patching, interchange interventions, resample ablation).
- :func:`recording`, :func:`eval_mode`: the context managers underneath.
- :func:`capture_to_store`, :func:`open_store`, :func:`paired_batches`: a zarr activation store
  written atomically and resumably, read back in batches.
- :mod:`mechequiv.capture.adapters`: TransformerLens, Hugging Face ``transformers``, nnsight.
- :mod:`mechequiv.capture.protocol`: the model protocol methods use (named hook points,
  declared symmetries) with built-in adapters for the zoo, TransformerLens, Hugging Face and
  ``nn.Sequential`` MLPs, and :func:`register_model` for other classes.
- :mod:`mechequiv.capture.blocks`: default hook points of common model families (the output of
  each block or hidden layer) and tuple-returning blocks read at their hidden state.

Conventions: points are module names (``model.named_modules()``; ``""`` is the model) or
:class:`Point` objects; inputs are batched along dim 0 (a tensor, a tuple of positional tensors,
a dict of keyword tensors, or a list of such batches); captures run in eval mode under
``torch.no_grad()``, restore every module's train/eval mode, never leave a hook behind, and
return ``{point: tensor}`` on the CPU in the module's dtype.

Examples
--------
>>> acts = capture(model, {"input_ids": ids, "attention_mask": am},       # doctest: +SKIP
...                ["blocks.0", Point("blocks.1.attn", select=0)], batch_size=64, tokens="last")
>>> logits = run_with_patches(model, ids, {"blocks.0.mlp": torch.zeros_like})  # doctest: +SKIP
>>> ablated = run_with_resample(model, ids, ["blocks.0.mlp"], seed=0)       # doctest: +SKIP
>>> store = capture_to_store(model, ids, ["blocks.0"], "acts/model_a", batch_size=256,
...                          tokens="mean", tag="model_a@step1000")           # doctest: +SKIP
>>> for X, Y in paired_batches(store_a["blocks.0"], store_b["blocks.0"]):  # doctest: +SKIP
...     streaming_measure.update(X, Y)
"""

import mechequiv.capture.adapters.layouts  # noqa: F401  (registers the built-in protocol adapters)
from mechequiv.capture.batches import Batches
from mechequiv.capture.engine import Adapter, Captured, capture, iter_capture
from mechequiv.capture.hooks import Patcher, Recorder, eval_mode, patching, recording
from mechequiv.capture.interventions import derangement, run_with_patches, run_with_resample
from mechequiv.capture.points import Point
from mechequiv.capture.protocol import (
    Symmetries,
    UnsupportedModelError,
    hook_points,
    register_model,
    symmetries,
)
from mechequiv.capture.store import (
    ActivationStore,
    StoredArray,
    StoreWriter,
    capture_to_store,
    open_store,
    paired_batches,
)

__all__ = [
    "ActivationStore",
    "Adapter",
    "Batches",
    "Captured",
    "Patcher",
    "Point",
    "Recorder",
    "StoreWriter",
    "StoredArray",
    "Symmetries",
    "UnsupportedModelError",
    "capture",
    "capture_to_store",
    "derangement",
    "eval_mode",
    "hook_points",
    "iter_capture",
    "open_store",
    "paired_batches",
    "patching",
    "recording",
    "register_model",
    "run_with_patches",
    "run_with_resample",
    "symmetries",
]
