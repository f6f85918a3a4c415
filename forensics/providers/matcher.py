"""Stage 3b: the URL matcher, compiled once from the knowledge base.

Cost per URL does not grow with the number of providers:
- host rules live in a dict keyed by host suffix; a URL costs one lookup per label of its
  host (and of its digit-normalised form, so ``cmail#.com`` matches ``cmail20.com``);
- path shapes are bucketed by their literal first path segment (``wf``, ``e2t``, ``I0``...),
  each bucket compiled into one alternation; a URL runs its own bucket's regex plus the
  small bucket of shapes whose first segment is not a literal;
- exclusive tracking parameters are a dict lookup per query parameter.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import parse_qsl, unquote, urlsplit

from forensics.providers.kb import KnowledgeBaseError, Provider, UrlRule

_DIGITS = re.compile(r"\d+")
_HOSTS_KEPT = 4096  # hosts whose neutral suffix is remembered (a mailbox has few hosts)
# The literal first segment of a shape regex: ^/wf/..., ^/open\.aspx\?..., ^/\?qs=...
_LEAD = re.compile(r"\^/((?:[A-Za-z0-9_~-]|\\\.)*)(?=/|\\\?|\$|$)")


@dataclass(frozen=True, slots=True, kw_only=True)
class UrlParts:
    host: str
    path: str  # always starts with "/"
    query: str
    pairs: tuple[tuple[str, str], ...] = ()  # the query, parsed once
    keys: tuple[str, ...] = ()  # host_keys(host), computed once

    @property
    def path_query(self) -> str:
        return f"{self.path}?{self.query}" if self.query else self.path

    @property
    def first_segment(self) -> str:
        return self.path[1:].split("/", 1)[0]


@dataclass(frozen=True, slots=True, kw_only=True)
class Hit:
    rule: UrlRule
    matched: str  # the host key, path text or parameter that matched
    destination: str = ""


def split_url(url: str, host: str = "") -> UrlParts:
    """Host (lower case, no port, no trailing dot), path and query of a URL; never raises."""
    try:
        parts = urlsplit(url.strip())
        # the URL's own host name is parsed only when the caller gives none
        netloc_host = (parts.hostname or "") if not host else ""
    except ValueError:
        parts, netloc_host = urlsplit(""), ""
    name = (host or netloc_host).strip().lower()
    if name.count(":") == 1:
        name = name.partition(":")[0]  # a caller's host with a port; IPv6 literals keep theirs
    name = name.strip(".")
    return UrlParts(host=name, path=parts.path or "/", query=parts.query,
                    pairs=tuple(_query_pairs(parts.query)), keys=_keys(name))


def host_keys(host: str) -> list[str]:
    """Suffixes of a host, longest first, each also with digit runs replaced by '#'."""
    return list(_keys(host))


@lru_cache(maxsize=4096)  # a mailbox has few hosts and many URLs and Received lines
def _keys(host: str) -> tuple[str, ...]:
    labels = host.split(".")
    keys: list[str] = []
    for i in range(len(labels) - 1):
        raw = ".".join(labels[i:])
        keys.append(raw)
        normalised = _DIGITS.sub("#", raw)
        if normalised != raw:
            keys.append(normalised)
    return tuple(keys)


def shape_segment(pattern: str) -> str | None:
    """The literal first path segment a shape requires, or None when it is not literal."""
    match = _LEAD.match(pattern)
    return match.group(1).replace("\\.", ".") if match else None


class _Alternation:
    """Several anchored rules compiled into one regex; reports which one matched."""

    __slots__ = ("rules", "regex", "singles")

    def __init__(self, rules: Sequence[UrlRule]) -> None:
        self.rules = tuple(rules)
        # Inner (?P<dest>...) groups would clash once combined; they stay plain groups here
        # and are read from the single rule's own regex after the combined one matched.
        body = "|".join(f"(?P<r{i}>{r.path.replace('(?P<dest>', '(')})" for i, r in enumerate(rules))
        self.regex = re.compile(body)
        self.singles = tuple(re.compile(r.path) for r in rules)

    def match(self, text: str) -> tuple[UrlRule, re.Match[str]] | None:
        found = self.regex.match(text)
        if found is None or found.lastgroup is None:
            return None
        index = int(found.lastgroup[1:])
        single = self.singles[index].match(text)
        return (self.rules[index], single) if single else None


class UrlMatcher:
    """Host, path-shape and parameter rules of a set of providers, compiled once."""

    def __init__(self, providers: Iterable[Provider], neutral_hosts: Iterable[str] = ()) -> None:
        self.host_only: dict[str, UrlRule] = {}
        self.params: dict[str, UrlRule] = {}
        host_paths: dict[str, list[UrlRule]] = {}
        shapes: dict[str | None, list[UrlRule]] = {}
        for provider in providers:
            for rule in provider.hosts:
                _claim(self.host_only, rule.host, rule)
            for rule in provider.urls:
                host_paths.setdefault(rule.host, []).append(rule)
            for rule in provider.shapes:
                shapes.setdefault(shape_segment(rule.path), []).append(rule)
            for rule in provider.params:
                _claim(self.params, rule.path, rule)
        self.host_paths = {h: _Alternation(rules) for h, rules in host_paths.items()}
        self.shape_buckets = {s: _Alternation(r) for s, r in shapes.items() if s is not None}
        self.shape_wild = _Alternation(shapes[None]) if None in shapes else None
        self.neutral = frozenset(neutral_hosts)
        self._neutral_of: dict[str, str] = {}  # host -> its neutral suffix ('' if none)
        self.shape_count = sum(len(r) for r in shapes.values())

    def match_host(self, parts: UrlParts) -> Hit | None:
        """Layer 1: the most specific host suffix with a rule; its path rules before itself."""
        for key in parts.keys:
            paths = self.host_paths.get(key)
            found = paths.match(parts.path_query) if paths else None
            if found:
                return Hit(rule=found[0], matched=key, destination=_destination(found, parts))
            rule = self.host_only.get(key)
            if rule is not None:
                return Hit(rule=rule, matched=key)
        return None

    def known_host_keys(self, parts: UrlParts) -> list[str]:
        """Host suffixes that have path rules (for explaining a near miss)."""
        return [k for k in parts.keys if k in self.host_paths]

    def match_shape(self, parts: UrlParts) -> Hit | None:
        """Layer 2a: a path shape that identifies the service whatever the host."""
        text = parts.path_query
        for bucket in (self.shape_buckets.get(parts.first_segment), self.shape_wild):
            found = bucket.match(text) if bucket else None
            if found:
                return Hit(rule=found[0], matched=found[1].group(0), destination=_destination(found, parts))
        return None

    def match_param(self, parts: UrlParts) -> Hit | None:
        """Layer 2b: a query parameter only one service uses (mc_eid, _hsenc, mkt_tok...)."""
        for name, _value in parts.pairs:
            rule = self.params.get(name.lower())
            if rule is not None:
                return Hit(rule=rule, matched=name)
        return None

    def neutral_host(self, parts: UrlParts) -> str:
        """The neutral (content, font, CDN) suffix the host falls under, or ''."""
        found = self._neutral_of.get(parts.host)  # keys are a function of the host alone
        if found is None:
            if len(self._neutral_of) >= _HOSTS_KEPT:
                self._neutral_of.clear()
            found = self._neutral_of[parts.host] = next((k for k in parts.keys if k in self.neutral), "")
        return found


def _claim(table: dict[str, UrlRule], key: str, rule: UrlRule) -> None:
    other = table.get(key)
    if other is not None and other.provider_id != rule.provider_id:
        raise KnowledgeBaseError(
            f"'{key}' is claimed by two providers: {other.provider_id} and {rule.provider_id}")
    table[key] = rule


def _query_pairs(query: str) -> list[tuple[str, str]]:
    return parse_qsl(query, keep_blank_values=True) if query else []


def _destination(found: tuple[UrlRule, re.Match[str]], parts: UrlParts) -> str:
    """Where a click redirect sends the reader: a named query parameter or a (?P<dest>) group."""
    rule, match = found
    if "dest" in match.re.groupindex and match.group("dest"):
        return unquote(match.group("dest"))
    if rule.dest:
        for name, value in parts.pairs:
            if name == rule.dest:
                return value
    return ""


def tracking_params(parts: UrlParts, exclusive: dict[str, UrlRule], generic: frozenset[str],
                    prefixes: tuple[str, ...]) -> tuple[str, ...]:
    """Names of known tracking parameters present in the query, in order, without repeats."""
    found: list[str] = []
    for name, _value in parts.pairs:
        lname = name.lower()
        if (lname in exclusive or lname in generic or lname.startswith(prefixes)) and name not in found:
            found.append(name)
    return tuple(found)
