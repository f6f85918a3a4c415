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

from forensics.report.csvout import TextChunks, csv_cells
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


def _events(date_raw: str, date_utc: str, received_json: str, envelope: str) -> Iterator[Event]:
    first = date_event(date_raw, date_utc)
    if first:
        yield first
    yield from received_events(received_json)
    last = envelope_event(envelope)
    if last:
        yield last


def _datetime_text(when: datetime) -> str:
    """``when.strftime("%Y-%m-%dT%H:%M:%S+00:00")``, formatted here for the years every C library
    writes with four digits (strftime costs a tenth of the timeline); years before 1000 (Y2K-bug
    dates) still go through strftime, whose padding of them depends on the platform."""
    if when.year < 1000:
        return when.strftime("%Y-%m-%dT%H:%M:%S+00:00")
    return (f"{when.year}-{when.month:02d}-{when.day:02d}T{when.hour:02d}:{when.minute:02d}:"
            f"{when.second:02d}+00:00")


def _event_rows(conn: sqlite3.Connection) -> Iterator[tuple[object, ...]]:
    """Every event as a row of ``COLUMNS``; its ``message`` says what the clock is, then the
    subject and the sender. Plain tuples: this runs once per clock of the case."""
    for (sha, subject, from_addr, to_addrs, message_id, date_raw, date_utc, received_json, source_path,
         source_sha256, locator, envelope) in conn.execute(_MESSAGES):
        about = f": {subject or '(no subject)'} from {from_addr or '(no sender)'}"
        for event in _events(date_raw, date_utc, received_json, envelope):
            when = event.when
            yield (event.desc + about, _datetime_text(when), int(when.timestamp()) * 1_000_000,
                   event.desc, sha, subject, from_addr, to_addrs, message_id, source_path, source_sha256, locator,
                   event.raw)


def _spool(conn: sqlite3.Connection, spool: sqlite3.Connection) -> None:
    spool.execute(f"CREATE TABLE e ({', '.join(c + ' ' for c in COLUMNS)})")
    spool.executemany(f"INSERT INTO e VALUES ({', '.join('?' for _ in COLUMNS)})", _event_rows(conn))


def write_timeline(store: Store, path: Path) -> int:
    """Write ``timeline.csv`` sorted by time; returns the number of events."""
    return write_timeline_from(store.conn, path)


def write_timeline_from(conn: sqlite3.Connection, path: Path) -> int:
    """``write_timeline`` from a connection to the case (a report helper's, read-only)."""
    spool = sqlite3.connect("")  # "" = a private temporary database on disk
    try:
        _spool(conn, spool)
        rows = spool.execute(f"SELECT {', '.join(COLUMNS)} FROM e ORDER BY {', '.join(COLUMNS[1:])}, message")
        count = 0
        with open(path, "w", newline="", encoding="utf-8") as handle:
            sink = TextChunks()
            writer = csv.writer(sink, lineterminator="\r\n")
            writer.writerow(COLUMNS)
            while batch := rows.fetchmany(1024):
                writer.writerows([csv_cells(row) for row in batch])  # neutralise_cell of each value
                handle.write(sink.drain())
                count += len(batch)
            handle.write(sink.drain())
        return count
    finally:
        spool.close()
