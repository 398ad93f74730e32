"""`mechequiv compare` end to end on every model family, built and saved in the test."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from mechequiv.cli import app
from mechequiv.study import Comparison, compare_models

from .families import (
    bad_files,
    encoder_classifier,
    save_bert,
    save_gpt2,
    save_hooked_transformer,
    save_transformer_lens,
    tokens,
)

runner = CliRunner()
QUICK = ["--n", "3", "-m", "linear_cka", "-m", "procrustes", "-m", "prediction_agreement"]
CIRCUIT = [*QUICK, "--sampler", "circuit"]
# Distill re-fits a copy per draw; few steps keep the test short (acceptance is still checked)
DISTILL = [*QUICK, "--sampler", "distill"]


def _ids(tmp_path: Path) -> str:
    np.save(tmp_path / "ids.npy", tokens(24).numpy())
    return str(tmp_path / "ids.npy")


def _run(*args: str) -> tuple[int, str]:
    res = runner.invoke(app, ["compare", *args])
    return res.exit_code, res.output


def _assert_complete(output: str, points: str) -> None:
    for line in ("linear_cka", "prediction_agreement", "Congruity", "sampler: ", "verdict: "):
        assert line in output, (line, output)
    assert "distinguishable (Holm p=" in output
    assert f"model a read at: {points}" in output
    assert "Congruity is about 1 when" in output


def test_gpt2_folders(tmp_path: Path) -> None:
    save_gpt2(tmp_path / "a", 0)
    save_gpt2(tmp_path / "b", 1)
    code, out = _run(str(tmp_path / "a"), str(tmp_path / "b"), "--task", _ids(tmp_path), *CIRCUIT)
    assert code == 0, out
    _assert_complete(out, "transformer.h.0, transformer.h.1")
    assert "sampler: ResampleAblation" in out


def test_bert_folders_and_json(tmp_path: Path) -> None:
    save_bert(tmp_path / "a", 0)
    save_bert(tmp_path / "b", 1)
    args = [str(tmp_path / "a"), str(tmp_path / "b"), "--task", _ids(tmp_path), *CIRCUIT]
    code, out = _run(*args, "--json", "--tokens", "mean")
    assert code == 0, out
    got = json.loads(out)
    assert got["points"]["a"] == ["bert.encoder.layer.0", "bert.encoder.layer.1"]
    assert got["tokens"] == "mean" and got["errors"] == {}
    assert set(got["representational"]) == {"linear_cka", "procrustes"}
    assert set(got["functional"]) == {"prediction_agreement"}
    assert got["sampler"].startswith("ResampleAblation")
    assert got["p_value"] == got["congruity"]["p_value"] and "distinguishable" in got["verdict"]
    assert Comparison.from_dict(got).to_dict() == got


def test_transformer_lens_cfg_with_head_activations(tmp_path: Path) -> None:
    save_transformer_lens(tmp_path / "a", 0)
    save_transformer_lens(tmp_path / "b", 1)
    points = ["-p", "blocks.0.attn.hook_z", "-p", "blocks.1.hook_resid_post"]
    code, out = _run(
        str(tmp_path / "a"), str(tmp_path / "b"), "--task", _ids(tmp_path), *DISTILL, *points
    )
    assert code == 0, out
    _assert_complete(out, "blocks.0.attn.hook_z, blocks.1.hook_resid_post")
    assert "sampler: Distill" in out


def test_hooked_transformer_cfg(tmp_path: Path) -> None:
    """TransformerLens 2/3 (skips under TransformerLens 4, which removed HookedTransformer)."""
    save_hooked_transformer(tmp_path / "a", 0)
    save_hooked_transformer(tmp_path / "b", 1)
    points = ["-p", "blocks.0.attn.hook_z", "-p", "blocks.1.hook_resid_post"]
    args = [str(tmp_path / "a"), str(tmp_path / "b"), "--task", _ids(tmp_path), *DISTILL]
    code, out = _run(*args, *points)
    assert code == 0, out
    _assert_complete(out, "blocks.0.attn.hook_z, blocks.1.hook_resid_post")
    code, out = _run(*args)
    assert code == 0, out
    _assert_complete(out, "blocks.0.hook_resid_post, blocks.1.hook_resid_post")


def test_hf_folder_as_transformer_bridge(tmp_path: Path) -> None:
    save_gpt2(tmp_path / "a", 0)
    save_gpt2(tmp_path / "b", 1)
    args = [str(tmp_path / "a"), str(tmp_path / "b"), "--task", _ids(tmp_path), *CIRCUIT]
    code, out = _run(*args, "--transformer-lens")
    assert code == 0, out
    _assert_complete(out, "blocks.0.hook_out, blocks.1.hook_out")


def test_transformer_encoder_module(tmp_path: Path) -> None:
    for seed in (2, 3):
        torch.save(encoder_classifier(seed), tmp_path / f"m{seed}.pt")
    args = [str(tmp_path / "m2.pt"), str(tmp_path / "m3.pt"), "--task", _ids(tmp_path), *DISTILL]
    code, out = _run(*args)
    assert code == 2 and "--trust-pickle" in out
    code, out = _run(*args, "--trust-pickle")
    assert code == 0, out
    _assert_complete(out, "encoder.layers.0, encoder.layers.1")


def test_zoo_mlp_folder(tmp_path: Path) -> None:
    from mechequiv.zoo import boolean, mlp, train_zoo

    task = boolean("XOR")
    train_zoo(task, mlp(hidden=(8,)), seeds=[0, 1], steps=20, out_dir=tmp_path / "z")
    z = str(tmp_path / "z")
    task = ["--task", "boolean:n_repeats=10"]
    code, out = _run(f"{z}:seed=0", f"{z}:seed=1", *task, *QUICK)
    assert code == 0, out  # no sampler: the measures run, Congruity is skipped and says why
    assert "congruity skipped: no sampler chosen" in out and "verdict: " not in out
    assert "sampler: none" in out and "Congruity is about 1" not in out
    code, out = _run(f"{z}:seed=0", f"{z}:seed=1", *task, *QUICK, "--sampler", "symmetry")
    assert code == 0, out
    _assert_complete(out, "1")
    assert "sampler: SymmetryTransform" in out


def test_a_failing_part_keeps_the_others(tmp_path: Path) -> None:
    # A headless BertModel has no logits: the functional part reports it, the rest still runs.
    save_bert(tmp_path / "a", 0, head="BertModel")
    save_bert(tmp_path / "b", 1, head="BertModel")
    code, out = _run(str(tmp_path / "a"), str(tmp_path / "b"), "--task", _ids(tmp_path), *CIRCUIT)
    assert code == 1, out
    flat = " ".join(out.split())
    assert "BertModel returns" in flat and "without logits" in flat and "linear_cka" in flat
    assert "│ functional │ error" in out and "Congruity is about 1" in flat
    code, out = _run(
        str(tmp_path / "a"), str(tmp_path / "b"), "--task", _ids(tmp_path), *CIRCUIT, "--json"
    )
    got = json.loads(out)
    assert code == 1 and set(got["errors"]) == {"functional", "congruity"}
    assert "output logits, which BertModel, BertModel lacks" in got["errors"]["congruity"]
    assert got["representational"]["linear_cka"] > 0 and got["verdict"] is None
    # a sampler that cannot apply to a model at all (no declared symmetries) is known before
    # any work: bad input, not a part's error
    x = tokens(16)
    from mechequiv.study import load_model

    a, b = load_model(tmp_path / "a"), load_model(tmp_path / "b")
    with pytest.raises(ValueError, match="--sampler symmetry: model a: BertModel declares no"):
        compare_models(a, b, x, n=2, sampler="symmetry", measures=["linear_cka"])


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, monkeypatch) -> None:
    save_gpt2(tmp_path / "good", 0)
    gone = types.ModuleType("gone_package")  # a class whose code is gone by load time
    exec("import torch\nclass Net(torch.nn.Linear):\n    pass\n", gone.__dict__)
    monkeypatch.setitem(sys.modules, "gone_package", gone)
    torch.save(gone.Net(2, 2), tmp_path / "gone.pt")
    monkeypatch.delitem(sys.modules, "gone_package")
    ids = _ids(tmp_path)
    good = str(tmp_path / "good")
    cases = {what: [str(path), good] for what, (path, _) in bad_files(tmp_path).items()}
    messages = {what: message for what, (_, message) in bad_files(tmp_path / "again").items()}
    (tmp_path / "bad.npy").write_text("not an array")
    np.save(tmp_path / "big.npy", tokens(4).numpy() + 100)  # ids beyond the vocabulary
    np.save(tmp_path / "floats.npy", np.zeros((4, 3), dtype=np.float32))
    cases |= {
        "unknown measure": [good, good, "-m", "cka"],
        "unknown point": [good, good, "-p", "transformer.h.9"],
        "bad token policy": [good, good, "--tokens", "first"],
        "bad stimuli file": [good, good, "--task", str(tmp_path / "bad.npy")],
        "missing model": [str(tmp_path / "nothere"), good],
        "zero rounds": [good, good, "--n", "0"],
        "class not importable": [str(tmp_path / "gone.pt"), good, "--trust-pickle"],
        "ids beyond the vocabulary": [good, good, "--task", str(tmp_path / "big.npy")],
        "features for a token model": [good, good, "--task", str(tmp_path / "floats.npy")],
        "pickle without opt-in": [str(tmp_path / "gone.pt"), good],
    }
    messages |= {
        "unknown measure": "unknown measure",
        "unknown point": "no module named 'transformer.h.9'",
        "bad token policy": "token policy",
        "bad stimuli file": "cannot read the stimuli",
        "missing model": "model not found",
        "zero rounds": "n must be >= 1",
        "class not importable": "cannot unpickle",
        "ids beyond the vocabulary": "model a (GPT2LMHeadModel) has an embedding of 13 tokens",
        "features for a token model": "reads token ids (it starts with an embedding)",
        "pickle without opt-in": "--trust-pickle",
    }
    for what, args in cases.items():
        if "--task" not in args:
            args = [*args, "--task", ids]
        code, out = _run(*args)
        assert code == 2, (what, out)
        assert messages[what] in " ".join(out.split()), (what, out)
        assert "Traceback" not in out and len(out.strip().splitlines()) == 1, (what, out)


def test_padded_batches_pool_over_real_tokens(tmp_path: Path) -> None:
    # Right-padded sequences of a causal model: the last real token's state and logits equal
    # those of the unpadded sequence run alone.
    model = save_gpt2(tmp_path / "a", 0)
    x = tokens(6)
    lengths = [6, 4, 3, 6, 2, 5]
    mask = torch.tensor([[1] * k + [0] * (6 - k) for k in lengths])
    padded = {"input_ids": torch.where(mask.bool(), x, 0), "attention_mask": mask}
    result = compare_models(model, model, padded, n=2, measures=["linear_cka", "logit_cosine"])
    assert result.errors == {} and result.representational["linear_cka"] == pytest.approx(1.0)
    from mechequiv.study.compare import _BlockReprs, _outputs

    reps = _BlockReprs(None, "last")(model, padded)
    logits = _outputs(model, padded, "last")
    for i, k in enumerate(lengths):
        alone = x[i : i + 1, :k]
        torch.testing.assert_close(reps[i : i + 1], _BlockReprs(None, "last")(model, alone))
        torch.testing.assert_close(logits[i], model(alone).logits[0, -1], atol=1e-5, rtol=1e-5)


def test_points_per_model_across_libraries(tmp_path: Path) -> None:
    # The same GPT-2 read through transformers and through a TransformerLens bridge: different
    # names for the same residual stream, so the representations must agree exactly.
    from mechequiv.study import load_model

    save_gpt2(tmp_path / "a", 0)
    hf = load_model(tmp_path / "a")
    bridge = load_model(tmp_path / "a", transformer_lens=True)
    x = tokens(24)
    result = compare_models(
        hf, bridge, x, n=2, measures=["linear_cka", "procrustes"],
        points=["transformer.h.1"], points_b=["blocks.1.hook_out"],
    )  # fmt: skip
    assert result.points == {"a": ["transformer.h.1"], "b": ["blocks.1.hook_out"]}
    assert result.representational["linear_cka"] == pytest.approx(1.0, abs=1e-6)
    assert result.representational["procrustes"] == pytest.approx(0.0, abs=1e-3)
    with pytest.raises(ValueError, match="both point lists"):
        compare_models(hf, hf, x, points=["transformer.h.0"], points_b=["transformer.h.1"])
    args = [str(tmp_path / "a"), str(tmp_path / "a"), "--task", _ids(tmp_path), *QUICK]
    code, out = _run(*args, "-p", "transformer.h.1", "--points-b", "blocks.9.hook_out")
    assert code == 2 and "model b" in out and "blocks.9.hook_out" in out
