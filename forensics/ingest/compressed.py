"""Stage 1 reader for one compressed file holding mail: ``.mbox.gz``, ``.eml.bz2``, ``Inbox.xz``...

Researchers often receive mailboxes as a single gzip, bzip2 or xz file (not a tar: those
are the archive reader's). The file is recognised by its magic number *and* by what it
decompresses to (an mbox, an ``.emlx`` or an RFC 5322 message, sniffed by those readers);
its name is never trusted. It is decompressed as a stream with the stdlib
(``gzip``/``bz2``/``lzma``), in memory and never beside the evidence (a large mbox is
spooled into the case folder, see below).

Locators: a message is in the compressed file (``source_sha256`` is the SHA-256 of the
compressed file as stored, as for any input) at ``member=(gzip stream)`` (or ``(bzip2
stream)``, ``(xz stream)``); for an mbox, ``offset=START+LENGTH`` counts bytes of the
*decompressed* stream, exactly as the offset of a message in an mbox member of a zip or tar
counts bytes of the decompressed member. Concatenated streams (``cat a.gz b.gz``, pbzip2
output, multi-stream xz) are one decompressed stream, as ``gunzip``/``bunzip2``/``unxz`` give.

A compressed mbox is planned as one shard whatever the number of workers: gzip, bzip2 and
xz streams can only be decompressed from their start. When its decompressed mbox is
larger than ``spool.THRESHOLD``, the pipeline's spooling step (``spool_shard`` here, see
``ingest/spool.py``) decompresses it once into the case folder and cuts the copy into
byte ranges like a plain mbox, with the same locators, so every worker takes a part and
memory does not grow with the mailbox; smaller ones are read as below, in one shard.

The mbox splitter needs the stream's length, which a compressed stream does not state
truthfully (gzip keeps it modulo 4 GiB, bzip2 not at all), so ``read`` makes two passes
over the stream: the first only counts the bytes that decompress (and finds where
damage, if any, stops the stream), the second cuts them into messages. Decompression is
far faster than analysis, so the first pass costs little.

Hostile input, with the archive reader's limits (``archive.MAX_RATIO``,
``archive.RATIO_FLOOR``, ``archive.MAX_MEMBER_BYTES``): a stream that decompresses past
them is refused whole, like a zip or tar bomb member, after at most that many bytes were
decompressed and counted (nothing is kept). A truncated or corrupt stream keeps every
message before the damage and raises ``ReadError`` with the exact reason after them.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from forensics.errors import ReadError
from forensics.ingest import archive, eml, emlx, mbox, spool
from forensics.ingest.base import SNIFF_BYTES, Shard
from forensics.ingest.stream import StreamWindow
from forensics.records import Locator, RawMessage

name = "compressed"
CHUNK = 1 << 20
# Magic number per codec. bzip2's "BZh" is followed by the block size digit 1-9 (checked
# in ``codec_of``); xz's magic is six bytes (the legacy .lzma format has no magic number
# worth trusting and is not read).
CODECS: dict[str, bytes] = {"gzip": b"\x1f\x8b", "bzip2": b"BZh", "xz": b"\xfd7zXZ\x00"}
_SUFFIXES = (".gz", ".gzip", ".bz2", ".bzip2", ".xz")


def codec_of(head: bytes) -> str | None:
    """The compression whose magic number starts ``head``, or None."""
    for codec, magic in CODECS.items():
        if head.startswith(magic) and (codec != "bzip2" or head[3:4].isdigit() and head[3:4] != b"0"):
            return codec
    return None


def label(codec: str) -> str:
    """The locator's member for a decompressed stream: ``(gzip stream)``."""
    return f"({codec} stream)"


def inner_name(path: Path) -> str:
    """The file's name without its compression suffix (``Inbox.mbox.gz`` -> ``Inbox.mbox``)."""
    return path.stem if path.suffix.lower() in _SUFFIXES else path.name


@contextmanager
def open_stream(raw: IO[bytes], codec: str) -> Iterator[io.BufferedIOBase]:
    """The decompressed stream (stdlib ``gzip``/``bz2``/``lzma``) over an open compressed file."""
    if codec == "gzip":
        with gzip.GzipFile(fileobj=raw, mode="rb") as gz:
            yield gz
    elif codec == "bzip2":
        with bz2.BZ2File(raw, mode="rb") as bz:
            yield bz
    else:
        with lzma.LZMAFile(raw, mode="rb") as xz:
            yield xz


# ---------------------------------------------------------------- sniffing


