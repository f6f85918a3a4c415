"""Reader for the mbox family: mboxo, mboxrd, mboxcl/mboxcl2, Eudora/Netscape/Thunderbird.

Written by hand because no library reads mbox as evidence: stdlib ``mailbox.mbox``
opens files ``rb+`` (and creates missing ones), splits on every line starting
``From ``, ignores Content-Length and never unquotes ``>From``. This reader maps the
file read-only, requires a plausible envelope line followed by a header line before
it splits, honours Content-Length when it is consistent, and undoes exactly one level
of From-quoting (except in messages delimited by Content-Length, the mboxcl2 rule).
"""

from __future__ import annotations

import mmap
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from forensics.ingest.base import Shard
from forensics.ingest.stream import StreamWindow
from forensics.records import Locator, RawMessage

name = "mbox"
Buffer = bytes | mmap.mmap | StreamWindow  # a mapped file, bytes, or a window over a decompressed stream
# ~4 MiB: at full-analysis speed a shard is seconds of work, so workers stay balanced, a
# killed scan loses little, and a shard's rows (about 1.3x its bytes) stay small in flight.
SHARD_BYTES = 4 * 1024 * 1024
# A smaller mbox is cut into about SHARDS_PER_FILE ranges (not fewer than MIN_SHARD_BYTES, the
# size below which the pipeline batches shards together again): 8 shards of 4 MiB left one of
# two workers idle for a whole shard at the end of a 32 MB mbox. Depends on the size alone,
# never on the number of workers, so the plan (and --resume) is the same whatever the workers.
SHARDS_PER_FILE = 32
MIN_SHARD_BYTES = 1024 * 1024
MAX_MESSAGE_BYTES = 256 * 1024 * 1024

# A plausible From_ line: a sender token and a date (a time of day and a year, asctime,
# RFC 5322 or ISO style); or Netscape/Thunderbird's "From -"; or a lone address token
# (Gmail exports cut the date off). Prose such as "From Russia with love" matches none.
_ENVELOPE = re.compile(
    rb"^From \S.{0,400}?\d{1,2}:\d\d.{0,80}?(?:19|20|21)\d\d"
    rb"|^From \S.{0,400}?(?:19|20|21)\d\d.{0,40}?\d{1,2}:\d\d"
    rb"|^From -(?:[ \t]|$)"
    rb"|^From [^\s@]{0,200}@[^\s@]{1,200}[ \t]*$"
)
_BOM = b"\xef\xbb\xbf"
_HEADER_LINE = re.compile(rb"^[!-9;-~]{1,200}:|^>?From |^[ \t]\S")
_CONTENT_LENGTH = re.compile(rb"(?im)^Content-Length:[ \t]*(\d{1,12})[ \t]*\r?$")
_MOZ_STATUS = re.compile(rb"(?im)^X-Mozilla-Status:[ \t]*([0-9a-f]{1,4})")
_MOZ_STATUS2 = re.compile(rb"(?im)^X-Mozilla-Status2:[ \t]*([0-9a-f]{1,8})")
_GMAIL_LABELS = re.compile(rb"(?im)^X-Gmail-Labels:[ \t]*(.*(?:\r?\n[ \t].*)*)")
_UNQUOTE = re.compile(rb"(?:(?<=\n)|(?<=\r)|^)>(>*From )")
_MOZ_EXPUNGED = 0x0008  # deleted in the UI, still in the file until the folder is compacted
# nsMsgMessageFlags bits worth naming in the evidence (Thunderbird's mailnews/base).
_MOZ_FLAG_NAMES = ((0x0001, "read"), (0x0002, "replied"), (0x0004, "flagged"),
                   (0x0008, "expunged"), (0x1000, "forwarded"))


def sniff(head: bytes, path: Path) -> bool:
    """An mbox starts with a From_ line followed by a header line (Eudora's ``From ???@???``,
    Thunderbird's ``From -`` and date-less Gmail lines included); a leading BOM is allowed."""
    head = head.removeprefix(_BOM).lstrip(b"\r\n")
    if not head.startswith(b"From "):
        return False
    eol = detect_eol(head)
    line_end = head.find(eol)
    return line_end > 0 and bool(_HEADER_LINE.match(head[line_end + len(eol) : line_end + 256]))


def detect_eol(head: bytes) -> bytes:
    """The line ending the file uses: CRLF, LF or a bare CR (classic Mac)."""
    crlf = head.count(b"\r\n")
    lf = head.count(b"\n") - crlf
    cr = head.count(b"\r") - crlf
    if crlf and crlf >= lf and crlf >= cr:
        return b"\r\n"
    if cr > lf:
        return b"\r"
    return b"\n"


