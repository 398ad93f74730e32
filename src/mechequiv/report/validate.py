"""Input checks shared by the figures and by the study sections' ``Result.from_dict``.

Each raises ``TypeError`` (wrong kind) or ``ValueError`` (bad value, missing or unknown key)
with a message that starts with ``where``, the path of the offending entry
(``results['equivalence']['score']``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def as_vector(value: Any, where: str, length: int | None = None) -> np.ndarray:
    """A 1-d float64 array (``None`` entries become NaN); ``length`` is enforced when given."""
    arr = _floats(value, where)
    if arr.ndim != 1:
        raise ValueError(f"{where}: expected a 1-d list of numbers, found shape {arr.shape}")
    if length is not None and arr.shape[0] != length:
        raise ValueError(f"{where}: expected {length} values, found {arr.shape[0]}")
    return arr


def as_matrix(value: Any, where: str, shape: tuple[int, int] | None = None) -> np.ndarray:
    """A 2-d float64 array (``None`` entries become NaN); ``shape`` is enforced when given."""
    arr = _floats(value, where)
    if arr.ndim != 2:
        raise ValueError(
            f"{where}: expected a matrix (list of equal-length rows), found {arr.ndim}-d"
        )
    if shape is not None and arr.shape != shape:
        raise ValueError(
            f"{where}: expected a {shape[0]}x{shape[1]} matrix, found {arr.shape[0]}x{arr.shape[1]}"
        )
    return arr


def as_names(value: Any, where: str, length: int | None = None) -> list[str]:
    """A list of strings."""
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise TypeError(f"{where}: expected a list of strings, found {type(value).__name__}")
    bad = [v for v in value if not isinstance(v, str)]
    if bad:
        raise TypeError(f"{where}: expected strings, found {type(bad[0]).__name__} {bad[0]!r}")
    if length is not None and len(value) != length:
        raise ValueError(f"{where}: expected {length} names, found {len(value)}")
    return list(value)


def as_mapping(value: Any, where: str) -> Mapping[str, Any]:
    """``value`` itself, checked to be a mapping with string keys."""
    if not isinstance(value, Mapping):
        raise TypeError(f"{where}: expected a dict, found {type(value).__name__}")
    bad = [k for k in value if not isinstance(k, str)]
    if bad:
        raise TypeError(f"{where}: expected string keys, found {type(bad[0]).__name__} {bad[0]!r}")
    return value


def check_keys(
    value: Mapping[str, Any], where: str, required: Sequence[str], optional: Sequence[str]
) -> None:
    """Refuse missing required keys and unknown keys (a typo must not silently drop a section)."""
    missing = [k for k in required if k not in value]
    if missing:
        raise ValueError(f"{where}: missing required key(s) {missing}")
    unknown = sorted(set(value) - set(required) - set(optional))
    if unknown:
        known = sorted([*required, *optional])
        raise ValueError(f"{where}: unknown key(s) {unknown}; known keys: {known}")


def as_list(value: Any, where: str) -> Sequence[Any]:
    """A list (not a string)."""
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise TypeError(f"{where}: expected a list, found {type(value).__name__}")
    return value


def as_records(value: Any, where: str) -> list[Mapping[str, Any]]:
    """A non-empty list of dicts."""
    rows = [as_mapping(r, f"{where}[{i}]") for i, r in enumerate(as_list(value, where))]
    if not rows:
        raise ValueError(f"{where}: expected at least one row, found none")
    return rows


def as_string(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{where}: expected a string, found {type(value).__name__}")
    return value


def as_number(value: Any, where: str, low: float | None = None) -> float:
    """A finite number (``low`` <= it when given)."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{where}: expected a number, found {type(value).__name__} {value!r}")
    if not np.isfinite(value) or (low is not None and value < low):
        bound = f" >= {low}" if low is not None else ""
        raise ValueError(f"{where}: expected a finite number{bound}, found {value}")
    return float(value)


def as_integer(value: Any, where: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{where}: expected an integer, found {type(value).__name__} {value!r}")
    if value < low:
        raise ValueError(f"{where}: expected an integer >= {low}, found {value}")
    return int(value)


def in_range(mat: np.ndarray, where: str, low: float, high: float) -> None:
    """Refuse finite entries outside [low, high] (NaN marks a value not computed)."""
    bad = ~np.isnan(mat) & ((mat < low) | (mat > high))
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ValueError(
            f"{where}: expected values in [{low}, {high}], found {mat[i, j]:.4g} at ({i}, {j})"
        )


def as_curves(
    value: Any, where: str, *, length: int | None, need_steps: bool
) -> dict[str, list[Any]]:
    """Named curves of equal length (``length``, or that of their ``steps`` entry)."""
    curves = as_mapping(value, where)
    if need_steps:
        check_keys(curves, where, ("steps",), tuple(curves))
        length = len(as_vector(curves["steps"], f"{where}['steps']"))
    for name, values in curves.items():
        as_vector(values, f"{where}[{name!r}]", length)
    return {k: list(v) for k, v in curves.items()}


def measure_known(name: str, where: str, described: Mapping[str, Any]) -> None:
    """A measure the result describes itself (saved descriptors), or a registered one."""
    from mechequiv import measures

    if name not in described and name not in measures.names():
        raise ValueError(
            f"{where}: {name!r} is not a registered measure; known: {', '.join(measures.names())}"
        )


def _floats(value: Any, where: str) -> np.ndarray:
    if hasattr(value, "detach"):  # torch tensor
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray) and value.dtype.kind in "iuf":
        return value.astype(np.float64)
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence | np.ndarray):
        raise TypeError(f"{where}: expected a list of numbers, found {type(value).__name__}")
    arr = np.asarray(value, dtype=object)
    flat = arr.reshape(-1)
    if any(isinstance(v, Sequence | np.ndarray) and not isinstance(v, str) for v in flat):
        raise ValueError(f"{where}: expected rows of equal length (a ragged list was given)")
    bad = [v for v in flat if v is not None and not _is_number(v)]
    if bad:
        raise TypeError(
            f"{where}: expected numbers or null, found {type(bad[0]).__name__} {bad[0]!r}"
        )
    return np.array([np.nan if v is None else float(v) for v in flat], dtype=np.float64).reshape(
        arr.shape
    )


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)


def count_keys(
    rows: Sequence[Mapping[str, Any]], id_keys: Sequence[str] = ("width", "seed")
) -> list[str]:
    """The count columns of per-network records (every key but ``id_keys``), in order of first
    appearance."""
    keys: dict[str, None] = {}
    for row in rows:
        keys.update((k, None) for k in row if k not in id_keys)
    return list(keys)
