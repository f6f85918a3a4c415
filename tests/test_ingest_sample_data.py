"""sample_data/ is exactly what tools/make_sample_data.py writes, and scanning it finds what its README says."""

from __future__ import annotations

import functools
import importlib.util
import sqlite3
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

from forensics.pipeline import ScanOptions, scan

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"


@functools.cache
def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_sample_data", ROOT / "tools" / "make_sample_data.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("generated")
    assert generator().main(["make_sample_data.py", str(dest)]) == 0
    return dest


def zip_members(path: Path) -> list[tuple[str, tuple[int, ...], bytes]]:
    # Compare members, not bytes: deflate output may differ between zlib builds.
    with zipfile.ZipFile(path) as zf:
        return [(i.filename, i.date_time, zf.read(i)) for i in zf.infolist()]


def test_committed_sample_data_equals_the_generator_output(generated: Path) -> None:
    marker = generator().OTHERS_MARKER
    files = sorted(p.relative_to(generated) for p in generated.rglob("*") if p.is_file())
    assert len(files) == 15
    for rel in files:
        fresh, committed = generated / rel, SAMPLE / rel
        assert committed.is_file(), f"{rel} missing from sample_data: run python tools/make_sample_data.py"
        if rel.suffix == ".zip":
            assert zip_members(committed) == zip_members(fresh), rel
        elif rel.name == "README.md":
            ours = committed.read_text(encoding="utf-8").split(marker)[0]
            assert ours == fresh.read_text(encoding="utf-8").split(marker)[0]
        else:
            assert committed.read_bytes() == fresh.read_bytes(), f"{rel} differs: regenerate sample_data"


def test_sample_data_files_stay_small() -> None:
    assert max(p.stat().st_size for p in SAMPLE.rglob("*") if p.is_file()) < 64 * 1024


def test_scanning_the_sample_set_finds_what_its_readme_says(generated: Path, tmp_path: Path) -> None:
    scan([generated], ScanOptions(out=tmp_path / "case", workers=1))
    conn = sqlite3.connect(tmp_path / "case" / "case.sqlite")
    one = lambda sql: conn.execute(sql).fetchone()[0]  # noqa: E731
    assert one("SELECT COUNT(*) FROM occurrences") == 17
    assert one("SELECT COUNT(*) FROM messages") == 16
    assert one("SELECT COUNT(*) FROM messages WHERE parent_sha256 != ''") == 1
    assert one("SELECT subject FROM messages WHERE status = 'defective'") == "Große Rabatte à saisir"
    assert one("SELECT COUNT(*) FROM occurrences o JOIN messages m USING (message_sha256) "
               "WHERE m.subject = 'Dinner on Friday?'") == 2
    assert one("SELECT flags FROM occurrences WHERE expunged = 1").endswith(";read;expunged")
    assert sorted(r[0] for r in conn.execute("SELECT labels FROM occurrences WHERE labels != ''")) == [
        "Inbox,Category Updates,Opened", "Sent"]
    assert sorted(r[0] for r in conn.execute("SELECT format FROM inputs")) == [
        "", "", "", "archive", "eml", "eml", "eml", "eml", "eml", "emlx", "mbox", "mbox", "mbox", "mbox", "mbox"]
    assert one("SELECT COUNT(*) FROM problems WHERE severity NOT IN ('skipped', 'info')") == 0
    assert [tuple(r) for r in conn.execute("SELECT kind, severity FROM problems WHERE severity = 'info'")] == [
        ("expunged-present", "info")]
