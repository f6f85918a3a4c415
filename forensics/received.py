"""Stage 2 (parse): the Received chain, parsed as mail-parser parses it, faster.

mail-parser's ``receiveds_parsing`` was ~45% of parsing: its lexer
(``mailparser.received.split_received``) walks every header character by character
in Python. ``split_received`` below is the same state machine, but it jumps from one
structural character to the next with a regex, so the per-character work runs in C.
Everything after the lexer (the clauses, the dates, hop numbers and delays) is
mail-parser's own code or a line-for-line copy of it, so ``received_json`` is the
same JSON mail-parser would give (``tests/test_received.py`` checks this on every
Received header of the corpus and on generated hostile ones).

The fast lexer only takes the common shape: ASCII headers without quoted strings or
backslashes. Any message with another Received header (8-bit text, quotes, escapes)
goes to mail-parser whole, unchanged.
"""

from __future__ import annotations

import datetime
import re
from functools import lru_cache
from typing import cast

from mailparser.const import _ENVELOPE_FROM_RE, _SENDGRID_DATE_RE
from mailparser.dates import _DATE, _MONTHS, _ZONES, parse_mail_date
from mailparser.exceptions import MailParserReceivedParsingError
from mailparser.utils import receiveds_parsing

_FWS = " \t\r\n"
# Top level: the delimiters, and where a clause keyword (or a SendGrid date, which starts
# with a digit) may start: after folding white space or ')', or at the start. A keyword
# is matched here whole (group 1), so other words cost nothing; once the date separator
# is found, or a SendGrid date, the lexer looks for less (``_TOP_KEYWORDS``, ``_DELIMITERS``).
# The white space before a keyword is part of the match (the keyword starts one further):
# every match then starts at one of a few characters, which the regex engine skips to in C
# (a lookbehind at every position was most of the lexer's time). The two places a keyword
# can follow something else, the start and the ')' closing a comment, are looked at with
# the ``_HERE`` patterns, anchored there.
# A digit is only looked at when a SendGrid date starts there (mail-parser tries its pattern
# at every digit that starts a word, and does nothing at the others).
_KEYWORDS = r"(from|by|via|with|id|for|envelope-from|envelope-sender)(?=[ \t\r\n])"
_SENDGRID_AHEAD = f"(?={_SENDGRID_DATE_RE.pattern})"
_TOP = re.compile(rf"""[()"\[<>;]|[ \t\r\n](?:{_KEYWORDS}|{_SENDGRID_AHEAD})""", _SENDGRID_DATE_RE.flags)
_TOP_KEYWORDS = re.compile(rf"""[()"\[<>;]|[ \t\r\n]{_KEYWORDS}""", re.IGNORECASE)
_DELIMITERS = re.compile(r"""[()"\[<>;]""")
_HERE_TOP = re.compile(rf"{_KEYWORDS}|{_SENDGRID_AHEAD}", _SENDGRID_DATE_RE.flags)
_HERE = {_TOP: _HERE_TOP, _TOP_KEYWORDS: re.compile(_KEYWORDS, re.IGNORECASE), _DELIMITERS: None}
_COMMENT = re.compile(r"\([^()\\]*\)")  # a comment without nested comments or escapes
_CIPHER = re.compile(r"[ \t\r\n]*cipher", re.IGNORECASE)
_IN_COMMENT = re.compile(r"[()]")
_RUNS = re.compile(r"[ \t\r\n]+")
_ENVELOPE_IN_CLAUSE = {
    name: re.compile(r"(?i)" + re.escape(name) + r"\s+<([^>]+)>") for name in ("envelope-from", "envelope-sender")
}


def parse_chain(received: list[str]) -> list[dict[str, object]]:
    """The hops of a Received chain, first hop first, as ``mailparser.utils.receiveds_parsing``.

    Raises whatever mail-parser raises on a chain it cannot format.
    """
    if not all(_simple(r) for r in received):
        return cast(list[dict[str, object]], receiveds_parsing(received))
    parsed: list[dict[str, str]] = []
    for value in received:
        try:
            parsed.append(_clauses(value))
        except MailParserReceivedParsingError:
            parsed.append({"raw": value})  # mail-parser keeps an unparsable hop as its raw text
    return _format(parsed)


