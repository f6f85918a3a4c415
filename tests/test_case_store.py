"""The case store: rescans change nothing, new inputs add, every location of a duplicate is kept."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from forensics.pipeline import ScanOptions, scan

MAIL = b"From: Bob <bob@example.net>\nTo: alice@example.org\nSubject: same\n\nbody\n"
BOX = b"From bob@example.net Mon Jan  1 10:00:00 2024\n" + MAIL + b"\n"


def dump(case: Path) -> dict[str, list[tuple[object, ...]]]:
    conn = sqlite3.connect(case / "case.sqlite")
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'meta'")]
    return {t: sorted(conn.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr) for t in sorted(tables)}


def test_same_inputs_twice_change_nothing_and_new_inputs_add(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    for folder in (first, second):
        folder.mkdir()
    (first / "box.mbox").write_bytes(BOX)
    (first / "copy.eml").write_bytes(MAIL)  # the same message as in the mbox
    (second / "other.eml").write_bytes(MAIL.replace(b"same", b"other"))
    case = tmp_path / "case"
    scan([first], ScanOptions(out=case, workers=1))
    once = dump(case)
    scan([first], ScanOptions(out=case, workers=1, resume=False))
    assert dump(case) == once
    conn = sqlite3.connect(case / "case.sqlite")
    assert conn.execute("SELECT COUNT(*) FROM messages").fetchone() == (1,)
    assert sorted(r[0] for r in conn.execute("SELECT locator FROM occurrences")) == ["file", "offset=0+117"]  # len(BOX) == 117
    scan([second], ScanOptions(out=case, workers=1))
    assert conn.execute("SELECT COUNT(*) FROM messages").fetchone() == (2,)
    assert conn.execute("SELECT COUNT(*) FROM occurrences").fetchone() == (3,)


def test_identical_files_at_two_paths_are_two_locations(tmp_path: Path) -> None:
    evidence = tmp_path / "evidence"
    (evidence / "x").mkdir(parents=True)
    (evidence / "x" / "a.eml").write_bytes(MAIL)
    (evidence / "b.eml").write_bytes(MAIL)
    (evidence / "x" / "junk.txt").write_bytes(b"not mail at all, just words\n")
    (evidence / "junk.txt").write_bytes(b"not mail at all, just words\n")
    scan([evidence], ScanOptions(out=tmp_path / "case", workers=1))
    conn = sqlite3.connect(tmp_path / "case" / "case.sqlite")
    assert conn.execute("SELECT COUNT(DISTINCT message_sha256), COUNT(*) FROM occurrences").fetchone() == (1, 2)
    assert conn.execute("SELECT COUNT(*) FROM problems WHERE kind = 'skipped-not-mail'").fetchone() == (2,)
