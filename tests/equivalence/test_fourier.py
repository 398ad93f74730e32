"""FourierModuleReprs: modules moved to frequency 1, blind to the task's relabelling symmetry."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from mechequiv import measures
from mechequiv.equivalence import FourierModuleReprs, hidden_representations
from mechequiv.equivalence.fourier import key_frequencies, mechanism_points, module_power
from mechequiv.errors import MechequivError
from mechequiv.zoo.models import TokenTransformer
from mechequiv.zoo.tasks import modular_addition

P = 11


class Features(nn.Module):
    """(a, b) tokens -> fixed functions of (a, b), exposed at the hook point ``feats``."""

    def __init__(self, fn) -> None:
        super().__init__()
        self.fn = fn
        self.feats = nn.Identity()

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        a, b = (tokens[:, i].double() * 2 * np.pi / P for i in (0, 1))
        return self.feats(self.fn(a, b))


def _grid() -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    task = modular_addition(P)
    a, b = (task.inputs[:, i].double().numpy() * 2 * np.pi / P for i in (0, 1))
    return task.inputs, a, b


def test_a_module_at_frequency_w_is_read_at_frequency_one():
    w = 3
    model = Features(lambda a, b: torch.stack(
        [torch.cos(w * a), torch.sin(w * (a + b)), torch.cos(2 * w * b)], dim=1))  # fmt: skip
    inputs, a, b = _grid()
    reprs = FourierModuleReprs(P, points=["feats"], frequencies=[w])
    r = reprs(model, inputs).numpy()
    # the second harmonic 2w lies outside the fundamental (harmonics=1) and is dropped; the
    # module also enters reflected (frequency -w)
    expected = [np.cos(a), np.sin(a + b), 0 * a, np.cos(a), -np.sin(a + b), 0 * a]
    np.testing.assert_allclose(r, np.stack(expected, 1), atol=1e-12)
    r2 = FourierModuleReprs(P, points=["feats"], frequencies=[w], harmonics=2)(model, inputs)
    np.testing.assert_allclose(r2[:, 2].numpy(), np.cos(2 * b), atol=1e-12)


def test_key_frequencies_are_found_from_the_representation():
    model = Features(lambda a, b: torch.stack(
        [torch.cos(2 * a) + torch.cos(2 * b), 0.5 * torch.sin(4 * (a + b)),
         0.01 * torch.cos(5 * a)], dim=1))  # fmt: skip
    inputs, _, _ = _grid()
    reprs = FourierModuleReprs(P, points=["feats"])
    found = reprs.modules(model, inputs)
    assert found.frequencies == (2, 4)
    assert found.to_dict() == {"frequencies": [2, 4], "shape": [P * P, 12]}
    assert torch.equal(found.values, reprs(model, inputs))
    # the deprecated attribute still answers, with a warning, and is not part of the result
    with pytest.warns(DeprecationWarning, match="modules"):
        assert reprs.last_frequencies == (2, 4)
    assert FourierModuleReprs(P, points=["feats"], coverage=1.0)(model, inputs).shape[1] == 18


def test_module_power_partitions_the_non_constant_fundamentals():
    f = np.fft.fft2(np.random.default_rng(0).normal(size=(P, P, 2)), axes=(0, 1))
    power = module_power(f)
    expected = np.zeros(P // 2)
    for k1 in range(P):
        for k2 in range(P):
            classes = {min(k, P - k) for k in (k1, k2) if k}
            if len(classes) == 1:  # one frequency (or its negative)
                expected[classes.pop() - 1] += (np.abs(f[k1, k2]) ** 2).sum()
    np.testing.assert_allclose(power, expected, rtol=1e-12)
    assert key_frequencies(np.array([1.0, 8.0, 1.0]), 0.8) == (2,)
    with pytest.raises(MechequivError, match="constant"):
        key_frequencies(np.zeros(3), 0.9)


def _relabelled(model: TokenTransformer, u: int) -> TokenTransformer:
    """The task automorphism a -> u a: h'(a, b)[c] = h(u a, u b)[u c], also a modular adder."""
    out = copy.deepcopy(model)
    idx = (u * torch.arange(P)) % P
    with torch.no_grad():
        out.embed.weight.copy_(model.embed.weight[idx])
        out.unembed.weight.copy_(model.unembed.weight[idx])
    return out


@given(u=st.integers(2, P - 1), seed=st.integers(0, 2**16))
def test_blind_to_relabelling_the_numbers(u, seed):
    torch.manual_seed(seed)
    model = TokenTransformer(P, 2, P, d_model=16, n_heads=2).eval()
    other = _relabelled(model, u)
    task = modular_addition(P)
    a, b = task.inputs[:, 0], task.inputs[:, 1]
    with torch.no_grad():
        moved = model(torch.stack([(u * a) % P, (u * b) % P], 1))[:, (u * torch.arange(P)) % P]
        torch.testing.assert_close(other(task.inputs), moved)
    reprs = FourierModuleReprs(P, coverage=0.6)
    ra, rb = reprs(model, task.inputs), reprs(other, task.inputs)
    assert measures.repr_distance(ra, rb) < 1e-4
    # the raw activations of the two are far apart: a relabelling permutes the inputs
    raw = measures.repr_distance(*(hidden_representations(m, task.inputs) for m in (model, other)))
    assert raw > 0.1


def test_default_points_are_where_the_sum_is_formed():
    model = TokenTransformer(P, 2, P, d_model=8, n_heads=2, n_layers=2)
    assert mechanism_points(model) == [
        "blocks.0.attn", "blocks.0.mlp.act", "blocks.1.attn", "blocks.1.mlp.act"]  # fmt: skip
    mlp = nn.Sequential(nn.Linear(2 * P, 8), nn.ReLU(), nn.Linear(8, P))
    assert mechanism_points(mlp) == ["1"]


def test_bad_input_is_refused():
    model = TokenTransformer(P, 2, P, d_model=8, n_heads=2)
    task = modular_addition(P)
    with pytest.raises(ValueError, match="full grid"):
        FourierModuleReprs(P)(model, task.inputs[:50])
    with pytest.raises(ValueError, match="non-trivial character"):
        FourierModuleReprs(P, frequencies=[P])(model, task.inputs)
    with pytest.raises(ValueError, match="2 coordinates"):
        FourierModuleReprs((3, 5), frequencies=[(1, 2, 3)]).quotient(np.ones((225, 2)))
    with pytest.raises(ValueError, match="cyclic orders"):
        FourierModuleReprs((3, 1))
    with pytest.raises(TypeError, match="encode"):
        FourierModuleReprs(P, encode="tokens")
    with pytest.raises(ValueError, match="no key frequencies"):
        FourierModuleReprs(P, frequencies=[])(model, task.inputs)
    with pytest.raises(ValueError, match="harmonics"):
        FourierModuleReprs(5, harmonics=3)
    with pytest.raises(ValueError, match="coverage"):
        FourierModuleReprs(P, coverage=0.0)
