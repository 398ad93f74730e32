"""map_pairs: the one pairwise engine under measures, Congruity and tensor similarity."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mechequiv.parallel.pairs import map_pairs, pair_indices, pair_matrix
from mechequiv.parallel.store import JsonStore


def test_pair_indices_orders_and_counts() -> None:
    assert pair_indices(3) == [(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)]
    assert pair_indices(3, diagonal=False) == [(0, 1), (0, 2), (1, 2)]
    assert len(pair_indices(4, symmetric=False)) == 16
    assert (1, 1) not in pair_indices(3, symmetric=False, diagonal=False)
    with pytest.raises(ValueError, match="at least one item"):
        pair_indices(0)
    with pytest.raises(TypeError, match="integer"):
        pair_indices(2.0)  # type: ignore[arg-type]


def test_map_pairs_computes_each_pair_once_and_resumes(tmp_path) -> None:
    calls: list[tuple[int, int]] = []

    def job(pair: tuple[int, int]) -> float:
        calls.append(pair)
        return 10.0 * pair[0] + pair[1]

    path = tmp_path / "pairs.json"
    first = map_pairs(job, 4, store=JsonStore(str(path), {"job": "toy"}), progress=False)
    assert calls == pair_indices(4)
    assert json.loads(path.read_text())["results"]["1,3"] == 13.0
    calls.clear()
    again = map_pairs(job, 4, store=JsonStore(str(path), {"job": "toy"}), progress=False)
    assert calls == [] and again == first
    M = pair_matrix(first, 4)
    assert M[3, 1] == M[1, 3] == 13.0 and np.array_equal(M, M.T)
    asym = pair_matrix(map_pairs(job, 3, symmetric=False, progress=False), 3, symmetric=False)
    assert asym[2, 1] == 21.0 and asym[1, 2] == 12.0
    assert np.isnan(pair_matrix({(0, 1): 1.0}, 2, symmetric=False)[1, 0])
