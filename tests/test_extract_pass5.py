"""Extraction's fast paths give what the plain code gives.

Per link and per resource URL the row columns are computed once and cached with the URL's
facts; a resource that cannot wrap anything is not unwrapped twice; text URLs are found
with a pattern the regex engine can skip through; the entropy of an id is summed from
``str.count``; attribution reads the sender's domain once; rows are built by a slot-setting
``__init__``; the beacon finalizer writes each row once. Each is compared here with the
code it replaced (kept below as the reference), on generated input and on real mail.
"""

from __future__ import annotations

import dataclasses
import json
import math
import pickle
import re
import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forensics.analyse import MessageContext, Settings
from forensics.extract import beacons, html, links, params, stage, wrappers
from forensics.extract.rows import LinkRow, ResourceRow, fast_init
from forensics.extract.urls import host_of, party, target
from forensics.ingest import READERS, plan_input
from forensics.parse import parse_rfc5322
from forensics.providers import attribute_url, default_attributor, sender_domain
from forensics.providers.matcher import split_url
from forensics.records import Message
from forensics.store import Store

SPAMASSASSIN = "spamassassin-public-corpus/spamassassin-public-corpus-all.mbox"


def _messages(path: Path, limit: int) -> Iterator[Message]:
    count = 0
    for shard in plan_input(path).shards:
        for raw in READERS[shard.reader].read(shard):
            yield from parse_rfc5322(raw)
            count += 1
            if count >= limit:
                return


# ------------------------------------------------------------------ slot-setting __init__


@fast_init
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _Sample:
    name: str
    size: int = 3
    tags: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _Plain:
    name: str
    size: int = 3
    tags: tuple[str, ...] = ()


def test_fast_init_builds_what_the_dataclass_init_builds() -> None:
    fast, plain = _Sample(name="a", tags=("x",)), _Plain(name="a", tags=("x",))
    assert (fast.name, fast.size, fast.tags) == (plain.name, plain.size, plain.tags) == ("a", 3, ("x",))
    assert repr(fast) == repr(plain).replace("_Plain", "_Sample")
    assert fast == _Sample(name="a", size=3, tags=("x",)) and hash(fast) == hash(_Sample(name="a", tags=("x",)))
    assert dataclasses.replace(fast, size=5) == _Sample(name="a", size=5, tags=("x",))
    assert pickle.loads(pickle.dumps(fast)) == fast
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.name = "b"  # type: ignore[misc]
    with pytest.raises(TypeError):
        _Sample()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        _Sample("a")  # type: ignore[misc]
    with pytest.raises(TypeError):
        _Sample(name="a", colour="red")  # type: ignore[call-arg]


def test_fast_init_refuses_what_it_cannot_copy() -> None:
    @dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
    class Factory:
        items: list[str] = dataclasses.field(default_factory=list)

    with pytest.raises(AssertionError):
        fast_init(Factory)


# ------------------------------------------------------------------ text URLs


def _text_urls_reference(text: str, limit: int) -> list[str]:
    out: list[str] = []
    for match in links.TEXT_URL.finditer(text):
        url = match.group()
        while url and url[-1] in links._TRAILING:
            if url[-1] == ")" and url.count("(") >= url.count(")"):
                break
            url = url[:-1]
        if url:
            out.append(url)
            if len(out) >= limit:
                break
    return out


def test_text_url_pattern_matches_what_the_case_insensitive_one_matches() -> None:
    # under IGNORECASE h, t, p, f match their two cases only, s also the long s
    every_character = "".join(map(chr, range(0x110000)))
    for letter in "htpsf":
        folded = re.findall(letter, every_character, re.IGNORECASE)
        assert folded == sorted({letter, letter.upper()} | ({"\u017f"} if letter == "s" else set()))
    for text in ["httpſ://x.example/a", "HTTPS://X.EXAMPLE/", "see ftp://a.example/c.", "hhttp://q", "ftps://no",
                 "http:/x", "(http://a.example/b_(c))", ""]:
        assert links.text_urls(text, 5) == _text_urls_reference(text, 5)


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from(["h", "H", "t", "T", "p", "P", "s", "S", "ſ", "f", "F", "://", ":/", "/", ".",
                                 "x", " ", "<", ")", "(", "\n", "K", "é", "ı"]), max_size=40).map("".join),
       st.integers(min_value=1, max_value=4))
def test_text_urls_equal_the_plain_search(text: str, limit: int) -> None:
    assert links.text_urls(text, limit) == _text_urls_reference(text, limit)


