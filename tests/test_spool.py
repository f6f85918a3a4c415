"""A compressed or archived mbox past the threshold is spooled into the case and cut like a plain mbox.

Every input is generated here (bench/make_big_mbox.py's generator), with the threshold
and the shard size lowered so a few hundred kB make several ranges. The spooled scan
must give exactly the data of the one-shard reading (the threshold raised), for 1 and
2 workers: same messages, locators, problems; only the scan's own bookkeeping of
shards differs. The copy lives in ``<case>/spool/`` while shards remain and is gone
when the scan finishes; the evidence is never written.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import itertools
import lzma
import os
import signal
import sqlite3
import subprocess
import sys
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from test_engine import cli_scan, load_generator
from test_resume import check_intact, done_shards, exports, wait_for_shards, wait_group_gone

import forensics.ingest.mbox as mbox_reader
from forensics import pipeline
from forensics.analyse import Settings
from forensics.engines.shard import process_shard
from forensics.ingest import archive, compressed, plan_input, spool
from forensics.ingest.base import Shard
from forensics.pipeline import ScanOptions, scan
from forensics.records import ProblemRow

SHARD_BYTES = 40_000
THRESHOLD = 100_000
MBOX_BYTES = 300_000  # 32 to 59 generated messages: 6 or 7 ranges of 40 kB
# The CLI in a subprocess with the same small sizes (the plan must be the same in every run of a case).
SCRIPT = (
    "import sys, forensics.ingest.mbox as m, forensics.ingest.spool as s, forensics.pipeline as p; "
    f"m.SHARD_BYTES = {SHARD_BYTES}; s.THRESHOLD = {THRESHOLD}; p.BATCH_BYTES = 1; "
    "from forensics.cli import main; sys.argv = ['forensics', *sys.argv[1:]]; main()"
)


@pytest.fixture(autouse=True)
def small_sizes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mbox_reader, "SHARD_BYTES", SHARD_BYTES)
    monkeypatch.setattr(spool, "THRESHOLD", THRESHOLD)
    monkeypatch.setattr(pipeline, "BATCH_BYTES", 1)  # one range per task: both workers take some


def mailbox(seed: int, size: int = MBOX_BYTES) -> bytes:
    return b"".join(load_generator().generate(size, seed=seed))


def zipped(path: Path, member: str, data: bytes) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("Takeout/Mail/index.html", b"<html>not mail</html>")
        zf.writestr(member, data)
    return path


def tarred(path: Path, member: str, data: bytes) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo(member)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return path


TAKEOUT = "Takeout/Mail/All mail Including Spam and Trash.mbox"
# name -> (plain mbox seed, how it is stored, the locator's member, shard id suffix, ranges)
KINDS: dict[str, tuple[int, Callable[[Path, bytes], object], str, str, int]] = {
    "Inbox.mbox.gz": (1, lambda p, d: p.write_bytes(gzip.compress(d, mtime=0)), "(gzip stream)", "compressed:{p}:gzip", 7),
    "Sent.mbox.bz2": (2, lambda p, d: p.write_bytes(bz2.compress(d)), "(bzip2 stream)", "compressed:{p}:bzip2", 7),
    "Archive.mbox.xz": (3, lambda p, d: p.write_bytes(lzma.compress(d)), "(xz stream)", "compressed:{p}:xz", 6),
    "takeout.zip": (4, lambda p, d: zipped(p, TAKEOUT, d), TAKEOUT, "archive:{p}:mbox:1", 7),
    "takeout.tgz": (5, lambda p, d: tarred(p, "Mail/Inbox.mbox", d), "Mail/Inbox.mbox", "archive:{p}:mbox:0", 7),
    "nested.zip": (6, lambda p, d: zipped(p, "Mail/Old.mbox.gz", gzip.compress(d, mtime=0)),
                   "Mail/Old.mbox.gz (gzip stream)", "archive:{p}:compressed:1", 7),
}


RANGES = sum(kind[-1] for kind in KINDS.values())  # 41


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def plain() -> dict[str, bytes]:
    return {name: mailbox(seed) for name, (seed, *_rest) in KINDS.items()}


@pytest.fixture
def evidence(tmp_path: Path, plain: dict[str, bytes]) -> Path:
    folder = tmp_path / "evidence"
    folder.mkdir()
    for name, (_seed, store, *_rest) in KINDS.items():
        store(folder / name, plain[name])
    (folder / "small.mbox.gz").write_bytes(gzip.compress(mailbox(7, 60_000), mtime=0))  # below the threshold
    return folder


def expected_ranges(tmp_path: Path, data: bytes) -> list[tuple[int, int]]:
    """The ranges the mbox reader cuts the plain mailbox into (the copy must be cut the same)."""
    path = tmp_path / "plain.mbox"
    path.write_bytes(data)
    return [(s.start, s.end or 0) for s in mbox_reader.plan(path, sha(data), len(data))]


def shard_ids(case: Path) -> set[str]:
    with sqlite3.connect(case / "case.sqlite") as conn:
        return {r[0] for r in conn.execute("SELECT shard_id FROM shards")}


def tables(case: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every table of the case but the scan's bookkeeping of shards (and its meta), in rowid order."""
    with sqlite3.connect(case / "case.sqlite") as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {n: conn.execute(f"SELECT * FROM {n} ORDER BY rowid").fetchall()
                for n in names if n not in ("shards", "meta") and not n.startswith("sqlite_")}


