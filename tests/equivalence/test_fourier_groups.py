"""The Fourier quotient on any finite abelian group Z_{n_1} x ... x Z_{n_k}, and on models that
are not the zoo's (hook names, separate vocabularies, an input encoding)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torch import nn

from mechequiv import measures
from mechequiv._fourier import CyclicProduct
from mechequiv.equivalence import FourierModuleReprs, LayerReprs


class OneHotNet(nn.Module):
    """(a, b) flat element indices -> one-hot [e_a; e_b] -> ReLU layer ``act`` (random weights)."""

    def __init__(self, n: int, width: int, seed: int) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.n = n
        self.lin = nn.Linear(2 * n, width).double()
        self.act = nn.ReLU()

    def forward(self, ab: torch.Tensor) -> torch.Tensor:
        x = torch.cat([nn.functional.one_hot(ab[:, i], self.n) for i in (0, 1)], 1).double()
        return self.act(self.lin(x))


def relabelled(net: OneHotNet, phi: np.ndarray) -> OneHotNet:
    """h'(a, b) = h(phi(a), phi(b)): the same network read through a group automorphism."""
    out = OneHotNet(net.n, net.lin.out_features, 0)
    idx = torch.as_tensor(np.concatenate([phi, phi + net.n]))
    with torch.no_grad():
        out.lin.weight.copy_(net.lin.weight[:, idx])
        out.lin.bias.copy_(net.lin.bias)
    return out


def automorphism(g: CyclicProduct, fn) -> np.ndarray:
    """The flat-index table of ``fn`` on coordinates, checked to be a bijective homomorphism."""
    coords = g.coordinates(np.arange(g.size))
    table = g.index(np.array([fn(*c) for c in coords]))
    assert sorted(table) == list(range(g.size))
    for x, y in itertools.product(range(g.size), repeat=2):
        s = g.index(coords[x] + coords[y])
        assert table[s] == g.index(g.coordinates(table[x]) + g.coordinates(table[y]))
    return table


def grid_pairs(g: CyclicProduct) -> torch.Tensor:
    return torch.from_numpy(np.stack(g.grid(), 1))


