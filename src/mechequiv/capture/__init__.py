"""Activations out of models: hook capture, patching, adapters and a disk-backed store.

- :func:`capture` / :func:`iter_capture`: batched, hook-based capture at named points of any
  ``torch.nn.Module`` (or an adapter), with token policies and padding masks.
- :func:`run_with_patches`, :func:`run_with_resample`, :func:`patching`: interventions
  (activation patching, interchange interventions, resample ablation).
- :func:`recording`, :func:`eval_mode`: the context managers underneath.
- :func:`capture_to_store`, :func:`open_store`, :func:`paired_batches`: a zarr activation store
  written atomically and resumably, read back in batches.
- :mod:`mechequiv.capture.adapters`: TransformerLens, Hugging Face ``transformers``, nnsight.
"""

from mechequiv.capture.batches import Batches
from mechequiv.capture.engine import Adapter, Captured, capture, iter_capture
from mechequiv.capture.hooks import Patcher, Recorder, eval_mode, patching, recording
from mechequiv.capture.interventions import derangement, run_with_patches, run_with_resample
from mechequiv.capture.points import Point
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
    "capture",
    "capture_to_store",
    "derangement",
    "eval_mode",
    "iter_capture",
    "open_store",
    "paired_batches",
    "patching",
    "recording",
    "run_with_patches",
    "run_with_resample",
]
