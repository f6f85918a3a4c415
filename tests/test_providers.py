"""The provider knowledge base: who operates each tracker, layer by layer, with its reason."""

from __future__ import annotations

import re

import pytest

from forensics.providers import (
    Attributor,
    attribute_message,
    attribute_url,
    default_attributor,
    explain_url,
    message_from_headers,
    provider_summaries,
    rules_files,
    rules_version,
)
from forensics.providers.kb import KnowledgeBaseError, load, parse_files
from forensics.providers.matcher import host_keys, shape_segment, split_url
from forensics.records import Message

KB = load()  # what scans use: only rules a cited source backs
FULL = load(include_unverified=True)  # the rules files as written, recalled rules included
FULL_ATTRIBUTOR = Attributor(FULL)
PROVIDERS = FULL.providers
URL_EXAMPLES = [(p.id, url) for p in PROVIDERS for url in (*p.examples, *(e.example for e in p.evidence if e.example))]
HEADER_EXAMPLES = [(p.id, ex) for p in PROVIDERS for ex in p.header_examples]


def headers_message(headers: dict[str, str] | tuple[tuple[str, str], ...], sender: str = "news@example.com") -> Message:
    pairs = headers.items() if isinstance(headers, dict) else headers
    block = f"From: Brand <{sender}>\nSubject: hello\n" + "".join(f"{k}: {v}\n" for k, v in pairs)
    return message_from_headers(block.encode(), "inline")


# ------------------------------------------------------------------ the data itself


def test_the_default_base_has_over_300_providers_and_only_rules_a_source_backs() -> None:
    assert len(KB.providers) >= 300
    assert not KB.include_unverified and FULL.include_unverified
    for p in KB.providers:
        assert not p.unverified and "recalled-unverified" not in p.basis, p.id
        assert p.rule_count and p.evidence, p.id
    full = FULL.by_id()
    dropped = {r.rule_id for p in FULL.providers for r in (*p.url_rules, *p.headers)
               if r.rule_id.removeprefix(f"{p.id}/") in p.unverified}
    kept = {r.rule_id for p in KB.providers for r in (*p.url_rules, *p.headers)}
    assert dropped and not dropped & kept
    assert kept | dropped == {r.rule_id for p in full.values() for r in (*p.url_rules, *p.headers)}


def test_every_provider_of_the_default_base_is_found_by_it_on_one_of_its_examples() -> None:
    missing = []
    for p in KB.providers:
        urls = [*p.examples, *(e.example for e in p.evidence if e.example)]
        found = any(attribute_url(url, "").provider_id == p.id for url in urls)
        found = found or any(getattr(attribute_message(headers_message(h)), "provider_id", "") == p.id
                             for h in p.header_examples)
        if not found:
            missing.append(p.id)
    assert missing == []


def test_an_unverified_rule_is_used_only_when_asked_for() -> None:
    url = "https://www.example.com/x?__hstc=1.2.3"  # hubspot/param/__hstc: recalled, no source yet
    assert attribute_url(url, "").provider == ""
    assert explain_url(url).rules_version == rules_version() and not rules_version().endswith("+unverified")
    asked = explain_url(url, include_unverified=True)
    assert asked.attribution.rule_id == "hubspot/param/__hstc"
    assert asked.rules_version.endswith("+unverified")


def test_knowledge_base_has_at_least_300_providers_each_sourced_and_exemplified() -> None:
    assert len(PROVIDERS) >= 300
    for p in PROVIDERS:
        assert p.sources and p.basis, p.id
        assert p.examples or p.header_examples or p.evidence, f"{p.id} has no positive example"
        assert p.url_rules or p.headers, f"{p.id} has no rule"


