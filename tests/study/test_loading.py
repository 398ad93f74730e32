"""Loading users' models safely: pickles only on request, weights with a declared architecture."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from mechequiv.cli import app
from mechequiv.errors import MechequivError
from mechequiv.study import load_model

runner = CliRunner()


class _Evil:
    """Unpickling this creates ``marker``: stands in for any code a crafted file could run."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (open, (str(self.marker), "w"))


def _mlp() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 2)).eval()


def test_malicious_pickle_is_refused_without_running_it(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save({"weight": torch.zeros(2), "payload": _Evil(marker)}, evil)
    with pytest.raises(MechequivError, match=r"needs io\.open.*--trust-pickle"):
        load_model(evil)
    assert not marker.exists()
    np_stimuli = tmp_path / "x.pt"
    torch.save(torch.zeros(4, 3), np_stimuli)
    res = runner.invoke(app, ["compare", str(evil), str(evil), "--task", str(np_stimuli)])
    assert res.exit_code == 2 and not marker.exists()
    assert "--trust-pickle" in res.output and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1
    # the opt-in does run it: the refusal was what protected the user
    with pytest.raises(MechequivError, match="not a module"):
        load_model(evil, trust_pickle=True)
    assert marker.exists()


def test_pickled_module_needs_the_opt_in(tmp_path: Path) -> None:
    net = _mlp()
    torch.save(net, tmp_path / "net.pt")
    with pytest.raises(MechequivError, match=r"torch\.nn\.modules.*--trust-pickle"):
        load_model(tmp_path / "net.pt")
    back = load_model(tmp_path / "net.pt", trust_pickle=True)
    x = torch.randn(5, 3)
    assert torch.equal(back(x), net(x))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"garbage" * 20, "cannot read"),
        (None, "cannot read"),  # a truncated torch.save file
    ],
)
def test_corrupt_pt_is_one_clear_error(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "bad.pt"
    if content is None:
        torch.save(_mlp().state_dict(), path)
        content = path.read_bytes()[:200]
    path.write_bytes(content)
    for trust in (False, True):
        with pytest.raises(MechequivError, match=message):
            load_model(path, trust_pickle=trust)


def test_class_not_importable_is_one_clear_error(tmp_path: Path, monkeypatch) -> None:
    # A module whose class lived in code that is gone (a script, a deleted package).
    gone = types.ModuleType("gone_package")
    exec("import torch\nclass Net(torch.nn.Linear):\n    pass\n", gone.__dict__)
    monkeypatch.setitem(sys.modules, "gone_package", gone)
    torch.save(gone.Net(2, 2), tmp_path / "gone.pt")
    monkeypatch.delitem(sys.modules, "gone_package")
    with pytest.raises(MechequivError, match=r"needs gone_package\.Net.*--trust-pickle"):
        load_model(tmp_path / "gone.pt")
    with pytest.raises(MechequivError, match=r"cannot unpickle.*gone_package"):
        load_model(tmp_path / "gone.pt", trust_pickle=True)
