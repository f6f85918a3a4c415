"""What every reader shares: the shard (a unit of work) and the reader protocol."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from forensics.records import Message, RawMessage

SNIFF_BYTES = 64 * 1024
# A planned "shard" that is not work but a finding about the whole input (an empty store, a
# password-protected one): ``items`` is (kind, severity, reason). ``plan_input`` turns it
# into a problem row and a note on the input; it is never run.
NOTE_VARIANT = "note"


@dataclass(frozen=True, slots=True, kw_only=True)
class Shard:
    """A unit of work a worker can process alone: a byte range, a file, a member, a folder.

    Shards are small, picklable and deterministic: the same evidence always gives the
    same shards with the same ids, whatever engine runs them. An id names the file's
    SHA-256 *and* its path: identical copies at two paths are two shards (two locations
    of the same messages, both kept), while a path given twice is still planned once.
    """

    shard_id: str
    reader: str
    path: str
    source_sha256: str
    start: int = 0
    end: int | None = None
    member: str | None = None
    folder: str | None = None
    variant: str = ""
    items: tuple[str, ...] = ()


Item = RawMessage | Message


class Reader(Protocol):
    """One input format. ``sniff`` says "mine or not"; ``read`` raises ReadError when broken."""

    name: str

    def sniff(self, head: bytes, path: Path) -> bool: ...

    def plan(self, path: Path, sha256: str, size: int) -> Iterator[Shard]: ...

    def read(self, shard: Shard) -> Iterator[Item]: ...
