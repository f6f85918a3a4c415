"""A single compressed file (``.mbox.gz``, ``.eml.bz2``, ``.xz``...) is read as the mail it holds.

Every input is generated here. Locators name the decompressed stream (``member=(gzip
stream)``) and, for an mbox, the offset in the decompressed bytes; the source SHA-256 is
the compressed file's. A damaged stream keeps the messages before the damage and says
where it broke; a bomb is refused by the archive reader's limits.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import sqlite3
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from test_engine import cli_scan, csv_files
from test_hostile_input import HEAD, assert_every_cut_is_read_or_reported, scan_hostile
from test_readonly import MAPS, OPENS, WATCHING, _writes, fingerprint, make_read_only

from forensics.analyse import Settings
from forensics.engines.shard import process_shard
from forensics.errors import ReadError
from forensics.ingest import archive, compressed, identify, plan_input
from forensics.ingest.msg import OLE_MAGIC
from forensics.pipeline import ScanOptions, scan

MAIL = b"From: Bob <bob@example.net>\nTo: alice@example.org\nSubject: hi\n\nbody\n"
MBOX = (b"From 1@xxx Mon Jan 01 10:00:00 +0000 2024\nX-Gmail-Labels: Inbox,Opened\n" + MAIL + b"\n"
        b"From 2@xxx Mon Jan 01 11:00:00 +0000 2024\nX-Gmail-Labels: Sent\nSubject: two\n\n>From here\n")
COMPRESS: dict[str, tuple[str, Callable[[bytes], bytes]]] = {
    "gzip": (".gz", lambda data: gzip.compress(data, mtime=0)),
    "bzip2": (".bz2", bz2.compress),
    "xz": (".xz", lambda data: lzma.compress(data)),
}


def write(folder: Path, name: str, codec: str, data: bytes) -> Path:
    suffix, pack = COMPRESS[codec]
    path = folder / (name + suffix)
    path.write_bytes(pack(data))
    return path


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def scan_rows(tmp_path: Path, *paths: Path, workers: int = 1) -> sqlite3.Connection:
    out = tmp_path / f"case{workers}"
    scan(list(paths), ScanOptions(out=out, workers=workers))
    return sqlite3.connect(out / "case.sqlite")


def read_all(path: Path) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(locator, message hash) of every message and (kind, reason) of every problem, in this process."""
    messages: list[tuple[str, bytes]] = []
    problems: list[tuple[str, str]] = []
    for shard in plan_input(path).shards:
        findings, _row = process_shard(shard, Settings())
        problems += [(p.kind, p.reason) for p in findings.rows.get("problems", [])]  # type: ignore[attr-defined]
        messages += [(o.locator, o.message_sha256) for o in findings.rows.get("occurrences", [])]  # type: ignore[attr-defined]
    return messages, problems


# ---------------------------------------------------------------- what is read, and where it is


@pytest.mark.parametrize("codec", sorted(COMPRESS))
def test_compressed_mbox_is_read_with_decompressed_offsets(tmp_path: Path, codec: str) -> None:
    path = write(tmp_path, "All mail.mbox", codec, MBOX)
    assert identify(path) == ("compressed", "")
    planned = plan_input(path)
    assert [(s.shard_id, s.reader, s.variant, s.member, s.items) for s in planned.shards] == [
        (f"{sha(path.read_bytes())[:16]}:compressed:{path}:{codec}", "compressed", "mbox", f"({codec} stream)", (codec,)),
    ]
    messages = list(compressed.read(planned.shards[0]))
    assert [(m.locator.kind, m.locator.member, m.locator.offset, m.locator.length) for m in messages] == [
        ("member", f"({codec} stream)", 0, 140), ("member", f"({codec} stream)", 140, 88),
    ]
    assert [m.locator.display() for m in messages] == [
        f"member=({codec} stream);offset=0+140", f"member=({codec} stream);offset=140+88"]
    assert {m.locator.source_sha256 for m in messages} == {sha(path.read_bytes())}
    assert [m.data for m in messages] == [b"X-Gmail-Labels: Inbox,Opened\n" + MAIL,
                                          b"X-Gmail-Labels: Sent\nSubject: two\n\nFrom here\n"]  # mboxrd unquoted
    assert [(m.format, m.labels, m.envelope) for m in messages] == [
        ("mbox", "Inbox,Opened", "From 1@xxx Mon Jan 01 10:00:00 +0000 2024"),
        ("mbox", "Sent", "From 2@xxx Mon Jan 01 11:00:00 +0000 2024"),
    ]
    assert MBOX[140:228].startswith(b"From 2@xxx")  # the offsets are those of the decompressed bytes


