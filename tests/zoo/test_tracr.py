"""Tracr-compiled programs in torch: output-for-output against Tracr, and their ground truth."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

pytest.importorskip("tracr")

from mechequiv.zoo.rasp_programs import PROGRAMS
from mechequiv.zoo.tracr import (
    TracrCircuit,
    compile_program,
    with_distractor,
)


def all_inputs(name: str, length: int) -> list[list]:
    prog = PROGRAMS[name]
    seqs = [list(s) for s in itertools.product(sorted(prog.vocab), repeat=length)]
    if name == "sort":
        seqs = [s for s in seqs if len(set(s)) == len(s)]
    return seqs


def check_against_tracr(name: str, length: int) -> None:
    compiled = compile_program(PROGRAMS[name], with_tracr=True)
    model, tracr = compiled.model, compiled.tracr_model
    # Weights laid out exactly as Tracr's own assembly (float32 there).
    params = tracr.params
    assert torch.allclose(
        model.token_embed, torch.tensor(np.asarray(params["token_embed"]["embeddings"], np.float64))
    )
    assert torch.allclose(model.pos_embed, torch.tensor(np.asarray(params["pos_embed"]["embeddings"], np.float64)))  # fmt: skip
    seqs = all_inputs(name, length)
    out = model(model.encode(seqs)).detach()
    resid, expected = compiled.run_tracr(seqs)
    # Tracr runs in float32: agreement to ~1e-5 of the output scale, on every input.
    torch.testing.assert_close(out, torch.tensor(resid) @ model.unembed.detach(), atol=1e-5, rtol=0)
    decoded = model.decode(out)
    if model.categorical:
        assert decoded == expected
    else:
        assert np.allclose(decoded, expected, atol=1e-5)


@pytest.mark.parametrize(("name", "length"), [("histogram", 3)])
def test_torch_model_matches_tracr_on_every_input(name, length):
    check_against_tracr(name, length)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(set(PROGRAMS) - {"histogram"}))
def test_torch_model_matches_tracr_on_every_input_all_programs(name):
    check_against_tracr(name, 3)


def test_programs_compute_what_they_say():
    rng = np.random.default_rng(0)
    compiled = {n: compile_program(p) for n, p in PROGRAMS.items()}
    for name, c in compiled.items():
        seqs = PROGRAMS[name].sample(rng, 30, 4)
        got = c.model.decode(c.model(c.model.encode(seqs)))
        for s, g in zip(seqs, got, strict=True):
            want = {
                "length": [len(s)] * len(s),
                "histogram": [s.count(x) for x in s],
                "reverse": s[::-1],
                "sort": sorted(s),
                "frac_prevs": [s[: i + 1].count("a") / (i + 1) for i in range(len(s))],
                "max": [max(s)] * len(s),
                "above_first": [int(x > s[0]) for x in s],
                "count_smaller": [sum(y < x for y in s) for x in s],
            }[name]
            if c.model.categorical:
                assert g == want, (name, s, g)
            else:
                assert np.allclose(g, want, atol=1e-3), (name, s, g)


def test_ground_truth_from_the_program_graph():
    reverse = compile_program(PROGRAMS["reverse"]).ground_truth
    # length (head + MLP at layer 0), mirrored index (MLP at layer 1), fetch (head at layer 2)
    assert reverse.heads == ((0, 0), (2, 0))
    assert reverse.mlps == (0, 1)
    assert reverse.labels["L1MLP"][0].startswith("sequence_map")
    assert reverse.labels["L2H0"][0].startswith("aggregate")
    frac = compile_program(PROGRAMS["frac_prevs"]).ground_truth
    assert frac.heads == ((1, 0),) and frac.mlps == (0,)  # layer 0's attention is empty
    assert TracrCircuit.from_dict(reverse.to_dict()) == reverse
    assert reverse.hook_components()[0] == ("blocks.0.attn.hook_result", 0)


def test_distractor_runs_both_programs_and_outputs_only_the_primary():
    rev, hist = compile_program(PROGRAMS["reverse"]), compile_program(PROGRAMS["histogram"])
    both = with_distractor(rev, hist)
    x = rev.model.encode(PROGRAMS["reverse"].sample(np.random.default_rng(1), 40, 4))
    assert torch.allclose(both.model(x), rev.model(x), atol=1e-12)
    # The distractor's half of the residual stream still computes the histogram.
    d_rev = rev.model.unembed.shape[0]
    final = {}
    handle = both.model.blocks[-1].hook_resid_post.register_forward_hook(
        lambda m, i, o: final.setdefault("x", o)
    )
    both.model(x)
    handle.remove()
    assert torch.allclose(final["x"][..., d_rev:] @ hist.model.unembed, hist.model(x), atol=1e-9)
    assert both.ground_truth.heads == rev.ground_truth.heads
    assert both.model.n_heads == 2 and both.model.n_layers == 3


def test_bad_inputs():
    model = compile_program(PROGRAMS["histogram"]).model
    with pytest.raises(ValueError, match="not in the compiled vocabulary"):
        model.encode([["a", "z"]])
    with pytest.raises(ValueError, match="one length"):
        model.encode([["a"], ["a", "b"]])
    with pytest.raises(ValueError, match="exceed the compiled maximum"):
        model(torch.zeros(1, 9, dtype=torch.long))
    with pytest.raises(ValueError, match="same vocabulary"):
        with_distractor(compile_program(PROGRAMS["histogram"]), compile_program(PROGRAMS["sort"]))
