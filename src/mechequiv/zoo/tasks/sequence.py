"""Histogram (token counting), a sequence task with a known one-layer attention circuit.

Weiss et al. (RASP, 2021): at every position output how often that position's token occurs in
the sequence. The known circuit is one attention layer attending to positions holding the same
token (a selector ``x_i == x_j``) followed by a read-out of the selector width.
"""

from __future__ import annotations

import numpy as np
import torch

from mechequiv.zoo.tasks.base import Task, check_int, split_indices


def histogram(
    seq_len: int = 6,
    vocab_size: int = 6,
    n_samples: int = 2048,
    train_fraction: float = 0.8,
    seed: int = 0,
) -> Task:
    """Random sequences with per-position target ``count(x_i in x) - 1`` (classes 0..seq_len-1).

    Sequences are drawn uniformly from ``vocab_size ** seq_len`` with ``seed`` (duplicates are
    possible when that space is small).
    """
    seq_len = check_int(seq_len, "seq_len", 2)
    vocab_size = check_int(vocab_size, "vocab_size", 2)
    n_samples = check_int(n_samples, "n_samples", 2)
    x = np.random.default_rng(seed).integers(0, vocab_size, size=(n_samples, seq_len))
    counts = (x[:, :, None] == x[:, None, :]).sum(axis=2) - 1
    train_idx, test_idx = split_indices(n_samples, train_fraction, seed)
    return Task(
        name="histogram",
        inputs=torch.as_tensor(x, dtype=torch.int64),
        labels=torch.as_tensor(counts, dtype=torch.int64),
        train_idx=train_idx,
        test_idx=test_idx,
        seed=seed,
        n_outputs=seq_len,
        loss="cross_entropy",
        input_kind="tokens",
        vocab_size=vocab_size,
        readout="all",
        kwargs={
            "seq_len": seq_len,
            "vocab_size": vocab_size,
            "n_samples": n_samples,
            "train_fraction": train_fraction,
            "seed": seed,
        },
    )
