"""default_points on nn.Sequential MLPs: each hidden layer read once, at what the next Linear reads."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mechequiv.equivalence import LayerReprs, default_points


def test_alternating_mlp_reads_every_activation():
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
    assert default_points(model) == ["1", "3"]


def test_a_layer_transformed_by_several_modules_is_read_once_after_the_last():
    model = nn.Sequential(
        nn.Flatten(), nn.Linear(2, 3), nn.LayerNorm(3), nn.GELU(), nn.Dropout(0.1),
        nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1), nn.Sigmoid(),
    )  # fmt: skip
    # not the Flatten (the input), not the LayerNorm output beside the GELU of the same layer,
    # not the Dropout (the identity in evaluation), not the output activation
    assert default_points(model) == ["3", "6"]


def test_the_representation_has_one_column_per_hidden_unit():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 3), nn.LayerNorm(3), nn.GELU(), nn.Linear(3, 1)).double()
    x = torch.randn(5, 2, dtype=torch.float64)
    reps = LayerReprs()(model, x)
    assert reps.shape == (5, 3)
    torch.testing.assert_close(reps, model[:3](x), rtol=0, atol=0)


def test_dropout_alone_between_linears_is_the_layer():
    model = nn.Sequential(nn.Linear(2, 3), nn.Dropout(), nn.Linear(3, 1))
    assert default_points(model) == ["1"]


def test_no_hidden_layer_is_refused():
    with pytest.raises(ValueError, match="no hidden layer"):
        default_points(nn.Sequential(nn.Linear(2, 3), nn.ReLU()))
