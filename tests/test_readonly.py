"""Evidence is read-only: hashes, sizes and mtimes are unchanged after a scan, read-only copies of
every format scan, and every open of an evidence file (seen by an audit hook) is read-only."""

from __future__ import annotations

import hashlib
import io
import mmap
import os
import shutil
import sqlite3
import stat
import sys
import tarfile
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


# ---------------------------------------------------------------- every format, every open watched

OPENS: list[tuple[str, object, object]] = []
MAPS: list[object] = []
WATCHING: list[Path] = []


def _audit(event: str, args: tuple[object, ...]) -> None:
    if not WATCHING:
        return
    if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
        path = os.fsdecode(args[0])  # type: ignore[arg-type]
        if path.startswith(str(WATCHING[0])):
            OPENS.append((path, args[1], args[2]))
    elif event == "mmap.__new__":
        MAPS.append(args[2])  # the access mode


sys.addaudithook(_audit)  # audit hooks stay for the process: this one records only while WATCHING


def _writes(mode: object, flags: object) -> bool:
    text = mode if isinstance(mode, str) else ""
    wanted = int(flags) if isinstance(flags, int) else 0
    return any(c in text for c in "wax+") or bool(wanted & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC))


def every_format(folder: Path, corpus: Path | None) -> Path:
    """sample_data (mbox variants, maildir, emlx, .msg, Takeout zip), a tar.gz and, with the corpus, a PST."""
    evidence = folder / "evidence"
    shutil.copytree(SAMPLE, evidence)
    buffer = io.BytesIO()
    mbox = (SAMPLE / "newsletters.mboxrd").read_bytes()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("Mail/Inbox.mbox")
        info.size = len(mbox)
        tar.addfile(info, io.BytesIO(mbox))
    (evidence / "export.tgz").write_bytes(buffer.getvalue())
    if corpus is not None:
        shutil.copy2(corpus / "go-pst" / "support.pst", evidence / "support.pst")
    return evidence


def make_read_only(root: Path) -> None:
    for path in [root, *root.rglob("*")]:
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def test_every_format_is_opened_read_only_and_left_unchanged(tmp_path: Path, corpus: Path) -> None:
    evidence = every_format(tmp_path, corpus)
    make_read_only(evidence)
    try:
        before = fingerprint(evidence)
        OPENS.clear()
        MAPS.clear()
        WATCHING.append(evidence)
        try:
            scan([evidence], ScanOptions(out=tmp_path / "case", workers=1))  # one worker: every open seen here
        finally:
            WATCHING.clear()
        assert fingerprint(evidence) == before
        formats = {r[0] for r in sqlite3.connect(tmp_path / "case" / "case.sqlite").execute(
            "SELECT DISTINCT format FROM inputs WHERE status = 'read'")}
        assert formats == {"mbox", "eml", "emlx", "msg", "archive", "pst"}
        opened = {Path(p).name for p, _m, _f in OPENS}
        assert {"support.pst", "export.tgz", "tracking-pixel.msg", "newsletters.mboxrd"} <= opened
        assert [(p, m, f) for p, m, f in OPENS if _writes(m, f)] == []
        assert MAPS and set(MAPS) == {mmap.ACCESS_READ}
    finally:
        for path in [evidence, *evidence.rglob("*")]:
            path.chmod(path.stat().st_mode | stat.S_IWUSR)
