"""Interventions: run a model with activations replaced (patching, interchange, resampling)."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from contextlib import nullcontext
from typing import Any

import numpy as np
import torch

from mechequiv.capture.batches import Batches
from mechequiv.capture.engine import Adapter, as_adapter, capture, run_batches
from mechequiv.capture.hooks import PatchValue


def run_with_patches(
    model: torch.nn.Module | Adapter,
    inputs: Any,
    patches: Mapping[Hashable, PatchValue],
    *,
    batch_size: int | None = None,
    device: torch.device | str | None = "auto",
    eval: bool = True,
    progress: bool | None = None,
) -> Any:
    """Run ``model`` on ``inputs`` with the activations at the patched points replaced.

    Parameters
    ----------
    model, inputs, batch_size, device, eval, progress
        As in :func:`~mechequiv.capture.capture`.
    patches : mapping {point: value}
        A value is either a function ``fn(clean) -> tensor`` of the clean activation (e.g.
        ``torch.zeros_like`` for zero ablation), or a tensor with one row per input row, of the
        activation's shape (``(n, calls, ...)`` for ``Point(call="all")``), as :func:`capture`
        returns it. Replacements are cast to the activation's dtype and device.

    Returns
    -------
    The model's output, moved to the CPU; with several forward passes, tensors are concatenated
    along dim 0 (also inside tuples, lists and dicts / ``ModelOutput``).
    """
    adapter = as_adapter(model)
    data = Batches(inputs, batch_size, mask=None)
    runs = run_batches(
        adapter,
        data,
        lambda: nullcontext(adapter.forward),
        patches=patches,
        device=device,
        eval=eval,
        progress=progress,
    )
    return concat_outputs([_to_cpu(out) for _, out in runs])


def run_with_resample(
    model: torch.nn.Module | Adapter,
    inputs: Any,
    points: Sequence[Hashable],
    *,
    source: Any = None,
    rows: Sequence[int] | np.ndarray | torch.Tensor | None = None,
    seed: int | None = None,
    batch_size: int | None = None,
    device: torch.device | str | None = "auto",
    eval: bool = True,
    progress: bool | None = None,
) -> Any:
    """Run ``model`` on ``inputs`` with activations at ``points`` taken from other inputs.

    Input row ``i`` gets the activations that source row ``rows[i]`` produces at every point
    (all positions of a sequence); all other computation uses the input's own values.

    - Interchange intervention: ``source`` = counterfactual inputs; by default row ``i`` of the
      inputs is paired with row ``i`` of the source.
    - Resample ablation: no ``source`` (the inputs are their own source) and ``seed``: each row
      gets the activations of a different, randomly chosen row (:func:`derangement`).

    Parameters
    ----------
    source : inputs, optional
        Where the patched activations come from (same format as ``inputs``).
    rows : int array (n,), optional
        Source row for each input row. Default: ``derangement(n, seed)`` without ``source``,
        the identity with ``source``.
    seed : int, optional
        Seed of the derangement; required when neither ``source`` nor ``rows`` is given.

    Returns
    -------
    The model output, as :func:`run_with_patches` returns it.
    """
    n = Batches(inputs).n
    src = inputs if source is None else source
    if rows is None:
        if source is None:
            if seed is None:
                raise ValueError(
                    "resample ablation needs a seed (or explicit rows) to choose source rows"
                )
            rows = derangement(n, seed)
        else:
            rows = torch.arange(n)
    idx = torch.as_tensor(np.asarray(rows)).long()
    clean = capture(
        model, src, points, batch_size=batch_size, device=device, eval=eval, progress=progress
    )
    n_src = next(iter(clean.values())).shape[0]
    if idx.shape != (n,) or bool(((idx < 0) | (idx >= n_src)).any()):
        span = f", values {int(idx.min())}..{int(idx.max())}" if idx.numel() else ""
        raise ValueError(
            f"rows must be {n} indices in [0, {n_src}) (one source row per input row); got "
            f"shape {tuple(idx.shape)}{span}"
        )
    patches = {p: a[idx] for p, a in clean.items()}
    return run_with_patches(
        model, inputs, patches, batch_size=batch_size, device=device, eval=eval, progress=progress
    )


def derangement(n: int, seed: int | np.random.Generator) -> torch.Tensor:
    """A random permutation of ``range(n)`` with no fixed point (``p[i] != i``), from ``seed``
    (an integer seeds torch's generator; a numpy ``Generator`` is drawn from, so a caller that
    threads one generator through a whole procedure keeps one stream).

    Made by shuffling, then sending each element to the next one in the shuffled order (one
    random cycle through all n rows).
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"a derangement needs n >= 2 rows; got {n!r}")
    if isinstance(seed, np.random.Generator):
        order = torch.as_tensor(seed.permutation(n), dtype=torch.long)
    else:
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    p = torch.empty(n, dtype=torch.long)
    p[order] = torch.roll(order, -1)
    return p


def _to_cpu(out: Any) -> Any:
    if isinstance(out, torch.Tensor):
        return out.cpu()
    if isinstance(out, Mapping):
        return type(out)(**{k: _to_cpu(v) for k, v in out.items()})
    if isinstance(out, (tuple, list)):
        parts = [_to_cpu(v) for v in out]
        return type(out)(*parts) if hasattr(out, "_fields") else type(out)(parts)
    return out


def concat_outputs(outs: list[Any]) -> Any:
    """Concatenate model outputs of several batches along dim 0, structure by structure."""
    first = outs[0]
    if len(outs) == 1:
        return first
    if isinstance(first, torch.Tensor):
        return torch.cat(outs)
    if isinstance(first, Mapping):
        return type(first)(**{k: concat_outputs([o[k] for o in outs]) for k in first})
    if isinstance(first, (tuple, list)):
        parts = [concat_outputs(list(col)) for col in zip(*outs, strict=True)]
        return type(first)(*parts) if hasattr(first, "_fields") else type(first)(parts)
    if all(o is first for o in outs):
        return first
    raise TypeError(
        f"cannot concatenate model outputs of type {type(first).__name__} across batches "
        "(for Hugging Face models pass use_cache=False, or run with batch_size=None)"
    )
