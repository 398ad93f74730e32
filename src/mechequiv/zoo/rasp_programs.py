"""A small library of RASP programs to compile with Tracr (:mod:`mechequiv.zoo.tracr`).

Each entry of :data:`PROGRAMS` is a :class:`~mechequiv.zoo.tracr.Program`: a builder of the
RASP expression, the vocabulary, the maximum length and a sampler of valid inputs. Written for
this project from the RASP primitives (Weiss et al. 2021); selector predicates read
``predicate(key, query)``.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import numpy as np

from mechequiv.zoo.tracr import Program, rasp_language

LETTERS = frozenset("abcd")
NUMBERS = frozenset(range(1, 7))


def _any_tokens(vocab: frozenset[Any]) -> Any:
    values = sorted(vocab)

    def sample(rng: np.random.Generator, n: int, length: int) -> list[list[Hashable]]:
        return [[values[i] for i in rng.integers(0, len(values), length)] for _ in range(n)]

    return sample


def _distinct_tokens(vocab: frozenset[Any]) -> Any:
    values = sorted(vocab)

    def sample(rng: np.random.Generator, n: int, length: int) -> list[list[Hashable]]:
        if length > len(values):
            raise ValueError(f"cannot draw {length} distinct tokens from {len(values)}")
        return [[values[i] for i in rng.choice(len(values), length, replace=False)]
                for _ in range(n)]  # fmt: skip

    return sample


def length() -> Any:
    """Sequence length at every position: one head attending to everything (BOS included),
    then an MLP that reads the BOS share off and maps it to an integer."""
    rasp = rasp_language()
    return rasp.SelectorWidth(rasp.Select(rasp.tokens, rasp.tokens, rasp.Comparison.TRUE))


def histogram() -> Any:
    """How often each position's token occurs in the sequence."""
    rasp = rasp_language()
    return rasp.SelectorWidth(rasp.Select(rasp.tokens, rasp.tokens, rasp.Comparison.EQ))


def reverse() -> Any:
    """The sequence backwards: the length, the mirrored index ``length - i - 1`` (an MLP on two
    inputs), then a head that fetches the token at the mirrored index."""
    rasp = rasp_language()
    n = rasp.SelectorWidth(rasp.Select(rasp.tokens, rasp.tokens, rasp.Comparison.TRUE))
    mirrored = rasp.SequenceMap(lambda k, i: k - i - 1, n, rasp.indices)
    return rasp.Aggregate(rasp.Select(rasp.indices, mirrored, rasp.Comparison.EQ), rasp.tokens)


def sort_unique() -> Any:
    """Sort distinct tokens: each token's rank (how many are smaller), then a head that fetches
    for position i the token whose rank is i."""
    rasp = rasp_language()
    rank = rasp.SelectorWidth(rasp.Select(rasp.tokens, rasp.tokens, rasp.Comparison.LT))
    return rasp.Aggregate(rasp.Select(rank, rasp.indices, rasp.Comparison.EQ), rasp.tokens)


def frac_prevs() -> Any:
    """Fraction of the tokens so far (this one included) equal to "a": a numerical MLP marks the
    a's, a numerical head averages the marks over positions <= i."""
    rasp = rasp_language()
    is_a = rasp.numerical(rasp.Map(lambda t: 1 if t == "a" else 0, rasp.tokens))
    prevs = rasp.Select(rasp.indices, rasp.indices, rasp.Comparison.LEQ)
    return rasp.numerical(rasp.Aggregate(prevs, is_a, default=0))


def maximum() -> Any:
    """The largest token, broadcast to every position: count the tokens above each one, mark the
    positions with none above, then a head that averages the marked tokens (all equal)."""
    rasp = rasp_language()
    above = rasp.SelectorWidth(rasp.Select(rasp.tokens, rasp.tokens, rasp.Comparison.GT))
    is_max = rasp.Map(lambda k: 1 if k == 0 else 0, above)
    one = rasp.Map(lambda t: 1, rasp.tokens)
    return rasp.Aggregate(rasp.Select(is_max, one, rasp.Comparison.EQ), rasp.tokens)


def above_first() -> Any:
    """Whether each token is larger than the first one: a head fetches the first token, an MLP
    compares it with the token at hand."""
    rasp = rasp_language()
    zero = rasp.Map(lambda i: 0, rasp.indices)
    first = rasp.Aggregate(rasp.Select(rasp.indices, zero, rasp.Comparison.EQ), rasp.tokens)
    return rasp.SequenceMap(lambda t, f: 1 if t > f else 0, rasp.tokens, first)


def count_smaller() -> Any:
    """How many tokens of the sequence are smaller than each position's token."""
    rasp = rasp_language()
    return rasp.SelectorWidth(rasp.Select(rasp.tokens, rasp.tokens, rasp.Comparison.LT))


PROGRAMS: dict[str, Program] = {
    p.name: p
    for p in [
        Program("length", length, LETTERS, 5, _any_tokens(LETTERS), length.__doc__ or ""),
        Program("histogram", histogram, LETTERS, 5, _any_tokens(LETTERS), histogram.__doc__ or ""),
        Program("reverse", reverse, LETTERS, 5, _any_tokens(LETTERS), reverse.__doc__ or ""),
        Program("sort", sort_unique, NUMBERS, 5, _distinct_tokens(NUMBERS), sort_unique.__doc__ or ""),
        Program("frac_prevs", frac_prevs, LETTERS, 5, _any_tokens(LETTERS), frac_prevs.__doc__ or ""),
        Program("max", maximum, NUMBERS, 5, _any_tokens(NUMBERS), maximum.__doc__ or ""),
        Program("above_first", above_first, NUMBERS, 5, _any_tokens(NUMBERS), above_first.__doc__ or ""),
        Program("count_smaller", count_smaller, NUMBERS, 5, _any_tokens(NUMBERS), count_smaller.__doc__ or ""),
    ]
}  # fmt: skip
