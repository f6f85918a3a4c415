"""Stage 1 helpers shared by the Outlook readers (.msg and PST/OST): MAPI facts.

Code pages, times, the choice of the body that counts as evidence, and RTF
de-encapsulation under a time limit. Both readers produce the same body sources:

- ``html``: the item's own HTML body (PidTagHtml / libpff ``html_body``);
- ``rtf-encapsulated-html``: HTML the sender's client wrapped in the compressed RTF
  body (``\\fromhtml1``), recovered with RTFDE, as extract-msg does;
- ``plain-only``: no HTML exists; only plain text is analysed;
- ``rtf-only``: the only body is RTF that does not encapsulate HTML or text.

HTML that a library builds from the plain text (extract-msg's ``htmlBody`` does) is
never produced here: it is not what the sender wrote.
"""

from __future__ import annotations

import codecs
import logging
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, formataddr

from forensics.ingest._timeout import TimeLimitExceeded, run_with_time_limit
from forensics.parse import parse_rfc5322
from forensics.records import Locator, Message, RawMessage
from forensics.textdecode import decode_body

# extract-msg and RTFDE log warnings for ordinary files (no code page property, RTF
# quirks); with no handler configured Python would print them on stderr. The library
# reports trouble as defects instead, so their records stop here.
for _logger in ("extract_msg", "RTFDE"):
    logging.getLogger(_logger).addHandler(logging.NullHandler())
    logging.getLogger(_logger).propagate = False

RTF_TIME_LIMIT_S = 10.0  # RTFDE can take tens of seconds on pathological RTF (extract-msg #445)

PID_INTERNET_CODEPAGE = 0x3FDE  # charset of the HTML body as sent
PID_MESSAGE_CODEPAGE = 0x3FFD  # code page of the item's 8-bit string properties
PID_MESSAGE_LOCALE_ID = 0x3FF1  # LCID; its ANSI code page when 0x3FFD is absent

# Windows code page numbers to Python codecs where the name "cpNNN" does not work.
# Written here (a dozen lines) rather than importing extract-msg's table into the
# PST reader, which does not otherwise need extract-msg.
_CODEPAGES: dict[int, str] = {
    1200: "utf-16-le", 1201: "utf-16-be", 10000: "mac_roman", 10007: "mac_cyrillic",
    20127: "ascii", 20866: "koi8_r", 21866: "koi8_u", 20932: "euc_jp",
    28591: "iso8859_1", 28592: "iso8859_2", 28593: "iso8859_3", 28594: "iso8859_4",
    28595: "iso8859_5", 28596: "iso8859_6", 28597: "iso8859_7", 28598: "iso8859_8",
    28599: "iso8859_9", 28603: "iso8859_13", 28605: "iso8859_15",
    50220: "iso2022_jp", 50221: "iso2022_jp_ext", 50222: "iso2022_jp",
    50225: "iso2022_kr", 51932: "euc_jp", 51936: "gb2312", 51949: "euc_kr",
    52936: "hz", 54936: "gb18030", 65000: "utf-7", 65001: "utf-8",
}

# Primary language of an LCID (low 10 bits) to the ANSI code page Windows uses for it.
_LANGUAGE_ANSI: dict[int, int] = {
    0x11: 932,  # Japanese
    0x12: 949,  # Korean
    0x19: 1251, 0x22: 1251, 0x23: 1251, 0x02: 1251, 0x2F: 1251, 0x1A: 1250,
    0x05: 1250, 0x15: 1250, 0x0E: 1250, 0x18: 1250, 0x1B: 1250, 0x24: 1250, 0x1C: 1250,
    0x08: 1253, 0x1F: 1254, 0x2C: 1254, 0x0D: 1255, 0x01: 1256, 0x29: 1256, 0x20: 1256,
    0x25: 1257, 0x26: 1257, 0x27: 1257, 0x2A: 1258, 0x1E: 874,
}
_CHINESE_ANSI: dict[int, int] = {0x0804: 936, 0x1004: 936, 0x0404: 950, 0x0C04: 950, 0x1404: 950}
_ANSICPG = re.compile(rb"\\ansicpg(\d{1,5})")
_FROM_TOKEN = re.compile(rb"\\from(html|text)1?(?![a-z])")


def codec_for(codepage: int | None) -> str | None:
    """The Python codec for a Windows code page number, or None if Python has none."""
    if not codepage or codepage < 0:
        return None
    name = _CODEPAGES.get(codepage, f"cp{codepage}")
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def ansi_codepage_for_lcid(lcid: int | None) -> int | None:
    """The ANSI code page Windows used for 8-bit strings under a locale (LCID)."""
    if not lcid:
        return None
    lcid &= 0xFFFF
    if lcid & 0x3FF == 0x04:
        return _CHINESE_ANSI.get(lcid, 936)
    return _LANGUAGE_ANSI.get(lcid & 0x3FF, 1252)


