"""capture(): values against hand-run forward passes, batching, token policies, modes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import mechequiv.capture.engine as engine
from mechequiv.capture import Point, capture, eval_mode, iter_capture, recording
from mechequiv.capture.batches import Batches
from mechequiv.tokens import pool_tokens

from .conftest import Shared, TinyTransformer, hook_count


def manual_states(model: TinyTransformer, ids: torch.Tensor, mask: torch.Tensor | None) -> list:
    """Embedding and block outputs computed by calling the submodules by hand."""
    with torch.no_grad():
        x = model.embed(ids)
        states = [x]
        pad = None if mask is None else mask == 0
        for block in model.blocks:
            x = block(x, pad)
            states.append(x)
    return states


def test_capture_matches_manual_forward(tiny: TinyTransformer, tokens: dict) -> None:
    got = capture(tiny, tokens, ["embed", "blocks.0", "blocks.1", "blocks.1.mlp.0"])
    ref = manual_states(tiny, tokens["input_ids"], tokens["attention_mask"])
    for name, r in zip(["embed", "blocks.0", "blocks.1"], ref, strict=True):
        torch.testing.assert_close(got[name], r, rtol=0, atol=0)
    with torch.no_grad():
        h = tiny.blocks[1].ln2(ref[1] + tiny.blocks[1].attn(
            *[tiny.blocks[1].ln1(ref[1])] * 3,
            key_padding_mask=tokens["attention_mask"] == 0, need_weights=False,
        )[0])  # fmt: skip
        torch.testing.assert_close(got["blocks.1.mlp.0"], tiny.blocks[1].mlp[0](h))
    assert got["blocks.0"].shape == (9, 6, 16)
    assert got["blocks.0"].device.type == "cpu" and got["blocks.0"].dtype == torch.float32
    assert not got["blocks.0"].requires_grad


def test_dict_tuple_tensor_and_list_inputs_agree(tiny: TinyTransformer, tokens: dict) -> None:
    ids, mask = tokens["input_ids"], tokens["attention_mask"]
    full = capture(tiny, tokens, ["blocks.1"])["blocks.1"]
    as_tuple = capture(tiny, (ids, mask), ["blocks.1"])["blocks.1"]
    as_list = capture(
        tiny,
        [
            {"input_ids": ids[:4], "attention_mask": mask[:4]},
            {"input_ids": ids[4:], "attention_mask": mask[4:]},
        ],
        ["blocks.1"],
    )
    as_numpy = capture(tiny, (ids.numpy(), mask.numpy()), ["blocks.1"])["blocks.1"]
    torch.testing.assert_close(as_tuple, full)
    torch.testing.assert_close(as_list["blocks.1"], full)
    torch.testing.assert_close(as_numpy, full)
    no_mask = capture(tiny, ids, ["blocks.1"])["blocks.1"]
    torch.testing.assert_close(no_mask, manual_states(tiny, ids, None)[2])


@settings(deadline=None, max_examples=20)
@given(
    batch_size=st.integers(1, 10),
    cut=st.integers(1, 8),
)
def test_batching_does_not_change_values(batch_size: int, cut: int) -> None:
    torch.manual_seed(0)
    model = TinyTransformer().eval()
    ids = torch.randint(0, 11, (9, 5), generator=torch.Generator().manual_seed(2))
    ref = capture(model, ids, ["blocks.0", "unembed"])
    got = capture(model, [ids[:cut], ids[cut:]], ["blocks.0", "unembed"], batch_size=batch_size)
    for k in ref:
        torch.testing.assert_close(got[k], ref[k], rtol=1e-5, atol=1e-6)


def test_chunks_cover_rows_once_and_resume() -> None:
    data = Batches([torch.zeros(5, 2), torch.zeros(3, 2)], batch_size=2)
    spans = [(c.start, c.stop) for c in data.chunks()]
    assert spans == [(0, 2), (2, 4), (4, 5), (5, 7), (7, 8)]
    assert [(c.start, c.stop) for c in data.chunks(start=3)] == [(3, 4), (4, 5), (5, 7), (7, 8)]
    assert [c.batch.shape[0] for c in data.chunks(start=3)] == [1, 1, 2, 1]


@pytest.mark.parametrize("policy", ["last", "mean", "all", 0, -2])
def test_token_policies_use_the_attention_mask(tiny: TinyTransformer, tokens: dict, policy) -> None:
    full = capture(tiny, tokens, ["blocks.0"])["blocks.0"]
    got = capture(tiny, tokens, ["blocks.0"], tokens=policy, batch_size=4)["blocks.0"]
    torch.testing.assert_close(got, pool_tokens(full, policy, tokens["attention_mask"]))


def test_token_policy_last_by_hand(tiny: TinyTransformer, tokens: dict) -> None:
    full = capture(tiny, tokens, ["blocks.1"])["blocks.1"]
    got = capture(tiny, tokens, ["blocks.1"], tokens="last")["blocks.1"]
    lengths = tokens["attention_mask"].sum(1)
    for i in range(9):
        torch.testing.assert_close(got[i], full[i, lengths[i] - 1])
    unmasked = capture(tiny, tokens, ["blocks.1"], tokens="last", mask=None)["blocks.1"]
    torch.testing.assert_close(unmasked, full[:, -1])
    explicit = torch.ones(9, 6, dtype=torch.bool)
    explicit[:, 3:] = False
    got = capture(tiny, tokens["input_ids"], ["blocks.1"], tokens="mean", mask=explicit)
    ref = manual_states(tiny, tokens["input_ids"], None)[2][:, :3].mean(1)
    torch.testing.assert_close(got["blocks.1"], ref)


def test_input_points_and_tuple_select(mlp: torch.nn.Sequential) -> None:
    x = torch.randn(6, 5)
    got = capture(mlp, x, [Point("2", output="input", name="pre"), "1", Point("", name="out")])
    torch.testing.assert_close(got["1"], torch.relu(mlp[0](x)).detach())
    torch.testing.assert_close(got[Point("2", output="input", name="pre")], got["1"])
    torch.testing.assert_close(got[Point("", name="out")], mlp(x).detach())


def test_shared_module_calls() -> None:
    torch.manual_seed(0)
    model = Shared()
    x = torch.randn(4, 3)
    got = capture(
        model, x, [Point("layer", call=1), Point("layer", call="all"), Point("", select=0)]
    )
    with torch.no_grad():
        h, outs = model.inp(x), []
        for _ in range(3):
            outs.append(model.layer(h))
            h = torch.tanh(outs[-1])
    torch.testing.assert_close(got[Point("layer", call=1)], outs[1])
    torch.testing.assert_close(got[Point("layer", call="all")], torch.stack(outs, 1))
    torch.testing.assert_close(got[Point("", select=0)], h)


def test_eval_mode_by_default_and_modes_restored(tiny: TinyTransformer, tokens: dict) -> None:
    tiny.train()
    tiny.blocks[0].eval()  # mixed modes must come back exactly
    modes = {n: m.training for n, m in tiny.named_modules()}
    a = capture(tiny, tokens, ["blocks.1"])["blocks.1"]
    b = capture(tiny, tokens, ["blocks.1"])["blocks.1"]
    torch.testing.assert_close(a, b)  # dropout off
    assert {n: m.training for n, m in tiny.named_modules()} == modes
    torch.manual_seed(5)
    c = capture(tiny, tokens, ["blocks.1"], eval=False)["blocks.1"]
    assert not torch.allclose(a, c)  # dropout on in train mode
    assert {n: m.training for n, m in tiny.named_modules()} == modes
    with eval_mode(tiny):
        assert not any(m.training for m in tiny.modules())
    assert {n: m.training for n, m in tiny.named_modules()} == modes


def test_keeps_dtype_and_runs_without_grad(mlp: torch.nn.Sequential) -> None:
    mlp = mlp.double()
    got = capture(mlp, torch.randn(3, 5, dtype=torch.float64), ["0"])["0"]
    assert got.dtype == torch.float64 and not got.requires_grad


def test_recording_context_and_iter_capture(mlp: torch.nn.Sequential) -> None:
    x = torch.randn(7, 5)
    with recording(mlp, ["0", "2"]) as rec:
        mlp(x[:3])
        mlp(x)  # only the last pass is kept
        acts = rec.pop()
    assert hook_count(mlp) == 0
    torch.testing.assert_close(acts["2"], mlp(x))
    parts = list(iter_capture(mlp, x, ["0"], batch_size=3))
    assert [(p.start, p.stop) for p in parts] == [(0, 3), (3, 6), (6, 7)]
    torch.testing.assert_close(torch.cat([p.acts["0"] for p in parts]), mlp[0](x).detach())


def test_progress_bar_shown_when_asked_silent_otherwise(
    mlp: torch.nn.Sequential, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    x = torch.randn(8, 5)
    monkeypatch.setattr(engine, "PROGRESS_DELAY_S", 0.0)  # "long" captures from the start
    a = capture(mlp, x, ["0"], batch_size=2, progress=False)["0"]
    assert capsys.readouterr().out == ""
    capture(mlp, x, ["0"], batch_size=2)  # default: only on an interactive terminal
    assert capsys.readouterr().out == ""
    b = capture(mlp, x, ["0"], batch_size=2, progress=True)["0"]
    assert "capture" in capsys.readouterr().out
    np.testing.assert_array_equal(a.numpy(), b.numpy())


@settings(deadline=None, max_examples=40)
@given(
    sizes=st.lists(st.integers(1, 9), min_size=1, max_size=4),
    batch_size=st.none() | st.integers(1, 5),
    start=st.integers(0, 40),
)
def test_chunks_partition_the_rows(sizes: list[int], batch_size: int | None, start: int) -> None:
    n = sum(sizes)
    data = Batches([torch.arange(k) for k in sizes], batch_size)
    chunks = list(data.chunks(start))
    rows = torch.cat([c.batch for c in chunks]) if chunks else torch.zeros(0)
    offsets = torch.cat([torch.arange(k) for k in sizes])[min(start, n) :]
    assert torch.equal(rows, offsets)  # each remaining row once, in order
    assert [c.start for c in chunks[1:]] == [c.stop for c in chunks[:-1]]
    assert all(c.stop - c.start == len(c.batch) for c in chunks)
    if batch_size is not None:
        assert all(len(c.batch) <= batch_size for c in chunks)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_model_gives_cpu_activations(tiny: TinyTransformer, tokens: dict) -> None:
    ref = capture(tiny, tokens, ["blocks.1"], tokens="last")["blocks.1"]
    got = capture(tiny.cuda(), tokens, ["blocks.1"], tokens="last", batch_size=4)["blocks.1"]
    assert got.device.type == "cpu"
    torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-4)


def test_device_none_leaves_inputs(mlp: torch.nn.Sequential) -> None:
    x = torch.randn(4, 5)
    got = capture(mlp, x, ["0"], device=None)["0"]
    torch.testing.assert_close(got, mlp[0](x).detach())
    kept = capture(mlp, x, ["0"], out_device=None, batch_size=3)["0"]
    torch.testing.assert_close(kept, got)
    moved = capture(mlp, x, ["0"], out_device="meta", batch_size=3)["0"]
    assert moved.device.type == "meta" and moved.shape == (4, 7)
