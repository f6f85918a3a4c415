"""Stage 3 (tokens): the per-message analyser that stores the URL tokens worth keeping.

Which tokens are kept (``is_identifier_like``), the rule in one place:
- 6 to 2048 characters, no whitespace, not itself a URL;
- not word-like: letters with optional ``-``/``_``/``.`` separators ("newsletter",
  "spring-sale", "logo") are names, not identifiers, unless the value mixes upper and
  lower case over at least 16 characters (random base-52 strings look like that);
- at least 5 distinct characters ("000000", "1x1x1x" are padding, not identifiers);
- not a dimension ("600x400");
- not the binary-digest intermediate of a base64 value (the base64 text is kept).
Every value is still decoded and searched for leaks whether or not it is kept.

Alongside the tokens, one ``message_recipients`` row per message with URLs says who
sent it to whom and gives a fingerprint of its body without URLs and recipient
details, so the case-wide stage can compare copies of one newsletter.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar

from forensics.analyse import MessageContext, Settings
from forensics.leaks import Identity, message_identities, recipient_key
from forensics.providers import attribute_url
from forensics.records import FoundUrl, Message, Row
from forensics.store import register
from forensics.tokens.split import Token, is_web_url, url_tokens

MIN_TOKEN = 6
MAX_TOKEN = 2048
_WORDLIKE = re.compile(r"[A-Za-z]+(?:[-_. ][A-Za-z]+)*")
_DIMENSION = re.compile(r"\d{1,5}[xX]\d{1,5}")
_URLISH = re.compile(r"(?i)(?:https?(?::|%3a)|//|%2f%2f|www\.)")
# The lookahead lets the regex engine skip to candidate first letters (2.5x faster on bodies).
_BODY_URL = re.compile(r"(?i)(?=[hm/])(?:(?:https?:)?//[^\s\"'<>()]+|mailto:[^\s\"'<>()]+)")
# What ends a URL for _BODY_URL, and the characters whose lower case is not one character
# mapped alone (U+0130 gives two; U+03A3 depends on the next letter) or which _BODY_URL's
# IGNORECASE matches to an ASCII letter of its own (U+0131 "i", U+017F "s"): see below.
_URL_END = re.compile(r"[\s\"'<>()]")
_CASE_SPECIAL = re.compile("[\u0130\u0131\u017f\u03a3]")
_HAS_SPACE = re.compile(r"\s")  # the same characters as str.isspace, tested in C
_CLASSES = tuple((name, re.compile(pattern)) for name, pattern in (
    ("digits", r"[0-9]+"), ("hex", r"[0-9a-f]+|[0-9A-F]+"), ("alpha", r"[A-Za-z]+"),
    ("alnum", r"[A-Za-z0-9]+"), ("base64url", r"[A-Za-z0-9_-]+=*"), ("base64", r"[A-Za-z0-9+/]+=*"),
))


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class TokenRow(Row):
    """One identifier-like value in one URL of one message, at one decoding layer."""

    TABLE: ClassVar[str] = "url_tokens"
    KEY: ClassVar[tuple[str, ...]] = ("finding_id", "location", "chain")
    message_sha256: str
    finding_id: str
    slot: int  # the URL's position among the message's URLs (aligns copies of a newsletter)
    kind: str
    is_beacon: bool
    location: str
    chain: str  # decoding steps, " > "-joined; "" when the value is as written
    raw: str
    value: str
    length: int
    charclass: str
    entropy: float  # Shannon entropy, bits per character
    host: str
    registered_domain: str
    provider: str
    sender: str
    recipient: str


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class MessageRecipientRow(Row):
    """Who sent a message with URLs to whom, and its body's shape (for copy comparison)."""

    TABLE: ClassVar[str] = "message_recipients"
    KEY: ClassVar[tuple[str, ...]] = ("message_sha256",)
    message_sha256: str
    sender: str
    recipient: str
    identities: str
    body_shape: str


@lru_cache(maxsize=8192)  # a recipient's token recurs in every link of every message to them
def entropy(value: str) -> float:
    """Shannon entropy in bits per character, rounded so exports stay byte-stable."""
    if not value:
        return 0.0
    counts = Counter(value)
    n = len(value)
    return round(-sum(c / n * math.log2(c / n) for c in counts.values()) + 0.0, 3)


@lru_cache(maxsize=8192)
def charclass(value: str) -> str:
    """The narrowest of: digits, hex, alpha, alnum, base64url, base64, text."""
    for name, pattern in _CLASSES:
        if pattern.fullmatch(value):
            return name
    return "text"


def is_identifier_like(token: Token) -> bool:
    """Could this value identify someone or something? (The rule is in the module docstring.)"""
    value = token.value
    if token.binary or not MIN_TOKEN <= len(value) <= MAX_TOKEN or _HAS_SPACE.search(value):
        return False
    if _URLISH.match(value) or _DIMENSION.fullmatch(value) or len(set(value)) < 5:
        return False
    if _WORDLIKE.fullmatch(value):
        return len(value) >= 16 and value != value.lower() and value != value.upper()
    return True


def sender_key(message: Message) -> str:
    return message.from_[0].address.strip().lower() if message.from_ else ""


