"""Modular addition a + b mod p (Nanda et al. 2023; Zhong et al. 2023)."""

from __future__ import annotations

from typing import Literal

import torch

from mechequiv.zoo.tasks.base import Task, check_int, split_indices

ENCODINGS = ("tokens", "one_hot")


def modular_addition(
    p: int = 31,
    train_fraction: float = 0.8,
    seed: int = 0,
    encoding: Literal["tokens", "one_hot"] = "tokens",
    distinct_b_tokens: bool = False,
    equals_token: bool = False,
) -> Task:
    """All p² pairs (a, b) with label (a + b) mod p, split at random with ``seed``.

    Rows are in canonical order ``row = a * p + b`` (a-major), so a full grid of per-row values
    reshapes to ``(p, p, ...)`` without sorting; ``round(train_fraction * p²)`` rows train.

    Encodings (``task.inputs`` is what the models take):

    - ``"tokens"`` (transformers): ``(p², T)`` int64. Position 0 holds ``a``; position 1 holds
      ``b`` (vocabulary p, Zhong et al.'s main setting) or ``b + p`` with ``distinct_b_tokens``
      (their ``diff_vocab``, vocabulary 2p); ``equals_token`` appends a third position holding
      the '=' token, id ``vocab_size - 1``.
    - ``"one_hot"`` (MLP and bilinear models): ``(p², 2p)`` float32 ``[e_a; e_b]``.

    The default p = 31 (Zhong et al. use 59) keeps CPU training short.
    """
    p = check_int(p, "p", 2)
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding must be one of {ENCODINGS}, got {encoding!r}")
    a = torch.arange(p).repeat_interleave(p)
    b = torch.arange(p).repeat(p)
    vocab: int | None
    if encoding == "tokens":
        vocab = 2 * p if distinct_b_tokens else p
        cols = [a, b + p if distinct_b_tokens else b]
        if equals_token:
            vocab += 1
            cols.append(torch.full_like(a, vocab - 1))
        inputs = torch.stack(cols, dim=1)
    else:
        if distinct_b_tokens or equals_token:
            raise ValueError("distinct_b_tokens and equals_token apply to encoding='tokens' only")
        vocab = None
        inputs = torch.cat(
            [torch.nn.functional.one_hot(a, p), torch.nn.functional.one_hot(b, p)], dim=1
        ).to(torch.float32)
    train_idx, test_idx = split_indices(p * p, train_fraction, seed)
    return Task(
        name="modular_addition",
        inputs=inputs,
        labels=(a + b) % p,
        train_idx=train_idx,
        test_idx=test_idx,
        seed=seed,
        n_outputs=p,
        loss="cross_entropy",
        input_kind="tokens" if encoding == "tokens" else "features",
        vocab_size=vocab,
        readout="last",
        kwargs={
            "p": p,
            "train_fraction": train_fraction,
            "seed": seed,
            "encoding": encoding,
            "distinct_b_tokens": distinct_b_tokens,
            "equals_token": equals_token,
        },
    )


def operands(task: Task) -> tuple[torch.Tensor, torch.Tensor]:
    """The (a, b) operands of every row of a modular-addition task (rows are ``a * p + b``)."""
    if not isinstance(task, Task):
        raise TypeError(f"expected a Task, got {type(task).__name__}")
    if task.name != "modular_addition":
        raise ValueError(f"expected a modular_addition task, got {task.name!r}")
    p = task.n_outputs
    rows = torch.arange(p * p)
    return rows // p, rows % p