def test_required_providers_are_present() -> None:
    ids = {p.id for p in PROVIDERS}
    required = {
        "mailchimp", "mandrill", "sendgrid", "amazon-ses", "mailgun", "sparkpost", "postmark", "mailjet",
        "brevo", "hubspot", "salesforce-marketing-cloud", "marketo", "eloqua", "responsys", "customer-io",
        "beehiiv", "substack", "iterable", "yesware", "mailtrack", "streak", "mixmax", "superhuman",
        "hubspot-sales", "outreach", "salesloft", "boomerang", "bananatag", "cirrus-insight", "mailshake",
        "lemlist", "reply-io", "woodpecker", "gmass", "mailbutler", "polymail", "front", "intercom",
        "gmelius", "doubleclick", "google-analytics", "facebook-pixel", "liveintent", "zeta-global",
        "sailthru", "acxiom", "liveramp", "oracle-datalogix", "criteo", "powerinbox", "movable-ink",
        "litmus", "email-on-acid",
    }
    assert required - ids == set()
    # the default base keeps every provider the issue names, each backed by a cited source
    named = {"yesware", "mailtrack", "streak", "mixmax", "superhuman", "amazon-ses", "mailgun", "sendgrid",
             "mailchimp", "hubspot", "sparkpost", "mandrill", "postmark", "marketo", "eloqua", "salesforce-marketing-cloud"}
    assert named - {p.id for p in KB.providers} == set()


def test_rules_version_cites_every_rules_file_hash() -> None:
    names = [name for name, _ in rules_files()]
    assert names == sorted(names)
    assert {"_meta.toml", "esp.toml", "sales.toml", "adtech.toml"} <= set(names)
    assert all(re.fullmatch(r"[0-9a-f]{64}", digest) for _, digest in rules_files())
    assert re.fullmatch(r"\d{4}\.\d+\.\d+\+[0-9a-f]{12}", rules_version())
    assert FULL.version == rules_version() + "+unverified"


# ------------------------------------------------------------ every provider is found


@pytest.mark.parametrize(("provider_id", "url"), URL_EXAMPLES, ids=[f"{p}:{i}" for i, (p, _) in enumerate(URL_EXAMPLES)])
def test_every_example_url_is_attributed_to_its_provider(provider_id: str, url: str) -> None:
    """Every rule as written (recalled ones too) finds its examples; the default base finds
    them too unless the rule that decided is unverified."""
    found = FULL_ATTRIBUTOR.attribute_url(url, "")
    assert found.provider_id == provider_id, found.reason
    assert found.layer in ("host", "path")
    assert found.rule_id.startswith(f"{provider_id}/")
    assert found.confidence >= 0.7
    by_default = attribute_url(url, "")
    if found.rule_id.removeprefix(f"{provider_id}/") in FULL.by_id()[provider_id].unverified:
        assert by_default.rule_id != found.rule_id
    else:
        assert (by_default.provider_id, by_default.rule_id) == (provider_id, found.rule_id)


@pytest.mark.parametrize(("provider_id", "headers"), HEADER_EXAMPLES, ids=[p for p, _ in HEADER_EXAMPLES])
def test_every_header_example_is_attributed_to_its_provider(provider_id: str, headers: tuple[tuple[str, str], ...]) -> None:
    found = FULL_ATTRIBUTOR.attribute_message(headers_message(headers))
    assert found is not None and found.provider_id == provider_id
    assert found.layer == "header"


def test_no_example_matches_two_path_shapes() -> None:
    """Hostless signatures must not overlap: one provider's shapes at most per example."""
    shapes = [(rule, re.compile(rule.path)) for p in PROVIDERS for rule in p.shapes]
    for owner, url in URL_EXAMPLES:
        path_query = split_url(url).path_query
        matching = sorted({rule.provider_id for rule, regex in shapes if regex.match(path_query)})
        assert len(matching) <= 1, f"{owner} example {url} matches shapes of {matching}"


