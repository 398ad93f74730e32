"""measures never leave torch's process-wide thread count changed, and never touch it while
another Python thread is alive (issue 16, item 6)."""

from __future__ import annotations

import threading

import numpy as np
import torch

from mechequiv import measures as M
from mechequiv.measures import _linalg


def _pair() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 10)) * np.logspace(0, -2, 10)
    return x, x @ rng.normal(size=(10, 10)) * 2 + 0.1 * rng.normal(size=(80, 10))


def _recording(monkeypatch) -> list[int]:
    calls: list[int] = []
    real = torch.set_num_threads

    def record(n: int) -> None:
        calls.append(n)
        real(n)

    monkeypatch.setattr(_linalg.torch, "set_num_threads", record)
    return calls


def test_thread_count_is_restored_after_a_call(monkeypatch):
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        calls = _recording(monkeypatch)
        M.repr_distance(*_pair())
        assert torch.get_num_threads() == 2
        if threading.active_count() == 1:  # alone: lowered for the block, then restored
            assert calls and calls == [1, 2] * (len(calls) // 2)  # one block per direction
    finally:
        torch.set_num_threads(before)


def test_thread_count_is_not_touched_while_another_thread_runs(monkeypatch):
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        calls = _recording(monkeypatch)
        M.repr_distance(*_pair())
        result: list[float] = []
        worker = threading.Thread(target=lambda: result.append(M.repr_distance(*_pair())))
        worker.start()
        worker.join()
        assert calls == [] and torch.get_num_threads() == 2 and len(result) == 1
    finally:
        stop.set()
        other.join()
        torch.set_num_threads(before)


def test_thread_count_is_restored_after_an_error(monkeypatch):
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with _linalg.small_problem_threads(8):
            raise RuntimeError("inside")
    except RuntimeError:
        pass
    finally:
        assert torch.get_num_threads() == 2
        torch.set_num_threads(before)
