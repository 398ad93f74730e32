"""Hook points: which module, which side (output or input), which tensor inside it, which call.

A point is either a module name (``"blocks.0.mlp"``, as in ``model.named_modules()``; ``""`` is
the model itself) or a :class:`Point` for everything a bare name cannot say: a tensor inside a
tuple / dict / ``ModelOutput``, a module's input, or one call of a module that runs several
times per forward pass (a shared module).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch

from mechequiv.errors import MechequivError

Selector = int | str | Callable[..., torch.Tensor] | None
"""How to pick a tensor from a module's output (or input); see :class:`Point`."""


@dataclass(frozen=True)
class Point:
    """A hook point on a module.

    Parameters
    ----------
    module : str
        Module name as in ``model.named_modules()`` (``""`` is the root model). For a
        TransformerLens adapter, a hook name (``"blocks.0.hook_resid_post"``).
    select : int, str, callable or None
        Which tensor of the output (``output="output"``) or of the call's arguments
        (``output="input"``) to use:

        - ``None``: the output itself, which must be a tensor; for inputs, the first positional
          argument.
        - ``int``: that element of a tuple/list output; for inputs, that positional argument.
        - ``str``: that key of a dict / ``ModelOutput`` (or attribute of another object); for
          inputs, that keyword argument.
        - callable: ``select(output) -> Tensor``; for inputs ``select(args, kwargs) -> Tensor``.
          Captures only: patching cannot write a value back through a callable.
    output : {"output", "input"}
        Hook the module's output (forward hook) or its input (forward pre-hook).
    call : int, "all" or None
        For modules that run more than once per forward pass. ``None`` (default): the module must
        run exactly once, a second call raises :class:`~mechequiv.MechequivError` (so a shared
        module is never captured silently at one arbitrary call). An int ``i``: only the i-th call
        (0-based) of each forward pass. ``"all"``: every call; captures are stacked along a new
        dimension 1, giving ``(n, calls, ...)``, and a patch is applied at every call.
    name : str, optional
        Name used in messages and as the array name in an activation store. Default: the module
        name, with ``":input"`` / ``"[select]"`` / ``"@call"`` suffixes when those are set.
    """

    module: str
    select: Selector = None
    output: Literal["output", "input"] = "output"
    call: int | Literal["all"] | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.module, str):
            raise TypeError(f"Point.module must be a module name (str); got {self.module!r}")
        if self.output not in ("output", "input"):
            raise ValueError(f"Point.output must be 'output' or 'input'; got {self.output!r}")
        if isinstance(self.select, bool) or not (
            self.select is None or isinstance(self.select, (int, str)) or callable(self.select)
        ):
            raise TypeError(
                f"Point.select must be None, an int, a str or a callable; got {self.select!r}"
            )
        call_ok = self.call is None or self.call == "all"
        call_ok = call_ok or (isinstance(self.call, int) and not isinstance(self.call, bool))
        if not call_ok or (isinstance(self.call, int) and self.call < 0):
            raise ValueError(
                f"Point.call must be None, a call index >= 0 or 'all'; got {self.call!r}"
            )

    @property
    def key(self) -> str:
        """The point's name (see ``name``)."""
        if self.name is not None:
            return self.name
        key = self.module
        if self.output == "input":
            key += ":input"
        if isinstance(self.select, (int, str)):
            key += f"[{self.select!r}]"
        elif self.select is not None:
            key += f"[{getattr(self.select, '__name__', 'select')}]"
        if self.call is not None:
            key += f"@{self.call}"
        return key


_SELECT_SUFFIX = re.compile(r"^(?P<module>[^\[\]]*)\[(?P<select>-?\d+|'[^']*')\]$")


def as_point(point: Hashable) -> Point:
    """A :class:`Point` for a module name or a Point (returned unchanged).

    A name may end in a selector written as :attr:`Point.key` writes it, so that plain strings
    (command-line options, circuit components) can pick a tensor inside a tuple or dict output:
    ``"transformer.h.0[0]"`` is ``Point("transformer.h.0", select=0)`` and ``"m['logits']"`` is
    ``Point("m", select="logits")``, each keeping the string as its name.
    """
    if isinstance(point, Point):
        return point
    if isinstance(point, str):
        found = _SELECT_SUFFIX.match(point)
        if found is None:
            return Point(point)
        raw = found["select"]
        select: int | str = raw[1:-1] if raw.startswith("'") else int(raw)
        return Point(found["module"], select=select, name=point)
    raise TypeError(f"a hook point must be a module name (str) or a Point; got {point!r}")


