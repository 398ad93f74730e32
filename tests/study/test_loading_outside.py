"""Loading the files an outside researcher writes: configs that do not match their weights,
pickles of classes defined elsewhere, training checkpoints that nest the state dict."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

from mechequiv.errors import MechequivError
from mechequiv.study import load_model

from .families import save_gpt2


def test_hf_config_with_fewer_layers_than_the_weights_is_refused(tmp_path: Path) -> None:
    # transformers drops tensors the config has no place for: a one-layer model would load
    # silently from two layers' weights.
    save_gpt2(tmp_path / "gpt2")
    cfg_path = tmp_path / "gpt2" / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["n_layer"] = 1
    cfg_path.write_text(json.dumps(cfg))
    with pytest.raises(MechequivError, match=r"tensors in the file have no place.*h\.1\."):
        load_model(tmp_path / "gpt2")


def _pickle_in_subprocess(tmp_path: Path, script: str) -> None:
    """Save a module the way a researcher's own script does (its class outside mechequiv)."""
    subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], cwd=tmp_path, check=True, timeout=120
    )


def test_class_defined_in_the_saving_script_is_named_with_the_fix(tmp_path: Path) -> None:
    _pickle_in_subprocess(
        tmp_path,
        """
        import torch
        class MainNet(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.lin = torch.nn.Linear(3, 2)
            def forward(self, x):
                return self.lin(x)
        torch.save(MainNet(), "main.pt")
        """,
    )
    with pytest.raises(MechequivError) as e:
        load_model(tmp_path / "main.pt", trust_pickle=True)
    assert "class MainNet was defined in the script that saved it (__main__)" in str(e.value)
    assert "\n" not in str(e.value)


def test_class_in_a_module_off_the_path_names_the_module(tmp_path: Path) -> None:
    (tmp_path / "researcher_nets.py").write_text(
        "import torch\nclass Net(torch.nn.Linear):\n    pass\n"
    )
    _pickle_in_subprocess(
        tmp_path, "import torch, researcher_nets\ntorch.save(researcher_nets.Net(3, 2), 'n.pt')"
    )
    with pytest.raises(MechequivError) as e:
        load_model(tmp_path / "n.pt", trust_pickle=True)
    assert "module 'researcher_nets', which is not importable here" in str(e.value)
    assert "researcher_nets.py on PYTHONPATH" in str(e.value)


def _mlp() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 8), nn.GELU(), nn.Linear(8, 2))


@pytest.mark.parametrize("trust", [False, True])
def test_training_checkpoint_names_the_entry_holding_the_model(tmp_path: Path, trust: bool) -> None:
    torch.save({"model": _mlp().state_dict(), "step": 5}, tmp_path / "ckpt.pt")
    with pytest.raises(MechequivError, match=r"the entry 'model' holds the model"):
        load_model(tmp_path / "ckpt.pt", trust_pickle=trust)


def test_state_dict_of_an_own_class_says_which_route_exists(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    save_file(_mlp().state_dict(), tmp_path / "mlp.safetensors")
    (tmp_path / "mlp.json").write_text(json.dumps({"d_in": 3, "hidden": 8}))
    with pytest.raises(MechequivError) as e:
        load_model(tmp_path / "mlp.safetensors")
    assert "not a config mechequiv knows" in str(e.value)
    assert "loads with --model-class MODULE:CLASS" in str(e.value)


def test_seed_on_a_model_that_is_not_a_zoo_is_refused(tmp_path: Path) -> None:
    save_gpt2(tmp_path / "gpt2")
    assert type(load_model(tmp_path / "gpt2")).__name__ == "GPT2LMHeadModel"
    with pytest.raises(MechequivError, match=r"holds a GPT2LMHeadModel, which has none"):
        load_model(f"{tmp_path / 'gpt2'}:seed=1")
