"""Modular addition a + b mod p (Nanda et al. 2023; Zhong et al. 2023)."""

from __future__ import annotations

import torch

from mechequiv.zoo.tasks.base import Task, check_int, split_indices


def modular_addition(
    p: int = 31,
    train_fraction: float = 0.8,
    seed: int = 0,
    distinct_b_tokens: bool = True,
    equals_token: bool = False,
) -> Task:
    """All p² pairs (a, b) with target (a + b) mod p, split at random.

    Rows are in canonical order ``row = a * p + b`` (a-major), so the full grid of logits can be
    reshaped to ``(p, p, n_outputs)`` without sorting.

    Token encoding (the transformer input): position 0 holds ``a``; position 1 holds ``b + p``
    when ``distinct_b_tokens`` (Zhong et al.'s ``diff_vocab``, vocabulary 2p) or ``b`` otherwise
    (vocabulary p); with ``equals_token`` a third position holds the '=' token, id ``vocab - 1``.
    :meth:`Task.features` gives the one-hot concatenation used by MLP and bilinear models.

    Default p = 31 (Zhong et al. use 59, train fraction 0.8) keeps CPU training to minutes; the
    Pizza/Clock separation holds at this size.
    """
    p = check_int("p", p, 2)
    a = torch.arange(p).repeat_interleave(p)
    b = torch.arange(p).repeat(p)
    vocab = 2 * p if distinct_b_tokens else p
    cols = [a, b + p if distinct_b_tokens else b]
    if equals_token:
        vocab += 1
        cols.append(torch.full_like(a, vocab - 1))
    train_idx, test_idx = split_indices(p * p, train_fraction, seed)
    return Task(
        name="modular_addition",
        inputs=torch.stack(cols, dim=1),
        targets=(a + b) % p,
        train_idx=train_idx,
        test_idx=test_idx,
        n_outputs=p,
        loss="cross_entropy",
        input_kind="tokens",
        vocab_size=vocab,
        readout="last",
        kwargs={
            "p": p,
            "train_fraction": train_fraction,
            "seed": seed,
            "distinct_b_tokens": distinct_b_tokens,
            "equals_token": equals_token,
        },
    )


def operands(task: Task) -> tuple[torch.Tensor, torch.Tensor]:
    """The (a, b) operands of every row of a modular-addition task."""
    if task.name != "modular_addition":
        raise ValueError(f"expected a modular_addition task, got {task.name!r}")
    p = task.n_outputs
    rows = torch.arange(p * p)
    return rows // p, rows % p
