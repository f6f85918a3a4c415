"""Extraction, HTML side: every place a mail client loads something from, found and resolved."""

from __future__ import annotations

import time

import pytest

from forensics.extract import css
from forensics.extract.html import MAX_OPEN_DEPTH, Budget, Ref, part_refs
from forensics.extract.urls import target


def refs(body: str) -> list[Ref]:
    return list(part_refs(body, 0, Budget()).refs)


def only(body: str) -> Ref:
    found = refs(body)
    assert len(found) == 1, found
    return found[0]


# (markup, location, element, resource kind, URL as written)
LOCATIONS = [
    ('<img src="http://t.example/a.gif">', "img@src", "img", "image", "http://t.example/a.gif"),
    ('<img lowsrc="http://t.example/l.gif">', "img@lowsrc", "img", "image", "http://t.example/l.gif"),
    ('<img dynsrc="http://t.example/d.avi">', "img@dynsrc", "img", "image", "http://t.example/d.avi"),
    ('<img srcset="http://t.example/2x.png 2x">', "img@srcset", "img", "image", "http://t.example/2x.png"),
    ('<picture><source srcset="http://t.example/p.webp"></picture>', "source@srcset", "source", "image",
     "http://t.example/p.webp"),
    ('<table background="http://t.example/t.gif"><tr><td>x</td></tr></table>', "table@background", "table",
     "image", "http://t.example/t.gif"),
    ('<table><tr><td background="http://t.example/td.gif">x</td></tr></table>', "td@background", "td",
     "image", "http://t.example/td.gif"),
    ('<body background="http://t.example/b.gif">x</body>', "body@background", "body", "image",
     "http://t.example/b.gif"),
    ("<div style=\"background-image:url('http://t.example/s.png')\">x</div>", "css@style", "div", "image",
     "http://t.example/s.png"),
    ('<style>.h{background:url(http://t.example/blk.png)}</style>', "css@style-block", "style", "image",
     "http://t.example/blk.png"),
    ('<style>@import "http://t.example/i.css";</style>', "css@import", "style", "stylesheet",
     "http://t.example/i.css"),
    ('<style>@import url(http://t.example/u.css);</style>', "css@import", "style", "stylesheet",
     "http://t.example/u.css"),
    ("<style>@font-face{font-family:x;src:url(http://t.example/f.woff)}</style>", "css@style-block", "style",
     "font", "http://t.example/f.woff"),
    ('<link rel="stylesheet" href="http://t.example/s.css">', "link@href", "link", "stylesheet",
     "http://t.example/s.css"),
    ('<link rel="shortcut icon" href="http://t.example/favicon.ico">', "link@href", "link", "icon",
     "http://t.example/favicon.ico"),
    ('<link rel="preload" as="image" href="http://t.example/pre.png">', "link@href", "link", "preload",
     "http://t.example/pre.png"),
    ('<link rel="dns-prefetch" href="//t.example">', "link@href", "link", "connect", "//t.example"),
    ('<input type="image" src="http://t.example/btn.gif">', "input@src", "input", "image",
     "http://t.example/btn.gif"),
    ('<video poster="http://t.example/poster.jpg"></video>', "video@poster", "video", "image",
     "http://t.example/poster.jpg"),
    ('<video src="http://t.example/v.mp4"></video>', "video@src", "video", "media", "http://t.example/v.mp4"),
    ('<video><source src="http://t.example/v.webm"></video>', "source@src", "source", "media",
     "http://t.example/v.webm"),
    ('<audio src="http://t.example/a.mp3"></audio>', "audio@src", "audio", "media", "http://t.example/a.mp3"),
    ('<bgsound src="http://t.example/s.mid">', "bgsound@src", "bgsound", "media", "http://t.example/s.mid"),
    ('<object data="http://t.example/o.swf"></object>', "object@data", "object", "object",
     "http://t.example/o.swf"),
    ('<object><param name="movie" value="http://t.example/m.swf"></object>', "param@value", "param", "object",
     "http://t.example/m.swf"),
    ('<embed src="http://t.example/e.swf">', "embed@src", "embed", "object", "http://t.example/e.swf"),
    ('<iframe src="http://t.example/frame.html"></iframe>', "iframe@src", "iframe", "frame",
     "http://t.example/frame.html"),
    ('<script src="http://t.example/s.js"></script>', "script@src", "script", "script", "http://t.example/s.js"),
    ('<meta http-equiv="refresh" content="0; URL=\'http://t.example/go\'">', "meta@refresh", "meta", "refresh",
     "http://t.example/go"),
    ('<svg><image href="http://t.example/svg.png"/></svg>', "image@href", "image", "image",
     "http://t.example/svg.png"),
    ('<!--[if mso]><v:rect style="width:600px;height:300px"><v:fill type="frame" '
     'src="http://t.example/fill.png"/></v:rect><![endif]-->', "vml@src", "v:fill", "image",
     "http://t.example/fill.png"),
    ('<!--[if gte mso 9]><v:image src="http://t.example/vimage.png"/><![endif]-->', "vml@src", "v:image",
     "image", "http://t.example/vimage.png"),
    ('<!--[if mso]><v:shape><v:imagedata src="http://t.example/vdata.png"/></v:shape><![endif]-->', "vml@src",
     "v:imagedata", "image", "http://t.example/vdata.png"),
    ('<a href="http://t.example/click">go</a>', "a@href", "a", "", "http://t.example/click"),
    ('<map><area href="http://t.example/area" alt="x"></map>', "area@href", "area", "", "http://t.example/area"),
    ('<a ping="http://t.example/ping">p</a>', "a@ping", "a", "", "http://t.example/ping"),
    ('<form action="http://t.example/submit"></form>', "form@action", "form", "", "http://t.example/submit"),
]


