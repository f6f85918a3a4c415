"""Evidence is read-only: hashes, sizes and mtimes are unchanged after a scan, and read-only copies scan."""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import stat
from pathlib import Path

from forensics.pipeline import ScanOptions, scan

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"


def fingerprint(root: Path) -> dict[str, tuple[str, int, int]]:
    return {
        str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_scan_changes_no_byte_size_or_mtime_and_writes_nothing_beside_evidence(tmp_path: Path) -> None:
    evidence = tmp_path / "evidence"
    shutil.copytree(SAMPLE, evidence)
    before = fingerprint(evidence)
    listing = sorted(str(p) for p in evidence.rglob("*"))
    scan([evidence], ScanOptions(out=tmp_path / "case", workers=1))
    assert fingerprint(evidence) == before
    assert sorted(str(p) for p in evidence.rglob("*")) == listing


def test_read_only_copy_scans_the_same(tmp_path: Path) -> None:
    evidence = tmp_path / "ro"
    shutil.copytree(SAMPLE, evidence)
    for path in [evidence, *evidence.rglob("*")]:
        mode = path.stat().st_mode
        path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    try:
        before = fingerprint(evidence)
        scan([evidence], ScanOptions(out=tmp_path / "case", workers=1))
        assert fingerprint(evidence) == before
        conn = sqlite3.connect(tmp_path / "case" / "case.sqlite")
        ours = conn.execute("SELECT COUNT(*) FROM occurrences WHERE source_path NOT LIKE '%/outlook/%'").fetchone()
        assert ours == (17,)  # as in sample_data/README.md
        assert conn.execute("SELECT COUNT(*) FROM problems WHERE kind = 'unreadable-file'").fetchone() == (0,)
        if os.geteuid() != 0:  # root ignores permissions: only a normal user can prove the point
            assert not os.access(evidence / "newsletters.mboxrd", os.W_OK)
    finally:
        for path in [evidence, *evidence.rglob("*")]:
            path.chmod(path.stat().st_mode | stat.S_IWUSR)
