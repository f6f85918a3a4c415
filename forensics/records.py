"""Immutable records passed between the pipeline stages, and the rows stored in the case.

Readers yield ``RawMessage`` (RFC 5322 bytes) or an already parsed ``Message``
(Outlook stores have no RFC 5322 bytes). The parser turns raw bytes into
``Message``. Every stored row class names its table and its key; the store builds
its schema from these classes, so a new stage adds a row class here and nothing else
in the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar


@dataclass(frozen=True, slots=True, kw_only=True)
class Evidence:
    """One input file, as found before the run."""

    path: str
    size: int
    sha256: str
    mtime_ns: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Locator:
    """Where a message lives inside its evidence file.

    ``kind`` names the addressing scheme: ``offset`` (byte range in an mbox or emlx),
    ``file`` (the whole file is the message), ``member`` (a path inside an archive,
    possibly with an offset inside that member), ``pst`` (folder path and node id),
    ``part`` (a MIME part path inside the parent message).
    """

    source_path: str
    source_sha256: str
    kind: str
    offset: int | None = None
    length: int | None = None
    member: str | None = None
    folder: str | None = None
    node_id: int | None = None
    part: str | None = None

    def display(self) -> str:
        """A compact, human-readable and sortable form, e.g. ``offset=1234+567``."""
        bits: list[str] = []
        if self.member is not None:
            bits.append(f"member={self.member}")
        if self.folder is not None:
            bits.append(f"folder={self.folder}")
        if self.node_id is not None:
            bits.append(f"node={self.node_id}")
        if self.offset is not None:
            bits.append(f"offset={self.offset}+{self.length}")
        if self.part is not None:
            bits.append(f"part={self.part}")
        return ";".join(bits) or "file"

    def sort_key(self) -> tuple[str, str, str, int, int, str]:
        """Stable ordering of locations, independent of scheduling."""
        return (
            self.source_path,
            self.member or "",
            self.folder or "",
            self.node_id or 0,
            self.offset or 0,
            self.part or "",
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class RawMessage:
    """The bytes of one message as a reader cut them from the evidence."""

    data: bytes
    locator: Locator
    format: str
    envelope: str | None = None
    flags: str | None = None
    labels: str | None = None
    expunged: bool = False
    defects: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Address:
    name: str
    address: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Attachment:
    filename: str | None
    content_type: str
    size: int
    sha256: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """A parsed message with everything later stages need (bodies included)."""

    message_sha256: str
    hash_basis: str
    locator: Locator
    format: str
    parent_sha256: str | None = None
    message_id: str | None = None
    date_raw: str | None = None
    date_utc: str | None = None
    from_: tuple[Address, ...] = ()
    sender: tuple[Address, ...] = ()
    reply_to: tuple[Address, ...] = ()
    to: tuple[Address, ...] = ()
    cc: tuple[Address, ...] = ()
    delivered_to: tuple[str, ...] = ()
    envelope_from: str | None = None
    subject: str | None = None
    return_path: str | None = None
    list_id: str | None = None
    list_unsubscribe: str | None = None
    dkim_domains: tuple[str, ...] = ()
    received: tuple[str, ...] = ()
    received_json: str = "[]"
    headers: tuple[tuple[str, str], ...] = ()
    headers_synthetic: bool = False
    html: tuple[str, ...] = ()
    html_source: str | None = None
    text: tuple[str, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    message_class: str | None = None
    flags: str | None = None
    labels: str | None = None
    expunged: bool = False
    defects: tuple[str, ...] = ()

    def header_values(self, name: str) -> tuple[str, ...]:
        """All values of a header, case-insensitively, in order."""
        lname = name.lower()
        return tuple(v for k, v in self.headers if k.lower() == lname)


@dataclass(frozen=True, slots=True, kw_only=True)
class FoundUrl:
    """A URL found in a message, as extraction hands it to later stages (tokens, leaks).

    ``finding_id`` is deterministic (message hash prefix, kind, position) and is the key
    that ties beacons, links, tokens and leaks together in the case.
    """

    finding_id: str
    message_sha256: str
    kind: str  # "resource" (loaded on open), "link" (followed on click), "header"
    url: str  # as written, entities decoded
    unwrapped: str  # final destination after unwrapping wrappers and redirectors
    host: str
    registered_domain: str
    is_beacon: bool = False


# ---------------------------------------------------------------- stored rows


@dataclass(frozen=True, slots=True, kw_only=True)
class Row:
    """Base of every stored row: the store reads TABLE, KEY and the fields."""

    TABLE: ClassVar[str] = ""
    KEY: ClassVar[tuple[str, ...]] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class InputRow(Row):
    TABLE: ClassVar[str] = "inputs"
    KEY: ClassVar[tuple[str, ...]] = ("path",)
    path: str
    size: int
    sha256: str
    mtime_ns: int
    format: str
    status: str
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageRow(Row):
    TABLE: ClassVar[str] = "messages"
    KEY: ClassVar[tuple[str, ...]] = ("message_sha256",)
    message_sha256: str
    hash_basis: str
    parent_sha256: str
    message_id: str
    date_raw: str
    date_utc: str
    from_addr: str
    from_name: str
    sender: str
    reply_to: str
    to_addrs: str
    cc_addrs: str
    delivered_to: str
    subject: str
    return_path: str
    list_id: str
    list_unsubscribe: str
    dkim_domains: str
    received_count: int
    received_json: str
    headers_synthetic: int
    html_source: str
    html_parts: int
    html_sha256: str
    text_parts: int
    attachment_count: int
    message_class: str
    defect_count: int
    defects: str
    status: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OccurrenceRow(Row):
    """One place where a copy of a message was found (duplicates are kept here)."""

    TABLE: ClassVar[str] = "occurrences"
    # source_path is part of the key: identical files at two paths are two locations.
    KEY: ClassVar[tuple[str, ...]] = ("source_sha256", "source_path", "locator")
    message_sha256: str
    source_path: str
    source_sha256: str
    locator: str
    locator_kind: str
    offset: int | None
    length: int | None
    member: str
    folder: str
    node_id: int | None
    part: str
    format: str
    envelope: str
    flags: str
    labels: str
    expunged: int


@dataclass(frozen=True, slots=True, kw_only=True)
class AttachmentRow(Row):
    TABLE: ClassVar[str] = "attachments"
    KEY: ClassVar[tuple[str, ...]] = ("message_sha256", "idx")
    message_sha256: str
    idx: int
    filename: str
    content_type: str
    size: int
    sha256: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ProblemRow(Row):
    """Something that was not analysed, or analysed with trouble, and why."""

    TABLE: ClassVar[str] = "problems"
    KEY: ClassVar[tuple[str, ...]] = ("source_sha256", "source_path", "locator", "kind")
    source_path: str
    source_sha256: str
    locator: str
    kind: str
    severity: str
    reason: str
    message_sha256: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ShardRow(Row):
    """A finished unit of work, so an interrupted scan can resume."""

    TABLE: ClassVar[str] = "shards"
    KEY: ClassVar[tuple[str, ...]] = ("shard_id",)
    shard_id: str
    source_sha256: str
    description: str
    messages: int
    problems: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Findings:
    """What one unit of work produced: rows per table, ready for the store."""

    rows: dict[str, list[Row]] = field(default_factory=dict)

    def add(self, row: Row) -> None:
        self.rows.setdefault(row.TABLE, []).append(row)

    def extend(self, rows: "list[Row] | tuple[Row, ...]") -> None:
        for row in rows:
            self.add(row)
