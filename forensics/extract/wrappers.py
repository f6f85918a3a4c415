"""Stage 3 (extraction): unwrapping URLs, recursively, recording every hop — offline.

A link in a seized mailbox is often wrapped several times: the sender's e-mail service
rewrites it through its click redirector, the recipient's security gateway (Microsoft
Safe Links, Proofpoint URL Defense, Mimecast, Barracuda, ...) wraps that again, and a
webmail client's image proxy wraps remote images. Each unwrapper below reads the inner
URL from the outer one *as written* — nothing is fetched, so a redirector whose
destination is not written in its URL (an opaque ``/Click?q=token``) stays a redirector
with an unknown destination.

The Proofpoint decoders follow Proofpoint's published ``urldecoder.py`` (v1: plain
percent-encoding; v2: ``-`` for ``%`` and ``_`` for ``/``; v3: ``__url__;base64!!`` with
``*`` placeholders replaced from the base64 run).
"""

from __future__ import annotations

import base64
import binascii
import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit, urlunsplit

from forensics.extract.params import query_pairs
from forensics.extract.urls import host_of

MAX_HOPS = 10  # wrappers inside wrappers; deeper nesting is recorded as truncated

SECURITY, PROXY, REDIRECT = "security", "proxy", "redirect"


@dataclass(frozen=True, slots=True, kw_only=True)
class Hop:
    """One wrapper taken off: its name, what kind of service it is and the wrapped URL."""

    wrapper: str  # "safelinks", "proofpoint-v2", "redirect-param", "base64-param"...
    kind: str  # SECURITY (recipient's gateway), PROXY (webmail image proxy), REDIRECT (sender's)
    url: str  # the outer URL, as it was
    via: str  # the parameter or place the inner URL was read from
    residue: str  # the outer URL without the inner one (for identifier search)


@dataclass(frozen=True, slots=True, kw_only=True)
class Unwrapped:
    final: str
    hops: tuple[Hop, ...]
    notes: tuple[str, ...]  # e.g. a Mimecast link whose destination is not in the URL
    truncated: bool

    def wrappers(self) -> str:
        return ">".join(h.wrapper for h in self.hops)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Found:
    wrapper: str
    kind: str
    inner: str
    via: str
    residue: str


_SAFE = re.compile(r"^[a-z0-9.-]*safelinks\.protection\.(?:outlook\.com|office365\.us|outlook\.cn|outlook\.de)$")
_PP_V3 = re.compile(r"/v3/__(?P<url>.+?)__;(?P<enc>[^!]*)!")
_PP_V3_TOKEN = re.compile(r"\*(\*.)?")
_PP_RUN = {c: i + 2 for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")}
_URL_START = re.compile(r"^(?:https?:)?//|^https?%3a", re.I)
_ENCODED_IN_PATH = re.compile(r"/(https?(?::|%3a)(?://|%2f%2f).*)$", re.I)
_B64_URL_PREFIX = ("aHR0cDovL", "aHR0cHM6Ly")  # base64 of "http://" and "https://"
_SHARE_PATHS = ("/sharer", "/share", "/intent/", "/sharearticle")
_PROXY_SUFFIXES = ("yusercontent.com", "yimg.com", "superhumanapp.com", "outlook.office.net",
                   "outlook.office365.com", "mail.live.com")
# Gateways that put the whole destination in one query parameter.
_GATEWAY_PARAMS: tuple[tuple[str, str, str], ...] = (
    ("linkprotect.cudasvc.com", "barracuda", "a"),
    ("protect2.fireeye.com", "fireeye", "u"),
    ("trendmicro.com", "trendmicro", "url"),
    ("urlsand.esvalabs.com", "esva", "u"),
    ("scanner.topsec.com", "topsec", "u"),
)


def _path(url: str) -> str:
    try:
        return urlsplit(url).path
    except ValueError:
        return ""


def _param(url: str, *names: str) -> tuple[str, str] | None:
    try:
        query = urlsplit(url).query
    except ValueError:
        return None
    for name, value in query_pairs(query):
        if name.lower() in names and value:
            return name, value
    return None


def _without_param(url: str, name: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    kept = "&".join(i for i in parts.query.split("&") if unquote(i.partition("=")[0]) != name)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, kept, ""))


def _safelinks(url: str, host: str) -> _Found | None:
    if not _SAFE.match(host):
        return None
    found = _param(url, "url")
    return _Found(wrapper="safelinks", kind=SECURITY, inner=found[1], via="url",
                  residue=_without_param(url, found[0])) if found else None


