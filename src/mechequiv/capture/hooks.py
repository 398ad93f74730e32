"""Forward hooks that always come off: recording activations, and the shared hook machinery.

One forward pass is one call of the root model: a pre-hook on the root resets the per-pass call
counts, so a module that runs several times in one pass (a shared module) is detected and
handled as its :class:`~mechequiv.capture.points.Point` says (``call=None`` raises).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

from mechequiv.capture.points import (
    Point,
    as_point,
    extract,
    point_key,
    replace,
    resolve_modules,
)
from mechequiv.errors import MechequivError

OnValue = Callable[[Point, Hashable, Any], Any]


def mark_own(e: Exception) -> Exception:
    """Mark an error raised by mechequiv code that runs inside a forward pass (hooks, adapters),
    so that it is not reported as an error of the model itself."""
    e.mechequiv_own = True  # type: ignore[attr-defined]
    return e


def is_own(e: BaseException) -> bool:
    """Whether ``e`` is a MechequivError or was marked by :func:`mark_own`."""
    return isinstance(e, MechequivError) or getattr(e, "mechequiv_own", False)


def named_hook_modules(model: torch.nn.Module) -> dict[str, torch.nn.Module]:
    """Module names -> modules, as hook points see them (``""`` is the model itself).

    TransformerLens models add their ``hook_dict`` names: TransformerLens 4's bridge calls
    many hook points by aliases (``blocks.0.hook_resid_post``, ``blocks.0.attn.hook_z``) that
    are not module names.
    """
    names = dict(model.named_modules(remove_duplicate=False))
    hook_dict = getattr(model, "hook_dict", None)
    if isinstance(hook_dict, Mapping):
        for name, module in hook_dict.items():
            if isinstance(name, str) and isinstance(module, torch.nn.Module):
                names.setdefault(name, module)
    return names


class HookSet:
    """Hooks on a model's points; ``on_value(point, key, raw)`` runs at each selected call.

    ``raw`` is the module output (output points) or ``(args, kwargs)`` (input points);
    ``on_value`` returns a replacement raw value or ``None`` to leave it. Use as a context
    manager: hooks are removed on exit, also when the forward pass raised.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        points: Sequence[Hashable],
        on_value: OnValue,
        modules: Mapping[str, torch.nn.Module] | None = None,
    ) -> None:
        self.model = model
        self.keys = list(points)
        self.points = [as_point(p) for p in self.keys]
        self.modules = resolve_modules(
            self.points, named_hook_modules(model) if modules is None else modules
        )
        self.on_value = on_value
        self.calls: dict[Hashable, int] = {}
        self.passes = 0  # forward passes of the root model seen so far
        self._handles: list[Any] = []

    def __enter__(self) -> HookSet:
        try:
            # Registered first, so it runs before any hook on the root model itself.
            self._handles.append(self.model.register_forward_pre_hook(self._new_pass))
            for key, point, module in zip(self.keys, self.points, self.modules, strict=True):
                if point.output == "input":
                    hook = self._input_hook(key, point)
                    self._handles.append(module.register_forward_pre_hook(hook, with_kwargs=True))
                else:
                    self._handles.append(
                        module.register_forward_hook(self._output_hook(key, point))
                    )
        except BaseException:
            self.remove()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    def remove(self) -> None:
        """Remove every hook this set added (idempotent)."""
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def _new_pass(self, module: torch.nn.Module, args: Any) -> None:
        self.calls = {}
        self.passes += 1

    def _selected(self, key: Hashable, point: Point) -> bool:
        i = self.calls.get(key, 0)
        self.calls[key] = i + 1
        if point.call is None and i > 0:
            raise MechequivError(
                f"module {point.module!r} ran more than once in one forward pass (a shared "
                f"module); choose one call with Point({point.module!r}, call=i) or every call "
                f"with call='all'"
            )
        return point.call is None or point.call == "all" or point.call == i

    def _run(self, key: Hashable, point: Point, raw: Any) -> Any:
        try:
            return self.on_value(point, key, raw) if self._selected(key, point) else None
        except Exception as e:
            mark_own(e)
            raise

    def _output_hook(self, key: Hashable, point: Point) -> Callable[..., Any]:
        def hook(module: torch.nn.Module, args: Any, output: Any) -> Any:
            return self._run(key, point, output)

        return hook

    def _input_hook(self, key: Hashable, point: Point) -> Callable[..., Any]:
        def hook(module: torch.nn.Module, args: Any, kwargs: Any) -> Any:
            return self._run(key, point, (args, kwargs))

        return hook

    def check_ran(self) -> None:
        """Raise if a point did not run (enough times) in the last forward pass."""
        for key, point in zip(self.keys, self.points, strict=True):
            ran = self.calls.get(key, 0)
            need = point.call + 1 if isinstance(point.call, int) else 1
            if ran < need:
                raise MechequivError(
                    f"point {point_key(key)!r} ran {ran} time(s) in the forward pass; expected "
                    f"at least {need} (is module {point.module!r} used by this forward?)"
                )


