"""Stage 1: find the evidence, recognise each file by its content, and cut it into shards.

``READERS`` is the registry: every reader is a module with ``name``, ``sniff``, ``plan``
and ``read``. Sniffers are tried in order, most specific magic first.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from forensics.errors import ReadError
from forensics.ingest import eml, mbox
from forensics.ingest.base import SNIFF_BYTES, Shard
from forensics.records import Evidence

READERS: dict[str, ModuleType] = {
    mbox.name: mbox,
    eml.name: eml,
}
SNIFF_ORDER: tuple[str, ...] = ("mbox", "eml")

_NOT_MAIL_HINTS: dict[str, str] = {
    ".msf": "Thunderbird summary index (.msf), not mail; its mbox is read instead",
    ".dat": "data file without mail structure",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class PlannedInput:
    """One evidence file: its hashes, the reader that claimed it, or why none did."""

    evidence: Evidence
    reader: str | None
    reason: str = ""
    shards: tuple[Shard, ...] = field(default=())


def sha256_file(path: Path) -> tuple[str, int]:
    """SHA-256 and size of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def walk(paths: Iterable[Path]) -> Iterator[Path]:
    """Every regular file under the given paths, sorted, symlinks not followed into loops."""
    for root in paths:
        if root.is_dir():
            for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
                dirnames.sort()
                for filename in sorted(filenames):
                    yield Path(dirpath) / filename
        else:
            yield root


def identify(path: Path) -> tuple[str | None, str]:
    """The reader whose sniffer claims this file, or None and the reason."""
    with open(path, "rb") as handle:
        head = handle.read(SNIFF_BYTES)
    if not head:
        return None, "empty file (0 bytes)"
    for reader_name in SNIFF_ORDER:
        if READERS[reader_name].sniff(head, path):
            return reader_name, ""
    hint = _NOT_MAIL_HINTS.get(path.suffix.lower())
    return None, hint or f"not a recognised mail format (starts with {head[:8]!r})"


def plan_input(path: Path) -> PlannedInput:
    """Hash one file, identify it and cut it into shards.

    Raises:
        ReadError: the file cannot be read at all.
    """
    try:
        stat = path.stat()
        sha256, size = sha256_file(path)
        evidence = Evidence(path=str(path), size=size, sha256=sha256, mtime_ns=stat.st_mtime_ns)
        reader, reason = identify(path)
        if reader is None:
            return PlannedInput(evidence=evidence, reader=None, reason=reason)
        shards = tuple(READERS[reader].plan(path, sha256, size))
    except OSError as e:
        raise ReadError(f"{path}: cannot read: {e.strerror or e}") from e
    return PlannedInput(evidence=evidence, reader=reader, shards=shards)
