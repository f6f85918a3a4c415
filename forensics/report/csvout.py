"""Stage 5: CSV exports of the case: UTF-8, header row, stable order, formulas neutralised.

``QUERIES`` names the exports that need more than the bare table (joins, derived
columns); stages add their entries here. Every other table of the case is exported as
it is (see ``tables.export_plan``), and a query whose tables are absent is skipped.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from forensics.correlate import metrics as correlate_metrics
from forensics.extract import export as extract_export
from forensics.report.safe import FORMULA_START
from forensics.report.tables import Keyed, export_plan, iter_rows
from forensics.store import Store

FIRST_OCCURRENCE = """
    (SELECT rowid FROM occurrences o2 WHERE o2.message_sha256 = m.message_sha256
     ORDER BY o2.source_path, o2.member, o2.folder, o2.node_id, o2.offset, o2.part LIMIT 1)
"""

QUERIES: dict[str, str] = {
    "messages": f"""
        SELECT m.message_sha256, m.hash_basis, m.parent_sha256, o.source_path, o.source_sha256,
               o.locator, o.format, m.message_id, m.date_raw, m.date_utc, m.from_addr, m.from_name,
               m.sender, m.reply_to, m.to_addrs, m.cc_addrs, m.delivered_to, m.subject,
               m.return_path, m.list_id, m.list_unsubscribe, m.dkim_domains, m.received_count,
               m.headers_synthetic, m.html_source, m.html_parts, m.text_parts, m.attachment_count,
               m.message_class, o.flags, o.labels, o.expunged, m.status, m.defect_count, m.defects,
               (SELECT COUNT(*) FROM occurrences c WHERE c.message_sha256 = m.message_sha256) AS copies
        FROM messages m JOIN occurrences o ON o.rowid = {FIRST_OCCURRENCE}
        ORDER BY o.source_path, o.member, o.folder, o.node_id, o.offset, o.part, m.message_sha256
    """,
    "occurrences": """
        SELECT message_sha256, source_path, source_sha256, locator, locator_kind, offset, length,
               member, folder, node_id, part, format, envelope, flags, labels, expunged
        FROM occurrences ORDER BY source_path, member, folder, node_id, offset, part, message_sha256
    """,
    "problems": """
        SELECT source_path, source_sha256, locator, kind, severity, reason, message_sha256
        FROM problems ORDER BY source_path, locator, kind, reason, source_sha256
    """,
    "attachments": """
        SELECT message_sha256, idx, filename, content_type, size, sha256
        FROM attachments ORDER BY message_sha256, idx
    """,
    "leaks": """
        SELECT l.message_sha256, m.from_addr, m.subject, l.finding_id, l.kind, l.is_beacon,
               l.identity, l.identity_sources, l.variant, l.chain, l.layers, l.location,
               l.written, l.matched, l.host, l.registered_domain, l.receivers, l.provider,
               l.party, l.url, l.unwrapped
        FROM leaks l LEFT JOIN messages m ON m.message_sha256 = l.message_sha256
        ORDER BY l.message_sha256, l.finding_id, l.location, l.identity
    """,
    "tokens": """
        SELECT value, role, evidence, messages, recipients, senders, pair_messages,
               copies_compared, copies_differing, length, charclass, entropy, sender_list,
               provider_list, host_list, locations, chains
        FROM tokens ORDER BY role, value
    """,
    # extraction (forensics/extract/export.py): every remote resource, the beacons among
    # them, every link and every header finding
    "resources": extract_export.RESOURCES,
    "beacons": extract_export.BEACONS,
    "links": extract_export.LINKS,
    "header_findings": extract_export.HEADER_FINDINGS,
    # correlation metrics (forensics/correlate/metrics.py), in reading order
    **correlate_metrics.EXPORTS,
}


# Cheaper forms of some named queries, same rows in the same order (``tables.export_sql``).
KEYED: dict[str, Keyed] = dict(extract_export.KEYED)


def write_query_csv(store: Store, sql: str, path: Path) -> int:
    """Write a query's result as CSV; returns the number of data rows."""
    header, rows = iter_rows(store.conn, sql)
    count = 0
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv_writer(handle, header)
        for row in rows:
            writer.writerow(csv_cells(row))
            count += 1
    return count


class TextChunks:
    """A text sink that keeps what it is given (a csv writer's file), to be written out in one
    call per batch of rows instead of one per row."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.write = self.parts.append

    def drain(self) -> str:
        text = "".join(self.parts)
        self.parts.clear()
        return text


def csv_writer(handle: TextIO, header: list[str]) -> Any:
    """A CSV writer on an open file (newline=""), the header row written."""
    writer = csv.writer(handle, lineterminator="\r\n")
    writer.writerow(header)
    return writer


_FORMULA_FIRST = frozenset(FORMULA_START)  # each a single character


def csv_cells(row: Sequence[object]) -> Sequence[object]:
    """``neutralise_cell`` of every value, inline: this runs for every cell of the case. Most
    rows need nothing changed, and are returned as they are."""
    for v in row:
        if isinstance(v, str) and v[:1] in _FORMULA_FIRST:
            return ["'" + v if isinstance(v, str) and v.startswith(FORMULA_START) else v for v in row]
    return row


def write_csvs(store: Store, out: Path, queries: dict[str, str] | None = None) -> list[Path]:
    """One CSV per export of the case (named queries, then the other tables)."""
    written: list[Path] = []
    for export in export_plan(store.conn, QUERIES if queries is None else queries):
        path = out / f"{export.name}.csv"
        write_query_csv(store, export.sql, path)
        written.append(path)
    return written