@pytest.mark.parametrize(("markup", "location", "element", "kind", "raw"), LOCATIONS)
def test_every_reference_location(markup: str, location: str, element: str, kind: str, raw: str) -> None:
    ref = only(markup)
    assert (ref.location, ref.element, ref.resource_kind, ref.raw) == (location, element, kind, raw)
    assert ref.kind == ("link" if location.split("@")[0] in ("a", "area", "form") else "resource")


def test_vml_is_marked_with_its_condition_and_sized_by_its_shape() -> None:
    ref = only('<!--[if gte mso 9]><v:rect style="width:600px;height:300px"><v:fill src="http://t.example/f.png"/>'
               "</v:rect><![endif]-->")
    assert (ref.conditional, ref.width, ref.height) == ("if gte mso 9", 600.0, 300.0)


def test_downlevel_revealed_comment_content_is_ordinary_markup() -> None:
    ref = only('<!--[if !mso]><!--><img src="http://t.example/nonmso.png"><!--<![endif]-->')
    assert (ref.location, ref.conditional) == ("img@src", "")


def test_entities_are_decoded_and_whitespace_in_urls_dropped() -> None:
    ref = only('<img src=" http://t.example/o.gif?a=1&amp;b=2&#x26;c=3\n&d=4 ">')
    assert ref.raw == " http://t.example/o.gif?a=1&b=2&c=3\n&d=4 "
    assert target(ref.raw).resolved == "http://t.example/o.gif?a=1&b=2&c=3&d=4"


def test_srcset_with_descriptors_and_commas_in_urls() -> None:
    found = refs('<img srcset="http://t.example/a.png?x=1,2 1x,http://t.example/b.png 2x , c.png 640w">')
    assert [r.raw for r in found] == ["http://t.example/a.png?x=1,2", "http://t.example/b.png", "c.png"]


@pytest.mark.parametrize(
    ("raw", "base", "category", "resolved"),
    [
        ("//cdn.example/p.gif", "", "remote", "https://cdn.example/p.gif"),
        ("//cdn.example/p.gif", "http://base.example/", "remote", "http://cdn.example/p.gif"),
        ("img/p.gif", "http://base.example/news/", "remote", "http://base.example/news/img/p.gif"),
        ("/p.gif", "http://base.example/news/", "remote", "http://base.example/p.gif"),
        ("img/p.gif", "", "relative", ""),
        ("cid:part1.0401@example", "", "cid", ""),
        ("CID:logo", "http://base.example/", "cid", ""),
        ("data:image/gif;base64,R0lGODlhAQABAAAAACw=", "", "data", ""),
        ("javascript:void(0)", "", "script", ""),
        ("#top", "", "fragment", ""),
        ("mailto:news@example.org", "", "other", "mailto:news@example.org"),
        ("file://fileserver/share/p.png", "", "remote", "file://fileserver/share/p.png"),
        ("HTTPS://T.Example/P.gif", "", "remote", "HTTPS://T.Example/P.gif"),
    ],
)
def test_targets_resolve_against_base_and_count_embedded(raw: str, base: str, category: str, resolved: str) -> None:
    t = target(raw, base)
    assert (t.category, t.resolved) == (category, resolved)


def test_base_href_is_used_for_relative_references() -> None:
    part = part_refs('<head><base href="http://base.example/n/"></head><img src="p.gif">', 0, Budget())
    assert part.base == "http://base.example/n/"
    assert target(part.refs[0].raw, part.base).resolved == "http://base.example/n/p.gif"


