"""Stage 3 (extraction): the per-message analyser and the case-wide finalizer.

``analyse_extraction`` turns one message into resource, link, header-finding and summary
rows, and leaves every URL it found in ``context.urls`` (as ``FoundUrl``) for the token
and leak stages. ``finalize_beacons`` recomputes the case-wide uniqueness signals of every
resource in SQL, from stored columns only, so it is deterministic and idempotent: scanning
more mail into a case recomputes them for all rows.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TypedDict
from urllib.parse import urlsplit

from forensics.analyse import MessageContext, Settings
from forensics.domains import registered_domain
from forensics.extract import beacons, html, links, params, wrappers
from forensics.extract.headers import HeaderFinding, header_findings
from forensics.extract.rows import ExtractionRow, HeaderFindingRow, LinkRow, ResourceRow, fast_init, finding_id
from forensics.extract.urls import Target, host_of, party, target
from forensics.providers import Attribution, attribute_message, attribute_url, sender_domain
from forensics.records import FoundUrl, Message, ProblemRow, Row
from forensics.store import Store

TEXT_LOCATION = "text@plain"
_COUNTED = ("cid", "data", "relative")
_CACHE_SIZE = 4096  # URL facts and link facts kept across messages (cleared when full)
# What a URL's facts depend on besides the URL: the message's header attribution and
# sender domain (the only message facts attribute_url reads).
_MessageKey = tuple[Attribution | None, str]
_FACTS: dict[tuple[str, str, _MessageKey], _UrlFacts] = {}
_LINKS: dict[tuple[str, bool, _MessageKey], _LinkFacts] = {}
# json.dumps with these options builds a new encoder per call; one is enough (same class,
# same options, so the same text).
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _json(items: Sequence[str]) -> str:
    """A JSON list, compact, in the same form SQLite's json functions write."""
    return _json_tuple(tuple(items)) if items else "[]"


@lru_cache(maxsize=4096)
def _json_tuple(items: tuple[str, ...]) -> str:
    return _ENCODE(list(items))


class _ProviderColumns(TypedDict):
    """The provider columns every row kind stores (``forensics.providers.attribute_url``)."""

    provider: str
    provider_company: str
    provider_category: str
    provider_layer: str
    provider_rule: str
    provider_confidence: float
    provider_reason: str


def _provider_fields(a: Attribution) -> _ProviderColumns:
    return {
        "provider": a.provider, "provider_company": a.company, "provider_category": a.category,
        "provider_layer": a.layer, "provider_rule": a.rule_id,
        "provider_confidence": round(float(a.confidence), 3), "provider_reason": a.reason,
    }


@dataclass(slots=True)
class _Tally:
    """What was counted but not kept as a row."""

    categories: dict[str, int] = field(default_factory=dict)
    html_chars: int = 0
    elements: int = 0


# A reference and the absolute URL it resolves to (a plain pair: one per reference).
_Placed = tuple[html.Ref, Target]


def _split(message: Message, budget: html.Budget, tally: _Tally) -> tuple[list[_Placed], list[_Placed]]:
    """References of every HTML part, then URLs of text parts: (remote resources, links)."""
    resources: list[_Placed] = []
    found_links: list[_Placed] = []
    categories = tally.categories
    for index, body in enumerate(message.html):
        tally.html_chars += len(body)
        part = html.part_refs(body, index, budget)
        tally.elements += part.elements
        base = part.base
        for ref in part.refs:
            tgt = target(ref.raw, base)
            category = tgt.category
            if ref.kind == "resource" and category == "remote":
                resources.append((ref, tgt))
            elif ref.kind == "link" and category in ("remote", "other"):  # mailto: and tel: too
                found_links.append((ref, tgt))
            else:  # counted, not kept: nothing a client would fetch or follow
                counted = category if category in _COUNTED else "other"
                categories[counted] = categories.get(counted, 0) + 1
    for index, body in enumerate(message.text):
        room = max(html.MAX_REFS - budget.refs, 0)
        for url in links.text_urls(body, room + 1):
            if budget.refs >= html.MAX_REFS:
                budget.note(f"references-capped-at-{html.MAX_REFS}")
                break
            budget.refs += 1
            ref = html.Ref(part=index, kind="link", location=TEXT_LOCATION, element="text",
                           resource_kind="", raw=url, conditional="")
            found_links.append((ref, target(url)))
    return resources, found_links


def _path_query(url: str) -> tuple[str, str]:
    try:
        parts = urlsplit(url)
    except ValueError:
        return "", ""
    return (f"{parts.path}?{parts.query}" if parts.query else parts.path), parts.path


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class _UrlFacts:
    """What one resource URL is, whatever element references it: computed once per URL (and
    message key), with the row columns that follow from it alone."""

    final: str  # after security gateways and image proxies
    wrappers: str
    evidence: params.UrlEvidence
    identifiers: str  # JSON, as stored
    tracking_params: str  # JSON, as stored
    template: str
    role: str  # the attribution's
    rule_id: str
    provider: _ProviderColumns
    shape: beacons.UrlShape
    embedded: bool