def peek(raw: IO[bytes], codec: str, size: int = SNIFF_BYTES) -> tuple[bytes, str]:
    """The first ``size`` decompressed bytes, and the damage that cut them short ("" if none).

    ``read1`` is used throughout: ``read`` would drop the bytes it had gathered when the
    decompressor fails in the same call."""
    parts: list[bytes] = []
    got = 0
    try:
        with open_stream(raw, codec) as stream:
            while got < size and (block := stream.read1(size - got)):
                parts.append(block)
                got += len(block)
    except archive.DAMAGE as e:  # gzip.BadGzipFile and bz2 raise OSError, xz LZMAError
        return b"".join(parts), describe(e)
    return b"".join(parts), ""


def peek_file(path: Path, codec: str) -> tuple[bytes, str]:
    with open(path, "rb") as raw:
        return peek(raw, codec)


def sniff(head: bytes, path: Path) -> bool:
    """A gzip, bzip2 or xz file whose decompressed start is an mbox, an emlx or a message.

    Runs after the archive sniffer, which claims compressed tars first."""
    codec = codec_of(head)
    if codec is None:
        return False
    inner, _damage = peek_file(path, codec)
    return archive.member_reader(inner, inner_name(path)) is not None


# ---------------------------------------------------------------- planning


def plan(path: Path, sha256: str, size: int) -> Iterator[Shard]:
    """One shard for the whole file (a compressed stream cannot be entered in its middle)."""
    with open(path, "rb") as raw:
        codec = codec_of(raw.read(6))
        if codec is None:  # changed since it was sniffed: the hash check will say so
            return
        raw.seek(0)
        inner, _damage = peek(raw, codec)
    reader = archive.member_reader(inner, inner_name(path))
    if reader is None:
        return
    yield Shard(shard_id=f"{sha256[:16]}:{name}:{path}:{codec}", reader=name, path=str(path), source_sha256=sha256,
                member=label(codec), variant=reader, items=(codec,))


# ---------------------------------------------------------------- reading


@dataclass(frozen=True, slots=True, kw_only=True)
class Extent:
    """How much of a compressed stream decompresses: ``size`` bytes, then ``damage`` (or the
    end of the stream when empty); ``over_limit`` when it went past the bomb limit."""

    size: int
    damage: str = ""
    over_limit: bool = False


def limit_for(packed: int) -> int:
    """Most decompressed bytes allowed from ``packed`` compressed bytes: the archive rule
    (any size up to ``RATIO_FLOOR``, else at most ``MAX_RATIO``:1, never past ``MAX_MEMBER_BYTES``).
    Read at call time so tests can lower the archive's limits."""
    return min(archive.MAX_MEMBER_BYTES, max(archive.RATIO_FLOOR, archive.MAX_RATIO * packed))


def measure(stream: io.BufferedIOBase, limit: int) -> Extent:
    """First pass: count the decompressed bytes, up to ``limit`` + 1 (nothing is kept)."""
    size = 0
    try:
        while block := stream.read1(CHUNK):
            size += len(block)
            if size > limit:
                return Extent(size=size, over_limit=True)
    except archive.DAMAGE as e:  # gzip.BadGzipFile and bz2 raise OSError, xz LZMAError
        return Extent(size=size, damage=describe(e))
    return Extent(size=size)


class Prefix:
    """Second pass: the first ``size`` decompressed bytes, which the first pass saw decompress."""

    def __init__(self, stream: io.BufferedIOBase, size: int) -> None:
        self._stream = stream
        self.left = size

    def read(self, size: int = -1) -> bytes:
        want = self.left if size < 0 else min(size, self.left)
        parts: list[bytes] = []
        while want > 0 and (block := self._stream.read1(min(want, CHUNK))):
            parts.append(block)
            want -= len(block)
            self.left -= len(block)
        return b"".join(parts)


def refusal(member: str, packed: int, limit: int) -> str:
    """Why a stream that decompresses past the limit is refused (the archive's words)."""
    if limit >= archive.MAX_MEMBER_BYTES:
        return (f"refused {member}: decompressed size exceeds {archive.MAX_MEMBER_BYTES} bytes "
                f"(not read)")
    return (f"refused {member}: more than {limit} bytes decompressed from {packed} compressed bytes, "
            f"compression ratio over {archive.MAX_RATIO}:1 (possible decompression bomb; nothing read)")


def damage_reason(member: str, extent: Extent, kept: int) -> str:
    """Why a stream stopped early, and what was kept."""
    hint = ""
    if "CRC" in extent.damage or "checksum" in extent.damage.lower():
        hint = " (the checksum covers the whole stream: the bytes before it may be wrong too)"
    kept_text = "1 message was" if kept == 1 else f"{kept} messages were"
    return (f"{member} damaged after {extent.size} decompressed bytes: {extent.damage}{hint}; "
            f"{kept_text} read before that point (the last one may be cut short)")


