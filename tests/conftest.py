"""Shared fixtures and hypothesis settings."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, settings

settings.register_profile(
    "mechequiv",
    max_examples=25,
    deadline=None,
    # CI must be reproducible: the same examples on every run, so a red build is a real failure
    # that reproduces locally, not a draw. MECHEQUIV_HYPOTHESIS=explore draws anew.
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "explore", settings.get_profile("mechequiv"), derandomize=False, max_examples=200
)
settings.load_profile(os.environ.get("MECHEQUIV_HYPOTHESIS", "mechequiv"))
torch.set_num_threads(1)


@pytest.fixture
def kornblith_xy() -> tuple[np.ndarray, np.ndarray]:
    """The Kornblith et al. demo data (legacy RandomState stream, stable across numpy versions)."""
    rs = np.random.RandomState(1337)  # the notebook's np.random.seed(1337) stream
    X = rs.randn(100, 10)
    Y = rs.randn(100, 10) + X
    return X, Y
