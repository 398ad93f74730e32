"""State dicts of a researcher's own model class, built with --model-class MODULE:CLASS (or
FILE.py:CLASS) and the constructor's keyword arguments in the JSON beside the weights."""

from __future__ import annotations

import importlib
import json
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from typer.testing import CliRunner

from mechequiv.cli import app
from mechequiv.errors import MechequivError
from mechequiv.study import compare_models, load_model

from .families import CTX, VOCAB, save_gpt2, tokens

runner = CliRunner()

SOURCE = textwrap.dedent(
    """
    import torch
    from torch import nn

    class FusedBlock(nn.Module):
        def __init__(self, width, heads):
            super().__init__()
            self.heads = heads
            self.norm = nn.LayerNorm(width)
            self.qkv = nn.Linear(width, 3 * width)  # fused projections, own names
            self.proj = nn.Linear(width, width)

        def forward(self, x):
            b, t, d = x.shape
            q, k, v = self.qkv(self.norm(x)).split(d, -1)
            split = lambda z: z.view(b, t, self.heads, d // self.heads).transpose(1, 2)
            a = nn.functional.scaled_dot_product_attention(split(q), split(k), split(v), is_causal=True)
            return x + self.proj(a.transpose(1, 2).reshape(b, t, d))

    class OwnLM(nn.Module):
        def __init__(self, vocab, width=8, heads=2, depth=2):
            super().__init__()
            self.tok = nn.Embedding(vocab, width)
            self.stack = nn.ModuleList(FusedBlock(width, heads) for _ in range(depth))
            self.readout = nn.Linear(width, vocab)

        def forward(self, ids):
            x = self.tok(ids)
            for block in self.stack:
                x = block(x)
            return self.readout(x)

    def make_mlp(d_in=3, hidden=6):
        return nn.Sequential(nn.Linear(d_in, hidden), nn.GELU(), nn.Linear(hidden, 2))
    """
)


@pytest.fixture
def own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "own_nets.py").write_text(SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("own_nets")
    yield tmp_path, module
    sys.modules.pop("own_nets", None)


def _save(folder: Path, name: str, model: torch.nn.Module, kwargs: dict) -> Path:
    path = folder / f"{name}.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, path)
    (folder / f"{name}.json").write_text(json.dumps(kwargs))
    return path


def test_state_dict_of_an_own_class_loads_by_module_and_by_file(own) -> None:
    tmp_path, module = own
    torch.manual_seed(0)
    net = module.OwnLM(VOCAB).eval()
    path = _save(tmp_path, "lm", net, {"vocab": VOCAB})
    x = tokens(5)
    for spec in ("own_nets:OwnLM", f"{tmp_path / 'own_nets.py'}:OwnLM", module.OwnLM):
        back = load_model(path, model_class=spec)
        assert not back.training
        torch.testing.assert_close(back(x), net(x), rtol=0, atol=0)


def test_a_factory_function_builds_a_sequential(own) -> None:
    tmp_path, module = own
    torch.manual_seed(1)
    net = module.make_mlp(hidden=5)
    path = _save(tmp_path, "mlp", net, {"hidden": 5})
    x = torch.randn(4, 3)
    torch.testing.assert_close(load_model(path, model_class="own_nets:make_mlp")(x), net(x))


def test_arguments_that_do_not_fit_the_weights_are_named(own) -> None:
    tmp_path, module = own
    path = _save(tmp_path, "mlp", module.make_mlp(hidden=5), {"hidden": 7})
    with pytest.raises(
        MechequivError, match=r"0\.weight has shape \(5, 3\), the config makes \(7, 3\)"
    ):
        load_model(path, model_class="own_nets:make_mlp")
    (tmp_path / "mlp.json").write_text(json.dumps({"width": 5}))
    with pytest.raises(
        MechequivError, match=r"cannot build make_mlp from the arguments in .*mlp\.json"
    ):
        load_model(path, model_class="own_nets:make_mlp")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("OwnLM", "should read MODULE:CLASS or FILE.py:CLASS"),
        ("no_such_module_here:OwnLM", "cannot import no_such_module_here .*PYTHONPATH"),
        ("own_nets:Missing", "own_nets has no class or function named Missing"),
        ("missing_file.py:OwnLM", "cannot import missing_file.py .*does not exist"),
    ],
)
def test_bad_class_specs_are_one_line(own, spec: str, message: str) -> None:
    tmp_path, module = own
    path = _save(tmp_path, "lm", module.OwnLM(VOCAB), {"vocab": VOCAB})
    with pytest.raises(MechequivError, match=message):
        load_model(path, model_class=spec)


def test_cli_pairs_an_own_class_with_a_hugging_face_folder(own) -> None:
    tmp_path, module = own
    torch.manual_seed(2)
    net = module.OwnLM(VOCAB).eval()
    path = _save(tmp_path, "lm", net, {"vocab": VOCAB})
    gpt2 = save_gpt2(tmp_path / "gpt2")
    ids = tokens(24)
    np.save(tmp_path / "ids.npy", ids.numpy())
    args = ["compare", str(path), str(tmp_path / "gpt2"), "--task", str(tmp_path / "ids.npy"),
            "--model-class", "own_nets:OwnLM", "-m", "linear_cka", "--json"]  # fmt: skip
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    got = json.loads(res.output)["representational"]["linear_cka"]
    want = compare_models(net, gpt2, ids, measures=["linear_cka"]).representational["linear_cka"]
    assert got == want and ids.shape[1] == CTX
