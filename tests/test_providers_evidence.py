"""The knowledge base is evidence-grade: every rule is backed by a cited list pattern or real
mail, or is listed as unverified; the basis of each entry says which, and the tests hold it to it."""

from __future__ import annotations

import re

import pytest

from forensics.providers import Attributor, provider_summaries, rules_version
from forensics.providers.kb import BASES, CORPUS_SOURCES, DOC_PREFIX, Evidence, KnowledgeBaseError, Provider, list_basis, load, parse_files
from forensics.providers.matcher import split_url

KB = load(include_unverified=True)  # the rules files as written: evidence and `unverified` agree
PROVIDERS = KB.providers
ATTRIBUTOR = Attributor(KB)
LIST_EVIDENCE = [(p.id, e) for p in PROVIDERS for e in p.evidence if e.example]


def abp_regex(rule: str) -> str:
    """An Adblock Plus filter (options after '$' dropped) as a regex searched in a URL."""
    body = rule.split("$", 1)[0]
    return "".join(".*" if c == "*" else "(?:[/?:=&]|$)" if c == "^" else re.escape(c) for c in body)


def pattern_matches(evidence: Evidence) -> bool:
    """The example URL is an instance of the list's pattern, read the way that list reads it."""
    if evidence.source.startswith(("mtb", "ugly-email")):
        return re.search(evidence.pattern, evidence.example) is not None  # regexes searched in the tag/body
    if evidence.source.startswith("easyprivacy"):
        return re.search(abp_regex(evidence.pattern), evidence.example) is not None
    if evidence.source.startswith("trocker"):
        return evidence.pattern in evidence.example  # Trocker matches its domains as substrings
    if evidence.source.startswith("ghostery"):
        return ghostery_matches(evidence.pattern, evidence.example)
    host = split_url(evidence.example).host  # AdGuard lists host names
    return host == evidence.pattern or host.endswith("." + evidence.pattern)


def ghostery_matches(line: str, example: str) -> bool:
    """A TrackerDB pattern file line: a tracker domain (the domain and its sub-domains), an Adblock
    filter, or the vendor's ``website_url`` (the vendor's own domain, for an operator host)."""
    host = split_url(example).host
    if line.startswith("||"):  # anchored at the host or one of its sub-domains
        return re.match(rf"(?:[^/]*\.)?{abp_regex(line[2:])}", example.split("://", 1)[-1]) is not None
    if line.startswith("website_url:"):
        domain = split_url(line.split(":", 1)[1].strip()).host.removeprefix("www.")
    else:
        domain = line
    return host == domain or host.endswith("." + domain)


def backed_rules(provider: Provider, attributor: Attributor = ATTRIBUTOR) -> set[str]:
    """Rule ids (without the provider prefix) that an evidence item fires or names
    (tools/kb_cite/cite.py passes the attributor of the files it is editing)."""
    backed: set[str] = set()
    for evidence in provider.evidence:
        if not evidence.example:
            backed.add(evidence.rule)
            continue
        found = attributor.attribute_url(evidence.example, "", header=None)
        backed.add(found.rule_id.removeprefix(f"{provider.id}/"))
        keys = split_url(evidence.example).keys
        host = next((h.host for k in keys for h in provider.hosts if h.host == k), "")
        if host:
            backed.add(f"host/{host}")  # the provider's own path shape decided on its own host
    return backed


def test_the_version_is_bumped_for_the_verified_only_default() -> None:
    assert KB.meta.version == "2026.11.0"
    assert rules_version().startswith("2026.11.0+") and not rules_version().endswith("+unverified")


def test_every_provider_has_sources_and_a_basis_from_the_allowed_set() -> None:
    assert set(BASES) == {"list:MailTrackerBlocker", "list:EasyPrivacy", "list:Trocker", "list:UglyEmail",
                          "list:AdGuard-cname", "list:Ghostery-TrackerDB", "list:Email-Intelligence",
                          "list:DuckDuckGo-TrackerRadar",
                          "documentation", "corpus", "recalled-unverified"}
    for p in PROVIDERS:
        assert p.sources, p.id
        assert p.basis and set(p.basis) <= set(BASES), (p.id, p.basis)
        assert p.company_basis in BASES, p.id


@pytest.mark.parametrize(("provider_id", "evidence"), LIST_EVIDENCE,
                         ids=[f"{p}:{i}" for i, (p, _) in enumerate(LIST_EVIDENCE)])
def test_list_evidence_is_an_instance_of_the_cited_pattern_and_attributed_here(provider_id: str, evidence: Evidence) -> None:
    assert pattern_matches(evidence), f"{evidence.example} is not an instance of {evidence.source} {evidence.pattern!r}"
    found = ATTRIBUTOR.attribute_url(evidence.example, "", header=None)
    assert found.provider_id == provider_id, found.reason
    assert found.layer in ("host", "path")


def test_the_basis_of_each_entry_is_what_its_evidence_shows() -> None:
    for p in PROVIDERS:
        sources = {e.source for e in p.evidence}
        expected = {list_basis(s) for s in sources if list_basis(s)}
        expected |= {"corpus"} if sources & set(CORPUS_SOURCES) else set()
        expected |= {"documentation"} if any(s.startswith(DOC_PREFIX) for s in sources) else set()
        expected |= {"recalled-unverified"} if p.unverified else set()
        assert set(p.basis) == expected, p.id
        cited = {s.ref for s in p.sources}
        assert sources <= cited, f"{p.id}: evidence from {sources - cited} is not cited in sources"


