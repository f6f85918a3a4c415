"""Stage 1 reader for mail inside zip and tar archives (Gmail Takeout ``.zip``/``.tgz`` and others).

Archives are read in place with stdlib ``zipfile``/``tarfile``: members are
decompressed as streams, never extracted beside the evidence. Each member is recognised by its
content like a file on disk: an mbox member (Takeout's ``All mail Including Spam and
Trash.mbox``) is cut into messages by the mbox reader through a ``StreamWindow``;
``.eml``/``.emlx`` members are read whole. A gzip, bzip2 or xz member holding one of
those (``Inbox.mbox.gz``) is decompressed as a stream by ``compressed.read_stream``, with
the same bomb limits applied to its own ratio; its messages' locators name the member
with ``(gzip stream)`` appended (``member=Mail/Inbox.mbox.gz (gzip stream);offset=...``,
the offset counting decompressed bytes). Hostile members are refused, not read, and
become problems: names that would escape an extraction folder (absolute, ``..``,
drive letters), encrypted members, and members whose declared size or compression
ratio looks like a decompression bomb. Members that are not mail (Takeout's HTML
index, JSON, photos) are noted on the input, not read.

An mbox member (plain or compressed) is planned as one shard, since a member can only be
read from its start; when it is larger than ``spool.THRESHOLD`` the pipeline's spooling
step (``spool_shard`` here, see ``ingest/spool.py``) decompresses it once into the case
folder and cuts the copy into byte ranges like a plain mbox, with the same locators, so
a Takeout mailbox of tens of GB runs on every worker in flat memory.
"""

from __future__ import annotations

import io
import lzma
import os
import re
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO

from forensics.errors import ReadError
from forensics.ingest import compressed, eml, emlx, mbox, spool
from forensics.ingest.base import SNIFF_BYTES, Shard
from forensics.ingest.stream import StreamWindow
from forensics.records import Locator, RawMessage

name = "archive"
MAX_MEMBER_BYTES = 64 * 1024**3  # a whole-account Takeout mbox can be tens of GB
MAX_RATIO = 200  # mbox text deflates 3-20x; bombs are 1000x and more
RATIO_FLOOR = 16 * 1024 * 1024  # small members may have any ratio (a file of blank lines)
BATCH = 256  # single-message members per shard
# Compressed bytes read from a gzip/bzip2/xz member to sniff what it holds: a bzip2 block
# (up to 900 kB of input) gives no output until it is whole.
COMPRESSED_HEAD = 1 << 20
# An mbox member is cut in a window over its decompressed stream; the window holds one
# message (at most mbox.MAX_MESSAGE_BYTES are kept of it) and the bytes looked ahead.
MAX_WINDOW_BYTES = mbox.MAX_MESSAGE_BYTES + 64 * 1024 * 1024
_DRIVE = re.compile(r"^[A-Za-z]:")
_COMPRESSED = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")
# What zipfile, tarfile and the decompressors raise on damaged data (found by fuzzing:
# a bad deflate block is zlib.error, an unknown method NotImplementedError, a bad
# header struct.error or ValueError...). All of them mean "this archive or member is damaged".
DAMAGE = (zipfile.BadZipFile, zipfile.LargeZipFile, tarfile.TarError, EOFError, zlib.error, lzma.LZMAError,
          OSError, NotImplementedError, RuntimeError, ValueError, struct.error)


@dataclass(frozen=True, slots=True)
class Member:
    index: int
    name: str
    size: int
    packed: int | None  # compressed size when the archive says it (zip)
    encrypted: bool = False
    kind: str = "file"  # file, dir, link, other


def sniff(head: bytes, path: Path) -> bool:
    """A zip (local header or empty-archive record) or a tar, plain or gzip/bzip2/xz-compressed."""
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return True
    if head[257:262] == b"ustar":
        return True
    if head.startswith(b"\x1f\x8b"):
        return _gzip_holds_tar(head)
    if head.startswith(_COMPRESSED[1:]):
        return _opens_as_tar(path)
    return False


def _gzip_holds_tar(head: bytes) -> bool:
    try:
        inner = zlib.decompressobj(wbits=31).decompress(head, 512)
    except zlib.error:
        return False
    return inner[257:262] == b"ustar"


def _opens_as_tar(path: Path) -> bool:
    try:
        with open(path, "rb") as handle, tarfile.open(fileobj=handle, mode="r:*") as tar:
            return tar.next() is not None
    except (tarfile.TarError, OSError, EOFError, ValueError):
        return False


# ---------------------------------------------------------------- opening archives


