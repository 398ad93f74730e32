"""Fixtures of the report tests."""

from __future__ import annotations

from typing import Any

import pytest

from tests.report.example import synthetic_results


@pytest.fixture
def results() -> dict[str, Any]:
    """A fresh synthetic results dict with every section (tests may modify it)."""
    return synthetic_results()
