"""Links: every wrapper taken off (and recorded), every link classified, tracking parameters listed."""

from __future__ import annotations

import json

import pytest

from forensics.analyse import MessageContext, Settings
from forensics.extract import links, stage
from forensics.extract.params import inspect
from forensics.extract.rows import LinkRow
from forensics.extract.stage import analyse_extraction
from forensics.extract.wrappers import unwrap
from forensics.providers import UNKNOWN, Attribution
from forensics.records import Address, Locator, Message


def no_rule(url: str, host: str) -> Attribution:
    return UNKNOWN


# (wrapped URL, wrappers taken off, final URL)
WRAPPERS = [
    ("https://nam02.safelinks.protection.outlook.com/?url=https%3A%2F%2Fwww.example.org%2Fpage%3Fa%3D1&data=05%7C01"
     "%7C&sdata=abc%3D&reserved=0", "safelinks", "https://www.example.org/page?a=1"),
    ("https://urldefense.proofpoint.com/v1/url?u=http://www.example.org/a%3Fb%3D1&k=xyz&r=abc&m=def&s=ghi",
     "proofpoint-v1", "http://www.example.org/a?b=1"),
    ("https://urldefense.proofpoint.com/v2/url?u=https-3A__www.example.org_path-3Fq-3D1-26r-3D2&d=DwMFaQ&c=abc"
     "&r=def&m=ghi&s=jkl&e=", "proofpoint-v2", "https://www.example.org/path?q=1&r=2"),
    ("https://urldefense.com/v3/__https://google.com:443/search?q=a*test&gs=ps__;Kw!!-612Flbf0JvQ3kNJkRi5Jg!Ue6tQud"
     "NKaShHg93trcdjqDP8se2ySE65jyCIe2K1D_uNjZ1Lnf6YLQERujngZv9UWf66ujQIQ$", "proofpoint-v3",
     "https://google.com:443/search?q=a+test&gs=ps"),
    ("https://urldefense.com/v3/__http://www.example.org/a**Ab*c__;JSUlJQ!!abc$", "proofpoint-v3",
     "http://www.example.org/a%%b%c"),
    ("https://protect-eu.mimecast.com/s/AbCdEfGhIjKl?url=https%3A%2F%2Fwww.example.org%2F", "mimecast",
     "https://www.example.org/"),
    ("https://linkprotect.cudasvc.com/url?a=https%3a%2f%2fwww.example.org%2fx&c=E,1,abc&typo=1", "barracuda",
     "https://www.example.org/x"),
    ("https://ci3.googleusercontent.com/proxy/AbCdEfGh-ijk=s0-d-e1-ft#https://t.esp.example/o/abc.gif",
     "google-image-proxy", "https://t.esp.example/o/abc.gif"),
    ("https://click.esp.example/ls/click?upn=abcDEF123456&redirect=https%3A%2F%2Fshop.example.org%2Fsale",
     "redirect-param", "https://shop.example.org/sale"),
    ("http://ad.doubleclick.net/clk;3381043;6453019;b?http://www.gtwaccessories.com/link.html?pID=1830164",
     "redirect-query", "http://www.gtwaccessories.com/link.html?pID=1830164"),
    ("https://trk.esp.example/click/https%3A%2F%2Fshop.example.org%2Fp", "redirect-path",
     "https://shop.example.org/p"),
    ("https://r.esp.example/c/aHR0cHM6Ly9leGFtcGxlLm9yZy9wYWdlP2E9MQ/xyz", "base64-path",
     "https://example.org/page?a=1"),
    ("https://t.esp.example/r?id=abc123XYZ789&u=aHR0cHM6Ly9leGFtcGxlLm9yZy8", "base64-param", "https://example.org/"),
    ("https://click.pstmrk.it/3s/example.org%2Fwelcome/AbC1/xYz2", "postmark-click", "https://example.org/welcome"),
    ("https://nam02.safelinks.protection.outlook.com/?url=https%3A%2F%2Furldefense.proofpoint.com%2Fv2%2Furl%3Fu%3D"
     "http-3A__click.esp.example_ls_click-3Fupn-3DabcDEF123456-26url-3Dhttps-253A-252F-252Fshop.example.org%26d%3Dx"
     "&data=04", "safelinks>proofpoint-v2>redirect-param", "https://shop.example.org"),
    ("http://zdnetshopper.cnet.com/go/to?tag=ex.cr&destUrl=http%3A%2F%2Fad%2Edoubleclick%2Enet%2Fclk%3B3381043%3B"
     "6453019%3Bb%3Fhttp%3A%2F%2Fwww%2Egtwaccessories%2Ecom%2Flink%2Ehtml%3FpID%3D1830164",
     "redirect-param>redirect-query", "http://www.gtwaccessories.com/link.html?pID=1830164"),
    ("https://www.facebook.com/sharer/sharer.php?u=https://example.org/", "",
     "https://www.facebook.com/sharer/sharer.php?u=https://example.org/"),
]


