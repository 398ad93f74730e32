"""The one training loop (zoo.ensemble): S models at once equal S separate plain loops."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from mechequiv.zoo.ensemble import FitResult, Optimiser, SeedEnsemble, fit_ensemble, train_step
from mechequiv.zoo.models import MLP


def _models(n: int, dtype: torch.dtype = torch.float64) -> list[nn.Module]:
    out = []
    for s in range(n):
        torch.manual_seed(s)
        out.append(MLP(3, (5, 4), 2, activation="tanh").to(dtype))
    return out


def _plain_loop(model: nn.Module, x, y, steps: int, opt: Optimiser) -> nn.Module:
    """The loop every trainer used to write by hand (the independent reference)."""
    cls = torch.optim.AdamW if opt.name == "adamw" else torch.optim.Adam
    o = cls(model.parameters(), lr=opt.lr, betas=opt.betas, eps=opt.eps,
            weight_decay=opt.weight_decay)  # fmt: skip
    for step in range(steps):
        for g in o.param_groups:
            g["lr"] = opt.lr_at(step)
        loss = (model(x) - y).square().mean()
        o.zero_grad()
        loss.backward()
        o.step()
    return model


@pytest.mark.parametrize("name", ["adamw", "adam"])
def test_ensemble_equals_separate_loops(name):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 3, generator=g, dtype=torch.float64)
    ys = torch.randn(3, 40, 2, generator=g, dtype=torch.float64)  # a different target per model
    opt = Optimiser(name, lr=1e-2, weight_decay=0.1, warmup_steps=5)
    models = _models(3)
    result = fit_ensemble(
        models,
        lambda step: (x.expand(3, *x.shape), ys),
        lambda out, y: (out - y).square().flatten(1).mean(1),
        steps=30,
        optimiser=opt,
    )
    assert result.steps_done == 30 and result.losses.shape == (30, 3)
    # the inputs are left untouched
    assert torch.equal(models[0][0].weight, _models(1)[0][0].weight)
    for i, model in enumerate(_models(3)):
        ref = _plain_loop(model, x, ys[i], 30, opt)
        for k, v in ref.state_dict().items():
            torch.testing.assert_close(result.state_dict(i)[k], v, rtol=1e-12, atol=1e-12)
    # losses are recorded before each update: the first equals the initial loss
    with torch.no_grad():
        first = (_models(1)[0](x) - ys[0]).square().mean()
    assert result.losses[0, 0].item() == pytest.approx(first.item(), rel=1e-12)
    # and the training helps each model
    assert (result.losses[-1] < result.losses[0]).all()


def test_early_stop_and_round_trip():
    x = torch.randn(10, 3, dtype=torch.float64)
    y = torch.zeros(2, 10, 2, dtype=torch.float64)
    seen = []

    def stop(done: int, losses: torch.Tensor) -> bool:
        seen.append((done, tuple(losses.shape)))
        return done == 4

    result = fit_ensemble(
        _models(2), lambda s: (x.expand(2, *x.shape), y),
        lambda o, t: (o - t).square().flatten(1).mean(1), 10, Optimiser(lr=1e-2), stop=stop,
    )  # fmt: skip
    assert result.stopped_early and result.steps_done == 4 and seen[-1] == (4, (2,))
    again = FitResult.from_dict(json.loads(json.dumps(result.to_dict())))
    assert again.steps_done == 4 and again.optimiser == result.optimiser
    for k, v in result.params.items():
        assert torch.equal(again.params[k], v)
    targets = _models(2)
    result.load_into(targets)
    assert torch.equal(targets[1][0].weight, result.params["0.weight"][1])


def test_ensemble_models_round_trip():
    models = _models(2)
    ens = SeedEnsemble(models)
    assert ens.size == 2
    x = torch.randn(7, 3, dtype=torch.float64)
    out = ens.forward(x.expand(2, *x.shape))
    for i, m in enumerate(ens.models()):
        torch.testing.assert_close(out[i], m(x), rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(m(x), models[i](x), rtol=0, atol=0)


def test_bad_input_errors():
    with pytest.raises(ValueError, match="optimiser name"):
        Optimiser("sgd")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="lr must be finite and positive"):
        Optimiser(lr=0.0)
    with pytest.raises(ValueError, match="betas"):
        Optimiser(betas=(0.9, 1.0))
    with pytest.raises(TypeError, match="non-empty sequence"):
        SeedEnsemble([])
    with pytest.raises(ValueError, match="does not have the shapes"):
        SeedEnsemble([nn.Linear(2, 3), nn.Linear(3, 3)])
    with pytest.raises(TypeError, match="optimiser must be an Optimiser"):
        fit_ensemble(_models(1), lambda s: (None, None), lambda o, t: o, 1, "adamw")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="steps must be >= 0"):
        fit_ensemble(_models(1), lambda s: (None, None), lambda o, t: o, -1, Optimiser())


def test_zoo_training_modules_import_each_other_at_top_level_only():
    """No function-local import of the project's modules holds a cycle open: train imports
    distributed and runner, distributed imports runner, and none imports train."""
    import ast
    import inspect

    import mechequiv.zoo.distributed as distributed
    import mechequiv.zoo.ensemble as ensemble
    import mechequiv.zoo.runner as runner
    import mechequiv.zoo.train as train

    for module in (distributed, ensemble, runner, train):
        tree = ast.parse(inspect.getsource(module))
        top = set(tree.body)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mechequiv.zoo"):
                assert node in top, f"{module.__name__} imports {node.module} inside a function"
                assert node.module != "mechequiv.zoo.train", module.__name__


def test_one_model_is_the_plain_loop_bit_for_bit():
    """With S = 1 the loop runs the plain module on its weights: the demo's and the tensor-
    similarity trainers reproduce the hand-written loops they replaced exactly."""
    from mechequiv.demo import toy_task, train_toy_mlp

    x, y = toy_task(200, 0, "rings")
    torch.manual_seed(3)
    plain = MLP(2, (8, 8), 4, activation="relu")
    opt = torch.optim.Adam(plain.parameters(), lr=1e-2)
    for _ in range(25):
        opt.zero_grad()
        nn.functional.cross_entropy(plain(x), y).backward()
        opt.step()
    ours = train_toy_mlp(x, y, 3, hidden=8, steps=25)
    for k, v in plain.state_dict().items():
        assert torch.equal(ours.state_dict()[k], v), k


def test_tensorsim_train_continues_with_any_optimizer():
    from mechequiv.tensorsim.training import train

    x = torch.randn(64, 5)
    y = (x[:, 0] > 0).long()

    def sample(g: torch.Generator):
        i = torch.randint(0, 64, (16,), generator=g)
        return x[i], y[i]

    def fresh() -> nn.Module:
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(5, 6), nn.ReLU(), nn.Linear(6, 2))

    # two phases with the returned optimizer == one plain AdamW loop over both phases
    a = fresh()
    ck, opt = train(a, sample, 10, [0, 10], lr=1e-2, weight_decay=0.1, seed=1)
    more, _ = train(a, sample, 5, [15], seed=2, optimizer=opt, start_step=10)
    assert [c.step for c in ck + more] == [0, 10, 15]
    b = fresh()
    plain = torch.optim.AdamW(b.parameters(), lr=1e-2, weight_decay=0.1)
    for seed, steps in ((1, 10), (2, 5)):
        g = torch.Generator().manual_seed(seed)
        for _ in range(steps):
            xb, yb = sample(g)
            plain.zero_grad()
            nn.functional.cross_entropy(b(xb), yb).backward()
            plain.step()
    for k, v in b.state_dict().items():
        assert torch.equal(a.state_dict()[k], v) and torch.equal(more[-1].state[k], v), k
    # an optimizer the caller built over the model's own parameters is adopted too
    c = fresh()
    own = torch.optim.AdamW(c.parameters(), lr=1e-2)
    train(c, sample, 3, [], seed=1, optimizer=own)
    assert own.state and all(s["exp_avg"].shape[0] == 1 for s in own.state.values())
    with pytest.raises(ValueError, match="holds 2 parameters"):
        train(fresh(), sample, 1, [], optimizer=torch.optim.AdamW(nn.Linear(5, 2).parameters()))


def test_a_seed_does_not_depend_on_the_seeds_beside_it():
    """The zoo keeps one-seed runs on the batched arithmetic (no plain-module shortcut), so a
    seed's weights are bit for bit its row of a larger run (here a case where a plain matmul
    and a one-matrix bmm round differently: a 2-layer transformer with layer norm)."""
    from mechequiv.zoo import modular_addition, train_zoo, transformer

    task = modular_addition(11)
    arch = transformer(alpha=0.5, d_model=16, n_heads=2, layer_norm=True, n_layers=2)
    kw = dict(steps=15, eval_every=15, lr=1e-2, progress=False)
    alone = train_zoo(task, arch, seeds=[2], **kw)
    together = train_zoo(task, arch, seeds=[0, 1, 2], **kw)
    for k, v in alone.params.items():
        assert torch.equal(v[0], together.params[k][2]), k


class _EinsumNet(torch.nn.Module):
    """Weights used through einsum (as TransformerLens does): not a zoo layout, so only the
    one-model path (the module's own forward) can train it."""

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.w = torch.nn.Parameter(torch.randn(5, 7, generator=g, dtype=torch.float64))
        self.v = torch.nn.Parameter(torch.randn(7, 3, generator=g, dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("nh,ho->no", torch.relu(torch.einsum("ni,ih->nh", x, self.w)), self.v)


def test_one_model_of_any_layout_trains_as_a_plain_loop() -> None:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(16, 5, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (16,), generator=g)
    plain, model = _EinsumNet(), _EinsumNet()
    opt = torch.optim.AdamW(plain.parameters(), lr=1e-2, weight_decay=0.1)
    for _ in range(20):
        loss = torch.nn.functional.cross_entropy(plain(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    ensemble = SeedEnsemble([model], single_as_plain=True)
    optimizer = Optimiser("adamw", lr=1e-2, weight_decay=0.1).build(list(ensemble.params.values()))

    def loss_fn(out: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.cross_entropy(out[0], t[0]).unsqueeze(0)

    for _ in range(20):
        train_step(ensemble, optimizer, None, x.unsqueeze(0), y.unsqueeze(0), loss_fn)
    ensemble.write_into([model])
    assert torch.equal(model.w, plain.w) and torch.equal(model.v, plain.v)
    with pytest.raises(ValueError, match="expected 1 models"):
        ensemble.write_into([model, model])
