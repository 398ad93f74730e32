"""Choosing a backend by name: the one module that knows every backend (so that
:mod:`~mechequiv.parallel.backend` and :mod:`~mechequiv.parallel.ray_backend` import in one
direction only: ray_backend -> backend, and this module -> both)."""

from __future__ import annotations

from typing import Any

from mechequiv.parallel.backend import BACKENDS, Backend, LocalBackend
from mechequiv.parallel.ray_backend import RayBackend

__all__ = ["get_backend"]


def get_backend(backend: str | Backend = "local", **options: Any) -> Backend:
    """A backend by name (``"local"``, ``"ray"``) with its options, or an instance unchanged.

    ``get_backend("ray", num_cpus=2)`` builds a :class:`~mechequiv.parallel.RayBackend`; Ray is
    imported only when that backend first runs tasks.
    """
    if isinstance(backend, Backend):
        if options:
            raise ValueError(
                f"options {sorted(options)} apply only to a backend given by name; "
                f"got an instance {backend!r}"
            )
        return backend
    if not isinstance(backend, str):
        raise TypeError(
            f"backend must be one of {BACKENDS} or a Backend; got {type(backend).__name__}"
        )
    if backend == "local":
        return LocalBackend(**options)
    if backend == "ray":
        return RayBackend(**options)
    raise ValueError(f"backend must be one of {BACKENDS} or a Backend; got {backend!r}")
