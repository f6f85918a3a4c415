"""Stage 3b: who operates a tracker. Rules are data (``rules/*.toml``); this is the matcher's API.

The extraction stage calls ``attribute_url`` for every remote resource and link; the
result records which layer decided and why:

1. ``host``: a host rule (``awstrack.me``, ``list-manage.com``, ``facebook.com`` + ``/tr``);
2. ``path``: a path shape or tracking parameter that identifies the service whatever the
   host, so branded (CNAME-cloaked) tracking domains are still attributed;
3. ``header``: the message's own headers name its sending service, and the URL looks like
   that service's tracking on a branded domain (tracking sub-domain label, or an opaque
   token on the sender's own domain);
4. ``first-party``: the host is under the sender's registered domain; else ``unknown``.

Header attribution is computed once per message (cached by ``message_sha256``, or passed in).
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from dataclasses import dataclass, replace
from functools import lru_cache

from forensics.domains import registered_domain
from forensics.providers.headers import HeaderMatcher
from forensics.providers.kb import KnowledgeBase, Provider, load
from forensics.providers.matcher import Hit, UrlMatcher, UrlParts, split_url, tracking_params
from forensics.providers.result import UNKNOWN, Attribution, Explanation, Step
from forensics.records import Locator, Message, RawMessage

__all__ = [
    "Attribution", "Attributor", "Explanation", "ProviderSummary", "Step", "UNKNOWN",
    "attribute_message", "attribute_url", "default_attributor", "explain_url",
    "message_from_headers", "provider_summaries", "providers", "rules_files", "rules_version",
    "sender_domain",
]

# Weight of the URL's own look in a header-layer attribution (times the header score).
_LOOK_WEIGHT = {(True, True): 0.85, (False, True): 0.75, (True, False): 0.65}
_FIRST_PARTY_CONFIDENCE = 0.5
_CACHE_SIZE = 1024
_URL_CACHE_SIZE = 8192  # attributions of URLs (a few hundred bytes each)
_AUTO = object()  # attribute_url computes (or reuses) the message's header attribution
_STATIC_FILE = re.compile(r"\.(?:png|jpe?g|gif|webp|svg|ico|bmp|css|js|woff2?|ttf|otf|eot|mp4|pdf)$", re.I)
_TOKEN = re.compile(r"[A-Za-z0-9_~.=%+-]{20,}")
_HEX = re.compile(r"[0-9a-fA-F-]{20,}")
_DIGIT_RUN = re.compile(r"\d+")


def sender_domain(message: Message | None) -> str:
    """The registered domain of the message's From address ('' when there is none)."""
    if message is None or not message.from_:
        return ""
    address = message.from_[0].address
    return registered_domain(address.rpartition("@")[2]) if "@" in address else ""


