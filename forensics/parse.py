"""Stage 2: RFC 5322 bytes -> ``Message`` records (the message and its nested messages).

The stdlib parser with the compat32 policy is used because it is the fastest
lenient parser available and records defects instead of raising; mail-parser
parses the Received chain. Nothing here raises on bad mail: trouble becomes a
defect on the record.
"""

from __future__ import annotations

import binascii
import email.feedparser
import hashlib
import json
import quopri
import re
import types
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timezone
from email.feedparser import FeedParser
from email.header import Header, decode_header
from email.message import Message as EmailMessage
from email.policy import compat32
from email.utils import getaddresses, parsedate_to_datetime
from functools import lru_cache
from io import StringIO

from forensics.received import parse_chain
from forensics.records import Address, Attachment, Locator, Message, RawMessage
from forensics.textdecode import decode_body, known_charset

MAX_NESTING = 20  # message/rfc822 inside message/rfc822; deeper is a defect, not a crash
MAX_PARTS = 2000  # parts walked per message; the rest is reported, not analysed
MAX_MIME_DEPTH = 100  # multipart inside multipart; deeper parts are reported, not analysed
# The stdlib parser holds about ten times a header line in memory, and its RFC 2047 and
# parameter decoders are quadratic in a value's length: header lines and the header block
# are cut to these sizes before parsing (the message hash still covers every byte).
MAX_HEADER_LINE = 64 * 1024
MAX_HEADER_BYTES = 1024 * 1024
# The stdlib parser keeps one object per line (about 80 bytes and 2 us each): a message of
# 256 MB of empty lines would need gigabytes. Real messages have fewer lines than this
# (256 MB of base64 is 3.4 million); the rest of a longer one is reported, not parsed.
MAX_LINES = 5_000_000
DECODE_PIECE = 16 * 1024  # RFC 2047 decoding in pieces of this many characters (linear time)
PARSE_SECONDS = 120.0  # per message, where a timer signal can interrupt the parser
_DKIM_D = re.compile(r"(?:^|;)\s*d\s*=\s*([^;\s]+)", re.I)
_BOM = b"\xef\xbb\xbf"
_SURROGATE = re.compile("[\udc80-\udcff]")
_FOLD = re.compile(r"\r?\n(?=[ \t])|\r(?=[ \t])")
_BLANK_LINE = re.compile(rb"\r\n\r\n|\n\n|\r\r|\n\r\n")
# What the stdlib says of a multipart header block parsed without its body.
_BODYLESS_ARTEFACTS = frozenset({"StartBoundaryNotFoundDefect", "MultipartInvariantViolationDefect",
                                 "CloseBoundaryNotFoundDefect"})
_COUNT_BLOCK = 1 << 20
_EOL = re.compile(rb"\r\n|\n|\r")
_PIECE_CUT = re.compile(r"\s|\?==\?")
_DELIMITER_TAIL = re.compile(rb"(--)?[ \t]*(?:\r\n|\n|\r|\Z)")  # after "--boundary" (RFC 2046 5.1.1)
_LINE_ENDS = b"\r\n"


def parse_rfc5322(raw: RawMessage) -> list[Message]:
    """Parse one message; nested message/rfc822 parts follow it in the list.

    Never raises: a message the parser cannot handle still gets a record (its hash,
    locator and a ``ParseFailed`` defect), so nothing read is lost.
    """
    out: list[Message] = []
    _parse_into(raw.data, raw, raw.locator, None, 0, out, "raw-rfc5322")
    return out


def _parse_into(
    data: bytes, raw: RawMessage, locator: Locator, parent: str | None, depth: int,
    out: list[Message], basis: str,
) -> None:
    digest = hashlib.sha256(data).hexdigest()
    nested: list[tuple[str, bytes, str]] = []
    try:
        message = _with_time_limit(data, digest, raw, locator, parent, nested, basis)
    except Exception as e:  # noqa: BLE001 - hostile input (deep recursion...) must still leave a record
        message = _headers_only(data, digest, raw, locator, parent, basis, e)
        nested = []
    if depth >= MAX_NESTING and nested:
        message = replace(message, defects=message.defects + ("NestingTooDeep",))
        nested = []
    out.append(message)
    for part_path, part_bytes, part_basis in nested:
        _parse_into(part_bytes, raw, replace(locator, part=_join_part(locator.part, part_path)),
                    digest, depth + 1, out, part_basis)