@pytest.mark.parametrize(
    ("markup", "hidden", "by_ancestor"),
    [
        ('<img src="http://t.example/p.gif" style="display:none">', "display:none", False),
        ('<img src="http://t.example/p.gif" style="visibility: hidden">', "visibility:hidden", False),
        ('<img src="http://t.example/p.gif" style="opacity:0">', "opacity:0", False),
        ('<img src="http://t.example/p.gif" hidden>', "hidden-attribute", False),
        ('<div style="display:none"><table><tr><td><img src="http://t.example/p.gif"></td></tr></table></div>',
         "ancestor div display:none", True),
        ('<div style="max-height:0;overflow:hidden"><img src="http://t.example/p.gif"></div>',
         "ancestor div max-height:0", True),
        ('<div style="width:0;height:0;overflow:hidden"><img src="http://t.example/p.gif"></div>',
         "ancestor div zero-size+overflow:hidden", True),
        ('<div style="position:absolute;left:-9999px"><img src="http://t.example/p.gif"></div>',
         "ancestor div offscreen:left", True),
        ('<style>.pre{display:none !important}</style><span class="x pre"><img src="http://t.example/p.gif"></span>',
         "ancestor span .pre display:none", True),
        ('<style>@media (max-width:480px){.m{display:none}}</style><div class="m"><img src="http://t.example/p.gif"></div>',
         "", False),
        ('<div style="display:none"><!--[if mso]><v:image src="http://t.example/v.png"/><![endif]--></div>',
         "ancestor div display:none", True),
        ('<div style="display:block"><img src="http://t.example/p.gif"></div>', "", False),
    ],
)
def test_hiding_on_the_element_and_its_ancestors(markup: str, hidden: str, by_ancestor: bool) -> None:
    ref = only(markup)
    assert (ref.hidden, ref.hidden_by_ancestor) == (hidden, by_ancestor)


@pytest.mark.parametrize(
    ("markup", "width", "height"),
    [
        ('<img src="http://t.example/p.gif" width="1" height="1">', 1.0, 1.0),
        ('<img src="http://t.example/p.gif" width="1px" height="1PX">', 1.0, 1.0),
        ('<img src="http://t.example/p.gif" width="600" style="width:1px;height:1px">', 1.0, 1.0),
        ('<img src="http://t.example/p.gif" style="max-width:0;max-height:0">', 0.0, 0.0),
        ('<img src="http://t.example/p.gif" width="100%">', None, None),
        ('<img src="http://t.example/p.gif">', None, None),
    ],
)
def test_declared_size_from_attributes_and_inline_css(markup: str, width: float | None, height: float | None) -> None:
    ref = only(markup)
    assert (ref.width, ref.height) == (width, height)


def test_last_image_in_body_is_marked_only_when_nothing_visible_follows() -> None:
    found = refs('<p>Hello</p><img src="http://t.example/logo.png"><p>Text</p>'
                 '<table><tr><td><img src="http://t.example/o.gif"></td></tr></table>  <br></body>')
    assert [r.last_in_body for r in found] == [False, True]
    assert [r.last_in_body for r in refs('<img src="http://t.example/o.gif"><p>Footer</p>')] == [False]


def test_noscript_content_is_markup_because_mail_clients_run_no_script() -> None:
    assert only('<noscript><img src="http://t.example/ns.gif"></noscript>').location == "img@src"


def test_commented_out_markup_and_script_text_load_nothing() -> None:
    assert refs('<!-- <img src="http://t.example/c.gif"> --><script>document.write(\'<img src="x">\')</script>'
                "<style>/* url(http://t.example/c.png) */</style>") == []


def test_link_text_is_kept() -> None:
    assert only('<a href="http://t.example/">Read <b>more</b>\n now</a>').text == "Read more now"


def test_css_helpers() -> None:
    assert css.urls('a:url( "x\\2e png" ); b: URL(y.png) /* url(z) */') == ["x.png", "y.png"]
    assert css.declarations("background:url(data:image/png;base64,AA==);Width: 1PX !important") == {
        "background": "\x00url\x00", "width": "1px"}
    assert css.length_px("0.75pt") == 1.0


def test_deep_nesting_is_cut_and_reported_instead_of_hanging() -> None:
    budget = Budget()
    started = time.perf_counter()
    part = part_refs("<div>" * 200_000 + '<img src="http://t.example/deep.gif">', 0, budget)
    assert time.perf_counter() - started < 10  # a generous bound; uncut this takes minutes
    assert budget.limits == [f"html-cut-at-nesting-depth-{MAX_OPEN_DEPTH}"]
    assert part.refs == ()


def test_many_references_are_capped_and_reported() -> None:
    budget = Budget()
    part = part_refs('<img src="http://t.example/x.gif">' * 25_000, 0, budget)
    assert len(part.refs) == 20_000
    assert budget.limits == ["references-capped-at-20000"]
