"""Fast paths of parsing give what the slow paths give.

``parse.simple_addresses`` stands in for ``email.utils.getaddresses`` on plain address
lists: it must return the same pairs, or None (the caller then asks the stdlib).
``parse._split_multipart`` finds delimiter lines without compiling a pattern per boundary:
it must cut every body where the former per-boundary pattern cut it.
Charset detection is cached on the bytes it reads: the same answer, computed once.
``parse.message_from_bytes`` runs the stdlib feedparser without compiling a pattern per
boundary: it must give the stdlib's message tree, part by part.
"""

from __future__ import annotations

import email
import re
from collections.abc import Iterator
from email.message import Message as EmailMessage
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses
from pathlib import Path

import pytest
from charset_normalizer import from_bytes
from hypothesis import given, settings
from hypothesis import strategies as st

from forensics import textdecode
from forensics.ingest import READERS, plan_input
from forensics.parse import (
    _drop_final_eol,
    _FeedparserRe,
    _fetched,
    _Separator,
    _split_multipart,
    decode_header_value,
    message_from_bytes,
    simple_addresses,
)
from forensics.records import RawMessage
from forensics.textdecode import known_charset

SPAMASSASSIN = Path("spamassassin-public-corpus/spamassassin-public-corpus-all.mbox")
ADDRESS_HEADERS = ("from", "sender", "reply-to", "to", "cc", "delivered-to", "x-original-to",
                   "envelope-to", "x-envelope-to", "return-path", "bcc", "resent-from", "resent-to")


def spamassassin_messages(corpus: Path) -> Iterator[RawMessage]:
    """Every message of the SpamAssassin mbox as the scan reads it (skips when it is absent)."""
    mbox = corpus / SPAMASSASSIN
    if not mbox.is_file():
        pytest.skip(f"{mbox} not found")
    for shard in plan_input(mbox).shards:
        yield from READERS[shard.reader].read(shard)


def _same(values: list[str]) -> bool:
    fast = simple_addresses(values)
    return fast is None or fast == getaddresses(values)


@pytest.mark.parametrize(("values", "expected"), [
    (["a@b.example"], [("", "a@b.example")]),
    (["John Q. Public <jq@x.example>, \"Doe, J\" <d@e.example>"],
     [("John Q. Public", "jq@x.example"), ("Doe, J", "d@e.example")]),
    (['"a"b <x@y.example>'], [("a b", "x@y.example")]),
    (["<x@y.example>", "Jos\u00e9 <j@x.example>"], [("", "x@y.example"), ("Jos\u00e9", "j@x.example")]),
    (["a@b.example,"], [("", "a@b.example")]),
    ([""], []),
    (["harley@argote.ch (Robert  Harley), b@c.example()"], [("Robert  Harley", "harley@argote.ch"), ("", "b@c.example")]),
    (['"a (b)" <x@y.example>'], [("a (b)", "x@y.example")]),
    (["x  y <a@b.example> , c@d.example  "], [("x y", "a@b.example"), ("", "c@d.example")]),
])
def test_plain_lists_are_read_without_the_stdlib(values: list[str], expected: list[tuple[str, str]]) -> None:
    assert simple_addresses(values) == expected == getaddresses(values)


@pytest.mark.parametrize("value", [
    "a@b, ,c@d", "a b", "Name (comment) <a@b>", "group: a@b;", "<@route:a@b>", "a@[1.2.3.4]",
    '"a\\"b" <a@b>', "a @b", "\x0b@a", "x\xa0y <a@b>", "a@b\x1c", "a@b (c) d", "a@b (c (d))", "Name <a@b> (c)", "(c) a@b", "<a@b c>", "a@b@c", "a.@b", "<>", " ", "a@b\r\n c@d",
])
def test_anything_else_goes_to_the_stdlib(value: str) -> None:
    assert simple_addresses([value]) is None


_PIECES = st.sampled_from(["a", "b.c", "@", "<", ">", ",", " ", "\t", '"', "x y", ".", "\u00e9",
                           "\\", "(", ")", ":", ";", "[", "]", "\r", "\n", "\x0b", "\xa0", "\x1c", "d@e.f", "N <g@h>"])


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.lists(_PIECES, max_size=12).map("".join), min_size=1, max_size=3))
def test_generated_lists_read_as_the_stdlib_reads_them(values: list[str]) -> None:
    assert _same(values)


def test_every_header_of_the_spamassassin_mbox_reads_as_the_stdlib_reads_it(corpus: Path) -> None:
    parser = BytesHeaderParser(policy=compat32)
    messages = fast = 0
    for raw in spamassassin_messages(corpus):
        messages += 1
        heads: dict[str, list[str]] = {}
        for name, value in parser.parsebytes(raw.data).items():
            heads.setdefault(name.lower(), []).append(decode_header_value(value))
        for name, values in heads.items():  # every header, not only address headers
            assert _same(values), (raw.locator, name, values)
            fast += name in ADDRESS_HEADERS and simple_addresses(values) is not None
    assert messages == 6046
    assert fast > 22_000  # the fast path is the common case (97% of address headers), not the exception


def _split_by_regex(body: bytes, boundary: bytes) -> list[bytes]:
    """The former ``parse._split_multipart``: one pattern compiled per boundary."""
    delimiter = re.compile(rb"(?:^|(?<=\n)|(?<=\r))--" + re.escape(boundary) + rb"(--)?[ \t]*(\r\n|\n|\r|$)", re.MULTILINE)
    pieces: list[bytes] = []
    start: int | None = None
    for match in delimiter.finditer(body):
        if start is not None:
            pieces.append(_drop_final_eol(body[start:match.start()]))
        if match.group(1):
            return pieces
        start = match.end()
    if start is not None:
        pieces.append(body[start:])
    return pieces