class Attributor:
    """The knowledge base compiled for matching (once per process, or per test rule set)."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        self.by_id = kb.by_id()
        self.urls = UrlMatcher(kb.providers, kb.meta.neutral_hosts)
        self.headers = HeaderMatcher(kb.providers)
        self._generic = frozenset(kb.meta.generic_params)
        self._prefixes = kb.meta.generic_param_prefixes
        self._labels = frozenset(kb.meta.tracking_labels)
        self._cache: OrderedDict[str, Attribution | None] = OrderedDict()
        self._url_cache: dict[tuple[str, str, Attribution | None, str], Attribution] = {}

    # ------------------------------------------------------------- messages (layer 3)

    def attribute_message(self, message: Message) -> Attribution | None:
        """The sending service named by the message's headers, or None (cached per message)."""
        key = message.message_sha256
        if key and key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        verdict = self.headers.verdict(message)
        result = None
        if verdict is not None:
            provider = self.by_id[verdict.provider_id]
            result = self._result(provider, layer="header", rule_id=verdict.evidence[0].rule.rule_id,
                                  confidence=verdict.score, reason=verdict.reason, role="sender")
        if key:
            self._cache[key] = result
            if len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        return result

    # ------------------------------------------------------------------- URLs

    def attribute_url(self, url: str, host: str = "", message: Message | None = None,
                      *, header: Attribution | None | object = _AUTO) -> Attribution:
        """Attribute one URL; the first layer that decides wins.

        The answer depends on the message only through its header attribution and its
        sender's domain, so it is cached under those: extraction, tokens and leaks ask
        about the same URLs, and a newsletter's URLs recur from message to message.
        """
        found_header = self._header(message, header)
        own = sender_domain(message)
        key = (url, host, found_header, own)
        cached = self._url_cache.get(key)
        if cached is None:
            if len(self._url_cache) >= _URL_CACHE_SIZE:
                self._url_cache.clear()  # bounded; cheaper than LRU order and as good for runs of a sender
            cached = self._url_cache[key] = self._attribute_url(url, host, found_header, own)
        return cached

    def _attribute_url(self, url: str, host: str, header: Attribution | None, own: str) -> Attribution:
        parts = split_url(url, host)
        params = tracking_params(parts, self.urls.params, self._generic, self._prefixes)
        found = (self.layer_host(parts) or self.layer_path(parts)
                 or self._layer_header(parts, header, own)
                 or self._layer_first_party(parts, own))
        if found is None:
            found = _unknown(self.urls.neutral_host(parts))
        return replace(found, tracking_params=params) if params else found

    def _header(self, message: Message | None, header: Attribution | None | object) -> Attribution | None:
        if header is not _AUTO:
            return header if isinstance(header, Attribution) else None
        return self.attribute_message(message) if message is not None else None

    def layer_host(self, parts: UrlParts) -> Attribution | None:
        hit = self.urls.match_host(parts) if parts.host else None
        if hit is None:
            return None
        if hit.rule.kind == "url":
            reason = f"host {parts.host} is under {hit.matched} and the path matches /{hit.rule.path}/"
            return self._hit(hit, "host", reason)
        reason = f"host {parts.host} is under {hit.matched}, operated by {self.by_id[hit.rule.provider_id].name}"
        shape = self.urls.match_shape(parts)
        if shape is not None and shape.rule.provider_id == hit.rule.provider_id:
            # The provider's own path shape on its own host says what the URL does (open, click)
            # and where a click goes; the host still decides.
            found = self._hit(shape, "host", f"{reason}; its path shape {shape.rule.rule_id} says {shape.rule.role}")
            return replace(found, confidence=round(max(hit.rule.confidence, shape.rule.confidence) + 0.05, 3))
        return self._hit(hit, "host", reason)

    def layer_path(self, parts: UrlParts) -> Attribution | None:
        hit = self.urls.match_shape(parts)
        if hit is not None:
            reason = f"path shape /{hit.rule.path}/ matches {_clip(hit.matched)}"
            return self._hit(hit, "path", reason + (f" ({hit.rule.note})" if hit.rule.note else ""))
        hit = self.urls.match_param(parts)
        if hit is not None:
            name = self.by_id[hit.rule.provider_id].name
            return self._hit(hit, "path", f"query parameter {hit.matched} is used only by {name}")
        return None

    def layer_header(self, parts: UrlParts, message: Message | None,
                     header: Attribution | None) -> Attribution | None:
        return self._layer_header(parts, header, sender_domain(message))

    def _layer_header(self, parts: UrlParts, header: Attribution | None, own: str) -> Attribution | None:
        """``layer_header`` given the sender's domain ``own`` (the only message fact it reads)."""
        if header is None or not parts.host or self.urls.neutral_host(parts):
            return None
        look = self._tracking_look(parts, own)
        weight = _LOOK_WEIGHT.get((bool(look[0]), bool(look[1])))
        if weight is None:
            return None
        why = " and ".join(x for x in look if x)
        return replace(header, layer="header", role="tracker", confidence=round(header.confidence * weight, 3),
                       reason=f"{why}; the message headers name {header.provider}: {header.reason}")

    def tracking_look(self, parts: UrlParts, message: Message | None) -> tuple[str, str]:
        """Why the URL looks like tracking on a branded domain: (label reason, token reason)."""
        return self._tracking_look(parts, sender_domain(message))

    def _tracking_look(self, parts: UrlParts, own: str) -> tuple[str, str]:
        first = parts.host.split(".", 1)[0]
        label = (f"sub-domain '{first}' is a typical tracking label"
                 if _DIGIT_RUN.sub("#", first) in self._labels else "")
        token = _opaque_token(parts)
        on_own = bool(own) and registered_domain(parts.host) == own
        token_reason = ""
        if token and (on_own or label):
            token_reason = f"it carries an opaque token {_clip(token, 24)}" + (
                f" on the sender's domain {own}" if on_own else "")
        return label, token_reason

    def layer_first_party(self, parts: UrlParts, message: Message | None) -> Attribution | None:
        return self._layer_first_party(parts, sender_domain(message))

    def _layer_first_party(self, parts: UrlParts, own: str) -> Attribution | None:
        domain = registered_domain(parts.host) if parts.host else ""
        if not domain or domain != own:
            return None
        return Attribution(provider="", company="", category="first-party", layer="first-party",
                           rule_id="", confidence=_FIRST_PARTY_CONFIDENCE,
                           reason=f"host is under the sender's domain {domain}")

    def _hit(self, hit: Hit, layer: str, reason: str) -> Attribution:
        provider = self.by_id[hit.rule.provider_id]
        return self._result(provider, layer=layer, rule_id=hit.rule.rule_id,
                            confidence=hit.rule.confidence, reason=reason, role=hit.rule.role,
                            destination=hit.destination)

    @staticmethod
    def _result(provider: Provider, **fields: object) -> Attribution:
        return Attribution(provider=provider.name, company=provider.company,
                           category=provider.category, provider_id=provider.id,
                           **fields)  # type: ignore[arg-type]

    # ---------------------------------------------------------------- explain

    def explain(self, url: str, host: str = "", message: Message | None = None) -> Explanation:
        """Every layer tried on a URL, what it found, and the final attribution."""
        parts = split_url(url, host)
        header = self.attribute_message(message) if message is not None else None
        steps = [self._explain_host(parts), self._explain_path(parts),
                 self._explain_header(parts, message, header), self._explain_first_party(parts, message)]
        return Explanation(url=url, host=parts.host, steps=tuple(steps),
                           attribution=self.attribute_url(url, host, message, header=header),
                           header_attribution=header, rules_version=self.kb.version)

    def _explain_host(self, parts: UrlParts) -> Step:
        found = self.layer_host(parts)
        if found:
            return Step(layer="host", matched=True, detail=f"{found.rule_id}: {found.reason}")
        near = self.urls.known_host_keys(parts)
        detail = (f"{', '.join(near)} has path rules but none matches {_clip(parts.path_query)}" if near
                  else f"no host rule for {parts.host or '(no host)'} or its parent domains")
        return Step(layer="host", matched=False, detail=detail)

    def _explain_path(self, parts: UrlParts) -> Step:
        found = self.layer_path(parts)
        if found:
            return Step(layer="path", matched=True, detail=f"{found.rule_id}: {found.reason}")
        names = [k for k, _ in parts.pairs]
        params = (f"no query parameter among {', '.join(names)} is service-specific" if names
                  else "no query parameters")
        return Step(layer="path", matched=False, detail=(
            f"none of {self.urls.shape_count} path shapes matches {_clip(parts.path_query)}; {params}"))

    def _explain_header(self, parts: UrlParts, message: Message | None, header: Attribution | None) -> Step:
        if message is None:
            return Step(layer="header", matched=False, detail="no message headers given")
        if header is None:
            return Step(layer="header", matched=False, detail="the headers name no known sending service")
        found = self.layer_header(parts, message, header)
        if found:
            return Step(layer="header", matched=True, detail=f"{found.rule_id}: {found.reason}")
        neutral = self.urls.neutral_host(parts)
        why = (f"{neutral} serves ordinary content" if neutral else
               "the URL has neither a tracking sub-domain label nor an opaque token on a branded domain")
        return Step(layer="header", matched=False,
                    detail=f"headers name {header.provider} ({header.reason}), but {why}")

    def _explain_first_party(self, parts: UrlParts, message: Message | None) -> Step:
        found = self.layer_first_party(parts, message)
        if found:
            return Step(layer="first-party", matched=True, detail=found.reason)
        own = sender_domain(message)
        domain = registered_domain(parts.host) if parts.host else ""
        detail = (f"registered domain {domain or '(none)'} differs from the sender's {own}" if own
                  else "no sender domain known (no From address)")
        return Step(layer="first-party", matched=False, detail=detail)