def _with_time_limit(
    data: bytes, digest: str, raw: RawMessage, locator: Locator, parent: str | None,
    nested: list[tuple[str, bytes, str]], basis: str,
) -> Message:
    # Imported here: forensics.ingest imports this module (the Outlook readers parse headers).
    from forensics.ingest._timeout import run_with_alarm

    return run_with_alarm(_parse_one, data, digest, raw, locator, parent, nested, basis, seconds=PARSE_SECONDS)


def _parse_one(
    data: bytes, digest: str, raw: RawMessage, locator: Locator, parent: str | None,
    nested: list[tuple[str, bytes, str]], basis: str,
) -> Message:
    extra: list[str] = []
    if data.startswith(_BOM):  # a byte-order mark would turn the first header into junk
        data = data[len(_BOM):]
        extra.append("LeadingByteOrderMark")
    data, cut = bound_header(data)
    data, many = bound_lines(data)
    extra += [d for d in (cut, many) if d]
    email_msg = message_from_bytes(data)
    message = _build(email_msg, data, digest, raw, locator, parent, nested, basis)
    return replace(message, defects=tuple(extra) + message.defects) if extra else message


# ---------------------------------------------------------------- the stdlib parser
# ``email.message_from_bytes(data, policy=compat32)``, except for one step: the stdlib
# feedparser compiles a pattern for the boundary of every multipart entity it meets
# (``'(?P<sep>' + re.escape(separator) + tail``, ~0.1 ms each: 3.5% of the CPU of a
# generated mbox, whose boundaries are all different). Its own ``_parsegen`` code runs
# here with a ``re`` whose ``compile`` gives, for that pattern alone, a matcher testing
# the literal separator with ``str.startswith`` and the tail with one pattern compiled
# once: the same matches. Any other pattern (another Python's) is ``re.compile``'s.
_SEPARATOR_OPEN = "(?P<sep>"
_SEPARATOR_TAIL = r")(?P<end>--)?(?P<ws>[ \t]*)(?P<linesep>\r\n|\r|\n)?$"
_BOUNDARY_TAIL = re.compile(_SEPARATOR_TAIL[1:])
_ESCAPED = re.compile(r"\\(.)", re.DOTALL)


class _Separator:
    """``re.compile('(?P<sep>' + re.escape(separator) + _SEPARATOR_TAIL)`` as the feedparser
    uses it: ``match(line)`` and the groups ``end``, ``ws`` and ``linesep``."""

    __slots__ = ("separator",)

    def __init__(self, separator: str) -> None:
        self.separator = separator

    def match(self, line: str) -> re.Match[str] | None:
        if not line.startswith(self.separator):
            return None
        return _BOUNDARY_TAIL.match(line, len(self.separator))


class _FeedparserRe:
    """The ``re`` module as the feedparser's ``_parsegen`` sees it (see above)."""

    escape = staticmethod(re.escape)

    @staticmethod
    def compile(pattern: str, flags: int = 0) -> re.Pattern[str] | _Separator:
        if not flags and pattern.startswith(_SEPARATOR_OPEN) and pattern.endswith(_SEPARATOR_TAIL):
            escaped = pattern[len(_SEPARATOR_OPEN):-len(_SEPARATOR_TAIL)]
            separator = _ESCAPED.sub(r"\1", escaped)
            if re.escape(separator) == escaped:  # the pattern is exactly the separator, literally
                return _Separator(separator)
        return re.compile(pattern, flags)


def _feedparser_class() -> type[FeedParser]:
    """The stdlib feedparser with its ``_parsegen`` code run with ``_FeedparserRe`` as ``re``;
    the stdlib's own class where ``_parsegen`` (private) is not a plain function any more."""
    parsegen = getattr(FeedParser, "_parsegen", None)
    if not isinstance(parsegen, types.FunctionType):
        return FeedParser
    fast = types.FunctionType(parsegen.__code__, {**vars(email.feedparser), "re": _FeedparserRe},
                              "_parsegen", parsegen.__defaults__, parsegen.__closure__)
    return type("_FeedParser", (FeedParser,), {"_parsegen": fast})


_FeedParser = _feedparser_class()


def message_from_bytes(data: bytes) -> EmailMessage:
    """``email.message_from_bytes(data, policy=compat32)``: the same steps (``BytesParser``,
    ``Parser.parse``: ASCII with surrogate escapes, fed in pieces of 8,192 characters)."""
    parser = _FeedParser(policy=compat32)
    text = StringIO(data.decode("ASCII", errors="surrogateescape"))
    while piece := text.read(8192):
        parser.feed(piece)
    return parser.close()


