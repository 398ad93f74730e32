"""Adapters for model libraries; each is optional and imports nothing from its library eagerly.

Pass an adapter wherever a model is accepted (:func:`~mechequiv.capture.capture`,
:func:`~mechequiv.capture.run_with_patches`, :func:`~mechequiv.capture.capture_to_store`):

- :class:`TransformerLensAdapter`: TransformerLens models (``HookedTransformer`` of
  TransformerLens 2/3, any ``HookedRootModule``, and the ``TransformerBridge`` of
  TransformerLens 4); points are hook names, captured with ``run_with_cache``.
- :class:`HiddenStatesAdapter`: Hugging Face ``transformers`` models; points are indices into
  ``output_hidden_states``.
- :class:`NNsightAdapter`: models wrapped in ``nnsight.NNsight``; points are module paths,
  captured with ``model.trace`` and ``.save()``.
"""

from mechequiv.capture.adapters.hf import HiddenStatesAdapter
from mechequiv.capture.adapters.nnsight import NNsightAdapter
from mechequiv.capture.adapters.transformer_lens import TransformerLensAdapter

__all__ = ["HiddenStatesAdapter", "NNsightAdapter", "TransformerLensAdapter"]
