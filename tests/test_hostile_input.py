"""Hostile and broken evidence: bounded time and memory, a problem with its reason, the rest analysed.

Every input is generated here. Each hostile file is scanned next to a normal newsletter
(``NORMAL``, a tracking pixel in it) in a subprocess with one worker, so the test can
bound it (a timeout and the process's peak memory, both generous safety nets, not speed
targets) and then check the case: the hostile item has a problem row saying what was
wrong, the newsletter is analysed in full (its pixel is a beacon), and nothing crashed.
"""

from __future__ import annotations

import base64
import io
import json
import random
import sqlite3
import subprocess
import sys
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest

from forensics.analyse import Settings
from forensics.engines.shard import process_shard
from forensics.errors import ReadError
from forensics.ingest import plan_input, pst
from forensics.ingest.msg import OLE_MAGIC
from forensics.parse import bound_header
from forensics.report.build import write_report

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"
CRASH_KINDS = ("plan-crash", "reader-crash", "parse-crash", "analysis-crash", "worker-crash")
NORMAL = (b"From: News <news@shop.example>\nTo: victim@home.example\nSubject: Normal newsletter\n"
          b"Date: Mon, 1 Jan 2024 10:00:00 +0000\nMessage-ID: <normal@shop.example>\n"
          b"MIME-Version: 1.0\nContent-Type: text/html; charset=utf-8\n\n"
          b'<p>Hello</p><img src="https://t.shop.example/open.gif?u=8f3a2b1c9d" width="1" height="1">\n')
HEAD = b"From: Mallory <m@evil.example>\nTo: victim@home.example\nSubject: hostile\nMIME-Version: 1.0\n"
SCAN = """
import json, resource, sys
from pathlib import Path
from forensics.pipeline import ScanOptions, scan
scan([Path(sys.argv[1])], ScanOptions(out=Path(sys.argv[2]), workers=1))
print(json.dumps({"peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}))
"""


@dataclass
class Case:
    conn: sqlite3.Connection
    peak_mb: int

    def problems(self, kind: str | None = None) -> list[tuple[str, str, str]]:
        rows = self.conn.execute("SELECT kind, locator, reason FROM problems ORDER BY source_path, locator, kind")
        return [tuple(r) for r in rows if kind is None or r[0] == kind]  # type: ignore[misc]

    def subjects(self) -> list[tuple[str, str]]:
        return [tuple(r) for r in self.conn.execute("SELECT subject, status FROM messages ORDER BY subject")]  # type: ignore[misc]