def describe(e: BaseException) -> str:
    """``zlib.error: ...``, ``EOFError: ...``: the exception's name, qualified when not a builtin."""
    kind = type(e)
    module = "" if kind.__module__ == "builtins" else f"{kind.__module__.lstrip('_')}."
    return f"{module}{kind.__name__}: {e}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Where:
    """Where the stream's messages are: the evidence file, its SHA-256, the locator's member,
    and the decompressed file's name (``x.partial.emlx`` from ``x.partial.emlx.gz``)."""

    path: str
    sha256: str
    member: str
    inner_name: str = ""


def read(shard: Shard) -> Iterator[RawMessage]:
    if shard.variant in (spool.VARIANT, spool.END_VARIANT):
        yield from spool.read(shard)
        return
    codec = shard.items[0]
    where = Where(path=shard.path, sha256=shard.source_sha256, member=label(codec),
                  inner_name=inner_name(Path(shard.path)))
    with open(shard.path, "rb") as raw:
        packed = raw.seek(0, 2)
        raw.seek(0)
        yield from read_stream(raw, codec, packed, shard.variant, where)


def read_stream(raw: IO[bytes], codec: str, packed: int, reader: str, where: Where) -> Iterator[RawMessage]:
    """Messages of the compressed stream ``raw`` (seekable, at its start) read as ``reader``
    (mbox, emlx or eml), in two passes (see the module docstring).

    Raises:
        ReadError: the stream decompresses past the limit (nothing read), is damaged (raised
            after the messages before the damage), or gives fewer bytes the second time.
    """
    limit = limit_for(packed)
    start = raw.tell()
    with open_stream(raw, codec) as stream:
        extent = measure(stream, limit)
    if extent.over_limit:
        raise ReadError(refusal(where.member, packed, limit))
    raw.seek(start)
    kept = 0
    with open_stream(raw, codec) as stream:
        prefix = Prefix(stream, extent.size)
        try:
            for message in _messages(prefix, reader, extent.size, where):
                kept += 1
                yield message
        except archive.DAMAGE as e:  # the second pass failed before the first did (it should not)
            early = Extent(size=extent.size - prefix.left, damage=describe(e))
            raise ReadError(damage_reason(where.member, early, kept)) from e
    if extent.damage:
        raise ReadError(damage_reason(where.member, extent, kept))


def _messages(stream: Prefix, reader: str, size: int, where: Where) -> Iterator[RawMessage]:
    if reader == mbox.name:
        window = StreamWindow(stream, size, limit=archive.MAX_WINDOW_BYTES)
        yield from mbox.read_buffer(window, where.path, where.sha256, member=where.member)
        if window.short_by:
            raise ReadError(f"{where.member}: {window.short_by} decompressed bytes missing on the second reading")
        return
    data = stream.read(eml.MAX_MESSAGE_BYTES + 1)
    locator = Locator(source_path=where.path, source_sha256=where.sha256, kind="member", member=where.member)
    if reader == emlx.name:
        yield emlx.split_emlx(data, locator, partial=where.inner_name.endswith(".partial.emlx"))
    else:
        yield eml.raw_message(data, locator, fmt="eml")


# ---------------------------------------------------------------- spooling (see ingest/spool.py)


def spool_shard(shard: Shard, target: Path) -> spool.Spool | None:
    """A compressed mbox's one shard spooled into ``target`` and cut; None when it is not an
    mbox or decompresses to ``spool.THRESHOLD`` bytes or fewer (read as one shard)."""
    if shard.variant != mbox.name:
        return None
    codec = shard.items[0]
    where = Where(path=shard.path, sha256=shard.source_sha256, member=label(codec))
    with open(shard.path, "rb") as raw:
        packed = raw.seek(0, 2)
        raw.seek(0)
        return spool_stream(raw, codec, packed, where, target)


def spool_stream(raw: IO[bytes], codec: str, packed: int, where: Where, target: Path) -> spool.Spool | None:
    """``read_stream``'s two passes as one: the first pass (``measure``'s blocks, limit and
    damage) writes the copy, and the cut replays the second over it. The same messages are
    kept and the same reason ends the stream (``damage_reason``, ``refusal``)."""
    limit = limit_for(packed)
    with open_stream(raw, codec) as stream:
        pump = spool.Pump(stream.read1, archive.DAMAGE, describe)
        written = spool.write(pump, target, limit)
    if written is None:
        return None
    if written.over_limit:
        return spool.Spool(size=0, sha256="", member=where.member, end=refusal(where.member, packed, limit))
    cut = spool.cut(target, written, declared=written.size, failure="", window_limit=archive.MAX_WINDOW_BYTES)
    end = cut.stopped
    if not end and pump.failure:
        end = damage_reason(where.member, Extent(size=written.size, damage=pump.failure), cut.kept)
    return spool.Spool(size=written.size, sha256=written.sha256, member=where.member, ranges=cut.ranges, end=end)
