"""One task layer and one builder set: the other packages' tasks and MLPs are views of the zoo's."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from mechequiv.identifiability import GATES as TABLES
from mechequiv.identifiability import boolean_task, make_mlp
from mechequiv.tensorsim.training import modular_addition as tensorsim_modular_addition
from mechequiv.zoo.models import MLP
from mechequiv.zoo.tasks import GATES, boolean, gate_table, modular_addition

# Independent definitions of every gate on two inputs (a, b).
TRUTH = {
    "AND": lambda a, b: a & b,
    "OR": lambda a, b: a | b,
    "XOR": lambda a, b: a ^ b,
    "NAND": lambda a, b: 1 - (a & b),
    "NOR": lambda a, b: 1 - (a | b),
    "XNOR": lambda a, b: 1 - (a ^ b),
    "IMP": lambda a, b: (1 - a) | b,
    "NIMP": lambda a, b: a & (1 - b),
}


def test_one_gate_table_with_the_union_of_gates():
    assert set(GATES) == set(TRUTH) == set(TABLES)
    rows = list(itertools.product((0, 1), repeat=2))
    for name, fn in TRUTH.items():
        expected = tuple(fn(a, b) for a, b in rows)
        assert TABLES[name] == expected == gate_table(name), name
        # the zoo task and the identifiability task agree on every gate
        zoo_labels = boolean(name, n_repeats=1).labels[:4, 0].to(torch.int64).tolist()
        assert tuple(zoo_labels) == expected
        assert tuple(boolean_task(name).targets[:, 0].tolist()) == expected


def test_two_input_gates_refuse_more_inputs():
    for name in ("IMP", "NIMP"):
        with pytest.raises(ValueError, match="two-input gate"):
            boolean(name, n_inputs=3)
        with pytest.raises(ValueError, match="two-input gate"):
            gate_table(name, 3)
    with pytest.raises(ValueError, match="unknown gate"):
        gate_table("XAND")


def test_tensorsim_modular_addition_uses_the_zoo_rows():
    x, y, train, test = tensorsim_modular_addition(7, 0.5, seed=3)
    task = modular_addition(7, encoding="one_hot")
    assert torch.equal(x, task.inputs) and torch.equal(y, task.labels)
    assert x.dtype == torch.float32 and y.dtype == torch.int64
    assert sorted(torch.cat([train, test]).tolist()) == list(range(49)) and len(train) == 24
    # the split is the module's own, seeded
    again = tensorsim_modular_addition(7, 0.5, seed=3)
    assert torch.equal(again[2], train)


def test_make_mlp_is_the_zoo_mlp_in_float64():
    net = make_mlp((2, 3, 3, 1), slope=0.05, seed=4)
    assert isinstance(net, MLP) and isinstance(net, nn.Sequential)
    assert [type(m).__name__ for m in net] == ["Linear", "LeakyReLU"] * 3
    assert all(p.dtype == torch.float64 for p in net.parameters())
    assert net[1].negative_slope == 0.05
    # the weights are PyTorch's default initialisation drawn in float64 from the seed
    torch.manual_seed(4)
    first = nn.Linear(2, 3, dtype=torch.float64)
    assert torch.equal(net[0].weight, first.weight)


def test_mlp_slices_are_plain_sequentials():
    net = MLP(2, (4, 4), 3)
    head = net[:4]
    assert type(head) is nn.Sequential and len(head) == 4
    x = torch.randn(5, 2)
    torch.testing.assert_close(net[4](head(x)), net(x))
    assert isinstance(net[0], nn.Linear)