def bound_header(data: bytes) -> tuple[bytes, str]:
    """``data`` with its header lines cut to ``MAX_HEADER_LINE`` bytes and its header block to
    ``MAX_HEADER_BYTES`` (whole lines), and the defect saying so ("" when nothing was cut)."""
    if len(data) <= MAX_HEADER_LINE:
        return data, ""
    match = _BLANK_LINE.search(data)
    end = match.start() if match else len(data)
    if end <= MAX_HEADER_LINE:
        return data, ""
    kept: list[bytes] = []
    size = start = 0
    for eol in _header_eols(data, end):  # lines found in place, never copied whole (200 MB...)
        line = data[start:min(eol[0], start + MAX_HEADER_LINE)] + data[eol[0]:eol[1]]
        if size + len(line) > MAX_HEADER_BYTES:
            kept[-1] = kept[-1].rstrip(b"\r\n")  # the line break before the blank line follows
            break
        kept.append(line)
        size += len(line)
        start = eol[1]
    head = b"".join(kept)
    if len(head) == end:  # a long block of short lines, all kept
        return data, ""
    return head + data[end:], (
        f"MessageTooLargeTruncated: header block of {end} bytes cut to {len(head)} bytes for "
        f"analysis (each line to at most {MAX_HEADER_LINE} bytes, the block to {MAX_HEADER_BYTES}); "
        "the message hash covers every byte")


def bound_lines(data: bytes) -> tuple[bytes, str]:
    """``data`` cut after its first ``MAX_LINES`` lines, and the defect saying so."""
    if len(data) <= MAX_LINES:
        return data, ""
    eol = b"\r" if data.count(b"\r", 0, 1 << 20) > data.count(b"\n", 0, 1 << 20) else b"\n"
    total = data.count(eol)
    if total <= MAX_LINES:
        return data, ""
    seen = pos = 0
    while seen + (block := data.count(eol, pos, pos + _COUNT_BLOCK)) < MAX_LINES:
        seen, pos = seen + block, pos + _COUNT_BLOCK
    for _ in range(MAX_LINES - seen):  # within the last block: at most _COUNT_BLOCK steps
        pos = data.index(eol, pos) + 1
    return data[:pos], (f"MessageTooLargeTruncated: message of {total} lines cut to its first {MAX_LINES} "
                        f"({pos} of {len(data)} bytes) for analysis; the message hash covers every byte")


def _header_eols(data: bytes, end: int) -> Iterator[tuple[int, int]]:
    """(start, end) of each line break in ``data[:end]``, then ``(end, end)`` for the last line."""
    for eol in _EOL.finditer(data, 0, end):
        yield eol.start(), eol.end()
    yield end, end


def _header_end(data: bytes) -> int:
    match = _BLANK_LINE.search(data, 0, MAX_HEADER_BYTES + MAX_HEADER_LINE)
    return match.end() if match else min(len(data), MAX_HEADER_BYTES)


def _headers_only(
    data: bytes, digest: str, raw: RawMessage, locator: Locator, parent: str | None, basis: str,
    error: Exception,
) -> Message:
    """When the body defeats the parser (MIME nested past its recursion limit, the time
    limit), the header block alone still says who, when and what; the defect says why."""
    if isinstance(error, RecursionError):
        reason = ("NestingTooDeep: MIME structure nested deeper than the parser can follow "
                  "(RecursionError); headers only, body not analysed")
    else:
        reason = f"ParseFailed: {type(error).__name__}: {str(error)[:200]}; headers only, body not analysed"
    try:
        head, _cut = bound_header(data[: _header_end(data)].removeprefix(_BOM))
        message = _build(message_from_bytes(head), head, digest, raw, locator,
                         parent, [], basis)
    except Exception:  # noqa: BLE001 - not even the header block parses: the bare record
        return _unparsed(data, digest, raw, locator, parent, basis, error)
    own = tuple(d for d in message.defects if d not in _BODYLESS_ARTEFACTS)
    return replace(message, html=(), text=(), attachments=(), html_source=None, defects=own + (reason,))


def _unparsed(
    data: bytes, digest: str, raw: RawMessage, locator: Locator, parent: str | None, basis: str,
    error: Exception,
) -> Message:
    """The record of a message the parser gave up on: where it is, its hash, and why."""
    own = raw.defects if parent is None else ()
    return Message(
        message_sha256=digest, hash_basis=basis, locator=locator, format=raw.format,
        parent_sha256=parent, envelope_from=raw.envelope if parent is None else None,
        flags=raw.flags if parent is None else None, labels=raw.labels if parent is None else None,
        expunged=raw.expunged if parent is None else False,
        defects=own + (f"ParseFailed: {type(error).__name__}",),
    )


