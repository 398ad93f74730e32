"""Capture overhead against a plain forward pass, and the activation store's write/read speed.

1. Two small transformers in eval mode under ``no_grad``: a plain pre-LayerNorm transformer
   written with ``nn.MultiheadAttention`` + MLP blocks ("pre-LN"), and
   ``torch.nn.TransformerEncoder`` ("torch encoder"). The median time of a plain batched forward
   pass over all inputs, against ``capture`` of every layer's output (full sequences and
   mean-pooled), ``run_with_patches`` with an identity patch on every layer, and
   ``capture_to_store`` of every layer. Ratios are against the plain forward pass over the same
   batches. Note: PyTorch turns off the fused inference path of ``TransformerEncoderLayer``
   whenever a forward hook is attached to it (any hook-based tool pays this), so for the torch
   encoder the table also times a plain forward with a no-op hook on every layer; the difference
   between that row and the capture rows is mechequiv's own cost.
2. The zarr store alone: write ``rows x width`` float32 through ``StoreWriter`` in batches, then
   read it back with ``StoredArray.batches`` and ``paired_batches``; MB/s (1 MB = 1e6 bytes).

Usage: python benchmarks/bench_capture.py [--quick] [--repeats 5] [--threads 1]
Prints tables of medians; writes benchmarks/results/capture.json.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from _timing import interleaved_medians
from mechequiv._io import atomic_write_json
from mechequiv.capture import (
    StoreWriter,
    capture,
    capture_to_store,
    open_store,
    paired_batches,
    run_with_patches,
)


class PreLNBlock(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, 4, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.ln1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.ln2(x))


def small_transformer(kind: str, d: int, layers: int) -> nn.Module:
    torch.manual_seed(0)
    if kind == "pre-LN":
        return nn.Sequential(*(PreLNBlock(d) for _ in range(layers))).eval()
    layer = nn.TransformerEncoderLayer(d, 4, 4 * d, dropout=0.0, batch_first=True)
    return nn.TransformerEncoder(layer, layers, enable_nested_tensor=False).eval()


def bench_capture(args: argparse.Namespace, tmp: Path, kind: str) -> list[dict]:
    model = small_transformer(kind, args.d, args.layers)
    x = torch.randn(args.n, args.t, args.d, generator=torch.Generator().manual_seed(0))
    points = [
        n
        for n, m in model.named_modules()
        if isinstance(m, (PreLNBlock, nn.TransformerEncoderLayer))
    ]
    bs = args.batch_size

    def plain() -> None:
        with torch.no_grad():
            for lo in range(0, args.n, bs):
                model(x[lo : lo + bs])

    def plain_noop_hooks() -> None:
        mods = dict(model.named_modules())
        handles = [mods[p].register_forward_hook(lambda *a: None) for p in points]
        try:
            plain()
        finally:
            for h in handles:
                h.remove()

    store_dir = tmp / "acts"

    def to_store() -> None:
        capture_to_store(model, x, points, store_dir, batch_size=bs, overwrite=True)

    cases = {
        "plain forward": plain,
        **({"plain forward + no-op hooks": plain_noop_hooks} if kind != "pre-LN" else {}),
        "capture (all layers, full)": lambda: capture(model, x, points, batch_size=bs),
        "capture (all layers, mean)": lambda: capture(
            model, x, points, batch_size=bs, tokens="mean"
        ),
        "capture (last layer, last)": lambda: capture(
            model, x, points[-1:], batch_size=bs, tokens="last"
        ),
        "run_with_patches (identity)": lambda: run_with_patches(
            model, x, {p: (lambda a: a) for p in points}, batch_size=bs
        ),
        "capture_to_store (all, full)": to_store,
    }
    act_mb = args.n * args.t * args.d * 4 * args.layers / 1e6
    medians = interleaved_medians(cases, args.repeats)
    base = medians["plain forward"]
    rows = [
        {"model": kind, "case": name, "median_s": round(t, 4), "ratio": round(t / base, 3)}
        for name, t in medians.items()
    ]
    print(
        f"\nCapture vs plain forward: {kind} transformer d={args.d}, {args.layers} layers, "
        f"n={args.n}, t={args.t}, batch {bs}; {act_mb:.0f} MB of activations (all layers)"
    )
    print_rows(rows, ["case", "median_s", "ratio"])
    return rows


def bench_store(args: argparse.Namespace, tmp: Path) -> list[dict]:
    rng = np.random.default_rng(0)
    rows_n, width, bs = args.store_rows, args.store_width, args.store_batch
    data = rng.standard_normal((rows_n, width), dtype=np.float32)
    mb = data.nbytes / 1e6
    path = tmp / "store"

    def write() -> None:
        with StoreWriter(path, {"bench": 1}, overwrite=True) as w:
            for lo in range(0, rows_n, bs):
                w.append({"x": data[lo : lo + bs], "y": data[lo : lo + bs]}, lo + bs)

    write()
    store = open_store(path)
    assert np.array_equal(store["x"].read(0, 5), data[:5])
    cases = {
        "write x+y (StoreWriter)": write,
        "read x (batches)": lambda: sum(len(b) for b in store["x"].batches(bs)),
        "read x+y (paired_batches)": lambda: sum(
            len(a) for a, _ in paired_batches(store["x"], store["y"], bs)
        ),
        "np.save x (reference)": lambda: np.save(tmp / "plain.npy", data),
    }
    sizes = [2 * mb, mb, 2 * mb, mb]
    medians = interleaved_medians(cases, args.repeats)
    out = [
        {"case": name, "MB": round(size), "median_s": t}
        for (name, t), size in zip(medians.items(), sizes, strict=True)
    ]
    for r in out:
        r["MB_per_s"] = round(r["MB"] / r["median_s"])
        r["median_s"] = round(r["median_s"], 4)
    print(f"\nStore: {rows_n} x {width} float32 per array, batches of {bs} rows, chunk = batch")
    print_rows(out, ["case", "MB", "median_s", "MB_per_s"])
    return out


def print_rows(rows: list[dict], columns: list[str]) -> None:
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in columns}
    print("| " + " | ".join(c.ljust(widths[c]) for c in columns) + " |")
    print("|" + "|".join("-" * (widths[c] + 2) for c in columns) + "|")
    for r in rows:
        print("| " + " | ".join(str(r[c]).ljust(widths[c]) for c in columns) + " |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--n", type=int, default=512)
    p.add_argument("--t", type=int, default=64)
    p.add_argument("--d", type=int, default=128)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--store-rows", type=int, default=50_000)
    p.add_argument("--store-width", type=int, default=1024)
    p.add_argument("--store-batch", type=int, default=2_000)
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "capture.json")
    args = p.parse_args()
    if args.quick:
        args.n, args.t, args.d, args.repeats = 64, 16, 32, 3
        args.store_rows, args.store_width = 4_000, 256
    torch.set_num_threads(args.threads)
    tmp = Path(tempfile.mkdtemp(prefix="bench_capture_"))
    try:
        cap = bench_capture(args, tmp, "pre-LN") + bench_capture(args, tmp, "torch encoder")
        store = bench_store(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    settings = {k: v for k, v in vars(args).items() if k != "out"}
    env = {"torch": torch.__version__, "python": platform.python_version(), "threads": args.threads}
    atomic_write_json(args.out, {"settings": settings, "env": env, "capture": cap, "store": store})
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
