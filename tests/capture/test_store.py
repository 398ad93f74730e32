"""The zarr activation store: round trip, batches, atomic completion and resume."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from mechequiv.capture import (
    Point,
    StoreWriter,
    capture,
    capture_to_store,
    open_store,
    paired_batches,
)
from mechequiv.capture.store import MANIFEST
from mechequiv.errors import MechequivError

from .conftest import TinyTransformer, hook_count

pytest.importorskip("zarr")


class Flaky(nn.Module):
    """An MLP that raises at forward pass ``fail_at`` (1-based) and counts rows it has seen."""

    def __init__(self, fail_at: int | None = None) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.a = nn.Linear(4, 6)
        self.b = nn.Linear(6, 2)
        self.fail_at = fail_at
        self.passes = 0
        self.rows_seen = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.passes += 1
        if self.passes == self.fail_at:
            raise KeyboardInterrupt  # like a user interrupt, which nothing should swallow
        self.rows_seen += x.shape[0]
        return self.b(torch.relu(self.a(x)))


def test_round_trip_matches_capture(tmp_path: Path, tiny: TinyTransformer, tokens: dict) -> None:
    points = ["blocks.0", Point("blocks.1", name="b1")]
    store = capture_to_store(tiny, tokens, points, tmp_path / "acts", batch_size=4, tokens="mean")
    ref = capture(tiny, tokens, points, tokens="mean")
    assert sorted(store) == ["b1", "blocks.0"]
    np.testing.assert_allclose(store["blocks.0"].read(), ref["blocks.0"].numpy(), rtol=1e-6)
    np.testing.assert_allclose(store["b1"].read(as_torch=True), ref[points[1]], rtol=1e-6)
    assert store["b1"].dtype == np.float32 and store["b1"].shape == (9, 16)
    assert store["b1"].chunk_rows == 4
    assert store.meta["fingerprint"]["tokens"] == "'mean'"
    assert not (tmp_path / ".acts.partial").exists()
    again = open_store(tmp_path / "acts")
    np.testing.assert_array_equal(again["b1"].read(2, 5), store["b1"].read()[2:5])


def test_unpooled_and_token_rows(tmp_path: Path, tiny: TinyTransformer, tokens: dict) -> None:
    store = capture_to_store(tiny, tokens, ["blocks.0"], tmp_path / "s", batch_size=4, tokens="all")
    n_tokens = int(tokens["attention_mask"].sum())
    assert store["blocks.0"].shape == (n_tokens, 16)
    full = capture_to_store(tiny, tokens, ["blocks.0"], tmp_path / "f", batch_size=5)
    assert full["blocks.0"].shape == (9, 6, 16)


def test_batches_and_paired_batches_in_row_order(tmp_path: Path) -> None:
    x = torch.arange(50.0).reshape(25, 2)
    model = nn.Sequential(nn.Identity(), nn.Identity())
    store = capture_to_store(model, x, ["0", "1"], tmp_path / "s", batch_size=7, chunk_rows=4)
    parts = list(store["0"].batches())
    assert [p.shape[0] for p in parts] == [4] * 6 + [1]
    np.testing.assert_array_equal(np.concatenate(parts), x.numpy())
    parts = list(store["0"].batches(10, as_torch=True))
    assert isinstance(parts[0], torch.Tensor) and [len(p) for p in parts] == [10, 10, 5]
    pairs = list(paired_batches(store["0"], store["1"], batch_size=6))
    assert len(pairs) == 5
    for X, Y in pairs:
        np.testing.assert_array_equal(X, Y)
    np.testing.assert_array_equal(np.concatenate([p[0] for p in pairs]), x.numpy())
    # A streaming accumulator sees every row exactly once: sums of X^T Y agree.
    acc = sum(X.T.astype(np.float64) @ Y for X, Y in paired_batches(store["0"], store["1"]))
    np.testing.assert_allclose(acc, x.double().T.numpy() @ x.double().numpy())


def test_paired_batches_rejects_unequal_rows(tmp_path: Path) -> None:
    model = nn.Identity()
    a = capture_to_store(model, torch.zeros(5, 2), [""], tmp_path / "a")
    b = capture_to_store(model, torch.zeros(6, 2), [""], tmp_path / "b")
    with pytest.raises(ValueError, match="same rows"):
        next(paired_batches(a[""], b[""]))
    with pytest.raises(ValueError, match="batch_size"):
        next(a[""].batches(0))


def test_interrupted_capture_leaves_no_store_and_resumes(tmp_path: Path) -> None:
    x = torch.randn(20, 4)
    path = tmp_path / "acts"
    model = Flaky(fail_at=3)
    with pytest.raises(KeyboardInterrupt):
        capture_to_store(model, x, ["a", "b"], path, batch_size=4)
    assert not path.exists()  # nothing at the target until complete
    partial = tmp_path / ".acts.partial"
    state = json.loads((partial / MANIFEST).read_text())
    assert state["input_rows"] == 8 and state["rows"] == {"a": 8, "b": 8}
    assert hook_count(model) == 0
    with pytest.raises(MechequivError, match="unfinished capture"):
        open_store(path)
    model.fail_at = None
    model.rows_seen = 0
    store = capture_to_store(model, x, ["a", "b"], path, batch_size=4)
    assert model.rows_seen == 12  # resumed after the 8 rows already written
    ref = capture(Flaky(), x, ["a", "b"], batch_size=4)
    np.testing.assert_allclose(store["a"].read(), ref["a"].numpy(), rtol=1e-6)
    np.testing.assert_allclose(store["b"].read(), ref["b"].numpy(), rtol=1e-6)
    assert not partial.exists()
    # Complete: a second call returns the store without running the model.
    model.rows_seen = 0
    capture_to_store(model, x, ["a", "b"], path, batch_size=4)
    assert model.rows_seen == 0


def test_resume_truncates_rows_written_after_the_last_record(tmp_path: Path) -> None:
    path = tmp_path / "s"
    fp = {"what": 1}
    w = StoreWriter(path, fp)
    w.append({"x": np.ones((3, 2), np.float32)}, input_rows=3)
    # Simulate a crash between the array write and the manifest update.
    w.group["a0"].append(np.full((2, 2), 9, np.float32), axis=0)
    w.group.create_array("a1", shape=(1,), dtype="f4")  # created but never recorded
    w2 = StoreWriter(path, fp)
    assert w2.input_rows == 3 and w2.group["a0"].shape == (3, 2)
    assert list(w2.group.array_keys()) == ["a0"]
    w2.append({"x": np.zeros((1, 2), np.float32)}, input_rows=4)
    store = w2.finish()
    np.testing.assert_array_equal(store["x"].read()[:, 0], [1, 1, 1, 0])


def test_settings_mismatch_and_overwrite(tmp_path: Path) -> None:
    model = nn.Linear(4, 2)
    x = torch.randn(6, 4)
    path = tmp_path / "s"
    capture_to_store(model, x, [""], path, tag="model-A")
    with pytest.raises(MechequivError, match=r"other settings.*overwrite=True"):
        capture_to_store(model, x, [""], path, tag="model-B")
    with pytest.raises(MechequivError, match="other settings"):
        capture_to_store(model, x, [""], path, tag="model-A", tokens="mean")
    store = capture_to_store(model, 2 * x, [""], path, tag="model-B", overwrite=True)
    assert store.meta["fingerprint"]["tag"] == "model-B"
    expected = model(2 * x).detach().numpy()
    np.testing.assert_allclose(store[""].read(), expected, rtol=1e-6)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s"]


def test_store_errors(tmp_path: Path) -> None:
    with pytest.raises(MechequivError, match="no complete activation store"):
        open_store(tmp_path / "missing")
    w = StoreWriter(tmp_path / "s", {})
    with pytest.raises(ValueError, match="got a scalar"):
        w.append({"a/b": np.zeros(())}, 1)
    w.append({"a/b": np.ones((2, 1))}, 2)  # any name is fine
    np.testing.assert_array_equal(w.finish()["a/b"].read(), np.ones((2, 1)))
    store = capture_to_store(nn.Identity(), torch.zeros(2, 1), [""], tmp_path / "t")
    with pytest.raises(KeyError, match="no array 'x'"):
        store["x"]


def test_bfloat16_is_stored_as_float32(tmp_path: Path) -> None:
    model = nn.Linear(3, 2).to(torch.bfloat16)
    x = torch.randn(4, 3, dtype=torch.bfloat16)
    store = capture_to_store(model, x, [""], tmp_path / "s")
    assert store[""].dtype == np.float32
    np.testing.assert_array_equal(store[""].read(), model(x).detach().float().numpy())


def test_interrupted_overwrite_resumes_and_replaces(tmp_path: Path) -> None:
    x = torch.randn(12, 4)
    path = tmp_path / "acts"
    old = capture_to_store(Flaky(), x, ["a"], path, batch_size=4, tag="old")
    model = Flaky(fail_at=2)
    with pytest.raises(KeyboardInterrupt):
        capture_to_store(model, x, ["a"], path, batch_size=4, tag="new", overwrite=True)
    assert open_store(path).meta["fingerprint"]["tag"] == "old"  # the old store is intact
    model.fail_at, model.rows_seen = None, 0
    new = capture_to_store(model, x, ["a"], path, batch_size=4, tag="new")  # resumes the partial
    assert model.rows_seen == 8 and new.meta["fingerprint"]["tag"] == "new"
    np.testing.assert_allclose(new["a"].read(), old["a"].read(), rtol=1e-6)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["acts"]