def data(case: Path) -> tuple[dict[str, bytes], dict[str, list[tuple[object, ...]]]]:
    return exports(case), tables(case)


# ---------------------------------------------------------------- planning and equality


def test_every_stream_past_the_threshold_is_cut_like_the_plain_mbox(
        evidence: Path, tmp_path: Path, plain: dict[str, bytes]) -> None:
    case = tmp_path / "case"
    cli_scan(evidence, case, "--workers", "2")
    expected = set()
    for name, (_seed, _store, _member, suffix, count) in KINDS.items():
        path = evidence / name
        whole = f"{sha(path.read_bytes())[:16]}:{suffix.format(p=path)}"
        ranges = expected_ranges(tmp_path, plain[name])
        assert len(ranges) == count, name
        expected |= {f"{whole}:{start}-{end}" for start, end in ranges}
    small = evidence / "small.mbox.gz"
    expected.add(f"{sha(small.read_bytes())[:16]}:compressed:{small}:gzip")  # one shard, as before
    assert shard_ids(case) == expected
    assert not (case / "spool").exists()


def test_the_data_is_the_one_shard_readings_whatever_the_workers(
        evidence: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, plain: dict[str, bytes]) -> None:
    cli_scan(evidence, tmp_path / "one-shard", "--workers", "1")  # threshold below: spooled
    monkeypatch.setattr(spool, "THRESHOLD", 1 << 40)
    reference = tmp_path / "reference"
    cli_scan(evidence, reference, "--workers", "2")
    assert len(shard_ids(reference)) == len(KINDS) + 1  # one shard per stream: today's reading
    monkeypatch.setattr(spool, "THRESHOLD", THRESHOLD)
    cli_scan(evidence, tmp_path / "two", "--workers", "2")
    files, rows = data(reference)
    assert {"messages.csv", "occurrences.csv", "problems.csv", "messages.jsonl", "graph.graphml"} <= set(files)
    messages = sum(len(list(mbox_reader.read_buffer(d, "", ""))) for d in plain.values())
    assert len(rows["occurrences"]) == messages + 13 == 304  # and the small file's 13 messages
    assert len(rows["problems"]) == 0
    for case in ("one-shard", "two"):
        assert len(shard_ids(tmp_path / case)) == RANGES + 1
        assert data(tmp_path / case) == (files, rows), case


def test_locators_name_the_evidence_and_count_decompressed_bytes(evidence: Path, tmp_path: Path) -> None:
    case = tmp_path / "case"
    scan([evidence], ScanOptions(out=case, workers=1))
    with sqlite3.connect(case / "case.sqlite") as conn:
        rows = conn.execute("SELECT source_path, source_sha256, locator FROM occurrences").fetchall()
    path = evidence / "takeout.zip"
    mine = sorted(loc for p, s, loc in rows if p == str(path) and s == sha(path.read_bytes()))
    assert mine[0].startswith(f"member={TAKEOUT};offset=0+")
    assert all(loc.startswith(f"member={TAKEOUT};offset=") for loc in mine)
    assert not any("spool" in p for p, _s, _loc in rows)


