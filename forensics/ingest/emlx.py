"""Stage 1 reader for Apple Mail ``.emlx``: a byte count line, the RFC 5322 message, a plist.

Layout (one message per file): the first line is the decimal length of the message;
exactly that many bytes of RFC 5322 follow; an XML property list comes last with
the message's flags (read, deleted, flagged...), its date received and remote id.
The plist is parsed with stdlib ``plistlib``; the flag bits are decoded by hand
because no library documents them (the layout below is the one Apple Mail has
used since 10.4, as described by mail archivists and forensic vendors).
"""

from __future__ import annotations

import plistlib
import re
from collections.abc import Iterator
from pathlib import Path

from forensics.ingest import eml
from forensics.ingest.base import Shard
from forensics.records import Locator, RawMessage

name = "emlx"
_COUNT_LINE = re.compile(rb"^[ \t]*(\d{1,12})[ \t]*(\r\n|\n|\r)")
# Bits of the plist "flags" integer; bits 10-15 hold the attachment count.
_FLAG_BITS = (
    (0, "read"), (1, "deleted"), (2, "answered"), (3, "encrypted"), (4, "flagged"),
    (5, "recent"), (6, "draft"), (8, "forwarded"), (9, "redirected"), (23, "signed"),
    (24, "junk"), (25, "not-junk"),
)
_DELETED = 1 << 1


def sniff(head: bytes, path: Path) -> bool:
    """A byte-count line followed by a block of RFC 5322 header lines."""
    match = _COUNT_LINE.match(head)
    return match is not None and eml.sniff(head[match.end() :], path)


def plan(path: Path, sha256: str, size: int) -> Iterator[Shard]:
    yield Shard(shard_id=f"{sha256[:16]}:emlx:{path}", reader=name, path=str(path), source_sha256=sha256)


def read(shard: Shard) -> Iterator[RawMessage]:
    with open(shard.path, "rb") as handle:
        data = handle.read(eml.MAX_MESSAGE_BYTES + 1)
    locator = Locator(source_path=shard.path, source_sha256=shard.source_sha256, kind="offset")
    yield split_emlx(data, locator, partial=shard.path.endswith(".partial.emlx"))


def split_emlx(data: bytes, locator: Locator, *, partial: bool = False) -> RawMessage:
    """The message bytes and flags of one emlx file held in ``data``."""
    match = _COUNT_LINE.match(data)
    start = match.end() if match else 0
    declared = int(match.group(1)) if match else len(data)
    defects: list[str] = []
    end = start + declared
    if end > len(data):
        defects.append("EmlxByteCountBeyondEndOfFile")
        end = len(data)
    if partial:  # Apple Mail keeps big attachments outside a .partial.emlx
        defects.append("EmlxPartialMessage")
    flags, deleted = _plist_flags(data[end:], defects)
    return RawMessage(
        data=data[start:end],
        locator=_with_range(locator, start, end - start),
        format=name,
        flags=flags,
        expunged=deleted,
        defects=tuple(defects),
    )


def _with_range(locator: Locator, offset: int, length: int) -> Locator:
    return Locator(
        source_path=locator.source_path, source_sha256=locator.source_sha256, kind=locator.kind,
        offset=offset, length=length, member=locator.member,
    )


def _plist_flags(trailer: bytes, defects: list[str]) -> tuple[str | None, bool]:
    """Decode the trailer's ``flags``; a missing or broken plist is a defect, not an error."""
    if not trailer.strip():
        defects.append("EmlxPlistMissing")
        return None, False
    try:
        plist = plistlib.loads(trailer.strip())
    except Exception:  # noqa: BLE001 - plistlib raises several types on damaged XML
        defects.append("EmlxPlistUnreadable")
        return None, False
    value = plist.get("flags") if isinstance(plist, dict) else None
    if not isinstance(value, int):
        return None, False
    return describe_flags(value), bool(value & _DELETED)


def describe_flags(value: int) -> str:
    """``emlx-flags=0x...`` followed by the names of the bits that are set."""
    names = [label for bit, label in _FLAG_BITS if value >> bit & 1]
    attachments = value >> 10 & 0x3F
    if attachments:
        names.append(f"attachments={attachments}")
    return ";".join([f"emlx-flags=0x{value:08x}", *names])
