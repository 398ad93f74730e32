"""Run independent tasks locally or on Ray, with an atomic, resumable results store.

- :func:`get_backend` / :class:`LocalBackend` / :class:`RayBackend`: ``backend.map(fn, items,
  keys=..., store=...)`` runs ``fn`` on every item and returns the results in input order.
- :class:`JsonStore` / :class:`DirectoryStore`: where finished results land, one per key, so a
  rerun skips what is done.

This package never imports Ray at import time (``pip install 'mechequiv[ray]'`` for the Ray
backend).
"""

from mechequiv.parallel.backend import BACKENDS, Backend, LocalBackend
from mechequiv.parallel.ray_backend import RayBackend
from mechequiv.parallel.registry import get_backend
from mechequiv.parallel.store import DirectoryStore, JsonStore, ResultStore, as_store

__all__ = [
    "BACKENDS",
    "Backend",
    "DirectoryStore",
    "JsonStore",
    "LocalBackend",
    "RayBackend",
    "ResultStore",
    "as_store",
    "get_backend",
]
