"""Pizza and Clock networks trained by code that is not mechequiv's zoo (issue 14, point 4).

Written independently of :mod:`mechequiv.zoo` so that the external-validity benchmark tests
Congruity on networks whose layouts, parameter names, initialisations and training loops the
package was not developed on. Every model reads the same stimuli, the token triple
``[a, b, =]`` (``=`` is token ``p``), rows in the order ``a * p + b``, and returns logits over the
``p`` answers at the last position.

Layouts (Zhong et al. 2023's attention rate: 0 = uniform attention, which tends to give Pizzas;
1 = standard softmax attention, which tends to give Clocks; applied as
``rate * softmax + (1 - rate) * causal-uniform``):

- ``tl1``: TransformerLens ``TransformerBridge.boot_native``, 1 layer, ReLU MLP, no LayerNorm;
  the rate is a permanent hook on ``blocks.{i}.attn.hook_pattern``.
- ``tl2``: the same with 2 layers.
- ``tlgelu``: 1 layer, GeLU MLP, with LayerNorm.
- ``sepvocab``: plain torch, separate embedding tables for a and b (and one vector for ``=``),
  hand-written multi-head attention with a fused QKV projection, ReLU MLP.
- ``mlp``: plain torch, no attention: ``E_a[a] + E_b[b]`` into a ReLU MLP (tends to be
  Pizza-like / "non-circular").

Mechanisms are labelled by measurement (gradient symmetricity, distance irrelevance), not by
recipe: see ``bench_external_validity.py``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

LAYOUTS = ("tl1", "tl2", "tlgelu", "sepvocab", "mlp")


@dataclass(frozen=True)
class Recipe:
    """One training recipe: layout, attention rate (ignored by ``mlp``), sizes and schedule."""

    layout: str
    rate: float
    p: int = 23
    d_model: int = 48
    n_heads: int = 4
    d_mlp: int = 128
    steps: int = 1500
    lr: float = 5e-3
    weight_decay: float = 1.0
    train_fraction: float = 0.9
    # Stop early once the held-out split's accuracy reaches this (checked every 100 steps);
    # None trains for ``steps``. A budget reduction for large p, recorded with the model.
    stop_at: float | None = None

    @property
    def name(self) -> str:
        return self.layout if self.layout == "mlp" else f"{self.layout}-rate{self.rate:g}"


def grid_tokens(p: int) -> torch.Tensor:
    """``(p², 3)`` token triples ``[a, b, p]`` in the order ``a * p + b``."""
    a = torch.arange(p).repeat_interleave(p)
    b = torch.arange(p).repeat(p)
    return torch.stack([a, b, torch.full_like(a, p)], dim=1)


def _rate_hook(rate: float):
    def hook(pattern: torch.Tensor, hook=None) -> torch.Tensor:
        t = pattern.shape[-1]
        causal = torch.ones(t, t, dtype=pattern.dtype, device=pattern.device).tril()
        uniform = causal / causal.sum(-1, keepdim=True)
        return rate * pattern + (1.0 - rate) * uniform

    return hook


def _transformer_lens(recipe: Recipe, seed: int) -> nn.Module:
    import transformer_lens as tl

    layers = 2 if recipe.layout == "tl2" else 1
    cfg = tl.TransformerBridgeConfig(
        d_model=recipe.d_model, d_head=recipe.d_model // recipe.n_heads, n_layers=layers,
        n_ctx=3, n_heads=recipe.n_heads, d_vocab=recipe.p + 1, d_vocab_out=recipe.p,
        d_mlp=recipe.d_mlp, seed=seed, act_fn="gelu" if recipe.layout == "tlgelu" else "relu",
        normalization_type="LN" if recipe.layout == "tlgelu" else None,
    )  # fmt: skip
    model = tl.TransformerBridge.boot_native(cfg)
    for i in range(layers):
        model.blocks[i].attn.hook_pattern.add_perma_hook(_rate_hook(recipe.rate))
    return model


class SeparateVocab(nn.Module):
    """One attention layer + ReLU MLP with separate a / b embedding tables (plain torch)."""

    def __init__(self, p: int, d: int, heads: int, d_mlp: int, rate: float) -> None:
        super().__init__()
        self.p, self.heads, self.rate = p, heads, rate
        self.emb_a = nn.Embedding(p, d)
        self.emb_b = nn.Embedding(p, d)
        self.emb_eq = nn.Parameter(torch.randn(d) / math.sqrt(d))
        self.pos = nn.Parameter(torch.randn(3, d) / math.sqrt(d))
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.proj = nn.Linear(d, d, bias=False)
        self.attn_out = nn.Identity()  # hook point: attention output at every position
        self.up = nn.Linear(d, d_mlp)
        self.act = nn.ReLU()
        self.down = nn.Linear(d_mlp, d)
        self.readout = nn.Linear(d, p, bias=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        n = tokens.shape[0]
        x = (
            torch.stack(
                [self.emb_a(tokens[:, 0]), self.emb_b(tokens[:, 1]), self.emb_eq.expand(n, -1)], 1
            )
            + self.pos
        )
        q, k, v = self.qkv(x).view(n, 3, 3, self.heads, -1).unbind(2)  # (n, t, h, dh) each
        scores = torch.einsum("nthd,nshd->nhts", q, k) / math.sqrt(q.shape[-1])
        mask = torch.ones(3, 3, dtype=torch.bool, device=x.device).tril()
        pattern = scores.masked_fill(~mask, float("-inf")).softmax(-1)
        pattern = _rate_hook(self.rate)(pattern)
        z = torch.einsum("nhts,nshd->nthd", pattern, v).reshape(n, 3, -1)
        x = x + self.attn_out(self.proj(z))
        x = x + self.down(self.act(self.up(x)))
        return self.readout(x[:, -1])


class SummedMLP(nn.Module):
    """No attention: ``E_a[a] + E_b[b]`` through one ReLU hidden layer (plain torch)."""

    def __init__(self, p: int, d: int, d_mlp: int) -> None:
        super().__init__()
        self.emb_a = nn.Embedding(p, d)
        self.emb_b = nn.Embedding(p, d)
        self.hidden = nn.Linear(d, d_mlp)
        self.act = nn.ReLU()
        self.out = nn.Linear(d_mlp, p)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.out(self.act(self.hidden(self.emb_a(tokens[:, 0]) + self.emb_b(tokens[:, 1]))))


def build(recipe: Recipe, seed: int) -> nn.Module:
    """An untrained model of the recipe (initialised from ``seed``)."""
    if recipe.layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {recipe.layout!r}")
    torch.manual_seed(seed)
    if recipe.layout.startswith("tl"):
        return _transformer_lens(recipe, seed)
    if recipe.layout == "sepvocab":
        return SeparateVocab(recipe.p, recipe.d_model, recipe.n_heads, recipe.d_mlp, recipe.rate)
    return SummedMLP(recipe.p, recipe.d_model, recipe.d_mlp)


def logits(model: nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    """``(n, p)`` answer logits: the last position of a sequence output."""
    out = model(tokens)
    return out[:, -1] if out.ndim == 3 else out


def split(p: int, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    perm = torch.randperm(p * p, generator=torch.Generator().manual_seed(1000 + seed))
    cut = int(fraction * p * p)
    return perm[:cut], perm[cut:]


def train(recipe: Recipe, seed: int) -> tuple[nn.Module, dict[str, float]]:
    """Full-batch AdamW on cross-entropy over the training split; returns (model, accuracies)."""
    model = build(recipe, seed)
    x = grid_tokens(recipe.p)
    y = (x[:, 0] + x[:, 1]) % recipe.p
    tr, te = split(recipe.p, recipe.train_fraction, seed)
    opt = torch.optim.AdamW(
        model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay, betas=(0.9, 0.98)
    )
    model.train()
    steps_run = 0
    for step in range(recipe.steps):
        loss = nn.functional.cross_entropy(logits(model, x[tr]), y[tr])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        steps_run = step + 1
        if recipe.stop_at is not None and steps_run % 100 == 0:
            with torch.no_grad():
                held = (logits(model, x[te]).argmax(-1) == y[te]).double().mean()
            if float(held) >= recipe.stop_at:
                break
    model.eval()
    with torch.no_grad():
        pred = logits(model, x).argmax(-1)
    acc = {
        "train_accuracy": float((pred[tr] == y[tr]).double().mean()),
        "test_accuracy": float((pred[te] == y[te]).double().mean()),
        "final_loss": float(loss.detach()),
        "steps_run": steps_run,
    }
    return model, acc


def cached(recipe: Recipe, seed: int, cache: Path) -> tuple[nn.Module, dict[str, float]]:
    """Train once; later calls load the safetensors written under ``cache``."""
    import json

    stem = cache / f"p{recipe.p}" / f"{recipe.name}-seed{seed}"
    if stem.with_suffix(".safetensors").exists():
        model = build(recipe, seed)
        model.load_state_dict(load_file(str(stem.with_suffix(".safetensors"))))
        return model.eval(), json.loads(stem.with_suffix(".json").read_text())["accuracy"]
    model, acc = train(recipe, seed)
    stem.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(stem.with_suffix(".safetensors")))
    meta = {"recipe": asdict(recipe), "seed": seed, "accuracy": acc}
    stem.with_suffix(".json").write_text(json.dumps(meta, indent=1))
    return model, acc


def recipes(p: int, steps: int = 1500, stop_at: float | None = None) -> list[Recipe]:
    """Every layout at rates 0 and 1 (the MLP once: it has no attention)."""
    kw = {"p": p, "steps": steps, "stop_at": stop_at}
    out = [Recipe(layout, rate, **kw) for layout in LAYOUTS[:-1] for rate in (0.0, 1.0)]
    return [*out, Recipe("mlp", 0.0, **kw)]


if __name__ == "__main__":
    import argparse
    import time

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--p", type=int, default=23)
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--cache", type=Path, default=Path(__file__).parent / ".cache")
    ap.add_argument("--only", default=None, help="comma-separated recipe names to train")
    ap.add_argument("--seed-start", type=int, default=0, help="first seed (to run in parallel)")
    ap.add_argument("--steps", type=int, default=1500, help="training steps (at most)")
    ap.add_argument(
        "--stop-at",
        type=float,
        default=None,
        help="stop once held-out accuracy reaches this (checked every 100 steps)",
    )
    args = ap.parse_args()
    for r in recipes(args.p, args.steps, args.stop_at):
        if args.only and r.name not in args.only.split(","):
            continue
        for s in range(args.seed_start, args.seed_start + args.seeds):
            t0 = time.perf_counter()
            _, acc = cached(r, s, args.cache)
            print(f"{r.name} seed {s}: {acc} ({time.perf_counter() - t0:.1f}s)", flush=True)