def _proofpoint(url: str, host: str) -> _Found | None:
    if host == "urldefense.com" or host == "urldefense.proofpoint.com":
        path = _path(url)
        if "/v3/__" in url:
            return _proofpoint_v3(url)
        if path.startswith("/v2/url"):
            found = _param(url, "u")
            if found:
                raw = found[1].translate(str.maketrans("-_", "%/"))
                return _Found(wrapper="proofpoint-v2", kind=SECURITY, inner=html.unescape(unquote(raw)),
                              via="u", residue=_without_param(url, found[0]))
        if path.startswith("/v1/url"):
            found = _param(url, "u")
            if found:
                return _Found(wrapper="proofpoint-v1", kind=SECURITY, inner=html.unescape(found[1]),
                              via="u", residue=_without_param(url, found[0]))
    return None


def _proofpoint_v3(url: str) -> _Found | None:
    match = _PP_V3.search(url)
    if match is None:
        return None
    try:
        replacements = base64.urlsafe_b64decode(match.group("enc") + "==").decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        replacements = ""
    position = 0

    def replace(token: re.Match[str]) -> str:
        nonlocal position
        length = _PP_RUN.get(token.group(1)[-1], 0) if token.group(1) else 1
        chunk = replacements[position : position + length]
        position += length
        return chunk

    inner = _PP_V3_TOKEN.sub(replace, unquote(match.group("url")))
    return _Found(wrapper="proofpoint-v3", kind=SECURITY, inner=inner, via="__url__",
                  residue=url[: match.start("url")] + url[match.end("url") :])


def _mimecast(url: str, host: str) -> _Found | None:
    if not (host.endswith(".mimecast.com") or host.endswith("mimecastprotect.com")):
        return None
    found = _param(url, "url", "u")
    if found:
        return _Found(wrapper="mimecast", kind=SECURITY, inner=found[1], via=found[0],
                      residue=_without_param(url, found[0]))
    return None


def _gateway(url: str, host: str) -> _Found | None:
    for suffix, name, param in _GATEWAY_PARAMS:
        if host == suffix or host.endswith("." + suffix):
            found = _param(url, param)
            if found:
                return _Found(wrapper=name, kind=SECURITY, inner=found[1], via=param,
                              residue=_without_param(url, found[0]))
    if host.endswith(".protection.sophos.com"):
        found = _param(url, "u")
        inner = _b64_url(found[1]) if found else ""
        if found and inner:
            return _Found(wrapper="sophos", kind=SECURITY, inner=inner, via="u(base64)",
                          residue=_without_param(url, found[0]))
    if host == "secure-web.cisco.com":
        match = _ENCODED_IN_PATH.search(_path(url))
        if match:
            return _Found(wrapper="cisco", kind=SECURITY, inner=unquote(match.group(1)), via="path",
                          residue=url[: url.find(match.group(1))])
    return None


def _proxy(url: str, host: str) -> _Found | None:
    if host.endswith("googleusercontent.com") and "/proxy/" in url and "#" in url:
        inner = url.partition("#")[2]
        if _URL_START.match(inner):
            return _Found(wrapper="google-image-proxy", kind=PROXY, inner=inner, via="#fragment",
                          residue=url.partition("#")[0])
    if host.endswith(_PROXY_SUFFIXES):
        found = _param(url, "url", "u", "src")
        if found and _URL_START.match(found[1]):
            return _Found(wrapper="webmail-proxy", kind=PROXY, inner=found[1], via=found[0],
                          residue=_without_param(url, found[0]))
    return None


def _postmark(url: str, host: str) -> _Found | None:
    if not host.endswith("pstmrk.it"):
        return None
    segments = _path(url).split("/")
    if len(segments) > 2 and "." in unquote(segments[2]).split("/", 1)[0]:
        target = unquote(segments[2])
        inner = target if _URL_START.match(target) else f"https://{target}"
        return _Found(wrapper="postmark-click", kind=REDIRECT, inner=inner, via="path[1]",
                      residue=url.replace(segments[2], "", 1))
    return None


def _b64_url(value: str) -> str:
    """The URL a base64 value decodes to ('' if it is not one)."""
    if not value.startswith(_B64_URL_PREFIX):
        return ""
    cleaned = value.split(".", 1)[0]
    try:
        decoded = base64.urlsafe_b64decode(cleaned.replace("+", "-").replace("/", "_") + "=" * (-len(cleaned) % 4))
        text = decoded.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return ""
    return text if text.startswith(("http://", "https://")) and text.isprintable() else ""