# ---------------------------------------------------------------- where the copy goes, and when it goes away


def test_the_copy_is_in_the_case_folder_and_gone_at_the_end(
        evidence: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = {p.name: p.read_bytes() for p in evidence.iterdir()}
    targets: list[Path] = []
    write = spool.write

    def watched(read: object, target: Path, limit: int) -> spool.Written | None:
        result = write(read, target, limit)  # type: ignore[arg-type]
        if result is not None and not result.over_limit:
            targets.append(target)
            assert target.is_file() and not target.with_name(target.name + ".part").exists()
        return result

    monkeypatch.setattr(spool, "write", watched)
    case = tmp_path / "case"
    scan([evidence], ScanOptions(out=case, workers=1))
    assert len(targets) == len(KINDS)
    assert {t.parent for t in targets} == {case.resolve() / "spool"}
    assert not (case / "spool").exists()
    assert {p.name: p.read_bytes() for p in evidence.iterdir()} == before  # nothing written beside it


def test_a_killed_scan_keeps_the_copy_and_resumes_without_redoing_shards(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    (evidence / "Inbox.mbox.gz").write_bytes(gzip.compress(mailbox(8, 600_000), mtime=0))
    reference = tmp_path / "reference"
    run_cli(evidence, reference, "--workers", "1")
    total = done_shards(reference)
    assert total == 14

    case = tmp_path / "case"
    process = subprocess.Popen([sys.executable, "-c", SCRIPT, "scan", str(evidence), "--out", str(case), "--quiet",
                                "--workers", "2"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               start_new_session=True)
    wait_for_shards(case, process, 3)
    os.kill(process.pid, signal.SIGKILL)
    process.communicate(timeout=30)
    assert wait_group_gone(process.pid), "orphaned workers did not exit"
    finished, _stored = check_intact(case)
    assert 3 <= finished < total
    [copy] = (case / "spool").iterdir()  # kept while shards remain
    assert copy.suffix == ".mbox"

    monkeypatch.setattr(spool, "write", lambda *args: pytest.fail("decompressed again"))  # the copy is reused
    result = scan([evidence], ScanOptions(out=case, workers=2))
    assert (result.shards_skipped, result.shards_run) == (finished, total - finished)
    assert not (case / "spool").exists()
    run_cli(evidence, case, "--workers", "1")  # nothing left to run: writes the files
    assert data(case) == data(reference)


def run_cli(evidence: Path, out: Path, *extra: str) -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT, "scan", str(evidence), "--out", str(out), "--quiet", *extra],
                          capture_output=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr.decode()[-2000:]


def test_resume_reuses_a_whole_copy_and_rewrites_a_damaged_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The copy's record stays in the case: resumed with ranges left, a whole copy is read again as
    it is, one that no longer matches its SHA-256 is written again; the data ends the same."""
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    (evidence / "Inbox.mbox.xz").write_bytes(lzma.compress(mailbox(9)))
    reference = tmp_path / "reference"
    scan([evidence], ScanOptions(out=reference, workers=1))
    made: list[Path] = []
    make = compressed.spool_shard

    def counted(shard: Shard, target: Path) -> spool.Spool | None:
        made.append(target)
        return make(shard, target)

    monkeypatch.setattr(compressed, "spool_shard", counted)
    monkeypatch.setattr(spool, "remove", lambda folder: None)  # as if killed before the end
    case = tmp_path / "case"
    first = scan([evidence], ScanOptions(out=case, workers=1))
    [copy] = made
    with sqlite3.connect(case / "case.sqlite") as conn:  # forget the last three ranges
        conn.execute("DELETE FROM shards WHERE rowid IN (SELECT rowid FROM shards ORDER BY rowid DESC LIMIT 3)")
    again = scan([evidence], ScanOptions(out=case, workers=1))
    assert (again.shards_run, again.shards_skipped, len(made)) == (3, first.shards_run - 3, 1)  # reused
    with sqlite3.connect(case / "case.sqlite") as conn:
        conn.execute("DELETE FROM shards WHERE rowid IN (SELECT rowid FROM shards ORDER BY rowid DESC LIMIT 2)")
    with open(copy, "r+b") as handle:  # damaged while the scan was stopped
        handle.seek(1000)
        handle.write(b"X")
    monkeypatch.undo()
    monkeypatch.setattr(mbox_reader, "SHARD_BYTES", SHARD_BYTES)
    monkeypatch.setattr(spool, "THRESHOLD", THRESHOLD)
    last = scan([evidence], ScanOptions(out=case, workers=1))
    assert (last.shards_run, last.shards_skipped) == (2, first.shards_run - 2)
    assert not copy.exists() and not (case / "spool").exists()
    assert tables(case) == tables(reference)


def test_finished_streams_are_not_decompressed_again(evidence: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    case = tmp_path / "case"
    first = scan([evidence], ScanOptions(out=case, workers=1))
    monkeypatch.setattr(spool, "write", lambda *args: pytest.fail("decompressed again"))
    again = scan([evidence], ScanOptions(out=case, workers=1))
    assert (again.shards_run, again.shards_skipped) == (0, first.shards_run)


def test_a_case_that_read_a_stream_whole_is_not_spooled_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A case filled by the one-shard reading (an earlier version, or the threshold then higher):
    resuming keeps that shard done instead of decompressing the stream again."""
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    (evidence / "Inbox.mbox.bz2").write_bytes(bz2.compress(mailbox(13)))
    case = tmp_path / "case"
    monkeypatch.setattr(spool, "THRESHOLD", 1 << 40)
    first = scan([evidence], ScanOptions(out=case, workers=1))
    monkeypatch.setattr(spool, "THRESHOLD", THRESHOLD)
    monkeypatch.setattr(spool, "write", lambda *args: pytest.fail("decompressed again"))
    again = scan([evidence], ScanOptions(out=case, workers=1))
    assert (first.shards_run, again.shards_run, again.shards_skipped) == (1, 0, 1)


# ---------------------------------------------------------------- a copy that does not match


def spooled(path: Path, folder: Path) -> list[Shard]:
    [shard] = plan_input(path).shards
    parts, record = spool.expand(shard, folder, compressed.spool_shard, None, set())
    assert record is not None
    return parts


def problems_of(shard: Shard) -> list[tuple[str, str, str]]:
    findings, _row = process_shard(shard, Settings())
    rows = [row for row in findings.rows.get(ProblemRow.TABLE, []) if isinstance(row, ProblemRow)]
    return [(p.kind, p.locator, p.reason) for p in rows]


def test_a_tampered_or_truncated_copy_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "Inbox.mbox.gz"
    path.write_bytes(gzip.compress(mailbox(10), mtime=0))
    parts = spooled(path, tmp_path / "case" / "spool")
    assert [p.variant for p in parts] == ["spooled"] * 7
    copy = Path(parts[0].items[0])
    size = copy.stat().st_size
    with open(copy, "r+b") as handle:
        handle.seek(parts[3].start + 10)
        handle.write(b"X")
    hurt = parts[3]
    assert problems_of(hurt) == [("read-error", f"shard={hurt.shard_id}", (
        f"decompressed copy {copy} of (gzip stream): range {hurt.start}-{hurt.end} differs from the bytes "
        f"written (SHA-256 mismatch; not read)"))]
    assert problems_of(parts[2]) == [] and problems_of(parts[4]) == []
    os.truncate(copy, size - 1)
    assert problems_of(parts[0]) == [("read-error", f"shard={parts[0].shard_id}", (
        f"decompressed copy {copy} of (gzip stream): {size - 1} bytes, {size} recorded (changed since it was "
        f"written; range 0-{parts[0].end} not read)"))]
    copy.unlink()
    assert problems_of(parts[6]) == [("read-error", f"shard={parts[6].shard_id}", (
        f"decompressed copy {copy} of (gzip stream): cannot be read: No such file or directory"))]


# ---------------------------------------------------------------- damage and bombs, as the one-shard reading


def decodable(packed: bytes) -> int:
    return len(zlib.decompressobj(wbits=31).decompress(packed))


def scan_both(evidence: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """The spooled scan and the one-shard reading (the threshold raised) of the same evidence."""
    cli_scan(evidence, tmp_path / "spooled", "--workers", "2")
    monkeypatch.setattr(spool, "THRESHOLD", 1 << 40)
    cli_scan(evidence, tmp_path / "one-shard", "--workers", "1")
    return tmp_path / "spooled", tmp_path / "one-shard"


def problems(case: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(case / "case.sqlite") as conn:
        return conn.execute("SELECT kind, locator, reason FROM problems ORDER BY locator").fetchall()


def test_a_truncated_gzip_keeps_the_same_messages_and_problem(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    plain = mailbox(11, 600_000)
    whole = gzip.compress(plain, mtime=0)
    path = evidence / "cut.mbox.gz"
    path.write_bytes(whole[: len(whole) * 2 // 3])
    size = decodable(path.read_bytes())
    kept = len(list(mbox_reader.read_buffer(plain[:size], "", "")))
    spooled_case, one_shard = scan_both(evidence, tmp_path, monkeypatch)
    assert problems(spooled_case) == [("read-error", f"shard={sha(path.read_bytes())[:16]}:compressed:{path}:gzip", (
        f"(gzip stream) damaged after {size} decompressed bytes: EOFError: Compressed file ended before the "
        f"end-of-stream marker was reached; {kept} messages were read before that point (the last one may be "
        f"cut short)"))]
    ranges = expected_ranges(tmp_path, plain[:size])  # the copy holds what decompressed
    assert len(ranges) == 9
    assert shard_ids(spooled_case) == {f"{sha(path.read_bytes())[:16]}:compressed:{path}:gzip",
                                       *(f"{sha(path.read_bytes())[:16]}:compressed:{path}:gzip:{s}-{e}" for s, e in ranges)}
    assert len(shard_ids(one_shard)) == 1
    assert len(tables(one_shard)["occurrences"]) == kept
    assert data(spooled_case) == data(one_shard)


def test_damaged_archive_members_give_the_same_problem_and_keep_every_message_read_before(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Takeout zip whose deflate data is corrupt at 4/5, and a gzip member cut short: the same
    problem rows as the one-shard reading. The gzip member keeps the same messages; the zip
    member keeps every message whose end (the next From_ line and the header line after it)
    was read before the damaged 1 MiB block, and so does the one-shard reading now (it kept
    none while ``StreamWindow.find`` read a block ahead at every call)."""
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    plain = mailbox(12, 3_000_000)
    broken = bytearray(zipped(tmp_path / "whole.zip", TAKEOUT, plain).read_bytes())
    broken[len(broken) * 4 // 5 : len(broken) * 4 // 5 + 64] = hashlib.sha512(b"garbage").digest()
    bad = evidence / "broken.zip"
    bad.write_bytes(bytes(broken))
    packed = gzip.compress(plain, mtime=0)
    nested = zipped(evidence / "nested.zip", "Mail/Old.mbox.gz", packed[: len(packed) * 2 // 3])
    spooled_case, one_shard = scan_both(evidence, tmp_path, monkeypatch)

    size = decodable(packed[: len(packed) * 2 // 3])
    kept = len(list(mbox_reader.read_buffer(plain[:size], "", "")))
    crc = f"BadZipFile: Bad CRC-32 for file {TAKEOUT!r}"
    assert problems(spooled_case) == problems(one_shard) == sorted([
        ("read-error", f"shard={sha(bad.read_bytes())[:16]}:archive:{bad}:mbox:1",
         f"member {TAKEOUT!r}: damaged compressed data: {crc}"),
        ("read-error", f"shard={sha(nested.read_bytes())[:16]}:archive:{nested}:compressed:1",
         (f"Mail/Old.mbox.gz (gzip stream) damaged after {size} decompressed bytes: EOFError: Compressed file "
          f"ended before the end-of-stream marker was reached; {kept} messages were read before that point "
          f"(the last one may be cut short)"))])

    def occurrences(case: Path, path: Path) -> list[str]:
        with sqlite3.connect(case / "case.sqlite") as conn:
            return [r[0] for r in conn.execute("SELECT locator FROM occurrences WHERE source_path = ? "
                                               "ORDER BY offset", (str(path),))]

    assert occurrences(spooled_case, nested) == occurrences(one_shard, nested)
    assert len(occurrences(one_shard, nested)) == kept == 264
    with zipfile.ZipFile(bad) as zf, zf.open(TAKEOUT) as member:  # the blocks that inflate
        read = 0
        with pytest.raises(zipfile.BadZipFile):
            while block := member.read(1 << 20):
                read += len(block)
    spans = list(mbox_reader.iter_spans(plain, 0, len(plain), b"\n"))
    ended = [s for s, following in itertools.pairwise(spans) if plain.index(b"\n", following.start) + 1 + 256 <= read]
    assert (read, len(ended)) == (2 << 20, 286)
    assert occurrences(spooled_case, bad) == [f"member={TAKEOUT};offset={s.start}+{s.end - s.start}" for s in ended]
    assert occurrences(one_shard, bad) == occurrences(spooled_case, bad)


def test_a_bomb_is_refused_as_before_and_its_partial_copy_deleted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archive, "RATIO_FLOOR", 3_000_000)  # past the threshold: the copy is begun
    bomb = b"From a@b.example Mon Jan  1 10:00:00 2024\nFrom: a@b.example\nSubject: bomb\n\n" + b"\n" * 5_000_000
    path = tmp_path / "bomb.mbox.gz"
    path.write_bytes(gzip.compress(bomb, mtime=0))
    packed = path.stat().st_size
    limit = 3_000_000
    assert 200 * packed < limit < len(bomb)
    [shard] = plan_input(path).shards
    sizes: list[int] = []
    write = spool._write_rest

    def watched(read: object, partial: Path, head: list[bytes], limit: int) -> spool.Written:
        written = write(read, partial, head, limit)  # type: ignore[arg-type]
        sizes.append(partial.stat().st_size)
        return written

    monkeypatch.setattr(spool, "_write_rest", watched)
    folder = tmp_path / "case" / "spool"
    parts, record = spool.expand(shard, folder, compressed.spool_shard, None, set())
    reason = (f"refused (gzip stream): more than {limit} bytes decompressed from {packed} compressed bytes, "
              f"compression ratio over 200:1 (possible decompression bomb; nothing read)")
    assert record == spool.Spool(size=0, sha256="", member="(gzip stream)", end=reason)
    assert [(p.shard_id, p.variant) for p in parts] == [(shard.shard_id, spool.END_VARIANT)]
    assert problems_of(parts[0]) == [("read-error", f"shard={shard.shard_id}", reason)]
    assert sizes == [2 << 20]  # two 1 MiB blocks written, the third would pass the limit
    assert list(folder.iterdir()) == []  # the partial copy deleted


# ---------------------------------------------------------------- Dask


def test_dask_workers_read_the_copy_from_the_same_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, plain: dict[str, bytes]) -> None:
    distributed = pytest.importorskip("distributed", reason="the Dask engine needs dask[distributed]")
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    for name in ("Inbox.mbox.gz", "takeout.zip"):
        KINDS[name][1](evidence / name, plain[name])
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster:
        cli_scan(evidence, tmp_path / "dask", "--engine", "dask", "--scheduler", cluster.scheduler_address)
    monkeypatch.setattr(spool, "THRESHOLD", 1 << 40)
    cli_scan(evidence, tmp_path / "one-shard", "--workers", "1")
    assert len(shard_ids(tmp_path / "dask")) == 7 + 7
    assert not (tmp_path / "dask" / "spool").exists()
    assert data(tmp_path / "dask") == data(tmp_path / "one-shard")
