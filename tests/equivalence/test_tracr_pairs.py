"""Tracr-compiled validation pairs: exact reparameterisations, same-function programs, and the
orderings every representation measure and Congruity's positive control must respect."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

pytest.importorskip("tracr")

from mechequiv import measures
from mechequiv.equivalence import LayerReprs, SymmetryTransform, congruity
from mechequiv.zoo.rasp_programs import PROGRAMS
from mechequiv.zoo.tracr import compile_program
from mechequiv.zoo.tracr_pairs import (
    SAME_FUNCTION,
    TracrSymmetry,
    all_sequences,
    decoded_outputs,
    permute_circuit,
    program,
    transformed_copy,
)

REPRS = LayerReprs(tokens="all")


class _Compiled(dict):
    """Programs compiled on first use (compiling costs about 0.5 s each)."""

    def __missing__(self, name: str) -> Any:
        self[name] = compile_program(program(name))
        return self[name]


@pytest.fixture(scope="module")
def compiled() -> dict:
    return _Compiled()


@pytest.fixture(scope="module")
def letters() -> list:
    return all_sequences(PROGRAMS["reverse"].vocab, 5)


@pytest.mark.parametrize("name", ["reverse", "sort_alt", "max_alt"])
def test_transformed_copy_is_exact(compiled, name):
    c = compiled[name]
    seqs = all_sequences(c.model.vocab.keys() - {"BOS", "compiler_pad"}, 4, distinct=True)
    x = c.model.encode(seqs)
    new, head_perms, _ = transformed_copy(c.model, np.random.default_rng(0))
    with torch.no_grad():
        assert torch.allclose(new(x), c.model(x), atol=1e-10)
        # and it really moved the weights: the residual stream is rotated
        assert (new.token_embed - c.model.token_embed).abs().max() > 0.1
    assert new is not c.model and len(head_perms) == c.model.n_layers


def test_head_permutation_carries_the_ground_truth(compiled):
    c = compiled["sort_alt"]  # two heads in layer 0
    assert c.model.n_heads == 2
    moved_heads = set()
    for seed in range(6):
        new, head_perms, unit_perms = transformed_copy(
            c.model, np.random.default_rng(seed), rotate=False
        )
        truth = permute_circuit(c.ground_truth, head_perms, unit_perms)
        assert len(truth.heads) == len(c.ground_truth.heads)
        for layer, h_old in c.ground_truth.heads:
            h_new = int(np.argsort(head_perms[layer])[h_old])
            assert (layer, h_new) in truth.heads
            assert f"L{layer}H{h_new}" in truth.labels
            assert torch.equal(
                new.blocks[layer].attn.W_Q[h_new], c.model.blocks[layer].attn.W_Q[h_old]
            )
            moved_heads.add((layer, h_old, h_new))
        for layer, units in c.ground_truth.neurons.items():
            old_w = c.model.blocks[layer].mlp.W_in[:, list(units)]
            new_w = new.blocks[layer].mlp.W_in[:, list(truth.neurons[layer])]
            assert torch.equal(old_w.sum(1), new_w.sum(1))  # same units, any order
    assert any(h_old != h_new for _, h_old, h_new in moved_heads)  # permutations did happen


@pytest.mark.slow  # compiles eight programs and checks every input
@pytest.mark.parametrize(("alt", "orig"), sorted(SAME_FUNCTION.items()))
def test_alternatives_compute_the_same_function_differently(compiled, alt, orig):
    a, o = compiled[alt], compiled[orig]
    length = 4 if orig == "max" else 5  # max: all 6^4 inputs here, all 6^5 in the benchmark
    vocab = o.model.vocab.keys() - {"BOS", "compiler_pad"}
    seqs = all_sequences(vocab, length, distinct=orig == "sort")
    assert decoded_outputs(a.model, seqs) == decoded_outputs(o.model, seqs)

    # a different computation graph: the circuits compute other kinds of RASP operations
    # (labels such as "selector_width_12": the kind without the expression's id)
    def kinds(c: Any) -> list[str]:
        return sorted(op.rsplit("_", 1)[0] for v in c.ground_truth.labels.values() for op in v)

    assert kinds(a) != kinds(o)


def test_measures_put_a_rotated_copy_at_zero_and_another_function_far(compiled, letters):
    hist, rev = compiled["histogram"], compiled["reverse"]
    x = hist.model.encode(letters)
    rot, _, _ = transformed_copy(hist.model, np.random.default_rng(3))
    r, r_rot, r_other = REPRS(hist.model, x), REPRS(rot, x), REPRS(rev.model, x)
    cka, dist = measures.get("linear_cka").fn, measures.get("repr_distance").fn
    proc = measures.get("procrustes").fn
    assert cka(r, r_rot) > 1 - 1e-9 and dist(r, r_rot) < 1e-5 and proc(r, r_rot) < 1e-5
    assert cka(r, r_other) < 0.9 and dist(r, r_other) > 0.3 and proc(r, r_other) > 0.3


def test_positive_control_does_not_flag_a_rotated_copy_but_flags_another_function(
    compiled, letters
):
    hist, rev = compiled["histogram"], compiled["reverse"]
    x = hist.model.encode(letters[::16])
    rot, _, _ = transformed_copy(hist.model, np.random.default_rng(5))
    same = congruity(hist.model, rot, x, n=6, sampler=TracrSymmetry(), reprs=REPRS, progress=False)
    other = congruity(hist.model, rev.model, x, n=6, sampler=TracrSymmetry(), reprs=REPRS,
                      progress=False)  # fmt: skip
    assert not same.distinguishable and same.score > 0.8
    assert other.distinguishable and other.score < 0.2


def test_package_symmetry_transform_refuses_tracr_layout(compiled):
    with pytest.raises(TypeError, match="TracrTransformer"):
        SymmetryTransform().sample(compiled["histogram"].model, np.random.default_rng(0))


def test_bad_inputs():
    with pytest.raises(TypeError, match="TracrTransformer"):
        transformed_copy(torch.nn.Linear(2, 2), np.random.default_rng(0))
    with pytest.raises(ValueError, match="unknown program 'nope'"):
        program("nope")
