"""Pizza/Clock presets; the slow check that gradient symmetricity separates the two."""

from __future__ import annotations

import pytest

from mechequiv.zoo import load_zoo, pizza_clock, pizza_clock_recipe


def test_pizza_clock_recipes_and_folders(tmp_path):
    task, arch, kw = pizza_clock_recipe("pizza")
    assert arch.kwargs["alpha"] == 0.0 and task.n_outputs == 23 and kw["steps"] > 0
    assert pizza_clock_recipe("clock")[1].kwargs["alpha"] == 1.0
    zoos = pizza_clock(seeds=[0], steps=2, out_dir=tmp_path, progress=False)
    assert set(zoos) == {"pizza", "clock"}
    assert load_zoo(tmp_path / "clock").architecture.kwargs["alpha"] == 1.0
    with pytest.raises(ValueError, match="kind must be one of"):
        pizza_clock_recipe("donut")


@pytest.mark.slow
def test_gradient_symmetricity_separates_pizza_from_clock():
    zoos = pizza_clock(seeds=[0, 1], progress=False)
    pizza, clock = zoos["pizza"].labels(), zoos["clock"].labels()
    for lab in pizza + clock:
        assert lab.test_accuracy >= 0.9
    assert all(lab.gradient_symmetricity >= 0.95 for lab in pizza)
    assert all(lab.gradient_symmetricity <= 0.7 for lab in clock)
    for kind, labels in (("pizza", pizza), ("clock", clock)):
        for lab in labels:  # a model short of 95% test accuracy is not named
            assert lab.kind == (kind if lab.test_accuracy >= 0.95 else None)
