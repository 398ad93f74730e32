from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = """
import json, torch
torch.set_num_threads(1)
from mechequiv.identifiability import audit, train_mlp
model = train_mlp("XOR", (3, 3), seed=0).model
r = audit(model, "XOR", keep_lists=True, where_then_what=False)
print(json.dumps([m.to_dict() for m in r.mappings]))
"""


@pytest.mark.slow
def test_mappings_do_not_depend_on_the_hash_seed():
    src = str(Path(__file__).resolve().parents[2] / "src")
    outs = []
    for seed in ("0", "12345"):
        env = {
            **os.environ,
            "PYTHONHASHSEED": seed,
            "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", ""),
        }
        res = subprocess.run(
            [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True
        )
        outs.append(json.loads(res.stdout))
    assert outs[0] == outs[1]
    assert outs[0]  # this network has minimal mappings
