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


@pytest.fixture(scope="session")
def generated_case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A case scanned from a 300 KB generated mbox (seed 5), one worker; shared, so read it
    only (a test that changes a case copies it first)."""
    from test_engine import load_generator

    from forensics.pipeline import ScanOptions, scan

    root = tmp_path_factory.mktemp("generated")
    (root / "evidence").mkdir()
    (root / "evidence" / "big.mbox").write_bytes(b"".join(load_generator().generate(300_000, seed=5)))
    scan([root / "evidence"], ScanOptions(out=root / "case", workers=1))
    return root / "case"
