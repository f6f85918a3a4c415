"""The report layer: what each file holds, on a small case with every kind of finding."""

from __future__ import annotations

import csv
import hashlib
import html
import json
import re
import sqlite3
from pathlib import Path

import pytest
from test_report_support import add_findings, hostile_mbox, scan_case

from forensics.report import facts
from forensics.report.build import write_report
from forensics.report.charts import case_charts
from forensics.report.csvout import QUERIES
from forensics.report.dictionary import FILES, UNDOCUMENTED, documentation, render_dictionary
from forensics.report.tables import export_plan, generic_sql
from forensics.report.timeline import envelope_event, received_events

BASE_FILES = {"messages", "occurrences", "attachments", "problems", "inputs"}
CHARTS = ("chart_prevalence", "chart_providers", "chart_heatmap", "chart_leak_encodings", "chart_graph")


@pytest.fixture(scope="module")
def bare_case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scanned case with no finding rows (whatever finding tables the stages registered)."""
    root = tmp_path_factory.mktemp("bare")
    (root / "ev").mkdir()
    (root / "ev" / "box.mbox").write_bytes(hostile_mbox(9))
    scan_case(root / "ev", root / "case")
    write_report(root / "case", root / "case", argv=["test"])
    return root / "case"


def foundation_only(case: Path, tmp_path: Path) -> sqlite3.Connection:
    """A copy of a case with every table the foundation does not create dropped."""
    conn = sqlite3.connect(tmp_path / "copy.sqlite")
    sqlite3.connect(case / "case.sqlite").backup(conn)
    for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
        if table not in BASE_FILES | {"meta", "shards"} and not table.startswith("sqlite_"):
            conn.execute(f'DROP TABLE "{table}"')
    return conn


@pytest.fixture(scope="module")
def full_case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("full")
    (root / "ev").mkdir()
    (root / "ev" / "box.mbox").write_bytes(hostile_mbox(9))
    scan_case(root / "ev", root / "case")
    add_findings(root / "case")
    write_report(root / "case", root / "case", argv=["test"])
    return root / "case"


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_bare_case_exports_what_exists_and_no_more(bare_case: Path) -> None:
    conn = sqlite3.connect(bare_case / "case.sqlite")
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
              if not r[0].startswith("sqlite_")}  # SQLite's own (sqlite_stat1 after ANALYZE)
    assert BASE_FILES <= tables
    exports = {e.name for e in export_plan(conn, QUERIES)}
    assert tables - {"meta", "shards"} <= exports  # every table, plus named views (beacons...)
    assert {p.stem for p in bare_case.glob("*.csv")} == exports | {"timeline"}
    assert {p.stem for p in bare_case.glob("*.jsonl")} == exports


def test_absent_tables_export_nothing(bare_case: Path, tmp_path: Path) -> None:
    conn = foundation_only(bare_case, tmp_path)
    assert [e.name for e in export_plan(conn, QUERIES)] == sorted(BASE_FILES)


def test_finding_tables_are_picked_up_when_they_exist(full_case: Path) -> None:
    stems = {p.stem for p in full_case.glob("*.csv")}
    assert BASE_FILES | {"timeline", "beacons", "links", "leaks", "tokens"} <= stems
    beacons = read_csv(full_case / "beacons.csv")
    assert len(beacons) == 3
    assert [b["location"] for b in beacons] == ["img@src"] * 3


def test_named_query_with_absent_table_is_skipped(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "c.sqlite")
    conn.execute("CREATE TABLE messages (message_sha256 TEXT PRIMARY KEY, subject TEXT)")
    conn.execute("CREATE TABLE metrics_month (month TEXT, share REAL, PRIMARY KEY (month))")
    plan = export_plan(conn, {"beacons": "SELECT * FROM beacons", "messages": "SELECT subject FROM messages"})
    assert [(e.name, e.sql) for e in plan] == [
        ("messages", "SELECT subject FROM messages"),
        ("metrics_month", 'SELECT "month", "share" FROM "metrics_month" ORDER BY "month", "share"'),
    ]


def test_generic_export_orders_by_primary_key_then_every_column(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "c.sqlite")
    conn.execute("CREATE TABLE t (a TEXT, b TEXT, c INTEGER, PRIMARY KEY (c, a))")
    assert generic_sql(conn, "t") == 'SELECT "a", "b", "c" FROM "t" ORDER BY "c", "a", "b"'


def test_csv_neutralises_formulas_and_jsonl_keeps_values(full_case: Path) -> None:
    rows = {r["subject"]: r for r in read_csv(full_case / "messages.csv")}
    assert "'=HYPERLINK(\"http://127.0.0.1:9/f\",\"click\")" in rows
    assert "'+sum(1,2)" in rows
    lines = [json.loads(line) for line in (full_case / "messages.jsonl").read_text(encoding="utf-8").splitlines()]
    assert sorted(r["subject"] for r in lines) == sorted(
        ['"><img src=http://127.0.0.1:9/x>', '=HYPERLINK("http://127.0.0.1:9/f","click")', "+sum(1,2)"])
    assert [r["message_sha256"] for r in lines] == [r["message_sha256"] for r in read_csv(full_case / "messages.csv")]


def test_timeline_has_timesketch_columns_and_sorted_iso_dates(full_case: Path) -> None:
    rows = read_csv(full_case / "timeline.csv")
    assert list(rows[0])[:4] == ["message", "datetime", "timestamp", "timestamp_desc"]
    assert [r["datetime"] for r in rows] == sorted(r["datetime"] for r in rows)
    bank = [r for r in rows if r["from_addr"] == "info@bank.example"]
    assert [(r["datetime"], r["timestamp_desc"]) for r in bank] == [
        ("2024-01-01T10:00:00+00:00", "mbox From_ line (no time zone, read as UTC)"),
        ("2024-02-15T07:30:00+00:00", "Date header (sent)"),
        ("2024-02-15T07:30:00+00:00", "Received hop 1 by mail.example.org"),
    ]
    assert bank[1]["timestamp"] == "1707982200000000"
    assert bank[1]["clock_raw"] == "Thu, 15 Feb 2024 08:30:00 +0100"


def test_timeline_clock_parsers() -> None:
    event = envelope_event("MAILER-DAEMON Tue Jan  2 10:00:00 2024")
    assert event is not None and event.when.isoformat() == "2024-01-02T10:00:00+00:00"
    assert envelope_event("") is None and envelope_event("a@b not a date") is None
    hops = received_events('[{"hop": 2, "by": "mx", "date_utc": "2024-01-01T09:00:05+01:00"}, {"hop": 3}]')
    assert [(e.desc, e.when.isoformat()) for e in hops] == [("Received hop 2 by mx", "2024-01-01T08:00:05+00:00")]
    assert received_events("not json") == []


def test_facts_on_the_full_case(full_case: Path) -> None:
    conn = sqlite3.connect(full_case / "case.sqlite")
    s = facts.summary(conn)
    assert (s.messages, s.tracked, s.providers, s.leaked_messages, s.problems) == (3, 3, 2, 3, 0)
    assert [(c.label, c.value) for c in facts.top_providers(conn) or []] == [("SendGrid", 3), ("Mailchimp", 1)]
    assert [(m.month, m.messages, m.tracked) for m in facts.prevalence_by_month(conn) or []] == [
        ("2024-01", 1, 1), ("2024-02", 1, 1), ("2024-03", 1, 1)]
    assert sorted((c.value, c.label) for c in facts.leak_encodings(conn) or []) == [
        (1, "base64"), (1, "md5"), (1, "sha256 > hex")]
    assert {r.receiver for r in facts.receivers(conn) or []} == {"Mailchimp", "SendGrid", "127.0.0.1"}


def test_facts_say_no_data_without_finding_tables(bare_case: Path, tmp_path: Path) -> None:
    conn = foundation_only(bare_case, tmp_path)
    s = facts.summary(conn)
    assert (s.messages, s.tracked, s.providers, s.leaked_messages) == (3, None, None, None)
    assert facts.top_providers(conn) is None and facts.prevalence_by_month(conn) is None
    assert facts.receivers(conn) is None and facts.providers(conn) is None
    assert [r.messages for r in facts.senders(conn)] == [1, 1, 1]


def test_charts_say_no_data_without_finding_tables(bare_case: Path, tmp_path: Path) -> None:
    charts = case_charts(foundation_only(bare_case, tmp_path))
    assert [(c.stem, c.empty) for c in charts] == [(stem, True) for stem in CHARTS]
    texts = [t.get_text() for c in charts for t in c.figure.axes[0].texts]
    assert all(t.startswith("No data: ") for t in texts) and len(texts) == len(CHARTS)


@pytest.mark.parametrize("stem", CHARTS)
def test_every_chart_exists_as_png_and_svg(bare_case: Path, full_case: Path, stem: str) -> None:
    for case in (bare_case, full_case):
        assert (case / f"{stem}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        svg = (case / f"{stem}.svg").read_text(encoding="utf-8")
        assert "<svg" in svg and "<dc:date>" not in svg
    assert (bare_case / f"{stem}.png").read_bytes() != (full_case / f"{stem}.png").read_bytes()


def test_manifest_seals_every_output(full_case: Path) -> None:
    manifest = json.loads((full_case / "manifest.json").read_text(encoding="utf-8"))
    written = {p.name for p in full_case.iterdir() if p.name != "manifest.json"}
    assert set(manifest["outputs"]) == written
    for name, record in manifest["outputs"].items():
        data = (full_case / name).read_bytes()
        assert record == {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}, name
    assert manifest["tool"]["name"] == "forensics"
    assert manifest["rules"]["version"]
    assert manifest["report_started_utc"] <= manifest["report_finished_utc"]
    assert [i["sha256"] for i in manifest["inputs"]] == [
        hashlib.sha256(hostile_mbox(9)).hexdigest()]


def test_data_dictionary_documents_every_column_of_every_csv(full_case: Path) -> None:
    text = (full_case / "data_dictionary.md").read_text(encoding="utf-8")
    for name in ("messages", "occurrences", "attachments", "problems", "inputs", "timeline"):
        with open(full_case / f"{name}.csv", encoding="utf-8", newline="") as handle:
            header = next(csv.reader(handle))
        undocumented = [c for c in header if c not in FILES[name]]
        assert undocumented == [], name
    docs = documentation()
    for path in sorted(full_case.glob("*.csv")):  # findings and metrics too, from the stages' own docs
        with open(path, encoding="utf-8", newline="") as handle:
            header = next(csv.reader(handle))
        assert [c for c in header if not docs.get(path.stem, {}).get(c)] == [], path.name
        assert docs[path.stem][""], path.name
    assert UNDOCUMENTED not in text
    assert "## beacons (`beacons.csv`, `beacons.jsonl`)" in text
    assert "## metrics_brokers (`metrics_brokers.csv`, `metrics_brokers.jsonl`)" in text
    assert "## timeline (`timeline.csv`)" in text


def test_dictionary_flags_a_column_nobody_documented() -> None:
    text = render_dictionary({"metrics_brokers": ["receiver", "mystery"]}, {"metrics_brokers": ["metrics_brokers.csv"]})
    assert "| `receiver` | the third party: provider, else registered domain |" in text
    assert f"| `mystery` | {UNDOCUMENTED} |" in text


def test_report_command_on_a_missing_case_is_one_line_error(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from forensics.cli import app

    result = CliRunner().invoke(app, ["report", str(tmp_path / "nothing"), "--out", str(tmp_path / "r")])
    assert result.exit_code == 3
    assert "no case found" in result.output


def test_report_command_writes_into_another_folder(full_case: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from forensics.cli import app

    result = CliRunner().invoke(app, ["report", str(full_case), "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "r" / "report.html").is_file()
    assert not (tmp_path / "r" / "case.sqlite").exists()
    assert (tmp_path / "r" / "beacons.csv").read_bytes() == (full_case / "beacons.csv").read_bytes()


def test_queries_api_is_a_plain_dict() -> None:
    assert isinstance(QUERIES, dict) and {"messages", "occurrences", "problems", "attachments"} <= set(QUERIES)


def table_cells(fragment: str) -> list[list[str]]:
    """The text of each data cell, row by row, of the first table in an HTML fragment."""
    body = fragment[fragment.index("<tbody>"):fragment.index("</tbody>")]
    return [[html.unescape(re.sub(r"<[^>]+>", "", c)) for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]
            for row in body.split("<tr")[1:]]


def test_summary_lists_receivers_per_identity_and_the_data_brokers(tmp_path: Path) -> None:
    """On the correlation fixture, Mailchimp and an ad network each get Alice's MD5 from two senders."""
    from test_correlate_support import ALICE, scan_fixture

    case = scan_fixture(tmp_path)
    write_report(case, case, argv=["test"])
    page = (case / "report.html").read_text(encoding="utf-8")
    summary = page[page.index('<section id="summary">'):page.index('<section id="charts">')]
    assert "2 third parties received an identity of the recipient: Mailchimp, pixel.adnet.example." in summary
    receivers = summary[summary.index('id="t-receivers"'):summary.index("Data brokers")]
    assert table_cells(receivers) == [
        [ALICE, "Mailchimp", "third-party", "md5", "beacon, link", "2", "3",
         "shop.us5.list-manage.com; store.us7.list-manage.com"],
        [ALICE, "pixel.adnet.example", "third-party", "md5", "beacon", "2", "2", "pixel.adnet.example"],
    ]
    assert "all 2 rows; full data: metrics_brokers.csv" in summary
    brokers = summary[summary.index('id="t-brokers"'):]
    assert [row[:4] + row[6:8] for row in table_cells(brokers)] == [  # leak and token counts: test_correlate
        ["Mailchimp", ALICE, "2", "3", "1", "deals@store.example; news@shop.example"],
        ["pixel.adnet.example", ALICE, "2", "2", "1", "deals@store.example; news@shop.example"],
    ]


