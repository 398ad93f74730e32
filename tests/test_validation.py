"""The validation vocabulary: one error type, caught as ValueError or TypeError, context added
once at the boundary, one argument order."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mechequiv.equivalence import SymmetryTransform, congruity
from mechequiv.errors import MechequivError
from mechequiv.validation import (
    ValidationError,
    check_choice,
    check_fraction,
    check_int,
    check_pair,
    context,
)


def test_one_error_type_for_bad_values_and_kinds() -> None:
    with pytest.raises(ValidationError, match="k must be an int; got str") as kind:
        check_int("3", "k", 1)
    with pytest.raises(ValidationError, match="k must be >= 1; got 0") as value:
        check_int(0, "k", 1)
    for e in (kind.value, value.value):
        assert isinstance(e, ValueError | TypeError | MechequivError)
        assert isinstance(e, ValueError) and isinstance(e, TypeError)
    assert check_int(np.int64(4), "k", 1) == 4 and check_int(-3, "k") == -3
    with pytest.raises(ValidationError, match="bool"):
        check_int(True, "k")
    with pytest.raises(ValidationError, match=r"mode must be one of \('a', 'b'\); got 'c'"):
        check_choice("c", "mode", ("a", "b"))
    assert check_fraction(1, "f") == 1.0
    with pytest.raises(ValidationError, match=r"f must lie in \(0, 1\]; got 0"):
        check_fraction(0, "f")
    with pytest.raises(ValidationError, match="same number of samples"):
        check_pair(np.ones((3, 2)), np.ones((4, 2)))


def test_context_is_added_once_at_the_boundary() -> None:
    with pytest.raises(ValidationError) as e, context("outer"), context("inner"):
        check_int(0, "n", 1)
    assert str(e.value) == "inner: n must be >= 1; got 0" and e.value.where == "inner"
    net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))
    with pytest.raises(ValueError, match=r"^congruity: n must be >= 1; got 0$"):
        congruity(net, net, torch.zeros(4, 2), n=0, sampler=SymmetryTransform())
