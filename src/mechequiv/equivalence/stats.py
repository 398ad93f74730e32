"""Statistics of the Congruity score: per-direction tests, their combination, bootstrap intervals.

Conventions. ``indicators`` is an (n, 2) array: row k holds round k's two indicators, column 0
"model 1's own implementation was at least as close to model 1 as the other's" and column 1 the
same with model 2 as the anchor; values 1, 0, or 0.5 for a tie. Each direction is tested on its
own (the authors' code also tests one anchor at a time), because summing the two columns before
testing lets opposite one-sided results cancel: a pair whose model-1 indicators are all 1 and
whose model-2 indicators are all 0 sums to s/n = 1, exactly what equivalent models give.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypedDict

import numpy as np
from scipy import stats


def congruity_score(indicators: np.ndarray) -> float:
    """1 - |s/n - 1| for an (n, 2) array of per-round indicators (values 0, 0.5 or 1)."""
    n = indicators.shape[0]
    return float(1.0 - abs(indicators.sum() / n - 1.0))


def sign_test(indicators: np.ndarray, alternative: str = "greater") -> float:
    """Exact one-sided binomial (sign) test of one direction's indicators.

    ``alternative="greater"``: H0 P(own implementation closer) <= 1/2 against > 1/2 (small p: the
    anchor's own implementations are closer than the other model's, i.e. distinguishable from
    this anchor). ``"less"``: H0 >= 1/2 against < 1/2 (the other model's implementations are
    closer). Rounds are independent draws, so the n indicators of one direction are independent
    trials; ties (0.5) carry no sign and are dropped, as in the sign test.
    """
    col = np.asarray(indicators, dtype=float).ravel()
    wins, trials = int((col == 1.0).sum()), int((col != 0.5).sum())
    if trials == 0:
        return 1.0
    return float(stats.binomtest(wins, trials, 0.5, alternative=alternative).pvalue)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values (family-wise error control, any dependence between the tests)."""
    p = np.asarray(p_values, dtype=float)
    order = np.argsort(p)
    m = len(p)
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return adjusted.tolist()


class DirectionTests(TypedDict):
    """:func:`direction_tests`' answer."""

    p_value_1: float
    p_value_2: float
    p_value: float
    discordant: bool


def direction_tests(indicators: np.ndarray, alpha: float) -> DirectionTests:
    """Per-direction sign tests, the overall verdict and the discordance flag.

    Returns ``p_value_1`` / ``p_value_2`` (each direction's one-sided test that its own
    implementations are closer, unadjusted), ``p_value`` (the overall test: Holm over the two
    directions, which for "does either direction reject" is min(1, 2 min(p_1, p_2))), and
    ``discordant``: one direction rejects "own no closer" at Holm level ``alpha`` while the other
    rejects "own no farther" (the ``"less"`` sign test) at ``alpha``. For equivalent models
    (every indicator a fair coin) the flag fires with probability at most ``alpha`` (it needs a
    false rejection of the "less" test in some direction), about alpha^2 when directions are
    independent.
    """
    ind = np.asarray(indicators, dtype=float)
    p_greater = [sign_test(ind[:, 0]), sign_test(ind[:, 1])]
    p_less = [sign_test(ind[:, 0], "less"), sign_test(ind[:, 1], "less")]
    adjusted = holm(p_greater)
    discordant = any(adjusted[k] < alpha and p_less[1 - k] < alpha for k in (0, 1))
    return {
        "p_value_1": p_greater[0],
        "p_value_2": p_greater[1],
        "p_value": min(adjusted),
        "discordant": bool(discordant),
    }


def bootstrap_intervals(
    indicators: np.ndarray,
    rng: np.random.Generator,
    n_boot: int = 2000,
    level: float = 0.95,
    sources: np.ndarray | None = None,
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap intervals of the score and of each direction's rate.

    Without ``sources`` rounds are resampled whole (both indicators of a round together). With
    ``sources`` (an (n, 2) integer array: which pool member model 1's and model 2's
    implementation came from in each round, -1 when unknown) the bootstrap is hierarchical (see
    :func:`member_weights`): pool members are resampled, so a small pool's few members are
    not treated as the whole implementation set.
    """
    ind = np.asarray(indicators, dtype=float)
    n = ind.shape[0]
    if sources is None or not (np.asarray(sources) >= 0).any():
        idx = rng.integers(0, n, size=(n_boot, n))
        rates = ind[idx].mean(1)  # (n_boot, 2)
    else:
        w = member_weights(np.asarray(sources), rng, n_boot)  # (n_boot, n)
        rates = (w @ ind) / w.sum(1, keepdims=True)
    scores = 1.0 - np.abs(rates.sum(1) - 1.0)
    q = [(1 - level) / 2, 1 - (1 - level) / 2]

    def interval(values: np.ndarray) -> tuple[float, float]:
        lo, hi = np.quantile(values, q)
        return float(lo), float(hi)

    return {
        "score": interval(scores),
        "rate_1": interval(rates[:, 0]),
        "rate_2": interval(rates[:, 1]),
    }


def member_weights(sources: np.ndarray, rng: np.random.Generator, n_boot: int) -> np.ndarray:
    """(n_boot, n) round weights of a cluster bootstrap over pool members.

    Each resample draws each model's pool members with replacement (the members seen in the
    rounds; -1 marks draws with no known member, each its own member) and keeps every round
    with weight = product of its two members' multiplicities; rounds are not resampled again
    within members (resampling at the top level only: a second stage would count the
    within-member variation twice and over-cover). A resample that keeps no round (no pair of
    picked members met in a round) is drawn again. With few members the member-to-member
    spread dominates the interval, as it should, instead of vanishing because the pool is held
    fixed.
    """
    src = np.asarray(sources, dtype=np.int64)
    n = src.shape[0]
    codes = []
    for k in (0, 1):
        col = src[:, k].copy()
        unknown = col < 0
        col[unknown] = col.max(initial=-1) + 1 + np.flatnonzero(unknown)
        _, code = np.unique(col, return_inverse=True)
        codes.append(code)
    sizes = [int(c.max()) + 1 for c in codes]
    out = np.zeros((n_boot, n))
    for b in range(n_boot):
        for _ in range(100):
            mult = [np.bincount(rng.integers(0, s, size=s), minlength=s) for s in sizes]
            w = (mult[0][codes[0]] * mult[1][codes[1]]).astype(float)
            if w.sum() > 0:
                break
        else:  # members never met in a round: fall back to resampling rounds
            w = np.bincount(rng.integers(0, n, size=n), minlength=n).astype(float)
        out[b] = w
    return out


def bootstrap_ci(
    indicators: np.ndarray, rng: np.random.Generator, n_boot: int = 2000, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of the score, resampling rounds (both indicators together)."""
    return bootstrap_intervals(indicators, rng, n_boot, level)["score"]


def z_test_distinguishable(p: float, trials: int, z: float = 1.96) -> bool:
    """The reference code's rule: p - z sqrt(p (1 - p) / trials) > 1/2 (one-sided normal bound)."""
    return bool(p - z * np.sqrt(p * (1.0 - p) / trials) > 0.5)


def binomial_p_value(indicators: np.ndarray) -> float:
    """Pooled exact one-sided sign test over both directions' 2n indicators (ties dropped).

    Kept for reference: pooling lets opposite one-sided results cancel, and the two indicators of
    a round share a draw, so Congruity's verdict uses :func:`direction_tests` instead.
    """
    return sign_test(np.asarray(indicators).ravel())
