"""Header-level tracking: read-receipt requests and tokens in List-Unsubscribe."""

from __future__ import annotations

import json

from forensics.analyse import MessageContext, Settings
from forensics.extract.headers import header_findings
from forensics.extract.rows import HeaderFindingRow
from forensics.extract.stage import analyse_extraction
from forensics.parse import parse_rfc5322
from forensics.records import Locator, RawMessage

RAW = b"""\
From: Shop News <news@shop.example.com>
To: alice@example.org
Subject: Spring sale
Disposition-Notification-To: tracking@shop.example.com
Return-Receipt-To: <receipts@shop.example.com>
X-Confirm-Reading-To: reading@shop.example.com
Generate-Delivery-Report: yes
List-Unsubscribe: <mailto:unsub-8f3a2c91d4e5b607@lists.esp.example?subject=unsubscribe>,
 <https://esp.example/unsubscribe/4f9c2d1e-8b7a-4c5d-9e0f-1a2b3c4d5e6f?list=spring>
List-Unsubscribe-Post: List-Unsubscribe=One-Click
Content-Type: text/plain

Hello
"""


def message():  # type: ignore[no-untyped-def]
    raw = RawMessage(data=RAW, format="eml", locator=Locator(source_path="m.eml", source_sha256="0" * 64, kind="file"))
    return parse_rfc5322(raw)[0]


def test_read_receipts_and_unsubscribe_tokens() -> None:
    found = header_findings(message())
    assert [(f.header, f.kind, f.url, [i.label() for i in f.identifiers], f.signals) for f in found] == [
        ("Disposition-Notification-To", "read-receipt", "", [], ("read-receipt-requested",)),
        ("Return-Receipt-To", "read-receipt", "", [], ("read-receipt-requested",)),
        ("X-Confirm-Reading-To", "read-receipt", "", [], ("read-receipt-requested",)),
        ("Generate-Delivery-Report", "delivery-report", "", [], ("delivery-report-requested",)),
        ("List-Unsubscribe", "list-unsubscribe", "mailto:unsub-8f3a2c91d4e5b607@lists.esp.example?subject=unsubscribe",
         ["mailto-local=8f3a2c91d4e5b607 (hex)"],
         ("list-unsubscribe", "token:mailto-local=8f3a2c91d4e5b607 (hex)")),
        ("List-Unsubscribe", "list-unsubscribe",
         "https://esp.example/unsubscribe/4f9c2d1e-8b7a-4c5d-9e0f-1a2b3c4d5e6f?list=spring",
         ["path[1]=4f9c2d1e-8b7a-4c5d-9e0f-1a2b3c4d5e6f (uuid)"],
         ("list-unsubscribe", "token:path[1]=4f9c2d1e-8b7a-4c5d-9e0f-1a2b3c4d5e6f (uuid)", "one-click-post")),
    ]


def test_header_rows_and_their_urls_for_later_stages() -> None:
    context = MessageContext()
    rows = [r for r in analyse_extraction(message(), Settings(), context) if isinstance(r, HeaderFindingRow)]
    assert [(r.finding_id[16:], r.kind, r.value, r.host, r.party) for r in rows] == [
        ("-h00000", "read-receipt", "tracking@shop.example.com", "", "unknown"),
        ("-h00001", "read-receipt", "<receipts@shop.example.com>", "", "unknown"),
        ("-h00002", "read-receipt", "reading@shop.example.com", "", "unknown"),
        ("-h00003", "delivery-report", "yes", "", "unknown"),
        ("-h00004", "list-unsubscribe", "mailto:unsub-8f3a2c91d4e5b607@lists.esp.example?subject=unsubscribe",
         "lists.esp.example", "third"),
        ("-h00005", "list-unsubscribe", "https://esp.example/unsubscribe/4f9c2d1e-8b7a-4c5d-9e0f-1a2b3c4d5e6f"
         "?list=spring", "esp.example", "third"),
    ]
    assert json.loads(rows[5].signals)[-1] == "one-click-post"
    assert [(u.kind, u.url) for u in context.urls] == [
        ("header", "mailto:unsub-8f3a2c91d4e5b607@lists.esp.example?subject=unsubscribe"),
        ("header", "https://esp.example/unsubscribe/4f9c2d1e-8b7a-4c5d-9e0f-1a2b3c4d5e6f?list=spring"),
    ]
