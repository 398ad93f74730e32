"""Backends run independent tasks; :meth:`Backend.map` owns the results store and the order.

Whatever the backend, the driver process alone writes the store, one ``put`` per finished task,
as results arrive. So a run interrupted at any point leaves every finished result on disk, a
rerun skips their keys, and no key is written twice, even when a backend retries a task whose
worker died.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from mechequiv._progress import make_progress
from mechequiv.parallel.store import ResultStore, as_store

BACKENDS = ("local", "ray")


class Backend(ABC):
    """Runs ``fn(item)`` for many items. Subclasses implement :meth:`_run`."""

    name: str

    def map(
        self,
        fn: Callable[[Any], Any],
        items: Iterable[Any],
        *,
        keys: Sequence[str] | None = None,
        store: ResultStore | str | os.PathLike[str] | None = None,
        progress: bool | None = None,
        description: str = "tasks",
    ) -> list[Any]:
        """``[fn(item) for item in items]``, run by this backend, saved and resumed via ``store``.

        Parameters
        ----------
        fn : callable
            One task: ``fn(item) -> result``. Tasks must be independent and deterministic
            given their item (seed them through the item), so a retried or resumed task gives
            the same result. Remote backends serialise ``fn`` once per call of ``map``.
        items : iterable
            The tasks' arguments.
        keys : sequence of str, optional
            One stable, unique key per item, naming its result in ``store`` (required with a
            store: a rerun matches results to tasks by key, not by position).
        store : ResultStore or path, optional
            Where each finished result is written as it arrives (see :func:`as_store`); items
            whose key is already there are not run again.
        progress : bool, optional
            Show a progress bar (default: only on an interactive terminal).
        description : str
            The progress bar's label.

        Returns
        -------
        list
            The results in the order of ``items`` (as the store returns them, when there is one).
        """
        items = list(items)
        keys = _check_keys(keys, len(items), store is not None)
        results_store = as_store(store)
        out: list[Any] = [None] * len(items)
        todo = []
        for k, key in enumerate(keys):
            if results_store is not None and key in results_store:
                out[k] = results_store.get(key)
            else:
                todo.append(k)
        disable = None if progress is None else not progress
        with make_progress(disable) as bar:
            task = bar.add_task(
                description, total=len(items), completed=len(items) - len(todo), status=""
            )
            for pos, value in self._run(fn, [items[k] for k in todo]):
                k = todo[pos]
                out[k] = value if results_store is None else results_store.put(keys[k], value)
                bar.advance(task)
        return out

    @abstractmethod
    def _run(self, fn: Callable[[Any], Any], items: list[Any]) -> Iterator[tuple[int, Any]]:
        """Yield ``(position in items, fn(item))`` for every item, in completion order."""


class LocalBackend(Backend):
    """Runs tasks one after another in this process (no serialisation, shared caches)."""

    name = "local"

    def _run(self, fn: Callable[[Any], Any], items: list[Any]) -> Iterator[tuple[int, Any]]:
        for pos, item in enumerate(items):
            yield pos, fn(item)

    def __repr__(self) -> str:
        return "LocalBackend()"


def _check_keys(keys: Sequence[str] | None, n: int, required: bool) -> list[str]:
    if keys is None:
        if required:
            raise ValueError(
                "keys are required with a store: a rerun matches stored results to tasks by key"
            )
        return [str(k) for k in range(n)]
    keys = list(keys)
    if len(keys) != n:
        raise ValueError(f"{len(keys)} keys for {n} items")
    bad = [k for k in keys if not isinstance(k, str)]
    if bad:
        raise TypeError(f"keys must be strings; got {type(bad[0]).__name__} ({bad[0]!r})")
    dup = [k for k, c in Counter(keys).items() if c > 1]
    if dup:
        raise ValueError(f"keys must be unique; {dup[0]!r} appears more than once")
    return keys
