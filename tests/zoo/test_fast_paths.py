"""The zoo's fast training paths train the same models as the plain modules: 16 seeds at once
in float64 equal 16 separate plain float64 loops to 1e-12 (bilinear models from gathered
tables, transformers through their readout-only forward), a seed's float32 weights do not
depend on the seeds beside it, and the rewritten transformer operations are bit for bit the
formulas they replaced."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mechequiv.zoo import bilinear, mlp, modular_addition, train_zoo, transformer
from mechequiv.zoo.ensemble import Optimiser, SeedEnsemble, train_step
from mechequiv.zoo.runner import hot_positions, task_loss

OPT = Optimiser("adamw", lr=1e-2, weight_decay=0.5, betas=(0.9, 0.98), warmup_steps=2)
N_SEEDS, STEPS = 16, 6


def _plain_loop(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn) -> nn.Module:
    """One model, its default forward (no readout_only, no tables), torch's own AdamW."""
    opt = torch.optim.AdamW(model.parameters(), lr=OPT.lr, betas=OPT.betas, eps=OPT.eps,
                            weight_decay=OPT.weight_decay)  # fmt: skip
    for step in range(STEPS):
        for group in opt.param_groups:
            group["lr"] = OPT.lr_at(step)
        loss = loss_fn(model(x).unsqueeze(0), y.unsqueeze(0)).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model


SETTINGS = {
    "clock": (lambda: modular_addition(11), transformer(alpha=1.0, d_model=16, n_heads=4)),
    "pizza": (lambda: modular_addition(11), transformer(alpha=0.0, d_model=16, n_heads=2)),
    "layer norm": (
        lambda: modular_addition(11),
        transformer(alpha=0.5, d_model=8, n_heads=2, layer_norm=True, d_mlp=24),
    ),
    "bilinear": (
        lambda: modular_addition(11, encoding="one_hot"),
        bilinear(d_model=12, d_hidden=16),
    ),
    "bilinear, biases, no residual": (
        lambda: modular_addition(11, encoding="one_hot"),
        bilinear(d_model=12, d_hidden=16, bias=True, residual=False),
    ),
    "bilinear, 2 layers": (
        lambda: modular_addition(11, encoding="one_hot"),
        bilinear(d_model=12, d_hidden=16, n_layers=2),
    ),
    "mlp": (lambda: modular_addition(11, encoding="one_hot"), mlp(hidden=(16,))),
}


@pytest.mark.parametrize("name", list(SETTINGS))
def test_sixteen_seeds_at_once_equal_sixteen_plain_float64_loops(name):
    make_task, arch = SETTINGS[name]
    task = make_task()
    loss_fn = task_loss(task)
    x, y = task.inputs[task.train_idx], task.labels[task.train_idx]
    if x.is_floating_point():
        x = x.double()
    kwargs = {"readout_only": True} if arch.name == "transformer" else {}
    ensemble = SeedEnsemble([arch.build(task, s).double() for s in range(N_SEEDS)])
    optimizer = OPT.build(list(ensemble.params.values()))
    # what the zoo trains on: one-hot rows as the positions of their ones for bilinear models
    fed = hot_positions(x) if arch.name == "bilinear" else x
    assert fed is not None
    xs, ys = fed.expand(N_SEEDS, *fed.shape), y.expand(N_SEEDS, *y.shape)
    for step in range(STEPS):
        train_step(ensemble, optimizer, OPT.lr_at(step), xs, ys, loss_fn, kwargs)
    for s in range(N_SEEDS):
        ref = _plain_loop(arch.build(task, s).double(), x, y, loss_fn)
        for k, v in ref.state_dict().items():
            got = ensemble.params.get(k, ensemble.buffers.get(k))
            assert got is not None, k
            scale = v.abs().max().item()
            assert (got[s] - v).abs().max().item() <= 1e-12 * scale, (name, s, k)


@pytest.mark.parametrize("name", ["clock", "layer norm", "bilinear", "bilinear, 2 layers"])
def test_a_seed_alone_is_its_row_of_a_larger_run_bit_for_bit(name):
    make_task, arch = SETTINGS[name]
    task = make_task()
    kw = dict(steps=8, eval_every=8, lr=1e-2, progress=False)
    alone = train_zoo(task, arch, seeds=[2], **kw)
    together = train_zoo(task, arch, seeds=[0, 1, 2], **kw)
    for k, v in alone.params.items():
        assert torch.equal(v[0], together.params[k][2]), k
    # the mini-batch route gives every seed its own rows: still its row of the larger run
    alone = train_zoo(task, arch, seeds=[2], batch_size=16, **kw)
    together = train_zoo(task, arch, seeds=[0, 1, 2], batch_size=16, **kw)
    for k, v in alone.params.items():
        assert torch.equal(v[0], together.params[k][2]), k


