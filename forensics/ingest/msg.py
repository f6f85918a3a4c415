"""Reader for Outlook .msg files (an OLE compound file holding one MAPI item), via extract-msg.

Recognised by content: the OLE signature ``D0 CF 11 E0 A1 B1 1A E1`` and an Outlook
property stream (``__properties_version1.0``, ``__substg1.0_…``), whatever the name.

Every item, mail or not (appointments, contacts, tasks, sticky notes...), becomes a
``Message`` carrying its ``message_class``. What is read, and from where:

- transport headers: the raw ``PidTagTransportMessageHeaders`` text, kept whole (every
  ``Received`` line; extract-msg's ``headerDict`` drops them) and parsed like any RFC
  5322 header block. Without that stream, headers are built from MAPI properties
  (Date, From, To, Cc, Bcc, Subject, Message-ID) and the message says so
  (``headers_synthetic``);
- bodies: see ``forensics.ingest._mapi`` (HTML stream, else HTML de-encapsulated from
  the compressed RTF under a time limit, else plain text; never HTML synthesised
  from the plain text, which extract-msg's ``htmlBody`` returns);
- strings: read from the streams directly; 8-bit (non-Unicode) items are decoded by
  their declared code page (extract-msg falls back to ISO-8859-15 when
  PidTagMessageCodepage is absent, which garbles CP932 or CP1251 items);
- embedded items: an attached Outlook item and an attached ``.eml`` become messages
  of their own, with ``parent_sha256`` and ``locator.part`` (``attachment/N``, nested
  as ``attachment/N/attachment/M``).

Hashes: a top-level item's ``message_sha256`` is the SHA-256 of the file's bytes
(``hash_basis = "msg-file"``, what ``sha256sum`` shows). An embedded Outlook item has
no bytes of its own; its hash is ``msg-canonical-v1``: SHA-256 over the streams of
its storage, sorted by path, each as ``path (UTF-8) NUL length (8 bytes, big-endian)
bytes``, after the prefix ``b"msg-canonical-v1\\0"``.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from forensics.errors import ReadError
from forensics.ingest import _mapi
from forensics.ingest.base import Shard
from forensics.records import Attachment, Locator, Message, RawMessage

name = "msg"
# A .msg costs 0.1-3 s whatever its bytes (RTF de-encapsulation): batched small files
# must not put most of a run on one worker (``engines.shard.tasks_of``).
SHARDS_PER_TASK = 4
OLE_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")
MAX_MSG_BYTES = 256 * 1024 * 1024
MAX_NESTING = 20
_MARKERS = ("__properties_version1.0".encode("utf-16-le"), "__substg1.0_".encode("utf-16-le"))


def sniff(head: bytes, path: Path) -> bool:
    """An OLE compound file with an Outlook property stream at its root."""
    if not head.startswith(OLE_MAGIC):
        return False
    if any(marker in head for marker in _MARKERS):
        return True
    return _has_property_stream(path)  # the directory can lie beyond the first 64 KiB


def _has_property_stream(path: Path) -> bool:
    import olefile

    try:
        with olefile.OleFileIO(str(path)) as ole:
            return bool(ole.exists("__properties_version1.0"))
    except Exception:  # noqa: BLE001 - a damaged OLE file is simply not claimed here
        return False


def plan(path: Path, sha256: str, size: int) -> Iterator[Shard]:
    yield Shard(shard_id=f"{sha256[:16]}:msg:{path}", reader=name, path=str(path), source_sha256=sha256)


def read(shard: Shard) -> Iterator[Message | RawMessage]:
    """The item and every item embedded in it, parents first.

    Raises:
        ReadError: the file is not a readable Outlook item (the reason says why).
    """
    with open(shard.path, "rb") as handle:
        data = handle.read(MAX_MSG_BYTES + 1)
    if len(data) > MAX_MSG_BYTES:
        raise ReadError(f"{shard.path}: .msg larger than {MAX_MSG_BYTES} bytes, not read")
    item = _open(data, shard.path)
    try:
        locator = Locator(source_path=shard.path, source_sha256=shard.source_sha256, kind="file")
        digest = hashlib.sha256(data).hexdigest()
        yield from _walk(item, locator, digest, "msg-file", None, None, 0)
    finally:
        item.close()


def _open(data: bytes, path: str) -> Any:
    import extract_msg
    from extract_msg.enums import ErrorBehavior

    behaviour = ErrorBehavior.ATTACH_SUPPRESS_ALL | ErrorBehavior.STANDARDS_VIOLATION | ErrorBehavior.NAMED_NAME_STREAM
    try:
        return extract_msg.openMsg(data, delayAttachments=True, strict=False, errorBehavior=behaviour)
    except Exception as e:  # extract-msg raises many types on damaged files
        raise ReadError(f"{path}: not a readable Outlook item: {type(e).__name__}: {e}") from e


def _walk(
    item: Any, locator: Locator, digest: str, basis: str, parent: str | None,
    parent_codec: str | None, depth: int,
) -> Iterator[Message | RawMessage]:
    codec, guessed = _string_codec(item, parent_codec)
    attachments, children, defects = _attachments(item, locator, codec, depth)
    if guessed:
        defects.append("CodepageUnknown: 8-bit strings decoded as cp1252")
    message = _message(item, locator, codec, defects)
    yield replace(message, message_sha256=digest, hash_basis=basis, parent_sha256=parent,
                  attachments=tuple(attachments))
    for child_locator, child in children:
        if isinstance(child, bytes):
            yield from _embedded_eml(child, child_locator, digest)
        else:
            yield from _walk(child, child_locator, canonical_hash(child), "msg-canonical-v1",
                             digest, codec, depth + 1)


def canonical_hash(item: Any) -> str:
    """``msg-canonical-v1`` of an item: its storage's streams, sorted by path (see module doc)."""
    digest = hashlib.sha256(b"msg-canonical-v1\0")
    for path in sorted("/".join(p) for p in item.listDir(True, False, False)):
        data = item.getStream(path) or b""
        digest.update(path.encode("utf-8") + b"\0" + struct.pack(">Q", len(data)) + data)
    return digest.hexdigest()