def test_text_urls_of_every_spamassassin_body(corpus: Path) -> None:
    bodies = [t for m in _messages(corpus / SPAMASSASSIN, 100_000) for t in m.text]
    assert len(bodies) > 5000
    for body in bodies:
        assert links.text_urls(body, 20_001) == _text_urls_reference(body, 20_001)


# ------------------------------------------------------------------ identifier shapes


def _entropy_reference(text: str) -> float:
    if not text:
        return 0.0
    total = len(text)
    return -sum(n / total * math.log2(n / total) for n in Counter(text).values())


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet="abcdefABCDEF0123456789-_.~%=é", max_size=90))
def test_entropy_is_the_counter_sum_bit_for_bit(text: str) -> None:
    assert params.entropy(text) == _entropy_reference(text)


def _value_shape_reference(value: str, named_id: bool = False) -> str:
    if len(value) < 4 or "://" in value or value.startswith("www."):
        return ""
    if params._UUID.fullmatch(value):
        return "uuid"
    if params._EMAIL.fullmatch(value):
        return "email"
    if value.isdigit():
        return params._number_shape(value, named_id)
    if params._HEX.fullmatch(value) and not value.isalpha():
        return "hex"
    if params._B64.fullmatch(value) and params._mixed(value) and _entropy_reference(value) >= 3.0:
        return "base64"
    if params._TOKEN.fullmatch(value) and params._mixed(value) and _entropy_reference(value) >= 3.0:
        return "token"
    if named_id and len(value) >= 6 and value.isalnum() and params._case_mixed(value):
        return "token"
    if named_id and sum(c.isdigit() for c in value) >= 4:
        return "token"
    return params._embedded_number(value)


@settings(max_examples=4000, deadline=None)
@given(st.text(alphabet="aAbBzZ0189-_.~+/=@", min_size=0, max_size=40), st.booleans())
def test_value_shapes_are_unchanged(value: str, named: bool) -> None:
    params.value_shape.cache_clear()
    assert params.value_shape(value, named_id=named) == _value_shape_reference(value, named)


@pytest.mark.parametrize("url", [
    "https://a248.e.akamai.net/7/248/1/abcdef1234567890/origin.example/x/12345678.gif",
    "https://A248.E.AKAMAI.NET./7/248/1/abcdef1234567890/origin.example/x/12345678.gif",
    "https://cdn.example/7/248/1/abcdef1234567890/12345678",
])
def test_the_cdn_rule_still_reads_the_host(url: str) -> None:
    parts = urlsplit(url)
    identifiers: list[params.Identifier] = []
    params._path_evidence(parts.path, (parts.hostname or "").lower(), identifiers, [])
    params.inspect.cache_clear()
    assert params.inspect(url).identifiers == tuple(identifiers)


# ------------------------------------------------------------------ unwrapping, attribution

_URLS = [
    "https://cdn.example.com/img/logo.png", "https://t.example.com/o?u=https%3A%2F%2Fshop.example%2F",
    "https://nam02.safelinks.protection.outlook.com/?url=https%3A%2F%2Fimg.example%2Fp.gif&data=1",
    "https://ci3.googleusercontent.com/proxy/abc#https://img.example/p.gif?u=1",
    "https://x.mimecast.com/s/abc?domain=example.com", "https://pstmrk.it/3s/img.example%2Fp.gif/x",
    "https://img.example/aHR0cHM6Ly9zaG9wLmV4YW1wbGUv/p.gif", "http://[::1/x", "https://HOST.example./A?B=c",
]


@pytest.mark.parametrize("url", _URLS)
def test_unwrap_resource_is_the_two_unwraps(url: str) -> None:
    first = wrappers.unwrap(url, follow_redirects=False)
    assert wrappers.unwrap_resource(url) == (first, bool(wrappers.unwrap(first.final).hops))


def test_attribution_with_the_sender_domain_read_once(corpus: Path) -> None:
    attributor = default_attributor()
    checked = 0
    for message in _messages(corpus / SPAMASSASSIN, 800):
        header = attributor.attribute_message(message)
        stage.analyse_extraction(message, Settings(), context := MessageContext())
        for url in context.urls:
            parts = split_url(url.unwrapped, url.host)
            expected = (attributor.layer_host(parts) or attributor.layer_path(parts)
                        or attributor.layer_header(parts, message, header)
                        or attributor.layer_first_party(parts, message))
            got = attributor._attribute_url(url.unwrapped, url.host, header, sender_domain(message))
            if expected is not None:
                assert dataclasses.replace(got, tracking_params=()) == dataclasses.replace(
                    expected, tracking_params=())
            checked += 1
    assert checked > 2000