def _join_part(prefix: str | None, path: str) -> str:
    return f"{prefix}/{path}" if prefix else path


def _build(
    msg: EmailMessage,
    data: bytes,
    digest: str,
    raw: RawMessage,
    locator: Locator,
    parent: str | None,
    nested: list[tuple[str, bytes, str]],
    basis: str,
) -> Message:
    defects: list[str] = list(raw.defects) if parent is None else []
    parts, types = _iter_parts(msg, defects)
    # Raw bytes are only looked up for nested messages; most mail has none to split for.
    nested_here = "message/rfc822" in types[1:]  # parts[0] is msg
    raw_parts = raw_nested_parts(msg, data) if nested_here else {}
    html, text, attachments = _walk_parts(parts, types, msg, defects, nested, raw_parts)
    headers = tuple((k, decode_header_value(_fetched(msg, k, v))) for k, v in msg.raw_items())
    if not headers:
        defects.append("NoHeaders")
    heads = _index(headers)  # each header decoded once, looked up by name below
    date_raw, date_utc = _parse_date(heads, defects)
    received = tuple(heads.get("received", ()))
    return Message(
        message_sha256=digest,
        hash_basis=basis,
        locator=locator,
        format=raw.format,
        parent_sha256=parent,
        message_id=_first(heads, "Message-ID"),
        date_raw=date_raw,
        date_utc=date_utc,
        from_=_addresses(heads, "From", defects),
        sender=_addresses(heads, "Sender", defects),
        reply_to=_addresses(heads, "Reply-To", defects),
        to=_addresses(heads, "To", defects),
        cc=_addresses(heads, "Cc", defects),
        delivered_to=_envelope_recipients(heads, defects),
        envelope_from=raw.envelope if parent is None else None,
        subject=_first(heads, "Subject"),
        return_path=_first(heads, "Return-Path"),
        list_id=_first(heads, "List-Id"),
        list_unsubscribe=_first(heads, "List-Unsubscribe"),
        dkim_domains=_dkim_domains(heads),
        received=received,
        received_json=_received_json(received, defects),
        headers=headers,
        html=tuple(html),
        html_source="mime" if html else ("plain-only" if text else None),
        text=tuple(text),
        attachments=tuple(attachments),
        flags=raw.flags if parent is None else None,
        labels=raw.labels if parent is None else None,
        expunged=raw.expunged if parent is None else False,
        defects=tuple(defects) + tuple(_defect_names(parts)),
    )


def decode_header_value(value: object) -> str:
    """Unfold and RFC 2047-decode a header value; undecodable bytes become U+FFFD, never
    an error. Unfolding (RFC 5322 2.2.3) makes LF, CRLF and CR-only copies read alike."""
    if type(value) is str and value.isascii() and "=?" not in value:
        text = value  # the common case: nothing to decode (what _decode_header_value gives)
    else:
        text = _decode_header_value(value)
    if "\r" in text:
        return _FOLD.sub("", text)
    if "\n" not in text:  # most values are one line
        return text
    # _FOLD.sub without a CR: a line break is dropped before a space or a tab. Removing one
    # never makes another such pair, so two replacements give the same text, 7x faster.
    return text.replace("\n ", " ").replace("\n\t", "\t")


def _decode_header_value(value: object) -> str:
    if isinstance(value, Header):  # compat32 wraps raw 8-bit headers; str() would lose them
        return "".join(_decode_chunk(c, known_charset(cs)) if isinstance(c, bytes) else c
                       for c, cs in decode_header(value))
    text = str(value) if not isinstance(value, str) else value
    if "=?" not in text:
        return _unsurrogate(text)
    if len(text) > DECODE_PIECE:  # the stdlib decoder is quadratic in the number of encoded words
        return "".join(_decode_words(piece) for piece in _pieces(text))
    return _decode_words(text)


def _decode_words(text: str) -> str:
    try:
        chunks = decode_header(text)
    except Exception:  # noqa: BLE001 - stdlib raises assorted errors on junk; keep the raw text
        return _unsurrogate(text)
    out: list[str] = []
    for chunk, charset in chunks:
        if isinstance(chunk, str):
            out.append(chunk)
            continue
        out.append(_decode_chunk(chunk, known_charset(charset)))
    return _unsurrogate("".join(out))


