"""`mechequiv compare` as an outside researcher first runs it: arguments checked before any
model loads, a sampler that cannot apply refused before any work, `python -m mechequiv.cli`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from mechequiv.cli import app

from .families import save_gpt2, tokens

runner = CliRunner()


def _one_line(args: list[str]) -> tuple[int, str]:
    res = runner.invoke(app, ["compare", *args])
    out = res.output.strip()
    assert "Traceback" not in out and len(out.splitlines()) == 1, out
    return res.exit_code, out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["-m", "cka"], "unknown measure 'cka'"),
        (["--sampler", "foo"], "sampler must be one of"),
        (["--n", "0"], "n must be >= 1"),
        (["--tokens", "first"], "token policy must be one of"),
    ],
)
def test_arguments_are_checked_before_any_model_loads(
    tmp_path: Path, extra: list[str], message: str
) -> None:
    # neither model exists: the argument's own error comes first, so nothing was loaded
    missing = str(tmp_path / "nothere")
    code, out = _one_line([missing, missing, "--task", "modular_addition:p=5", *extra])
    assert code == 2 and message in out


def test_symmetry_sampler_on_a_model_without_symmetries_is_bad_input(tmp_path: Path) -> None:
    save_gpt2(tmp_path / "gpt2")
    np.save(tmp_path / "ids.npy", tokens(12).numpy())
    g = str(tmp_path / "gpt2")
    code, out = _one_line([g, g, "--task", str(tmp_path / "ids.npy"), "--sampler", "symmetry"])
    assert code == 2
    assert "--sampler symmetry: model a: GPT2LMHeadModel declares no exact symmetries" in out


def test_python_dash_m_runs_the_command_line(tmp_path: Path) -> None:
    torch.manual_seed(0)
    torch.save(nn.Sequential(nn.Linear(3, 6), nn.ReLU(), nn.Linear(6, 2)), tmp_path / "m.pt")
    np.save(tmp_path / "x.npy", np.random.default_rng(0).normal(size=(20, 3)))
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "PYTHONPATH": src, "OMP_NUM_THREADS": "1"}
    m = str(tmp_path / "m.pt")
    args = ["compare", m, m, "--trust-pickle", "--task", str(tmp_path / "x.npy")]
    done = subprocess.run(
        [sys.executable, "-m", "mechequiv.cli", *args, "-m", "linear_cka", "--json"],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert '"linear_cka": 1.0' in done.stdout


def test_verdict_says_when_too_few_rounds_could_never_reject() -> None:
    from mechequiv.study import compare_models

    torch.manual_seed(0)
    a = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 2)).double()
    b = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 2)).double()
    x = torch.randn(40, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    few = compare_models(a, b, x, sampler="symmetry", n=5, measures=["linear_cka"])
    enough = compare_models(a, b, x, sampler="symmetry", n=6, measures=["linear_cka"])
    # every round won: the best a sign test can do, 2 * 0.5**n after Holm
    assert few.congruity.score == 0.0 and few.congruity.p_value == 0.0625
    assert few.verdict is not None and few.verdict.endswith(
        "; but 5 rounds cannot reach p < 0.05 whatever the models (the smallest attainable is "
        "0.0625): use n >= 6"
    )
    assert enough.congruity.p_value == 0.03125 and enough.congruity.distinguishable
    assert "cannot reach" not in (enough.verdict or "")


def test_a_failed_distill_says_its_settings_are_fixed_here(monkeypatch) -> None:
    from mechequiv.study import compare, compare_models

    # settings no re-fit can meet, so the sampler fails fast, as it does on near-tied logits
    tight = {"steps": 1, "lr": 1e-9, "max_kl": 1e-12, "min_agreement": 1.0}
    monkeypatch.setattr(compare, "DISTILL_SETTINGS", tight)
    torch.manual_seed(0)
    a = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 2))
    b = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 2))
    result = compare_models(
        a, b, torch.randn(30, 3), sampler="distill", n=2, measures=["linear_cka"]
    )
    assert result.congruity is None and "linear_cka" in result.representational
    assert result.errors["congruity"].startswith("Distill: none of")
    assert result.errors["congruity"].endswith(
        "[compare's Distill is fixed at steps=1, lr=1e-09, max_kl=1e-12, min_agreement=1.0; to "
        "change it, build mechequiv.equivalence.refit.Distill in Python and call congruity]"
    )