@pytest.mark.parametrize(("url", "names", "final"), WRAPPERS)
def test_every_wrapper(url: str, names: str, final: str) -> None:
    result = unwrap(url)
    assert (result.wrappers(), result.final) == (names, final)
    assert [h.url for h in result.hops][:1] == ([url] if names else [])


def test_mimecast_without_destination_is_noted() -> None:
    result = unwrap("https://protect-eu.mimecast.com/s/AbCdEfGhIj?domain=example.org")
    assert (result.hops, result.notes) == ((), ("mimecast: destination not written in the URL (domain=example.org)",))


def test_unwrapping_stops_at_a_loop_or_too_many_hops() -> None:
    inner = "https://example.org/"
    for _ in range(12):
        inner = "https://r.esp.example/r?url=" + inner.replace("%", "%25").replace("&", "%26").replace("?", "%3F")
    result = unwrap(inner)
    assert (len(result.hops), result.truncated) == (10, True)


def test_images_unwrap_proxies_but_not_referrer_parameters() -> None:
    assert unwrap("http://c.msn.example/c.gif?TP=http://groups.msn.example", follow_redirects=False).hops == ()
    proxied = unwrap("https://ci3.googleusercontent.com/proxy/x#https://t.example/o.gif", follow_redirects=False)
    assert proxied.final == "https://t.example/o.gif"


@pytest.mark.parametrize(
    ("url", "classification", "final"),
    [
        ("https://shop.example.org/sale?utm_source=newsletter&utm_medium=email", links.DIRECT,
         "https://shop.example.org/sale?utm_source=newsletter&utm_medium=email"),
        ("https://click.esp.example/redirect?url=https%3A%2F%2Fshop.example.org%2F", links.TRACKED,
         "https://shop.example.org/"),
        ("https://click.esp.example/ls/click?upn=aBcD1234efGh5678IjKl9012&url=https%3A%2F%2Fshop.example.org%2F",
         links.TRACKED_ID, "https://shop.example.org/"),
        ("http://clickthru.online.com/Click?q=aa-gBae-hU-_tfD2LsnEUuZc5Hbw9RR", links.TRACKED_ID,
         "http://clickthru.online.com/Click?q=aa-gBae-hU-_tfD2LsnEUuZc5Hbw9RR"),
        ("http://www.example.org/go/to?page=home", links.TRACKED, "http://www.example.org/go/to?page=home"),
        ("https://links.brand.example/u/4f9c2d1e-8b7a-4c5d-9e0f-1a2b3c4d5e6f", links.TRACKED_ID,
         "https://links.brand.example/u/4f9c2d1e-8b7a-4c5d-9e0f-1a2b3c4d5e6f"),
        ("https://www.brand.example/about/4f9c2d1e-8b7a-4c5d-9e0f-1a2b3c4d5e6f", links.DIRECT,
         "https://www.brand.example/about/4f9c2d1e-8b7a-4c5d-9e0f-1a2b3c4d5e6f"),
        ("https://nam02.safelinks.protection.outlook.com/?url=https%3A%2F%2Fwww.example.org%2F&data=05", links.DIRECT,
         "https://www.example.org/"),
    ],
)
def test_classification(url: str, classification: str, final: str) -> None:
    verdict = links.classify(url, no_rule)
    assert (verdict.classification, verdict.final) == (classification, final)


def test_redirect_identifier_is_searched_outside_the_destination() -> None:
    verdict = links.classify("https://click.esp.example/r?url=https%3A%2F%2Fshop.example.org%2F%3Fcid%3D"
                             "4f9c2d1e8b7a6c5d", no_rule)
    assert verdict.classification == links.TRACKED
    assert [i.label() for i in verdict.identifiers] == []