def test_two_providers_cannot_claim_one_host_parameter_or_header() -> None:
    meta = b'version = "1"\n'
    for rules in ('hosts = ["x.example"]', 'params = ["zid"]', 'headers = { names = ["X-Thing"] }'):
        body = "".join(
            f'[[provider]]\nid = "{pid}"\nname = "{pid}"\ncompany = "c"\nsources = ["https://s.example/"]\n'
            f'basis = ["recalled-unverified"]\n{rules}\n' for pid in ("one", "two"))
        with pytest.raises(KnowledgeBaseError, match="claimed by"):
            Attributor(parse_files({"_meta.toml": meta, "x.toml": body.encode()}))


@pytest.mark.parametrize(("entry", "message"), [
    ('id = "a"\nname = "A"\ncompany = "c"\nbasis = ["recalled-unverified"]\n', "'sources' is required"),
    ('id = "a"\nname = "A"\ncompany = "c"\nsources = ["nope"]\nbasis = ["recalled-unverified"]\n', "neither a URL nor an id"),
    ('id = "a"\nname = "A"\ncompany = "c"\nsources = ["https://s/"]\nbasis = ["guess"]\n', "basis must be"),
    ('id = "a"\nname = "A"\ncompany = "c"\nsources = ["https://s/"]\nbasis = ["recalled-unverified"]\nshapes = [{ path = "^/(" }]\n', "bad pattern"),
    ('id = "a"\nname = "A"\ncompany = "c"\nsources = ["https://s/"]\nbasis = ["recalled-unverified"]\nshapes = [{ path = "/x" }]\n', "must start with"),
    ('id = "A B"\nname = "A"\ncompany = "c"\nsources = ["https://s/"]\nbasis = ["recalled-unverified"]\n', "lower-case"),
])
def test_malformed_rules_are_refused_with_the_reason(entry: str, message: str) -> None:
    with pytest.raises(KnowledgeBaseError, match=message):
        parse_files({"_meta.toml": b'version = "1"\n', "x.toml": f"[[provider]]\n{entry}".encode()})


# ------------------------------------------------------------------ negative set

ORDINARY = [
    "https://fonts.googleapis.com/css?family=Open+Sans:400,700",
    "https://fonts.gstatic.com/s/opensans/v40/memSYaGs126MiZpBA-UvWbX2vVnXBbObj2OVZyOOSr4dVJWUgsjZ0B4gaVI.woff2",
    "https://d2p8s7b3zbbxlh.cloudfront.net/static/img/logo.png",
    "https://d1xyz.cloudfront.net/assets/app-4f3c2b1a9e8d7c6b5a4f3e2d1c0b9a8f.css",
    "https://res.cloudinary.com/brand/image/upload/v1690000000/logo.png",
    "https://images.ctfassets.net/abcd1234/5XyZ/0a1b2c3d4e5f/hero.jpg",
    "https://cdn.shopify.com/s/files/1/0123/4567/files/logo.png?v=1612345678",
    "https://i.imgur.com/AbCdEf1.png",
    "https://www.facebook.com/brandpage",
    "https://twitter.com/brand",
    "https://www.linkedin.com/company/brand",
    "https://www.instagram.com/brand/",
    "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
    "https://www.google.com/maps/place/Brand+HQ",
    "https://www.apple.com/iphone/",
    "https://github.com/brand/project",
    "https://www.amazon.com/dp/B000123456",
    "https://en.wikipedia.org/wiki/Email_tracking",
    "https://www.nytimes.com/2024/05/01/technology/email.html",
    "https://www.example.com/",
    "https://www.example.com/about-us",
    "https://cdn.example.com/img/logo-2x.png",
    "https://shop.example.com/products/blue-shirt-12345678",
]


@pytest.mark.parametrize("url", ORDINARY)
def test_ordinary_content_is_not_attributed_to_any_tracker(url: str) -> None:
    esp_message = headers_message({"X-SG-EID": "abc", "X-SG-ID": "def"})
    for message in (None, esp_message):
        found = attribute_url(url, "", message)
        assert found.provider == "", f"{url} -> {found.provider} ({found.reason})"
        assert found.layer in ("unknown", "first-party")


