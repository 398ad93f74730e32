"""A local Ray instance (2 CPUs) per test module that asks for ``backend``."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def backend():
    ray = pytest.importorskip("ray")
    from mechequiv.parallel import RayBackend

    if ray.is_initialized():  # pragma: no cover - another module left Ray running
        pytest.skip("a Ray instance is already running in this process")
    b = RayBackend(num_cpus=2, init_options={"object_store_memory": 100 * 2**20})
    yield b
    b.shutdown()