def test_a_compressed_mbox_gives_the_same_messages_as_the_plain_one(tmp_path: Path) -> None:
    plain, packed = tmp_path / "plain", tmp_path / "packed"
    plain.mkdir()
    packed.mkdir()
    (plain / "Inbox.mbox").write_bytes(MBOX)
    for codec in COMPRESS:
        write(packed, f"Inbox-{codec}.mbox", codec, MBOX)
    query = "SELECT message_sha256, subject FROM messages ORDER BY message_sha256"
    expected = scan_rows(tmp_path / "a", plain).execute(query).fetchall()
    conn = scan_rows(tmp_path / "b", packed)
    assert conn.execute(query).fetchall() == expected
    rows = conn.execute("SELECT source_path, locator FROM occurrences ORDER BY source_path, locator").fetchall()
    assert [(Path(p).name, loc) for p, loc in rows] == [
        ("Inbox-bzip2.mbox.bz2", "member=(bzip2 stream);offset=0+140"),
        ("Inbox-bzip2.mbox.bz2", "member=(bzip2 stream);offset=140+88"),
        ("Inbox-gzip.mbox.gz", "member=(gzip stream);offset=0+140"),
        ("Inbox-gzip.mbox.gz", "member=(gzip stream);offset=140+88"),
        ("Inbox-xz.mbox.xz", "member=(xz stream);offset=0+140"),
        ("Inbox-xz.mbox.xz", "member=(xz stream);offset=140+88"),
    ]
    inputs = conn.execute("SELECT path, format, status, reason FROM inputs ORDER BY path").fetchall()
    assert [(Path(p).name, f, s, r) for p, f, s, r in inputs] == [
        ("Inbox-bzip2.mbox.bz2", "compressed", "read", ""), ("Inbox-gzip.mbox.gz", "compressed", "read", ""),
        ("Inbox-xz.mbox.xz", "compressed", "read", ""),
    ]
    assert conn.execute("SELECT COUNT(*) FROM problems").fetchone() == (0,)


@pytest.mark.parametrize("codec", sorted(COMPRESS))
def test_compressed_single_message_and_emlx(tmp_path: Path, codec: str) -> None:
    eml = write(tmp_path, "message.eml", codec, MAIL)
    emlx_data = (b"%d\n" % len(MAIL) + MAIL + b"<?xml version=\"1.0\"?><plist version=\"1.0\"><dict><key>flags"
                 b"</key><integer>17</integer></dict></plist>")
    emlx = write(tmp_path, "4521.emlx", codec, emlx_data)
    [(shard_eml,), (shard_emlx,)] = [plan_input(p).shards for p in (eml, emlx)]
    assert (shard_eml.variant, shard_emlx.variant) == ("eml", "emlx")
    [one] = compressed.read(shard_eml)
    assert (one.data, one.format, one.locator.display(), one.locator.source_sha256) == (
        MAIL, "eml", f"member=({codec} stream)", sha(eml.read_bytes()))
    [two] = compressed.read(shard_emlx)
    assert (two.data, two.format, two.flags, two.locator.display()) == (
        MAIL, "emlx", "emlx-flags=0x00000011;read;flagged", f"member=({codec} stream);offset=3+68")
    partial = write(tmp_path, "4522.partial.emlx", codec, emlx_data)
    [three] = compressed.read(plan_input(partial).shards[0])
    assert three.defects == ("EmlxPartialMessage",)  # Apple Mail kept its attachments outside