def test_the_senders_own_website_is_first_party() -> None:
    found = attribute_url("https://www.example.com/about-us", "", headers_message({}))
    assert (found.layer, found.category, found.confidence) == ("first-party", "first-party", 0.5)
    assert found.reason == "host is under the sender's domain example.com"


def test_font_hosts_are_explained_as_ordinary_content() -> None:
    found = attribute_url("https://fonts.googleapis.com/css?family=Roboto", "")
    assert found.reason == "fonts.googleapis.com serves ordinary content (fonts, CDN)"


# --------------------------------------------------- cloaked (branded) tracking domains

CLOAKED = [
    ("http://url6571.shop.example/wf/open?upn=9Mlwg0jII8A1wPFGTPsK87rXVKEQzbQp4-2B5UHtyRnI8lfKY9R4", "sendgrid", "open"),
    ("https://email.example.com/ls/click?upn=u001.Uch9HOsun2gN4G1", "sendgrid", "click"),
    ("https://info.example.com/e2t/o/5/W5KxP7c", "hubspot", "open"),
    ("https://news.example.com/track/open.php?u=4a6b4c444e85721a744db292c&id=7246e71eaf&e=6fdc40d018", "mailchimp", "open"),
    ("https://mail.example.com/track/open.php?u=30477602&id=ded5d0c1b37340c7a2f84630fda2d950", "mandrill", "open"),
    ("https://t.example.com/I0/010001913bd2c1fe-e5c39d9e-b6e5-44ff-a2ca-98bfd7aa64cc-000000/xd12MFRYCx6iCotUdFX2EjApg0s=386", "amazon-ses", "open"),
    ("https://t.example.com/CI0/0102018abd940fc3-f05ef529-7ac1-425e-9f94-55cb3caaa95a-000000/x=1", "amazon-ses", "open"),
    ("http://email.mg.example.com/o/eJwEwFEOwiAMANDTjL8tBdrSfXCYQYsjcdZME6_v02pDSYLVyDvmRFFiOCuAsiFajLk", "mailgun", "open"),
    ("https://news.example.com/oo/AVcAAEfwI4kAAc4HzSIAAAAJYbwAAYCspv0AnsKdAA8g9gBml9hNIdDxmrzwRueX9uIInDSFgwAO67Y/ed7db87b/e.gif", "mailjet", "open"),
    ("https://brand-srv96041.example.net/tr/op/NL8yRnVB54i_IIkKk1lRlCdyy6wVJjRTxHWvFGzZRO714nojtBix", "brevo", "open"),
    ("https://tr.example.com/q/mGJ9GjbhB9qDWxgkZ1XAKg~~/AAAAAQA~/RgRmmQ7HPlcFdW5lYXJCCmSlx4m2ZKmef65SF3J", "sparkpost", "open"),
    ("https://support-lt.example.com/e/o/eyJlbWFpbF9pZCI6ImRnU1o0QVVBQUtDbG1RT2ZwWmtEQVplek9xd1kyTXMxR2h2In0=", "customer-io", "open"),
    ("https://link.example.com/ss/o/ltzzm0tTsDh4aJAlLAPc0A/41z/Pvt5wVdHQsWMR1XBCg94Sg/ho.gif", "sendgrid", "open"),
    ("https://go.example.com/trk?t=1&mid=MTIzLUFCQy00NTY6MTIzNDU2Nzg5MA", "marketo", "open"),
    ("https://s1234.t.example.com/e/FooterImages/FooterImage1?elq=0a1b2c3d&siteid=1234", "eloqua", "open"),
    ("https://news.example.com/pub/as?_ri_=X0Gzc2X%3DYQpglLjHJlYQGtgnQzf3Gzbz", "responsys", "open"),
    ("http://click.example.com/open.aspx?ffcb10-fe9a17727565047572-fe2d16787764057f7c1579&d=70228&bmt=0", "salesforce-marketing-cloud", "open"),
    ("https://content.example.com/r/984351/1/1064379532/open/1", "pardot", "open"),
    ("https://123.brand-mail.example/Prod/link-tracker?nl=1&c=2&m=4&s=77e99b9c&l=open&a=652412655", "activecampaign", "tracker"),
    ("https://metrics.example.com/b/ss/brandprod/1/H.27/s123?AQB=1", "adobe-analytics", "beacon"),
]