def _format(receiveds: list[dict[str, str]]) -> list[dict[str, object]]:
    """``mailparser.utils.receiveds_format`` (a line-for-line copy, without the date
    diagnostics it only gives when asked): hops numbered from the first, UTC dates, delays."""
    output: list[dict[str, object]] = []
    for occurrence in range(len(receiveds) - 1, -1, -1):
        hop = receiveds[occurrence]
        entry: dict[str, object] = {k: (v if k == "raw" else v.strip()) for k, v in hop.items() if v}
        entry["hop"] = len(output) + 1
        if "date" in hop:
            entry["date_utc"] = date_value(hop["date"])
        now = entry.get("date_utc")
        before = output[-1].get("date_utc") if output and now else None
        entry["delay"] = (now - before).total_seconds() if before else 0  # type: ignore[operator]
        output.append(entry)
    for entry in output:
        if entry.get("date_utc"):
            entry["date_utc"] = entry["date_utc"].isoformat()  # type: ignore[attr-defined]
    return output


def date_value(raw: str) -> datetime.datetime | None:
    """``mailparser.dates.parse_mail_date(raw).value``. Its per-character scanner makes
    each comment and run of white space one gap between tokens; for comments that neither
    nest nor escape (``(PDT)``) that is two substitutions here, and the rest is a copy of
    its steps. Other dates go to mail-parser (``tests/test_received_dates.py`` compares)."""
    text = _COMMENT.sub(" ", raw) if "(" in raw else raw
    if "(" in text or ")" in text:
        return cast(datetime.datetime | None, parse_mail_date(raw).value)
    return _date_of_tokens(_single_spaced(text.strip(_FWS)))


@lru_cache(maxsize=1024)  # hops of one chain are often stamped in the same second
def _date_of_tokens(tokens: str) -> datetime.datetime | None:
    match = _DATE.fullmatch(tokens)
    if match is None:
        return None
    # Every check returns None, so their order is free: an impossible day (31 Feb) is left
    # to datetime() below, which raises as date() would have.
    year_text, month_name, day, hour, minute, second_text, zone_space, zone = match.group(
        "year", "month", "day", "hour", "minute", "second", "zone_space", "zone")
    if len(year_text.lstrip("0")) > 4:
        return None
    year = int(year_text.lstrip("0") or "0")
    if len(year_text) == 2:
        year += 2000 if year < 50 else 1900
    elif len(year_text) == 3:
        year += 1900
    hour, minute, second = int(hour), int(minute), int(second_text or "0")
    if year < 1900 or hour > 23 or minute > 59 or second > 60:
        return None
    zone = zone.upper()
    if zone[0] in "+-":
        if len(zone) != 5 or int(zone[-2:]) > 59 or not zone_space:
            return None
        offset = (int(zone[1:3]) * 60 + int(zone[3:])) * (-1 if zone[0] == "-" else 1)
    elif zone == "J":
        return None
    else:
        offset = _ZONES.get(zone, 0)
    try:
        value = datetime.datetime(year, _MONTHS.index(month_name.lower()) + 1, int(day), hour, minute,
                                  min(second, 59), tzinfo=datetime.UTC) - datetime.timedelta(minutes=offset)
        return value + datetime.timedelta(seconds=1) if second == 60 else value
    except (OverflowError, ValueError):
        return None


def _simple(value: str) -> bool:
    return value.isascii() and '"' not in value and "\\" not in value


def _clauses(received: str) -> dict[str, str]:
    """``mailparser.utils.parse_received`` (same steps, same order), on the fast lexer."""
    values: dict[str, str] = {}
    clauses, date = split_received(received)
    if date is not None:
        values["date"] = date
    for keyword, value in clauses:
        if keyword in ("envelope-from", "envelope-sender"):
            match = _ENVELOPE_FROM_RE.search(value)
            if match:
                values[keyword.replace("-", "_")] = match.group(1)
        elif keyword != "from" or "from" not in values:  # only the first 'from' clause counts
            values[keyword] = value
    for clause in ("by", "from", "with"):
        text = values.get(clause, "")
        for key, name in (("envelope_from", "envelope-from"), ("envelope_sender", "envelope-sender")):
            if key not in values and name in text.lower():
                match = _ENVELOPE_IN_CLAUSE[name].search(text)
                if match:
                    values[key] = match.group(1)
    if not values:
        raise MailParserReceivedParsingError(f"Unable to match any clauses in {received}")
    return values


