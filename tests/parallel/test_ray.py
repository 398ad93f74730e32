"""The Ray backend on a local instance (2 CPUs, loopback): equal to local, retried, resumable."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest
import torch

from mechequiv.demo import toy_task, train_toy_mlp
from mechequiv.equivalence import Retrained, SymmetryTransform, congruity_matrix
from mechequiv.parallel import JsonStore, LocalBackend, RayBackend, get_backend
from mechequiv.parallel.pairwise import pairwise

ray = pytest.importorskip("ray")


def _square(root: Path, item: int, die_on: int | None = None, fail_on: int | None = None) -> int:
    """A task that leaves a marker per finished call; it kills its own worker process the
    first time it sees ``die_on`` and raises on ``fail_on``."""
    if item == die_on and not (root / "died").exists():
        (root / "died").touch()
        os._exit(1)  # the worker dies mid-task, as if killed
    if item == fail_on:
        raise ValueError(f"task {item} failed")
    (root / "done").mkdir(exist_ok=True)
    (root / "done" / f"{item}-{uuid.uuid4().hex}").touch()
    return item * item


def _finished(root: Path) -> list[int]:
    return sorted(int(p.name.split("-")[0]) for p in (root / "done").iterdir())


class CountingStore(JsonStore):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.puts: list[str] = []

    def put(self, key, value):
        self.puts.append(key)
        return super().put(key, value)


def test_a_killed_worker_is_retried_and_every_key_is_stored_once(backend, tmp_path):
    store = CountingStore(tmp_path / "r.json")
    keys = [f"k{i}" for i in range(6)]
    out = backend.map(
        functools.partial(_square, tmp_path, die_on=3), range(6), keys=keys, store=store
    )
    assert out == [i * i for i in range(6)]
    assert (tmp_path / "died").exists()  # the first attempt at item 3 did die
    assert _finished(tmp_path) == list(range(6))  # each task finished exactly once
    assert sorted(store.puts) == keys  # and was written exactly once
    assert json.loads((tmp_path / "r.json").read_text())["results"] == {
        k: i * i for i, k in enumerate(keys)
    }


def test_a_second_driver_joins_the_instance_by_address(backend):
    backend.map(abs, [0])  # the instance is up
    address = ray.get_runtime_context().gcs_address
    code = (
        "from mechequiv.parallel import RayBackend\n"
        f"with RayBackend(address={address!r}) as b:\n"
        "    print(b.map(abs, [-1, -2]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip().splitlines()[-1] == "[1, 2]"
    assert backend.map(abs, [-3]) == [3]  # leaving did not stop the instance it joined


def test_without_retries_a_killed_worker_fails_the_run(tmp_path):
    no_retry = RayBackend(max_retries=0)  # joins the running instance
    with pytest.raises(ray.exceptions.WorkerCrashedError):
        no_retry.map(functools.partial(_square, tmp_path, die_on=0), [0])


def test_an_interrupted_run_resumes_with_only_the_missing_keys(backend, tmp_path):
    keys = [f"k{i}" for i in range(8)]
    path = tmp_path / "r.json"
    first = RayBackend(max_in_flight=2)
    with pytest.raises(ValueError, match="task 7 failed"):
        first.map(functools.partial(_square, tmp_path, fail_on=7), range(8), keys=keys, store=path)
    stored = JsonStore(path).keys()
    assert 1 <= len(stored) < 8 and "k7" not in stored
    before = _finished(tmp_path)
    out = backend.map(functools.partial(_square, tmp_path), range(8), keys=keys, store=path)
    assert out == [i * i for i in range(8)]
    rerun = _finished(tmp_path)
    for i in before:
        rerun.remove(i)
    assert sorted(rerun) == sorted(int(k[1:]) for k in keys if k not in stored)


@pytest.fixture(scope="module")
def models():
    torch.set_num_threads(1)
    x, y = toy_task(300, 0, "rings")
    _, z = toy_task(300, 0, "sectors")
    rings = [train_toy_mlp(x, y, s, hidden=16, steps=120, lr=2e-2) for s in range(3)]
    sectors = [train_toy_mlp(x, z, s, hidden=16, steps=120, lr=2e-2) for s in range(3)]
    stimuli, _ = toy_task(80, 1, "rings")
    return rings, sectors, stimuli


def test_congruity_matrix_on_ray_equals_local(backend, models, tmp_path):
    rings, sectors, stimuli = models
    kw = {"n": 6, "n_boot": 200, "sampler": Retrained(rings, sectors), "distance": "procrustes"}
    chosen = [rings[0], rings[1], sectors[0]]
    local = congruity_matrix(chosen, stimuli, backend="local", **kw)
    path = tmp_path / "congruity.json"
    remote = congruity_matrix(chosen, stimuli, backend=backend, results_path=str(path), **kw)
    assert remote.to_dict() == local.to_dict()
    assert len(json.loads(path.read_text())["results"]) == 6
    # The SymmetryTransform positive control too, with "ray" by name (joins the instance).
    kw = {"n": 4, "n_boot": 100, "sampler": SymmetryTransform()}
    sym = congruity_matrix(rings[:2], stimuli, backend="ray", **kw)
    assert sym.to_dict() == congruity_matrix(rings[:2], stimuli, **kw).to_dict()


def test_pairwise_on_ray_equals_local(backend):
    rng = np.random.default_rng(0)
    reprs = {f"r{k}": rng.normal(size=(50, 3 + k)) for k in range(4)}
    for measure in ("linear_cka", "procrustes"):
        remote = pairwise(reprs, measure, backend=backend)
        assert np.array_equal(remote.values, pairwise(reprs, measure).values)


def _train_chunk(seeds: tuple[int, ...]) -> dict[int, dict[str, torch.Tensor]]:
    x, y = toy_task(100, 0, "rings")
    return {s: train_toy_mlp(x, y, s, hidden=8, steps=20).state_dict() for s in seeds}


def test_seed_chunks_return_state_dicts_to_a_directory_store(backend, tmp_path):
    from mechequiv.parallel import DirectoryStore

    chunks = [(0, 1), (2,)]
    keys = ["seeds=0-1", "seeds=2"]
    store = DirectoryStore(tmp_path / "zoo", codec="torch")
    remote = backend.map(_train_chunk, chunks, keys=keys, store=store)
    local = LocalBackend().map(_train_chunk, chunks)
    assert store.keys() == keys
    for a, b in zip(remote, local, strict=True):
        assert a.keys() == b.keys()
        assert all(torch.equal(a[s][k], b[s][k]) for s in a for k in a[s])
    assert isinstance(get_backend(backend), RayBackend)


def test_train_zoo_on_ray_equals_the_local_zoo(backend, tmp_path):
    from mechequiv.zoo import mlp, train_zoo
    from mechequiv.zoo.tasks import boolean

    task, arch = boolean("XOR"), mlp((8, 8), activation="leaky_relu")
    kw = dict(steps=30, eval_every=10, lr=1e-2, progress=False)
    local = train_zoo(task, arch, seeds=range(4), **kw)
    remote = train_zoo(task, arch, seeds=range(4), backend=backend, out_dir=tmp_path, **kw)
    assert len(list(tmp_path.iterdir())) == 2  # one resumable folder per chunk (2 CPUs)
    for k, v in local.params.items():
        torch.testing.assert_close(remote.params[k], v, rtol=1e-5, atol=1e-6)
