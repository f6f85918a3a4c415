"""Builders shared by the report tests: a small case with every kind of finding.

The finding tables are created here the way the extraction, provider, token and leak
stages describe them, so the report is tested on all its sections even before (and
independently of) those stages. Nothing here is a test.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from forensics.analyse import Settings
from forensics.correlate.metrics import compute_metrics
from forensics.pipeline import ScanOptions, scan
from forensics.store import Store

HOSTILE_SUBJECT = '"><img src=http://127.0.0.1:{port}/x>'
FORMULA_SUBJECT = '=HYPERLINK("http://127.0.0.1:{port}/f","click")'
SCRIPT_NAME = "<script>fetch('http://127.0.0.1:{port}/s')</script>"


def mbox_message(sender: str, subject: str, date: str, html: str, to: str = "victim@example.org") -> bytes:
    return (
        f"From {sender.split('<')[-1].rstrip('>')} Mon Jan  1 10:00:00 2024\n"
        f"From: {sender}\nTo: {to}\nSubject: {subject}\nDate: {date}\n"
        "Received: from mx.example.net by mail.example.org; " + date + "\n"
        "MIME-Version: 1.0\nContent-Type: text/html; charset=utf-8\n\n" + html + "\n\n"
    ).encode("utf-8")


def hostile_mbox(port: int) -> bytes:
    """Three messages whose header fields try to run code in a browser or spreadsheet."""
    pixel = f'<img src="http://127.0.0.1:{port}/pixel.gif" width="1" height="1">'
    return b"".join([
        mbox_message(f'"{SCRIPT_NAME.format(port=port)}" <news@shop.example>',
                     HOSTILE_SUBJECT.format(port=port), "Mon, 1 Jan 2024 10:00:00 +0000", pixel),
        mbox_message("Bank <info@bank.example>", FORMULA_SUBJECT.format(port=port),
                     "Thu, 15 Feb 2024 08:30:00 +0100", "<p>statement</p>"),
        mbox_message("=cmd|' /C calc'!A0 <x@plus.example>", "+sum(1,2)",
                     "Fri, 1 Mar 2024 12:00:00 +0000", "<p>hi</p>"),
    ])


def scan_case(evidence: Path, out: Path, workers: int = 1) -> None:
    scan([evidence], ScanOptions(out=out, workers=workers, settings=Settings()))


def _messages(store: Store) -> list[tuple[str, str]]:
    return list(store.conn.execute("SELECT message_sha256, from_addr FROM messages ORDER BY message_sha256"))


def insert(conn: sqlite3.Connection, table: str, row: dict[str, object], key: tuple[str, ...]) -> None:
    """Insert a row into a table a stage registered, or create the table as described."""
    present = [r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')]
    if not present:
        conn.execute(f'CREATE TABLE "{table}" ({", ".join(row)}, PRIMARY KEY ({", ".join(key)}))')
        present = list(row)
    names = [n for n in row if n in present]
    conn.execute(f'INSERT OR IGNORE INTO "{table}" ({", ".join(names)}) VALUES ({", ".join("?" * len(names))})',
                 [row[n] for n in names])


def add_findings(out: Path, port: int = 9) -> None:
    """Known beacons, links, leaks and tokens on every message of a scanned case.

    Whatever the real stages found is replaced, so the report's figures are known exactly.
    """
    with Store(out) as store, store.conn:
        conn = store.conn
        for table in ("resources", "beacons", "links", "leaks", "tokens"):
            if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone():
                conn.execute(f'DELETE FROM "{table}"')
        for i, (sha, _sender) in enumerate(_messages(store)):
            provider = ["Mailchimp", "SendGrid", ""][i % 3]
            url = f"http://127.0.0.1:{port}/o/{sha[:12]}?u==cmd|calc"
            insert(conn, "resources", {
                "finding_id": f"{sha[:16]}-r00000", "message_sha256": sha, "seq": 0, "part": 0,
                "location": "img@src", "element": "img", "url": url, "resolved": url, "unwrapped": url,
                "host": "127.0.0.1", "registered_domain": "127.0.0.1", "signals": "size<=2px; id-in-path",
                "confidence": 0.9, "is_beacon": 1, "party": "third-party", "provider": provider,
                "provider_layer": "host" if provider else "unknown",
                "provider_rule": f"{provider.lower()}.open" if provider else "",
                "provider_reason": "host rule" if provider else ""}, ("finding_id",))
            insert(conn, "links", {
                "finding_id": f"{sha[:16]}-l00000", "message_sha256": sha, "seq": 0, "part": 0,
                "location": "a@href", "url": f"http://127.0.0.1:{port}/c?to=https://shop.example/",
                "unwrapped": "https://shop.example/", "host": "127.0.0.1", "registered_domain": "127.0.0.1",
                "classification": "tracked-redirect", "provider": "SendGrid", "provider_layer": "path",
                "provider_rule": "sendgrid.click", "provider_reason": "path shape"}, ("finding_id",))
            insert(conn, "leaks", {
                "message_sha256": sha, "finding_id": f"{sha[:16]}-r00000", "slot": 0, "kind": "resource",
                "is_beacon": 1, "location": "query[u]", "identity": "victim@example.org",
                "chain": ["md5", "base64", "sha256 > hex"][i % 3], "url": url, "unwrapped": url,
                "host": "127.0.0.1", "registered_domain": "127.0.0.1", "provider": provider,
                "party": "third-party"}, ("finding_id", "location", "identity"))
        insert(conn, "tokens", {"value": "abc123", "role": "recipient-identifier", "messages": 3,
                                "senders": 2, "sender_list": "shop.example"}, ("value",))
    with Store(out) as store:
        compute_metrics(store, Settings())  # the report reads the metrics of these findings
