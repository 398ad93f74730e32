"""Model inputs: one batch (a tensor, a tuple of positional tensors, a dict of keyword tensors) or a
list of such batches, all batched along dimension 0.

- a tensor (or numpy array) ``x`` is called as ``model(x)``;
- a tuple ``(a, b)`` as ``model(a, b)``;
- a dict ``{"input_ids": ..., "attention_mask": ...}`` as ``model(**d)``;
- a *list* of any of these is a sequence of batches, concatenated in order.

Non-tensor entries of a tuple/dict (``output_hidden_states=True``, ``None``) are passed through
unchanged to every batch. Every tensor entry of one batch must have the same size along dim 0.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

Batch = torch.Tensor | tuple[Any, ...] | dict[str, Any]
Inputs = Batch | np.ndarray | list[Any]


def as_batches(inputs: Any) -> list[Batch]:
    """Normalise ``inputs`` to a non-empty list of batches (numpy arrays become tensors)."""
    if isinstance(inputs, list):
        if not inputs:
            raise ValueError("inputs is an empty list; expected at least one batch")
        return [_as_batch(b, f"inputs[{i}]") for i, b in enumerate(inputs)]
    return [_as_batch(inputs, "inputs")]


def _as_batch(b: Any, where: str) -> Batch:
    if isinstance(b, np.ndarray):
        return torch.from_numpy(b)
    if isinstance(b, torch.Tensor):
        return b
    if isinstance(b, tuple):
        return tuple(torch.from_numpy(v) if isinstance(v, np.ndarray) else v for v in b)
    if isinstance(b, Mapping):
        return {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in b.items()}
    raise TypeError(
        f"{where} must be a tensor, a numpy array, a tuple or a dict of tensors (or a list of "
        f"such batches); got {type(b).__name__}"
    )


def _tensors(b: Batch) -> dict[str, torch.Tensor]:
    if isinstance(b, torch.Tensor):
        return {"input": b}
    items = b.items() if isinstance(b, dict) else enumerate(b)
    return {str(k): v for k, v in items if isinstance(v, torch.Tensor)}


def batch_rows(b: Batch, where: str = "inputs") -> int:
    """Rows (size of dim 0) of a batch; ValueError if its tensors disagree or it has none."""
    tensors = _tensors(b)
    if not tensors:
        raise ValueError(f"{where} holds no tensor; expected tensors batched along dim 0")
    sizes = {k: (v.shape[0] if v.ndim else None) for k, v in tensors.items()}
    if None in sizes.values() or len(set(sizes.values())) != 1:
        raise ValueError(f"{where}: tensors disagree on the batch dimension (dim 0): {sizes}")
    rows = next(iter(sizes.values()))
    assert rows is not None  # excluded just above; tells the type checker
    return rows


def map_batch(b: Batch, fn: Callable[[torch.Tensor], torch.Tensor]) -> Batch:
    """Apply ``fn`` to every tensor of a batch, passing other entries through."""
    if isinstance(b, torch.Tensor):
        return fn(b)
    if isinstance(b, dict):
        return {k: fn(v) if isinstance(v, torch.Tensor) else v for k, v in b.items()}
    return tuple(fn(v) if isinstance(v, torch.Tensor) else v for v in b)


def call(fn: Callable[..., Any], b: Batch, **extra: Any) -> Any:
    """Call ``fn`` on a batch: ``fn(x)``, ``fn(*args)`` or ``fn(**kwargs)``, plus ``extra``."""
    if isinstance(b, torch.Tensor):
        return fn(b, **extra)
    if isinstance(b, dict):
        return fn(**{**b, **extra})  # ``extra`` wins over the same key in the batch
    return fn(*b, **extra)


@dataclass(frozen=True)
class Chunk:
    """One forward pass worth of inputs: global rows ``start:stop`` and the batch itself."""

    start: int
    stop: int
    batch: Batch
    mask: torch.Tensor | None


class Batches:
    """Inputs split into forward-pass chunks of at most ``batch_size`` rows, with padding masks.

    Parameters
    ----------
    inputs : see module docstring
    batch_size : int, optional
        Largest number of rows per forward pass; ``None`` keeps the given batches as they are.
    mask : "auto", array (n, t) or None
        Padding mask for token policies. ``"auto"``: the ``"attention_mask"`` entry of dict
        batches when present, else none. An array must have one row per input row (all batches
        together).
    """

    def __init__(self, inputs: Any, batch_size: int | None = None, mask: Any = "auto") -> None:
        if batch_size is not None and (
            isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1
        ):
            raise ValueError(f"batch_size must be a positive int or None; got {batch_size!r}")
        self.batches = as_batches(inputs)
        many = len(self.batches) > 1
        self.rows = [
            batch_rows(b, f"inputs[{i}]" if many else "inputs") for i, b in enumerate(self.batches)
        ]
        self.n = sum(self.rows)
        self.batch_size = batch_size
        if isinstance(mask, str) and mask != "auto":
            raise ValueError(f"mask must be 'auto', an array (n, t) or None; got {mask!r}")
        self.mask: torch.Tensor | str | None
        if mask is None or isinstance(mask, str):
            self.mask = mask
        else:
            m = torch.as_tensor(mask)
            if m.ndim != 2 or m.shape[0] != self.n:
                raise ValueError(
                    f"mask must have shape (n, t) with n = {self.n} input rows; "
                    f"got {tuple(m.shape)}"
                )
            self.mask = m

    def chunks(self, start: int = 0) -> Iterator[Chunk]:
        """The forward-pass chunks, skipping the first ``start`` input rows."""
        offset = 0
        for b, rows in zip(self.batches, self.rows, strict=True):
            step = self.batch_size or rows
            for lo in range(0, rows, step):
                hi = min(lo + step, rows)
                if offset + hi <= start:
                    continue
                lo = max(lo, start - offset)
                part = b if (lo, hi) == (0, rows) else map_batch(b, _row_slice(lo, hi))
                yield Chunk(
                    offset + lo, offset + hi, part, self._mask(part, offset + lo, offset + hi)
                )
            offset += rows

    def _mask(self, part: Batch, start: int, stop: int) -> torch.Tensor | None:
        if isinstance(self.mask, torch.Tensor):
            return self.mask[start:stop]
        if self.mask == "auto" and isinstance(part, dict):
            m = part.get("attention_mask")
            return m if isinstance(m, torch.Tensor) else None
        return None


def _row_slice(lo: int, hi: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """``v -> v[lo:hi]`` with ``lo``, ``hi`` bound now (not at the closure's call)."""

    def take(v: torch.Tensor) -> torch.Tensor:
        return v[lo:hi]

    return take