def scan_hostile(evidence: Path, out: Path, *, timeout: float = 300, peak_mb: int = 1024) -> Case:
    """Scan ``evidence`` (with the normal newsletter added) and check what every hostile scan must show."""
    (evidence / "normal.eml").write_bytes(NORMAL)
    done = subprocess.run([sys.executable, "-c", SCAN, str(evidence), str(out)], capture_output=True,
                          timeout=timeout, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    case = Case(conn=sqlite3.connect(out / "case.sqlite"), peak_mb=json.loads(done.stdout)["peak_mb"])
    assert case.peak_mb < peak_mb, f"peak memory {case.peak_mb} MB"
    assert [p for p in case.problems() if p[0] in CRASH_KINDS] == []
    normal = case.conn.execute("SELECT message_sha256, status FROM messages WHERE subject = 'Normal newsletter'")
    sha, status = normal.fetchone()
    assert status == "analysed"
    beacons = case.conn.execute("SELECT url FROM resources WHERE message_sha256 = ? AND is_beacon = 1", (sha,))
    assert [r[0] for r in beacons] == ["https://t.shop.example/open.gif?u=8f3a2b1c9d"]
    return case


@pytest.fixture
def evidence(tmp_path: Path) -> Path:
    folder = tmp_path / "evidence"
    folder.mkdir()
    return folder


def write_chunks(path: Path, *chunks: bytes | tuple[bytes, int]) -> None:
    """Write a large file without holding it in memory: (block, repeat) pairs are repeated."""
    with open(path, "wb") as handle:
        for chunk in chunks:
            block, times = chunk if isinstance(chunk, tuple) else (chunk, 1)
            handle.writelines(block for _ in range(times))


# ---------------------------------------------------------------- MIME


def nested_multipart(levels: int) -> bytes:
    opening = b"".join(b"--b%d\nContent-Type: multipart/mixed; boundary=b%d\n\n" % (i, i + 1) for i in range(levels))
    closing = b"".join(b"--b%d--\n" % i for i in range(levels, -1, -1))
    return (HEAD + b"Content-Type: multipart/mixed; boundary=b0\n\n" + opening
            + b"--b%d\nContent-Type: text/plain\n\ndeep\n" % levels + closing)


def test_mime_nested_deeper_than_100_levels_is_cut_there(evidence: Path, tmp_path: Path) -> None:
    (evidence / "deep150.eml").write_bytes(nested_multipart(150))
    case = scan_hostile(evidence, tmp_path / "case")
    assert case.problems("nesting-too-deep") == [
        ("nesting-too-deep", "file", "NestingTooDeep: MIME parts nested deeper than 100 levels not analysed")]
    assert case.subjects() == [("Normal newsletter", "analysed"), ("hostile", "defective")]


def test_mime_nested_past_the_parsers_limit_keeps_the_headers(evidence: Path, tmp_path: Path) -> None:
    (evidence / "deep5000.eml").write_bytes(nested_multipart(5000))
    inner = b"Subject: innermost\n\nx\n"
    for _ in range(2000):
        inner = b"Subject: layer\nContent-Type: message/rfc822\n\n" + inner
    (evidence / "rfc822-2000.eml").write_bytes(HEAD.replace(b"hostile", b"hostile rfc822") + inner)
    case = scan_hostile(evidence, tmp_path / "case")
    reasons = [reason for _kind, _loc, reason in case.problems("nesting-too-deep")]
    assert reasons == [("NestingTooDeep: MIME structure nested deeper than the parser can follow "
                        "(RecursionError); headers only, body not analysed")] * 2
    assert case.subjects() == [("Normal newsletter", "analysed"), ("hostile", "defective"),
                               ("hostile rfc822", "defective")]


def test_a_message_with_100000_parts(evidence: Path, tmp_path: Path) -> None:
    write_chunks(evidence / "parts.eml", HEAD + b"Content-Type: multipart/mixed; boundary=p\n\n",
                 (b"--p\nContent-Type: text/plain\n\nx\n", 100_000), b"--p--\n")
    case = scan_hostile(evidence, tmp_path / "case")
    assert case.problems("too-many-parts") == [
        ("too-many-parts", "file", "TooManyParts: only the first 2000 MIME parts analysed")]
    assert case.conn.execute("SELECT text_parts FROM messages WHERE subject = 'hostile'").fetchone() == (1999,)


def test_a_200_mb_single_line_header(evidence: Path, tmp_path: Path) -> None:
    write_chunks(evidence / "header.eml", HEAD + b"X-Padding: ", (b"A" * (1 << 20), 200), b"\n\nbody\n")
    case = scan_hostile(evidence, tmp_path / "case", timeout=600, peak_mb=1024)
    [(_kind, _loc, reason)] = case.problems("message-truncated")
    block = len(HEAD) + len(b"X-Padding: ") + (200 << 20)
    assert reason == (f"MessageTooLargeTruncated: header block of {block} bytes cut to {len(HEAD) + 65536} bytes "
                      "for analysis (each line to at most 65536 bytes, the block to 1048576); "
                      "the message hash covers every byte")
    assert case.subjects() == [("Normal newsletter", "analysed"), ("hostile", "defective")]


def test_thousands_of_rfc2047_words_in_one_header_decode_in_linear_time(evidence: Path, tmp_path: Path) -> None:
    words = b" ".join([b"=?utf-8?q?caf=C3=A9?="] * 60_000)  # the stdlib decoder alone is quadratic here
    (evidence / "words.eml").write_bytes(HEAD.replace(b"Subject: hostile\n", b"Subject: " + words[:60_000] + b"\n")
                                         + b"X-Words: " + words[:60_000] + b"\n\nbody\n")
    case = scan_hostile(evidence, tmp_path / "case")
    subject = case.conn.execute("SELECT subject FROM messages WHERE subject LIKE 'café%'").fetchone()[0]
    assert subject.startswith("cafécafé") and len(subject) > 10_000


def test_html_with_a_million_nested_tags(evidence: Path, tmp_path: Path) -> None:
    (evidence / "tags.eml").write_bytes(HEAD + b"Content-Type: text/html\n\n" + b"<div>" * 1_000_000
                                        + b'<img src="http://t.evil.example/deep.gif">')
    case = scan_hostile(evidence, tmp_path / "case")
    assert [r[2] for r in case.problems("extraction-limit")] == [
        "hostile or huge HTML, extraction bounded: html-cut-at-nesting-depth-3000"]


def test_base64_that_never_ends(evidence: Path, tmp_path: Path) -> None:
    # A base64 HTML part with no padding, no line break and no closing boundary, to the end of the file.
    unit = base64.b64encode(b"<p>never ending stories</p>")  # 27 bytes: whole base64 quanta, no padding
    write_chunks(evidence / "endless.mbox", b"From m@evil.example Mon Jan  1 10:00:00 2024\n" + HEAD
                 + b"Content-Type: multipart/mixed; boundary=z\n\n--z\nContent-Type: text/html\n"
                 b"Content-Transfer-Encoding: base64\n\n", (unit * 4096, 300))
    case = scan_hostile(evidence, tmp_path / "case")
    [(_kind, _loc, reason)] = case.problems("extraction-limit")
    assert reason.startswith("hostile or huge HTML, extraction bounded: html-truncated-at-8388608-chars")
    defects = case.conn.execute("SELECT defects FROM messages WHERE subject = 'hostile'").fetchone()[0]
    assert "CloseBoundaryNotFoundDefect" in json.loads(defects)


def test_a_message_of_200_million_empty_lines_is_parsed_in_part(evidence: Path, tmp_path: Path) -> None:
    write_chunks(evidence / "lines.eml", HEAD + b"\n", (b"\n" * (1 << 20), 200))
    case = scan_hostile(evidence, tmp_path / "case")
    [(_kind, _loc, reason)] = case.problems("message-truncated")
    lines = HEAD.count(b"\n") + 1 + (200 << 20)
    assert reason.startswith(f"MessageTooLargeTruncated: message of {lines} lines cut to its first 5000000")


# ---------------------------------------------------------------- archives


def zip_member(zf: zipfile.ZipFile, name: str, *chunks: bytes | tuple[bytes, int]) -> None:
    with zf.open(name, "w") as out:  # by name: the archive's compression applies
        for chunk in chunks:
            block, times = chunk if isinstance(chunk, tuple) else (chunk, 1)
            for _ in range(times):
                out.write(block)


MBOX_NORMAL = b"From news@shop.example Mon Jan  1 10:00:00 2024\n" + NORMAL.replace(b"Normal", b"Takeout")


def test_zip_bomb_posing_as_a_takeout_archive(evidence: Path, tmp_path: Path) -> None:
    path = evidence / "takeout-20240101T000000Z-001.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zip_member(zf, "Takeout/Mail/All mail Including Spam and Trash.mbox",
                   b"From m@evil.example Mon Jan  1 10:00:00 2024\n" + HEAD + b"\n", (b"\n" * (1 << 20), 1024))
        zip_member(zf, "Takeout/Mail/Inbox.mbox", MBOX_NORMAL)
    assert path.stat().st_size < 3 << 20  # 1 GiB of mail in a couple of MB
    case = scan_hostile(evidence, tmp_path / "case")
    [(_kind, _loc, reason)] = case.problems("read-error")
    assert "possible decompression bomb" in reason and "All mail Including Spam and Trash.mbox" in reason
    assert case.subjects() == [("Normal newsletter", "analysed"), ("Takeout newsletter", "analysed")]


