"""sample_data/ is exactly what tools/make_sample_data.py writes, and scanning it finds what its README says."""

from __future__ import annotations

import functools
import importlib.util
import sqlite3
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

from forensics.pipeline import ScanOptions, scan

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"


@functools.cache
def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_sample_data", ROOT / "tools" / "make_sample_data.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("generated")
    assert generator().main(["make_sample_data.py", str(dest)]) == 0
    return dest


def zip_members(path: Path) -> list[tuple[str, tuple[int, ...], bytes]]:
    # Compare members, not bytes: deflate output may differ between zlib builds.
    with zipfile.ZipFile(path) as zf:
        return [(i.filename, i.date_time, zf.read(i)) for i in zf.infolist()]


def test_committed_sample_data_equals_the_generator_output(generated: Path) -> None:
    marker = generator().OTHERS_MARKER
    files = sorted(p.relative_to(generated) for p in generated.rglob("*") if p.is_file())
    assert len(files) == 15
    for rel in files:
        fresh, committed = generated / rel, SAMPLE / rel
        assert committed.is_file(), f"{rel} missing from sample_data: run python tools/make_sample_data.py"
        if rel.suffix == ".zip":
            assert zip_members(committed) == zip_members(fresh), rel
        elif rel.name == "README.md":
            ours = committed.read_text(encoding="utf-8").split(marker)[0]
            assert ours == fresh.read_text(encoding="utf-8").split(marker)[0]
        else:
            assert committed.read_bytes() == fresh.read_bytes(), f"{rel} differs: regenerate sample_data"


def test_sample_data_files_stay_small() -> None:
    assert max(p.stat().st_size for p in SAMPLE.rglob("*") if p.is_file()) < 64 * 1024


def test_scanning_the_sample_set_finds_what_its_readme_says(generated: Path, tmp_path: Path) -> None:
    scan([generated], ScanOptions(out=tmp_path / "case", workers=1))
    conn = sqlite3.connect(tmp_path / "case" / "case.sqlite")
    one = lambda sql: conn.execute(sql).fetchone()[0]  # noqa: E731
    assert one("SELECT COUNT(*) FROM occurrences") == 17
    assert one("SELECT COUNT(*) FROM messages") == 16
    assert one("SELECT COUNT(*) FROM messages WHERE parent_sha256 != ''") == 1
    assert one("SELECT subject FROM messages WHERE status = 'defective'") == "Große Rabatte à saisir"
    assert one("SELECT COUNT(*) FROM occurrences o JOIN messages m USING (message_sha256) "
               "WHERE m.subject = 'Dinner on Friday?'") == 2
    assert one("SELECT flags FROM occurrences WHERE expunged = 1").endswith(";read;expunged")
    assert sorted(r[0] for r in conn.execute("SELECT labels FROM occurrences WHERE labels != ''")) == [
        "Inbox,Category Updates,Opened", "Sent"]
    assert sorted(r[0] for r in conn.execute("SELECT format FROM inputs")) == [
        "", "", "", "archive", "eml", "eml", "eml", "eml", "eml", "emlx", "mbox", "mbox", "mbox", "mbox", "mbox"]
    assert one("SELECT COUNT(*) FROM problems WHERE severity NOT IN ('skipped', 'info')") == 0
    assert [tuple(r) for r in conn.execute("SELECT kind, severity FROM problems WHERE severity = 'info'")] == [
        ("expunged-present", "info")]


