"""Identical evidence files at two paths are two locations of the same messages: both are kept
(the messages are stored once, their occurrences twice). A path given twice is read once."""

from __future__ import annotations

import gzip
import io
import shutil
import sqlite3
import zipfile
from pathlib import Path

import pytest

from forensics.pipeline import ScanOptions, scan

MBOX = (b"From a@b.example Mon Jan  1 10:00:00 2024\nFrom: a@b.example\nSubject: one\n\nbody\n\n"
        b"From a@b.example Mon Jan  1 11:00:00 2024\nFrom: a@b.example\nSubject: two\n\nbody2\n")


def occurrences(out: Path) -> list[tuple[str, str]]:
    conn = sqlite3.connect(out / "case.sqlite")
    return [(Path(p).parent.name + "/" + Path(p).name, loc)
            for p, loc in conn.execute("SELECT source_path, locator FROM occurrences ORDER BY source_path, locator")]


def two_copies(tmp_path: Path, name: str, data: bytes) -> Path:
    evidence = tmp_path / "evidence"
    for custodian in ("alice", "bob"):
        (evidence / custodian).mkdir(parents=True, exist_ok=True)
        (evidence / custodian / name).write_bytes(data)
    return evidence


def zipped(member: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(member, data)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "data", "locators"),
    [
        ("Inbox.mbox", MBOX, ["offset=0+80", "offset=80+80"]),
        ("Inbox.mbox.gz", gzip.compress(MBOX, mtime=0),
         ["member=(gzip stream);offset=0+80", "member=(gzip stream);offset=80+80"]),
        ("takeout.zip", zipped("Mail/Inbox.mbox", MBOX),
         ["member=Mail/Inbox.mbox;offset=0+80", "member=Mail/Inbox.mbox;offset=80+80"]),
    ],
)
def test_identical_files_at_two_paths_are_both_kept(tmp_path: Path, name: str, data: bytes, locators: list[str]) -> None:
    evidence = two_copies(tmp_path, name, data)
    scan([evidence], ScanOptions(out=tmp_path / "case", workers=1))
    assert occurrences(tmp_path / "case") == [(f"{who}/{name}", loc) for who in ("alice", "bob") for loc in locators]
    conn = sqlite3.connect(tmp_path / "case" / "case.sqlite")
    assert conn.execute("SELECT COUNT(*) FROM messages").fetchone() == (2,)


@pytest.mark.corpus
def test_identical_stores_at_two_paths_are_both_kept(tmp_path: Path, corpus: Path) -> None:
    evidence = two_copies(tmp_path, "32-bit.pst", (corpus / "go-pst" / "32-bit.pst").read_bytes())
    scan([evidence], ScanOptions(out=tmp_path / "case", workers=1))
    found = occurrences(tmp_path / "case")
    assert [where for where, _loc in found] == ["alice/32-bit.pst", "bob/32-bit.pst"]
    assert found[0][1] == found[1][1]


def test_a_path_given_twice_is_read_once(tmp_path: Path) -> None:
    evidence = two_copies(tmp_path, "Inbox.mbox", MBOX)
    shutil.rmtree(evidence / "bob")
    scan([evidence, evidence / "alice" / "Inbox.mbox"], ScanOptions(out=tmp_path / "case", workers=1))
    assert occurrences(tmp_path / "case") == [("alice/Inbox.mbox", "offset=0+80"), ("alice/Inbox.mbox", "offset=80+80")]
