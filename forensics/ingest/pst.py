"""Reader for Outlook stores (PST, OST; ANSI and Unicode) via libpff-python (``import pypff``).

Planning opens the store, walks every folder and cuts it into shards: one per folder
(a big folder in runs of ``ITEMS_PER_SHARD`` items), plus one for the orphan items
libpff finds outside the folder tree. Each worker opens the store itself, read-only,
and walks to its folder by the sub-folder index path recorded in the shard.

Each item becomes a ``Message`` (``format`` "pst" or "ost") whose locator carries the
folder path and the item's node identifier (``Locator(kind="pst", folder, node_id)``).

- headers: PidTagTransportMessageHeaders, kept whole; Sent Items and Exchange-internal
  mail have none, so headers are then built from MAPI properties and flagged
  (``headers_synthetic``). The sender's address comes from those headers or from the
  MAPI properties (the binding has no sender-address attribute);
- bodies: ``html_body``, else HTML de-encapsulated from the RTF body, else plain
  text (see ``forensics.ingest._mapi``). The HTML's charset is PidTagInternetCodepage
  (0x3FDE) before PidTagMessageCodepage (0x3FFD): they disagree in real stores, and
  0x3FDE is the one that describes the HTML;
- times are UTC (libpff returns FILETIMEs);
- orphan items are read like the others, with folder ``<orphans>`` and flags ``orphan``;
- an item libpff cannot open still becomes a message, with the defect
  ``ItemUnreadable`` and a locator giving its index in the folder
  (``part="index:N"``) since its node id is unknown; a folder that cannot be opened
  makes its shard fail with the reason; a store that cannot be opened at all fails
  its single shard with the reason. Everything readable is kept.

PST passwords are not encryption (libpff reads such stores without it); "compressible"
and "high" encryption are undone by libpff. Two findings about a whole store are planned
as notes (``base.NOTE_VARIANT``): a password-protected PST (PidTagPstPassword, 0x67FF0003
on the message store, non-zero: the CRC-32 of the password) is a ``password-protected``
warning, so the examiner knows the custodian locked it; a store with no item in any
folder and no orphan item is an ``empty-store`` info, so an empty result is never silent.

A PST holds no RFC 5322 bytes, so the message hash has a documented canonical basis,
``pst-canonical-v1``: SHA-256 of ``b"pst-canonical-v1\\0"`` followed by

1. the item's property records, every record set, sorted by (property id, type),
   each as ``id (2 bytes) type (2 bytes) length (8 bytes), big-endian, then the value
   bytes``, leaving out ``BOOKKEEPING_PROPERTIES`` (identity and state that the store
   rewrites when an item is copied, moved or read);
2. ``b"recipients\\0"`` and each recipient's records the same way, in table order;
3. ``b"attachments\\0"`` and, per attachment in order, its records the same way and
   the SHA-256 of its data.

Two copies of an item inside one store share a hash (they become occurrences of one
message). Named properties (ids 0x8000 and above) are numbered per store, so the same
item in two different stores may hash differently.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from forensics.errors import MissingDependency, ReadError
from forensics.ingest import _mapi
from forensics.ingest.base import NOTE_VARIANT, Shard
from forensics.records import Attachment, Locator, Message

name = "pst"
ITEMS_PER_SHARD = 500
# For batching (``pipeline.shard_bytes``, ``engines.shard.tasks_of``): a shard's start and
# end count items, not bytes; and an item costs 0.1-3 s whatever its bytes (RTF
# de-encapsulation, attachments), so a task holds at most this many shards.
RANGE_UNIT = "items"
SHARDS_PER_TASK = 4
ORPHANS = "<orphans>"
ATTACHMENT_BLOCK = 1 << 20
MAX_FOLDER_DEPTH = 64
MAX_FOLDERS = 100_000  # folders planned per store; a damaged tree could otherwise be endless
# pypff reports damaged data as OSError, and as MemoryError when it "cannot create" the
# object for a corrupt node (seen on fuzzed copies of real stores): both mean "damaged".
_PFF_ERRORS = (OSError, MemoryError)
_SIGNATURE = b"!BDN"
_CONTENT_OST = ord("o")  # libpff content type: "p" PST, "o" OST, "a" address book
# Identity and state the store rewrites on copy, move or read; left out of the hash.
BOOKKEEPING_PROPERTIES = frozenset({
    0x0E07,  # PidTagMessageFlags (read/unread)
    0x0E08,  # PidTagMessageSize
    0x0E09,  # PidTagParentEntryId
    0x0E17,  # PidTagMessageStatus
    0x0E23,  # PidTagInternetArticleNumber
    0x0FF6,  # PidTagInstanceKey
    0x0FF9,  # PidTagRecordKey
    0x0FFF,  # PidTagEntryId
    0x3008,  # PidTagLastModificationTime
    0x3FFA,  # PidTagLastModifierName
    0x3FFB,  # PidTagLastModifierEntryId
    0x65E0,  # PidTagSourceKey
    0x65E1,  # PidTagParentSourceKey
    0x65E2,  # PidTagChangeKey
    0x65E3,  # PidTagPredecessorChangeList
    0x67A4,  # PidTagChangeNumber
})
_PT_STRING8, _PT_UNICODE, _PT_SYSTIME = 0x1E, 0x1F, 0x40


def sniff(head: bytes, path: Path) -> bool:
    """The NDB header signature ``!BDN`` and a PST or OST client magic."""
    return head[:4] == _SIGNATURE and head[8:10] in (b"SM", b"SO")


def _pypff() -> Any:
    try:
        import pypff
    except ImportError as e:
        raise MissingDependency("PST/OST needs libpff-python: pip install libpff-python") from e
    return pypff


@contextmanager
def open_store(path: str) -> Iterator[Any]:
    """The store opened read-only through a file object we opened ``rb``.

    Raises:
        ReadError: libpff cannot open the store (truncated, corrupt, not a store).
    """
    pypff = _pypff()
    with open(path, "rb") as handle:
        store = pypff.file()
        try:
            store.open_file_object(handle)
        except _PFF_ERRORS as e:
            raise ReadError(f"{path}: libpff cannot open the store: {_short(e)}") from e
        try:
            yield store
        finally:
            store.close()


def _short(e: BaseException) -> str:
    """libpff chains its whole C call stack into the message, the deepest cause first after
    the binding's own line: keep those two (e.g. "unable to open file. … unable to read
    index node data at offset: 2068480")."""
    parts = [p.strip().rstrip(".") for p in str(e).split(". ") if p.strip()]
    return ". … ".join(parts[:2]) if parts else type(e).__name__


