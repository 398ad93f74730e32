"""Every measure, Congruity, tensor similarity and zoo training on CUDA tensors, checked and
timed (issue 19).

One command on a machine with a GPU:

    python benchmarks/bench_gpu.py [--n 20000] [--n-pairwise 4000] [--d 512] [--repeats 3]

On a machine without one it prints one line saying so and exits 0 (nothing is written).
``--device cpu`` runs every check on CPU tensors instead: a dry run of the script itself (values,
result and transfer checks, the table), written only with an explicit ``--out``.

For each case the inputs (and models) are put on the device, and the call is run once under a
dispatch-level recorder of every tensor operation (:class:`Transfers`). It counts
- device -> host copies (``Tensor.cpu``, ``.to("cpu")``, ``.item()``/``float()``, ``.tolist()``,
  ``copy_`` into host memory): their number, bytes and the largest one in elements;
- operations computed on the device, and operations on host tensors larger than the limit.
A case passes when its value equals the CPU value (measures and tensor similarity: 1e-9
relative; Congruity: its score and rates, every distance within 1e-6), at least one operation
ran on the device, no host operation touched a tensor larger than the limit, and no copy to the
host was larger than the limit: ``--d`` squared elements for measures (a d x d result such as
a matching's cost matrix may come back; an n x d input or an n x n matrix may not), 4096
elements (``SMALL``) for Congruity and tensor similarity (scalars and small summaries), and for
``train_zoo`` the largest stacked weight tensor (the trained zoo is returned on the host). Then the
device call and the CPU call are timed: wall with ``cuda.synchronize`` and host CPU time.
Writes benchmarks/results/gpu.json; exits 1 when any case fails.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from _timing import print_table
from mechequiv import measures as M
from mechequiv._io import atomic_write_json

PAIRWISE = {"rbf_cka", "rsa", "knn_jaccard", "mutual_knn", "repr_distance"}
SLOW_ON_CPU = {"linear_regression_similarity", "repr_distance"}  # nested CV / iterative solver
SMALL = 4096  # elements a Congruity or tensor-similarity call may copy to the host at once

_aten = torch.ops.aten
_HOST_COPIES = {_aten._to_copy.default, _aten.copy_.default, _aten._local_scalar_dense.default}


def _tensors(tree: Any) -> list[torch.Tensor]:
    if isinstance(tree, torch.Tensor):
        return [tree]
    if isinstance(tree, list | tuple):
        return [t for item in tree for t in _tensors(item)]
    if isinstance(tree, dict):
        return [t for item in tree.values() for t in _tensors(item)]
    return []


class Transfers(TorchDispatchMode):
    """Records, for every aten operation run inside it, whether it ran on ``device``, touched a
    host tensor larger than ``limit`` elements, or copied device memory to the host."""

    def __init__(self, device: torch.device, limit: int) -> None:
        super().__init__()
        self.device, self.limit = device, limit
        self.copies: list[int] = []  # elements of each device -> host copy
        self.copy_bytes = 0
        self.device_ops = 0
        self.large_host_ops: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        inputs = _tensors(args) + _tensors(kwargs)
        on_device = [t for t in inputs if t.device.type == self.device.type]
        if on_device:
            self.device_ops += 1
        if self.device.type != "cpu":
            if func in _HOST_COPIES and on_device:
                src = on_device[-1]  # copy_(dst, src): the source is the last tensor argument
                to_host = func is _aten._local_scalar_dense.default or any(
                    t.device.type == "cpu" for t in _tensors(out)
                )
                if to_host:
                    self.copies.append(src.numel())
                    self.copy_bytes += src.numel() * src.element_size()
            host = [t for t in inputs + _tensors(out) if t.device.type == "cpu"]
            if any(t.numel() > self.limit for t in host):
                self.large_host_ops.append(str(func))
        return out

    def summary(self) -> dict[str, Any]:
        largest = max(self.copies, default=0)
        return {
            "device_ops": self.device_ops,
            "host_copies": len(self.copies),
            "host_copy_bytes": self.copy_bytes,
            "largest_host_copy": largest,
            "limit": self.limit,
            "large_host_ops": sorted(set(self.large_host_ops))[:5],
            "transfers_ok": self.device_ops > 0 and largest <= self.limit
            and not self.large_host_ops,
        }  # fmt: skip


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _timed(fn: Callable[[], object], device: torch.device, repeats: int) -> dict[str, float]:
    """Median wall and host CPU seconds over ``repeats`` calls, after one warm-up call."""
    fn()  # warm-up (CUDA context, kernels, allocator)
    walls, cpus = [], []
    for _ in range(repeats):
        _sync(device)
        w, c = time.perf_counter(), time.process_time()
        fn()
        _sync(device)
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    walls.sort()
    cpus.sort()
    return {"wall_s": walls[len(walls) // 2], "cpu_s": cpus[len(cpus) // 2]}


def _inputs(n: int, d: int, functional: bool, dtype: torch.dtype) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(0)
    if functional:
        A = torch.randn(n, 10, generator=g, dtype=torch.float64)
        B = A + 0.5 * torch.randn(n, 10, generator=g, dtype=torch.float64)
        return A.to(dtype), B.to(dtype)
    X = torch.randn(n, d, generator=g, dtype=torch.float64)
    W = torch.randn(d, d // 2, generator=g, dtype=torch.float64) / d**0.5
    Y = torch.tanh(X @ W) + 0.3 * torch.randn(n, d // 2, generator=g, dtype=torch.float64)
    return X.to(dtype), Y.to(dtype)


def _check(
    name: str,
    on_device: Callable[[], Any],
    on_host: Callable[[], Any],
    agree: Callable[[Any, Any], tuple[bool, Any]],
    device: torch.device,
    limit: int,
    repeats: int,
) -> dict[str, Any]:
    """One case: the value on the device under :class:`Transfers`, compared with the host's;
    then both timed."""
    row: dict[str, Any] = {"case": name}
    try:
        host_value = on_host()
        with Transfers(device, limit) as rec:
            device_value = on_device()
        _sync(device)
        agrees, shown = agree(device_value, host_value)
        row.update(value=shown, agrees=agrees, **rec.summary())
        t_dev, t_host = _timed(on_device, device, repeats), _timed(on_host, device, repeats)
        row.update(
            device_wall_s=round(t_dev["wall_s"], 4),
            device_host_cpu_s=round(t_dev["cpu_s"], 4),
            cpu_wall_s=round(t_host["wall_s"], 4),
            cpu_cpu_s=round(t_host["cpu_s"], 4),
            speedup_wall=round(t_host["wall_s"] / max(t_dev["wall_s"], 1e-9), 2),
        )
    except Exception as err:  # a failing case is a row, not the end of the run
        row["error"] = f"{type(err).__name__}: {err}"[:200]
    row["ok"] = bool(row.get("agrees") and row.get("transfers_ok") and "error" not in row)
    print(json.dumps(row, default=str), flush=True)
    return row


def _close(a: float, b: float, rel: float = 1e-9) -> tuple[bool, float]:
    return abs(a - b) <= rel * max(1.0, abs(b)), b


def measure_rows(args: argparse.Namespace, device: torch.device) -> list[dict[str, Any]]:
    rows = []
    cases = [(name, torch.float64) for name in M.names()] + [("linear_cka", torch.float32)]
    for name, dtype in cases:
        info = M.get(name)
        n = args.n_pairwise if name in PAIRWISE else args.n
        if name in SLOW_ON_CPU:
            n = min(n, 2000)
        x, y = _inputs(n, args.d, info.functional, dtype)
        xd, yd = x.to(device), y.to(device)
        row = _check(
            f"measure {name} ({str(dtype).removeprefix('torch.')}, n={n})",
            lambda info=info, xd=xd, yd=yd: info(xd, yd),
            lambda info=info, x=x, y=y: info(x, y),
            _close,
            device,
            args.d * args.d,
            args.repeats,
        )
        rows.append(row)
    return rows


def _mlp(seed: int, width: int) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(32, width), nn.ReLU(), nn.Linear(width, 10)).double()


def _numbers(tree: Any) -> list[float]:
    """Every number in a nested dict/list, in order."""
    if isinstance(tree, bool):
        return []
    if isinstance(tree, int | float):
        return [float(tree)]
    if isinstance(tree, dict):
        return [x for key in sorted(tree) for x in _numbers(tree[key])]
    if isinstance(tree, list | tuple):
        return [x for item in tree for x in _numbers(item)]
    return []


def congruity_rows(args: argparse.Namespace, device: torch.device) -> list[dict[str, Any]]:
    """Congruity of two MLPs (default representations and distance) against a reparameterised
    copy (SymmetryTransform, the positive control) and another seed, stimuli on the device."""
    from mechequiv.equivalence import SymmetryTransform, congruity

    X = torch.randn(args.congruity_stimuli, 32, generator=torch.Generator().manual_seed(1))
    X = X.double()
    rows = []
    for label, seeds in (("same model", (0, 0)), ("two seeds", (0, 1))):
        host = [_mlp(s, args.congruity_width) for s in seeds]
        dev = [_mlp(s, args.congruity_width).to(device) for s in seeds]
        Xd = X.to(device)

        def run(models: list[nn.Module], inputs: torch.Tensor) -> Any:
            return congruity(models[0], models[1], inputs, n=args.congruity_rounds,
                             sampler=SymmetryTransform(), seed=0, progress=False)  # fmt: skip

        def agree(a: Any, b: Any) -> tuple[bool, Any]:
            # the same decisions (score, rates, test) and the same distances to 1e-6 (the
            # solver's certified brackets, on two devices' rounding)
            da, db = a.to_dict(), b.to_dict()
            same = all(da[k] == db[k] for k in ("score", "rate_1", "rate_2", "n"))
            u, v = _numbers(da["distances"]), _numbers(db["distances"])
            close = len(u) == len(v) > 0 and all(
                abs(p - q) <= 1e-6 * max(1.0, abs(q)) for p, q in zip(u, v, strict=True)
            )
            return same and close, db["score"]

        rows.append(
            _check(
                f"congruity MLP {label} ({args.congruity_stimuli} stimuli, "
                f"width {args.congruity_width}, n={args.congruity_rounds})",
                lambda dev=dev, Xd=Xd, run=run: run(dev, Xd),
                lambda host=host, run=run: run(host, X),
                agree,
                device,
                SMALL,
                1,
            )
        )
    return rows


def tensorsim_rows(args: argparse.Namespace, device: torch.device) -> list[dict[str, Any]]:
    """tensor_similarity of two bilinear models (public API only), weights on the device."""
    from mechequiv.tensorsim import tensor_similarity
    from mechequiv.zoo.models import BilinearMLP

    def models(on: torch.device) -> list[nn.Module]:
        out = []
        for seed in (0, 1):
            torch.manual_seed(seed)
            out.append(BilinearMLP(32, 64, args.tensorsim_hidden, 10, n_layers=2).double().to(on))
        return out

    host, dev = models(torch.device("cpu")), models(device)
    rows = []
    for symmetrize in ("full", "layer"):
        rows.append(
            _check(
                f"tensor_similarity bilinear 2 layers, hidden {args.tensorsim_hidden}, "
                f"symmetrize={symmetrize}",
                lambda s=symmetrize: float(tensor_similarity(dev[0], dev[1], symmetrize=s)),
                lambda s=symmetrize: float(tensor_similarity(host[0], host[1], symmetrize=s)),
                _close,
                device,
                SMALL,
                args.repeats,
            )
        )
    return rows


def zoo_rows(args: argparse.Namespace, device: torch.device) -> list[dict[str, Any]]:
    """``train_zoo`` of the Pizza/Clock transformer recipe on the device: 16 seeds checked
    against the same run on the CPU (weights after ``--zoo-steps`` updates, to float32
    rounding amplified by training), then 1 and 16 seeds timed on the device (issue 19's
    "16 seeds for the price of few")."""
    from mechequiv.zoo import modular_addition, train_zoo, transformer
    from mechequiv.zoo.presets import RECIPE

    task = modular_addition(RECIPE["p"], train_fraction=RECIPE["train_fraction"])
    arch = transformer(alpha=1.0, d_model=RECIPE["d_model"], n_heads=RECIPE["n_heads"])

    def run(seeds: range, on: torch.device) -> Any:
        return train_zoo(task, arch, seeds=seeds, steps=args.zoo_steps, lr=1e-3,
                         eval_every=args.zoo_steps, progress=False, device=on)  # fmt: skip

    def agree(a: Any, b: Any) -> tuple[bool, Any]:
        worst = max(
            float((a.params[k] - v).abs().max() / v.abs().max().clamp_min(1e-12))
            for k, v in b.params.items()
        )
        return worst <= 1e-3, f"max relative weight difference {worst:.1e}"

    host = torch.device("cpu")
    seeds16 = range(16)
    # the trained weights come back to the host once: the largest stacked tensor may be copied
    limit = len(seeds16) * max(p.numel() for p in arch.build(task, 0).parameters())
    row = _check(
        f"train_zoo transformer p={RECIPE['p']} d={RECIPE['d_model']}, 16 seeds, "
        f"{args.zoo_steps} steps",
        lambda: run(seeds16, device),
        lambda: run(seeds16, host),
        agree,
        device,
        limit,
        args.repeats,
    )
    if "error" not in row:
        one = _timed(lambda: run(range(1), device), device, args.repeats)
        row["device_wall_s_1_seed"] = round(one["wall_s"], 4)
        row["seeds16_vs_1_wall"] = round(row["device_wall_s"] / max(one["wall_s"], 1e-9), 2)
        print(json.dumps({k: row[k] for k in ("device_wall_s_1_seed", "seeds16_vs_1_wall")}))
    return [row]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--n-pairwise", type=int, default=4000)
    ap.add_argument("--d", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--congruity-stimuli", type=int, default=1000)
    ap.add_argument("--congruity-width", type=int, default=64)
    ap.add_argument("--congruity-rounds", type=int, default=10)
    ap.add_argument("--tensorsim-hidden", type=int, default=32)
    ap.add_argument("--zoo-steps", type=int, default=50)
    ap.add_argument("--only", nargs="+", choices=("measures", "congruity", "tensorsim", "zoo"),
                    default=["measures", "congruity", "tensorsim", "zoo"])  # fmt: skip
    ap.add_argument("--device", default="cuda", help="cuda (default), or cpu for a dry run")
    ap.add_argument("--out", default=None, help="default: results/gpu.json on CUDA")
    args = ap.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("bench_gpu: skipped, no CUDA device (torch.cuda.is_available() is False)")
        return
    out = args.out
    if out is None and device.type == "cuda":
        out = str(Path(__file__).parent / "results" / "gpu.json")
    parts = {"measures": measure_rows, "congruity": congruity_rows, "tensorsim": tensorsim_rows,
             "zoo": zoo_rows}  # fmt: skip
    rows = [row for part in args.only for row in parts[part](args, device)]
    columns = ["case", "ok", "agrees", "transfers_ok", "host_copies", "largest_host_copy",
               "limit", "device_wall_s", "cpu_wall_s", "cpu_cpu_s", "speedup_wall",
               "seeds16_vs_1_wall", "error"]  # fmt: skip
    print_table(rows, columns)
    if out is not None:
        name = torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu (dry run)"
        atomic_write_json(out, {"rows": rows, "d": args.d, "n": args.n, "torch": torch.__version__,
                                "device": name, "cpu": platform.processor(),
                                "threads": torch.get_num_threads()})  # fmt: skip
        print(f"wrote {out}")
    failed = [r["case"] for r in rows if not r["ok"]]
    if failed:
        print(f"{len(failed)} case(s) failed: " + "; ".join(failed))
        sys.exit(1)


if __name__ == "__main__":
    main()
