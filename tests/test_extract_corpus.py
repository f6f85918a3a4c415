"""Real 2002 newsletters (SpamAssassin hard ham): their DoubleClick and affiliate beacons, exactly."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from forensics.analyse import MessageContext, Settings
from forensics.extract.rows import ResourceRow
from forensics.extract.stage import analyse_extraction, finalize_beacons
from forensics.parse import parse_rfc5322
from forensics.pipeline import ScanOptions, scan
from forensics.records import Locator, RawMessage
from forensics.store import Store

pytestmark = pytest.mark.corpus
HARD_HAM = "spamassassin-public-corpus/hard-ham-1"


def corpus_file(corpus: Path, prefix: str) -> Path:
    folder = corpus / HARD_HAM
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    return next(folder.glob(f"{prefix}.*"))


def extract(path: Path) -> list[ResourceRow]:
    raw = RawMessage(data=path.read_bytes(), format="eml",
                     locator=Locator(source_path=str(path), source_sha256="0" * 64, kind="file"))
    message = parse_rfc5322(raw)[0]
    return [r for r in analyse_extraction(message, Settings(), MessageContext()) if isinstance(r, ResourceRow)]


def beacons(path: Path) -> list[tuple[str, str, str, float, list[str]]]:
    return [(r.finding_id, r.location, r.url, r.confidence, json.loads(r.signals)) for r in extract(path)
            if r.is_beacon]


def test_dilbert_newsletter_doubleclick_ad_and_click_pixel(corpus: Path) -> None:
    assert beacons(corpus_file(corpus, "00017")) == [
        ("ce00a8e707c46633-r00007", "img@src",
         "http://ad.doubleclick.net/ad/dilbert.email.com/email/;abr=!ie;sz=468x60;ptile=1;ord=1986839?", 0.86,
         ["url:impression-endpoint:doubleclick-ad", "not:content-size:468x60", "url:cache-buster:ord"]),
        ("ce00a8e707c46633-r00070", "img@src", "http://ummail4.unitedmedia.com:80/Click?q=0d-3a2unDr3RbASR2VR56fIrkpY",
         0.714, ["size:tiny:1x1", "position:last-in-body",
                 "url:identifier:query[q]=0d-3a2unDr3RbASR2VR56fIrkpY (base64)"]),
    ]


def test_cnet_newsletter_doubleclick_skyscraper_and_open_pixels(corpus: Path) -> None:
    assert beacons(corpus_file(corpus, "00073")) == [
        ("51aeb44a459bd1fa-r00002", "img@src",
         "http://ad.doubleclick.net/ad/N1090.cnet/B926801.16;sz=160x600;ord=[timestamp]?", 0.86,
         ["url:impression-endpoint:doubleclick-ad", "not:content-size:160x600", "url:cache-buster:ord"]),
        ("51aeb44a459bd1fa-r00115", "img@src",
         "http://gserv-cnet.zdnet.com/clear/outbound.gif?APPID=2&EMID=25136482&NL=e433&ISSUE=2002-07-15", 0.642,
         ["size:tiny:1x1", "url:identifier:query[EMID]=25136482 (number)"]),
        ("51aeb44a459bd1fa-r00116", "img@src", "http://clickthru.online.com/Click?q=88-ecGP-fKmi5IgSh-qQXN9j6TAZsRR",
         0.714, ["size:tiny:1x1", "position:last-in-body",
                 "url:identifier:query[q]=88-ecGP-fKmi5IgSh-qQXN9j6TAZsRR (base64)"]),
    ]


def test_lockergnome_affiliate_pixels(corpus: Path) -> None:
    assert beacons(corpus_file(corpus, "00069")) == [
        ("027e90dd9a905aa8-r00004", "img@src",
         "http://ad.linksynergy.com/fs-bin/show?id=vdKWfulJxTQ&bids=36698.10000263&type=4&subid=0", 0.928,
         ["url:impression-endpoint:linkshare-impression", "size:tiny:1x1",
          "url:identifier:query[id]=vdKWfulJxTQ (token),query[bids]=36698.10000263 (number)"]),
        ("027e90dd9a905aa8-r00013", "img@src", "http://www.qksrv.net/image-471546-7064313", 0.928,
         ["url:impression-endpoint:cj-impression", "size:tiny:1x1",
          "url:identifier:path[0]=image-471546-7064313 (number)"]),
    ]
    assert [b[2] for b in beacons(corpus_file(corpus, "00032"))] == ["http://www.qksrv.net/image-471546-2202776"]


def test_spacers_and_content_images_of_a_real_newsletter_are_not_beacons(corpus: Path) -> None:
    rows = extract(corpus_file(corpus, "00011"))
    spacers = [r for r in rows if r.resolved.endswith("/b.gif")]
    assert (len(spacers), {r.is_beacon for r in spacers}) == (85, {0})
    pixel = next(r for r in spacers if (r.declared_width, r.declared_height) == (1.0, 1.0))
    assert (pixel.resolved, json.loads(pixel.signals), pixel.confidence) == (
        "http://home.cnet.com/b.gif", ["size:tiny:1x1", "not:spacer-name:b.gif", "not:repeated-in-message:61"], 0.054)
    content = next(r for r in rows if r.resolved == "http://news.cnet.com/i/ne/bb/2002/07/0708_netscape7.jpg")
    assert (json.loads(content.signals), content.is_beacon) == (["not:content-size:96x72"], 0)
    assert [r.resolved for r in rows if r.is_beacon] == [
        "http://gserv-cnet.zdnet.com/clear/outbound.gif?APPID=2&EMID=25136487&NL=e433&ISSUE=2002-07-09",
        "http://clickthru.online.com/Click?q=aa-gBae-hU-_tfD2LsnEUuZc5Hbw9RR"]


def _case_rows(case: Path) -> dict[str, tuple[str, float, int]]:
    with sqlite3.connect(case / "case.sqlite") as conn:
        # one row per URL: its first reference (SQLite takes bare columns from the MIN row)
        rows = conn.execute("SELECT resolved, signals, confidence, is_beacon, MIN(finding_id) FROM resources "
                            "GROUP BY resolved")
        return {r[0]: ((json.loads(r[1]) or [''])[-1], r[2], r[3]) for r in rows}


def test_case_wide_uniqueness_is_recomputed_when_mail_is_added(corpus: Path, tmp_path: Path) -> None:
    dilbert = [corpus_file(corpus, p) for p in ("00017", "00037", "00055")]
    case = tmp_path / "case"
    scan(dilbert[:2], ScanOptions(out=case))
    two = _case_rows(case)
    assert two["http://www.comics.com/comics/dilbert/images/clear_dot.gif"] == (
        "not:repeated-in-message:42", 0.0, 0)
    assert two["http://ummail4.unitedmedia.com:80/Click?q=0d-3a2unDr3RbASR2VR56fIrkpY"] == (
        "case:per-message-identifier:template-in-2-messages", 0.814, 1)
    scan(dilbert, ScanOptions(out=case))
    three = _case_rows(case)
    assert three["http://www.comics.com/comics/dilbert/images/clear_dot.gif"] == (
        "not:case-static-asset:in-3-messages", 0.0, 0)
    assert three["http://ummail4.unitedmedia.com:80/Click?q=0d-3a2unDr3RbASR2VR56fIrkpY"] == (
        "case:per-message-identifier:template-in-3-messages", 0.814, 1)
    ad = "http://ad.doubleclick.net/ad/dilbert.email.com/email/;abr=!ie;sz=468x60;ptile=1;ord=1986839?"
    assert three[ad] == ("url:cache-buster:ord", 0.86, 1)  # a known endpoint is not damped as static
    with Store(case) as store:
        finalize_beacons(store, Settings())  # idempotent
    assert _case_rows(case) == three