# ------------------------------------------------------------------ planning


@dataclass(frozen=True, slots=True)
class _Folder:
    path: str
    index_path: tuple[int, ...]
    identifier: int
    messages: int
    error: str = ""


def plan(path: Path, sha256: str, size: int) -> Iterator[Shard]:
    """One shard per folder run of items, one for orphans; one failing shard if unopenable;
    notes (never run) for a password-protected or empty store."""
    try:
        with open_store(str(path)) as store:
            folders = list(_folders(store.root_folder, "", (), set()))
            orphans = _count(store, "number_of_orphan_items")
            kind = "ost" if _count(store, "content_type") == _CONTENT_OST else "pst"
            notes = store_notes(store, kind, folders, orphans)
    except ReadError as e:
        yield _shard(path, sha256, folder="", variant="store", error=str(e))
        return
    except _PFF_ERRORS as e:  # the root folder itself is unreadable
        yield _shard(path, sha256, folder="", variant="store", error=f"{path}: no readable folder tree: {_short(e)}")
        return
    for folder in folders:
        if folder.error:
            yield _shard(path, sha256, folder=folder.path, index_path=folder.index_path,
                         variant=f"folder-{'.'.join(map(str, folder.index_path))}",
                         error=f"{path}: folder {folder.path}: {folder.error}")
            continue
        for start in range(0, folder.messages, ITEMS_PER_SHARD):
            end = min(start + ITEMS_PER_SHARD, folder.messages)
            yield _shard(path, sha256, folder=folder.path, index_path=folder.index_path,
                         variant=f"folder-{folder.identifier}", start=start, end=end)
    if orphans:
        yield _shard(path, sha256, folder=ORPHANS, variant="orphans", start=0, end=orphans)
    for note_kind, severity, reason in notes:
        yield Shard(shard_id=f"{sha256[:16]}:pst:{path}:{NOTE_VARIANT}:{note_kind}", reader=name, path=str(path),
                    source_sha256=sha256, variant=NOTE_VARIANT, items=(note_kind, severity, reason))