def _embedded_eml(data: bytes, locator: Locator, parent: str) -> Iterator[Message]:
    """An attached RFC 5322 message: parsed as such, its first message linked to the parent."""
    from forensics.parse import parse_rfc5322

    for index, message in enumerate(parse_rfc5322(RawMessage(data=data, locator=locator, format="eml"))):
        yield replace(message, parent_sha256=parent) if index == 0 else message


# ------------------------------------------------------------------ strings and code pages


def _string_codec(item: Any, parent_codec: str | None) -> tuple[str, bool]:
    """The codec of this item's 8-bit strings (see ``_mapi.string8_codec``), and whether
    it is a guess. An embedded item without its own clues inherits its parent's."""
    if not _has_string8(item):
        return parent_codec or "cp1252", False
    message_cp = item.getPropertyVal("3FFD0003")
    rtf = _rtf(item) if message_cp is None else None
    codec, guessed = _mapi.string8_codec(message_cp, item.getPropertyVal("3FF10003"), rtf)
    if guessed and parent_codec is not None:
        return parent_codec, False
    return codec, guessed


def _has_string8(item: Any) -> bool:
    return any(p[-1].endswith("001E") for p in item.listDir(True, False, False))


def _string(obj: Any, pid: str, codec: str) -> str | None:
    """A string property by id (e.g. ``"0037"``): Unicode stream first, else 8-bit."""
    data = obj.getStream(f"__substg1.0_{pid}001F")
    if data is not None:
        return _mapi.decode_unicode(data)
    data = obj.getStream(f"__substg1.0_{pid}001E")
    return None if data is None else _mapi.decode_string8(data, codec)


def _rtf(item: Any) -> bytes | None:
    import compressed_rtf

    compressed = item.getStream("__substg1.0_10090102")
    if not compressed:
        return None
    try:
        return bytes(compressed_rtf.decompress(compressed))
    except Exception:  # noqa: BLE001 - reported by the body step as RtfUndecodable
        return None


# ------------------------------------------------------------------ the item itself


def _message(item: Any, locator: Locator, codec: str, defects: list[str]) -> Message:
    header_text = _string(item, "007D", codec)
    synthetic = not (header_text and header_text.strip())
    if synthetic:
        header_text = _mapi.synthetic_headers(
            sent=_sent_time(item), sender=_sender(item, codec), recipients=_recipients(item, codec),
            subject=_string(item, "0037", codec), message_id=_string(item, "1035", codec),
        )
    parsed = _mapi.parse_header_block(header_text or "", locator, synthetic=synthetic)
    body = _body(item, codec, defects)
    subject = _string(item, "0037", codec)
    return replace(
        parsed,
        format="msg",
        subject=subject if subject is not None else parsed.subject,
        date_utc=parsed.date_utc or _mapi.utc_text(_sent_time(item)),
        html=body.html,
        html_source=body.html_source,
        text=body.text,
        message_class=(_string(item, "001A", codec) or "").strip() or None,
        defects=parsed.defects + tuple(defects) + body.defects,
    )


