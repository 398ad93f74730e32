"""Label-free GetImpl: perturbation + re-fit pools and functional distillation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from mechequiv.equivalence import congruity
from mechequiv.equivalence.refit import Distill, PerturbRefit
from mechequiv.equivalence.samplers import Draw
from mechequiv.errors import MechequivError


def mlp(seed: int, norm: bool = False) -> nn.Sequential:
    torch.manual_seed(seed)
    layers = [nn.Linear(2, 16), nn.LayerNorm(16) if norm else nn.Identity(), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(16, 3)).eval()


class TwoTables(nn.Module):
    """Another layout: separate embeddings for two token inputs, called as model(a, b)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.ea, self.eb = nn.Embedding(5, 4), nn.Embedding(5, 4)
        self.out = nn.Linear(4, 5)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.out(torch.relu(self.ea(a) * self.eb(b)))


X = torch.randn(64, 2, generator=torch.Generator().manual_seed(0))


def kl(p_logits: torch.Tensor, q_logits: torch.Tensor) -> float:
    lp, lq = p_logits.double().log_softmax(-1), q_logits.double().log_softmax(-1)
    return float((lp.exp() * (lp - lq)).sum(-1).mean())


def test_draws_are_deterministic_new_and_within_the_stated_kl():
    model = mlp(0)
    before = [p.detach().clone() for p in model.parameters()]
    sampler = PerturbRefit(X, noise=0.2, steps=30, lr=1e-2, max_kl=5e-3, min_agreement=0.9)
    d1 = sampler.draw(model, np.random.default_rng(7))
    d2 = sampler.draw(model, np.random.default_rng(7))
    assert isinstance(d1, Draw) and d1.model is not model
    for p, q in zip(d1.model.parameters(), d2.model.parameters(), strict=True):
        assert torch.equal(p, q)
    for p, q in zip(model.parameters(), before, strict=True):
        assert torch.equal(p, q)  # the original is untouched
    with torch.no_grad():
        got = kl(model(X), d1.model(X))
        agree = float((model(X).argmax(-1) == d1.model(X).argmax(-1)).double().mean())
    assert got <= 5e-3 and got == pytest.approx(d1.stats["kl"], rel=1e-6, abs=1e-12)
    assert agree >= 0.9 and agree == d1.stats["agreement"]
    assert d1.stats["tries"] == d1.rejected + 1
    other = sampler.draw(model, np.random.default_rng(8)).model
    assert not torch.equal(other[0].weight, d1.model[0].weight)
    assert not hasattr(sampler, "rejected")  # nothing recorded on the sampler


def test_noise_one_is_a_fresh_moment_matched_draw():
    model = mlp(1, norm=True)
    new = PerturbRefit(X, noise=1.0, steps=0, max_kl=np.inf, min_agreement=0.0).sample(
        model, np.random.default_rng(0)
    )
    w, v = model[0].weight.detach().double(), new[0].weight.detach().double()
    assert abs(float(v.mean() - w.mean())) < 0.3 * float(w.std())
    assert float(v.std()) == pytest.approx(float(w.std()), rel=0.35)
    corr = np.corrcoef(w.ravel(), v.ravel())[0, 1]
    assert abs(corr) < 0.35  # nothing of the original weights is left
    assert torch.equal(new[1].weight, model[1].weight)  # LayerNorm gains are constant: kept


def test_distill_matches_the_function_of_any_layout():
    model = TwoTables()
    a = torch.arange(5).repeat_interleave(5)
    b = torch.arange(5).repeat(5)
    d = Distill((a, b), steps=300, lr=3e-2, max_kl=0.05, min_agreement=0.9).draw(
        model, np.random.default_rng(0)
    )
    with torch.no_grad():
        assert kl(model(a, b), d.model(a, b)) <= 0.05
    assert not torch.equal(d.model.ea.weight, model.ea.weight)


def test_rejection_is_counted_and_failure_explained():
    model = mlp(2)
    strict = PerturbRefit(X, noise=1.0, steps=0, max_kl=1e-9, max_tries=2)
    with pytest.raises(MechequivError, match="none of 2 candidates"):
        strict.draw(model, np.random.default_rng(0))
    # Congruity records how many candidates the behaviour check rejected
    loose = PerturbRefit(X, noise=0.05, steps=5, lr=1e-3, max_kl=1.0, min_agreement=0.0)
    r = congruity(model, mlp(3), X, n=3, sampler=loose, n_boot=50)
    assert r.rejected_1 == 0 and r.rejected_2 == 0


def test_congruity_requires_a_sampler():
    with pytest.raises(TypeError, match=r"needs sampler=.*SymmetryTransform"):
        congruity(mlp(0), mlp(1), X, n=2)


def test_bad_input():
    with pytest.raises(ValueError, match="noise"):
        PerturbRefit(X, noise=0.0)
    with pytest.raises(ValueError, match="steps"):
        PerturbRefit(X, steps=-1)
    with pytest.raises(ValueError, match="loss"):
        PerturbRefit(X, loss="mse")
    with pytest.raises(ValueError, match="min_agreement"):
        PerturbRefit(X, min_agreement=2.0)
    with pytest.raises(TypeError, match=r"nn\.Module"):
        PerturbRefit(X).draw("model", np.random.default_rng(0))
