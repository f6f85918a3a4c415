"""Recognition by content, maildir, Apple Mail .emlx, and mail inside zip/tar archives."""

from __future__ import annotations

import io
import os
import sqlite3
import tarfile
import zipfile
from pathlib import Path

import pytest

from forensics.errors import ReadError
from forensics.ingest import archive, emlx, identify, plan_input
from forensics.pipeline import ScanOptions, scan

MAIL = b"From: Bob <bob@example.net>\nTo: alice@example.org\nSubject: hi\n\nbody\n"
MBOX = (b"From 1@xxx Mon Jan 01 10:00:00 +0000 2024\nX-Gmail-Labels: Inbox,Opened\n" + MAIL + b"\n"
        b"From 2@xxx Mon Jan 01 11:00:00 +0000 2024\nX-Gmail-Labels: Sent\nSubject: two\n\nx\n")


def scan_rows(tmp_path: Path, *paths: Path) -> sqlite3.Connection:
    out = tmp_path / "case"
    scan(list(paths), ScanOptions(out=out, workers=1))
    conn = sqlite3.connect(out / "case.sqlite")
    conn.row_factory = sqlite3.Row
    return conn


@pytest.mark.parametrize(
    ("name", "data", "reader"),
    [
        ("report.msg", MAIL, "eml"),  # RFC 822 text with an Outlook extension
        ("Inbox", b"From - Mon Jan  1 10:00:00 2024\n" + MAIL, "mbox"),  # extensionless
        ("12.emlx", b"%d\n" % len(MAIL) + MAIL + b"<?xml?>", "emlx"),
        ("mail.txt", b"Content-Type: text/plain\n\nbare MIME entity\n", "eml"),
        ("takeout.zip", b"PK\x05\x06" + b"\x00" * 18, "archive"),
    ],
)
def test_files_are_recognised_by_content_not_extension(tmp_path: Path, name: str, data: bytes, reader: str) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    assert identify(path) == (reader, "")


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("empty.eml", b"", "empty file (0 bytes)"),
        ("size-2", b"22\n", "too small to be mail (3 bytes: b'22\\n')"),
        ("Inbox.msf", b"// <!-- <mdb:mork:z v=\"1.4\"/> -->\n< <(a=c)> >\n", "Mork database (Thunderbird .msf index), not mail"),
        ("winmail.dat", b"\x78\x9f\x3e\x22" + b"\x00" * 40, "TNEF stream (winmail.dat attachment), not a mailbox"),
        ("notes.txt", b"Dear diary, nothing to see here today.\n", "not a recognised mail format (starts with b'Dear dia')"),
    ],
)
def test_files_that_are_not_mail_get_a_reason(tmp_path: Path, name: str, data: bytes, reason: str) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    assert identify(path) == (None, reason)


