"""Shortcuts in the zoo's elementwise work change no bit: softmax attention (alpha = 1) skips
the ``alpha * softmax + (1 - alpha)`` arithmetic, bit for bit the formula, forward and backward,
on adversarial scores; constant attention (alpha = 0) keeps the graph through W_Q and W_K, so
they still get zero gradients (and AdamW's weight decay), not None."""

from __future__ import annotations

import math

import pytest
import torch

from mechequiv.zoo import modular_addition, train_zoo, transformer
from mechequiv.zoo.models import Attention


def _adversarial_scores() -> torch.Tensor:
    """Scores ``(rows, key, heads)`` whose softmax over keys holds exact zeros, exact ones,
    subnormals, ties, infinities and NaN."""
    g = torch.Generator().manual_seed(0)
    scores = torch.randn(64, 5, 3, generator=g) * 30
    scores[0] = 0.0  # ties
    scores[1, 0] = 200.0  # the other keys underflow to +0
    scores[2] = torch.tensor([-1e30, 0.0, 1e30]).repeat(5, 1)[:, :3]
    scores[3, :, 0] = -math.inf
    scores[3, 0, 0] = 0.0  # one finite key among -inf
    scores[4, 1] = math.inf  # inf - inf: NaN
    scores[5, 2] = math.nan
    scores[6] = -0.0
    scores[7, :, 1] = torch.tensor([-104.0, 0.0, -87.5, -103.9, -0.0])  # near subnormal
    return scores


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_softmax_attention_pattern_is_the_alpha_formula_bit_for_bit(dtype):
    attn = Attention(d_model=8, n_heads=2, alpha=1.0)
    scores = _adversarial_scores().to(dtype).requires_grad_()
    upstream = torch.randn(scores.shape, generator=torch.Generator().manual_seed(1), dtype=dtype)
    upstream[8] = -0.0
    upstream[9, 0] = math.inf
    fast = attn._rate(scores.softmax(-2))
    formula = 1.0 * scores.softmax(-2) + (1.0 - 1.0)
    (grad_fast,) = torch.autograd.grad(fast, scores, upstream)
    (grad_formula,) = torch.autograd.grad(formula, scores, upstream)
    for a, b in ((fast, formula), (grad_fast, grad_formula)):
        assert torch.equal(a.isnan(), b.isnan())
        assert torch.equal(a.nan_to_num(), b.nan_to_num())
        assert torch.equal(a.signbit(), b.signbit())  # no -0.0 turned into +0.0 or back
    assert fast.isnan().any() and (fast == 0).any() and (fast == 1).any()  # inputs adversarial


def test_softmax_attention_full_pattern_is_the_formula_bit_for_bit():
    # forward_last: tests/zoo/test_fast_paths.py (alpha = 1.0 against the formula)
    torch.manual_seed(0)
    attn = Attention(d_model=16, n_heads=4, alpha=1.0)
    x = torch.randn(30, 3, 16)
    full = attn.pattern(x)
    q, k = (attn._heads(w(x)) for w in (attn.W_Q, attn.W_K))
    scores = (q.unsqueeze(-2) * k.unsqueeze(-3)).sum(-1) / 2.0
    assert torch.equal(full, 1.0 * scores.softmax(-1) + 0.0)


@pytest.mark.parametrize("readout_only", [True, False])
def test_constant_attention_still_gives_query_and_key_weights_zero_gradients(readout_only):
    task = modular_addition(7)
    model = transformer(alpha=0.0, d_model=8, n_heads=2).build(task, 0)
    logits = model(task.inputs, readout_only=readout_only)
    logits.square().sum().backward()
    for name in ("W_Q", "W_K"):
        grad = getattr(model.blocks[0].attn, name).weight.grad
        assert grad is not None, name  # None would make AdamW skip their weight decay
        assert not grad.any(), name
    assert model.blocks[0].attn.W_V.weight.grad.any()


def test_constant_attention_query_and_key_weights_decay():
    """With alpha = 0 the scores do not reach the output, so W_Q and W_K change only by AdamW's
    weight decay: multiplied by (1 - lr * weight_decay) at every step, exactly."""
    task = modular_addition(7)
    arch = transformer(alpha=0.0, d_model=8, n_heads=2)
    kw = dict(steps=3, eval_every=3, lr=1e-2, weight_decay=1.0, warmup_steps=0, progress=False)
    zoo = train_zoo(task, arch, seeds=[0, 1], **kw)
    for s in (0, 1):
        w0 = arch.build(task, s).blocks[0].attn.W_Q.weight.detach()
        expected = w0
        for _ in range(3):
            expected = expected * (1 - 1e-2 * 1.0)
        assert torch.equal(zoo.params["blocks.0.attn.W_Q.weight"][s], expected)


def test_mse_targets_converted_once_train_as_float32_targets_bit_for_bit():
    """The runner converts an MSE task's targets to float64 once; the loss used to convert
    them at every step: the same models and history, bit for bit (full batch and mini-batch)."""
    from mechequiv.zoo import boolean, mlp
    from mechequiv.zoo.ensemble import SeedEnsemble, train_step
    from mechequiv.zoo.runner import SeedBatches, task_loss, training_targets, zoo_optimiser

    task = boolean(["XOR", "AND"], n_inputs=2, n_repeats=20)
    assert task.labels.dtype == torch.float32
    assert training_targets(task).dtype == torch.float64
    arch = mlp(hidden=(8,), activation="leaky_relu")
    seeds, steps = (0, 1, 2), 12
    for batch_size in (None, 16):
        zoo = train_zoo(task, arch, seeds, steps=steps, eval_every=steps, lr=1e-2,
                        batch_size=batch_size, progress=False)  # fmt: skip
        ensemble = SeedEnsemble([arch.build(task, s) for s in seeds])
        optimizer = zoo_optimiser(zoo.config).build(list(ensemble.params.values()))
        batches = SeedBatches(task.train_idx, seeds, batch_size or len(task.train_idx))
        for step in range(steps):
            idx = batches.at(step) if batch_size else task.train_idx.expand(3, -1)
            x, y = task.inputs[idx], task.labels[idx]  # float32 targets, as before
            train_step(ensemble, optimizer, zoo.config.lr_at(step), x, y, task_loss(task))
        for k, v in zoo.params.items():
            assert torch.equal(v, ensemble.params[k]), (batch_size, k)
