"""Reader for one RFC 5322 message per file (.eml, maildir entries, extensionless files)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from forensics.ingest.base import Shard
from forensics.records import Locator, RawMessage

name = "eml"
MAX_MESSAGE_BYTES = 256 * 1024 * 1024

_HEADER = re.compile(rb"^([!-9;-~]{1,76}):[ \t]*\S?")
_KNOWN = {
    b"from", b"to", b"subject", b"date", b"message-id", b"received", b"return-path",
    b"mime-version", b"content-type", b"delivered-to", b"x-mailer", b"reply-to", b"cc",
    b"sender", b"dkim-signature", b"x-original-to", b"envelope-to", b"x-received",
    b"arc-seal", b"authentication-results", b"references", b"in-reply-to", b"user-agent",
}
_MAILDIR_INFO = re.compile(r":2,([A-Za-z]*)$")


def sniff(head: bytes, path: Path) -> bool:
    """RFC 5322: the file opens with header lines, at least two of them well-known fields."""
    lines = head.lstrip(b"\r\n").splitlines()[:60]
    known = 0
    for line in lines:
        if not line.strip():
            break
        if line[:1] in (b" ", b"\t"):
            continue
        match = _HEADER.match(line)
        if match is None:
            return False
        known += match.group(1).lower() in _KNOWN
    return known >= 2


def plan(path: Path, sha256: str, size: int) -> Iterator[Shard]:
    yield Shard(shard_id=f"{sha256[:16]}:eml:{path}", reader=name, path=str(path), source_sha256=sha256)


def read(shard: Shard) -> Iterator[RawMessage]:
    with open(shard.path, "rb") as handle:
        data = handle.read(MAX_MESSAGE_BYTES + 1)
    defects = ("MessageTooLargeTruncated",) if len(data) > MAX_MESSAGE_BYTES else ()
    yield RawMessage(
        data=data[:MAX_MESSAGE_BYTES],
        locator=Locator(source_path=shard.path, source_sha256=shard.source_sha256, kind="file"),
        format=_format(Path(shard.path)),
        flags=_maildir_flags(Path(shard.path)),
        defects=defects,
    )


def _format(path: Path) -> str:
    return "maildir" if path.parent.name in ("cur", "new", "tmp") else "eml"


def _maildir_flags(path: Path) -> str | None:
    """Maildir keeps flags in the file name after ``:2,`` (D, F, P, R, S, T)."""
    if path.parent.name not in ("cur", "new", "tmp"):
        return None
    match = _MAILDIR_INFO.search(path.name)
    state = f"maildir={path.parent.name}"
    return f"{state};flags={match.group(1)}" if match else state
