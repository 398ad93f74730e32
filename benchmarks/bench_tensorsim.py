"""Tensor similarity: the Gram recursion against brute-force expansion, and its growth in width
and depth.

* expansion: tiny BilinearMLPs whose dense tensors fit (``expand`` + Frobenius inner product,
  symmetrize="layer" both ways, so the two compute the same number; checked);
* width: a two-layer residual BilinearMLP (input 784, residual stream ``--d-model``, output 10)
  with hidden width 64 .. 2048, symmetrize="layer" (the same-function forms need ~10^12
  multiply-adds at d_model 128, see bench_tensorsim_exact.py); target: hidden width 1024 in
  < 0.5 s of CPU time;
* depth: 1 .. 16 bilinear layers at hidden width 512 (symmetrize="layer");
* full: the closed-form fully symmetrised inner product (two bilinear layers) vs the recursion;
* gaussian: the exact Gaussian form (x ~ N(mu, Sigma)) at depth 1, 2, 3 against the brute-force
  polynomial coefficients (mechequiv.tensorsim.dense), a tensor Gauss-Hermite rule with
  2^depth + 1 nodes per coordinate (exact for these degrees) and, for scale, Monte Carlo with
  10^5 samples; values, largest differences, times and ratios;
* exact two-layer scaling: the default "full" and the Gaussian form at residual width 16 / 32
  and hidden width 32 .. 256 (cost ~ h^2 n^3);
* attention: a polynomial-attention sequence model at n_ctx 2, 4, 8.

One ``tensor_similarity`` call = three recursions (a-b, a-a, b-b); ``similarity_over_training``
reuses the self-recursions, so a checkpoint pair then costs about a third.

Wall-clock medians and, for width and depth, process CPU-time medians (one thread).

Usage: python benchmarks/bench_tensorsim.py [--repeats 3] [--d-model 128] [--threads 1]
       [--sections full_symmetric,gaussian,exact_two_layer]
Prints tables with medians and ratios; writes benchmarks/results/tensorsim.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from _timing import median_time, print_table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.tensorsim.reference import cubature as gauss_hermite

from mechequiv._io import atomic_write_json
from mechequiv.errors import MechequivError
from mechequiv.tensorsim import (
    PolynomialAttention,
    tensor_inner,
    tensor_similarity,
    to_seq_net,
    to_tensor_net,
)
from mechequiv.tensorsim.dense import dense_gaussian_inner, reduce_inputs
from mechequiv.tensorsim.expand import expand
from mechequiv.tensorsim.gaussian import gaussian_inner_monte_carlo, gaussian_pair, standardize
from mechequiv.zoo.models._bilinear import BilinearMLP


def model(seed: int, **kw) -> BilinearMLP:
    torch.manual_seed(seed)
    return BilinearMLP(**kw)


def median_cpu(fn, repeats: int) -> float:
    """Median process CPU time of ``fn()`` (one thread: the wall time on an idle core; the
    shared benchmark machine's wall times include waiting for a core)."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return statistics.median(times)


def brute_force(a, b) -> float:
    Ta, Tb = (expand(to_tensor_net(m), "layer") for m in (a, b))
    ta, tb = Ta[1:].reshape(-1), Tb[1:].reshape(-1)
    return float(ta @ tb / np.sqrt((ta @ ta) * (tb @ tb)))


def bench_expansion(repeats: int) -> list[dict]:
    rows = []
    for d, n_layers in [(20, 1), (60, 1), (3, 2), (5, 2), (8, 2), (3, 3)]:
        kw = dict(d_in=d, d_model=d, d_hidden=2 * d, d_out=3, n_layers=n_layers)
        a, b = model(0, **kw), model(1, **kw)
        assert abs(brute_force(a, b) - tensor_similarity(a, b, symmetrize="layer")) < 1e-9
        t_rec = median_time(lambda a=a, b=b: tensor_similarity(a, b, symmetrize="layer"), repeats)
        t_bf = median_time(lambda a=a, b=b: brute_force(a, b), repeats)
        entries = 4 * (d + 1) ** (2**n_layers)
        rows.append(
            dict(case="expansion", d=d, n_layers=n_layers, tensor_entries=entries,
                 recursion_s=round(t_rec, 6), brute_force_s=round(t_bf, 6),
                 ratio=round(t_bf / t_rec, 1))
        )  # fmt: skip
    return rows


def bench_width(repeats: int, d_model: int) -> list[dict]:
    rows = []
    base = None
    for h in (64, 128, 256, 512, 1024, 2048):
        kw = dict(d_in=784, d_model=d_model, d_hidden=h, d_out=10, n_layers=2)
        a, b = model(0, **kw), model(1, **kw)
        na, nb = to_tensor_net(a), to_tensor_net(b)
        t = median_time(lambda na=na, nb=nb: tensor_inner(na, nb, symmetrize="layer"), repeats)
        cpu = median_cpu(lambda na=na, nb=nb: tensor_inner(na, nb, symmetrize="layer"), repeats)
        t_conv = median_time(lambda a=a: to_tensor_net(a), repeats)
        base = base or cpu
        rows.append(
            dict(case="width", d_hidden=h, d_model=d_model, n_layers=2, seconds=round(t, 4),
                 cpu_s=round(cpu, 4), convert_s=round(t_conv, 4), cpu_vs_h64=round(cpu / base, 1))
        )  # fmt: skip
    return rows


def bench_depth(repeats: int, d_model: int) -> list[dict]:
    rows = []
    base = None
    for n_layers in (1, 2, 4, 8, 16):
        kw = dict(d_in=784, d_model=d_model, d_hidden=512, d_out=10, n_layers=n_layers)
        na, nb = to_tensor_net(model(0, **kw)), to_tensor_net(model(1, **kw))
        t = median_time(lambda na=na, nb=nb: tensor_inner(na, nb, symmetrize="layer"), repeats)
        cpu = median_cpu(lambda na=na, nb=nb: tensor_inner(na, nb, symmetrize="layer"), repeats)
        base = base or cpu
        rows.append(
            dict(case="depth", d_hidden=512, d_model=d_model, n_layers=n_layers,
                 seconds=round(t, 4), cpu_s=round(cpu, 4), cpu_vs_1_layer=round(cpu / base, 1))
        )  # fmt: skip
    return rows


def bench_attention(repeats: int) -> list[dict]:
    """Polynomial attention: embed -> attention -> unembed, the cost grows like n_ctx^4."""
    rows = []
    for n_ctx in (2, 4, 8):
        nets = []
        for seed in (0, 1):
            torch.manual_seed(seed)
            m = nn.Sequential(
                nn.Linear(64, 32, bias=False), PolynomialAttention(32, 4, 8),
                nn.Linear(32, 64, bias=False),
            ).double()  # fmt: skip
            nets.append(to_seq_net(m, n_ctx))
        t = median_time(lambda nets=nets: tensor_similarity(*nets, symmetrize="layer"), repeats)
        rows.append(dict(case="attention", n_ctx=n_ctx, d_model=32, heads=4, d_head=8,
                         seconds=round(t, 4)))  # fmt: skip
    return rows


def bench_full(repeats: int) -> list[dict]:
    """Fully symmetrised (closed form, two bilinear layers) against the layer-symmetrised
    recursion, input width d_in, residual width 16, hidden width 32."""
    rows = []
    for d_in in (4, 8, 16, 32):
        kw = dict(d_in=d_in, d_model=16, d_hidden=32, d_out=10, n_layers=2)
        a, b = (to_tensor_net(model(s, **kw)) for s in (0, 1))
        t_full = median_time(lambda a=a, b=b: tensor_similarity(a, b, symmetrize="full"), repeats)
        t_layer = median_time(lambda a=a, b=b: tensor_similarity(a, b, symmetrize="layer"), repeats)
        rows.append(dict(case="full_symmetric", d_in=d_in, full_s=round(t_full, 4),
                         layer_s=round(t_layer, 4), ratio=round(t_full / t_layer, 1)))  # fmt: skip
    return rows


def cubature(a, b, mean: np.ndarray, cov: np.ndarray, points: int) -> float:
    """Sum over outputs of E[f_a f_b] by the tests' Gauss-Hermite reference."""
    return float(gauss_hermite(a, b, mean, cov, points).sum())


def bench_gaussian(repeats: int) -> list[dict]:
    """E[<f_a, f_b>] (summed over outputs) under N(mu, Sigma): the exact form against the
    brute-force coefficients and cubature where they fit (None where they do not)."""
    rows = []
    cases = [(1, 4), (2, 3), (2, 4), (3, 2), (3, 3), (2, 8), (2, 12), (2, 32), (2, 64)]
    for n_layers, d in cases:
        kw = dict(d_in=d, d_model=d, d_hidden=4, d_out=3, n_layers=n_layers, bias=True)
        a, b = (to_tensor_net(model(s, **kw)) for s in (0, 1))
        rng = np.random.default_rng(n_layers)
        A = rng.normal(size=(d, d)) / np.sqrt(d)
        mean, cov = 0.5 * rng.normal(size=d), A @ A.T + 0.3 * np.eye(d)
        sa, sb = standardize(a, mean, cov), standardize(b, mean, cov)

        def exact(sa=sa, sb=sb) -> float:
            return float(gaussian_pair(sa, sb).sum())

        def brute(sa=sa, sb=sb) -> float:
            return float(dense_gaussian_inner(*reduce_inputs(sa, sb))[0].sum())

        points = 2**n_layers + 1
        e, t_e = exact(), median_time(exact, repeats)
        row = dict(case="gaussian", n_layers=n_layers, d_in=d, exact=e, exact_s=round(t_e, 5))
        try:
            if d > 12:  # the brute force is the reference here; kept to small inputs
                raise MechequivError("skipped")
            row["brute_force"] = brute()
            row["brute_force_s"] = round(median_time(brute, repeats), 5)
        except MechequivError:
            row["brute_force"] = row["brute_force_s"] = None
        if points**d <= 200_000:
            row["cubature"] = cubature(a, b, mean, cov, points)
            row["cubature_s"] = round(
                median_time(
                    lambda a=a, b=b, m=mean, c=cov, p=points: cubature(a, b, m, c, p), repeats
                ),
                5,
            )
        else:
            row["cubature"] = row["cubature_s"] = None
        row["cubature_nodes"] = points**d
        row["monte_carlo_1e5"] = float(
            gaussian_inner_monte_carlo(sa, sb, n_samples=100_000)[0].sum()
        )
        row["mc_rel_error"] = abs(row["monte_carlo_1e5"] - e) / abs(e)
        refs = [row[k] for k in ("brute_force", "cubature") if row[k] is not None]
        row["max_abs_diff"] = max((abs(e - r) for r in refs), default=None)
        for k in ("brute_force", "cubature"):
            row[f"{k}_vs_exact"] = None if row[f"{k}_s"] is None else round(row[f"{k}_s"] / t_e, 2)
        if refs:
            assert row["max_abs_diff"] < 1e-8 * max(1.0, abs(e))
        rows.append(row)  # fmt: skip
    return rows


def bench_exact_two_layer(repeats: int) -> list[dict]:
    """The same-function forms of two-layer residual models against the layer recursion."""
    rows = []
    for d_model, h in [(16, 32), (16, 128), (32, 64), (32, 96), (32, 256), (32, 1024), (128, 1024)]:
        kw = dict(d_in=64, d_model=d_model, d_hidden=h, d_out=10, n_layers=2)
        a, b = (to_tensor_net(model(s, **kw)) for s in (0, 1))
        out = dict(case="exact_two_layer", d_model=d_model, d_hidden=h)
        for name, opts in (("layer", dict(symmetrize="layer")), ("full", {}),
                           ("gaussian", dict(form="gaussian"))):  # fmt: skip
            try:
                r = tensor_inner(a, b, **opts)
            except MechequivError as e:  # beyond the multiply-add limit: the estimate
                out[f"{name}_similarity"] = out[f"{name}_cpu_s"] = None
                out[f"{name}_refused"] = str(e).split(" here")[0].split("needs ")[-1]
                continue
            out[f"{name}_similarity"] = round(r.similarity, 6)
            cpu = median_cpu(lambda a=a, b=b, o=opts: tensor_inner(a, b, **o), 1)
            out[f"{name}_cpu_s"] = round(cpu, 4)
        full = out["full_cpu_s"]
        out["full_vs_layer"] = None if full is None else round(full / out["layer_cpu_s"], 1)
        rows.append(out)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--d-model", type=int, default=128)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--sections", default=None,
                   help="comma-separated subset to rerun (the other rows are kept)")  # fmt: skip
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "tensorsim.json")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor()}")
    sections = {
        "expansion": lambda: bench_expansion(args.repeats),
        "width": lambda: bench_width(args.repeats, args.d_model),
        "depth": lambda: bench_depth(args.repeats, args.d_model),
        "full_symmetric": lambda: bench_full(args.repeats),
        "gaussian": lambda: bench_gaussian(args.repeats),
        "exact_two_layer": lambda: bench_exact_two_layer(args.repeats),
        "attention": lambda: bench_attention(args.repeats),
    }
    chosen = list(sections) if args.sections is None else args.sections.split(",")
    unknown = set(chosen) - set(sections)
    if unknown:
        p.error(f"unknown sections {sorted(unknown)}; choose from {list(sections)}")
    rows = []
    if args.sections is not None and args.out.exists():
        # Rerun some sections: keep the other sections' rows of the previous results.
        rows = [r for r in json.loads(args.out.read_text())["rows"] if r["case"] not in chosen]
    for name in chosen:
        new = sections[name]()
        print_table(new, list(new[0]))
        rows += new
    atomic_write_json(args.out, {"rows": rows, "torch": torch.__version__,
                                 "threads": torch.get_num_threads()})  # fmt: skip


if __name__ == "__main__":
    main()
