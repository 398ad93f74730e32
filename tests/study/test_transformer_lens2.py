"""TransformerLens 2's ``HookedTransformer`` end to end through ``mechequiv compare``.

The dev environment holds TransformerLens 4, which removed ``HookedTransformer``; ``make test``
also installs TransformerLens 2.18 into ``.venv/tl2`` (without dependencies: TransformerLens 4's
cover them). This test runs the HookedTransformer family test in a subprocess with that folder
first on the path, so both major versions are exercised in one suite.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TL2 = Path(sys.prefix) / "tl2"
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_hooked_transformer_family_under_transformer_lens_2() -> None:
    if not (TL2 / "transformer_lens").is_dir():
        pytest.skip(f"no TransformerLens 2 side install at {TL2} (`make test` makes it)")
    path = [str(TL2), *filter(None, [os.environ.get("PYTHONPATH")])]
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/study/test_compare_families.py", "-k", "hooked",
         "-q", "-p", "no:cacheprovider", "-p", "no:xdist"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": os.pathsep.join(path)},
        capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "1 passed" in out and "skipped" not in out, out[-3000:]