def test_zip_bomb_that_lies_about_its_size_is_read_only_as_far_as_declared(evidence: Path, tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zip_member(zf, "Takeout/Mail/Spam.mbox", b"From m@evil.example Mon Jan  1 10:00:00 2024\n" + HEAD
                   + b"\n", (b"\n" * (1 << 20), 256))
    data = bytearray(buffer.getvalue())
    for signature, field in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):  # local header, central directory
        at = data.index(signature) + field
        data[at:at + 4] = (1 << 20).to_bytes(4, "little")  # "1 MiB" (it inflates to 256 MiB)
    (evidence / "liar.zip").write_bytes(bytes(data))
    case = scan_hostile(evidence, tmp_path / "case")
    [(_kind, _loc, reason)] = case.problems("read-error")
    assert "Bad CRC-32" in reason and "Spam.mbox" in reason


def test_tar_gz_bomb_is_refused_by_its_compression_ratio(evidence: Path, tmp_path: Path) -> None:
    class Newlines(io.RawIOBase):
        def __init__(self, size: int) -> None:
            self.left = size

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
            count = min(len(buffer), self.left)
            buffer[:count] = b"\n" * count
            self.left -= count
            return count

    with tarfile.open(evidence / "mail.tgz", "w:gz", compresslevel=9) as tar:
        info = tarfile.TarInfo("Mail/Bomb.mbox")
        head = b"From m@evil.example Mon Jan  1 10:00:00 2024\n" + HEAD + b"\n"
        info.size = len(head) + (512 << 20)
        tar.addfile(info, io.BufferedReader(_Chain(head, Newlines(512 << 20)), 1 << 20))
        ok = tarfile.TarInfo("Mail/Inbox.mbox")
        ok.size = len(MBOX_NORMAL)
        tar.addfile(ok, io.BytesIO(MBOX_NORMAL))
    case = scan_hostile(evidence, tmp_path / "case")
    [(_kind, _loc, reason)] = case.problems("read-error")
    assert "possible decompression bomb" in reason and "Mail/Bomb.mbox" in reason
    assert ("Takeout newsletter", "analysed") in case.subjects()


class _Chain(io.RawIOBase):
    """``first`` then everything ``rest`` gives, as one raw stream."""

    def __init__(self, first: bytes, rest: io.RawIOBase) -> None:
        self.first, self.rest = first, rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        if self.first:
            count = min(len(buffer), len(self.first))
            buffer[:count], self.first = self.first[:count], self.first[count:]
            return count
        return self.rest.readinto(buffer)  # type: ignore[arg-type]


def test_path_traversal_member_names_are_refused_and_nothing_is_extracted(evidence: Path, tmp_path: Path) -> None:
    names = ["../../outside.eml", "/etc/cron.d/evil.eml", "C:\\Windows\\evil.eml", "ok/../../../up.eml",
             "\\\\server\\share\\evil.eml"]
    with zipfile.ZipFile(evidence / "evil.zip", "w") as zf:
        for name in names:
            zf.writestr(zipfile.ZipInfo(name), HEAD + b"\nbody\n")
        zf.writestr("fine.eml", NORMAL.replace(b"Normal", b"Zipped"))
    with tarfile.open(evidence / "evil.tar", "w") as tar:
        for name in ["../tar-outside.eml", "/abs/tar.eml"]:
            info = tarfile.TarInfo(name)
            info.size = len(HEAD)
            tar.addfile(info, io.BytesIO(HEAD))
        link = tarfile.TarInfo("link.eml")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    case = scan_hostile(evidence, tmp_path / "case")
    reasons = [r for _k, _l, r in case.problems("read-error")]
    assert len(reasons) == 7 and all("(path traversal)" in r for r in reasons)
    assert ("Zipped newsletter", "analysed") in case.subjects()
    inputs = dict(case.conn.execute("SELECT path, reason FROM inputs"))
    assert "link member, not a file" in inputs[str(evidence / "evil.tar")]
    created = sorted(p.name for p in tmp_path.rglob("*") if p.name not in before and "case" not in p.parts)
    assert created == ["normal.eml"]  # written by this test; the scan extracted nothing anywhere


# ---------------------------------------------------------------- Outlook stores


def test_pst_with_a_corrupt_folder_keeps_the_rest(evidence: Path, tmp_path: Path, corpus: Path) -> None:
    data = bytearray((corpus / "go-pst" / "32-bit.pst").read_bytes())
    data[25600:26112] = bytes(512)  # a node of the folder tree (found by zeroing every 512-byte block)
    (evidence / "damaged.pst").write_bytes(bytes(data))
    case = scan_hostile(evidence, tmp_path / "case")
    [(_kind, _loc, reason)] = case.problems("read-error")
    assert "folder /#1: sub-folder unreadable: pypff_folder_get_name" in reason
    assert case.conn.execute("SELECT COUNT(*) FROM occurrences WHERE format = 'pst'").fetchone() == (1,)


def test_pst_copies_corrupted_anywhere_never_crash(tmp_path: Path, corpus: Path) -> None:
    """Zeroed, flipped and truncated copies of a real store: read or refused, never a crash."""
    original = (corpus / "go-pst" / "32-bit.pst").read_bytes()
    rng = random.Random(10)
    for trial in range(40):
        data = bytearray(original)
        offset = rng.randrange(0, len(data), 512)
        if trial % 3 == 0:
            data[offset:offset + 512] = bytes(512)
        elif trial % 3 == 1:
            for _ in range(16):
                data[rng.randrange(len(data))] ^= rng.randrange(1, 256)
        else:
            del data[offset:]
        path = tmp_path / f"{trial}.pst"
        path.write_bytes(bytes(data))
        kinds = read_all(path)
        assert not set(kinds) & set(CRASH_KINDS), (trial, kinds)


