"""Stage 2 helper: bytes of unknown or declared charset into text, the way a forensic reader must.

Order: the MIME charset, then an HTML ``<meta>`` charset, then UTF-8, then statistical
detection (charset-normalizer). The raw bytes stay with the caller for hashing.
"""

from __future__ import annotations

import codecs
import re
from functools import lru_cache

from charset_normalizer import from_bytes

_META_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]{1,40})""", re.I)
_DETECT_LIMIT = 64 * 1024


def known_charset(name: str | None) -> str | None:
    """The Python codec name for a declared charset, or None when it is unknown."""
    if not name:
        return None
    name = name.strip().strip("\"'").lower()
    if name in ("unknown-8bit", "x-unknown", "unknown"):
        return None
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def meta_charset(html: bytes) -> str | None:
    """The charset an HTML document declares in a ``<meta>`` tag, if any."""
    match = _META_CHARSET.search(html[:4096])
    return known_charset(match.group(1).decode("ascii")) if match else None


def detect_charset(data: bytes) -> str | None:
    """Statistical detection; only used when nothing is declared and UTF-8 fails."""
    return _detect(bytes(data[:_DETECT_LIMIT]))  # hashable whatever buffer came in


# Detection is a pure function of the bytes, ~15 ms even for a short body: a body mailed
# again (spam runs, a forwarded copy) is detected once. At most 64 x 64 KiB are kept.
@lru_cache(maxsize=64)
def _detect(head: bytes) -> str | None:
    best = from_bytes(head).best()
    return known_charset(best.encoding) if best is not None else None


def decode_body(data: bytes, declared: str | None, *, is_html: bool) -> tuple[str, str, bool]:
    """Decode a body: MIME charset, then ``<meta>``, then UTF-8, then detection.

    Returns the text, the charset used and whether replacement characters were needed.
    """
    candidates = [known_charset(declared)]
    if is_html:
        candidates.append(meta_charset(data))
    candidates.append("utf-8")
    for charset in candidates:
        if charset is None:
            continue
        try:
            return data.decode(charset), charset, False
        except (UnicodeDecodeError, LookupError):
            continue
    detected = detect_charset(data) or "windows-1252"
    try:
        return data.decode(detected), detected, False
    except UnicodeDecodeError:  # nothing fits every byte: keep the text, mark the damage
        return data.decode(detected, errors="replace"), detected, True
