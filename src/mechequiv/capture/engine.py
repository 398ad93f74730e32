"""Batched capture: run a model over its inputs and collect activations at hook points."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from rich.progress import Progress

from mechequiv._progress import make_progress
from mechequiv.capture.batches import Batch, Batches, Chunk, call, map_batch
from mechequiv.capture.hooks import (
    PatchValue,
    eval_mode,
    is_own,
    named_hook_modules,
    patching,
    recording,
)
from mechequiv.capture.points import point_key, unique_points
from mechequiv.errors import MechequivError
from mechequiv.tokens import TokenPolicy, pool_tokens

Step = Callable[[Batch], dict[Hashable, torch.Tensor]]

PROGRESS_DELAY_S = 2.0
"""With ``progress=None`` a bar appears only once a capture has run this long (and on a TTY)."""


class Adapter:
    """How mechequiv runs a model and reaches its hook points.

    The base class is the generic adapter for any ``torch.nn.Module``: points are module names
    (``named_modules()``), captured with forward hooks. Subclasses (see
    :mod:`mechequiv.capture.adapters`) change how points are named, reached or captured.
    """

    def __init__(self, module: torch.nn.Module) -> None:
        if not isinstance(module, torch.nn.Module):
            raise TypeError(f"expected a torch.nn.Module; got {type(module).__name__}")
        self.module = module

    def hook_modules(self) -> Mapping[str, torch.nn.Module]:
        """Point names -> the modules whose hooks capture and patch them."""
        return named_hook_modules(self.module)

    def forward(self, batch: Batch) -> Any:
        """Run the model on one batch and return its output."""
        return call(self.module, batch)

    @contextmanager
    def session(self, points: Sequence[Hashable]) -> Iterator[Step]:
        """Prepare capturing ``points``; yields ``step(batch) -> {point: activation}``."""
        with recording(self.module, points, self.hook_modules()) as rec:

            def step(batch: Batch) -> dict[Hashable, torch.Tensor]:
                self.forward(batch)
                return rec.pop()

            yield step


def as_adapter(model: Any) -> Adapter:
    """The generic :class:`Adapter` for a module; an adapter is returned unchanged."""
    if isinstance(model, Adapter):
        return model
    if isinstance(model, torch.nn.Module):
        return Adapter(model)
    raise TypeError(
        f"model must be a torch.nn.Module or a mechequiv Adapter; got {type(model).__name__}"
    )


def model_device(module: torch.nn.Module) -> torch.device | None:
    """Device of the module's first parameter (or buffer); None for a module without either."""
    first = next(itertools.chain(module.parameters(), module.buffers()), None)
    return None if first is None else first.device


@dataclass(frozen=True)
class Captured:
    """Activations of input rows ``start:stop`` (after the token policy), on the CPU."""

    start: int
    stop: int
    acts: dict[Hashable, torch.Tensor]


class _DelayedProgress:
    """A progress bar over input rows that appears only after ``PROGRESS_DELAY_S`` seconds."""

    def __init__(self, total: int, description: str, progress: bool | None) -> None:
        self.total, self.description, self.enabled = total, description, progress
        self.t0 = time.perf_counter()
        self.done = 0
        self.bar: Progress | None = None

    def advance(self, rows: int) -> None:
        self.done += rows
        due = self.enabled or time.perf_counter() - self.t0 >= PROGRESS_DELAY_S
        if self.bar is None and self.enabled is not False and due:
            self.bar = make_progress(disable=None if self.enabled is None else False)
            self.bar.start()
            self.task = self.bar.add_task(self.description, total=self.total, status="rows")
        if self.bar is not None:
            self.bar.update(self.task, completed=self.done)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def iter_capture(
    model: torch.nn.Module | Adapter,
    inputs: Any,
    points: Sequence[Hashable],
    *,
    batch_size: int | None = None,
    tokens: TokenPolicy | None = None,
    mask: Any = "auto",
    patches: Mapping[Hashable, PatchValue] | None = None,
    device: torch.device | str | None = "auto",
    out_device: torch.device | str | None = "cpu",
    eval: bool = True,
    progress: bool | None = None,
    start: int = 0,
) -> Iterator[Captured]:
    """Capture batch by batch; yields one :class:`Captured` per forward pass.

    Same arguments as :func:`capture`, plus ``start``: skip the first ``start`` input rows
    (used to resume an interrupted capture). Hooks are removed and train/eval modes restored
    when the iterator finishes, raises, or is closed.
    """
    adapter = as_adapter(model)
    points = unique_points(points)
    data = Batches(inputs, batch_size, mask)
    runs = run_batches(
        adapter,
        data,
        lambda: adapter.session(points),
        patches=patches,
        device=device,
        eval=eval,
        progress=progress,
        start=start,
    )
    for chunk, acts in runs:
        rows = chunk.stop - chunk.start
        yield Captured(
            chunk.start,
            chunk.stop,
            {p: _finish(p, acts[p], rows, tokens, chunk.mask, out_device) for p in points},
        )


