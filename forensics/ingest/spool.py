"""Stage 1 helper: spool a compressed or archived mbox into the case folder, then cut it like a plain one.

A gzip, bzip2 or xz stream, or a zip/tar member, can only be read from its start, so
the ``compressed`` and ``archive`` readers plan such an mbox as one shard: one worker
read the whole mailbox and held all of its rows at once (a 10 GB Gmail Takeout mbox
meant more than 10 GB in flight). A stream whose decompressed mbox is larger than
``THRESHOLD`` is instead decompressed once, sequentially, in blocks, into
``<case>/spool/`` (never beside the evidence: the evidence is only opened ``rb``), and
the copy is cut into byte ranges at message boundaries by the mbox reader's own
splitter (``mbox.iter_spans``, ``mbox.shard_bytes``), so the ranges run on every worker
and each holds a few MiB of rows. Smaller streams stay one shard, exactly as before.

Same evidence rows. A range's messages keep the locators and ids of the one-shard
reading: the evidence file's path and SHA-256 (never the copy's), the stream's member
(``(gzip stream)``, ``Mail/All mail.mbox``...) and ``offset=START+LENGTH`` counting
decompressed bytes. The cut replays the one-shard reading over the copy (a window of
the same declared size over the same blocks, the source's damage raised where the
source raised it), and the reader's own reason for stopping (a damage, a bomb refusal,
bytes missing) becomes a last shard that carries the one-shard reading's id and raises
that reason: the problem row is the same. A damaged gzip/bzip2/xz stream keeps the same
messages (all that decompressed). A zip or tar member damaged midway keeps every message
whose end was read before the damaged block, where the one-shard reading lost up to all
of them: ``StreamWindow.find`` read a block ahead at every call (fixed since).

Integrity. The copy is written under a temporary name and renamed when whole; its
size and SHA-256, and a SHA-256 of every range (with the copy's first 64 KiB, from
which the line ending is taken), are recorded in the shards and in the case, and a
range whose bytes do not match is refused (``ReadError``, hence a problem row). A
resumed scan reuses a whole copy whose SHA-256 matches the record and writes it again
otherwise; the pipeline deletes the copies when every shard has run. Disk needed: the
decompressed size of every spooled stream (all are spooled before the shards run),
freed at the end of the scan.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from forensics.errors import ReadError
from forensics.ingest import mbox
from forensics.ingest.base import Shard
from forensics.ingest.stream import StreamWindow
from forensics.records import RawMessage

FOLDER = "spool"  # inside the case folder
VARIANT = "spooled"  # a byte range of a spooled copy
END_VARIANT = "spool-end"  # why the stream stopped: raised under the one-shard reading's id
# Streams that decompress to more than this are spooled; smaller ones stay one shard (their
# rows are small anyway). Read at call time, so tests can lower it.
THRESHOLD = 2 * mbox.SHARD_BYTES
CHUNK = 1 << 20  # the block StreamWindow reads: the cut asks the copy for the same blocks
HEAD = 65536  # the bytes mbox.read_buffer takes the line ending from
META_PREFIX = "spool:"  # case meta key of a stream's record, followed by its one-shard id

Range = tuple[int, int, str]  # start, end, SHA-256 of the copy's first HEAD bytes and the range


@dataclass(frozen=True, slots=True, kw_only=True)
class Spool:
    """What a stream was cut into: the copy's size and SHA-256, its ranges, and why it stopped."""

    size: int
    sha256: str
    member: str  # the locator's member of every message of the stream
    ranges: tuple[Range, ...] = ()
    end: str = ""  # the one-shard reading's problem (damage, refusal), or "" for a whole stream

    def to_json(self) -> str:
        return json.dumps({"size": self.size, "sha256": self.sha256, "member": self.member,
                           "ranges": [list(r) for r in self.ranges], "end": self.end}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Spool:
        data = json.loads(text)
        ranges = tuple((int(s), int(e), str(d)) for s, e, d in data["ranges"])
        return cls(size=int(data["size"]), sha256=str(data["sha256"]), member=str(data["member"]),
                   ranges=ranges, end=str(data["end"]))


# ---------------------------------------------------------------- writing the copy


class Pump:
    """A source stream read block by block; the damage that ends it is kept, described as the
    one-shard reading would describe it, instead of raised."""

    def __init__(self, read: Callable[[int], bytes], damage: tuple[type[BaseException], ...],
                 explain: Callable[[BaseException], str]) -> None:
        self._read = read
        self._damage = damage
        self._explain = explain
        self.failure = ""

    def __call__(self, size: int) -> bytes:
        if self.failure:
            return b""
        try:
            return self._read(size)
        except self._damage as e:
            self.failure = self._explain(e)
            return b""


@dataclass(frozen=True, slots=True, kw_only=True)
class Written:
    size: int  # bytes written (or counted, past the limit)
    sha256: str = ""
    over_limit: bool = False


def write(read: Callable[[int], bytes], target: Path, limit: int) -> Written | None:
    """The stream's bytes into ``target`` (through ``target.part``, renamed when whole).

    None when it ends at ``THRESHOLD`` bytes or fewer: nothing is written, it is read as one
    shard. Past ``limit`` bytes the writing stops, the partial copy is deleted and
    ``over_limit`` is set (disk use stays bounded by the limit)."""
    head: list[bytes] = []  # a small stream never touches the disk
    size = 0
    while size <= THRESHOLD:
        block = read(CHUNK)
        if not block:
            return None
        head.append(block)
        size += len(block)
        if size > limit:
            return Written(size=size, over_limit=True)
    partial = target.with_name(target.name + ".part")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        written = _write_rest(read, partial, head, limit)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    if written.over_limit:
        partial.unlink()
    else:
        os.replace(partial, target)
    return written


def _write_rest(read: Callable[[int], bytes], partial: Path, head: list[bytes], limit: int) -> Written:
    digest = hashlib.sha256()
    size = 0
    with open(partial, "wb") as out:
        block = b"".join(head)
        head.clear()
        while block:
            size += len(block)
            if size > limit:
                return Written(size=size, over_limit=True)
            digest.update(block)
            out.write(block)
            block = read(CHUNK)
    return Written(size=size, sha256=digest.hexdigest())


# ---------------------------------------------------------------- cutting the copy


class Replay:
    """The copy read again as the source was: its bytes, then the source's failure (raised for
    any block that reaches past them), or the end of the stream."""

    def __init__(self, handle: IO[bytes], size: int, failure: str) -> None:
        self._handle = handle
        self._left = size
        self._failure = failure

    def read(self, size: int = -1, /) -> bytes:
        if self._failure and (size < 0 or size > self._left):
            raise ReadError(self._failure)
        block = self._handle.read(self._left if size < 0 else min(size, self._left))
        self._left -= len(block)
        return block


@dataclass(frozen=True, slots=True, kw_only=True)
class Cut:
    ranges: tuple[Range, ...]
    kept: int  # messages in the ranges
    stopped: str = ""  # why the reading stopped before the end (the source's failure, a message too large)
    short_by: int = 0  # bytes the stream ended before its declared size


class _Ranges:
    """Ranges of about ``limit`` bytes ending at message ends, each with its SHA-256."""

    def __init__(self, head: bytes, limit: int) -> None:
        self.head, self.limit = head, limit
        self.start = self.end = self.kept = 0
        self.digest = hashlib.sha256(head)
        self.done: list[Range] = []

    def add(self, window: StreamWindow, span: mbox.Span) -> None:
        self.digest.update(window[self.end : span.end])  # before the window releases the span
        self.end = span.end
        self.kept += 1
        if self.end - self.start >= self.limit:
            self.close()

    def close(self) -> None:
        if self.end > self.start:
            self.done.append((self.start, self.end, self.digest.hexdigest()))
        self.start = self.end
        self.digest = hashlib.sha256(self.head)


def cut(target: Path, written: Written, *, declared: int, failure: str, window_limit: int) -> Cut:
    """Ranges of the copy at message boundaries, found as the one-shard reading found them.

    ``declared``: the stream's size as that reading took it (an archive member's declared
    size, or the bytes that decompressed); ``failure``: the source's damage, raised again
    where it was raised; ``window_limit``: the reader's bound on bytes held at once."""
    with open(target, "rb") as handle:
        window = StreamWindow(Replay(handle, written.size, failure), declared, limit=window_limit)
        ranges = _Ranges(b"", mbox.shard_bytes(written.size))
        stopped = ""
        try:
            head = window[:HEAD]
            ranges = _Ranges(head, mbox.shard_bytes(written.size))
            for span in mbox.iter_spans(window, 0, len(window), mbox.detect_eol(head)):
                ranges.add(window, span)
        except ReadError as e:
            stopped = str(e)
        ranges.close()
    return Cut(ranges=tuple(ranges.done), kept=ranges.kept, stopped=stopped, short_by=window.short_by)


# ---------------------------------------------------------------- shards


def path_for(folder: Path, shard: Shard) -> Path:
    """The copy of the stream a one-shard reading would read: named by that shard's id."""
    return folder / f"{hashlib.sha256(shard.shard_id.encode('utf-8', 'surrogatepass')).hexdigest()[:32]}.mbox"


def shards_of(shard: Shard, spool: Spool, target: Path) -> list[Shard]:
    """The ranges of the copy (ids: the one-shard id and the range), then the end, if any,
    under the one-shard id (its problem row is the one-shard reading's)."""
    parts = [
        Shard(shard_id=f"{shard.shard_id}:{start}-{end}", reader=shard.reader, path=shard.path,
              source_sha256=shard.source_sha256, start=start, end=end, member=spool.member, variant=VARIANT,
              items=(str(target), str(spool.size), spool.sha256, digest))
        for start, end, digest in spool.ranges
    ]
    if spool.end:
        parts.append(Shard(shard_id=shard.shard_id, reader=shard.reader, path=shard.path,
                           source_sha256=shard.source_sha256, member=shard.member, variant=END_VARIANT,
                           items=(spool.end,)))
    return parts


def size_of(shard: Shard) -> int:
    """Bytes of work in a spooled shard, for batching (the end shard reads nothing)."""
    return 0 if shard.end is None else shard.end - shard.start


Maker = Callable[[Shard, Path], Spool | None]


def expand(shard: Shard, folder: Path, make: Maker, recorded: str | None, done: set[str]) -> tuple[list[Shard], Spool | None]:
    """The shards to run for a one-shard stream, and the record to keep in the case.

    A recorded expansion is reused as is when its copy is not needed (its ranges are done)
    or is whole; a stream read whole by an earlier scan stays whole; otherwise ``make``
    (the reader's) spools it, or says None (small, not an mbox) and it stays one shard.
    Spooling only saves memory and time: when it fails (disk full...), the stream is read
    as one shard, as before, and that reading reports the evidence's own damage."""
    target = path_for(folder, shard)
    if recorded is not None:
        spool = Spool.from_json(recorded)
        parts = shards_of(shard, spool, target)
        pending = [p for p in parts if p.variant == VARIANT and p.shard_id not in done]
        if not pending or intact(target, spool):
            return parts, spool
    elif shard.shard_id in done:
        return [shard], None
    try:
        made = make(shard, target)
    except Exception:  # noqa: BLE001 - see the docstring: the one-shard reading takes over
        made = None
    if made is None:
        target.unlink(missing_ok=True)
        return [shard], None
    return shards_of(shard, made, target), made


def intact(target: Path, spool: Spool) -> bool:
    """Whether the copy is whole: the recorded size and SHA-256 (read in blocks)."""
    digest = hashlib.sha256()
    try:
        with open(target, "rb") as handle:
            if os.fstat(handle.fileno()).st_size != spool.size:
                return False
            while block := handle.read(CHUNK):
                digest.update(block)
    except OSError:
        return False
    return digest.hexdigest() == spool.sha256


def remove(folder: Path) -> None:
    """Delete the copies (and partial ones) once every shard has run."""
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        if path.suffix in (".mbox", ".part"):
            path.unlink(missing_ok=True)
    if not any(folder.iterdir()):
        folder.rmdir()


# ---------------------------------------------------------------- reading a range


def read(shard: Shard) -> Iterator[RawMessage]:
    """Messages of a range of a copy, with the evidence's locators; or the stream's end reason.

    Raises:
        ReadError: the end shard's reason; the copy is missing, or differs from the record.
    """
    if shard.variant == END_VARIANT:
        raise ReadError(shard.items[0])
    copy = shard.items[0]
    try:
        with open(copy, "rb") as handle:
            yield from _read_copy(handle, shard)
    except OSError as e:  # missing (deleted, or not shared with a Dask worker) or unreadable
        raise ReadError(f"decompressed copy {copy} of {shard.member}: cannot be read: {e.strerror or e}") from e


def _read_copy(handle: IO[bytes], shard: Shard) -> Iterator[RawMessage]:
    copy, size, _sha256, digest = shard.items
    actual = os.fstat(handle.fileno()).st_size
    if actual != int(size):
        raise ReadError(f"decompressed copy {copy} of {shard.member}: {actual} bytes, {size} recorded "
                        f"(changed since it was written; range {shard.start}-{shard.end} not read)")
    with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        if _range_digest(buf, shard.start, shard.end or 0) != digest:
            raise ReadError(f"decompressed copy {copy} of {shard.member}: range {shard.start}-{shard.end} "
                            f"differs from the bytes written (SHA-256 mismatch; not read)")
        yield from mbox.read_buffer(buf, shard.path, shard.source_sha256, shard.start, shard.end, member=shard.member)


def _range_digest(buf: mmap.mmap, start: int, end: int) -> str:
    digest = hashlib.sha256(buf[:HEAD])
    with memoryview(buf) as view, view[start:end] as part:  # no copy of the range
        digest.update(part)
    return digest.hexdigest()
