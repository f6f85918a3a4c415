"""The report and the correlation read the case as the stages really store it.

Every table name and column the report (``forensics/report``) and the correlation
(``forensics/correlate``) ask for is checked against the schema the registered row classes
create, and a scan of ``sample_data`` (Mailchimp, SendGrid, Amazon SES, Mailgun and HubSpot
newsletters, an MD5 and a SHA-256 address leak: see sample_data/README.md) must give
non-empty facts, charts and report sections for beacons, providers, leaks and tokens.
"""

from __future__ import annotations

import ast
import csv
import sqlite3
from pathlib import Path

import pytest

from forensics.correlate import sources
from forensics.pipeline import ScanOptions, scan
from forensics.report import facts
from forensics.report.charts import case_charts
from forensics.report.csvout import QUERIES
from forensics.report.tables import export_plan
from forensics.store import ROW_TYPES

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = (ROOT / "forensics" / "report", ROOT / "forensics" / "correlate")
# Functions whose first argument after the connection is a case table name.
TABLE_ARGUMENT = {"has_table", "table_columns", "columns", "pick", "_metric", "_count_or_none", "generic_sql"}
# Which meanings each reader needs from each stage's table (``pick`` must find a column).
NEEDED = {
    (facts, "resources"): ("finding_id", "location", "url", "unwrapped", "host", "registered_domain", "provider",
                           "rule_id", "layer", "reason", "confidence", "party"),
    (facts, "links"): ("finding_id", "location", "url", "unwrapped", "host", "registered_domain", "provider",
                       "rule_id", "layer", "reason", "party"),
    (facts, "leaks"): ("identity", "encoding", "receivers", "host", "provider", "party", "kind"),
    (facts, "tokens"): ("role",),
    (sources, "resources"): ("finding_id", "host", "registered_domain", "provider"),
    (sources, "links"): ("finding_id", "host", "registered_domain", "provider"),
    (sources, "leaks"): ("finding_id", "host", "registered_domain", "provider", "identity", "value", "chain"),
}


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> sqlite3.Connection:
    out = tmp_path_factory.mktemp("sample") / "case"
    scan([ROOT / "sample_data"], ScanOptions(out=out, workers=1))
    return sqlite3.connect(out / "case.sqlite")


def registered_tables() -> set[str]:
    import forensics.stages  # noqa: F401 - registers every stage's row classes

    return {row.TABLE for row in ROW_TYPES}


def table_names_in_code() -> set[tuple[str, str]]:
    """(file, table) for every string literal passed as a table name in the two packages."""
    found = set()
    for package in PACKAGES:
        for path in sorted(package.glob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) in TABLE_ARGUMENT:
                    for arg in node.args[1:2]:
                        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                            found.add((path.name, arg.value))
    return found


def test_every_table_the_code_names_is_a_registered_table() -> None:
    names = table_names_in_code()
    assert {"resources", "links", "leaks", "tokens", "metrics_brokers"} <= {t for _, t in names}
    assert sorted((f, t) for f, t in names if t not in registered_tables()) == []


@pytest.mark.parametrize(("module", "table"), sorted(NEEDED, key=lambda k: (k[0].__name__, k[1])),
                         ids=lambda v: getattr(v, "__name__", v))
def test_every_meaning_names_a_real_column(case: sqlite3.Connection, module: object, table: str) -> None:
    missing = [m for m in NEEDED[(module, table)] if module.pick(case, table, m) == "''"]  # type: ignore[attr-defined]
    assert missing == []


def test_every_named_export_runs_as_written(case: sqlite3.Connection) -> None:
    plan = {e.name: e.sql for e in export_plan(case, QUERIES)}
    assert {name: plan.get(name) == sql for name, sql in QUERIES.items()} == {name: True for name in QUERIES}


def test_beacons_come_from_resources_flagged_is_beacon(case: sqlite3.Connection) -> None:
    assert facts.beacons_sql(case) == ("resources", "is_beacon = 1")
    flagged = case.execute("SELECT COUNT(*) FROM resources WHERE is_beacon = 1").fetchone()[0]
    found = case.execute(f"SELECT COUNT(*) FROM ({facts.findings_sql(case)}) WHERE kind = 'beacon'").fetchone()[0]
    assert flagged == found > 0