def rtf_codepage(rtf: bytes | None) -> int | None:
    """The ``\\ansicpgN`` an RTF body declares in its header."""
    match = _ANSICPG.search(rtf[:512]) if rtf else None
    return int(match.group(1)) if match else None


def string8_codec(message_cp: int | None, lcid: int | None, rtf: bytes | None) -> tuple[str, bool]:
    """The codec of an item's 8-bit (PT_STRING8) properties, and whether it was a guess.

    PidTagMessageCodepage first; else the RTF body's ``\\ansicpg`` (written by the same
    client in the same code page); else the ANSI code page of the item's locale. The
    Internet code page (0x3FDE) is not used: it names the transfer charset (e.g.
    ISO-2022-JP), not the code page the client stored the strings in.
    """
    for candidate in (message_cp, rtf_codepage(rtf), ansi_codepage_for_lcid(lcid)):
        codec = codec_for(candidate)
        if codec is not None:
            return codec, False
    return "cp1252", True


def decode_string8(data: bytes, codec: str) -> str:
    """An 8-bit string property, NUL terminator removed, bad bytes replaced."""
    return data.split(b"\x00", 1)[0].decode(codec, errors="replace")


def decode_unicode(data: bytes) -> str:
    """A PT_UNICODE property (UTF-16-LE), NUL terminator removed."""
    text = data.decode("utf-16-le", errors="replace")
    return text.split("\x00", 1)[0]


_FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)