def _embedded(url: str, host: str) -> _Found | None:
    """Generic redirectors: a destination in a parameter, the query, the path or base64."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if any(parts.path.lower().startswith(p) for p in _SHARE_PATHS):
        return None  # a share button names a page; it does not redirect to it
    found = _redirect_param(url, parts.query)
    if found:
        return found
    query = parts.query
    if _URL_START.match(query) and "//" in unquote(query[:12]):
        return _Found(wrapper="redirect-query", kind=REDIRECT, inner=_decode_url(query), via="?",
                      residue=urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")))
    match = _ENCODED_IN_PATH.search(parts.path)
    if match:
        tail = match.group(1) + (f"?{query}" if query and "%3a" not in match.group(1)[:8].lower() else "")
        return _Found(wrapper="redirect-path", kind=REDIRECT, inner=_decode_url(tail), via="path",
                      residue=url[: url.find(match.group(1))])
    for index, segment in enumerate(parts.path.split("/")):
        inner = _b64_url(segment)
        if inner:
            return _Found(wrapper="base64-path", kind=REDIRECT, inner=inner, via=f"path[{index - 1}]",
                          residue=url.replace(segment, "", 1))
    return None


def _decode_url(text: str) -> str:
    """Percent-decoding until the URL's scheme is readable (double-encoded redirects exist)."""
    for _ in range(3):
        if text.lower().startswith(("http://", "https://", "//")):
            break
        text = unquote(text)
    return text if not text.startswith("//") else "https:" + text


def _redirect_param(url: str, query: str) -> _Found | None:
    for name, value in query_pairs(query):
        if _URL_START.match(value):
            return _Found(wrapper="redirect-param", kind=REDIRECT, inner=_decode_url(value), via=name,
                          residue=_without_param(url, name))
        inner = _b64_url(value)
        if inner:
            return _Found(wrapper="base64-param", kind=REDIRECT, inner=inner, via=name,
                          residue=_without_param(url, name))
    return None


UNWRAPPERS: tuple[Callable[[str, str], _Found | None], ...] = (
    _safelinks, _proofpoint, _mimecast, _gateway, _proxy, _postmark, _embedded,
)


def _mimecast_note(url: str, host: str) -> str:
    if host.endswith(".mimecast.com") or host.endswith("mimecastprotect.com"):
        domain = _param(url, "domain")
        return f"mimecast: destination not written in the URL (domain={domain[1] if domain else '?'})"
    return ""


def unwrap(url: str, *, follow_redirects: bool = True) -> Unwrapped:
    """Take off every recognised wrapper, outermost first.

    ``follow_redirects=False`` takes off only security gateways and image proxies: for a
    remote image, a URL in a parameter is more often a referrer than a destination.
    """
    hops: list[Hop] = []
    notes: list[str] = []
    current, seen = url, {url}
    for _ in range(MAX_HOPS):
        host = host_of(current)
        if not _may_wrap(current, host):
            break
        found = next((f for f in (u(current, host) for u in UNWRAPPERS) if f is not None), None)
        if found is not None and found.kind == REDIRECT and not follow_redirects:
            found = None
        if found is None or not found.inner or found.inner in seen:
            note = _mimecast_note(current, host)
            if note:
                notes.append(note)
            return Unwrapped(final=current, hops=tuple(hops), notes=tuple(notes), truncated=False)
        hops.append(Hop(wrapper=found.wrapper, kind=found.kind, url=current, via=found.via,
                        residue=found.residue))
        current = found.inner.strip()
        seen.add(current)
    else:
        return Unwrapped(final=current, hops=tuple(hops), notes=tuple(notes), truncated=True)
    return Unwrapped(final=current, hops=tuple(hops), notes=tuple(notes), truncated=False)


def unwrap_resource(url: str) -> tuple[Unwrapped, bool]:
    """``unwrap(url, follow_redirects=False)`` (a remote resource's gateways and proxies), and
    whether its final URL still embeds a URL (``unwrap(final)`` takes a hop off).

    Most resource URLs cannot wrap anything (``_may_wrap``): then neither call finds a hop,
    and the answer is known without making them."""
    if not _may_wrap(url, host_of(url)):
        return Unwrapped(final=url, hops=(), notes=(), truncated=False), False
    unwrapped = unwrap(url, follow_redirects=False)
    return unwrapped, bool(unwrap(unwrapped.final).hops)


def _may_wrap(url: str, host: str) -> bool:
    """Cheap test first: every unwrapper needs an inner URL's trace ('http', '//' encoded or
    not, base64 of 'http') after the scheme, or one of the hosts that write it otherwise."""
    rest = url[8:].lower()
    return ("http" in rest or "ahr0c" in rest or "=//" in rest or "%2f%2f" in rest
            or host.endswith(("pstmrk.it", ".mimecast.com", "mimecastprotect.com")))
