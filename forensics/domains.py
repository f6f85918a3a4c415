"""Hosts and registered domains, with the public-suffix list bundled and used offline."""

from __future__ import annotations

from functools import lru_cache

import tldextract

# suffix_list_urls=() and cache_dir=None: never fetch the list, use the snapshot shipped
# inside tldextract (fetching would be a network connection the tool must never make).
_EXTRACT = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, include_psl_private_domains=False)


@lru_cache(maxsize=65536)
def registered_domain(host: str) -> str:
    """``click.news.example.co.uk`` -> ``example.co.uk``; an IP or bare name is returned as is."""
    host = host.strip().strip(".").lower()
    if not host:
        return ""
    parts = _EXTRACT(host)
    if parts.domain and parts.suffix:
        return f"{parts.domain}.{parts.suffix}"
    return host