@pytest.mark.parametrize(("url", "provider_id", "role"), CLOAKED)
def test_cloaked_tracking_is_attributed_by_path_shape(url: str, provider_id: str, role: str) -> None:
    found = attribute_url(url, "")
    assert (found.provider_id, found.layer, found.role) == (provider_id, "path", role), found.reason
    assert found.rule_id.startswith(f"{provider_id}/shape/")
    assert found.reason.startswith("path shape /^/")


def test_a_providers_own_host_beats_the_infrastructure_shape() -> None:
    """Klaviyo sends through SendGrid: its host says Klaviyo, the shape would say SendGrid."""
    found = attribute_url("https://trk.klclick1.com/wf/open?upn=9Mlwg0jII8A1wPFGTPsK", "")
    assert (found.provider, found.layer, found.rule_id) == ("Klaviyo", "host", "klaviyo/host/klclick#.com")


def test_exclusive_tracking_parameter_attributes_a_plain_link() -> None:
    # mc_cid/mc_eid are recalled rules (no source read yet): the matcher's parameter layer is
    # shown on the full base; scans, on the default base, leave the link unattributed
    url = "https://shop.example/sale?utm_source=newsletter&mc_cid=7246e71eaf&mc_eid=6fdc40d018"
    assert attribute_url(url, "").provider == ""
    found = FULL_ATTRIBUTOR.attribute_url(url, "")
    assert (found.provider_id, found.layer, found.rule_id) == ("mailchimp", "path", "mailchimp/param/mc_cid")
    assert found.reason == "query parameter mc_cid is used only by Mailchimp"
    assert found.tracking_params == ("utm_source", "mc_cid", "mc_eid")


@pytest.mark.parametrize(("url", "destination"), [
    ("https://x.r.us-east-1.awstrack.me/L0/https:%2F%2Fwww.example.org%2Foffer/1/010001913bd2c1fe-e5c39d9e-b6e5-44ff-a2ca-98bfd7aa64cc-000000/AbCd=1",
     "https://www.example.org/offer"),
    ("https://t.yesware.com/tl/0a1b2c3d?ytl=https%3A%2F%2Fexample.com%2Fdeck", "https://example.com/deck"),
    ("https://www.google.com/url?q=https://example.com/page&sa=D", "https://example.com/page"),
    ("https://nam02.safelinks.protection.outlook.com/?url=https%3A%2F%2Fexample.com%2Fa&data=05", "https://example.com/a"),
])
def test_click_redirects_give_their_destination(url: str, destination: str) -> None:
    assert FULL_ATTRIBUTOR.attribute_url(url, "").destination == destination  # safelinks: recalled rule


def test_shared_hosts_need_the_tracking_path() -> None:
    assert attribute_url("https://www.facebook.com/tr?id=123&ev=PageView&noscript=1", "").provider_id == "facebook-pixel"
    assert attribute_url("https://www.facebook.com/tr/?id=123&ev=Lead", "").provider_id == "facebook-pixel"
    assert attribute_url("https://www.facebook.com/trending", "").provider == ""
    assert attribute_url("https://github.com/notifications/beacon/AABC.gif", "").provider_id == "github-notifications"


# ------------------------------------------------------------ header fingerprints


