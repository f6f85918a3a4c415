"""Stage 3 (extraction): tracking requested in the header — read receipts and unsubscribe tokens.

- Read-receipt requests: ``Disposition-Notification-To`` (RFC 8098 message disposition
  notification), ``Return-Receipt-To`` and ``X-Confirm-Reading-To`` (legacy clients),
  ``Read-Receipt-To``; a client that honours them tells the sender when the message was
  read. ``Generate-Delivery-Report`` (X.400 gateways, RFC 2156) asks for a delivery report.
- ``List-Unsubscribe`` (RFC 2369) URLs and mailto addresses often carry a per-recipient
  token; every entry is a finding, with the identifiers found in it (and whether
  ``List-Unsubscribe-Post`` makes it a one-click POST, RFC 8058).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from forensics.extract import params
from forensics.records import Message

READ_RECEIPT_HEADERS: dict[str, str] = {
    "disposition-notification-to": "read-receipt",
    "return-receipt-to": "read-receipt",
    "x-confirm-reading-to": "read-receipt",
    "read-receipt-to": "read-receipt",
    "x-read-receipt-to": "read-receipt",
    "generate-delivery-report": "delivery-report",
}
MAX_ENTRIES = 50  # List-Unsubscribe entries read per message
_ANGLE = re.compile(r"<([^<>]{1,4000})>")
_LOCAL_SPLIT = re.compile(r"[-+._=]")


@dataclass(frozen=True, slots=True, kw_only=True)
class HeaderFinding:
    header: str  # as named in the message
    kind: str  # read-receipt | delivery-report | list-unsubscribe
    value: str  # the header value (or the one entry of List-Unsubscribe)
    url: str  # the URL or mailto: of a List-Unsubscribe entry ('' for receipts)
    identifiers: tuple[params.Identifier, ...]
    signals: tuple[str, ...]


def header_findings(message: Message) -> list[HeaderFinding]:
    """Read-receipt requests and List-Unsubscribe entries, in header order."""
    out: list[HeaderFinding] = []
    one_click = bool(message.header_values("List-Unsubscribe-Post"))
    for name, value in message.headers:
        lname = name.lower()
        kind = READ_RECEIPT_HEADERS.get(lname)
        if kind is not None:
            out.append(HeaderFinding(header=name, kind=kind, value=value.strip(), url="", identifiers=(),
                                     signals=(f"{kind}-requested",)))
        elif lname == "list-unsubscribe":
            out.extend(_unsubscribe(name, value, one_click))
    return out


def _unsubscribe(name: str, value: str, one_click: bool) -> list[HeaderFinding]:
    entries = _ANGLE.findall(value)[:MAX_ENTRIES] or [value.strip()]
    out: list[HeaderFinding] = []
    for entry in entries:
        url = "".join(entry.split())
        if not url:
            continue
        identifiers = _mailto_identifiers(url) if url.lower().startswith("mailto:") else params.inspect(url).identifiers
        signals = ["list-unsubscribe"]
        if identifiers:
            signals.append("token:" + ",".join(i.label() for i in identifiers[:4]))
        if one_click and url.lower().startswith("https:"):
            signals.append("one-click-post")
        out.append(HeaderFinding(header=name, kind="list-unsubscribe", value=entry, url=url,
                                 identifiers=tuple(identifiers), signals=tuple(signals)))
    return out


def _mailto_identifiers(url: str) -> tuple[params.Identifier, ...]:
    """Identifier-like pieces of a mailto: local part and of its subject/body parameters."""
    address, _, query = url[len("mailto:"):].partition("?")
    local = unquote(address).partition("@")[0]
    found = [params.Identifier(where="mailto-local", value=piece, shape=shape)
             for piece in _LOCAL_SPLIT.split(local) if (shape := params.value_shape(piece))]
    for key, val in params.query_pairs(query):
        for piece in val.split():
            shape = params.value_shape(piece)
            if shape:
                found.append(params.Identifier(where=f"mailto[{key}]", value=piece, shape=shape))
    return tuple(found)