def point_key(point: Hashable) -> str:
    """The string name of a point: a module name, ``Point.key``, or ``str(i)`` for an int."""
    if isinstance(point, Point):
        return point.key
    if isinstance(point, str):
        return point
    if isinstance(point, int) and not isinstance(point, bool):
        return str(point)
    raise TypeError(f"a point must be a str, an int or a Point; got {point!r}")


def unique_points(points: Sequence[Hashable]) -> list[Hashable]:
    """Validate a non-empty list of points with distinct names and return it as a list."""
    if isinstance(points, (str, Point)):
        points = [points]
    points = list(points)
    if not points:
        raise ValueError("no hook points given; expected at least one")
    keys = [point_key(p) for p in points]
    dupes = sorted({k for k in keys if keys.count(k) > 1})
    if dupes:
        raise ValueError(f"hook points must have distinct names; repeated: {dupes}")
    return points


def nearest_names(name: str, names: Sequence[str], n: int = 5) -> list[str]:
    """The ``n`` names closest to ``name`` (difflib ratio), for "did you mean" messages."""
    close = difflib.get_close_matches(name, names, n=n, cutoff=0.4)
    return close or [x for x in names if x][:n]


def resolve_modules(
    points: Sequence[Point], modules: Mapping[str, torch.nn.Module], what: str = "module"
) -> list[torch.nn.Module]:
    """Look up each point's module; an unknown name raises ValueError listing the nearest names."""
    found = []
    for p in points:
        if p.module not in modules:
            near = nearest_names(p.module, list(modules))
            raise ValueError(
                f"no {what} named {p.module!r} in the model; nearest names: {near} "
                f"({len(modules)} names in all)"
            )
        found.append(modules[p.module])
    return found


def extract(point: Point, raw: Any) -> torch.Tensor:
    """Pick the point's tensor from a hook's raw value.

    ``raw`` is the module output for output points and ``(args, kwargs)`` for input points.
    """
    sel = point.select
    if point.output == "input":
        args, kwargs = raw
        if callable(sel) and not isinstance(sel, (int, str)):
            value = sel(args, kwargs)
        elif isinstance(sel, str):
            if sel not in kwargs:
                raise MechequivError(
                    f"point {point.key!r}: no keyword argument {sel!r}; got {sorted(kwargs)}"
                )
            value = kwargs[sel]
        else:
            i = 0 if sel is None else sel
            if not -len(args) <= i < len(args):
                raise MechequivError(
                    f"point {point.key!r}: positional argument {i} requested; the module was "
                    f"called with {len(args)} positional arguments"
                )
            value = args[i]
    elif sel is None:
        value = raw
    elif isinstance(sel, int):
        if not isinstance(raw, (tuple, list)):
            raise TypeError(
                f"point {point.key!r}: select={sel} needs a tuple/list output; got {_kind(raw)}"
            )
        value = raw[sel]
    elif isinstance(sel, str):
        value = raw[sel] if isinstance(raw, Mapping) else getattr(raw, sel)
    else:
        value = sel(raw)
    if not isinstance(value, torch.Tensor):
        hint = "" if sel is not None else "; pass Point(name, select=...) to pick a tensor from it"
        raise TypeError(f"point {point.key!r} gives {_kind(value)}, not a tensor{hint}")
    return value


def replace(point: Point, raw: Any, new: torch.Tensor) -> Any:
    """The hook's raw value with the point's tensor replaced by ``new`` (no in-place edit)."""
    sel = point.select
    if sel is not None and not isinstance(sel, (int, str)):
        raise TypeError(
            f"point {point.key!r}: cannot patch through a callable select; use select=int or str"
        )
    if point.output == "input":
        args, kwargs = raw
        if isinstance(sel, str):
            return args, {**kwargs, sel: new}
        i = (0 if sel is None else sel) % len(args)
        return (*args[:i], new, *args[i + 1 :]), kwargs
    if sel is None:
        return new
    if isinstance(sel, int):
        items = list(raw)
        items[sel] = new
        if hasattr(raw, "_fields"):  # a namedtuple
            return type(raw)(*items)
        return type(raw)(items) if isinstance(raw, list) else tuple(items)
    if not isinstance(raw, Mapping):
        raise TypeError(
            f"point {point.key!r}: select={sel!r} can patch dict outputs only; got {_kind(raw)}"
        )
    return type(raw)(**{**raw, sel: new})


def _kind(x: Any) -> str:
    if isinstance(x, (tuple, list)):
        return f"a {type(x).__name__} of {len(x)}"
    return f"a {type(x).__name__}"
