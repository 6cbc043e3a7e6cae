"""Fixtures shared by the test modules (helpers live in support.py)."""

from __future__ import annotations

import numpy as np
import pytest

from support import seed_for


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> np.random.Generator:
    """A generator seeded from the test's id, so every parametrization draws its own data."""
    return np.random.default_rng(seed_for(request.node.nodeid))