def filetime_to_utc(value: int | None) -> str | None:
    """A Windows FILETIME (100 ns ticks since 1601) as ``YYYY-MM-DDTHH:MM:SSZ``."""
    if not value or value <= 0 or value >= 0x7FFFFFFFFFFFFFFF:
        return None
    try:
        moment = _FILETIME_EPOCH + timedelta(microseconds=value // 10)
    except OverflowError:
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_text(moment: datetime | None) -> str | None:
    """A datetime (naive values are UTC, as libpff returns them) in the case's format."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True, kw_only=True)
class Body:
    """The bodies of one item as evidence, where they came from, and what went wrong."""

    html: tuple[str, ...] = ()
    html_source: str | None = None
    text: tuple[str, ...] = ()
    defects: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Deencapsulated:
    content_type: str  # "html" or "text"
    content: str


def rtf_encapsulates(rtf: bytes) -> str | None:
    """``"html"`` or ``"text"`` when the RTF header says it encapsulates one (``\\fromhtml1``,
    ``\\fromtext``), else None: plain RTF holds no HTML, so RTFDE (slow) is not called."""
    match = _FROM_TOKEN.search(rtf[:2048])
    return match.group(1).decode("ascii") if match else None


def deencapsulate_rtf(rtf: bytes) -> Deencapsulated | None:
    """HTML or text encapsulated in an RTF body (RTFDE), or None when there is none.

    Trailing bytes after the last ``}`` are cut and ignorable groups stripped first,
    exactly as extract-msg does before calling RTFDE (RTFDE rejects the former and is
    much slower without the latter).
    """
    import RTFDE  # imported here: only items without an HTML body need it
    from extract_msg.utils import stripRtf

    end = rtf.rfind(b"}")
    if end < 0:
        raise ValueError("RTF body has no closing brace")
    deencapsulator = RTFDE.DeEncapsulator(stripRtf(rtf[: end + 1]))
    try:
        deencapsulator.deencapsulate()
    except RTFDE.exceptions.NotEncapsulatedRtf:
        return None
    # RTFDE returns UTF-8 bytes, having decoded the RTF's code pages itself.
    if deencapsulator.content_type == "html":
        return Deencapsulated(content_type="html", content=_utf8(deencapsulator.html))
    return Deencapsulated(content_type="text", content=_utf8(deencapsulator.text))


def _utf8(content: bytes | str) -> str:
    return content.decode("utf-8", errors="replace") if isinstance(content, bytes) else content


def choose_body(
    *,
    html: bytes | None,
    html_charset: str | None,
    rtf: bytes | None,
    plain: str | None,
    time_limit: float | None = None,
) -> Body:
    """The evidence body: the HTML stream, else HTML from the RTF, else plain text.

    Never raises: a failing or too slow de-encapsulation becomes a defect
    (``RtfTimeout`` or ``RtfUndecodable``) and the plain text, if any, is kept.
    """
    texts = (plain,) if plain else ()
    if html:
        decoded, _charset, replaced = decode_body(html, html_charset, is_html=True)
        defects = ("CharsetDecodeDefect",) if replaced else ()
        return Body(html=(decoded,), html_source="html", text=texts, defects=defects)
    if rtf:
        return _body_from_rtf(rtf, texts, RTF_TIME_LIMIT_S if time_limit is None else time_limit)
    return Body(text=texts, html_source="plain-only" if texts else None)


def _body_from_rtf(rtf: bytes, texts: tuple[str, ...], time_limit: float) -> Body:
    wrapped = rtf_encapsulates(rtf)
    if wrapped is None or (wrapped == "text" and texts):
        return Body(text=texts, html_source="plain-only" if texts else "rtf-only")
    try:
        found = run_with_time_limit(deencapsulate_rtf, rtf, seconds=time_limit)
    except TimeLimitExceeded:
        defect = f"RtfTimeout: RTF de-encapsulation exceeded {time_limit:g} s; HTML not analysed"
        return Body(text=texts, html_source="plain-only" if texts else "rtf-only", defects=(defect,))
    except Exception as e:  # noqa: BLE001 - RTFDE raises many types on malformed RTF
        defect = f"RtfUndecodable: {type(e).__name__}: {str(e)[:200]}"
        return Body(text=texts, html_source="plain-only" if texts else "rtf-only", defects=(defect,))
    if found is not None and found.content_type == "html":
        return Body(html=(found.content,), html_source="rtf-encapsulated-html", text=texts)
    if found is not None and not texts:
        texts = (found.content,)
    return Body(text=texts, html_source="plain-only" if texts else "rtf-only")


# ------------------------------------------------------------------ transport headers

_HEADER_PREFIX = "Microsoft Mail Internet Headers Version 2.0"
_HEADER_LINE = re.compile(r"^[!-9;-~]{1,76}:")
# Defects the stdlib parser reports because the header block is parsed without the
# body it once announced (a multipart Content-Type with no parts): artefacts, not evidence.
_BODYLESS_ARTEFACTS = {"StartBoundaryNotFoundDefect", "MultipartInvariantViolationDefect",
                       "CloseBoundaryNotFoundDefect"}
RECIPIENT_HEADERS = {1: "To", 2: "Cc", 3: "Bcc"}


def synthetic_headers(
    *, sent: datetime | None, sender: tuple[str, str], recipients: list[tuple[int, str, str]],
    subject: str | None, message_id: str | None,
) -> str:
    """A header block built from MAPI properties, for items without transport headers.

    ``recipients`` holds (MAPI recipient type, display name, address) in table order.
    """
    lines: list[str] = []
    if sent is not None:
        lines.append(f"Date: {format_datetime(sent.replace(tzinfo=sent.tzinfo or UTC))}")
    if any(sender):
        lines.append(f"From: {formataddr(sender)}")
    grouped: dict[str, list[str]] = {}
    for kind, display, address in recipients:
        grouped.setdefault(RECIPIENT_HEADERS.get(kind & 0xF, "To"), []).append(formataddr((display, address)))
    lines.extend(f"{field}: {', '.join(values)}" for field, values in grouped.items())
    if subject:
        lines.append(f"Subject: {subject}")
    if message_id:
        lines.append(f"Message-ID: {message_id}")
    return "\r\n".join(lines)


def parse_header_block(header_text: str, locator: Locator, *, synthetic: bool) -> Message:
    """A transport header block parsed by the RFC 5322 parser; the caller sets the bodies.

    Outlook's "Microsoft Mail Internet Headers Version 2.0" prefix is removed. A block
    that starts in the middle of a field (seen in damaged items) is cut to its first
    header line, and the defect says so.
    """
    text = header_text.strip("\x00").lstrip("\r\n")
    if text.startswith(_HEADER_PREFIX):
        text = text[len(_HEADER_PREFIX):].lstrip("\r\n")
    text, cut = _from_first_header_line(text)
    raw = text.rstrip("\r\n").encode("utf-8", "surrogatepass") + b"\r\n\r\n"
    parsed = parse_rfc5322(RawMessage(data=raw, locator=locator, format="outlook"))[0]
    defects = [d for d in parsed.defects if d not in _BODYLESS_ARTEFACTS]
    if synthetic:
        defects = [d for d in defects if d != "NoHeaders"]  # recorded as headers_synthetic
    if cut:
        defects.insert(0, f"TransportHeadersStartMidField: {cut} leading line(s) skipped")
    return replace(parsed, headers_synthetic=synthetic, defects=tuple(defects))


def _from_first_header_line(text: str) -> tuple[str, int]:
    lines = text.splitlines(keepends=True)
    for index, line in enumerate(lines):
        if _HEADER_LINE.match(line):
            return "".join(lines[index:]), index
    return text, 0