@lru_cache(maxsize=256)
def _unknown(neutral: str) -> Attribution:
    return replace(UNKNOWN, reason=f"{neutral} serves ordinary content (fonts, CDN)") if neutral else UNKNOWN


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _opaque_token(parts: UrlParts) -> str:
    """A long identifier-like string in the path or query (mixed case and digits, or hex)."""
    segments = parts.path.split("/")
    if segments and _STATIC_FILE.search(segments[-1]):
        segments = segments[:-1]  # a file name like logo-2x.png is content, not an identifier
    values = [v for _, v in parts.pairs]
    for text in segments + values:
        for match in _TOKEN.finditer(text):
            token = match.group(0)
            if _is_opaque(token):
                return token
    return ""


def _is_opaque(token: str) -> bool:
    has_digit = any(c.isdigit() for c in token)
    mixed_case = any(c.isupper() for c in token) and any(c.islower() for c in token)
    return has_digit and (mixed_case or bool(_HEX.fullmatch(token)))


# ----------------------------------------------------------------- module-level API


@lru_cache(maxsize=1)
def default_attributor() -> Attributor:
    """The bundled knowledge base, compiled once per process."""
    return Attributor(load())


def attribute_url(url: str, host: str, message: Message | None = None,
                  *, header: Attribution | None | object = _AUTO) -> Attribution:
    """Attribute one URL. ``header`` may pass the message's precomputed header attribution."""
    return default_attributor().attribute_url(url, host, message, header=header)