PST_PASSWORD = 0x67FF  # PidTagPstPassword (PT_LONG): CRC-32 of the password, 0 or absent when none


def store_notes(store: Any, kind: str, folders: list[_Folder], orphans: int) -> list[tuple[str, str, str]]:
    """(kind, severity, reason) of what is worth saying about the whole store."""
    notes: list[tuple[str, str, str]] = []
    password, unreadable = password_crc(store) if kind == "pst" else (None, "")
    if password:
        reason = (f"password-protected PST: PidTagPstPassword (0x67FF0003) on the message store is "
                  f"0x{password:08X}, the CRC-32 of the password; a PST password is not encryption, "
                  f"the store was read without it")
        notes.append(("password-protected", "warning", reason))
    elif unreadable:
        reason = f"message store properties unreadable ({unreadable}): whether the PST has a password is unknown"
        notes.append(("store-properties-unreadable", "info", reason))
    if not orphans and not any(f.messages or f.error for f in folders):
        reason = (f"empty {kind.upper()} store: none of its {len(folders)} folders holds an item and "
                  f"libpff finds no orphan item (nothing to read)")
        notes.append(("empty-store", "info", reason))
    return notes


def password_crc(store: Any) -> tuple[int | None, str]:
    """PidTagPstPassword of the message store (None when absent), and why it could not be
    read ("" when it could).

    Only PSTs: Outlook does not password-protect an OST (the corpus OST holds 0xFFFFFFFF
    there, which no documentation explains), so no claim is made about one."""
    try:
        message_store = store.message_store
    except _PFF_ERRORS as e:
        return None, _short(e)
    if message_store is None:
        return None, "libpff found no message store"
    defects: list[str] = []
    for props in _records(message_store, defects):
        value_type, data = props.get(PST_PASSWORD, (0, b""))
        if value_type == 0x0003 and len(data) == 4:
            return int.from_bytes(data, "little"), ""
    return None, "; ".join(defects)


def _shard(
    path: Path, sha256: str, *, folder: str, variant: str, index_path: tuple[int, ...] = (),
    start: int = 0, end: int = 0, error: str = "",
) -> Shard:
    return Shard(
        shard_id=f"{sha256[:16]}:pst:{path}:{variant}:{start}-{end}",
        reader=name, path=str(path), source_sha256=sha256, start=start, end=end,
        folder=folder, variant=variant,
        items=tuple(str(i) for i in index_path) + ((f"error:{error}",) if error else ()),
    )


def _count(obj: Any, attribute: str) -> int:
    """A count libpff may not know (OSError) or an item kind may not have (AttributeError)."""
    try:
        return int(getattr(obj, attribute) or 0)
    except (*_PFF_ERRORS, AttributeError):
        return 0


def _folders(folder: Any, path: str, index_path: tuple[int, ...], seen: set[int]) -> Iterator[_Folder]:
    """Every folder under ``folder`` (itself first), depth first in table order; a folder met
    again (a cyclic tree) or past ``MAX_FOLDERS`` is listed with the reason, not walked."""
    if folder is None:  # pypff gives None for a folder node it cannot find
        yield _Folder(path or "/", index_path, -1, 0, "folder unreadable: libpff found no folder object")
        return
    try:
        identifier, messages, subfolders = folder.identifier, folder.number_of_sub_messages, folder.number_of_sub_folders
    except _PFF_ERRORS as e:
        yield _Folder(path or "/", index_path, -1, 0, f"folder unreadable: {_short(e)}")
        return
    if identifier in seen or len(seen) >= MAX_FOLDERS:
        why = f"node {identifier} seen before (cyclic folder tree)" if identifier in seen else f"over {MAX_FOLDERS} folders"
        yield _Folder(path or "/", index_path, -1, 0, f"folder not read again: {why}")
        return
    seen.add(identifier)
    yield _Folder(path or "/", index_path, identifier, messages)
    if len(index_path) >= MAX_FOLDER_DEPTH:
        if subfolders:
            yield _Folder(f"{path}/#0", index_path + (0,), -1, 0,
                          f"{subfolders} sub-folder(s) deeper than {MAX_FOLDER_DEPTH} levels not read")
        return
    for index in range(subfolders):
        try:
            child = folder.get_sub_folder(index)
            child_path = f"{path}/{child.name or ''}" if child is not None else f"{path}/#{index}"
        except _PFF_ERRORS as e:
            yield _Folder(f"{path}/#{index}", index_path + (index,), -1, 0, f"sub-folder unreadable: {_short(e)}")
            continue
        yield from _folders(child, child_path, index_path + (index,), seen)


