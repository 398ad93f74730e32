"""The local backend and the results stores: order, resume, atomic entries, errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from mechequiv.errors import MechequivError
from mechequiv.parallel import (
    DirectoryStore,
    JsonStore,
    LocalBackend,
    RayBackend,
    as_store,
    get_backend,
)


class Flaky:
    """Squares its item; raises on ``fail_on``; records every call."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.fail_on, self.calls = fail_on, []

    def __call__(self, item: int) -> int:
        self.calls.append(item)
        if item == self.fail_on:
            raise RuntimeError(f"task {item} failed")
        return item * item


def test_map_returns_results_in_input_order():
    assert get_backend().map(Flaky(), [3, 1, 2]) == [9, 1, 4]
    assert LocalBackend().map(Flaky(), []) == []


def test_interrupted_run_resumes_and_computes_only_the_missing_keys(tmp_path):
    path = tmp_path / "results.json"
    keys = [f"k{i}" for i in range(6)]
    with pytest.raises(RuntimeError, match="task 4 failed"):
        get_backend("local").map(Flaky(fail_on=4), range(6), keys=keys, store=path)
    assert JsonStore(path).keys() == keys[:4]  # everything finished before the failure
    again = Flaky()
    assert get_backend("local").map(again, range(6), keys=keys, store=path) == [
        i * i for i in range(6)
    ]
    assert again.calls == [4, 5]
    saved = json.loads(path.read_text())
    assert saved == {"settings": None, "results": {k: i * i for i, k in enumerate(keys)}}


def test_results_are_matched_by_key_not_position(tmp_path):
    store = JsonStore(tmp_path / "r.json")
    LocalBackend().map(Flaky(), [1, 2], keys=["one", "two"], store=store)
    f = Flaky()
    assert LocalBackend().map(f, [2, 3, 1], keys=["two", "three", "one"], store=store) == [4, 9, 1]
    assert f.calls == [3]


def test_json_store_returns_values_as_they_read_back(tmp_path):
    store = JsonStore(tmp_path / "r.json", settings={"n": (1, 2)})
    assert store.put("a", {"x": (1, 2.5)}) == {"x": [1, 2.5]}
    reopened = JsonStore(tmp_path / "r.json", settings={"n": [1, 2]})
    assert reopened.get("a") == {"x": [1, 2.5]}
    assert "a" in reopened and "b" not in reopened and len(reopened) == 1
    assert "JsonStore" in repr(reopened)


def test_json_store_refuses_other_settings_foreign_files_and_non_json(tmp_path):
    JsonStore(tmp_path / "r.json", settings={"seed": 0}).put("a", 1)
    with pytest.raises(ValueError, match="other settings"):
        JsonStore(tmp_path / "r.json", settings={"seed": 1})
    (tmp_path / "other.json").write_text("[1, 2]")
    with pytest.raises(MechequivError, match="not a results store"):
        JsonStore(tmp_path / "other.json")
    store = JsonStore(tmp_path / "s.json")
    with pytest.raises(TypeError, match="codec='torch'"):
        store.put("t", torch.ones(2))
    with pytest.raises(TypeError, match="JSON-serialisable"):
        store.put("nan", float("nan"))
    assert not (tmp_path / "s.json").exists()  # nothing half-written


def test_directory_store_holds_state_dicts_one_file_per_key(tmp_path):
    # The zoo's shape of work: a chunk of seeds per task, each returning state dicts.
    def train_chunk(seeds: tuple[int, ...]) -> dict[int, dict[str, torch.Tensor]]:
        out = {}
        for s in seeds:
            torch.manual_seed(s)
            out[s] = torch.nn.Linear(3, 2).state_dict()
        return out

    chunks = [(0, 1), (2, 3), (4,)]
    keys = [f"seeds={c[0]}-{c[-1]}" for c in chunks]
    store = DirectoryStore(tmp_path / "zoo", settings={"recipe": "linear"}, codec="torch")
    first = LocalBackend().map(train_chunk, chunks, keys=keys, store=store)
    assert sorted(p.name for p in (tmp_path / "zoo").iterdir()) == sorted(
        [*(f"{k}.pt" for k in keys), "mechequiv_results.json"]
    )
    reopened = DirectoryStore(tmp_path / "zoo", settings={"recipe": "linear"}, codec="torch")
    assert reopened.keys() == sorted(keys)
    again = LocalBackend().map(
        lambda c: pytest.fail("recomputed"), chunks, keys=keys, store=reopened
    )
    for a, b in zip(first, again, strict=True):
        assert a.keys() == b.keys()
        for s in a:
            for name in a[s]:
                assert torch.equal(a[s][name], b[s][name])