class FakeFolder(SimpleNamespace):
    """Enough of a pypff folder to build a cyclic tree (libpff will not write one)."""

    def get_sub_folder(self, index: int) -> FakeFolder:
        return self.children[index]  # type: ignore[no-any-return]


def test_cyclic_folder_tree_is_walked_once_and_reported() -> None:
    root = FakeFolder(identifier=1, name="", number_of_sub_messages=0, children=[])
    inbox = FakeFolder(identifier=2, name="Inbox", number_of_sub_messages=3, children=[root])
    root.children.append(inbox)
    root.number_of_sub_folders, inbox.number_of_sub_folders = 1, 1
    folders = list(pst._folders(root, "", (), set()))
    assert [(f.path, f.identifier, f.messages, f.error) for f in folders] == [
        ("/", 1, 0, ""), ("/Inbox", 2, 3, ""),
        ("/Inbox/", -1, 0, "folder not read again: node 1 seen before (cyclic folder tree)")]


def test_folder_tree_deeper_than_the_limit_is_reported() -> None:
    leaf = FakeFolder(identifier=999, name="deepest", number_of_sub_messages=1, number_of_sub_folders=0, children=[])
    node = leaf
    for identifier in range(pst.MAX_FOLDER_DEPTH + 5, 0, -1):
        node = FakeFolder(identifier=identifier, name=f"f{identifier}", number_of_sub_messages=0,
                          number_of_sub_folders=1, children=[node])
    folders = list(pst._folders(node, "", (), set()))
    assert folders[-1].error == f"1 sub-folder(s) deeper than {pst.MAX_FOLDER_DEPTH} levels not read"
    assert len(folders) == pst.MAX_FOLDER_DEPTH + 2


# ---------------------------------------------------------------- truncation and random bytes


def read_all(path: Path) -> list[str]:
    """Problem kinds from planning and reading one file in this process (each file must give
    messages or problems); raises nothing."""
    try:
        planned = plan_input(path)
    except ReadError:
        return ["unreadable-file"]
    kinds: list[str] = []
    found = 0
    for shard in planned.shards:
        findings, row = process_shard(shard, Settings())
        found += row.messages
        kinds += [p.kind for p in findings.rows.get("problems", [])]  # type: ignore[attr-defined]
    if planned.reader is not None:
        assert found or kinds or planned.reason, f"{path.name}: nothing recorded"
    return kinds


def small_files() -> dict[str, bytes]:
    """One small valid file per format, to be cut at every byte."""
    two = MBOX_NORMAL + b"\n" + MBOX_NORMAL.replace(b"Takeout", b"Second")
    zipped, tarred, tgz = io.BytesIO(), io.BytesIO(), io.BytesIO()
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("Takeout/Mail/Inbox.mbox", two)
        zf.writestr("one.eml", NORMAL)
    for buffer, mode in ((tarred, "w"), (tgz, "w:gz")):
        with tarfile.open(fileobj=buffer, mode=mode) as tar:
            info = tarfile.TarInfo("Inbox.mbox")
            info.size = len(two)
            tar.addfile(info, io.BytesIO(two))
    return {"box.mbox": two, "one.eml": NORMAL, "1.emlx": b"%d\n" % len(NORMAL) + NORMAL + b"<?xml version=\"1.0\"?>"
            b"<plist version=\"1.0\"><dict><key>flags</key><integer>1</integer></dict></plist>",
            "a.zip": zipped.getvalue(), "a.tar": tarred.getvalue()[:2048], "a.tgz": tgz.getvalue()}


def assert_every_cut_is_read_or_reported(folder: Path, data: bytes, name: str) -> None:
    """``data`` cut after every byte and read as the file ``name``: messages or problems, never
    a crash kind."""
    for cut in range(1, len(data)):
        path = folder / f"{cut}-{name}"
        path.write_bytes(data[:cut])
        kinds = read_all(path)
        assert not set(kinds) & set(CRASH_KINDS), (cut, kinds)
        path.unlink()


@pytest.mark.parametrize("name", sorted(small_files()))
def test_truncated_at_every_byte(tmp_path: Path, name: str) -> None:
    assert_every_cut_is_read_or_reported(tmp_path, small_files()[name], name)