def _sent_time(item: Any) -> Any:
    return item.getPropertyVal("00390040") or item.getPropertyVal("0E060040")


def _sender(item: Any, codec: str) -> tuple[str, str]:
    display = _string(item, "0C1A", codec) or _string(item, "0042", codec) or ""
    address = _smtp(item, "5D01", "0C1F", "0C1E", codec) or _smtp(item, "5D02", "0065", "0064", codec)
    return display, address


def _smtp(obj: Any, smtp_pid: str, addr_pid: str, type_pid: str, codec: str) -> str:
    """An SMTP address: the SMTP property, else the address if its type is SMTP."""
    smtp = _string(obj, smtp_pid, codec)
    if smtp:
        return smtp
    address = _string(obj, addr_pid, codec) or ""
    kind = (_string(obj, type_pid, codec) or "SMTP").upper()
    return address if kind == "SMTP" and "@" in address else ""


def _recipients(item: Any, codec: str) -> list[tuple[int, str, str]]:
    try:
        recipients = list(item.recipients)
    except Exception:  # noqa: BLE001 - a broken recipient table leaves the headers without it
        return []
    return [
        (int(getattr(r, "type", 1) or 1), _string(r, "3001", codec) or "", _smtp(r, "39FE", "3003", "3002", codec))
        for r in recipients
    ]


def _body(item: Any, codec: str, defects: list[str]) -> _mapi.Body:
    html = item.getStream("__substg1.0_10130102")
    html_charset = _mapi.codec_for(item.getPropertyVal("3FDE0003"))
    if html is None:
        html_text = _string(item, "1013", codec)
        html = html_text.encode("utf-8") if html_text is not None else None
        html_charset = "utf-8" if html is not None else html_charset
    rtf = None if html else _rtf(item)
    if not html and item.getStream("__substg1.0_10090102") and rtf is None:
        defects.append("RtfUndecodable: compressed RTF body could not be decompressed")
    plain = _string(item, "1000", codec)
    return _mapi.choose_body(html=html, html_charset=html_charset or codec, rtf=rtf, plain=plain)


def _attachments(
    item: Any, locator: Locator, codec: str, depth: int
) -> tuple[list[Attachment], list[tuple[Locator, Any]], list[str]]:
    """Attachment records, embedded items to read next, and defects."""
    records: list[Attachment] = []
    children: list[tuple[Locator, Any]] = []
    defects: list[str] = []
    try:
        attachments = list(item.attachments)
    except Exception as e:  # noqa: BLE001 - the item is still read without its attachments
        return records, children, [f"AttachmentsUnreadable: {type(e).__name__}: {str(e)[:200]}"]
    for index, attachment in enumerate(attachments):
        part = f"{locator.part}/attachment/{index}" if locator.part else f"attachment/{index}"
        record, child = _attachment(attachment, codec, defects)
        records.append(record)
        if child is not None and depth + 1 >= MAX_NESTING:
            defects.append("NestingTooDeep")
        elif child is not None:
            children.append((replace(locator, part=part), child))
    return records, children, defects


def _attachment(attachment: Any, codec: str, defects: list[str]) -> tuple[Attachment, Any]:
    """One attachment's record, and the embedded item (MSGFile or .eml bytes) if any."""
    from extract_msg.enums import AttachmentType

    kind = getattr(attachment, "type", None)
    if kind == AttachmentType.MSG:
        inner = attachment.data
        return Attachment(filename=_filename(attachment, codec), content_type="application/vnd.ms-outlook",
                          size=0, sha256=canonical_hash(inner)), inner
    data = attachment.data if kind == AttachmentType.DATA else None
    if not isinstance(data, bytes):
        defects.append(f"AttachmentUnreadable: {type(attachment).__name__}")
        data = b""
    filename = _filename(attachment, codec)
    mimetype = (getattr(attachment, "mimetype", None) or "application/octet-stream").lower()
    record = Attachment(filename=filename, content_type=mimetype, size=len(data),
                        sha256=hashlib.sha256(data).hexdigest())
    is_eml = mimetype == "message/rfc822" or (filename or "").lower().endswith(".eml")
    return record, data if is_eml and data else None


def _filename(attachment: Any, codec: str) -> str | None:
    """PidTagAttachLongFilename, else PidTagAttachFilename, else the display name."""
    for pid in ("3707", "3704", "3001"):
        value = _string(attachment, pid, codec)
        if value:
            return value
    return None
