"""benchmarks/bench_gpu.py is one command: it skips with one line where there is no GPU, and its
checks (values, the host-copy recorder, the table) run end to end as a CPU dry run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_gpu.py"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, str(BENCH), *args],
        capture_output=True,
        text=True,
        cwd=BENCH.parent,
        env=env,
        timeout=600,
    )


@pytest.mark.skipif(torch.cuda.is_available(), reason="the skip is for machines without CUDA")
def test_skips_cleanly_without_cuda():
    done = _run()
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "bench_gpu: skipped, no CUDA device (torch.cuda.is_available() is False)"
    )


@pytest.mark.slow
def test_cpu_dry_run_passes_every_case(tmp_path):
    out = tmp_path / "gpu.json"
    done = _run("--device", "cpu", "--n", "200", "--n-pairwise", "60", "--d", "16",
                "--repeats", "1", "--congruity-stimuli", "40", "--congruity-rounds", "2",
                "--tensorsim-hidden", "8", "--zoo-steps", "3", "--out", str(out))  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    rows = json.loads(out.read_text())["rows"]
    cases = [r["case"] for r in rows]
    assert sum(c.startswith("measure ") for c in cases) >= 15
    assert sum(c.startswith("congruity ") for c in cases) == 2
    assert sum(c.startswith("tensor_similarity ") for c in cases) == 2
    assert sum(c.startswith("train_zoo ") for c in cases) == 1
    assert all(r["ok"] and r["device_ops"] > 0 and r["host_copies"] == 0 for r in rows)
