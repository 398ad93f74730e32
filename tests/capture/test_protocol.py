"""The model protocol: a user's own residual model and bilinear layer work by implementing it,
the built-in adapters answer for the zoo, TransformerLens, Hugging Face and nn.Sequential, and
an unsupported model gets one error naming what is missing."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from mechequiv.capture import (
    Symmetries,
    UnsupportedModelError,
    hook_points,
    register_model,
    symmetries,
)
from mechequiv.capture.blocks import block_points
from mechequiv.capture.protocol import Axis, BilinearUnits, Neurons, Stream
from mechequiv.equivalence import FourierModuleReprs, SymmetryTransform, congruity
from mechequiv.equivalence.fourier import mechanism_points
from mechequiv.errors import MechequivError
from mechequiv.tensorsim import BilinearFactors, tensor_similarity, to_tensor_net
from mechequiv.zoo.models._bilinear import BilinearMLP
from mechequiv.zoo.models._transformer import TokenTransformer


class FusedBilinear(nn.Module):
    """A bilinear layer with its own layout: one (2, hidden, d) parameter for both factors."""

    def __init__(self, d: int, hidden: int) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(2, hidden, d, dtype=torch.double) / d**0.5)
        self.proj = nn.Parameter(torch.randn(d, hidden, dtype=torch.double) / hidden**0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ((x @ self.w[0].T) * (x @ self.w[1].T)) @ self.proj.T

    def bilinear_factors(self) -> BilinearFactors:
        return BilinearFactors(self.w[0], self.w[1], self.proj)


class MyResidualNet(nn.Module):
    """A residual stream of ReLU-MLP and bilinear blocks, names unlike the zoo's, that declares
    its hook points, symmetries and tensor layers."""

    def __init__(self, d_in: int = 5, d: int = 6, hidden: int = 7, d_out: int = 3) -> None:
        super().__init__()
        self.read_in = nn.Linear(d_in, d, bias=False, dtype=torch.double)
        self.up = nn.Linear(d, hidden, dtype=torch.double)
        self.act = nn.ReLU()
        self.down = nn.Linear(hidden, d, dtype=torch.double)
        self.mix = FusedBilinear(d, hidden)
        self.read_out = nn.Linear(d, d_out, dtype=torch.double)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.read_in(x)
        h = h + self.down(self.act(self.up(h)))
        h = h + self.mix(h)
        return self.read_out(h)

    def named_hook_points(self) -> dict[str, list[str]]:
        return {"block": ["down", "mix"], "mlp": ["act"]}

    def exact_symmetries(self) -> Symmetries:
        w = self.mix.w
        stream = Stream((
            Axis(self.read_in.weight, 0), Axis(self.up.weight, 1), Axis(self.down.weight, 0),
            Axis(self.down.bias, 0), Axis(w, 2), Axis(self.mix.proj, 0),
            Axis(self.read_out.weight, 1),
        ))  # fmt: skip
        mlp = Neurons.across(
            [Axis(self.up.weight, 0), Axis(self.up.bias, 0)], [Axis(self.down.weight, 1)], self.act
        )
        # views into the fused parameter: the transform writes through them
        bilinear = BilinearUnits([Axis(w[0], 0)], [Axis(w[1], 0)], [Axis(self.mix.proj, 1)])
        return Symmetries((mlp, bilinear), stream)


class MyBilinearNet(nn.Module):
    """Only linear and bilinear maps, residual blocks, read by tensorsim via tensor_layers()."""

    def __init__(self, d_in: int = 4, d: int = 5, hidden: int = 6, d_out: int = 3) -> None:
        super().__init__()
        self.read_in = nn.Linear(d_in, d, bias=False, dtype=torch.double)
        self.layers = nn.ModuleList(FusedBilinear(d, hidden) for _ in range(2))
        self.read_out = nn.Linear(d, d_out, bias=False, dtype=torch.double)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.read_in(x)
        for layer in self.layers:
            h = h + layer(h)
        return self.read_out(h)

    def tensor_layers(self) -> list[nn.Module | BilinearFactors]:
        blocks = [dataclasses.replace(b.bilinear_factors(), residual=True) for b in self.layers]
        return [self.read_in, *blocks, self.read_out]


X = torch.randn(40, 5, generator=torch.Generator().manual_seed(0), dtype=torch.double)


def test_a_users_residual_model_is_transformed_exactly_through_its_declaration() -> None:
    torch.manual_seed(0)
    model = MyResidualNet().eval()
    new = SymmetryTransform().sample(model, np.random.default_rng(1))
    assert torch.allclose(new(X), model(X), atol=1e-10)
    for name in ("read_in.weight", "up.weight", "mix.w", "mix.proj"):
        before, after = model.get_parameter(name), new.get_parameter(name)
        assert not torch.allclose(before, after), name
    # a transformed copy is indistinguishable from the model under its own symmetry sampler
    assert congruity(model, new, X, n=8, sampler=SymmetryTransform()).score == pytest.approx(1.0)


def test_a_users_hook_points_are_used_by_the_methods() -> None:
    model = MyResidualNet()
    assert hook_points(model, "mlp") == ["act"]
    assert block_points(model) == ["down", "mix"]
    assert mechanism_points(model) == ["act"]
    reprs = FourierModuleReprs(
        5, points=None, encode=lambda a, b: torch.stack([a, b, a, b, a], 1).double()
    )
    assert reprs.modules(model.double(), None).values.shape[0] == 25


def test_a_users_bilinear_model_is_one_tensor_network() -> None:
    torch.manual_seed(1)
    mine = MyBilinearNet()
    x = torch.randn(30, 4, dtype=torch.double)
    np.testing.assert_allclose(to_tensor_net(mine).forward(x), mine(x).detach().numpy(), atol=1e-10)
    # the same weights in the zoo's layout are the same function: similarity exactly 1
    zoo = BilinearMLP(4, 5, 6, 3, n_layers=2).double()
    with torch.no_grad():
        zoo.embed.weight.copy_(mine.read_in.weight)
        zoo.unembed.weight.copy_(mine.read_out.weight)
        for block, layer in zip(zoo.blocks, mine.layers, strict=True):
            block.L.weight.copy_(layer.w[0])
            block.R.weight.copy_(layer.w[1])
            block.D.weight.copy_(layer.proj)
    assert tensor_similarity(mine, zoo) == pytest.approx(1.0, abs=1e-12)


def test_an_unsupported_model_gets_one_error_naming_what_is_missing() -> None:
    model = nn.Module()
    model.blocks = nn.ModuleList([nn.Linear(3, 3)])
    with pytest.raises(
        UnsupportedModelError, match=r"declares no exact symmetries.*exact_symmetries"
    ):
        SymmetryTransform().sample(model, np.random.default_rng(0))
    with pytest.raises(TypeError, match=r"adapters exist for: .*nn\.Sequential MLPs"):
        symmetries(model)
    with pytest.raises(
        MechequivError, match=r"names no 'attention' hook points.*named_hook_points"
    ):
        hook_points(model, "attention")
    with pytest.raises(ValueError, match="unknown hook-point role"):
        hook_points(model, "residual")
    # an adapter refusing says why
    with pytest.raises(UnsupportedModelError, match="LayerNorm"):
        symmetries(TokenTransformer(7, 2, 7, d_model=8, n_heads=2, layer_norm=True))


def test_a_registered_class_answers_for_its_instances() -> None:
    class Wrapped(nn.Module):  # a class one cannot edit
        def __init__(self) -> None:
            super().__init__()
            self.core = nn.Sequential(nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 2)).double()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.core(x)

    register_model(
        Wrapped, points=lambda m: {"mlp": ["core.1"]}, symmetries=lambda m: symmetries(m.core)
    )
    model = Wrapped()
    assert hook_points(model, "mlp") == ["core.1"]
    new = SymmetryTransform().sample(model, np.random.default_rng(0))
    assert torch.allclose(new(X), model(X), atol=1e-12)
    assert not torch.allclose(new.core[0].weight, model.core[0].weight)
    with pytest.raises(TypeError, match=r"nn\.Module subclass"):
        register_model(int, points=lambda m: {})


def test_declarations_are_checked() -> None:
    with pytest.raises(ValueError, match="disagree"):
        Neurons([Axis(torch.zeros(3, 2), 0)], [Axis(torch.zeros(2, 4), 1)])
    with pytest.raises(ValueError, match="out of range"):
        Axis(torch.zeros(3), 1)
    with pytest.raises(ValueError, match="declares nothing"):
        Symmetries()
    with pytest.raises(UnsupportedModelError, match="Softmax"):
        Neurons.across([Axis(torch.zeros(3, 2), 0)], [Axis(torch.zeros(2, 3), 1)], nn.Softmax())


def test_builtin_adapters_name_the_zoo_and_hugging_face_points() -> None:
    zoo = TokenTransformer(7, 2, 7, d_model=8, n_heads=2, n_layers=2)
    assert mechanism_points(zoo) == [
        "blocks.0.attn",
        "blocks.0.mlp.act",
        "blocks.1.attn",
        "blocks.1.mlp.act",
    ]
    assert hook_points(BilinearMLP(3, 4, 5, 2, n_layers=2), "block") == ["blocks.0", "blocks.1"]
    transformers = pytest.importorskip("transformers")
    cfg = transformers.GPT2Config(n_layer=2, n_embd=16, n_head=2, vocab_size=20, n_positions=8)
    gpt2 = transformers.GPT2LMHeadModel(cfg).eval()
    assert hook_points(gpt2, "attention") == ["transformer.h.0.attn[0]", "transformer.h.1.attn[0]"]
    assert hook_points(gpt2, "mlp") == ["transformer.h.0.mlp.act", "transformer.h.1.mlp.act"]
    with pytest.raises(UnsupportedModelError, match="declares no exact symmetries"):
        symmetries(gpt2)