def attribute_message(message: Message) -> Attribution | None:
    """The sending service the message's headers identify (layer 3), or None."""
    return default_attributor().attribute_message(message)


def explain_url(url: str, host: str = "", message: Message | None = None,
                *, include_unverified: bool = False) -> Explanation:
    """Which rule matched a URL and why, or why nothing did (``include_unverified``: also the
    recalled rules no source backs, which scans never use)."""
    if include_unverified:
        return _full_attributor().explain(url, host, message)
    return default_attributor().explain(url, host, message)


@lru_cache(maxsize=1)
def _full_attributor() -> Attributor:
    return Attributor(load(include_unverified=True))


def providers() -> tuple[Provider, ...]:
    return load().providers


def rules_version() -> str:
    """Knowledge-base version plus a digest of the rules files (for the manifest)."""
    return load().version


def rules_files() -> tuple[tuple[str, str], ...]:
    """(file name, SHA-256) of every rules file read, sorted by name."""
    return load().files


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderSummary:
    """One line of ``forensics providers``."""

    id: str
    name: str
    company: str
    category: str
    rules: int
    basis: tuple[str, ...]
    sources: tuple[str, ...]


def provider_summaries(text: str = "", category: str = "", *,
                       include_unverified: bool = False) -> list[ProviderSummary]:
    """Providers whose id, name, company, hosts or basis contain ``text`` (any case), by category and id.

    Filtering on a basis (``list:MailTrackerBlocker``, ``corpus``...) shows which entries rest on
    which source; with ``include_unverified`` the rules no source backs are counted and listed
    too (``recalled-unverified``), as they stand in the rules files."""
    needle = text.strip().lower()
    found = []
    for p in load(include_unverified).providers:
        if category and p.category != category:
            continue
        haystack = " ".join([p.id, p.name, p.company, *p.basis, *(r.host for r in p.hosts + p.urls)]).lower()
        if needle and needle not in haystack:
            continue
        found.append(ProviderSummary(id=p.id, name=p.name, company=p.company, category=p.category,
                                     rules=p.rule_count, basis=p.basis,
                                     sources=tuple(s.url for s in p.sources)))
    return sorted(found, key=lambda s: (s.category, s.id))


def message_from_headers(data: bytes, source: str) -> Message:
    """A message built from an .eml or a bare header block (for ``forensics explain --headers``)."""
    from forensics.parse import parse_rfc5322  # the parser is only needed on this path

    if b"\n\n" not in data.replace(b"\r\n", b"\n"):
        data = data.rstrip(b"\r\n") + b"\n\n"  # a header block alone: end it so it parses as one
    digest = hashlib.sha256(data).hexdigest()
    locator = Locator(source_path=source, source_sha256=digest, kind="file")
    return parse_rfc5322(RawMessage(data=data, locator=locator, format="eml"))[0]
