"""TransformerLens models: hook names and ``run_with_cache``."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, cast

import torch

from mechequiv.capture.batches import Batch, call
from mechequiv.capture.engine import Adapter, Step
from mechequiv.capture.points import as_point, resolve_modules


class TransformerLensAdapter(Adapter):
    """Capture and patch a TransformerLens model by hook name (``"blocks.0.hook_resid_post"``).

    Works with any model that has TransformerLens's ``hook_dict`` and ``run_with_cache``: the
    ``HookedTransformer`` of TransformerLens 2/3, other ``HookedRootModule`` subclasses, and the
    ``TransformerBridge`` of TransformerLens 4. Captures use
    ``model.run_with_cache(batch, names_filter=[...])``; patches hook the ``HookPoint`` modules,
    so they also apply inside ``run_with_cache`` and compose with the model's own hooks.

    Points are hook names (or a ``Point`` with only ``module`` and ``name`` set): a hook point
    passes one tensor through, so ``select``/``output``/``call`` do not apply. Activations keep
    TransformerLens's layouts (``[batch, pos, d_model]``, ``[batch, pos, head, d_head]``...).
    Note that legacy ``HookedTransformer.from_pretrained`` folds LayerNorm and centres weights
    by default, so its activations differ from the Hugging Face model's.
    """

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__(model)
        if not (hasattr(model, "hook_dict") and callable(getattr(model, "run_with_cache", None))):
            raise TypeError(
                f"expected a TransformerLens model with hook_dict and run_with_cache; got "
                f"{type(model).__name__}"
            )

    def hook_modules(self) -> Mapping[str, torch.nn.Module]:
        return cast(Mapping[str, torch.nn.Module], self.module.hook_dict)

    @contextmanager
    def session(self, points: Sequence[Hashable]) -> Iterator[Step]:
        parsed = [as_point(p) for p in points]
        for p in parsed:
            if (p.select, p.output, p.call) != (None, "output", None):
                raise TypeError(
                    f"TransformerLens points are hook names; {p!r} sets select/output/call "
                    "(use the plain module adapter for those)"
                )
        resolve_modules(parsed, self.hook_modules(), what="hook point")
        names = [p.module for p in parsed]

        def step(batch: Batch) -> dict[Hashable, torch.Tensor]:
            run_with_cache = cast(Callable[..., Any], self.module.run_with_cache)
            _, cache = call(run_with_cache, batch, names_filter=names)
            return {key: cache[p.module] for key, p in zip(points, parsed, strict=True)}

        yield step