def _pieces(text: str) -> list[str]:
    """``text`` cut into pieces of about ``DECODE_PIECE`` characters, before whitespace or
    between two adjacent encoded words, so no encoded word is split."""
    pieces: list[str] = []
    start = 0
    while start < len(text):
        match = _PIECE_CUT.search(text, start + DECODE_PIECE)
        cut = len(text) if match is None else match.start() + (2 if match.group() == "?==?" else 0)
        pieces.append(text[start:cut])
        start = cut
    return pieces


def _decode_chunk(chunk: bytes, codec: str | None) -> str:
    """A header chunk in its declared charset; raw 8-bit (``unknown-8bit``) as UTF-8 when
    it is valid UTF-8, else as Windows-1252, the usual charset of such legacy mail."""
    if codec is not None:
        return chunk.decode(codec, errors="replace")
    try:
        return chunk.decode("utf-8")
    except UnicodeDecodeError:
        return chunk.decode("windows-1252", errors="replace")


def _unsurrogate(text: str) -> str:
    """compat32 keeps raw 8-bit header bytes as surrogates; decode them as UTF-8 or Latin-1."""
    if text.isascii() or not _SURROGATE.search(text):  # the common case, checked in C
        return text
    raw = text.encode("utf-8", "surrogateescape")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("windows-1252", errors="replace")


def _fetched(msg: EmailMessage, name: str, value: str) -> object:
    """What ``msg.items()`` gives for one raw header: compat32 wraps only values with raw
    8-bit bytes (surrogates) in a ``Header``; an ASCII value is given as it is."""
    if isinstance(value, str) and value.isascii():
        return value
    return msg.policy.header_fetch_parse(name, value)


def _index(headers: tuple[tuple[str, str], ...]) -> dict[str, list[str]]:
    """Decoded header values by lower-case name, in order: what ``Message.get_all`` would give
    (it walks every header per call and the record needs about 15 names), decoded once."""
    index: dict[str, list[str]] = {}
    for name, value in headers:
        index.setdefault(name.lower(), []).append(value)
    return index


def _first(heads: dict[str, list[str]], name: str) -> str | None:
    values = heads.get(name.lower())
    return values[0].strip() if values else None


def _addresses(heads: dict[str, list[str]], name: str, defects: list[str]) -> tuple[Address, ...]:
    values = heads.get(name.lower())
    if not values:
        return ()
    try:
        pairs = simple_addresses(values)
        if pairs is None:
            pairs = getaddresses(values)
    except Exception:  # noqa: BLE001 - the stdlib address parser recurses on hostile input
        defects.append(f"AddressUnparsed:{name}")
        return ()
    return tuple(Address(name=n.strip(), address=a.strip()) for n, a in pairs if a or n)


# The stdlib address parser (email._parseaddr) reads character by character in Python and
# was ~18% of parsing. Most address headers are plain lists of "a@b", "Name <a@b>",
# '"Name" <a@b>' and "a@b (Name)"; for those the result is computed from one regex match per
# address, and anything else (other comments, groups, routes, escapes, domain literals, white
# space inside an address, empty items) goes to the stdlib unchanged. The character classes below are the
# stdlib's own (_parseaddr.AddrlistClass: atomends, phraseends, FWS), so the result is the
# same list of pairs; tests/test_parse_fast.py compares both on every corpus message.
_ATOM = r'[^()<>@,:;."\[\] \t\r\n]++'
_ADDR_SPEC = rf"{_ATOM}(?:\.{_ATOM})*+@{_ATOM}(?:\.{_ATOM})*+"
_PHRASE_WORD = r'[^()<>@,:;"\[\] \t\r\n]++|"[^"\\\r]*+"'
# Possessive quantifiers: a word is never split to retry (no backtracking blow-up on junk).
_ADDRESS_ITEM = re.compile(
    rf"[ \t]*+(?:(?P<bare>{_ADDR_SPEC})"
    rf"|(?P<commented>{_ADDR_SPEC})[ \t]*+\((?P<comment>[^()\\\r\n]*+)\)"
    rf"|(?P<phrase>(?:{_PHRASE_WORD})(?:[ \t]*+(?:{_PHRASE_WORD}))*+)?[ \t]*+<(?P<route>{_ADDR_SPEC})>)"
    r"[ \t]*+(?:,|\Z)")