# ------------------------------------------------------------------ reading


def read(shard: Shard) -> Iterator[Message]:
    """Every item of the shard's folder run (or of the orphans).

    Raises:
        ReadError: the store or the folder cannot be opened (the reason says which).
    """
    if shard.variant == NOTE_VARIANT:  # a finding about the store, recorded at planning
        return
    errors = [i for i in shard.items if i.startswith("error:")]
    if errors:  # planning found the store or this folder unreadable; the reason is kept
        raise ReadError(errors[0][len("error:"):])
    with open_store(shard.path) as store:
        kind = "ost" if _count(store, "content_type") == _CONTENT_OST else "pst"
        if shard.variant == "orphans":
            for index in range(shard.start, shard.end or 0):
                yield _read_item(lambda i=index: store.get_orphan_item(i), shard, index, kind, orphan=True)
            return
        folder = _walk_to(store, shard)
        for index in range(shard.start, shard.end or 0):
            yield _read_item(lambda i=index: folder.get_sub_message(i), shard, index, kind, orphan=False)


def _walk_to(store: Any, shard: Shard) -> Any:
    folder = store.root_folder
    try:
        for index in shard.items:
            folder = folder.get_sub_folder(int(index))
        identifier = folder.identifier if folder is not None else None
    except _PFF_ERRORS as e:
        raise ReadError(f"{shard.path}: folder {shard.folder}: {_short(e)}") from e
    if shard.variant != f"folder-{identifier}":
        raise ReadError(f"{shard.path}: folder {shard.folder} is node {identifier}, planned as {shard.variant}")
    return folder


def _read_item(get: Any, shard: Shard, index: int, kind: str, *, orphan: bool) -> Message:
    """One item; anything libpff cannot give becomes a defect, never an exception."""
    locator = Locator(source_path=shard.path, source_sha256=shard.source_sha256, kind="pst",
                      folder=shard.folder, part=f"index:{index}")
    try:
        item = get()
        locator = replace(locator, node_id=int(item.identifier), part=None)
        message = build_message(item, locator, kind)
    except Exception as e:  # noqa: BLE001 - libpff raises OSError and worse on damaged items
        message = unreadable(locator, kind, e)
    return replace(message, flags="orphan") if orphan else message


def unreadable(locator: Locator, kind: str, error: BaseException) -> Message:
    """The record of an item that could not be read: hashed from where it is, not what it holds."""
    where = f"{locator.source_sha256}\0{locator.folder}\0{locator.node_id}\0{locator.part}"
    return Message(
        message_sha256=hashlib.sha256(b"pst-unreadable-v1\0" + where.encode("utf-8")).hexdigest(),
        hash_basis="pst-unreadable-v1",
        locator=locator,
        format=kind,
        defects=(f"ItemUnreadable: {type(error).__name__}: {_short(error)}",),
    )


# ------------------------------------------------------------------ one item


Props = dict[int, tuple[int, bytes]]


def _records(obj: Any, defects: list[str]) -> list[Props]:
    """Every record set of an item, recipient table or attachment, as {id: (type, bytes)}."""
    sets: list[Props] = []
    for set_index in range(_count(obj, "number_of_record_sets")):
        props: Props = {}
        try:
            record_set = obj.get_record_set(set_index)
            for entry_index in range(record_set.number_of_entries):
                entry = record_set.get_entry(entry_index)
                props.setdefault(entry.entry_type, (entry.value_type, _entry_data(entry, defects)))
        except _PFF_ERRORS as e:
            defects.append(f"PropertiesUnreadable: {_short(e)}")
        sets.append(props)
    return sets


def _entry_data(entry: Any, defects: list[str]) -> bytes:
    try:
        return bytes(entry.data or b"")
    except _PFF_ERRORS as e:
        defects.append(f"PropertyUnreadable: 0x{entry.entry_type:04X}: {_short(e)}")
        return b""


