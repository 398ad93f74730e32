"""Hidden-unit helpers shared by the symmetry samplers.

Which activations commute with a rescaling or a sign flip is part of the model protocol
(:data:`mechequiv.capture.protocol.HOMOGENEOUS`, ``ODD``, ``ELEMENTWISE``).
"""

from __future__ import annotations

import numpy as np


def log_uniform(
    rng: np.random.Generator, scale_range: tuple[float, float], size: int
) -> np.ndarray:
    """Positive factors drawn log-uniformly from ``scale_range``."""
    low, high = np.log(scale_range)
    result: np.ndarray = np.exp(rng.uniform(low, high, size=size))
    return result
