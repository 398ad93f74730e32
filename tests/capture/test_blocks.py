"""Default hook points of every supported family, tuple-returning blocks, and 4-D activations."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mechequiv.capture import Point, capture
from mechequiv.capture.blocks import block_points, hidden_state_points
from mechequiv.capture.points import as_point
from mechequiv.equivalence import LayerReprs, default_points, hidden_representations
from mechequiv.tokens import pool_tokens

VOCAB, CTX = 13, 6


def _ids(n: int = 5) -> torch.Tensor:
    return torch.randint(0, VOCAB, (n, CTX), generator=torch.Generator().manual_seed(0))


def test_hf_decoder_and_encoder_blocks() -> None:
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    gpt2 = transformers.GPT2LMHeadModel(
        transformers.GPT2Config(n_layer=2, n_embd=8, n_head=2, n_positions=CTX, vocab_size=VOCAB)
    ).eval()
    bert = transformers.BertForMaskedLM(
        transformers.BertConfig(
            num_hidden_layers=3,
            hidden_size=8,
            num_attention_heads=2,
            intermediate_size=16,
            vocab_size=VOCAB,
            max_position_embeddings=CTX,
        )
    ).eval()
    assert default_points(gpt2) == ["transformer.h.0", "transformer.h.1"]
    assert default_points(bert) == [f"bert.encoder.layer.{i}" for i in range(3)]
    x = _ids()
    hs = gpt2(x, output_hidden_states=True).hidden_states
    reps = hidden_representations(bert, x)
    assert reps.shape == (5, 3 * 8)
    # block 0's output is hidden_states[1] (the last entry has the final layer norm applied)
    got = capture(gpt2, x, hidden_state_points(gpt2, x, ["transformer.h.0"]))
    torch.testing.assert_close(next(iter(got.values())), hs[1])


def test_transformer_lens_bridge_hook_points_and_head_activations() -> None:
    tl = pytest.importorskip("transformer_lens")
    if not hasattr(tl, "TransformerBridgeConfig"):  # pragma: no cover - TL < 4
        pytest.skip("TransformerLens < 4")
    size = {"d_model": 16, "d_head": 4, "n_layers": 2, "n_ctx": CTX, "n_heads": 4, "d_vocab": VOCAB}
    model = tl.TransformerBridge.boot_native(tl.TransformerBridgeConfig(**size, seed=0)).eval()
    # the bridge's blocks return tuples; its hook points hold the residual stream
    assert default_points(model) == ["blocks.0.hook_out", "blocks.1.hook_out"]
    x = _ids()
    _, cache = model.run_with_cache(x)
    reps = hidden_representations(model, x)
    want = torch.cat([cache[f"blocks.{i}.hook_resid_post"][:, -1] for i in range(2)], 1)
    torch.testing.assert_close(reps, want.double())
    # 4-D head activations (n, t, heads, d_head): token policies flatten the heads
    z = LayerReprs(["blocks.0.attn.hook_z"], tokens="last")(model, x)
    torch.testing.assert_close(z, cache["blocks.0.attn.hook_z"][:, -1].reshape(5, -1).double())
    mean = LayerReprs(["blocks.0.attn.hook_z"], tokens="mean")(model, x)
    torch.testing.assert_close(mean, cache["blocks.0.attn.hook_z"].mean(1).reshape(5, -1).double())


def test_transformer_encoder_and_module_mlp() -> None:
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
    model = nn.Module()
    model.embed = nn.Embedding(VOCAB, 8)
    model.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
    assert block_points(model) == ["encoder.layers.0", "encoder.layers.1"]

    class MLP(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1, self.act1 = nn.Linear(3, 8), nn.ReLU()
            self.fc2, self.act2 = nn.Linear(8, 8), nn.GELU()
            self.out, self.final = nn.Linear(8, 2), nn.Sigmoid()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.final(self.out(self.act2(self.fc2(self.act1(self.fc1(x))))))

    mlp = MLP()
    assert default_points(mlp) == ["act1", "act2"]  # not the output's sigmoid
    x = torch.randn(7, 3)
    want = torch.cat([mlp.act1(mlp.fc1(x)), mlp.act2(mlp.fc2(mlp.act1(mlp.fc1(x))))], 1)
    torch.testing.assert_close(hidden_representations(mlp, x), want.double())
    with pytest.raises(ValueError, match=r"no default hook points.*--points"):
        block_points(nn.Linear(3, 2))


class _TupleBlock(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.lin(x)
        return h, h.sum(-1)  # (hidden, extras), as transformers 4.x blocks and the bridge do


def test_tuple_blocks_read_at_their_hidden_state() -> None:
    torch.manual_seed(0)
    model = nn.Module()
    model.layers = nn.ModuleList([_TupleBlock(), _TupleBlock()])
    model.forward = lambda x: model.layers[1](model.layers[0](x)[0])[0]  # type: ignore[method-assign]
    x = torch.randn(6, 4)
    points = hidden_state_points(model, x, block_points(model))
    assert points == ["layers.0[0]", "layers.1[0]"]
    assert as_point("layers.0[0]") == Point("layers.0", select=0, name="layers.0[0]")
    assert as_point("m['logits']") == Point("m", select="logits", name="m['logits']")
    acts = capture(model, x, points)
    torch.testing.assert_close(acts["layers.1[0]"], model(x))
    # and a patch through the string point writes the hidden state back into the tuple
    from mechequiv.capture import run_with_patches

    out = run_with_patches(model, x, {"layers.1[0]": torch.zeros_like})
    assert torch.equal(out, torch.zeros_like(out))


def test_pool_tokens_flattens_head_axes() -> None:
    z = torch.randn(3, 5, 2, 4)
    assert torch.equal(pool_tokens(z, "last"), z[:, -1].reshape(3, 8))
    assert pool_tokens(z, "all").shape == (15, 8)
    assert torch.equal(pool_tokens(z, "concat"), z.reshape(3, -1))
    with pytest.raises(ValueError, match=r"\(n, t, d\)"):
        pool_tokens(torch.randn(3, 5), "last")
