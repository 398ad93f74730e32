"""Statistics of the Congruity score: bootstrap intervals and tests of distinguishability."""

from __future__ import annotations

import numpy as np
from scipy import stats


def congruity_score(indicators: np.ndarray) -> float:
    """1 - |s/n - 1| for an (n, 2) array of per-round indicators (values 0, 0.5 or 1)."""
    n = indicators.shape[0]
    return float(1.0 - abs(indicators.sum() / n - 1.0))


def bootstrap_ci(
    indicators: np.ndarray, rng: np.random.Generator, n_boot: int = 2000, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of the score, resampling rounds (both indicators together)."""
    n = indicators.shape[0]
    per_round = indicators.sum(1)
    idx = rng.integers(0, n, size=(n_boot, n))
    scores = 1.0 - np.abs(per_round[idx].sum(1) / n - 1.0)
    lo, hi = np.quantile(scores, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def z_test_distinguishable(p: float, trials: int, z: float = 1.96) -> bool:
    """The reference code's rule: p - z sqrt(p (1 - p) / trials) > 1/2 (one-sided normal bound)."""
    return bool(p - z * np.sqrt(p * (1.0 - p) / trials) > 0.5)


def binomial_p_value(indicators: np.ndarray) -> float:
    """Exact one-sided binomial (sign) test of H0: P(own implementation closer) <= 1/2.

    Each indicator is one trial; ties (0.5) carry no sign and are dropped, as in the sign test.
    The two indicators of a round share a draw, so this treats 2n trials as independent: an
    approximation that the bootstrap interval (which resamples whole rounds) does not make.
    """
    flat = indicators.ravel()
    wins = int((flat == 1.0).sum())
    trials = int((flat != 0.5).sum())
    if trials == 0:
        return 1.0
    return float(stats.binomtest(wins, trials, 0.5, alternative="greater").pvalue)
