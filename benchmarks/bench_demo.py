"""Per-step time of the default study (what `make demo` runs): process CPU time beside wall time.

Runs ``mechequiv study`` (the default study, or ``--quick``) into a fresh folder
and records, for each step, the wall time and this process's CPU time (user + system of all its
threads) between the step's "running" and "done" log lines. On a shared machine the CPU time is
the stable figure; wall time includes waiting for other processes.

Usage: OMP_NUM_THREADS=1 python benchmarks/bench_demo.py [--out DIR] [--quick] [--label NAME]
Prints one line per step; writes benchmarks/results/demo[_quick].json (keyed by ``--label``,
so a "before" and an "after" run of the same machine sit side by side).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from mechequiv._io import atomic_write_json
from mechequiv.study.config import load_config
from mechequiv.study.run import run_study


def timed_study(out: Path, quick: bool) -> dict[str, Any]:
    marks: dict[str, dict[str, float]] = {}
    t_start, c_start = time.perf_counter(), time.process_time()

    def log(line: str) -> None:
        print(line, flush=True)
        step = line.split("] ", 1)[1].split(":", 1)[0] if "] " in line else line
        if line.endswith(": running"):
            marks[step] = {"wall": time.perf_counter(), "cpu": time.process_time()}
        elif "done in" in line:
            marks[step] = {
                "wall_s": round(time.perf_counter() - marks[step]["wall"], 2),
                "cpu_s": round(time.process_time() - marks[step]["cpu"], 2),
            }

    results = run_study(load_config(None, quick=quick), out, progress=False, log=log)
    return {
        "steps": marks,
        "total_wall_s": round(time.perf_counter() - t_start, 2),
        "total_cpu_s": round(time.process_time() - c_start, 2),
        "summary": results["summary"],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=None, help="study folder (default: a temp dir)")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--label", default="current")
    args = ap.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="mechequiv-demo-"))
    if out.exists():
        shutil.rmtree(out)
    row = timed_study(out, args.quick)
    row["torch_threads"] = torch.get_num_threads()
    for step, m in row["steps"].items():
        print(f"{step:16s} cpu {m['cpu_s']:8.1f} s   wall {m['wall_s']:8.1f} s")
    print(f"{'total':16s} cpu {row['total_cpu_s']:8.1f} s   wall {row['total_wall_s']:8.1f} s")
    for line in row["summary"]:
        print("  " + line)
    path = Path(__file__).parent / "results" / f"demo{'_quick' if args.quick else ''}.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data[args.label] = row
    atomic_write_json(path, data)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