def split_received(value: str) -> tuple[list[tuple[str, str]], str | None]:
    """``mailparser.received.split_received`` for a ``_simple`` header: (clauses, date).

    Raises:
        MailParserReceivedParsingError: unbalanced delimiters (the same reasons as mail-parser).
    """
    boundaries: list[tuple[int, int, str]] = []
    separators: list[int] = []
    angle = False
    sendgrid: re.Match[str] | None = None
    index, size = 0, len(value)
    top = _TOP
    here = _HERE_TOP.match(value)
    while (found := here or top.search(value, index)) is not None:
        here, index = None, found.start()
        char = value[index]
        if char in _FWS:  # the white space before a keyword or digit
            index += 1
            char = value[index]
        if char == "(":
            index = _skip_comment(value, index + 1)
            if index < 0:
                raise MailParserReceivedParsingError("unclosed-comment")
            anchored = _HERE[top]
            here = anchored.match(value, index) if anchored is not None else None  # a keyword right after ')'
            continue
        if char == "[":
            end = value.find("]", index + 1)
            if end < 0:
                raise MailParserReceivedParsingError("unclosed-domain-literal")
            index = end + 1
            continue
        if char == ")":
            raise MailParserReceivedParsingError("unexpected-comment-close")
        if char == '"':  # not in a _simple header; kept so the lexer is whole
            raise MailParserReceivedParsingError("unclosed-quoted-string")
        index += 1
        if char == "<":
            if angle:
                raise MailParserReceivedParsingError("nested-angle-address")
            angle = True
        elif char == ">":
            angle = False
        elif angle:
            continue
        elif char == ";":
            separators.append(index - 1)
            top = _DELIMITERS  # words after the date separator are not looked at
        elif (keyword := found.group(1)) is not None:
            keyword = keyword.lower()
            # mail-parser's exception for the TLS annotation "with cipher ..."
            if keyword != "with" or _CIPHER.match(value, found.end()) is None:
                boundaries.append((index - 1, found.end(), keyword))
        else:  # a SendGrid date starts here (only the first counts: _TOP_KEYWORDS has no dates)
            sendgrid = _SENDGRID_DATE_RE.match(value, index - 1)
            top = _TOP_KEYWORDS
    if angle:
        raise MailParserReceivedParsingError("unclosed-angle-address")
    return _assemble(value, size, boundaries, separators, sendgrid)


def _skip_comment(value: str, index: int) -> int:
    """Index after the comment that opened before ``index`` (comments nest), or -1."""
    close = value.find(")", index)
    if close >= 0 and value.find("(", index, close) < 0:  # most comments hold no other
        return close + 1
    depth = 1
    while (found := _IN_COMMENT.search(value, index)) is not None:
        index = found.end()
        depth += 1 if found.group() == "(" else -1
        if not depth:
            return index
    return -1


def _assemble(value: str, end: int, boundaries: list[tuple[int, int, str]], separators: list[int],
              sendgrid: re.Match[str] | None) -> tuple[list[tuple[str, str]], str | None]:
    """The tail of ``mailparser.received.split_received``: clauses up to the date, and the date."""
    date = None
    extra = None
    if separators:
        end = separators[0]
        date = value[end + 1:].strip(_FWS)
        if len(separators) > 1:  # "id token; for <recipient>; date", as mail-parser recovers it
            middle = value[end + 1:separators[1]].strip(_FWS)
            parts = middle.split(None, 1)
            if (len(separators) != 2 or len(parts) != 2 or not boundaries or boundaries[-1][2] != "id"
                    or parts[0].lower() != "for" or not parts[1].startswith("<") or not parts[1].endswith(">")):
                raise MailParserReceivedParsingError("ambiguous-date-separators")
            extra = ("for", _clause_value(parts[1]))
            date = value[separators[1] + 1:].strip(_FWS)
    elif sendgrid is not None:
        end = sendgrid.start()
        date = sendgrid.group(1)
        boundaries = [b for b in boundaries if b[0] < end]
    clauses = []
    for position, (_, start, keyword) in enumerate(boundaries):
        stop = boundaries[position + 1][0] if position + 1 < len(boundaries) else end
        clauses.append((keyword, _clause_value(value[start:stop])))
    if extra is not None:
        clauses.append(extra)
    return clauses, date


def _clause_value(text: str) -> str:
    """Folding white space collapsed (no quoted strings in a ``_simple`` header)."""
    return _single_spaced(text.strip(_FWS))


def _single_spaced(text: str) -> str:
    """``_RUNS.sub(" ", text)``; most clauses have no run to collapse, which four substring
    tests (in C) say faster than the substitution finds."""
    if "  " in text or "\n" in text or "\t" in text or "\r" in text:
        return _RUNS.sub(" ", text)
    return text