def test_directory_store_json_codec_and_errors(tmp_path):
    store = DirectoryStore(tmp_path / "d")
    assert store.put("0,1", [1.5]) == [1.5]
    assert DirectoryStore(tmp_path / "d").get("0,1") == [1.5]
    with pytest.raises(KeyError):
        store.get("missing")
    for bad in ("../x", ".hidden", "a/b", ""):
        with pytest.raises(ValueError, match="DirectoryStore key"):
            store.put(bad, 1)
    with pytest.raises(ValueError, match="other settings"):
        DirectoryStore(tmp_path / "d", settings={"seed": 3})
    with pytest.raises(ValueError, match="other settings"):
        DirectoryStore(tmp_path / "d", codec="torch")
    with pytest.raises(ValueError, match="codec"):
        DirectoryStore(tmp_path / "e", codec="pickle")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "data.txt").write_text("x")
    with pytest.raises(MechequivError, match="not a results store"):
        DirectoryStore(tmp_path / "full")


def test_as_store_picks_the_store_by_path(tmp_path):
    assert isinstance(as_store(tmp_path / "r.json"), JsonStore)
    assert isinstance(as_store(str(tmp_path / "dir")), DirectoryStore)
    s = JsonStore(tmp_path / "x.json")
    assert as_store(s) is s
    assert as_store(None) is None
    with pytest.raises(TypeError, match="ResultStore, a path or None"):
        as_store(3)


def test_bad_keys(tmp_path):
    b = LocalBackend()
    with pytest.raises(ValueError, match="keys are required with a store"):
        b.map(Flaky(), [1], store=tmp_path / "r.json")
    with pytest.raises(ValueError, match="2 keys for 1 items"):
        b.map(Flaky(), [1], keys=["a", "b"])
    with pytest.raises(TypeError, match="keys must be strings"):
        b.map(Flaky(), [1, 2], keys=["a", 2])
    with pytest.raises(ValueError, match="'a' appears more than once"):
        b.map(Flaky(), [1, 2], keys=["a", "a"])


def test_get_backend_errors():
    with pytest.raises(ValueError, match="one of"):
        get_backend("dask")
    with pytest.raises(TypeError, match="Backend"):
        get_backend(3)
    with pytest.raises(ValueError, match="only to a backend given by name"):
        get_backend(LocalBackend(), num_cpus=2)
    assert isinstance(get_backend("ray", num_cpus=2), RayBackend)  # Ray not imported yet


def test_ray_backend_argument_errors():
    with pytest.raises(ValueError, match="num_cpus"):
        RayBackend(address="auto", num_cpus=2)
    with pytest.raises(ValueError, match="max_retries"):
        RayBackend(max_retries=-2)
    with pytest.raises(ValueError, match="task_cpus"):
        RayBackend(task_cpus=0)
    with pytest.raises(ValueError, match="max_in_flight"):
        RayBackend(max_in_flight=0)


def test_missing_ray_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` fail
    with pytest.raises(MechequivError, match=r"mechequiv\[ray\]"):
        RayBackend().map(Flaky(), [1])


def test_the_core_never_imports_ray():
    code = (
        "import sys, mechequiv, mechequiv.parallel, mechequiv.measures, mechequiv.equivalence, "
        "mechequiv.capture; print('ray' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