def test_a_provider_rule_can_name_a_click_redirector_and_its_destination() -> None:
    def rule(url: str, host: str) -> Attribution:
        return Attribution(provider="ESP", company="ESP Inc.", category="esp", layer="path", rule_id="esp/click",
                           confidence=0.9, reason="path", role="click", destination="https://shop.example.org/")

    verdict = links.classify("https://e.brand.example/v1/AbC", rule)
    assert (verdict.classification, verdict.final) == (links.TRACKED, "https://shop.example.org/")
    assert verdict.signals == ("provider:esp/click:click", "destination-from-rule:esp/click")


def test_tracking_parameter_inventory() -> None:
    found = inspect("https://shop.example.org/?utm_source=nl&utm_campaign=spring&mc_cid=abc12&mc_eid=4f2a9b1c07"
                    "&_hsenc=p2ANqtz-abc&_hsmi=12345&mkt_tok=NDUwLUFCQy0xMjM&ml_subscriber=123456"
                    "&ml_subscriber_hash=a1b2c3&gclid=EAIaIQobChMI&fbclid=IwAR0abc&ord=123")
    assert [(t.name, t.owner, t.purpose) for t in found.tracking] == [
        ("utm_source", "Google Analytics (UTM)", "campaign"),
        ("utm_campaign", "Google Analytics (UTM)", "campaign"),
        ("mc_cid", "Mailchimp", "campaign"),
        ("mc_eid", "Mailchimp", "recipient"),
        ("_hsenc", "HubSpot", "recipient"),
        ("_hsmi", "HubSpot", "campaign"),
        ("mkt_tok", "Marketo", "recipient"),
        ("ml_subscriber", "MailerLite", "recipient"),
        ("ml_subscriber_hash", "MailerLite", "recipient"),
        ("gclid", "Google Ads", "click"),
        ("fbclid", "Meta", "click"),
    ]
    assert [i.where for i in found.identifiers] == [
        "query[mc_eid]", "query[_hsenc]", "query[mkt_tok]", "query[ml_subscriber]", "query[ml_subscriber_hash]",
        "query[gclid]", "query[fbclid]"]
    assert found.cache_busters == ("ord",)


def test_urls_in_plain_text() -> None:
    text = ("See https://shop.example.org/sale?utm_source=x. Or (http://www.example.org/a_(b)) and\n"
            "<https://click.esp.example/ls/click?upn=abc>, ftp://files.example.org/f.txt!")
    assert links.text_urls(text, 10) == [
        "https://shop.example.org/sale?utm_source=x", "http://www.example.org/a_(b)",
        "https://click.esp.example/ls/click?upn=abc", "ftp://files.example.org/f.txt"]


def test_link_rows_from_html_and_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stage, "attribute_url", lambda url, host, message=None: UNKNOWN)
    message = Message(
        message_sha256="b" * 64, hash_basis="raw-rfc5322", format="eml",
        locator=Locator(source_path="m.eml", source_sha256="1" * 64, kind="file"),
        from_=(Address(name="", address="news@brand.example.com"),),
        html=('<a href="https://click.brand.example.com/ls/click?upn=aBcD1234efGh5678IjKl&url=https%3A%2F%2F'
              'shop.other.org%2F">Shop <b>now</b></a><a href="#top">top</a><a href="javascript:x()">x</a>'
              '<a href="mailto:help@brand.example.com">help</a>',),
        text=("Shop: https://shop.other.org/?utm_source=email",),
    )
    rows = [r for r in analyse_extraction(message, Settings(), MessageContext()) if isinstance(r, LinkRow)]
    assert [(r.finding_id, r.location, r.classification, r.party, r.final_party, r.link_text) for r in rows] == [
        ("bbbbbbbbbbbbbbbb-l00000", "a@href", links.TRACKED_ID, "first", "third", "Shop now"),
        ("bbbbbbbbbbbbbbbb-l00001", "a@href", links.DIRECT, "first", "first", "help"),
        ("bbbbbbbbbbbbbbbb-l00002", "text@plain", links.DIRECT, "third", "third", ""),
    ]
    assert json.loads(rows[0].unwrap_chain) == [rows[0].url, "https://shop.other.org/"]
    assert json.loads(rows[0].identifiers) == ["query[upn]=aBcD1234efGh5678IjKl (base64)"]
    assert json.loads(rows[2].tracking_params) == ["utm_source"]
