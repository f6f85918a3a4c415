"""RFC 5322 bytes to Message: every field of the record, charsets, nested messages, defects."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest

from forensics.parse import parse_rfc5322
from forensics.records import Address, Attachment, Locator, Message, RawMessage
from forensics.textdecode import decode_body

LOC = Locator(source_path="box", source_sha256="f" * 64, kind="offset", offset=0, length=10)

FULL = (
    b"Return-Path: <bounce@esp.example.net>\n"
    b"Delivered-To: alice@example.org\n"
    b"X-Original-To: alice+shop@example.org\n"
    b"Received: from mx.esp.example.net (mx.esp.example.net [192.0.2.1]) by mx.example.org"
    b" with ESMTPS id X1; Mon, 15 Jan 2024 09:00:03 +0000\n"
    b"DKIM-Signature: v=1; a=rsa-sha256; d=Shop.Example.com; s=k1;\n h=from; bh=AA; b=BB\n"
    b"Message-ID: <m1@shop.example.com>\n"
    b"Date: Mon, 15 Jan 2024 10:00:00 +0100\n"
    b"From: =?utf-8?q?Caf=C3=A9_Shop?= <news@shop.example.com>\n"
    b"Sender: esp@esp.example.net\n"
    b"Reply-To: help@shop.example.com\n"
    b"To: Alice <alice@example.org>, bob@example.net\n"
    b"Cc: carol@example.net\n"
    b"Subject: =?iso-8859-1?q?Soldes_d'=E9t=E9?=\n"
    b"List-Id: Shop news <news.shop.example.com>\n"
    b"List-Unsubscribe: <https://shop.example.com/u?x=1>\n"
    b"MIME-Version: 1.0\n"
    b"Content-Type: multipart/mixed; boundary=b1\n\n"
    b"--b1\nContent-Type: text/html; charset=iso-8859-1\n\n<p>\xe9t\xe9</p>\n"
    b"--b1\nContent-Type: text/plain\n\nplain\n"
    b"--b1\nContent-Type: application/pdf; name=r.pdf\nContent-Disposition: attachment; filename=r.pdf\n"
    b"Content-Transfer-Encoding: base64\n\nJVBERi0=\n"
    b"--b1--\n"
)


def parse(data: bytes) -> list[Message]:
    return parse_rfc5322(RawMessage(data=data, locator=LOC, format="mbox", envelope="From x"))


def test_every_field_of_the_record() -> None:
    (m,) = parse(FULL)
    assert m.message_sha256 == hashlib.sha256(FULL).hexdigest()
    assert m.hash_basis == "raw-rfc5322"
    assert m.message_id == "<m1@shop.example.com>"
    assert (m.date_raw, m.date_utc) == ("Mon, 15 Jan 2024 10:00:00 +0100", "2024-01-15T09:00:00Z")
    assert m.from_ == (Address(name="Café Shop", address="news@shop.example.com"),)
    assert m.sender == (Address(name="", address="esp@esp.example.net"),)
    assert m.reply_to == (Address(name="", address="help@shop.example.com"),)
    assert [a.address for a in m.to] == ["alice@example.org", "bob@example.net"]
    assert [a.address for a in m.cc] == ["carol@example.net"]
    assert m.delivered_to == ("alice@example.org", "alice+shop@example.org")
    assert m.envelope_from == "From x"
    assert m.subject == "Soldes d'été"
    assert m.return_path == "<bounce@esp.example.net>"
    assert m.list_id == "Shop news <news.shop.example.com>"
    assert m.list_unsubscribe == "<https://shop.example.com/u?x=1>"
    assert m.dkim_domains == ("shop.example.com",)
    assert len(m.received) == 1
    (hop,) = json.loads(m.received_json)
    assert hop["by"].startswith("mx.example.org")
    assert m.html == ("<p>été</p>",)
    assert m.text == ("plain",)
    assert m.attachments == (Attachment(filename="r.pdf", content_type="application/pdf", size=5,
                                        sha256=hashlib.sha256(b"%PDF-").hexdigest()),)
    assert m.defects == ()


@pytest.mark.parametrize(
    ("data", "declared", "is_html", "expected"),
    [
        ("été".encode("iso-8859-1"), "iso-8859-1", False, ("été", "iso8859-1", False)),  # MIME
        ('<meta charset="windows-1251"><p>\xcf\xf0\xe8\xe2\xe5\xf2</p>'.encode("latin-1"), None, True,
         ('<meta charset="windows-1251"><p>Привет</p>', "cp1251", False)),  # <meta>
        ("naïve".encode(), None, False, ("naïve", "utf-8", False)),  # UTF-8
        ("été".encode("utf-8"), "bogus-charset", False, ("été", "utf-8", False)),  # unknown declared
    ],
)
def test_charset_mime_then_meta_then_utf8(data: bytes, declared: str | None, is_html: bool,
                                          expected: tuple[str, str, bool]) -> None:
    assert decode_body(data, declared, is_html=is_html) == expected


def test_charset_detection_when_nothing_else_fits() -> None:
    text, charset, replaced = decode_body("Größe über Straße".encode("cp1252") * 5, None, is_html=False)
    assert "Größe über Straße" in text and replaced is False and charset != "utf-8"


def test_nested_message_is_its_own_record_hashed_on_its_raw_bytes() -> None:
    inner = b"From: news@esp.example.net\nSubject: inner\nContent-Type: text/html\n\n<img src=x>\n"
    outer = (b"From: carol@example.net\nSubject: Fwd\nContent-Type: multipart/mixed; boundary=o\n\n"
             b"--o\nContent-Type: text/plain\n\nsee attached\n"
             b"--o\nContent-Type: message/rfc822\n\n" + inner + b"\n--o--\n")
    parent, child = parse(outer)
    assert child.parent_sha256 == parent.message_sha256
    assert child.message_sha256 == hashlib.sha256(inner).hexdigest()
    assert child.hash_basis == "nested-rfc822-raw"
    assert child.locator.part == "2"
    assert child.subject == "inner" and child.html == ("<img src=x>\n",)
    assert child.envelope_from is None
    assert parent.attachments == ()


def test_base64_encoded_nested_message_is_decoded() -> None:
    inner = b"From: a@example.net\nSubject: b64 inner\n\nx\n"
    outer = (b"From: c@example.net\nContent-Type: multipart/mixed; boundary=o\n\n"
             b"--o\nContent-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n"
             + base64.encodebytes(inner) + b"--o--\n")
    _parent, child = parse(outer)
    assert (child.subject, child.hash_basis) == ("b64 inner", "nested-rfc822-base64-decoded")
    assert child.message_sha256 == hashlib.sha256(inner).hexdigest()


def test_defects_are_recorded_and_hostile_input_never_raises() -> None:
    (m,) = parse(b"From: " + b"(" * 5000 + b"a@b\nDate: 32 Foo 2024\nSubject: deep\n\nx\n")
    assert m.defects == ("InvalidDateHeader", "AddressUnparsed:From")
    assert m.subject == "deep"


def test_unparseable_message_still_gets_a_record(monkeypatch: pytest.MonkeyPatch) -> None:
    import forensics.parse as parse_module

    def boom(*_args: object, **_kwargs: object) -> None:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(parse_module, "message_from_bytes", boom)
    (m,) = parse(b"Subject: x\n\ny\n")
    assert m.defects == ("ParseFailed: RecursionError",)
    assert m.message_sha256 == hashlib.sha256(b"Subject: x\n\ny\n").hexdigest()


def test_eight_bit_header_and_bom() -> None:
    (m,) = parse(b"\xef\xbb\xbfSubject: Gro\xdfe Rabatte\nFrom: a@example.net\n\nx\n")
    assert m.subject == "Große Rabatte"
    assert m.defects == ("LeadingByteOrderMark",)


@pytest.mark.parametrize(("date", "utc", "defects"), [
    # RFC 5322 4.3: a three-digit year adds 1900 (Y2K-bug mailers wrote C's tm_year, some zero-padded)
    ("Thu, 22 Aug 102 12:07:35 +0800", "2002-08-22T04:07:35Z", ("ThreeDigitYear",)),
    ("Thu, 22 Aug 0102 12:07:35 +0800", "2002-08-22T04:07:35Z", ("ThreeDigitYear",)),
    # two digits: the stdlib adds 1900 from 69 (the RFC from 50; no e-mail predates 1969)
    ("Sun, 22 Aug 99 12:07:35 +0000", "1999-08-22T12:07:35Z", ()),
    ("Sun, 22 Aug 2024 12:07:35 -0000", "2024-08-22T12:07:35Z", ("DateWithoutZone",)),
    # 29 February 400 exists, 29 February 2300 does not: no date rather than a wrong one
    ("Tue, 29 Feb 0400 12:00:00 +0000", None, ("ThreeDigitYear", "InvalidDateHeader")),
])
def test_date_years_are_read_as_rfc_5322_says(date: str, utc: str | None, defects: tuple[str, ...]) -> None:
    (m,) = parse(b"From: a@b.example\nDate: " + date.encode() + b"\nSubject: d\n\nx\n")
    assert (m.date_raw, m.date_utc, m.defects) == (date, utc, defects)
