"""nnsight: capture through ``model.trace`` and ``.save()``."""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Sequence
from contextlib import contextmanager
from functools import reduce
from typing import Any

import torch

from mechequiv.capture.batches import Batch, call
from mechequiv.capture.engine import Adapter, Step
from mechequiv.capture.hooks import HookSet
from mechequiv.capture.points import Point, as_point, extract


class NNsightAdapter(Adapter):
    """Capture from a model wrapped in ``nnsight.NNsight`` (or one of its subclasses).

    Points are module paths of the wrapped module (``"layers.0.mlp"``) or ``Point`` objects
    (``output="input"`` reads ``.inputs``; ``select`` applies to what nnsight saved). nnsight
    requires modules to be accessed in execution order, so the first batch is run once more
    with plain hooks to learn that order. Shared modules are not supported (``call`` must be
    None). Patching through this adapter uses plain hooks on the wrapped module.
    """

    def __init__(self, model: Any) -> None:
        module = getattr(model, "_module", None)
        if not isinstance(module, torch.nn.Module) or not callable(getattr(model, "trace", None)):
            raise TypeError(f"expected an nnsight.NNsight model; got {type(model).__name__}")
        super().__init__(module)
        self.model = model

    def _envoy(self, path: str) -> Any:
        return reduce(getattr, path.split("."), self.model) if path else self.model

    @contextmanager
    def session(self, points: Sequence[Hashable]) -> Iterator[Step]:
        parsed = [as_point(p) for p in points]
        for p in parsed:
            if p.call is not None:
                raise TypeError(f"the nnsight adapter does not capture repeated calls; got {p!r}")
        order: list[int] = []

        def learn_order(batch: Batch) -> None:
            def seen(point: Point, key: Hashable, raw: Any) -> None:
                order.append(keys.index(key))

            keys = list(points)
            with HookSet(self.module, keys, seen, self.hook_modules()) as hooks:
                call(self.module, batch)
            hooks.check_ran()

        def step(batch: Batch) -> dict[Hashable, torch.Tensor]:
            if not order:
                learn_order(batch)
            saved: dict[int, Any] = {}
            with call(self.model.trace, batch):
                for i in order:
                    envoy = self._envoy(parsed[i].module)
                    raw = envoy.inputs if parsed[i].output == "input" else envoy.output
                    saved[i] = raw.save()
            return {points[i]: extract(parsed[i], saved[i]) for i in order}

        yield step
