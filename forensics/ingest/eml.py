"""Stage 1 reader for one RFC 5322 message per file (.eml, maildir entries, extensionless files).

Recognised by content (a block of header lines), so a ``.msg``-named file that holds
RFC 822 text is read here, and an Outlook ``.msg`` is not.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from forensics.ingest.base import Shard
from forensics.records import Locator, RawMessage

name = "eml"
MAX_MESSAGE_BYTES = 256 * 1024 * 1024

_HEADER = re.compile(rb"^([!-9;-~]{1,76}):")
_KNOWN = {
    b"from", b"to", b"subject", b"date", b"message-id", b"received", b"return-path",
    b"mime-version", b"content-type", b"delivered-to", b"x-mailer", b"reply-to", b"cc",
    b"sender", b"dkim-signature", b"x-original-to", b"envelope-to", b"x-received",
    b"arc-seal", b"authentication-results", b"references", b"in-reply-to", b"user-agent",
    b"content-transfer-encoding", b"content-disposition", b"x-gmail-labels", b"x-mozilla-status",
}
_MAILDIR_INFO = re.compile(r"[:;!]2,([A-Za-z]*)$")
_MAILDIR_DIRS = ("cur", "new", "tmp")
_LINE = re.compile(rb"\r\n|\n|\r")
_BOM = b"\xef\xbb\xbf"
SNIFF_LINES = 60


def sniff(head: bytes, path: Path) -> bool:
    """RFC 5322: the file opens with a block of header lines, mostly well-formed.

    Real evidence is messy (a broken first header, a missing blank line, a bare MIME
    entity with only ``Content-Type``), so one bad line is tolerated when at least two
    well-known fields are present, and a single well-known field is enough when every
    line of the block is well-formed.
    """
    lines = _LINE.split(head.removeprefix(_BOM).lstrip(b"\r\n"))[:SNIFF_LINES]
    known = valid = invalid = 0
    for line in lines:
        if not line.strip():
            break
        if line[:1] in (b" ", b"\t") and valid:
            continue
        match = _HEADER.match(line)
        if match is None:
            invalid += 1
            continue
        valid += 1
        known += match.group(1).lower() in _KNOWN
    if invalid == 0:
        return known >= 1
    return known >= 2 and valid >= 2 * invalid and invalid <= 2


def plan(path: Path, sha256: str, size: int) -> Iterator[Shard]:
    yield Shard(shard_id=f"{sha256[:16]}:eml:{path}", reader=name, path=str(path), source_sha256=sha256)


def read(shard: Shard) -> Iterator[RawMessage]:
    with open(shard.path, "rb") as handle:
        data = handle.read(MAX_MESSAGE_BYTES + 1)
    path = Path(shard.path)
    locator = Locator(source_path=shard.path, source_sha256=shard.source_sha256, kind="file")
    yield raw_message(data, locator, fmt=_format(path), flags=_maildir_flags(path))


def raw_message(data: bytes, locator: Locator, *, fmt: str = name, flags: str | None = None) -> RawMessage:
    """One whole-file message (also used for single messages inside archives)."""
    defects = ("MessageTooLargeTruncated",) if len(data) > MAX_MESSAGE_BYTES else ()
    return RawMessage(
        data=data[:MAX_MESSAGE_BYTES], locator=locator, format=fmt, flags=flags, defects=defects
    )


def _in_maildir(path: Path) -> bool:
    """A maildir entry sits in cur/, new/ or tmp/ next to at least one sibling of those."""
    parent = path.parent
    if parent.name not in _MAILDIR_DIRS:
        return False
    return any((parent.parent / d).is_dir() for d in _MAILDIR_DIRS if d != parent.name)


def _format(path: Path) -> str:
    return "maildir" if _in_maildir(path) else "eml"


def _maildir_flags(path: Path) -> str | None:
    """Maildir keeps flags in the file name after ``:2,`` (D, F, P, R, S, T; lower case are
    IMAP keywords). Windows tools write ``;2,`` or ``!2,`` because ``:`` is not allowed."""
    if not _in_maildir(path):
        return None
    match = _MAILDIR_INFO.search(path.name)
    state = f"maildir={path.parent.name}"
    return f"{state};flags={match.group(1)}" if match else state