class Recorder:
    """Records the activations of the last forward pass at each point (detached, on device)."""

    def __init__(
        self,
        model: torch.nn.Module,
        points: Sequence[Hashable],
        modules: Mapping[str, torch.nn.Module] | None = None,
    ) -> None:
        self.hooks = HookSet(model, points, self._record, modules)
        self._values: dict[Hashable, list[torch.Tensor]] = {}
        self._pass = -1

    def _record(self, point: Point, key: Hashable, raw: Any) -> None:
        if self._pass != self.hooks.passes:  # a new forward pass: forget the previous one
            self._values, self._pass = {}, self.hooks.passes
        self._values.setdefault(key, []).append(extract(point, raw).detach())

    def pop(self) -> dict[Hashable, torch.Tensor]:
        """The last forward pass's activations ``{point: tensor}``, then forget them.

        ``call="all"`` points are stacked along a new dimension 1.
        """
        self.hooks.check_ran()
        out = {}
        for key, point in zip(self.hooks.keys, self.hooks.points, strict=True):
            vals = self._values.pop(key)
            shapes = {tuple(v.shape) for v in vals}
            if len(shapes) > 1:
                raise MechequivError(
                    f"point {point_key(key)!r}: call='all' stacks the calls, which needs one "
                    f"shape for all of them; got {sorted(shapes)} (pick a call with call=i)"
                )
            out[key] = torch.stack(vals, dim=1) if point.call == "all" else vals[0]
        self.hooks.calls = {}
        return out


@contextmanager
def recording(
    model: torch.nn.Module,
    points: Sequence[Hashable],
    modules: Mapping[str, torch.nn.Module] | None = None,
) -> Iterator[Recorder]:
    """Context manager recording activations at ``points`` during forward passes of ``model``.

    Examples
    --------
    >>> with recording(model, ["blocks.0", "blocks.1"]) as rec:   # doctest: +SKIP
    ...     model(x)
    ...     acts = rec.pop()          # {"blocks.0": tensor, "blocks.1": tensor}

    Hooks registered later run later: entered inside :func:`~mechequiv.capture.patching`, the
    recorder sees the patched values. ``modules`` maps point names to modules (default: the
    model's ``named_modules()``). Every hook is removed on exit, also after an exception.
    """
    rec = Recorder(model, points, modules)
    with rec.hooks:
        yield rec


PatchValue = torch.Tensor | Callable[[torch.Tensor], torch.Tensor]


class Patcher:
    """Replaces activations at points during forward passes of a model.

    A value is a function ``fn(clean) -> tensor`` of the clean activation, or a tensor. A tensor
    replaces the activation as is, or, when ``rows`` is set (batched runs), its rows ``rows``.
    For ``call="all"`` points a tensor holds the calls along dim 1, as :func:`capture` gives them.
    Replacements must have the clean activation's shape; they are cast to its dtype and device.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        patches: Mapping[Hashable, PatchValue],
        modules: Mapping[str, torch.nn.Module] | None = None,
    ) -> None:
        if not isinstance(patches, Mapping):
            raise TypeError(
                f"patches must be a mapping {{point: value}}; got {type(patches).__name__}"
            )
        self.values: dict[Hashable, PatchValue] = {}
        for key, v in patches.items():
            if callable(v):
                self.values[key] = v
            elif isinstance(v, (torch.Tensor, np.ndarray)):
                self.values[key] = torch.as_tensor(v)
            else:
                raise TypeError(
                    f"patch for {point_key(key)!r} must be a tensor or a function of the clean "
                    f"activation; got {type(v).__name__}"
                )
        self.rows: slice | None = None
        self.hooks = HookSet(model, list(self.values), self._patch, modules)
        for point in self.hooks.points:
            if point.select is not None and not isinstance(point.select, (int, str)):
                raise TypeError(
                    f"point {point.key!r}: cannot patch through a callable select; "
                    "use select=int or str"
                )

    def _patch(self, point: Point, key: Hashable, raw: Any) -> Any:
        clean = extract(point, raw)
        v = self.values[key]
        if isinstance(v, torch.Tensor):
            new = v if self.rows is None else v[self.rows]
            if point.call == "all":
                new = new[:, self.hooks.calls[key] - 1]
        else:
            new = v(clean)
            if not isinstance(new, torch.Tensor):
                raise TypeError(
                    f"patch function for {point.key!r} returned {type(new).__name__}; "
                    "expected a tensor"
                )
        if new.shape != clean.shape:
            raise ValueError(
                f"patch for {point.key!r} has shape {tuple(new.shape)}; the activation there has "
                f"shape {tuple(clean.shape)}"
            )
        return replace(point, raw, new.to(device=clean.device, dtype=clean.dtype))


@contextmanager
def patching(
    model: torch.nn.Module,
    patches: Mapping[Hashable, PatchValue],
    modules: Mapping[str, torch.nn.Module] | None = None,
) -> Iterator[Patcher]:
    """Context manager patching ``{point: value}`` in every forward pass of ``model``.

    Examples
    --------
    >>> with patching(model, {"blocks.0.mlp": torch.zeros_like}):   # doctest: +SKIP
    ...     logits = model(x)                 # blocks.0.mlp zero-ablated

    Enter :func:`recording` inside it to capture patched activations in the same pass. The hooks
    are removed on exit, also after an exception.
    """
    patcher = Patcher(model, patches, modules)
    with patcher.hooks:
        yield patcher


@contextmanager
def eval_mode(model: torch.nn.Module, enabled: bool = True) -> Iterator[torch.nn.Module]:
    """Put every submodule in eval mode, and restore each module's own mode on exit."""
    modes = {m: m.training for m in model.modules()}
    try:
        if enabled:
            model.eval()
        yield model
    finally:
        for m, training in modes.items():
            m.training = training
