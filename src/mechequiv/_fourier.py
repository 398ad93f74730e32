"""The Fourier helper that the zoo's labels and the equivalence GetReprs share."""

from __future__ import annotations

import numpy as np


def strongest_covering(power: np.ndarray, coverage: float) -> tuple[int, ...]:
    """Indices (ascending) of the fewest entries, strongest first, whose sum holds ``coverage``
    of the total; ``power`` must be non-negative with a positive sum."""
    order = np.argsort(-power, kind="stable")
    n_key = int(np.searchsorted(np.cumsum(power[order]) / power.sum(), coverage - 1e-12) + 1)
    return tuple(sorted(int(i) for i in order[:n_key]))
