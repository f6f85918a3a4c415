"""Beacons: every signal that applies, a confidence, and the images that are not beacons."""

from __future__ import annotations

import json

import pytest

from forensics.analyse import MessageContext, Settings
from forensics.extract import stage
from forensics.extract.rows import ExtractionRow, ResourceRow
from forensics.extract.stage import analyse_extraction
from forensics.providers import UNKNOWN, Attribution
from forensics.records import Address, Locator, Message

SENDER = Address(name="Shop", address="news@shop.example.com")


@pytest.fixture(autouse=True)
def no_knowledge_base(monkeypatch: pytest.MonkeyPatch) -> None:
    """Extraction's own signals, independent of the provider rules (tested on their own)."""
    monkeypatch.setattr(stage, "attribute_url", lambda url, host, message=None: UNKNOWN)


def message(body: str, digest: str = "a" * 64) -> Message:
    return Message(message_sha256=digest, hash_basis="raw-rfc5322", format="eml",
                   locator=Locator(source_path="box.mbox", source_sha256="0" * 64, kind="offset", offset=0, length=1),
                   from_=(SENDER,), html=(body,))


def resources(body: str) -> list[ResourceRow]:
    return [r for r in analyse_extraction(message(body), Settings(), MessageContext()) if isinstance(r, ResourceRow)]


def one(body: str) -> ResourceRow:
    found = resources(body)
    assert len(found) == 1, found
    return found[0]


def signals(row: ResourceRow) -> list[str]:
    return json.loads(row.signals)


def test_a_pixel_hidden_by_an_ancestor_is_a_beacon() -> None:
    row = one('<p>Hi</p><div style="display:none"><table><tr><td>'
              '<img src="https://t.mailer.example/o/4f9c2d1e8b7a6c5d"></td></tr></table></div><p>Bye</p>')
    assert signals(row) == [
        "size:undeclared",
        "hidden-by-ancestor div display:none",
        "url:identifier:path[1]=4f9c2d1e8b7a6c5d (hex)",
    ]
    assert (row.hidden, row.confidence, row.is_beacon) == ("ancestor div display:none", 0.649, 1)


def test_an_open_pixel_at_the_end_of_the_body() -> None:
    row = one('<p>News</p><img src="https://u1.ct.sendgrid.example/wf/open?upn=aBcD1234efGh5678IjKl9012mNoP" '
              'width="1" height="1" alt="" style="height:1px !important;width:1px !important">')
    assert signals(row) == [
        "url:open-endpoint:wf/open",
        "size:tiny:1x1",
        "position:last-in-body",
        "url:identifier:query[upn]=aBcD1234efGh5678IjKl9012mNoP (base64)",
    ]
    assert (row.confidence, row.is_beacon, row.party) == (0.971, 1, "third")


def test_a_spacer_is_not_a_beacon() -> None:
    body = "".join(f'<td><img src="http://www.shop.example.com/img/spacer.gif" width="1" height="{h}"></td>'
                   for h in (1, 10, 20)) + "<p>footer</p>"
    rows = resources(body)
    assert [signals(r) for r in rows] == [
        ["size:tiny:1x1", "not:spacer-name:spacer.gif", "not:repeated-in-message:3"],
        ["not:spacer-name:spacer.gif", "not:repeated-in-message:3"],
        ["not:spacer-name:spacer.gif", "not:repeated-in-message:3"],
    ]
    assert [(r.confidence, r.is_beacon, r.party) for r in rows] == [(0.054, 0, "first"), (0.0, 0, "first"),
                                                                   (0.0, 0, "first")]


def test_a_content_image_is_not_a_beacon() -> None:
    row = one('<img src="https://cdn.shop.example.com/2024/spring/hero-banner.jpg" width="600" height="300" '
              'alt="Spring sale"><p>Buy now</p>')
    assert signals(row) == ["not:content-size:600x300"]
    assert (row.confidence, row.is_beacon) == (0.0, 0)


def test_a_content_image_with_undeclared_size_is_not_a_beacon() -> None:
    row = one('<img src="https://cdn.shop.example.com/products/blue-shirt.jpg"><p>Shirt</p>')
    assert (signals(row), row.confidence, row.is_beacon) == (["size:undeclared"], 0.1, 0)


def test_a_hidden_content_block_alone_is_not_a_beacon() -> None:
    row = one('<div style="display:none;max-height:0;overflow:hidden"><img src="https://cdn.shop.example.com/'
              'mobile/hero.jpg" width="320"></div><p>text</p>')
    assert (signals(row), row.confidence, row.is_beacon) == (
        ["hidden-by-ancestor div display:none"], 0.4, 0)


def test_a_recipient_address_in_an_image_url() -> None:
    row = one('<img src="https://hooks.example.net/?email=alice@example.org&h=1"><p>text</p>')
    assert signals(row) == ["size:undeclared", "url:identifier:query[email]=alice@example.org (email)",
                            "url:email-address"]
    assert (row.confidence, row.is_beacon) == (0.649, 1)


