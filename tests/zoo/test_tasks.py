"""Tasks: contents against brute force, splits, encodings and errors."""

from __future__ import annotations

import itertools

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from mechequiv.zoo.tasks import boolean, get_task, histogram, modular_addition, operands


@given(p=st.integers(2, 13), seed=st.integers(0, 2**16), frac=st.floats(0.2, 0.8))
def test_modular_addition_rows_labels_and_split(p, seed, frac):
    t = modular_addition(p, train_fraction=frac, seed=seed)
    assert t.inputs.shape == (p * p, 2) and t.seed == seed
    for row, (a, b) in enumerate(itertools.product(range(p), repeat=2)):
        assert t.inputs[row].tolist() == [a, b]
        assert int(t.labels[row]) == (a + b) % p
    both = torch.cat([t.train_idx, t.test_idx])
    assert sorted(both.tolist()) == list(range(p * p))
    assert len(t.train_idx) == round(frac * p * p)
    assert torch.equal(t.train_mask, ~t.test_mask)
    assert t.train_mask.sum() == len(t.train_idx)
    again = modular_addition(p, train_fraction=frac, seed=seed)
    assert torch.equal(again.train_idx, t.train_idx)


def test_modular_encodings():
    t = modular_addition(5, encoding="one_hot")
    assert t.inputs.shape == (25, 10) and t.inputs.dtype == torch.float32
    a, b = operands(t)
    assert torch.equal(t.inputs.argmax(1)[:], a)
    assert torch.equal(t.inputs[:, 5:].argmax(1), b)
    d = modular_addition(5, distinct_b_tokens=True, equals_token=True)
    assert d.vocab_size == 11
    assert d.inputs[7].tolist() == [1, 2 + 5, 10]
    assert get_task("modular_addition", **d.kwargs).inputs.equal(d.inputs)


def test_modular_errors():
    with pytest.raises(ValueError, match="p must be >= 2"):
        modular_addition(1)
    with pytest.raises(TypeError, match="p must be an int"):
        modular_addition(5.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="encoding"):
        modular_addition(5, encoding="binary")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="tokens"):
        modular_addition(5, encoding="one_hot", distinct_b_tokens=True)
    with pytest.raises(ValueError, match="train_fraction"):
        modular_addition(5, train_fraction=1.0)
    with pytest.raises(ValueError, match="empty"):
        modular_addition(2, train_fraction=0.01)
    with pytest.raises(ValueError, match="modular_addition"):
        operands(boolean())


@pytest.mark.parametrize(
    ("gate", "fn"),
    [
        ("XOR", lambda x: sum(x) % 2),
        ("AND", lambda x: int(all(x))),
        ("OR", lambda x: int(any(x))),
        ("NAND", lambda x: 1 - int(all(x))),
        ("XNOR", lambda x: 1 - sum(x) % 2),
    ],
)
@pytest.mark.parametrize("n_inputs", [2, 3, 4])
def test_boolean_gates_match_brute_force(gate, fn, n_inputs):
    t = boolean(gate, n_inputs=n_inputs, n_repeats=3)
    assert t.inputs.shape == (3 * 2**n_inputs, n_inputs)
    for x, y in zip(t.inputs.tolist(), t.labels.tolist(), strict=True):
        assert y == [fn([int(v) for v in x])]


def test_boolean_multi_output_imp_and_noise():
    t = boolean(["IMP", "AND"], n_repeats=1)
    expected = {(0, 0): [1, 0], (0, 1): [1, 0], (1, 0): [0, 0], (1, 1): [1, 1]}
    for x, y in zip(t.inputs.tolist(), t.labels.tolist(), strict=True):
        assert y == expected[tuple(int(v) for v in x)]
    noisy = boolean("XOR", noise=0.1, seed=3)
    assert not torch.equal(noisy.inputs, noisy.inputs.round())
    assert torch.equal(noisy.inputs, boolean("XOR", noise=0.1, seed=3).inputs)


def test_boolean_errors():
    with pytest.raises(ValueError, match="unknown gate"):
        boolean("MAYBE")
    with pytest.raises(ValueError, match="IMP is a two-input"):
        boolean("IMP", n_inputs=3)
    with pytest.raises(ValueError, match="2, 3 or 4"):
        boolean("XOR", n_inputs=5)
    with pytest.raises(ValueError, match="at least one"):
        boolean([])
    with pytest.raises(ValueError, match="noise"):
        boolean(noise=-1.0)


def test_histogram_counts_match_brute_force():
    t = histogram(seq_len=5, vocab_size=3, n_samples=50, seed=1)
    for x, y in zip(t.inputs.tolist(), t.labels.tolist(), strict=True):
        assert y == [x.count(v) - 1 for v in x]
    assert t.readout == "all" and t.n_outputs == 5


def test_get_task_errors():
    with pytest.raises(ValueError, match="unknown task"):
        get_task("sorting")
    with pytest.raises(TypeError, match="str"):
        get_task(3)  # type: ignore[arg-type]