def test_concatenated_gzip_members_are_one_stream(tmp_path: Path) -> None:
    """``cat a.gz b.gz`` (and pigz/pbzip2 output) decompresses to a then b, as gunzip gives it."""
    first, second = MBOX[:140], MBOX[140:]
    path = tmp_path / "joined.mbox.gz"
    path.write_bytes(gzip.compress(first, mtime=0) + gzip.compress(second, mtime=0))
    messages = list(compressed.read(plan_input(path).shards[0]))
    assert [m.locator.display() for m in messages] == ["member=(gzip stream);offset=0+140",
                                                       "member=(gzip stream);offset=140+88"]


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("data.json.gz", gzip.compress(b'{"mail": false, "note": "nothing"}', mtime=0),
         ("gzip-compressed file that is not a tar archive nor mail: not a recognised mail format (starts with "
         "b'{\"mail\":')")),
        ("empty.mbox.gz", gzip.compress(b"", mtime=0), "gzip-compressed file that decompresses to nothing (0 bytes)"),
        ("broken.gz", b"\x1f\x8b\x08\x00" + b"\x00" * 40,
         ("gzip-compressed file that does not decompress (zlib.error: Error -3 while decompressing data: "
         "invalid stored block lengths)")),
        ("cut.gz", gzip.compress(MBOX, mtime=0)[:12],
         ("gzip-compressed file that does not decompress (EOFError: Compressed file ended before the "
         "end-of-stream marker was reached)")),
        ("twice.mbox.gz.gz", gzip.compress(gzip.compress(MBOX, mtime=0), mtime=0),
         "gzip-compressed file holding another compressed stream (not read)"),
        ("item.msg.xz", lzma.compress(OLE_MAGIC + b"\x00" * 500),
         ("xz-compressed Outlook file (.msg/PST/OST), not read compressed: it needs random access; decompress "
         "a copy and scan the copy")),
        ("index.html.bz2", bz2.compress(b"<html><body>Takeout index</body></html>"),
         ("bzip2-compressed file that is not a tar archive nor mail: not a recognised mail format (starts with "
         "b'<html><b')")),
        ("BZh.txt", b"BZh is not always bzip2, this line is text\n",
         "not a recognised mail format (starts with b'BZh is n')"),
        ("Inbox.mbox.zst", bytes.fromhex("28b52ffd") + b"\x00" * 40,
         "zstd-compressed file (not read: no zstd decompressor here; unpack a copy and scan it)"),
        ("Inbox.Z", b"\x1f\x9d\x90" + b"\x00" * 40, "Unix compress (.Z) file (not read; unpack a copy and scan it)"),
        ("mail.7z", b"7z\xbc\xaf\x27\x1c" + b"\x00" * 40, "7-Zip archive (not read; unpack a copy and scan it)"),
        ("mail.rar", b"Rar!\x1a\x07\x01\x00" + b"\x00" * 40, "RAR archive (not read; unpack a copy and scan it)"),
    ],
)
def test_compressed_files_that_are_not_mail_get_a_reason(tmp_path: Path, name: str, data: bytes, reason: str) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    assert identify(path) == (None, reason)


