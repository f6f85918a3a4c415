"""Received dates read as mail-parser reads them (``parse_mail_date(raw).value``).

``received.date_value`` skips mail-parser's per-character comment scanner when a date has
no comment and copies the rest of its steps; it must select the same UTC datetime, or none.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mailparser.dates import parse_mail_date

from forensics.ingest import READERS, plan_input
from forensics.received import date_value

SPAMASSASSIN = Path("spamassassin-public-corpus/spamassassin-public-corpus-all.mbox")


@pytest.mark.parametrize("raw", [
    "Tue, 20 Aug 2002 16:04:05 +0100", "  Tue,\n\t20 Aug 2002 16:04:05 +0100 (IST)", "20 Aug 02 16:04 GMT",
    "Thu, 1 Jan 1970 00:00:60 -0000", "Mon, 31 Feb 2002 10:00:00 +0000", "Mon, 1 Jan 2002 24:00:00 +0000",
    "Mon, 1 Jan 2002 10:00:00 +2460", "Mon, 1 Jan 2002 10:00:00+0100", "Mon, 1 Jan 2002 10:00:00 J",
    "Mon, 1 Jan 2002 10:00:00 XYZ", "1 Jan 0002 10:00:00 +0000", "1 Jan 099 10:00:00 +0000",
    "1 Jan 99999 10:00:00 +0000", "31 Dec 9999 23:59:59 -2359", "1 Jan 0001 00:00:00 +0000", "", "junk",
    "Mon, 1 Jan 2002 10:00:00 +0100)", "Sat, 24 Aug 2002 10 : 00 : 01 EDT",
])
def test_dates_read_as_mail_parser_reads_them(raw: str) -> None:
    assert date_value(raw) == parse_mail_date(raw).value


_PIECES = st.sampled_from(["Mon", "Sun", ",", " ", "\t", "\r\n ", "1", "01", "31", "29", "Feb", "jan", "2002",
                           "02", "1899", "10", ":", "59", "60", "+0100", "-0000", "+1", "GMT", "EDT", "J", "z",
                           "(", ")", "(UTC)", "x"])


@settings(max_examples=4000, deadline=None)
@given(st.lists(_PIECES, max_size=16).map("".join))
def test_generated_dates_read_as_mail_parser_reads_them(raw: str) -> None:
    assert date_value(raw) == parse_mail_date(raw).value


def test_every_received_date_of_the_spamassassin_mbox(corpus: Path) -> None:
    mbox = corpus / SPAMASSASSIN
    if not mbox.is_file():
        pytest.skip(f"{mbox} not found")
    dates = set()
    for shard in plan_input(mbox).shards:
        for raw in READERS[shard.reader].read(shard):
            head = raw.data.split(b"\n\n", 1)[0].decode("latin-1")
            dates.update(line.rpartition(";")[2] for line in head.replace("\n\t", " ").replace("\n ", " ")
                         .splitlines() if line.lower().startswith("received:") and ";" in line)
    assert len(dates) > 20_000
    for raw in dates:
        assert date_value(raw) == parse_mail_date(raw).value, raw
