"""Builders shared by the report tests: a small case with every kind of finding.

The finding tables are created here the way the extraction, provider, token and leak
stages describe them, so the report is tested on all its sections even before (and
independently of) those stages. Nothing here is a test.
"""

from __future__ import annotations

from pathlib import Path

from forensics.analyse import Settings
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


def add_findings(out: Path, port: int = 9) -> None:
    """Beacons, links, leaks and tokens on every message of a scanned case (as later stages would)."""
    with Store(out) as store, store.conn:
        conn = store.conn
        conn.execute("CREATE TABLE IF NOT EXISTS beacons (finding_id TEXT PRIMARY KEY, message_sha256 TEXT,"
                     " location TEXT, url TEXT, unwrapped TEXT, host TEXT, registered_domain TEXT,"
                     " signals TEXT, confidence REAL, party TEXT, provider TEXT, layer TEXT, rule_id TEXT)")
        conn.execute("CREATE TABLE IF NOT EXISTS links (finding_id TEXT PRIMARY KEY, message_sha256 TEXT,"
                     " url TEXT, unwrapped TEXT, host TEXT, registered_domain TEXT, provider TEXT,"
                     " layer TEXT, rule_id TEXT)")
        conn.execute("CREATE TABLE IF NOT EXISTS leaks (finding_id TEXT, message_sha256 TEXT, url TEXT,"
                     " host TEXT, provider TEXT, identity TEXT, encoding_chain TEXT, party TEXT,"
                     " PRIMARY KEY (finding_id, identity, encoding_chain))")
        conn.execute("CREATE TABLE IF NOT EXISTS tokens (token TEXT, role TEXT, messages INTEGER,"
                     " senders TEXT, PRIMARY KEY (token))")
        for i, (sha, sender) in enumerate(_messages(store)):
            provider = ["Mailchimp", "SendGrid", ""][i % 3]
            url = f"http://127.0.0.1:{port}/o/{sha[:12]}?u==cmd|calc"
            conn.execute("INSERT OR IGNORE INTO beacons VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", (
                f"{sha[:16]}:r0", sha, "img@src", url, url, "127.0.0.1", "127.0.0.1",
                "size<=2px; id-in-path", 0.9, "third", provider, "host" if provider else "unknown",
                f"{provider.lower()}.open" if provider else ""))
            conn.execute("INSERT OR IGNORE INTO links VALUES (?,?,?,?,?,?,?,?,?)", (
                f"{sha[:16]}:l0", sha, f"http://127.0.0.1:{port}/c?to=https://shop.example/",
                "https://shop.example/", "127.0.0.1", "127.0.0.1", "SendGrid", "path", "sendgrid.click"))
            conn.execute("INSERT OR IGNORE INTO leaks VALUES (?,?,?,?,?,?,?,?)", (
                f"{sha[:16]}:r0", sha, url, "127.0.0.1", provider, "victim@example.org",
                ["md5", "base64", "sha256>hex"][i % 3], "third"))
        conn.execute("INSERT OR IGNORE INTO tokens VALUES ('abc123', 'recipient identifier', 3, 'shop.example')")
