"""Point objects: validation, names, picking and replacing tensors in module outputs/inputs."""

from __future__ import annotations

from collections import OrderedDict, namedtuple

import pytest
import torch

from mechequiv.capture.points import (
    Point,
    extract,
    nearest_names,
    point_key,
    replace,
    unique_points,
)
from mechequiv.errors import MechequivError


def test_point_keys() -> None:
    assert Point("a.b").key == "a.b"
    assert Point("a", select=0).key == "a[0]"
    assert Point("a", select="logits", output="input").key == "a:input['logits']"
    assert Point("a", call="all").key == "a@all"
    assert Point("a", select=lambda o: o, name="mine").key == "mine"
    assert point_key(3) == "3"
    assert point_key("x") == "x"


@pytest.mark.parametrize(
    ("kwargs", "exc"),
    [
        ({"module": 3}, TypeError),
        ({"module": "a", "output": "grad"}, ValueError),
        ({"module": "a", "select": 1.5}, TypeError),
        ({"module": "a", "select": True}, TypeError),
        ({"module": "a", "call": -1}, ValueError),
        ({"module": "a", "call": "some"}, ValueError),
        ({"module": "a", "call": True}, ValueError),
    ],
)
def test_point_rejects_bad_fields(kwargs: dict, exc: type[Exception]) -> None:
    with pytest.raises(exc):
        Point(**kwargs)


def test_unique_points() -> None:
    assert unique_points("a") == ["a"]
    with pytest.raises(ValueError, match="repeated"):
        unique_points(["a", Point("a")])
    with pytest.raises(ValueError, match="at least one"):
        unique_points([])
    with pytest.raises(TypeError):
        unique_points([1.5])


def test_nearest_names() -> None:
    names = ["blocks.0.mlp", "blocks.1.mlp", "embed", "blocks.0.attn"]
    assert nearest_names("blocks.0.mpl", names)[0] == "blocks.0.mlp"


def test_extract_and_replace_output_structures() -> None:
    a, b = torch.ones(2), torch.zeros(2)
    new = torch.full((2,), 7.0)
    assert extract(Point("m"), a) is a
    assert replace(Point("m"), a, new) is new
    out = replace(Point("m", select=1), (a, b), new)
    assert isinstance(out, tuple) and out[0] is a and out[1] is new
    assert isinstance(replace(Point("m", select=0), [a, b], new), list)
    Pair = namedtuple("Pair", "x y")
    out = replace(Point("m", select=1), Pair(a, b), new)
    assert isinstance(out, Pair) and out.y is new
    d = OrderedDict(h=a, z=b)
    assert extract(Point("m", select="z"), d) is b
    out = replace(Point("m", select="h"), d, new)
    assert isinstance(out, OrderedDict) and out["h"] is new and d["h"] is a  # no in-place edit
    assert extract(Point("m", select=lambda o: o[1]), (a, b)) is b


def test_extract_and_replace_inputs() -> None:
    x, y = torch.ones(2), torch.zeros(2)
    raw = ((x, y), {"scale": y})
    assert extract(Point("m", output="input"), raw) is x
    assert extract(Point("m", output="input", select=1), raw) is y
    assert extract(Point("m", output="input", select="scale"), raw) is y
    assert extract(Point("m", output="input", select=lambda args, kw: kw["scale"]), raw) is y
    new = torch.full((2,), 3.0)
    assert replace(Point("m", output="input"), raw, new)[0] == (new, y)
    assert replace(Point("m", output="input", select=-1), raw, new)[0] == (x, new)
    assert replace(Point("m", output="input", select="scale"), raw, new)[1]["scale"] is new


def test_extract_errors() -> None:
    with pytest.raises(TypeError, match="tuple of 2, not a tensor; pass Point"):
        extract(Point("m"), (torch.ones(1), torch.ones(1)))
    with pytest.raises(TypeError, match="needs a tuple/list output"):
        extract(Point("m", select=0), torch.ones(1))
    with pytest.raises(MechequivError, match="no keyword argument 'w'"):
        extract(Point("m", output="input", select="w"), ((), {}))
    with pytest.raises(MechequivError, match="positional argument 2"):
        extract(Point("m", output="input", select=2), ((torch.ones(1),), {}))
    with pytest.raises(TypeError, match="callable select"):
        replace(Point("m", select=lambda o: o), torch.ones(1), torch.ones(1))
    with pytest.raises(TypeError, match="dict outputs only"):
        replace(Point("m", select="h"), (torch.ones(1),), torch.ones(1))
