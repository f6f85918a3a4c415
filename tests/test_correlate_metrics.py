"""Metrics of the known case (``test_correlate_support``) equal values computed by hand.

Five messages: shop sends 3 (tracked: 1 and 2; 5 is undated plain text), store sends 1
(tracked), a friend 1 (not tracked). Findings: 5 beacons (Mailchimp in 1, 2, 3; the ad
pixel in 2 and 3) and 2 links (Mailchimp, in 1 and 2): 7 in all. Alice's MD5 leaks in
messages 1, 2, 3 (to Mailchimp in all three, to the ad network in 2 and 3).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from forensics.analyse import Settings
from forensics.correlate.metrics import METRIC_TABLES, compute_metrics
from forensics.pipeline import ScanOptions, scan
from forensics.store import Store
from test_correlate_support import ADNET, ALICE, FRIEND, MD5, SHOP, STORE, message, scan_fixture

BOTH = f"{STORE}; {SHOP}"


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return scan_fixture(tmp_path_factory.mktemp("metrics"))


def rows(case: Path, table: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(case / "case.sqlite") as db:
        return db.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()


def test_tracker_prevalence_overall_per_month_and_per_sender(case: Path) -> None:
    assert rows(case, "metrics_prevalence") == [
        ("all", "", 5, 3, 0.6),
        ("month", "(undated)", 1, 0, 0.0),
        ("month", "2024-01", 1, 1, 1.0),
        ("month", "2024-02", 2, 2, 1.0),
        ("month", "2024-03", 1, 0, 0.0),
        ("sender", STORE, 1, 1, 1.0),
        ("sender", FRIEND, 1, 0, 0.0),
        ("sender", SHOP, 3, 2, 0.666667),
        ("sender_domain", "example.net", 1, 0, 0.0),
        ("sender_domain", "shop.example", 3, 2, 0.666667),
        ("sender_domain", "store.example", 1, 1, 1.0),
    ]


def test_provider_shares(case: Path) -> None:
    # provider, findings, beacons, links, messages, senders, share of findings, share of messages
    assert rows(case, "metrics_providers") == [
        ("(unattributed)", 2, 2, 0, 2, 2, 0.285714, 0.4),
        ("Mailchimp", 5, 3, 2, 3, 2, 0.714286, 0.6),
    ]


def test_third_parties_per_message(case: Path) -> None:
    # 4 and 5 contact nobody; 1 contacts list-manage.com; 2 and 3 also the ad network.
    assert rows(case, "metrics_third_parties") == [(0, 2, 0.4), (1, 1, 0.2), (2, 2, 0.4)]


def test_share_of_messages_leaking_an_identity(case: Path) -> None:
    assert rows(case, "metrics_leaks") == [
        ("all", "", 3, 5, 0.6),
        ("encoding", "md5", 3, 5, 0.6),
        ("provider", "(unattributed)", 2, 5, 0.4),
        ("provider", "Mailchimp", 3, 5, 0.6),
    ]


def test_senders_sharing_a_provider_or_a_token(case: Path) -> None:
    assert rows(case, "metrics_sharing") == [
        ("provider", "Mailchimp", "", 2, 3, BOTH),
        ("token", MD5, "recipient-identifier", 2, 3, BOTH),
    ]


def test_provider_centrality(case: Path) -> None:
    # shop - Mailchimp - store: Mailchimp touches both others and sits on the only path.
    assert rows(case, "metrics_centrality") == [("Mailchimp", 2, 1.0, 1.0, "exact")]


def test_data_brokers(case: Path) -> None:
    with sqlite3.connect(case / "case.sqlite") as db:
        hashes = dict(db.execute("SELECT date_utc, message_sha256 FROM messages"))
    m1, m2, m3 = hashes["2024-01-10T10:00:00Z"], hashes["2024-02-12T08:30:00Z"], hashes["2024-02-20T18:00:00Z"]
    # Leak rows: Mailchimp 2 + 2 + 1 (pixel and link in 1 and 2); token rows: Alice's MD5 and
    # shop's user id in each of those URLs (4 + 4) and the MD5 in store's pixel (1).
    assert rows(case, "metrics_brokers") == [
        ("Mailchimp", ALICE, 2, 3, 5, 9, 1, BOTH, "2024-01-10T10:00:00Z", "2024-02-20T18:00:00Z",
         "; ".join(sorted([m1, m2, m3]))),
        (ADNET, ALICE, 2, 2, 2, 2, 1, BOTH, "2024-02-12T08:30:00Z", "2024-02-20T18:00:00Z",
         "; ".join(sorted([m2, m3]))),
    ]


def test_metrics_are_recomputed_not_added_to(case: Path) -> None:
    before = {t: rows(case, t) for t in METRIC_TABLES}
    with Store(case) as store:
        compute_metrics(store, Settings())
        compute_metrics(store, Settings())
    assert {t: rows(case, t) for t in METRIC_TABLES} == before


def test_metrics_follow_mail_added_to_the_case(tmp_path: Path) -> None:
    case = scan_fixture(tmp_path)
    more = tmp_path / "more"
    more.mkdir()
    (more / "extra.mbox").write_bytes(message(FRIEND, "Sat, 2 Mar 2024 12:00:00 +0000", "Again?", html=False))
    scan([more], ScanOptions(out=case, workers=1, settings=Settings()))
    assert rows(case, "metrics_prevalence")[0] == ("all", "", 6, 3, 0.5)