def test_prevalence_periods_keep_gaps_in_time_and_stay_readable() -> None:
    from forensics.report.charts import periods
    from forensics.report.facts import Month

    unit, bins = periods([Month(month="2024-01", messages=12, tracked=8), Month(month="2024-03", messages=5, tracked=4)])
    assert (unit, [(b.label, b.messages, b.tracked) for b in bins]) == (
        "month", [("2024-01", 12, 8), ("2024-02", 0, 0), ("2024-03", 5, 4)])
    unit, bins = periods([Month(month="2019-11", messages=1, tracked=1), Month(month="2024-02", messages=4, tracked=2)])
    assert (unit, bins[0].label, bins[-1].label, len(bins)) == ("quarter", "2019 Q4", "2024 Q1", 18)
    unit, bins = periods([Month(month="2002-07", messages=250, tracked=128), Month(month="2002-08", messages=1, tracked=0),
                          Month(month="2026-03", messages=30, tracked=11)])
    assert (unit, len(bins), bins[1].messages, bins[-1].label) == ("year", 25, 0, "2026")
    assert (bins[0].label, bins[0].messages, bins[0].tracked) == ("2002", 251, 128)


def test_chart_labels_keep_the_informative_part_of_long_names() -> None:
    from forensics.report.charts import short, wrapped

    assert short("2.20290.44-t9bsgc0tywdu.1@ummail4.unitedmedia.com") == "2.20290.44-t9…@ummail4.unitedmedia.com"
    assert len(short("x" * 80)) == 38 and short("a\x00b") == "a b"
    assert wrapped("Google DoubleClick (Campaign Manager 360)", 30) == "Google DoubleClick (Campaign\nManager 360)"