def test_unverified_lists_exactly_the_rules_no_evidence_backs() -> None:
    for p in PROVIDERS:
        rules = {r.rule_id.removeprefix(f"{p.id}/") for r in (*p.url_rules, *p.headers)}
        assert set(p.unverified) == rules - backed_rules(p), p.id


def test_a_pinned_list_is_cited_only_where_it_has_evidence() -> None:
    for p in PROVIDERS:
        pinned = {s.ref for s in p.sources
                  if list_basis(s.ref) or s.ref in CORPUS_SOURCES or s.ref.startswith(DOC_PREFIX)}
        assert pinned <= {e.source for e in p.evidence}, p.id


def test_unverified_must_name_existing_rules() -> None:
    entry = ('[[provider]]\nid = "a"\nname = "A"\ncompany = "c"\nsources = ["https://s/"]\n'
             'basis = ["recalled-unverified"]\nhosts = ["a.example"]\nunverified = ["host/b.example"]\n')
    with pytest.raises(KnowledgeBaseError, match="do not exist"):
        parse_files({"_meta.toml": b'version = "1"\n', "x.toml": entry.encode()})


def test_evidence_must_cite_a_known_source() -> None:
    entry = ('[[provider]]\nid = "a"\nname = "A"\ncompany = "c"\nsources = ["https://s/"]\n'
             'basis = ["recalled-unverified"]\nevidence = [{ source = "nope", pattern = "x", example = "https://x/" }]\n')
    with pytest.raises(KnowledgeBaseError, match="evidence source 'nope'"):
        parse_files({"_meta.toml": b'version = "1"\n', "x.toml": entry.encode()})


def test_mtb_vendors_filed_under_a_parent_keep_our_finer_split_with_the_parents_company() -> None:
    by_id = KB.by_id()
    expected = {"marketo": "Adobe Inc.", "eloqua": "Oracle Corporation", "responsys": "Oracle Corporation",
                "oracle-bluekai": "Oracle Corporation", "pardot": "Salesforce, Inc.",
                "salesforce-marketing-cloud": "Salesforce, Inc.", "krux": "Salesforce, Inc.",
                "mailchimp": "Intuit Inc."}
    for pid, company in expected.items():
        assert by_id[pid].company == company, pid
        assert any(e.source == "mtb-5dbfc21" for e in by_id[pid].evidence), pid
    assert by_id["bronto"].company.startswith("Oracle Corporation")


def test_providers_can_be_filtered_by_basis() -> None:
    assert provider_summaries("recalled-unverified") == []  # the default base holds none
    unverified = provider_summaries("recalled-unverified", include_unverified=True)
    assert unverified and all("recalled-unverified" in s.basis for s in unverified)
    assert all(s.basis == ("list:MailTrackerBlocker",) or "list:MailTrackerBlocker" in s.basis
               for s in provider_summaries("list:MailTrackerBlocker"))


def test_header_list_evidence_quotes_a_check_on_the_header_its_rule_reads() -> None:
    """Email-Intelligence evidence quotes the extension's own regex; it must be about the same
    header (name, or the domain for DKIM d= and Received) as the rule it backs."""
    checked = 0
    for p in PROVIDERS:
        rules = {r.rule_id.removeprefix(f"{p.id}/"): r for r in p.headers}
        for e in (e for e in p.evidence if e.source.startswith("email-intelligence")):
            rule = rules[e.rule]
            quoted = e.pattern.replace("\\", "").lower()
            key = rule.pattern if rule.field in ("dkim", "received") else rule.name
            assert key in quoted, (p.id, e.rule, e.pattern)
            checked += 1
    assert checked == 12


def test_ghostery_evidence_names_the_pattern_file_it_quotes() -> None:
    items = [(p.id, e) for p in PROVIDERS for e in p.evidence if e.source.startswith("ghostery")]
    assert len(items) > 100
    assert all(re.fullmatch(r"db/patterns/[\w.-]+\.eno", e.file) for _, e in items)
    assert all(e.example or (e.rule == "company" and e.pattern.startswith(("organization: ", "name: "))) for _, e in items)
    assert ("acxiom", "acxiom.com") in {(pid, e.pattern) for pid, e in items}


def test_a_company_named_by_a_source_has_that_sources_basis() -> None:
    """`rule = "company"` evidence backs the company name: the entry's company_basis must be that
    source's; in the default base an unbacked company says so wherever a finding names it."""
    named = 0
    for p in PROVIDERS:
        for e in (e for e in p.evidence if e.rule == "company"):
            expected = list_basis(e.source) or ("documentation" if e.source.startswith(DOC_PREFIX) else "corpus")
            assert p.company_basis == expected, p.id
            named += 1
    assert named > 40
    default = load().by_id()
    assert default["sendgrid"].company == "Twilio Inc." and default["sendgrid"].company_basis == "documentation"
    assert default["hotjar"].company == "Contentsquare (Hotjar) [company not verified]"
    assert KB.by_id()["hotjar"].company == "Contentsquare (Hotjar)"
