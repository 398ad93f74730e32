"""Architectures: module-name interface, attention rate, seeded init, seed-batched forward."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from torch.func import functional_call, stack_module_state

from mechequiv.zoo import bilinear, boolean, histogram, mlp, modular_addition, transformer
from mechequiv.zoo.batched import SeedBatched
from mechequiv.zoo.models import MLP, Architecture, BilinearMLP, TokenTransformer, as_architecture

CASES = [
    (lambda: modular_addition(7), transformer(alpha=0.5, d_model=16, n_layers=2)),
    (lambda: modular_addition(7), transformer(alpha=1.0, d_model=16, layer_norm=True)),
    (lambda: histogram(seq_len=4, vocab_size=3, n_samples=40), transformer(d_model=8, n_heads=2)),
    (lambda: modular_addition(7, encoding="one_hot"), mlp(hidden=(12, 6), activation="leaky_relu")),
    (lambda: boolean(["XOR", "AND"], n_inputs=3), mlp(hidden=(5,), activation="tanh")),
    (lambda: modular_addition(7, encoding="one_hot"), bilinear(d_model=8, d_hidden=10, n_layers=2)),
]


@pytest.mark.parametrize(("make_task", "arch"), CASES)
def test_model_takes_task_inputs_and_init_depends_only_on_seed(make_task, arch):
    task = make_task()
    m = arch.build(task, 3)
    out = m(task.inputs)
    if task.readout == "all":
        assert out.shape == (*task.labels.shape, task.n_outputs)
    else:
        assert out.shape == (len(task.inputs), task.n_outputs)
    torch.manual_seed(123)  # the global RNG must not matter
    again = arch.build(task, 3).state_dict()
    other = arch.build(task, 4).state_dict()
    for k, v in m.state_dict().items():
        assert torch.equal(v, again[k])
    assert any(not torch.equal(v, other[k]) for k, v in m.state_dict().items())


@pytest.mark.parametrize(("make_task", "arch"), CASES)
def test_seed_batched_forward_equals_each_model(make_task, arch):
    task = make_task()
    models = [arch.build(task, s) for s in (0, 5, 9)]
    params, buffers = stack_module_state(models)
    base = copy.deepcopy(models[0]).to("meta")
    x = task.inputs.expand(3, *task.inputs.shape)
    with torch.no_grad(), SeedBatched():
        out = functional_call(base, (params, buffers), (x,))
    for i, m in enumerate(models):
        with torch.no_grad():
            torch.testing.assert_close(out[i], m(task.inputs), rtol=1e-5, atol=1e-5)


def test_transformer_blocks_output_residual_stream_and_attention_rate():
    task = modular_addition(5)
    m = transformer(alpha=0.0, d_model=8, n_heads=2, n_layers=2).build(task, 0)
    seen = {}
    handles = [
        m.get_submodule(f"blocks.{i}").register_forward_hook(
            lambda mod, inp, out, i=i: seen.__setitem__(i, out)
        )
        for i in range(2)
    ]
    logits = m(task.inputs)
    for h in handles:
        h.remove()
    assert seen[0].shape == seen[1].shape == (25, 2, 8)
    torch.testing.assert_close(logits, m.unembed(seen[1][:, -1]))
    x = m.embed(task.inputs)
    pattern = m.blocks[0].attn.pattern(x)
    assert torch.equal(pattern, torch.ones_like(pattern))  # alpha = 0: constant attention
    soft = transformer(alpha=1.0, d_model=8, n_heads=2).build(task, 0)
    torch.testing.assert_close(soft.blocks[0].attn.pattern(x).sum(-1), torch.ones(25, 2, 2))


def test_mlp_is_a_sequential_of_linear_and_activation():
    m = mlp(hidden=(4, 3), activation="leaky_relu", negative_slope=0.1).build(boolean(), 0)
    assert isinstance(m, nn.Sequential) and isinstance(m, MLP)
    assert [type(c).__name__ for c in m] == ["Linear", "LeakyReLU", "Linear", "LeakyReLU", "Linear"]
    assert m[1].negative_slope == 0.1


def test_bilinear_is_the_tensorsim_model():
    m = bilinear(d_model=6, d_hidden=4).build(modular_addition(5, encoding="one_hot"), 0)
    assert type(m) is BilinearMLP
    assert m.embed.weight.shape == (6, 10) and m.blocks[0].L.weight.shape == (4, 6)


def test_architecture_errors():
    with pytest.raises(ValueError, match="unknown architecture"):
        as_architecture("lstm")
    with pytest.raises(ValueError, match="unknown architecture"):
        Architecture("lstm")
    with pytest.raises(TypeError, match="Architecture or a name"):
        as_architecture(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"alpha .* \[0, 1\]"):
        transformer(alpha=1.5)
    with pytest.raises(ValueError, match="unknown activation"):
        mlp(activation="swish")
    with pytest.raises(ValueError, match="encoding='one_hot'"):
        mlp().build(modular_addition(5), 0)
    with pytest.raises(ValueError, match="encoding='tokens'"):
        transformer().build(modular_addition(5, encoding="one_hot"), 0)
    with pytest.raises(ValueError, match="'histogram' has tokens"):
        mlp().check(histogram())
    with pytest.raises(ValueError, match="divisible"):
        transformer(d_model=10, n_heads=4).build(modular_addition(5), 0)


@pytest.mark.parametrize(
    ("alpha", "n_layers", "layer_norm"), [(0.0, 1, False), (1.0, 1, False), (0.4, 2, True)]
)
def test_readout_only_forward_matches_the_full_forward(alpha, n_layers, layer_norm):
    # Training computes only the readout position; logits and every gradient must be the full
    # forward's up to float rounding.
    torch.manual_seed(0)
    model = TokenTransformer(
        vocab_size=11, n_ctx=3, n_outputs=7, d_model=16, n_heads=4, n_layers=n_layers,
        alpha=alpha, layer_norm=layer_norm,
    )  # fmt: skip
    tokens = torch.randint(0, 11, (40, 3))
    labels = torch.randint(0, 7, (40,))
    results = []
    for readout_only in (False, True):
        model.zero_grad()
        logits = model(tokens, readout_only=readout_only)
        torch.nn.functional.cross_entropy(logits, labels).backward()
        results.append((logits.detach(), {k: p.grad.clone() for k, p in model.named_parameters()}))
    (full, full_grads), (fast, fast_grads) = results
    assert fast.shape == full.shape == (40, 7)
    torch.testing.assert_close(fast, full, rtol=1e-5, atol=1e-6)
    for name, g in full_grads.items():
        if alpha > 0 or not name.endswith(("W_Q.weight", "W_K.weight")):  # constant attention
            assert g.abs().max() > 0, name  # every parameter is exercised
        torch.testing.assert_close(fast_grads[name], g, rtol=1e-4, atol=1e-6, msg=name)


def test_readout_only_is_ignored_for_an_every_position_readout():
    torch.manual_seed(0)
    model = TokenTransformer(vocab_size=5, n_ctx=4, n_outputs=3, d_model=8, n_heads=2,
                             readout="all")  # fmt: skip
    tokens = torch.randint(0, 5, (6, 4))
    assert torch.equal(model(tokens, readout_only=True), model(tokens))