def test_outlook_files_truncated_at_every_sector(tmp_path: Path) -> None:
    data = (SAMPLE / "outlook" / "tracking-pixel.msg").read_bytes()
    for cut in sorted({c for boundary in range(512, len(data), 512) for c in (boundary - 1, boundary, boundary + 1)}):
        path = tmp_path / f"{cut}.msg"
        path.write_bytes(data[:cut])
        kinds = read_all(path)
        assert not set(kinds) & set(CRASH_KINDS), (cut, kinds)


def test_pst_truncated_at_every_page(tmp_path: Path, corpus: Path) -> None:
    data = (corpus / "go-pst" / "32-bit.pst").read_bytes()
    for cut in range(512, len(data), 512):
        path = tmp_path / f"{cut}.pst"
        path.write_bytes(data[:cut])
        kinds = read_all(path)
        assert not set(kinds) & set(CRASH_KINDS), (cut, kinds)


MAGICS = {
    "store.pst": b"!BDN\x00\x00\x00\x00SM\x17\x00",
    "store.ost": b"!BDN\x00\x00\x00\x00SO\x24\x00",
    "item.msg": OLE_MAGIC + b"\x00" * 8 + "__substg1.0_0037001F".encode("utf-16-le"),
    "takeout.zip": b"PK\x03\x04",
    "empty.zip": b"PK\x05\x06",
    "mail.tgz": b"\x1f\x8b\x08\x00",
    "Inbox": b"From a@b.example Mon Jan  1 10:00:00 2024\nSubject: x\n",
    "1.emlx": b"120\nFrom: a@b.example\nSubject: x\n",
    "m.eml": b"From: a@b.example\nSubject: x\n",
}


def random_files(seed: int) -> Iterator[tuple[str, bytes]]:
    rng = random.Random(seed)
    for name, magic in MAGICS.items():
        for size in (0, 1, 100, 5_000, 300_000):
            yield f"{size}-{name}", magic + rng.randbytes(size)
    tar_tail = rng.randbytes(3000)
    yield "random.tar", rng.randbytes(257) + b"ustar\x0000" + tar_tail
    yield "random-gz.tgz", zlib.compress(rng.randbytes(257) + b"ustar\x0000" + tar_tail, wbits=31)


def test_random_bytes_with_a_valid_magic_number(evidence: Path, tmp_path: Path) -> None:
    for name, data in random_files(seed=5):
        (evidence / name).write_bytes(data)
    case = scan_hostile(evidence, tmp_path / "case")
    recorded = {r[0] for r in case.conn.execute("SELECT DISTINCT source_path FROM problems")}
    read = {r[0] for r in case.conn.execute("SELECT DISTINCT source_path FROM occurrences")}
    for name, _data in random_files(seed=5):  # every file: messages from it, or a problem saying why not
        assert str(evidence / name) in recorded | read, name
    assert (len(recorded - read), len(read)) == (39, 8 + 1)  # refused or skipped; read (and normal.eml)


def test_y2k_bug_years_are_read_as_rfc_5322_says_and_the_report_is_written(evidence: Path, tmp_path: Path) -> None:
    # Found by tools/robustness_report.py: 62 SpamAssassin messages are dated "0102" (a Y2K bug:
    # C's years since 1900, zero-padded). RFC 5322 4.3 adds 1900 to a three-digit year.
    (evidence / "y2k.eml").write_bytes(HEAD + b"Date: Thu, 22 Aug 0102 12:07:35 +0800\n\nold\n")
    case = scan_hostile(evidence, tmp_path / "case")
    assert case.conn.execute("SELECT date_raw, date_utc, defects FROM messages WHERE subject = 'hostile'"
                             ).fetchone() == ("Thu, 22 Aug 0102 12:07:35 +0800", "2002-08-22T04:07:35Z",
                                              '["ThreeDigitYear"]')
    report = write_report(tmp_path / "case", tmp_path / "case", argv=["test"])
    assert (tmp_path / "case" / "chart_prevalence.svg") in report.outputs


def test_a_long_header_block_of_short_lines_is_left_whole() -> None:
    data = b"".join(b"X-Line-%d: value\n" % i for i in range(10_000)) + b"\nbody\n"  # 200 kB, no long line
    assert bound_header(data) == (data, "")
    cut, reason = bound_header(b"X-Long: " + b"y" * 100_000 + b"\nSubject: kept\n\nbody\n")
    assert cut == b"X-Long: " + b"y" * (65536 - 8) + b"\nSubject: kept\n\nbody\n"
    assert reason.startswith("MessageTooLargeTruncated: header block of 100022 bytes cut to 65550 bytes")