def body_shape(message: Message, identities: Sequence[Identity]) -> str:
    """SHA-256 of subject and bodies with URLs, recipient addresses and names removed.

    Two copies of one newsletter sent to different people have the same shape even
    when each is personalised ("Hi Alice") and every link carries their token.
    """
    text = "\n".join((message.subject or "", *message.html, *message.text))
    if not text.strip():
        return ""
    lowered = _lowered_without_urls(text)
    personal = {i.address for i in identities} | {i.key for i in identities}
    personal |= {i.key.partition("@")[0] for i in identities}
    personal |= {w for a in (*message.to, *message.cc) for w in a.name.split() if len(w) > 1}
    # Longest first, and items of one length in a fixed order: removing "abc" or "bcd" first
    # from "abcd" leaves different text, and a set's order changes with each process's hash seed.
    for item in sorted({p.lower() for p in personal if p}, key=lambda p: (-len(p), p)):
        lowered = lowered.replace(item, " ")
    # split() splits on exactly the characters \s matches: the same text as \s+ -> " ", stripped
    return hashlib.sha256(" ".join(lowered.split()).encode("utf-8")).hexdigest()


def _lowered_without_urls(text: str) -> str:
    """``_BODY_URL.sub(" ", text).lower()``, found with ``str.find`` instead of the regex, which
    stopped at every "h", "m" and "/" of the bodies (a third of the token stage on real mail).

    A match of _BODY_URL is a prefix ("http://", "https://", "//" or "mailto:") and the rest
    of the run of characters that cannot end a URL (_URL_END), so there is at most one per
    run: from its leftmost prefix followed by at least one more character of the run. Every
    prefix contains "//" or "mailto:". Without the _CASE_SPECIAL characters, ``lower`` maps
    each character alone to one character, keeps _URL_END and its complement apart, and gives
    a prefix letter exactly for the characters IGNORECASE matches to it (checked over every
    code point in tests/test_tokens_pass5.py), so the same spans are found in the lower-cased
    text, and replacing them there gives the same text.
    """
    if not text.isascii() and _CASE_SPECIAL.search(text):
        return _BODY_URL.sub(" ", text).lower()
    lowered = text.lower()
    pieces: list[str] = []
    copied = 0  # lowered[:copied] is in pieces
    slashes, mailto = lowered.find("//"), lowered.find("mailto:")
    while slashes >= 0 or mailto >= 0:
        if slashes >= 0 and (mailto < 0 or slashes < mailto):
            start, after = slashes, slashes + 2
            if slashes - 6 >= copied and lowered.startswith("https:", slashes - 6):
                start = slashes - 6
            elif slashes - 5 >= copied and lowered.startswith("http:", slashes - 5):
                start = slashes - 5
        else:
            start, after = mailto, mailto + 7
        end_match = _URL_END.search(lowered, after)
        end = end_match.start() if end_match else len(lowered)
        if end > after:  # a URL: from here to the end of the run
            pieces += (lowered[copied:start], " ")
            copied = end
            if slashes < end:
                slashes = lowered.find("//", end) if slashes >= 0 else -1
            if mailto < end:
                mailto = lowered.find("mailto:", end) if mailto >= 0 else -1
        elif start == mailto:  # the run ends with this prefix: no URL starts at it
            mailto = lowered.find("mailto:", mailto + 1)
        else:
            slashes = lowered.find("//", slashes + 1)
    pieces.append(lowered[copied:])
    return "".join(pieces)


def analyse_tokens(message: Message, settings: Settings, context: MessageContext) -> list[Row]:
    """Token rows for every web URL extraction found, and the message's recipient row."""
    urls = [(slot, u) for slot, u in enumerate(context.urls) if is_web_url(u.url)]
    if not urls:
        return []
    identities = message_identities(message, settings)
    sender, recipient = sender_key(message), recipient_key(identities, settings)
    rows: dict[tuple[str, str, str], Row] = {}
    for slot, found in urls:
        provider = attribute_url(found.url, found.host, message).provider
        for token in url_tokens(found.url, found.unwrapped):
            if is_identifier_like(token):
                row = _token_row(message, found, slot, token, provider, sender, recipient)
                rows.setdefault((row.finding_id, row.location, row.chain), row)
    head = MessageRecipientRow(
        message_sha256=message.message_sha256, sender=sender, recipient=recipient,
        identities="; ".join(i.key for i in identities), body_shape=body_shape(message, identities),
    )
    return [head, *(rows[k] for k in sorted(rows))]


def _token_row(
    message: Message, found: FoundUrl, slot: int, token: Token, provider: str, sender: str, recipient: str
) -> TokenRow:
    return TokenRow(
        message_sha256=message.message_sha256, finding_id=found.finding_id, slot=slot,
        kind=found.kind, is_beacon=found.is_beacon, location=token.location,
        chain=" > ".join(token.chain), raw=token.raw, value=token.value, length=len(token.value),
        charclass=charclass(token.value), entropy=entropy(token.value),
        host=found.host, registered_domain=found.registered_domain, provider=provider,
        sender=sender, recipient=recipient,
    )