def test_split_url_with_a_host_given_keeps_the_url_parts() -> None:
    for url in _URLS:
        parts = split_url(url, "given.example")
        assert parts.host == "given.example"
        assert (parts.path, parts.query) == (split_url(url).path, split_url(url).query)


def test_neutral_suffix_is_remembered_per_host() -> None:
    matcher = default_attributor().urls
    for host in ["fonts.googleapis.com", "x.fonts.gstatic.com", "shop.example", "", "fonts.googleapis.com"]:
        parts = split_url(f"https://{host}/x", host)
        assert matcher.neutral_host(parts) == next((k for k in parts.keys if k in matcher.neutral), "")


# ------------------------------------------------------------------ the stage's rows


def _write_generated(path: Path, size: int, seed: int) -> None:
    """Newsletters, receipts and personal mail from the benchmark's generator (bench/ is
    scripts, not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "make_big_mbox", Path(__file__).resolve().parent.parent / "bench" / "make_big_mbox.py")
    assert spec and spec.loader
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    path.write_bytes(b"".join(generator.generate(size, seed)))


def _json(items: list[str] | tuple[str, ...]) -> str:
    return json.dumps(list(items), ensure_ascii=False, separators=(",", ":"))


def _provider(a: object) -> dict[str, object]:
    return stage._provider_fields(a)  # type: ignore[arg-type]


def _link_reference(message: Message, row: LinkRow, ping: bool) -> dict[str, object]:
    """A link row's columns as the stage computed them before its cache held them."""
    verdict = links.classify(row.resolved, lambda u, h: attribute_url(u, h, message), ping=ping)
    final = verdict.final
    final_host = host_of(final) if not final.lower().startswith("mailto:") else target(final).host
    domain = stage._domain(final_host)
    chain = [h.url for h in verdict.unwrapped.hops] + [final]
    return {
        "unwrapped": final, "wrappers": verdict.unwrapped.wrappers(),
        "unwrap_chain": _json(chain) if len(chain) > 1 else "[]", "tracker_host": host_of(verdict.tracker_url),
        "final_host": final_host, "final_registered_domain": domain,
        "final_party": party(domain, sender_domain(message)), "classification": verdict.classification,
        "identifiers": _json([i.label() for i in verdict.identifiers]),
        "tracking_params": _json(list(dict.fromkeys(t.name for t in verdict.tracking))),
        "signals": _json(verdict.signals), **_provider(verdict.attribution),
    }


def _resource_reference(message: Message, ref: html.Ref, row: ResourceRow) -> dict[str, object]:
    """A resource row's columns as the stage computed them before (two unwraps, no cache)."""
    unwrapped = wrappers.unwrap(row.resolved, follow_redirects=False)
    final = unwrapped.final
    host = host_of(final) or row.host
    evidence = params.inspect(final)
    path_query, path = stage._path_query(final)
    attribution = attribute_url(final, host, message)
    shape = beacons.url_shape(host, path_query, path)
    verdict = beacons.judge(ref, shape, evidence, row.repeats_in_message, row.same_shape_in_message,
                            bool(wrappers.unwrap(final).hops), attribution.role, attribution.rule_id)
    return {
        "unwrapped": final, "wrappers": unwrapped.wrappers(), "url_template": params.template(final, evidence),
        "identifiers": _json([i.label() for i in evidence.identifiers]),
        "tracking_params": _json(list(dict.fromkeys(t.name for t in evidence.tracking))),
        "signals_local": _json(verdict.signals), "miss_local": verdict.miss, "damp_local": verdict.damp,
        "strong": int(verdict.strong), "confidence": verdict.confidence, "is_beacon": int(verdict.is_beacon),
        **_provider(attribution),
    }


def _html_refs(message: Message) -> list[html.Ref]:
    budget = html.Budget()
    refs = []
    for index, body in enumerate(message.html):
        part = html.part_refs(body, index, budget)
        refs.extend(r for r in part.refs if r.kind == "resource" and target(r.raw, part.base).category == "remote")
    return refs