# What sample_data/README.md ("What the tracking analysis finds") says each file holds:
# beacons as (host, provider), tracked links as (host, classification, provider), leaks
# as (chain, host, carried by a beacon, party). Nested and duplicate messages count under
# the file of their first occurrence.
SES, MG = "k9x2m4p7.r.us-east-1.awstrack.me", "email.travel.example.net"
MC, SG, HS = "gardenclub.us5.list-manage.com", "u4815162.ct.sendgrid.net", "t.hubspotemail.net"
TB = "thunderbird-profile/Mail/Local Folders"
FINDS = {
    "newsletters.mboxrd": ({(MC, "Mailchimp")}, {(MC, "tracked-redirect-identifier", "Mailchimp")}, set()),
    "promotions.mboxcl2": ({(SES, "Amazon SES"), (MG, "Mailgun")},
                           {(SES, "tracked-redirect", "Amazon SES"), (MG, "tracked-redirect-identifier", "Mailgun")}, set()),
    "windows-export.mbox": ({("pixel.adtrack.example.net", ""), ("sync.audience.example.com", "")},
                            {("retail.example.com", "direct", "")},
                            {("md5", "pixel.adtrack.example.net", 1, "third-party"),
                             ("sha256", "sync.audience.example.com", 1, "first-party"),
                             ("url", "retail.example.com", 0, "first-party")}),
    f"{TB}/Inbox": ({(SG, "SendGrid"), (HS, "HubSpot Marketing Hub")},
                    {(SG, "tracked-redirect-identifier", "SendGrid"), (HS, "tracked-redirect-identifier", "HubSpot Marketing Hub"),
                     ("saas.example.com", "direct", "HubSpot Marketing Hub")}, set()),
    f"{TB}/Archives.sbd/2024": ({(SG, "SendGrid")}, {(SG, "tracked-redirect-identifier", "SendGrid")}, set()),
    "maildir/alice/cur/1705939200.M1P4242.mail.example.org;2,S": (
        {(HS, "HubSpot Marketing Hub")},
        {(HS, "tracked-redirect-identifier", "HubSpot Marketing Hub"), ("saas.example.com", "direct", "HubSpot Marketing Hub")},
        set()),
    "maildir/alice/cur/1705939300.M2P4242.mail.example.org;2,RS": (set(), set(), set()),
    "maildir/alice/new/1705939400.M3P4242.mail.example.org": (set(), set(), set()),
    "apple-mail/INBOX.mbox/Messages/4521.emlx": ({(MC, "Mailchimp")}, {(MC, "tracked-redirect-identifier", "Mailchimp")}, set()),
    "single/malformed.eml": (set(), set(), set()),
    "single/Quarterly newsletter.msg": ({(SG, "SendGrid")}, {(SG, "tracked-redirect-identifier", "SendGrid")}, set()),
    "takeout/takeout-20240301T120000Z-001.zip": ({(SES, "Amazon SES")}, {(SES, "tracked-redirect", "Amazon SES")}, set()),
}
FIRST_FILE = """(SELECT o.source_path FROM occurrences o WHERE o.message_sha256 = x.message_sha256
                 ORDER BY o.source_path LIMIT 1)"""


def per_file(conn: sqlite3.Connection, root: Path, sql: str) -> dict[str, set[tuple[object, ...]]]:
    found: dict[str, set[tuple[object, ...]]] = {}
    for path, *values in conn.execute(sql):
        found.setdefault(Path(path).relative_to(root).as_posix(), set()).add(tuple(values))
    return found


def test_tracking_found_in_each_file_is_what_the_readme_says(generated: Path, tmp_path: Path) -> None:
    scan([generated], ScanOptions(out=tmp_path / "case", workers=1))
    conn = sqlite3.connect(tmp_path / "case" / "case.sqlite")
    beacons = per_file(conn, generated, f"SELECT {FIRST_FILE}, host, provider FROM resources x WHERE is_beacon = 1")
    links = per_file(conn, generated, f"SELECT {FIRST_FILE}, host, classification, provider FROM links x")
    leaks = per_file(conn, generated, f"SELECT {FIRST_FILE}, chain, host, is_beacon, party FROM leaks x")
    assert {f: (beacons.get(f, set()), links.get(f, set()), leaks.get(f, set())) for f in FINDS} == FINDS
    assert set(beacons) | set(links) | set(leaks) <= set(FINDS)
    assert [r[0] for r in conn.execute("SELECT DISTINCT identity FROM leaks")] == ["alice@example.org"]
    # The 1x1 images that are not beacons, with why (README: confidence below 0.5).
    assert conn.execute("SELECT host, confidence, is_beacon FROM resources WHERE host = 'tracker.example.net'").fetchall() == [
        ("tracker.example.net", 0.45, 0)]
    # The MD5 in windows-export's List-Unsubscribe is a header finding (a mailto:), not a leak.
    assert conn.execute("SELECT url FROM header_findings WHERE url LIKE 'mailto:unsub@retail%'").fetchone()[0].endswith(
        "subject=fbf7c6aec1d4280b7c2704c1c0478bd6")
