"""Tiny models of every family `compare` loads, built and saved in the test (no downloads)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

VOCAB, CTX = 13, 6


def tokens(n: int = 24, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, VOCAB, (n, CTX), generator=torch.Generator().manual_seed(seed))


def save_gpt2(folder: Path, seed: int = 0) -> nn.Module:
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(seed)
    cfg = transformers.GPT2Config(
        n_layer=2, n_embd=16, n_head=2, n_positions=CTX, vocab_size=VOCAB,
        bos_token_id=0, eos_token_id=0,
    )  # fmt: skip
    model = transformers.GPT2LMHeadModel(cfg).eval()
    model.save_pretrained(folder)
    return model


def save_bert(folder: Path, seed: int = 0, head: str = "BertForMaskedLM") -> nn.Module:
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(seed)
    cfg = transformers.BertConfig(
        num_hidden_layers=2, hidden_size=16, num_attention_heads=2, intermediate_size=32,
        vocab_size=VOCAB, max_position_embeddings=CTX, pad_token_id=0, num_labels=3,
    )  # fmt: skip
    model = getattr(transformers, head)(cfg).eval()
    model.save_pretrained(folder)
    return model


TL_SIZE = {"d_model": 16, "d_head": 4, "n_layers": 2, "n_ctx": CTX, "n_heads": 4, "d_vocab": VOCAB,
           "d_mlp": 32, "act_fn": "gelu"}  # fmt: skip


def save_transformer_lens(folder: Path, seed: int = 0) -> nn.Module:
    """A TransformerLens 4 native bridge saved as its cfg JSON + safetensors state dict."""
    tl = pytest.importorskip("transformer_lens")
    if not hasattr(tl, "TransformerBridgeConfig"):  # pragma: no cover - TL < 4
        pytest.skip("TransformerLens < 4")
    from safetensors.torch import save_file

    model = tl.TransformerBridge.boot_native(tl.TransformerBridgeConfig(**TL_SIZE, seed=seed))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(model.cfg.to_dict(), default=str))
    save_file(
        {k: v.contiguous() for k, v in model.state_dict().items()}, folder / "model.safetensors"
    )
    return model.eval()


def hooked_transformer_available() -> bool:
    """Whether TransformerLens 2/3's HookedTransformer is importable (TransformerLens 4 removed it)."""
    try:
        from transformer_lens import HookedTransformer  # noqa: F401
    except ImportError:
        return False
    return True


def save_hooked_transformer(folder: Path, seed: int = 0) -> nn.Module:
    """A TransformerLens 2/3 HookedTransformer saved as its cfg JSON + safetensors state dict."""
    if not hooked_transformer_available():
        pytest.skip("HookedTransformer needs TransformerLens < 4")
    from safetensors.torch import save_file
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    model = HookedTransformer(HookedTransformerConfig(**TL_SIZE, seed=seed))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(model.cfg.to_dict(), default=str))
    save_file(
        {k: v.contiguous() for k, v in model.state_dict().items()}, folder / "model.safetensors"
    )
    return model.eval()


class EncoderClassifier(nn.Module):
    """A user's own nn.TransformerEncoder model over token ids."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB, 16)
        layer = nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(16, 3)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(self.embed(ids))[:, -1])


def encoder_classifier(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return EncoderClassifier().eval()


def bad_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """Broken model files of every kind, with the message each must get."""
    save_gpt2(tmp_path / "trunc")
    weights = tmp_path / "trunc" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:300])
    save_gpt2(tmp_path / "badjson")
    (tmp_path / "badjson" / "config.json").write_text("{not json")
    save_gpt2(tmp_path / "shape")
    cfg = json.loads((tmp_path / "shape" / "config.json").read_text())
    (tmp_path / "shape" / "config.json").write_text(json.dumps({**cfg, "n_embd": 32}))
    save_transformer_lens(tmp_path / "tlshape")
    cfg = json.loads((tmp_path / "tlshape" / "config.json").read_text())
    (tmp_path / "tlshape" / "config.json").write_text(json.dumps({**cfg, "d_mlp": 64}))
    (tmp_path / "lonely.safetensors").write_bytes(weights.read_bytes())
    (tmp_path / "corrupt.pt").write_bytes(b"\x80\x02garbage")
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "config.json").write_text('{"hidden": 3}')
    return {
        "truncated model.safetensors": (tmp_path / "trunc", "cannot load the Hugging Face"),
        "invalid config.json": (tmp_path / "badjson", "invalid config"),
        "wrong shapes (HF)": (tmp_path / "shape", "do not fit"),
        "wrong shapes (TransformerLens)": (tmp_path / "tlshape", "does not fit"),
        "weights without config": (tmp_path / "lonely.safetensors", "without an architecture"),
        "corrupt .pt": (tmp_path / "corrupt.pt", "cannot read"),
        "unknown config": (tmp_path / "odd", "not a config mechequiv knows"),
    }