def test_an_ad_impression_is_a_beacon_whatever_its_size() -> None:
    row = one('<a href="http://ad.doubleclick.net/jump/x"><img src="http://ad.doubleclick.net/ad/N1090.cnet/'
              'B926801.16;sz=160x600;ord=[timestamp]?" width="160" height="600"></a><p>more</p>')
    assert signals(row) == ["url:impression-endpoint:doubleclick-ad", "not:content-size:160x600",
                            "url:cache-buster:ord"]
    assert (row.confidence, row.is_beacon, row.damp_local, row.strong) == (0.86, 1, 1.0, 1)


def test_tiny_declared_size_alone_is_not_enough() -> None:
    row = one('<img src="https://static.shop.example.com/divider-thin.png" width="1" height="1"><p>text</p>')
    assert (signals(row), row.confidence, row.is_beacon) == (["size:tiny:1x1"], 0.45, 0)


def test_many_images_of_one_shape_in_a_message_are_assets() -> None:
    body = "".join(f'<img src="https://img.shop.example.com/p/{h}.jpg">' for h in
                   ("9f8e7d6c5b4a39281706", "0a1b2c3d4e5f60718293", "1122aabbccddeeff0099")) + "<p>x</p>"
    rows = resources(body)
    assert [r.same_shape_in_message for r in rows] == [3, 3, 3]
    assert signals(rows[0]) == ["size:undeclared", "url:identifier:path[1]=9f8e7d6c5b4a39281706 (hex)",
                                "not:same-shape-in-message:3"]
    assert [r.is_beacon for r in rows] == [0, 0, 0]


def test_cid_and_data_references_are_counted_not_kept() -> None:
    rows = analyse_extraction(message('<img src="cid:logo@x"><img src="data:image/gif;base64,R0lGOD==">'
                                      '<img src="rel/x.gif"><img src="http://t.example/p.gif">'),
                              Settings(), MessageContext())
    summary = next(r for r in rows if isinstance(r, ExtractionRow))
    assert (summary.cid_references, summary.data_references, summary.relative_references,
            summary.remote_resources) == (1, 1, 1, 1)


def test_context_receives_every_url_with_deterministic_ids() -> None:
    context = MessageContext()
    analyse_extraction(message('<img src="//t.example/o.gif?id=12345678"><a href="https://shop.example.com/">s</a>',
                               digest="0123456789abcdef" + "f" * 48), Settings(), context)
    assert [(u.finding_id, u.kind, u.url, u.host, u.registered_domain) for u in context.urls] == [
        ("0123456789abcdef-r00000", "resource", "https://t.example/o.gif?id=12345678", "t.example", "t.example"),
        ("0123456789abcdef-l00000", "link", "https://shop.example.com/", "shop.example.com", "example.com"),
    ]


@pytest.mark.parametrize(
    ("src", "signal"),
    [
        ("https://x.list-manage.example/track/open.php?u=1&id=2", "url:open-endpoint:track/open"),
        ("https://t.hs.example/e2t/o/5/abc", "url:open-endpoint:e2t/o"),
        ("https://email.brand.example/o/eJwNyDEOgjAUAA", "url:open-endpoint:mailgun-o"),
        ("https://r.brand.example/I0/0100018f/abc", "url:open-endpoint:ses-I0"),
        ("https://links.brand.example/oo/abc/def/e.gif", "url:open-endpoint:mailjet-oo"),
        ("https://x.brand.example/ss/o/abc/ho.gif", "url:open-endpoint:ss/o"),
        ("https://mailtrack.example/trace/mail/abc.png", "url:open-endpoint:trace/mail"),
        ("http://www.shop.example.com/scripts/openrate.asp?emailid=1", "url:open-endpoint:open-script"),
        ("http://www.qksrv.net/image-471546-2202776", "url:impression-endpoint:cj-impression"),
        ("http://ad.linksynergy.com/fs-bin/show?id=vdKWfulJxTQ", "url:impression-endpoint:linkshare-impression"),
        ("http://www.oracle.example/elog/trackurl?di=1", "url:tracking-word:trackurl"),
        ("http://adserver.yahoo.example/a?f=1", "url:ad-server-host:adserver"),
    ],
)
def test_url_shapes(src: str, signal: str) -> None:
    assert signal in signals(one(f'<img src="{src}"><p>x</p>'))


def test_a_provider_rule_naming_an_open_pixel_is_a_strong_signal(monkeypatch: pytest.MonkeyPatch) -> None:
    rule = Attribution(provider="Example ESP", company="Example Inc.", category="esp", layer="path",
                       rule_id="example/open", confidence=0.9, reason="path shape", role="open")
    monkeypatch.setattr(stage, "attribute_url", lambda url, host, message=None: rule)
    row = one('<img src="https://t.brand.example/v/abc" width="600" height="1"><p>x</p>')
    assert signals(row) == ["provider:example/open:open"]
    assert (row.confidence, row.is_beacon, row.provider, row.provider_rule) == (0.8, 1, "Example ESP", "example/open")
