"""The fifth pass's fast paths in parsing give what the slower code they replace gives.

Each fast path is compared with the code it stands for: mail-parser's own Received lexer
and chain parser, the stdlib's ``get_content_charset`` and ``json.dumps``, the unfolding
regex and ``strftime``; on every SpamAssassin message when the corpus is there, and on
generated and hostile inputs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import Message as EmailMessage
from email.policy import compat32
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mailparser.exceptions import MailParserReceivedParsingError
from mailparser.received import split_received as slow_split
from mailparser.utils import receiveds_parsing

from forensics.ingest import READERS, plan_input
from forensics.parse import (
    _FOLD,
    _HOPS_JSON,
    _content_charset,
    _iter_parts,
    _parse_date,
    decode_header_value,
    iso_utc,
    message_from_bytes,
)
from forensics.received import _single_spaced, _skip_comment, parse_chain, split_received

SPAMASSASSIN = "spamassassin-public-corpus/spamassassin-public-corpus-all.mbox"


def _outcome(fn, value):  # type: ignore[no-untyped-def]
    try:
        return fn(value)
    except MailParserReceivedParsingError as e:
        return ("raised", str(e))


def _spamassassin(corpus: Path) -> Iterator[EmailMessage]:
    planned = plan_input(corpus / SPAMASSASSIN)  # through the reader: evidence opened read-only
    for shard in planned.shards:
        for raw in READERS[shard.reader].read(shard):
            yield message_from_bytes(raw.data)


# ---------------------------------------------------------------- Received


@pytest.mark.parametrize("value", [
    "2020-01-02 03:04:05.123456789 +0000 UTC m=+1.000000001 by x",  # a SendGrid date at the start
    "from a (b) 2020-01-02 03:04:05.123456789 +0000 UTC m=+1.5 id c",  # ... right after a comment
    "by a id 1 2 2020-01-02 03:04:05.123456789 +0000 UTC m=+1.5 with b 2021-01-02 03:04:05.1 +0000 UTC m=+2.5",
    "from a(b)by c(d)with e(f)id g(h)for <i>; Tue, 1 Jan 2002 00:00:00 +0000",  # keywords after ')'
    "from a (b (c) d) by e; f", "from a (b) (c)by d; e", "from a ((b)) by c", "from a (b", "from a (b (c) d",
    "from\ta\r\n\tby\tb\r\n\twith\tc; d", "by a with cipher x id b", "with cipher", "from a by b 1x id c",
])
def test_odd_hops_split_as_mail_parser_splits_them(value: str) -> None:
    assert _outcome(split_received, value) == _outcome(slow_split, value)


@pytest.mark.parametrize(("value", "index"), [
    ("a) b", 0), ("a (b) c) d", 0), ("a (b (c)", 0), ("", 0), ("a(", 0), (")", 0), ("x(y)z)", 2),
])
def test_comment_skipping_nests(value: str, index: int) -> None:
    depth, expected = 1, -1
    for position in range(index, len(value)):  # the rule, character by character
        depth += {"(": 1, ")": -1}.get(value[position], 0)
        if depth == 0:
            expected = position + 1
            break
    assert _skip_comment(value, index) == expected


@settings(max_examples=2000, deadline=None)
@given(st.text(alphabet=" \t\r\nab  ", max_size=20))
def test_runs_of_white_space_collapse_as_the_regex_collapses_them(text: str) -> None:
    import re

    assert _single_spaced(text) == re.sub(r"[ \t\r\n]+", " ", text)


def test_every_spamassassin_received_header_splits_as_mail_parser_splits_it(corpus: Path) -> None:
    headers = fast = 0
    for message in _spamassassin(corpus):
        for value in message.get_all("Received") or []:
            header = decode_header_value(value)
            headers += 1
            if header.isascii() and '"' not in header and "\\" not in header:  # the fast lexer's headers
                fast += 1
                assert _outcome(split_received, header) == _outcome(slow_split, header), header
    assert headers > 30_000 and fast > 0.9 * headers


def test_every_spamassassin_received_chain_parses_as_mail_parser_parses_it(corpus: Path) -> None:
    chains = 0
    for message in _spamassassin(corpus):
        chain = [decode_header_value(v) for v in message.get_all("Received") or []]
        if chain:
            chains += 1
            hops = parse_chain(chain)
            assert hops == receiveds_parsing(chain), chain
            assert _HOPS_JSON.encode(hops) == json.dumps(hops, sort_keys=True, ensure_ascii=False, default=str)
    assert chains > 5_000


def test_the_hops_encoder_writes_what_json_dumps_writes() -> None:
    hops = [{"by": "ä\u2028\"x\"", "delay": 1.5, "hop": 1, "date_utc": None, "when": datetime(2002, 1, 1, tzinfo=UTC)},
            {"raw": "\x00\ud800", "delay": float("nan"), "hop": 2, "a": [1, {"b": True}]}]
    assert _HOPS_JSON.encode(hops) == json.dumps(hops, sort_keys=True, ensure_ascii=False, default=str)


# ---------------------------------------------------------------- header values and dates


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet="ab \t\r\n=?", max_size=24))
def test_unfolding_removes_what_the_fold_pattern_removes(value: str) -> None:
    expected = _FOLD.sub("", value) if "\n" in value or "\r" in value else value
    assert decode_header_value(value) == expected or "=?" in value


def test_every_spamassassin_header_unfolds_as_the_fold_pattern_unfolds_it(corpus: Path) -> None:
    folded = 0
    for message in _spamassassin(corpus):
        for _name, value in message.raw_items():
            if isinstance(value, str) and value.isascii() and "=?" not in value:
                folded += "\n" in value
                assert decode_header_value(value) == _FOLD.sub("", value)
    assert folded > 10_000


@settings(max_examples=3000, deadline=None)
@given(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)))
def test_dates_are_written_as_strftime_wrote_them(moment: datetime) -> None:
    utc = moment.replace(tzinfo=UTC)
    assert iso_utc(utc) == f"{utc.year:04d}-{utc:%m-%dT%H:%M:%S}Z"


def test_a_date_header_in_utc() -> None:
    defects: list[str] = []
    raw = "Tue, 20 Aug 2002 16:04:05 +0100 (IST)"
    assert _parse_date({"date": [raw]}, defects) == (raw, "2002-08-20T15:04:05Z")
    assert _parse_date({"date": ["Mon, 1 Jan 0099 00:00:00 +0000"]}, defects)[1] == "1999-01-01T00:00:00Z"
    assert defects == []


# ---------------------------------------------------------------- content charsets


@pytest.mark.parametrize("header", [
    'text/plain; charset="UTF-8"', "text/plain; charset=ISO-8859-1", "text/plain", "text/html; charset=",
    "text/plain; charset*=utf-8''%75%74%66%2D%38", "text/plain; charset*=x-unknown''abc",
    "text/plain; charset*0=ut; charset*1=f-8", 'text/plain; charset="\udce9"', "text/plain; charset=\udce9",
    "text/plain; CHARSET=Windows-1252; format=flowed", "text/plain;; charset = us-ascii ;", "garbage",
])
def test_the_charset_is_the_stdlibs(header: str) -> None:
    for headers in ([("Content-Type", header)], [("content-type", header), ("Content-Type", "text/plain; charset=koi8-r")],
                    [("Subject", "x")]):
        part = EmailMessage(policy=compat32)
        for name, value in headers:
            part.set_raw(name, value)
        assert _content_charset(part) == part.get_content_charset()


def test_every_spamassassin_part_has_the_stdlibs_charset(corpus: Path) -> None:
    parts = 0
    for message in _spamassassin(corpus):
        found, types = _iter_parts(message)
        assert types == [p.get_content_type() for p in found]
        for part in found:
            parts += 1
            assert _content_charset(part) == part.get_content_charset()
    assert parts > 7_000  # 7,036 parts in 6,046 messages