def test_compressed_tars_are_still_the_archive_readers(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:xz") as tar:
        info = tarfile.TarInfo("Mail/Inbox.mbox")
        info.size = len(MBOX)
        tar.addfile(info, io.BytesIO(MBOX))
    path = tmp_path / "mail.tar.xz"
    path.write_bytes(buffer.getvalue())
    assert identify(path) == ("archive", "")


# ---------------------------------------------------------------- damage and bombs


def big_mbox(count: int) -> bytes:
    """``count`` messages whose bodies do not compress to nothing (so a cut lands mid-file)."""
    parts = []
    for index in range(count):
        body = hashlib.sha512(b"%d" % index).hexdigest().encode() * 40
        parts.append(b"From a@b.example Mon Jan  1 10:%02d:00 2024\nFrom: a@b.example\nSubject: m%d\n\n%s\n\n"
                     % (index % 60, index, body))
    return b"".join(parts)


def decodable(codec: str, packed: bytes) -> int:
    """Bytes a decompressor gives from ``packed`` before it runs out (the oracle, stdlib objects)."""
    if codec == "gzip":
        return len(zlib.decompressobj(wbits=31).decompress(packed))
    if codec == "bzip2":
        return len(bz2.BZ2Decompressor().decompress(packed))
    return len(lzma.LZMADecompressor().decompress(packed))


@pytest.mark.parametrize("codec", sorted(COMPRESS))
def test_truncated_stream_keeps_every_message_before_the_cut(tmp_path: Path, codec: str) -> None:
    data = big_mbox(400)
    whole = COMPRESS[codec][1](data)
    path = tmp_path / f"cut.mbox{COMPRESS[codec][0]}"
    path.write_bytes(whole[: len(whole) * 2 // 3])
    size = decodable(codec, path.read_bytes())
    starts = [i for i in range(len(data)) if data.startswith(b"From a@b.example", i) and (i == 0 or data[i - 1] == 10)]
    kept = [s for s in starts if s < size]
    assert 0 < len(kept) < 400
    messages, problems = read_all(path)
    assert len(messages) == len(kept)
    assert problems == [("read-error", (f"({codec} stream) damaged after {size} decompressed bytes: EOFError: "
                         f"Compressed file ended before the end-of-stream marker was reached; {len(kept)} messages "
                         f"were read before that point (the last one may be cut short)"))]


def test_corrupt_gzip_says_where_and_keeps_the_messages_before(tmp_path: Path) -> None:
    data = big_mbox(200)
    whole = bytearray(gzip.compress(data, mtime=0))
    whole[len(whole) // 2 : len(whole) // 2 + 8] = b"\xff" * 8
    path = tmp_path / "corrupt.mbox.gz"
    path.write_bytes(bytes(whole))
    messages, problems = read_all(path)
    [(kind, reason)] = problems
    assert kind == "read-error" and reason.startswith("(gzip stream) damaged after ")
    size = int(reason.split(" damaged after ")[1].split(" ")[0])
    assert 0 < size <= len(data)
    assert reason.endswith(f"; {len(messages)} messages were read before that point (the last one may be cut short)")
    assert 100 <= len(messages) < 200


def test_garbage_after_a_gzip_member_keeps_every_message_of_it(tmp_path: Path) -> None:
    """Bytes after the stream that are not another gzip member: the messages are kept, the rest
    reported. Zero padding (tape, disk images) is skipped silently, as gunzip does."""
    padded, garbage = tmp_path / "padded.mbox.gz", tmp_path / "garbage.mbox.gz"
    padded.write_bytes(gzip.compress(MBOX, mtime=0) + b"\x00" * 512)
    garbage.write_bytes(gzip.compress(MBOX, mtime=0) + b"garbage after the stream")
    locators = ["member=(gzip stream);offset=0+140", "member=(gzip stream);offset=140+88"]
    messages, problems = read_all(padded)
    assert ([loc for loc, _sha in messages], problems) == (locators, [])
    messages, problems = read_all(garbage)
    assert [loc for loc, _sha in messages] == locators
    assert problems == [("read-error", (f"(gzip stream) damaged after {len(MBOX)} decompressed bytes: "
                         "gzip.BadGzipFile: Not a gzipped file (b'ga'); 2 messages were read before that "
                         "point (the last one may be cut short)"))]


def test_a_bad_checksum_warns_that_the_bytes_read_may_be_wrong(tmp_path: Path) -> None:
    whole = bytearray(gzip.compress(MBOX, mtime=0))
    whole[-8] ^= 0xFF  # the CRC-32 of the trailer, the data itself intact
    path = tmp_path / "crc.mbox.gz"
    path.write_bytes(bytes(whole))
    messages, problems = read_all(path)
    assert len(messages) == 2
    [(kind, reason)] = problems
    assert kind == "read-error"
    assert reason.startswith(f"(gzip stream) damaged after {len(MBOX)} decompressed bytes: gzip.BadGzipFile: "
                             f"CRC check failed")
    assert reason.endswith("(the checksum covers the whole stream: the bytes before it may be wrong too); "
                           "2 messages were read before that point (the last one may be cut short)")


@pytest.mark.parametrize("codec", sorted(COMPRESS))
def test_a_bomb_is_refused_by_the_archive_limits(tmp_path: Path, codec: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archive, "RATIO_FLOOR", 100_000)
    data = b"From a@b.example Mon Jan  1 10:00:00 2024\nFrom: a@b.example\nSubject: bomb\n\n" + b"\n" * 5_000_000
    path = write(tmp_path, "bomb.mbox", codec, data)
    packed = path.stat().st_size
    assert len(data) > archive.MAX_RATIO * packed  # a real ratio over 200:1
    [shard] = plan_input(path).shards
    limit = max(100_000, archive.MAX_RATIO * packed)
    with pytest.raises(ReadError) as raised:
        list(compressed.read(shard))
    assert str(raised.value) == (
        f"refused ({codec} stream): more than {limit} bytes decompressed from {packed} compressed bytes, "
        f"compression ratio over 200:1 (possible decompression bomb; nothing read)")


def test_a_stream_past_the_size_cap_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archive, "MAX_MEMBER_BYTES", 100)
    path = write(tmp_path, "big.mbox", "gzip", MBOX)
    with pytest.raises(ReadError, match=r"^refused \(gzip stream\): decompressed size exceeds 100 bytes \(not read\)$"):
        list(compressed.read(plan_input(path).shards[0]))


def test_limits_follow_the_archive_rule() -> None:
    assert compressed.limit_for(1000) == archive.RATIO_FLOOR  # small files may have any ratio
    assert compressed.limit_for(1 << 20) == 200 << 20
    assert compressed.limit_for(1 << 40) == archive.MAX_MEMBER_BYTES


# ---------------------------------------------------------------- determinism and read-only


def test_same_output_whatever_the_worker_count(tmp_path: Path) -> None:
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    write(evidence, "big.mbox", "gzip", big_mbox(60))
    write(evidence, "other.mbox", "xz", MBOX)
    (evidence / "plain.eml").write_bytes(MAIL.replace(b"hi", b"plain"))
    cli_scan(evidence, tmp_path / "one", "--workers", "1")
    cli_scan(evidence, tmp_path / "two", "--workers", "2")
    one, two = csv_files(tmp_path / "one"), csv_files(tmp_path / "two")
    assert {"messages.csv", "occurrences.csv", "problems.csv"} <= set(one)
    assert one == two
    assert one["occurrences.csv"].count(b"member=(gzip stream);offset=") == 60


def test_every_cut_of_a_compressed_mbox_is_read_or_reported(tmp_path: Path) -> None:
    """Truncated anywhere (the gzip header included): messages or a reason, never a crash."""
    assert_every_cut_is_read_or_reported(tmp_path, gzip.compress(MBOX, mtime=0), "Inbox.mbox.gz")


def test_a_real_gzip_bomb_is_refused_in_bounded_time_and_memory(tmp_path: Path) -> None:
    """1 GiB of newlines behind an mbox header in ~1 MB (gzip members of 4 MiB, concatenated):
    counted up to the limit (200x the file), refused, nothing kept; the newsletter beside it is analysed."""
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    head = gzip.compress(b"From m@evil.example Mon Jan  1 10:00:00 2024\n" + HEAD + b"\n", mtime=0)
    member = gzip.compress(b"\n" * (4 << 20), compresslevel=9, mtime=0)
    path = evidence / "All mail.mbox.gz"
    path.write_bytes(head + member * 256)
    # 119 MB measured alone; once 455 MB inside a loaded full run (not reproduced): the bound
    # still proves the 1 GiB payload is never held
    case = scan_hostile(evidence, tmp_path / "case", peak_mb=700)
    [(_kind, locator, reason)] = case.problems("read-error")
    packed = path.stat().st_size
    assert (locator, reason) == (
        f"shard={sha(path.read_bytes())[:16]}:compressed:{path}:gzip",
        (f"refused (gzip stream): more than {200 * packed} bytes decompressed from {packed} compressed bytes, "
        f"compression ratio over 200:1 (possible decompression bomb; nothing read)"))
    assert case.subjects() == [("Normal newsletter", "analysed")]


def test_compressed_evidence_is_opened_read_only_and_left_unchanged(tmp_path: Path) -> None:
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    for codec in COMPRESS:
        write(evidence, f"Inbox-{codec}.mbox", codec, MBOX)
        write(evidence, f"one-{codec}.eml", codec, MAIL)
    (evidence / "cut.mbox.gz").write_bytes(gzip.compress(big_mbox(50), mtime=0)[:5000])
    make_read_only(evidence)
    try:
        before = fingerprint(evidence)
        listing = sorted(str(p) for p in evidence.rglob("*"))
        OPENS.clear()
        MAPS.clear()
        WATCHING.append(evidence)
        try:
            conn = scan_rows(tmp_path, evidence)  # one worker: every open is seen here
        finally:
            WATCHING.clear()
        assert fingerprint(evidence) == before
        assert sorted(str(p) for p in evidence.rglob("*")) == listing  # nothing written beside the evidence
        assert [(p, m, f) for p, m, f in OPENS if _writes(m, f)] == []
        assert {Path(p).name for p, _m, _f in OPENS} == {p.name for p in evidence.iterdir()}
        assert conn.execute("SELECT COUNT(*) FROM occurrences").fetchone()[0] >= 3 * 2 + 3
    finally:
        for path in [evidence, *evidence.rglob("*")]:
            path.chmod(path.stat().st_mode | stat.S_IWUSR)


# ---------------------------------------------------------------- compressed members of zip and tar archives


def archive_members(kind: str, path: Path, members: list[tuple[str, bytes]]) -> Path:
    if kind == "zip":
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            for member_name, data in members:
                zf.writestr(member_name, data)
        return path
    with tarfile.open(path, "w:gz") as tar:
        for member_name, data in members:
            info = tarfile.TarInfo(member_name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize("kind", ["zip", "tgz"])
def test_compressed_members_are_read_like_compressed_files(tmp_path: Path, kind: str) -> None:
    path = archive_members(kind, tmp_path / f"takeout.{kind}", [
        ("Takeout/Mail/Inbox.mbox.gz", gzip.compress(MBOX, mtime=0)),
        ("Takeout/Mail/Sent.mbox.bz2", bz2.compress(MBOX.replace(b"two", b"sent"))),
        ("loose/one.eml.xz", lzma.compress(MAIL.replace(b"hi", b"loose"))),
        ("data.json.gz", gzip.compress(b'{"takeout": true}', mtime=0)),
        ("inner.tar.gz", gzip.compress(b"\0" * 257 + b"ustar\x0000" + b"\0" * 300, mtime=0)),
    ])
    planned = plan_input(path)
    assert [(s.variant, s.member, s.items[1]) for s in planned.shards] == [
        ("compressed", "Takeout/Mail/Inbox.mbox.gz", "gzip:mbox"),
        ("compressed", "Takeout/Mail/Sent.mbox.bz2", "bzip2:mbox"),
        ("compressed", "loose/one.eml.xz", "xz:eml"),
    ]
    assert planned.reason == (
        "2 members not mail, not read: data.json.gz (gzip-compressed member that is not mail (decompressed, "
        "starts with b'{\"takeou')); inner.tar.gz (gzip-compressed archive inside the archive (nested archives "
        "are not read))")
    messages = [m for shard in planned.shards for m in archive.read(shard)]
    assert [(m.locator.display(), m.labels) for m in messages] == [
        ("member=Takeout/Mail/Inbox.mbox.gz (gzip stream);offset=0+140", "Inbox,Opened"),
        ("member=Takeout/Mail/Inbox.mbox.gz (gzip stream);offset=140+88", "Sent"),
        ("member=Takeout/Mail/Sent.mbox.bz2 (bzip2 stream);offset=0+140", "Inbox,Opened"),
        ("member=Takeout/Mail/Sent.mbox.bz2 (bzip2 stream);offset=140+89", "Sent"),
        ("member=loose/one.eml.xz (xz stream)", None),
    ]
    assert messages[4].data == MAIL.replace(b"hi", b"loose")
    assert {m.locator.source_sha256 for m in messages} == {sha(path.read_bytes())}


def test_damaged_and_bomb_members_keep_the_rest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archive, "RATIO_FLOOR", 100_000)
    bomb = b"From a@b.example Mon Jan  1 10:00:00 2024\nFrom: a@b.example\nSubject: bomb\n\n" + b"\n" * 5_000_000
    cut = gzip.compress(MBOX, mtime=0)[:-20]  # the end of the second message and the trailer lost
    path = archive_members("zip", tmp_path / "evidence.zip", [
        ("bomb.mbox.xz", lzma.compress(bomb)), ("cut.mbox.gz", cut), ("fine.mbox.gz", gzip.compress(MBOX, mtime=0))])
    planned = plan_input(path)
    packed = len(lzma.compress(bomb))
    results = {}
    for shard in planned.shards:
        messages: list[str] = []
        try:
            for message in archive.read(shard):
                messages.append(message.locator.display())
        except ReadError as e:
            messages.append(f"ReadError: {e}")
        results[shard.member] = messages
    size = decodable("gzip", cut)
    assert results == {
        "bomb.mbox.xz": [(f"ReadError: refused bomb.mbox.xz (xz stream): more than {max(100_000, 200 * packed)} bytes "
                         f"decompressed from {packed} compressed bytes, compression ratio over 200:1 (possible "
                         f"decompression bomb; nothing read)")],
        "cut.mbox.gz": ["member=cut.mbox.gz (gzip stream);offset=0+140", f"member=cut.mbox.gz (gzip stream);offset=140+{size - 140}",
                        (f"ReadError: cut.mbox.gz (gzip stream) damaged after {size} decompressed bytes: EOFError: "
                        f"Compressed file ended before the end-of-stream marker was reached; 2 messages were read "
                        f"before that point (the last one may be cut short)")],
        "fine.mbox.gz": ["member=fine.mbox.gz (gzip stream);offset=0+140", "member=fine.mbox.gz (gzip stream);offset=140+88"],
    }


def test_every_cut_of_a_zip_holding_a_compressed_mbox_is_read_or_reported(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:  # stored: every cut lands in the gzip bytes
        zf.writestr("Takeout/Mail/Inbox.mbox.gz", gzip.compress(MBOX, mtime=0))
    assert_every_cut_is_read_or_reported(tmp_path, buffer.getvalue(), "takeout.zip")