SES_HEADERS = {
    "X-SES-Outgoing": "2023.09.22-54.240.4.24",
    "Feedback-ID": "1.eu-west-1.0AsO7lgRCUfouqsuw5vltwF449MGY3MZIgX5KEkJs4w=:AmazonSES",
    "Message-ID": "<0102018abd940fc3-f05ef529-7ac1-425e-9f94-55cb3caaa95a-000000@eu-west-1.amazonses.com>",
}


def test_header_only_attribution_names_the_sending_service_and_its_evidence() -> None:
    found = attribute_message(headers_message(SES_HEADERS))
    assert found is not None
    assert (found.provider, found.company, found.layer, found.role) == ("Amazon SES", "Amazon Web Services, Inc.", "header", "sender")
    assert found.confidence == 0.95
    assert found.reason == (
        "header X-SES-Outgoing is present; "
        "Feedback-ID: 1.eu-west-1.0AsO7lgRCUfouqsuw5vltwF449MGY3MZIgX5KEkJs4w=:AmazonSES matches /:AmazonSES$/; "
        "Message-ID domain eu-west-1.amazonses.com is under amazonses.com")


def test_dkim_and_return_path_alone_attribute_with_lower_confidence() -> None:
    message = headers_message({
        "Return-Path": "<bounces+21831424-110b-x=example.com@sendgrid.net>",
        "DKIM-Signature": "v=1; a=rsa-sha256; c=relaxed/relaxed; d=sendgrid.net; s=smtpapi; b=abc",
    })
    found = attribute_message(message)
    assert found is not None and found.provider_id == "sendgrid"
    assert found.confidence == 0.95  # noisy-or of 0.85 and 0.8 is 0.97, capped at 0.95


def test_no_header_fingerprint_gives_none() -> None:
    assert attribute_message(headers_message({"X-Mailer": "Microsoft Outlook 16.0"})) is None


def test_cloaked_url_on_an_unknown_host_is_attributed_through_the_headers() -> None:
    message = headers_message(SES_HEADERS)
    found = attribute_url("https://click.example.com/abc/AbC123def456GHI789jkl012", "", message)
    assert (found.provider_id, found.layer, found.role) == ("amazon-ses", "header", "tracker")
    assert found.confidence == round(0.95 * 0.85, 3)
    assert found.reason.startswith("sub-domain 'click' is a typical tracking label and it carries an opaque token")


def test_header_layer_needs_a_branded_tracking_look() -> None:
    message = headers_message(SES_HEADERS)
    third_party = attribute_url("https://docs.example.net/document/d/1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789/edit", "", message)
    assert third_party.layer == "unknown"
    own_token = attribute_url("https://www.example.com/r/AbC123def456GHI789jkl012", "", message)
    assert (own_token.layer, own_token.provider_id) == ("header", "amazon-ses")
    assert own_token.confidence == round(0.95 * 0.75, 3)


def test_header_attribution_is_computed_once_per_message_or_passed_in() -> None:
    attributor = Attributor(KB)
    message = headers_message(SES_HEADERS)
    first = attributor.attribute_message(message)
    assert attributor.attribute_message(message) is first  # cached by message_sha256
    url = "https://click.example.com/AbC123def456GHI789jkl012"
    assert attributor.attribute_url(url, "", message, header=None).layer == "first-party"
    assert attributor.attribute_url(url, "", message, header=first).layer == "header"


# ------------------------------------------------------------------ explain and list


def test_explain_says_why_nothing_matched() -> None:
    result = explain_url("https://cdn.example.org/logo.png", "", headers_message(SES_HEADERS))
    assert [(s.layer, s.matched) for s in result.steps] == [
        ("host", False), ("path", False), ("header", False), ("first-party", False)]
    assert result.steps[0].detail == "no host rule for cdn.example.org or its parent domains"
    assert result.steps[2].detail.endswith(
        "but the URL has neither a tracking sub-domain label nor an opaque token on a branded domain")
    assert result.steps[3].detail == "registered domain example.org differs from the sender's example.com"
    assert result.attribution.layer == "unknown"