@dataclass(frozen=True, slots=True)
class Span:
    """One message inside the mbox: [start, end) covers the From_ line and the message."""

    start: int
    body_start: int
    body_end: int
    end: int
    envelope: bytes
    by_content_length: bool
    defects: tuple[str, ...]


def iter_spans(buf: Buffer, start: int, stop: int, eol: bytes) -> Iterator[Span]:
    """Messages whose From_ line starts in [start, stop), in file order."""
    size = len(buf)
    if start == 0 and buf[:3] == _BOM:
        start = 3  # a byte-order mark before the first From_ line (seen in Windows exports)
    pos = _skip_blank(buf, start, eol)
    release = getattr(buf, "release", None)  # a StreamWindow forgets what was consumed
    while pos < min(stop, size := len(buf)):
        yield (span := _span_at(buf, pos, eol, size))
        pos = span.end
        if release is not None:
            release(pos)


def _skip_blank(buf: Buffer, pos: int, eol: bytes) -> int:
    while buf[pos : pos + len(eol)] == eol:
        pos += len(eol)
    return pos


def _span_at(buf: Buffer, pos: int, eol: bytes, size: int) -> Span:
    line_end = buf.find(eol, pos)
    line_end = size if line_end < 0 else line_end
    body_start = min(line_end + len(eol), size)
    defects: list[str] = []
    if buf[pos:pos + 5] != b"From ":
        defects.append("TextBeforeFirstEnvelope")
    by_length = _end_by_content_length(buf, body_start, eol, size, defects)
    if by_length is not None:
        body_end, end = by_length
    else:
        end = _next_separator(buf, body_start, eol, size)
        body_end = end
        if buf[body_end - 2 * len(eol) : body_end] == eol * 2:
            body_end -= len(eol)  # the blank line after each message belongs to the format
    envelope = bytes(buf[pos:line_end])
    return Span(pos, body_start, max(body_start, body_end), end, envelope, by_length is not None, tuple(defects))


def _end_by_content_length(
    buf: Buffer, body_start: int, eol: bytes, size: int, defects: list[str]
) -> tuple[int, int] | None:
    """End of the message and start of the next one when a consistent Content-Length header
    delimits it, else None."""
    header_end = buf.find(eol * 2, body_start, body_start + 1024 * 1024)
    if header_end < 0:
        return None
    header = bytes(buf[body_start:header_end])
    match = _CONTENT_LENGTH.search(header.replace(b"\r", b"\n") if eol == b"\r" else header)
    if match is None:
        return None
    end = header_end + 2 * len(eol) + int(match.group(1))
    if end > size:
        defects.append("ContentLengthBeyondEndOfFile")
        return None
    probe = _skip_blank(buf, end, eol)
    if probe >= size or _is_separator(buf, probe, eol, size):
        return end, probe
    defects.append("ContentLengthInconsistent")
    return None


def _next_separator(buf: Buffer, pos: int, eol: bytes, size: int) -> int:
    needle = eol + b"From "
    search = max(pos - len(eol), 0)
    while True:
        hit = buf.find(needle, search)
        if hit < 0:
            return size
        line = hit + len(eol)
        if _is_separator(buf, line, eol, size):
            return line
        search = hit + 1


def _is_separator(buf: Buffer, line: int, eol: bytes, size: int) -> bool:
    """A From_ line with a date, followed by a header line (so a body line is not one)."""
    line_end = buf.find(eol, line, line + 1024)
    if line_end < 0:
        return False
    if not _ENVELOPE.match(bytes(buf[line:line_end])):
        return False
    nxt = bytes(buf[line_end + len(eol) : line_end + len(eol) + 256])
    return bool(_HEADER_LINE.match(nxt)) or line_end + len(eol) >= size


def plan(path: Path, sha256: str, size: int) -> Iterator[Shard]:
    """Cut the mbox into shards of about ``shard_bytes(size)`` at message boundaries."""
    with open(path, "rb") as handle:
        if size == 0:
            return
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            eol = detect_eol(bytes(buf[:65536]))
            shard_start = released = 0
            limit = shard_bytes(size)
            for span in iter_spans(buf, 0, size, eol):
                if span.end - shard_start >= limit and span.end < size:
                    yield _shard(path, sha256, shard_start, span.end)
                    shard_start = span.end
                    released = _release(buf, released, span.end)
            yield _shard(path, sha256, shard_start, size)


