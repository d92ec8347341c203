"""Fixtures shared by the core tests."""

from __future__ import annotations

import pytest

from waifu_studio.core.data import builtin_faces


@pytest.fixture(scope="module")
def faces32():
    """256 built-in demo faces at 32 px (uint8, N x 32 x 32 x 3)."""
    return builtin_faces(count=256, resolution=32).images