def test_sample_data_facts_are_not_empty(case: sqlite3.Connection) -> None:
    s = facts.summary(case)
    assert (s.messages, s.tracked, s.providers, s.leaked_messages, s.problems) == (18, 12, 5, 2, 0)
    assert s.recipient_tokens and s.recipient_tokens > 0 and s.brokers == 0
    assert [(c.label, c.value) for c in facts.top_providers(case) or []] == [
        ("SendGrid", 3), ("Amazon SES", 2), ("HubSpot Marketing Hub", 2), ("Mailchimp", 2), ("Mailgun", 1)]
    assert [(m.month, m.messages, m.tracked) for m in facts.prevalence_by_month(case) or []] == [
        ("2024-01", 12, 8), ("2024-03", 5, 4)]
    assert facts.undated(case) == 1  # the malformed message's impossible date
    assert [(c.label, c.value) for c in facts.leak_encodings(case) or []] == [("url", 2), ("md5", 1), ("sha256", 1)]
    assert {(r.receiver, r.encodings, r.via) for r in facts.receivers(case) or []} == {
        ("pixel.adtrack.example.net", "md5", "beacon"), ("sync.audience.example.com", "sha256", "beacon"),
        ("open.mailtrack.example", "url", "beacon"), ("retail.example.com", "url", "link")}
    assert "recipient-identifier" in {c.label for c in facts.token_roles(case) or []}
    assert facts.recipient_tokens(case) and facts.brokers(case) == []


def test_sender_and_provider_figures_agree_with_the_metrics(case: sqlite3.Connection) -> None:
    prevalence = {k: (n, t) for k, n, t in case.execute(
        "SELECT key, messages, tracked FROM metrics_prevalence WHERE scope = 'sender'")}
    assert {r.sender: (r.messages, r.tracked) for r in facts.senders(case)} == prevalence
    shares = {p: (n, b, l) for p, n, b, l in case.execute("SELECT provider, messages, beacons, links FROM metrics_providers")}
    assert {r.provider: (r.messages, r.beacons, r.links) for r in facts.providers(case) or []} == shares
    sendgrid = next(r for r in facts.providers(case) or [] if r.provider == "SendGrid")
    assert (sendgrid.hosts, sendgrid.rules) == ("u4815162.ct.sendgrid.net", "sendgrid/shape/0, sendgrid/shape/1")


def test_sample_data_charts_all_have_data(case: sqlite3.Connection) -> None:
    assert [(c.stem, c.empty) for c in case_charts(case)] == [
        ("chart_prevalence", False), ("chart_providers", False), ("chart_heatmap", False),
        ("chart_leak_encodings", False), ("chart_graph", False)]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from typer.testing import CliRunner

    from forensics.cli import app

    out = tmp_path_factory.mktemp("report") / "case"
    result = CliRunner().invoke(app, ["scan", str(ROOT / "sample_data"), "--out", str(out), "-q", "--workers", "1"])
    assert result.exit_code == 0, result.output
    return out


def test_report_sections_show_beacons_providers_leaks_and_tokens(report: Path) -> None:
    page = (report / "report.html").read_text(encoding="utf-8")
    summary = page[page.index('<section id="summary">'):page.index('<section id="charts">')]
    assert "<h3>Who received the recipient's address</h3>" in summary
    assert summary.count("<tr><td") == 4  # one row per receiver of alice@example.org
    assert "pixel.adtrack.example.net" in summary and ">md5<" in summary and ">sha256<" in summary
    assert "None in this case: no third party received an identifier" in summary
    providers = page[page.index('<section id="providers">'):page.index('<section id="tokens">')]
    assert all(p in providers for p in ("SendGrid", "Amazon SES", "HubSpot Marketing Hub", "Mailchimp", "Mailgun"))
    tokens = page[page.index('<section id="tokens">'):page.index('<section id="rules">')]
    assert "recipient-identifier" in tokens and "<tbody><tr>" in tokens
    assert page.count('<p class="note">No data') == 0
    assert page.count("No data for this chart") == 0


def test_every_exported_column_is_documented(report: Path) -> None:
    text = (report / "data_dictionary.md").read_text(encoding="utf-8")
    assert "(not documented yet)" not in text
    for path in sorted(report.glob("*.csv")):
        with open(path, encoding="utf-8", newline="") as handle:
            header = next(csv.reader(handle))
        section = text[text.index(f"## {path.stem} ("):]
        section = section[: section.find("\n## ", 1) if "\n## " in section[1:] else len(section)]
        assert [c for c in header if f"| `{c}` |" not in section] == [], path.name
