"""``body_shape``'s URL removal without the regex gives the regex's text.

``_lowered_without_urls(text)`` stands for ``_BODY_URL.sub(" ", text).lower()``; its
docstring says why that holds, and these tests check each step of the argument: the
per-character facts over every code point, then whole texts (every SpamAssassin body,
generated ones built from the pieces that matter).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from forensics.ingest import READERS, plan_input
from forensics.parse import parse_rfc5322
from forensics.tokens.rows import _BODY_URL, _CASE_SPECIAL, _URL_END, _lowered_without_urls

SPAMASSASSIN = "spamassassin-public-corpus/spamassassin-public-corpus-all.mbox"
_EVERY = "".join(chr(cp) for cp in range(sys.maxunicode + 1))
_ORDINARY = "".join(ch for ch in _EVERY if not _CASE_SPECIAL.match(ch))


def _reference(text: str) -> str:
    return _BODY_URL.sub(" ", text).lower()


def test_ordinary_characters_lower_alone_to_one_character() -> None:
    assert len(_ORDINARY.lower()) == len(_ORDINARY)
    # no context: each character lowers as it does alone (U+03A3, final sigma, is special)
    assert _ORDINARY.lower() == "".join(ch.lower() for ch in _ORDINARY)


def test_lowering_keeps_url_ends_apart() -> None:
    lowered = _ORDINARY.lower()
    ends = {m.start() for m in _URL_END.finditer(_ORDINARY)}
    assert ends == {m.start() for m in _URL_END.finditer(lowered)}


def test_a_prefix_letter_is_matched_exactly_where_its_lower_case_is_that_letter() -> None:
    lowered = _ORDINARY.lower()
    for letter in set("https:/mailto"):
        insensitive = {m.start() for m in re.finditer(re.escape(letter), _ORDINARY, re.IGNORECASE)}
        assert insensitive == {i for i, ch in enumerate(lowered) if ch == letter}, letter


def test_the_special_characters_are_special() -> None:
    assert len("\u0130".lower()) == 2
    assert "A\u03a3 ".lower() != "A\u03a3b".lower()[:2] + " "
    assert re.fullmatch("(?i)i", "\u0131") and re.fullmatch("(?i)s", "\u017f")


def test_urls_go_and_the_rest_is_lower_case() -> None:
    text = "See HTTPS://Example.com/a?b=1 or //cdn.x/y, mailto:Bob@X.org; http:// and MAILTO: stay. é"
    # "," and ";" do not end a URL; a prefix with nothing after it is no URL
    assert _lowered_without_urls(text) == "see   or     http:// and mailto: stay. é" == _reference(text)


_PIECES = st.sampled_from([
    "http", "https", "HTTP", "hTtPs", ":", "//", "/", "///", "mailto", "MAILTO", "mailto:", "x", "A", " ", "\n",
    '"', "'", "<", ">", "(", ")", "\u0130", "\u0131", "\u017f", "\u03a3", "\u212a", "\xe9", "\xdf", "\u2028",
    "\x85", "\xa0", "tp://", "ps:", "ttp", "\u1e9e",
])


@settings(max_examples=5000, deadline=None)
@given(st.lists(_PIECES, max_size=16).map("".join))
def test_generated_texts_lose_what_the_regex_removes(text: str) -> None:
    assert _lowered_without_urls(text) == _reference(text)


def test_every_spamassassin_body_loses_what_the_regex_removes(corpus: Path) -> None:
    planned = plan_input(corpus / SPAMASSASSIN)  # through the reader: evidence opened read-only
    texts = 0
    for shard in planned.shards:
        for raw in READERS[shard.reader].read(shard):
            for message in parse_rfc5322(raw):
                text = "\n".join((message.subject or "", *message.html, *message.text))
                texts += 1
                assert _lowered_without_urls(text) == _reference(text)
    assert texts > 6_000
