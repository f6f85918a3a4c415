"""Stage 3: everything computed from one message alone, as rows for the case store.

``forensics.stages.ANALYSERS`` lists the per-message stages (extraction, attribution,
tokens...). Each takes the message, the run's settings and the message context, and
returns rows; none may raise on bad mail (the engine still catches, and records a
problem, if one does).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace

from forensics.records import (
    Address,
    AttachmentRow,
    FoundUrl,
    Message,
    MessageRow,
    OccurrenceRow,
    ProblemRow,
    Row,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """What the per-message stages may depend on (picklable, sent to every worker)."""

    identities: tuple[str, ...] = ()


@dataclass(slots=True)
class MessageContext:
    """What earlier per-message stages leave for later ones (mutable, one per message)."""

    urls: list[FoundUrl] = field(default_factory=list)


def analyse(message: Message, settings: Settings) -> list[Row]:
    """All rows for one message: its record, where it was found, and every finding."""
    from forensics.stages import ANALYSERS  # the stage list imports this module

    rows: list[Row] = [message_row(message), occurrence_row(message)]
    rows.extend(attachment_rows(message))
    context = MessageContext()
    for analyser in ANALYSERS:
        rows.extend(analyser(message, settings, context))
    return rows


def _addr_list(addresses: tuple[Address, ...]) -> str:
    return "; ".join(a.address for a in addresses)


def message_row(m: Message) -> MessageRow:
    html_digest = hashlib.sha256("\x00".join(m.html).encode("utf-8", "surrogatepass")).hexdigest() if m.html else ""
    return MessageRow(
        message_sha256=m.message_sha256,
        hash_basis=m.hash_basis,
        parent_sha256=m.parent_sha256 or "",
        message_id=m.message_id or "",
        date_raw=m.date_raw or "",
        date_utc=m.date_utc or "",
        from_addr=_addr_list(m.from_),
        from_name="; ".join(a.name for a in m.from_ if a.name),
        sender=_addr_list(m.sender),
        reply_to=_addr_list(m.reply_to),
        to_addrs=_addr_list(m.to),
        cc_addrs=_addr_list(m.cc),
        delivered_to="; ".join(m.delivered_to),
        subject=m.subject or "",
        return_path=m.return_path or "",
        list_id=m.list_id or "",
        list_unsubscribe=m.list_unsubscribe or "",
        dkim_domains="; ".join(m.dkim_domains),
        received_count=len(m.received),
        received_json=m.received_json,
        headers_synthetic=int(m.headers_synthetic),
        html_source=m.html_source or "",
        html_parts=len(m.html),
        html_sha256=html_digest,
        text_parts=len(m.text),
        attachment_count=len(m.attachments),
        message_class=m.message_class or "",
        defect_count=len(m.defects),
        defects=json.dumps(list(m.defects)),
        status="defective" if m.defects else "analysed",
    )


def occurrence_row(m: Message) -> OccurrenceRow:
    loc = m.locator
    return OccurrenceRow(
        message_sha256=m.message_sha256,
        source_path=loc.source_path,
        source_sha256=loc.source_sha256,
        locator=loc.display(),
        locator_kind=loc.kind,
        offset=loc.offset,
        length=loc.length,
        member=loc.member or "",
        folder=loc.folder or "",
        node_id=loc.node_id,
        part=loc.part or "",
        format=m.format,
        envelope=m.envelope_from or "",
        flags=m.flags or "",
        labels=m.labels or "",
        expunged=int(m.expunged),
    )


def attachment_rows(m: Message) -> list[AttachmentRow]:
    return [
        AttachmentRow(
            message_sha256=m.message_sha256,
            idx=i,
            filename=a.filename or "",
            content_type=a.content_type,
            size=a.size,
            sha256=a.sha256,
        )
        for i, a in enumerate(m.attachments)
    ]


# Defects that mean part of a message could not be analysed: each also becomes a
# problem row, so problems.csv alone lists everything an examiner must look at by hand.
PROBLEM_DEFECTS: dict[str, tuple[str, str]] = {
    "ItemUnreadable": ("item-unreadable", "error"),
    "RtfTimeout": ("rtf-timeout", "error"),
    "RtfUndecodable": ("rtf-undecodable", "warning"),
    "ParseFailed": ("parse-failed", "error"),
    "MessageTooLargeTruncated": ("message-truncated", "warning"),
    "NestingTooDeep": ("nesting-too-deep", "warning"),
    "TooManyParts": ("too-many-parts", "warning"),
    "EmbeddedItemNotExpanded": ("embedded-item-not-expanded", "warning"),
}


def accounting_problems(message: Message, settings: Settings, context: MessageContext) -> list[ProblemRow]:
    """Problem rows for a message that is present but not wholly analysable."""
    rows: list[ProblemRow] = []
    if message.expunged:
        rows.append(_problem(message, "expunged-present", "info",
                             f"marked deleted/expunged but still present in the file ({message.flags or 'flags'})"))
    for defect in message.defects:
        name = defect.split(":", 1)[0].strip()
        if name in PROBLEM_DEFECTS:
            kind, severity = PROBLEM_DEFECTS[name]
            rows.append(_problem(message, kind, severity, defect))
    return _unique_kinds(rows)


def _problem(message: Message, kind: str, severity: str, reason: str) -> ProblemRow:
    loc = message.locator
    return ProblemRow(source_path=loc.source_path, source_sha256=loc.source_sha256,
                      locator=loc.display(), kind=kind, severity=severity, reason=reason,
                      message_sha256=message.message_sha256)


def _unique_kinds(rows: list[ProblemRow]) -> list[ProblemRow]:
    """One row per kind and place (the store's key); reasons of repeats are joined."""
    merged: dict[str, ProblemRow] = {}
    for row in rows:
        old = merged.get(row.kind)
        merged[row.kind] = replace(old, reason=f"{old.reason}; {row.reason}") if old else row
    return list(merged.values())
