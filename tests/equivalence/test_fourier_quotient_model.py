"""FourierModuleReprs.quotient with ``frequencies`` a function of the model (found by mypy:
the model is optional there, and the function used to be called with None)."""

import numpy as np
import pytest
import torch

from mechequiv.equivalence import FourierModuleReprs

P = 5


def _grid_activations() -> np.ndarray:
    # |G|^2 rows in grid order (a * P + b); the features carry frequency 1 of a + b
    a, b = np.divmod(np.arange(P * P), P)
    angle = 2 * np.pi * (a + b) / P
    return np.stack([np.cos(angle), np.sin(angle)], axis=1)


def test_a_model_dependent_frequency_choice_without_a_model_is_refused_by_name():
    seen: list[object] = []

    def frequencies(model: object) -> list[int]:
        seen.append(model)
        return [1]

    reprs = FourierModuleReprs(P, frequencies=frequencies)
    with pytest.raises(ValueError, match=r"pass the model to quotient\(h, model\)"):
        reprs.quotient(_grid_activations())
    assert seen == []  # refused before the user's function saw a None


def test_a_model_dependent_frequency_choice_gets_the_model():
    seen: list[object] = []

    def frequencies(model: object) -> list[int]:
        seen.append(model)
        return [1]

    model = torch.nn.Identity()
    got = FourierModuleReprs(P, frequencies=frequencies).quotient(_grid_activations(), model)
    fixed = FourierModuleReprs(P, frequencies=[1]).quotient(_grid_activations())
    assert seen == [model]
    torch.testing.assert_close(got, fixed)