class _Strings:
    """Typed access to one property set, 8-bit strings decoded by the item's code page."""

    def __init__(self, props: Props, codec: str) -> None:
        self.props, self.codec = props, codec

    def text(self, pid: int) -> str | None:
        value_type, data = self.props.get(pid, (0, b""))
        if value_type == _PT_UNICODE:
            text = _mapi.decode_unicode(data)
        elif value_type == _PT_STRING8:
            text = _mapi.decode_string8(data, self.codec)
        else:
            return None
        # A PST subject may open with U+0001 and the length of its prefix ("RE: ")
        # [MS-PST 2.5.3.1.1]; the marker is not part of the text.
        return text[2:] if pid == 0x0037 and text.startswith("\x01") else text

    def integer(self, pid: int) -> int | None:
        value_type, data = self.props.get(pid, (0, b""))
        if len(data) in (2, 4, 8) and value_type in (0x02, 0x03, 0x14, _PT_SYSTIME):
            return int.from_bytes(data, "little", signed=False)
        return None

    def binary(self, pid: int) -> bytes | None:
        value_type, data = self.props.get(pid, (0, b""))
        return data if value_type == 0x102 and data else None

    def filetime(self, pid: int) -> datetime | None:
        text = _mapi.filetime_to_utc(self.integer(pid))
        return datetime.strptime(text + "+0000", "%Y-%m-%dT%H:%M:%SZ%z") if text else None


def build_message(item: Any, locator: Locator, kind: str) -> Message:
    """A ``Message`` from one libpff item (any class: mail, appointment, contact...)."""
    defects: list[str] = []
    record_sets = _records(item, defects)
    merged: Props = {}
    for props in record_sets:
        for pid, value in props.items():
            merged.setdefault(pid, value)
    rtf = _rtf(item, merged, defects)
    codec, guessed = _mapi.string8_codec(_Strings(merged, "cp1252").integer(0x3FFD),
                                         _Strings(merged, "cp1252").integer(0x3FF1), rtf)
    strings = _Strings(merged, codec)
    if guessed and any(t == _PT_STRING8 for t, _ in merged.values()):
        defects.append("CodepageUnknown: 8-bit strings decoded as cp1252")
    recipient_sets = _recipient_sets(item, defects)
    recipients = _recipients(recipient_sets, codec)
    attachments, attachment_hashes = _attachments(item, codec, defects)
    parsed = _headers(strings, recipients, locator)
    body = _mapi.choose_body(
        html=strings.binary(0x1013) or _text_bytes(strings.text(0x1013)),
        html_charset=_mapi.codec_for(strings.integer(0x3FDE)) or _mapi.codec_for(strings.integer(0x3FFD)),
        rtf=rtf,
        plain=strings.text(0x1000),
    )
    sent = strings.filetime(0x0039) or strings.filetime(0x0E06)
    return replace(
        parsed,
        message_sha256=canonical_hash(record_sets, recipient_sets, attachment_hashes),
        hash_basis="pst-canonical-v1",
        format=kind,
        subject=strings.text(0x0037) if 0x0037 in merged else parsed.subject,
        date_utc=parsed.date_utc or _mapi.utc_text(sent),
        html=body.html,
        html_source=body.html_source,
        text=body.text,
        attachments=tuple(attachments),
        message_class=(strings.text(0x001A) or "").strip() or None,
        defects=parsed.defects + tuple(defects) + body.defects,
    )


def _text_bytes(text: str | None) -> bytes | None:
    return text.encode("utf-8") if text else None


def _rtf(item: Any, props: Props, defects: list[str]) -> bytes | None:
    """The RTF body: decompressed by libpff, else by compressed-rtf (which accepts some
    bodies libpff refuses), else a defect."""
    try:
        rtf = item.rtf_body
    except AttributeError:  # a plain pypff.item (e.g. free/busy data) has no bodies
        return None
    except _PFF_ERRORS as e:
        rtf = _decompress(props.get(0x1009, (0, b""))[1])
        if rtf is None:
            defects.append(f"RtfUndecodable: {_short(e)}")
    return bytes(rtf) if rtf else None


def _decompress(compressed: bytes) -> bytes | None:
    import compressed_rtf

    try:
        return bytes(compressed_rtf.decompress(compressed)) if compressed else None
    except Exception:  # noqa: BLE001 - any failure means "not recoverable"; the caller records it
        return None


def _headers(strings: _Strings, recipients: list[tuple[int, str, str]], locator: Locator) -> Message:
    header_text = strings.text(0x007D)
    synthetic = not (header_text and header_text.strip())
    if synthetic:
        header_text = _mapi.synthetic_headers(
            sent=strings.filetime(0x0039), sender=_sender(strings), recipients=recipients,
            subject=strings.text(0x0037), message_id=strings.text(0x1035),
        )
    return _mapi.parse_header_block(header_text or "", locator, synthetic=synthetic)


