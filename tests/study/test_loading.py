"""Loading users' models safely: pickles only on request, weights with a declared architecture."""

from __future__ import annotations

import json
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

from .families import (
    bad_files,
    save_bert,
    save_gpt2,
    save_hooked_transformer,
    save_transformer_lens,
    tokens,
)

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


# -- weights with a declared architecture -------------------------------------------------------


def test_hf_folders_load_through_their_head_class(tmp_path: Path) -> None:
    gpt2 = save_gpt2(tmp_path / "gpt2")
    bert = save_bert(tmp_path / "bert")
    cls = save_bert(tmp_path / "cls", head="BertForSequenceClassification")
    headless = save_bert(tmp_path / "base", head="BertModel")
    x = tokens(4)
    for folder, ref, name in (
        ("gpt2", gpt2, "GPT2LMHeadModel"),
        ("bert", bert, "BertForMaskedLM"),
        ("cls", cls, "BertForSequenceClassification"),
        ("base", headless, "BertModel"),
    ):
        back = load_model(tmp_path / folder)
        assert type(back).__name__ == name and not back.training
        out, want = back(x), ref(x)
        key = "last_hidden_state" if name == "BertModel" else "logits"
        torch.testing.assert_close(out[key], want[key])


def test_hf_folder_without_architectures_gets_a_head(tmp_path: Path) -> None:
    save_gpt2(tmp_path / "gpt2")
    cfg = json.loads((tmp_path / "gpt2" / "config.json").read_text())
    del cfg["architectures"]
    (tmp_path / "gpt2" / "config.json").write_text(json.dumps(cfg))
    assert type(load_model(tmp_path / "gpt2")).__name__ == "GPT2LMHeadModel"


def test_transformer_lens_cfg_and_state_dict(tmp_path: Path) -> None:
    ref = save_transformer_lens(tmp_path / "tl")
    x = tokens(4)
    for path in (tmp_path / "tl", tmp_path / "tl" / "model.safetensors"):
        back = load_model(path)
        assert type(back).__name__ == "TransformerBridge"
        torch.testing.assert_close(back(x), ref(x))
    # a .pt state dict beside <stem>.json works the same, with weights_only=True
    torch.save(ref.state_dict(), tmp_path / "w.pt")
    (tmp_path / "w.json").write_text((tmp_path / "tl" / "config.json").read_text())
    torch.testing.assert_close(load_model(tmp_path / "w.pt")(x), ref(x))


def test_hooked_transformer_cfg_and_state_dict(tmp_path: Path) -> None:
    """TransformerLens 2/3 (skips under TransformerLens 4, which removed HookedTransformer)."""
    ref = save_hooked_transformer(tmp_path / "ht")
    back = load_model(tmp_path / "ht")
    assert type(back).__name__ == "HookedTransformer"
    x = tokens(4)
    torch.testing.assert_close(back(x), ref(x))
    from mechequiv.equivalence import default_points

    assert default_points(back) == ["blocks.0.hook_resid_post", "blocks.1.hook_resid_post"]


def test_hf_folder_as_transformer_bridge(tmp_path: Path) -> None:
    ref = save_gpt2(tmp_path / "gpt2")
    bridge = load_model(tmp_path / "gpt2", transformer_lens=True)
    assert type(bridge).__name__ == "TransformerBridge" and "blocks.1.hook_out" in bridge.hook_dict
    x = tokens(4)
    torch.testing.assert_close(bridge(x), ref(x).logits, atol=1e-4, rtol=1e-4)
    # the bridge's default points (blocks.i.hook_out) read what the HF blocks output
    from mechequiv.equivalence import hidden_representations

    torch.testing.assert_close(
        hidden_representations(bridge, x), hidden_representations(ref, x), atol=1e-5, rtol=1e-5
    )


def test_zoo_folder_and_checkpoint(tmp_path: Path) -> None:
    from mechequiv.zoo import boolean, mlp, train_zoo

    task = boolean("XOR")
    zoo = train_zoo(task, mlp(hidden=(4,)), seeds=[0, 1], steps=5, out_dir=tmp_path / "z")
    x = task.features() if hasattr(task, "features") else task.inputs
    want = zoo.model(1)(x)
    torch.testing.assert_close(load_model(f"{tmp_path / 'z'}:seed=1")(x), want)
    step = tmp_path / "z" / "checkpoints" / "step_00000005.safetensors"
    torch.testing.assert_close(load_model(f"{step}:seed=1")(x), want)
    with pytest.raises(MechequivError, match=r"seeds \[0, 1\].*:seed=S"):
        load_model(tmp_path / "z")
    with pytest.raises(MechequivError, match="seed 7 is not in"):
        load_model(tmp_path / "z", seed=7)
    step.write_bytes(step.read_bytes()[:100])  # a truncated checkpoint
    with pytest.raises(MechequivError, match=r"cannot read the zoo in"):
        load_model(tmp_path / "z", seed=1)


# -- bad files: one line each -------------------------------------------------------------------


def test_bad_files_raise_one_line(tmp_path: Path) -> None:
    for what, (path, message) in bad_files(tmp_path).items():
        with pytest.raises(MechequivError, match=message) as info:
            load_model(path)
        assert "\n" not in str(info.value), what


def test_hooked_transformer_weights_under_transformer_lens_4(tmp_path: Path) -> None:
    tl = pytest.importorskip("transformer_lens")
    if not hasattr(tl, "TransformerBridgeConfig"):
        pytest.skip("TransformerLens < 4 loads these itself")
    from safetensors.torch import save_file

    save_transformer_lens(tmp_path / "tl")
    save_file({"blocks.0.attn.W_Q": torch.zeros(4, 16, 4)}, tmp_path / "tl" / "model.safetensors")
    with pytest.raises(MechequivError, match=r"HookedTransformer.*transformer-lens<4"):
        load_model(tmp_path / "tl")


def test_bridge_over_hf_model_saved_by_cfg_gets_a_hint(tmp_path: Path) -> None:
    tl = pytest.importorskip("transformer_lens")
    if not hasattr(tl, "TransformerBridgeConfig"):
        pytest.skip("TransformerLens 4 only")
    save_gpt2(tmp_path / "gpt2")
    bridge = load_model(tmp_path / "gpt2", transformer_lens=True)
    folder = tmp_path / "saved"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(bridge.cfg.to_dict(), default=str))
    torch.save(bridge.state_dict(), folder / "model.pt")
    with pytest.raises(
        MechequivError, match=r"GPT2LMHeadModel.*original_model.*--transformer-lens"
    ):
        load_model(folder)