def run_batches(
    adapter: Adapter,
    data: Batches,
    open_step: Callable[[], AbstractContextManager[Callable[[Batch], Any]]],
    *,
    patches: Mapping[Hashable, PatchValue] | None,
    device: torch.device | str | None,
    eval: bool,
    progress: bool | None,
    start: int = 0,
) -> Iterator[tuple[Chunk, Any]]:
    """Run ``step`` (from ``open_step()``) on every chunk of ``data``; yields (chunk, result).

    Handles device placement, eval mode, ``no_grad``, patches (tensor values sliced to each
    chunk's rows), the progress bar, and wraps exceptions from the model in a MechequivError
    that names the input rows.
    """
    if device == "auto":
        device = model_device(adapter.module)
    bar = _DelayedProgress(data.n, "capture", progress)
    bar.advance(start)
    with ExitStack() as stack:
        stack.callback(bar.close)
        stack.enter_context(eval_mode(adapter.module, eval))
        stack.enter_context(torch.no_grad())
        patcher = None
        if patches:
            patcher = stack.enter_context(patching(adapter.module, patches, adapter.hook_modules()))
            for key, v in patcher.values.items():
                if isinstance(v, torch.Tensor) and (v.ndim == 0 or v.shape[0] != data.n):
                    raise ValueError(
                        f"patch for {point_key(key)!r} has shape {tuple(v.shape)}; a tensor patch "
                        f"needs one row per input row ({data.n})"
                    )
        step = stack.enter_context(open_step())
        for chunk in data.chunks(start):
            batch = (
                chunk.batch if device is None else map_batch(chunk.batch, lambda v: v.to(device))
            )
            if patcher is not None:
                patcher.rows = slice(chunk.start, chunk.stop)
            try:
                result = step(batch)
            except Exception as e:
                if is_own(e):
                    raise
                raise MechequivError(
                    f"the model raised {type(e).__name__} on input rows "
                    f"{chunk.start}:{chunk.stop}: {e}"
                ) from e
            yield chunk, result
            bar.advance(chunk.stop - chunk.start)


def _finish(
    point: Hashable,
    a: torch.Tensor,
    rows: int,
    tokens: TokenPolicy | None,
    mask: torch.Tensor | None,
    out_device: torch.device | str | None,
) -> torch.Tensor:
    if a.ndim == 0 or a.shape[0] != rows:
        raise MechequivError(
            f"point {point_key(point)!r} gave an activation of shape {tuple(a.shape)} for a batch "
            f"of {rows} rows; expected the batch along dim 0 "
            "(pick or transpose with Point(select=...))"
        )
    if tokens is not None:
        try:
            a = pool_tokens(a, tokens, None if mask is None else mask.to(a.device))
        except ValueError as e:
            raise ValueError(f"point {point_key(point)!r}: {e}") from e
    return a if out_device is None else a.to(out_device)


def capture(
    model: torch.nn.Module | Adapter,
    inputs: Any,
    points: Sequence[Hashable],
    *,
    batch_size: int | None = None,
    tokens: TokenPolicy | None = None,
    mask: Any = "auto",
    patches: Mapping[Hashable, PatchValue] | None = None,
    device: torch.device | str | None = "auto",
    out_device: torch.device | str | None = "cpu",
    eval: bool = True,
    progress: bool | None = None,
) -> dict[Hashable, torch.Tensor]:
    """Run ``model`` over ``inputs`` and return the activations at ``points``.

    Parameters
    ----------
    model : torch.nn.Module or Adapter
        A plain module (points are module names, see :class:`~mechequiv.capture.Point`) or an
        adapter from :mod:`mechequiv.capture.adapters`.
    inputs : tensor, tuple, dict, or list of batches
        See :mod:`mechequiv.capture.batches`: a tensor is called as ``model(x)``, a tuple as
        ``model(*args)``, a dict as ``model(**kwargs)``; a list is a sequence of batches.
    points : sequence of str / Point (or the adapter's point kind)
        Where to capture. Names must be distinct.
    batch_size : int, optional
        Most rows per forward pass (default: each given batch in one pass).
    tokens : {"last", "mean", "all", "concat"}, int or None
        Token policy applied per batch with :func:`mechequiv.tokens.pool_tokens` to activations
        of shape (n, t, d); ``None`` keeps activations as they are.
    mask : "auto", array (n, t) or None
        Padding mask for ``tokens`` (True/1 = real token). ``"auto"`` uses the
        ``"attention_mask"`` entry of dict inputs when there is one.
    patches : mapping {point: tensor or function}, optional
        Patch these points in the same forward passes (see :func:`run_with_patches`); points
        that are both patched and captured give the patched value.
    device : "auto", device or None
        Where inputs are moved before each pass: ``"auto"`` = the device of the model's first
        parameter; ``None`` leaves them where they are.
    out_device : device or None
        Where activations are returned: the CPU by default (so GPU memory does not fill up
        over a long capture); ``None`` keeps them on the device the model produced them on.
    eval : bool
        Run in eval mode (default); every module's own train/eval mode is restored afterwards.
    progress : bool or None
        ``None``: a progress bar only on an interactive terminal and only once the capture has
        run for ``PROGRESS_DELAY_S`` seconds; ``False``: silent; ``True``: always shown.

    Returns
    -------
    dict
        ``{point: tensor}`` keyed by the given point objects; each tensor has the input rows
        along dim 0 (one row per token for ``tokens="all"``), lives on ``out_device`` (the CPU
        by default) and keeps the module's dtype (no upcast: float64 is for the measures, not
        for storage). Runs under ``torch.no_grad()``.

    Raises
    ------
    ValueError
        Unknown point names (the message lists the nearest names), inputs whose tensors disagree
        on dim 0, a mask of the wrong shape, a token policy that does not fit.
    MechequivError
        The model raised (the message gives the input rows), a point did not run, or a shared
        module ran twice for a ``call=None`` point. No hook is left behind in any case.
    """
    parts: dict[Hashable, list[torch.Tensor]] = {}
    for got in iter_capture(
        model,
        inputs,
        points,
        batch_size=batch_size,
        tokens=tokens,
        mask=mask,
        patches=patches,
        device=device,
        out_device=out_device,
        eval=eval,
        progress=progress,
    ):
        for p, a in got.acts.items():
            parts.setdefault(p, []).append(a)
    return {p: torch.cat(v) if len(v) > 1 else v[0] for p, v in parts.items()}