def test_seed_batched_embedding_is_advanced_indexing_bit_for_bit():
    """The seed-batched embedding gathers with one index_select on the stacked rows: the same
    rows and, bit for bit, the same gradient as the advanced indexing it replaced."""
    from mechequiv.zoo.batched import SeedBatched

    g = torch.Generator().manual_seed(0)
    w = torch.randn(5, 9, 6, generator=g, requires_grad=True)
    idx = torch.randint(0, 9, (5, 40, 3), generator=g)
    upstream = torch.randn(5, 40, 3, 6, generator=g)
    with SeedBatched():
        fast = nn.functional.embedding(idx, w)
    (grad_fast,) = torch.autograd.grad(fast, w, upstream)
    plain = w[torch.arange(5).reshape(-1, 1, 1), idx]
    (grad_plain,) = torch.autograd.grad(plain, w, upstream)
    assert torch.equal(fast, plain) and torch.equal(grad_fast, grad_plain)
    with pytest.raises(IndexError, match=r"embedding indices must lie in \[0, 9\)"), SeedBatched():
        nn.functional.embedding(idx - 1, w)


@pytest.mark.parametrize("alpha", [0.6, 1.0])  # 1.0: softmax attention skips the rate's no-ops
def test_last_query_attention_is_the_broadcast_formula_bit_for_bit(alpha):
    from mechequiv.zoo.models import Attention

    torch.manual_seed(0)
    attn = Attention(d_model=16, n_heads=4, alpha=alpha)
    x = torch.randn(7, 30, 3, 16, requires_grad=True)
    upstream = torch.randn(7, 30, 16)
    out = attn.forward_last(x)
    grads = torch.autograd.grad(out, [x, *attn.parameters()], upstream)
    # the formula before the weights were copied over each head's coordinates
    q = attn.W_Q(x[..., -1, :]).reshape(7, 30, 1, 4, 4)
    k, v = (w(x).reshape(7, 30, 3, 4, 4) for w in (attn.W_K, attn.W_V))
    scores = (q * k).sum(-1) / 2.0
    pattern = attn.alpha * scores.softmax(-2) + (1.0 - attn.alpha)
    ref = attn.W_O((pattern.unsqueeze(-1) * v).sum(-3).reshape(7, 30, 16))
    ref_grads = torch.autograd.grad(ref, [x, *attn.parameters()], upstream)
    assert torch.equal(out, ref)
    assert all(torch.equal(a, b) for a, b in zip(grads, ref_grads, strict=True))


def test_hot_positions_reads_k_hot_rows_only():
    x = torch.tensor([[0.0, 1.0, 0.0, 1.0], [1.0, 0.0, 1.0, 0.0]])
    assert hot_positions(x).tolist() == [[1, 3], [0, 2]]
    assert hot_positions(torch.tensor([[0.0, 1.0], [1.0, 1.0]])) is None  # 1 and 2 ones
    assert hot_positions(torch.tensor([[0.0, 0.5], [1.0, 0.0]])) is None  # not 0/1
    assert hot_positions(torch.zeros(3, 4)) is None  # no ones
    assert hot_positions(torch.tensor([[0, 1], [1, 0]])) is None  # integer rows are not features


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"bias": True}, {"residual": False, "bias": True}, {"n_layers": 0}, {"n_layers": 3}],
)
def test_the_k_hot_forward_is_the_float_forward(kwargs):
    from mechequiv.zoo.models import BilinearMLP

    torch.manual_seed(0)
    model = BilinearMLP(12, 6, 8, 5, **kwargs).double()
    x = torch.zeros(40, 12, dtype=torch.float64)
    hot = torch.stack([torch.randint(0, 6, (40,)), torch.randint(6, 12, (40,))], 1)
    x.scatter_(1, hot, 1.0)
    # 40 rows: the U @ D merge pays for one block; the 2-row batch applies U and D in turn
    for rows in (slice(None), slice(0, 2)):
        torch.testing.assert_close(model(hot[rows]), model(x[rows]), rtol=1e-13, atol=1e-13)
    with pytest.raises(IndexError, match=r"k-hot positions must lie in \[0, 12\)"):
        model(hot + 1)
    with pytest.raises(ValueError, match=r"must be \(\.\.\., N, k\)"):
        model(hot[0])


def test_training_inputs_are_positions_only_for_bilinear_models_on_few_hot_rows():
    from mechequiv.zoo import boolean
    from mechequiv.zoo.runner import training_inputs

    task = modular_addition(11, encoding="one_hot")
    hot = training_inputs(task, bilinear().build(task, 0))
    assert hot.dtype == torch.long and hot.shape == (121, 2)
    assert torch.equal(torch.zeros(121, 22).scatter_(1, hot, 1.0), task.inputs)
    assert training_inputs(task, mlp().build(task, 0)) is task.inputs
    gates = boolean(["XOR"], n_inputs=2)  # rows with 0, 1 or 2 ones
    assert training_inputs(gates, bilinear().build(gates, 0)) is gates.inputs