def test_pipes_are_refused_without_being_opened(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(ReadError, match="named pipe, not a regular file"):
        plan_input(fifo)


def test_maildir_flags_and_subfolders(tmp_path: Path) -> None:
    box = tmp_path / "evidence" / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (box / sub).mkdir(parents=True)
    (box / "cur" / "1700000000.M1P1.host,S=60:2,FRS").write_bytes(MAIL)
    (box / "new" / "1700000001.M2P1.host").write_bytes(MAIL.replace(b"hi", b"new one"))
    rows = scan_rows(tmp_path, tmp_path / "evidence").execute(
        "SELECT format, flags, locator FROM occurrences ORDER BY source_path").fetchall()
    assert [tuple(r) for r in rows] == [
        ("maildir", "maildir=cur;flags=FRS", "file"),
        ("maildir", "maildir=new", "file"),
    ]


def emlx_bytes(flags: int) -> bytes:
    plist = (f'<?xml version="1.0" encoding="UTF-8"?>\n<plist version="1.0"><dict>'
             f"<key>flags</key><integer>{flags}</integer></dict></plist>\n").encode()
    return b"%d\n" % len(MAIL) + MAIL + plist


def test_emlx_byte_count_plist_flags(tmp_path: Path) -> None:
    path = tmp_path / "4521.emlx"
    path.write_bytes(emlx_bytes(1 | 2 | 16 | (2 << 10)))
    (raw,) = emlx.read(next(emlx.plan(path, "a" * 64, path.stat().st_size)))
    assert raw.data == MAIL
    assert (raw.locator.offset, raw.locator.length) == (3, len(MAIL))
    assert raw.flags == "emlx-flags=0x00000813;read;deleted;flagged;attachments=2"
    assert raw.expunged is True  # marked deleted in Apple Mail, still on disk
    assert raw.defects == ()


def test_emlx_damage_is_a_defect(tmp_path: Path) -> None:
    path = tmp_path / "1.partial.emlx"
    path.write_bytes(b"999\n" + MAIL)
    (raw,) = emlx.read(next(emlx.plan(path, "a" * 64, path.stat().st_size)))
    assert raw.data == MAIL
    assert raw.defects == ("EmlxByteCountBeyondEndOfFile", "EmlxPartialMessage", "EmlxPlistMissing")


def make_zip(path: Path, members: list[tuple[str, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return path


def test_takeout_zip_is_read_in_place_with_labels(tmp_path: Path) -> None:
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    make_zip(evidence / "takeout-001.zip", [
        ("Takeout/archive_browser.html", b"<html>index</html>"),
        ("Takeout/Mail/All mail Including Spam and Trash.mbox", MBOX),
        ("Takeout/Mail/extra.eml", MAIL.replace(b"hi", b"loose")),
    ])
    before = sorted(p.name for p in evidence.rglob("*"))
    conn = scan_rows(tmp_path, evidence)
    rows = conn.execute("SELECT locator, format, labels FROM occurrences ORDER BY locator").fetchall()
    assert [tuple(r) for r in rows] == [
        ("member=Takeout/Mail/All mail Including Spam and Trash.mbox;offset=0+140", "mbox", "Inbox,Opened"),
        ("member=Takeout/Mail/All mail Including Spam and Trash.mbox;offset=140+79", "mbox", "Sent"),
        ("member=Takeout/Mail/extra.eml", "eml", ""),
    ]
    (reason,) = conn.execute("SELECT reason FROM inputs").fetchone()
    assert reason == ("1 members not mail, not read: Takeout/archive_browser.html "
                      "(not a recognised mail format (starts with b'<html>in'))")
    assert sorted(p.name for p in evidence.rglob("*")) == before  # nothing extracted


def test_tgz_mbox_member_is_streamed(tmp_path: Path) -> None:
    path = tmp_path / "takeout.tgz"
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("Takeout/Mail/Inbox.mbox")
        info.size = len(MBOX)
        tar.addfile(info, io.BytesIO(MBOX))
    shards = list(archive.plan(path, "b" * 64, path.stat().st_size))
    assert [(s.variant, s.member) for s in shards] == [("mbox", "Takeout/Mail/Inbox.mbox")]
    messages = list(archive.read(shards[0]))
    assert [m.labels for m in messages] == ["Inbox,Opened", "Sent"]
    assert messages[0].data == b"X-Gmail-Labels: Inbox,Opened\n" + MAIL


def test_hostile_members_are_refused_as_problems(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archive, "RATIO_FLOOR", 1000)
    path = make_zip(tmp_path / "evil.zip", [
        ("../../etc/passwd", MAIL),
        ("/abs/mail.eml", MAIL),
        ("C:/Windows/mail.eml", MAIL),
        ("bomb.mbox", b"From a@b Mon Jan  1 10:00:00 2024\n" + b"\n" * 2_000_000),
        ("fine.eml", MAIL),
    ])
    shards = list(archive.plan(path, "c" * 64, path.stat().st_size))
    assert [(s.variant, s.member) for s in shards if s.variant == "refused"] == [
        ("refused", "../../etc/passwd"), ("refused", "/abs/mail.eml"),
        ("refused", "C:/Windows/mail.eml"), ("refused", "bomb.mbox"),
    ]
    reasons = [s.items[1] for s in shards if s.variant == "refused"]
    assert "path traversal" in reasons[0] and "absolute member path" in reasons[1]
    assert "possible decompression bomb" in reasons[3]
    with pytest.raises(ReadError, match="path traversal"):
        list(archive.read(shards[0]))
    (single,) = [s for s in shards if s.variant == "single"]
    assert [m.locator.member for m in archive.read(single)] == ["fine.eml"]


def test_unsafe_member_names() -> None:
    assert archive.unsafe_name("Takeout/Mail/Inbox.mbox") is None
    assert archive.unsafe_name("a/../../b") == "member path climbs out with '..'"
    assert archive.unsafe_name("..\\windows") == "member path climbs out with '..'"
    assert archive.unsafe_name("\\\\server\\share") == "absolute member path"


def test_damaged_zip_member_becomes_a_problem_not_a_crash(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "evidence.zip", [("Inbox.mbox", MBOX * 200)])
    data = bytearray(path.read_bytes())
    data[200:260] = b"\x00" * 60  # corrupt the deflate stream
    path.write_bytes(bytes(data))
    evidence = tmp_path / "in"
    evidence.mkdir()
    (evidence / "evidence.zip").write_bytes(bytes(data))
    conn = scan_rows(tmp_path, evidence)
    problems = conn.execute("SELECT kind, severity, reason FROM problems").fetchall()
    assert len(problems) == 1
    assert problems[0]["severity"] == "error"
    assert "Inbox.mbox" in problems[0]["reason"] or "zip" in problems[0]["reason"]