_PHRASE_WORDS = re.compile(_PHRASE_WORD)
# White space other than space and tab: the stdlib drops an atom that str.strip() empties
# ("\x0b@a" reads as "@a"), so any such character sends the list to the stdlib.
_OTHER_SPACE = "".join(ch for ch in map(chr, range(0x3001)) if ch.isspace() and ch not in " \t\r\n")
_NOT_SIMPLE = re.compile(r"[\[\]:;\\\r\n" + re.escape(_OTHER_SPACE) + "]")


def simple_addresses(values: list[str]) -> list[tuple[str, str]] | None:
    """``email.utils.getaddresses(values)`` for a plain address list, or None when the list
    is not plain enough to be sure (the caller then asks the stdlib)."""
    field = ", ".join(values)  # as getaddresses joins them
    if _NOT_SIMPLE.search(field):
        return None
    pairs: list[tuple[str, str]] = []
    pos, size = 0, len(field)
    while pos < size:
        match = _ADDRESS_ITEM.match(field, pos)
        if match is None or match.end() == pos:
            return None
        bare, commented = match.group("bare", "commented")
        if bare is not None:
            pairs.append(("", bare))
        elif commented is not None:  # "a@b (Name)": the stdlib names the address by its comment
            pairs.append((match.group("comment"), commented))
        else:
            phrase = match.group("phrase") or ""
            words = [w[1:-1] if w.startswith('"') else w for w in _PHRASE_WORDS.findall(phrase)]
            pairs.append((" ".join(words), match.group("route")))
        pos = match.end()
    return pairs


def _envelope_recipients(heads: dict[str, list[str]], defects: list[str]) -> tuple[str, ...]:
    """Who the message was delivered to, from the headers delivery agents add, in order,
    without repeats (Delivered-To, X-Original-To, Envelope-To, X-Envelope-To)."""
    found: list[str] = []
    for header in ("Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To"):
        for address in _addresses(heads, header, defects):
            if address.address and address.address not in found:
                found.append(address.address)
    return tuple(found)


def _parse_date(heads: dict[str, list[str]], defects: list[str]) -> tuple[str | None, str | None]:
    raw = _first(heads, "Date")
    if raw is None:
        return None, None
    try:
        parsed = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError, OverflowError):
        defects.append("InvalidDateHeader")
        return raw, None
    if parsed.tzinfo is None:  # RFC 5322 "-0000": no zone known; treat as UTC, say so
        defects.append("DateWithoutZone")
        parsed = parsed.replace(tzinfo=timezone.utc)
    if 100 <= parsed.year <= 999:
        # RFC 5322 4.3: "any three digit year is ... interpreted by adding 1900". Y2K-bug mailers
        # wrote C's years-since-1900 ("102", or zero-padded "0102") for 2002; date_raw keeps the text.
        defects.append("ThreeDigitYear")
        try:
            parsed = parsed.replace(year=parsed.year + 1900)
        except ValueError:  # 29 February 400 has no 2300 twin
            defects.append("InvalidDateHeader")
            return raw, None
    try:
        utc = parsed.astimezone(timezone.utc)
    except (OverflowError, ValueError):  # year 1 or 9999 pushed out of the calendar by its zone
        defects.append("InvalidDateHeader")
        return raw, None
    return raw, iso_utc(utc)


def iso_utc(utc: datetime) -> str:
    """``2002-08-20T15:04:05Z``. Four-digit year: glibc's strftime writes a year below 1000
    (year 1..99 can reach here) without padding, which is not ISO 8601 and which the month
    keys cannot read. The fields one by one: strftime was half the cost of ``_parse_date``."""
    return f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}Z"


def _dkim_domains(heads: dict[str, list[str]]) -> tuple[str, ...]:
    found: list[str] = []
    for value in heads.get("dkim-signature", ()):
        match = _DKIM_D.search(value.replace("\r", "").replace("\n", ""))
        if match and match.group(1).lower() not in found:
            found.append(match.group(1).lower())
    return tuple(found)


def _received_json(received: tuple[str, ...], defects: list[str]) -> str:
    if not received:
        return "[]"
    try:
        hops = parse_chain(list(received))  # mail-parser's result, with a faster lexer (received.py)
    except Exception:  # noqa: BLE001 - mail-parser may raise on odd hops; the raw lines are kept
        defects.append("ReceivedUnparsed")
        hops = [{"raw": r} for r in received]
    return _HOPS_JSON.encode(hops)


# ``json.dumps(hops, sort_keys=True, ensure_ascii=False, default=str)`` without building an
# encoder per call; the hops are fresh dicts, so the check for cycles can find none.
_HOPS_JSON = json.JSONEncoder(sort_keys=True, ensure_ascii=False, default=str, check_circular=False)