CASES = {
    "Z_13, a -> 5a": ((13,), lambda x: (5 * x,)),
    "Z_4 x Z_6, mixing": ((4, 6), lambda x, y: (3 * (x + 2 * y), 5 * y + 3 * x)),
    "Z_5 x Z_5, shear and swap": ((5, 5), lambda x, y: (y, x + 2 * y)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_copy_relabelled_by_an_automorphism_is_at_distance_zero_in_the_quotient(case):
    orders, fn = CASES[case]
    g = CyclicProduct(orders)
    phi = automorphism(g, fn)
    net = OneHotNet(g.size, 12, seed=1).eval()
    other = relabelled(net, phi)
    x = grid_pairs(g)
    with torch.no_grad():  # the copy is the original read through phi
        moved = torch.from_numpy(np.stack([phi[x[:, 0]], phi[x[:, 1]]], 1))
        torch.testing.assert_close(other(x), net(moved))
    reprs = FourierModuleReprs(orders, points=["act"], coverage=1.0)
    ra, rb = reprs(net, x), reprs(other, x)
    assert ra.shape == rb.shape == (g.exponent**2, ra.shape[1])
    assert measures.repr_distance(ra, rb) < 1e-6
    raw = LayerReprs(["act"])
    assert measures.repr_distance(raw(net, x), raw(other, x)) > 0.1
    # and the quotient still tells two different networks apart
    third = reprs(OneHotNet(g.size, 12, seed=2).eval(), x)
    assert measures.repr_distance(ra, third) > 0.05


def test_transform_matches_the_character_sum():
    g = CyclicProduct((2, 3))
    h = np.random.default_rng(0).normal(size=(g.size**2, 2))
    f = g.dft2(h)
    coords = g.coordinates(np.arange(g.size))
    a, b = g.grid()

    def chi(k: int, x: np.ndarray) -> np.ndarray:
        return np.exp(2j * np.pi * (coords[x] * coords[k] / np.array(g.orders)).sum(-1))

    for k1, k2 in itertools.product(range(g.size), repeat=2):
        brute = (h * np.conj(chi(k1, a) * chi(k2, b))[:, None]).sum(0)
        np.testing.assert_allclose(f[k1, k2], brute, atol=1e-10)


def test_group_helpers():
    g = CyclicProduct((4, 6))
    assert g.size == 24 and g.exponent == 12
    assert g.order(int(g.index(np.array([2, 0])))) == 2
    assert g.order(int(g.index(np.array([1, 2])))) == 12  # lcm(4, 3)
    assert g.order(int(g.index(np.array([2, 3])))) == 2
    assert g.multiple(int(g.index(np.array([1, 1]))), -1) == int(g.index(np.array([3, 5])))
    # an order-2 character has the distinct multipliers {0, 1} only (-1 = 1 mod 2)
    assert sorted(g.harmonics(int(g.index(np.array([2, 0]))), 1) % 2) == [0, 1]
    assert list(CyclicProduct((7,)).harmonics(3, 2)) == [-2, -1, 0, 1, 2]
    reps = g.module_classes()
    assert len(reps) == len({frozenset({k, g.multiple(k, -1)}) for k in range(1, 24)})
    with pytest.raises(TypeError, match="group"):
        CyclicProduct.of("Z5")


class SeparateVocab(nn.Module):
    """A layout mechequiv does not know: separate a / b tables, an MLP, hook point ``hidden``."""

    def __init__(self, p: int) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.ea, self.eb = nn.Embedding(p, 8), nn.Embedding(p, 8)
        self.up, self.hidden = nn.Linear(8, 16), nn.ReLU()

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.hidden(self.up(self.ea(a) + self.eb(b)))


def test_an_encoding_reads_models_with_other_input_layouts():
    p = 7
    model = SeparateVocab(p).eval()
    reprs = FourierModuleReprs(p, points=["hidden"], encode=lambda a, b: (a, b), coverage=1.0)
    found = reprs.modules(model, None)
    r = found.values
    assert r.shape[0] == p * p and found.frequencies == (1, 2, 3)
    # the same model behind a token interface, read on the same grid, gives the same quotient
    tokens = FourierModuleReprs(p, points=lambda m: ["inner.hidden"], coverage=1.0)

    class Tokens(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = model

        def forward(self, t: torch.Tensor) -> torch.Tensor:
            return self.inner(t[:, 0], t[:, 1])

    grid = torch.from_numpy(np.stack(CyclicProduct((p,)).grid(), 1))
    torch.testing.assert_close(tokens(Tokens(), grid), r)


def test_transformer_lens_models_are_read_by_hook_name():
    tl = pytest.importorskip("transformer_lens")
    if not hasattr(tl, "TransformerBridgeConfig"):  # pragma: no cover - TL < 4
        pytest.skip("TransformerLens 4 bridge")
    p = 7
    cfg = tl.TransformerBridgeConfig(
        d_model=16, d_head=4, n_layers=1, n_ctx=3, n_heads=4, d_vocab=p + 1, d_vocab_out=p,
        d_mlp=32, seed=0, act_fn="relu", normalization_type="LN",
    )  # fmt: skip
    model = tl.TransformerBridge.boot_native(cfg).eval()
    from mechequiv.equivalence.fourier import mechanism_points

    assert mechanism_points(model) == ["blocks.0.hook_attn_out", "blocks.0.mlp.hook_post"]

    def encode(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.stack([a, b, torch.full_like(a, p)], 1)

    r = FourierModuleReprs(p, encode=encode)(model)
    with torch.no_grad():
        _, cache = model.run_with_cache(
            encode(*(torch.from_numpy(v) for v in CyclicProduct((p,)).grid()))
        )
    raw = torch.cat([cache[k][:, -1] for k in mechanism_points(model)], 1).double()
    torch.testing.assert_close(r, FourierModuleReprs(p).quotient(raw))
