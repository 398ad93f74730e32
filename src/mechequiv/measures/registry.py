"""One registry of measures with their properties.

Each entry records what a user needs to interpret a number: similarity or distance, its range,
whether it is a metric, and the transformations of either representation it is invariant to.
Properties describe each measure *under its default options*; options that change them say so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

# The invariance vocabulary: a transformation T applied to one representation (X -> T(X)).
INVARIANCES = (
    "orthogonal",  # X -> X Q with Q orthogonal
    "isotropic_scaling",  # X -> c X, c > 0
    "invertible_linear",  # X -> X A with A invertible
    "permutation",  # X -> X P with P a permutation of features
    "translation",  # X -> X + 1 b^T
)

Kind = Literal["similarity", "distance"]


@dataclass(frozen=True)
class MeasureInfo:
    """A registered measure: the callable plus its metadata."""

    name: str
    fn: Callable[..., float] = field(repr=False)
    kind: Kind
    range: tuple[float, float]
    metric: bool
    symmetric: bool
    invariances: frozenset[str]
    family: str
    convention: str
    functional: bool = False

    def __call__(self, X: Any, Y: Any, **options: Any) -> float:
        return self.fn(X, Y, **options)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe metadata."""
        return {
            "name": self.name,
            "kind": self.kind,
            "range": list(self.range),
            "metric": self.metric,
            "symmetric": self.symmetric,
            "invariances": sorted(self.invariances),
            "family": self.family,
            "functional": self.functional,
            "convention": self.convention,
        }


_REGISTRY: dict[str, MeasureInfo] = {}


def register(
    *,
    kind: Kind,
    range: tuple[float, float],
    metric: bool,
    symmetric: bool,
    invariances: tuple[str, ...],
    family: str,
    convention: str,
    functional: bool = False,
    name: str | None = None,
) -> Callable[[Callable[..., float]], Callable[..., float]]:
    """Decorator adding a measure function to the registry under its own name."""
    unknown = set(invariances) - set(INVARIANCES)
    if unknown:
        raise ValueError(f"unknown invariance(s) {sorted(unknown)}; known: {INVARIANCES}")

    def deco(fn: Callable[..., float]) -> Callable[..., float]:
        key = name or fn.__name__
        if key in _REGISTRY:
            raise ValueError(f"measure {key!r} is already registered")
        _REGISTRY[key] = MeasureInfo(
            name=key,
            fn=fn,
            kind=kind,
            range=range,
            metric=metric,
            symmetric=symmetric,
            invariances=frozenset(invariances),
            family=family,
            convention=convention,
            functional=functional,
        )
        return fn

    return deco


def get(name: str) -> MeasureInfo:
    """The registered measure called ``name`` (raises ``KeyError`` listing close names)."""
    try:
        return _REGISTRY[name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, _REGISTRY, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise KeyError(f"unknown measure {name!r}{hint} Known: {', '.join(names())}") from None


def names(*, functional: bool | None = None) -> list[str]:
    """Names of registered measures, sorted; filter representational/functional with ``functional``."""
    return sorted(
        k for k, v in _REGISTRY.items() if functional is None or v.functional == functional
    )
