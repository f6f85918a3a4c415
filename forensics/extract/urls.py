"""Stage 3 (extraction) helpers: what a URL written in a message points at, offline.

A reference is classified by scheme before anything else: ``cid:``/``mid:`` (a part of
the message itself) and ``data:`` (inline bytes) are counted, never treated as remote;
``http``/``https``/``ftp`` and ``file://host`` (an SMB fetch on Windows clients) are remote;
a relative URL is remote only when a ``<base href>`` makes it absolute.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urljoin, urlsplit

from forensics.domains import registered_domain

REMOTE_SCHEMES = frozenset({"http", "https", "ftp"})
EMBEDDED_SCHEMES = frozenset({"cid", "mid"})
# Protocol-relative URLs (``//host/x``) take the base's scheme; without a base, the scheme
# a webmail page or a modern client would use.
DEFAULT_SCHEME = "https"
_URL_WHITESPACE = str.maketrans("", "", "\t\n\r")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """A reference made absolute: its class, the URL a client would request, host and domain."""

    category: str  # "remote" | "cid" | "data" | "relative" | "fragment" | "script" | "other"
    resolved: str  # absolute URL ("" when nothing would be requested)
    scheme: str
    host: str
    registered_domain: str


def clean(raw: str) -> str:
    """A URL as a browser reads an attribute: outer whitespace and inner tabs/newlines dropped."""
    url = raw.strip(" \t\n\r\f\v")
    if "\t" in url or "\n" in url or "\r" in url:  # translate() looks up every character
        url = url.translate(_URL_WHITESPACE)
    return url


def scheme_of(url: str) -> str:
    """The lower-cased scheme, or '' for relative and protocol-relative URLs."""
    match = _SCHEME.match(url)
    return match.group(1).lower() if match else ""


@lru_cache(maxsize=16384)
def host_of(url: str) -> str:
    """Host name of an absolute URL, lower case, without port or trailing dot ('' if none)."""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:  # a malformed IPv6 literal or port: no host to speak of
        return ""
    return host.strip(".")


def absolute(url: str, base: str) -> str:
    """``url`` resolved against ``base`` (a ``<base href>``), protocol-relative made absolute."""
    if url.startswith("//"):
        base_scheme = scheme_of(base) if base else ""
        return f"{base_scheme or DEFAULT_SCHEME}:{url}"
    if base and not scheme_of(url):
        try:
            return urljoin(base, url)
        except ValueError:
            return url
    return url


@lru_cache(maxsize=16384)
def target(raw: str, base: str = "") -> Target:
    """Classify and resolve one reference as written (entities already decoded); cached, as
    spacers and footer links repeat within and across messages."""
    url = clean(raw)
    if not url or url.startswith("#"):
        return _target("fragment", "", "")
    url = absolute(url, base)
    scheme = scheme_of(url)
    if scheme in EMBEDDED_SCHEMES:
        return _target("cid", "", scheme)
    if scheme == "data":
        return _target("data", "", scheme)
    if scheme in ("javascript", "vbscript"):
        return _target("script", "", scheme)
    if not scheme:
        return _target("relative", "", "")
    host = host_of(url) if scheme != "mailto" else _mailto_host(url)
    remote = scheme in REMOTE_SCHEMES or (scheme == "file" and host not in ("", "localhost"))
    if remote and host:
        return Target(category="remote", resolved=url, scheme=scheme, host=host,
                      registered_domain=registered_domain(host))
    return Target(category="other", resolved=url, scheme=scheme, host=host,
                  registered_domain=registered_domain(host) if host else "")


def _mailto_host(url: str) -> str:
    """The domain of the first address of a mailto: URL."""
    address = url[len("mailto:"):].partition("?")[0].split(",")[0]
    return address.rpartition("@")[2].strip().strip(".").lower() if "@" in address else ""


def _target(category: str, resolved: str, scheme: str) -> Target:
    return Target(category=category, resolved=resolved, scheme=scheme, host="", registered_domain="")


def party(domain: str, sender_domain: str) -> str:
    """``first`` when the URL's registered domain is the sender's, ``third`` otherwise."""
    if not domain or not sender_domain:
        return "unknown"
    return "first" if domain == sender_domain else "third"