def _check_rows(messages: list[Message]) -> tuple[int, int]:
    counted = [0, 0]
    for message in messages:
        rows = stage.analyse_extraction(message, Settings(), MessageContext())
        resource_rows = [r for r in rows if isinstance(r, ResourceRow)]
        for ref, row in zip(_html_refs(message), resource_rows, strict=True):
            expected = _resource_reference(message, ref, row)
            assert {k: getattr(row, k) for k in expected} == expected, row.url
            counted[0] += 1
        for row in rows:
            if isinstance(row, LinkRow):
                expected = _link_reference(message, row, row.location.endswith("@ping"))
                assert {k: getattr(row, k) for k in expected} == expected, row.url
                counted[1] += 1
    return counted[0], counted[1]


def test_rows_of_real_mail_equal_the_uncached_computation(corpus: Path) -> None:
    every_fourth = list(_messages(corpus / SPAMASSASSIN, 100_000))[::4]  # ham first, spam later
    resources, link_count = _check_rows(every_fourth)
    assert resources > 300 and link_count > 3000


def test_rows_of_generated_newsletters_equal_the_uncached_computation(tmp_path: Path) -> None:
    path = tmp_path / "gen.mbox"
    _write_generated(path, 600_000, seed=3)
    resources, link_count = _check_rows(list(_messages(path, 100_000)))
    assert resources > 200 and link_count > 200


# ------------------------------------------------------------------ the beacon finalizer

_OLD_COUNT_SQL = """
WITH u AS (SELECT resolved, COUNT(DISTINCT message_sha256) AS n FROM resources GROUP BY resolved),
     t AS (SELECT url_template, COUNT(DISTINCT message_sha256) AS n FROM resources GROUP BY url_template),
     h AS (SELECT host, COUNT(DISTINCT message_sha256) AS n FROM resources GROUP BY host)
UPDATE resources SET url_messages = u.n, template_messages = t.n, host_messages = h.n
FROM u, t, h
WHERE u.resolved = resources.resolved AND t.url_template = resources.url_template
  AND h.host = resources.host
"""
_OLD_CASE_SIGNAL = f"""
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


def _old_score_sql() -> str:
    return f"""
WITH s AS (SELECT finding_id, {_OLD_CASE_SIGNAL} AS case_signal, miss_local, damp_local FROM resources),
     c AS (SELECT finding_id, case_signal,
                  ROUND((1.0 - miss_local * (1.0 - {stage._CASE_WEIGHT})) * damp_local * {stage._CASE_DAMP}, 3) AS score
           FROM s)
UPDATE resources SET
  signals = CASE WHEN c.case_signal = '' THEN resources.signals_local
                 ELSE json_insert(resources.signals_local, '$[#]', c.case_signal) END,
  confidence = c.score,
  is_beacon = (c.score >= {beacons.THRESHOLD})
FROM c WHERE c.finding_id = resources.finding_id
"""


def _fill(store: Store, messages: list[Message]) -> None:
    rows = [r for m in messages for r in stage.analyse_extraction(m, Settings(), MessageContext())
            if isinstance(r, ResourceRow)]
    store.insert(rows)


def test_the_one_pass_finalizer_writes_what_the_two_statements_wrote(tmp_path: Path) -> None:
    path = tmp_path / "gen.mbox"
    _write_generated(path, 900_000, seed=5)
    with path.open("ab") as mbox:  # a static logo in three messages: the case's static-asset signal
        for n in range(3):
            mbox.write(b"From shop@static.example Thu Jan  4 17:13:34 2019\nFrom: shop@static.example\n"
                       b"Subject: offer %d\nContent-Type: text/html\n\n"
                       b'<p>offer %d</p><img src="https://static.example/logo.png" width="120" height="40">\n\n'
                       % (n, n))
    messages = list(_messages(path, 100_000))
    store = Store(tmp_path / "case")
    _fill(store, messages)
    store.conn.commit()
    copy = tmp_path / "old.sqlite"
    store.conn.execute(f"VACUUM INTO '{copy}'")
    stage.finalize_beacons(store, Settings())
    old = sqlite3.connect(copy)
    with old:
        old.execute(_OLD_COUNT_SQL)
        old.execute(_old_score_sql())
    query = "SELECT * FROM resources ORDER BY finding_id"
    new_rows, old_rows = store.conn.execute(query).fetchall(), old.execute(query).fetchall()
    assert len(new_rows) > 500 and new_rows == old_rows
    signals = Counter(json.loads(r[0])[-1].split(":")[0] for r in store.conn.execute(
        "SELECT signals FROM resources WHERE signals <> signals_local"))
    assert signals["case"] > 0 and signals["not"] > 0  # both kinds of case signal were exercised