@contextmanager
def _open(path: str) -> Iterator[_Archive]:
    with open(path, "rb") as handle:
        if handle.read(4).startswith(b"PK"):
            handle.seek(0)
            try:
                with zipfile.ZipFile(handle) as zf:
                    yield _Zip(zf)
            except DAMAGE as e:
                raise ReadError(f"{path}: damaged zip archive: {type(e).__name__}: {e}") from e
            return
        handle.seek(0)
        try:
            compressed = handle.read(6).startswith(_COMPRESSED)
            handle.seek(0)
            with tarfile.open(fileobj=handle, mode="r:*") as tar:
                yield _Tar(tar, handle if compressed else None)
        except DAMAGE as e:
            raise ReadError(f"{path}: damaged tar archive: {type(e).__name__}: {e}") from e


class _Archive:
    def members(self) -> Iterator[Member]:
        raise NotImplementedError

    def streams(self, wanted: set[int]) -> Iterator[tuple[Member, IO[bytes]]]:
        raise NotImplementedError


class _Zip(_Archive):
    def __init__(self, zf: zipfile.ZipFile) -> None:
        self.zf = zf

    def members(self) -> Iterator[Member]:
        for index, info in enumerate(self.zf.infolist()):
            yield Member(
                index=index, name=info.filename, size=info.file_size, packed=info.compress_size,
                encrypted=bool(info.flag_bits & 0x1), kind="dir" if info.is_dir() else "file",
            )

    def streams(self, wanted: set[int]) -> Iterator[tuple[Member, IO[bytes]]]:
        """Each wanted member's stream; a member that cannot be opened (bad local header,
        unknown method) gives a stream that raises ReadError, so the others are still read."""
        infos = self.zf.infolist()
        for member in self.members():
            if member.index not in wanted:
                continue
            try:
                stream: IO[bytes] = self.zf.open(infos[member.index])
            except DAMAGE as e:
                stream = _Unreadable(f"member {member.name!r}: cannot be opened: {type(e).__name__}: {e}")
            with stream:
                yield member, stream


class _Unreadable(io.BytesIO):
    """A member that cannot be opened: reading it raises ReadError with the reason."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason

    def read(self, size: int | None = -1) -> bytes:
        raise ReadError(self.reason)


class _Tar(_Archive):
    def __init__(self, tar: tarfile.TarFile, raw: IO[bytes] | None) -> None:
        self.tar = tar
        self.raw = raw  # the compressed file under a .tar.gz/.bz2/.xz, else None

    def _infos(self) -> Iterator[tuple[Member, tarfile.TarInfo]]:
        for index, info in enumerate(self.tar):
            kind = "file" if info.isfile() else "dir" if info.isdir() else (
                "link" if info.issym() or info.islnk() else "other")
            yield Member(index=index, name=info.name, size=info.size, packed=None, kind=kind), info

    def members(self) -> Iterator[Member]:
        """Members; in a compressed tar each with an estimate of its compressed size (how far
        the compressed file was read between its header and the next), so a decompression
        bomb is refused like a zip one. The decompressor's read-ahead only makes the estimate
        larger (the ratio smaller): the check errs towards reading."""
        if self.raw is None:
            for member, _info in self._infos():
                yield member
            return
        listed: list[tuple[Member, int]] = [(member, self.raw.tell()) for member, _info in self._infos()]
        ends = [position for _member, position in listed[1:]] + [os.fstat(self.raw.fileno()).st_size]
        for (member, start), end in zip(listed, ends):
            yield replace(member, packed=max(end - start, 1))

    def streams(self, wanted: set[int]) -> Iterator[tuple[Member, IO[bytes]]]:
        last = max(wanted, default=-1)
        for member, info in self._infos():
            if member.index in wanted:
                stream = self.tar.extractfile(info)
                if stream is not None:
                    with stream:
                        yield member, stream
            if member.index >= last:  # tar has no index: stop reading the stream early
                return


# ---------------------------------------------------------------- planning


def unsafe_name(member_name: str) -> str | None:
    """Why a member name could escape an extraction folder, or None when it is safe."""
    if member_name.startswith(("/", "\\")) or _DRIVE.match(member_name):
        return "absolute member path"
    if ".." in re.split(r"[\\/]", member_name):
        return "member path climbs out with '..'"
    if "\x00" in member_name:
        return "NUL byte in member name"
    return None


def refusal(member: Member) -> str | None:
    """Why a member must not be read at all (hostile or unreadable), or None."""
    unsafe = unsafe_name(member.name)
    if unsafe:
        return f"refused member {member.name!r}: {unsafe} (path traversal)"
    if member.encrypted:
        return f"refused member {member.name!r}: encrypted (password-protected) zip member"
    if member.size > MAX_MEMBER_BYTES:
        return f"refused member {member.name!r}: declared size {member.size} exceeds {MAX_MEMBER_BYTES}"
    if member.packed is not None and member.size > RATIO_FLOOR:
        ratio = member.size / max(member.packed, 1)
        if ratio > MAX_RATIO:
            return (f"refused member {member.name!r}: compression ratio {ratio:.0f}:1 exceeds "
                    f"{MAX_RATIO}:1 (possible decompression bomb)")
    return None


def member_reader(head: bytes, member_name: str) -> str | None:
    """Which reader a member's first bytes belong to (mbox, emlx or eml), by content."""
    for reader in (mbox, emlx, eml):
        if head and reader.sniff(head, Path(member_name)):
            return str(reader.name)
    return None


