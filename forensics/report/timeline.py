"""Stage 5: a timeline CSV that Timesketch imports: one row per clock a message carries.

Timesketch needs ``message``, ``datetime`` (ISO 8601) and ``timestamp_desc``; every other
column is kept as an attribute. Each message gives one row per clock it records: the
``Date:`` header, each ``Received:`` hop, and the mbox ``From_`` line. Events are sorted
on disk (a temporary SQLite database), so memory stays bounded on large cases.
"""

from __future__ import annotations

import csv
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from forensics.report.safe import neutralise_cell
from forensics.store import Store

COLUMNS = (
    "message", "datetime", "timestamp", "timestamp_desc", "message_sha256", "subject",
    "from_addr", "to_addrs", "message_id", "source_path", "source_sha256", "locator",
    "clock_raw",
)

_MESSAGES = """
    SELECT m.message_sha256, m.subject, m.from_addr, m.to_addrs, m.message_id, m.date_raw,
           m.date_utc, m.received_json, o.source_path, o.source_sha256, o.locator, o.envelope
    FROM messages m JOIN occurrences o ON o.message_sha256 = m.message_sha256
    ORDER BY m.message_sha256, o.source_path, o.source_sha256, o.locator
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    when: datetime
    desc: str
    raw: str


def _utc(value: datetime) -> datetime:
    # A clock without a zone is read as UTC; the description says so.
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _iso(value: str) -> datetime | None:
    try:
        return _utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        return None


def date_event(date_raw: str, date_utc: str) -> Event | None:
    when = _iso(date_utc) if date_utc else None
    return Event(when=when, desc="Date header (sent)", raw=date_raw) if when else None


def received_events(received_json: str) -> list[Event]:
    """One event per Received hop with a readable date (hop 1 is the earliest)."""
    try:
        hops = json.loads(received_json or "[]")
    except ValueError:
        return []
    events: list[Event] = []
    for hop in hops if isinstance(hops, list) else []:
        when = _iso(str(hop.get("date_utc") or "")) if isinstance(hop, dict) else None
        if when is not None:
            desc = f"Received hop {hop.get('hop', '?')} by {hop.get('by') or '?'}"
            events.append(Event(when=when, desc=desc, raw=str(hop.get("date") or "")))
    return events


def envelope_event(envelope: str) -> Event | None:
    """The date of an mbox ``From_`` line (``sender asctime``; no zone, read as UTC)."""
    line = envelope or ""
    line = line[5:] if line.startswith("From ") else line  # with or without the "From " marker
    parts = line.split(None, 1)
    if len(parts) != 2:
        return None
    text = " ".join(parts[1].split())
    for fmt in ("%a %b %d %H:%M:%S %Y", "%a %b %d %H:%M:%S %z %Y", "%a %b %d %H:%M %Y"):
        try:
            when = _utc(datetime.strptime(text, fmt))
        except ValueError:
            continue
        return Event(when=when, desc="mbox From_ line (no time zone, read as UTC)", raw=text)
    return None


def message_events(row: sqlite3.Row) -> Iterator[Event]:
    first = date_event(row["date_raw"], row["date_utc"])
    if first:
        yield first
    yield from received_events(row["received_json"])
    envelope = envelope_event(row["envelope"])
    if envelope:
        yield envelope


def _summary(row: sqlite3.Row, event: Event) -> str:
    sender = row["from_addr"] or "(no sender)"
    subject = row["subject"] or "(no subject)"
    return f"{event.desc}: {subject} from {sender}"


def _spool(store: Store, spool: sqlite3.Connection) -> None:
    spool.execute(f"CREATE TABLE e ({', '.join(c + ' ' for c in COLUMNS)})")
    marks = ", ".join("?" for _ in COLUMNS)
    for row in store.query(_MESSAGES):
        for event in message_events(row):
            spool.execute(f"INSERT INTO e VALUES ({marks})", (
                _summary(row, event), event.when.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
                int(event.when.timestamp()) * 1_000_000, event.desc, row["message_sha256"],
                row["subject"], row["from_addr"], row["to_addrs"], row["message_id"],
                row["source_path"], row["source_sha256"], row["locator"], event.raw,
            ))


def write_timeline(store: Store, path: Path) -> int:
    """Write ``timeline.csv`` sorted by time; returns the number of events."""
    spool = sqlite3.connect("")  # "" = a private temporary database on disk
    try:
        _spool(store, spool)
        rows = spool.execute(f"SELECT {', '.join(COLUMNS)} FROM e ORDER BY {', '.join(COLUMNS[1:])}, message")
        count = 0
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, lineterminator="\r\n")
            writer.writerow(COLUMNS)
            for row in rows:
                writer.writerow([neutralise_cell(v) for v in row])
                count += 1
        return count
    finally:
        spool.close()
