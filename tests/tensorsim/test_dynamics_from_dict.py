"""TrainingSimilarity.from_dict refuses a record without its matrix (found by mypy: the reader
returned None for a null matrix, and the result then held None where a matrix belongs)."""

import json

import numpy as np
import pytest

from mechequiv.tensorsim import TrainingSimilarity


def _record() -> dict[str, object]:
    r = TrainingSimilarity(
        np.array([[1.0, 0.5], [0.5, 1.0]]), None, (0, 10), "layer", "weight", None, None
    )
    return json.loads(json.dumps(r.to_dict(), allow_nan=False))


def test_a_record_round_trips():
    back = TrainingSimilarity.from_dict(_record())
    np.testing.assert_array_equal(back.matrix, [[1.0, 0.5], [0.5, 1.0]])
    assert back.steps == (0, 10) and back.per_class is None


def test_a_record_without_its_matrix_is_refused_by_name():
    d = _record()
    d["matrix"] = None
    with pytest.raises(ValueError, match="needs its matrix"):
        TrainingSimilarity.from_dict(d)
