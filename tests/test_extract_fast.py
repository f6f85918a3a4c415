"""Shortcuts of extraction give what the full loops give.

One combined search decides whether any open-pixel or click path shape matches (most URLs
match none); the host's impression endpoints are looked up once per host.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forensics.extract import beacons, links

_OPEN = beacons._OPEN_PATHS
_CLICK = links._CLICK_PATHS


def _pieces(patterns: tuple[tuple[str, re.Pattern[str]], ...]) -> list[str]:
    """Literal fragments of the patterns, so generated paths come near every shape."""
    words = {w for _, rx in patterns for w in re.findall(r"[A-Za-z0-9~]+", rx.pattern)}
    return sorted(words) + ["/", "?", "=", ".", "&", "~~", "-", "_", ";", "gif", "png", "php", "x"]


_PATH_PIECES = st.sampled_from(_pieces(_OPEN) + _pieces(_CLICK))


@settings(max_examples=4000, deadline=None)
@given(st.lists(_PATH_PIECES, max_size=12).map("".join))
def test_one_search_finds_a_shape_exactly_when_one_of_them_matches(path: str) -> None:
    assert bool(beacons._ANY_OPEN_PATH.search(path)) == any(rx.search(path) for _, rx in _OPEN)
    assert bool(links._ANY_CLICK_PATH.search(path)) == any(rx.search(path) for _, rx in _CLICK)


@pytest.mark.parametrize("path", ["/track/open?id=1", "/I0/abc", "/x/I0/", "/opens", "/open.php?u=1",
                                  "/images/logo.gif", "/o/eJx", "/p1x1.gif", "/click?u=1", "/e2t/c/x", ""])
def test_named_shapes_are_found_in_list_order(path: str) -> None:
    expected = next((name for name, rx in _OPEN if rx.search(path)), "")
    assert beacons.url_shape("example.com", path, path.split("?")[0]).open_endpoint == expected
    assert links.click_shape("https://example.com" + path) == next((n for n, rx in _CLICK if rx.search(path)), "")


@pytest.mark.parametrize("host", ["ad.doubleclick.net", "doubleclick.net", "xdoubleclick.net", "www.qksrv.net",
                                  "c.msn.com", "msn.com", "example.com", ""])
def test_impression_endpoints_of_a_host_are_those_of_its_ad_domains(host: str) -> None:
    expected = tuple((name, rx) for name, suffixes, rx in beacons._IMPRESSIONS
                     if any(host == s or host.endswith("." + s) for s in suffixes))
    assert beacons._impressions_at(host) == expected
