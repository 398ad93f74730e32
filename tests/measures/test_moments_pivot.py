"""The moments are centred on a pivot taken from the first rows only (no pass over the whole
input for its mean): values agree with the two-pass float64 formulas to 1e-12, also where the
first rows are unrepresentative (sorted data, a late offset) and on the adversarial inputs."""

from __future__ import annotations

import numpy as np
import pytest

from mechequiv import measures as M
from mechequiv.measures._linalg import BLOCK_ELEMENTS


def _two_pass_cka(x: np.ndarray, y: np.ndarray) -> float:
    xc, yc = x - x.mean(0), y - y.mean(0)
    hxy = np.linalg.norm(xc.T @ yc) ** 2
    return float(hxy / (np.linalg.norm(xc.T @ xc) * np.linalg.norm(yc.T @ yc)))


def _inputs(kind: str) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(len(kind))
    d = 16
    n = 3 * BLOCK_ELEMENTS // d  # three blocks: the pivot sees only the first
    x = rng.normal(size=(n, d)) * np.logspace(0, -2, d)
    y = np.tanh(x @ rng.normal(size=(d, d))) + 0.3 * rng.normal(size=(n, d))
    if kind == "sorted":  # the first block's mean is far from the whole's
        order = np.argsort(x[:, 0])
        x, y = x[order], y[order]
    elif kind == "late_offset":
        x[n // 2 :] += 1e4
        y[: n // 3] -= 1e3
    elif kind == "huge_offsets":
        x, y = x + 1e6, y - 1e7
    elif kind == "near_constant_columns":
        x[:, :3] = 1.0 + 1e-9 * rng.normal(size=(n, 3))
    elif kind == "rank_deficient":
        x = x[:, :4] @ rng.normal(size=(4, d))
    return x, y


@pytest.mark.parametrize(
    "kind",
    ["random", "sorted", "late_offset", "huge_offsets", "near_constant_columns", "rank_deficient"],
)
def test_linear_cka_matches_the_two_pass_formula(kind):
    x, y = _inputs(kind)
    assert M.linear_cka(x, y) == pytest.approx(_two_pass_cka(x, y), abs=1e-12)
    # float32 input, converted block by block, matches the float64 formula on its values
    x32, y32 = x.astype(np.float32), y.astype(np.float32)
    expected = _two_pass_cka(x32.astype(np.float64), y32.astype(np.float64))
    assert M.linear_cka(x32, y32) == pytest.approx(expected, abs=1e-12)


def test_small_inputs_use_one_block():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(7, 3)) + 5.0
    y = x @ rng.normal(size=(3, 2))
    assert M.linear_cka(x, y) == pytest.approx(_two_pass_cka(x, y), abs=1e-14)
