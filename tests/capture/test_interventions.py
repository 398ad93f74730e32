"""Patching, interchange interventions and resample ablation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from mechequiv.capture import (
    Point,
    capture,
    derangement,
    patching,
    recording,
    run_with_patches,
    run_with_resample,
)
from mechequiv.capture.interventions import concat_outputs

from .conftest import Shared, TinyTransformer, hook_count


def test_zero_ablation_matches_manual(mlp: nn.Sequential) -> None:
    x = torch.randn(7, 5)
    out = run_with_patches(mlp, x, {"1": torch.zeros_like}, batch_size=3)
    torch.testing.assert_close(out, mlp[2](torch.zeros(7, 7)).detach().expand(7, 3))
    assert hook_count(mlp) == 0


def test_patching_everything_downstream_gives_source_output(
    tiny: TinyTransformer, tokens: dict
) -> None:
    # Replacing the whole residual stream after block 0 with the source's makes the rest of the
    # forward pass the source's; the attention mask is the only other input and is shared.
    ids = tokens["input_ids"]
    source = {"input_ids": (ids + 3) % 11, "attention_mask": tokens["attention_mask"]}
    src_acts = capture(tiny, source, ["blocks.0"])
    out = run_with_patches(tiny, tokens, {"blocks.0": src_acts["blocks.0"]}, batch_size=4)
    with torch.no_grad():
        ref = tiny(**source)
    torch.testing.assert_close(out, ref)
    clean = run_with_patches(tiny, tokens, {}, batch_size=4)
    assert not torch.allclose(out, clean)


def test_interchange_and_resample_rows(tiny: TinyTransformer) -> None:
    g = torch.Generator().manual_seed(3)
    ids = torch.randint(0, 11, (8, 5), generator=g)
    source = torch.randint(0, 11, (8, 5), generator=g)
    with torch.no_grad():
        src_out = tiny(source)
        own_out = tiny(ids)
    out = run_with_resample(tiny, ids, ["blocks.0"], source=source, batch_size=3)
    torch.testing.assert_close(out, src_out)  # interchange: row i gets source row i
    rows = torch.tensor([7, 6, 5, 4, 3, 2, 1, 0])
    out = run_with_resample(tiny, ids, ["blocks.0"], source=source, rows=rows)
    torch.testing.assert_close(out, src_out[rows])
    out = run_with_resample(tiny, ids, ["blocks.0"], seed=4, batch_size=5)
    torch.testing.assert_close(out, own_out[derangement(8, 4)])  # resample ablation
    assert hook_count(tiny) == 0


def test_resample_input_errors(mlp: nn.Sequential) -> None:
    x = torch.randn(4, 5)
    with pytest.raises(ValueError, match="needs a seed"):
        run_with_resample(mlp, x, ["0"])
    with pytest.raises(ValueError, match=r"rows must be 4 indices in \[0, 2\)"):
        run_with_resample(mlp, x, ["0"], source=x[:2])
    with pytest.raises(ValueError, match=r"rows must be 4 indices in \[0, 4\).*values -1\.\.0"):
        run_with_resample(mlp, x, ["0"], rows=[0, -1, 0, 0])


def test_partial_patch_function_and_patch_then_record(mlp: nn.Sequential) -> None:
    x = torch.randn(6, 5)

    def keep_first_unit(a: torch.Tensor) -> torch.Tensor:
        out = torch.zeros_like(a)
        out[:, 0] = a[:, 0]
        return out

    with patching(mlp, {"0": keep_first_unit}), recording(mlp, ["0", "2"]) as rec:
        mlp(x)
        acts = rec.pop()
    h = mlp[0](x).detach()
    torch.testing.assert_close(acts["0"], keep_first_unit(h))  # the recorder sees patched values
    torch.testing.assert_close(acts["2"], mlp[2](torch.relu(keep_first_unit(h))).detach())
    got = capture(mlp, x, ["2"], patches={"0": keep_first_unit}, batch_size=4)["2"]
    torch.testing.assert_close(got, acts["2"])
    assert hook_count(mlp) == 0


def test_patch_inputs_and_tuple_outputs() -> None:
    torch.manual_seed(0)
    model = Shared()
    x = torch.randn(5, 3)
    with torch.no_grad():
        h = model.inp(x)
    outs = capture(model, x, [Point("layer", call="all")])[Point("layer", call="all")]
    # Patching every call with its own clean value is a no-op; patching call 2 with zeros
    # makes the final state tanh(0) = 0.
    same = run_with_patches(model, x, {Point("layer", call="all"): outs}, batch_size=2)
    with torch.no_grad():
        ref = model(x)
    torch.testing.assert_close(same[0], ref[0])
    zero = run_with_patches(model, x, {Point("layer", call=2): torch.zeros_like})
    torch.testing.assert_close(zero[0], torch.zeros(5, 4))
    doubled = run_with_patches(model, x, {Point("layer", output="input", call=0): lambda a: 2 * a})
    with torch.no_grad():
        g = torch.tanh(model.layer(2 * h))
        g = torch.tanh(model.layer(torch.tanh(model.layer(g))))
    torch.testing.assert_close(doubled[0], g)
    tup = run_with_patches(model, x, {Point("", select=1): torch.zeros_like})
    torch.testing.assert_close(tup[1], torch.zeros(5))
    torch.testing.assert_close(tup[0], ref[0])


def test_patch_errors(mlp: nn.Sequential) -> None:
    x = torch.randn(4, 5)
    with pytest.raises(ValueError, match=r"has shape \(4, 3\); the activation there has shape"):
        run_with_patches(mlp, x, {"0": lambda a: a[:, :3]})
    with pytest.raises(ValueError, match=r"one row per input row \(4\)"):
        run_with_patches(mlp, x, {"0": torch.zeros(3, 7)})
    with pytest.raises(TypeError, match="must be a tensor or a function"):
        run_with_patches(mlp, x, {"0": 0.0})
    with pytest.raises(TypeError, match="returned float"):
        run_with_patches(mlp, x, {"0": lambda a: 0.0})
    with pytest.raises(TypeError, match="callable select"):
        run_with_patches(mlp, x, {Point("0", select=lambda o: o): torch.zeros_like})
    with pytest.raises(TypeError, match="mapping"):
        run_with_patches(mlp, x, ["0"])
    assert hook_count(mlp) == 0


@settings(deadline=None, max_examples=30)
@given(n=st.integers(2, 40), seed=st.integers(0, 2**31 - 1))
def test_derangement_is_a_permutation_without_fixed_points(n: int, seed: int) -> None:
    p = derangement(n, seed)
    assert sorted(p.tolist()) == list(range(n))
    assert bool((p != torch.arange(n)).all())
    assert torch.equal(p, derangement(n, seed))


@settings(deadline=None, max_examples=30)
@given(n=st.integers(2, 40), seed=st.integers(0, 2**31 - 1))
def test_derangement_from_a_numpy_generator_is_one_stream(n: int, seed: int) -> None:
    a, b = np.random.default_rng(seed), np.random.default_rng(seed)
    first, second = derangement(n, a), derangement(n, a)
    assert bool((first != torch.arange(n)).all()) and bool((second != torch.arange(n)).all())
    assert sorted(first.tolist()) == list(range(n))
    # the generator advanced (one stream), and the same stream gives the same draws
    assert torch.equal(first, derangement(n, b)) and torch.equal(second, derangement(n, b))
    # the construction: one random cycle in the order of the generator's permutation
    order = np.random.default_rng(seed).permutation(n)
    assert first[order].tolist() == np.roll(order, -1).tolist()


def test_derangement_errors() -> None:
    with pytest.raises(ValueError, match="n >= 2"):
        derangement(1, 0)


def test_concat_outputs() -> None:
    a, b = torch.ones(2, 3), torch.zeros(1, 3)
    out = concat_outputs([{"x": a, "y": (a, None)}, {"x": b, "y": (b, None)}])
    assert out["x"].shape == (3, 3) and out["y"][0].shape == (3, 3) and out["y"][1] is None
    with pytest.raises(TypeError, match="use_cache=False"):
        concat_outputs([object(), object()])
