"""Shared fixtures: where the shared corpus is, and a helper to scan into a temp case."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus"
SAMPLE_DATA = ROOT / "sample_data"


@pytest.fixture
def corpus() -> Path:
    """The shared real-mail corpus; tests that need it skip when it is absent."""
    if not CORPUS.is_dir():
        pytest.skip(f"shared corpus not found at {CORPUS}")
    return CORPUS