def _defect_names(parts: list[EmailMessage]) -> list[str]:
    names: list[str] = []
    for part in parts:
        names.extend(type(d).__name__ for d in part.defects)
    return names


def _iter_parts(
    msg: EmailMessage, defects: list[str] | None = None
) -> tuple[list[EmailMessage], list[str]]:
    """Parts of this message without descending into nested message/rfc822 parts, at most
    ``MAX_PARTS`` of them, ``MAX_MIME_DEPTH`` levels deep (a cut is noted in ``defects``),
    and their content types (``get_content_type``, asked once: it walks the headers)."""
    out: list[EmailMessage] = []
    types: list[str] = []
    stack: list[tuple[EmailMessage, int]] = [(msg, 0)]
    while stack and len(out) < MAX_PARTS:
        part, depth = stack.pop()
        ctype = part.get_content_type()
        out.append(part)
        types.append(ctype)
        if ctype == "message/rfc822" and part is not msg:
            continue
        payload = part.get_payload()
        if not isinstance(payload, list):
            continue
        if depth >= MAX_MIME_DEPTH:
            if defects is not None and not any(d.startswith("NestingTooDeep") for d in defects):
                defects.append(f"NestingTooDeep: MIME parts nested deeper than {MAX_MIME_DEPTH} "
                               "levels not analysed")
            continue
        stack.extend((child, depth + 1) for child in reversed(payload) if isinstance(child, EmailMessage))
    return out, types


def _walk_parts(
    parts: list[EmailMessage], types: list[str], msg: EmailMessage, defects: list[str],
    nested: list[tuple[str, bytes, str]], raw_parts: dict[int, tuple[bytes, str]],
) -> tuple[list[str], list[str], list[Attachment]]:
    html: list[str] = []
    text: list[str] = []
    attachments: list[Attachment] = []
    if len(parts) >= MAX_PARTS:
        defects.append(f"TooManyParts: only the first {MAX_PARTS} MIME parts analysed")
    for index, (part, ctype) in enumerate(zip(parts, types)):
        if part.is_multipart():
            if ctype == "message/rfc822" and part is not msg:
                nested.extend(_nested_bytes(part, index, raw_parts))
            continue
        disposition = str(part.get("Content-Disposition") or "").split(";")[0].strip().lower()
        is_body = disposition != "attachment" and ctype in ("text/html", "text/plain")
        if is_body:
            decoded = _decode_text(part, defects, is_html=ctype == "text/html")
            (html if ctype == "text/html" else text).append(decoded)
        else:
            attachments.append(_attachment(part, ctype))
    return html, text, attachments


def _nested_bytes(
    part: EmailMessage, index: int, raw_parts: dict[int, tuple[bytes, str]]
) -> list[tuple[str, bytes, str]]:
    """The nested message's own bytes as they appear in the parent (so its hash is the hash
    of evidence); re-serialised by the parser only when the MIME structure is too broken
    to find them, and the hash basis says so."""
    found = raw_parts.get(id(part))
    if found is not None:
        return [(str(index), found[0], found[1])]
    inner = part.get_payload()
    if not isinstance(inner, list) or not inner:
        return []
    first = inner[0]
    if not isinstance(first, EmailMessage):  # text, not a message: nothing to write back
        return [(str(index), b"", "nested-rfc822-unreadable")]
    try:
        data = first.as_bytes(policy=compat32)
    except Exception:  # noqa: BLE001 - the bytes generator rejects 8-bit boundaries and more
        try:
            data = first.as_string(policy=compat32).encode("utf-8", "surrogateescape")
        except Exception:  # noqa: BLE001 - nothing can be written back: the parent says so
            return [(str(index), b"", "nested-rfc822-unreadable")]
    return [(str(index), data, "nested-rfc822-reserialised")]


# ---------------------------------------------------------------- raw bytes of nested parts
# The stdlib parser keeps no byte offsets, so the raw bytes of each message/rfc822 part
# are found by walking the raw MIME structure alongside the parsed tree: split each
# multipart body on its boundary lines (the same rule as the stdlib feedparser) and
# accept the split only when it yields as many parts as the parser found.


def raw_nested_parts(msg: EmailMessage, data: bytes) -> dict[int, tuple[bytes, str]]:
    """Raw bytes and hash basis of every message/rfc822 part of ``msg``, keyed by ``id(part)``."""
    found: dict[int, tuple[bytes, str]] = {}
    if msg.is_multipart() and msg.get_content_type() != "message/rfc822":
        _map_children(msg, _entity_body(data), found, 0)
    return found


