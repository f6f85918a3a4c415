"""The fast Received-chain parser gives exactly what mail-parser gives, or raises what it raises."""

from __future__ import annotations

import itertools
from email import message_from_bytes
from email.policy import compat32
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mailparser.exceptions import MailParserReceivedParsingError
from mailparser.received import split_received as slow_split
from mailparser.utils import receiveds_parsing

from forensics.ingest import READERS, plan_input
from forensics.parse import decode_header_value
from forensics.received import parse_chain, split_received

SPAMASSASSIN = "spamassassin-public-corpus/spamassassin-public-corpus-all.mbox"


def _outcome(fn, value):  # type: ignore[no-untyped-def]
    try:
        return fn(value)
    except MailParserReceivedParsingError as e:
        return ("raised", str(e))


def test_a_postfix_hop() -> None:
    value = ("from mail.example.com (mail.example.com [192.0.2.1])\n\tby mx.example.org (Postfix) with ESMTP"
             " id 4F1A2\n\tfor <alice@example.org>; Tue, 20 Aug 2002 16:04:05 +0100 (IST)")
    assert split_received(value) == slow_split(value) == (
        [("from", "mail.example.com (mail.example.com [192.0.2.1])"), ("by", "mx.example.org (Postfix)"),
         ("with", "ESMTP"), ("id", "4F1A2"), ("for", "<alice@example.org>")],
        "Tue, 20 Aug 2002 16:04:05 +0100 (IST)")


@pytest.mark.parametrize("value", [
    "from a (b (c) d by e", "from a) by b; x", "from a [b by c", "from <a <b>> by c", "from <a by b",
    "from a by b id c; for <d>; Tue, 1 Jan 2002 00:00:00 +0000", "from a; b; c", "by x with cipher AES id 1; d",
    "(from a) by b", "from a(by b)with c", "", "   ", "x y z",
    "by x id 1 2020-01-02 03:04:05.123456789 +0000 UTC m=+1.000000001",
    "from a by b (envelope-from <x@y>) with c; d", "from a envelope-sender <s@t> by b; d", "FROM A BY B; d",
])
def test_odd_hops_split_as_mail_parser_splits_them(value: str) -> None:
    assert _outcome(split_received, value) == _outcome(slow_split, value)


_PIECES = st.sampled_from(["from", "by", "via", "with", "id", "for", "envelope-from", "cipher", "x", "mx.a",
                           "1", "2020-01-02 03:04:05.123456789 +0000 UTC m=+1.5", "(", ")", "[", "]", "<", ">",
                           ";", " ", "\n\t", "<a@b>", "Tue, 1 Jan 2002 00:00:00 +0000"])


@settings(max_examples=3000, deadline=None)
@given(st.lists(_PIECES, max_size=24).map("".join))
def test_generated_hops_split_as_mail_parser_splits_them(value: str) -> None:
    assert _outcome(split_received, value) == _outcome(slow_split, value)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(_PIECES, max_size=16).map("".join), min_size=1, max_size=4))
def test_generated_chains_parse_as_mail_parser_parses_them(chain: list[str]) -> None:
    assert parse_chain(chain) == receiveds_parsing(chain)


def test_non_ascii_and_quoted_hops_go_to_mail_parser_whole() -> None:
    chain = ['from "a b" by c; Tue, 1 Jan 2002 00:00:00 +0000', "from é by d; Tue, 1 Jan 2002 00:00:01 +0000"]
    assert parse_chain(chain) == receiveds_parsing(chain)


def test_every_received_chain_of_the_first_spamassassin_messages(corpus: Path) -> None:
    planned = plan_input(corpus / SPAMASSASSIN)  # read through the reader: evidence opened read-only
    chains = fast = 0
    # the first 1,000 messages, however many shards the planner cuts them into
    raws = (raw for shard in planned.shards for raw in READERS[shard.reader].read(shard))
    for raw in itertools.islice(raws, 1000):
        message = message_from_bytes(raw.data, policy=compat32)
        chain = [decode_header_value(v) for v in message.get_all("Received") or []]
        if chain:
            chains += 1
            fast += all(r.isascii() and '"' not in r and "\\" not in r for r in chain)
            assert parse_chain(chain) == receiveds_parsing(chain), chain
    assert chains > 500
    assert fast > 0.9 * chains  # the fast lexer is the one that was checked
