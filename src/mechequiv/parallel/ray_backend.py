"""The Ray backend: tasks become ``ray.remote`` calls, with retries when a worker dies.

Ray is imported only when a backend first runs tasks (``pip install 'mechequiv[ray]'``); the
rest of mechequiv never imports it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

from mechequiv.errors import MechequivError
from mechequiv.parallel.backend import Backend


def _ray() -> Any:
    try:
        import ray
    except ImportError as e:
        raise MechequivError("the Ray backend needs Ray: pip install 'mechequiv[ray]'") from e
    return ray


def _call(fn: Callable[[Any], Any], item: Any) -> Any:
    """The remote task (module level, so workers import it instead of unpickling a closure)."""
    return fn(item)


class RayBackend(Backend):
    """Runs each task as a Ray task; results return to the driver, which writes the store.

    Parameters
    ----------
    address : str, optional
        An existing cluster (``"auto"``, ``"ray://host:10001"``, ``"host:6379"``). Default: use
        the Ray instance this process already initialised, or start a local one (no dashboard,
        no usage reporting) with ``num_cpus`` CPUs. Note that Ray's own servers listen on all
        of the machine's interfaces even then; where that matters, start the cluster behind a
        firewall and pass its ``address``.
    num_cpus : int, optional
        CPUs of a local instance started here (default: all of this machine's).
    max_retries : int
        How often a task is re-run after its worker process died (-1: without limit).
    retry_exceptions : bool or list of exception types
        Also re-run a task that raised (all exceptions, or those types); default: a task that
        raises fails the run at once, with its exception.
    task_cpus : float
        CPUs Ray reserves per task (so ``num_cpus / task_cpus`` tasks run at once).
    max_in_flight : int, optional
        Submit at most this many tasks ahead of the results (default: all at once).
    init_options : dict, optional
        Further keyword arguments for ``ray.init`` (e.g. ``runtime_env``).

    A task's function is put into the object store once per :meth:`map`, each worker reads it
    from there, and results are written to the store by the driver as tasks finish. Use the
    backend as a context manager (or call :meth:`shutdown`) to stop an instance it started.
    """

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        num_cpus: int | None = None,
        max_retries: int = 3,
        retry_exceptions: bool | list[type[BaseException]] = False,
        task_cpus: float = 1.0,
        max_in_flight: int | None = None,
        init_options: dict[str, Any] | None = None,
    ) -> None:
        if address is not None and num_cpus is not None:
            raise ValueError(
                "num_cpus applies to a local instance; an existing cluster has its own"
            )
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < -1:
            raise ValueError(f"max_retries must be an int >= -1; got {max_retries!r}")
        if not task_cpus > 0:
            raise ValueError(f"task_cpus must be positive; got {task_cpus!r}")
        if max_in_flight is not None and (
            isinstance(max_in_flight, bool)
            or not isinstance(max_in_flight, int)
            or max_in_flight < 1
        ):
            raise ValueError(f"max_in_flight must be a positive int or None; got {max_in_flight!r}")
        self.address, self.num_cpus = address, num_cpus
        self.max_retries, self.retry_exceptions = max_retries, retry_exceptions
        self.task_cpus, self.max_in_flight = task_cpus, max_in_flight
        self.init_options = dict(init_options or {})
        self._started = False

    def _init(self) -> Any:
        ray = _ray()
        if not ray.is_initialized():
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no phoning home
            opts = dict(self.init_options)
            if self.address is None:  # start a local instance (when connecting, Ray refuses these)
                opts = {"num_cpus": self.num_cpus, "include_dashboard": False, **opts}
                self._started = True
            ray.init(address=self.address, **opts)
        return ray

    def _run(self, fn: Callable[[Any], Any], items: list[Any]) -> Iterator[tuple[int, Any]]:
        if not items:
            return
        ray = self._init()
        remote = ray.remote(_call).options(
            max_retries=self.max_retries,
            retry_exceptions=self.retry_exceptions,
            num_cpus=self.task_cpus,
        )
        fn_ref = ray.put(fn)
        queue = iter(enumerate(items))
        pending: dict[Any, int] = {}

        def submit(count: int) -> None:
            for pos, item in queue:
                pending[remote.remote(fn_ref, item)] = pos
                if len(pending) >= count:
                    return

        limit = self.max_in_flight or len(items)
        try:
            submit(limit)
            while pending:
                (ref,), _ = ray.wait(list(pending), num_returns=1)
                pos = pending.pop(ref)
                value = ray.get(ref)  # raises the task's exception once retries are spent
                submit(limit)
                yield pos, value
        finally:
            for ref in pending:  # after an error or an interrupt: do not leave work running
                ray.cancel(ref)

    def shutdown(self) -> None:
        """Stop the local Ray instance if this backend started it."""
        if self._started:
            _ray().shutdown()
            self._started = False

    def __enter__(self) -> RayBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    def __repr__(self) -> str:
        where = self.address or f"local, num_cpus={self.num_cpus}"
        return f"RayBackend({where}, max_retries={self.max_retries})"
