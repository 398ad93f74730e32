"""pairwise: every pair of representations against the measure called pair by pair."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mechequiv import measures as M
from mechequiv.parallel.pairwise import pairwise


@pytest.fixture
def reprs() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    base = rng.normal(size=(60, 5))
    return {
        "a": base,
        "b": np.tanh(base @ rng.normal(size=(5, 7))),
        "c": rng.normal(size=(60, 3)),
        "d": base[:, :2] + 0.1 * rng.normal(size=(60, 2)),
    }


@pytest.mark.parametrize("measure", ["linear_cka", "procrustes", "cca"])
def test_pairwise_equals_the_measure_on_each_pair(reprs, measure):
    m = pairwise(reprs, measure)
    arrays = list(reprs.values())
    assert m.names == ["a", "b", "c", "d"] and m.measure == measure
    for i in range(4):
        for j in range(i, 4):
            assert m.values[i, j] == M.get(measure)(arrays[i], arrays[j])  # the same call
            assert m.values[j, i] == pytest.approx(M.get(measure)(arrays[j], arrays[i]), abs=1e-12)
    assert np.array_equal(m.values, m.values.T)


def test_asymmetric_measure_computes_every_ordered_pair(reprs, tmp_path):
    arrays = list(reprs.values())[:3]
    path = tmp_path / "pwcca.json"
    m = pairwise(arrays, "pwcca", names=["x", "y", "z"], results_path=str(path))
    assert len(json.loads(path.read_text())["results"]) == 9
    for i in range(3):
        for j in range(3):
            assert m.values[i, j] == M.pwcca(arrays[i], arrays[j])


def test_options_tensors_and_default_names(reprs):
    tensors = [torch.as_tensor(x) for x in reprs.values()]
    m = pairwise(tensors, "cca", statistic="mean_rho")
    assert m.names == ["repr 0", "repr 1", "repr 2", "repr 3"]
    assert m.values[0, 2] == M.cca(tensors[0], tensors[2], statistic="mean_rho")
    d = m.to_dict()
    assert d["options"] == {"statistic": "mean_rho"} and len(d["values"]) == 4
    json.dumps(d)
    assert "PairwiseMatrix cca" in repr(m)


def test_pairwise_resumes_from_its_results_path(reprs, tmp_path):
    path = tmp_path / "cka.json"
    first = pairwise(dict(list(reprs.items())[:3]), results_path=str(path))
    saved = json.loads(path.read_text())
    assert sorted(saved["results"]) == ["0,0", "0,1", "0,2", "1,1", "1,2", "2,2"]
    # Tamper with one stored value: a rerun must read it back instead of recomputing.
    saved["results"]["0,1"] = 0.5
    path.write_text(json.dumps(saved))
    again = pairwise(dict(list(reprs.items())[:3]), results_path=str(path))
    assert again.values[0, 1] == again.values[1, 0] == 0.5
    assert again.values[0, 2] == first.values[0, 2]
    with pytest.raises(ValueError, match="other settings"):
        pairwise(dict(list(reprs.items())[:3]), "procrustes", results_path=str(path))


def test_bad_input(reprs):
    arrays = list(reprs.values())
    with pytest.raises(ValueError, match="at least one"):
        pairwise([])
    with pytest.raises(ValueError, match="same number of rows"):
        pairwise([arrays[0], arrays[1][:10]])
    with pytest.raises(ValueError, match="same number of rows"):
        pairwise([arrays[0], 3.0])
    with pytest.raises(ValueError, match="2 names for 4"):
        pairwise(arrays, names=["a", "b"])
    with pytest.raises(TypeError, match="sequence or a mapping"):
        pairwise("abc")
    with pytest.raises(KeyError, match="unknown measure"):
        pairwise(arrays, "nope")


def test_moved_names_resolve_from_measures_with_a_deprecation_warning(reprs):
    import mechequiv.parallel.pairwise as home
    from mechequiv import tokens

    with pytest.warns(DeprecationWarning, match=r"moved to mechequiv\.parallel\.pairwise"):
        assert M.pairwise is home.pairwise
    with pytest.warns(DeprecationWarning, match="moved to mechequiv.parallel.pairwise"):
        assert M.PairwiseMatrix is home.PairwiseMatrix
    with pytest.warns(DeprecationWarning, match="moved to mechequiv.tokens"):
        assert M.pool_tokens is tokens.pool_tokens
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        M.nope  # noqa: B018


def test_measures_import_neither_backends_nor_progress_bars():
    import subprocess
    import sys

    code = (
        "import sys, mechequiv.measures; "
        "bad = [m for m in sys.modules if m.startswith(('mechequiv.parallel', 'rich', "
        "'mechequiv._progress'))]; print(bad); assert not bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
