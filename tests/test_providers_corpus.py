"""Real mail: the header fingerprints name the service that real ESP mail came from."""

from __future__ import annotations

import email
import email.policy
import html
import re
from pathlib import Path

import pytest

from forensics.providers import attribute_message, default_attributor, message_from_headers
from forensics.providers.kb import CORPUS_SOURCES, load

_URL = re.compile(r"https?://[^\s\"'<>()\\]+", re.I)
CORPUS_EVIDENCE = [(p.id, e) for p in load().providers for e in p.evidence if e.source in CORPUS_SOURCES]

# A header only one service adds, and the provider it must lead to.
SIGNATURES = {
    "x-ses-outgoing": "amazon-ses", "x-mailgun-sid": "mailgun", "x-mj-mid": "mailjet",
    "x-pm-message-id": "postmark", "x-sfmc-stack": "salesforce-marketing-cloud",
    "x-mandrill-user": "mandrill", "x-mc-user": "mailchimp", "x-sib-id": "brevo",
    "x-kmail-account": "klaviyo", "x-hs-cid": "hubspot", "x-roving-id": "constant-contact",
    "x-greenarrow-mtaid": "greenarrow", "x-emmkt": "emblue", "x-zendesk-email-id": "zendesk",
}


@pytest.mark.corpus
def test_real_esp_mail_is_attributed_by_its_headers(corpus: Path) -> None:
    folder = corpus / "phishing_pot-dev"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    checked = 0
    for path in sorted(folder.glob("*.eml")):
        with open(path, "rb") as handle:
            message = message_from_headers(handle.read(), str(path))
        names = {name.lower() for name, _ in message.headers}
        expected = {pid for header, pid in SIGNATURES.items() if header in names}
        if len(expected) != 1:
            continue  # no signature, or two services on one message (a relay): not a clean case
        found = attribute_message(message)
        assert found is not None and found.provider_id in expected, f"{path.name}: {found}"
        checked += 1
    assert checked >= 30


def message_urls(data: bytes) -> list[str]:
    """URLs in the decoded text parts of a message, in order, without repeats."""
    message = email.message_from_bytes(data, policy=email.policy.compat32)
    urls: list[str] = []
    for part in message.walk():
        if part.get_content_maintype() != "text":
            continue
        text = html.unescape((part.get_payload(decode=True) or b"").decode("utf-8", "replace"))
        for url in _URL.findall(text):
            if url.rstrip(".,;") not in urls:
                urls.append(url.rstrip(".,;"))
    return urls


def fired_rules(path: Path) -> set[str]:
    """Rule ids that a real message fires: its URLs (host and path layers) and its headers."""
    attributor = default_attributor()
    data = path.read_bytes()
    fired = set()
    for url in message_urls(data):
        found = attributor.attribute_url(url, "", header=None)
        if found.provider_id and found.layer in ("host", "path"):
            fired.add(found.rule_id)
    fired |= {e.rule.rule_id for e in attributor.headers.evidence(message_from_headers(data, str(path)))}
    return fired


@pytest.mark.corpus
@pytest.mark.parametrize(("provider_id", "evidence"), CORPUS_EVIDENCE,
                         ids=[f"{p}:{e.rule}" for p, e in CORPUS_EVIDENCE])
def test_corpus_evidence_names_a_file_that_fires_the_rule(corpus: Path, provider_id: str, evidence) -> None:
    """Basis 'corpus' is a checked claim: the cited real message fires the cited rule."""
    path = corpus / evidence.file
    if not path.is_file():
        pytest.skip(f"{path} not found")
    assert f"{provider_id}/{evidence.rule}" in fired_rules(path)


@pytest.mark.corpus
def test_the_received_hint_changes_no_header_evidence_on_real_mail(corpus: Path) -> None:
    """Skipping Received lines that name no rule domain gives the same evidence as searching
    every line, on every phishing_pot message and both bases (scans' and the full one)."""
    from forensics.providers.headers import HeaderMatcher

    paths = sorted((corpus / "phishing_pot-dev").glob("*.eml"))
    if not paths:
        pytest.skip("phishing_pot-dev not found")
    for base in (load(), load(include_unverified=True)):
        fast, slow = HeaderMatcher(base.providers), HeaderMatcher(base.providers)
        slow.received_hint = None
        for path in paths:
            message = message_from_headers(path.read_bytes(), str(path))
            assert [(e.rule.rule_id, e.detail) for e in fast.evidence(message)] == \
                   [(e.rule.rule_id, e.detail) for e in slow.evidence(message)], path.name
