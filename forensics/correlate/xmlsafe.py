"""Stage 4 (correlation): text made safe for XML exports (GraphML and GEXF are XML 1.0).

Evidence text (subjects, decoded token values) may hold control characters or lone
surrogates that XML 1.0 cannot carry; the writers would fail or write a file Gephi
rejects. Such characters are replaced by ``\\xNN``/``\\uNNNN`` escapes when the graph
is built, so all three exports hold the same, readable values.
"""

from __future__ import annotations

import re

# Everything outside XML 1.0's Char production (plus U+FFFE/U+FFFF), and CR, which XML
# parsers turn into LF on reading (the exports would not read back equal).
_ILLEGAL = re.compile("[\x00-\x08\x0b-\x1f\ud800-\udfff\ufffe\uffff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def xml_safe(text: str) -> str:
    return _ILLEGAL.sub(_escape, text) if _ILLEGAL.search(text) else text