def shard_bytes(size: int) -> int:
    """The byte range to cut an mbox of ``size`` bytes into (see SHARDS_PER_FILE)."""
    return min(SHARD_BYTES, max(MIN_SHARD_BYTES, size // SHARDS_PER_FILE))


def _release(buf: mmap.mmap, start: int, end: int) -> int:
    """Drop the pages already scanned from this process's mapping, so planning a mailbox of any
    size holds one shard's pages, not the whole file (the page cache keeps them; nothing is lost).
    Returns the new page-aligned start."""
    page_end = end - end % mmap.PAGESIZE
    if page_end > start and hasattr(mmap, "MADV_DONTNEED"):
        buf.madvise(mmap.MADV_DONTNEED, start, page_end - start)
    return max(start, page_end)


def _shard(path: Path, sha256: str, start: int, end: int) -> Shard:
    return Shard(
        shard_id=f"{sha256[:16]}:mbox:{path}:{start}-{end}",
        reader=name,
        path=str(path),
        source_sha256=sha256,
        start=start,
        end=end,
    )


def read(shard: Shard) -> Iterator[RawMessage]:
    """Every message whose From_ line starts inside the shard's byte range."""
    with open(shard.path, "rb") as handle:
        if handle.seek(0, 2) == 0:
            return
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            yield from read_buffer(buf, shard.path, shard.source_sha256, shard.start, shard.end)


def read_buffer(
    buf: Buffer,
    path: str,
    sha256: str,
    start: int = 0,
    end: int | None = None,
    member: str | None = None,
) -> Iterator[RawMessage]:
    """Messages of an mbox held in ``buf`` (a mapped file or an archive member's bytes)."""
    eol = detect_eol(bytes(buf[:65536]))
    stop = len(buf) if end is None else end
    for span in iter_spans(buf, start, stop, eol):
        yield _raw_message(buf, span, eol, path, sha256, member)


def _raw_message(
    buf: Buffer, span: Span, eol: bytes, path: str, sha256: str, member: str | None
) -> RawMessage:
    defects = list(span.defects)
    length = span.body_end - span.body_start
    if length > MAX_MESSAGE_BYTES:
        defects.append("MessageTooLargeTruncated")
    data = bytes(buf[span.body_start : span.body_start + min(length, MAX_MESSAGE_BYTES)])
    fmt = _variant(span)
    # Every quoted line contains ">From ": looking for that (memchr speed) first skips the
    # regex, which runs at ~5 MB/s, in the many messages with nothing to unquote.
    if not span.by_content_length and b">From " in data:
        data = _UNQUOTE.sub(rb"\1", data)
    header = data[: max(data.find(eol * 2), 0) or len(data)][:65536]
    if eol == b"\r":  # the header regexes anchor on LF
        header = header.replace(b"\r", b"\n")
    flags, expunged = _mozilla_status(header)
    labels = _GMAIL_LABELS.search(header)
    return RawMessage(
        data=data,
        locator=Locator(
            source_path=path,
            source_sha256=sha256,
            kind="member" if member else "offset",
            offset=span.start,
            length=span.end - span.start,
            member=member,
        ),
        format=fmt,
        envelope=span.envelope.decode("utf-8", errors="replace"),
        flags=flags,
        labels=_unfold(labels.group(1)) if labels else None,
        expunged=expunged,
        defects=tuple(defects),
    )


def _variant(span: Span) -> str:
    if span.by_content_length:
        return "mboxcl"
    if span.envelope.rstrip() == b"From -" or span.envelope.startswith(b"From - "):
        return "mbox-netscape"
    if span.envelope.startswith(b"From ???@???"):
        return "mbox-eudora"
    return "mbox"


def _mozilla_status(header: bytes) -> tuple[str | None, bool]:
    status = _MOZ_STATUS.search(header)
    if status is None:
        return None, False
    value = int(status.group(1), 16)
    status2 = _MOZ_STATUS2.search(header)
    flags = f"X-Mozilla-Status={value:04x}"
    if status2:
        flags += f";X-Mozilla-Status2={status2.group(1).decode('ascii')}"
    names = [label for bit, label in _MOZ_FLAG_NAMES if value & bit]
    return ";".join([flags, *names]), bool(value & _MOZ_EXPUNGED)


def _unfold(value: bytes) -> str:
    return re.sub(rb"\r?\n[ \t]+", b" ", value).strip().decode("utf-8", errors="replace")
