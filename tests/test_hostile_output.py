"""Hostile evidence stays inert: HTML injection, script in a display name, spreadsheet formulas.

The case holds a subject ``"><img src=http://127.0.0.1:9/x>``, a display name with a
``<script>`` element, a ``=HYPERLINK(...)`` subject, and tracking URLs pointing at
127.0.0.1:9. The report must show all of them as text.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from selectolax.lexbor import LexborHTMLParser

from forensics.report.build import write_report
from forensics.report.html import csp_hash
from test_report_support import add_findings, hostile_mbox, scan_case

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hostile")
    (root / "ev").mkdir()
    (root / "ev" / "box.mbox").write_bytes(hostile_mbox(9))
    scan_case(root / "ev", root / "case")
    add_findings(root / "case", port=9)
    write_report(root / "case", root / "case", argv=["test"])
    return root / "case"


def test_no_csv_cell_starts_like_a_formula(report: Path) -> None:
    for path in sorted(report.glob("*.csv")):
        with open(path, encoding="utf-8", newline="") as handle:
            for row in csv.reader(handle):
                assert not [c for c in row if c.startswith(FORMULA_START)], path.name


def test_formula_subject_is_kept_with_a_quote_prefix(report: Path) -> None:
    with open(report / "messages.csv", encoding="utf-8", newline="") as handle:
        subjects = sorted(r["subject"] for r in csv.DictReader(handle))
    assert subjects == ['"><img src=http://127.0.0.1:9/x>', "'+sum(1,2)",
                        "'=HYPERLINK(\"http://127.0.0.1:9/f\",\"click\")"]


def page(report: Path) -> LexborHTMLParser:
    return LexborHTMLParser((report / "report.html").read_text(encoding="utf-8"))


def test_evidence_text_is_escaped_in_the_html(report: Path) -> None:
    text = (report / "report.html").read_text(encoding="utf-8")
    assert "<img src=http" not in text and "<script>fetch" not in text
    assert "&quot;&gt;&lt;img src=http://127.0.0.1:9/x&gt;" in text
    assert "&lt;script&gt;fetch(&#x27;http://127.0.0.1:9/s&#x27;)&lt;/script&gt;" in text


def test_the_parsed_page_has_only_its_own_script_and_data_images(report: Path) -> None:
    tree = page(report)
    scripts = tree.css("script")
    assert len(scripts) == 1 and "src" not in scripts[0].attributes
    assert [i.attributes["src"][:26] for i in tree.css("img")] == ["data:image/svg+xml;base64,"] * 5
    for tag in ("link", "iframe", "object", "embed", "base", "form", "video", "audio", "source", "frame"):
        assert tree.css(tag) == [], tag
    for node in tree.root.traverse():  # type: ignore[union-attr]
        for name, value in (node.attributes or {}).items():
            assert not name.lower().startswith("on"), (node.tag, name)
            if name in ("href", "src", "action", "formaction", "poster", "srcset", "background"):
                assert (value or "").startswith(("#", "data:image/svg+xml;base64,")), (node.tag, name, value)


def test_tracking_urls_are_text_only(report: Path) -> None:
    tree = page(report)
    cells = [td.text() for td in tree.css("td.url")]
    assert any(c.startswith("http://127.0.0.1:9/o/") for c in cells)
    assert all(not (a.attributes.get("href") or "").startswith("http") for a in tree.css("a"))


def test_content_security_policy_forbids_remote_loads(report: Path) -> None:
    tree = page(report)
    metas = tree.css('meta[http-equiv="Content-Security-Policy"]')
    assert len(metas) == 1
    policy = metas[0].attributes["content"] or ""
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["img-src"] == "data:"
    assert directives["script-src"] == csp_hash(tree.css_first("script").text())
    assert directives["style-src"] == csp_hash(tree.css_first("style").text())
    assert not re.search(r"https?:|\*|'unsafe-eval'", policy)
    head = [n.tag for n in tree.head.iter()]  # type: ignore[union-attr]
    assert head.index("meta") < head.index("title")  # the policy is in force before any content


def test_messages_are_linked_from_findings(report: Path) -> None:
    tree = page(report)
    ids = {n.attributes["id"] for n in tree.css("tr[id]")}
    links = [a.attributes["href"] for a in tree.css("td a")]
    assert links and all(href[1:] in ids for href in links)