# A resource reference with its URL's facts.
_Prepared = tuple[html.Ref, Target, _UrlFacts]


def _url_facts(resolved: str, fallback_host: str, message: Message) -> _UrlFacts:
    unwrapped, embedded = wrappers.unwrap_resource(resolved)
    final = unwrapped.final
    host = host_of(final) or fallback_host
    evidence = params.inspect(final)
    path_query, path = _path_query(final)
    attribution = attribute_url(final, host, message)
    return _UrlFacts(
        final=final, wrappers=unwrapped.wrappers(), evidence=evidence,
        identifiers=_json([i.label() for i in evidence.identifiers]),
        tracking_params=_json(list(dict.fromkeys(t.name for t in evidence.tracking))),
        template=params.template(final, evidence), role=getattr(attribution, "role", ""),
        rule_id=attribution.rule_id, provider=_provider_fields(attribution),
        shape=beacons.url_shape(host, path_query, path), embedded=embedded)


def message_key(message: Message) -> _MessageKey:
    """The message facts a URL's attribution depends on (see ``providers.Attributor.attribute_url``)."""
    return attribute_message(message), sender_domain(message)


def _bounded(cache: dict) -> dict:  # type: ignore[type-arg]
    if len(cache) >= _CACHE_SIZE:
        cache.clear()
    return cache


def _prepare(places: list[_Placed], message: Message, key: _MessageKey) -> list[_Prepared]:
    """Facts of every resource URL; a spacer referenced 80 times (or in 80 messages of one
    sender) is looked at once."""
    out: list[_Prepared] = []
    for ref, tgt in places:
        cache_key = (tgt.resolved, tgt.host, key)
        facts = _FACTS.get(cache_key)
        if facts is None:
            facts = _bounded(_FACTS)[cache_key] = _url_facts(tgt.resolved, tgt.host, message)
        out.append((ref, tgt, facts))
    return out


def _resource_row(message: Message, seq: int, prep: _Prepared, repeats: int, same_shape: int,
                  sender: str) -> ResourceRow:
    ref, tgt, facts = prep
    verdict = beacons.judge(ref, facts.shape, facts.evidence, repeats, same_shape, facts.embedded,
                            facts.role, facts.rule_id)
    signals = _json(verdict.signals)
    return ResourceRow(
        finding_id=finding_id(message.message_sha256, "r", seq), message_sha256=message.message_sha256,
        seq=seq, part=ref.part, location=ref.location, element=ref.element, resource_kind=ref.resource_kind,
        conditional=ref.conditional, url=ref.raw, resolved=tgt.resolved, unwrapped=facts.final,
        wrappers=facts.wrappers, host=tgt.host, registered_domain=tgt.registered_domain,
        party=party(tgt.registered_domain, sender), declared_width=ref.width, declared_height=ref.height,
        hidden=ref.hidden, last_in_body=int(ref.last_in_body), repeats_in_message=repeats,
        same_shape_in_message=same_shape, identifiers=facts.identifiers,
        tracking_params=facts.tracking_params, url_template=facts.template, signals_local=signals,
        miss_local=verdict.miss, damp_local=verdict.damp, strong=int(verdict.strong),
        has_identifier=int(facts.evidence.has_identifier), url_messages=0, template_messages=0,
        host_messages=0, signals=signals, confidence=verdict.confidence, is_beacon=int(verdict.is_beacon),
        **facts.provider,
    )


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class _LinkFacts:
    """A link's verdict as the row columns that follow from its URL alone (computed once per
    URL, ping flag and message key)."""

    unwrapped: str
    wrappers: str
    unwrap_chain: str  # JSON
    tracker_host: str
    final_host: str
    final_domain: str
    classification: str
    identifiers: str  # JSON
    tracking_params: str  # JSON
    signals: str  # JSON
    provider: _ProviderColumns


def _link_facts(url: str, ping: bool, message: Message) -> _LinkFacts:
    verdict = links.classify(url, lambda u, h: attribute_url(u, h, message), ping=ping)
    final = verdict.final
    final_host = host_of(final) if not final.lower().startswith("mailto:") else target(final).host
    chain = [h.url for h in verdict.unwrapped.hops] + [final]
    return _LinkFacts(
        unwrapped=final, wrappers=verdict.unwrapped.wrappers(),
        unwrap_chain=_json(chain) if len(chain) > 1 else "[]", tracker_host=host_of(verdict.tracker_url),
        final_host=final_host, final_domain=_domain(final_host), classification=verdict.classification,
        identifiers=_json([i.label() for i in verdict.identifiers]),
        tracking_params=_json(list(dict.fromkeys(t.name for t in verdict.tracking))),
        signals=_json(verdict.signals), provider=_provider_fields(verdict.attribution))


def _link_row(message: Message, seq: int, place: _Placed, sender: str, key: _MessageKey) -> LinkRow:
    ref, tgt = place
    url = tgt.resolved
    cache_key = (url, ref.location.endswith("@ping"), key)
    facts = _LINKS.get(cache_key)
    if facts is None:  # a link repeated, in the message or by the sender, is classified once
        facts = _bounded(_LINKS)[cache_key] = _link_facts(url, cache_key[1], message)
    return LinkRow(
        finding_id=finding_id(message.message_sha256, "l", seq), message_sha256=message.message_sha256,
        seq=seq, part=ref.part, location=ref.location, element=ref.element, conditional=ref.conditional,
        link_text=ref.text, url=ref.raw, resolved=url, unwrapped=facts.unwrapped,
        wrappers=facts.wrappers, unwrap_chain=facts.unwrap_chain,
        host=tgt.host, registered_domain=tgt.registered_domain, party=party(tgt.registered_domain, sender),
        tracker_host=facts.tracker_host, final_host=facts.final_host,
        final_registered_domain=facts.final_domain, final_party=party(facts.final_domain, sender),
        classification=facts.classification, identifiers=facts.identifiers,
        tracking_params=facts.tracking_params, signals=facts.signals, **facts.provider,
    )


def _domain(host: str) -> str:
    return registered_domain(host) if host else ""


def _header_row(message: Message, seq: int, found: HeaderFinding, sender: str) -> HeaderFindingRow:
    host = target(found.url).host if found.url else ""
    domain = _domain(host)
    attribution = attribute_url(found.url, host, message)
    return HeaderFindingRow(
        finding_id=finding_id(message.message_sha256, "h", seq), message_sha256=message.message_sha256,
        seq=seq, header=found.header, kind=found.kind, value=found.value, url=found.url, host=host,
        registered_domain=domain, party=party(domain, sender),
        identifiers=_json([i.label() for i in found.identifiers]), signals=_json(found.signals),
        **_provider_fields(attribution),
    )


def _found(row: ResourceRow | LinkRow | HeaderFindingRow, kind: str, url: str, unwrapped: str,
           is_beacon: bool) -> FoundUrl:
    return FoundUrl(finding_id=row.finding_id, message_sha256=row.message_sha256, kind=kind, url=url,
                    unwrapped=unwrapped, host=row.host, registered_domain=row.registered_domain,
                    is_beacon=is_beacon)


def _counts(prepared: list[_Prepared]) -> tuple[dict[str, int], dict[str, int]]:
    """Per resolved URL, how often it is referenced; per template, how many distinct URLs have it
    (many in one message are assets, product photos, not pixels)."""
    repeats: dict[str, int] = {}
    for _, tgt, _ in prepared:
        repeats[tgt.resolved] = repeats.get(tgt.resolved, 0) + 1
    shapes: dict[str, int] = {}
    for template, _ in {(facts.template, tgt.resolved) for _, tgt, facts in prepared}:
        shapes[template] = shapes.get(template, 0) + 1
    return repeats, shapes


def analyse_extraction(message: Message, settings: Settings, context: MessageContext) -> list[Row]:
    """Every remote resource, link and header finding of one message, and a summary row."""
    budget = html.Budget()
    tally = _Tally()
    resources, found_links = _split(message, budget, tally)
    key = message_key(message)
    sender = key[1]
    prepared = _prepare(resources, message, key)
    repeats, shapes = _counts(prepared)
    rows: list[Row] = []
    urls = context.urls
    for seq, prep in enumerate(prepared):
        row = _resource_row(message, seq, prep, repeats[prep[1].resolved], shapes[prep[2].template], sender)
        rows.append(row)
        urls.append(_found(row, "resource", row.resolved, row.unwrapped, bool(row.is_beacon)))
    link_rows = [_link_row(message, seq, place, sender, key) for seq, place in enumerate(found_links)]
    for link in link_rows:
        urls.append(_found(link, "link", link.resolved, link.unwrapped, False))
    header_rows = [_header_row(message, seq, f, sender) for seq, f in enumerate(header_findings(message))]
    for header in header_rows:
        if header.url:
            urls.append(_found(header, "header", header.url, header.url, False))
    rows.extend(link_rows)
    rows.extend(header_rows)
    rows.append(_summary(message, tally, budget, rows, link_rows, header_rows))
    if budget.limits:
        rows.append(_limit_problem(message, budget.limits))
    return rows


def _summary(message: Message, tally: _Tally, budget: html.Budget, rows: list[Row],
             link_rows: list[LinkRow], header_rows: list[HeaderFindingRow]) -> ExtractionRow:
    resource_rows = [r for r in rows if isinstance(r, ResourceRow)]
    return ExtractionRow(
        message_sha256=message.message_sha256, html_parts=len(message.html), html_chars=tally.html_chars,
        elements_walked=tally.elements, remote_resources=len(resource_rows),
        beacons_local=sum(r.is_beacon for r in resource_rows), cid_references=tally.categories.get("cid", 0),
        data_references=tally.categories.get("data", 0),
        relative_references=tally.categories.get("relative", 0),
        other_references=tally.categories.get("other", 0), links=len(link_rows),
        tracked_links=sum(r.classification != links.DIRECT for r in link_rows),
        text_links=sum(r.location == TEXT_LOCATION for r in link_rows), header_findings=len(header_rows),
        limits=_json(budget.limits),
    )


def _limit_problem(message: Message, limits: list[str]) -> ProblemRow:
    return ProblemRow(
        source_path=message.locator.source_path, source_sha256=message.locator.source_sha256,
        locator=message.locator.display(), kind="extraction-limit", severity="warning",
        reason="hostile or huge HTML, extraction bounded: " + "; ".join(limits),
        message_sha256=message.message_sha256,
    )


# ---------------------------------------------------------------------- case-wide

# Per resolved URL, URL template and host: in how many messages of the case it is.
_COUNTS = """
u AS (SELECT resolved, COUNT(DISTINCT message_sha256) AS n FROM resources GROUP BY resolved),
t AS (SELECT url_template, COUNT(DISTINCT message_sha256) AS n FROM resources GROUP BY url_template),
h AS (SELECT host, COUNT(DISTINCT message_sha256) AS n FROM resources GROUP BY host)
"""
# The case signal each row gets (at most one), from its counts (un, tn, hn).
_CASE_SIGNAL = f"""
CASE
  WHEN has_identifier = 1 AND un = 1 AND tn >= 2
       AND same_shape_in_message < {beacons.REPEATED_IN_MESSAGE}
    THEN 'case:per-message-identifier:template-in-' || tn || '-messages'
  WHEN has_identifier = 1 AND un = 1 AND hn >= 2
       AND same_shape_in_message < {beacons.REPEATED_IN_MESSAGE}
    THEN 'case:unique-url:host-in-' || hn || '-messages'
  WHEN has_identifier = 0 AND strong = 0 AND un >= {beacons.REPEATED_IN_CASE}
    THEN 'not:case-static-asset:in-' || un || '-messages'
  ELSE '' END
"""
_CASE_WEIGHT = f"""
CASE
  WHEN case_signal LIKE 'case:per-message-identifier:%' THEN {beacons.W_CASE_UNIQUE_TEMPLATE}
  WHEN case_signal LIKE 'case:unique-url:%' THEN {beacons.W_CASE_UNIQUE}
  ELSE 0.0 END
"""
_CASE_DAMP = f"CASE WHEN case_signal LIKE 'not:case-static-asset:%' THEN {1.0 - beacons.N_CASE_STATIC} ELSE 1.0 END"
# One pass: each row is written once, its counts, signals and confidence together. CROSS JOIN
# keeps the rows outermost, so they are read and rewritten in rowid (page) order, each count
# found through an automatic index, instead of one b-tree descent per row in URL order.
_FINALIZE_SQL = f"""
WITH {_COUNTS},
     n AS (SELECT r.rowid AS id, u.n AS un, t.n AS tn, h.n AS hn, r.has_identifier, r.strong,
                  r.same_shape_in_message, r.miss_local, r.damp_local
           FROM resources AS r
           CROSS JOIN u ON u.resolved = r.resolved CROSS JOIN t ON t.url_template = r.url_template
           CROSS JOIN h ON h.host = r.host),
     s AS (SELECT id, un, tn, hn, {_CASE_SIGNAL} AS case_signal, miss_local, damp_local FROM n),
     c AS (SELECT id, un, tn, hn, case_signal,
                  ROUND((1.0 - miss_local * (1.0 - {_CASE_WEIGHT})) * damp_local * {_CASE_DAMP}, 3) AS score
           FROM s)
UPDATE resources SET
  url_messages = c.un, template_messages = c.tn, host_messages = c.hn,
  signals = CASE WHEN c.case_signal = '' THEN resources.signals_local
                 ELSE json_insert(resources.signals_local, '$[#]', c.case_signal) END,
  confidence = c.score,
  is_beacon = (c.score >= {beacons.THRESHOLD})
FROM c WHERE c.id = resources.rowid
"""


def finalize_beacons(store: Store, settings: Settings) -> None:
    """Case-wide uniqueness of every resource URL, and the confidence it leads to."""
    with store.conn:
        store.conn.execute(_FINALIZE_SQL)