def plan(path: Path, sha256: str, size: int) -> Iterator[Shard]:
    """One shard per mbox member, single messages in batches; refused and skipped members
    as shards with ``variant`` ``refused`` (read raises) and ``skipped`` (a note only)."""
    singles: list[str] = []
    with _open(str(path)) as archive:
        for member, verdict, detail in _classify(archive):
            if verdict == "single":
                singles.append(str(member.index))
            else:
                yield _shard(path, sha256, verdict, member, detail)
    for batch_start in range(0, len(singles), BATCH):
        batch = tuple(singles[batch_start : batch_start + BATCH])
        yield Shard(shard_id=f"{sha256[:16]}:archive:{path}:single:{batch[0]}", reader=name, path=str(path),
                    source_sha256=sha256, variant="single", items=batch)


def _shard(path: Path, sha256: str, variant: str, member: Member, detail: str) -> Shard:
    return Shard(
        shard_id=f"{sha256[:16]}:archive:{path}:{variant}:{member.index}", reader=name, path=str(path),
        source_sha256=sha256, member=member.name, variant=variant, items=(str(member.index), detail),
    )


def _classify(archive: _Archive) -> Iterator[tuple[Member, str, str]]:
    """Each file member with a verdict: mbox, single, refused or skipped (and why)."""
    candidates: list[Member] = []
    for member in archive.members():
        if member.kind == "dir":
            continue
        reason = refusal(member)
        if reason:
            yield member, "refused", reason
        elif member.kind != "file":
            yield member, "skipped", f"{member.kind} member, not a file"
        elif member.size == 0:
            yield member, "skipped", "empty member (0 bytes)"
        else:
            candidates.append(member)
    heads = _heads(archive, {m.index for m in candidates})
    for member in candidates:
        head = heads.get(member.index, b"")
        if isinstance(head, str):  # the member's data is damaged: refused with the reason
            yield member, "refused", head
            continue
        codec = compressed.codec_of(head)
        if codec is not None:
            yield member, *_compressed_verdict(head, codec, member.name)
            continue
        reader = member_reader(head, member.name)
        if reader == mbox.name:
            yield member, "mbox", ""
        elif reader is not None:
            yield member, "single", ""
        else:
            yield member, "skipped", f"not a recognised mail format (starts with {head[:8]!r})"


def _compressed_verdict(head: bytes, codec: str, member_name: str) -> tuple[str, str]:
    """A compressed member: ``compressed`` and ``codec:reader`` when it holds mail, else why not."""
    inner, damage = compressed.peek(io.BytesIO(head), codec)
    reader = member_reader(inner, compressed.inner_name(Path(member_name)))
    if reader is not None:
        return "compressed", f"{codec}:{reader}"
    if not inner:
        return "skipped", f"{codec}-compressed member that does not decompress ({damage or '0 bytes'})"
    if inner[257:262] == b"ustar" or inner.startswith((b"PK\x03\x04", *_COMPRESSED)):
        return "skipped", f"{codec}-compressed archive inside the archive (nested archives are not read)"
    return "skipped", f"{codec}-compressed member that is not mail (decompressed, starts with {inner[:8]!r})"


def _heads(archive: _Archive, wanted: set[int]) -> dict[int, bytes | str]:
    """The first bytes of each wanted member, or why they cannot be read."""
    heads: dict[int, bytes | str] = {}
    for member, stream in archive.streams(wanted):
        try:
            head = stream.read(SNIFF_BYTES)
            if compressed.codec_of(head):
                head += stream.read(COMPRESSED_HEAD - len(head))
            heads[member.index] = head
        except ReadError as e:
            heads[member.index] = str(e)
        except DAMAGE as e:
            heads[member.index] = f"member {member.name!r}: damaged compressed data: {type(e).__name__}: {e}"
    return heads


# ---------------------------------------------------------------- reading


