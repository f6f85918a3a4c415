"""Stage 3 (tokens): one decoding step on a token value, where the data shows the encoding.

Each decoder looks at a string and either declines (returns ``None``) or returns the
decoded string and the name of the step. The names are the same words the identity
forms in ``forensics.leaks`` use for the matching encodings, so a leak found by
decoding a token and one found by precomputing the encoded identity get the same
chain. The checks are strict on purpose: a value is only "base64" when it decodes to
printable text (or to exactly a digest's number of bytes) and re-encodes to itself.
These are hand-written because no installed library guesses encodings of short
strings; they are thin wrappers around ``base64``, ``binascii`` and ``urllib.parse``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Iterator
from urllib.parse import unquote_to_bytes

MIN_ENCODED = 8  # shorter strings decode to noise too often to be worth it
DIGEST_BYTES = frozenset({16, 20, 28, 32, 48, 64})  # md5, sha1/ripemd, sha224, sha256, sha384, sha512
DIGEST_HEX = frozenset(2 * n for n in DIGEST_BYTES)

_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")
_B64_STD = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_B64_URL = re.compile(r"[A-Za-z0-9_-]+={0,2}")
_B32 = re.compile(r"(?:[A-Z2-7]+|[a-z2-7]+)={0,6}")
_LOWER_HEX = re.compile(r"[0-9a-f]+")
_UPPER_HEX = re.compile(r"[0-9A-F]*[A-F][0-9A-F]*")

Step = tuple[str, str]  # (step name, decoded value)


def printable_text(data: bytes) -> str | None:
    """``data`` as UTF-8 text when every character is printable (tabs and newlines allowed)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not text or not all(c.isprintable() or c in "\t\r\n" for c in text):
        return None
    return text


def url_step(value: str) -> Step | None:
    """Percent-decoding, once (double encoding shows as two ``url`` steps)."""
    if not _PERCENT.search(value):
        return None
    text = printable_text(unquote_to_bytes(value))
    return ("url", text) if text is not None and text != value else None


def _b64_name(value: str) -> str:
    url_safe = "-" in value or "_" in value
    name = "base64url" if url_safe else "base64"
    return name if "=" in value or len(value) % 4 == 0 else f"{name}-nopad"


def base64_step(value: str) -> Step | None:
    """Standard or URL-safe base64, padded or not; text, or a digest's bytes as hex (``raw``)."""
    if len(value) < MIN_ENCODED or len(value) % 4 == 1:
        return None
    url_safe = _B64_URL.fullmatch(value) is not None
    if not url_safe and _B64_STD.fullmatch(value) is None:
        return None
    body = value.rstrip("=")
    padded = body + "=" * (-len(body) % 4)
    try:
        data = (base64.urlsafe_b64decode if url_safe else base64.b64decode)(padded.encode("ascii"))
    except (binascii.Error, ValueError):
        return None
    encoder = base64.urlsafe_b64encode if url_safe else base64.b64encode
    if encoder(data).decode("ascii").rstrip("=") != body:  # non-canonical: not really base64
        return None
    text = printable_text(data)
    if text is not None:
        return (_b64_name(value), text)
    if len(data) in DIGEST_BYTES:
        return (f"{_b64_name(value)}+raw", data.hex())
    return None


def base32_step(value: str) -> Step | None:
    """RFC 4648 base32 (either case), decoding to printable text."""
    if len(value) < MIN_ENCODED or _B32.fullmatch(value) is None:
        return None
    body = value.rstrip("=")
    try:
        data = base64.b32decode(body.upper() + "=" * (-len(body) % 8))
    except (binascii.Error, ValueError):
        return None
    text = printable_text(data)
    return ("base32", text) if text is not None else None


def hex_step(value: str) -> Step | None:
    """Lower-case hex of printable text; hex of binary is left alone (it is a digest itself).

    Upper-case hex is first lower-cased by ``upper_step``, so its chain says so.
    """
    if len(value) < MIN_ENCODED or len(value) % 2 or _LOWER_HEX.fullmatch(value) is None:
        return None
    text = printable_text(bytes.fromhex(value))
    return ("hex", text) if text is not None else None


def upper_step(value: str) -> Step | None:
    """Upper-case hex (a digest printed in capitals) becomes lower-case, the canonical form."""
    if len(value) < MIN_ENCODED or _UPPER_HEX.fullmatch(value) is None:
        return None
    return ("upper", value.lower())


DECODERS: tuple[Callable[[str], Step | None], ...] = (
    url_step, upper_step, hex_step, base64_step, base32_step,
)


def decode_steps(value: str) -> Iterator[Step]:
    """Every decoding one step deep that the data supports (usually none or one)."""
    for decoder in DECODERS:
        step = decoder(value)
        if step is not None:
            yield step


def split_step_name(name: str) -> tuple[str, ...]:
    """``base64url-nopad+raw`` -> ``("base64url-nopad", "raw")``: a decoder may do two steps."""
    return tuple(name.split("+"))


def json_leaves(text: str, limit: int = 64) -> list[tuple[str, str]] | None:
    """``(key.path, value)`` for the strings and numbers of a JSON object or array."""
    if not text or text[0] not in "{[":
        return None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None
    out: list[tuple[str, str]] = []
    _walk_json(data, "", out, limit)
    return out


def _walk_json(node: object, path: str, out: list[tuple[str, str]], limit: int) -> None:
    if len(out) >= limit:
        return
    if isinstance(node, dict):
        for key, child in node.items():
            _walk_json(child, f"{path}.{key}" if path else str(key), out, limit)
    elif isinstance(node, list):
        for i, child in enumerate(node):
            _walk_json(child, f"{path}.{i}" if path else str(i), out, limit)
    elif isinstance(node, str):
        out.append((path, node))
    elif isinstance(node, (int, float)) and not isinstance(node, bool):
        out.append((path, json.dumps(node)))
