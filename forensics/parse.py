"""Stage 2: RFC 5322 bytes -> ``Message`` records (the message and its nested messages).

The stdlib parser with the compat32 policy is used because it is the fastest
lenient parser available and records defects instead of raising; mail-parser
parses the Received chain. Nothing here raises on bad mail: trouble becomes a
defect on the record.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import replace
from datetime import timezone
from email import message_from_bytes
from email.header import decode_header
from email.message import Message as EmailMessage
from email.policy import compat32
from email.utils import getaddresses, parsedate_to_datetime

from mailparser.utils import receiveds_parsing

from forensics.records import Address, Attachment, Locator, Message, RawMessage
from forensics.textdecode import decode_body, known_charset

MAX_NESTING = 20  # message/rfc822 inside message/rfc822; deeper is a defect, not a crash
MAX_PARTS = 2000  # parts walked per message; the rest is reported, not analysed
_DKIM_D = re.compile(r"(?:^|;)\s*d\s*=\s*([^;\s]+)", re.I)


def parse_rfc5322(raw: RawMessage) -> list[Message]:
    """Parse one message; nested message/rfc822 parts follow it in the list."""
    out: list[Message] = []
    _parse_into(raw.data, raw, raw.locator, None, 0, out)
    return out


def _parse_into(
    data: bytes, raw: RawMessage, locator: Locator, parent: str | None, depth: int, out: list[Message]
) -> None:
    email_msg = message_from_bytes(data, policy=compat32)
    digest = hashlib.sha256(data).hexdigest()
    nested: list[tuple[str, bytes]] = []
    message = _build(email_msg, data, digest, raw, locator, parent, nested)
    if depth >= MAX_NESTING and nested:
        message = replace(message, defects=message.defects + ("NestingTooDeep",))
        nested = []
    out.append(message)
    for part_path, part_bytes in nested:
        _parse_into(part_bytes, raw, replace(locator, part=_join_part(locator.part, part_path)),
                    digest, depth + 1, out)


def _join_part(prefix: str | None, path: str) -> str:
    return f"{prefix}/{path}" if prefix else path


def _build(
    msg: EmailMessage,
    data: bytes,
    digest: str,
    raw: RawMessage,
    locator: Locator,
    parent: str | None,
    nested: list[tuple[str, bytes]],
) -> Message:
    defects: list[str] = list(raw.defects) if parent is None else []
    html, text, attachments = _walk_parts(msg, defects, nested)
    headers = tuple((k, decode_header_value(v)) for k, v in msg.items())
    if not headers:
        defects.append("NoHeaders")
    date_raw, date_utc = _parse_date(msg, defects)
    received = tuple(_get_all(msg, "Received"))
    return Message(
        message_sha256=digest,
        hash_basis="raw-rfc5322" if parent is None else "nested-rfc822-part",
        locator=locator,
        format=raw.format,
        parent_sha256=parent,
        message_id=_first(msg, "Message-ID"),
        date_raw=date_raw,
        date_utc=date_utc,
        from_=_addresses(msg, "From"),
        sender=_addresses(msg, "Sender"),
        reply_to=_addresses(msg, "Reply-To"),
        to=_addresses(msg, "To"),
        cc=_addresses(msg, "Cc"),
        delivered_to=tuple(a.address for h in ("Delivered-To", "X-Original-To", "Envelope-To")
                           for a in _addresses(msg, h)),
        envelope_from=raw.envelope if parent is None else None,
        subject=_first(msg, "Subject"),
        return_path=_first(msg, "Return-Path"),
        list_id=_first(msg, "List-Id"),
        list_unsubscribe=_first(msg, "List-Unsubscribe"),
        dkim_domains=_dkim_domains(msg),
        received=received,
        received_json=_received_json(received, defects),
        headers=headers,
        html=tuple(html),
        html_source="mime" if html else ("plain-only" if text else None),
        text=tuple(text),
        attachments=tuple(attachments),
        flags=raw.flags if parent is None else None,
        labels=raw.labels if parent is None else None,
        expunged=raw.expunged if parent is None else False,
        defects=tuple(defects) + tuple(_defect_names(msg)),
    )


def decode_header_value(value: object) -> str:
    """RFC 2047-decode a header value; undecodable bytes become U+FFFD, never an error."""
    text = str(value) if not isinstance(value, str) else value
    if "=?" not in text:
        return _unsurrogate(text)
    try:
        chunks = decode_header(text)
    except Exception:  # noqa: BLE001 - stdlib raises assorted errors on junk; keep the raw text
        return _unsurrogate(text)
    out: list[str] = []
    for chunk, charset in chunks:
        if isinstance(chunk, str):
            out.append(chunk)
            continue
        codec = known_charset(charset) or "utf-8"
        out.append(chunk.decode(codec, errors="replace"))
    return _unsurrogate("".join(out))


def _unsurrogate(text: str) -> str:
    """compat32 keeps raw 8-bit header bytes as surrogates; decode them as UTF-8 or Latin-1."""
    if not any("\udc80" <= ch <= "\udcff" for ch in text):
        return text
    raw = text.encode("utf-8", "surrogateescape")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("windows-1252", errors="replace")


def _get_all(msg: EmailMessage, name: str) -> list[str]:
    return [decode_header_value(v) for v in (msg.get_all(name) or [])]


def _first(msg: EmailMessage, name: str) -> str | None:
    values = msg.get_all(name)
    if not values:
        return None
    return decode_header_value(values[0]).strip()


def _addresses(msg: EmailMessage, name: str) -> tuple[Address, ...]:
    values = _get_all(msg, name)
    if not values:
        return ()
    pairs = getaddresses(values)
    return tuple(Address(name=n.strip(), address=a.strip()) for n, a in pairs if a or n)


def _parse_date(msg: EmailMessage, defects: list[str]) -> tuple[str | None, str | None]:
    raw = _first(msg, "Date")
    if raw is None:
        return None, None
    try:
        parsed = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError, OverflowError):
        defects.append("InvalidDateHeader")
        return raw, None
    if parsed.tzinfo is None:  # RFC 5322 "-0000": no zone known; treat as UTC, say so
        defects.append("DateWithoutZone")
        parsed = parsed.replace(tzinfo=timezone.utc)
    return raw, parsed.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _dkim_domains(msg: EmailMessage) -> tuple[str, ...]:
    found: list[str] = []
    for value in _get_all(msg, "DKIM-Signature"):
        match = _DKIM_D.search(value.replace("\r", "").replace("\n", ""))
        if match and match.group(1).lower() not in found:
            found.append(match.group(1).lower())
    return tuple(found)


def _received_json(received: tuple[str, ...], defects: list[str]) -> str:
    if not received:
        return "[]"
    try:
        hops = receiveds_parsing(list(received))
    except Exception:  # noqa: BLE001 - mail-parser may raise on odd hops; the raw lines are kept
        defects.append("ReceivedUnparsed")
        hops = [{"raw": r} for r in received]
    return json.dumps(hops, sort_keys=True, ensure_ascii=False, default=str)


def _defect_names(msg: EmailMessage) -> list[str]:
    names: list[str] = []
    for part in _iter_parts(msg):
        names.extend(type(d).__name__ for d in part.defects)
    return names


def _iter_parts(msg: EmailMessage) -> list[EmailMessage]:
    """Parts of this message without descending into nested message/rfc822 parts."""
    out: list[EmailMessage] = []
    stack = [msg]
    while stack and len(out) < MAX_PARTS:
        part = stack.pop()
        out.append(part)
        if part.get_content_type() == "message/rfc822" and part is not msg:
            continue
        payload = part.get_payload()
        if isinstance(payload, list):
            stack.extend(reversed(payload))
    return out


def _walk_parts(
    msg: EmailMessage, defects: list[str], nested: list[tuple[str, bytes]]
) -> tuple[list[str], list[str], list[Attachment]]:
    html: list[str] = []
    text: list[str] = []
    attachments: list[Attachment] = []
    parts = _iter_parts(msg)
    if len(parts) >= MAX_PARTS:
        defects.append("TooManyParts")
    for index, part in enumerate(parts):
        ctype = part.get_content_type()
        if part.is_multipart():
            if ctype == "message/rfc822" and part is not msg:
                nested.extend(_nested_bytes(part, index))
            continue
        disposition = (part.get("Content-Disposition") or "").split(";")[0].strip().lower()
        is_body = disposition != "attachment" and ctype in ("text/html", "text/plain")
        if is_body:
            decoded = _decode_text(part, defects, is_html=ctype == "text/html")
            (html if ctype == "text/html" else text).append(decoded)
        else:
            attachments.append(_attachment(part))
    return html, text, attachments


def _nested_bytes(part: EmailMessage, index: int) -> list[tuple[str, bytes]]:
    inner = part.get_payload()
    if not isinstance(inner, list) or not inner:
        return []
    return [(str(index), inner[0].as_bytes(policy=compat32))]


def _decode_text(part: EmailMessage, defects: list[str], *, is_html: bool) -> str:
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    text, _charset, replaced = decode_body(data, part.get_content_charset(), is_html=is_html)
    if replaced:
        defects.append("CharsetDecodeDefect")
    return text


def _attachment(part: EmailMessage) -> Attachment:
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    filename = part.get_filename()
    return Attachment(
        filename=decode_header_value(filename) if filename else None,
        content_type=part.get_content_type(),
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )
