"""congruity_matrix's representation cache is bounded: sampled implementations and their
representations do not outlive their pair; anchors' and pool members' are taken once."""

from __future__ import annotations

import gc
import pickle
import weakref

import numpy as np
import torch
from torch import nn

from mechequiv.equivalence import Retrained, SymmetryTransform, congruity_matrix
from mechequiv.equivalence._congruity import _Cache


def mlp(seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2)).double()


X = torch.randn(30, 4, generator=torch.Generator().manual_seed(0), dtype=torch.double)


class CountingReprs:
    """GetReprs that records how many of the representations it made are alive at each call."""

    def __init__(self) -> None:
        self.made: list[weakref.ref] = []
        self.alive_max = 0
        self.calls = 0

    def __call__(self, model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        self.alive_max = max(self.alive_max, sum(r() is not None for r in self.made))
        with torch.no_grad():
            out = model[:2](inputs).clone()
        self.made.append(weakref.ref(out))
        return out


def test_sampled_implementations_do_not_outlive_their_pair() -> None:
    models, n = [mlp(s) for s in range(4)], 5
    reprs = CountingReprs()
    congruity_matrix(models, X, n=n, sampler=SymmetryTransform(), reprs=reprs,
                     distance=lambda a, b: float(((a - b) ** 2).mean()), n_boot=50)  # fmt: skip
    pairs = 4 * 5 // 2
    assert reprs.calls == 4 + 2 * n * pairs  # anchors once each, every fresh draw once
    # the per-object cache kept all of them: 4 + 2 n pairs = 104; bounded: a pair's draws
    assert reprs.alive_max <= 4 + 2 * n


def test_pool_members_are_represented_once_and_distances_reused() -> None:
    pizzas, clocks = [mlp(s) for s in range(3)], [mlp(s) for s in range(10, 13)]
    reprs = CountingReprs()
    congruity_matrix([*pizzas, *clocks], X, n=6, sampler=Retrained(pizzas, clocks), reprs=reprs,
                     distance=lambda a, b: float(((a - b) ** 2).mean()), n_boot=50)  # fmt: skip
    assert reprs.calls == 6  # every model is an anchor and a pool member: one representation each


def _forward(model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(inputs)


def _l1(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().sum())


def test_the_cache_forgets_dead_models_and_pickles_without_its_entries() -> None:
    cache = _Cache(_forward, X, _l1)
    keep, drop = mlp(0), mlp(1)
    a, b = cache.rep(keep), cache.rep(drop)
    assert cache.rep(keep) is a
    cache.distance(a, b)
    assert cache.size() == (2, 1)
    del drop
    assert cache.size() == (1, 0)
    assert cache.distance(a, b) == cache.distance(a, b)  # still computed, no longer cached
    assert cache.size() == (1, 0)
    clone = pickle.loads(pickle.dumps(cache))
    assert clone.size() == (0, 0) and np.isclose(clone.dist(X, X + 1), X.numel())


def test_models_that_outlive_a_run_do_not_keep_its_cache_alive() -> None:
    model = mlp(0)
    cache = _Cache(_forward, X, _l1)
    cache.rep(model)
    gone = weakref.ref(cache)
    del cache
    gc.collect()
    assert gone() is None
    del model  # the finalizer of a model whose cache is gone does nothing
    gc.collect()
