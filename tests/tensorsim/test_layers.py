"""Any bilinear module through the layer protocol (no zoo classes needed)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from mechequiv.errors import MechequivError
from mechequiv.tensorsim import tensor_similarity, to_tensor_net
from mechequiv.tensorsim.layers import BilinearFactors, register_bilinear
from mechequiv.zoo.models._bilinear import Bilinear, BilinearMLP


class FusedGLU(nn.Module):
    """A bilinear MLP written like the literature's: one fused input projection of width 2h
    split into halves, an output projection, and a residual connection (no zoo class)."""

    def __init__(self, d: int, h: int) -> None:
        super().__init__()
        self.w_in = nn.Parameter(torch.randn(2 * h, d, dtype=torch.float64) / d**0.5)
        self.b_in = nn.Parameter(torch.randn(2 * h, dtype=torch.float64) * 0.1)
        self.proj = nn.Linear(h, d, bias=True).double()
        self.h = h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        left, right = (x @ self.w_in.T + self.b_in).chunk(2, dim=-1)
        return x + self.proj(left * right)

    def bilinear_factors(self) -> BilinearFactors:
        h = self.h
        return BilinearFactors(
            left=self.w_in[:h], right=self.w_in[h:], down=self.proj.weight,
            left_bias=self.b_in[:h], right_bias=self.b_in[h:], down_bias=self.proj.bias,
            residual=True,
        )  # fmt: skip


class TheirBlock(nn.Module):
    """A third-party layer we cannot edit: weights as one (3, h, d) tensor, output scaled."""

    def __init__(self, d: int, h: int) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(3, h, d, dtype=torch.float64) / d**0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * x + ((x @ self.w[0].T) * (x @ self.w[1].T)) @ self.w[2]


register_bilinear(
    TheirBlock,
    lambda m: BilinearFactors(m.w[0], m.w[1], m.w[2].T, residual=True, skip_scale=0.5),
)


def _user_model(seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(5, 4, bias=False).double(), FusedGLU(4, 6), TheirBlock(4, 3),
        nn.Linear(4, 2).double(),
    )  # fmt: skip


def test_user_layers_are_read_exactly():
    m = _user_model(0)
    x = torch.randn(6, 5, dtype=torch.float64)
    net = to_tensor_net(m)
    assert net.n_bilinear == 2
    np.testing.assert_allclose(net.forward(x.numpy()), m(x).detach().numpy(), rtol=1e-10)
    assert tensor_similarity(m, m) == pytest.approx(1.0, abs=1e-12)
    assert tensor_similarity(m, _user_model(1), symmetrize="layer") < 0.99
    # Layers given as a plain list, in order, read the same.
    assert tensor_similarity(list(m), m) == pytest.approx(1.0, abs=1e-12)


def test_a_user_layer_matches_the_zoo_model_it_equals():
    torch.manual_seed(3)
    zoo = BilinearMLP(5, 4, 6, 2, n_layers=1, residual=True, bias=True).double()
    glu = FusedGLU(4, 6)
    with torch.no_grad():
        b = zoo.blocks[0]
        glu.w_in.copy_(torch.cat([b.L.weight, b.R.weight]))
        glu.b_in.copy_(torch.cat([b.L.bias, b.R.bias]))
        glu.proj.load_state_dict(b.D.state_dict())
    user = nn.Sequential(zoo.embed, glu, zoo.unembed)
    x = torch.randn(3, 5, dtype=torch.float64)
    torch.testing.assert_close(user(x), zoo(x))
    r = tensor_similarity(user, zoo, details=True)
    assert r.similarity == pytest.approx(1.0, abs=1e-12)
    assert r.skip_share_a == pytest.approx(r.skip_share_b, rel=1e-12) and r.skip_share_a > 0


def test_protocol_errors_are_clear():
    class Bad(nn.Module):
        def bilinear_factors(self):
            return (torch.zeros(2, 3),) * 3

    with pytest.raises(TypeError, match="returned tuple, not BilinearFactors"):
        to_tensor_net(nn.Sequential(Bad()))
    with pytest.raises(ValueError, match="bilinear factors disagree"):
        BilinearFactors(torch.zeros(4, 3), torch.zeros(5, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="residual bilinear layer needs d_out == d_in"):
        BilinearFactors(torch.zeros(4, 3), torch.zeros(4, 3), torch.zeros(2, 4), residual=True)
    with pytest.raises(ValueError, match="left_bias must have shape"):
        BilinearFactors(torch.zeros(4, 3), torch.zeros(4, 3), torch.zeros(2, 4), torch.zeros(3))
    with pytest.raises(TypeError, match="must be a 2-d tensor"):
        BilinearFactors(np.zeros((4, 3)), torch.zeros(4, 3), torch.zeros(2, 4))
    with pytest.raises(TypeError, match=r"nn\.Module subclass"):
        register_bilinear(int, lambda m: None)
    # A module with neither protocol nor reader is refused by name, with the way out.
    with pytest.raises(MechequivError, match=r"1 \(GELU\) is not tensor-based.*bilinear_factors"):
        to_tensor_net(nn.Sequential(Bilinear(3, 4, 3), nn.GELU()))
