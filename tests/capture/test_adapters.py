"""Adapters on tiny models built here (no downloads); each skips if its library is missing."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mechequiv.capture import Point, capture, capture_to_store, run_with_patches
from mechequiv.capture.adapters import (
    HiddenStatesAdapter,
    NNsightAdapter,
    TransformerLensAdapter,
)
from mechequiv.tokens import pool_tokens

from .conftest import TinyTransformer, hook_count


def tiny_transformer_lens() -> nn.Module:
    """A 2-layer TransformerLens model: TransformerBridge (TL 4) or HookedTransformer (TL 2/3)."""
    tl = pytest.importorskip("transformer_lens")
    torch.manual_seed(0)
    size = {"d_model": 16, "d_head": 4, "n_layers": 2, "n_ctx": 8, "n_heads": 4, "d_vocab": 11}
    if hasattr(tl, "TransformerBridgeConfig"):
        model = tl.TransformerBridge.boot_native(tl.TransformerBridgeConfig(**size, seed=0))
    else:  # pragma: no cover - TL < 4
        model = tl.HookedTransformer(tl.HookedTransformerConfig(**size, act_fn="relu"))
    with torch.no_grad():  # the bridge wires hooks of its own on its first forward pass
        model(torch.zeros(1, 8, dtype=torch.long))
    return model.eval()


def test_transformer_lens_capture_matches_run_with_cache() -> None:
    model = tiny_transformer_lens()
    toks = torch.randint(0, 11, (5, 8), generator=torch.Generator().manual_seed(0))
    own_hooks = hook_count(model)  # the model's own hooks stay; ours must go
    names = ["blocks.0.hook_resid_post", "blocks.1.attn.hook_pattern"]
    got = capture(TransformerLensAdapter(model), toks, names, batch_size=2)
    with torch.no_grad():
        _, cache = model.run_with_cache(toks)
    for name in names:
        torch.testing.assert_close(got[name], cache[name], rtol=1e-5, atol=1e-6)
    assert got["blocks.1.attn.hook_pattern"].shape == (5, 4, 8, 8)
    last = capture(TransformerLensAdapter(model), toks, names[:1], tokens="last")[names[0]]
    torch.testing.assert_close(last, cache[names[0]][:, -1])
    assert hook_count(model) == own_hooks


def test_transformer_lens_patching_matches_run_with_hooks() -> None:
    model = tiny_transformer_lens()
    toks = torch.randint(0, 11, (4, 8), generator=torch.Generator().manual_seed(1))
    own_hooks = hook_count(model)
    name = "blocks.0.hook_resid_post"
    out = run_with_patches(TransformerLensAdapter(model), toks, {name: lambda a: 0.5 * a})
    with torch.no_grad():
        ref = model.run_with_hooks(toks, fwd_hooks=[(name, lambda a, hook: 0.5 * a)])
        clean = model(toks)
    torch.testing.assert_close(out, ref)
    assert not torch.allclose(out, clean)
    # Patch and capture in one pass: the cache downstream sees the patched stream.
    both = capture(TransformerLensAdapter(model), toks, [name], patches={name: torch.zeros_like})
    assert bool((both[name] == 0).all())
    assert hook_count(model) == own_hooks


def test_transformer_lens_hooked_root_module_and_errors() -> None:
    tl = pytest.importorskip("transformer_lens")
    from transformer_lens.hook_points import HookPoint

    try:  # TransformerLens 4 moved it
        from transformer_lens import HookedRootModule
    except ImportError:  # pragma: no cover - TL < 4
        HookedRootModule = tl.hook_points.HookedRootModule

    class Toy(HookedRootModule):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(3, 3)
            self.hook_pre = HookPoint()
            self.hook_post = HookPoint()
            self.setup()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.hook_post(torch.relu(self.lin(self.hook_pre(x))))

    toy = Toy()
    x = torch.randn(4, 3)
    got = capture(TransformerLensAdapter(toy), x, ["hook_pre", "hook_post"])
    torch.testing.assert_close(got["hook_pre"], x)
    torch.testing.assert_close(got["hook_post"], toy(x).detach())
    with pytest.raises(ValueError, match=r"no hook point named 'hook_psot'.*'hook_post'"):
        capture(TransformerLensAdapter(toy), x, ["hook_psot"])
    with pytest.raises(TypeError, match="hook names"):
        capture(TransformerLensAdapter(toy), x, [Point("hook_pre", select=0)])
    with pytest.raises(TypeError, match="hook_dict and run_with_cache"):
        TransformerLensAdapter(nn.Linear(2, 2))
    assert hook_count(toy) == 0


def tiny_gpt2() -> nn.Module:
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(
        n_layer=2,
        n_embd=32,
        n_head=4,
        vocab_size=50,
        n_positions=16,
        bos_token_id=0,
        eos_token_id=0,
    )
    model = transformers.GPT2LMHeadModel(cfg).eval()
    with torch.no_grad():  # transformers wires hooks of its own when first asked for states
        model(torch.zeros(1, 8, dtype=torch.long), output_hidden_states=True)
    return model


def gpt2_inputs() -> dict:
    ids = torch.randint(0, 50, (6, 8), generator=torch.Generator().manual_seed(0))
    mask = torch.ones(6, 8, dtype=torch.long)
    mask[:3, 5:] = 0
    return {"input_ids": ids, "attention_mask": mask, "use_cache": False}


def test_hf_hidden_states_match_transformers() -> None:
    model = tiny_gpt2()
    own_hooks = hook_count(model)
    inputs = gpt2_inputs()
    got = capture(HiddenStatesAdapter(model), inputs, [0, 1, -1], batch_size=4)
    with torch.no_grad():
        ref = model(**inputs, output_hidden_states=True).hidden_states
    assert len(ref) == 3
    for i in (0, 1, -1):
        torch.testing.assert_close(got[i], ref[i], rtol=1e-5, atol=1e-5)
    asked = {**inputs, "output_hidden_states": False}  # the adapter's request wins
    pooled = capture(HiddenStatesAdapter(model), asked, [1], tokens="mean")[1]
    torch.testing.assert_close(pooled, pool_tokens(ref[1], "mean", inputs["attention_mask"]))
    with pytest.raises(ValueError, match=r"layer indices \[3\] out of range.*3 hidden states"):
        capture(HiddenStatesAdapter(model), inputs, [3])
    with pytest.raises(TypeError, match="layer indices"):
        capture(HiddenStatesAdapter(model), inputs, ["transformer.h.0"])
    assert hook_count(model) == own_hooks


def test_hf_module_points_and_patching() -> None:
    model = tiny_gpt2()
    own_hooks = hook_count(model)
    inputs = gpt2_inputs()
    mlp = capture(model, inputs, ["transformer.h.1.mlp"], batch_size=4)["transformer.h.1.mlp"]
    assert mlp.shape == (6, 8, 32)
    # GPT-2's lm_head has no bias: zeroing the final layer norm's output zeroes the logits.
    out = run_with_patches(model, inputs, {"transformer.ln_f": torch.zeros_like}, batch_size=4)
    assert out.logits.shape == (6, 8, 50)
    assert bool((out.logits == 0).all())
    assert hook_count(model) == own_hooks


def test_nnsight_matches_plain_hooks(tmp_path) -> None:
    nnsight = pytest.importorskip("nnsight")
    torch.manual_seed(0)
    model = TinyTransformer().eval()
    ids = torch.randint(0, 11, (7, 5), generator=torch.Generator().manual_seed(0))
    # Deliberately out of execution order: the adapter must reorder for nnsight.
    points = ["blocks.1.mlp", "blocks.0", Point("blocks.1.mlp.2", output="input", name="pre")]
    wrapped = NNsightAdapter(nnsight.NNsight(model))
    got = capture(wrapped, ids, points, batch_size=3)
    ref = capture(model, ids, points, batch_size=3)
    for p in points:
        torch.testing.assert_close(got[p], ref[p])
    store = capture_to_store(wrapped, ids, points[:2], tmp_path / "s", batch_size=3)
    torch.testing.assert_close(store["blocks.0"].read(as_torch=True), ref["blocks.0"])
    with pytest.raises(TypeError, match="repeated calls"):
        capture(wrapped, ids, [Point("blocks.0", call=0)])
    with pytest.raises(TypeError, match=r"nnsight\.NNsight"):
        NNsightAdapter(model)
    assert hook_count(model) == 0