def read(shard: Shard) -> Iterator[RawMessage]:
    if shard.variant in (spool.VARIANT, spool.END_VARIANT):
        yield from spool.read(shard)
        return
    if shard.variant == "refused":
        raise ReadError(shard.items[1])
    if shard.variant == "skipped":
        return
    whole = shard.variant in ("mbox", "compressed")  # one member per shard
    wanted = {int(shard.items[0])} if whole else {int(i) for i in shard.items}
    damaged: list[str] = []
    with _open(shard.path) as archive:
        for member, stream in archive.streams(wanted):
            try:
                if shard.variant == "compressed":
                    yield from _read_compressed_member(shard, member, stream)
                elif shard.variant == "mbox":
                    yield from _read_mbox_member(shard, member, stream)
                else:
                    yield _read_single_member(shard, member, stream)
            except ReadError as e:  # keep reading the other members of the batch
                damaged.append(str(e))
    if damaged:
        raise ReadError("; ".join(damaged))


def _read_mbox_member(shard: Shard, member: Member, stream: IO[bytes]) -> Iterator[RawMessage]:
    window = StreamWindow(stream, member.size, limit=MAX_WINDOW_BYTES)
    try:
        yield from mbox.read_buffer(window, shard.path, shard.source_sha256, member=member.name)
    except DAMAGE as e:
        raise ReadError(_damaged(member, e)) from e
    if window.short_by:
        raise ReadError(_missing(member, window.short_by))


def _damaged(member: Member, e: BaseException) -> str:
    return f"member {member.name!r}: damaged compressed data: {type(e).__name__}: {e}"


def _missing(member: Member, short_by: int) -> str:
    return f"member {member.name!r}: {short_by} bytes missing at the end"


def _read_compressed_member(shard: Shard, member: Member, stream: IO[bytes]) -> Iterator[RawMessage]:
    """A gzip/bzip2/xz member, in two passes over it (zip and tar member streams can seek back)."""
    codec, reader = shard.items[1].split(":")
    where = compressed.Where(path=shard.path, sha256=shard.source_sha256,
                             member=f"{member.name} {compressed.label(codec)}",
                             inner_name=compressed.inner_name(Path(member.name)))
    try:
        yield from compressed.read_stream(stream, codec, member.size, reader, where)
    except DAMAGE as e:  # the archive's own data failed while seeking back to the member's start
        raise ReadError(_damaged(member, e)) from e


def _read_single_member(shard: Shard, member: Member, stream: IO[bytes]) -> RawMessage:
    try:
        data = stream.read(eml.MAX_MESSAGE_BYTES + 1)
    except DAMAGE as e:
        raise ReadError(f"member {member.name!r}: damaged compressed data: {type(e).__name__}: {e}") from e
    locator = Locator(source_path=shard.path, source_sha256=shard.source_sha256, kind="member",
                      member=member.name)
    if member_reader(data[:SNIFF_BYTES], member.name) == emlx.name:
        return emlx.split_emlx(data, locator, partial=member.name.endswith(".partial.emlx"))
    return eml.raw_message(data, locator, fmt="eml")


# ---------------------------------------------------------------- spooling (see ingest/spool.py)


def spool_shard(shard: Shard, target: Path) -> spool.Spool | None:
    """An mbox member's one shard (plain, or gzip/bzip2/xz-compressed) spooled into ``target``
    and cut; None for other shards and for members of ``spool.THRESHOLD`` bytes or fewer."""
    if shard.variant == "compressed" and shard.items[1].endswith(f":{mbox.name}"):
        codec = shard.items[1].split(":")[0]
    elif shard.variant == "mbox":
        codec = ""
    else:
        return None
    with _open(shard.path) as archive:
        for member, stream in archive.streams({int(shard.items[0])}):
            if not codec:
                return _spool_mbox_member(member, stream, target)
            where = compressed.Where(path=shard.path, sha256=shard.source_sha256,
                                     member=f"{member.name} {compressed.label(codec)}")
            return compressed.spool_stream(stream, codec, member.size, where, target)
    return None


def _spool_mbox_member(member: Member, stream: IO[bytes], target: Path) -> spool.Spool | None:
    """A plain mbox member: its blocks (as ``StreamWindow`` reads them) into the copy; the cut
    replays the member's damage where it was raised: the reason is ``_read_mbox_member``'s,
    and every message whose end was read before the damaged block is kept."""
    if member.size <= spool.THRESHOLD:
        return None  # its declared size says it is small: not even decompressed here

    def explain(e: BaseException) -> str:
        return str(e) if isinstance(e, ReadError) else _damaged(member, e)

    pump = spool.Pump(stream.read, (*DAMAGE, ReadError), explain)
    written = spool.write(pump, target, member.size)
    if written is None or written.over_limit:  # over: more than declared, which zipfile and tarfile never give
        return None
    cut = spool.cut(target, written, declared=member.size, failure=pump.failure, window_limit=MAX_WINDOW_BYTES)
    end = cut.stopped or (_missing(member, cut.short_by) if cut.short_by else "")
    return spool.Spool(size=written.size, sha256=written.sha256, member=member.name, ranges=cut.ranges, end=end)