def test_explain_names_the_matching_rule() -> None:
    result = explain_url("https://u9407390.ct.sendgrid.net/wf/open?upn=u001.s4A7ZqC")
    assert result.steps[0].matched and result.steps[0].detail.startswith("sendgrid/shape/0: host u9407390.ct.sendgrid.net")
    assert result.attribution.role == "open"
    assert result.rules_version == rules_version()


def test_provider_summaries_filter_by_text_and_category() -> None:
    ses = provider_summaries("awstrack")
    assert [s.id for s in ses] == ["amazon-ses"]
    mtb = "https://github.com/apparition47/MailTrackerBlocker/blob/5dbfc211e24ce597e5d043651e22c5b6161d9ec5/Source/MTBBlockedMessage.m"
    assert ses[0].rules == 8 and mtb in ses[0].sources  # 9 with the recalled host amazonses.com
    assert provider_summaries("awstrack", include_unverified=True)[0].rules == 9
    sales = provider_summaries(category="sales", include_unverified=True)
    assert len(sales) >= 50 and {s.category for s in sales} == {"sales"}
    verified = provider_summaries(category="sales")
    assert {s.id for s in verified} < {s.id for s in sales}
    assert all("recalled-unverified" not in s.basis for s in verified)


# ----------------------------------------------------------------- matcher pieces


def test_host_keys_cover_suffixes_and_digit_runs() -> None:
    assert host_keys("elevator.cmail20.com") == [
        "elevator.cmail20.com", "elevator.cmail#.com", "cmail20.com", "cmail#.com"]
    assert host_keys("localhost") == []


@pytest.mark.parametrize(("pattern", "segment"), [
    (r"^/wf/open\?upn=", "wf"), (r"^/open\.aspx\?ffcb10-", "open.aspx"), (r"^/\?qs=[0-9a-f]{40,}", ""),
    (r"^/(?:matomo|piwik)\.php\?", None), (r"^/C?I0/01", None),
])
def test_shapes_are_bucketed_by_their_literal_first_segment(pattern: str, segment: str | None) -> None:
    assert shape_segment(pattern) == segment


def test_a_host_given_with_port_and_case_is_normalised() -> None:
    assert attribute_url("https://x/wf/open?upn=abc", "U123.CT.SendGrid.net:443").provider_id == "sendgrid"


def test_attribution_never_raises_on_junk() -> None:
    for junk in ("", "not a url", "http://[::1", "https://", "mailto:a@b.example", "//", "http://a..b/x?%zz"):
        assert attribute_url(junk, "").provider == ""


def test_received_lines_without_a_rule_domain_are_not_searched_for_hosts() -> None:
    """The hint only skips lines no Received rule can match: same evidence as the full search,
    for a literal rule domain and for one with a digit run ('#')."""
    from forensics.providers.headers import HeaderMatcher

    entry = ('[[provider]]\nid = "relay"\nname = "Relay"\ncompany = "R"\nsources = ["https://r/"]\n'
             'basis = ["recalled-unverified"]\nheaders = { received = ["relay.example", "mta#.bulk.example"] }\n')
    providers = parse_files({"_meta.toml": b'version = "1"\n', "x.toml": entry.encode()}).providers
    fast, slow = HeaderMatcher(providers), HeaderMatcher(providers)
    slow.received_hint = None
    for received in (["from a.relay.example (a.relay.example [192.0.2.1]) by mx.example.org"],
                     ["from MTA42.Bulk.Example (unknown) by mx.example.org"],
                     ["from mail.example.net by mx.example.org", "from x.example.com by y.example.com"]):
        message = headers_message(tuple(("Received", line) for line in received))
        assert [(e.rule.rule_id, e.detail) for e in fast.evidence(message)] == \
               [(e.rule.rule_id, e.detail) for e in slow.evidence(message)]
    assert fast.received_hint.found_in("from MTA42.Bulk.Example") and not fast.received_hint.found_in("from mta.bulk.example")