def _map_children(entity: EmailMessage, body: bytes, found: dict[int, tuple[bytes, str]], depth: int) -> None:
    boundary = entity.get_boundary()
    children = entity.get_payload()
    if not boundary or not isinstance(children, list) or depth > MAX_NESTING:
        return
    pieces = _split_multipart(body, boundary.encode("utf-8", "surrogateescape"))
    if len(pieces) != len(children):
        return
    for child, piece in zip(children, pieces):
        if child.get_content_type() == "message/rfc822":
            found[id(child)] = _decoded_body(child, _entity_body(piece))
        elif child.is_multipart():
            _map_children(child, _entity_body(piece), found, depth + 1)


def _entity_body(data: bytes) -> bytes:
    """What follows an entity's header block (nothing when there is no blank line)."""
    if data[:1] in (b"\n", b"\r"):  # no headers at all: the body starts after the blank line
        return data[2:] if data.startswith(b"\r\n") else data[1:]
    match = _BLANK_LINE.search(data)
    return data[match.end():] if match else b""


def _split_multipart(body: bytes, boundary: bytes) -> list[bytes]:
    pieces: list[bytes] = []
    start: int | None = None
    for begin, end, closing in _delimiters(body, b"--" + boundary):
        if start is not None:
            pieces.append(_drop_final_eol(body[start:begin]))
        if closing:
            return pieces
        start = end
    if start is not None:  # no closing delimiter: the last part runs to the end
        pieces.append(body[start:])
    return pieces


def _delimiters(body: bytes, dashed: bytes) -> Iterator[tuple[int, int, bool]]:
    """(start, end, closing) of each delimiter line ``--boundary[--][ \t]*EOL`` that starts a
    line. Found with ``bytes.find`` and one precompiled tail pattern: a pattern compiled per
    boundary (every multipart message has its own) cost ~1 ms per message."""
    pos = body.find(dashed)
    while pos >= 0:
        if pos == 0 or body[pos - 1] in _LINE_ENDS:
            tail = _DELIMITER_TAIL.match(body, pos + len(dashed))
            if tail is not None:
                yield pos, tail.end(), tail.group(1) is not None
                pos = body.find(dashed, tail.end())
                continue
        pos = body.find(dashed, pos + 1)


def _drop_final_eol(piece: bytes) -> bytes:
    """The line break before a delimiter belongs to the delimiter (RFC 2046 5.1.1)."""
    if piece.endswith(b"\r\n"):
        return piece[:-2]
    return piece[:-1] if piece.endswith((b"\n", b"\r")) else piece


def _decoded_body(part: EmailMessage, body: bytes) -> tuple[bytes, str]:
    """A message/rfc822 body, undoing a (non-standard) base64 or quoted-printable encoding."""
    cte = str(part.get("Content-Transfer-Encoding") or "").strip().lower()
    if cte == "base64":
        try:
            return binascii.a2b_base64(body), "nested-rfc822-base64-decoded"
        except binascii.Error:
            return body, "nested-rfc822-raw"
    if cte == "quoted-printable":
        return quopri.decodestring(body), "nested-rfc822-qp-decoded"
    return body, "nested-rfc822-raw"


def _decode_text(part: EmailMessage, defects: list[str], *, is_html: bool) -> str:
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    text, _charset, replaced = decode_body(data, _content_charset(part), is_html=is_html)
    if replaced:
        defects.append("CharsetDecodeDefect")
    return text


def _content_charset(part: EmailMessage) -> str | None:
    """``part.get_content_charset()``: a function of the first Content-Type header alone,
    computed once per distinct header (most mail repeats a few, and the stdlib parses every
    parameter of the header on each call)."""
    for name, value in part.raw_items():
        if name.lower() == "content-type":
            if not isinstance(value, str) or part.policy is not compat32:  # not the parser's: ask it
                return part.get_content_charset()
            return _charset_of_header(name, value)
    return None


@lru_cache(maxsize=1024)
def _charset_of_header(name: str, value: str) -> str | None:
    alone = EmailMessage(policy=compat32)
    alone.set_raw(name, value)  # stored as the parser stores it, fetched as it fetches it
    return alone.get_content_charset()


def _attachment(part: EmailMessage, ctype: str) -> Attachment:
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    filename = part.get_filename()
    return Attachment(
        filename=decode_header_value(filename) if filename else None,
        content_type=ctype,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )
