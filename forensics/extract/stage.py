"""Stage 3 (extraction): the per-message analyser and the case-wide finalizer.

``analyse_extraction`` turns one message into resource, link, header-finding and summary
rows, and leaves every URL it found in ``context.urls`` (as ``FoundUrl``) for the token
and leak stages. ``finalize_beacons`` recomputes the case-wide uniqueness signals of every
resource in SQL, from stored columns only, so it is deterministic and idempotent: scanning
more mail into a case recomputes them for all rows.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import urlsplit

from forensics.analyse import MessageContext, Settings
from forensics.domains import registered_domain
from forensics.extract import beacons, html, links, params, wrappers
from forensics.extract.headers import HeaderFinding, header_findings
from forensics.extract.rows import ExtractionRow, HeaderFindingRow, LinkRow, ResourceRow, finding_id
from forensics.extract.urls import Target, host_of, party, target
from forensics.providers import Attribution, attribute_message, attribute_url, sender_domain
from forensics.records import FoundUrl, Message, ProblemRow, Row
from forensics.store import Store

TEXT_LOCATION = "text@plain"
_COUNTED = ("cid", "data", "relative")
_CACHE_SIZE = 4096  # URL facts and link verdicts kept across messages (cleared when full)
# What a URL's facts depend on besides the URL: the message's header attribution and
# sender domain (the only message facts attribute_url reads).
_MessageKey = tuple[Attribution | None, str]
_FACTS: dict[tuple[str, str, _MessageKey], _UrlFacts] = {}
_VERDICTS: dict[tuple[str, bool, _MessageKey], links.LinkVerdict] = {}


def _json(items: Sequence[str]) -> str:
    """A JSON list, compact, in the same form SQLite's json functions write."""
    return _json_tuple(tuple(items))


@lru_cache(maxsize=4096)
def _json_tuple(items: tuple[str, ...]) -> str:
    return json.dumps(list(items), ensure_ascii=False, separators=(",", ":"))


def _provider_fields(a: Attribution) -> dict[str, object]:
    return {
        "provider": a.provider, "provider_company": a.company, "provider_category": a.category,
        "provider_layer": a.layer, "provider_rule": a.rule_id,
        "provider_confidence": round(float(a.confidence), 3), "provider_reason": a.reason,
    }


@dataclass(slots=True)
class _Tally:
    """What was counted but not kept as a row."""

    categories: Counter[str] = field(default_factory=Counter)
    html_chars: int = 0
    elements: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class _Placed:
    """A reference and the absolute URL it resolves to."""

    ref: html.Ref
    target: Target


def _split(message: Message, budget: html.Budget, tally: _Tally) -> tuple[list[_Placed], list[_Placed]]:
    """References of every HTML part, then URLs of text parts: (remote resources, links)."""
    resources: list[_Placed] = []
    found_links: list[_Placed] = []
    for index, body in enumerate(message.html):
        tally.html_chars += len(body)
        part = html.part_refs(body, index, budget)
        tally.elements += part.elements
        for ref in part.refs:
            place = _Placed(ref=ref, target=target(ref.raw, part.base))
            category = place.target.category
            if ref.kind == "resource" and category == "remote":
                resources.append(place)
            elif ref.kind == "link" and category in ("remote", "other"):  # mailto: and tel: too
                found_links.append(place)
            else:  # counted, not kept: nothing a client would fetch or follow
                tally.categories[category if category in _COUNTED else "other"] += 1
    for index, body in enumerate(message.text):
        room = max(html.MAX_REFS - budget.refs, 0)
        for url in links.text_urls(body, room + 1):
            if budget.refs >= html.MAX_REFS:
                budget.note(f"references-capped-at-{html.MAX_REFS}")
                break
            budget.refs += 1
            ref = html.Ref(part=index, kind="link", location=TEXT_LOCATION, element="text",
                           resource_kind="", raw=url, conditional="")
            found_links.append(_Placed(ref=ref, target=target(url)))
    return resources, found_links


def _path_query(url: str) -> tuple[str, str]:
    try:
        parts = urlsplit(url)
    except ValueError:
        return "", ""
    return (f"{parts.path}?{parts.query}" if parts.query else parts.path), parts.path


@dataclass(frozen=True, slots=True, kw_only=True)
class _UrlFacts:
    """What one resource URL is, whatever element references it (computed once per message)."""

    unwrapped: wrappers.Unwrapped
    host: str
    evidence: params.UrlEvidence
    template: str
    attribution: Attribution
    shape: beacons.UrlShape
    embedded: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class _Prepared:
    place: _Placed
    facts: _UrlFacts


def _url_facts(resolved: str, fallback_host: str, message: Message) -> _UrlFacts:
    unwrapped = wrappers.unwrap(resolved, follow_redirects=False)
    final = unwrapped.final
    host = host_of(final) or fallback_host
    evidence = params.inspect(final)
    path_query, path = _path_query(final)
    return _UrlFacts(unwrapped=unwrapped, host=host, evidence=evidence, template=params.template(final, evidence),
                     attribution=attribute_url(final, host, message),
                     shape=beacons.url_shape(host, path_query, path), embedded=bool(wrappers.unwrap(final).hops))


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
    for place in places:
        cache_key = (place.target.resolved, place.target.host, key)
        facts = _FACTS.get(cache_key)
        if facts is None:
            facts = _bounded(_FACTS)[cache_key] = _url_facts(place.target.resolved, place.target.host, message)
        out.append(_Prepared(place=place, facts=facts))
    return out


def _resource_row(message: Message, seq: int, prep: _Prepared, repeats: int, same_shape: int,
                  sender: str) -> ResourceRow:
    facts = prep.facts
    ref, tgt, final, evidence = prep.place.ref, prep.place.target, facts.unwrapped.final, facts.evidence
    attribution = facts.attribution
    verdict = beacons.judge(ref, facts.shape, evidence, repeats, same_shape, facts.embedded,
                            getattr(attribution, "role", ""), attribution.rule_id)
    signals = _json(verdict.signals)
    return ResourceRow(
        finding_id=finding_id(message.message_sha256, "r", seq), message_sha256=message.message_sha256,
        seq=seq, part=ref.part, location=ref.location, element=ref.element, resource_kind=ref.resource_kind,
        conditional=ref.conditional, url=ref.raw, resolved=tgt.resolved, unwrapped=final,
        wrappers=facts.unwrapped.wrappers(), host=tgt.host, registered_domain=tgt.registered_domain,
        party=party(tgt.registered_domain, sender), declared_width=ref.width, declared_height=ref.height,
        hidden=ref.hidden, last_in_body=int(ref.last_in_body), repeats_in_message=repeats,
        same_shape_in_message=same_shape, identifiers=_json([i.label() for i in evidence.identifiers]),
        tracking_params=_json(list(dict.fromkeys(t.name for t in evidence.tracking))),
        url_template=facts.template, signals_local=signals, miss_local=verdict.miss,
        damp_local=verdict.damp, strong=int(verdict.strong), has_identifier=int(evidence.has_identifier),
        url_messages=0, template_messages=0, host_messages=0, signals=signals,
        confidence=verdict.confidence, is_beacon=int(verdict.is_beacon), **_provider_fields(attribution),
    )


def _link_row(message: Message, seq: int, place: _Placed, sender: str, key: _MessageKey) -> LinkRow:
    ref, tgt = place.ref, place.target
    url = tgt.resolved
    cache_key = (url, ref.location.endswith("@ping"), key)
    verdict = _VERDICTS.get(cache_key)
    if verdict is None:  # a link repeated, in the message or by the sender, is classified once
        verdict = _bounded(_VERDICTS)[cache_key] = links.classify(
            url, lambda u, h: attribute_url(u, h, message), ping=cache_key[1])
    final = verdict.final
    final_host = host_of(final) if not final.lower().startswith("mailto:") else target(final).host
    final_domain = _domain(final_host)
    chain = [h.url for h in verdict.unwrapped.hops] + [verdict.final]
    return LinkRow(
        finding_id=finding_id(message.message_sha256, "l", seq), message_sha256=message.message_sha256,
        seq=seq, part=ref.part, location=ref.location, element=ref.element, conditional=ref.conditional,
        link_text=ref.text, url=ref.raw, resolved=url, unwrapped=verdict.final,
        wrappers=verdict.unwrapped.wrappers(), unwrap_chain=_json(chain) if len(chain) > 1 else "[]",
        host=tgt.host, registered_domain=tgt.registered_domain, party=party(tgt.registered_domain, sender),
        tracker_host=host_of(verdict.tracker_url), final_host=final_host,
        final_registered_domain=final_domain, final_party=party(final_domain, sender),
        classification=verdict.classification, identifiers=_json([i.label() for i in verdict.identifiers]),
        tracking_params=_json(list(dict.fromkeys(t.name for t in verdict.tracking))),
        signals=_json(verdict.signals), **_provider_fields(verdict.attribution),
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


def _found(row: ResourceRow | LinkRow | HeaderFindingRow, kind: str, unwrapped: str, is_beacon: bool) -> FoundUrl:
    url = row.resolved if isinstance(row, (ResourceRow, LinkRow)) else row.url
    return FoundUrl(finding_id=row.finding_id, message_sha256=row.message_sha256, kind=kind, url=url,
                    unwrapped=unwrapped, host=row.host, registered_domain=row.registered_domain,
                    is_beacon=is_beacon)


def analyse_extraction(message: Message, settings: Settings, context: MessageContext) -> list[Row]:
    """Every remote resource, link and header finding of one message, and a summary row."""
    budget = html.Budget()
    tally = _Tally()
    sender = sender_domain(message)
    resources, found_links = _split(message, budget, tally)
    key = message_key(message)
    prepared = _prepare(resources, message, key)
    repeats = Counter(p.place.target.resolved for p in prepared)
    # distinct URLs of one shape: many in one message are assets (product photos), not pixels
    shapes = Counter(template for template, _ in {(p.facts.template, p.place.target.resolved) for p in prepared})
    rows: list[Row] = []
    for seq, prep in enumerate(prepared):
        row = _resource_row(message, seq, prep, repeats[prep.place.target.resolved], shapes[prep.facts.template], sender)
        rows.append(row)
        context.urls.append(_found(row, "resource", row.unwrapped, bool(row.is_beacon)))
    link_rows = [_link_row(message, seq, place, sender, key) for seq, place in enumerate(found_links)]
    for link in link_rows:
        context.urls.append(_found(link, "link", link.unwrapped, False))
    header_rows = [_header_row(message, seq, f, sender) for seq, f in enumerate(header_findings(message))]
    for header in header_rows:
        if header.url:
            context.urls.append(_found(header, "header", header.url, False))
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
        beacons_local=sum(r.is_beacon for r in resource_rows), cid_references=tally.categories["cid"],
        data_references=tally.categories["data"], relative_references=tally.categories["relative"],
        other_references=tally.categories["other"], links=len(link_rows),
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

_COUNT_SQL = """
WITH u AS (SELECT resolved, COUNT(DISTINCT message_sha256) AS n FROM resources GROUP BY resolved),
     t AS (SELECT url_template, COUNT(DISTINCT message_sha256) AS n FROM resources GROUP BY url_template),
     h AS (SELECT host, COUNT(DISTINCT message_sha256) AS n FROM resources GROUP BY host)
UPDATE resources SET url_messages = u.n, template_messages = t.n, host_messages = h.n
FROM u, t, h
WHERE u.resolved = resources.resolved AND t.url_template = resources.url_template
  AND h.host = resources.host
"""
# The case signal each row gets (at most one), from the counts above.
_CASE_SIGNAL = f"""
CASE
  WHEN has_identifier = 1 AND url_messages = 1 AND template_messages >= 2
       AND same_shape_in_message < {beacons.REPEATED_IN_MESSAGE}
    THEN 'case:per-message-identifier:template-in-' || template_messages || '-messages'
  WHEN has_identifier = 1 AND url_messages = 1 AND host_messages >= 2
       AND same_shape_in_message < {beacons.REPEATED_IN_MESSAGE}
    THEN 'case:unique-url:host-in-' || host_messages || '-messages'
  WHEN has_identifier = 0 AND strong = 0 AND url_messages >= {beacons.REPEATED_IN_CASE}
    THEN 'not:case-static-asset:in-' || url_messages || '-messages'
  ELSE '' END
"""
_CASE_WEIGHT = f"""
CASE
  WHEN case_signal LIKE 'case:per-message-identifier:%' THEN {beacons.W_CASE_UNIQUE_TEMPLATE}
  WHEN case_signal LIKE 'case:unique-url:%' THEN {beacons.W_CASE_UNIQUE}
  ELSE 0.0 END
"""
_CASE_DAMP = f"CASE WHEN case_signal LIKE 'not:case-static-asset:%' THEN {1.0 - beacons.N_CASE_STATIC} ELSE 1.0 END"
_SCORE_SQL = f"""
WITH s AS (SELECT finding_id, {_CASE_SIGNAL} AS case_signal, miss_local, damp_local FROM resources),
     c AS (SELECT finding_id, case_signal,
                  ROUND((1.0 - miss_local * (1.0 - {_CASE_WEIGHT})) * damp_local * {_CASE_DAMP}, 3) AS score
           FROM s)
UPDATE resources SET
  signals = CASE WHEN c.case_signal = '' THEN resources.signals_local
                 ELSE json_insert(resources.signals_local, '$[#]', c.case_signal) END,
  confidence = c.score,
  is_beacon = (c.score >= {beacons.THRESHOLD})
FROM c WHERE c.finding_id = resources.finding_id
"""


def finalize_beacons(store: Store, settings: Settings) -> None:
    """Case-wide uniqueness of every resource URL, and the confidence it leads to."""
    with store.conn:
        store.conn.execute(_COUNT_SQL)
        store.conn.execute(_SCORE_SQL)