def _sender(strings: _Strings) -> tuple[str, str]:
    display = strings.text(0x0C1A) or strings.text(0x0042) or ""
    return display, _smtp(strings, 0x5D01, 0x0C1F, 0x0C1E) or _smtp(strings, 0x5D02, 0x0065, 0x0064)


def _smtp(strings: _Strings, smtp_pid: int, addr_pid: int, type_pid: int) -> str:
    """An SMTP address: the SMTP property, else the address if its type is SMTP."""
    smtp = strings.text(smtp_pid)
    if smtp:
        return smtp
    address = strings.text(addr_pid) or ""
    kind = (strings.text(type_pid) or "SMTP").upper()
    return address if kind == "SMTP" and "@" in address else ""


def _recipient_table(item: Any) -> Any:
    try:
        return item.recipients
    except (AttributeError, OSError):
        return None


def _recipient_sets(item: Any, defects: list[str]) -> list[Props]:
    table = _recipient_table(item)
    return _records(table, defects) if table is not None else []


def _recipients(recipient_sets: list[Props], codec: str) -> list[tuple[int, str, str]]:
    """(MAPI recipient type, display name, SMTP address) per recipient, in table order."""
    out: list[tuple[int, str, str]] = []
    for props in recipient_sets:
        strings = _Strings(props, codec)
        out.append((strings.integer(0x0C15) or 1, strings.text(0x3001) or "", _smtp(strings, 0x39FE, 0x3003, 0x3002)))
    return out


def _attachments(item: Any, codec: str, defects: list[str]) -> tuple[list[Attachment], list[tuple[list[Props], str]]]:
    records: list[Attachment] = []
    hashed: list[tuple[list[Props], str]] = []
    for index in range(_count(item, "number_of_attachments")):
        try:
            attachment = item.get_attachment(index)
            props = _records(attachment, defects)
            digest, size = _attachment_digest(attachment)
        except _PFF_ERRORS as e:
            defects.append(f"AttachmentUnreadable: #{index}: {_short(e)}")
            continue
        strings = _Strings(props[0] if props else {}, codec)
        embedded = strings.integer(0x3705) == 5  # afEmbeddedMessage
        if embedded:  # libpff-python exposes no embedded item: its raw node data is hashed
            defects.append(f"EmbeddedItemNotExpanded: #{index}")
        records.append(Attachment(
            filename=strings.text(0x3707) or strings.text(0x3704) or strings.text(0x3001),
            content_type="application/vnd.ms-outlook" if embedded
            else (strings.text(0x370E) or "application/octet-stream").lower(),
            size=size,
            sha256=digest,
        ))
        hashed.append((props, digest))
    return records, hashed


def _attachment_digest(attachment: Any) -> tuple[str, int]:
    """SHA-256 and size of an attachment's data, read in blocks (bounded memory)."""
    digest = hashlib.sha256()
    size = int(attachment.size or 0)
    if size:
        attachment.seek_offset(0, 0)
    remaining = size
    while remaining > 0:
        block = attachment.read_buffer(min(ATTACHMENT_BLOCK, remaining))
        if not block:
            break
        digest.update(block)
        remaining -= len(block)
    return digest.hexdigest(), size - remaining


def _serialise(digest: Any, props: Props) -> None:
    for pid in sorted(props):
        if pid in BOOKKEEPING_PROPERTIES:
            continue
        value_type, data = props[pid]
        digest.update(struct.pack(">HHQ", pid, value_type, len(data)) + data)


def canonical_hash(
    record_sets: list[Props], recipient_sets: list[Props], attachments: list[tuple[list[Props], str]]
) -> str:
    """``pst-canonical-v1`` (see the module docstring)."""
    digest = hashlib.sha256(b"pst-canonical-v1\0")
    for props in record_sets:
        _serialise(digest, props)
    digest.update(b"recipients\0")
    for props in recipient_sets:
        _serialise(digest, props)
    digest.update(b"attachments\0")
    for props_list, data_digest in attachments:
        for props in props_list:
            _serialise(digest, props)
        digest.update(bytes.fromhex(data_digest))
    return digest.hexdigest()
