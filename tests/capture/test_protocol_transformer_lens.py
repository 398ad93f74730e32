"""The model protocol on TransformerLens: hook points of TransformerLens 4's TransformerBridge
here, and the symmetries of TransformerLens 2's HookedTransformer in a subprocess with the
``.venv/tl2`` side install first on the path (as tests/study/test_transformer_lens2.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mechequiv.capture import UnsupportedModelError, hook_points, symmetries
from mechequiv.equivalence import SymmetryTransform
from mechequiv.equivalence.fourier import mechanism_points

TL2 = Path(sys.prefix) / "tl2"
ROOT = Path(__file__).resolve().parents[2]
SIZE = {"d_model": 16, "d_head": 4, "n_layers": 2, "n_ctx": 8, "n_heads": 4, "d_vocab": 11}


def test_transformer_bridge_names_its_hook_points_and_declares_no_symmetries() -> None:
    tl = pytest.importorskip("transformer_lens")
    if not hasattr(tl, "TransformerBridgeConfig"):
        pytest.skip("TransformerLens < 4: no TransformerBridge")
    model = tl.TransformerBridge.boot_native(tl.TransformerBridgeConfig(**SIZE, seed=0))
    with torch.no_grad():
        model(torch.zeros(1, 8, dtype=torch.long))
    assert hook_points(model, "attention") == ["blocks.0.hook_attn_out", "blocks.1.hook_attn_out"]
    assert mechanism_points(model) == [
        "blocks.0.hook_attn_out", "blocks.0.mlp.hook_post",
        "blocks.1.hook_attn_out", "blocks.1.mlp.hook_post",
    ]  # fmt: skip
    with pytest.raises(UnsupportedModelError, match="HookedTransformer"):
        symmetries(model)


def test_hooked_transformer_symmetries_preserve_the_function() -> None:
    """Runs only where HookedTransformer exists (TransformerLens < 4: the subprocess below)."""
    tl = pytest.importorskip("transformer_lens")
    if hasattr(tl, "TransformerBridgeConfig"):  # TL 4 raises on the name HookedTransformer
        pytest.skip("needs TransformerLens 2/3 (HookedTransformer)")
    cfg = tl.HookedTransformerConfig(**SIZE, act_fn="relu", normalization_type=None,
                                     dtype=torch.float64)  # fmt: skip
    torch.manual_seed(0)
    model = tl.HookedTransformer(cfg).eval()
    with torch.no_grad():
        for p in model.parameters():  # TL initialises biases at 0: make every tensor matter
            p.normal_(0.0, 0.3)
    tokens = torch.randint(0, 11, (6, 8), generator=torch.Generator().manual_seed(1))
    new = SymmetryTransform().sample(model, np.random.default_rng(0))
    assert torch.allclose(new(tokens), model(tokens), atol=1e-10)
    for name in ("embed.W_E", "blocks.0.attn.W_Q", "blocks.1.mlp.W_in", "unembed.W_U"):
        assert not torch.allclose(model.get_parameter(name), new.get_parameter(name)), name
    assert hook_points(model, "mlp") == ["blocks.0.mlp.hook_post", "blocks.1.mlp.hook_post"]
    with_ln = tl.HookedTransformer(tl.HookedTransformerConfig(**SIZE, act_fn="relu"))
    with pytest.raises(UnsupportedModelError, match="normalization_type"):
        symmetries(with_ln)


@pytest.mark.slow
def test_hooked_transformer_under_transformer_lens_2() -> None:
    if not (TL2 / "transformer_lens").is_dir():
        pytest.skip(f"no TransformerLens 2 side install at {TL2} (`make test` makes it)")
    path = [str(TL2), *filter(None, [os.environ.get("PYTHONPATH")])]
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", __file__, "-k", "preserve_the_function",
         "-q", "-p", "no:cacheprovider", "-p", "no:xdist"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": os.pathsep.join(path)},
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "1 passed" in out and "skipped" not in out, out[-3000:]
