"""Tiny models for the capture tests (built here; nothing is downloaded)."""

from __future__ import annotations

import pytest
import torch
from torch import nn


class Block(nn.Module):
    """Pre-LayerNorm transformer block; returns a tensor."""

    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
        self.ln2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))
        self.drop = nn.Dropout(0.5)

    def forward(self, x: torch.Tensor, pad: torch.Tensor | None = None) -> torch.Tensor:
        h = self.ln1(x)
        a, _ = self.attn(h, h, h, key_padding_mask=pad, need_weights=False)
        x = x + self.drop(a)
        return x + self.drop(self.mlp(self.ln2(x)))


class TinyTransformer(nn.Module):
    """Token ids (n, t) [+ attention_mask (n, t)] -> logits (n, t, vocab)."""

    def __init__(self, vocab: int = 11, d: int = 16, heads: int = 2, layers: int = 2) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        self.blocks = nn.ModuleList(Block(d, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d)
        self.unembed = nn.Linear(d, vocab)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        x = self.embed(input_ids)
        pad = None if attention_mask is None else attention_mask == 0
        for block in self.blocks:
            x = block(x, pad)
        return self.unembed(self.ln_f(x))


class Shared(nn.Module):
    """Applies the same layer three times (a shared module) and returns a tuple."""

    def __init__(self) -> None:
        super().__init__()
        self.inp = nn.Linear(3, 4)
        self.layer = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.inp(x)
        for _ in range(3):
            h = torch.tanh(self.layer(h))
        return h, h.sum(-1)


def hook_count(model: nn.Module) -> int:
    """Forward / pre-forward hooks still attached anywhere in ``model``."""
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


@pytest.fixture
def tiny() -> TinyTransformer:
    torch.manual_seed(0)
    return TinyTransformer().eval()


@pytest.fixture
def tokens() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, 11, (9, 6), generator=g)
    mask = torch.ones(9, 6, dtype=torch.long)
    mask[::2, 4:] = 0  # right padding on every other row
    return {"input_ids": ids, "attention_mask": mask}


@pytest.fixture
def mlp() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 3))