@pytest.mark.parametrize("body", [
    b"--b\r\none\r\n--b\r\ntwo\r\n--b--\r\n", b"pre\n--b\none\n--b  \ntwo\n--b--", b"--b\rx\r--b--",
    b"x--b\n--bb\n--b\n\n--b\t--\n", b"--b", b"", b"--b--b\n--b\n", b"\n--b--  \nafter\n--b\nlate",
])
def test_multipart_bodies_split_as_the_per_boundary_pattern_splits_them(body: bytes) -> None:
    assert _split_multipart(body, b"b") == _split_by_regex(body, b"b")


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.sampled_from([b"--b", b"--", b"b", b"\n", b"\r", b"\r\n", b" ", b"\t", b"x", b"-b"]),
                max_size=25).map(b"".join))
def test_generated_bodies_split_as_the_per_boundary_pattern_splits_them(body: bytes) -> None:
    assert _split_multipart(body, b"b") == _split_by_regex(body, b"b")


def test_every_multipart_of_the_spamassassin_mbox_splits_as_before(corpus: Path) -> None:
    split = 0
    for raw in spamassassin_messages(corpus):
        boundary = re.search(rb'boundary="?([^";\r\n]+)', raw.data, re.IGNORECASE)
        if boundary:
            body = raw.data.partition(b"\n\n")[2]
            assert _split_multipart(body, boundary.group(1)) == _split_by_regex(body, boundary.group(1))
            split += 1
    assert split > 500


def test_raw_headers_decode_as_the_parsed_items_decode(corpus: Path) -> None:
    """``parse._fetched`` skips compat32's surrogate check for ASCII values only."""
    parser = BytesHeaderParser(policy=compat32)
    wrapped = 0
    for raw in spamassassin_messages(corpus):
        msg = parser.parsebytes(raw.data)
        fast = [(k, decode_header_value(_fetched(msg, k, v))) for k, v in msg.raw_items()]
        assert fast == [(k, decode_header_value(v)) for k, v in msg.items()], raw.locator
        wrapped += sum(not isinstance(v, str) for _, v in msg.items())
    assert wrapped > 0  # raw 8-bit headers are in the corpus, and still go through the policy


def test_charset_detection_runs_once_per_body_and_answers_as_charset_normalizer(
        monkeypatch: pytest.MonkeyPatch) -> None:
    body = "Größe über Straße, naïve café".encode("cp1252") * 7
    best = from_bytes(body).best()
    assert best is not None
    textdecode._detect.cache_clear()
    calls: list[bytes] = []

    def counted(data: bytes) -> object:
        calls.append(data)
        return from_bytes(data)

    monkeypatch.setattr(textdecode, "from_bytes", counted)
    answers = {textdecode.detect_charset(b) for b in (body, bytearray(body), memoryview(body), body)}
    assert answers == {known_charset(best.encoding)} and calls == [body]
    head = body * 3000  # beyond the 64 KiB detection reads: the head decides
    assert textdecode.detect_charset(head) == known_charset(from_bytes(head[:65536]).best().encoding)


def _tree(msg: EmailMessage) -> list[object]:
    """Everything the stdlib parser gives of a message, part by part."""
    return [(part.get_content_type(), part.items(), part.preamble, part.epilogue,
             [type(d).__name__ for d in part.defects],
             None if part.is_multipart() else part.get_payload()) for part in msg.walk()]


def _same_tree(data: bytes) -> bool:
    return _tree(message_from_bytes(data)) == _tree(email.message_from_bytes(data, policy=compat32))


@pytest.mark.parametrize("boundary", ["b", "a.b(c)+d", "x\\y", "=_Part_0_1.2", "?*[]{}|^$ #~&-", "é"])
def test_the_separator_matcher_matches_as_the_stdlib_pattern(boundary: str) -> None:
    separator = "--" + boundary
    pattern = re.compile("(?P<sep>" + re.escape(separator) + r")(?P<end>--)?(?P<ws>[ \t]*)(?P<linesep>\r\n|\r|\n)?$")
    fast = _FeedparserRe.compile(pattern.pattern)
    assert isinstance(fast, _Separator)
    for tail in ("", "--", "--  \r\n", " \t\n", "\r", "\r\n", "x", "--x", "\n\n", "- -", "  --\n"):
        for line in (separator + tail, "x" + separator + tail, separator[:-1] + tail):
            slow, quick = pattern.match(line), fast.match(line)
            assert (slow is None) == (quick is None), line
            if slow and quick:
                assert [slow.group(g) for g in ("end", "ws", "linesep")] == [quick.group(g) for g in ("end", "ws", "linesep")]
    assert not isinstance(_FeedparserRe.compile(r"(?P<sep>a)b"), _Separator)  # other patterns: re.compile's


@settings(max_examples=1000, deadline=None)
@given(st.sampled_from(["b", "a.b", "(x)"]),
       st.lists(st.sampled_from(["--{b}", "--{b}--", "\n", "\r\n", "\r", " ", "\t", "x",
                                 "Content-Type: text/plain\n", "Content-Type: multipart/mixed; boundary=\"{b}\"\n",
                                 "--", "{b}"]), max_size=20).map("".join))
def test_generated_multiparts_parse_as_the_stdlib_parses_them(boundary: str, body: str) -> None:
    head = f'Content-Type: multipart/mixed; boundary="{boundary}"\n\n'
    assert _same_tree((head + body.replace("{b}", boundary)).encode())


def test_every_spamassassin_message_parses_as_the_stdlib_parses_it(corpus: Path) -> None:
    compared = 0
    for raw in spamassassin_messages(corpus):
        assert _same_tree(raw.data), raw.locator
        compared += 1
    assert compared == 6046
